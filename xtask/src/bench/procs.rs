//! What the kernel says about a daemon's processes: resident memory, CPU
//! time, and which child is its containerd.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result};

/// A process's resident set size in KiB (`VmRSS` in `/proc/<pid>/status`).
pub(crate) fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_rss(&status).with_context(|| format!("/proc/{pid}/status has no VmRSS line"))
}

/// The anonymous part of a process's resident set in KiB (`RssAnon`): its
/// heap and stacks, without the pages of its binary and libraries, which
/// the page cache shares and can drop.
pub(crate) fn rss_anon_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_kib(&status, "RssAnon:")
        .with_context(|| format!("/proc/{pid}/status has no RssAnon line"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    parse_kib(status, "VmRSS:")
}

fn parse_kib(status: &str, field: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(field))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|kib| kib.trim().parse().ok())
}

/// The child of `parent` whose command name is `comm` (the first, if several).
pub(crate) fn child_named(parent: u32, comm: &str) -> Option<u32> {
    let entries = fs::read_dir("/proc").ok()?;
    entries.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok()).find(|pid| {
        fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
            parse_stat(&stat).is_some_and(|(name, ppid)| name == comm && ppid == parent)
        })
    })
}

/// CPU time a process has used (user and system), with that of the
/// children it has reaped (dockerd reaps the `runc --version` it forks for
/// `/info`; this process reaps oha): fields 14 to 17 of `/proc/<pid>/stat`.
pub(crate) fn cpu_time(pid: u32) -> Result<Duration> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let ticks =
        parse_cpu_ticks(&stat).with_context(|| format!("/proc/{pid}/stat is not a stat line"))?;
    Ok(ticks_to_duration(ticks))
}

/// The CPU time of this process's reaped children (`cutime` + `cstime`).
pub(crate) fn children_cpu_time() -> Result<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").context("reading /proc/self/stat")?;
    let ticks = parse_children_ticks(&stat).context("/proc/self/stat is not a stat line")?;
    Ok(ticks_to_duration(ticks))
}

/// The fields after the parenthesised command name, the first being the state (field 3).
fn fields_after_name(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat.get(close + 1..)?.split_whitespace().collect())
}

/// Fields 14 to 17 (utime, stime, cutime, cstime), summed, in clock ticks.
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let fields = fields_after_name(stat)?;
    (11..15).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

/// Fields 16 and 17 (cutime, cstime), summed, in clock ticks.
fn parse_children_ticks(stat: &str) -> Option<u64> {
    let fields = fields_after_name(stat)?;
    (13..15).map(|i| fields.get(i)?.parse::<u64>().ok()).sum()
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // USER_HZ: what /proc counts in; 100 on every Linux architecture Berth runs on.
    let per_second = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .and_then(|hz| u64::try_from(hz).ok())
        .filter(|&hz| hz > 0)
        .unwrap_or(100);
    Duration::from_secs(ticks / per_second)
        + Duration::from_secs(ticks % per_second) / u32::try_from(per_second).unwrap_or(100)
}

/// The command name and parent pid from a `/proc/<pid>/stat` line; the name
/// sits in parentheses and may itself hold spaces or parentheses.
fn parse_stat(stat: &str) -> Option<(&str, u32)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let _state = rest.next()?;
    let ppid = rest.next()?.parse().ok()?;
    Some((name, ppid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_in_kib() {
        let status = "Name:\tberthd\nVmPeak:\t  90000 kB\nVmRSS:\t    8123 kB\n\
                      RssAnon:\t    1500 kB\nRssFile:\t    6623 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(8123));
        assert_eq!(parse_kib(status, "RssAnon:"), Some(1500));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn stat_names_may_hold_parentheses() {
        assert_eq!(parse_stat("42 (a (b) c) S 7 42 42 0"), Some(("a (b) c", 7)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn cpu_ticks_are_utime_stime_cutime_cstime() {
        // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt
        // utime stime cutime cstime priority …
        let stat = "42 (a) b) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 7 3 20 0 1 0";
        assert_eq!(parse_cpu_ticks(stat), Some(310));
        assert_eq!(parse_children_ticks(stat), Some(10));
        assert_eq!(parse_cpu_ticks("42 (a) S 1 2 3"), None);
    }

    #[test]
    fn ticks_become_a_duration() {
        let hz = u64::try_from(
            nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok().flatten().unwrap_or(100),
        )
        .expect("a positive CLK_TCK");
        assert_eq!(ticks_to_duration(hz * 3), Duration::from_secs(3));
        assert_eq!(ticks_to_duration(hz / 2), Duration::from_millis(500));
    }

    #[test]
    fn our_own_rss_is_positive() -> Result<()> {
        assert!(rss_kib(std::process::id())? > 0);
        Ok(())
    }
}
