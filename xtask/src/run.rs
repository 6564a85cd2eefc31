//! `cargo xtask run`: from a fresh machine to a running berthd.

use std::os::unix::process::CommandExt;
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cmd, deps};

/// Installs berthd's runtime packages (and protoc for the build), builds it in release mode and
/// replaces this process with it, so signals reach berthd directly.
pub(crate) fn run(berthd_args: &[String]) -> Result<()> {
    if !nix::unistd::geteuid().is_root() {
        bail!(
            "berthd must run as root: it creates /var/run/berth.sock, owns /var/lib/berth and \
             runs containers; run it as root, e.g. `sudo -E env PATH=\"$PATH\" cargo xtask run`"
        );
    }
    deps::ensure_apt(deps::RUNTIME_APT_PACKAGES)?;
    // Building needs protoc (containerd-client generates its gRPC code at build time).
    deps::ensure_apt(&["protobuf-compiler"])?;
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "berth-daemon",
        "--bin",
        "berthd",
    ]))?;
    let berthd = crate::target_dir()?.join("release").join("berthd");
    let mut command = Command::new(&berthd);
    command.args(berthd_args);
    println!("$ {}", cmd::display(&command));
    // exec only returns on failure.
    let err = command.exec();
    Err(err).with_context(|| format!("cannot exec {}", berthd.display()))
}
