//! The real backend behind Berth's routers: containerd over gRPC (supervised by berthd or
//! external), its content store, snapshots and images.
//!
//! The engine implements the `berth-backend` traits; it never depends on axum, tower or a hyper
//! server.

pub mod cgroups;
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

/// The security options `/info` lists for containers of this host (dockerd's
/// `SecurityOptions`): the built-in seccomp profile where the kernel has seccomp, as every
/// container not privileged or unconfined runs under it. Berth has no AppArmor, SELinux,
/// user-namespace remapping, rootless mode or cgroup namespaces to list.
pub fn security_options() -> Vec<String> {
    if container::seccomp::kernel_filters() {
        vec!["name=seccomp,profile=builtin".to_owned()]
    } else {
        Vec::new()
    }
}

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
