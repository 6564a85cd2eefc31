//! JSON shapes of the system API: `/version`, `/info`, `/events`.
//!
//! Field names follow Docker's swagger exactly (mostly PascalCase, with its irregular acronyms).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `GET /version`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Version {
    /// Product platform.
    pub platform: Platform,
    /// Versions of the server's components (engine, containerd, runc, …).
    pub components: Vec<ComponentVersion>,
    /// Server version.
    pub version: String,
    /// Newest API version served.
    pub api_version: String,
    /// Oldest API version served.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// Source revision the server was built from.
    pub git_commit: String,
    /// Toolchain the server was built with (the field name is Docker's).
    pub go_version: String,
    /// Operating system (`linux`).
    pub os: String,
    /// Architecture, in Go's naming (`amd64`, `arm64`).
    pub arch: String,
    /// Host kernel release.
    pub kernel_version: String,
    /// Present and true only when experimental features are enabled.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub experimental: bool,
    /// Build timestamp, when known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub build_time: String,
}

/// `Version.Platform`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Platform {
    /// Product name.
    pub name: String,
}

/// One entry of `Version.Components`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ComponentVersion {
    /// Component name (`Engine`, `containerd`, `runc`, …).
    pub name: String,
    /// Component version.
    pub version: String,
    /// Free-form details.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub details: BTreeMap<String, String>,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)] // each field is documented in Docker's swagger under SystemInfo
pub struct Info {
    #[serde(rename = "ID")]
    pub id: String,
    pub containers: u64,
    pub containers_running: u64,
    pub containers_paused: u64,
    pub containers_stopped: u64,
    pub images: u64,
    pub driver: String,
    pub driver_status: Vec<[String; 2]>,
    pub plugins: PluginsInfo,
    pub memory_limit: bool,
    pub swap_limit: bool,
    pub cpu_cfs_period: bool,
    pub cpu_cfs_quota: bool,
    #[serde(rename = "CPUShares")]
    pub cpu_shares: bool,
    #[serde(rename = "CPUSet")]
    pub cpu_set: bool,
    pub pids_limit: bool,
    pub oom_kill_disable: bool,
    #[serde(rename = "IPv4Forwarding")]
    pub ipv4_forwarding: bool,
    /// bridge-nf-call-iptables is on (reported to clients below API 1.50 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_nf_iptables: Option<bool>,
    /// bridge-nf-call-ip6tables is on (reported to clients below API 1.50 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bridge_nf_ip6tables: Option<bool>,
    /// Kernel memory limits are supported (reported to clients below API 1.42 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_memory: Option<bool>,
    /// Kernel TCP memory limits are supported (reported below API 1.42, when true).
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "Option::is_none")]
    pub kernel_memory_tcp: Option<bool>,
    pub debug: bool,
    #[serde(rename = "NFd")]
    pub n_fd: u64,
    #[serde(rename = "NGoroutines")]
    pub n_goroutines: u64,
    pub system_time: String,
    pub logging_driver: String,
    pub cgroup_driver: String,
    pub cgroup_version: String,
    #[serde(rename = "NEventsListener")]
    pub n_events_listener: u64,
    pub kernel_version: String,
    pub operating_system: String,
    #[serde(rename = "OSVersion")]
    pub os_version: String,
    #[serde(rename = "OSType")]
    pub os_type: String,
    pub architecture: String,
    pub index_server_address: String,
    pub registry_config: RegistryConfig,
    #[serde(rename = "NCPU")]
    pub ncpu: u64,
    pub mem_total: u64,
    /// Swarm generic resources (none: Berth is never a swarm node); `null` as dockerd sends it.
    pub generic_resources: Option<Vec<serde_json::Value>>,
    pub docker_root_dir: String,
    pub http_proxy: String,
    pub https_proxy: String,
    pub no_proxy: String,
    pub name: String,
    pub labels: Vec<String>,
    pub experimental_build: bool,
    pub server_version: String,
    pub runtimes: BTreeMap<String, serde_json::Value>,
    pub default_runtime: String,
    pub swarm: SwarmInfo,
    pub live_restore_enabled: bool,
    pub isolation: String,
    pub init_binary: String,
    pub containerd_commit: Commit,
    pub runc_commit: Commit,
    pub init_commit: Commit,
    pub security_options: Vec<String>,
    #[serde(rename = "CDISpecDirs")]
    pub cdi_spec_dirs: Vec<String>,
    #[serde(serialize_with = "empty_as_null")]
    pub warnings: Vec<String>,
}

/// Go marshals a nil slice as `null`; dockerd's empty lists are nil.
fn empty_as_null<S: serde::Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() { s.serialize_none() } else { s.collect_seq(v) }
}

/// `Info.Plugins`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct PluginsInfo {
    pub volume: Vec<String>,
    pub network: Vec<String>,
    pub authorization: Option<Vec<String>>,
    pub log: Vec<String>,
}

/// `Info.RegistryConfig`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct RegistryConfig {
    #[serde(rename = "InsecureRegistryCIDRs")]
    pub insecure_registry_cidrs: Vec<String>,
    pub index_configs: BTreeMap<String, serde_json::Value>,
    pub mirrors: Vec<String>,
}

/// `Info.Swarm` (Berth is never part of a swarm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
#[allow(missing_docs)]
pub struct SwarmInfo {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    pub node_addr: String,
    pub local_node_state: String,
    pub control_available: bool,
    pub error: String,
    pub remote_managers: Option<Vec<serde_json::Value>>,
}

impl Default for SwarmInfo {
    fn default() -> Self {
        Self {
            node_id: String::new(),
            node_addr: String::new(),
            local_node_state: "inactive".to_owned(),
            control_available: false,
            error: String::new(),
            remote_managers: None,
        }
    }
}

/// A commit reference in `Info` (`ContainerdCommit`, …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Commit {
    /// The commit or version identifier.
    #[serde(rename = "ID")]
    pub id: String,
}

/// One message of `GET /events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Object type: `container`, `image`, `daemon`, …
    #[serde(rename = "Type")]
    pub kind: String,
    /// What happened (`create`, `reload`, …).
    #[serde(rename = "Action")]
    pub action: String,
    /// The object.
    #[serde(rename = "Actor")]
    pub actor: Actor,
    /// `local` or `swarm`.
    pub scope: String,
    /// Unix seconds.
    pub time: i64,
    /// Unix nanoseconds.
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

/// `Event.Actor`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Actor {
    /// Object ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Object attributes (labels, name, image, …).
    #[serde(rename = "Attributes")]
    pub attributes: BTreeMap<String, String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_uses_dockers_field_names() {
        let event = Event {
            kind: "daemon".into(),
            action: "reload".into(),
            actor: Actor { id: "abc".into(), attributes: [("name".into(), "h".into())].into() },
            scope: "local".into(),
            time: 1,
            time_nano: 1_000_000_001,
        };
        let json = serde_json::to_string(&event).expect("serialize");
        expect_test::expect![[r#"{"Type":"daemon","Action":"reload","Actor":{"ID":"abc","Attributes":{"name":"h"}},"scope":"local","time":1,"timeNano":1000000001}"#]]
            .assert_eq(&json);
    }

    #[test]
    fn version_omits_experimental_when_false() {
        let v = Version { min_api_version: "1.24".into(), ..Version::default() };
        let json = serde_json::to_value(&v).expect("serialize");
        assert!(json.get("Experimental").is_none());
        assert_eq!(json["MinAPIVersion"], "1.24");
    }

    #[test]
    fn info_swarm_is_inactive_by_default() {
        let json = serde_json::to_value(Info::default()).expect("serialize");
        assert_eq!(json["Swarm"]["LocalNodeState"], "inactive");
        assert!(json.get("NCPU").is_some() && json.get("ID").is_some());
    }
}
