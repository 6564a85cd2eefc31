//! Container metrics for `docker stats` and `docker top`, read straight from the kernel: the
//! container's cgroup (`/berth/<id>` in every v1 controller, or in the v2 unified hierarchy),
//! `/proc/stat` for the host's CPU time and `/proc/<pid>/net/dev` for its network namespace.
//!
//! The numbers follow what dockerd reports through containerd (`daemon/stats_unix.go`), so that
//! the docker CLI's CPU and memory percentages come out as they do against dockerd: CPU times
//! in nanoseconds, `system_cpu_usage` in the same unit, memory limits capped at the machine's
//! memory and the `memory.stat` keys the CLI subtracts as cache.

mod cgroup;
mod procfs;
pub(crate) mod stream;
pub(crate) mod top;
mod v1;
mod v2;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod top_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::Result;
use berth_api::container::{ContainerStats, NetworkStats};

pub(crate) use cgroup::{CgroupRoot, unescape_mountinfo};

/// Go's zero `time.Time` as `encoding/json` writes it: `preread` of a first sample and both
/// times of an empty one.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Reads samples of containers' cgroups; one per daemon.
#[derive(Debug, Clone)]
pub(crate) struct Sampler {
    /// Where the cgroup hierarchies are.
    cgroups: CgroupRoot,
    /// Where procfs is (`/proc`, or a fake tree in tests).
    proc: PathBuf,
    /// The machine's memory in bytes (0 when unknown): the limit reported for containers
    /// without one.
    machine_memory: u64,
}

impl Sampler {
    /// A sampler of the host's cgroups ([`CgroupRoot::detect`]) and `/proc`.
    pub(crate) fn detect() -> Result<Self> {
        Ok(Self::new(CgroupRoot::detect()?, "/proc"))
    }

    /// A sampler of `cgroups`, with procfs at `proc`. The machine's memory is read once, here.
    pub(crate) fn new(cgroups: CgroupRoot, proc: impl Into<PathBuf>) -> Self {
        let proc = proc.into();
        let meminfo = proc.join("meminfo");
        let machine_memory = match cgroup::read_file(&meminfo) {
            Ok(text) => procfs::mem_total(&text).unwrap_or(0),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the machine's memory; limits are uncapped");
                0
            }
        };
        Self { cgroups, proc, machine_memory }
    }

    /// One sample of cgroup `cgroup_rel` (such as `/berth/<id>`), read now. With `pid` (the
    /// container's init process), its network namespace's interfaces too, unless it is the
    /// host's own namespace.
    ///
    /// `name`, `id`, `preread` (Go's zero time here) and `precpu_stats` are the stream's to
    /// fill. 404 when the cgroup or the process does not exist (the container stopped).
    pub(crate) fn sample(&self, cgroup_rel: &str, pid: Option<u32>) -> Result<ContainerStats> {
        let mut stats = ContainerStats {
            read: crate::timefmt::go(time::OffsetDateTime::now_utc()),
            preread: ZERO_TIME.to_owned(),
            ..ContainerStats::default()
        };
        if self.cgroups.is_v2() {
            v2::fill(&self.cgroups, cgroup_rel, self.machine_memory, &mut stats)?;
        } else {
            v1::fill(&self.cgroups, cgroup_rel, self.machine_memory, &mut stats)?;
        }

        // Sampled right after the container's counters, as dockerd does, so that the two
        // deltas the CLI divides cover the same span.
        let proc_stat = cgroup::read_file(&self.proc.join("stat"))?;
        let (system_usage, online_cpus) = procfs::system_cpu_usage(&proc_stat)?;
        stats.cpu_stats.system_usage = system_usage;
        stats.cpu_stats.online_cpus = online_cpus;

        if let Some(pid) = pid {
            stats.networks = self.networks(pid)?;
        }
        Ok(stats)
    }

    /// The interfaces of `pid`'s network namespace; none when it shares the host's.
    fn networks(&self, pid: u32) -> Result<Option<BTreeMap<String, NetworkStats>>> {
        let process = self.proc.join(pid.to_string());
        if same_link(&process.join("ns/net"), &self.proc.join("self/ns/net")) {
            return Ok(None);
        }
        let text = cgroup::read_file(&process.join("net/dev"))?;
        let interfaces = procfs::net_dev(&text)?;
        Ok((!interfaces.is_empty()).then_some(interfaces))
    }
}

/// Whether two namespace links (`net:[4026531992]`) name the same namespace. Unreadable
/// links are taken as different: the caller then reads the counters it was asked for.
fn same_link(a: &Path, b: &Path) -> bool {
    match (std::fs::read_link(a), std::fs::read_link(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}
