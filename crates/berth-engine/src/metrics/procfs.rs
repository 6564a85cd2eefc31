//! The host-wide numbers of a stats sample: CPU time and online CPUs from `/proc/stat`, the
//! machine's memory from `/proc/meminfo`, and a network namespace's counters from
//! `/proc/<pid>/net/dev`.

use std::collections::BTreeMap;

use berth_api::container::NetworkStats;
use berth_api::{Error, Result};

/// `USER_HZ`: the unit of `/proc/stat` and `cpuacct.stat`. dockerd and containerd hard-code it
/// (it is 100 on every Linux architecture they support) rather than asking `sysconf`.
pub(super) const CLOCK_TICKS_PER_SECOND: u64 = 100;

/// Nanoseconds per `USER_HZ` tick.
pub(super) const NANOS_PER_TICK: u64 = 1_000_000_000 / CLOCK_TICKS_PER_SECOND;

/// Interfaces the kernel creates in every network namespace once the tunnel modules are
/// loaded (`fb_tunnels_only_for_init_net=0`); they are never a container's endpoint, and
/// dockerd, which lists only the sandbox's endpoints, never reports them.
const FALLBACK_TUNNELS: &[&str] =
    &["tunl0", "sit0", "ip6tnl0", "gre0", "gretap0", "erspan0", "ip6gre0", "ip_vti0", "ip6_vti0"];

/// Host CPU time in nanoseconds and the number of online CPUs, from `/proc/stat` as dockerd's
/// `readSystemCPUUsage` computes them: the first seven fields of the `cpu` line (user, nice,
/// system, idle, iowait, irq, softirq) in ticks, and one CPU per `cpuN` line. Only the leading
/// `cpu*` lines are read.
pub(super) fn system_cpu_usage(text: &str) -> Result<(u64, u32)> {
    let mut usage = None;
    let mut online = 0u32;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cpu") else { break };
        if rest.starts_with(' ') {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            if fields.len() < 8 {
                return Err(Error::system("invalid number of cpu fields in /proc/stat"));
            }
            let mut ticks = 0u64;
            for field in &fields[1..8] {
                let value: u64 = field.parse().map_err(|_| {
                    Error::system(format!("invalid cpu time {field:?} in /proc/stat"))
                })?;
                ticks = ticks.saturating_add(value);
            }
            usage = Some(ticks.saturating_mul(NANOS_PER_TICK));
        } else if rest.starts_with(|c: char| c.is_ascii_digit()) {
            online += 1;
        } else {
            break;
        }
    }
    usage.map(|usage| (usage, online)).ok_or_else(|| Error::system("no cpu line in /proc/stat"))
}

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub(super) fn mem_total(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|l| l.strip_prefix("MemTotal:"))?;
    let mut fields = line.split_ascii_whitespace();
    let value: u64 = fields.next()?.parse().ok()?;
    match fields.next() {
        Some("kB") => value.checked_mul(1024),
        None => Some(value),
        Some(_) => None,
    }
}

/// The interfaces of a `/proc/<pid>/net/dev`, without the loopback and the kernel's fallback
/// tunnels.
pub(super) fn net_dev(text: &str) -> Result<BTreeMap<String, NetworkStats>> {
    let mut interfaces = BTreeMap::new();
    // Two header lines, then `name: rx(8 fields) tx(8 fields)`.
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let invalid = || Error::system(format!("invalid /proc/net/dev line {line:?}"));
        let (name, counters) = line.split_once(':').ok_or_else(invalid)?;
        let name = name.trim();
        let counters = counters
            .split_ascii_whitespace()
            .map(str::parse::<u64>)
            .collect::<Result<Vec<u64>, _>>()
            .map_err(|_| invalid())?;
        if counters.len() < 16 {
            return Err(invalid());
        }
        if name == "lo" || FALLBACK_TUNNELS.contains(&name) {
            continue;
        }
        interfaces.insert(
            name.to_owned(),
            NetworkStats {
                rx_bytes: counters[0],
                rx_packets: counters[1],
                rx_errors: counters[2],
                rx_dropped: counters[3],
                tx_bytes: counters[8],
                tx_packets: counters[9],
                tx_errors: counters[10],
                tx_dropped: counters[11],
                ..NetworkStats::default()
            },
        );
    }
    Ok(interfaces)
}
