//! The checked-in lists under `xtask/conformance/`: which tests are excluded
//! and why, which API area each test counts under, and the ratchet. All three
//! name tests by pytest node id (`tests/integration/x_test.py::Class::test`).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail, ensure};

/// The rows of the conformance table, in the order they are printed.
pub(crate) const AREAS: [&str; 10] = [
    "system",
    "containers",
    "exec",
    "attach/logs",
    "images",
    "build",
    "volumes",
    "networks",
    "plugins",
    "swarm",
];

/// Why a test is not run. Only these reasons exist (docs/conformance.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Category {
    SwarmOnly,
    Internet,
    Registry,
    ClientSide,
}

impl Category {
    const ALL: [Category; 4] =
        [Category::SwarmOnly, Category::Internet, Category::Registry, Category::ClientSide];

    /// The word used in `excluded.txt`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Category::SwarmOnly => "swarm-only",
            Category::Internet => "internet",
            Category::Registry => "registry",
            Category::ClientSide => "client-side",
        }
    }

    /// What the category means, for the docs.
    pub(crate) fn meaning(self) -> &'static str {
        match self {
            Category::SwarmOnly => "needs `swarm init`; Berth has no swarm mode",
            Category::Internet => {
                "pulls from Docker Hub (a pull asks the registry even for an image that is present)"
            }
            Category::Registry => "needs an answer from a registry on the internet",
            Category::ClientSide => "never reaches the daemon: it checks docker-py alone",
        }
    }

    fn parse(word: &str) -> Result<Category> {
        Category::ALL.into_iter().find(|category| category.as_str() == word).with_context(|| {
            let known: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
            format!("unknown category {word:?} (known: {})", known.join(", "))
        })
    }
}

/// One line of `excluded.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exclusion {
    /// A node id, or a file, class or directory of the suite.
    pub(crate) pattern: String,
    pub(crate) category: Category,
    pub(crate) reason: String,
}

/// One line of `areas.txt`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AreaRule {
    pub(crate) pattern: String,
    pub(crate) area: &'static str,
}

/// Whether `pattern` names `node_id` or something that contains it: the
/// node id itself, a file or class it is in (`pattern::…`), or a directory
/// (`pattern/…`). Unlike pytest's `--deselect`, `…::test_pull` does not
/// also catch `…::test_pull_streaming`.
pub(crate) fn covers(pattern: &str, node_id: &str) -> bool {
    match node_id.strip_prefix(pattern) {
        Some(rest) => rest.is_empty() || rest.starts_with("::") || rest.starts_with('/'),
        None => false,
    }
}

/// The area of `node_id`: the one given by the longest rule that covers it.
pub(crate) fn area_of(rules: &[AreaRule], node_id: &str) -> Option<&'static str> {
    rules
        .iter()
        .filter(|rule| covers(&rule.pattern, node_id))
        .max_by_key(|rule| rule.pattern.len())
        .map(|rule| rule.area)
}

/// The exclusion that covers `node_id`, if any (the most specific one).
pub(crate) fn exclusion_of<'a>(
    exclusions: &'a [Exclusion],
    node_id: &str,
) -> Option<&'a Exclusion> {
    exclusions
        .iter()
        .filter(|exclusion| covers(&exclusion.pattern, node_id))
        .max_by_key(|exclusion| exclusion.pattern.len())
}

/// `excluded.txt`: `PATTERN CATEGORY REASON...` a line.
pub(crate) fn parse_exclusions(text: &str) -> Result<Vec<Exclusion>> {
    let mut exclusions = Vec::new();
    let mut seen = BTreeSet::new();
    for (number, line) in content_lines(text) {
        let parsed = (|| {
            let (pattern, rest) = first_word(line);
            let pattern = check_pattern(pattern)?;
            let (category, reason) = first_word(rest);
            let category =
                Category::parse(category).context("expected `PATTERN CATEGORY REASON`")?;
            ensure!(!reason.is_empty(), "{pattern}: no reason given");
            ensure!(seen.insert(pattern.to_owned()), "{pattern} is listed twice");
            Ok(Exclusion { pattern: pattern.to_owned(), category, reason: reason.to_owned() })
        })();
        exclusions.push(parsed.with_context(|| format!("excluded.txt line {number}"))?);
    }
    Ok(exclusions)
}

/// `areas.txt`: `PATTERN AREA` a line.
pub(crate) fn parse_areas(text: &str) -> Result<Vec<AreaRule>> {
    let mut rules = Vec::new();
    let mut seen = BTreeSet::new();
    for (number, line) in content_lines(text) {
        let parsed = (|| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let [pattern, area] = words[..] else {
                bail!("expected `PATTERN AREA`, found {line:?}");
            };
            let pattern = check_pattern(pattern)?;
            let area = AREAS
                .into_iter()
                .find(|known| *known == area)
                .with_context(|| format!("unknown area {area:?} (known: {})", AREAS.join(", ")))?;
            ensure!(seen.insert(pattern.to_owned()), "{pattern} is listed twice");
            Ok(AreaRule { pattern: pattern.to_owned(), area })
        })();
        rules.push(parsed.with_context(|| format!("areas.txt line {number}"))?);
    }
    Ok(rules)
}

/// `ratchet.txt`: one node id a line.
pub(crate) fn parse_ratchet(text: &str) -> Result<Vec<String>> {
    let mut tests = Vec::new();
    let mut seen = BTreeSet::new();
    for (number, line) in content_lines(text) {
        let parsed = (|| {
            ensure!(!line.contains(char::is_whitespace), "expected one node id, found {line:?}");
            let node_id = check_pattern(line)?;
            ensure!(
                node_id.contains("::"),
                "{node_id} is not a test: give the node id (`file.py::Class::test`)"
            );
            ensure!(seen.insert(node_id.to_owned()), "{node_id} is listed twice");
            Ok(node_id.to_owned())
        })();
        tests.push(parsed.with_context(|| format!("ratchet.txt line {number}"))?);
    }
    Ok(tests)
}

fn check_pattern(pattern: &str) -> Result<&str> {
    ensure!(
        pattern.starts_with("tests/integration"),
        "{pattern:?} is not in docker-py's tests/integration"
    );
    ensure!(
        !pattern.ends_with('/') && !pattern.ends_with("::"),
        "{pattern:?} ends with a separator"
    );
    Ok(pattern)
}

/// The first whitespace-separated word of `text` and the trimmed rest.
fn first_word(text: &str) -> (&str, &str) {
    let text = text.trim_start();
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim()),
        None => (text, ""),
    }
}

/// Lines with their 1-based numbers, comments (`#` at the start of a line
/// or after whitespace) and blank lines removed.
fn content_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines().enumerate().filter_map(|(index, line)| {
        let content = match line.find('#') {
            Some(at) if at == 0 || line[..at].ends_with(char::is_whitespace) => &line[..at],
            _ => line,
        };
        let content = content.trim();
        (!content.is_empty()).then_some((index + 1, content))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covers_stops_at_node_id_boundaries() {
        let test = "tests/integration/api_image_test.py::PullImageTest::test_pull_streaming";
        assert!(covers(test, test));
        assert!(covers("tests/integration/api_image_test.py", test));
        assert!(covers("tests/integration/api_image_test.py::PullImageTest", test));
        assert!(covers("tests/integration", test));
        assert!(!covers("tests/integration/api_image_test.py::PullImageTest::test_pull", test));
        assert!(!covers("tests/integration/api_image", test));
        assert!(covers(
            "tests/integration/credentials",
            "tests/integration/credentials/utils_test.py::test_create_environment_dict"
        ));
    }

    #[test]
    fn the_longest_area_rule_wins() -> Result<()> {
        let rules = parse_areas(
            "tests/integration/api_container_test.py  containers\n\
             tests/integration/api_container_test.py::LogsTest  attach/logs # streams\n",
        )?;
        assert_eq!(
            area_of(&rules, "tests/integration/api_container_test.py::LogsTest::test_logs"),
            Some("attach/logs")
        );
        assert_eq!(
            area_of(&rules, "tests/integration/api_container_test.py::KillTest::test_kill"),
            Some("containers")
        );
        assert_eq!(area_of(&rules, "tests/integration/other_test.py::T::t"), None);
        Ok(())
    }

    #[test]
    fn area_lines_are_checked() {
        let err = parse_areas("tests/integration/a_test.py  kitchen\n").expect_err("bad area");
        assert!(format!("{err:#}").contains("line 1: unknown area \"kitchen\""), "{err:#}");
        let err = parse_areas("tests/integration/a_test.py\n").expect_err("no area");
        assert!(format!("{err:#}").contains("PATTERN AREA"), "{err:#}");
        let twice = "tests/integration/a_test.py system\ntests/integration/a_test.py build\n";
        let err = parse_areas(twice).expect_err("duplicate");
        assert!(format!("{err:#}").contains("line 2"), "{err:#}");
    }

    #[test]
    fn exclusions_need_a_known_category_and_a_reason() -> Result<()> {
        let parsed = parse_exclusions(
            "# comment\n\n\
             tests/integration/api_swarm_test.py   swarm-only  every test calls init_swarm\n",
        )?;
        assert_eq!(
            parsed,
            vec![Exclusion {
                pattern: "tests/integration/api_swarm_test.py".to_owned(),
                category: Category::SwarmOnly,
                reason: "every test calls init_swarm".to_owned(),
            }]
        );
        let err = parse_exclusions("tests/integration/a_test.py convenience it is slow\n")
            .expect_err("unknown category");
        assert!(format!("{err:#}").contains("unknown category \"convenience\""), "{err:#}");
        let err =
            parse_exclusions("tests/integration/a_test.py internet\n").expect_err("no reason");
        assert!(format!("{err:#}").contains("no reason"), "{err:#}");
        let err =
            parse_exclusions("tests/unit/a_test.py internet pulls\n").expect_err("not integration");
        assert!(format!("{err:#}").contains("tests/integration"), "{err:#}");
        Ok(())
    }

    #[test]
    fn ratchet_lines_are_node_ids() -> Result<()> {
        let parsed = parse_ratchet(
            "# header\n\
             tests/integration/client_test.py::ClientTest::test_ping\n\
             tests/integration/client_test.py::ClientTest::test_info   # since issue 2\n",
        )?;
        assert_eq!(
            parsed,
            vec![
                "tests/integration/client_test.py::ClientTest::test_ping",
                "tests/integration/client_test.py::ClientTest::test_info",
            ]
        );
        assert!(parse_ratchet("# nothing yet\n\n")?.is_empty());
        let err = parse_ratchet("tests/integration/client_test.py\n").expect_err("a file");
        assert!(format!("{err:#}").contains("is not a test"), "{err:#}");
        let twice = "tests/integration/a.py::T::t\ntests/integration/a.py::T::t\n";
        let err = parse_ratchet(twice).expect_err("duplicate");
        assert!(format!("{err:#}").contains("listed twice"), "{err:#}");
        let err = parse_ratchet("tests/integration/a.py::T::t extra\n").expect_err("two words");
        assert!(format!("{err:#}").contains("one node id"), "{err:#}");
        Ok(())
    }

    #[test]
    fn the_most_specific_exclusion_is_reported() -> Result<()> {
        let exclusions = parse_exclusions(
            "tests/integration/a_test.py  client-side  the whole file\n\
             tests/integration/a_test.py::T::t  internet  pulls\n",
        )?;
        let found =
            exclusion_of(&exclusions, "tests/integration/a_test.py::T::t").context("covered")?;
        assert_eq!(found.category, Category::Internet);
        assert!(exclusion_of(&exclusions, "tests/integration/b_test.py::T::t").is_none());
        Ok(())
    }
}
