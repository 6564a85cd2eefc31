//! Verdicts per scenario, the terminal report, and `docs/api-diff.md`.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use super::compare::Difference;
use super::known::Reason;
use super::scenarios::Scenarios;

/// Up to this many unexpected differences are spelt out in a table cell;
/// more are only counted there (the list under the table has them all).
const INLINE_DIFFERENCES: usize = 2;

/// Scenario groups that are also API groups of `docs/api-coverage.md` (its
/// section anchors).
const COVERAGE_GROUPS: &[&str] =
    &["system", "container", "exec", "image", "volume", "network", "swarm", "plugin"];

/// The generated page, relative to the workspace root.
pub(crate) const DOC_PATH: &str = "docs/api-diff.md";

/// One difference and whether it is known.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) difference: Difference,
    pub(crate) reason: Option<Reason>,
}

/// What happened to one scenario.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) request: String,
    /// The status, or `error` when there was no answer.
    pub(crate) dockerd: String,
    pub(crate) berthd: String,
    pub(crate) findings: Vec<Finding>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Verdict {
    Same,
    Known,
    Unexpected,
}

impl Outcome {
    pub(crate) fn verdict(&self) -> Verdict {
        if self.findings.is_empty() {
            Verdict::Same
        } else if self.findings.iter().all(|f| f.reason.is_some()) {
            Verdict::Known
        } else {
            Verdict::Unexpected
        }
    }

    fn reasons(&self) -> Vec<String> {
        let reasons: BTreeSet<&Reason> =
            self.findings.iter().filter_map(|f| f.reason.as_ref()).collect();
        reasons.into_iter().map(Reason::to_string).collect()
    }

    fn unexpected(&self) -> impl Iterator<Item = &Difference> {
        self.findings.iter().filter(|f| f.reason.is_none()).map(|f| &f.difference)
    }
}

/// Counts per verdict.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Tally {
    pub(crate) same: usize,
    pub(crate) known: usize,
    pub(crate) unexpected: usize,
}

impl Tally {
    pub(crate) fn of<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Tally {
        let mut tally = Tally::default();
        for outcome in outcomes {
            match outcome.verdict() {
                Verdict::Same => tally.same += 1,
                Verdict::Known => tally.known += 1,
                Verdict::Unexpected => tally.unexpected += 1,
            }
        }
        tally
    }

    fn total(self) -> usize {
        self.same + self.known + self.unexpected
    }
}

/// Facts about the run the report states at the top.
#[derive(Debug, Clone)]
pub(crate) struct Versions {
    pub(crate) dockerd: String,
    pub(crate) berthd: String,
}

/// The terminal report: every scenario, every difference.
pub(crate) fn text(scenarios: &Scenarios, outcomes: &[Outcome], unused: &[String]) -> String {
    let mut out = String::new();
    for group in &scenarios.groups {
        let members: Vec<&Outcome> = outcomes.iter().filter(|o| o.group == group.name).collect();
        if members.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n== {}: {}", group.name, group.about);
        for outcome in members {
            let verdict = match outcome.verdict() {
                Verdict::Same => "same",
                Verdict::Known => "known",
                Verdict::Unexpected => "UNEXPECTED",
            };
            let _ = writeln!(
                out,
                "{verdict:<10} {:<28} {:<52} dockerd {:<5} berthd {}",
                outcome.name, outcome.request, outcome.dockerd, outcome.berthd
            );
            for finding in &outcome.findings {
                let tag = if finding.reason.is_some() { "known" } else { "UNEXPECTED" };
                let _ = writeln!(out, "    {tag:<10} {}", finding.difference);
            }
            let reasons = outcome.reasons();
            if !reasons.is_empty() {
                let _ = writeln!(out, "    why: {}", reasons.join("\n         "));
            }
        }
    }
    if !unused.is_empty() {
        let _ = writeln!(out, "\nknown differences that explained nothing in this run (stale?):");
        for entry in unused {
            let _ = writeln!(out, "    {entry}");
        }
    }
    let tally = Tally::of(outcomes);
    let _ = writeln!(
        out,
        "\ndiff: {} scenarios: {} same, {} known differences, {} UNEXPECTED",
        tally.total(),
        tally.same,
        tally.known,
        tally.unexpected
    );
    out
}

/// The markdown of [`DOC_PATH`].
pub(crate) fn markdown(scenarios: &Scenarios, outcomes: &[Outcome], versions: &Versions) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "# API diff: dockerd against berthd\n\n\
         Generated by `cargo xtask diff`; do not edit. Regenerate with `cargo xtask diff` (as root,\n\
         on Debian 12 with `docker.io`, which it installs if missing). It starts a real dockerd and\n\
         berthd on temporary sockets and roots, sends both the same requests\n\
         (`xtask/diff/scenarios.json`), and compares the answers. Differences we expect are listed,\n\
         with their reason and the issue that removes them, in `xtask/diff/known-differences.json`;\n\
         any other difference makes the run fail.\n\n\
         This run: dockerd {dockerd}; berthd {berthd}.\n\n\
         Compared per request: the status; the headers `Content-Type`, `Location`,\n\
         `Docker-Experimental`, `Ostype`, `Builder-Version`, `Swarm` (values) and `Api-Version`,\n\
         `Server` (presence; their values once per run, under *headers*), and the JSON in\n\
         `X-Docker-Container-Path-Stat`; the body: text exactly, JSON by shape (object keys and\n\
         value kinds) and by value, arrays of scalars whole and other arrays item by item, except at\n\
         the volatile paths listed at the end (times, PIDs, addresses, each daemon's versions,\n\
         state). Host facts (kernel, CPUs, memory, cgroup features, hostname) are compared: both\n\
         daemons run on the same host. When the statuses differ the bodies are not compared further.\n\
         `Content-Length` against chunked encoding is not compared.\n\n\
         Both daemons are seeded with the same offline busybox and alpine images before the first\n\
         request, and the container scenarios build state in step on both. Values that are each\n\
         daemon's own but known to the run (its data and exec roots, the seeded images' IDs, and\n\
         IDs captured from earlier answers, such as the container's) are written back as\n\
         placeholders (`{{{{data_root}}}}`, `{{{{ctr}}}}`, `{{{{ctr:short}}}}`) in both answers, so they\n\
         are compared by value: \"this is the container's own ID\".\n\n\
         Which routes Berth implements is in [api-coverage.md](api-coverage.md).\n\n",
        dockerd = versions.dockerd,
        berthd = versions.berthd,
    );

    let tally = Tally::of(outcomes);
    let _ = writeln!(
        out,
        "{} scenarios: {} same, {} known differences, {} unexpected.\n",
        tally.total(),
        tally.same,
        tally.known,
        tally.unexpected
    );
    out.push_str(
        "## Summary\n\n| group | scenarios | same | known | unexpected | routes |\n|---|---|---|---|---|---|\n",
    );
    for group in &scenarios.groups {
        let tally = Tally::of(outcomes.iter().filter(|o| o.group == group.name));
        if tally.total() == 0 {
            continue;
        }
        let routes = if COVERAGE_GROUPS.contains(&group.name.as_str()) {
            format!("[coverage](api-coverage.md#{})", group.name)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "| [{name}](#{name}) | {} | {} | {} | {} | {routes} |",
            tally.total(),
            tally.same,
            tally.known,
            tally.unexpected,
            name = group.name
        );
    }
    let _ = writeln!(
        out,
        "| **total** | {} | {} | {} | {} | |",
        tally.total(),
        tally.same,
        tally.known,
        tally.unexpected
    );

    for group in &scenarios.groups {
        let members: Vec<&Outcome> = outcomes.iter().filter(|o| o.group == group.name).collect();
        if members.is_empty() {
            continue;
        }
        let _ = write!(
            out,
            "\n## {}\n\n{}\n\n| scenario | request | dockerd | berthd | verdict |\n|---|---|---|---|---|\n",
            group.name, group.about
        );
        for outcome in &members {
            let verdict = match outcome.verdict() {
                Verdict::Same => "same".to_owned(),
                Verdict::Known => format!("known: {}", outcome.reasons().join("; ")),
                Verdict::Unexpected => {
                    let what: Vec<String> =
                        outcome.unexpected().map(|d| code(&d.to_string())).collect();
                    let mut cell = if what.len() <= INLINE_DIFFERENCES {
                        format!("**UNEXPECTED**: {}", what.join("; "))
                    } else {
                        format!("**UNEXPECTED**: {} differences, listed below", what.len())
                    };
                    let reasons = outcome.reasons();
                    if !reasons.is_empty() {
                        let _ = write!(cell, "; also known: {}", reasons.join("; "));
                    }
                    cell
                }
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                cell(&outcome.name),
                cell(&code(&outcome.request)),
                outcome.dockerd,
                outcome.berthd,
                cell(&verdict)
            );
        }
        let with_findings: Vec<&&Outcome> =
            members.iter().filter(|o| !o.findings.is_empty()).collect();
        if !with_findings.is_empty() {
            out.push_str("\nEvery difference:\n\n");
            for outcome in with_findings {
                let _ = writeln!(out, "- {}:", outcome.name);
                for finding in &outcome.findings {
                    let tag = if finding.reason.is_some() { "known" } else { "**unexpected**" };
                    let _ = writeln!(out, "  - {tag}: {}", code(&finding.difference.to_string()));
                }
            }
        }
    }

    out.push_str(
        "\n## Volatile paths\n\n\
         Values at these JSON paths are compared by shape only (kind, and keys unless the path is a\n\
         map keyed by data), or, for sets marked *order only*, the arrays there are compared in any\n\
         order; `*` is a wildcard. Defined in `xtask/diff/scenarios.json`.\n\n\
         | set | why | paths |\n|---|---|---|\n",
    );
    for (name, set) in &scenarios.volatile {
        let paths: Vec<String> = set.paths.iter().map(|p| code(p)).collect();
        let why =
            if set.order_only { format!("*order only*: {}", set.why) } else { set.why.clone() };
        let _ = writeln!(out, "| {name} | {} | {} |", cell(&why), cell(&paths.join(", ")));
    }
    out
}

/// A markdown code span for any text: the fence is longer than the longest
/// run of backticks inside.
fn code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    if longest == 0 { format!("{fence}{text}{fence}") } else { format!("{fence} {text} {fence}") }
}

/// Text safe inside a markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(name: &str, findings: Vec<Finding>) -> Outcome {
        Outcome {
            name: name.to_owned(),
            group: "system".to_owned(),
            request: "GET /v1.41/_ping".to_owned(),
            dockerd: "200".to_owned(),
            berthd: "200".to_owned(),
            findings,
        }
    }

    fn finding(known: bool) -> Finding {
        Finding {
            difference: Difference {
                location: "header Ostype".to_owned(),
                dockerd: "\"linux\"".to_owned(),
                berthd: "(absent)".to_owned(),
            },
            reason: known.then(|| Reason {
                reason: "because".to_owned(),
                closes: Some("issue 4".to_owned()),
            }),
        }
    }

    #[test]
    fn one_unexpected_difference_makes_the_scenario_unexpected() {
        assert_eq!(outcome("a", vec![]).verdict(), Verdict::Same);
        assert_eq!(outcome("a", vec![finding(true)]).verdict(), Verdict::Known);
        assert_eq!(
            outcome("a", vec![finding(true), finding(false)]).verdict(),
            Verdict::Unexpected
        );
        let outcomes = [
            outcome("a", vec![]),
            outcome("b", vec![finding(true)]),
            outcome("c", vec![finding(false)]),
        ];
        assert_eq!(Tally::of(&outcomes), Tally { same: 1, known: 1, unexpected: 1 });
    }

    #[test]
    fn table_cells_escape_pipes() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }

    #[test]
    fn code_spans_survive_backticks() {
        assert_eq!(code("GET /info"), "`GET /info`");
        assert_eq!(code("`since` time"), "`` `since` time ``");
        assert_eq!(code("a ``b``"), "``` a ``b`` ```");
    }
}
