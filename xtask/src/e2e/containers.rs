//! The everyday container loop through the docker CLI: run, exec, logs, ps, stop, rm, cp, and
//! friends, against real containers on containerd and runc.

use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use nix::sys::signal::Signal;

use super::checks::{CLI_TIMEOUT, Docker, ok};
use super::daemon::Daemon;
use super::{Layout, Report};
use crate::cmd;

/// How long a container may take to reach a state the check waits for.
const SETTLE: Duration = Duration::from_secs(20);

pub(super) fn run_all(docker: &Docker<'_>, layout: &Layout, report: &mut Report) {
    report
        .record("containers: docker run --rm echo; exit codes; command not found", run_rm(docker));
    report.record(
        "containers: run -d, exec (-i), logs, ps, top, stats, pause, rename, update, stop, rm",
        detached_loop(docker),
    );
    report.record(
        "containers: docker run -it through a pseudo-terminal",
        interactive(docker, layout),
    );
    report.record("containers: docker wait returns the exit code", wait_code(docker));
    report.record(
        "containers: --device maps a host device with its permissions; a missing one fails the start",
        devices(docker),
    );
    report
        .record("containers: docker cp both ways, diff, export", copy_diff_export(docker, layout));
    report.record(
        "containers: restart policy on-failure:2 with a crashing container",
        restart_policy(docker),
    );
    report.record("containers: bridge, none and host networking", networking(docker));
    report.record(
        "containers: seccomp: the default filter, unconfined, a custom profile file",
        seccomp(docker, layout),
    );
    report.record("containers: bad input is refused and leaves nothing", bad_input(docker));
}

fn cli(docker: &Docker<'_>, args: &[&str]) -> Result<cmd::Captured> {
    docker.unix(args, CLI_TIMEOUT)
}

fn inspect(docker: &Docker<'_>, name: &str, format: &str) -> Result<String> {
    Ok(ok(docker, &["inspect", "--format", format, name])?.trim().to_owned())
}

/// Polls `docker inspect --format` until it prints `want`.
fn wait_for(docker: &Docker<'_>, name: &str, format: &str, want: &str) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let got = inspect(docker, name, format)?;
        if got == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{name}: {format} is {got:?}, waited for {want:?}");
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn run_rm(docker: &Docker<'_>) -> Result<()> {
    let out = ok(docker, &["run", "--rm", "--name", "hello", "busybox", "echo", "hello", "world"])?;
    ensure!(out == "hello world\n", "docker run printed {out:?}");
    let left = ok(docker, &["ps", "-a", "--filter", "name=hello", "--format", "{{.Names}}"])?;
    ensure!(left.trim().is_empty(), "--rm left {left:?}");

    let out = cli(docker, &["run", "--rm", "busybox", "sh", "-c", "echo err >&2; exit 3"])?;
    ensure!(out.status.and_then(|s| s.code()) == Some(3), "exit code 3\n{}", out.describe());
    ensure!(out.stderr.contains("err"), "stderr reaches the client\n{}", out.describe());

    let out = cli(docker, &["run", "--rm", "busybox", "nosuchcommand"])?;
    ensure!(out.status.and_then(|s| s.code()) == Some(127), "exit code 127\n{}", out.describe());
    ensure!(
        out.stderr.contains("executable file not found"),
        "dockerd's message\n{}",
        out.describe()
    );
    Ok(())
}

fn detached_loop(docker: &Docker<'_>) -> Result<()> {
    let id = ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "web",
            "busybox",
            "sh",
            "-c",
            "echo started; while true; do sleep 1; done",
        ],
    )?
    .trim()
    .to_owned();
    ensure!(id.len() == 64, "docker run -d printed the ID: {id:?}");
    wait_for(docker, "web", "{{.State.Status}}", "running")?;

    let out = ok(docker, &["exec", "web", "echo", "from", "exec"])?;
    ensure!(out == "from exec\n", "docker exec printed {out:?}");
    let mut command = docker.command();
    command.args(["-H", &docker.layout.unix_host(), "exec", "-i", "web", "cat"]);
    let out = cmd::capture_with_input(&mut command, Some(b"through stdin\n"), CLI_TIMEOUT)?;
    ensure!(out.success() && out.stdout == "through stdin\n", "exec -i\n{}", out.describe());
    let out = cli(docker, &["exec", "web", "sh", "-c", "exit 4"])?;
    ensure!(out.status.and_then(|s| s.code()) == Some(4), "exec exit code\n{}", out.describe());

    let deadline = Instant::now() + SETTLE;
    while !ok(docker, &["logs", "web"])?.contains("started") {
        ensure!(Instant::now() < deadline, "docker logs never showed the output");
        thread::sleep(Duration::from_millis(100));
    }
    let ps = ok(docker, &["ps", "--format", "{{.Names}} {{.Status}}"])?;
    ensure!(ps.lines().any(|l| l.starts_with("web Up")), "docker ps: {ps:?}");
    let top = ok(docker, &["top", "web"])?;
    ensure!(top.contains("PID") && top.contains("sleep"), "docker top: {top:?}");
    let stats =
        ok(docker, &["stats", "--no-stream", "--format", "{{.Name}} {{.MemUsage}}", "web"])?;
    ensure!(stats.starts_with("web ") && stats.contains("iB / "), "docker stats: {stats:?}");

    ok(docker, &["pause", "web"])?;
    ensure!(inspect(docker, "web", "{{.State.Status}}")? == "paused", "paused");
    ok(docker, &["unpause", "web"])?;
    ensure!(inspect(docker, "web", "{{.State.Status}}")? == "running", "running again");
    ok(docker, &["rename", "web", "web2"])?;
    ensure!(inspect(docker, "web2", "{{.Name}}")? == "/web2", "renamed");
    ok(docker, &["update", "--memory", "64m", "--memory-swap", "128m", "web2"])?;
    ensure!(inspect(docker, "web2", "{{.HostConfig.Memory}}")? == "67108864", "memory updated");

    ok(docker, &["stop", "-t", "1", "web2"])?;
    ensure!(inspect(docker, "web2", "{{.State.Status}}")? == "exited", "stopped");
    let out = cli(docker, &["exec", "web2", "true"])?;
    ensure!(
        !out.success() && out.stderr.contains("is not running"),
        "exec on a stopped container\n{}",
        out.describe()
    );
    ok(docker, &["start", "web2"])?;
    ensure!(inspect(docker, "web2", "{{.State.Running}}")? == "true", "started again");
    let out = cli(docker, &["rm", "web2"])?;
    ensure!(
        !out.success() && out.stderr.contains("container is running"),
        "rm of a running container\n{}",
        out.describe()
    );
    ok(docker, &["rm", "-f", "web2"])?;
    let out = cli(docker, &["inspect", "web2"])?;
    ensure!(!out.success(), "removed container is gone\n{}", out.describe());
    Ok(())
}

fn interactive(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let line = format!(
        "docker -H {} run -it --rm busybox sh -c 'tty; echo interactive-ok'",
        layout.unix_host()
    );
    let mut command = docker.command();
    command.env_remove("DOCKER_HOST");
    let mut script = Command::new("script");
    script.args(["-qec", &line, "/dev/null"]);
    for (k, v) in command.get_envs() {
        match v {
            Some(v) => script.env(k, v),
            None => script.env_remove(k),
        };
    }
    let out = cmd::capture(&mut script, CLI_TIMEOUT)?;
    ensure!(out.success(), "docker run -it\n{}", out.describe());
    ensure!(
        out.stdout.contains("/dev/pts/") && out.stdout.contains("interactive-ok"),
        "the container had a terminal\n{}",
        out.describe()
    );
    Ok(())
}

fn wait_code(docker: &Docker<'_>) -> Result<()> {
    let id =
        ok(docker, &["run", "-d", "busybox", "sh", "-c", "sleep 1; exit 7"])?.trim().to_owned();
    let out = ok(docker, &["wait", &id])?;
    ensure!(out.trim() == "7", "docker wait printed {out:?}");
    ensure!(inspect(docker, &id, "{{.State.ExitCode}}")? == "7", "ExitCode");
    ok(docker, &["rm", &id])?;
    Ok(())
}

fn devices(docker: &Docker<'_>) -> Result<()> {
    // /dev/kmsg is outside the device rules dockerd and runc always allow: with "r" the device
    // cgroup refuses to open it for writing, with "w" the write goes through (to the kernel
    // log). Without the mapping, the shell would create a plain file in the container's /dev.
    let write = "(echo berth-e2e-device > /dev/mykmsg) 2>&1 && echo written; true";
    let out = ok(
        docker,
        &["run", "--rm", "--device", "/dev/kmsg:/dev/mykmsg:r", "busybox", "sh", "-c", write],
    )?;
    ensure!(out.contains("Operation not permitted") && !out.contains("written"), "r: {out:?}");
    let out = ok(
        docker,
        &["run", "--rm", "--device", "/dev/kmsg:/dev/mykmsg:w", "busybox", "sh", "-c", write],
    )?;
    ensure!(out.trim() == "written", "w: {out:?}");
    let out = cli(docker, &["run", "--rm", "--device", "/dev/berth-e2e-none", "busybox", "true"])?;
    ensure!(
        !out.success()
            && out.stderr.contains(
                "error gathering device information while adding custom device \"/dev/berth-e2e-none\""
            ),
        "a missing device\n{}",
        out.describe()
    );
    Ok(())
}

fn copy_diff_export(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    let dir = layout.root.join("cp");
    std::fs::create_dir_all(&dir)?;
    let file = dir.join("in.txt");
    std::fs::write(&file, "copied in\n")?;
    ok(docker, &["create", "--name", "cpbox", "busybox", "cat", "/tmp/in.txt"])?;
    ok(docker, &["cp", &file.to_string_lossy(), "cpbox:/tmp/in.txt"])?;
    let back = dir.join("back.txt");
    ok(docker, &["cp", "cpbox:/tmp/in.txt", &back.to_string_lossy()])?;
    ensure!(std::fs::read_to_string(&back)? == "copied in\n", "round trip through docker cp");
    let out = ok(docker, &["start", "-a", "cpbox"])?;
    ensure!(out == "copied in\n", "the container sees the copied file: {out:?}");

    let diff = ok(docker, &["diff", "cpbox"])?;
    ensure!(diff.lines().any(|l| l == "A /tmp/in.txt"), "docker diff: {diff:?}");

    let tar = dir.join("export.tar");
    ok(docker, &["export", "-o", &tar.to_string_lossy(), "cpbox"])?;
    let listing = Command::new("tar").arg("tf").arg(&tar).output().context("tar tf")?;
    let listing = String::from_utf8_lossy(&listing.stdout);
    ensure!(
        listing.lines().any(|l| l.trim_start_matches("./") == "bin/busybox")
            && listing.lines().any(|l| l.trim_start_matches("./") == "tmp/in.txt"),
        "docker export lists the rootfs: {}",
        listing.lines().take(10).collect::<Vec<_>>().join(", ")
    );
    ok(docker, &["rm", "cpbox"])?;

    // A running container: cp out of its live root.
    ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "cplive",
            "busybox",
            "sh",
            "-c",
            "echo live > /live.txt; sleep 60",
        ],
    )?;
    let deadline = Instant::now() + SETTLE;
    let out_file = dir.join("live.txt");
    loop {
        let out = cli(docker, &["cp", "cplive:/live.txt", &out_file.to_string_lossy()])?;
        if out.success() {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "docker cp from a running container\n{}",
            out.describe()
        );
        thread::sleep(Duration::from_millis(100));
    }
    ensure!(std::fs::read_to_string(&out_file)? == "live\n", "live copy");
    ok(docker, &["rm", "-f", "cplive"])?;
    Ok(())
}

fn restart_policy(docker: &Docker<'_>) -> Result<()> {
    ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "crasher",
            "--restart",
            "on-failure:2",
            "busybox",
            "sh",
            "-c",
            "exit 1",
        ],
    )?;
    let deadline = Instant::now() + SETTLE;
    loop {
        let state = inspect(docker, "crasher", "{{.RestartCount}} {{.State.Status}}")?;
        if state == "2 exited" {
            break;
        }
        ensure!(Instant::now() < deadline, "restart policy: {state}");
        thread::sleep(Duration::from_millis(100));
    }
    ok(docker, &["rm", "crasher"])?;
    Ok(())
}

fn networking(docker: &Docker<'_>) -> Result<()> {
    let gateway = super::E2E_BIP.split('/').next().unwrap_or_default();
    let out = ok(
        docker,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            &format!("ip -4 addr show eth0; ping -c1 -W2 {gateway}"),
        ],
    )?;
    ensure!(
        out.contains("inet 10.213.240.") && out.contains("1 packets received"),
        "bridge: {out:?}"
    );

    ok(docker, &["run", "-d", "--name", "peer", "busybox", "sleep", "60"])?;
    let ip = inspect(docker, "peer", "{{.NetworkSettings.IPAddress}}")?;
    ensure!(ip.starts_with("10.213.240."), "peer address {ip:?}");
    let out = ok(docker, &["run", "--rm", "busybox", "ping", "-c1", "-W2", &ip])?;
    ensure!(out.contains("1 packets received"), "container to container: {out:?}");
    let hosts = ok(docker, &["exec", "peer", "cat", "/etc/hosts"])?;
    ensure!(hosts.contains(&ip), "/etc/hosts names the container: {hosts:?}");
    ok(docker, &["rm", "-f", "peer"])?;

    let out = ok(docker, &["run", "--rm", "--network", "none", "busybox", "ip", "-o", "link"])?;
    ensure!(out.lines().count() == 1 && out.contains("lo:"), "none: only lo: {out:?}");
    let host = nix::unistd::gethostname()?.to_string_lossy().into_owned();
    let out = ok(docker, &["run", "--rm", "--network", "host", "busybox", "hostname"])?;
    ensure!(out.trim() == host, "host network: hostname {out:?}, host {host:?}");
    Ok(())
}

fn seccomp(docker: &Docker<'_>, layout: &Layout) -> Result<()> {
    // The kernel's word on the filter of the process: 2 filtered, 0 not.
    let mode = |security: &[&str]| -> Result<String> {
        let mut args = vec!["run", "--rm"];
        for opt in security {
            args.extend(["--security-opt", opt]);
        }
        args.extend(["busybox", "grep", "^Seccomp:", "/proc/self/status"]);
        Ok(ok(docker, &args)?.trim().to_owned())
    };
    ensure!(mode(&[])? == "Seccomp:\t2", "the default profile");
    ensure!(mode(&["seccomp=builtin"])? == "Seccomp:\t2", "seccomp=builtin");
    ensure!(mode(&["seccomp=unconfined"])? == "Seccomp:\t0", "seccomp=unconfined");

    // The CLI reads the file and sends its JSON; the daemon applies it.
    let dir = layout.root.join("seccomp");
    std::fs::create_dir_all(&dir)?;
    let deny = dir.join("deny-mkdir.json");
    std::fs::write(
        &deny,
        r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
}
"#,
    )?;
    let profile = format!("seccomp={}", deny.display());
    let out = ok(docker, &["run", "--rm", "busybox", "mkdir", "/made"])?;
    ensure!(out.is_empty(), "mkdir under the default profile: {out:?}");
    let out =
        cli(docker, &["run", "--rm", "--security-opt", &profile, "busybox", "mkdir", "/made"])?;
    ensure!(
        !out.success() && out.stderr.contains("Operation not permitted"),
        "mkdir under a profile that denies it\n{}",
        out.describe()
    );

    // A profile dockerd refuses is refused at create, and leaves nothing.
    let before = ok(docker, &["ps", "-aq"])?;
    let bad = dir.join("name-and-names.json");
    std::fs::write(
        &bad,
        r#"{"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"name": "mkdir", "names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]}"#,
    )?;
    let bad = format!("seccomp={}", bad.display());
    let out = cli(docker, &["create", "--security-opt", &bad, "busybox"])?;
    ensure!(
        !out.success() && out.stderr.contains("use either 'name' or 'names'"),
        "a profile with both name and names\n{}",
        out.describe()
    );
    let out = cli(docker, &["create", "--security-opt", "seccmp=unconfined", "busybox"])?;
    ensure!(
        !out.success() && out.stderr.contains("invalid --security-opt 2"),
        "an unknown security option\n{}",
        out.describe()
    );
    ensure!(ok(docker, &["ps", "-aq"])? == before, "refused creates left containers");
    Ok(())
}

fn bad_input(docker: &Docker<'_>) -> Result<()> {
    let before = ok(docker, &["ps", "-aq"])?;
    let out = cli(docker, &["create", "--name", "bad name", "busybox"])?;
    ensure!(
        !out.success() && out.stderr.contains("Invalid container name"),
        "bad name\n{}",
        out.describe()
    );
    let out = cli(docker, &["create", "--restart", "sometimes", "busybox"])?;
    ensure!(
        !out.success() && out.stderr.contains("invalid restart policy"),
        "bad policy\n{}",
        out.describe()
    );
    let out = cli(docker, &["create", "-m", "1k", "busybox"])?;
    ensure!(
        !out.success() && out.stderr.contains("Minimum memory limit"),
        "bad memory\n{}",
        out.describe()
    );
    let out = cli(
        docker,
        &["create", "--mount", "type=bind,source=/nonexistent-berth,target=/x", "busybox"],
    )?;
    ensure!(
        !out.success() && out.stderr.contains("bind source path does not exist"),
        "bad mount\n{}",
        out.describe()
    );
    ok(docker, &["create", "--name", "taken", "busybox"])?;
    let out = cli(docker, &["create", "--name", "taken", "busybox"])?;
    ensure!(
        !out.success() && out.stderr.contains("is already in use"),
        "name conflict\n{}",
        out.describe()
    );
    ok(docker, &["rm", "taken"])?;
    let after = ok(docker, &["ps", "-aq"])?;
    ensure!(before == after, "failed creates left containers: {after:?}");
    Ok(())
}

/// `kill -9` of berthd while a container runs, then a new berthd: the container still runs, is
/// listed as running, its log continues, and it stops normally.
pub(super) fn restore_after_kill(
    docker: &Docker<'_>,
    layout: &Layout,
    daemon: &mut Daemon,
    berthd: &std::path::Path,
) -> Result<()> {
    ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "survivor",
            "busybox",
            "sh",
            "-c",
            "i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.2; done",
        ],
    )?;
    ok(docker, &["run", "-d", "--name", "quitter", "busybox", "sh", "-c", "sleep 1; exit 5"])?;
    let pid = inspect(docker, "survivor", "{{.State.Pid}}")?;
    daemon.signal(Signal::SIGKILL)?;
    // berthd is dead and reaped once `signal` returns; the container must not care.
    ensure!(
        std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the container outlived berthd"
    );
    *daemon = Daemon::start(berthd, layout)?;
    daemon.wait_ready(Duration::from_secs(30))?;
    ensure!(inspect(docker, "survivor", "{{.State.Status}}")? == "running", "listed as running");
    ensure!(inspect(docker, "survivor", "{{.State.Pid}}")? == pid, "same process");
    wait_for(docker, "quitter", "{{.State.Status}} {{.State.ExitCode}}", "exited 5")?;
    let before = ok(docker, &["logs", "survivor"])?.lines().count();
    let deadline = Instant::now() + SETTLE;
    while ok(docker, &["logs", "survivor"])?.lines().count() <= before {
        ensure!(Instant::now() < deadline, "the log does not continue");
        thread::sleep(Duration::from_millis(200));
    }
    ok(docker, &["rm", "-f", "survivor", "quitter"])?;
    Ok(())
}
