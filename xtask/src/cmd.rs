//! Thin wrappers around `std::process::Command`: run a step with its output on
//! the terminal, capture a command's output, or capture it under a deadline.

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// How often a deadline loop looks at the thing it waits for.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// The workspace root: xtask lives in `<root>/xtask`.
pub(crate) fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask's manifest dir has a parent: the workspace root")
        .to_path_buf()
}

/// `cargo`, the same one that runs us (cargo sets `CARGO` for `cargo run`),
/// started in the workspace root.
pub(crate) fn cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut cmd = Command::new(cargo);
    cmd.current_dir(project_root());
    cmd
}

/// The command line as a shell user would type it, for logs and errors.
pub(crate) fn display(cmd: &Command) -> String {
    let mut line = String::new();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            line.push_str(&format!(
                "{}={} ",
                key.to_string_lossy(),
                quote(&value.to_string_lossy())
            ));
        }
    }
    line.push_str(&quote(&cmd.get_program().to_string_lossy()));
    for arg in cmd.get_args() {
        line.push(' ');
        line.push_str(&quote(&arg.to_string_lossy()));
    }
    line
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word.chars().all(|c| c.is_ascii_alphanumeric() || "-_./:=,@+%".contains(c));
    if plain { word.to_owned() } else { format!("'{}'", word.replace('\'', r"'\''")) }
}

/// Runs `cmd` with inherited stdio, echoing it first; fails on a non-zero exit.
pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let line = display(cmd);
    println!("$ {line}");
    let status = cmd.status().with_context(|| format!("cannot start `{line}`"))?;
    if !status.success() {
        bail!("`{line}` failed: {status}");
    }
    Ok(())
}

/// Runs `cmd` quietly and returns its stdout; fails, with its stderr, on a
/// non-zero exit.
pub(crate) fn stdout(cmd: &mut Command) -> Result<String> {
    let line = display(cmd);
    let output =
        cmd.stdin(Stdio::null()).output().with_context(|| format!("cannot start `{line}`"))?;
    if !output.status.success() {
        bail!(
            "`{line}` failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    String::from_utf8(output.stdout).with_context(|| format!("`{line}` printed non-UTF-8"))
}

/// Whether `cmd` can be started and exits 0; its output is discarded.
pub(crate) fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// What a command did when run by [`capture`].
#[derive(Debug)]
pub(crate) struct Captured {
    pub(crate) cmdline: String,
    /// `None` when the deadline passed and the command was killed.
    pub(crate) status: Option<ExitStatus>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    pub(crate) elapsed: Duration,
}

impl Captured {
    pub(crate) fn success(&self) -> bool {
        self.status.is_some_and(|status| status.success())
    }

    /// The command, how it ended and everything it printed, for a failure report.
    pub(crate) fn describe(&self) -> String {
        let ended = match self.status {
            Some(status) => format!("{status} after {:.1?}", self.elapsed),
            None => format!("killed: still running after {:.1?}", self.elapsed),
        };
        format!(
            "$ {}\n{ended}\n--- stdout\n{}\n--- stderr\n{}",
            self.cmdline,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Runs `cmd` with stdin closed, collecting stdout and stderr; kills it if it
/// is still running after `timeout`.
pub(crate) fn capture(cmd: &mut Command, timeout: Duration) -> Result<Captured> {
    capture_with_input(cmd, None, timeout)
}

/// [`capture`], writing `input` to the command's stdin (then closing it) when given.
pub(crate) fn capture_with_input(
    cmd: &mut Command,
    input: Option<&[u8]>,
    timeout: Duration,
) -> Result<Captured> {
    let cmdline = display(cmd);
    let started = Instant::now();
    let mut child = cmd
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start `{cmdline}`"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        let input = input.to_vec();
        thread::spawn(move || {
            use std::io::Write;
            // The command may exit without reading everything; that is its business.
            let _ = stdin.write_all(&input);
        });
    }
    // Read both pipes on their own threads so a chatty command never blocks
    // on a full pipe while we wait for it.
    let stdout = drain(child.stdout.take().expect("stdout is piped"));
    let stderr = drain(child.stderr.take().expect("stderr is piped"));
    let status = wait_deadline(&mut child, started + timeout)
        .with_context(|| format!("waiting for `{cmdline}`"))?;
    let status = match status {
        Some(status) => Some(status),
        None => {
            child.kill().with_context(|| format!("killing `{cmdline}`"))?;
            child.wait().with_context(|| format!("reaping `{cmdline}`"))?;
            None
        }
    };
    let elapsed = started.elapsed();
    Ok(Captured { cmdline, status, stdout: join(stdout)?, stderr: join(stderr)?, elapsed })
}

/// Waits for `child` to exit until `deadline`; `None` if it is still running.
pub(crate) fn wait_deadline(child: &mut Child, deadline: Instant) -> Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<std::io::Result<Vec<u8>>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        pipe.read_to_end(&mut buf).map(|_| buf)
    })
}

fn join(handle: thread::JoinHandle<std::io::Result<Vec<u8>>>) -> Result<String> {
    let bytes = handle
        .join()
        .map_err(|_| anyhow::anyhow!("pipe reader thread panicked"))?
        .context("reading a child's output")?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Starts a daemon: stdin closed, stdout and stderr written to `log`, and every environment
/// variable starting with `scrub` removed, so only its flags and config file configure it.
pub(crate) fn spawn_daemon(
    command: &mut Command,
    log: &std::path::Path,
    scrub: &str,
) -> Result<std::process::Child> {
    let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("duplicating the log file handle")?;
    command.stdin(std::process::Stdio::null()).stdout(out).stderr(err);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with(scrub) {
            command.env_remove(&key);
        }
    }
    println!("$ {} >{} 2>&1", display(command), log.display());
    command.spawn().with_context(|| format!("starting {}", command.get_program().to_string_lossy()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_quotes_what_the_shell_would_split() {
        let mut cmd = Command::new("docker");
        cmd.args(["version", "--format", "{{json .}}", "it's"]);
        assert_eq!(display(&cmd), r"docker version --format '{{json .}}' 'it'\''s'");
    }

    #[test]
    fn capture_collects_output_and_status() -> Result<()> {
        let out = capture(
            Command::new("sh").args(["-c", "echo out; echo err >&2; exit 3"]),
            Duration::from_secs(10),
        )?;
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        assert_eq!(out.status.and_then(|s| s.code()), Some(3));
        assert!(!out.success());
        Ok(())
    }

    #[test]
    fn capture_kills_a_command_past_its_deadline() -> Result<()> {
        let out =
            capture(Command::new("sh").args(["-c", "exec sleep 30"]), Duration::from_millis(200))?;
        assert!(out.status.is_none(), "{}", out.describe());
        assert!(out.elapsed < Duration::from_secs(10), "{}", out.describe());
        Ok(())
    }
}
