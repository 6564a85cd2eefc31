//! What "the same answer" means: status, the headers clients read, and the
//! JSON body's shape, with values compared where they are deterministic.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::client::Answer;

/// One way two answers differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Difference {
    /// Where: `status`, `header Content-Type`, `body`, `body $.Key[].Sub`.
    pub(crate) location: String,
    /// dockerd's side, rendered (`200`, `"text"`, `string`, `(absent)`).
    pub(crate) dockerd: String,
    /// berthd's side, rendered the same way.
    pub(crate) berthd: String,
}

impl Difference {
    fn new(
        location: impl Into<String>,
        dockerd: impl Into<String>,
        berthd: impl Into<String>,
    ) -> Self {
        Difference { location: location.into(), dockerd: dockerd.into(), berthd: berthd.into() }
    }
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: dockerd {}, berthd {}", self.location, self.dockerd, self.berthd)
    }
}

/// Headers whose value clients act on: compared exactly, absence included.
/// (The docker CLI reads `Builder-Version` and `Swarm` from `/_ping`.)
const VALUE_HEADERS: &[&str] =
    &["Content-Type", "Location", "Docker-Experimental", "Ostype", "Builder-Version", "Swarm"];
/// Headers compared for presence only here; their values (which name the
/// daemon and its maximum API version) are compared once per run, see
/// [`header_values`].
pub(crate) const PRESENCE_HEADERS: &[&str] = &["Api-Version", "Server"];

/// Every difference between two answers to the same request. When the
/// statuses differ the bodies are not compared (a different status is a
/// different answer); the status difference carries both bodies' gist.
pub(crate) fn answers(dockerd: &Answer, berthd: &Answer, volatile: &[&str]) -> Vec<Difference> {
    let mut out = Vec::new();
    if dockerd.status != berthd.status {
        out.push(Difference::new(
            "status",
            format!("{} {}", dockerd.status.as_u16(), gist(&dockerd.body)),
            format!("{} {}", berthd.status.as_u16(), gist(&berthd.body)),
        ));
    }
    for name in VALUE_HEADERS {
        let (d, b) = (header(dockerd, name), header(berthd, name));
        if d != b {
            out.push(Difference::new(format!("header {name}"), render_header(d), render_header(b)));
        }
    }
    for name in PRESENCE_HEADERS {
        let (d, b) = (header(dockerd, name).is_some(), header(berthd, name).is_some());
        if d != b {
            let word = |present| if present { "present" } else { "absent" };
            out.push(Difference::new(format!("header {name}"), word(d), word(b)));
        }
    }
    if dockerd.status == berthd.status {
        bodies(&Body::parse(&dockerd.body), &Body::parse(&berthd.body), volatile, &mut out);
    }
    out
}

/// The distinct values each side sent for each of [`PRESENCE_HEADERS`]
/// over a whole run, as differences where the sets differ.
pub(crate) fn header_values<'a>(
    pairs: impl IntoIterator<Item = (&'a Answer, &'a Answer)>,
) -> Vec<Difference> {
    let mut seen: BTreeMap<&str, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (dockerd, berthd) in pairs {
        for name in PRESENCE_HEADERS {
            let entry = seen.entry(name).or_default();
            for (answer, values) in [(dockerd, &mut entry.0), (berthd, &mut entry.1)] {
                if let Some(value) = header(answer, name)
                    && !values.iter().any(|v| v == value)
                {
                    values.push(value.to_owned());
                }
            }
        }
    }
    let mut out = Vec::new();
    for (name, (mut d, mut b)) in seen {
        d.sort();
        b.sort();
        if d != b {
            let render = |values: &[String]| {
                if values.is_empty() {
                    "(never sent)".to_owned()
                } else {
                    values.iter().map(|v| format!("{v:?}")).collect::<Vec<_>>().join(" | ")
                }
            };
            out.push(Difference::new(format!("header {name}"), render(&d), render(&b)));
        }
    }
    out
}

fn header<'a>(answer: &'a Answer, name: &str) -> Option<&'a str> {
    answer.headers.get(name).map(|value| value.to_str().unwrap_or("(not text)"))
}

fn render_header(value: Option<&str>) -> String {
    value.map_or_else(|| "(absent)".to_owned(), |v| format!("{v:?}"))
}

/// A body as the comparison sees it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Empty,
    /// One JSON document, or a stream of them (JSON lines).
    Json(Vec<Value>),
    Text(String),
}

impl Body {
    pub(crate) fn parse(bytes: &[u8]) -> Body {
        if bytes.is_empty() {
            return Body::Empty;
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            return Body::Text(String::from_utf8_lossy(bytes).into_owned());
        };
        if let Ok(value) = serde_json::from_str::<Value>(text) {
            return Body::Json(vec![value]);
        }
        let lines: Result<Vec<Value>, _> =
            serde_json::Deserializer::from_str(text).into_iter::<Value>().collect();
        match lines {
            Ok(values) if !values.is_empty() => Body::Json(values),
            _ => Body::Text(text.to_owned()),
        }
    }

    fn describe(&self) -> String {
        match self {
            Body::Empty => "empty".to_owned(),
            Body::Json(values) if values.len() == 1 => format!("JSON {}", kind(&values[0])),
            Body::Json(values) => format!("a stream of {} JSON values", values.len()),
            Body::Text(text) => format!("text {:?}", truncate(text, 120)),
        }
    }
}

/// A short description of a body for a status difference: the error message
/// if it is one, else its kind.
fn gist(bytes: &[u8]) -> String {
    match Body::parse(bytes) {
        Body::Json(values) if values.len() == 1 => match values[0].get("message") {
            Some(Value::String(message)) => {
                format!("{{\"message\": {:?}}}", truncate(message, 160))
            }
            _ => format!("(JSON {})", kind(&values[0])),
        },
        body => format!("({})", body.describe()),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

fn bodies(dockerd: &Body, berthd: &Body, volatile: &[&str], out: &mut Vec<Difference>) {
    match (dockerd, berthd) {
        (Body::Empty, Body::Empty) => {}
        (Body::Text(d), Body::Text(b)) => {
            if d != b {
                out.push(Difference::new("body", format!("{d:?}"), format!("{b:?}")));
            }
        }
        (Body::Json(d), Body::Json(b)) if d.len() == 1 && b.len() == 1 => {
            shape("$", &d[0], &b[0], volatile, out);
        }
        // Streams (events): how many items arrive depends on timing; compare
        // the first item's shape.
        (Body::Json(d), Body::Json(b)) => shape("$[]", &d[0], &b[0], volatile, out),
        (d, b) => out.push(Difference::new("body", d.describe(), b.describe())),
    }
}

/// JSON value kinds, as a difference names them.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares `dockerd` and `berthd` at `path`: kinds, object keys, arrays by
/// their first element, and scalar values unless `path` is volatile.
pub(crate) fn shape(
    path: &str,
    dockerd: &Value,
    berthd: &Value,
    volatile: &[&str],
    out: &mut Vec<Difference>,
) {
    let is_volatile = volatile.iter().any(|pattern| glob(pattern, path));
    match (dockerd, berthd) {
        // A volatile object is a map whose keys are data (runtimes by name,
        // containers by ID): keys one side lacks are state, not shape.
        (Value::Object(d), Value::Object(b)) => {
            for (key, dv) in d {
                let child = child_path(path, key);
                match b.get(key) {
                    Some(bv) => shape(&child, dv, bv, volatile, out),
                    None if is_volatile => {}
                    None => {
                        out.push(Difference::new(format!("body {child}"), kind(dv), "(absent)"))
                    }
                }
            }
            for (key, bv) in b {
                if !is_volatile && !d.contains_key(key) {
                    out.push(Difference::new(
                        format!("body {}", child_path(path, key)),
                        "(absent)",
                        kind(bv),
                    ));
                }
            }
        }
        (Value::Array(d), Value::Array(b)) => match (d.first(), b.first()) {
            (Some(df), Some(bf)) => shape(&format!("{path}[]"), df, bf, volatile, out),
            (None, None) => {}
            // How many items a list holds is state, not shape, where it is
            // volatile; elsewhere an empty list against a full one is news.
            _ if is_volatile => {}
            _ => out.push(Difference::new(
                format!("body {path}"),
                format!("{} items", d.len()),
                format!("{} items", b.len()),
            )),
        },
        (d, b) if kind(d) != kind(b) => {
            out.push(Difference::new(format!("body {path}"), kind(d), kind(b)));
        }
        (d, b) => {
            if !is_volatile && d != b {
                out.push(Difference::new(
                    format!("body {path}"),
                    render_scalar(d),
                    render_scalar(b),
                ));
            }
        }
    }
}

fn child_path(path: &str, key: &str) -> String {
    let plain =
        !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!("{path}.{key}")
    } else {
        let mut out = String::from(path);
        let _ = write!(out, "[{key:?}]");
        out
    }
}

fn render_scalar(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{:?}", truncate(text, 200)),
        other => other.to_string(),
    }
}

/// `*` matches any run of characters (dots and brackets included); every
/// other character matches itself.
pub(crate) fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    // Classic two-pointer wildcard match with backtracking to the last `*`.
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] != '*' && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue, StatusCode};
    use serde_json::json;

    use super::*;

    fn diffs(dockerd: &Value, berthd: &Value, volatile: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        shape("$", dockerd, berthd, volatile, &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    fn answer(status: u16, headers: &[(&'static str, &'static str)], body: &str) -> Answer {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(*name, HeaderValue::from_static(value));
        }
        Answer {
            status: StatusCode::from_u16(status).expect("a valid status"),
            headers: map,
            body: Bytes::from(body.to_owned()),
        }
    }

    #[test]
    fn equal_documents_have_no_differences() {
        let doc = json!({"a": 1, "b": [{"c": null}], "d": {"e": "x"}});
        assert!(diffs(&doc, &doc, &[]).is_empty());
    }

    #[test]
    fn missing_keys_and_kinds_are_reported_with_their_path() {
        let dockerd = json!({"Warnings": null, "Gone": 1, "Nested": {"Expected": "x"}});
        let berthd = json!({"Warnings": [], "New": true, "Nested": {}});
        assert_eq!(
            diffs(&dockerd, &berthd, &[]),
            [
                "body $.Gone: dockerd number, berthd (absent)",
                "body $.Nested.Expected: dockerd string, berthd (absent)",
                "body $.Warnings: dockerd null, berthd array",
                "body $.New: dockerd (absent), berthd bool",
            ]
        );
    }

    #[test]
    fn keys_that_are_not_identifiers_are_quoted() {
        let dockerd = json!({"Runtimes": {"io.containerd.runc.v2": {}}});
        let berthd = json!({"Runtimes": {}});
        assert_eq!(
            diffs(&dockerd, &berthd, &[]),
            [r#"body $.Runtimes["io.containerd.runc.v2"]: dockerd object, berthd (absent)"#]
        );
    }

    #[test]
    fn values_differ_unless_volatile() {
        let dockerd = json!({"ID": "abc", "ApiVersion": "1.41", "NCPU": 2});
        let berthd = json!({"ID": "def", "ApiVersion": "1.51", "NCPU": 2});
        assert_eq!(
            diffs(&dockerd, &berthd, &["$.ID"]),
            [r#"body $.ApiVersion: dockerd "1.41", berthd "1.51""#]
        );
        // Volatile means "shape only", not "anything goes".
        let berthd = json!({"ID": 7, "ApiVersion": "1.41", "NCPU": 2});
        assert_eq!(
            diffs(&dockerd, &berthd, &["$.ID"]),
            ["body $.ID: dockerd string, berthd number"]
        );
    }

    #[test]
    fn arrays_compare_their_first_elements() {
        let dockerd = json!({"List": [{"Name": "a", "Size": 1}, {"Name": "b"}]});
        let berthd = json!({"List": [{"Name": "a"}]});
        assert_eq!(
            diffs(&dockerd, &berthd, &[]),
            ["body $.List[].Size: dockerd number, berthd (absent)"]
        );
        let empty = json!({"List": []});
        assert_eq!(diffs(&dockerd, &empty, &[]), ["body $.List: dockerd 2 items, berthd 0 items"]);
        // How many items a volatile list holds is state.
        assert!(diffs(&dockerd, &empty, &["$.List*"]).is_empty());
    }

    #[test]
    fn a_volatile_object_is_a_map_whose_keys_are_data() {
        let dockerd = json!({"Containers": {"abc": {"Name": "x"}}, "Fixed": {"A": 1}});
        let berthd = json!({"Containers": {"def": {"Name": "y"}}, "Fixed": {"B": 1}});
        assert_eq!(
            diffs(&dockerd, &berthd, &["$.Containers*", "$.Fixed.*"]),
            [
                "body $.Fixed.A: dockerd number, berthd (absent)",
                "body $.Fixed.B: dockerd (absent), berthd number",
            ]
        );
    }

    #[test]
    fn bodies_are_json_json_lines_text_or_empty() {
        assert_eq!(Body::parse(b""), Body::Empty);
        assert_eq!(Body::parse(b"{\"a\":1}\n"), Body::Json(vec![json!({"a": 1})]));
        assert_eq!(
            Body::parse(b"{\"a\":1}\n{\"a\":2}\n"),
            Body::Json(vec![json!({"a": 1}), json!({"a": 2})])
        );
        assert_eq!(Body::parse(b"OK"), Body::Text("OK".to_owned()));
    }

    #[test]
    fn a_different_status_carries_both_messages_and_skips_the_body() {
        let dockerd = answer(
            404,
            &[("content-type", "application/json")],
            r#"{"message":"No such image: x"}"#,
        );
        let berthd =
            answer(501, &[("content-type", "application/json")], r#"{"message":"not yet"}"#);
        let found: Vec<String> =
            answers(&dockerd, &berthd, &[]).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                r#"status: dockerd 404 {"message": "No such image: x"}, berthd 501 {"message": "not yet"}"#
            ]
        );
    }

    #[test]
    fn headers_clients_read_are_compared() {
        let dockerd = answer(
            200,
            &[
                ("content-type", "text/plain; charset=utf-8"),
                ("docker-experimental", "false"),
                ("ostype", "linux"),
                ("api-version", "1.41"),
                ("server", "Docker/20.10.24 (linux)"),
                ("content-length", "2"),
            ],
            "OK",
        );
        let berthd = answer(
            200,
            &[
                ("content-type", "text/plain; charset=utf-8"),
                ("docker-experimental", "false"),
                ("api-version", "1.51"),
                ("transfer-encoding", "chunked"),
            ],
            "OK",
        );
        let found: Vec<String> =
            answers(&dockerd, &berthd, &[]).iter().map(ToString::to_string).collect();
        // Values of Api-Version and Server are not compared here, nor framing.
        assert_eq!(
            found,
            [
                r#"header Ostype: dockerd "linux", berthd (absent)"#,
                "header Server: dockerd present, berthd absent",
            ]
        );
    }

    #[test]
    fn run_wide_header_values_are_compared_once() {
        let d = answer(200, &[("api-version", "1.41"), ("server", "Docker/20.10")], "");
        let b = answer(200, &[("api-version", "1.51"), ("server", "Docker/20.10")], "");
        let bare = answer(404, &[], "");
        let found: Vec<String> = header_values([(&d, &b), (&bare, &bare), (&d, &b)])
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(found, [r#"header Api-Version: dockerd "1.41", berthd "1.51""#]);
    }

    #[test]
    fn glob_stars_match_any_run() {
        assert!(glob("$.ID", "$.ID"));
        assert!(!glob("$.ID", "$.IDs"));
        assert!(glob("$.Containers*", "$.ContainersRunning"));
        assert!(glob("$.Containers*", "$.Containers"));
        assert!(glob("$[]*", "$[].Actor.ID"));
        assert!(glob("header *", "header Ostype"));
        assert!(glob("*-version", "v1.24-version"));
        assert!(!glob("*-version", "v1.24-info"));
        assert!(glob("a*b*c", "aXbYbZc"));
    }
}
