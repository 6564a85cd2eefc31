//! `cargo xtask fuzz`: the cargo-fuzz targets under `fuzz/`, built and run on stable Rust.
//!
//! cargo-fuzz needs nightly only for `-Zsanitizer`; its coverage instrumentation is stable
//! rustc flags (`-Cpasses=sancov-module` and LLVM options), and libFuzzer itself comes with the
//! `libfuzzer-sys` crate (C++, built by its build script). So this builds `fuzz/` with those
//! flags itself, with no sanitizer (safe Rust; panics, overflows, timeouts and OOMs are what
//! the targets catch), and runs the binaries with libFuzzer's own options: no cargo-fuzz to
//! install, no `-Z` flag, no `RUSTC_BOOTSTRAP`. `fuzz/` stays a cargo-fuzz project, so
//! `cargo fuzz run -s none NAME` works too where cargo-fuzz is installed.
//!
//! The build goes to a target directory outside the checkout (`$BERTH_FUZZ_TARGET_DIR`, else
//! `~/.cache/berth/fuzz-target`), so a fresh clone rebuilds only Berth's crates (about 90 s;
//! they are compiled at `opt-level = 0`, see `fuzz/Cargo.toml`). The first build on a machine
//! also compiles every dependency with instrumentation, about 10 minutes on 2 cores.
//!
//! Each run uses two corpus directories: `fuzz/corpus/NAME` (not checked in; libFuzzer adds
//! what it finds there) and `fuzz/seeds/NAME` (checked in, made by `cargo xtask fuzz seeds`,
//! plus the minimised inputs of past crashes). Crashes go to `fuzz/artifacts/NAME/`.

mod seeds;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cmd, deps};

/// Every target: name, what it fuzzes, whether it extracts or spools archives (those run in
/// the sandbox of `fuzz/src/sandbox.rs`, which needs root).
const TARGETS: &[(&str, &str, bool)] = &[
    ("host", "-H addresses and plugin spec addresses", false),
    ("api_version", "API versions and the /vX.Y prefix layers", false),
    ("filters", "the filters parameter and its consumers", false),
    ("container_create", "POST /containers/create through the router and the engine", false),
    ("image_load", "docker load archives (spool, index, plan, layers)", true),
    ("image_import", "docker import tarballs and --change instructions", true),
    ("archive_put", "PUT /containers/{name}/archive extraction", true),
    ("authz_wire", "authorization plugin replies and AuthZReq bodies", false),
    ("stdcopy", "attach/exec/logs stream framing", false),
];

/// How long CI fuzzes each target: with the build of Berth's crates (about 90 s), the step
/// stays within about 4 minutes on a 2-core machine.
const CI_SECONDS: u64 = 12;
/// The default of `cargo xtask fuzz run`: the documented longer run.
const RUN_SECONDS: u64 = 300;
/// One input taking longer than this is a finding (a hang).
const INPUT_TIMEOUT_SECONDS: u64 = 10;
/// Memory limit of a fuzzing process (also the largest single allocation).
const RSS_LIMIT_MB: u64 = 2048;

/// What cargo-fuzz passes with `--sanitizer none`: SanitizerCoverage for libFuzzer (8-bit
/// counters, PC table, comparison tracing, stack depth), `--cfg fuzzing`, and debug assertions
/// and overflow checks on top of the release profile.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "-Cllvm-args=-sanitizer-coverage-stack-depth",
    "-Cllvm-args=-simplifycfg-branch-fold-threshold=0",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// Debian packages the build needs: a C++ compiler for libFuzzer, protoc for containerd-client.
const APT_PACKAGES: &[&str] = &["g++", "protobuf-compiler"];

const USAGE: &str = "\
usage: cargo xtask fuzz <command>

commands:
  list                     the targets
  run [--target NAME]... [--time SECS] [-- LIBFUZZER_ARGS...]
                           fuzz each target (default: all) for SECS seconds
                           (default 300), one after the other; a crash is
                           reported with its input and how to replay it
  ci                       what CI runs: every target for 12 s
  repro NAME INPUT...      run target NAME once on each INPUT (a crash file)
  build                    build the targets only
  seeds                    regenerate the checked-in seeds under fuzz/seeds/

The tarball targets (image_load, image_import, archive_put) run as root, in a
private mount namespace where only a tmpfs and libFuzzer's output directories
are writable (fuzz/src/sandbox.rs).
";

pub(crate) fn run(args: &[String]) -> Result<ExitCode> {
    let Some((command, rest)) = args.split_first() else {
        print!("{USAGE}");
        list();
        return Ok(ExitCode::SUCCESS);
    };
    match command.as_str() {
        "list" => list(),
        "run" => {
            let options = parse_run(rest)?;
            prepare(options.targets.iter().any(|t| sandboxed(t)))?;
            let clean = fuzz_all(&options)?;
            println!("fuzz: {clean} of {} targets ran clean", options.targets.len());
        }
        "ci" => {
            ci()?;
        }
        "repro" => {
            let [name, inputs @ ..] = rest else {
                bail!("usage: cargo xtask fuzz repro NAME INPUT...")
            };
            check_target(name)?;
            if inputs.is_empty() {
                bail!("usage: cargo xtask fuzz repro NAME INPUT...");
            }
            prepare(sandboxed(name))?;
            let mut command = Command::new(binary(name)?);
            command.current_dir(fuzz_dir()).args(inputs.iter().map(|i| absolute(Path::new(i))));
            let status = command.status().with_context(|| format!("running {name}"))?;
            return Ok(if status.success() { ExitCode::SUCCESS } else { ExitCode::FAILURE });
        }
        "build" => prepare(false)?,
        "seeds" => seeds::write(&fuzz_dir().join("seeds"))?,
        "help" | "-h" | "--help" => print!("{USAGE}"),
        other => bail!("unknown command {other:?} for `cargo xtask fuzz`\n\n{USAGE}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// The CI step: every target for [`CI_SECONDS`]; fails on any finding. Returns how many
/// targets ran clean.
pub(crate) fn ci() -> Result<usize> {
    prepare(true)?;
    let options = RunOptions {
        targets: TARGETS.iter().map(|t| t.0.to_owned()).collect(),
        seconds: CI_SECONDS,
        extra: Vec::new(),
    };
    let clean = fuzz_all(&options)?;
    println!("fuzz: {clean} of {} targets ran clean for {CI_SECONDS} s each", TARGETS.len());
    Ok(clean)
}

fn list() {
    for (name, what, _) in TARGETS {
        println!("  {name:<17} {what}");
    }
}

#[derive(Debug, PartialEq, Eq)]
struct RunOptions {
    targets: Vec<String>,
    seconds: u64,
    /// Passed to libFuzzer as they are.
    extra: Vec<String>,
}

fn parse_run(args: &[String]) -> Result<RunOptions> {
    let mut options = RunOptions { targets: Vec::new(), seconds: RUN_SECONDS, extra: Vec::new() };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--target" => {
                let name = args.next().context("--target needs a name")?;
                check_target(name)?;
                options.targets.push(name.clone());
            }
            "--time" => {
                let value = args.next().context("--time needs a number of seconds")?;
                options.seconds =
                    value.parse().with_context(|| format!("--time {value:?}: not a number"))?;
                if options.seconds == 0 {
                    bail!("--time must be at least 1");
                }
            }
            "--" => options.extra.extend(args.by_ref().cloned()),
            other => bail!("unknown argument {other:?} for `cargo xtask fuzz run`\n\n{USAGE}"),
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| t.0.to_owned()).collect();
    }
    Ok(options)
}

fn check_target(name: &str) -> Result<()> {
    if TARGETS.iter().any(|t| t.0 == name) {
        return Ok(());
    }
    let names: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
    bail!("no fuzz target {name:?}; the targets are {}", names.join(", "))
}

fn sandboxed(name: &str) -> bool {
    TARGETS.iter().any(|t| t.0 == name && t.2)
}

fn fuzz_dir() -> PathBuf {
    cmd::project_root().join("fuzz")
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_owned()
    } else {
        std::env::current_dir().map(|dir| dir.join(path)).unwrap_or_else(|_| path.to_owned())
    }
}

/// Installs what the build needs and builds every target.
fn prepare(needs_root: bool) -> Result<()> {
    if needs_root && !nix::unistd::geteuid().is_root() {
        bail!(
            "the tarball fuzz targets run as root: they sandbox themselves in a private mount \
             namespace (fuzz/src/sandbox.rs); run as root or choose other targets with --target"
        );
    }
    deps::ensure_apt(APT_PACKAGES)?;
    let started = Instant::now();
    cmd::run(&mut build_command()?)?;
    println!("fuzz: targets built in {:.0?}", started.elapsed());
    Ok(())
}

fn build_command() -> Result<Command> {
    let mut rustflags = RUSTFLAGS.join(" ");
    if let Ok(extra) = std::env::var("RUSTFLAGS")
        && !extra.trim().is_empty()
    {
        rustflags.push(' ');
        rustflags.push_str(&extra);
    }
    let mut command = cmd::cargo();
    command.current_dir(fuzz_dir());
    // `fuzz/Cargo.lock` follows the workspace's; when a Berth crate gains a dependency before
    // it is updated, say so and let cargo add it rather than fail the step.
    if cmd::succeeds(cmd::cargo().current_dir(fuzz_dir()).args(["metadata", "--locked", "-q"])) {
        command.arg("--locked");
    } else {
        println!("fuzz: fuzz/Cargo.lock is out of date: cargo will update it (commit the change)");
    }
    command
        // `--target` keeps the flags away from build scripts and proc macros, which must not
        // be instrumented (nothing would define the coverage callbacks they call).
        .args(["build", "--release", "--bins", "--target", &host_triple()?])
        .env("CARGO_TARGET_DIR", target_dir()?)
        .env("RUSTFLAGS", rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS");
    Ok(command)
}

/// `$BERTH_FUZZ_TARGET_DIR`, else `~/.cache/berth/fuzz-target`: outside the checkout, so the
/// dependencies are built once per machine rather than once per clone.
fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BERTH_FUZZ_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("HOME is not set: set BERTH_FUZZ_TARGET_DIR")?;
    Ok(PathBuf::from(home).join(".cache/berth/fuzz-target"))
}

fn host_triple() -> Result<String> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let info = cmd::stdout(Command::new(rustc).arg("-vV").current_dir(fuzz_dir()))?;
    info.lines()
        .find_map(|line| line.strip_prefix("host: "))
        .map(str::to_owned)
        .context("`rustc -vV` names no host triple")
}

fn binary(name: &str) -> Result<PathBuf> {
    Ok(target_dir()?.join(host_triple()?).join("release").join(name))
}

/// Fuzzes every target in turn, then fails if any found something. Returns how many ran clean.
fn fuzz_all(options: &RunOptions) -> Result<usize> {
    let mut failures = Vec::new();
    for name in &options.targets {
        if let Err(err) = fuzz_one(name, options) {
            println!("fuzz: {name}: FAILED\n{err:#}");
            failures.push(format!("{err:#}"));
        }
    }
    if !failures.is_empty() {
        bail!(
            "{} of {} fuzz targets failed:\n\n{}",
            failures.len(),
            options.targets.len(),
            failures.join("\n\n")
        );
    }
    Ok(options.targets.len())
}

/// How one run ended, read from libFuzzer's output.
#[derive(Debug, Default, PartialEq, Eq)]
struct Outcome {
    /// `#N DONE cov: … exec/s: …`, the closing statistics.
    done: Option<String>,
    /// The input that failed (`Test unit written to PATH`).
    artifact: Option<String>,
    /// The first line saying what went wrong.
    finding: Option<String>,
}

fn read_outcome(log: &str) -> Outcome {
    let mut outcome = Outcome::default();
    for line in log.lines() {
        if line.starts_with('#') && line.split_whitespace().nth(1) == Some("DONE") {
            outcome.done = Some(line.trim().to_owned());
        }
        if let Some((_, path)) = line.split_once("Test unit written to ") {
            outcome.artifact = Some(path.trim().to_owned());
        }
        let finding = line.contains("panicked at")
            || line.starts_with("==") && line.contains("ERROR: libFuzzer")
            || line.contains("SUMMARY: libFuzzer");
        if finding && outcome.finding.is_none() {
            outcome.finding = Some(line.trim().to_owned());
        }
    }
    outcome
}

fn fuzz_one(name: &str, options: &RunOptions) -> Result<()> {
    let fuzz = fuzz_dir();
    let corpus = fuzz.join("corpus").join(name);
    let seeds = fuzz.join("seeds").join(name);
    let artifacts = fuzz.join("artifacts").join(name);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let log = artifacts.join("fuzz.log");
    let out = std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone().context("duplicating the log file handle")?;
    let mut command = Command::new(binary(name)?);
    command
        .current_dir(&fuzz)
        .arg(format!("-max_total_time={}", options.seconds))
        .arg(format!("-timeout={INPUT_TIMEOUT_SECONDS}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .arg("-print_final_stats=1")
        .args(&options.extra)
        .arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    let dict = fuzz.join("dicts").join(format!("{name}.dict"));
    if dict.is_file() {
        command.arg(format!("-dict={}", dict.display()));
    }
    command.stdin(Stdio::null()).stdout(out).stderr(err);
    println!("$ {} >{} 2>&1", cmd::display(&command), log.display());
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| format!("starting fuzz target {name}"))?;
    // libFuzzer stops itself; the margin covers loading the corpus and one slow last input.
    let deadline = started + Duration::from_secs(options.seconds * 2 + 120);
    let status = match cmd::wait_deadline(&mut child, deadline)? {
        Some(status) => status,
        None => {
            child.kill().context("killing a fuzz target past its deadline")?;
            child.wait().context("reaping a fuzz target")?;
            bail!("fuzz target {name} did not stop by itself; its output is in {}", log.display());
        }
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let outcome = read_outcome(&text);
    if status.success() {
        let stats = outcome.done.as_deref().unwrap_or("(no statistics)");
        println!("fuzz: {name}: clean after {:.0?}: {stats}", started.elapsed());
        return Ok(());
    }
    let tail: Vec<&str> = text.lines().rev().take(40).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    println!("--- last lines of {}\n{}\n---", log.display(), tail.join("\n"));
    let finding = outcome.finding.unwrap_or_else(|| format!("exit status {status}"));
    match outcome.artifact {
        Some(artifact) => {
            let input = absolute(&fuzz.join(&artifact));
            bail!(
                "fuzz target {name} found a failing input: {finding}\n\
                 input: {}\n\
                 reproduce: cargo xtask fuzz repro {name} {}\n\
                 (or directly: {} {})\n\
                 minimise: {} -minimize_crash=1 -runs=10000 {}",
                input.display(),
                input.display(),
                binary(name)?.display(),
                input.display(),
                binary(name)?.display(),
                input.display(),
            )
        }
        None => bail!("fuzz target {name} failed: {finding}; its output is in {}", log.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn run_options() {
        let all: Vec<String> = TARGETS.iter().map(|t| t.0.to_owned()).collect();
        assert_eq!(
            parse_run(&[]).expect("defaults"),
            RunOptions { targets: all, seconds: RUN_SECONDS, extra: Vec::new() }
        );
        assert_eq!(
            parse_run(&args("--target host --target stdcopy --time 60 -- -jobs=2")).expect("valid"),
            RunOptions {
                targets: vec!["host".into(), "stdcopy".into()],
                seconds: 60,
                extra: vec!["-jobs=2".into()],
            }
        );
        assert!(parse_run(&args("--target nope")).is_err());
        assert!(parse_run(&args("--time 0")).is_err());
        assert!(parse_run(&args("--verbose")).is_err());
    }

    #[test]
    fn outcome_of_a_crash_and_of_a_clean_run() {
        let crash = "\
INFO: Seed: 1
thread '<unnamed>' (10551) panicked at fuzz_targets/host.rs:15:35:
boom
==10551== ERROR: libFuzzer: deadly signal
SUMMARY: libFuzzer: deadly signal
MS: 1 ChangeBit-; base unit: 0
artifact_prefix='/f/artifacts/host/'; Test unit written to /f/artifacts/host/crash-51630703
";
        assert_eq!(
            read_outcome(crash),
            Outcome {
                done: None,
                artifact: Some("/f/artifacts/host/crash-51630703".into()),
                finding: Some(
                    "thread '<unnamed>' (10551) panicked at fuzz_targets/host.rs:15:35:".into()
                ),
            }
        );
        let clean = "#224286\tDONE   cov: 1291 ft: 2917 corp: 303/6790b exec/s: 24920 rss: 29Mb\n\
                     Done 224286 runs in 9 second(s)\n";
        let outcome = read_outcome(clean);
        assert!(outcome.done.is_some_and(|d| d.contains("cov: 1291")));
        assert_eq!((outcome.artifact, outcome.finding), (None, None));
    }

    #[test]
    fn every_target_has_a_source_file_and_seeds() {
        let fuzz = fuzz_dir();
        let manifest = std::fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
        for (name, _, _) in TARGETS {
            assert!(fuzz.join(format!("fuzz_targets/{name}.rs")).is_file(), "{name}");
            assert!(manifest.contains(&format!("name = \"{name}\"")), "{name} in Cargo.toml");
            let seeds = std::fs::read_dir(fuzz.join("seeds").join(name)).expect(name).count();
            assert!(seeds > 0, "no seeds for {name}");
        }
    }
}
