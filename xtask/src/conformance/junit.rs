//! Reads the JUnit XML pytest writes (`--junitxml`). pytest writes it with
//! ElementTree, which escapes every `<` in text and attributes, so a `<` in
//! the file always opens a tag; that is all this small reader relies on.

use std::collections::BTreeMap;

use anyhow::{Context, Result, bail};

/// What became of one test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Passed,
    /// Passed although docker-py marks it xfail (dockerd fails it): the
    /// `berth-xpass` property our pytest plugin adds, with the xfail reason.
    XPassed(String),
    /// A `<failure>` or an `<error>` (in setup, call or teardown).
    Failed(String),
    /// `<skipped>`: a skip, or an expected failure (xfail).
    Skipped(String),
}

impl Outcome {
    /// Failures outrank skips, skips outrank passes: a test that passed and
    /// then failed in teardown failed.
    fn rank(&self) -> u8 {
        match self {
            Outcome::Passed => 0,
            Outcome::XPassed(_) => 1,
            Outcome::Skipped(_) => 2,
            Outcome::Failed(_) => 3,
        }
    }
}

/// `(classname, name)` as pytest writes them in a `<testcase>`.
pub(crate) type Key = (String, String);

/// Every `<testcase>` in `xml`, by `(classname, name)`.
pub(crate) fn parse(xml: &str) -> Result<BTreeMap<Key, Outcome>> {
    let mut cases: BTreeMap<Key, Outcome> = BTreeMap::new();
    let mut rest = xml;
    while let Some(at) = find_tag(rest, "testcase") {
        let (attributes, self_closing, after) =
            start_tag(&rest[at..]).context("a <testcase> tag that does not end")?;
        let classname = attribute(attributes, "classname")?.unwrap_or_default();
        let name =
            attribute(attributes, "name")?.context("a <testcase> without a name attribute")?;
        let mut outcome = Outcome::Passed;
        rest = &rest[at..][after..];
        if !self_closing {
            let end = rest
                .find("</testcase>")
                .with_context(|| format!("<testcase name=\"{name}\"> is not closed"))?;
            outcome = body_outcome(&rest[..end])?;
            rest = &rest[end + "</testcase>".len()..];
        }
        let key = (classname, name);
        let keep = match cases.get(&key) {
            Some(previous) => outcome.rank() > previous.rank(),
            None => true,
        };
        if keep {
            cases.insert(key, outcome);
        }
    }
    Ok(cases)
}

/// The `(classname, name)` pytest's JUnit report uses for a node id
/// (pytest's `mangle_test_address`): the file path dotted without `.py`,
/// classes joined with dots, parameters left on the name.
pub(crate) fn key_of(node_id: &str) -> Key {
    let (path, params) = match node_id.find('[') {
        Some(at) => node_id.split_at(at),
        None => (node_id, ""),
    };
    let mut names: Vec<String> = path.split("::").map(str::to_owned).collect();
    let file = names[0].replace('/', ".");
    names[0] = file.strip_suffix(".py").map(str::to_owned).unwrap_or(file);
    let name = names.pop().unwrap_or_default() + params;
    (names.join("."), name)
}

/// The JUnit property our pytest plugin (`berth_conformance.py`) sets on an
/// XPASS.
const XPASS_PROPERTY: &str = "berth-xpass";

/// The outcome told by the children of a `<testcase>`.
fn body_outcome(body: &str) -> Result<Outcome> {
    let mut outcome = Outcome::Passed;
    let mut rest = body;
    while let Some(at) = find_tag(rest, "property") {
        let (attributes, _, after) =
            start_tag(&rest[at..]).context("a <property> tag that does not end")?;
        if attribute(attributes, "name")?.as_deref() == Some(XPASS_PROPERTY) {
            outcome = Outcome::XPassed(attribute(attributes, "value")?.unwrap_or_default());
        }
        rest = &rest[at + after..];
    }
    for (tag, make) in [
        ("failure", Outcome::Failed as fn(String) -> Outcome),
        ("error", Outcome::Failed),
        ("skipped", Outcome::Skipped),
    ] {
        if let Some(at) = find_tag(body, tag) {
            let (attributes, _, _) = start_tag(&body[at..])
                .with_context(|| format!("a <{tag}> tag that does not end"))?;
            let message = attribute(attributes, "message")?.unwrap_or_else(|| tag.to_owned());
            let found = make(message);
            if found.rank() > outcome.rank() {
                outcome = found;
            }
        }
    }
    Ok(outcome)
}

/// Where the next `<tag` start tag (not `<tagfoo`) begins in `text`.
fn find_tag(text: &str, tag: &str) -> Option<usize> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(found) = text[from..].find(&open) {
        let at = from + found;
        let next = text[at + open.len()..].chars().next();
        if matches!(next, Some(c) if c.is_whitespace() || c == '>' || c == '/') {
            return Some(at);
        }
        from = at + open.len();
    }
    None
}

/// Splits the start tag at the beginning of `text`: its attribute text,
/// whether it closes itself (`/>`), and the offset just past its `>`.
fn start_tag(text: &str) -> Option<(&str, bool, usize)> {
    let mut quote = None;
    for (index, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(open), c) if c == open => quote = None,
            (None, '>') => {
                let inner = &text[..index];
                let self_closing = inner.ends_with('/');
                let inner = inner.trim_end_matches('/');
                let attributes = inner.find(char::is_whitespace).map_or("", |at| &inner[at..]);
                return Some((attributes, self_closing, index + 1));
            }
            _ => {}
        }
    }
    None
}

/// The unescaped value of attribute `name` in a start tag's attribute text.
fn attribute(attributes: &str, name: &str) -> Result<Option<String>> {
    let mut rest = attributes;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            return Ok(None);
        }
        let eq = rest.find('=').context("an attribute without a value")?;
        let key = rest[..eq].trim();
        let value_part = rest[eq + 1..].trim_start();
        let quote = value_part
            .chars()
            .next()
            .filter(|c| *c == '"' || *c == '\'')
            .context("an attribute value without quotes")?;
        let end = value_part[1..].find(quote).context("an attribute value that does not end")?;
        let raw = &value_part[1..1 + end];
        if key == name {
            return unescape(raw).map(Some);
        }
        rest = &value_part[end + 2..];
    }
}

fn unescape(raw: &str) -> Result<String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let end =
            rest[at..].find(';').with_context(|| format!("an unfinished entity in {raw:?}"))?;
        let entity = &rest[at + 1..at + end];
        let c = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = entity.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
                match code.and_then(char::from_u32) {
                    Some(c) => c,
                    None => bail!("unknown entity &{entity}; in {raw:?}"),
                }
            }
        };
        out.push(c);
        rest = &rest[at + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Trimmed from a real report of this suite against berthd (xunit2).
    const REPORT: &str = r#"<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="docker-py" errors="1" failures="1" skipped="2" tests="5" time="1.894" timestamp="2026-11-22T04:47:36.158928" hostname="vm"><testcase classname="tests.integration.api_build_test.BuildTest" name="test_build_container_with_target" time="0.005"><error message="failed on setup with &quot;docker.errors.APIError: 501 Server Error for http+docker://localhost/v1.51/images/alpine:3.10/json: Not Implemented (&quot;GET /images/{name*}/json is not implemented by Berth yet&quot;)&quot;">E   requests.exceptions.HTTPError: 501 Server Error: Not Implemented for url: http+docker://localhost/v1.51/images/alpine:3.10/json &lt;error&gt;</error></testcase><testcase classname="tests.integration.api_build_test.BuildTest" name="test_prune_builds" time="0.000"><skipped type="pytest.xfail" message="Currently fails on 18.09: https://github.com/moby/moby/issues/37920" /></testcase><testcase classname="tests.integration.api_image_test.ImportImageTest" name="test_import_from_url" time="0.000"><skipped type="pytest.skip" message="Doesn't work inside a container - FIXME">/x/api_image_test.py:291: Doesn't work inside a container - FIXME</skipped></testcase><testcase classname="tests.integration.credentials.utils_test" name="test_create_environment_dict" time="0.006" /><testcase classname="tests.integration.client_test.ClientTest" name="test_ping" time="0.01"><system-out>&lt;failure&gt; is just text</system-out><failure message="assert False">assert False</failure></testcase></testsuite></testsuites>"#;

    fn key(classname: &str, name: &str) -> Key {
        (classname.to_owned(), name.to_owned())
    }

    #[test]
    fn outcomes_and_messages_are_read() -> Result<()> {
        let cases = parse(REPORT)?;
        assert_eq!(cases.len(), 5);
        let Some(Outcome::Failed(message)) = cases.get(&key(
            "tests.integration.api_build_test.BuildTest",
            "test_build_container_with_target",
        )) else {
            panic!("setup error not read: {cases:?}");
        };
        assert!(
            message.starts_with("failed on setup with \"docker.errors.APIError: 501"),
            "{message}"
        );
        assert!(message.contains("(\"GET /images/{name*}/json is not"), "{message}");
        assert_eq!(
            cases.get(&key("tests.integration.api_build_test.BuildTest", "test_prune_builds")),
            Some(&Outcome::Skipped(
                "Currently fails on 18.09: https://github.com/moby/moby/issues/37920".to_owned()
            ))
        );
        assert!(matches!(
            cases.get(&key(
                "tests.integration.api_image_test.ImportImageTest",
                "test_import_from_url"
            )),
            Some(Outcome::Skipped(_))
        ));
        assert_eq!(
            cases.get(&key(
                "tests.integration.credentials.utils_test",
                "test_create_environment_dict"
            )),
            Some(&Outcome::Passed)
        );
        assert_eq!(
            cases.get(&key("tests.integration.client_test.ClientTest", "test_ping")),
            Some(&Outcome::Failed("assert False".to_owned()))
        );
        Ok(())
    }

    #[test]
    fn a_teardown_error_after_a_pass_is_a_failure() -> Result<()> {
        let xml = r#"<testsuite><testcase classname="a.T" name="t"></testcase><testcase classname="a.T" name="t"><error message="failed on teardown">x</error></testcase><testcase classname="a.T" name="u"/></testsuite>"#;
        let cases = parse(xml)?;
        assert_eq!(
            cases.get(&key("a.T", "t")),
            Some(&Outcome::Failed("failed on teardown".to_owned()))
        );
        assert_eq!(cases.get(&key("a.T", "u")), Some(&Outcome::Passed));
        Ok(())
    }

    #[test]
    fn xpasses_are_told_apart_by_the_plugin_property() -> Result<()> {
        let xml = r#"<testsuite><testcase classname="a.T" name="t" time="0.003"><properties><property name="berth-xpass" value="Docker API always returns chunked resp" /></properties></testcase><testcase classname="a.T" name="u"><properties><property name="other" value="1" /></properties></testcase></testsuite>"#;
        let cases = parse(xml)?;
        let xpass = Outcome::XPassed("Docker API always returns chunked resp".to_owned());
        assert_eq!(cases.get(&key("a.T", "t")), Some(&xpass));
        assert_eq!(cases.get(&key("a.T", "u")), Some(&Outcome::Passed));
        Ok(())
    }

    #[test]
    fn broken_reports_are_errors() {
        assert!(parse(r#"<testcase classname="a" name="t"><failure message="x">"#).is_err());
        assert!(parse(r#"<testcase classname="a" name="t"#).is_err());
        assert!(parse(r#"<testcase classname="a"/>"#).is_err());
    }

    #[test]
    fn node_ids_map_to_junit_keys() {
        assert_eq!(
            key_of("tests/integration/api_container_test.py::LogsTest::test_logs"),
            key("tests.integration.api_container_test.LogsTest", "test_logs")
        );
        assert_eq!(
            key_of("tests/integration/credentials/utils_test.py::test_create_environment_dict"),
            key("tests.integration.credentials.utils_test", "test_create_environment_dict")
        );
        assert_eq!(
            key_of("tests/integration/a_test.py::T::test_x[1::2-a/b.py]"),
            key("tests.integration.a_test.T", "test_x[1::2-a/b.py]")
        );
    }

    #[test]
    fn entities_are_unescaped() -> Result<()> {
        assert_eq!(unescape("a &lt;b&gt; &amp; &quot;c&quot; &#39;d&#x27;")?, "a <b> & \"c\" 'd'");
        assert!(unescape("&bogus;").is_err());
        assert!(unescape("&amp").is_err());
        Ok(())
    }
}
