//! Which host ports Berth's published ports hold (dockerd's `portallocator`): two containers never
//! get the same port, a conflict is reported with dockerd's message before any socket is touched,
//! and ephemeral ports are handed out round the kernel's ephemeral range.
//!
//! The kernel would refuse most conflicts by itself, but not two udp sockets with
//! `SO_REUSEADDR`, and its message would not be dockerd's.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{LazyLock, Mutex, MutexGuard, OnceLock, PoisonError};

use berth_api::Error;

use super::{HostPorts, Proto};

/// Where the kernel keeps its ephemeral range; dockerd allocates from the same one.
const LOCAL_PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// dockerd's range when the kernel's cannot be read.
const FALLBACK_RANGE: (u16, u16) = (49153, 65535);

#[derive(Default)]
struct State {
    /// (protocol, port) → the addresses holding it.
    held: HashMap<(Proto, u16), Vec<IpAddr>>,
    /// The ephemeral port handed out last, per protocol.
    last: HashMap<Proto, u16>,
}

static STATE: LazyLock<Mutex<State>> = LazyLock::new(Mutex::default);

fn state() -> MutexGuard<'static, State> {
    // The critical sections cannot panic halfway; a poisoned lock still holds a consistent map.
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The kernel's ephemeral range, read once.
pub(super) fn ephemeral_range() -> (u16, u16) {
    static RANGE: OnceLock<(u16, u16)> = OnceLock::new();
    *RANGE.get_or_init(|| {
        let text = std::fs::read_to_string(LOCAL_PORT_RANGE).unwrap_or_default();
        let mut numbers = text.split_whitespace().map(str::parse::<u16>);
        match (numbers.next(), numbers.next()) {
            (Some(Ok(start)), Some(Ok(end))) if start != 0 && start <= end => (start, end),
            _ => {
                tracing::info!(
                    path = LOCAL_PORT_RANGE,
                    "cannot read the ephemeral port range, using {}-{}",
                    FALLBACK_RANGE.0,
                    FALLBACK_RANGE.1
                );
                FALLBACK_RANGE
            }
        }
    })
}

/// One address holding one port; dropping it frees the port.
#[derive(Debug)]
pub(super) struct Lease {
    proto: Proto,
    addr: IpAddr,
    port: u16,
}

impl Drop for Lease {
    fn drop(&mut self) {
        let mut state = state();
        let key = (self.proto, self.port);
        if let Some(addrs) = state.held.get_mut(&key) {
            if let Some(i) = addrs.iter().position(|a| *a == self.addr) {
                addrs.swap_remove(i);
            }
            if addrs.is_empty() {
                state.held.remove(&key);
            }
        }
    }
}

/// Whether two host addresses cannot hold the same port: the same address, or an unspecified
/// address and any address of its family.
pub(super) fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a.is_ipv4() == b.is_ipv4() && (a == b || a.is_unspecified() || b.is_unspecified())
}

impl State {
    /// The address already holding `port` that stops one of `addrs` from taking it (or an
    /// earlier one of `addrs` itself).
    fn conflict(&self, proto: Proto, port: u16, addrs: &[IpAddr]) -> Option<IpAddr> {
        let held = self.held.get(&(proto, port)).map_or(&[][..], Vec::as_slice);
        addrs.iter().enumerate().find_map(|(i, &addr)| {
            held.iter().chain(&addrs[..i]).copied().find(|&other| overlaps(other, addr))
        })
    }

    fn take(&mut self, proto: Proto, port: u16, addrs: &[IpAddr]) -> Vec<Lease> {
        self.held.entry((proto, port)).or_default().extend_from_slice(addrs);
        addrs.iter().map(|&addr| Lease { proto, addr, port }).collect()
    }
}

/// Reserves one port for all of `addrs`: the given port, the first free one of a range, or the
/// next free ephemeral port; ports in `skip` (which failed to bind) are passed over. Returns the
/// port and a lease per address, in the order of `addrs`.
pub(super) fn reserve(
    proto: Proto,
    addrs: &[IpAddr],
    ports: HostPorts,
    skip: &[u16],
) -> Result<(u16, Vec<Lease>), Error> {
    let mut state = state();
    if ports.is_exact() {
        let port = ports.start;
        if let Some(holder) = state.conflict(proto, port, addrs) {
            return Err(Error::system(format!(
                "Bind for {holder}:{port} failed: port is already allocated"
            )));
        }
        return Ok((port, state.take(proto, port, addrs)));
    }
    let free = |state: &State, port: u16| {
        !skip.contains(&port) && state.conflict(proto, port, addrs).is_none()
    };
    let port = if ports == HostPorts::EPHEMERAL {
        let (start, end) = ephemeral_range();
        let last = state.last.get(&proto).copied().unwrap_or(end);
        // Round the range starting after the last port handed out, as dockerd does, so that a
        // port just released is not handed out again at once.
        let first = if (start..end).contains(&last) { last + 1 } else { start };
        let port = (first..=end).chain(start..first).find(|&p| free(&state, p));
        if let Some(port) = port {
            state.last.insert(proto, port);
        }
        port
    } else {
        (ports.start..=ports.end).find(|&p| free(&state, p))
    };
    let port = port.ok_or_else(|| Error::system("all ports are allocated"))?;
    Ok((port, state.take(proto, port, addrs)))
}
