//! Differences we know about, read from `xtask/diff/known-differences.json`:
//! each says which scenarios and which locations it covers, why, and which
//! issue will close it (none when the difference is intended for good).

use std::cell::Cell;

use anyhow::{Context, Result, ensure};
use serde::Deserialize;

use super::compare::{Difference, glob};

const KNOWN_JSON: &str = include_str!("../../diff/known-differences.json");

/// The file `KNOWN_JSON` comes from, for messages.
pub(crate) const KNOWN_PATH: &str = "xtask/diff/known-differences.json";

/// The start of the message berthd's fallback sends for a dockerd route it
/// does not implement yet: `GET /images/json is not implemented by Berth yet
/// (the image API group); see docs/api-coverage.md`.
const NOT_IMPLEMENTED_MARK: &str = " is not implemented by Berth yet (the ";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Known {
    /// API groups Berth does not implement yet. An area covers every
    /// difference of a scenario only when berthd answered it with its
    /// not-implemented 501 for that group.
    pub(crate) areas: Vec<Area>,
    pub(crate) differences: Vec<Entry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Area {
    /// As berthd's 501 names it: `image`, `container`, ...
    pub(crate) group: String,
    pub(crate) reason: String,
    pub(crate) closes: String,
    #[serde(skip)]
    used: Cell<usize>,
}

/// One known difference.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    /// Scenario names (`*` is a wildcard); `headers` is the run-wide check
    /// of the `Api-Version` and `Server` values.
    pub(crate) scenarios: Vec<String>,
    /// Locations as the report prints them (`status`, `header Ostype`,
    /// `body $.message`); `*` is a wildcard.
    pub(crate) what: Vec<String>,
    /// When given, dockerd's side must read exactly this (the start of it
    /// for a `status`, whose rendering carries the body's gist).
    #[serde(default)]
    pub(crate) dockerd: Option<String>,
    /// The same for berthd's side.
    #[serde(default)]
    pub(crate) berthd: Option<String>,
    pub(crate) reason: String,
    /// The issue that will remove the difference; absent when it is intended.
    #[serde(default)]
    pub(crate) closes: Option<String>,
    #[serde(skip)]
    used: Cell<usize>,
}

/// Why a difference is expected.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Reason {
    pub(crate) reason: String,
    pub(crate) closes: Option<String>,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.closes {
            Some(issue) => write!(f, "{} (until {issue})", self.reason),
            None => write!(f, "{} (intended)", self.reason),
        }
    }
}

impl Known {
    pub(crate) fn load() -> Result<Known> {
        Self::parse(KNOWN_JSON).with_context(|| format!("in {KNOWN_PATH}"))
    }

    pub(crate) fn parse(text: &str) -> Result<Known> {
        let known: Known =
            serde_json::from_str(text).context("not a valid known-differences file")?;
        for entry in &known.differences {
            ensure!(
                !entry.scenarios.is_empty() && !entry.what.is_empty(),
                "an entry needs `scenarios` and `what`: {:?}",
                entry.reason
            );
            ensure!(
                !entry.what.iter().any(|w| w == "*"),
                "`what: [\"*\"]` would hide everything; name the locations: {:?}",
                entry.reason
            );
        }
        Ok(known)
    }

    /// The known reason for `difference` in `scenario`, if any. `not_implemented`
    /// is the API group berthd's 501 named for this scenario, if it sent one.
    pub(crate) fn explain(
        &self,
        scenario: &str,
        not_implemented: Option<&str>,
        difference: &Difference,
    ) -> Option<Reason> {
        if let Some(group) = not_implemented
            && let Some(area) = self.areas.iter().find(|a| a.group == group)
        {
            area.used.set(area.used.get() + 1);
            return Some(Reason { reason: area.reason.clone(), closes: Some(area.closes.clone()) });
        }
        let entry = self.differences.iter().find(|entry| entry.covers(scenario, difference))?;
        entry.used.set(entry.used.get() + 1);
        Some(Reason { reason: entry.reason.clone(), closes: entry.closes.clone() })
    }

    /// Entries and areas that explained nothing in this run: stale, or
    /// misspelt.
    pub(crate) fn unused(&self) -> Vec<String> {
        let areas = self
            .areas
            .iter()
            .filter(|a| a.used.get() == 0)
            .map(|a| format!("area {:?}: {}", a.group, a.reason));
        let entries = self
            .differences
            .iter()
            .filter(|e| e.used.get() == 0)
            .map(|e| format!("{:?} {:?}: {}", e.scenarios, e.what, e.reason));
        areas.chain(entries).collect()
    }
}

impl Entry {
    fn covers(&self, scenario: &str, difference: &Difference) -> bool {
        let side = |pin: &Option<String>, actual: &str, location: &str| match pin {
            None => true,
            Some(pin) if location == "status" => actual.starts_with(pin.as_str()),
            Some(pin) => actual == pin,
        };
        self.scenarios.iter().any(|s| glob(s, scenario))
            && self.what.iter().any(|w| glob(w, &difference.location))
            && side(&self.dockerd, &difference.dockerd, &difference.location)
            && side(&self.berthd, &difference.berthd, &difference.location)
    }
}

/// The API group berthd's answer says it does not implement yet, if the
/// answer is its not-implemented 501.
pub(crate) fn not_implemented_group(status: u16, body: &[u8]) -> Option<String> {
    if status != 501 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let message = value.get("message")?.as_str()?;
    let (_, rest) = message.split_once(NOT_IMPLEMENTED_MARK)?;
    let (group, _) = rest.split_once(" API group)")?;
    Some(group.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(location: &str, dockerd: &str, berthd: &str) -> Difference {
        Difference {
            location: location.to_owned(),
            dockerd: dockerd.to_owned(),
            berthd: berthd.to_owned(),
        }
    }

    const SAMPLE: &str = r#"{
        "areas": [{"group": "image", "reason": "images not implemented", "closes": "issue 4"}],
        "differences": [
            {"scenarios": ["version-v1.12"], "what": ["status"], "dockerd": "200", "berthd": "400",
             "reason": "min API 1.24", "closes": null},
            {"scenarios": ["*"], "what": ["header Server"], "reason": "Server names Berth"},
            {"scenarios": ["info*"], "what": ["body $.Plugins.*"], "reason": "plugins", "closes": "issue 9"}
        ]
    }"#;

    #[test]
    fn entries_match_scenario_location_and_pins() -> Result<()> {
        let known = Known::parse(SAMPLE)?;
        let status = diff("status", "200 (JSON object)", "400 {\"message\": \"too old\"}");
        let reason = known.explain("version-v1.12", None, &status).context("known")?;
        assert_eq!(reason.reason, "min API 1.24");
        assert_eq!(reason.to_string(), "min API 1.24 (intended)");

        // Same location, other scenario: not covered.
        assert!(known.explain("version-v1.23", None, &status).is_none());
        // Pinned values that no longer hold: unexpected again.
        let changed = diff("status", "200 (JSON object)", "500 {\"message\": \"boom\"}");
        assert!(known.explain("version-v1.12", None, &changed).is_none());

        let server = diff("header Server", "\"Docker/20.10\"", "\"Berth/0.1\"");
        assert!(known.explain("anything", None, &server).is_some());

        let plugin = diff("body $.Plugins.Log[]", "\"awslogs\"", "\"json-file\"");
        let reason = known.explain("info-v1.23", None, &plugin).context("glob")?;
        assert_eq!(reason.to_string(), "plugins (until issue 9)");
        assert!(known.explain("version", None, &plugin).is_none());
        Ok(())
    }

    #[test]
    fn an_area_covers_only_berthds_not_implemented_answers() -> Result<()> {
        let known = Known::parse(SAMPLE)?;
        let body = diff("body $.message", "\"a\"", "\"b\"");
        let reason = known.explain("image-list", Some("image"), &body).context("area")?;
        assert_eq!(reason.to_string(), "images not implemented (until issue 4)");
        // Once berthd answers the route itself, the area no longer applies.
        assert!(known.explain("image-list", None, &body).is_none());
        // An area for another group does not apply either.
        assert!(known.explain("volume-list", Some("volume"), &body).is_none());
        Ok(())
    }

    #[test]
    fn unused_entries_are_listed() -> Result<()> {
        let known = Known::parse(SAMPLE)?;
        let server = diff("header Server", "a", "b");
        known.explain("x", None, &server);
        let unused = known.unused();
        assert_eq!(unused.len(), 3, "{unused:?}");
        assert!(unused.iter().all(|u| !u.contains("Server names Berth")), "{unused:?}");
        Ok(())
    }

    #[test]
    fn a_catch_all_location_is_refused() {
        let text = r#"{"areas": [], "differences": [
            {"scenarios": ["x"], "what": ["*"], "reason": "everything"}]}"#;
        assert!(Known::parse(text).is_err());
    }

    #[test]
    fn berthds_not_implemented_answer_names_its_group() {
        let body = br#"{"message":"GET /images/json is not implemented by Berth yet (the image API group); see docs/api-coverage.md"}"#;
        assert_eq!(not_implemented_group(501, body).as_deref(), Some("image"));
        assert_eq!(not_implemented_group(404, body), None);
        assert_eq!(
            not_implemented_group(501, br#"{"message":"This node is not a swarm manager"}"#),
            None
        );
        assert_eq!(not_implemented_group(501, b"not json"), None);
    }

    #[test]
    fn the_checked_in_file_loads() -> Result<()> {
        Known::load()?;
        Ok(())
    }
}
