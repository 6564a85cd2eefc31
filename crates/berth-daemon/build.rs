//! Records the toolchain, source revision and commit time for `/version`.

use std::process::Command;

/// The trimmed standard output of `program args`, or empty when it cannot run or fails.
fn output_of(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .env("TZ", "UTC")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn main() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc_version = output_of(&rustc, &["--version"]);
    let commit = output_of("git", &["rev-parse", "--short=7", "HEAD"]);
    // "Built" as dockerd reports it, taken from the commit so builds stay reproducible.
    let build_time = output_of(
        "git",
        &["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%S.000000000+00:00"],
    );
    println!("cargo:rustc-env=BERTH_BUILD_TIME={build_time}");
    println!("cargo:rustc-env=BERTH_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=BERTH_GIT_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/refs/heads");
}
