//! `cargo xtask diff`: the same scripted requests to a real dockerd and to
//! berthd, every difference reported.
//!
//! dockerd is Debian's `docker.io` (20.10, API 1.41), so requests carry the
//! `/v1.41` prefix unless a scenario is about versions. Both daemons run on
//! their own sockets and roots under one temporary directory; guards stop
//! them (and dockerd's containerd, and its mounts) whatever happens. The
//! report goes to stdout and to `docs/api-diff.md`; the exit code is 1 when
//! a difference is not in `xtask/diff/known-differences.json`.

pub(crate) mod cleanup;
pub(crate) mod client;
mod compare;
pub(crate) mod dockerd;
mod known;
mod report;
mod scenarios;

use std::fs;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::e2e::daemon::Daemon;
use crate::e2e::{self, Layout};
use crate::{cmd, deps};
use client::{Answer, Client, Outgoing};
use dockerd::{Dockerd, DockerdLayout};
use known::Known;
use report::{Finding, Outcome, Tally, Versions};
use scenarios::Scenarios;

/// dockerd starts containerd and loads its state before it answers.
const DOCKERD_READY_TIMEOUT: Duration = Duration::from_secs(60);
const BERTHD_READY_TIMEOUT: Duration = Duration::from_secs(30);

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

    // Guards drop in reverse: berthd, dockerd (and its containerd, mounts),
    // then anything left under `root` (berthd's containerd after a crash),
    // then the directory itself.
    let sweep = cleanup::Sweep { root: root.clone() };
    let dockerd_layout = DockerdLayout::create(&root.join("dockerd"))?;
    let mut dockerd = Dockerd::start(&dockerd_layout)?;
    dockerd.wait_ready(&client, DOCKERD_READY_TIMEOUT)?;

    let berthd_root = root.join("berthd");
    fs::create_dir(&berthd_root).with_context(|| format!("creating {}", berthd_root.display()))?;
    let layout = Layout::create(&berthd_root)?;
    let mut daemon = Daemon::start(&berthd, &layout)?;
    daemon.wait_ready(BERTHD_READY_TIMEOUT)?;

    let (outcomes, answers) =
        run_scenarios(&scenarios, &known, &client, dockerd.socket(), &layout)?;
    let versions = versions(&answers);
    if options.keep {
        dump_answers(&root.join("answers"), &scenarios, &answers)?;
    }

    drop(daemon);
    // berthd keeps its bridge (as dockerd keeps docker0); the test run's own goes now.
    crate::e2e::remove_bridge(crate::e2e::E2E_BRIDGE);
    drop(dockerd);
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

/// Both daemons' answers to one scenario (an error when there was none).
type Pair = (Result<Answer, String>, Result<Answer, String>);

/// Sends every scenario to dockerd, then to berthd, and judges the answers;
/// the run-wide header check comes last, as the pseudo-scenario `headers`.
fn run_scenarios(
    scenarios: &Scenarios,
    known: &Known,
    client: &Client,
    dockerd_socket: &std::path::Path,
    berthd: &Layout,
) -> Result<(Vec<Outcome>, Vec<Pair>)> {
    let mut outcomes = Vec::new();
    let mut pairs = Vec::new();
    for scenario in &scenarios.scenarios {
        let headers = scenario.request_headers();
        let outgoing = Outgoing {
            method: &scenario.method,
            path: &scenario.path,
            headers: &headers,
            body: scenario.request_body(),
        };
        let ask = |socket| client.send(socket, &outgoing).map_err(|err| format!("{err:#}"));
        let pair: Pair = (ask(dockerd_socket), ask(&berthd.socket));
        let volatile = scenarios.volatile_paths(scenario);
        let differences = match &pair {
            (Ok(d), Ok(b)) => compare::answers(d, b, &volatile),
            (d, b) => vec![compare::Difference {
                location: "transport".to_owned(),
                dockerd: describe_attempt(d),
                berthd: describe_attempt(b),
            }],
        };
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
    Ok((outcomes, pairs))
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
    fn flags_are_parsed_and_strangers_refused() -> Result<()> {
        let options = parse_args(&[])?;
        assert!(options.write_doc && !options.keep);
        let options = parse_args(&["--keep".to_owned(), "--no-doc".to_owned()])?;
        assert!(!options.write_doc && options.keep);
        assert!(parse_args(&["--nope".to_owned()]).is_err());
        Ok(())
    }
}
