//! The scripted requests, read from `xtask/diff/scenarios.json` (compiled in,
//! so a broken file fails the unit tests, not a run).

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

use super::vars::{self, Vars};

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
    /// Only the order of the arrays at `paths` varies: their items are
    /// sorted, then compared by value.
    #[serde(default)]
    pub(crate) order_only: bool,
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
    /// Variables to set from this answer, each daemon from its own: name →
    /// JSON pointer (`/Id`). Later scenarios use them as `{{name}}`.
    #[serde(default)]
    pub(crate) capture: BTreeMap<String, String>,
    /// Resend the request to each daemon until its answer says so (or a
    /// deadline passes), then compare the last answers: for state that
    /// settles on its own (a process's output reaching the log).
    #[serde(default)]
    pub(crate) until: Option<Until>,
    /// Why the answer's body is not compared (a tar stream whose entries and
    /// times are each daemon's own); the status and headers still are.
    #[serde(default)]
    pub(crate) ignore_body: Option<String>,
    /// The answer is a multiplexed stdout/stderr stream (logs, exec start
    /// without a TTY): compared by what each stream carried, since where
    /// the frames split depends on timing.
    #[serde(default)]
    pub(crate) multiplexed: bool,
}

/// When an answer is the one to compare: its JSON body has `equals` at
/// `pointer`, or its body contains `contains`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Until {
    #[serde(default)]
    pub(crate) pointer: Option<String>,
    #[serde(default)]
    pub(crate) equals: Option<Value>,
    #[serde(default)]
    pub(crate) contains: Option<String>,
}

impl Until {
    fn check(&self) -> Result<()> {
        match (&self.pointer, &self.equals, &self.contains) {
            (Some(pointer), Some(_), None) => {
                ensure!(
                    pointer.starts_with('/'),
                    "`until.pointer` {pointer:?} is not a JSON pointer"
                );
            }
            (None, None, Some(text)) => ensure!(!text.is_empty(), "`until.contains` is empty"),
            _ => bail!("`until` takes either `pointer` and `equals`, or `contains`"),
        }
        Ok(())
    }

    pub(crate) fn holds(&self, body: &[u8]) -> bool {
        if let (Some(pointer), Some(equals)) = (&self.pointer, &self.equals) {
            return serde_json::from_slice::<Value>(body)
                .ok()
                .is_some_and(|document| document.pointer(pointer) == Some(equals));
        }
        let needle = self.contains.as_deref().unwrap_or_default().as_bytes();
        !needle.is_empty() && body.windows(needle.len()).any(|w| w == needle)
    }
}

/// A scenario's request for one daemon, ready to send.
#[derive(Debug, Clone)]
pub(crate) struct Expanded {
    pub(crate) path: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Bytes,
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

    /// Every `{{name}}` the request uses: path, headers, body.
    pub(crate) fn placeholders(&self) -> Vec<&str> {
        let mut used = vars::placeholders(&self.path);
        used.extend(self.headers.values().flat_map(|v| vars::placeholders(v)));
        if let Some(body) = &self.body {
            used.extend(vars::placeholders(body));
        }
        if let Some(json) = &self.json {
            used.extend(vars::json_placeholders(json));
        }
        used
    }

    /// The request for one daemon: placeholders replaced by its variables.
    pub(crate) fn expand(&self, vars: &Vars) -> Result<Expanded> {
        let headers = self
            .request_headers()
            .into_iter()
            .map(|(name, value)| Ok((name, vars.expand(&value)?)))
            .collect::<Result<_>>()?;
        let body = match (&self.body, &self.json) {
            (Some(raw), _) => Bytes::from(vars.expand(raw)?),
            (None, Some(json)) => Bytes::from(vars.expand_json(json)?.to_string()),
            (None, None) => Bytes::new(),
        };
        Ok(Expanded { path: vars.expand(&self.path)?, headers, body })
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
        // Variables a scenario may use: the built-in ones and those captured
        // by a scenario sent before it.
        let mut defined: BTreeSet<&str> = vars::BUILTIN.iter().copied().collect();
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
            let used = scenario.placeholders();
            let base = |v: &&str| v.strip_suffix(":short").unwrap_or(v).to_owned();
            if let Some(unknown) = used.iter().find(|v| !defined.contains(base(v).as_str())) {
                bail!(
                    "scenario {name:?} uses {{{{{unknown}}}}}, which is neither built in nor \
                     captured by an earlier scenario"
                );
            }
            // Placeholders stand for IDs and paths, which are valid in a path.
            let path = used
                .iter()
                .fold(scenario.path.clone(), |path, v| path.replace(&format!("{{{{{v}}}}}"), "x"));
            ensure!(
                path.starts_with('/') && path.parse::<http::Uri>().is_ok(),
                "scenario {name:?}: {:?} is not a request path",
                scenario.path
            );
            for (variable, pointer) in &scenario.capture {
                ensure!(
                    pointer.is_empty() || pointer.starts_with('/'),
                    "scenario {name:?}: capture {variable:?} needs a JSON pointer (`/Id`), not {pointer:?}"
                );
                ensure!(
                    !vars::BUILTIN.contains(&variable.as_str()),
                    "scenario {name:?}: capture {variable:?} would replace a built-in variable"
                );
            }
            if let Some(until) = &scenario.until {
                until.check().with_context(|| format!("scenario {name:?}"))?;
            }
            defined.extend(scenario.capture.keys().map(String::as_str));
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

    /// The volatile paths that apply to `scenario`: those compared by shape
    /// only, and (`order_only` sets) those of arrays compared in any order.
    pub(crate) fn volatile_paths(&self, scenario: &Scenario) -> (Vec<&str>, Vec<&str>) {
        let sets = || scenario.volatile.iter().filter_map(|set| self.volatile.get(set));
        let paths = |order_only: bool| {
            sets()
                .filter(|set| set.order_only == order_only)
                .flat_map(|set| set.paths.iter().map(String::as_str))
                .collect()
        };
        (paths(false), paths(true))
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
    fn a_variable_is_used_only_after_a_scenario_captures_it() -> Result<()> {
        let early = r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "a", "group": "g", "method": "GET", "path": "/containers/{{ctr}}/json"},
            {"name": "b", "group": "g", "method": "POST", "path": "/containers/create", "json": {},
             "capture": {"ctr": "/Id"}}]}"#;
        let err = Scenarios::parse(early).expect_err("used before captured");
        assert!(format!("{err:#}").contains("{{ctr}}"), "{err:#}");

        let ordered = r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "b", "group": "g", "method": "POST", "path": "/containers/create",
             "json": {"HostConfig": {"Binds": ["{{bind_dir}}:/data"]}}, "capture": {"ctr": "/Id"}},
            {"name": "a", "group": "g", "method": "GET", "path": "/containers/{{ctr:short}}/json"}]}"#;
        let scenarios = Scenarios::parse(ordered)?;
        let mut vars = Vars::default();
        vars.set("bind_dir", "/tmp/x/bind");
        vars.set("ctr", "0123456789abcdef");
        let create = scenarios.get("b").context("b")?.expand(&vars)?;
        assert_eq!(create.body, Bytes::from(r#"{"HostConfig":{"Binds":["/tmp/x/bind:/data"]}}"#));
        assert_eq!(
            scenarios.get("a").context("a")?.expand(&vars)?.path,
            "/containers/0123456789ab/json"
        );

        let builtin = r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "a", "group": "g", "method": "GET", "path": "/info", "capture": {"data_root": "/DockerRootDir"}}]}"#;
        assert!(Scenarios::parse(builtin).is_err());
        let not_a_pointer = r#"{"volatile": {}, "groups": [{"name": "g", "about": ""}], "scenarios": [
            {"name": "a", "group": "g", "method": "GET", "path": "/info", "capture": {"x": "ID"}}]}"#;
        assert!(Scenarios::parse(not_a_pointer).is_err());
        Ok(())
    }

    #[test]
    fn until_takes_a_pointer_and_a_value_or_a_text() -> Result<()> {
        let parse = |until: &str| {
            Scenarios::parse(&format!(
                r#"{{"volatile": {{}}, "groups": [{{"name": "g", "about": ""}}], "scenarios": [
                {{"name": "a", "group": "g", "method": "GET", "path": "/x", "until": {until}}}]}}"#
            ))
        };
        let scenarios = parse(r#"{"pointer": "/State/Running", "equals": true}"#)?;
        let until = scenarios.get("a").and_then(|s| s.until.clone()).context("until")?;
        assert!(until.holds(br#"{"State": {"Running": true}}"#));
        assert!(!until.holds(br#"{"State": {"Running": false}}"#));
        assert!(!until.holds(b"not json"));

        let scenarios = parse(r#"{"contains": "hello"}"#)?;
        let until = scenarios.get("a").and_then(|s| s.until.clone()).context("until")?;
        assert!(until.holds(b"\x01\0\0\0\0\0\0\x06hello\n"));
        assert!(!until.holds(b"hell"));

        for bad in [
            r#"{"pointer": "/State/Running"}"#,
            r#"{"pointer": "State", "equals": 1}"#,
            r#"{"contains": ""}"#,
            r#"{"contains": "x", "pointer": "/a", "equals": 1}"#,
            r#"{"matches": "x"}"#,
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        Ok(())
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
        assert_eq!(a.expand(&Vars::default())?.body, Bytes::from(r#"{"Name":"v"}"#));
        let b = scenarios.get("b").context("b")?;
        assert_eq!(b.request_headers(), vec![("content-type".to_owned(), "text/plain".to_owned())]);
        Ok(())
    }
}
