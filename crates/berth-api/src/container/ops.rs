//! Requests and answers of the container operations besides create and inspect: wait, top,
//! changes, update, prune, commit, archive, stats, and the exec API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{is_zero_u64, no_entries};

/// `POST /containers/create` (201).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerCreateResponse {
    /// The new container's ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// Warnings; dockerd sends `[]` when there are none.
    #[serde(rename = "Warnings")]
    pub warnings: Vec<String>,
}

/// The `condition` of `POST /containers/{name}/wait`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum WaitCondition {
    /// `not-running` (the default): return at once if not running, else at the next exit.
    #[default]
    NotRunning,
    /// `next-exit`: wait for the next exit even if not running now.
    NextExit,
    /// `removed`: wait until the container is removed.
    Removed,
}

impl WaitCondition {
    /// Parses a `condition` value; `None` for anything dockerd rejects.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "not-running" => Some(Self::NotRunning),
            "next-exit" => Some(Self::NextExit),
            "removed" => Some(Self::Removed),
            _ => None,
        }
    }
}

/// `Error` of a wait answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitExitError {
    /// Why waiting failed (e.g. the removal failed).
    #[serde(rename = "Message", default)]
    pub message: String,
}

/// `POST /containers/{name}/wait`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerWaitResponse {
    /// Set when waiting failed; omitted otherwise.
    #[serde(rename = "Error", default, skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitExitError>,
    /// Exit code.
    #[serde(rename = "StatusCode", default)]
    pub status_code: i64,
}

/// `GET /containers/{name}/top`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerTopResponse {
    /// `ps` column titles.
    #[serde(rename = "Titles", default)]
    pub titles: Option<Vec<String>>,
    /// One row per process.
    #[serde(rename = "Processes", default)]
    pub processes: Option<Vec<Vec<String>>>,
}

/// One item of `GET /containers/{name}/changes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerChangeResponseItem {
    /// 0 modified, 1 added, 2 deleted.
    #[serde(rename = "Kind", default)]
    pub kind: u8,
    /// Path in the container.
    #[serde(rename = "Path", default)]
    pub path: String,
}

/// `POST /containers/{name}/update`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerUpdateResponse {
    /// Warnings; `null` when there are none.
    #[serde(rename = "Warnings", default)]
    pub warnings: Option<Vec<String>>,
}

/// `POST /containers/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerPruneReport {
    /// IDs of removed containers; `null` when none.
    #[serde(rename = "ContainersDeleted", default)]
    pub containers_deleted: Option<Vec<String>>,
    /// Bytes freed.
    #[serde(rename = "SpaceReclaimed", default)]
    pub space_reclaimed: u64,
}

/// `POST /commit` (201) and `POST /containers/{name}/exec` (201): `{"Id": ...}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdResponse {
    /// The new object's ID.
    #[serde(rename = "Id")]
    pub id: String,
}

/// What `X-Docker-Container-Path-Stat` carries (base64 of this JSON) for the archive routes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// Base name.
    pub name: String,
    /// Size, bytes.
    pub size: i64,
    /// Go `os.FileMode` bits (type bits in Go's layout, e.g. `2147484141` for a 0755 dir).
    pub mode: u32,
    /// Modification time, RFC 3339 with nanoseconds.
    pub mtime: String,
    /// Symlink target, or empty.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

// ---------------------------------------------------------------------------------------------
// Exec
// ---------------------------------------------------------------------------------------------

/// The body of `POST /containers/{name}/exec` (Go `container.ExecOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecCreateBody {
    /// User to run as.
    pub user: String,
    /// Extended privileges.
    pub privileged: bool,
    /// Allocate a TTY.
    pub tty: bool,
    /// Initial TTY size `[height, width]` (API ≥ 1.42; dropped below).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u32; 2]>,
    /// Attach stdin.
    pub attach_stdin: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Detach key sequence (`ctrl-p,ctrl-q`); docker-py sends it as `detachKeys`, which
    /// [`crate::container::decode_body`] matches as Go does.
    pub detach_keys: String,
    /// Extra environment, `KEY=value`.
    pub env: Option<Vec<String>>,
    /// Working directory.
    pub working_dir: String,
    /// Command and arguments; required.
    pub cmd: Option<Vec<String>>,
    /// Deprecated; ignored by dockerd.
    pub detach: bool,
}

/// The body of `POST /exec/{id}/start`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecStartBody {
    /// Start and return at once, without streams.
    pub detach: bool,
    /// Whether the output is a TTY stream: decides the framing (clients repeat the create
    /// `Tty`).
    pub tty: bool,
    /// Initial TTY size (API ≥ 1.42, `Tty` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console_size: Option<[u32; 2]>,
}

/// `ProcessConfig` of an exec inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExecProcessConfig {
    /// TTY allocated.
    pub tty: bool,
    /// Executable.
    pub entrypoint: String,
    /// Arguments.
    pub arguments: Option<Vec<String>>,
    /// Privileged; omitted when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privileged: Option<bool>,
    /// User; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
}

/// `GET /exec/{id}/json` (Go `backend.ExecInspect`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ExecInspect {
    /// Exec ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Running.
    pub running: bool,
    /// Exit code; `null` until it exits.
    pub exit_code: Option<i64>,
    /// The process.
    pub process_config: Option<ExecProcessConfig>,
    /// stdin attached.
    pub open_stdin: bool,
    /// stderr attached.
    pub open_stderr: bool,
    /// stdout attached.
    pub open_stdout: bool,
    /// Whether it may be removed.
    pub can_remove: bool,
    /// Container ID.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Detach keys, base64 (Go marshals `[]byte` so); `null` when unset.
    pub detach_keys: Option<String>,
    /// PID, 0 when not running.
    pub pid: i64,
}

// ---------------------------------------------------------------------------------------------
// Stats (cgroup v1 shape, as dockerd 28 marshals `container.StatsResponse`)
// ---------------------------------------------------------------------------------------------

/// CPU throttling counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ThrottlingData {
    /// Periods with throttling active.
    pub periods: u64,
    /// Periods throttled.
    pub throttled_periods: u64,
    /// Time throttled, ns.
    pub throttled_time: u64,
}

/// CPU usage counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuUsage {
    /// Total CPU time, ns.
    pub total_usage: u64,
    /// Per-CPU time (cgroup v1 only); omitted when empty.
    #[serde(skip_serializing_if = "super::no_items")]
    pub percpu_usage: Option<Vec<u64>>,
    /// Kernel-mode time, ns.
    pub usage_in_kernelmode: u64,
    /// User-mode time, ns.
    pub usage_in_usermode: u64,
}

/// `cpu_stats` / `precpu_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CpuStats {
    /// Usage.
    pub cpu_usage: CpuUsage,
    /// Host CPU time, ns; omitted when 0.
    #[serde(rename = "system_cpu_usage", skip_serializing_if = "is_zero_u64")]
    pub system_usage: u64,
    /// Online CPUs; omitted when 0.
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    /// Throttling (always present: Go's `omitempty` never omits a struct).
    pub throttling_data: ThrottlingData,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// `memory_stats`; every field omitted when zero or empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryStats {
    /// Current usage, bytes.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub usage: u64,
    /// Peak usage (cgroup v1).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub max_usage: u64,
    /// The cgroup's `memory.stat`.
    #[serde(skip_serializing_if = "no_entries")]
    pub stats: Option<BTreeMap<String, u64>>,
    /// Limit hits (cgroup v1).
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub failcnt: u64,
    /// Limit, bytes.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
    /// Windows only.
    #[serde(rename = "commitbytes", skip_serializing_if = "is_zero_u64")]
    pub commit: u64,
    /// Windows only.
    #[serde(rename = "commitpeakbytes", skip_serializing_if = "is_zero_u64")]
    pub commit_peak: u64,
    /// Windows only.
    #[serde(rename = "privateworkingset", skip_serializing_if = "is_zero_u64")]
    pub private_working_set: u64,
}

/// One block-IO counter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStatEntry {
    /// Device major.
    pub major: u64,
    /// Device minor.
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Total`…
    pub op: String,
    /// Value.
    pub value: u64,
}

/// `blkio_stats`; each list is `null` when the cgroup reports nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BlkioStats {
    /// Bytes transferred.
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    /// Operations.
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    /// Queued operations.
    #[serde(rename = "io_queue_recursive")]
    pub io_queued_recursive: Option<Vec<BlkioStatEntry>>,
    /// Service time.
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Wait time.
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Merged operations.
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    /// Time.
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Sectors.
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PidsStats {
    /// Current PIDs; omitted when 0.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub current: u64,
    /// Limit; omitted when 0.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub limit: u64,
}

/// `storage_stats` (Windows only; `{}` on Linux).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct StorageStats {
    /// Reads.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub read_count_normalized: u64,
    /// Bytes read.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub read_size_bytes: u64,
    /// Writes.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub write_count_normalized: u64,
    /// Bytes written.
    #[serde(skip_serializing_if = "is_zero_u64")]
    pub write_size_bytes: u64,
}

/// One interface of `networks`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Sent packets dropped.
    pub tx_dropped: u64,
    /// Windows only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint_id: String,
    /// Windows only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instance_id: String,
}

/// One sample of `GET /containers/{name}/stats` (Go `container.StatsResponse`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContainerStats {
    /// Name with its leading `/`; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Full ID; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Time of this sample, RFC 3339 with nanoseconds.
    pub read: String,
    /// Time of the previous sample (Go's zero time for the first).
    pub preread: String,
    /// PIDs.
    pub pids_stats: PidsStats,
    /// Block IO.
    pub blkio_stats: BlkioStats,
    /// Windows only.
    pub num_procs: u32,
    /// Windows only.
    pub storage_stats: StorageStats,
    /// CPU now.
    pub cpu_stats: CpuStats,
    /// CPU at the previous sample.
    pub precpu_stats: CpuStats,
    /// Memory.
    pub memory_stats: MemoryStats,
    /// Interfaces; omitted when none (e.g. `--network none`).
    #[serde(skip_serializing_if = "no_entries")]
    pub networks: Option<BTreeMap<String, NetworkStats>>,
}
