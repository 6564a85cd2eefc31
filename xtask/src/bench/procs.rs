//! What the kernel says about a daemon's processes: resident memory and
//! which child is its containerd.

use std::fs;

use anyhow::{Context, Result};

/// A process's resident set size in KiB (`VmRSS` in `/proc/<pid>/status`).
pub(crate) fn rss_kib(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    parse_vm_rss(&status).with_context(|| format!("/proc/{pid}/status has no VmRSS line"))
}

fn parse_vm_rss(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
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
        let status = "Name:\tberthd\nVmPeak:\t  90000 kB\nVmRSS:\t    8123 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss(status), Some(8123));
        assert_eq!(parse_vm_rss("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn stat_names_may_hold_parentheses() {
        assert_eq!(parse_stat("42 (a (b) c) S 7 42 42 0"), Some(("a (b) c", 7)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn our_own_rss_is_positive() -> Result<()> {
        assert!(rss_kib(std::process::id())? > 0);
        Ok(())
    }
}
