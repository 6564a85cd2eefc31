//! Compiled rules and their matchers, built once at load time and tested on every request.

use berth_middleware::authz::{Peer, RequestBody, RequestInfo};
use http::Method;
use serde_json::Value;

use super::Action;
use super::group::GroupSet;

/// One `[[rule]]` after validation. `None` matchers were absent and match everything; present
/// lists are never empty.
#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) name: String,
    pub(crate) action: Action,
    pub(crate) message: Option<String>,
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) paths: Option<Vec<PathPattern>>,
    pub(crate) groups: Option<GroupSet>,
    pub(crate) uid: Option<Vec<u32>>,
    pub(crate) gid: Option<Vec<u32>>,
    pub(crate) cn: Option<Vec<String>>,
    pub(crate) ou: Option<Vec<String>>,
    pub(crate) body: Option<Vec<(Pointer, Value)>>,
    pub(crate) body_set: Option<Vec<Pointer>>,
}

/// What is computed about a request at most once, however many rules look at it.
pub(crate) struct Subject<'a> {
    pub(crate) info: &'a RequestInfo,
    groups: GroupSet,
    body: Option<Parsed>,
}

/// The body as body matchers see it.
enum Parsed {
    Empty,
    Json(Value),
    /// Hidden from authorizers, or not JSON: body matchers cannot decide.
    Unknown,
}

impl<'a> Subject<'a> {
    pub(crate) fn new(info: &'a RequestInfo) -> Self {
        Subject { info, groups: GroupSet::of_request(&info.method, &info.path), body: None }
    }

    fn body(&mut self) -> &Parsed {
        let info = self.info;
        self.body.get_or_insert_with(|| match &info.body {
            RequestBody::Empty => Parsed::Empty,
            RequestBody::Hidden => Parsed::Unknown,
            RequestBody::Json(bytes) => match serde_json::from_slice(bytes) {
                Ok(value) => Parsed::Json(value),
                Err(err) => {
                    // The parser's message names a position, never the content.
                    tracing::debug!(
                        path = %info.path,
                        error = %err,
                        "request body is not JSON; policy body matchers treat it as unknown"
                    );
                    Parsed::Unknown
                }
            },
        })
    }
}

impl Rule {
    /// Whether the rule decides this request. Cheap matchers first; the body is parsed only when
    /// everything else matched.
    pub(crate) fn matches(&self, subject: &mut Subject<'_>) -> bool {
        let info = subject.info;
        let peer: &Peer = &info.peer;
        let cheap = self.methods.as_ref().is_none_or(|m| {
            m.iter().any(|m| m.as_str().eq_ignore_ascii_case(info.method.as_str()))
        }) && self.groups.is_none_or(|g| g.intersects(subject.groups))
            && self.paths.as_ref().is_none_or(|p| p.iter().any(|p| p.matches(&info.path)))
            && self.uid.as_ref().is_none_or(|ids| peer.uid.is_some_and(|uid| ids.contains(&uid)))
            && self.gid.as_ref().is_none_or(|ids| peer.gid.is_some_and(|gid| ids.contains(&gid)))
            && self
                .cn
                .as_ref()
                .is_none_or(|cns| peer.common_name.as_ref().is_some_and(|cn| cns.contains(cn)))
            && self
                .ou
                .as_ref()
                .is_none_or(|ous| peer.organizational_units.iter().any(|ou| ous.contains(ou)));
        if !cheap {
            return false;
        }
        if self.body.is_none() && self.body_set.is_none() {
            return true;
        }
        match subject.body() {
            Parsed::Empty => false,
            // Fail closed: a deny rule that might apply applies, an allow rule does not.
            Parsed::Unknown => self.action == Action::Deny,
            Parsed::Json(body) => {
                self.body.as_ref().is_none_or(|pairs| {
                    pairs.iter().all(|(pointer, want)| {
                        pointer.resolve(body).is_some_and(|got| json_eq(got, want))
                    })
                }) && self.body_set.as_ref().is_none_or(|pointers| {
                    pointers.iter().any(|p| p.resolve(body).is_some_and(is_set))
                })
            }
        }
    }
}

/// A `paths` entry: literal segments, `*` for exactly one segment, and at most one `**` for any
/// number of segments, none included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathPattern {
    /// The segments before `**`, or all of them.
    head: Vec<Segment>,
    /// The segments after `**`; `None` without `**`.
    tail: Option<Vec<Segment>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Any,
}

impl Segment {
    fn matches(&self, got: &str) -> bool {
        match self {
            Segment::Any => true,
            Segment::Literal(want) => want == got,
        }
    }
}

impl PathPattern {
    pub(crate) fn parse(pattern: &str) -> Result<PathPattern, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(format!("path pattern {pattern:?} does not start with \"/\""));
        };
        if pattern.contains('?') {
            return Err(format!(
                "path pattern {pattern:?} has a query; patterns match the path without it"
            ));
        }
        if rest.split('/').next().is_some_and(is_version) {
            return Err(format!(
                "path pattern {pattern:?} starts with an API version; patterns match the path \
                 without the /vX.Y prefix"
            ));
        }
        let mut head = Vec::new();
        let mut tail: Option<Vec<Segment>> = None;
        for part in rest.split('/') {
            let segment = match part {
                "**" if tail.is_some() => {
                    return Err(format!("path pattern {pattern:?} has more than one \"**\""));
                }
                "**" => {
                    tail = Some(Vec::new());
                    continue;
                }
                "*" => Segment::Any,
                part if part.contains('*') => {
                    return Err(format!(
                        "path pattern {pattern:?}: \"*\" and \"**\" stand for whole segments, \
                         not parts of {part:?}"
                    ));
                }
                part => Segment::Literal(part.to_owned()),
            };
            tail.as_mut().unwrap_or(&mut head).push(segment);
        }
        Ok(PathPattern { head, tail })
    }

    pub(crate) fn matches(&self, path: &str) -> bool {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let Some(tail) = &self.tail else {
            let mut parts = rest.split('/');
            return self.head.iter().all(|s| parts.next().is_some_and(|p| s.matches(p)))
                && parts.next().is_none();
        };
        let count = rest.split('/').count();
        let Some(skipped) = count.checked_sub(self.head.len() + tail.len()) else {
            return false;
        };
        let mut parts = rest.split('/');
        self.head.iter().all(|s| parts.next().is_some_and(|p| s.matches(p)))
            && tail.iter().zip(parts.skip(skipped)).all(|(s, p)| s.matches(p))
    }
}

/// `v1`, `v1.41`: what the daemon strips before routing.
fn is_version(segment: &str) -> bool {
    segment.strip_prefix('v').is_some_and(|v| {
        !v.is_empty()
            && v.split('.').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    })
}

/// An RFC 6901 JSON pointer: empty (the whole body) or `/`-separated reference tokens with `~0`
/// for `~` and `~1` for `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Pointer(String);

impl Pointer {
    pub(crate) fn parse(pointer: &str) -> Result<Pointer, String> {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!("JSON pointer {pointer:?} does not start with \"/\""));
        }
        let mut chars = pointer.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "JSON pointer {pointer:?}: \"~\" must be followed by 0 or 1 (\"~0\" is ~, \
                     \"~1\" is /)"
                ));
            }
        }
        Ok(Pointer(pointer.to_owned()))
    }

    fn resolve<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        value.pointer(&self.0)
    }
}

/// Converts a TOML value from a `body` table to the JSON it is compared with.
pub(crate) fn toml_to_json(value: toml::Value) -> Result<Value, String> {
    Ok(match value {
        toml::Value::String(s) => Value::String(s),
        toml::Value::Integer(i) => Value::from(i),
        toml::Value::Float(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| format!("{f} has no JSON representation"))?,
        toml::Value::Boolean(b) => Value::Bool(b),
        toml::Value::Datetime(d) => {
            return Err(format!(
                "JSON has no date-time values; write \"{d}\" as a string if the body has one"
            ));
        }
        toml::Value::Array(items) => {
            Value::Array(items.into_iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => Value::Object(
            table
                .into_iter()
                .map(|(k, v)| Ok((k, toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// JSON equality where numbers compare by value: TOML `1` equals JSON `1.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_u64(), y.as_u64()) {
                (Some(x), Some(y)) => x == y,
                _ => (x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64(),
            },
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

/// Whether a body field is set: present and not `null`, `false`, `0`, `""`, `[]` or `{}`, the
/// values a Docker client sends for an option it was not given.
fn is_set(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
    }
}
