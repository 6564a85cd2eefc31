//! berthd, the Berth daemon: configuration, stack assembly, the hot-swappable router, serve loops
//! and signals.
//!
//! `main.rs` only calls [`main`]; everything lives in modules so unit tests can reach it.

use std::process::ExitCode;

use clap::Parser;

mod authz;
mod cli;
mod config;
mod coverage;
mod daemon;
mod events;
mod fsutil;
mod handle;
mod logging;
mod pidfile;
mod serve;
mod stack;
mod system;
mod tmpdir;

/// What this build is.
pub(crate) mod build_info {
    /// Berth's version.
    pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
    /// The compiler that built it.
    pub(crate) const RUSTC_VERSION: &str = env!("BERTH_RUSTC_VERSION");
    /// Commit time of the source, as `Version.BuildTime`, when built from git.
    pub(crate) const BUILD_TIME: &str = env!("BERTH_BUILD_TIME");
    /// Source revision, when built from git.
    pub(crate) const GIT_COMMIT: &str = env!("BERTH_GIT_COMMIT");
}

/// Entry point of `berthd`.
pub fn main() -> ExitCode {
    let flags = cli::Flags::parse();
    let config = match config::Config::load(&flags) {
        Ok(c) => c,
        Err(err) => {
            report(&anyhow::Error::from(err));
            return ExitCode::FAILURE;
        }
    };
    if flags.validate {
        eprintln!("configuration OK");
        return ExitCode::SUCCESS;
    }
    let log = match logging::init(&config.log_directive(), config.log_format) {
        Ok(h) => h,
        Err(err) => {
            eprintln!("berthd: cannot set up logging: {err}");
            return ExitCode::FAILURE;
        }
    };
    // Before any other thread exists: it sets TMPDIR.
    match tmpdir::prepare(&config.data_root) {
        Ok(prepared) => {
            tmpdir::use_for_temporary_files(&prepared.dir);
            tmpdir::delete_in_background(prepared.stale);
        }
        Err(err) => {
            let err = anyhow::Error::from(err).context(format!(
                "cannot prepare the temporary directory under {}",
                config.data_root.display()
            ));
            tracing::error!("{}", chain(&err));
            report(&err);
            return ExitCode::FAILURE;
        }
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            report(&anyhow::Error::from(err).context("cannot start the async runtime"));
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(daemon::run(flags, config, log)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{}", chain(&err));
            report(&err);
            ExitCode::FAILURE
        }
    }
}

fn chain(err: &anyhow::Error) -> String {
    err.chain().map(ToString::to_string).collect::<Vec<_>>().join(": ")
}

fn report(err: &anyhow::Error) {
    eprintln!("berthd: {}", chain(err));
}
