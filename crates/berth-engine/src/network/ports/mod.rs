//! Port publishing (`docker run -p` and `-P`): checking `HostConfig.PortBindings` at create time,
//! holding host ports while a container runs, and the userland proxy that carries the traffic.
//!
//! dockerd reserves a host port per binding, adds DNAT rules and runs one `docker-proxy` process
//! per port. Berth has no DNAT rules: every published port is proxied inside `berthd` on tokio, so
//! the container sees connections coming from its gateway address rather than from the client.
//!
//! The lifecycle, driven by the container code:
//! 1. create: [`plan`] checks the bindings and answers 400 (or 501 for sctp) with dockerd's
//!    messages; its result is not stored;
//! 2. start: [`plan`] again, then [`publish()`] to the container's address; store
//!    [`Published::bindings`] in the container record and keep the [`Published`] while it runs;
//! 3. stop: [`Published::close`] (dropping it also stops everything, a moment later);
//! 4. `berthd` restart: [`republish`] the stored bindings, which takes the same host ports;
//! 5. inspect and list: [`inspect_ports`] and [`summary_ports`] from the exposed ports and the
//!    stored bindings.
//!
//! What dockerd 28 does and Berth does too:
//! - Only exposed ports are published (`Config.ExposedPorts`, merged with the image's): a binding
//!   for a port that is not exposed is ignored, as the CLI always exposes what `-p` names. Keys
//!   are compared as ports, so `80` and `80/TCP` both mean `80/tcp`.
//! - An empty `HostIp` means every address: `0.0.0.0` and, when the host can listen on IPv6,
//!   `::` on the same port, both proxied to the container's IPv4 address. Inspect then shows both,
//!   as dockerd 28 does with its default IPv4-only bridge; on a host without IPv6 only `0.0.0.0`.
//! - An empty or `0` `HostPort`, and `-P`, pick a port from the kernel's ephemeral range
//!   (`/proc/sys/net/ipv4/ip_local_port_range`), going round it as dockerd's allocator does;
//!   bindings of one container port that differ only in host address get the same port.
//! - A host port range (`8000-8010`) takes the first port of it that is free.
//! - A port another container holds fails with `Bind for 0.0.0.0:8080 failed: port is already
//!   allocated`; one another process holds fails with dockerd's `failed to bind host port for …:
//!   address already in use`.
//!
//! Where Berth differs: a bad `HostIp` is refused at create (dockerd 28 silently binds every
//! address), identical bindings count once (dockerd fails to start), and sctp cannot be published
//! (501 at create; `-P` leaves an exposed sctp port unpublished).

mod alloc;
mod proxy;
mod publish;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use berth_api::Error;
use berth_api::container::{Empty, Port, PortBinding, PortMap};
use serde::{Deserialize, Serialize};

pub(crate) use publish::{Published, publish, republish};

/// A transport protocol as port keys name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Proto {
    /// `tcp`, the default when a key names none.
    Tcp,
    /// `udp`.
    Udp,
    /// `sctp`: it may be exposed, never published.
    Sctp,
}

impl Proto {
    /// The protocol named `text` in any case; `""` is tcp.
    fn parse(text: &str) -> Option<Self> {
        match text.to_ascii_lowercase().as_str() {
            "" | "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "sctp" => Some(Self::Sctp),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One published port as it is bound on the host. It is stored in the container record so that a
/// restarted `berthd` binds the same host port again ([`republish`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Binding {
    /// `tcp` or `udp`.
    pub(crate) proto: Proto,
    /// The host address, `0.0.0.0` or `::` for all of one family.
    pub(crate) host_ip: IpAddr,
    /// The host port.
    pub(crate) host_port: u16,
    /// The port in the container.
    pub(crate) container_port: u16,
}

impl Binding {
    fn key(&self) -> PortKey {
        PortKey { port: self.container_port, proto: self.proto }
    }
}

/// The host ports a request may take: `start..=end`, where `0..=0` means any ephemeral port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct HostPorts {
    start: u16,
    end: u16,
}

impl HostPorts {
    const EPHEMERAL: Self = Self { start: 0, end: 0 };

    fn exact(port: u16) -> Self {
        Self { start: port, end: port }
    }

    /// One given port, not a choice.
    fn is_exact(self) -> bool {
        self.start != 0 && self.start == self.end
    }

    /// A `HostPort` value: `""`, `"0"`, `"8080"` or `"8000-8010"`. A `/proto` suffix is ignored,
    /// as dockerd ignores it.
    fn parse(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid(format!("invalid port specification: {text:?}"));
        let ports = text.split_once('/').map_or(text, |(ports, _)| ports);
        if ports.is_empty() {
            return Ok(Self::EPHEMERAL);
        }
        let (start, end) = match ports.split_once('-') {
            Some((start, end)) => (parse_port(start), parse_port(end)),
            None => (parse_port(ports), parse_port(ports)),
        };
        match (start, end) {
            (Some(0), Some(0)) => Ok(Self::EPHEMERAL),
            (Some(start), Some(end)) if start != 0 && start <= end => Ok(Self { start, end }),
            _ => Err(invalid()),
        }
    }
}

impl fmt::Display for HostPorts {
    /// `8080`, `8000-8010`, or nothing for an ephemeral port (dockerd's `PortBinding.String`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.start, self.end) {
            (0, _) => Ok(()),
            (start, end) if start == end => write!(f, "{start}"),
            (start, end) => write!(f, "{start}-{end}"),
        }
    }
}

/// A port to publish, as [`plan`] derives it from the container's configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Request {
    proto: Proto,
    container_port: u16,
    /// `None` for every address (`0.0.0.0`, and `::` when the host has IPv6).
    host_ip: Option<IpAddr>,
    host_ports: HostPorts,
}

impl Request {
    /// dockerd's order: given ports before choices (so a range does not take a port that is
    /// asked for by number), then by container port, protocol, host ports and host address, so
    /// that requests differing only in host address are neighbours and share a port.
    fn order(&self) -> (bool, u16, Proto, HostPorts, Option<IpAddr>) {
        (
            !self.host_ports.is_exact(),
            self.container_port,
            self.proto,
            self.host_ports,
            self.host_ip,
        )
    }
}

/// A container port as keys name it: `80/tcp`, or `80` for tcp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct PortKey {
    port: u16,
    proto: Proto,
}

impl PortKey {
    /// Parses a `PortBindings` or `ExposedPorts` key with dockerd's messages.
    fn parse(key: &str) -> Result<Self, Error> {
        let (port, proto) = key.split_once('/').unwrap_or((key, ""));
        let port = parse_port(port)
            .filter(|&p| p != 0)
            .ok_or_else(|| Error::invalid(format!("invalid port specification: {port:?}")))?;
        let proto =
            Proto::parse(proto).ok_or_else(|| Error::invalid(format!("invalid proto: {proto}")))?;
        Ok(Self { port, proto })
    }
}

impl fmt::Display for PortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.proto)
    }
}

/// A decimal port number as Go's `strconv.ParseUint(s, 10, 16)` reads it (no sign, leading zeros
/// allowed).
fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// A `HostIp` value: empty for every address, an IPv4 or IPv6 address (brackets allowed).
fn parse_host_ip(text: &str) -> Result<Option<IpAddr>, Error> {
    if text.is_empty() {
        return Ok(None);
    }
    let bare = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')).unwrap_or(text);
    let ip: IpAddr =
        bare.parse().map_err(|_| Error::invalid(format!("invalid IP address: {text}")))?;
    Ok(Some(ip.to_canonical()))
}

/// The exposed ports, parsed; an entry that does not parse (an image may carry one) is left out
/// as dockerd leaves it out of the endpoint, with a log line.
fn exposed_ports(exposed: Option<&BTreeMap<String, Empty>>) -> BTreeSet<PortKey> {
    let mut ports = BTreeSet::new();
    for key in exposed.into_iter().flat_map(BTreeMap::keys) {
        match PortKey::parse(key) {
            Ok(port) => {
                ports.insert(port);
            }
            Err(e) => {
                tracing::debug!(key, error = %e, "ignoring an exposed port that does not parse")
            }
        }
    }
    ports
}

/// Checks `HostConfig.PortBindings` and returns what to publish at start: a request per binding
/// of an exposed port, and with `publish_all` (`-P`) one on an ephemeral port for every exposed
/// port without bindings. Sorted in dockerd's order, identical requests once.
///
/// `exposed` is the container's `Config.ExposedPorts` merged with the image's. Errors are 400
/// with dockerd's messages (`invalid port specification: "70000"`, `invalid proto: foo`,
/// `invalid IP address: foo`), or 501 for an sctp binding.
pub(crate) fn plan(
    bindings: Option<&PortMap>,
    exposed: Option<&BTreeMap<String, Empty>>,
    publish_all: bool,
) -> Result<Vec<Request>, Error> {
    // Every binding is checked, exposed or not, as dockerd checks them all at create.
    let mut wanted: BTreeMap<PortKey, Vec<(Option<IpAddr>, HostPorts)>> = BTreeMap::new();
    for (key, list) in bindings.into_iter().flatten() {
        let port = PortKey::parse(key)?;
        let entry = wanted.entry(port).or_default();
        for binding in list.iter().flatten() {
            let host_ports = HostPorts::parse(&binding.host_port)?;
            entry.push((parse_host_ip(&binding.host_ip)?, host_ports));
        }
    }
    let exposed = exposed_ports(exposed);
    for port in wanted.keys().filter(|p| !exposed.contains(p)) {
        tracing::debug!(%port, "ignoring the bindings of a port that is not exposed");
    }

    let mut requests = Vec::new();
    for port in exposed {
        let PortKey { port: container_port, proto } = port;
        match wanted.get(&port).filter(|list| !list.is_empty()) {
            Some(_) if proto == Proto::Sctp => return Err(sctp_unsupported(port)),
            Some(list) => requests.extend(list.iter().map(|&(host_ip, host_ports)| Request {
                proto,
                container_port,
                host_ip,
                host_ports,
            })),
            None if publish_all && proto == Proto::Sctp => {
                tracing::debug!(%port, "not publishing an sctp port");
            }
            None if publish_all => requests.push(Request {
                proto,
                container_port,
                host_ip: None,
                host_ports: HostPorts::EPHEMERAL,
            }),
            None => {}
        }
    }
    requests.sort_by_key(Request::order);
    requests.dedup();
    Ok(requests)
}

/// 501: the proxy has no sctp (tokio has no sctp sockets).
fn sctp_unsupported(port: PortKey) -> Error {
    Error::not_implemented(format!(
        "cannot publish {port}: berth does not support sctp port publishing"
    ))
}

/// `NetworkSettings.Ports` of inspect: every exposed port, `null` when unpublished, else its host
/// bindings in the order they were bound (`{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort":
/// "8080"}, {"HostIp": "::", "HostPort": "8080"}]}`).
///
/// `published` is `None` when the container has no network endpoint (created, stopped, or on the
/// `host` or `none` network): dockerd then answers `{}`.
pub(crate) fn inspect_ports(
    exposed: Option<&BTreeMap<String, Empty>>,
    published: Option<&[Binding]>,
) -> PortMap {
    let mut map = PortMap::new();
    let Some(published) = published else { return map };
    for port in exposed_ports(exposed) {
        map.insert(port.to_string(), None);
    }
    for binding in published {
        let bindings = map.entry(binding.key().to_string()).or_default();
        bindings.get_or_insert_with(Vec::new).push(PortBinding {
            host_ip: binding.host_ip.to_string(),
            host_port: binding.host_port.to_string(),
        });
    }
    map
}

/// `Ports` of a list entry: one entry per host binding, and one without `IP` and `PublicPort`
/// per exposed port that is not published; by container port, then protocol. `published` as for
/// [`inspect_ports`] (`None` gives `[]`).
pub(crate) fn summary_ports(
    exposed: Option<&BTreeMap<String, Empty>>,
    published: Option<&[Binding]>,
) -> Vec<Port> {
    let Some(published) = published else { return Vec::new() };
    let mut keys = exposed_ports(exposed);
    keys.extend(published.iter().map(Binding::key));
    let mut ports = Vec::new();
    for key in keys {
        let entry = |ip: String, public_port: u16| Port {
            ip,
            private_port: key.port,
            public_port,
            kind: key.proto.to_string(),
        };
        let before = ports.len();
        for binding in published.iter().filter(|b| b.key() == key) {
            ports.push(entry(binding.host_ip.to_string(), binding.host_port));
        }
        if ports.len() == before {
            ports.push(entry(String::new(), 0));
        }
    }
    ports
}
