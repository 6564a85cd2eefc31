//! The scripted requests, read from `xtask/diff/scenarios.json` (compiled in,
//! so a broken file fails the unit tests, not a run).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

const SCENARIOS_JSON: &str = include_str!("../../diff/scenarios.json");

/// The file `SCENARIOS_JSON` comes from, for messages.
pub(crate) const SCENARIOS_PATH: &str = "xtask/diff/scenarios.json";

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenarios {
    /// Named lists of JSON paths whose values differ from one daemon (or one
    /// run) to the next; there only the shape is compared.
    pub(crate) volatile: BTreeMap<String, VolatileSet>,
    /// Report sections, in order, with what each covers.
    pub(crate) groups: Vec<Group>,
    /// Sent in this order, each to dockerd and then to berthd.
    pub(crate) scenarios: Vec<Scenario>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct VolatileSet {
    pub(crate) why: String,
    /// Paths as the comparison spells them (`$.Key[].Sub`); `*` is a wildcard.
    pub(crate) paths: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Group {
    pub(crate) name: String,
    pub(crate) about: String,
}

/// One request.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    /// Unique; known differences refer to it.
    pub(crate) name: String,
    pub(crate) group: String,
    pub(crate) method: String,
    /// Sent verbatim: `/v1.41/...` unless the scenario is about versions or
    /// path cleaning.
    pub(crate) path: String,
    #[serde(default)]
    pub(crate) headers: BTreeMap<String, String>,
    /// A raw body (sent as is, with only the headers given).
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// A JSON body (sent with `Content-Type: application/json` unless
    /// `headers` says otherwise).
    #[serde(default)]
    pub(crate) json: Option<Value>,
    /// Names of [`Scenarios::volatile`] sets that apply.
    #[serde(default)]
    pub(crate) volatile: Vec<String>,
}

impl Scenario {
    /// The headers to send, in a stable order.
    pub(crate) fn request_headers(&self) -> Vec<(String, String)> {
        let mut headers: Vec<(String, String)> =
            self.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let has_content_type = self.headers.keys().any(|k| k.eq_ignore_ascii_case("content-type"));
        if self.json.is_some() && !has_content_type {
            headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        }
        headers
    }

    pub(crate) fn request_body(&self) -> Bytes {
        match (&self.body, &self.json) {
            (Some(raw), _) => Bytes::from(raw.clone()),
            (None, Some(json)) => Bytes::from(json.to_string()),
            (None, None) => Bytes::new(),
        }
    }

    /// `METHOD path`, as the report shows the request.
    pub(crate) fn request_line(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

impl Scenarios {
    /// Parses and checks the compiled-in file.
    pub(crate) fn load() -> Result<Scenarios> {
        Self::parse(SCENARIOS_JSON).with_context(|| format!("in {SCENARIOS_PATH}"))
    }

    pub(crate) fn parse(text: &str) -> Result<Scenarios> {
        let scenarios: Scenarios =
            serde_json::from_str(text).context("not a valid scenario file")?;
        scenarios.check()?;
        Ok(scenarios)
    }

    fn check(&self) -> Result<()> {
        let groups: BTreeSet<&str> = self.groups.iter().map(|g| g.name.as_str()).collect();
        ensure!(groups.len() == self.groups.len(), "a group is listed twice");
        let mut names = BTreeSet::new();
        for scenario in &self.scenarios {
            let name = &scenario.name;
            ensure!(names.insert(name.as_str()), "scenario {name:?} is defined twice");
            ensure!(
                groups.contains(scenario.group.as_str()),
                "scenario {name:?}: group {:?} is not in `groups`",
                scenario.group
            );
            ensure!(
                http::Method::from_bytes(scenario.method.as_bytes()).is_ok(),
                "scenario {name:?}: invalid method {:?}",
                scenario.method
            );
            ensure!(
                scenario.path.starts_with('/') && scenario.path.parse::<http::Uri>().is_ok(),
                "scenario {name:?}: {:?} is not a request path",
                scenario.path
            );
            if scenario.body.is_some() && scenario.json.is_some() {
                bail!("scenario {name:?} has both `body` and `json`");
            }
            for set in &scenario.volatile {
                ensure!(
                    self.volatile.contains_key(set),
                    "scenario {name:?}: no volatile set {set:?}"
                );
            }
        }
        Ok(())
    }

    /// The volatile paths that apply to `scenario`.
    pub(crate) fn volatile_paths(&self, scenario: &Scenario) -> Vec<&str> {
        scenario
            .volatile
            .iter()
            .filter_map(|set| self.volatile.get(set))
            .flat_map(|set| set.paths.iter().map(String::as_str))
            .collect()
    }

    #[cfg(test)]
    pub(crate) fn get(&self, name: &str) -> Option<&Scenario> {
        self.scenarios.iter().find(|s| s.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checked_in_scenarios_load() -> Result<()> {
        let scenarios = Scenarios::load()?;
        assert!(scenarios.scenarios.len() > 50);
        Ok(())
    }

    #[test]
    fn requests_use_v1_41_unless_about_versions_or_paths() -> Result<()> {
        let scenarios = Scenarios::load()?;
        for scenario in &scenarios.scenarios {
            if !matches!(scenario.group.as_str(), "version" | "routing") {
                assert!(
                    scenario.path.starts_with("/v1.41/"),
                    "{}: {}",
                    scenario.name,
                    scenario.path
                );
            }
        }
        Ok(())
    }

    #[test]
    fn duplicate_names_and_unknown_sets_are_refused() {
        let twice = r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "a", "group": "g", "method": "GET", "path": "/_ping"},
            {"name": "a", "group": "g", "method": "GET", "path": "/info"}]}"#;
        let err = Scenarios::parse(twice).expect_err("duplicate name");
        assert!(format!("{err:#}").contains("defined twice"), "{err:#}");

        let unknown = r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "a", "group": "g", "method": "GET", "path": "/_ping", "volatile": ["nope"]}]}"#;
        let err = Scenarios::parse(unknown).expect_err("unknown set");
        assert!(format!("{err:#}").contains("no volatile set"), "{err:#}");
    }

    #[test]
    fn a_json_body_gets_a_json_content_type() -> Result<()> {
        let scenarios = Scenarios::parse(
            r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "a", "group": "g", "method": "POST", "path": "/volumes/create", "json": {"Name": "v"}},
            {"name": "b", "group": "g", "method": "POST", "path": "/volumes/create", "json": {},
             "headers": {"content-type": "text/plain"}}]}"#,
        )?;
        let a = scenarios.get("a").context("a")?;
        assert_eq!(
            a.request_headers(),
            vec![("Content-Type".to_owned(), "application/json".to_owned())]
        );
        assert_eq!(a.request_body(), Bytes::from(r#"{"Name":"v"}"#));
        let b = scenarios.get("b").context("b")?;
        assert_eq!(b.request_headers(), vec![("content-type".to_owned(), "text/plain".to_owned())]);
        Ok(())
    }
}
