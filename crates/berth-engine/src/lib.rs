//! The real backend behind Berth's routers: containerd over gRPC (supervised by berthd or
//! external), its content store, snapshots and images.
//!
//! The engine implements the `berth-backend` traits; it never depends on axum, tower or a hyper
//! server.

mod container;
mod containerd;
mod containers;
mod content;
mod engine;
mod fs;
#[doc(hidden)]
pub mod fuzzing;
mod image;
mod lease;
mod logs;
mod metrics;
mod network;
mod networks;
pub mod persist;
mod runtime;
mod tar_budget;
#[cfg(test)]
mod testutil;
mod timefmt;
mod unpack;
mod volume;
mod volumes;

/// Where the engine reports what happens to its objects (`GET /events`).
pub trait EventSink: Send + Sync + 'static {
    /// Records `action` on object `id` of `kind` (`container`, `image`, …) with `attributes`.
    fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: std::collections::BTreeMap<String, String>,
    );
}

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
