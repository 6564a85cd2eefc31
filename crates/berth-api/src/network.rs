//! JSON shapes of the network API (`/networks/...`), and the pure rules dockerd applies to them:
//! list and prune filters ([`validate_list_filters`], [`matches()`], [`prunable`]), the lookup of a
//! network by ID, name or ID prefix ([`find`]), and the checks of a create request that need no
//! state ([`prepare_create`], [`check_create`]).
//!
//! Field names and orders follow the Go structs dockerd 28 marshals (`api/types/network`): a Go
//! slice, map or pointer that may be nil is an `Option` here (`None` marshals as `null`), a map
//! dockerd always allocates is a plain `BTreeMap` (`{}` when empty), `omitempty` is a
//! `skip_serializing_if`. Berth has local networks only, so the swarm-only `Peers` and `Services`
//! (both `omitempty`) are never written and have no field.
//!
//! Request bodies are read like the container API's: decode the JSON into a `serde_json::Value`
//! and then with [`crate::container::decode_body`], so `null` members leave the zero value.
//!
//! Berth's networks are IPv4 only: a create request that enables IPv6 answers 501 (see
//! [`check_create`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ApiVersion;
use crate::container::EndpointSettings;

mod create;
mod filter;

pub use create::{check_create, prepare_create};
pub use filter::{
    LIST_FILTERS, Lookup, PRUNE_FILTERS, find, is_predefined, matches, prunable,
    validate_list_filters, validate_prune_filters,
};

/// The name of the default bridge network.
pub const BRIDGE: &str = "bridge";
/// The name of the host network.
pub const HOST: &str = "host";
/// The name of the network without networking.
pub const NONE: &str = "none";

/// One address pool of a network (Go `network.IPAMConfig`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct IpamConfig {
    /// Subnet in CIDR notation (`172.18.0.0/16`); omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subnet: String,
    /// The part of the subnet containers get addresses from (CIDR); omitted when empty.
    #[serde(rename = "IPRange", skip_serializing_if = "String::is_empty")]
    pub ip_range: String,
    /// Gateway address (no prefix length); omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub gateway: String,
    /// Reserved addresses by name; omitted when empty.
    #[serde(rename = "AuxiliaryAddresses", skip_serializing_if = "BTreeMap::is_empty")]
    pub aux_addresses: BTreeMap<String, String>,
}

/// IP address management of a network (Go `network.IPAM`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ipam {
    /// IPAM driver: `default` (also what an empty name means).
    pub driver: String,
    /// Driver options; `null` when the network was created without any (the default bridge).
    pub options: Option<BTreeMap<String, String>>,
    /// Address pools; `null` when the network has none (`host`, `none`).
    pub config: Option<Vec<IpamConfig>>,
}

/// `ConfigFrom`: the configuration-only network a network takes its configuration from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ConfigReference {
    /// Name of the configuration-only network; empty when none.
    pub network: String,
}

/// A container's endpoint as network inspect reports it (Go `network.EndpointResource`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointResource {
    /// Container name, without the leading `/`.
    pub name: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// MAC address (`02:42:ac:12:00:02`).
    pub mac_address: String,
    /// IPv4 address with prefix length (`172.18.0.2/16`), or empty.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// IPv6 address with prefix length, or empty.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// A network as `GET /networks/{id}` and `GET /networks` report it (Go `network.Inspect`, which
/// `network.Summary` aliases).
///
/// Backends always fill `Containers`; the list answer goes through [`Network::for_list`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Network {
    /// Name.
    pub name: String,
    /// ID: 64 hex digits.
    pub id: String,
    /// Creation time, Go's `RFC3339Nano` (`2024-01-02T03:04:05.123456789Z`, trailing zeros of
    /// the fraction dropped).
    pub created: String,
    /// `local` for every network Berth has.
    pub scope: String,
    /// Driver: `bridge`, `host` or `null`.
    pub driver: String,
    /// IPv4 addressing is on (reported to every API version, as dockerd 28 does, though the
    /// field dates from API 1.48).
    #[serde(rename = "EnableIPv4")]
    pub enable_ipv4: bool,
    /// IPv6 addressing is on (always false in Berth).
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    /// No route to the outside world.
    pub internal: bool,
    /// Swarm only: standalone containers may attach.
    pub attachable: bool,
    /// Swarm only: the routing-mesh network.
    pub ingress: bool,
    /// The configuration-only network this one takes its configuration from.
    pub config_from: ConfigReference,
    /// A placeholder holding configuration for other networks; no container can join it.
    pub config_only: bool,
    /// Container ID → its endpoint on this network.
    pub containers: BTreeMap<String, EndpointResource>,
    /// Driver options (`com.docker.network.bridge.name`, …).
    pub options: BTreeMap<String, String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

impl Network {
    /// The entry `GET /networks` gives a client of API `version`: from API 1.28 on the list no
    /// longer reports attached containers (`Containers` is `{}`), as dockerd 28's router asks
    /// its backend for "detailed" entries only below 1.28.
    pub fn for_list(&self, version: ApiVersion) -> Self {
        let mut out = self.clone();
        if version >= ApiVersion::new(1, 28) {
            out.containers.clear();
        }
        out
    }
}

/// The body of `POST /networks/create` (Go `network.CreateRequest`, with its embedded
/// `CreateOptions` first, in Go's field order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateRequest {
    /// Driver; empty means `bridge`.
    pub driver: String,
    /// `local` (or empty); `swarm` needs swarm mode.
    pub scope: String,
    /// Enable IPv4 addressing (API ≥ 1.48; the router drops it for older clients); `None`
    /// means the `com.docker.network.enable_ipv4` option, else true.
    #[serde(rename = "EnableIPv4", skip_serializing_if = "Option::is_none")]
    pub enable_ipv4: Option<bool>,
    /// Enable IPv6 addressing; `None` means the `com.docker.network.enable_ipv6` option, else
    /// false.
    #[serde(rename = "EnableIPv6", skip_serializing_if = "Option::is_none")]
    pub enable_ipv6: Option<bool>,
    /// Address management; `None` for the defaults.
    #[serde(rename = "IPAM")]
    pub ipam: Option<Ipam>,
    /// No route to the outside world.
    pub internal: bool,
    /// Swarm only.
    pub attachable: bool,
    /// Swarm only.
    pub ingress: bool,
    /// Create a configuration-only network.
    pub config_only: bool,
    /// Take the configuration from this configuration-only network.
    pub config_from: Option<ConfigReference>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Name (required, not checked for characters: dockerd accepts any non-blank name).
    pub name: String,
    /// Deprecated since API 1.44 and ignored: a duplicate name is always a conflict.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_duplicate: Option<bool>,
}

/// The answer of `POST /networks/create` (201).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkCreateResponse {
    /// ID of the new network.
    pub id: String,
    /// A warning, or empty (always written).
    pub warning: String,
}

/// The body of `POST /networks/{id}/connect` (Go `network.ConnectOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkConnectRequest {
    /// Container name or ID.
    pub container: String,
    /// Aliases, static addresses, … of the new endpoint; omitted when `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint_config: Option<EndpointSettings>,
}

/// The body of `POST /networks/{id}/disconnect` (Go `network.DisconnectOptions`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkDisconnectRequest {
    /// Container name or ID.
    pub container: String,
    /// Disconnect even when the container is not running or the endpoint is half gone.
    pub force: bool,
}

/// The answer of `POST /networks/prune`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkPruneReport {
    /// Names (not IDs, as dockerd) of the removed networks; `null` when none.
    pub networks_deleted: Option<Vec<String>>,
}

pub use crate::params::parse_go_bool;

#[cfg(test)]
mod tests;
