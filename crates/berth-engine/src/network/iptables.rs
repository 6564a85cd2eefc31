//! Removal of the NAT rules the bridge plugin's `ipMasq` leaves behind.
//!
//! For each container the plugin creates a chain `CNI-<hash>` in the nat table and a
//! `POSTROUTING -s <ip> -j CNI-<hash>` jump, both commented `name: "<network>" id: "<id>"`. Its DEL
//! only removes them while the container's namespace still exists (it learns the address from the
//! interface), so a namespace that vanished first leaves them behind. This module finds them by
//! chain name or comment and deletes them by their exact specification, never by rule number,
//! because dockerd and others edit POSTROUTING concurrently.

use std::collections::BTreeSet;
use std::process::Output;

use berth_api::Error;
use sha2::{Digest, Sha512};

/// The nat chain the bridge plugin creates for `container_id` on `network` (its
/// `utils.FormatChainName`: `CNI-` and the first 24 hex digits of sha512(network + id)).
pub(crate) fn masquerade_chain(network: &str, container_id: &str) -> String {
    let digest = hex::encode(Sha512::digest(format!("{network}{container_id}")));
    format!("CNI-{}", &digest[..24])
}

/// Deletes the masquerade rules and chain of one container, or with `container_id: None` of every
/// container on `network`. Missing rules are not an error, nor is a host without iptables.
pub(crate) async fn remove_masquerade(
    network: &str,
    container_id: Option<&str>,
) -> Result<(), Error> {
    let Some(table) = iptables(&["-t", "nat", "-S"]).await? else {
        tracing::debug!("no iptables binary; no masquerade rules to remove");
        return Ok(());
    };
    if !table.status.success() {
        return Err(failure("cannot list the nat table", &table));
    }
    let rules: Vec<Vec<String>> =
        String::from_utf8_lossy(&table.stdout).lines().map(split_rule).collect();

    let chains: BTreeSet<String> = match container_id {
        Some(id) => BTreeSet::from([masquerade_chain(network, id)]),
        None => {
            let prefix = format!("name: \"{network}\" id: ");
            rules
                .iter()
                .filter(|r| comment(r).is_some_and(|c| c.starts_with(&prefix)))
                .flat_map(|r| [append_chain(r), jump_target(r)])
                .flatten()
                .filter(|chain| chain.starts_with("CNI-"))
                .map(str::to_owned)
                .collect()
        }
    };
    if chains.is_empty() {
        return Ok(());
    }

    let mut first_error = None;
    for rule in &rules {
        let jumps = append_chain(rule) == Some("POSTROUTING")
            && jump_target(rule).is_some_and(|t| chains.contains(t));
        if !jumps {
            continue;
        }
        let mut args = vec!["-t", "nat", "-D"];
        args.extend(rule.iter().skip(1).map(String::as_str));
        if let Err(e) = run_tolerating_absence(&args).await {
            first_error.get_or_insert(e);
        }
    }
    let existing: BTreeSet<&str> = rules
        .iter()
        .filter(|r| r.first().map(String::as_str) == Some("-N"))
        .filter_map(|r| r.get(1).map(String::as_str))
        .collect();
    for chain in chains.iter().filter(|c| existing.contains(c.as_str())) {
        for op in ["-F", "-X"] {
            if let Err(e) = run_tolerating_absence(&["-t", "nat", op, chain]).await {
                first_error.get_or_insert(e);
            }
        }
        tracing::debug!(chain = %chain, network, "removed masquerade chain");
    }
    first_error.map_or(Ok(()), Err)
}

/// Runs `iptables -w <args>`; `None` if there is no iptables binary.
async fn iptables(args: &[&str]) -> Result<Option<Output>, Error> {
    match tokio::process::Command::new("iptables").arg("-w").args(args).output().await {
        Ok(output) => Ok(Some(output)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::system("cannot run iptables").with_source(e)),
    }
}

/// Runs a deleting iptables command; a rule or chain that is already gone is success.
async fn run_tolerating_absence(args: &[&str]) -> Result<(), Error> {
    let Some(output) = iptables(args).await? else { return Ok(()) };
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    if stderr.contains("No chain/target/match by that name")
        || stderr.contains("does not exist")
        || stderr.contains("Bad rule")
    {
        return Ok(());
    }
    Err(failure(&format!("iptables {} failed", args.join(" ")), &output))
}

fn failure(what: &str, output: &Output) -> Error {
    Error::system(format!("{what}: {}", String::from_utf8_lossy(&output.stderr).trim()))
}

/// The chain a `-A <chain> ...` line appends to.
fn append_chain(rule: &[String]) -> Option<&str> {
    match rule {
        [op, chain, ..] if op == "-A" => Some(chain),
        _ => None,
    }
}

/// The value after `flag` in a rule.
fn option<'a>(rule: &'a [String], flag: &str) -> Option<&'a str> {
    rule.windows(2).find(|w| w[0] == flag).map(|w| w[1].as_str())
}

/// The `-j` target of a rule.
fn jump_target(rule: &[String]) -> Option<&str> {
    option(rule, "-j")
}

/// The `--comment` of a rule.
fn comment(rule: &[String]) -> Option<&str> {
    option(rule, "--comment")
}

/// Splits one line of `iptables -S` into arguments, undoing its quoting (`"..."` with `\"`).
fn split_rule(line: &str) -> Vec<String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    current.push(next);
                }
                in_word = true;
            }
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            c if c.is_whitespace() && !quoted => {
                if in_word {
                    args.push(std::mem::take(&mut current));
                    in_word = false;
                }
            }
            c => {
                current.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        args.push(current);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_name_matches_the_bridge_plugin() {
        // Observed with containernetworking-plugins 1.1.1: network "bexp", container "c1".
        assert_eq!(masquerade_chain("bexp", "c1"), "CNI-812f8455e8154921c26bf5c2");
    }

    #[test]
    fn splits_quoted_comments() {
        let line = r#"-A POSTROUTING -s 10.213.99.2/32 -m comment --comment "name: \"bexp\" id: \"c1\"" -j CNI-812f8455e8154921c26bf5c2"#;
        let rule = split_rule(line);
        assert_eq!(
            rule,
            [
                "-A",
                "POSTROUTING",
                "-s",
                "10.213.99.2/32",
                "-m",
                "comment",
                "--comment",
                r#"name: "bexp" id: "c1""#,
                "-j",
                "CNI-812f8455e8154921c26bf5c2"
            ]
        );
        assert_eq!(append_chain(&rule), Some("POSTROUTING"));
        assert_eq!(jump_target(&rule), Some("CNI-812f8455e8154921c26bf5c2"));
        assert_eq!(comment(&rule), Some(r#"name: "bexp" id: "c1""#));
        assert_eq!(
            split_rule(r#"-A X -m comment --comment """#).last().map(String::as_str),
            Some("")
        );
    }
}
