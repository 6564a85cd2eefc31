//! `cargo xtask bench`: berthd (release) and a real dockerd side by side on
//! one machine, under the same HTTP load, with their memory and start-up
//! time; the numbers go to stdout and to `docs/benchmarks.md` (issue 8).
//!
//! Both daemons run at once on their own sockets and roots under one
//! temporary directory, and each load cell runs against one right after the
//! other (alternating which goes first), so noise hits both alike. Both are
//! seeded with the same offline images; the container measurements (the
//! lifecycle, `/containers/json` with 100 containers) go over the Engine API.
//! Guards stop everything, mounts included, whatever happens. Never run this
//! in CI.

mod ceiling;
pub(crate) mod lifecycle;
mod oha;
pub(crate) mod procs;
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
use lifecycle::Api;
use oha::{Cpu, Load};
use report::{Lifecycle, Memory, Results, Row};

/// The endpoints under load, as the docker CLI would ask them.
const ENDPOINTS: &[&str] = &["/_ping", "/version", "/info", LIST_PATH, "/images/json"];
const CONCURRENCIES: &[u32] = &[1, 32];
/// The container list, loaded again once both daemons hold [`LIST_CONTAINERS`] containers.
pub(crate) const LIST_PATH: &str = "/containers/json?all=1";
pub(crate) const LIST_CONTAINERS: usize = 100;
/// Timed create → start → wait → remove cycles per daemon (after one untimed).
const CYCLES: usize = 20;
/// The offline test images need Debian's static busybox and curl (`testimage.rs`).
const IMAGE_APT_PACKAGES: &[&str] = &["busybox-static", "curl"];
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
    deps::ensure_apt(IMAGE_APT_PACKAGES)?;
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

    let berthd_api = Api { client: &client, socket: &layout.socket };
    let dockerd_api = Api { client: &client, socket: &dockerd_layout.socket };
    let images = seed_images(&root, &layout.socket, &dockerd_layout.socket)?;

    // Whose CPU time a run costs on the server side: each daemon with its containerd.
    let berthd_pids = with_containerd(berthd_pid);
    let dockerd_pids = with_containerd(dockerd_pid);
    let ceiling_pids: Vec<u32> = ceiling.pid().into_iter().collect();

    let mut rows = Vec::new();
    let mut load_row = |path: &'static str, containers: usize, concurrency: u32| -> Result<()> {
        let cell = |socket: &Path, pids: &[u32], who: &str| -> Result<Load> {
            let (server, client) = (cpu_time(pids)?, procs::children_cpu_time()?);
            let mut load = oha::run(&oha, socket, path, concurrency, options.duration)
                .with_context(|| format!("loading {who} with {path} at c={concurrency}"))?;
            load.cpu = Some(Cpu {
                server: cpu_time(pids)?.saturating_sub(server),
                client: procs::children_cpu_time()?.saturating_sub(client),
            });
            let (server, client) = load.cpu_per_request().unwrap_or_default();
            println!(
                "{path:<24} n={containers:<3} c={concurrency:<3} {who:<8} {:>9.0} req/s  p50 {:>9.1?}  p99 {:>9.1?}  failed {}  cpu/req server {server:.1?} oha {client:.1?}",
                load.rps,
                load.p50.unwrap_or_default(),
                load.p99.unwrap_or_default(),
                load.failed
            );
            Ok(load)
        };
        // Alternate who goes first, so neither always meets a warmer machine.
        let (berthd_load, dockerd_load) = if rows.len() % 2 == 0 {
            let b = cell(&layout.socket, &berthd_pids, "berthd")?;
            (b, cell(&dockerd_layout.socket, &dockerd_pids, "dockerd")?)
        } else {
            let d = cell(&dockerd_layout.socket, &dockerd_pids, "dockerd")?;
            (cell(&layout.socket, &berthd_pids, "berthd")?, d)
        };
        let ceiling_load = if path == "/_ping" {
            Some(cell(ceiling.socket(), &ceiling_pids, "hyper")?)
        } else {
            None
        };
        rows.push(Row {
            path,
            containers,
            concurrency,
            berthd: berthd_load,
            dockerd: dockerd_load,
            ceiling: ceiling_load,
        });
        Ok(())
    };
    for &path in ENDPOINTS {
        for &concurrency in CONCURRENCIES {
            load_row(path, 0, concurrency)?;
        }
    }
    println!("bench: creating {LIST_CONTAINERS} containers in each daemon");
    let listed = create_idle(&[&berthd_api, &dockerd_api], LIST_CONTAINERS)?;
    for &concurrency in CONCURRENCIES {
        load_row(LIST_PATH, LIST_CONTAINERS, concurrency)?;
    }
    let berthd_loaded = memory(berthd_pid)?;
    let dockerd_loaded = memory(dockerd_pid)?;
    println!("bench: removing the {LIST_CONTAINERS} containers");
    for (api, ids) in [&berthd_api, &dockerd_api].into_iter().zip(&listed) {
        for id in ids {
            api.remove(id)?;
        }
    }
    let lifecycle = run_lifecycle(&berthd_api, &dockerd_api)?;
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
        images,
        rows,
        lifecycle,
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

/// Imports the offline test images into both daemons (`testimage.rs`, as the e2e suite does);
/// the references both hold.
fn seed_images(root: &Path, berthd: &Path, dockerd: &Path) -> Result<Vec<String>> {
    let mut seeded: Option<Vec<String>> = None;
    for (who, socket) in [("berthd", berthd), ("dockerd", dockerd)] {
        let work = root.join(format!("images-{who}"));
        fs::create_dir(&work).with_context(|| format!("creating {}", work.display()))?;
        let mut references = Vec::new();
        for imported in crate::testimage::build_and_import(&work, socket)? {
            if let Err(err) = imported.result {
                bail!("importing {} into {who}: {err:#}", imported.reference);
            }
            references.push(imported.reference);
        }
        if seeded.as_ref().is_some_and(|first| *first != references) {
            bail!("the daemons were seeded with different images: {seeded:?} and {references:?}");
        }
        seeded = Some(references);
    }
    let seeded = seeded.unwrap_or_default();
    if !seeded.iter().any(|reference| reference == lifecycle::IMAGE) {
        bail!("the test images do not include {}: {seeded:?}", lifecycle::IMAGE);
    }
    Ok(seeded)
}

/// Creates `count` containers (not started) in each daemon, alternating between them; the IDs,
/// per daemon.
fn create_idle(apis: &[&Api<'_>], count: usize) -> Result<Vec<Vec<String>>> {
    let mut ids = vec![Vec::with_capacity(count); apis.len()];
    for _ in 0..count {
        for (api, ids) in apis.iter().zip(&mut ids) {
            ids.push(api.create()?);
        }
    }
    Ok(ids)
}

/// One untimed cycle per daemon, then [`CYCLES`] timed ones each, alternating the daemons and
/// which of them goes first.
fn run_lifecycle(berthd: &Api<'_>, dockerd: &Api<'_>) -> Result<Lifecycle> {
    berthd.cycle().context("berthd's first create → start → wait → remove")?;
    dockerd.cycle().context("dockerd's first create → start → wait → remove")?;
    let mut lifecycle = Lifecycle::default();
    for i in 0..CYCLES {
        let order = if i % 2 == 0 { [true, false] } else { [false, true] };
        for is_berthd in order {
            let (api, cycles, who) = if is_berthd {
                (berthd, &mut lifecycle.berthd, "berthd")
            } else {
                (dockerd, &mut lifecycle.dockerd, "dockerd")
            };
            let phases =
                api.cycle().with_context(|| format!("{who}'s cycle {} of {CYCLES}", i + 1))?;
            println!(
                "lifecycle {:>2} {who:<8} create {:>7.1?}  start {:>7.1?}  wait {:>7.1?}  remove {:>7.1?}",
                i + 1,
                phases.create,
                phases.start,
                phases.wait,
                phases.remove
            );
            cycles.push(phases);
        }
    }
    Ok(lifecycle)
}

/// Builds berthd with the release profile and returns the binary's path.
pub(crate) fn build_release() -> Result<PathBuf> {
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

/// The daemon and, when found, the containerd it started.
fn with_containerd(daemon: u32) -> Vec<u32> {
    std::iter::once(daemon).chain(procs::child_named(daemon, "containerd")).collect()
}

/// The CPU time `pids` have used so far, with what they reaped.
fn cpu_time(pids: &[u32]) -> Result<Duration> {
    pids.iter().map(|&pid| procs::cpu_time(pid)).sum()
}

/// The daemon's and its containerd's resident memory.
fn memory(daemon: u32) -> Result<Memory> {
    let containerd = procs::child_named(daemon, "containerd");
    if containerd.is_none() {
        println!("warning: no containerd child of pid {daemon}");
    }
    Ok(Memory {
        daemon: procs::rss_kib(daemon)?,
        daemon_anon: procs::rss_anon_kib(daemon)?,
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
