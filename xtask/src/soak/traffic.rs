//! The load: worker threads, each looping over one kind of work until the round's deadline,
//! every answer checked against what dockerd answers. A worker's iteration stops at the first
//! surprise, which is recorded with the request that caused it; the next iteration starts
//! afresh under new names, so one failure does not cascade.

mod mix;

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail, ensure};
use bytes::Bytes;
use serde_json::{Value, json};

use super::stream::StreamClient;
use crate::bench::lifecycle;
use crate::diff::client::{Answer, Client, Outgoing};
use crate::e2e::Layout;
use crate::e2e::checks::Docker;

/// The API version of the requests this module writes itself; the bench's lifecycle sends
/// v1.41, the docker CLI its own (v1.50 for 28.2), `/_ping` and `/info` go unversioned.
const API: &str = "/v1.51";
/// The image every container runs (imported offline, `testimage.rs`).
const IMAGE: &str = lifecycle::IMAGE;
/// Put on everything the soak creates, so `docker ps` on a kept directory shows whose it is.
const LABEL: &str = "berth.soak=1";
/// The subnet of the networks the objects worker creates (and removes) one at a time; apart
/// from the default bridge's (`BIP`, 10.213.248.0/24) and the other suites' subnets.
const NETWORK_SUBNET: &str = "10.213.249.0/24";
/// Ceiling for one docker CLI call; a hung call is a failure, not a hang.
const CLI_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an exec may take to be reported as finished.
const EXEC_TIMEOUT: Duration = Duration::from_secs(20);
/// After this many failures every worker stops: the run has failed, and a dead berthd would
/// otherwise be asked thousands of times.
const MAX_FAILURES: usize = 25;
/// Failures kept word for word for the report.
const KEPT_FAILURES: usize = 20;

/// The kinds of work, one thread each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Read-only requests a monitoring tool or `docker ps` sends, and bad requests.
    Probe,
    /// create → start → wait → logs → rename → remove over the API (`true`, `echo`).
    Lifecycle,
    /// The docker CLI (`run -d sleep`, `exec`, `stop`, `rm`, `run --rm`) and a detached exec.
    Cli,
    /// Volumes, image tags, and networks with a container (and its anonymous volume) on them.
    Objects,
    /// A running container: streams the client abandons (logs -f, stats, attach, events), a
    /// kept-alive connection, archive, pause, restart, kill.
    Streams,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Probe => "probe",
            Kind::Lifecycle => "lifecycle",
            Kind::Cli => "cli",
            Kind::Objects => "objects",
            Kind::Streams => "streams",
        })
    }
}

/// The worker threads of a round: two API lifecycles so that containers start and stop
/// concurrently with each other, with the CLI's and with the listing of them all.
const WORKERS: [Kind; 6] =
    [Kind::Probe, Kind::Lifecycle, Kind::Lifecycle, Kind::Cli, Kind::Objects, Kind::Streams];

/// What every round adds to: counts and the failures, word for word.
#[derive(Debug, Default)]
pub(super) struct Tally {
    requests: AtomicU64,
    commands: AtomicU64,
    failed: AtomicU64,
    failures: Mutex<Vec<String>>,
    stop: AtomicBool,
    /// Bridge devices of the networks created, to look for after they are removed.
    bridges: Mutex<BTreeSet<String>>,
}

impl Tally {
    fn fail(&self, what: String) {
        println!("soak: FAIL {what}");
        let failed = self.failed.fetch_add(1, Ordering::Relaxed) + 1;
        let mut kept = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() < KEPT_FAILURES {
            kept.push(what);
        }
        if usize::try_from(failed).unwrap_or(usize::MAX) >= MAX_FAILURES {
            self.stop.store(true, Ordering::Relaxed);
        }
    }

    pub(super) fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub(super) fn commands(&self) -> u64 {
        self.commands.load(Ordering::Relaxed)
    }

    pub(super) fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// The first failures, word for word.
    pub(super) fn failures(&self) -> Vec<String> {
        self.failures.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The bridge devices of every network the workers created.
    pub(super) fn bridges(&self) -> Vec<String> {
        self.bridges.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// What one round did.
#[derive(Debug)]
pub(super) struct RoundSummary {
    pub(super) label: &'static str,
    pub(super) elapsed: Duration,
    pub(super) requests: u64,
    pub(super) commands: u64,
    pub(super) failed: u64,
    /// Iterations per worker, in [`WORKERS`] order: `kind: count`.
    pub(super) iterations: Vec<String>,
}

impl fmt::Display for RoundSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({:.0?}): {} HTTP requests, {} docker commands, {} failures; iterations {}",
            self.label,
            self.elapsed,
            self.requests,
            self.commands,
            self.failed,
            self.iterations.join(", ")
        )
    }
}

/// Runs every worker for `duration`; a worker finishes the iteration it is in, so the round
/// ends at most one iteration (a few seconds) late.
pub(super) fn round(
    layout: &Layout,
    label: &'static str,
    duration: Duration,
    tally: &Tally,
) -> RoundSummary {
    let started = Instant::now();
    let deadline = started + duration;
    let (requests, commands, failed) = (tally.requests(), tally.commands(), tally.failed());
    let started_unix = unix_now().as_secs();
    let iterations: Vec<String> = thread::scope(|scope| {
        let handles: Vec<_> = WORKERS
            .iter()
            .enumerate()
            .map(|(index, &kind)| {
                let id = WorkerId { round: label, kind, index };
                scope.spawn(move || drive(layout, id, started_unix, deadline, tally))
            })
            .collect();
        WORKERS
            .iter()
            .zip(handles)
            .map(|(kind, handle)| match handle.join() {
                Ok(n) => format!("{kind} {n}"),
                Err(_) => {
                    tally.fail(format!("round {label}: the {kind} worker panicked"));
                    format!("{kind} (panicked)")
                }
            })
            .collect()
    });
    RoundSummary {
        label,
        elapsed: started.elapsed(),
        requests: tally.requests() - requests,
        commands: tally.commands() - commands,
        failed: tally.failed() - failed,
        iterations,
    }
}

/// Names a worker's objects apart from every other worker's and round's.
#[derive(Debug, Clone, Copy)]
struct WorkerId {
    round: &'static str,
    kind: Kind,
    index: usize,
}

impl WorkerId {
    /// A name of this worker's iteration `n`: `soak-<round>-<kind><index>-<what><n>`.
    fn name(&self, what: &str, n: u64) -> String {
        format!("soak-{}-{}{}-{what}{n}", self.round, self.kind, self.index)
    }
}

/// One worker's loop; returns how many iterations it ran.
fn drive(
    layout: &Layout,
    id: WorkerId,
    started_unix: u64,
    deadline: Instant,
    tally: &Tally,
) -> u64 {
    let worker = match Worker::new(layout, id, started_unix, tally) {
        Ok(worker) => worker,
        Err(err) => {
            tally.fail(format!("round {} {}: cannot start: {err:#}", id.round, id.kind));
            return 0;
        }
    };
    let mut n = 0;
    while Instant::now() < deadline && !tally.stop.load(Ordering::Relaxed) {
        n += 1;
        if let Err(err) = worker.step(n) {
            tally.fail(format!("round {} {} #{n}: {err:#}", id.round, id.kind));
        }
    }
    n
}

struct Worker<'a> {
    id: WorkerId,
    socket: &'a Path,
    docker: Docker<'a>,
    client: Client,
    streams: StreamClient,
    tally: &'a Tally,
    /// When the round started, for the `since` of event windows.
    started_unix: u64,
}

impl<'a> Worker<'a> {
    fn new(
        layout: &'a Layout,
        id: WorkerId,
        started_unix: u64,
        tally: &'a Tally,
    ) -> Result<Worker<'a>> {
        Ok(Worker {
            id,
            socket: &layout.socket,
            docker: Docker { layout },
            client: Client::new()?,
            streams: StreamClient::new()?,
            tally,
            started_unix,
        })
    }

    fn name(&self, what: &str, n: u64) -> String {
        self.id.name(what, n)
    }

    /// Sends one request on a fresh connection; fails unless the answer has status `expect`.
    fn call(&self, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Result<Answer> {
        let (headers, bytes) = match body {
            Some(json) => (
                vec![("Content-Type".to_owned(), "application/json".to_owned())],
                Bytes::from(json.to_string()),
            ),
            None => (Vec::new(), Bytes::new()),
        };
        self.send(method, path, &headers, bytes, expect)
    }

    fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(String, String)],
        body: Bytes,
        expect: u16,
    ) -> Result<Answer> {
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let request = Outgoing { method, path, headers, body };
        let answer = self
            .client
            .send(self.socket, &request)
            .with_context(|| format!("{method} {path}: no answer"))?;
        if answer.status.as_u16() != expect {
            bail!(
                "{method} {path}: answered {} where dockerd answers {expect}: {}",
                answer.status,
                excerpt(&answer.body)
            );
        }
        Ok(answer)
    }

    /// [`Worker::call`], with the answer's body parsed as JSON.
    fn json(&self, method: &str, path: &str, body: Option<&Value>, expect: u16) -> Result<Value> {
        let answer = self.call(method, path, body, expect)?;
        serde_json::from_slice(&answer.body).with_context(|| {
            format!("{method} {path}: {} is not JSON: {}", answer.status, excerpt(&answer.body))
        })
    }

    /// `docker -H unix://… <args>`, which must exit 0; its stdout.
    fn docker(&self, args: &[&str]) -> Result<String> {
        self.tally.commands.fetch_add(1, Ordering::Relaxed);
        let out = self.docker.unix(args, CLI_TIMEOUT)?;
        ensure!(out.success(), "docker {} failed\n{}", args.join(" "), out.describe());
        Ok(out.stdout)
    }

    /// `POST /containers/create?name=…`; the new container's ID.
    fn create(&self, name: &str, body: &Value) -> Result<String> {
        let created =
            self.json("POST", &format!("{API}/containers/create?name={name}"), Some(body), 201)?;
        match created["Id"].as_str() {
            Some(id) if id.len() == 64 => Ok(id.to_owned()),
            _ => bail!("create {name} answered no 64-character Id: {created}"),
        }
    }

    /// `POST /containers/{id}/wait`; fails unless the exit code is `code`.
    fn wait(&self, id: &str, code: i64) -> Result<()> {
        let waited = self.json("POST", &format!("{API}/containers/{id}/wait"), None, 200)?;
        ensure!(waited["StatusCode"] == code, "wait on {id}: {waited}, expected exit {code}");
        Ok(())
    }

    /// `GET /containers/{id}/logs`; fails unless the output holds `want`.
    fn logs_hold(&self, id: &str, want: &str) -> Result<()> {
        let path = format!("{API}/containers/{id}/logs?stdout=1&stderr=1");
        let logs = self.call("GET", &path, None, 200)?;
        ensure!(
            contains(&logs.body, want.as_bytes()),
            "GET {path}: {want:?} missing from {}",
            excerpt(&logs.body)
        );
        Ok(())
    }
}

/// Whatever the workers left: everything in this daemon is the soak's, so all of it goes.
/// Nothing should be left unless an iteration failed half-way.
#[derive(Debug, Default)]
pub(super) struct Leftovers {
    pub(super) containers: Vec<String>,
    pub(super) volumes: Vec<String>,
    pub(super) networks: Vec<String>,
}

impl Leftovers {
    pub(super) fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.volumes.is_empty() && self.networks.is_empty()
    }
}

impl fmt::Display for Leftovers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "containers {:?}, volumes {:?}, networks {:?}",
            self.containers, self.volumes, self.networks
        )
    }
}

/// Removes every container, volume and user-defined network; says what there was.
pub(super) fn reap(socket: &Path) -> Result<Leftovers> {
    let client = Client::new()?;
    let send = |method: &str, path: &str| -> Result<Answer> {
        let request = Outgoing { method, path, headers: &[], body: Bytes::new() };
        client.send(socket, &request).with_context(|| format!("{method} {path}"))
    };
    let list = |path: &str| -> Result<Value> {
        let answer = send("GET", path)?;
        ensure!(answer.status == 200, "GET {path}: {} {}", answer.status, excerpt(&answer.body));
        serde_json::from_slice(&answer.body).with_context(|| format!("GET {path}: not JSON"))
    };
    let remove = |path: String, what: &str| -> Result<()> {
        let answer = send("DELETE", &path)?;
        ensure!(
            answer.status == 204 || answer.status == 404,
            "removing {what}: DELETE {path}: {} {}",
            answer.status,
            excerpt(&answer.body)
        );
        Ok(())
    };
    let mut left = Leftovers::default();
    for container in list(&format!("{API}/containers/json?all=1"))?.as_array().into_iter().flatten()
    {
        let id = container["Id"].as_str().context("a listed container without Id")?;
        left.containers.push(container["Names"][0].as_str().unwrap_or(id).to_owned());
        remove(format!("{API}/containers/{id}?force=1&v=1"), "a container")?;
    }
    for volume in list(&format!("{API}/volumes"))?["Volumes"].as_array().into_iter().flatten() {
        let name = volume["Name"].as_str().context("a listed volume without Name")?;
        left.volumes.push(name.to_owned());
        remove(format!("{API}/volumes/{name}"), "a volume")?;
    }
    for network in list(&format!("{API}/networks"))?.as_array().into_iter().flatten() {
        let name = network["Name"].as_str().context("a listed network without Name")?;
        if ["bridge", "host", "none"].contains(&name) {
            continue;
        }
        left.networks.push(name.to_owned());
        let id = network["Id"].as_str().context("a listed network without Id")?;
        remove(format!("{API}/networks/{id}"), "a network")?;
    }
    Ok(left)
}

fn label() -> Value {
    let (key, value) = LABEL.split_once('=').expect("LABEL is key=value");
    json!({ key: value })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|window| window == needle)
}

/// The start of a body, for a failure message.
fn excerpt(body: &[u8]) -> String {
    const MAX: usize = 300;
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(super) fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_percent_encoded() {
        assert_eq!(
            crate::testimage::percent_encode(r#"{"id":["a-1"]}"#),
            "%7B%22id%22%3A%5B%22a-1%22%5D%7D"
        );
    }

    #[test]
    fn excerpts_are_cut_on_a_character_boundary() {
        let long = "é".repeat(400);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), 301);
        assert!(cut.ends_with('…'));
        assert_eq!(excerpt(b"  short\n"), "short");
    }

    #[test]
    fn names_differ_between_rounds_workers_and_iterations() {
        let name = |round, index, n| WorkerId { round, kind: Kind::Lifecycle, index }.name("c", n);
        assert_eq!(name("1", 2, 7), "soak-1-lifecycle2-c7");
        assert_ne!(name("1", 1, 7), name("2", 1, 7));
    }

    #[test]
    fn bodies_are_searched_for_bytes() {
        assert!(contains(b"\x01\x00\x00\x00\x00\x00\x00\x05tick\n", b"tick"));
        assert!(!contains(b"tic", b"tick"));
    }
}
