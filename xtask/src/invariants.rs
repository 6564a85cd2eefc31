//! The dependency invariants of DESIGN.md, checked on the real crate graph
//! with `cargo tree` (rust-analyzer does the same in its tidy tests).

use std::collections::BTreeSet;

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Crates that speak HTTP as a server framework; wire types and backend
/// traits must stay free of them.
const HTTP_STACK: &[&str] = &["axum", "axum-core", "tower", "tower-http", "hyper", "hyper-util"];

/// One crate the subject must not pull in (transitively, normal edges only).
#[derive(Debug, Clone, PartialEq)]
enum Forbidden {
    /// This crate, whatever its features.
    Crate(&'static str),
    /// Any crate whose name starts with this, other than the subject itself.
    Prefix(&'static str),
    /// This crate with this feature turned on.
    Feature(&'static str, &'static str),
}

impl Forbidden {
    fn matches(&self, subject: &str, dep: &Dep) -> bool {
        match *self {
            Forbidden::Crate(name) => dep.name == name,
            Forbidden::Prefix(prefix) => dep.name != subject && dep.name.starts_with(prefix),
            Forbidden::Feature(name, feature) => {
                dep.name == name && dep.features.iter().any(|f| f == feature)
            }
        }
    }

    fn describe(&self) -> String {
        match *self {
            Forbidden::Crate(name) => name.to_owned(),
            Forbidden::Prefix(prefix) => format!("other {prefix}*"),
            Forbidden::Feature(name, feature) => format!("{name}[{feature}]"),
        }
    }
}

#[derive(Debug)]
struct Rule {
    subject: String,
    forbidden: Vec<Forbidden>,
}

/// A package in `cargo tree` output with the features it is built with.
#[derive(Debug, PartialEq)]
struct Dep {
    name: String,
    features: Vec<String>,
}

/// Checks every invariant, printing each; fails listing all violations.
pub(crate) fn check() -> Result<()> {
    let members = workspace_members()?;
    let mut violations = Vec::new();
    for rule in rules(&members) {
        let deps = normal_deps(&rule.subject)?;
        let found = violations_of(&rule, &deps);
        let forbidden: Vec<String> = rule.forbidden.iter().map(Forbidden::describe).collect();
        if found.is_empty() {
            println!("ok: {} does not depend on {}", rule.subject, forbidden.join(", "));
            continue;
        }
        for name in found {
            println!("VIOLATION: {} depends on {name}", rule.subject);
            let path = cmd::stdout(cmd::cargo().args([
                "tree",
                "--locked",
                "-e",
                "normal",
                "-p",
                &rule.subject,
                "-i",
                &name,
            ]))
            .unwrap_or_else(|err| format!("(cannot show the path: {err:#})"));
            violations.push(format!(
                "{} depends on {name}, through:\n{}",
                rule.subject,
                path.trim_end()
            ));
        }
    }
    if !violations.is_empty() {
        bail!("dependency invariants violated (see DESIGN.md):\n{}", violations.join("\n"));
    }
    Ok(())
}

/// The rules of DESIGN.md for the crates that exist; prints the ones skipped.
fn rules(members: &BTreeSet<String>) -> Vec<Rule> {
    let mut rules = Vec::new();
    let routers: Vec<&String> =
        members.iter().filter(|name| name.starts_with("berth-router-")).collect();
    if routers.is_empty() {
        println!("skip: no berth-router-* crate in the workspace");
    }
    for router in routers {
        rules.push(Rule {
            subject: router.clone(),
            forbidden: vec![Forbidden::Prefix("berth-router-"), Forbidden::Crate("berth-engine")],
        });
    }
    let mut rule = |subject: &str, forbidden: Vec<Forbidden>| {
        if members.contains(subject) {
            rules.push(Rule { subject: subject.to_owned(), forbidden });
        } else {
            println!("skip: {subject} is not a workspace member (yet)");
        }
    };
    let http_stack = || HTTP_STACK.iter().map(|&name| Forbidden::Crate(name)).collect();
    rule("berth-api", http_stack());
    rule("berth-backend", http_stack());
    rule(
        "berth-engine",
        vec![
            Forbidden::Crate("axum"),
            Forbidden::Crate("axum-core"),
            // tower-http is allowed: reqwest (the registry client) uses it client-side. Without
            // axum or a hyper server it cannot serve anything.
            Forbidden::Feature("hyper", "server"),
            Forbidden::Feature("hyper-util", "server"),
        ],
    );
    rule("berth-listeners", vec![Forbidden::Crate("axum"), Forbidden::Crate("axum-core")]);
    // Authorizers see requests through berth-middleware's types only: no backend, no engine.
    rule(
        "berth-authz",
        vec![
            Forbidden::Crate("berth-engine"),
            Forbidden::Crate("berth-backend"),
            Forbidden::Prefix("berth-router-"),
        ],
    );
    rules
}

fn violations_of(rule: &Rule, deps: &[Dep]) -> BTreeSet<String> {
    deps.iter()
        .filter(|dep| rule.forbidden.iter().any(|forbidden| forbidden.matches(&rule.subject, dep)))
        .map(|dep| dep.name.clone())
        .collect()
}

/// Names of the workspace's packages, from `cargo metadata`.
pub(crate) fn workspace_members() -> Result<BTreeSet<String>> {
    let metadata = crate::metadata()?;
    let packages =
        metadata["packages"].as_array().context("cargo metadata has no packages array")?;
    packages
        .iter()
        .map(|package| {
            package["name"]
                .as_str()
                .map(str::to_owned)
                .context("cargo metadata: package without a name")
        })
        .collect()
}

/// Every package `subject` pulls in through normal (not dev, not build)
/// edges, transitively, with its features; the subject itself excluded.
fn normal_deps(subject: &str) -> Result<Vec<Dep>> {
    let tree = cmd::stdout(cmd::cargo().args([
        "tree", "--locked", "-p", subject, "-e", "normal", "--prefix", "none", "--format",
        "{p}|{f}",
    ]))?;
    let mut lines = tree.lines().filter(|line| !line.trim().is_empty());
    let root = lines.next().context("cargo tree printed nothing")?;
    let root = parse_tree_line(root)?;
    if root.name != subject {
        bail!("cargo tree -p {subject} starts with {}", root.name);
    }
    lines.map(parse_tree_line).collect()
}

/// Parses `name vX.Y.Z (path)|feat1,feat2 (*)`.
fn parse_tree_line(line: &str) -> Result<Dep> {
    let (package, features) =
        line.split_once('|').with_context(|| format!("unexpected cargo tree line: {line:?}"))?;
    let name = package
        .split_whitespace()
        .next()
        .with_context(|| format!("cargo tree line without a package: {line:?}"))?;
    let features = features.trim_end();
    let features = features.strip_suffix("(*)").unwrap_or(features).trim();
    Ok(Dep {
        name: name.to_owned(),
        features: features.split(',').filter(|f| !f.is_empty()).map(str::to_owned).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dep(name: &str, features: &[&str]) -> Dep {
        Dep { name: name.to_owned(), features: features.iter().map(|f| (*f).to_owned()).collect() }
    }

    #[test]
    fn tree_lines_parse() -> Result<()> {
        assert_eq!(
            parse_tree_line("axum v0.8.9|http1,json,query")?,
            dep("axum", &["http1", "json", "query"])
        );
        assert_eq!(
            parse_tree_line("http v1.5.0|default,std (*)")?,
            dep("http", &["default", "std"])
        );
        assert_eq!(
            parse_tree_line("berth-api v0.1.0 (/work/main/crates/berth-api)|")?,
            dep("berth-api", &[])
        );
        assert_eq!(
            parse_tree_line("serde_derive v1.0.229 (proc-macro)|default")?,
            dep("serde_derive", &["default"])
        );
        assert!(parse_tree_line("no separator").is_err());
        Ok(())
    }

    #[test]
    fn routers_must_not_reach_each_other_or_the_engine() {
        let members: BTreeSet<String> =
            ["berth-api", "berth-router-system", "berth-router-containers"]
                .map(str::to_owned)
                .into();
        let rules = rules(&members);
        let rule = rules
            .iter()
            .find(|rule| rule.subject == "berth-router-system")
            .expect("a rule for every router");
        let clean = [dep("berth-api", &[]), dep("axum", &["json"])];
        assert!(violations_of(rule, &clean).is_empty());
        let dirty =
            [dep("berth-router-containers", &[]), dep("berth-engine", &[]), dep("axum", &[])];
        assert_eq!(
            violations_of(rule, &dirty),
            ["berth-engine", "berth-router-containers"].map(str::to_owned).into()
        );
        // A crate that is not a member gets no rule, rather than a vacuous pass.
        assert!(!rules.iter().any(|rule| rule.subject == "berth-engine"));
    }

    #[test]
    fn engine_may_use_a_hyper_client_but_not_a_server() {
        let members: BTreeSet<String> = ["berth-engine"].map(str::to_owned).into();
        let rules = rules(&members);
        let rule = rules.iter().find(|rule| rule.subject == "berth-engine").expect("engine rule");
        let client = [dep("hyper", &["client", "http2"]), dep("tower", &["util"])];
        assert!(violations_of(rule, &client).is_empty());
        let server = [dep("hyper", &["client", "server"]), dep("axum", &[])];
        assert_eq!(violations_of(rule, &server), ["axum", "hyper"].map(str::to_owned).into());
    }
}
