//! The `filters` query parameter: URL-decoded JSON mapping a key to a set of values.
//!
//! Values for one key are OR'ed, different keys AND'ed. Both dockerd forms are accepted: the
//! canonical `{"key":{"value":true}}` and the legacy `{"key":["value"]}`.

use std::collections::{BTreeMap, BTreeSet};

use crate::Error;

/// Parsed `filters` argument.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    args: BTreeMap<String, BTreeSet<String>>,
}

impl Filters {
    /// Parses the JSON text of a `filters` query parameter. An empty string means no filters.
    pub fn parse(text: &str) -> Result<Self, Error> {
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        let invalid = || Error::invalid("invalid filter");
        if let Ok(map) = serde_json::from_str::<BTreeMap<String, BTreeMap<String, bool>>>(text) {
            let args = map.into_iter().map(|(k, vs)| (k, vs.into_keys().collect())).collect();
            return Ok(Self { args });
        }
        let legacy: BTreeMap<String, Vec<String>> =
            serde_json::from_str(text).map_err(|_| invalid())?;
        let args = legacy.into_iter().map(|(k, vs)| (k, vs.into_iter().collect())).collect();
        Ok(Self { args })
    }

    /// Adds a value for `key` (used to build filters in code and tests).
    pub fn add(&mut self, key: &str, value: &str) {
        self.args.entry(key.to_owned()).or_default().insert(value.to_owned());
    }

    /// Rejects any key not in `accepted`, with dockerd's `invalid filter '<key>'`.
    pub fn validate(&self, accepted: &[&str]) -> Result<(), Error> {
        match self.args.keys().find(|k| !accepted.contains(&k.as_str())) {
            Some(key) => Err(Error::invalid(format!("invalid filter '{key}'"))),
            None => Ok(()),
        }
    }

    /// True when no filter is set.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// True when `key` has at least one value.
    pub fn contains(&self, key: &str) -> bool {
        self.args.get(key).is_some_and(|vs| !vs.is_empty())
    }

    /// The values given for `key`.
    pub fn get(&self, key: &str) -> impl Iterator<Item = &str> {
        self.args.get(key).into_iter().flatten().map(String::as_str)
    }

    /// dockerd's `Args.Match`: true when `key` is unset, or one of its values equals `text`
    /// or matches it as an unanchored regular expression (invalid expressions match nothing
    /// but themselves).
    pub fn pattern_match(&self, key: &str, text: &str) -> bool {
        !self.contains(key)
            || self.get(key).any(|pattern| {
                pattern == text || regex::Regex::new(pattern).is_ok_and(|re| re.is_match(text))
            })
    }

    /// True when `key` is unset, or one of its values equals `value` exactly.
    pub fn exact_match(&self, key: &str, value: &str) -> bool {
        match self.args.get(key) {
            None => true,
            Some(vs) => vs.is_empty() || vs.contains(value),
        }
    }

    /// True when `key` is unset, or one of its values equals any of `values` exactly.
    pub fn any_match<'a>(&self, key: &str, values: impl IntoIterator<Item = &'a str>) -> bool {
        match self.args.get(key) {
            None => true,
            Some(vs) if vs.is_empty() => true,
            Some(vs) => values.into_iter().any(|v| vs.contains(v)),
        }
    }

    /// Label filter: true when `key` is unset or every given `name` / `name=value` matches `labels`.
    pub fn match_labels<'a>(&self, key: &str, labels: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.get(key).all(|want| match want.split_once('=') {
            Some((name, value)) => labels(name) == Some(value),
            None => labels(want).is_some(),
        })
    }

    /// A boolean filter (`1`/`true` or `0`/`false`); `None` when unset. Both, or anything else, is
    /// an error naming the filter, as dockerd does.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, Error> {
        let Some(values) = self.args.get(key) else {
            return Ok(None);
        };
        let mut seen = None;
        for v in values {
            let b = match v.to_ascii_lowercase().as_str() {
                "1" | "true" => true,
                "0" | "false" => false,
                _ => return Err(self.invalid_value(key)),
            };
            if seen.is_some_and(|prev| prev != b) {
                return Err(self.invalid_value(key));
            }
            seen = Some(b);
        }
        Ok(seen)
    }

    /// dockerd's `invalid filter '<key>=[v1 v2]'` for a bad value.
    pub fn invalid_value(&self, key: &str) -> Error {
        let values: Vec<&str> = self.get(key).collect();
        Error::invalid(format!("invalid filter '{key}=[{}]'", values.join(" ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms_and_empty() {
        let canonical = Filters::parse(r#"{"type":{"daemon":true},"event":{"reload":true}}"#)
            .expect("canonical form");
        let legacy = Filters::parse(r#"{"type":["daemon"],"event":["reload"]}"#).expect("legacy");
        assert_eq!(canonical, legacy);
        assert!(Filters::parse("").expect("empty").is_empty());
    }

    #[test]
    fn rejects_garbage_and_unknown_keys() {
        assert_eq!(Filters::parse("{not json").expect_err("garbage").message(), "invalid filter");
        assert_eq!(Filters::parse("[1,2]").expect_err("array").message(), "invalid filter");
        let f = Filters::parse(r#"{"colour":["red"]}"#).expect("parse");
        let err = f.validate(&["type"]).expect_err("unknown key");
        assert_eq!(err.message(), "invalid filter 'colour'");
        assert_eq!(err.kind(), crate::ErrorKind::InvalidParameter);
    }

    #[test]
    fn or_within_a_key_and_within_keys() {
        let f = Filters::parse(r#"{"type":["daemon","container"]}"#).expect("parse");
        assert!(f.exact_match("type", "daemon"));
        assert!(f.exact_match("type", "container"));
        assert!(!f.exact_match("type", "image"));
        assert!(f.exact_match("event", "anything"), "unset key matches everything");
    }

    #[test]
    fn labels_match_by_name_or_pair() {
        let f = Filters::parse(r#"{"label":["a","b=2"]}"#).expect("parse");
        let labels = |k: &str| match k {
            "a" => Some("1"),
            "b" => Some("2"),
            _ => None,
        };
        assert!(f.match_labels("label", labels));
        let g = Filters::parse(r#"{"label":["b=3"]}"#).expect("parse");
        assert!(!g.match_labels("label", labels));
    }

    #[test]
    fn booleans_are_strict() {
        let f = Filters::parse(r#"{"dangling":["true"]}"#).expect("parse");
        assert_eq!(f.get_bool("dangling").expect("bool"), Some(true));
        let both = Filters::parse(r#"{"dangling":["true","0"]}"#).expect("parse");
        assert_eq!(
            both.get_bool("dangling").expect_err("both").message(),
            "invalid filter 'dangling=[0 true]'"
        );
        let bad = Filters::parse(r#"{"dangling":["maybe"]}"#).expect("parse");
        assert!(bad.get_bool("dangling").is_err());
    }
}
