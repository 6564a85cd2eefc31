//! `cargo xtask diff`: the same requests to a real dockerd and to berthd.

use std::process::ExitCode;

use anyhow::{Result, bail};

pub(crate) fn run(_args: &[String]) -> Result<ExitCode> {
    bail!("being written")
}
