//! `cargo xtask diff`: the same scripted requests to a real dockerd and to
//! berthd, every difference reported.
//!
//! dockerd is Debian's `docker.io` (20.10, API 1.41), so requests carry the
//! `/v1.41` prefix unless a scenario is about versions. Both daemons run on
//! their own sockets and roots under one temporary directory; guards stop
//! them (and dockerd's containerd, and its mounts) whatever happens. The
//! report goes to stdout and to `docs/api-diff.md`; the exit code is 1 when
//! a difference is not in `xtask/diff/known-differences.json`.
//!
//! Both daemons are seeded with the same offline test images
//! (`testimage`) before the first scenario, so the container scenarios build
//! real state: a container is created, started, paused, renamed, updated,
//! exec'd into, killed and removed on each daemon in step. Each daemon has a
//! default bridge of its own, so containers get real network settings.

pub(crate) mod cleanup;
pub(crate) mod client;
mod compare;
pub(crate) mod dockerd;
mod known;
mod report;
mod scenarios;
mod vars;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::e2e::daemon::Daemon;
use crate::e2e::{self, Layout};
use crate::{cmd, deps, testimage};
use cleanup::SeenContainers;
use client::{Answer, Client, Outgoing};
use dockerd::{Dockerd, DockerdLayout};
use known::Known;
use report::{Finding, Outcome, Tally, Versions};
use scenarios::{Scenario, Scenarios};
use vars::Vars;

/// dockerd starts containerd and loads its state before it answers.
const DOCKERD_READY_TIMEOUT: Duration = Duration::from_secs(60);
const BERTHD_READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a scenario with `until` resends its request, and how often.
const UNTIL_TIMEOUT: Duration = Duration::from_secs(20);
const UNTIL_POLL: Duration = Duration::from_millis(100);

/// dockerd's default bridge and its address: the run's own, apart from
/// berthd's, e2e's (`berthe2e0`) and the network scenarios' (`berthdiff0`).
const DOCKERD_BRIDGE: (&str, &str) = ("berthdiffd0", "10.213.246.1/24");
/// berthd's default bridge and address, as its daemon.json sets them.
const BERTHD_BRIDGE: &str = "berthdiffb0";
const BERTHD_BIP: &str = "10.213.245.1/24";
/// A file in `{{bind_dir}}`, which containers bind-mount.
const BIND_FILE: (&str, &str) = ("hello.txt", "hello from the bind directory\n");

const USAGE: &str = "\
usage: cargo xtask diff [--keep] [--no-doc]

  --keep     leave the temporary directory (logs, roots, and every answer
             under answers/) for a look
  --no-doc   do not rewrite docs/api-diff.md
";

#[derive(Debug, Default)]
struct Options {
    keep: bool,
    write_doc: bool,
}

fn parse_args(args: &[String]) -> Result<Options> {
    let mut options = Options { keep: false, write_doc: true };
    for arg in args {
        match arg.as_str() {
            "--keep" => options.keep = true,
            "--no-doc" => options.write_doc = false,
            other => bail!("unknown argument {other:?} for `cargo xtask diff`\n\n{USAGE}"),
        }
    }
    Ok(options)
}

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let options = parse_args(args)?;
    let scenarios = Scenarios::load()?;
    let known = Known::load()?;
    if !nix::unistd::geteuid().is_root() {
        bail!("cargo xtask diff runs dockerd, which needs root");
    }
    deps::ensure_apt(&[dockerd::PACKAGE])?;
    let berthd = e2e::build_berthd()?;

    let tmp = tempfile::Builder::new()
        .prefix("berth-diff-")
        .tempdir()
        .context("creating a temporary directory")?;
    let root = tmp.path().canonicalize().context("canonicalizing the temporary directory")?;
    println!("diff: dockerd and berthd under {}", root.display());
    let client = Client::new()?;

    // Guards drop in reverse: the containers on both daemons (through their
    // APIs), berthd, its bridge, dockerd (and its containerd, mounts and
    // bridge), any container process that outlived its daemon, then
    // anything left under `root` (berthd's containerd after a crash), then
    // the directory itself.
    let sweep = cleanup::Sweep { root: root.clone() };
    let seen = SeenContainers::default();
    let container_processes = cleanup::ContainerProcesses { seen: seen.clone() };
    let mut dockerd_layout = DockerdLayout::create(&root.join("dockerd"))?;
    dockerd_layout.default_bridge = Some(DOCKERD_BRIDGE);
    let mut dockerd = Dockerd::start(&dockerd_layout)?;
    dockerd.wait_ready(&client, DOCKERD_READY_TIMEOUT)?;

    let berthd_root = root.join("berthd");
    fs::create_dir(&berthd_root).with_context(|| format!("creating {}", berthd_root.display()))?;
    let layout = Layout::create(&berthd_root)?;
    // A bridge of the run's own, not e2e's: an e2e run may be going on.
    fs::write(
        &layout.config_file,
        format!("{{\"bridge\": \"{BERTHD_BRIDGE}\", \"bip\": \"{BERTHD_BIP}\"}}\n"),
    )
    .with_context(|| format!("writing {}", layout.config_file.display()))?;
    let berthd_bridge = BridgeGuard(BERTHD_BRIDGE);
    let mut daemon = Daemon::start(&berthd, &layout)?;
    daemon.wait_ready(BERTHD_READY_TIMEOUT)?;
    let containers = cleanup::RemoveContainers {
        daemons: vec![("dockerd", dockerd.socket().to_owned()), ("berthd", layout.socket.clone())],
        seen: seen.clone(),
    };

    let bind_dir = root.join("bind");
    fs::create_dir(&bind_dir).with_context(|| format!("creating {}", bind_dir.display()))?;
    fs::write(bind_dir.join(BIND_FILE.0), BIND_FILE.1)
        .with_context(|| format!("writing into {}", bind_dir.display()))?;
    let mut sides = [
        Side::new(
            "dockerd",
            dockerd.socket(),
            &dockerd_layout.root,
            &dockerd_layout.data_root,
            &dockerd_layout.exec_root,
        ),
        Side::new("berthd", &layout.socket, &berthd_root, &layout.data_root, &layout.exec_root),
    ];
    for side in &mut sides {
        side.vars.set("run_dir", path_text(&root));
        side.vars.set("bind_dir", path_text(&bind_dir));
        seed(&root, side)?;
    }

    let (outcomes, answers) = run_scenarios(&scenarios, &known, &client, &mut sides, &seen);
    let versions = versions(&answers);
    if options.keep {
        dump_answers(&root.join("answers"), &scenarios, &answers)?;
    }

    drop(containers);
    drop(daemon);
    drop(berthd_bridge);
    drop(dockerd);
    drop(container_processes);
    drop(sweep);
    if options.keep {
        let kept = tmp.keep();
        println!("diff: kept {}", kept.display());
    } else {
        tmp.close().with_context(|| format!("removing {}", root.display()))?;
    }

    let unused = known.unused();
    print!("{}", report::text(&scenarios, &outcomes, &unused));
    if options.write_doc {
        let path = cmd::project_root().join(report::DOC_PATH);
        fs::write(&path, report::markdown(&scenarios, &outcomes, &versions))
            .with_context(|| format!("writing {}", path.display()))?;
        println!("diff: wrote {}", report::DOC_PATH);
    }
    let tally = Tally::of(&outcomes);
    Ok(if tally.unexpected == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// Deletes a bridge device when dropped (berthd keeps its bridge after it
/// stops, as dockerd keeps docker0).
#[derive(Debug)]
struct BridgeGuard(&'static str);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        e2e::remove_bridge(self.0);
    }
}

/// One daemon as the scenarios see it: where to send, and its variables.
#[derive(Debug)]
struct Side {
    name: &'static str,
    socket: PathBuf,
    vars: Vars,
}

impl Side {
    fn new(
        name: &'static str,
        socket: &Path,
        dir: &Path,
        data_root: &Path,
        exec_root: &Path,
    ) -> Side {
        let mut vars = Vars::default();
        vars.set("daemon_dir", path_text(dir));
        vars.set("data_root", path_text(data_root));
        vars.set("exec_root", path_text(exec_root));
        Side { name, socket: socket.to_owned(), vars }
    }
}

fn path_text(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// Imports the test images into one daemon and records their IDs as
/// `{{image_*}}`. The two daemons' IDs differ: an import writes the time it
/// ran into the image config, whose digest is the ID. Answers name each
/// daemon's own ID as the same placeholder, so they still compare by value.
/// A failed import is reported; scenarios that need the image then differ.
fn seed(root: &Path, side: &mut Side) -> Result<()> {
    let work = root.join(format!("images-{}", side.name));
    fs::create_dir(&work).with_context(|| format!("creating {}", work.display()))?;
    for imported in testimage::build_and_import(&work, &side.socket)? {
        let variable = image_variable(&imported.reference);
        match (&imported.result, variable) {
            (Ok(id), Some(variable)) => {
                side.vars.set(variable, id.strip_prefix("sha256:").unwrap_or(id));
            }
            (Ok(_), None) => {}
            (Err(err), _) => println!("warning: {}: {}: {err:#}", side.name, imported.reference),
        }
    }
    Ok(())
}

/// The built-in variable holding a test image's ID.
fn image_variable(reference: &str) -> Option<&'static str> {
    match reference {
        "busybox:latest" => Some("image_busybox"),
        "alpine:latest" => Some("image_alpine"),
        "alpine:3.10" => Some("image_alpine_3_10"),
        _ => None,
    }
}

/// Both daemons' answers to one scenario (an error when there was none).
type Pair = (Result<Answer, String>, Result<Answer, String>);

/// One daemon's answer to a scenario, and whether its `until` held.
struct Asked {
    answer: Result<Answer, String>,
    settled: bool,
}

/// Sends `scenario` to one daemon: expands its placeholders, resends until
/// its `until` holds (or [`UNTIL_TIMEOUT`] passes), captures its variables,
/// reads a multiplexed answer as what each stream carried, and puts the
/// daemon's values in the answer back as placeholders.
fn ask(client: &Client, side: &mut Side, scenario: &Scenario, seen: &SeenContainers) -> Asked {
    let expanded = match scenario.expand(&side.vars) {
        Ok(expanded) => expanded,
        Err(err) => return Asked { answer: Err(format!("not sent: {err:#}")), settled: true },
    };
    let outgoing = Outgoing {
        method: &scenario.method,
        path: &expanded.path,
        headers: &expanded.headers,
        body: expanded.body,
    };
    let send = || client.send(&side.socket, &outgoing).map_err(|err| format!("{err:#}"));
    let deadline = Instant::now() + UNTIL_TIMEOUT;
    let mut answer = send();
    let mut settled = true;
    if let Some(until) = &scenario.until {
        loop {
            settled = answer.as_ref().is_ok_and(|a| until.holds(&a.body));
            if settled || Instant::now() >= deadline {
                break;
            }
            thread::sleep(UNTIL_POLL);
            answer = send();
        }
    }
    if let Ok(answer) = &mut answer {
        if scenario.method == "POST"
            && scenario.path.contains("/containers/create")
            && let Some(id) = vars::capture(&answer.body, "/Id")
        {
            seen.insert(&id);
        }
        if scenario.multiplexed
            && let Some(text) = compare::demultiplex(&answer.body)
        {
            answer.body = text.into();
        }
        for (name, pointer) in &scenario.capture {
            match vars::capture(&answer.body, pointer) {
                Some(value) => side.vars.set(name, value),
                None => side.vars.unset(name),
            }
        }
        answer.body = side.vars.normalize(&answer.body).into();
    } else {
        for name in scenario.capture.keys() {
            side.vars.unset(name);
        }
    }
    Asked { answer, settled }
}

/// Sends every scenario to dockerd, then to berthd, and judges the answers;
/// the run-wide header check comes last, as the pseudo-scenario `headers`.
fn run_scenarios(
    scenarios: &Scenarios,
    known: &Known,
    client: &Client,
    sides: &mut [Side; 2],
    seen: &SeenContainers,
) -> (Vec<Outcome>, Vec<Pair>) {
    let mut outcomes = Vec::new();
    let mut pairs = Vec::new();
    for scenario in &scenarios.scenarios {
        let [dockerd_side, berthd_side] = sides;
        let d = ask(client, dockerd_side, scenario, seen);
        let b = ask(client, berthd_side, scenario, seen);
        let (volatile, unordered) = scenarios.volatile_paths(scenario);
        let rules = compare::Rules {
            volatile: &volatile,
            unordered: &unordered,
            body: scenario.ignore_body.is_none(),
        };
        let mut differences = match (&d.answer, &b.answer) {
            (Ok(d), Ok(b)) => compare::answers(d, b, rules),
            (d, b) => vec![compare::Difference {
                location: "transport".to_owned(),
                dockerd: describe_attempt(d),
                berthd: describe_attempt(b),
            }],
        };
        if !(d.settled && b.settled) {
            let word = |settled| if settled { "held" } else { "never held" };
            differences.push(compare::Difference {
                location: "until".to_owned(),
                dockerd: word(d.settled).to_owned(),
                berthd: format!("{} (within {UNTIL_TIMEOUT:?})", word(b.settled)),
            });
        }
        let pair: Pair = (d.answer, b.answer);
        let not_implemented = pair
            .1
            .as_ref()
            .ok()
            .and_then(|b| known::not_implemented_group(b.status.as_u16(), &b.body));
        let findings = differences
            .into_iter()
            .map(|difference| Finding {
                reason: known.explain(&scenario.name, not_implemented.as_deref(), &difference),
                difference,
            })
            .collect();
        outcomes.push(Outcome {
            name: scenario.name.clone(),
            group: scenario.group.clone(),
            request: scenario.request_line(),
            dockerd: status_of(&pair.0),
            berthd: status_of(&pair.1),
            findings,
        });
        pairs.push(pair);
    }

    let answered = pairs.iter().filter_map(|(d, b)| Some((d.as_ref().ok()?, b.as_ref().ok()?)));
    let findings = compare::header_values(answered)
        .into_iter()
        .map(|difference| Finding {
            reason: known.explain("headers", None, &difference),
            difference,
        })
        .collect();
    outcomes.push(Outcome {
        name: "headers".to_owned(),
        group: "headers".to_owned(),
        request: format!("(every answer: {})", compare::PRESENCE_HEADERS.join(", ")),
        dockerd: "-".to_owned(),
        berthd: "-".to_owned(),
        findings,
    });
    (outcomes, pairs)
}

/// Every answer as `answers/NNN-name.{dockerd,berthd}`: status, headers, body.
fn dump_answers(dir: &std::path::Path, scenarios: &Scenarios, pairs: &[Pair]) -> Result<()> {
    fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    for (index, (scenario, (d, b))) in scenarios.scenarios.iter().zip(pairs).enumerate() {
        for (side, attempt) in [("dockerd", d), ("berthd", b)] {
            let text = match attempt {
                Ok(answer) => {
                    let mut text = format!("{} {}\n", scenario.request_line(), answer.status);
                    for (name, value) in &answer.headers {
                        text.push_str(&format!(
                            "{name}: {}\n",
                            String::from_utf8_lossy(value.as_bytes())
                        ));
                    }
                    text.push('\n');
                    text.push_str(&String::from_utf8_lossy(&answer.body));
                    text
                }
                Err(err) => format!("{}\nno answer: {err}\n", scenario.request_line()),
            };
            let path = dir.join(format!("{index:03}-{}.{side}", scenario.name));
            fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
        }
    }
    Ok(())
}

fn status_of(attempt: &Result<Answer, String>) -> String {
    match attempt {
        Ok(answer) => answer.status.as_u16().to_string(),
        Err(_) => "error".to_owned(),
    }
}

fn describe_attempt(attempt: &Result<Answer, String>) -> String {
    match attempt {
        Ok(answer) => format!("answered {}", answer.status.as_u16()),
        Err(err) => format!("no answer ({err})"),
    }
}

/// Each daemon as its answers name it: `Server` header and `Api-Version`.
fn versions(pairs: &[Pair]) -> Versions {
    let describe = |answers: Vec<&Answer>| {
        let header = |name: &str| {
            answers
                .iter()
                .find_map(|answer| answer.headers.get(name)?.to_str().ok())
                .unwrap_or("unknown")
                .to_owned()
        };
        format!("`{}`, API {}", header("server"), header("api-version"))
    };
    Versions {
        dockerd: describe(pairs.iter().filter_map(|(d, _)| d.as_ref().ok()).collect()),
        berthd: describe(pairs.iter().filter_map(|(_, b)| b.as_ref().ok()).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_network_dockerd_creates_uses_the_bridge_teardown_removes() -> Result<()> {
        let scenarios = Scenarios::load()?;
        let creates: Vec<_> = scenarios
            .scenarios
            .iter()
            .filter(|s| s.method == "POST" && s.path.ends_with("/networks/create"))
            .collect();
        assert!(!creates.is_empty());
        for scenario in creates {
            let json = scenario.json.as_ref().context("a network create has a JSON body")?;
            assert_eq!(
                json["Options"]["com.docker.network.bridge.name"],
                dockerd::BRIDGE,
                "{}",
                scenario.name
            );
        }
        Ok(())
    }

    #[test]
    fn every_built_in_variable_is_set_before_the_first_scenario() {
        let mut side = Side::new(
            "dockerd",
            Path::new("/r/dockerd/docker.sock"),
            Path::new("/r/dockerd"),
            Path::new("/r/dockerd/data"),
            Path::new("/r/dockerd/exec"),
        );
        // What `run` sets, and what `seed` sets for each image it imports.
        side.vars.set("run_dir", "/r");
        side.vars.set("bind_dir", "/r/bind");
        for reference in ["alpine:3.10", "alpine:latest", "busybox:latest"] {
            let variable = image_variable(reference).expect("a test image has a variable");
            side.vars.set(variable, "0123456789abcdef");
        }
        for name in vars::BUILTIN {
            assert!(side.vars.expand(&format!("{{{{{name}}}}}")).is_ok(), "{name} is never set");
        }
    }

    #[test]
    fn flags_are_parsed_and_strangers_refused() -> Result<()> {
        let options = parse_args(&[])?;
        assert!(options.write_doc && !options.keep);
        let options = parse_args(&["--keep".to_owned(), "--no-doc".to_owned()])?;
        assert!(!options.write_doc && options.keep);
        assert!(parse_args(&["--nope".to_owned()]).is_err());
        Ok(())
    }
}
