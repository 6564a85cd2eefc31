//! Values that differ from one daemon (or one run) to the next and that the
//! scenarios name with `{{name}}`: each daemon's roots, the seeded images'
//! IDs, and IDs captured from earlier answers.
//!
//! They work both ways. Going out, a placeholder in a path, header or body
//! becomes the daemon's own value. Coming back, every occurrence of one of
//! the daemon's values in its answer becomes the placeholder again, so that
//! "this is the container's own ID" or "this file is under the data root"
//! compares equal on both sides, by value, without a volatile path.

use std::collections::BTreeMap;

use anyhow::{Result, bail};
use serde_json::Value;

/// Values shorter than this are never put back as placeholders: a short
/// string (a PID, a port) could turn up inside unrelated text.
const MIN_NORMALIZED_LEN: usize = 8;
/// Docker prints IDs shortened to this many characters (the default
/// hostname, network namespace names, `docker ps`).
const SHORT_ID_LEN: usize = 12;

/// Variables every run defines before the first scenario, for both daemons.
pub(crate) const BUILTIN: &[&str] = &[
    // The run's temporary directory, the same for both daemons.
    "run_dir",
    // A directory under it that containers bind-mount: the same for both.
    "bind_dir",
    // Each daemon's own directory, data root and exec root.
    "daemon_dir",
    "data_root",
    "exec_root",
    // The seeded images' IDs (hex, without `sha256:`), per daemon.
    "image_busybox",
    "image_alpine",
    "image_alpine_3_10",
];

/// One daemon's variables.
#[derive(Debug, Clone, Default)]
pub(crate) struct Vars {
    values: BTreeMap<String, String>,
}

impl Vars {
    pub(crate) fn set(&mut self, name: &str, value: impl Into<String>) {
        self.values.insert(name.to_owned(), value.into());
    }

    pub(crate) fn unset(&mut self, name: &str) {
        self.values.remove(name);
    }

    /// `text` with every `{{name}}` replaced by the variable's value; an
    /// unknown or unset variable is an error (the request is not sent).
    pub(crate) fn expand(&self, text: &str) -> Result<String> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find("}}") else {
                bail!("unclosed {{{{ in {text:?}");
            };
            let name = &after[..end];
            out.push_str(&self.value(name)?);
            rest = &after[end + 2..];
        }
        out.push_str(rest);
        Ok(out)
    }

    /// A variable's value; `name:short` is the first [`SHORT_ID_LEN`]
    /// characters of `name`'s.
    fn value(&self, name: &str) -> Result<String> {
        let (base, short) = match name.strip_suffix(":short") {
            Some(base) => (base, true),
            None => (name, false),
        };
        let Some(value) = self.values.get(base) else {
            bail!("variable {base:?} is not set (its capture failed?)");
        };
        Ok(if short { value.chars().take(SHORT_ID_LEN).collect() } else { value.clone() })
    }

    /// `value` with [`Vars::expand`] applied to every string in it, keys
    /// included.
    pub(crate) fn expand_json(&self, value: &Value) -> Result<Value> {
        Ok(match value {
            Value::String(text) => Value::String(self.expand(text)?),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.expand_json(v)).collect::<Result<_>>()?)
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (key, item) in map {
                    out.insert(self.expand(key)?, self.expand_json(item)?);
                }
                Value::Object(out)
            }
            other => other.clone(),
        })
    }

    /// `body` with every occurrence of a variable's value replaced by its
    /// placeholder, longest values first (a data root before the run
    /// directory that contains it). A value that looks like a full ID also
    /// stands for its short form, `{{name:short}}`. A short value (a PID) is
    /// put back only where it is a whole JSON string (`"4242"`).
    pub(crate) fn normalize(&self, body: &[u8]) -> Vec<u8> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in &self.values {
            if value.len() < MIN_NORMALIZED_LEN {
                if !value.is_empty() && !value.contains(['"', '\\']) {
                    pairs.push((format!("\"{value}\""), format!("\"{{{{{name}}}}}\"")));
                }
                continue;
            }
            pairs.push((value.clone(), format!("{{{{{name}}}}}")));
            if is_full_id(value) {
                pairs.push((value[..SHORT_ID_LEN].to_owned(), format!("{{{{{name}:short}}}}")));
            }
        }
        // Longest first; among equals, by placeholder, so the order is stable.
        pairs.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then_with(|| a.1.cmp(&b.1)));
        let mut out = body.to_vec();
        for (value, placeholder) in &pairs {
            out = replace_all(&out, value.as_bytes(), placeholder.as_bytes());
        }
        out
    }
}

/// Names of the `{{name}}` placeholders in `text`, in order.
pub(crate) fn placeholders(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            break;
        };
        names.push(&after[..end]);
        rest = &after[end + 2..];
    }
    names
}

/// Placeholders in every string (and key) of a JSON value.
pub(crate) fn json_placeholders(value: &Value) -> Vec<&str> {
    match value {
        Value::String(text) => placeholders(text),
        Value::Array(items) => items.iter().flat_map(json_placeholders).collect(),
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, item)| placeholders(key).into_iter().chain(json_placeholders(item)))
            .collect(),
        _ => Vec::new(),
    }
}

/// 64 lowercase hex digits: a container, exec, network or image ID.
fn is_full_id(value: &str) -> bool {
    value.len() == 64 && value.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn replace_all(haystack: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return haystack.to_vec();
    }
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// The value at `pointer` (RFC 6901) in the JSON document `body`, as text:
/// strings as they are, numbers and booleans as JSON writes them.
pub(crate) fn capture(body: &[u8], pointer: &str) -> Option<String> {
    let document: Value = serde_json::from_slice(body).ok()?;
    match document.pointer(pointer)? {
        Value::String(text) if !text.is_empty() => Some(text.clone()),
        value @ (Value::Number(_) | Value::Bool(_)) => Some(value.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const ID: &str = "3026593345ca469f96581050f032d97fb7fe053784414cf5b277883b66aaec74";

    fn vars() -> Vars {
        let mut vars = Vars::default();
        vars.set("run_dir", "/tmp/berth-diff-x");
        vars.set("data_root", "/tmp/berth-diff-x/berthd/data");
        vars.set("ctr", ID);
        vars
    }

    #[test]
    fn placeholders_expand_to_the_daemons_values() -> Result<()> {
        let vars = vars();
        assert_eq!(
            vars.expand("/v1.41/containers/{{ctr}}/json")?,
            format!("/v1.41/containers/{ID}/json")
        );
        assert_eq!(vars.expand("no placeholders")?, "no placeholders");
        let body = json!({"Binds": ["{{run_dir}}/bind:/data"], "{{ctr}}": 1, "n": 3});
        assert_eq!(
            vars.expand_json(&body)?,
            json!({"Binds": ["/tmp/berth-diff-x/bind:/data"], ID: 1, "n": 3})
        );
        let err = vars.expand("/containers/{{exec}}/json").expect_err("unset");
        assert!(err.to_string().contains("\"exec\" is not set"), "{err}");
        assert!(vars.expand("/x/{{ctr").is_err());
        Ok(())
    }

    #[test]
    fn answers_get_their_placeholders_back_longest_value_first() {
        let vars = vars();
        let body = format!(
            r#"{{"Id":"{ID}","Hostname":"{short}","LogPath":"/tmp/berth-diff-x/berthd/data/containers/{ID}/{ID}-json.log","Bind":"/tmp/berth-diff-x/bind"}}"#,
            short = &ID[..12]
        );
        let normalized = String::from_utf8(vars.normalize(body.as_bytes())).expect("utf-8");
        assert_eq!(
            normalized,
            r#"{"Id":"{{ctr}}","Hostname":"{{ctr:short}}","LogPath":"{{data_root}}/containers/{{ctr}}/{{ctr}}-json.log","Bind":"{{run_dir}}/bind"}"#
        );
    }

    #[test]
    fn short_values_are_put_back_only_as_whole_strings() {
        let mut vars = Vars::default();
        vars.set("pid", "4242");
        assert_eq!(
            String::from_utf8(vars.normalize(br#"[["4242", "14242", "4242 sleep"], 4242]"#))
                .expect("utf-8"),
            r#"[["{{pid}}", "14242", "4242 sleep"], 4242]"#
        );
    }

    #[test]
    fn a_short_placeholder_expands_to_the_ids_prefix() -> Result<()> {
        assert_eq!(
            vars().expand("/containers/{{ctr:short}}/json")?,
            "/containers/3026593345ca/json"
        );
        Ok(())
    }

    #[test]
    fn placeholders_are_listed() {
        assert_eq!(placeholders("/a/{{x}}/b/{{y}}"), ["x", "y"]);
        assert!(placeholders("/a/{b}").is_empty());
        let body = json!({"k{{a}}": ["{{b}}", {"c": "{{c}}"}], "n": 1});
        let mut found = json_placeholders(&body);
        found.sort_unstable();
        assert_eq!(found, ["a", "b", "c"]);
    }

    #[test]
    fn captures_read_a_json_pointer() {
        let body = br#"{"Id":"abc","State":{"Pid":42,"Running":true},"Warnings":[]}"#;
        assert_eq!(capture(body, "/Id").as_deref(), Some("abc"));
        assert_eq!(capture(body, "/State/Pid").as_deref(), Some("42"));
        assert_eq!(capture(body, "/State/Running").as_deref(), Some("true"));
        assert_eq!(capture(body, "/Warnings"), None);
        assert_eq!(capture(body, "/Nope"), None);
        assert_eq!(capture(b"not json", "/Id"), None);
    }
}
