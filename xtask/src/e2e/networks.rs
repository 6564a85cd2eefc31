//! User-defined networks, container DNS and published ports through the docker CLI: a web
//! server and a client on their own network, reached by name and alias, a port published on
//! 127.0.0.1, connect and disconnect of a running container, and nothing left behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};

use super::checks::{CLI_TIMEOUT, Docker, ok};
use super::{Report, free_port};
use crate::cmd;

/// Subnets of the test networks (inside the e2e address plan, away from the default bridge).
const SUBNET_A: &str = "10.213.242.0/24";
const SUBNET_B: &str = "10.213.243.0/24";

/// How long a server in a container may take to answer.
const SETTLE: Duration = Duration::from_secs(20);

/// A busybox web server answering `body` on port 80.
fn httpd(body: &str) -> String {
    format!("mkdir -p /www && echo {body} > /www/index.html && exec httpd -f -p 80 -h /www")
}

pub(super) fn run_all(docker: &Docker<'_>, report: &mut Report) {
    report.record(
        "networks: two containers on a user network reach each other by name, alias and ID",
        user_network(docker),
    );
    report.record("networks: -p 127.0.0.1:PORT:80, -P and docker port", published(docker));
    report.record("networks: connect and disconnect a running container", connect(docker));
    report.record("networks: in-use removal fails; rm and prune leave nothing", cleanup(docker));
}

fn cli(docker: &Docker<'_>, args: &[&str]) -> Result<cmd::Captured> {
    docker.unix(args, CLI_TIMEOUT)
}

fn inspect(docker: &Docker<'_>, name: &str, format: &str) -> Result<String> {
    Ok(ok(docker, &["inspect", "--format", format, name])?.trim().to_owned())
}

/// Runs `wget` in a throwaway container on `network` until `url` answers `want`.
fn fetch_from(docker: &Docker<'_>, network: &str, url: &str, want: &str) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    loop {
        let out =
            cli(docker, &["run", "--rm", "--network", network, "busybox", "wget", "-qO-", url])?;
        if out.success() && out.stdout.trim() == want {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("{url} from {network} never answered {want:?}\n{}", out.describe());
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn user_network(docker: &Docker<'_>) -> Result<()> {
    let id = ok(docker, &["network", "create", "--subnet", SUBNET_A, "e2enet"])?.trim().to_owned();
    ensure!(id.len() == 64, "network create printed the ID: {id:?}");
    let ls = ok(docker, &["network", "ls", "--format", "{{.Name}} {{.Driver}}"])?;
    for want in ["bridge bridge", "host host", "none null", "e2enet bridge"] {
        ensure!(ls.lines().any(|l| l == want), "network ls lacks {want:?}: {ls:?}");
    }
    let out = cli(docker, &["network", "create", "e2enet"])?;
    ensure!(
        !out.success() && out.stderr.contains("network with name e2enet already exists"),
        "duplicate name\n{}",
        out.describe()
    );

    ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "e2eweb",
            "--network",
            "e2enet",
            "--network-alias",
            "webalias",
            "busybox",
            "sh",
            "-c",
            &httpd("hello-from-web"),
        ],
    )?;
    let ip =
        inspect(docker, "e2eweb", "{{(index .NetworkSettings.Networks \"e2enet\").IPAddress}}")?;
    ensure!(ip.starts_with("10.213.242."), "address on e2enet: {ip:?}");
    let short = inspect(docker, "e2eweb", "{{.Id}}")?[..12].to_owned();
    for host in ["e2eweb", "webalias", short.as_str()] {
        fetch_from(docker, "e2enet", &format!("http://{host}/"), "hello-from-web")?;
    }
    let resolv = ok(docker, &["exec", "e2eweb", "cat", "/etc/resolv.conf"])?;
    ensure!(resolv.contains("nameserver 127.0.0.11"), "embedded DNS: {resolv:?}");
    let members = ok(
        docker,
        &[
            "network",
            "inspect",
            "--format",
            "{{range .Containers}}{{.Name}} {{.IPv4Address}}{{end}}",
            "e2enet",
        ],
    )?;
    ensure!(members.trim() == format!("e2eweb {ip}/24"), "network inspect containers: {members:?}");

    // The default bridge keeps dockerd's behaviour: no names.
    let out = cli(docker, &["run", "--rm", "busybox", "nslookup", "e2eweb", "127.0.0.11"])?;
    ensure!(
        !out.success() || !out.stdout.contains(&ip),
        "names leak to the default bridge\n{}",
        out.describe()
    );
    Ok(())
}

/// GETs `/` from 127.0.0.1:`port` until it answers `want`.
fn http_get(port: u16, want: &str) -> Result<()> {
    let deadline = Instant::now() + SETTLE;
    let mut last = String::new();
    while Instant::now() < deadline {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect(("127.0.0.1", port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text)
        })();
        match attempt {
            Ok(text) if text.contains(want) => return Ok(()),
            Ok(text) => last = text,
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(200));
    }
    bail!("127.0.0.1:{port} never answered {want:?}; last: {last}")
}

fn published(docker: &Docker<'_>) -> Result<()> {
    let port = free_port()?;
    let mapping = format!("127.0.0.1:{port}:80");
    ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "e2epub",
            "-p",
            &mapping,
            "busybox",
            "sh",
            "-c",
            &httpd("published"),
        ],
    )?;
    http_get(port, "published")?;
    let out = ok(docker, &["port", "e2epub"])?;
    ensure!(out.trim() == format!("80/tcp -> 127.0.0.1:{port}"), "docker port: {out:?}");
    let ps = ok(docker, &["ps", "--filter", "name=e2epub", "--format", "{{.Ports}}"])?;
    ensure!(ps.trim() == format!("127.0.0.1:{port}->80/tcp"), "docker ps ports: {ps:?}");

    // The port is taken now: a second container cannot have it, and leaves nothing.
    let out = cli(docker, &["run", "-d", "--name", "e2epub2", "-p", &mapping, "busybox", "true"])?;
    ensure!(
        !out.success() && out.stderr.contains("already allocated"),
        "taken port\n{}",
        out.describe()
    );
    ok(docker, &["rm", "-f", "e2epub2"])?;

    ok(
        docker,
        &[
            "run",
            "-d",
            "--name",
            "e2eall",
            "-P",
            "--expose",
            "80",
            "busybox",
            "sh",
            "-c",
            &httpd("random"),
        ],
    )?;
    let out = ok(docker, &["port", "e2eall", "80/tcp"])?;
    let random: u16 = out
        .lines()
        .find_map(|l| l.strip_prefix("0.0.0.0:"))
        .context("docker port names a 0.0.0.0 binding")?
        .trim()
        .parse()
        .with_context(|| format!("docker port: {out:?}"))?;
    http_get(random, "random")?;

    ok(docker, &["rm", "-f", "e2epub", "e2eall"])?;
    ensure!(TcpStream::connect(("127.0.0.1", port)).is_err(), "port {port} still open after rm");
    Ok(())
}

fn connect(docker: &Docker<'_>) -> Result<()> {
    ok(docker, &["network", "create", "--subnet", SUBNET_B, "e2enet2"])?;
    ok(
        docker,
        &["network", "connect", "--alias", "second", "--ip", "10.213.243.50", "e2enet2", "e2eweb"],
    )?;
    let addrs = ok(docker, &["exec", "e2eweb", "ip", "-4", "-o", "addr"])?;
    ensure!(
        addrs.contains("eth1") && addrs.contains("10.213.243.50/24"),
        "eth1 after connect: {addrs:?}"
    );
    fetch_from(docker, "e2enet2", "http://second/", "hello-from-web")?;
    let out = cli(docker, &["network", "connect", "e2enet2", "e2eweb"])?;
    ensure!(
        !out.success() && out.stderr.contains("already exists"),
        "connect twice\n{}",
        out.describe()
    );

    ok(docker, &["network", "disconnect", "e2enet2", "e2eweb"])?;
    let addrs = ok(docker, &["exec", "e2eweb", "ip", "-4", "-o", "addr"])?;
    ensure!(!addrs.contains("10.213.243."), "address gone after disconnect: {addrs:?}");
    let nets =
        inspect(docker, "e2eweb", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}")?;
    ensure!(nets == "e2enet", "networks after disconnect: {nets:?}");
    Ok(())
}

fn cleanup(docker: &Docker<'_>) -> Result<()> {
    let bridge = format!("br-{}", &inspect(docker, "e2enet", "{{.Id}}")?[..12]);
    let out = cli(docker, &["network", "rm", "e2enet"])?;
    ensure!(
        !out.success() && out.stderr.contains("has active endpoints"),
        "removing a network in use\n{}",
        out.describe()
    );
    ok(docker, &["rm", "-f", "e2eweb"])?;
    ok(docker, &["network", "rm", "e2enet"])?;
    let pruned = ok(docker, &["network", "prune", "-f"])?;
    ensure!(pruned.contains("e2enet2"), "prune removed e2enet2: {pruned:?}");
    let ls = ok(docker, &["network", "ls", "--format", "{{.Name}}"])?;
    ensure!(!ls.contains("e2enet"), "networks left: {ls:?}");
    let links = std::process::Command::new("ip").args(["-o", "link"]).output()?;
    let links = String::from_utf8_lossy(&links.stdout);
    ensure!(!links.contains(&bridge), "bridge {bridge} left behind");
    Ok(())
}
