//! What the docker CLI must see from berthd. Each check asserts on the
//! CLI's exit status and on its JSON output; a failure carries the command
//! and everything it printed.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, anyhow, bail, ensure};
use nix::sys::signal::Signal;
use serde_json::Value;

use super::daemon::{self, Daemon};
use super::{Layout, Report};
use crate::cmd::{self, Captured};

/// The newest API version berthd may announce (dockerd 28's).
const MAX_API: ApiVersion = ApiVersion(1, 51);
/// The oldest API version berthd serves, as dockerd.
const MIN_API: &str = "1.24";
/// Ceiling for one docker CLI call; a hung call is a failure, not a hang.
pub(super) const CLI_TIMEOUT: Duration = Duration::from_secs(30);
/// Ceiling for a bounded `docker system events` (its `--until` is 2 s away).
const EVENTS_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a SIGHUP may take to show up as a `reload` event.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

pub(super) fn run_all(layout: &Layout, daemon: &Daemon, version: &str, report: &mut Report) {
    let docker = Docker { layout };
    report.record(
        "docker version over unix: Berth server, negotiated API version",
        version_check(&docker, version),
    );
    report.record(
        "docker info: ID, NCPU, MemTotal, DockerRootDir, ServerVersion",
        info_check(&docker, layout, version),
    );
    report.record("docker system events --since/--until ends at --until", bounded_events(&docker));
    report.record("pidfile holds berthd's pid", pidfile_check(layout, daemon));
    report.record("SIGHUP: a daemon reload event", reload_event(&docker, layout));
    report.record(
        "tls: docker version with a client certificate",
        tls_with_client_cert(&docker, version),
    );
    report.record("tls: refused without a client certificate", tls_without_client_cert(&docker));
    report.record("tls: plain http to the TLS port fails", plain_http_to_tls_port(&docker));
    report.record(
        "images: docker import, images (filters), tag, inspect, history, rmi",
        image_lifecycle(&docker, layout),
    );
    report.record(
        "images: a bad tarball is refused and leaves no image",
        bad_import(&docker, layout),
    );
    report.record(
        "images: the offline test images (busybox, alpine) import",
        test_images(&docker, layout),
    );
    report.record(
        "images: docker save | docker load keeps the ID and tags; image prune",
        save_load_prune(&docker, layout),
    );
    report.record(
        "registry: push and pull through a local registry, plain and with basic auth",
        push_pull(&docker, layout),
    );
    super::containers::run_all(&docker, layout, report);
    super::volumes::run_all(&docker, layout, report);
    super::networks::run_all(&docker, report);
    super::authz::run_all(&docker, layout, report);
}

/// `docker <args>` must succeed; returns its stdout.
pub(super) fn ok(docker: &Docker<'_>, args: &[&str]) -> Result<String> {
    let out = docker.unix(args, CLI_TIMEOUT)?;
    ensure!(out.success(), "docker {} failed\n{}", args.join(" "), out.describe());
    Ok(out.stdout)
}

fn image_id(docker: &Docker<'_>, name: &str) -> Result<String> {
    Ok(ok(docker, &["image", "inspect", "--format", "{{.Id}}", name])?.trim().to_owned())
}

fn save_load_prune(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let tar = rootfs_tarball(layout, "saveload")?;
    let id = ok(docker, &["import", &tar.to_string_lossy(), "e2e/saved:1"])?.trim().to_owned();
    ok(docker, &["tag", "e2e/saved:1", "e2e/saved:2"])?;
    let archive = layout.root.join("saved.tar");
    ok(docker, &["save", "-o", &archive.to_string_lossy(), "e2e/saved"])?;
    ok(docker, &["rmi", "e2e/saved:1", "e2e/saved:2"])?;
    let out = ok(docker, &["load", "-i", &archive.to_string_lossy()])?;
    ensure!(
        out.contains("Loaded image: e2e/saved:1") && out.contains("Loaded image: e2e/saved:2"),
        "docker load printed {out:?}"
    );
    ensure!(image_id(docker, "e2e/saved:2")? == id, "the ID survives save and load");

    // An untagged image is what `docker image prune` removes; tagged ones stay.
    let dangling = ok(docker, &["import", &tar.to_string_lossy()])?.trim().to_owned();
    let out = ok(docker, &["image", "prune", "-f"])?;
    ensure!(out.contains(&dangling), "prune reports the dangling image: {out:?}");
    ensure!(
        docker
            .unix(&["image", "inspect", &dangling], CLI_TIMEOUT)?
            .status
            .is_some_and(|s| !s.success()),
        "pruned image is gone"
    );
    ensure!(image_id(docker, "e2e/saved:1")? == id, "tagged image kept");
    ok(docker, &["rmi", "e2e/saved:1", "e2e/saved:2"])?;
    Ok(())
}

fn push_pull(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let tar = rootfs_tarball(layout, "pushpull")?;
    let id = ok(docker, &["import", &tar.to_string_lossy(), "e2e/pushed:1"])?.trim().to_owned();

    let plain = super::registry::Registry::start(&layout.root.join("registry-plain"), None)?;
    let remote = format!("{}/e2e/app:1", plain.domain());
    ok(docker, &["tag", "e2e/pushed:1", &remote])?;
    let out = ok(docker, &["push", &remote])?;
    ensure!(out.contains("digest: sha256:"), "docker push printed {out:?}");
    ok(docker, &["rmi", &remote])?;
    let out = ok(docker, &["pull", &remote])?;
    ensure!(out.contains("Status: Downloaded newer image"), "docker pull printed {out:?}");
    ensure!(image_id(docker, &remote)? == id, "the pulled image has the pushed ID");
    let digests = ok(docker, &["image", "inspect", "--format", "{{json .RepoDigests}}", &remote])?;
    ensure!(
        digests.contains(&format!("{}/e2e/app@sha256:", plain.domain())),
        "RepoDigests: {digests}"
    );
    ok(docker, &["rmi", &remote])?;

    let locked = super::registry::Registry::start(
        &layout.root.join("registry-auth"),
        Some(("e2e", "s3cret")),
    )?;
    let remote = format!("{}/e2e/private:1", locked.domain());
    ok(docker, &["tag", "e2e/pushed:1", &remote])?;
    let out = docker.unix(&["push", &remote], CLI_TIMEOUT)?;
    ensure!(!out.success(), "push without credentials must fail\n{}", out.describe());
    // What `docker login` stores: the CLI then sends it as X-Registry-Auth.
    let config =
        serde_json::json!({ "auths": { locked.domain(): { "auth": "ZTJlOnMzY3JldA==" } } });
    std::fs::write(layout.docker_config.join("config.json"), config.to_string())?;
    let out = ok(docker, &["push", &remote])?;
    ensure!(out.contains("digest: sha256:"), "authenticated push printed {out:?}");
    ok(docker, &["rmi", &remote])?;
    ok(docker, &["pull", &remote])?;
    ensure!(image_id(docker, &remote)? == id, "the private image pulls back with its ID");
    ok(docker, &["logout", &locked.domain()])?;
    ok(docker, &["rmi", &remote, "e2e/pushed:1"])?;
    Ok(())
}

fn test_images(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let work = layout.root.join("test-images");
    std::fs::create_dir_all(&work)?;
    for imported in crate::testimage::build_and_import(&work, &layout.socket)? {
        if let Err(err) = imported.result {
            bail!("{}: {err:#}", imported.reference);
        }
    }
    let out = docker
        .unix(&["image", "inspect", "--format", "{{json .Config.Cmd}}", "busybox"], CLI_TIMEOUT)?;
    ensure!(out.success() && out.stdout.trim() == r#"["sh"]"#, "busybox CMD\n{}", out.describe());
    let out = docker.unix(&["images", "--format", "{{.Repository}}:{{.Tag}}"], CLI_TIMEOUT)?;
    for want in ["busybox:latest", "alpine:latest", "alpine:3.10"] {
        ensure!(out.stdout.lines().any(|l| l == want), "{want} listed\n{}", out.describe());
    }
    Ok(())
}

/// A tiny root filesystem tarball made with the system `tar`.
pub(super) fn rootfs_tarball(layout: &Layout, name: &str) -> Result<std::path::PathBuf> {
    let dir = layout.root.join(format!("{name}-rootfs"));
    std::fs::create_dir_all(dir.join("etc"))?;
    std::fs::write(dir.join("etc/hello"), "hello from berth e2e\n")?;
    let tar = layout.root.join(format!("{name}.tar"));
    cmd::run(Command::new("tar").arg("-C").arg(&dir).arg("-cf").arg(&tar).arg("."))?;
    Ok(tar)
}

fn image_lifecycle(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let tar = rootfs_tarball(layout, "e2e")?;
    let tar = tar.to_string_lossy().into_owned();
    let out =
        docker.unix(&["import", "--change", r#"CMD ["sh"]"#, &tar, "e2e/img:1"], CLI_TIMEOUT)?;
    ensure!(out.success(), "docker import failed\n{}", out.describe());
    let id = out.stdout.trim().to_owned();
    ensure!(
        id.starts_with("sha256:") && id.len() == 71,
        "import printed {id:?}\n{}",
        out.describe()
    );

    let out = docker.unix(
        &["images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=e2e/*"],
        CLI_TIMEOUT,
    )?;
    ensure!(
        out.success() && out.stdout.trim() == "e2e/img:1",
        "docker images --filter\n{}",
        out.describe()
    );

    let out = docker.unix(&["tag", "e2e/img:1", "e2e/other:2"], CLI_TIMEOUT)?;
    ensure!(out.success(), "docker tag\n{}", out.describe());
    // `docker image inspect`: plain `docker inspect` asks the container API first (issue 5).
    let out =
        docker.unix(&["image", "inspect", "--format", "{{json .}}", "e2e/other:2"], CLI_TIMEOUT)?;
    let json = success_json(&out)?;
    expect_str(field(&json, "/Id", &out)?, &id, "/Id", &out)?;
    ensure!(json["Config"]["Cmd"] == serde_json::json!(["sh"]), "Config.Cmd\n{}", out.describe());
    ensure!(
        json["RepoTags"] == serde_json::json!(["e2e/img:1", "e2e/other:2"]),
        "RepoTags\n{}",
        out.describe()
    );

    let out = docker.unix(
        &["history", "--no-trunc", "--format", "{{.ID}} {{.Comment}}", "e2e/img:1"],
        CLI_TIMEOUT,
    )?;
    ensure!(
        out.success() && out.stdout.trim() == format!("{id} Imported from -"),
        "docker history\n{}",
        out.describe()
    );

    let out = docker.unix(&["rmi", &id[7..19]], CLI_TIMEOUT)?;
    ensure!(
        !out.success() && out.stderr.contains("must be forced"),
        "rmi by ID with two repositories must need -f\n{}",
        out.describe()
    );
    let out = docker.unix(&["rmi", "e2e/other:2"], CLI_TIMEOUT)?;
    ensure!(
        out.success() && out.stdout.contains("Untagged: e2e/other:2"),
        "rmi a tag\n{}",
        out.describe()
    );
    let out = docker.unix(&["rmi", "e2e/img:1"], CLI_TIMEOUT)?;
    ensure!(
        out.success() && out.stdout.contains(&format!("Deleted: {id}")),
        "rmi the last tag\n{}",
        out.describe()
    );
    let out = docker.unix(&["image", "inspect", "e2e/img:1"], CLI_TIMEOUT)?;
    ensure!(
        !out.success() && out.stderr.contains("No such image"),
        "image is gone\n{}",
        out.describe()
    );
    Ok(())
}

fn bad_import(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let bad = layout.root.join("not-a-tar.tar");
    std::fs::write(&bad, "definitely not a tarball, just some text that goes on and on")?;
    let out = docker.unix(&["import", &bad.to_string_lossy(), "e2e/bad:1"], CLI_TIMEOUT)?;
    ensure!(!out.success(), "importing garbage must fail\n{}", out.describe());
    let out = docker.unix(&["images", "-q", "--filter", "reference=e2e/bad"], CLI_TIMEOUT)?;
    ensure!(
        out.success() && out.stdout.trim().is_empty(),
        "no image left behind\n{}",
        out.describe()
    );
    Ok(())
}

/// The docker CLI isolated from the developer's own configuration.
pub(crate) struct Docker<'a> {
    pub(crate) layout: &'a Layout,
}

impl Docker<'_> {
    pub(super) fn command(&self) -> Command {
        self.command_via(&[])
    }

    /// `docker` started through `wrapper` (e.g. `setpriv --reuid …`), isolated the same way.
    pub(super) fn command_via(&self, wrapper: &[&str]) -> Command {
        let mut command = match wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg("docker");
                c
            }
            None => Command::new("docker"),
        };
        for var in [
            "DOCKER_HOST",
            "DOCKER_CONTEXT",
            "DOCKER_TLS",
            "DOCKER_TLS_VERIFY",
            "DOCKER_CERT_PATH",
            "DOCKER_API_VERSION",
        ] {
            command.env_remove(var);
        }
        command.env("DOCKER_CONFIG", &self.layout.docker_config).env("DOCKER_CLI_HINTS", "false");
        command
    }

    /// `docker -H unix://<socket> <args>`.
    pub(crate) fn unix(&self, args: &[&str], timeout: Duration) -> Result<Captured> {
        let mut command = self.command();
        command.args(["-H", &self.layout.unix_host()]).args(args);
        cmd::capture(&mut command, timeout)
    }

    /// `docker -H tcp://127.0.0.1:<port> <tls flags> <args>`.
    pub(super) fn tcp(&self, tls: Tls, args: &[&str]) -> Result<Captured> {
        let pki = &self.layout.pki;
        let mut command = self.command();
        command.args(["-H", &self.layout.tcp_host()]);
        match tls {
            Tls::Off => {}
            Tls::VerifyServerOnly => {
                command.arg("--tlsverify").arg("--tlscacert").arg(&pki.ca_cert);
            }
            Tls::Mutual => {
                command
                    .arg("--tlsverify")
                    .arg("--tlscacert")
                    .arg(&pki.ca_cert)
                    .arg("--tlscert")
                    .arg(&pki.client_cert)
                    .arg("--tlskey")
                    .arg(&pki.client_key);
            }
        }
        command.args(args);
        cmd::capture(&mut command, CLI_TIMEOUT)
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Tls {
    Off,
    VerifyServerOnly,
    Mutual,
}

fn version_check(docker: &Docker<'_>, version: &str) -> Result<()> {
    let out = docker.unix(&["version", "--format", "{{json .}}"], CLI_TIMEOUT)?;
    let json = success_json(&out)?;
    let field = |pointer: &str| field(&json, pointer, &out);
    ensure!(
        !json["Server"].is_null(),
        "no Server section: the CLI did not reach berthd\n{}",
        out.describe()
    );
    expect_str(field("/Server/Version")?, version, "/Server/Version", &out)?;
    expect_str(field("/Server/Components/0/Name")?, "Engine", "/Server/Components/0/Name", &out)?;
    expect_str(
        field("/Server/Components/0/Version")?,
        version,
        "/Server/Components/0/Version",
        &out,
    )?;
    let platform = str_of(field("/Server/Platform/Name")?, "/Server/Platform/Name", &out)?;
    ensure!(
        platform.contains("Berth"),
        "/Server/Platform/Name is {platform:?}, expected it to name Berth\n{}",
        out.describe()
    );
    expect_str(field("/Server/MinAPIVersion")?, MIN_API, "/Server/MinAPIVersion", &out)?;
    let server_api = api_of(field("/Server/ApiVersion")?, "/Server/ApiVersion", &out)?;
    let min_api = ApiVersion::parse(MIN_API).context("MIN_API is a valid version")?;
    ensure!(
        min_api <= server_api && server_api <= MAX_API,
        "/Server/ApiVersion {server_api} is outside {min_api}..={MAX_API}\n{}",
        out.describe()
    );
    // The CLI negotiates down to the lower of what it and the server speak.
    let client_default =
        api_of(field("/Client/DefaultAPIVersion")?, "/Client/DefaultAPIVersion", &out)?;
    let negotiated = api_of(field("/Client/ApiVersion")?, "/Client/ApiVersion", &out)?;
    let expected = client_default.min(server_api);
    ensure!(
        negotiated == expected,
        "the CLI negotiated API {negotiated}, expected min(client {client_default}, server {server_api}) = {expected}\n{}",
        out.describe()
    );
    Ok(())
}

fn info_check(docker: &Docker<'_>, layout: &Layout, version: &str) -> Result<()> {
    let out = docker.unix(&["info", "--format", "{{json .}}"], CLI_TIMEOUT)?;
    let json = success_json(&out)?;
    let field = |pointer: &str| field(&json, pointer, &out);
    let id = str_of(field("/ID")?, "/ID", &out)?;
    ensure!(!id.is_empty(), "ID is empty\n{}", out.describe());
    let ncpu = field("/NCPU")?.as_u64().unwrap_or(0);
    ensure!(ncpu >= 1, "NCPU is {}, expected >= 1\n{}", json["NCPU"], out.describe());
    let mem = field("/MemTotal")?.as_u64().unwrap_or(0);
    ensure!(mem > 0, "MemTotal is {}, expected > 0\n{}", json["MemTotal"], out.describe());
    let root = layout.data_root.to_string_lossy();
    expect_str(field("/DockerRootDir")?, &root, "/DockerRootDir", &out)?;
    expect_str(field("/ServerVersion")?, version, "/ServerVersion", &out)?;
    let server_errors = json["ServerErrors"].as_array().map_or(0, Vec::len);
    ensure!(
        server_errors == 0,
        "the CLI reported ServerErrors: {}\n{}",
        json["ServerErrors"],
        out.describe()
    );
    Ok(())
}

/// A bounded events request must stay open until `--until` and then end
/// with exit 0, as dockerd's does.
fn bounded_events(docker: &Docker<'_>) -> Result<()> {
    let now = unix_now()?.as_secs();
    let until = now + 2;
    let out = docker.unix(
        &["system", "events", "--since", &(now - 60).to_string(), "--until", &until.to_string()],
        EVENTS_TIMEOUT,
    )?;
    ensure!(out.success(), "expected exit 0 within {EVENTS_TIMEOUT:?}\n{}", out.describe());
    // Allow for the CLI's own start-up and exit, not for a stream that
    // closes before --until.
    let ended = unix_now()?;
    let until = Duration::from_secs(until);
    ensure!(
        ended + Duration::from_millis(500) >= until,
        "the stream ended at {ended:?}, before --until {until:?}: it was not kept open\n{}",
        out.describe()
    );
    Ok(())
}

fn pidfile_check(layout: &Layout, daemon: &Daemon) -> Result<()> {
    let in_file = daemon::read_pidfile(&layout.pidfile)?;
    let spawned = daemon.pid().context("berthd is not running")?;
    ensure!(
        in_file == spawned,
        "{} holds {in_file}, but berthd's pid is {spawned}",
        layout.pidfile.display()
    );
    Ok(())
}

/// SIGHUP (sent to the pid in the pidfile, as an operator would) must
/// produce a `daemon` / `reload` event.
fn reload_event(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    reload_and_wait(docker, layout)
}

/// Sends SIGHUP to berthd and waits for the `reload` event it announces, so the reloaded
/// configuration is in force when this returns. A reload that fails announces nothing.
pub(super) fn reload_and_wait(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let sent = unix_now()?;
    daemon::signal_pidfile(&layout.pidfile, Signal::SIGHUP)?;
    let deadline = Instant::now() + RELOAD_TIMEOUT;
    loop {
        // Event times are compared in whole seconds; floor so the event counts, and tell this
        // reload from an earlier one in the same second by its timeNano.
        let until = unix_now()?.as_secs() + 1;
        let out = docker.unix(
            &[
                "system",
                "events",
                "--since",
                &sent.as_secs().to_string(),
                "--until",
                &until.to_string(),
                "--filter",
                "type=daemon",
                "--format",
                "{{json .}}",
            ],
            EVENTS_TIMEOUT,
        )?;
        ensure!(out.success(), "events failed\n{}", out.describe());
        let mut reloaded = false;
        for line in out.stdout.lines().filter(|line| !line.trim().is_empty()) {
            let event: Value = serde_json::from_str(line)
                .with_context(|| format!("event line is not JSON: {line:?}\n{}", out.describe()))?;
            ensure!(
                event["Type"] == "daemon",
                "--filter type=daemon let through {line}\n{}",
                out.describe()
            );
            let at = event["timeNano"].as_u64().unwrap_or_default();
            reloaded |= event["Action"] == "reload" && u128::from(at) >= sent.as_nanos();
        }
        if reloaded {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("no daemon reload event within {RELOAD_TIMEOUT:?} of SIGHUP\n{}", out.describe());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn tls_with_client_cert(docker: &Docker<'_>, version: &str) -> Result<()> {
    let out = docker.tcp(Tls::Mutual, &["version", "--format", "{{.Server.Version}}"])?;
    ensure!(out.success(), "expected exit 0\n{}", out.describe());
    ensure!(
        out.stdout.trim() == version,
        "server version over TLS is {:?}, expected {version:?}\n{}",
        out.stdout.trim(),
        out.describe()
    );
    Ok(())
}

fn tls_without_client_cert(docker: &Docker<'_>) -> Result<()> {
    let out = docker.tcp(Tls::VerifyServerOnly, &["version", "--format", "{{.Server.Version}}"])?;
    expect_refused(&out)
}

fn plain_http_to_tls_port(docker: &Docker<'_>) -> Result<()> {
    let out = docker.tcp(Tls::Off, &["version", "--format", "{{.Server.Version}}"])?;
    expect_refused(&out)
}

/// The CLI must fail promptly, and because berthd said no: not because
/// nothing listens (that would pass without testing TLS at all).
fn expect_refused(out: &Captured) -> Result<()> {
    let Some(status) = out.status else {
        bail!("the CLI hung instead of failing\n{}", out.describe());
    };
    ensure!(!status.success(), "expected a failure, got exit 0\n{}", out.describe());
    ensure!(
        !out.stderr.contains("connection refused"),
        "nothing listens on the TLS port, so this proves nothing\n{}",
        out.describe()
    );
    Ok(())
}

/// Exit 0 and stdout that is one JSON document.
fn success_json(out: &Captured) -> Result<Value> {
    ensure!(out.success(), "expected exit 0\n{}", out.describe());
    serde_json::from_str(out.stdout.trim())
        .with_context(|| format!("stdout is not JSON\n{}", out.describe()))
}

fn field<'a>(json: &'a Value, pointer: &str, out: &Captured) -> Result<&'a Value> {
    json.pointer(pointer).ok_or_else(|| anyhow!("{pointer} is missing\n{}", out.describe()))
}

fn str_of<'a>(value: &'a Value, pointer: &str, out: &Captured) -> Result<&'a str> {
    value.as_str().ok_or_else(|| anyhow!("{pointer} is {value}, not a string\n{}", out.describe()))
}

fn expect_str(value: &Value, expected: &str, pointer: &str, out: &Captured) -> Result<()> {
    let actual = str_of(value, pointer, out)?;
    ensure!(
        actual == expected,
        "{pointer} is {actual:?}, expected {expected:?}\n{}",
        out.describe()
    );
    Ok(())
}

fn api_of(value: &Value, pointer: &str, out: &Captured) -> Result<ApiVersion> {
    let text = str_of(value, pointer, out)?;
    ApiVersion::parse(text)
        .with_context(|| format!("{pointer} {text:?} is not an API version\n{}", out.describe()))
}

/// Time since the epoch; the daemon and the CLI share this clock.
fn unix_now() -> Result<Duration> {
    SystemTime::now().duration_since(UNIX_EPOCH).context("the clock is before 1970")
}

/// `major.minor`, ordered numerically (1.9 < 1.10).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ApiVersion(u32, u32);

impl ApiVersion {
    fn parse(text: &str) -> Result<ApiVersion> {
        let (major, minor) = text.split_once('.').context("no '.'")?;
        Ok(ApiVersion(major.parse()?, minor.parse()?))
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.0, self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_compare_numerically() -> Result<()> {
        assert!(ApiVersion::parse("1.9")? < ApiVersion::parse("1.10")?);
        assert_eq!(ApiVersion::parse("1.51")?, MAX_API);
        assert_eq!(ApiVersion::parse("1.50")?.min(MAX_API).to_string(), "1.50");
        assert!(ApiVersion::parse("1").is_err());
        assert!(ApiVersion::parse("1.x").is_err());
        Ok(())
    }
}
