//! What Berth stores about a container: one JSON document per container under
//! `data-root/containers/<id>/config.v2.json`, the single source of truth for API answers.
//!
//! Writes are atomic ([`crate::persist`]: temporary file, fsync, rename), so a crash of `berthd`
//! or a full disk leaves either the old or the new document, never a torn one.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_api::Error;
use berth_api::container::{Config, HostConfig, MountPoint};
use serde::{Deserialize, Serialize};

/// File name of the record in the container's directory.
pub(crate) const RECORD_FILE: &str = "config.v2.json";

/// Go's zero time as dockerd prints it for `StartedAt`/`FinishedAt` never set.
pub(crate) const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The lifecycle state (`State.Status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    /// Created, never started.
    #[default]
    Created,
    /// Its process runs.
    Running,
    /// Its processes are frozen.
    Paused,
    /// Waiting to be started again by its restart policy.
    Restarting,
    /// Being removed.
    Removing,
    /// Stopped.
    Exited,
    /// Could not be removed completely.
    Dead,
}

impl Status {
    /// The word the API uses.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Removing => "removing",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }
}

/// `State` as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub(crate) struct State {
    /// The status.
    pub(crate) status: Status,
    /// Host PID of the init process while running.
    pub(crate) pid: u32,
    /// Last exit code.
    pub(crate) exit_code: i64,
    /// Last start error.
    pub(crate) error: String,
    /// RFC 3339 with nanoseconds, or [`ZERO_TIME`].
    pub(crate) started_at: String,
    /// RFC 3339 with nanoseconds, or [`ZERO_TIME`].
    pub(crate) finished_at: String,
    /// The OOM killer ended the last run.
    pub(crate) oom_killed: bool,
    /// Stopped by a user (stop, kill): restart policies other than `always` leave it stopped.
    pub(crate) manually_stopped: bool,
    /// Has run at least once (restart policies apply only then).
    pub(crate) has_been_started: bool,
    /// Health status, when the container has a health check.
    pub(crate) health: Option<HealthState>,
}

impl State {
    /// Whether a process runs (also when paused).
    pub(crate) fn is_running(&self) -> bool {
        matches!(self.status, Status::Running | Status::Paused)
    }
}

/// `State.Health` as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub(crate) struct HealthState {
    /// `starting`, `healthy` or `unhealthy`.
    pub(crate) status: String,
    /// Consecutive failed probes.
    pub(crate) failing_streak: i64,
    /// Last results, oldest first (at most 5).
    pub(crate) log: Vec<berth_api::container::HealthcheckResult>,
}

/// The container's place on one network: what was asked for, and while it runs, what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub(crate) struct Endpoint {
    /// The network's ID.
    pub(crate) network_id: String,
    /// Extra names on this network (user-defined networks only).
    pub(crate) aliases: Vec<String>,
    /// The address asked for (`--ip`).
    pub(crate) ipv4_requested: Option<Ipv4Addr>,
    /// The MAC address asked for (`--mac-address`).
    pub(crate) mac_requested: Option<String>,
    /// Driver options of the endpoint, as given.
    pub(crate) driver_opts: BTreeMap<String, String>,
    /// Endpoint ID (random, as dockerd's), while attached.
    pub(crate) endpoint_id: String,
    /// The interface inside the container, while attached.
    pub(crate) ifname: String,
    /// Address on the network, while attached.
    pub(crate) ip: Option<Ipv4Addr>,
    /// Its prefix length.
    pub(crate) prefix_len: u8,
    /// The gateway (none on internal networks).
    pub(crate) gateway: Option<Ipv4Addr>,
    /// MAC of the interface.
    pub(crate) mac: String,
}

impl Endpoint {
    /// Forgets what the last run got, keeping what was asked for.
    pub(crate) fn clear_runtime(&mut self) {
        *self = Self {
            network_id: std::mem::take(&mut self.network_id),
            aliases: std::mem::take(&mut self.aliases),
            ipv4_requested: self.ipv4_requested,
            mac_requested: self.mac_requested.take(),
            driver_opts: std::mem::take(&mut self.driver_opts),
            ..Self::default()
        };
    }
}

/// Everything stored about one container.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    /// Full ID (64 hex digits).
    pub(crate) id: String,
    /// Name with its leading `/`.
    pub(crate) name: String,
    /// Creation time, RFC 3339 with nanoseconds.
    pub(crate) created: String,
    /// Executable of the main process.
    pub(crate) path: String,
    /// Its arguments.
    pub(crate) args: Vec<String>,
    /// The configuration (image defaults merged in, as dockerd reports it).
    pub(crate) config: Config,
    /// The host configuration, as given (with defaults filled).
    pub(crate) host_config: HostConfig,
    /// Image ID (`sha256:…`).
    pub(crate) image_id: String,
    /// Chain ID of the image's top layer (parent of the container's snapshot).
    pub(crate) chain_id: String,
    /// The runtime state.
    pub(crate) state: State,
    /// Restarts done by the restart policy since the last manual start.
    pub(crate) restart_count: i64,
    /// Mount points (binds, tmpfs) for inspect.
    #[serde(default)]
    pub(crate) mounts: Vec<MountPoint>,
    /// The networks the container is on, by network name (also while stopped, as in dockerd);
    /// empty for `container:<id>`.
    #[serde(default)]
    pub(crate) networks: BTreeMap<String, Endpoint>,
    /// The network namespace file while running with its own network.
    #[serde(default)]
    pub(crate) netns: Option<PathBuf>,
    /// The host ports published for the current run (bound again on restore).
    #[serde(default)]
    pub(crate) ports: Vec<crate::network::Binding>,
}

impl Record {
    /// The name without its leading `/`.
    pub(crate) fn short_name(&self) -> &str {
        self.name.trim_start_matches('/')
    }

    /// Writes the record to `dir/config.v2.json` atomically.
    pub(crate) fn save(&self, dir: &Path) -> Result<(), Error> {
        let bytes = serde_json::to_vec(self)
            .map_err(|e| Error::system("cannot serialize container record").with_source(e))?;
        crate::persist::save(&dir.join(RECORD_FILE), &bytes)
    }

    /// Reads `dir/config.v2.json`.
    pub(crate) fn load(dir: &Path) -> Result<Self, Error> {
        let path = dir.join(RECORD_FILE);
        let bytes = std::fs::read(&path)
            .map_err(|e| Error::system(format!("cannot read {}", path.display())).with_source(e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            Error::system(format!("corrupt container record {}", path.display())).with_source(e)
        })
    }
}

/// The current time as dockerd stores it (nine fraction digits, UTC).
pub(crate) fn now_rfc3339() -> String {
    crate::timefmt::fixed(time::OffsetDateTime::now_utc())
}

/// Parses an RFC 3339 time as stored; `None` for [`ZERO_TIME`] or garbage.
pub(crate) fn parse_time(text: &str) -> Option<time::OffsetDateTime> {
    if text == ZERO_TIME || text.is_empty() {
        return None;
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_have_nine_fraction_digits() {
        let t = time::macros::datetime!(2024-01-02 03:04:05.000000006 UTC);
        assert_eq!(parse_time("2024-01-02T03:04:05.000000006Z"), Some(t));
        assert_eq!(parse_time(ZERO_TIME), None);
    }

    #[test]
    fn records_round_trip_atomically() {
        let dir = tempfile::tempdir().expect("tempdir");
        let record = Record {
            id: "a".repeat(64),
            name: "/web".into(),
            created: now_rfc3339(),
            path: "sh".into(),
            args: vec!["-c".into(), "true".into()],
            config: Config::default(),
            host_config: HostConfig::default(),
            image_id: "sha256:1".into(),
            chain_id: String::new(),
            state: State { status: Status::Exited, exit_code: 3, ..State::default() },
            restart_count: 0,
            mounts: Vec::new(),
            networks: BTreeMap::new(),
            netns: None,
            ports: Vec::new(),
        };
        record.save(dir.path()).expect("save");
        let back = Record::load(dir.path()).expect("load");
        assert_eq!(back.state.exit_code, 3);
        assert_eq!(back.state.status, Status::Exited);
        assert_eq!(back.short_name(), "web");
        // Only the record is left: the temporary file was renamed.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [RECORD_FILE]);
    }
}
