//! What the soak measures before and after the load, and the bounds it holds the numbers to.
//!
//! Every quantity is read from outside berthd: the kernel (`/proc`, `/sys`, mountinfo),
//! containerd itself (`ctr`), iptables and the file system, so a berthd that lost track of
//! something cannot hide it.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::host;
use crate::bench::procs;
use crate::cmd;
use crate::diff::cleanup;

/// How long one `ctr` call may take.
const TOOL_TIMEOUT: Duration = Duration::from_secs(20);
/// Pause between two samples while waiting for counts to settle.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);
/// Identical consecutive samples that make an idle baseline.
const STABLE_SAMPLES: usize = 3;
const MIB: u64 = 1024;
/// berthd's default containerd namespace (`berth_engine::NAMESPACE`; xtask does not depend on
/// the engine).
const NAMESPACE: &str = "berth";

/// Open descriptors berthd may hold beyond its baseline once the load has ended. Its idle set
/// (listeners, epoll, the gRPC connection to containerd, the log, netlink sockets) came back
/// exactly in every run; the slack is for descriptors whose life is not tied to the load: a
/// reconnecting gRPC channel overlapping its old connection, a file a background task has
/// open at the moment of the sample. A descriptor leaked per request, container or abandoned
/// stream shows as dozens to thousands after a round, far past it.
const FD_SLACK: u64 = 4;
/// Threads berthd may have beyond its baseline: tokio's blocking pool keeps an idle thread
/// for 10 s and a sample can land just before one exits; netns work runs on short-lived
/// threads of its own. The settle loop waits for them, the slack absorbs a straggler.
const THREAD_SLACK: u64 = 4;
/// containerd's descriptors beyond its baseline: its ttrpc connections to shims and its
/// event subscribers close asynchronously after a task is deleted.
const CONTAINERD_FD_SLACK: u64 = 8;

/// What the soak watches, and where.
#[derive(Debug)]
pub(super) struct Subject<'a> {
    /// The run's temporary directory: every process and mount of ours names a path under it.
    pub(super) root: &'a Path,
    pub(super) data_root: &'a Path,
    pub(super) exec_root: &'a Path,
    pub(super) berthd: u32,
    /// The default bridge device.
    pub(super) bridge: &'a str,
}

impl Subject<'_> {
    fn containerd_socket(&self) -> PathBuf {
        self.exec_root.join("containerd").join("containerd.sock")
    }
}

/// One reading of everything.
#[derive(Debug, Clone)]
pub(super) struct Sample {
    /// In [`QUANTITIES`] order.
    values: Vec<u64>,
    /// containerd's pid: a restarted containerd is a finding of its own.
    containerd: Option<u32>,
    /// Every path under data-root and exec-root.
    files: BTreeSet<String>,
}

/// How a quantity after the load must compare with its baseline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// Exactly the baseline: objects that exist or not.
    Equal,
    /// At most the baseline plus this much.
    Slack(u64),
    /// Resident memory in KiB. After round 1: at most the baseline plus the larger of `first`
    /// KiB and `first_percent` % of it; after round 2 (the same load again) at most round 1
    /// plus the larger of `steady` KiB and `steady_percent` %.
    Memory { first: u64, first_percent: u64, steady: u64, steady_percent: u64 },
    /// Shown, not bounded.
    Report,
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Q {
    BerthdFds,
    BerthdThreads,
    BerthdAnon,
    BerthdRss,
    ContainerdFds,
    ContainerdThreads,
    ContainerdRss,
    Containers,
    Tasks,
    Snapshots,
    Leases,
    Processes,
    Mounts,
    Netns,
    Veths,
    Bridges,
    NatRules,
    Files,
}

struct Quantity {
    q: Q,
    name: &'static str,
    limit: Limit,
    /// Read from `/proc`, `/sys` or mountinfo only: cheap enough to watch every second under
    /// load for the peak column.
    light: bool,
}

/// berthd's anonymous memory (heap, stacks). Allocator retention makes equality impossible:
/// glibc keeps freed chunks in per-thread arenas and returns only the top of each heap, so
/// the first heavy round leaves RSS above an idle baseline even without a leak (we saw up to
/// 0.9 MiB over baselines of 5 to 6.5 MiB). Round 1 is therefore bounded loosely (16 MiB or 25 %);
/// the leak check proper compares round 2 with round 1, steady state with steady state: the
/// same load again may add at most 2 MiB or 10 % (we saw at most 0.35 MiB). A leak of 1 KiB
/// per request adds about 3.5 MiB over the CI's round 2 (some 3 500 requests), more over the
/// longer default one.
const BERTHD_MEMORY: Limit =
    Limit::Memory { first: 16 * MIB, first_percent: 25, steady: 2 * MIB, steady_percent: 10 };
/// containerd is Go: its heap grows to the GC target before a collection and the runtime
/// returns pages lazily, so its bounds are wider (we saw it move by up to 1.5 MiB on 44 MiB);
/// they still catch state it would keep per container.
const CONTAINERD_MEMORY: Limit =
    Limit::Memory { first: 16 * MIB, first_percent: 30, steady: 8 * MIB, steady_percent: 10 };

const fn quantity(q: Q, name: &'static str, limit: Limit, light: bool) -> Quantity {
    Quantity { q, name, limit, light }
}

const QUANTITIES: [Quantity; 18] = [
    quantity(Q::BerthdFds, "berthd open files", Limit::Slack(FD_SLACK), true),
    quantity(Q::BerthdThreads, "berthd threads", Limit::Slack(THREAD_SLACK), true),
    quantity(Q::BerthdAnon, "berthd anonymous RSS (KiB)", BERTHD_MEMORY, true),
    quantity(Q::BerthdRss, "berthd RSS (KiB)", Limit::Report, true),
    quantity(Q::ContainerdFds, "containerd open files", Limit::Slack(CONTAINERD_FD_SLACK), true),
    quantity(Q::ContainerdThreads, "containerd threads", Limit::Report, true),
    quantity(Q::ContainerdRss, "containerd RSS (KiB)", CONTAINERD_MEMORY, true),
    quantity(Q::Containers, "containerd containers", Limit::Equal, false),
    quantity(Q::Tasks, "containerd tasks", Limit::Equal, false),
    quantity(Q::Snapshots, "containerd snapshots", Limit::Equal, false),
    quantity(Q::Leases, "containerd leases", Limit::Equal, false),
    quantity(Q::Processes, "processes naming the run's root", Limit::Equal, true),
    quantity(Q::Mounts, "mounts under the run's root", Limit::Equal, true),
    quantity(Q::Netns, "network namespaces (exec-root/netns)", Limit::Equal, true),
    quantity(Q::Veths, "veths on the default bridge", Limit::Equal, true),
    quantity(Q::Bridges, "bridges of removed networks", Limit::Equal, false),
    quantity(Q::NatRules, "NAT rules naming the soak's bridges", Limit::Equal, false),
    quantity(Q::Files, "files under data-root and exec-root", Limit::Equal, false),
];

/// Reads quantities, each at most once per sample.
struct Reader<'a> {
    subject: &'a Subject<'a>,
    /// The devices of the networks created so far.
    bridges: &'a [String],
    containerd: Option<u32>,
    files: Option<BTreeSet<String>>,
}

impl<'a> Reader<'a> {
    fn new(subject: &'a Subject<'a>, bridges: &'a [String]) -> Reader<'a> {
        let containerd = procs::child_named(subject.berthd, "containerd");
        Reader { subject, bridges, containerd, files: None }
    }

    fn read(&mut self, q: Q) -> Result<u64> {
        let subject = self.subject;
        let berthd = subject.berthd;
        let containerd = self.containerd;
        let ctr = |args: &[&str]| ctr_lines(subject, args);
        Ok(match q {
            Q::BerthdFds => fd_count(berthd)?,
            Q::BerthdThreads => threads(berthd)?,
            Q::BerthdAnon => procs::rss_anon_kib(berthd)?,
            Q::BerthdRss => procs::rss_kib(berthd)?,
            Q::ContainerdFds => containerd.map(fd_count).transpose()?.unwrap_or(0),
            Q::ContainerdThreads => containerd.map(threads).transpose()?.unwrap_or(0),
            Q::ContainerdRss => containerd.map(procs::rss_kib).transpose()?.unwrap_or(0),
            Q::Containers => ctr(&["containers", "ls", "-q"])?,
            Q::Tasks => ctr(&["tasks", "ls", "-q"])?,
            // `snapshots ls` has no -q: its first line is a header.
            Q::Snapshots => ctr(&["snapshots", "ls"])?.saturating_sub(1),
            Q::Leases => ctr(&["leases", "ls", "-q"])?,
            Q::Processes => count(processes_naming(subject.root)),
            Q::Mounts => count(mounts_under(subject.root)?),
            Q::Netns => entries(&subject.exec_root.join("netns"))?,
            Q::Veths => entries(&Path::new("/sys/class/net").join(subject.bridge).join("brif"))?,
            Q::Bridges => count(
                self.bridges.iter().filter(|name| Path::new("/sys/class/net").join(name).exists()),
            ),
            Q::NatRules => {
                let mut ours = vec![subject.bridge.to_owned()];
                ours.extend(self.bridges.iter().cloned());
                count(host::nat_rules_naming(&ours)?)
            }
            Q::Files => {
                let files = files_under(&[
                    ("data-root", subject.data_root),
                    ("exec-root", subject.exec_root),
                ])?;
                let n = count(files.iter());
                self.files = Some(files);
                n
            }
        })
    }
}

/// Reads everything once. `bridges` are the devices of the networks created so far.
pub(super) fn sample(subject: &Subject<'_>, bridges: &[String]) -> Result<Sample> {
    collect_garbage(subject)?;
    let mut reader = Reader::new(subject, bridges);
    let values = QUANTITIES.iter().map(|q| reader.read(q.q)).collect::<Result<Vec<_>>>()?;
    Ok(Sample { values, containerd: reader.containerd, files: reader.files.unwrap_or_default() })
}

/// The highest value of each light quantity seen while the load ran.
#[derive(Debug, Clone, Default)]
pub(super) struct Peaks {
    /// In [`QUANTITIES`] order; `None` for those not watched.
    values: Vec<Option<u64>>,
}

impl Peaks {
    /// Reads the light quantities once and keeps the highest values. A read that fails
    /// (a process that just exited) is skipped: peaks are shown, not judged.
    pub(super) fn update(&mut self, subject: &Subject<'_>) {
        let mut reader = Reader::new(subject, &[]);
        let values =
            QUANTITIES.iter().map(|q| if q.light { reader.read(q.q).ok() } else { None }).collect();
        self.merge(&Peaks { values });
    }

    /// Keeps the higher of each value.
    pub(super) fn merge(&mut self, other: &Peaks) {
        if self.values.is_empty() {
            self.values = other.values.clone();
        } else {
            for (peak, value) in self.values.iter_mut().zip(&other.values) {
                *peak = (*peak).max(*value);
            }
        }
    }

    fn get(&self, index: usize) -> Option<u64> {
        self.values.get(index).copied().flatten()
    }
}

/// Waits for an idle daemon: no containers, tasks or veths, and [`STABLE_SAMPLES`]
/// consecutive samples alike but for memory. The last sample is the baseline.
pub(super) fn idle(subject: &Subject<'_>, bridges: &[String], timeout: Duration) -> Result<Sample> {
    let deadline = Instant::now() + timeout;
    let mut alike: Vec<Sample> = Vec::new();
    loop {
        let sample = sample(subject, bridges)?;
        let empty = [Q::Containers, Q::Tasks, Q::Veths].iter().all(|&q| sample.value(q) == 0);
        if !empty || alike.last().is_some_and(|last| !last.same_counts(&sample)) {
            alike.clear();
        }
        if empty {
            alike.push(sample);
        }
        if alike.len() >= STABLE_SAMPLES {
            return Ok(alike.pop().expect("STABLE_SAMPLES is at least 1"));
        }
        if Instant::now() >= deadline {
            bail!("berthd did not become idle within {timeout:?}");
        }
        thread::sleep(SAMPLE_EVERY);
    }
}

/// Samples until every bounded count is back within its limit of `baseline`, or `timeout`
/// passes; the last sample either way (the comparison reports what is off).
pub(super) fn settle(
    subject: &Subject<'_>,
    bridges: &[String],
    baseline: &Sample,
    timeout: Duration,
) -> Result<Sample> {
    let started = Instant::now();
    loop {
        let sample = sample(subject, bridges)?;
        if sample.counts_within(baseline) {
            println!("soak: settled after {:.1?}", started.elapsed());
            return Ok(sample);
        }
        if started.elapsed() >= timeout {
            println!("soak: not settled after {timeout:?}; comparing what is there");
            return Ok(sample);
        }
        thread::sleep(SAMPLE_EVERY);
    }
}

impl Sample {
    fn value(&self, q: Q) -> u64 {
        QUANTITIES.iter().position(|quantity| quantity.q == q).map_or(0, |i| self.values[i])
    }

    /// Alike but for memory, which moves on its own.
    fn same_counts(&self, other: &Sample) -> bool {
        QUANTITIES
            .iter()
            .zip(self.values.iter().zip(&other.values))
            .filter(|(q, _)| !matches!(q.limit, Limit::Memory { .. } | Limit::Report))
            .all(|(_, (a, b))| a == b)
            && self.files == other.files
    }

    /// Every count (not memory) within its limit of `baseline`.
    fn counts_within(&self, baseline: &Sample) -> bool {
        self.containerd == baseline.containerd
            && self.files == baseline.files
            && QUANTITIES.iter().zip(self.values.iter().zip(&baseline.values)).all(
                |(q, (&v, &b))| match q.limit {
                    Limit::Equal => v == b,
                    Limit::Slack(slack) => v <= b + slack,
                    Limit::Memory { .. } | Limit::Report => true,
                },
            )
    }
}

/// One line of the verdict: a quantity that is off, or the memory it grew by.
#[derive(Debug)]
pub(super) struct Verdict {
    pub(super) name: String,
    pub(super) failure: Option<String>,
}

/// The table (baseline, peak under load, after each round, delta from the baseline, limit)
/// and a verdict per bounded quantity.
pub(super) fn compare(
    baseline: &Sample,
    peaks: &Peaks,
    round1: &Sample,
    round2: &Sample,
) -> (String, Vec<Verdict>) {
    let mut table = format!(
        "{:<40} {:>10} {:>10} {:>10} {:>10} {:>8}  {}\n",
        "quantity", "baseline", "peak", "round 1", "round 2", "delta", "limit"
    );
    let mut verdicts = Vec::new();
    for (i, quantity) in QUANTITIES.iter().enumerate() {
        let (b, r1, r2) = (baseline.values[i], round1.values[i], round2.values[i]);
        let delta = i128::from(r2) - i128::from(b);
        let (limit, mut failure) = judge(quantity.limit, b, r1, r2);
        if quantity.q == Q::Files {
            // The same number of files may still be other files.
            let changed = [round1, round2].iter().any(|r| r.files != baseline.files);
            failure = changed.then(|| file_changes(baseline, [round1, round2]));
        }
        let mark = match (&failure, quantity.limit) {
            (_, Limit::Report) => "",
            (None, _) => "ok",
            (Some(_), _) => "FAIL",
        };
        let peak = peaks.get(i).map_or_else(|| "-".to_owned(), |peak| peak.to_string());
        table.push_str(&format!(
            "{:<40} {b:>10} {peak:>10} {r1:>10} {r2:>10} {delta:>+8}  {limit} {mark}\n",
            quantity.name
        ));
        if quantity.limit == Limit::Report {
            continue;
        }
        verdicts.push(Verdict { name: quantity.name.to_owned(), failure });
    }
    let restarted = [round1, round2].iter().any(|r| r.containerd != baseline.containerd);
    verdicts.push(Verdict {
        name: "containerd kept running (same pid)".to_owned(),
        failure: restarted.then(|| {
            format!(
                "containerd's pid was {:?}, then {:?} and {:?}",
                baseline.containerd, round1.containerd, round2.containerd
            )
        }),
    });
    (table, verdicts)
}

/// The limit as text, and why the values break it (if they do).
fn judge(limit: Limit, b: u64, r1: u64, r2: u64) -> (String, Option<String>) {
    match limit {
        Limit::Equal => {
            let failure =
                (r1 != b || r2 != b).then(|| format!("{r1} and {r2} after the rounds, {b} before"));
            ("= baseline".to_owned(), failure)
        }
        Limit::Slack(slack) => {
            let max = b + slack;
            let failure = (r1 > max || r2 > max)
                .then(|| format!("{r1} and {r2} after the rounds, more than {b} + {slack}"));
            (format!("≤ baseline + {slack}"), failure)
        }
        Limit::Memory { first, first_percent, steady, steady_percent } => {
            let first_max = b + first.max(b * first_percent / 100);
            let steady_max = r1 + steady.max(r1 * steady_percent / 100);
            let failure = if r1 > first_max {
                Some(format!(
                    "{r1} KiB after round 1, {} KiB over the baseline {b} KiB (limit {} KiB)",
                    r1 - b,
                    first_max - b
                ))
            } else if r2 > steady_max {
                Some(format!(
                    "{r2} KiB after round 2, {} KiB over round 1's {r1} KiB (limit {} KiB)",
                    r2 - r1,
                    steady_max - r1
                ))
            } else {
                None
            };
            (
                format!(
                    "round 1 ≤ baseline + max({first} KiB, {first_percent} %), round 2 ≤ round 1 + max({steady} KiB, {steady_percent} %)"
                ),
                failure,
            )
        }
        Limit::Report => ("(shown only)".to_owned(), None),
    }
}

/// Paths that appeared or went missing, at most ten of each.
fn file_changes(baseline: &Sample, after: [&Sample; 2]) -> String {
    let mut added = BTreeSet::new();
    let mut missing = BTreeSet::new();
    for sample in after {
        added.extend(sample.files.difference(&baseline.files).cloned());
        missing.extend(baseline.files.difference(&sample.files).cloned());
    }
    let first =
        |set: &BTreeSet<String>| set.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    format!(
        "new: [{}] ({}); gone: [{}] ({})",
        first(&added),
        added.len(),
        first(&missing),
        missing.len()
    )
}

fn count<T>(items: impl IntoIterator<Item = T>) -> u64 {
    u64::try_from(items.into_iter().count()).unwrap_or(u64::MAX)
}

fn fd_count(pid: u32) -> Result<u64> {
    entries(Path::new(&format!("/proc/{pid}/fd")))
}

/// Entries of a directory; 0 if it does not exist.
fn entries(dir: &Path) -> Result<u64> {
    match fs::read_dir(dir) {
        Ok(read) => Ok(count(read)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(err) => Err(err).with_context(|| format!("reading {}", dir.display())),
    }
}

fn threads(pid: u32) -> Result<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .with_context(|| format!("/proc/{pid}/status has no Threads line"))
}

/// Lines `ctr <args>` prints against the soak's containerd, in berthd's namespace.
fn ctr_lines(subject: &Subject<'_>, args: &[&str]) -> Result<u64> {
    let mut command = Command::new("ctr");
    command
        .arg("--address")
        .arg(subject.containerd_socket())
        .args(["--namespace", NAMESPACE])
        .args(args);
    let out = cmd::capture(&mut command, TOOL_TIMEOUT)?;
    if !out.success() {
        bail!("{}", out.describe());
    }
    Ok(count(out.stdout.lines().filter(|line| !line.trim().is_empty())))
}

/// Runs containerd's garbage collection now. containerd removes a deleted snapshot's
/// directory only when its collector runs, which it schedules after a number of mutations,
/// not after a delay; without this the directories of the last containers removed would come
/// and go between samples. What the collector removes is by definition unreferenced: state
/// berthd still holds (a container, a snapshot, a lease) survives it and is counted.
fn collect_garbage(subject: &Subject<'_>) -> Result<()> {
    const LEASE: &str = "berth-soak-gc";
    // Deleting a lease with --sync is ctr's way to ask for a collection and wait for it.
    for args in [
        &["leases", "create", "--id", LEASE, "--expires", "1m"][..],
        &["leases", "delete", "--sync", LEASE],
    ] {
        ctr_lines(subject, args)?;
    }
    Ok(())
}

/// Our processes: those whose command line names the run's directory (berthd, containerd,
/// shims), as `diff::cleanup` finds them.
pub(super) fn processes_naming(root: &Path) -> Vec<i32> {
    cleanup::processes_mentioning(root)
}

/// Mount points at or under `root` in this process's mount namespace.
pub(super) fn mounts_under(root: &Path) -> Result<Vec<PathBuf>> {
    let mountinfo =
        fs::read_to_string("/proc/self/mountinfo").context("reading /proc/self/mountinfo")?;
    Ok(mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        // mountinfo escapes space, tab, newline and backslash; our paths hold none of them.
        .map(PathBuf::from)
        .filter(|point| point.starts_with(root))
        .collect())
}

/// Every path under the given roots, relative and prefixed with the root's label. Other file
/// systems mounted inside (a running container's rootfs, netns files) are listed, not entered.
fn files_under(roots: &[(&str, &Path)]) -> Result<BTreeSet<String>> {
    let mut files = BTreeSet::new();
    for &(label, root) in roots {
        let device = match fs::symlink_metadata(root) {
            Ok(meta) => meta.dev(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err).with_context(|| format!("stat {}", root.display())),
        };
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            let read = match fs::read_dir(&dir) {
                Ok(read) => read,
                // Removed between listing and reading: it is simply not there.
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err).with_context(|| format!("reading {}", dir.display())),
            };
            for entry in read {
                let Ok(entry) = entry else { continue };
                let path = entry.path();
                let relative = path.strip_prefix(root).unwrap_or(&path);
                files.insert(format!("{label}/{}", relative.display()));
                if let Ok(meta) = fs::symlink_metadata(&path)
                    && meta.is_dir()
                    && meta.dev() == device
                {
                    pending.push(path);
                }
            }
        }
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_and_slack_limits_hold_both_rounds() {
        assert!(judge(Limit::Equal, 3, 3, 3).1.is_none());
        assert!(judge(Limit::Equal, 3, 3, 4).1.is_some());
        assert!(judge(Limit::Equal, 3, 2, 3).1.is_some());
        assert!(judge(Limit::Slack(4), 30, 34, 31).1.is_none());
        assert!(judge(Limit::Slack(4), 30, 30, 35).1.is_some());
        assert!(judge(Limit::Slack(4), 30, 20, 20).1.is_none());
    }

    #[test]
    fn memory_is_bounded_loosely_after_round_one_and_tightly_after_round_two() {
        let limit = BERTHD_MEMORY;
        // 100 MiB baseline: round 1 may add 25 MiB (more than 16), round 2 10 % of round 1's
        // 125 MiB (more than 2 MiB).
        let b = 100 * MIB;
        assert!(judge(limit, b, b + 25 * MIB, b + 25 * MIB + 12_800).1.is_none());
        assert!(judge(limit, b, b + 25 * MIB, b + 25 * MIB + 12_801).1.is_some());
        assert!(judge(limit, b, b + 26 * MIB, b + 26 * MIB).1.is_some());
        // 10 MiB baseline: the fixed 16 MiB apply, and 2 MiB over an 18 MiB round 1.
        let b = 10 * MIB;
        assert!(judge(limit, b, b + 16 * MIB, b + 16 * MIB).1.is_none());
        assert!(judge(limit, b, b + 16 * MIB + 1, b + 16 * MIB).1.is_some());
        assert!(judge(limit, b, b + 8 * MIB, b + 10 * MIB).1.is_none());
        assert!(judge(limit, b, b + 8 * MIB, b + 10 * MIB + 1).1.is_some());
        // Shrinking is fine.
        assert!(judge(limit, b, b - MIB, b - 2 * MIB).1.is_none());
    }

    #[test]
    fn files_are_listed_relative_to_their_labelled_root() -> Result<()> {
        let dir = tempfile::tempdir()?;
        fs::create_dir_all(dir.path().join("a/b"))?;
        fs::write(dir.path().join("a/b/f"), "")?;
        std::os::unix::fs::symlink("/", dir.path().join("link"))?;
        let files = files_under(&[("data-root", dir.path())])?;
        let want: BTreeSet<String> =
            ["data-root/a", "data-root/a/b", "data-root/a/b/f", "data-root/link"]
                .into_iter()
                .map(str::to_owned)
                .collect();
        assert_eq!(files, want);
        assert!(files_under(&[("x", &dir.path().join("missing"))])?.is_empty());
        Ok(())
    }

    #[test]
    fn a_changed_file_set_is_named_in_the_verdict() {
        let sample = |files: &[&str]| Sample {
            values: vec![0; QUANTITIES.len()],
            containerd: Some(1),
            files: files.iter().map(|f| (*f).to_owned()).collect(),
        };
        let baseline = sample(&["data-root/a"]);
        let after = sample(&["data-root/a", "exec-root/leak"]);
        let (table, verdicts) = compare(&baseline, &Peaks::default(), &baseline, &after);
        assert!(table.contains("FAIL"), "{table}");
        let files = verdicts
            .iter()
            .find(|v| v.name == "files under data-root and exec-root")
            .expect("a verdict on files");
        let failure = files.failure.as_deref().expect("a failure");
        assert!(failure.contains("exec-root/leak"), "{failure}");
        assert!(verdicts.iter().filter(|v| v.failure.is_some()).count() == 1, "{verdicts:?}");
    }
}
