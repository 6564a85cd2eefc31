//! `cargo xtask ci`: every gate CI runs, in order, stopping at the first
//! failure. `.ci/run` is a thin wrapper around this.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{cmd, conformance, deps, e2e, fuzz, invariants, soak};

#[derive(Debug, Default)]
pub(crate) struct Options {
    pub(crate) skip_e2e: bool,
}

type Step = (&'static str, Box<dyn Fn() -> Result<()>>);

/// Tests run by the steps, for the closing `N passed, N failed` line CI reads.
static PASSED: AtomicUsize = AtomicUsize::new(0);

pub(crate) fn run(options: &Options) -> Result<()> {
    let e2e = !options.skip_e2e;
    let mut steps: Vec<Step> = vec![
        ("deps", Box::new(move || deps::ensure_ci(e2e))),
        ("fmt", Box::new(fmt)),
        ("clippy", Box::new(clippy)),
        ("test", Box::new(test)),
        ("doc", Box::new(doc)),
        ("deny", Box::new(deny)),
        ("invariants", Box::new(invariants::check)),
    ];
    if e2e {
        steps.push((
            "e2e",
            Box::new(|| {
                let passed = e2e::run(&e2e::Options::default())?;
                PASSED.fetch_add(passed, Ordering::Relaxed);
                Ok(())
            }),
        ));
    }
    steps.push((
        "fuzz",
        Box::new(|| {
            let passed = fuzz::ci()?;
            PASSED.fetch_add(passed, Ordering::Relaxed);
            Ok(())
        }),
    ));
    if e2e {
        steps.push((
            "soak",
            Box::new(|| {
                let passed = soak::ci()?;
                PASSED.fetch_add(passed, Ordering::Relaxed);
                Ok(())
            }),
        ));
    }
    steps.push((
        "conformance",
        Box::new(|| {
            let passed = conformance::ratchet()?;
            PASSED.fetch_add(passed, Ordering::Relaxed);
            Ok(())
        }),
    ));
    let started = Instant::now();
    let mut timings: Vec<(&str, Duration)> = Vec::new();
    let total = steps.len();
    for (index, (name, step)) in steps.into_iter().enumerate() {
        println!("\n==> [{}/{total}] {name}", index + 1);
        let step_started = Instant::now();
        step().with_context(|| format!("cargo xtask ci: step `{name}` failed"))?;
        let elapsed = step_started.elapsed();
        println!("<== {name}: ok ({:.1?})", elapsed);
        timings.push((name, elapsed));
    }
    println!("\ncargo xtask ci: all {total} steps passed");
    for (name, elapsed) in timings {
        println!("  {name:<12} {elapsed:>8.1?}");
    }
    if options.skip_e2e {
        println!("  (e2e skipped: --skip-e2e)");
    }
    println!("  {:<12} {:>8.1?}", "total", started.elapsed());
    // Every step stops the run on a failure, so reaching here means none failed.
    println!("ci: {} passed, 0 failed", PASSED.load(Ordering::Relaxed));
    Ok(())
}

fn fmt() -> Result<()> {
    cmd::run(cmd::cargo().args(["fmt", "--all", "--check"]))
}

fn clippy() -> Result<()> {
    cmd::run(cmd::cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))
}

fn test() -> Result<()> {
    // nextest prints the closing summary line CI reads; it does not run
    // doctests, so cargo test runs those.
    cmd::run(cmd::cargo().args(["nextest", "run", "--workspace", "--locked", "--no-fail-fast"]))?;
    PASSED.fetch_add(junit_passed()?, Ordering::Relaxed);
    cmd::run(cmd::cargo().args(["test", "--doc", "--workspace", "--locked"]))
}

/// Passed test cases in the JUnit report nextest writes (see `.config/nextest.toml`).
fn junit_passed() -> Result<usize> {
    let path = crate::target_dir()?.join("nextest/default/junit.xml");
    let xml = std::fs::read_to_string(&path)
        .with_context(|| format!("reading nextest's JUnit report {}", path.display()))?;
    let cases = xml.matches("<testcase ").count();
    let failed = xml.matches("<failure").count() + xml.matches("<error").count();
    let skipped = xml.matches("<skipped").count();
    Ok(cases.saturating_sub(failed + skipped))
}

fn doc() -> Result<()> {
    cmd::run(cmd::cargo().env("RUSTDOCFLAGS", "-D warnings").args([
        "doc",
        "--workspace",
        "--no-deps",
        "--locked",
    ]))
}

fn deny() -> Result<()> {
    // Advisories need the advisory database from GitHub, which CI cannot reach. The fuzz crate
    // is a workspace of its own, with its own lock file: checked with the same rules. That lock
    // file follows the workspace's and may lag behind it (the fuzz step updates it, as here).
    for (manifest, locked) in [("Cargo.toml", true), ("fuzz/Cargo.toml", false)] {
        let mut command = cmd::cargo();
        command.arg("deny");
        if locked {
            command.arg("--locked");
        }
        command.args([
            "--manifest-path",
            manifest,
            "--config",
            "deny.toml",
            "check",
            "bans",
            "licenses",
            "sources",
        ]);
        cmd::run(&mut command)?;
    }
    Ok(())
}
