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

/// Headers whose value is base64-encoded JSON: decoded and compared as a
/// body is, at `header NAME $.path` (`HEAD /containers/{id}/archive`).
const JSON_HEADERS: &[&str] = &["X-Docker-Container-Path-Stat"];

/// How two answers are compared, beyond status and headers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Rules<'a> {
    /// JSON paths compared by shape only.
    pub(crate) volatile: &'a [&'a str],
    /// JSON paths of arrays whose order is not part of the answer: their
    /// items are sorted before they are compared.
    pub(crate) unordered: &'a [&'a str],
    /// Whether the bodies are compared at all.
    pub(crate) body: bool,
}

/// Every difference between two answers to the same request. When the
/// statuses differ the bodies are not compared (a different status is a
/// different answer); the status difference carries both bodies' gist.
pub(crate) fn answers(dockerd: &Answer, berthd: &Answer, rules: Rules<'_>) -> Vec<Difference> {
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
    for name in JSON_HEADERS {
        let location = format!("header {name}");
        match (header(dockerd, name), header(berthd, name)) {
            (None, None) => {}
            (Some(d), Some(b)) => match (decode_json(d), decode_json(b)) {
                (Some(d), Some(b)) => walk(&location, "$", &d, &b, rules, &mut out),
                _ if d == b => {}
                _ => out.push(Difference::new(location, format!("{d:?}"), format!("{b:?}"))),
            },
            (d, b) => out.push(Difference::new(location, render_header(d), render_header(b))),
        }
    }
    if dockerd.status == berthd.status && rules.body {
        bodies(&Body::parse(&dockerd.body), &Body::parse(&berthd.body), rules, &mut out);
    }
    out
}

/// A multiplexed stream (8-byte frame headers: stream, three zeros, length)
/// as the text each stream carried, `[stdout] …` then `[stderr] …`; `None`
/// when `bytes` is not one. Where the frames split depends on timing, so
/// multiplexed answers are compared this way.
pub(crate) fn demultiplex(bytes: &[u8]) -> Option<String> {
    let (mut streams, mut rest) = ([Vec::new(), Vec::new(), Vec::new()], bytes);
    while !rest.is_empty() {
        let (header, tail) = rest.split_at_checked(8)?;
        let stream = usize::from(header[0]);
        if stream > 2 || header[1..4] != [0, 0, 0] {
            return None;
        }
        let length =
            usize::try_from(u32::from_be_bytes([header[4], header[5], header[6], header[7]]))
                .ok()?;
        let (payload, tail) = tail.split_at_checked(length)?;
        streams[stream].extend_from_slice(payload);
        rest = tail;
    }
    let mut text = String::new();
    for (name, payload) in ["stdin", "stdout", "stderr"].iter().zip(&streams) {
        if !payload.is_empty() {
            let _ = write!(text, "[{name}] {}", String::from_utf8_lossy(payload));
        }
    }
    Some(text)
}

/// A base64 (standard alphabet, padded or not) JSON document.
fn decode_json(text: &str) -> Option<Value> {
    let mut bytes = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            bytes.push(u8::try_from((acc >> bits) & 0xff).ok()?);
        }
    }
    serde_json::from_slice(&bytes).ok()
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

fn bodies(dockerd: &Body, berthd: &Body, rules: Rules<'_>, out: &mut Vec<Difference>) {
    match (dockerd, berthd) {
        (Body::Empty, Body::Empty) => {}
        (Body::Text(d), Body::Text(b)) => {
            if d != b {
                out.push(Difference::new("body", format!("{d:?}"), format!("{b:?}")));
            }
        }
        (Body::Json(d), Body::Json(b)) if d.len() == 1 && b.len() == 1 => {
            shape("$", &d[0], &b[0], rules, out);
        }
        // Streams (events): how many items arrive depends on timing; compare
        // the first item's shape.
        (Body::Json(d), Body::Json(b)) => shape("$[]", &d[0], &b[0], rules, out),
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

/// Compares `dockerd` and `berthd` at `path` of a body: kinds, object keys,
/// and values unless `path` is volatile. Arrays of scalars compare as whole
/// values; other arrays item by item (their length too), or by their first
/// item where the array is volatile.
pub(crate) fn shape(
    path: &str,
    dockerd: &Value,
    berthd: &Value,
    rules: Rules<'_>,
    out: &mut Vec<Difference>,
) {
    walk("body", path, dockerd, berthd, rules, out);
}

/// [`shape`] for a document found at `prefix` (`body`, `header NAME`).
fn walk(
    prefix: &str,
    path: &str,
    dockerd: &Value,
    berthd: &Value,
    rules: Rules<'_>,
    out: &mut Vec<Difference>,
) {
    let is_volatile = rules.volatile.iter().any(|pattern| glob(pattern, path));
    if let (Value::Array(d), Value::Array(b)) = (dockerd, berthd)
        && rules.unordered.iter().any(|pattern| glob(pattern, path))
    {
        let sorted = |items: &[Value]| {
            let mut items = items.to_vec();
            items.sort_by_cached_key(Value::to_string);
            Value::Array(items)
        };
        let inner = Rules { unordered: &[], ..rules };
        return walk(prefix, path, &sorted(d), &sorted(b), inner, out);
    }
    match (dockerd, berthd) {
        // A volatile object is a map whose keys are data (runtimes by name,
        // containers by ID): keys one side lacks are state, not shape.
        (Value::Object(d), Value::Object(b)) => {
            for (key, dv) in d {
                let child = child_path(path, key);
                match b.get(key) {
                    Some(bv) => walk(prefix, &child, dv, bv, rules, out),
                    None if is_volatile => {}
                    None => {
                        out.push(Difference::new(format!("{prefix} {child}"), kind(dv), "(absent)"))
                    }
                }
            }
            for (key, bv) in b {
                if !is_volatile && !d.contains_key(key) {
                    out.push(Difference::new(
                        format!("{prefix} {}", child_path(path, key)),
                        "(absent)",
                        kind(bv),
                    ));
                }
            }
        }
        // How many items a volatile list holds is state, not shape: compare
        // the first items' shape.
        (Value::Array(d), Value::Array(b)) if is_volatile => {
            if let (Some(df), Some(bf)) = (d.first(), b.first()) {
                walk(prefix, &format!("{path}[]"), df, bf, rules, out);
            }
        }
        (Value::Array(d), Value::Array(b)) if all_scalars(d) && all_scalars(b) => {
            if d != b {
                out.push(Difference::new(
                    format!("{prefix} {path}"),
                    render_array(d),
                    render_array(b),
                ));
            }
        }
        (Value::Array(d), Value::Array(b)) => {
            if d.len() != b.len() {
                out.push(Difference::new(
                    format!("{prefix} {path}"),
                    format!("{} items", d.len()),
                    format!("{} items", b.len()),
                ));
            }
            let item = format!("{path}[]");
            for (dv, bv) in d.iter().zip(b) {
                walk(prefix, &item, dv, bv, rules, out);
            }
        }
        (d, b) if kind(d) != kind(b) => {
            out.push(Difference::new(format!("{prefix} {path}"), kind(d), kind(b)));
        }
        (d, b) => {
            if !is_volatile && d != b {
                out.push(Difference::new(
                    format!("{prefix} {path}"),
                    render_scalar(d),
                    render_scalar(b),
                ));
            }
        }
    }
}

fn all_scalars(items: &[Value]) -> bool {
    items.iter().all(|item| !matches!(item, Value::Array(_) | Value::Object(_)))
}

fn render_array(items: &[Value]) -> String {
    truncate(&Value::Array(items.to_vec()).to_string(), 300)
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

    const ALL: Rules<'static> = Rules { volatile: &[], unordered: &[], body: true };

    fn diffs(dockerd: &Value, berthd: &Value, volatile: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        shape("$", dockerd, berthd, Rules { volatile, ..ALL }, &mut out);
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
    fn arrays_of_scalars_compare_whole() {
        let dockerd = json!({"Env": ["A=1", "PATH=/bin"], "Same": [1, "x", null]});
        let berthd = json!({"Env": ["PATH=/bin", "A=1"], "Same": [1, "x", null]});
        assert_eq!(
            diffs(&dockerd, &berthd, &[]),
            [r#"body $.Env: dockerd ["A=1","PATH=/bin"], berthd ["PATH=/bin","A=1"]"#]
        );
        let empty = json!({"Env": [], "Same": [1, "x", null]});
        assert_eq!(
            diffs(&dockerd, &empty, &[]),
            [r#"body $.Env: dockerd ["A=1","PATH=/bin"], berthd []"#]
        );
    }

    #[test]
    fn arrays_of_objects_compare_item_by_item() {
        let dockerd = json!({"List": [{"Name": "a", "Size": 1}, {"Name": "b"}]});
        let berthd = json!({"List": [{"Name": "a"}, {"Name": "c"}, {"Name": "d"}]});
        assert_eq!(
            diffs(&dockerd, &berthd, &[]),
            [
                "body $.List: dockerd 2 items, berthd 3 items",
                "body $.List[].Size: dockerd number, berthd (absent)",
                r#"body $.List[].Name: dockerd "b", berthd "c""#,
            ]
        );
        let empty = json!({"List": []});
        assert_eq!(diffs(&dockerd, &empty, &[]), ["body $.List: dockerd 2 items, berthd 0 items"]);
        // How many items a volatile list holds is state; the first item's
        // shape is still compared.
        assert!(diffs(&dockerd, &empty, &["$.List*"]).is_empty());
        assert_eq!(
            diffs(&dockerd, &berthd, &["$.List"]),
            ["body $.List[].Size: dockerd number, berthd (absent)"]
        );
    }

    #[test]
    fn an_unordered_array_compares_as_a_set_of_items() {
        let dockerd =
            json!({"Changes": [{"Path": "/scratch"}, {"Path": "/data"}], "Env": ["A", "B"]});
        let berthd =
            json!({"Changes": [{"Path": "/data"}, {"Path": "/scratch"}], "Env": ["B", "A"]});
        let unordered = Rules { unordered: &["$.Changes"], ..ALL };
        let mut out = Vec::new();
        shape("$", &dockerd, &berthd, unordered, &mut out);
        let found: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(found, [r#"body $.Env: dockerd ["A","B"], berthd ["B","A"]"#]);
        // Different items still differ.
        let other = json!({"Changes": [{"Path": "/data"}, {"Path": "/work"}], "Env": ["A", "B"]});
        let mut out = Vec::new();
        shape("$", &dockerd, &other, unordered, &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
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
            answers(&dockerd, &berthd, ALL).iter().map(ToString::to_string).collect();
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
            answers(&dockerd, &berthd, ALL).iter().map(ToString::to_string).collect();
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
    fn a_stat_header_is_compared_as_json() {
        // {"name":"passwd","size":5,"mode":420} and the same with size 6.
        let d = answer(
            200,
            &[(
                "x-docker-container-path-stat",
                "eyJuYW1lIjoicGFzc3dkIiwic2l6ZSI6NSwibW9kZSI6NDIwfQ==",
            )],
            "",
        );
        let b = answer(
            200,
            &[(
                "x-docker-container-path-stat",
                "eyJuYW1lIjoicGFzc3dkIiwic2l6ZSI6NiwibW9kZSI6NDIwfQ",
            )],
            "",
        );
        let found: Vec<String> = answers(&d, &b, ALL).iter().map(ToString::to_string).collect();
        assert_eq!(found, ["header X-Docker-Container-Path-Stat $.size: dockerd 5, berthd 6"]);
        assert!(answers(&d, &d, ALL).is_empty());
        let none = answer(200, &[], "");
        let found: Vec<String> = answers(&d, &none, ALL).iter().map(ToString::to_string).collect();
        assert_eq!(
            found,
            [
                r#"header X-Docker-Container-Path-Stat: dockerd "eyJuYW1lIjoicGFzc3dkIiwic2l6ZSI6NSwibW9kZSI6NDIwfQ==", berthd (absent)"#
            ]
        );
    }

    #[test]
    fn an_ignored_body_is_not_compared() {
        let d = answer(200, &[("content-type", "application/x-tar")], "one tar");
        let b = answer(200, &[("content-type", "application/x-tar")], "another tar");
        assert!(answers(&d, &b, Rules { body: false, ..ALL }).is_empty());
        assert_eq!(answers(&d, &b, ALL).len(), 1);
    }

    #[test]
    fn multiplexed_streams_read_as_what_each_stream_carried() {
        // The same output, framed differently: one frame against two.
        let one = b"\x01\0\0\0\0\0\0\x03ab\n\x02\0\0\0\0\0\0\x02e\n";
        let two = b"\x01\0\0\0\0\0\0\x01a\x02\0\0\0\0\0\0\x02e\n\x01\0\0\0\0\0\0\x02b\n";
        assert_eq!(demultiplex(one).as_deref(), Some("[stdout] ab\n[stderr] e\n"));
        assert_eq!(demultiplex(two), demultiplex(one));
        assert_eq!(demultiplex(b"").as_deref(), Some(""));
        // Not a multiplexed stream.
        assert_eq!(demultiplex(b"plain text"), None);
        assert_eq!(demultiplex(b"\x01\0\0\0\0\0\0\x09short"), None);
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
