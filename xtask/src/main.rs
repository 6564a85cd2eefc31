//! cargo xtask: the project's automation, in Rust so it runs wherever cargo
//! does. `cargo xtask ci` is the whole test suite (what `.ci/run` calls);
//! `cargo xtask e2e` drives the real docker CLI against a real berthd;
//! `cargo xtask run` builds and starts berthd on a fresh machine.
#![allow(clippy::print_stdout)]

mod bench;
mod certs;
mod ci;
mod cmd;
mod conformance;
mod deps;
mod diff;
mod e2e;
mod fuzz;
mod invariants;
mod run;
mod soak;
mod testimage;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

const USAGE: &str = "\
usage: cargo xtask <command>

commands:
  ci [--skip-e2e]     the whole test suite: deps, fmt, clippy, tests, docs,
                      cargo deny, dependency invariants, e2e
  e2e [--keep]        the real docker CLI against a real berthd on temporary
                      sockets and roots (--keep: leave the temp dir for a look)
  run [-- ARGS...]    install what berthd needs, build it (release), run it
                      as root with ARGS (default: berthd's own defaults)
  conformance [...]   docker-py 6.1.3's integration suite against berthd,
                      a table per API area (see docs/conformance.md)
  test-image --socket PATH
                      build the offline test images (busybox:latest,
                      alpine:latest, alpine:3.10 from Debian's static busybox)
                      and import them into the daemon on PATH
  diff [...]          the same scripted requests to a real dockerd and to
                      berthd, every difference reported (docs/api-diff.md)
  bench [...]         berthd (release) against a real dockerd: HTTP load,
                      memory, start-up (docs/benchmarks.md; never in CI)
  fuzz [...]          the cargo-fuzz targets under fuzz/ (docs/security.md)
  soak [...]          mixed API traffic and container lifecycles against a
                      real berthd for a bounded time; memory and open files
                      must be flat afterwards (docs/security.md)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        return Ok(ExitCode::FAILURE);
    };
    let flags = |allowed: &[&str]| -> Result<Vec<String>> {
        for flag in rest {
            if !allowed.contains(&flag.as_str()) {
                bail!("unknown argument {flag:?} for `cargo xtask {command}`\n\n{USAGE}");
            }
        }
        Ok(rest.to_vec())
    };
    match command.as_str() {
        "ci" => {
            let flags = flags(&["--skip-e2e"])?;
            ci::run(&ci::Options { skip_e2e: flags.iter().any(|f| f == "--skip-e2e") })?;
        }
        "e2e" => {
            let flags = flags(&["--keep"])?;
            e2e::run(&e2e::Options { keep: flags.iter().any(|f| f == "--keep") })?;
        }
        "run" => {
            let berthd_args = match rest.split_first() {
                Some((dashes, tail)) if dashes == "--" => tail,
                _ => rest,
            };
            run::run(berthd_args)?;
        }
        "conformance" => return conformance::run(rest),
        "test-image" => {
            let [flag, socket] = rest else {
                bail!("usage: cargo xtask test-image --socket PATH\n\n{USAGE}");
            };
            if flag != "--socket" {
                bail!("usage: cargo xtask test-image --socket PATH\n\n{USAGE}");
            }
            deps::ensure_apt(deps::BUILD_APT_PACKAGES)?;
            let work = tempfile::tempdir().context("creating a temporary directory")?;
            let mut failed = false;
            for imported in testimage::build_and_import(work.path(), std::path::Path::new(socket))?
            {
                println!("{}", imported.describe());
                failed |= imported.result.is_err();
            }
            if failed {
                return Ok(ExitCode::FAILURE);
            }
        }
        "diff" => return diff::run(rest),
        "bench" => return bench::run(rest),
        "fuzz" => return fuzz::run(rest),
        "soak" => return soak::run(rest),
        "help" | "-h" | "--help" => print!("{USAGE}"),
        other => bail!("unknown command {other:?}\n\n{USAGE}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `cargo metadata --no-deps` for the workspace, parsed.
pub(crate) fn metadata() -> Result<serde_json::Value> {
    let json = cmd::stdout(cmd::cargo().args([
        "metadata",
        "--format-version",
        "1",
        "--no-deps",
        "--locked",
    ]))?;
    serde_json::from_str(&json).context("cargo metadata printed invalid JSON")
}

/// Where cargo puts build output (honours `CARGO_TARGET_DIR` and config).
pub(crate) fn target_dir() -> Result<PathBuf> {
    metadata()?["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("cargo metadata has no target_directory")
}
