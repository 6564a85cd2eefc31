//! `cargo xtask soak`: mixed Engine API traffic and concurrent container lifecycles against a
//! real berthd (and its containerd) for a bounded time, over its unix socket only; afterwards
//! berthd's memory, descriptors and threads must be back where they were, and nothing it
//! created (containers, tasks, snapshots, shims, mounts, namespaces, veths, NAT rules, files)
//! may be left (issue 9).
//!
//! The run: start berthd on temporary roots, import the offline test images, run a short
//! warm-up round (so lazily built state and allocator pools exist), wait for idle and take the
//! baseline; round 1 (`--duration`), remove everything, wait for the counts to settle, sample;
//! round 2, the same load for a third of the time, sample again. Counts must equal the
//! baseline (descriptors and threads with a small slack); memory after round 1 is bounded
//! loosely against the idle baseline, and after round 2 tightly against round 1, steady state
//! against steady state. Every answer during the load is checked against what dockerd answers.
//! berthd is stopped, the bridge removed and the directory deleted whatever happens.

mod host;
mod measure;
mod stream;
mod traffic;

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use crate::diff::cleanup::Sweep;
use crate::e2e::Layout;
use crate::e2e::daemon::Daemon;
use crate::{bench, cmd, deps, e2e, testimage};
use host::HostGuard;
use measure::{Peaks, Subject};
use traffic::Tally;

const USAGE: &str = "\
usage: cargo xtask soak [--duration SECS] [--release] [--keep]

  --duration SECS  length of the first load round (default 300); a warm-up
                   round before it and a second round of a third of it after
  --release        soak a release build of berthd (default: debug)
  --keep           keep the temporary directory (berthd's log, data-root)
";

/// berthd's default bridge in a soak, apart from e2e's `berthe2e0` and a developer's `berth0`,
/// so a soak can run while they do.
const BRIDGE: &str = "berthsoak0";
/// Its address and subnet; the e2e suite uses 10.213.240–243, `diff` 245–246, the engine's
/// tests 246–247 and 250.
const BIP: &str = "10.213.248.1/24";
/// The warm-up round's label (in container names too).
const WARM_UP: &str = "w";
/// How often the peaks are read while the load runs.
const PEAK_EVERY: Duration = Duration::from_secs(1);
/// How long berthd gets to listen.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the daemon may take to become idle for the baseline.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long counts may take to come back after a round: containerd's garbage collection and
/// the kernel's deferred veth removal are asynchronous.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long berthd's containerd and shims may take to go after berthd exited.
const EXIT_TIMEOUT: Duration = Duration::from_secs(30);
/// `cargo xtask soak`'s first round.
const DEFAULT_DURATION: Duration = Duration::from_secs(300);
/// The CI step's first round: with the start, the warm-up, round 2 and the settling, the
/// step takes about two minutes (a debug berthd on two loaded cores).
const CI_DURATION: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
struct Options {
    duration: Duration,
    release: bool,
    keep: bool,
}

impl Options {
    /// A sixth of the first round, between 10 and 30 s.
    fn warm_up(&self) -> Duration {
        (self.duration / 6).clamp(Duration::from_secs(10), Duration::from_secs(30))
    }

    /// A third of the first round, at least 20 s.
    fn second_round(&self) -> Duration {
        (self.duration / 3).max(Duration::from_secs(20))
    }
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut options = Options { duration: DEFAULT_DURATION, release: false, keep: false };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--duration" => {
                let value = args.next().context("--duration needs a value")?;
                let seconds: u64 =
                    value.parse().with_context(|| format!("--duration {value:?}: not a number"))?;
                ensure!(seconds >= 10, "--duration must be at least 10 (seconds)");
                options.duration = Duration::from_secs(seconds);
            }
            "--release" => options.release = true,
            "--keep" => options.keep = true,
            other => bail!("unknown argument {other:?} for `cargo xtask soak`\n\n{USAGE}"),
        }
    }
    Ok(options)
}

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        print!("{USAGE}");
        return Ok(ExitCode::SUCCESS);
    }
    let options = parse_args(args)?;
    if !nix::unistd::geteuid().is_root() {
        bail!("cargo xtask soak runs berthd, containerd and containers, which need root");
    }
    deps::ensure_apt(deps::RUNTIME_APT_PACKAGES)?;
    // The offline test images are built from Debian's static busybox (`testimage.rs`).
    deps::ensure_apt(&["busybox-static"])?;
    deps::ensure_docker_cli()?;
    soak(&options)?;
    Ok(ExitCode::SUCCESS)
}

/// The CI step; returns how many checks passed.
pub(crate) fn ci() -> Result<usize> {
    soak(&Options { duration: CI_DURATION, release: false, keep: false })
}

/// PASS/FAIL per check, printed as they come in.
#[derive(Debug, Default)]
struct Checks {
    passed: usize,
    failed: Vec<String>,
}

impl Checks {
    fn record(&mut self, name: &str, result: Result<()>) {
        match result {
            Ok(()) => {
                println!("PASS {name}");
                self.passed += 1;
            }
            Err(err) => {
                let text = format!("{err:#}");
                println!("FAIL {name}\n    {}", text.replace('\n', "\n    "));
                self.failed.push(name.to_owned());
            }
        }
    }
}

fn soak(options: &Options) -> Result<usize> {
    let berthd = if options.release { bench::build_release()? } else { e2e::build_berthd()? };
    let tmp = tempfile::Builder::new()
        .prefix("berth-soak-")
        .tempdir()
        .context("creating a temporary directory")?;
    // berthd may canonicalize its roots; compare against the same spelling.
    let root = tmp.path().canonicalize().context("canonicalizing the temporary directory")?;
    let layout = Layout::create(&root)?;
    fs::write(&layout.config_file, format!("{{\"bridge\": \"{BRIDGE}\", \"bip\": \"{BIP}\"}}\n"))
        .with_context(|| format!("writing {}", layout.config_file.display()))?;
    println!(
        "soak: berthd {} in {}; warm-up {:?}, round 1 {:?}, round 2 {:?}",
        berthd.display(),
        root.display(),
        options.warm_up(),
        options.duration,
        options.second_round()
    );

    let tally = Tally::default();
    // Guards drop in reverse: berthd, the bridges and their NAT rules, whatever still runs or
    // is mounted under `root`; the directory goes last (or is kept).
    let sweep = Sweep { root: root.clone() };
    let host = HostGuard { bridge: BRIDGE, tally: &tally };
    let mut daemon = Daemon::start(&berthd, &layout)?;
    let mut checks = Checks::default();
    let outcome = load_and_measure(options, &layout, &mut daemon, &tally, &mut checks);
    let stopped = stop_cleanly(&mut daemon, &root);
    if let Err(err) = &outcome {
        println!("soak: stopped early: {err:#}");
    }
    checks.record("berthd stops on SIGTERM, its containerd, shims and mounts with it", stopped);
    if !checks.failed.is_empty() || outcome.is_err() {
        e2e::print_log_tail(&layout);
    }
    drop(daemon);
    drop(host);
    drop(sweep);
    e2e::finish_tempdir(tmp, options.keep, "soak")?;
    outcome?;
    println!("soak: {} passed, {} failed", checks.passed, checks.failed.len());
    if !checks.failed.is_empty() {
        bail!("soak checks failed: {}", checks.failed.join("; "));
    }
    Ok(checks.passed)
}

/// Everything between berthd's start and its stop. An `Err` is a run that could not be
/// measured; what was measured and found wrong goes to `checks`.
fn load_and_measure(
    options: &Options,
    layout: &Layout,
    daemon: &mut Daemon,
    tally: &Tally,
    checks: &mut Checks,
) -> Result<()> {
    daemon.wait_ready(READY_TIMEOUT)?;
    let berthd = daemon.pid().context("berthd is running")?;
    import_images(layout)?;
    let subject = Subject {
        root: &layout.root,
        data_root: &layout.data_root,
        exec_root: &layout.exec_root,
        berthd,
        bridge: BRIDGE,
    };

    let mut leftovers = Vec::new();
    let mut peaks = Peaks::default();
    let mut round = |label: &'static str, duration: Duration| -> Result<()> {
        let done = AtomicBool::new(false);
        let summary = thread::scope(|scope| {
            let watcher = scope.spawn(|| {
                let mut seen = Peaks::default();
                while !done.load(Ordering::Relaxed) {
                    seen.update(&subject);
                    thread::sleep(PEAK_EVERY);
                }
                seen
            });
            let summary = traffic::round(layout, label, duration, tally);
            done.store(true, Ordering::Relaxed);
            // The warm-up's peaks are not the soak's.
            match watcher.join() {
                Ok(seen) if label != WARM_UP => peaks.merge(&seen),
                Ok(_) => {}
                Err(_) => println!("soak: the peak watcher panicked; peaks are incomplete"),
            }
            summary
        });
        println!("soak: round {summary}");
        let left = traffic::reap(&layout.socket)?;
        if !left.is_empty() {
            leftovers.push(format!("after round {label}: {left}"));
        }
        Ok(())
    };

    round(WARM_UP, options.warm_up())?;
    let baseline = measure::idle(&subject, &tally.bridges(), IDLE_TIMEOUT)?;
    round("1", options.duration)?;
    let after1 = measure::settle(&subject, &tally.bridges(), &baseline, SETTLE_TIMEOUT)?;
    round("2", options.second_round())?;
    let after2 = measure::settle(&subject, &tally.bridges(), &baseline, SETTLE_TIMEOUT)?;

    let (table, verdicts) = measure::compare(&baseline, &peaks, &after1, &after2);
    println!(
        "\nsoak: berthd {}, {} HTTP requests and {} docker commands in all\n{table}",
        if options.release { "release" } else { "debug" },
        tally.requests(),
        tally.commands()
    );
    for verdict in verdicts {
        let result = match verdict.failure {
            None => Ok(()),
            Some(failure) => Err(anyhow::anyhow!(failure)),
        };
        checks.record(&format!("back to baseline: {}", verdict.name), result);
    }
    let failures = tally.failures();
    checks.record(
        "every answer under load is the one dockerd gives",
        if tally.failed() == 0 {
            Ok(())
        } else {
            Err(anyhow::anyhow!(
                "{} unexpected answers or failed commands; the first:\n{}",
                tally.failed(),
                failures.join("\n")
            ))
        },
    );
    checks.record(
        "the workers removed everything they created",
        if leftovers.is_empty() {
            Ok(())
        } else {
            Err(anyhow::anyhow!("{}", leftovers.join("\n")))
        },
    );
    checks.record("berthd logged no error", log_errors(&layout.log));
    Ok(())
}

/// Imports the offline test images (busybox, alpine) through berthd's API.
fn import_images(layout: &Layout) -> Result<()> {
    let work = layout.root.join("images");
    fs::create_dir(&work).with_context(|| format!("creating {}", work.display()))?;
    for imported in testimage::build_and_import(&work, &layout.socket)? {
        if let Err(err) = imported.result {
            bail!("importing {}: {err:#}", imported.reference);
        }
    }
    Ok(())
}

/// ERROR lines in berthd's log: the soak's load holds nothing an operator must act on.
fn log_errors(log: &Path) -> Result<()> {
    let text = fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    let errors: Vec<&str> = text.lines().filter(|line| line.contains(" ERROR ")).collect();
    ensure!(
        errors.is_empty(),
        "{} ERROR lines in {}; the first:\n{}",
        errors.len(),
        log.display(),
        errors.iter().take(10).copied().collect::<Vec<_>>().join("\n")
    );
    Ok(())
}

/// SIGTERM; berthd must exit 0 and take its containerd, the shims and every mount under the
/// run's directory with it.
fn stop_cleanly(daemon: &mut Daemon, root: &Path) -> Result<()> {
    daemon.shutdown()?;
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        let processes: Vec<String> = measure::processes_naming(root)
            .into_iter()
            .map(|pid| {
                let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                format!("{pid} {}", comm.trim())
            })
            .collect();
        let mounts = measure::mounts_under(root)?;
        if processes.is_empty() && mounts.is_empty() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!(
                "{EXIT_TIMEOUT:?} after berthd exited: processes {processes:?}, mounts {mounts:?}"
            );
        }
        thread::sleep(cmd::POLL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_parsed_and_strangers_refused() -> Result<()> {
        let options = parse_args(&[])?;
        assert_eq!(options.duration, DEFAULT_DURATION);
        assert!(!options.release && !options.keep);
        assert_eq!(options.warm_up(), Duration::from_secs(30));
        assert_eq!(options.second_round(), Duration::from_secs(100));
        let args: Vec<String> =
            ["--duration", "60", "--release", "--keep"].iter().map(|a| (*a).to_owned()).collect();
        let options = parse_args(&args)?;
        assert_eq!(options.duration, Duration::from_secs(60));
        assert!(options.release && options.keep);
        assert_eq!(options.warm_up(), Duration::from_secs(10));
        assert_eq!(options.second_round(), Duration::from_secs(20));
        assert!(parse_args(&["--duration".to_owned()]).is_err());
        assert!(parse_args(&["--duration".to_owned(), "5".to_owned()]).is_err());
        assert!(parse_args(&["--nope".to_owned()]).is_err());
        Ok(())
    }
}
