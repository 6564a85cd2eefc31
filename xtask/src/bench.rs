//! `cargo xtask bench`: berthd (release) and a real dockerd side by side on
//! one machine, under the same HTTP load, with their memory and start-up
//! time; the numbers go to stdout and to `docs/benchmarks.md` (issue 8).
//!
//! Both daemons run at once on their own sockets and roots under one
//! temporary directory, and each load cell runs against one right after the
//! other (alternating which goes first), so noise hits both alike. Guards
//! stop everything, mounts included, whatever happens. Never run this in CI.

mod ceiling;
mod oha;
mod procs;
mod report;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;

use crate::diff::cleanup::Sweep;
use crate::diff::client::{Client, Outgoing};
use crate::diff::dockerd::{self, Dockerd, DockerdLayout};
use crate::e2e::Layout;
use crate::e2e::daemon::Daemon;
use crate::{cmd, deps};
use ceiling::CeilingProcess;
use oha::Load;
use report::{Memory, Results, Row};

/// The endpoints under load, as the docker CLI would ask them.
const ENDPOINTS: &[&str] =
    &["/_ping", "/version", "/info", "/containers/json?all=1", "/images/json"];
const CONCURRENCIES: &[u32] = &[1, 32];
/// dockerd starts containerd and loads its state before it answers.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often start-up polls `/_ping`: fine enough to time a fast start.
const PING_POLL: Duration = Duration::from_millis(5);
/// Lets start-up work (containerd's plugins, first allocations) settle
/// before the idle memory is read.
const SETTLE: Duration = Duration::from_secs(2);

const USAGE: &str = "\
usage: cargo xtask bench [--seconds N] [--no-doc]

  --seconds N   how long each load cell runs (default 3)
  --no-doc      do not rewrite docs/benchmarks.md
";

#[derive(Debug)]
struct Options {
    duration: Duration,
    write_doc: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut options = Options { duration: Duration::from_secs(3), write_doc: true };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a value")?;
                let seconds: u64 =
                    value.parse().with_context(|| format!("--seconds {value:?}: not a number"))?;
                if seconds == 0 {
                    bail!("--seconds must be at least 1");
                }
                options.duration = Duration::from_secs(seconds);
            }
            "--no-doc" => options.write_doc = false,
            other => bail!("unknown argument {other:?} for `cargo xtask bench`\n\n{USAGE}"),
        }
    }
    Ok(options)
}

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    if let [flag, socket] = args
        && flag == "--serve-ceiling"
    {
        ceiling::serve_forever(Path::new(socket))?;
        return Ok(ExitCode::SUCCESS);
    }
    let options = parse_args(args)?;
    if !nix::unistd::geteuid().is_root() {
        bail!("cargo xtask bench runs dockerd and containerd, which need root");
    }
    deps::ensure_apt(&[dockerd::PACKAGE])?;
    deps::ensure_apt(deps::RUNTIME_APT_PACKAGES)?;
    let oha = oha::ensure()?;
    let berthd = build_release()?;
    let xtask = ceiling::build_release()?;

    let tmp = tempfile::Builder::new()
        .prefix("berth-bench-")
        .tempdir()
        .context("creating a temporary directory")?;
    let root = tmp.path().canonicalize().context("canonicalizing the temporary directory")?;
    println!("bench: dockerd and berthd under {}", root.display());
    let client = Client::new()?;

    // Guards drop in reverse: the ceiling, berthd, dockerd (and its
    // containerd, mounts), then anything left under `root`, then the directory.
    let sweep = Sweep { root: root.clone() };
    let dockerd_layout = DockerdLayout::create(&root.join("dockerd"))?;
    let started = Instant::now();
    let mut dockerd = Dockerd::start(&dockerd_layout)?;
    let dockerd_startup = match wait_ping(&client, &dockerd_layout.socket, started) {
        Some(elapsed) => elapsed,
        // Its own wait says why, with the log's tail.
        None => {
            dockerd.wait_ready(&client, Duration::ZERO)?;
            bail!("dockerd did not answer /_ping within {READY_TIMEOUT:?}")
        }
    };
    dockerd.wait_ready(&client, READY_TIMEOUT)?;
    let dockerd_pid = crate::e2e::daemon::read_pidfile(&dockerd_layout.pidfile)?;

    let berthd_root = root.join("berthd");
    fs::create_dir(&berthd_root).with_context(|| format!("creating {}", berthd_root.display()))?;
    let layout = Layout::create(&berthd_root)?;
    let started = Instant::now();
    let mut daemon = Daemon::start(&berthd, &layout)?;
    let berthd_startup = wait_ping(&client, &layout.socket, started);
    daemon.wait_ready(READY_TIMEOUT)?;
    let berthd_startup = berthd_startup.context("berthd did not answer /_ping")?;
    let berthd_pid = daemon.pid().context("berthd is running")?;

    let ceiling = CeilingProcess::start(&xtask, &root.join("ceiling.sock"))?;

    thread::sleep(SETTLE);
    let berthd_idle = memory(berthd_pid)?;
    let dockerd_idle = memory(dockerd_pid)?;

    let mut rows = Vec::new();
    for &path in ENDPOINTS {
        for &concurrency in CONCURRENCIES {
            let cell = |socket: &Path, who: &str| -> Result<Load> {
                let load = oha::run(&oha, socket, path, concurrency, options.duration)
                    .with_context(|| format!("loading {who} with {path} at c={concurrency}"))?;
                println!(
                    "{path:<24} c={concurrency:<3} {who:<8} {:>9.0} req/s  p50 {:>9.1?}  p99 {:>9.1?}  failed {}",
                    load.rps,
                    load.p50.unwrap_or_default(),
                    load.p99.unwrap_or_default(),
                    load.failed
                );
                Ok(load)
            };
            // Alternate who goes first, so neither always meets a warmer machine.
            let (berthd_load, dockerd_load) = if rows.len() % 2 == 0 {
                let b = cell(&layout.socket, "berthd")?;
                (b, cell(&dockerd_layout.socket, "dockerd")?)
            } else {
                let d = cell(&dockerd_layout.socket, "dockerd")?;
                (cell(&layout.socket, "berthd")?, d)
            };
            let ceiling_load =
                if path == "/_ping" { Some(cell(ceiling.socket(), "hyper")?) } else { None };
            rows.push(Row {
                path,
                concurrency,
                berthd: berthd_load,
                dockerd: dockerd_load,
                ceiling: ceiling_load,
            });
        }
    }
    let berthd_loaded = memory(berthd_pid)?;
    let dockerd_loaded = memory(dockerd_pid)?;
    let berthd_version = daemon_version(&client, &layout.socket);
    let dockerd_version = daemon_version(&client, &dockerd_layout.socket);

    drop(ceiling);
    if let Err(err) = daemon.shutdown() {
        println!("warning: berthd did not shut down cleanly: {err:#}");
    }
    drop(daemon);
    // berthd keeps its bridge (as dockerd keeps docker0); the test run's own goes now.
    crate::e2e::remove_bridge(crate::e2e::E2E_BRIDGE);
    drop(dockerd);
    drop(sweep);
    tmp.close().with_context(|| format!("removing {}", root.display()))?;

    let results = Results {
        machine: machine(),
        tools: tools(&oha),
        duration: options.duration,
        rows,
        berthd: report::Daemon {
            version: berthd_version,
            startup: berthd_startup,
            idle: berthd_idle,
            loaded: berthd_loaded,
        },
        dockerd: report::Daemon {
            version: dockerd_version,
            startup: dockerd_startup,
            idle: dockerd_idle,
            loaded: dockerd_loaded,
        },
    };
    let doc = report::markdown(&results);
    print!("{doc}");
    if options.write_doc {
        let path = cmd::project_root().join(report::DOC_PATH);
        fs::write(&path, &doc).with_context(|| format!("writing {}", path.display()))?;
        println!("bench: wrote {}", report::DOC_PATH);
    }
    Ok(ExitCode::SUCCESS)
}

/// Builds berthd with the release profile and returns the binary's path.
fn build_release() -> Result<PathBuf> {
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "berth-daemon",
        "--bin",
        "berthd",
    ]))?;
    let binary = crate::target_dir()?.join("release").join("berthd");
    if !binary.is_file() {
        bail!("cargo build succeeded but {} is missing", binary.display());
    }
    Ok(binary)
}

/// Polls `GET /_ping` on `socket` until it answers 200; the time since
/// `started`, or `None` after [`READY_TIMEOUT`].
fn wait_ping(client: &Client, socket: &Path, started: Instant) -> Option<Duration> {
    let ping = Outgoing { method: "GET", path: "/_ping", headers: &[], body: Bytes::new() };
    while started.elapsed() < READY_TIMEOUT {
        if socket.exists()
            && let Ok(answer) = client.send(socket, &ping)
            && answer.status == 200
        {
            return Some(started.elapsed());
        }
        thread::sleep(PING_POLL);
    }
    None
}

/// The daemon's and its containerd's resident memory.
fn memory(daemon: u32) -> Result<Memory> {
    let containerd = procs::child_named(daemon, "containerd");
    if containerd.is_none() {
        println!("warning: no containerd child of pid {daemon}");
    }
    Ok(Memory {
        daemon: procs::rss_kib(daemon)?,
        containerd: containerd.map(procs::rss_kib).transpose()?,
    })
}

/// `Version` and `ApiVersion` from the daemon's `/version`, or why not.
fn daemon_version(client: &Client, socket: &Path) -> String {
    let request = Outgoing { method: "GET", path: "/version", headers: &[], body: Bytes::new() };
    let answer = match client.send(socket, &request) {
        Ok(answer) => answer,
        Err(err) => return format!("unknown ({err:#})"),
    };
    match serde_json::from_slice::<serde_json::Value>(&answer.body) {
        Ok(json) => format!(
            "{} (API {})",
            json["Version"].as_str().unwrap_or("?"),
            json["ApiVersion"].as_str().unwrap_or("?")
        ),
        Err(err) => format!("unknown (/version answered {}: {err})", answer.status),
    }
}

/// CPUs, memory and kernel, as one Markdown list.
fn machine() -> String {
    let line = |command: &mut Command| {
        cmd::stdout(command)
            .map_or_else(|err| format!("unknown ({err:#})"), |s| s.trim().to_owned())
    };
    let memory = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines().find_map(|l| l.strip_prefix("MemTotal:")).map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    let os = fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned());
    format!(
        "- CPUs (`nproc`): {}\n- memory: {memory}\n- kernel: {}\n- OS: {os}\n",
        line(&mut Command::new("nproc")),
        line(Command::new("uname").args(["-srm"])),
    )
}

fn tools(oha: &Path) -> Vec<String> {
    let version = |command: &mut Command| {
        cmd::stdout(command).map_or_else(
            |err| format!("unknown ({err:#})"),
            |s| s.lines().next().unwrap_or("").trim().to_owned(),
        )
    };
    vec![
        format!("load generator: {}", oha::version(oha).unwrap_or_else(|e| format!("oha ({e:#})"))),
        format!("containerd: {}", version(Command::new("containerd").arg("--version"))),
        format!("runc: {}", version(Command::new("runc").arg("--version"))),
        format!("rustc: {}", version(Command::new("rustc").arg("--version"))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_parsed_and_strangers_refused() -> Result<()> {
        let options = parse_args(&[])?;
        assert_eq!(options.duration, Duration::from_secs(3));
        assert!(options.write_doc);
        let options = parse_args(&["--seconds".into(), "5".into(), "--no-doc".into()])?;
        assert_eq!(options.duration, Duration::from_secs(5));
        assert!(!options.write_doc);
        assert!(parse_args(&["--seconds".into()]).is_err());
        assert!(parse_args(&["--seconds".into(), "0".into()]).is_err());
        assert!(parse_args(&["--nope".into()]).is_err());
        Ok(())
    }
}
