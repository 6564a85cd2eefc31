//! Make sure the tools the suite and berthd need are on the machine; install
//! only what is missing, so a second run does nothing.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};

use crate::cmd;

/// Debian packages berthd needs at run time: its engine runs containerd
/// (which runs runc), CNI plugins for container networks, tini for `--init`,
/// iptables and iproute2 for bridge networking.
pub(crate) const RUNTIME_APT_PACKAGES: &[&str] =
    &["containerd", "runc", "containernetworking-plugins", "tini", "iptables", "iproute2"];

/// Debian packages the build and the test suite need on top of the runtime
/// ones: protoc (containerd-client generates its gRPC code at build time),
/// openssl (xtask's own certificate test), busybox-static and curl (the offline
/// test images, see `testimage.rs`), docker-registry (a local registry for the
/// pull and push tests: nothing leaves the machine).
pub(crate) const BUILD_APT_PACKAGES: &[&str] =
    &["protobuf-compiler", "openssl", "busybox-static", "curl", "docker-registry"];

/// Cargo subcommands the CI gates run, with the crate that provides each.
const CARGO_TOOLS: &[(&str, &str)] = &[("nextest", "cargo-nextest"), ("deny", "cargo-deny")];

/// Debian 12 ships the docker CLI only inside `docker.io`, which also brings
/// dockerd, containerd and runc; a later Debian has this CLI-only package.
const DOCKER_CLI_PACKAGE: &str = "docker-cli";

/// Everything `cargo xtask ci` needs; `e2e` adds the docker CLI.
pub(crate) fn ensure_ci(e2e: bool) -> Result<()> {
    ensure_cargo_tools()?;
    let mut packages = BUILD_APT_PACKAGES.to_vec();
    packages.extend_from_slice(RUNTIME_APT_PACKAGES);
    ensure_apt(&packages)?;
    if e2e {
        ensure_docker_cli()?;
    }
    Ok(())
}

/// `cargo nextest` and `cargo deny`, installed with `cargo install --locked`
/// when missing.
pub(crate) fn ensure_cargo_tools() -> Result<()> {
    for &(subcommand, krate) in CARGO_TOOLS {
        if cmd::succeeds(cmd::cargo().args([subcommand, "--version"])) {
            println!("ok: cargo {subcommand} is installed");
            continue;
        }
        println!("cargo {subcommand} is missing: installing {krate}");
        cmd::run(cmd::cargo().args(["install", "--locked", krate]))?;
        if !cmd::succeeds(cmd::cargo().args([subcommand, "--version"])) {
            bail!("`cargo install {krate}` succeeded but `cargo {subcommand}` still does not run");
        }
    }
    Ok(())
}

static APT_UPDATED: AtomicBool = AtomicBool::new(false);

/// Installs the Debian packages in `packages` that are not installed yet,
/// running `apt-get update` once per process first. Does nothing (and needs
/// no root) when all are present.
pub(crate) fn ensure_apt(packages: &[&str]) -> Result<()> {
    let mut missing = Vec::new();
    for &package in packages {
        if dpkg_installed(package)? {
            println!("ok: {package} is installed");
        } else {
            missing.push(package);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "Debian packages missing: {}; installing them needs root: run as root or `apt-get install {}`",
            missing.join(", "),
            missing.join(" ")
        );
    }
    apt_update_once()?;
    // Packages such as containerd start a system-wide service on install; berthd runs its own,
    // so forbid service starts for this install only (the policy-rc.d convention).
    let policy = std::path::Path::new("/usr/sbin/policy-rc.d");
    let ours = !policy.exists();
    if ours {
        std::fs::write(
            policy,
            "#!/bin/sh\n# written by cargo xtask for one apt-get install\nexit 101\n",
        )
        .context("writing /usr/sbin/policy-rc.d")?;
        std::fs::set_permissions(policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .context("chmod /usr/sbin/policy-rc.d")?;
    }
    let installed = cmd::run(
        Command::new("apt-get")
            .env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing),
    );
    if ours {
        let _ = std::fs::remove_file(policy);
    }
    installed?;
    for &package in &missing {
        if !dpkg_installed(package)? {
            bail!("apt-get install finished but {package} is still not installed");
        }
    }
    Ok(())
}

fn apt_update_once() -> Result<()> {
    if APT_UPDATED.load(Ordering::Relaxed) {
        return Ok(());
    }
    cmd::run(
        Command::new("apt-get").env("DEBIAN_FRONTEND", "noninteractive").args(["update", "-q"]),
    )?;
    APT_UPDATED.store(true, Ordering::Relaxed);
    Ok(())
}

/// `dpkg -s` also knows packages that were removed but left config files
/// behind, so ask for the status word itself.
fn dpkg_installed(package: &str) -> Result<bool> {
    let output = Command::new("dpkg-query")
        .args(["--show", "--showformat=${db:Status-Status}", package])
        .output()
        .context("cannot run dpkg-query: is this a Debian system?")?;
    Ok(output.status.success() && output.stdout == b"installed")
}

/// The docker CLI on `PATH`. If it is missing, installs the CLI-only Debian
/// package when this Debian has one; Debian 12 has none (its `docker.io` is a
/// whole 20.10 engine), so there it stops with a message saying what to do.
pub(crate) fn ensure_docker_cli() -> Result<()> {
    if let Ok(version) = cmd::stdout(Command::new("docker").args(["--version"])) {
        println!("ok: {}", version.trim());
        return Ok(());
    }
    if nix::unistd::geteuid().is_root() && dpkg_query_available() {
        apt_update_once()?;
        if apt_candidate(DOCKER_CLI_PACKAGE)?.is_some() {
            ensure_apt(&[DOCKER_CLI_PACKAGE])?;
            let version = cmd::stdout(Command::new("docker").args(["--version"]))
                .context("installed docker-cli but `docker --version` fails")?;
            println!("ok: {}", version.trim());
            return Ok(());
        }
    }
    bail!(
        "the docker CLI (`docker` on PATH) is needed for the end-to-end tests and is missing.\n\
         This Debian has no CLI-only package ({DOCKER_CLI_PACKAGE}); its docker.io is dockerd 20.10 \
         with containerd and runc, which we do not want next to berthd.\n\
         Install a docker CLI binary (v28 is what e2e is written against) as /usr/local/bin/docker, \
         or run `cargo xtask ci --skip-e2e`."
    )
}

fn dpkg_query_available() -> bool {
    cmd::succeeds(Command::new("dpkg-query").arg("--version"))
}

/// The version apt would install for `package`, if it knows one.
fn apt_candidate(package: &str) -> Result<Option<String>> {
    let policy = cmd::stdout(Command::new("apt-cache").args(["policy", package]))?;
    Ok(parse_candidate(&policy))
}

fn parse_candidate(policy: &str) -> Option<String> {
    policy
        .lines()
        .find_map(|line| line.trim().strip_prefix("Candidate:"))
        .map(str::trim)
        .filter(|candidate| *candidate != "(none)")
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidate_is_read_from_apt_cache_policy() {
        let known = "docker.io:\n  Installed: (none)\n  Candidate: 20.10.24+dfsg1-1+deb12u1+b6\n  Version table:\n";
        assert_eq!(parse_candidate(known).as_deref(), Some("20.10.24+dfsg1-1+deb12u1+b6"));
        let unknown = "docker-cli:\n  Installed: (none)\n  Candidate: (none)\n  Version table:\n";
        assert_eq!(parse_candidate(unknown), None);
        assert_eq!(parse_candidate(""), None);
    }
}
