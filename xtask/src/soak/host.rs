//! What a soak puts on the host outside its directory: bridge devices, and the NAT rules CNI
//! adds for each container on them. berthd removes a container's rules with the container and
//! a network's bridge with the network; its default bridge it keeps (as dockerd keeps
//! docker0). The guard here removes the rest, and anything a berthd that died mid-run left.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use anyhow::{Result, bail};

use super::traffic::Tally;
use crate::{cmd, e2e};

/// How long one `iptables` call may take.
const IPTABLES_TIMEOUT: Duration = Duration::from_secs(20);

/// Dropped after berthd's guard: removes the NAT rules naming the soak's bridges, then the
/// bridges.
pub(super) struct HostGuard<'a> {
    pub(super) bridge: &'static str,
    pub(super) tally: &'a Tally,
}

impl HostGuard<'_> {
    fn bridges(&self) -> Vec<String> {
        let mut bridges = vec![self.bridge.to_owned()];
        bridges.extend(self.tally.bridges());
        bridges
    }
}

impl Drop for HostGuard<'_> {
    fn drop(&mut self) {
        let bridges = self.bridges();
        if let Err(err) = remove_nat_rules(&bridges) {
            println!("soak: removing NAT rules of {bridges:?}: {err:#}");
        }
        for bridge in &bridges {
            e2e::remove_bridge(bridge);
        }
    }
}

/// The rules in iptables' nat table that name one of `bridges`, as `iptables -S` prints them.
/// CNI's masquerade rules name the network in a comment (`name: "<network>" id: "<container>"`),
/// and Berth names each CNI network after its bridge.
pub(super) fn nat_rules_naming(bridges: &[String]) -> Result<Vec<String>> {
    let out =
        cmd::capture(Command::new("iptables").args(["-w", "-t", "nat", "-S"]), IPTABLES_TIMEOUT)?;
    if !out.success() {
        bail!("{}", out.describe());
    }
    Ok(out
        .stdout
        .lines()
        .filter(|line| bridges.iter().any(|bridge| names_bridge(line, bridge)))
        .map(str::to_owned)
        .collect())
}

fn names_bridge(rule: &str, bridge: &str) -> bool {
    rule.contains(&format!(r#"name: \"{bridge}\""#))
}

/// Deletes every rule naming one of `bridges`, then the CNI chains they jumped to.
fn remove_nat_rules(bridges: &[String]) -> Result<()> {
    let mut chains = BTreeSet::new();
    for rule in nat_rules_naming(bridges)? {
        let words = split_rule(&rule);
        let [flag, chain, rest @ ..] = words.as_slice() else { continue };
        if flag != "-A" {
            continue;
        }
        if let Some(target) = rest.windows(2).find(|w| w[0] == "-j").map(|w| &w[1])
            && target.starts_with("CNI-")
        {
            chains.insert(target.clone());
        }
        let mut delete = Command::new("iptables");
        delete.args(["-w", "-t", "nat", "-D", chain]).args(rest);
        let out = cmd::capture(&mut delete, IPTABLES_TIMEOUT)?;
        if out.success() {
            println!("soak: removed a NAT rule left behind: {rule}");
        } else {
            println!("soak: cannot remove a NAT rule left behind:\n{}", out.describe());
        }
    }
    for chain in chains {
        for flag in ["-F", "-X"] {
            let mut command = Command::new("iptables");
            command.args(["-w", "-t", "nat", flag, &chain]);
            let out = cmd::capture(&mut command, IPTABLES_TIMEOUT)?;
            if !out.success() {
                println!("soak: cannot remove chain {chain}:\n{}", out.describe());
            }
        }
    }
    Ok(())
}

/// The words of one `iptables -S` line, as the shell would split it: double quotes group,
/// a backslash inside them escapes the next character.
fn split_rule(rule: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut chars = rule.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => word.extend(chars.next()),
            '"' => {
                quoted = !quoted;
                in_word = true;
            }
            ' ' if !quoted => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = r#"-A POSTROUTING -s 10.213.248.139/32 -m comment --comment "name: \"berthsoak0\" id: \"87b94e3c\"" -j CNI-e26f7b213652cbaf20411a0c"#;

    #[test]
    fn cni_rules_are_recognised_by_their_network_name() {
        assert!(names_bridge(RULE, "berthsoak0"));
        assert!(!names_bridge(RULE, "berthsoak"));
        assert!(!names_bridge(RULE, "br-f96ae907a464"));
    }

    #[test]
    fn rules_are_split_as_the_shell_would() {
        assert_eq!(
            split_rule(RULE),
            [
                "-A",
                "POSTROUTING",
                "-s",
                "10.213.248.139/32",
                "-m",
                "comment",
                "--comment",
                r#"name: "berthsoak0" id: "87b94e3c""#,
                "-j",
                "CNI-e26f7b213652cbaf20411a0c",
            ]
        );
        assert_eq!(split_rule(r#"-A X -m comment --comment "" -j Y"#)[5], "");
    }
}
