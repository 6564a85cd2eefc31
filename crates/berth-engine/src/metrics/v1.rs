//! A container's counters from cgroup v1, as containerd's `cgroup1` package reads them and
//! dockerd's `statsV1` maps them.
//!
//! A controller that is not mounted, or in which the container has no cgroup, is left out of
//! the sample (its section stays empty), as containerd skips it; a file missing from a cgroup
//! that exists is an error.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::{BlkioStatEntry, BlkioStats, ContainerStats};
use berth_api::{Error, Result};

use super::cgroup::{CgroupRoot, invalid_content, read_file, read_kv, read_uint};
use super::procfs::NANOS_PER_TICK;

/// The `memory.stat` keys dockerd reports on v1, each present (0 when the kernel does not
/// write it) and nothing else.
const MEMORY_STAT_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "total_cache",
    "total_rss",
    "total_rss_huge",
    "total_mapped_file",
    "total_dirty",
    "total_writeback",
    "total_pgpgin",
    "total_pgpgout",
    "total_pgfault",
    "total_pgmajfault",
    "total_inactive_anon",
    "total_active_anon",
    "total_inactive_file",
    "total_active_file",
    "total_unevictable",
];

/// The CFQ statistics (`blkio.<name>`), read first, and where each goes.
const CFQ_FILES: &[(&str, Slot)] = &[
    ("sectors_recursive", Slot::Sectors),
    ("io_service_bytes_recursive", Slot::ServiceBytes),
    ("io_serviced_recursive", Slot::Serviced),
    ("io_queued_recursive", Slot::Queued),
    ("io_service_time_recursive", Slot::ServiceTime),
    ("io_wait_time_recursive", Slot::WaitTime),
    ("io_merged_recursive", Slot::Merged),
    ("time_recursive", Slot::Time),
];

/// One list of [`BlkioStats`].
#[derive(Debug, Clone, Copy)]
enum Slot {
    /// `io_service_bytes_recursive`.
    ServiceBytes,
    /// `io_serviced_recursive`.
    Serviced,
    /// `io_queue_recursive`.
    Queued,
    /// `io_service_time_recursive`.
    ServiceTime,
    /// `io_wait_time_recursive`.
    WaitTime,
    /// `io_merged_recursive`.
    Merged,
    /// `io_time_recursive`.
    Time,
    /// `sectors_recursive`.
    Sectors,
}

/// Fills `stats` from cgroup `rel`. 404 when the container has a cgroup in no controller.
pub(super) fn fill(
    root: &CgroupRoot,
    rel: &str,
    machine_memory: u64,
    stats: &mut ContainerStats,
) -> Result<()> {
    let mut found = false;
    if let Some(dir) = existing(root.v1_dir("cpuacct", rel)?) {
        found = true;
        cpuacct(&dir, stats)?;
    }
    if let Some(dir) = existing(root.v1_dir("cpu", rel)?) {
        found = true;
        cpu(&dir, stats)?;
    }
    if let Some(dir) = existing(root.v1_dir("memory", rel)?) {
        found = true;
        memory(&dir, machine_memory, stats)?;
    }
    if let Some(dir) = existing(root.v1_dir("blkio", rel)?) {
        found = true;
        stats.blkio_stats = blkio(&dir)?;
    }
    if let Some(dir) = existing(root.v1_dir("pids", rel)?) {
        found = true;
        stats.pids_stats.current = read_uint(&dir.join("pids.current"))?;
        // `max` (no limit) reads as 0.
        stats.pids_stats.limit = read_uint(&dir.join("pids.max"))?;
    }
    if found { Ok(()) } else { Err(Error::not_found(format!("no such cgroup: {rel}"))) }
}

/// `dir` when it exists.
fn existing(dir: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
    dir.filter(|d| d.is_dir())
}

/// Total and per-CPU time in ns; user and kernel time from `cpuacct.stat`, in ticks.
fn cpuacct(dir: &Path, stats: &mut ContainerStats) -> Result<()> {
    let usage = &mut stats.cpu_stats.cpu_usage;
    usage.total_usage = read_uint(&dir.join("cpuacct.usage"))?;

    let path = dir.join("cpuacct.usage_percpu");
    let text = read_file(&path)?;
    let percpu = text
        .split_ascii_whitespace()
        .map(|v| v.parse::<u64>().map_err(|_| invalid_content(&path, v)))
        .collect::<Result<Vec<u64>>>()?;
    usage.percpu_usage = (!percpu.is_empty()).then_some(percpu);

    let path = dir.join("cpuacct.stat");
    let pairs = read_kv(&path)?;
    let get = |key: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.saturating_mul(NANOS_PER_TICK))
            .ok_or_else(|| Error::system(format!("no {key:?} in {}", path.display())))
    };
    usage.usage_in_usermode = get("user")?;
    usage.usage_in_kernelmode = get("system")?;
    Ok(())
}

/// Throttling from `cpu.stat`.
fn cpu(dir: &Path, stats: &mut ContainerStats) -> Result<()> {
    let throttling = &mut stats.cpu_stats.throttling_data;
    for (key, value) in read_kv(&dir.join("cpu.stat"))? {
        match key.as_str() {
            "nr_periods" => throttling.periods = value,
            "nr_throttled" => throttling.throttled_periods = value,
            "throttled_time" => throttling.throttled_time = value,
            _ => {}
        }
    }
    Ok(())
}

/// Usage, peak, limit, failures and `memory.stat`. A limit above the machine's memory (no
/// limit reads as 2^63 rounded down to a page) is reported as the machine's memory, as dockerd
/// does, so that `docker stats` shows a meaningful percentage.
fn memory(dir: &Path, machine_memory: u64, stats: &mut ContainerStats) -> Result<()> {
    let raw: BTreeMap<String, u64> = read_kv(&dir.join("memory.stat"))?.into_iter().collect();
    let memory = &mut stats.memory_stats;
    memory.stats = Some(
        MEMORY_STAT_KEYS
            .iter()
            .map(|key| ((*key).to_owned(), raw.get(*key).copied().unwrap_or(0)))
            .collect(),
    );
    memory.usage = read_uint(&dir.join("memory.usage_in_bytes"))?;
    memory.max_usage = read_uint(&dir.join("memory.max_usage_in_bytes"))?;
    memory.failcnt = read_uint(&dir.join("memory.failcnt"))?;
    memory.limit = read_uint(&dir.join("memory.limit_in_bytes"))?;
    if machine_memory > 0 && memory.limit > machine_memory {
        memory.limit = machine_memory;
    }
    Ok(())
}

/// Block IO: the CFQ `*_recursive` files when the kernel has them and they report anything,
/// otherwise the throttling layer's bytes and operations. With the controller present every
/// list is an empty array rather than `null`, as dockerd marshals it.
fn blkio(dir: &Path) -> Result<BlkioStats> {
    let mut stats = BlkioStats {
        io_service_bytes_recursive: Some(Vec::new()),
        io_serviced_recursive: Some(Vec::new()),
        io_queued_recursive: Some(Vec::new()),
        io_service_time_recursive: Some(Vec::new()),
        io_wait_time_recursive: Some(Vec::new()),
        io_merged_recursive: Some(Vec::new()),
        io_time_recursive: Some(Vec::new()),
        sectors_recursive: Some(Vec::new()),
    };
    if dir.join("blkio.io_serviced_recursive").exists() {
        let mut size = 0;
        for (name, slot) in CFQ_FILES {
            let entries = blkio_entries(&dir.join(format!("blkio.{name}")))?;
            size += entries.len();
            *slot_mut(&mut stats, *slot) = Some(entries);
        }
        if size > 0 {
            return Ok(stats);
        }
    }
    // Devices without CFQ (any modern multi-queue scheduler) are only counted here. The
    // `_recursive` files also count child cgroups; kernels before 4.x lack them.
    for (name, slot) in [("io_serviced", Slot::Serviced), ("io_service_bytes", Slot::ServiceBytes)]
    {
        let recursive = dir.join(format!("blkio.throttle.{name}_recursive"));
        let path =
            if recursive.exists() { recursive } else { dir.join(format!("blkio.throttle.{name}")) };
        *slot_mut(&mut stats, slot) = Some(blkio_entries(&path)?);
    }
    Ok(stats)
}

/// The list of `stats` that `slot` names.
fn slot_mut(stats: &mut BlkioStats, slot: Slot) -> &mut Option<Vec<BlkioStatEntry>> {
    match slot {
        Slot::ServiceBytes => &mut stats.io_service_bytes_recursive,
        Slot::Serviced => &mut stats.io_serviced_recursive,
        Slot::Queued => &mut stats.io_queued_recursive,
        Slot::ServiceTime => &mut stats.io_service_time_recursive,
        Slot::WaitTime => &mut stats.io_wait_time_recursive,
        Slot::Merged => &mut stats.io_merged_recursive,
        Slot::Time => &mut stats.io_time_recursive,
        Slot::Sectors => &mut stats.sectors_recursive,
    }
}

/// The `major:minor [op] value` lines of a blkio file, without the closing `Total n` line.
pub(super) fn blkio_entries(path: &Path) -> Result<Vec<BlkioStatEntry>> {
    let text = read_file(path)?;
    let mut entries = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split([' ', ':']).filter(|f| !f.is_empty()).collect();
        let (major, minor, op, value) = match fields.as_slice() {
            [] | ["Total", _] => continue,
            [major, minor, value] => (major, minor, "", value),
            [major, minor, op, value] => (major, minor, *op, value),
            _ => return Err(invalid_content(path, line)),
        };
        let number = |s: &str| s.parse::<u64>().map_err(|_| invalid_content(path, line));
        entries.push(BlkioStatEntry {
            major: number(major)?,
            minor: number(minor)?,
            op: op.to_owned(),
            value: number(value)?,
        });
    }
    Ok(entries)
}
