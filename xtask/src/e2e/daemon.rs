//! berthd as a child process, with a guard that always stops it.

use std::fs;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{LOG_TAIL_LINES, Layout};
use crate::cmd;

/// How long berthd gets to finish in-flight requests and exit after SIGTERM.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

/// A running berthd. Dropping it stops it: SIGTERM, then SIGKILL if it is
/// still alive after [`SHUTDOWN_TIMEOUT`]. Call [`Daemon::shutdown`] to
/// check that the shutdown was graceful.
#[derive(Debug)]
pub(crate) struct Daemon {
    child: Option<Child>,
    socket: PathBuf,
    tcp_port: u16,
    log: PathBuf,
}

impl Daemon {
    /// Starts berthd with dockerd's flags on the layout's socket, port,
    /// certificates and roots; its stdout and stderr go to the layout's log.
    pub(crate) fn start(berthd: &Path, layout: &Layout) -> Result<Daemon> {
        let mut command = Command::new(berthd);
        command
            .args(["-H", &layout.unix_host(), "-H", &layout.tcp_host()])
            .arg("--tlsverify")
            .arg("--tlscacert")
            .arg(&layout.pki.ca_cert)
            .arg("--tlscert")
            .arg(&layout.pki.server_cert)
            .arg("--tlskey")
            .arg(&layout.pki.server_key)
            .arg("--data-root")
            .arg(&layout.data_root)
            .arg("--exec-root")
            .arg(&layout.exec_root)
            .arg("--pidfile")
            .arg(&layout.pidfile)
            .arg("--config-file")
            .arg(&layout.config_file)
            .args(["--group", "root"])
            .current_dir(&layout.root);
        // Only its flags and config file configure it, not the developer's shell.
        let child = cmd::spawn_daemon(&mut command, &layout.log, "BERTH")?;
        Ok(Daemon {
            child: Some(child),
            socket: layout.socket.clone(),
            tcp_port: layout.tcp_port,
            log: layout.log.clone(),
        })
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Waits until the unix socket accepts connections and the TCP port
    /// accepts connections; fails early if berthd exits.
    pub(crate) fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut unix_ready = false;
        loop {
            let child = self.child.as_mut().context("berthd was already stopped")?;
            if let Some(status) = child.try_wait().context("polling berthd")? {
                bail!("berthd exited during startup: {status}");
            }
            if !unix_ready {
                unix_ready = UnixStream::connect(&self.socket).is_ok();
            }
            let tcp_ready = unix_ready && TcpStream::connect(("127.0.0.1", self.tcp_port)).is_ok();
            if tcp_ready {
                println!("berthd is ready after {:.1?}", started.elapsed());
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "berthd did not accept connections within {timeout:?} (unix socket {}: {})",
                    self.socket.display(),
                    if unix_ready { "ok; tcp port: refused" } else { "not accepting" }
                );
            }
            thread::sleep(cmd::POLL);
        }
    }

    /// Sends `signal` to berthd; for SIGKILL also reaps it (a crash, as far as berthd knows).
    pub(crate) fn signal(&mut self, signal: nix::sys::signal::Signal) -> Result<()> {
        let child = self.child.as_mut().context("berthd was already stopped")?;
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).context("pid")?);
        nix::sys::signal::kill(pid, signal).context("signalling berthd")?;
        if signal == nix::sys::signal::Signal::SIGKILL {
            child.wait().context("reaping berthd")?;
            self.child = None;
        }
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit; fails if berthd had already
    /// died, exits non-zero, or needs SIGKILL.
    pub(crate) fn shutdown(&mut self) -> Result<()> {
        let mut child = self.child.take().context("berthd was already stopped")?;
        if let Some(status) = child.try_wait().context("polling berthd")? {
            bail!("berthd had already exited on its own: {status}");
        }
        let status = stop(&mut child)?;
        if status.success() {
            Ok(())
        } else {
            Err(anyhow!("berthd exited with {status} after SIGTERM"))
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        match stop(&mut child) {
            Ok(status) => println!("berthd stopped: {status}"),
            Err(err) => println!("stopping berthd: {err:#}"),
        }
        if thread::panicking() {
            println!(
                "--- last {LOG_TAIL_LINES} lines of {}\n{}",
                self.log.display(),
                log_tail(&self.log, LOG_TAIL_LINES)
            );
        }
    }
}

/// SIGTERM and wait up to [`SHUTDOWN_TIMEOUT`]; past that SIGKILL, reap, and
/// report the timeout as an error.
fn stop(child: &mut Child) -> Result<ExitStatus> {
    if let Some(status) = child.try_wait().context("polling berthd")? {
        return Ok(status);
    }
    let pid = Pid::from_raw(i32::try_from(child.id()).context("pid out of range")?);
    kill(pid, Signal::SIGTERM).context("sending SIGTERM to berthd")?;
    let deadline = Instant::now() + SHUTDOWN_TIMEOUT;
    if let Some(status) = cmd::wait_deadline(child, deadline).context("waiting for berthd")? {
        return Ok(status);
    }
    child.kill().context("sending SIGKILL to berthd")?;
    let status = child.wait().context("reaping berthd")?;
    bail!("berthd was still running {SHUTDOWN_TIMEOUT:?} after SIGTERM; killed: {status}")
}

/// Sends `signal` to the process whose pid is in `pidfile`; returns that pid.
pub(crate) fn signal_pidfile(pidfile: &Path, signal: Signal) -> Result<u32> {
    let pid = read_pidfile(pidfile)?;
    let raw = i32::try_from(pid).context("pid out of range")?;
    kill(Pid::from_raw(raw), signal).with_context(|| format!("sending {signal} to {pid}"))?;
    Ok(pid)
}

pub(crate) fn read_pidfile(pidfile: &Path) -> Result<u32> {
    let text =
        fs::read_to_string(pidfile).with_context(|| format!("reading {}", pidfile.display()))?;
    text.trim().parse().with_context(|| format!("{} holds {text:?}, not a pid", pidfile.display()))
}

/// The last `lines` lines of `path`, or why they cannot be read.
pub(crate) fn log_tail(path: &Path, lines: usize) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(err) if err.kind() == ErrorKind::NotFound => "(no log file)".to_owned(),
        Err(err) => format!("(cannot read the log: {err})"),
    }
}
