//! The real backend behind Berth's routers: containerd over gRPC (supervised by berthd or
//! external), its content store, snapshots and images.
//!
//! The engine implements the `berth-backend` traits; it never depends on axum, tower or a hyper
//! server.

mod containerd;
mod containers;
mod content;
mod engine;
#[allow(dead_code, reason = "being wired into the container backend (issue 5)")]
mod fs;
mod image;
mod lease;
#[allow(dead_code, reason = "being wired into the container backend (issue 5)")]
mod logs;
#[allow(dead_code, reason = "being wired into the container backend (issue 5)")]
mod metrics;
#[allow(dead_code, reason = "being wired into the container backend (issue 5)")]
mod network;
#[cfg_attr(not(test), expect(dead_code, reason = "wired in by the container backend (issue 5)"))]
mod runtime;
#[cfg(test)]
mod testutil;
mod unpack;

/// Current time in Unix nanoseconds.
pub(crate) fn now_nanos() -> i64 {
    let since =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since.as_nanos()).unwrap_or(i64::MAX)
}

pub use containerd::supervisor::{Supervisor, SupervisorConfig};
pub use containerd::{Containerd, NAMESPACE};
pub use engine::{Engine, EngineConfig};

/// Go's name for the architecture Berth runs on (what image configs and `/version` say).
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}
