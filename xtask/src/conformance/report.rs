//! The results of a run, counted per API area and printed as a table, and
//! the generated parts of `docs/conformance.md`.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

use super::junit::Outcome;
use super::lists::{AREAS, Category, Exclusion};

/// How many failure messages the summary shows.
const TOP_REASONS: usize = 5;
/// Longest failure message shown, in characters.
const REASON_WIDTH: usize = 240;

/// One test that was meant to run, its area and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TestResult {
    pub(crate) node_id: String,
    pub(crate) area: &'static str,
    pub(crate) outcome: Outcome,
}

/// Counts for one row of the table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) passed: usize,
    pub(crate) failed: usize,
    pub(crate) skipped: usize,
    pub(crate) excluded: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
        self.excluded += other.excluded;
    }
}

/// Everything the table shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// One per area, in [`AREAS`] order.
    pub(crate) rows: Vec<(&'static str, Tally)>,
    pub(crate) total: Tally,
    /// Whether the table has an `excluded` column (full runs only).
    pub(crate) with_excluded: bool,
}

/// Counts `results` and, for full runs, the excluded tests per area.
pub(crate) fn summarize(results: &[TestResult], excluded: Option<&[&'static str]>) -> Summary {
    let mut per_area: BTreeMap<&str, Tally> = BTreeMap::new();
    for result in results {
        let tally = per_area.entry(result.area).or_default();
        match result.outcome {
            Outcome::Passed | Outcome::XPassed(_) => tally.passed += 1,
            Outcome::Failed(_) => tally.failed += 1,
            Outcome::Skipped(_) => tally.skipped += 1,
        }
    }
    for area in excluded.unwrap_or_default() {
        per_area.entry(area).or_default().excluded += 1;
    }
    let rows: Vec<(&'static str, Tally)> =
        AREAS.iter().map(|area| (*area, per_area.get(area).copied().unwrap_or_default())).collect();
    let mut total = Tally::default();
    for (_, tally) in &rows {
        total.add(*tally);
    }
    Summary { rows, total, with_excluded: excluded.is_some() }
}

/// The table, as markdown (which reads well on a terminal too).
pub(crate) fn table(summary: &Summary) -> String {
    let mut header = vec!["area", "passed", "failed", "skipped"];
    if summary.with_excluded {
        header.push("excluded");
    }
    let mut lines: Vec<Vec<String>> = Vec::new();
    let row = |name: &str, tally: &Tally| {
        let mut cells = vec![
            name.to_owned(),
            tally.passed.to_string(),
            tally.failed.to_string(),
            tally.skipped.to_string(),
        ];
        if summary.with_excluded {
            cells.push(tally.excluded.to_string());
        }
        cells
    };
    for (area, tally) in &summary.rows {
        lines.push(row(area, tally));
    }
    lines.push(row("**total**", &summary.total));
    let widths: Vec<usize> = (0..header.len())
        .map(|column| {
            lines
                .iter()
                .map(|cells| cells[column].len())
                .chain([header[column].len()])
                .max()
                .unwrap_or_default()
        })
        .collect();
    let mut out = String::new();
    let format_row = |cells: &[&str]| {
        let padded: Vec<String> =
            cells
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(column, (cell, width))| {
                    if column == 0 { format!("{cell:<width$}") } else { format!("{cell:>width$}") }
                })
                .collect();
        format!("| {} |\n", padded.join(" | "))
    };
    out.push_str(&format_row(&header));
    // Each cell is padded by one space on either side; numbers align right.
    let rule: Vec<String> = widths
        .iter()
        .enumerate()
        .map(|(column, width)| {
            if column == 0 { "-".repeat(width + 2) } else { format!("{}:", "-".repeat(width + 1)) }
        })
        .collect();
    out.push_str(&format!("|{}|\n", rule.join("|")));
    for cells in &lines {
        let cells: Vec<&str> = cells.iter().map(String::as_str).collect();
        out.push_str(&format_row(&cells));
    }
    out
}

/// `conformance: N passed, M failed[, K skipped]`, the line CI logs end with.
pub(crate) fn totals_line(total: &Tally) -> String {
    let mut line = format!("conformance: {} passed, {} failed", total.passed, total.failed);
    if total.skipped > 0 {
        line.push_str(&format!(", {} skipped", total.skipped));
    }
    line
}

/// The most frequent failure messages, most frequent first, with counts.
pub(crate) fn top_failures(results: &[TestResult]) -> Vec<(usize, String)> {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for result in results {
        if let Outcome::Failed(message) = &result.outcome {
            *counts.entry(shorten(message)).or_default() += 1;
        }
    }
    let mut ranked: Vec<(usize, String)> = counts.into_iter().map(|(m, n)| (n, m)).collect();
    ranked.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    ranked.truncate(TOP_REASONS);
    ranked
}

/// The first line of a message, cut to [`REASON_WIDTH`] characters.
fn shorten(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= REASON_WIDTH {
        line.to_owned()
    } else {
        let cut: String = line.chars().take(REASON_WIDTH).collect();
        format!("{cut}…")
    }
}

/// The generated results section of docs/conformance.md.
pub(crate) fn docs_results(
    summary: &Summary,
    berthd_version: &str,
    images: &[String],
    failures: &[(usize, String)],
) -> String {
    let mut out = format!(
        "Last full run: docker-py 6.1.3's integration suite against berthd {berthd_version}.\n\n"
    );
    out.push_str(&table(summary));
    out.push_str(&format!("\n`{}`\n", totals_line(&summary.total)));
    if !images.is_empty() {
        out.push_str("\nTest images:\n\n");
        for line in images {
            out.push_str(&format!("- {line}\n"));
        }
    }
    if !failures.is_empty() {
        out.push_str("\nMost frequent failures:\n\n");
        for (count, message) in failures {
            out.push_str(&format!("- {count} × `{}`\n", message.replace('`', "'")));
        }
    }
    out
}

/// The generated list of excluded tests in docs/conformance.md.
pub(crate) fn docs_excluded(exclusions: &[Exclusion]) -> String {
    let mut out = String::new();
    let mut categories: Vec<Category> = exclusions.iter().map(|e| e.category).collect();
    categories.sort();
    categories.dedup();
    for category in categories {
        out.push_str(&format!(
            "### {}: {}\n\n| test | reason |\n|---|---|\n",
            category.as_str(),
            category.meaning()
        ));
        for exclusion in exclusions.iter().filter(|e| e.category == category) {
            let test =
                exclusion.pattern.strip_prefix("tests/integration/").unwrap_or(&exclusion.pattern);
            let scope = if test.contains("::") { "" } else { " (every test)" };
            out.push_str(&format!(
                "| `{test}`{scope} | {} |\n",
                exclusion.reason.replace('|', "\\|")
            ));
        }
        out.push('\n');
    }
    out.trim_end().to_owned() + "\n"
}

/// `doc` with the text between `<!-- {name}:start -->` and
/// `<!-- {name}:end -->` replaced by `content`.
pub(crate) fn replace_section(doc: &str, name: &str, content: &str) -> Result<String> {
    let start = format!("<!-- {name}:start -->");
    let end = format!("<!-- {name}:end -->");
    let begin = doc.find(&start).with_context(|| format!("no {start} marker"))? + start.len();
    let finish =
        doc[begin..].find(&end).with_context(|| format!("no {end} marker after {start}"))? + begin;
    if doc[finish + end.len()..].contains(&start) {
        bail!("{start} appears twice");
    }
    Ok(format!("{}\n{}{}", &doc[..begin], content, &doc[finish..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(area: &'static str, outcome: Outcome) -> TestResult {
        TestResult { node_id: format!("tests/integration/x_test.py::T::{area}"), area, outcome }
    }

    fn failed(message: &str) -> Outcome {
        Outcome::Failed(message.to_owned())
    }

    #[test]
    fn areas_are_counted_and_totalled() {
        let results = vec![
            result("system", Outcome::Passed),
            result("system", failed("boom")),
            result("containers", Outcome::Skipped("xfail".to_owned())),
            result("attach/logs", failed("boom")),
            result("build", Outcome::XPassed("chunked".to_owned())),
        ];
        let summary = summarize(&results, Some(&["swarm", "swarm", "system"]));
        let row = |area: &str| {
            summary
                .rows
                .iter()
                .find(|(name, _)| *name == area)
                .map(|(_, tally)| *tally)
                .unwrap_or_default()
        };
        assert_eq!(row("system"), Tally { passed: 1, failed: 1, skipped: 0, excluded: 1 });
        assert_eq!(row("swarm").excluded, 2);
        assert_eq!(row("attach/logs").failed, 1);
        // pytest counts an XPASS as a success, and so does the table.
        assert_eq!(row("build").passed, 1);
        assert_eq!(summary.total, Tally { passed: 2, failed: 2, skipped: 1, excluded: 3 });
        assert_eq!(summary.rows.len(), AREAS.len());
        assert_eq!(totals_line(&summary.total), "conformance: 2 passed, 2 failed, 1 skipped");
    }

    #[test]
    fn totals_line_leaves_out_zero_skips() {
        let total = Tally { passed: 3, failed: 0, skipped: 0, excluded: 9 };
        assert_eq!(totals_line(&total), "conformance: 3 passed, 0 failed");
    }

    #[test]
    fn the_table_is_aligned_markdown() {
        let summary = summarize(&[result("exec", Outcome::Passed)], None);
        let table = table(&summary);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines[0], "| area        | passed | failed | skipped |");
        assert_eq!(lines[1], "|-------------|-------:|-------:|--------:|");
        assert_eq!(lines[4], "| exec        |      1 |      0 |       0 |");
        assert_eq!(lines[12], "| **total**   |      1 |      0 |       0 |");
        assert_eq!(lines.len(), 2 + AREAS.len() + 1);
    }

    #[test]
    fn failures_are_grouped_by_first_line() {
        let results = vec![
            result("system", failed("501 images\ntraceback one")),
            result("system", failed("501 images\ntraceback two")),
            result("system", failed("timeout")),
            result("system", Outcome::Passed),
        ];
        assert_eq!(
            top_failures(&results),
            vec![(2, "501 images".to_owned()), (1, "timeout".to_owned())]
        );
        let long = "x".repeat(REASON_WIDTH + 10);
        assert_eq!(shorten(&long).chars().count(), REASON_WIDTH + 1);
    }

    #[test]
    fn sections_are_replaced_between_markers() -> Result<()> {
        let doc = "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n";
        assert_eq!(
            replace_section(doc, "t", "new\n")?,
            "intro\n<!-- t:start -->\nnew\n<!-- t:end -->\noutro\n"
        );
        assert!(replace_section("no markers", "t", "x").is_err());
        assert!(replace_section("<!-- t:end --><!-- t:start -->", "t", "x").is_err());
        Ok(())
    }
}
