//! A real dockerd (Debian's `docker.io`, 20.10) on its own socket, roots and
//! pidfile under the run's temporary directory (and, if asked, a default
//! bridge of its own), with a guard that stops it, the containerd it
//! started, everything it mounted there, and that bridge.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::cleanup::{self, process_mentions, stop_pid};
use super::client::{Client, Outgoing};
use crate::cmd;
use crate::e2e::daemon::log_tail;

/// The Debian package that ships dockerd 20.10 (and its containerd, runc).
pub(crate) const PACKAGE: &str = "docker.io";
/// The API version Debian 12's dockerd (20.10) speaks, which the scenarios
/// and the known differences are written against.
const EXPECTED_API: &str = "1.41";
/// Where the package puts dockerd.
const DOCKERD: &str = "/usr/sbin/dockerd";
/// The bridge the network scenarios make dockerd create (named, so a run
/// that dies half way can find and remove it). Linux allows 15 characters.
pub(crate) const BRIDGE: &str = "berthdiff0";
/// dockerd stops containerd and its own listeners within a few seconds when
/// no container runs.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
const LOG_TAIL_LINES: usize = 40;

/// Paths of one dockerd, all under `root`.
#[derive(Debug, Clone)]
pub(crate) struct DockerdLayout {
    pub(crate) root: PathBuf,
    pub(crate) socket: PathBuf,
    pub(crate) data_root: PathBuf,
    pub(crate) exec_root: PathBuf,
    pub(crate) pidfile: PathBuf,
    pub(crate) config_file: PathBuf,
    /// dockerd 20.10's identity key (its default is /etc/docker/key.json).
    pub(crate) key_file: PathBuf,
    pub(crate) log: PathBuf,
    /// A bridge of the run's own for dockerd's default `bridge` network, as
    /// `(device, address/prefix)`: created before dockerd starts (dockerd's
    /// `--bridge` takes an existing device and its subnet) and deleted after
    /// it stops. Without one dockerd runs with `--bridge=none`.
    pub(crate) default_bridge: Option<(&'static str, &'static str)>,
}

impl DockerdLayout {
    pub(crate) fn create(root: &Path) -> Result<DockerdLayout> {
        fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
        let layout = DockerdLayout {
            root: root.to_path_buf(),
            socket: root.join("docker.sock"),
            data_root: root.join("data"),
            exec_root: root.join("exec"),
            pidfile: root.join("dockerd.pid"),
            config_file: root.join("dockerd.json"),
            key_file: root.join("key.json"),
            log: root.join("dockerd.log"),
            default_bridge: None,
        };
        // dockerd refuses /dev/null as a config file. The one setting keeps
        // its identity key in our directory rather than /etc/docker/key.json;
        // 20.10 has no flag for it, only this daemon.json key.
        let config = serde_json::json!({ "deprecated-key-path": layout.key_file });
        fs::write(&layout.config_file, format!("{config:#}\n"))
            .with_context(|| format!("writing {}", layout.config_file.display()))?;
        Ok(layout)
    }

    fn containerd_pidfile(&self) -> PathBuf {
        self.exec_root.join("containerd").join("containerd.pid")
    }
}

/// A running dockerd. Dropping it tears everything down (see [`Drop`]).
#[derive(Debug)]
pub(crate) struct Dockerd {
    child: Option<Child>,
    layout: DockerdLayout,
    /// The containerd dockerd started, once it wrote its pidfile.
    containerd: Option<i32>,
}

impl Dockerd {
    pub(crate) fn start(layout: &DockerdLayout) -> Result<Dockerd> {
        // The guard exists before anything can fail, so whatever was made goes.
        let mut dockerd = Dockerd { child: None, layout: layout.clone(), containerd: None };
        let bridge = match layout.default_bridge {
            Some((device, address)) => {
                create_bridge(device, address)?;
                format!("--bridge={device}")
            }
            None => "--bridge=none".to_owned(),
        };
        let mut command = Command::new(DOCKERD);
        command
            .arg("-H")
            .arg(format!("unix://{}", layout.socket.display()))
            .arg("--data-root")
            .arg(&layout.data_root)
            .arg("--exec-root")
            .arg(&layout.exec_root)
            .arg("--pidfile")
            .arg(&layout.pidfile)
            .arg("--config-file")
            .arg(&layout.config_file)
            .args(["--iptables=false", &bridge, "--group", "root"])
            .current_dir(&layout.root);
        // Only its flags and config file configure it, not the developer's shell.
        dockerd.child = Some(cmd::spawn_daemon(&mut command, &layout.log, "DOCKER")?);
        Ok(dockerd)
    }

    /// Waits until `GET /_ping` answers 200 on the socket; fails early, with
    /// the log's tail, if dockerd exits.
    pub(crate) fn wait_ready(&mut self, client: &Client, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let ping = Outgoing { method: "GET", path: "/_ping", headers: &[], body: Bytes::new() };
        loop {
            let child = self.child.as_mut().context("dockerd was already stopped")?;
            if let Some(status) = child.try_wait().context("polling dockerd")? {
                bail!(
                    "dockerd exited during startup: {status}\n--- last {LOG_TAIL_LINES} lines of {}\n{}",
                    self.layout.log.display(),
                    log_tail(&self.layout.log, LOG_TAIL_LINES)
                );
            }
            if self.containerd.is_none() {
                self.containerd = read_pid(&self.layout.containerd_pidfile());
            }
            if self.layout.socket.exists()
                && let Ok(answer) = client.send(&self.layout.socket, &ping)
                && answer.status == 200
            {
                let api = answer.headers.get("api-version").and_then(|v| v.to_str().ok());
                println!(
                    "dockerd is ready after {:.1?} (API {})",
                    started.elapsed(),
                    api.unwrap_or("unknown")
                );
                if api != Some(EXPECTED_API) {
                    println!(
                        "warning: the scenarios and known differences are written against \
                         dockerd 20.10 (API {EXPECTED_API}); expect differences that say so"
                    );
                }
                return Ok(());
            }
            if started.elapsed() >= timeout {
                bail!(
                    "dockerd did not answer /_ping within {timeout:?}\n--- last {LOG_TAIL_LINES} lines of {}\n{}",
                    self.layout.log.display(),
                    log_tail(&self.layout.log, LOG_TAIL_LINES)
                );
            }
            thread::sleep(cmd::POLL);
        }
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.layout.socket
    }

    /// Stops dockerd, then whatever of ours outlived it; every step runs and
    /// reports, whatever the previous one did.
    fn teardown(&mut self) {
        if let Some(mut child) = self.child.take() {
            match stop_child(&mut child) {
                Ok(how) => println!("dockerd stopped: {how}"),
                Err(err) => println!("stopping dockerd: {err:#}"),
            }
        }
        // Its pidfile may have appeared after readiness was checked.
        let containerd = self.containerd.or_else(|| read_pid(&self.layout.containerd_pidfile()));
        if let Some(pid) = containerd {
            // dockerd stops its containerd on a clean exit; after a SIGKILL it
            // lives on, orphaned, in its own session.
            if process_mentions(pid, &self.layout.root) {
                match stop_pid(pid) {
                    Ok(how) => println!("containerd {pid} (dockerd's) stopped: {how}"),
                    Err(err) => println!("stopping containerd {pid}: {err:#}"),
                }
            }
        }
        // Anything else naming our directory (a shim), and its mounts.
        cleanup::sweep(&self.layout.root);
        if Path::new("/sys/class/net").join(BRIDGE).exists() {
            match cmd::stdout(Command::new("ip").args(["link", "delete", BRIDGE])) {
                Ok(_) => println!("removed the left-over bridge {BRIDGE}"),
                Err(err) => println!("removing the bridge {BRIDGE}: {err:#}"),
            }
        }
        if let Some((device, _)) = self.layout.default_bridge
            && Path::new("/sys/class/net").join(device).exists()
            && let Err(err) = cmd::stdout(Command::new("ip").args(["link", "delete", device]))
        {
            println!("removing dockerd's bridge {device}: {err:#}");
        }
    }
}

/// A bridge device `name` with `address` (`10.0.0.1/24`), up; one left by a
/// run that died is made again.
fn create_bridge(name: &str, address: &str) -> Result<()> {
    if Path::new("/sys/class/net").join(name).exists() {
        cmd::stdout(Command::new("ip").args(["link", "delete", name]))?;
    }
    cmd::stdout(Command::new("ip").args(["link", "add", name, "type", "bridge"]))?;
    cmd::stdout(Command::new("ip").args(["addr", "add", address, "dev", name]))?;
    cmd::stdout(Command::new("ip").args(["link", "set", name, "up"]))?;
    Ok(())
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        self.teardown();
    }
}

fn read_pid(pidfile: &Path) -> Option<i32> {
    fs::read_to_string(pidfile).ok()?.trim().parse().ok()
}

/// SIGTERM, wait, SIGKILL; for a child of ours (so it is reaped).
fn stop_child(child: &mut Child) -> Result<String> {
    if let Some(status) = child.try_wait()? {
        return Ok(format!("had already exited: {status}"));
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    kill(pid, Signal::SIGTERM).context("sending SIGTERM")?;
    if let Some(status) = cmd::wait_deadline(child, Instant::now() + STOP_TIMEOUT)? {
        return Ok(status.to_string());
    }
    child.kill().context("sending SIGKILL")?;
    let status = child.wait().context("reaping")?;
    Ok(format!("still running {STOP_TIMEOUT:?} after SIGTERM; killed: {status}"))
}
