//! The policy file as written: TOML read with serde, validated value by value (so toml can say
//! where a bad value is), then compiled into [`Rule`]s.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use http::Method;
use serde::Deserialize;
use toml::Spanned;

use super::Action;
use super::group::GroupSet;
use super::rule::{PathPattern, Pointer, Rule, toml_to_json};

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default = "deny")]
    default: Action,
    #[serde(default)]
    rule: Vec<RawRule>,
}

fn deny() -> Action {
    Action::Deny
}

/// One `[[rule]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    action: Action,
    message: Option<String>,
    methods: Option<List<MethodName>>,
    paths: Option<List<Parsed<PathPattern>>>,
    groups: Option<List<Parsed<GroupSet>>>,
    uid: Option<List<u32>>,
    gid: Option<List<u32>>,
    cn: Option<List<String>>,
    ou: Option<List<String>>,
    body: Option<Spanned<BTreeMap<Parsed<Pointer>, JsonValue>>>,
    body_set: Option<List<Parsed<Pointer>>>,
}

/// A matcher list; an empty one would match nothing, which is never what was meant.
#[derive(Debug, Deserialize)]
#[serde(try_from = "Vec<T>")]
struct List<T>(Vec<T>);

impl<T> TryFrom<Vec<T>> for List<T> {
    type Error = &'static str;

    fn try_from(items: Vec<T>) -> Result<Self, Self::Error> {
        if items.is_empty() {
            Err("an empty list matches nothing; leave the matcher out to match everything")
        } else {
            Ok(List(items))
        }
    }
}

/// A value validated from its string form as it is read.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Parsed<T>(T);

impl<'de, T: FromSpec> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let spec = String::deserialize(d)?;
        T::from_spec(&spec).map(Parsed).map_err(serde::de::Error::custom)
    }
}

trait FromSpec: Sized {
    fn from_spec(spec: &str) -> Result<Self, String>;
}

impl FromSpec for PathPattern {
    fn from_spec(spec: &str) -> Result<Self, String> {
        PathPattern::parse(spec)
    }
}

impl FromSpec for GroupSet {
    fn from_spec(spec: &str) -> Result<Self, String> {
        GroupSet::parse(spec)
    }
}

impl FromSpec for Pointer {
    fn from_spec(spec: &str) -> Result<Self, String> {
        Pointer::parse(spec)
    }
}

/// An HTTP method, any case in the file.
#[derive(Debug)]
struct MethodName(Method);

impl<'de> Deserialize<'de> for MethodName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        const KNOWN: [&str; 9] =
            ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE"];
        let name = String::deserialize(d)?.to_ascii_uppercase();
        if !KNOWN.contains(&name.as_str()) {
            return Err(serde::de::Error::custom(format!(
                "unknown HTTP method {name:?}: expected one of {}",
                KNOWN.join(", ")
            )));
        }
        Method::from_bytes(name.as_bytes()).map(MethodName).map_err(serde::de::Error::custom)
    }
}

/// A `body` value, converted to JSON as it is read.
#[derive(Debug)]
struct JsonValue(serde_json::Value);

impl<'de> Deserialize<'de> for JsonValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        toml_to_json(toml::Value::deserialize(d)?).map(JsonValue).map_err(serde::de::Error::custom)
    }
}

/// What went wrong, and where (a byte range of the text) when known.
#[derive(Debug)]
pub(crate) struct Problem {
    pub(crate) span: Option<Range<usize>>,
    pub(crate) message: String,
}

/// Parses and validates a policy file's text.
pub(crate) fn parse(text: &str) -> Result<(Action, Vec<Rule>), Problem> {
    let file: File = toml::from_str(text)
        .map_err(|err| Problem { span: err.span(), message: err.message().to_owned() })?;
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut rules = Vec::with_capacity(file.rule.len());
    for (index, raw) in file.rule.into_iter().enumerate() {
        let span = raw.name.span();
        let name = raw.name.into_inner();
        if name.trim().is_empty() {
            return Err(Problem {
                span: Some(span),
                message: format!("rule {} has an empty name", index + 1),
            });
        }
        if let Some(first) = seen.insert(name.clone(), index) {
            return Err(Problem {
                span: Some(span),
                message: format!(
                    "rule {} has the name {name:?} of rule {}; names must be unique",
                    index + 1,
                    first + 1
                ),
            });
        }
        let body = match raw.body {
            Some(body) if body.get_ref().is_empty() => {
                return Err(Problem {
                    span: Some(body.span()),
                    message: format!(
                        "rule {name:?}: an empty body table; leave `body` out to match every body"
                    ),
                });
            }
            Some(body) => Some(
                body.into_inner()
                    .into_iter()
                    .map(|(pointer, value)| (pointer.0, value.0))
                    .collect(),
            ),
            None => None,
        };
        rules.push(Rule {
            name,
            action: raw.action,
            message: raw.message.filter(|m| !m.is_empty()),
            methods: raw.methods.map(|l| l.0.into_iter().map(|m| m.0).collect()),
            paths: raw.paths.map(|l| l.0.into_iter().map(|p| p.0).collect()),
            groups: raw.groups.map(|l| {
                let mut set = GroupSet::default();
                for group in l.0 {
                    set.extend(group.0);
                }
                set
            }),
            uid: raw.uid.map(|l| l.0),
            gid: raw.gid.map(|l| l.0),
            cn: raw.cn.map(|l| l.0),
            ou: raw.ou.map(|l| l.0),
            body,
            body_set: raw.body_set.map(|l| l.0.into_iter().map(|p| p.0).collect()),
        });
    }
    Ok((file.default, rules))
}

/// The 1-based line and column (in characters) of a byte offset.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}
