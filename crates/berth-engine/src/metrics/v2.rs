//! A container's counters from the cgroup v2 unified hierarchy, as containerd's `cgroup2`
//! package reads them and dockerd's `statsV2` maps them: no per-CPU usage, no peak memory,
//! `memory.events` `oom` as the fail count, and only read/write bytes of block IO.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::{BlkioStatEntry, ContainerStats};
use berth_api::{Error, ErrorKind, Result};

use super::cgroup::{CgroupRoot, read_file, read_kv};

/// The `memory.stat` keys dockerd reports on v2, each present (0 when absent).
const MEMORY_STAT_KEYS: &[&str] = &[
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

/// Fills `stats` from cgroup `rel`. 404 when the cgroup does not exist.
pub(super) fn fill(
    root: &CgroupRoot,
    rel: &str,
    machine_memory: u64,
    stats: &mut ContainerStats,
) -> Result<()> {
    let Some(dir) = root.v2_dir(rel)?.filter(|d| d.is_dir()) else {
        return Err(Error::not_found(format!("no such cgroup: {rel}")));
    };

    // containerd reads `max` as u64::MAX here (unlike v1, where it reads as 0).
    stats.pids_stats.current = value_or_zero(&dir.join("pids.current"));
    stats.pids_stats.limit = value_or_zero(&dir.join("pids.max"));

    let cpu: BTreeMap<String, u64> = kv_if_present(&dir.join("cpu.stat"))?;
    let usec = |key: &str| cpu.get(key).copied().unwrap_or(0).saturating_mul(1000);
    let usage = &mut stats.cpu_stats.cpu_usage;
    usage.total_usage = usec("usage_usec");
    usage.usage_in_kernelmode = usec("system_usec");
    usage.usage_in_usermode = usec("user_usec");
    let throttling = &mut stats.cpu_stats.throttling_data;
    throttling.periods = cpu.get("nr_periods").copied().unwrap_or(0);
    throttling.throttled_periods = cpu.get("nr_throttled").copied().unwrap_or(0);
    throttling.throttled_time = usec("throttled_usec");

    let raw = kv_if_present(&dir.join("memory.stat"))?;
    let memory = &mut stats.memory_stats;
    memory.stats = Some(
        MEMORY_STAT_KEYS
            .iter()
            .map(|key| ((*key).to_owned(), raw.get(*key).copied().unwrap_or(0)))
            .collect(),
    );
    memory.usage = value_or_zero(&dir.join("memory.current"));
    memory.limit = value_or_zero(&dir.join("memory.max"));
    if machine_memory > 0 && memory.limit > machine_memory {
        memory.limit = machine_memory;
    }
    memory.failcnt = kv_if_present(&dir.join("memory.events"))?.get("oom").copied().unwrap_or(0);

    let io = io_entries(&dir.join("io.stat"));
    stats.blkio_stats.io_service_bytes_recursive = (!io.is_empty()).then_some(io);
    Ok(())
}

/// The `key value` pairs of `path`; none when it does not exist (the controller is not
/// enabled for the cgroup).
fn kv_if_present(path: &Path) -> Result<BTreeMap<String, u64>> {
    match read_kv(path) {
        Ok(pairs) => Ok(pairs.into_iter().collect()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e),
    }
}

/// A single-value file as containerd's `getStatFileContentUint64` reads it: `max` is
/// `u64::MAX`, anything missing or unreadable is 0.
fn value_or_zero(path: &Path) -> u64 {
    let Ok(text) = read_file(path) else { return 0 };
    match text.trim() {
        "max" => u64::MAX,
        value => super::cgroup::parse_uint(value).unwrap_or(0),
    }
}

/// `io.stat` as two entries per device: `read` (rbytes) and `write` (wbytes).
pub(super) fn io_entries(path: &Path) -> Vec<BlkioStatEntry> {
    let Ok(text) = read_file(path) else { return Vec::new() };
    let mut entries = Vec::new();
    for line in text.lines() {
        let mut fields = line.split(' ');
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse::<u64>(), minor.parse::<u64>()) else {
            continue;
        };
        let (mut rbytes, mut wbytes) = (0, 0);
        for field in fields {
            match field.split_once('=').map(|(k, v)| (k, v.parse::<u64>())) {
                Some(("rbytes", Ok(v))) => rbytes = v,
                Some(("wbytes", Ok(v))) => wbytes = v,
                _ => {}
            }
        }
        for (op, value) in [("read", rbytes), ("write", wbytes)] {
            entries.push(BlkioStatEntry { major, minor, op: op.to_owned(), value });
        }
    }
    entries
}
