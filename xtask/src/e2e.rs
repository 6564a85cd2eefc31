//! `cargo xtask e2e`: the real docker CLI against a real `berthd` on a
//! temporary unix socket and a mutual-TLS TCP port, with temporary roots.
//!
//! Every check runs and reports PASS or FAIL; the run fails at the end if
//! any did. berthd is always stopped and the temporary directory removed,
//! whatever happened (see [`daemon::Daemon`]'s `Drop`).

mod authz;
pub(crate) mod checks;
mod containers;
pub(crate) mod daemon;
mod networks;
mod registry;
mod volumes;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::certs::{self, Pki};
use crate::{cmd, deps};
use daemon::Daemon;

/// How long berthd gets to create its socket and answer on it.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// The default bridge of the e2e berthd, and its address.
pub(crate) const E2E_BRIDGE: &str = "berthe2e0";
pub(crate) const E2E_BIP: &str = "10.213.240.1/24";
/// How many lines of berthd's log a failure report shows.
const LOG_TAIL_LINES: usize = 50;

#[derive(Debug, Default)]
pub(crate) struct Options {
    /// Keep the temporary directory (log, certificates, data-root) for a
    /// post-mortem instead of removing it.
    pub(crate) keep: bool,
}

/// Where everything of one run lives, all under one temporary directory.
#[derive(Debug)]
pub(crate) struct Layout {
    pub(crate) root: PathBuf,
    pub(crate) socket: PathBuf,
    pub(crate) tcp_port: u16,
    pub(crate) data_root: PathBuf,
    pub(crate) exec_root: PathBuf,
    pub(crate) pidfile: PathBuf,
    pub(crate) config_file: PathBuf,
    pub(crate) log: PathBuf,
    pub(crate) docker_config: PathBuf,
    pub(crate) pki: Pki,
}

impl Layout {
    /// Creates the files berthd and the docker CLI start from: certificates,
    /// an empty daemon.json, an empty docker config directory.
    pub(crate) fn create(root: &Path) -> Result<Layout> {
        let layout = Layout {
            root: root.to_path_buf(),
            socket: root.join("berth.sock"),
            tcp_port: free_port()?,
            data_root: root.join("data"),
            exec_root: root.join("exec"),
            pidfile: root.join("berthd.pid"),
            config_file: root.join("daemon.json"),
            log: root.join("berthd.log"),
            docker_config: root.join("docker-config"),
            pki: certs::write(root)?,
        };
        // A bridge and subnet of the test's own, apart from a developer's berthd or dockerd.
        fs::write(
            &layout.config_file,
            format!("{{\"bridge\": \"{E2E_BRIDGE}\", \"bip\": \"{E2E_BIP}\"}}\n"),
        )
        .with_context(|| format!("writing {}", layout.config_file.display()))?;
        fs::create_dir(&layout.docker_config)
            .with_context(|| format!("creating {}", layout.docker_config.display()))?;
        Ok(layout)
    }

    pub(crate) fn unix_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    pub(crate) fn tcp_host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.tcp_port)
    }
}

/// A port nobody listens on right now: bind port 0, note it, let it go.
pub(crate) fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0")?;
    Ok(listener.local_addr().context("local_addr")?.port())
}

/// Runs every check; returns how many passed (all of them, or an error).
pub(crate) fn run(options: &Options) -> Result<usize> {
    deps::ensure_docker_cli()?;
    let version = daemon_version()?;
    let berthd = build_berthd()?;

    let tmp = tempfile::Builder::new()
        .prefix("berth-e2e-")
        .tempdir()
        .context("creating a temporary directory")?;
    // berthd may canonicalize its roots; compare against the same spelling.
    let root = tmp.path().canonicalize().context("canonicalizing the temporary directory")?;
    let layout = Layout::create(&root)?;
    println!("e2e: berthd {} in {}", berthd.display(), root.display());

    let mut report = Report::default();
    // Declared after `tmp`, so dropped (berthd stopped) before the directory goes.
    let mut daemon = Daemon::start(&berthd, &layout)?;
    let ready = daemon.wait_ready(READY_TIMEOUT);
    let started = ready.is_ok();
    report.record("berthd starts and listens on unix and tcp", ready);
    if started {
        checks::run_all(&layout, &daemon, &version, &mut report);
        let docker = checks::Docker { layout: &layout };
        report.record(
            "containers: kill -9 of berthd; the container runs on and is restored",
            containers::restore_after_kill(&docker, &layout, &mut daemon, &berthd),
        );
    }
    report.record("SIGTERM: berthd shuts down gracefully (exit 0)", daemon.shutdown());
    if report.failed() > 0 {
        print_log_tail(&layout);
    }
    drop(daemon);
    remove_bridge(E2E_BRIDGE);

    finish_tempdir(tmp, options.keep, "e2e")?;
    report.finish()
}

/// Deletes a test bridge device (berthd keeps its bridge between runs, as dockerd keeps
/// docker0); its absence is fine.
pub(crate) fn remove_bridge(name: &str) {
    let _ = std::process::Command::new("ip")
        .args(["link", "del", name])
        .stderr(std::process::Stdio::null())
        .status();
}

/// Prints the end of berthd's log, for a run that failed.
pub(crate) fn print_log_tail(layout: &Layout) {
    println!(
        "--- last {LOG_TAIL_LINES} lines of {}\n{}",
        layout.log.display(),
        daemon::log_tail(&layout.log, LOG_TAIL_LINES)
    );
}

/// Removes a run's temporary directory, or keeps it (`--keep`) and says where it is.
pub(crate) fn finish_tempdir(tmp: tempfile::TempDir, keep: bool, label: &str) -> Result<()> {
    if keep {
        let kept = tmp.keep();
        println!("{label}: kept {}", kept.display());
        Ok(())
    } else {
        let path = tmp.path().to_owned();
        tmp.close().with_context(|| format!("removing {}", path.display()))
    }
}

/// The version berthd reports: the berth-daemon package's.
pub(crate) fn daemon_version() -> Result<String> {
    let metadata = crate::metadata()?;
    metadata["packages"]
        .as_array()
        .context("cargo metadata has no packages array")?
        .iter()
        .find(|package| package["name"] == "berth-daemon")
        .and_then(|package| package["version"].as_str())
        .map(str::to_owned)
        .context("no berth-daemon package with a version in the workspace")
}

/// Builds berthd (debug) and returns the binary's path.
pub(crate) fn build_berthd() -> Result<PathBuf> {
    cmd::run(cmd::cargo().args(["build", "--locked", "-p", "berth-daemon", "--bin", "berthd"]))?;
    let binary = crate::target_dir()?.join("debug").join("berthd");
    if !binary.is_file() {
        bail!("cargo build succeeded but {} is missing", binary.display());
    }
    Ok(binary)
}

/// PASS/FAIL per check, printed as they come in.
#[derive(Debug, Default)]
pub(crate) struct Report {
    passed: Vec<String>,
    failed: Vec<String>,
}

impl Report {
    pub(crate) fn record(&mut self, name: &str, result: Result<()>) {
        match result {
            Ok(()) => {
                println!("PASS {name}");
                self.passed.push(name.to_owned());
            }
            Err(err) => {
                println!("FAIL {name}\n{}", indent(&format!("{err:#}")));
                self.failed.push(name.to_owned());
            }
        }
    }

    fn failed(&self) -> usize {
        self.failed.len()
    }

    fn finish(self) -> Result<usize> {
        println!("e2e: {} passed, {} failed", self.passed.len(), self.failed.len());
        if !self.failed.is_empty() {
            bail!("e2e checks failed: {}", self.failed.join("; "));
        }
        Ok(self.passed.len())
    }
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("    {line}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_fails_when_any_check_failed() {
        let mut report = Report::default();
        report.record("one", Ok(()));
        assert_eq!(report.finish().expect("all passed"), 1);

        let mut report = Report::default();
        report.record("one", Ok(()));
        report.record("two", Err(anyhow::anyhow!("broken")));
        let err = report.finish().expect_err("a failed check fails the run");
        assert!(err.to_string().contains("two"), "{err}");
    }

    #[test]
    fn free_port_is_bindable() -> Result<()> {
        let port = free_port()?;
        assert_ne!(port, 0);
        TcpListener::bind(("127.0.0.1", port))?;
        Ok(())
    }
}
