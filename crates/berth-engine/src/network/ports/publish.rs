//! Binding host ports and starting their proxies, all or nothing.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::{AsRawFd, OwnedFd};
#[cfg(test)]
use std::sync::Arc;
use std::sync::OnceLock;

use berth_api::Error;
use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, Backlog, SockFlag, SockType, SockaddrStorage, bind, listen, setsockopt, socket,
    sockopt,
};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::alloc::{self, Lease};
use super::proxy::{Listener, Tuning};
use super::{Binding, HostPorts, Proto, Request, sctp_unsupported};

/// How often a port chosen from a range or the ephemeral range is tried again when another
/// process holds it (dockerd's `maxAllocatePortAttempts`).
const MAX_ATTEMPTS: usize = 10;

/// The proxies of one container's published ports. Dropping it stops them all, closes every
/// proxied connection and frees the host ports, a moment later (the tasks are cancelled);
/// [`Published::close`] does the same and returns once it is done.
#[derive(Debug, Default)]
pub(crate) struct Published {
    bindings: Vec<Binding>,
    stop: CancellationToken,
    tasks: JoinSet<()>,
    /// The udp flow tables, for tests that watch flows expire.
    #[cfg(test)]
    flows: Vec<Arc<super::proxy::Flows>>,
}

impl Published {
    /// What is bound, in dockerd's order: per request, `0.0.0.0` before `::`.
    pub(crate) fn bindings(&self) -> &[Binding] {
        &self.bindings
    }

    /// Stops the proxies; when it returns, the listening sockets and every proxied connection are
    /// closed and the host ports are free to bind again.
    pub(crate) async fn close(mut self) {
        self.stop.cancel();
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done
                && e.is_panic()
            {
                tracing::error!(error = %e, "a port proxy panicked");
            }
        }
    }

    /// How many udp flows the proxies track.
    #[cfg(test)]
    pub(super) fn udp_flows(&self) -> usize {
        self.flows.iter().map(|f| super::proxy::flow_count(f)).sum()
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        // The tasks would be aborted by the `JoinSet` anyway; cancelling first lets a task that
        // is running right now end on its own.
        self.stop.cancel();
    }
}

/// Binds every request on the host and proxies it to `target` (the container's address) on the
/// request's container port. All or nothing: on error nothing stays bound.
///
/// Errors are 500 with dockerd's text, which dockerd prefixes with `driver failed programming
/// external connectivity on endpoint {container name} ({endpoint id}): `:
/// - `Bind for 0.0.0.0:8080 failed: port is already allocated` (another container holds it);
/// - `failed to bind host port for 0.0.0.0:8080:172.18.0.2:80/tcp: address already in use`
///   (another process holds it; `failed to bind host port 8005 for 0.0.0.0:8000-8010:…` after the
///   last try of a range);
/// - `all ports are allocated` (the range is full).
///
/// 501 for an sctp request.
pub(crate) async fn publish(requests: &[Request], target: Ipv4Addr) -> Result<Published, Error> {
    publish_tuned(requests, target, Tuning::default()).await
}

/// [`publish()`] with proxy settings other than the defaults.
pub(super) async fn publish_tuned(
    requests: &[Request],
    target: Ipv4Addr,
    tuning: Tuning,
) -> Result<Published, Error> {
    let mut sorted = requests.to_vec();
    sorted.sort_by_key(Request::order);
    sorted.dedup();
    start(groups(&sorted, ipv6_available()), target, tuning)
}

/// Binds `bindings` again on the same host ports, after a `berthd` restart. A binding on `::`
/// is left out when the host cannot listen on IPv6 any more.
pub(crate) async fn republish(bindings: &[Binding], target: Ipv4Addr) -> Result<Published, Error> {
    let v6 = ipv6_available();
    let groups = bindings
        .iter()
        .filter(|b| v6 || b.host_ip != IpAddr::V6(Ipv6Addr::UNSPECIFIED))
        .map(|b| Group {
            proto: b.proto,
            container_port: b.container_port,
            host_ports: HostPorts::exact(b.host_port),
            addrs: vec![b.host_ip],
        })
        .collect();
    start(groups, target, Tuning::default())
}

/// Host addresses that take the same port: requests that differ only in host address.
#[derive(Debug)]
struct Group {
    proto: Proto,
    container_port: u16,
    host_ports: HostPorts,
    addrs: Vec<IpAddr>,
}

/// Groups sorted requests, expanding "every address" to `0.0.0.0` and, with IPv6, `::`. An
/// address that overlaps one of the group (`0.0.0.0` and `127.0.0.1`) starts a group of its own:
/// the two cannot hold the same port.
fn groups(sorted: &[Request], v6: bool) -> Vec<Group> {
    let mut groups: Vec<Group> = Vec::new();
    for request in sorted {
        let addrs = match request.host_ip {
            Some(ip) => vec![ip],
            None if v6 => vec![Ipv4Addr::UNSPECIFIED.into(), Ipv6Addr::UNSPECIFIED.into()],
            None => vec![Ipv4Addr::UNSPECIFIED.into()],
        };
        let joins = groups.last().is_some_and(|g| {
            (g.proto, g.container_port, g.host_ports)
                == (request.proto, request.container_port, request.host_ports)
                && !g.addrs.iter().any(|&a| addrs.iter().any(|&b| alloc::overlaps(a, b)))
        });
        match groups.last_mut() {
            Some(group) if joins => group.addrs.extend(addrs),
            _ => groups.push(Group {
                proto: request.proto,
                container_port: request.container_port,
                host_ports: request.host_ports,
                addrs,
            }),
        }
    }
    groups
}

/// A host socket bound for one binding, with the port it holds.
struct Bound {
    binding: Binding,
    socket: OwnedFd,
    lease: Lease,
}

/// Binds every group, then starts a proxy per socket. Nothing is spawned before everything is
/// bound, so an error drops (closes and frees) whatever was bound.
fn start(groups: Vec<Group>, target: Ipv4Addr, tuning: Tuning) -> Result<Published, Error> {
    let mut bound = Vec::new();
    for group in &groups {
        bound.extend(bind_group(group, target)?);
    }
    let mut listeners = Vec::with_capacity(bound.len());
    for Bound { binding, socket, lease } in bound {
        let listener = Listener::new(binding.proto, socket).map_err(|e| {
            Error::system(format!("cannot proxy {}: {e}", describe(&binding, target)))
                .with_source(e)
        })?;
        let backend = SocketAddr::from((target, binding.container_port));
        listeners.push((binding, listener, backend, lease));
    }

    let mut published = Published::default();
    for (binding, listener, backend, lease) in listeners {
        #[cfg(test)]
        if let Listener::Udp(_, flows) = &listener {
            published.flows.push(flows.clone());
        }
        published.bindings.push(binding);
        let stop = published.stop.clone();
        published.tasks.spawn(async move {
            listener.serve(backend, stop, tuning).await;
            drop(lease);
        });
    }
    Ok(published)
}

/// Reserves a port for the group and binds it on each address, trying further ports of a range
/// when another process holds one.
fn bind_group(group: &Group, target: Ipv4Addr) -> Result<Vec<Bound>, Error> {
    if group.proto == Proto::Sctp {
        return Err(sctp_unsupported(super::PortKey {
            port: group.container_port,
            proto: group.proto,
        }));
    }
    let attempts = if group.host_ports.is_exact() { 1 } else { MAX_ATTEMPTS };
    let mut failed = Vec::new();
    let mut last_error = None;
    for _ in 0..attempts {
        let (port, leases) = alloc::reserve(group.proto, &group.addrs, group.host_ports, &failed)?;
        let mut bound = Vec::with_capacity(leases.len());
        for (&addr, lease) in group.addrs.iter().zip(leases) {
            let binding = Binding {
                proto: group.proto,
                host_ip: addr,
                host_port: port,
                container_port: group.container_port,
            };
            match bind_socket(group.proto, SocketAddr::new(addr, port)) {
                Ok(socket) => bound.push(Bound { binding, socket, lease }),
                Err(errno) => {
                    last_error = Some(bind_error(group, addr, port, target, errno));
                    break;
                }
            }
        }
        if bound.len() == group.addrs.len() {
            return Ok(bound);
        }
        failed.push(port);
    }
    Err(last_error.unwrap_or_else(|| Error::system("all ports are allocated")))
}

/// dockerd's message for a failed bind: the binding as `host:port:container:port/proto` and the
/// error as Go writes it.
fn bind_error(group: &Group, addr: IpAddr, port: u16, target: Ipv4Addr, errno: Errno) -> Error {
    let host = host_part(addr);
    let container = format!("{target}:{}/{}", group.container_port, group.proto);
    let message = if group.host_ports.is_exact() {
        format!("failed to bind host port for {host}:{port}:{container}: {}", go_errno(errno))
    } else {
        let ports = group.host_ports.to_string();
        let ports = if ports.is_empty() { ports } else { format!("{ports}:") };
        format!(
            "failed to bind host port {port} for {host}:{ports}{container}: {}",
            go_errno(errno)
        )
    };
    Error::system(message).with_source(std::io::Error::from(errno))
}

/// `host:port:container:port/proto` for one binding.
fn describe(binding: &Binding, target: Ipv4Addr) -> String {
    let host = host_part(binding.host_ip);
    format!("{host}:{}:{target}:{}/{}", binding.host_port, binding.container_port, binding.proto)
}

/// An address as dockerd writes it before a port: IPv6 in brackets.
fn host_part(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// An errno as Go's `syscall.Errno` writes it: `address already in use`.
fn go_errno(errno: Errno) -> String {
    let text = errno.desc();
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| first.to_lowercase().chain(chars).collect())
}

/// Opens a socket on `addr`: tcp listening with `SO_REUSEADDR` (so a port is free again at once,
/// connections in `TIME_WAIT` or not), udp with the destination of each datagram reported (so
/// replies leave from the address the client wrote to), IPv6 only for IPv6.
fn bind_socket(proto: Proto, addr: SocketAddr) -> Result<OwnedFd, Errno> {
    let family = if addr.is_ipv4() { AddressFamily::Inet } else { AddressFamily::Inet6 };
    let kind = if proto == Proto::Tcp { SockType::Stream } else { SockType::Datagram };
    let socket = socket(family, kind, SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK, None)?;
    if addr.is_ipv6() {
        setsockopt(&socket, sockopt::Ipv6V6Only, &true)?;
    }
    match (proto, addr) {
        (Proto::Tcp, _) => setsockopt(&socket, sockopt::ReuseAddr, &true)?,
        (_, SocketAddr::V4(_)) => setsockopt(&socket, sockopt::Ipv4PacketInfo, &true)?,
        (_, SocketAddr::V6(_)) => setsockopt(&socket, sockopt::Ipv6RecvPacketInfo, &true)?,
    }
    bind(socket.as_raw_fd(), &SockaddrStorage::from(addr))?;
    if proto == Proto::Tcp {
        listen(&socket, Backlog::MAXCONN)?;
    }
    Ok(socket)
}

/// Whether the host can listen on IPv6 (dockerd's `IsV6Listenable`), checked once.
fn ipv6_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok())
}
