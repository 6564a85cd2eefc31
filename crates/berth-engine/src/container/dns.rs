//! What the embedded DNS server of a container answers: the running containers that share a
//! user-defined network with it, by name, network alias, short ID and hostname, alone or
//! followed by `.` and the network's name; the default bridge resolves nothing (as in dockerd).

use std::net::Ipv4Addr;
use std::sync::{Arc, Weak};

use super::manager::Manager;
use super::network::user_defined;
use super::record::Record;
use crate::network::Names;

/// [`Names`] over the container registry.
pub(crate) struct ContainerNames {
    manager: Weak<Manager>,
}

impl ContainerNames {
    /// Names as `manager` knows them (held weakly: the DNS server must not keep it alive).
    pub(crate) fn new(manager: &Arc<Manager>) -> Self {
        Self { manager: Arc::downgrade(manager) }
    }

    /// Calls `f` with every running endpoint `(container, network name, address)` on a
    /// user-defined network that container `from` is on too.
    fn each_peer(&self, from: &str, mut f: impl FnMut(&Record, &str, Ipv4Addr)) {
        let Some(manager) = self.manager.upgrade() else { return };
        let Ok(me) = manager.registry.get(from) else { return };
        let shared: Vec<String> = me.with(|r| {
            r.networks
                .iter()
                .filter(|(name, ep)| user_defined(name) && ep.ip.is_some())
                .map(|(_, ep)| ep.network_id.clone())
                .collect()
        });
        if shared.is_empty() {
            return;
        }
        for c in manager.registry.all() {
            c.with(|r| {
                if !r.state.is_running() {
                    return;
                }
                for (net, ep) in &r.networks {
                    if let Some(ip) = ep.ip
                        && shared.contains(&ep.network_id)
                    {
                        f(r, net, ip);
                    }
                }
            });
        }
    }
}

/// The names a container answers to on a network: its name, the aliases there, its short ID and
/// its hostname (dockerd's DNS names).
fn names_of<'a>(r: &'a Record, net: &str) -> impl Iterator<Item = &'a str> {
    let aliases = r.networks.get(net).map(|e| e.aliases.as_slice()).unwrap_or_default();
    std::iter::once(r.short_name())
        .chain(aliases.iter().map(String::as_str))
        .chain(std::iter::once(&r.id[..12]))
        .chain(std::iter::once(r.config.hostname.as_str()))
        .filter(|n| !n.is_empty())
}

impl Names for ContainerNames {
    fn lookup(&self, from: &str, name: &str) -> Vec<Ipv4Addr> {
        let mut out = Vec::new();
        self.each_peer(from, |r, net, ip| {
            let wanted = name.strip_suffix(&format!(".{}", net.to_ascii_lowercase()));
            let hit = names_of(r, net).any(|n| {
                let n = n.to_ascii_lowercase();
                n == name || wanted == Some(n.as_str())
            });
            if hit && !out.contains(&ip) {
                out.push(ip);
            }
        });
        out
    }

    fn reverse(&self, from: &str, ip: Ipv4Addr) -> Option<String> {
        let mut found = None;
        self.each_peer(from, |r, net, addr| {
            if addr == ip && found.is_none() {
                found = Some(format!("{}.{net}", r.short_name()));
            }
        });
        found
    }
}
