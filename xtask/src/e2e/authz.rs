//! Authorization with the docker CLI: the example plugin (`berth-authz-readonly`) lets `docker
//! ps` through and refuses `docker run` with its message, fails closed when killed and is used
//! again when restarted; the built-in policy by unix peer uid (the CLI run as `nobody`) and by
//! TLS certificate CN. Every change goes through daemon.json and SIGHUP, as an operator does it,
//! and the configuration is put back afterwards.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::checks::{self, CLI_TIMEOUT, Docker, Tls};
use super::{E2E_BIP, E2E_BRIDGE, Layout, Report};
use crate::cmd;

/// Where berthd discovers plugin sockets (as dockerd).
const PLUGIN_DIR: &str = "/run/docker/plugins";
/// How long a restarted plugin may take to be used again.
const RECOVER_TIMEOUT: Duration = Duration::from_secs(20);
/// The uid and gid the CLI runs as for the peer-credential checks.
const NOBODY: u32 = 65534;

pub(super) fn run_all(docker: &Docker<'_>, layout: &Layout, report: &mut Report) {
    let plugin = match ExamplePlugin::build(layout) {
        Ok(p) => p,
        Err(err) => {
            report.record("authz: build the example plugin", Err(err));
            return;
        }
    };
    let mut plugin = plugin;
    report.record(
        "authz: with the example plugin, docker ps works and docker run is denied with its message",
        plugin_allows_reads(docker, layout, &mut plugin),
    );
    report.record(
        "authz: a killed plugin fails closed and fast; restarted, it is used again",
        dead_plugin(docker, &mut plugin),
    );
    report.record(
        "authz: the built-in policy by unix peer uid (docker as nobody) and by certificate CN",
        policy(docker, layout),
    );
    report.record(
        "authz: without authorization configured, docker run works again",
        reset(docker, layout),
    );
}

/// The example plugin as a child process on a socket in berthd's discovery directory.
struct ExamplePlugin {
    binary: PathBuf,
    name: String,
    socket: PathBuf,
    child: Option<Child>,
    log: PathBuf,
}

impl ExamplePlugin {
    fn build(layout: &Layout) -> Result<Self> {
        cmd::run(cmd::cargo().args([
            "build",
            "--locked",
            "-p",
            "berth-authz-example",
            "--bin",
            "berth-authz-readonly",
        ]))?;
        let binary = crate::target_dir()?.join("debug").join("berth-authz-readonly");
        ensure!(binary.is_file(), "cargo build succeeded but {} is missing", binary.display());
        let name = format!("berth-e2e-{}", std::process::id());
        let socket = Path::new(PLUGIN_DIR).join(format!("{name}.sock"));
        Ok(Self { binary, name, socket, child: None, log: layout.root.join("authz-plugin.log") })
    }

    fn start(&mut self) -> Result<()> {
        let mut command = Command::new(&self.binary);
        command.arg("--socket").arg(&self.socket);
        self.child = Some(cmd::spawn_daemon(&mut command, &self.log, "BERTH")?);
        let deadline = Instant::now() + CLI_TIMEOUT;
        while std::os::unix::net::UnixStream::connect(&self.socket).is_err() {
            ensure!(
                Instant::now() < deadline,
                "the plugin never listened on {}",
                self.socket.display()
            );
            thread::sleep(cmd::POLL);
        }
        Ok(())
    }

    /// SIGKILL: a crash, the socket file left behind.
    fn kill(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill().context("killing the plugin")?;
            child.wait().context("reaping the plugin")?;
        }
        Ok(())
    }
}

impl Drop for ExamplePlugin {
    fn drop(&mut self) {
        let _ = self.kill();
        let _ = fs::remove_file(&self.socket);
    }
}

/// Writes daemon.json (the e2e bridge plus `extra`) and reloads berthd, waiting for the reload.
fn configure(docker: &Docker<'_>, layout: &Layout, extra: Value) -> Result<()> {
    let mut config = json!({ "bridge": E2E_BRIDGE, "bip": E2E_BIP });
    if let (Some(config), Some(extra)) = (config.as_object_mut(), extra.as_object()) {
        config.extend(extra.clone());
    }
    fs::write(&layout.config_file, config.to_string())
        .with_context(|| format!("writing {}", layout.config_file.display()))?;
    checks::reload_and_wait(docker, layout)
}

fn plugin_allows_reads(
    docker: &Docker<'_>,
    layout: &Layout,
    plugin: &mut ExamplePlugin,
) -> Result<()> {
    plugin.start()?;
    configure(docker, layout, json!({ "authorization-plugins": [plugin.name] }))?;
    let authz = checks::ok(docker, &["info", "--format", "{{json .Plugins.Authorization}}"])?;
    ensure!(authz.contains(&plugin.name), "docker info lists {authz}, not the plugin");
    let before = checks::ok(docker, &["ps", "-aq"])?;
    let out = docker.unix(&["run", "--rm", "busybox", "true"], CLI_TIMEOUT)?;
    ensure!(!out.success(), "docker run must be denied\n{}", out.describe());
    let expected =
        format!("authorization denied by plugin {}: berth-readonly: POST /v1.", plugin.name);
    ensure!(out.stderr.contains(&expected), "expected {expected:?}\n{}", out.describe());
    let after = checks::ok(docker, &["ps", "-aq"])?;
    ensure!(before == after, "a denied run created a container: {before:?} -> {after:?}");
    Ok(())
}

fn dead_plugin(docker: &Docker<'_>, plugin: &mut ExamplePlugin) -> Result<()> {
    plugin.kill()?;
    // Each refusal comes at once: dockerd would spend ~15 s retrying every one of them.
    let start = Instant::now();
    for _ in 0..3 {
        let out = docker.unix(&["ps"], CLI_TIMEOUT)?;
        ensure!(!out.success(), "docker ps must fail closed\n{}", out.describe());
        let expected = format!("plugin {} failed with error", plugin.name);
        ensure!(out.stderr.contains(&expected), "expected {expected:?}\n{}", out.describe());
    }
    ensure!(start.elapsed() < Duration::from_secs(15), "3 refusals took {:?}", start.elapsed());

    plugin.start()?;
    let deadline = Instant::now() + RECOVER_TIMEOUT;
    loop {
        let out = docker.unix(&["ps"], CLI_TIMEOUT)?;
        if out.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("the restarted plugin is not used\n{}", out.describe());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn policy(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let file = layout.root.join("authz.toml");
    let text = format!(
        r#"# root may do anything; nobody may read; the e2e client certificate may read only.
[[rule]]
name = "root"
action = "allow"
uid = [0]

[[rule]]
name = "nobody-reads"
action = "allow"
uid = [{NOBODY}]
groups = ["*:read"]

[[rule]]
name = "e2e-client-read-only"
action = "deny"
cn = ["e2e-client"]
groups = ["*:write"]
message = "this certificate is read-only"

[[rule]]
name = "e2e-client"
action = "allow"
cn = ["e2e-client"]
"#
    );
    fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    configure(docker, layout, json!({ "authorization-policy": file }))?;

    let _access = NobodyAccess::grant(layout)?;
    let ps = as_nobody(docker, layout, &["ps"])?;
    ensure!(ps.success(), "nobody may read\n{}", ps.describe());
    let run = as_nobody(docker, layout, &["run", "--rm", "busybox", "true"])?;
    ensure!(!run.success(), "nobody may not run\n{}", run.describe());
    let expected = "authorization denied by policy: no rule allows POST /containers/create";
    ensure!(run.stderr.contains(expected), "expected {expected:?}\n{}", run.describe());

    let ps = docker.tcp(Tls::Mutual, &["ps"])?;
    ensure!(ps.success(), "the client certificate may read\n{}", ps.describe());
    let run = docker.tcp(Tls::Mutual, &["run", "--rm", "busybox", "true"])?;
    let expected = "authorization denied by policy rule \"e2e-client-read-only\": this certificate is read-only";
    ensure!(run.stderr.contains(expected), "expected {expected:?}\n{}", run.describe());

    let run = docker.unix(&["run", "--rm", "busybox", "true"], CLI_TIMEOUT)?;
    ensure!(run.success(), "root may run\n{}", run.describe());
    Ok(())
}

fn reset(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    configure(docker, layout, json!({}))?;
    let out = docker.unix(&["run", "--rm", "busybox", "true"], CLI_TIMEOUT)?;
    ensure!(out.success(), "docker run after reset\n{}", out.describe());
    let authz = checks::ok(docker, &["info", "--format", "{{json .Plugins.Authorization}}"])?;
    ensure!(authz.trim() == "null", "authorization still listed: {authz}");
    Ok(())
}

/// `docker` run as uid/gid 65534 with no supplementary groups.
fn as_nobody(docker: &Docker<'_>, layout: &Layout, args: &[&str]) -> Result<cmd::Captured> {
    let id = NOBODY.to_string();
    let mut command =
        docker.command_via(&["setpriv", "--reuid", &id, "--regid", &id, "--clear-groups", "--"]);
    command.args(["-H", &layout.unix_host()]).args(args);
    cmd::capture(&mut command, CLI_TIMEOUT)
}

/// Opens the temporary root (traverse only) and the socket to everyone while it lives, so the
/// CLI can connect as `nobody`; the policy, not file modes, is under test.
struct NobodyAccess {
    restore: Vec<(PathBuf, u32)>,
}

impl NobodyAccess {
    fn grant(layout: &Layout) -> Result<Self> {
        let mut restore = Vec::new();
        for (path, mode) in
            [(&layout.root, 0o711), (&layout.socket, 0o666), (&layout.docker_config, 0o755)]
        {
            let old = fs::metadata(path).with_context(|| format!("stat {}", path.display()))?;
            restore.push((path.clone(), old.permissions().mode() & 0o7777));
            fs::set_permissions(path, fs::Permissions::from_mode(mode))
                .with_context(|| format!("chmod {mode:o} {}", path.display()))?;
        }
        Ok(Self { restore })
    }
}

impl Drop for NobodyAccess {
    fn drop(&mut self) {
        for (path, mode) in self.restore.iter().rev() {
            if let Err(err) = fs::set_permissions(path, fs::Permissions::from_mode(*mode)) {
                println!("restoring the mode of {}: {err}", path.display());
            }
        }
    }
}
