//! What the API reports about containers: `GET /containers/json` ([`ContainerSummary`]) and
//! `GET /containers/{name}/json` ([`ContainerInspect`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, Descriptor, EndpointSettings, HostConfig, PortMap, no_entries};
use crate::ApiVersion;

/// A published or exposed port in a list entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// Host IP; omitted when unpublished.
    #[serde(rename = "IP", default, skip_serializing_if = "String::is_empty")]
    pub ip: String,
    /// Port in the container.
    #[serde(rename = "PrivatePort", default)]
    pub private_port: u16,
    /// Port on the host; omitted when unpublished.
    #[serde(rename = "PublicPort", default, skip_serializing_if = "is_zero_u16")]
    pub public_port: u16,
    /// `tcp`, `udp` or `sctp`.
    #[serde(rename = "Type", default)]
    pub kind: String,
}

fn is_zero_u16(v: &u16) -> bool {
    *v == 0
}

/// A mount as inspect and list report it (Go `container.MountPoint`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountPoint {
    /// `bind`, `volume`, `tmpfs`, `image`, …; omitted when empty.
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Volume name; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Host path.
    pub source: String,
    /// Path in the container.
    pub destination: String,
    /// Volume driver; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub driver: String,
    /// Mode string of a bind (`z`, `ro`), else empty.
    pub mode: String,
    /// Writable.
    #[serde(rename = "RW")]
    pub rw: bool,
    /// Bind propagation.
    pub propagation: String,
}

/// `HostConfig` of a list entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryHostConfig {
    /// Network mode; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub network_mode: String,
    /// Annotations (API ≥ 1.46); omitted when empty.
    #[serde(skip_serializing_if = "no_entries")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// `NetworkSettings` of a list entry.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SummaryNetworkSettings {
    /// Network name → endpoint.
    pub networks: Option<BTreeMap<String, EndpointSettings>>,
}

/// One container of `GET /containers/json` (Go `container.Summary`).
///
/// Serialize `value.for_api(version)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerSummary {
    /// Full ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// Names, each with a leading `/` (links add `/other/alias` names).
    pub names: Option<Vec<String>>,
    /// The image as the client named it at create.
    pub image: String,
    /// Image ID (`sha256:...`).
    #[serde(rename = "ImageID")]
    pub image_id: String,
    /// Manifest of the image (API ≥ 1.48).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_manifest_descriptor: Option<Descriptor>,
    /// Entrypoint and command joined with spaces.
    pub command: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// Ports.
    pub ports: Option<Vec<Port>>,
    /// Size of the writable layer (`size=1`); omitted when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub size_rw: i64,
    /// Size of the root filesystem (`size=1`); omitted when 0.
    #[serde(skip_serializing_if = "is_zero")]
    pub size_root_fs: i64,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub state: String,
    /// Human status (`Up 3 minutes`, `Exited (0) 2 seconds ago`).
    pub status: String,
    /// Host config excerpt.
    pub host_config: SummaryHostConfig,
    /// Networks; `None` marshals as `null`.
    pub network_settings: Option<SummaryNetworkSettings>,
    /// Mounts.
    pub mounts: Option<Vec<MountPoint>>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl ContainerSummary {
    /// The entry a client of API `version` gets (dockerd 28's `getContainersJSON` rules): no
    /// `HostConfig.Annotations` below 1.46, no `ImageManifestDescriptor` below 1.48.
    pub fn for_api(self, version: ApiVersion) -> Self {
        let mut out = self;
        if version < ApiVersion::new(1, 46) {
            out.host_config.annotations = None;
        }
        if version < ApiVersion::new(1, 48) {
            out.image_manifest_descriptor = None;
        }
        out
    }
}

/// One health-check probe result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct HealthcheckResult {
    /// Start, RFC 3339 with nanoseconds.
    pub start: String,
    /// End, RFC 3339 with nanoseconds.
    pub end: String,
    /// 0 healthy, 1 unhealthy, else error running the probe.
    pub exit_code: i64,
    /// Probe output (truncated).
    pub output: String,
}

/// `State.Health`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Health {
    /// `none`, `starting`, `healthy` or `unhealthy`.
    pub status: String,
    /// Consecutive failures.
    pub failing_streak: i64,
    /// Last results, oldest first.
    pub log: Option<Vec<HealthcheckResult>>,
}

/// `State` of inspect (Go `container.State`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerState {
    /// `created`, `running`, `paused`, `restarting`, `removing`, `exited` or `dead`.
    pub status: String,
    /// Running (also true while paused).
    pub running: bool,
    /// Paused.
    pub paused: bool,
    /// Restarting.
    pub restarting: bool,
    /// Killed by the OOM killer.
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    /// Dead.
    pub dead: bool,
    /// PID of the main process, 0 when not running.
    pub pid: i64,
    /// Last exit code.
    pub exit_code: i64,
    /// Last start error.
    pub error: String,
    /// RFC 3339 with nanoseconds; Go's zero time when never started.
    pub started_at: String,
    /// RFC 3339 with nanoseconds; Go's zero time when never stopped.
    pub finished_at: String,
    /// Health; omitted without a health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health: Option<Health>,
}

/// `GraphDriver` of inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GraphDriver {
    /// Driver data (overlay2: `LowerDir`, `MergedDir`, `UpperDir`, `WorkDir`).
    pub data: Option<BTreeMap<String, String>>,
    /// Driver name.
    pub name: String,
}

/// `NetworkSettings` of inspect (Go `container.NetworkSettings`, with its two embedded
/// structs inline).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkSettings {
    /// Deprecated; empty.
    pub bridge: String,
    /// Sandbox ID.
    #[serde(rename = "SandboxID")]
    pub sandbox_id: String,
    /// Sandbox key (netns path).
    pub sandbox_key: String,
    /// Port bindings in effect.
    pub ports: Option<PortMap>,
    /// Hairpin mode.
    pub hairpin_mode: bool,
    /// Link-local IPv6 address.
    #[serde(rename = "LinkLocalIPv6Address")]
    pub link_local_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "LinkLocalIPv6PrefixLen")]
    pub link_local_ipv6_prefix_len: i64,
    /// Deprecated; always `null`.
    #[serde(rename = "SecondaryIPAddresses")]
    pub secondary_ip_addresses: Option<Vec<serde_json::Value>>,
    /// Deprecated; always `null`.
    #[serde(rename = "SecondaryIPv6Addresses")]
    pub secondary_ipv6_addresses: Option<Vec<serde_json::Value>>,
    /// Default-bridge endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// Default-bridge gateway.
    pub gateway: String,
    /// Default-bridge IPv6 address.
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// Its prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    /// Default-bridge IPv4 address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// Its prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    /// Default-bridge IPv6 gateway.
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// Default-bridge MAC address.
    pub mac_address: String,
    /// Network name → endpoint.
    pub networks: Option<BTreeMap<String, EndpointSettings>>,
}

/// `GET /containers/{name}/json` (Go `container.InspectResponse`).
///
/// Serialize `value.for_api(version)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ContainerInspect {
    /// Full ID.
    #[serde(rename = "Id")]
    pub id: String,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// Executable of the main process.
    pub path: String,
    /// Its arguments.
    pub args: Option<Vec<String>>,
    /// Runtime state.
    pub state: Option<ContainerState>,
    /// Image ID (`sha256:...`).
    pub image: String,
    /// Path of the generated resolv.conf.
    pub resolv_conf_path: String,
    /// Path of the generated hostname file.
    pub hostname_path: String,
    /// Path of the generated hosts file.
    pub hosts_path: String,
    /// Path of the json-file log.
    pub log_path: String,
    /// Name with a leading `/`.
    pub name: String,
    /// Restarts by the restart policy.
    pub restart_count: i64,
    /// Storage driver (snapshotter).
    pub driver: String,
    /// `linux`.
    pub platform: String,
    /// SELinux mount label.
    pub mount_label: String,
    /// SELinux process label.
    pub process_label: String,
    /// AppArmor profile.
    pub app_armor_profile: String,
    /// IDs of the container's execs.
    #[serde(rename = "ExecIDs")]
    pub exec_ids: Option<Vec<String>>,
    /// Host configuration.
    pub host_config: Option<HostConfig>,
    /// Storage driver data.
    pub graph_driver: GraphDriver,
    /// Writable layer size (`size=1` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_rw: Option<i64>,
    /// Root filesystem size (`size=1` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_root_fs: Option<i64>,
    /// Mounts.
    pub mounts: Option<Vec<MountPoint>>,
    /// Configuration.
    pub config: Option<Config>,
    /// Networking.
    pub network_settings: Option<NetworkSettings>,
    /// Manifest of the image (API ≥ 1.48).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_manifest_descriptor: Option<Descriptor>,
}

/// Networks whose endpoints dockerd reports aliases for below API 1.45: user-defined ones.
fn is_user_defined(network: &str) -> bool {
    !matches!(network, "default" | "bridge" | "host" | "none") && !network.starts_with("container:")
}

impl ContainerInspect {
    /// The document a client of API `version` gets (dockerd 28's `getContainersByName` rules):
    /// below 1.45 every user-defined network's `Aliases` also holds the short ID and the
    /// hostname (deduplicated, in that order after the user's); below 1.48 no
    /// `ImageManifestDescriptor`.
    pub fn for_api(self, version: ApiVersion) -> Self {
        let mut out = self;
        if version < ApiVersion::new(1, 45) {
            let short_id: String = out.id.chars().take(12).collect();
            let hostname = out.config.as_ref().map(|c| c.hostname.clone()).unwrap_or_default();
            if let Some(networks) = out.network_settings.as_mut().and_then(|n| n.networks.as_mut())
            {
                for (name, endpoint) in networks.iter_mut() {
                    if !is_user_defined(name) {
                        continue;
                    }
                    let mut aliases = endpoint.aliases.take().unwrap_or_default();
                    for extra in [&short_id, &hostname] {
                        aliases.push(extra.clone());
                    }
                    let mut seen = std::collections::BTreeSet::new();
                    aliases.retain(|a| seen.insert(a.clone()));
                    endpoint.aliases = Some(aliases);
                }
            }
        }
        if version < ApiVersion::new(1, 48) {
            out.image_manifest_descriptor = None;
        }
        out
    }
}
