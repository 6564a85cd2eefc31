//! Which networks a list, a prune or a name selects, with dockerd's rules and messages.

use super::{BRIDGE, HOST, NONE, Network};
use crate::{Error, Filters, Result};

/// Filter keys dockerd accepts on `GET /networks`.
pub const LIST_FILTERS: &[&str] = &["dangling", "driver", "id", "label", "name", "scope", "type"];

/// Filter keys dockerd accepts on `POST /networks/prune`.
pub const PRUNE_FILTERS: &[&str] = &["label", "label!", "until"];

/// Whether `name` is one of the networks the daemon defines itself (`bridge`, `host`, `none`, and
/// `default`, which names the default network). They cannot be created, removed or pruned.
pub fn is_predefined(name: &str) -> bool {
    matches!(name, BRIDGE | HOST | NONE | "default")
}

/// Checks the `filters` of `GET /networks` as dockerd does: only [`LIST_FILTERS`] keys (400
/// `invalid filter '<key>'`), `dangling` one of `true`, `1`, `false`, `0` given once, and `type`
/// values `custom` or `builtin`.
///
/// dockerd answers a bad `type` with a 500 (its error is unclassified); Berth keeps the message
/// and answers 400, as bad input should.
pub fn validate_list_filters(filters: &Filters) -> Result<()> {
    filters.validate(LIST_FILTERS)?;
    dangling(filters)?;
    if let Some(bad) = filters.get("type").find(|t| !matches!(*t, "custom" | "builtin")) {
        return Err(Error::invalid(format!("invalid filter: 'type'='{bad}'")));
    }
    Ok(())
}

/// `dangling`: `None` when unset.
fn dangling(filters: &Filters) -> Result<Option<bool>> {
    let mut values = filters.get("dangling");
    let Some(value) = values.next() else { return Ok(None) };
    if values.next().is_some() {
        return Err(Error::invalid(r#"got more than one value for filter key "dangling""#));
    }
    match value {
        "1" | "true" => Ok(Some(true)),
        "0" | "false" => Ok(Some(false)),
        _ => Err(Error::invalid(
            r#"invalid value for filter 'dangling', must be "true" (or "1"), or "false" (or "0")"#,
        )),
    }
}

/// Whether `network` passes the list `filters` (checked by [`validate_list_filters`] first).
///
/// dockerd's semantics: values of one key are OR'ed, keys AND'ed. `driver` and `scope` match
/// exactly; `name` and `id` match when equal or when the value, as a regular expression, matches
/// anywhere in the name or ID (so `web` matches `myweb1`, `^web$` only `web`; a value that is not
/// a valid expression only matches exactly); `label` wants every `key` / `key=value` present;
/// `type=builtin` selects the predefined networks, `custom` the others; `dangling=true` selects
/// user networks without containers, `false` the predefined networks and those with containers,
/// so `network.containers` must be filled. (dockerd 28 filters before it fills `Containers`, so
/// there every user network counts as dangling; dockerd 29 fixed that, and Berth does as 29.)
pub fn matches(network: &Network, filters: &Filters) -> bool {
    let has_label = |k: &str| network.labels.get(k).map(String::as_str);
    filters.exact_match("driver", &network.driver)
        && filters.pattern_match("name", &network.name)
        && filters.pattern_match("id", &network.id)
        && filters.match_labels("label", has_label)
        && filters.exact_match("scope", &network.scope)
        && match dangling(filters) {
            Ok(None) => true,
            Ok(Some(true)) => !is_predefined(&network.name) && network.containers.is_empty(),
            Ok(Some(false)) => is_predefined(&network.name) || !network.containers.is_empty(),
            Err(_) => false,
        }
        && (!filters.contains("type")
            || filters.get("type").any(|t| match t {
                "builtin" => is_predefined(&network.name),
                "custom" => !is_predefined(&network.name),
                _ => false,
            }))
}

/// Checks the `filters` of `POST /networks/prune`: only [`PRUNE_FILTERS`] keys (400 `invalid
/// filter '<key>'`) and at most one `until` (400 `more than one until filter specified`). The
/// `until` value itself (Unix seconds, an RFC 3339 time, or a Go duration before now) is the
/// backend's to parse.
pub fn validate_prune_filters(filters: &Filters) -> Result<()> {
    filters.validate(PRUNE_FILTERS)?;
    if filters.get("until").nth(1).is_some() {
        return Err(Error::invalid("more than one until filter specified"));
    }
    Ok(())
}

/// Whether prune removes `network`, `until` aside (the caller compares the creation time): not
/// predefined, not configuration-only, no containers attached, every `label` present and not
/// every `label!` present (dockerd's `MatchKVList` on each key).
pub fn prunable(network: &Network, filters: &Filters) -> bool {
    let has_label = |k: &str| network.labels.get(k).map(String::as_str);
    !is_predefined(&network.name)
        && !network.config_only
        && network.containers.is_empty()
        && filters.match_labels("label", has_label)
        && !(filters.contains("label!") && filters.match_labels("label!", has_label))
}

/// Which dockerd code path resolves a network reference; they word ambiguity differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `GET /networks/{id}`: `2 matches found based on name: network <term> is ambiguous`.
    Inspect,
    /// `DELETE /networks/{id}`: `network <term> is ambiguous (2 matches found based on name)`.
    Remove,
    /// Connect, disconnect and container create (`daemon.FindNetwork`): `network <term> is
    /// ambiguous (2 matches found on name)`.
    Use,
}

/// Resolves `term` among `networks` as dockerd does: a full ID wins at once, then a unique exact
/// name, then a unique ID prefix. Several networks with that name (or, without a name match,
/// that prefix) are a 400 worded per `lookup`; no match is a 404 `network <term> not found`.
///
/// `key` gives a candidate's ID and name, so this works on any record type.
pub fn find<'a, T>(
    networks: impl IntoIterator<Item = &'a T>,
    term: &str,
    key: impl Fn(&T) -> (&str, &str),
    lookup: Lookup,
) -> Result<&'a T> {
    let mut by_name = Vec::new();
    let mut by_prefix = Vec::new();
    for network in networks {
        let (id, name) = key(network);
        if id == term {
            return Ok(network);
        }
        if name == term {
            by_name.push(network);
        }
        if id.starts_with(term) {
            by_prefix.push(network);
        }
    }
    let ambiguous = |n: usize, on: &str| {
        let message = match lookup {
            Lookup::Inspect => format!("{n} matches found {on}: network {term} is ambiguous"),
            Lookup::Remove => format!("network {term} is ambiguous ({n} matches found {on})"),
            Lookup::Use if on == "based on name" => {
                format!("network {term} is ambiguous ({n} matches found on name)")
            }
            Lookup::Use => format!("network {term} is ambiguous ({n} matches found {on})"),
        };
        Error::invalid(message)
    };
    match (by_name.as_slice(), by_prefix.as_slice()) {
        ([one], _) => Ok(*one),
        ([], [one]) => Ok(*one),
        ([], []) => Err(Error::not_found(format!("network {term} not found"))),
        ([], many) => Err(ambiguous(many.len(), "based on ID prefix")),
        (many, _) => Err(ambiguous(many.len(), "based on name")),
    }
}
