//! What a container is made of: `Config`, `HostConfig` (with its embedded `Resources`) and
//! `NetworkingConfig`, as `POST /containers/create` receives them and inspect returns them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Empty, HealthConfig, is_false, is_zero_i64, no_entries, no_items, str_slice};

/// A container's portable configuration (Go `container.Config`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Config {
    /// Hostname.
    pub hostname: String,
    /// Domain name.
    pub domainname: String,
    /// `user`, `user:group`, or numeric IDs.
    pub user: String,
    /// Attach stdin (`docker run -i` without `-d`).
    pub attach_stdin: bool,
    /// Attach stdout.
    pub attach_stdout: bool,
    /// Attach stderr.
    pub attach_stderr: bool,
    /// Exposed ports (`80/tcp`) as a set; omitted when empty.
    #[serde(skip_serializing_if = "no_entries")]
    pub exposed_ports: Option<BTreeMap<String, Empty>>,
    /// Allocate a pseudo-TTY: output is then one raw stream, never multiplexed.
    pub tty: bool,
    /// Keep stdin open.
    pub open_stdin: bool,
    /// Close stdin after the first attached client detaches.
    pub stdin_once: bool,
    /// Environment, `KEY=value`.
    pub env: Option<Vec<String>>,
    /// Command; a JSON string is accepted as a one-element list.
    #[serde(deserialize_with = "str_slice")]
    pub cmd: Option<Vec<String>>,
    /// Health check; omitted when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<HealthConfig>,
    /// Windows only; omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub args_escaped: bool,
    /// The image as the client named it.
    pub image: String,
    /// Anonymous volumes as a set of paths.
    pub volumes: Option<BTreeMap<String, Empty>>,
    /// Working directory.
    pub working_dir: String,
    /// Entrypoint; a JSON string is accepted as a one-element list.
    #[serde(deserialize_with = "str_slice")]
    pub entrypoint: Option<Vec<String>>,
    /// No networking at all; omitted when false.
    #[serde(skip_serializing_if = "is_false")]
    pub network_disabled: bool,
    /// Deprecated container-wide MAC address (API < 1.44 clients); omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub mac_address: String,
    /// `ONBUILD` triggers of the image.
    pub on_build: Option<Vec<String>>,
    /// Labels.
    pub labels: Option<BTreeMap<String, String>>,
    /// Signal that stops the container; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Seconds to wait before killing on stop; omitted when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<i64>,
    /// Shell for shell-form instructions; omitted when empty.
    #[serde(deserialize_with = "str_slice", skip_serializing_if = "no_items")]
    pub shell: Option<Vec<String>>,
}

/// `HostConfig.LogConfig`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct LogConfig {
    /// Driver name (`json-file`).
    #[serde(rename = "Type")]
    pub kind: String,
    /// Driver options.
    pub config: Option<BTreeMap<String, String>>,
}

/// `HostConfig.RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RestartPolicy {
    /// `""`, `no`, `always`, `unless-stopped` or `on-failure`.
    pub name: String,
    /// Retries for `on-failure`.
    pub maximum_retry_count: i64,
}

/// One host binding of a published port (`nat.PortBinding`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct PortBinding {
    /// Host IP (`""` for all).
    pub host_ip: String,
    /// Host port (`""` for an ephemeral one).
    pub host_port: String,
}

/// `nat.PortMap`: `80/tcp` → bindings (`null` for exposed but unpublished ports).
pub type PortMap = BTreeMap<String, Option<Vec<PortBinding>>>;

/// A device to map into the container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceMapping {
    /// Device path on the host.
    pub path_on_host: String,
    /// Path in the container.
    pub path_in_container: String,
    /// `rwm` subset.
    pub cgroup_permissions: String,
}

/// A request for devices from a device driver (GPUs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DeviceRequest {
    /// Driver name.
    pub driver: String,
    /// Number of devices, -1 for all.
    pub count: i64,
    /// Device IDs.
    #[serde(rename = "DeviceIDs")]
    pub device_ids: Option<Vec<String>>,
    /// An OR list of AND lists of capabilities.
    pub capabilities: Option<Vec<Vec<String>>>,
    /// Driver options.
    pub options: Option<BTreeMap<String, String>>,
}

/// A block-IO weight for one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct WeightDevice {
    /// Device path.
    pub path: String,
    /// Relative weight.
    pub weight: u16,
}

/// A block-IO rate limit for one device.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ThrottleDevice {
    /// Device path.
    pub path: String,
    /// Bytes or operations per second.
    pub rate: u64,
}

/// A resource limit (`ulimit`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Ulimit {
    /// `nofile`, `nproc`, …
    pub name: String,
    /// Hard limit.
    pub hard: i64,
    /// Soft limit.
    pub soft: i64,
}

/// Resource limits (Go `container.Resources`), embedded in `HostConfig` and the update body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Resources {
    /// Relative CPU weight.
    pub cpu_shares: i64,
    /// Memory limit, bytes.
    pub memory: i64,
    /// CPU quota in 1e-9 CPUs.
    pub nano_cpus: i64,
    /// Parent cgroup.
    pub cgroup_parent: String,
    /// Block-IO weight.
    pub blkio_weight: u16,
    /// Per-device block-IO weights.
    pub blkio_weight_device: Option<Vec<WeightDevice>>,
    /// Read limits, bytes/s.
    pub blkio_device_read_bps: Option<Vec<ThrottleDevice>>,
    /// Write limits, bytes/s.
    pub blkio_device_write_bps: Option<Vec<ThrottleDevice>>,
    /// Read limits, operations/s.
    #[serde(rename = "BlkioDeviceReadIOps")]
    pub blkio_device_read_iops: Option<Vec<ThrottleDevice>>,
    /// Write limits, operations/s.
    #[serde(rename = "BlkioDeviceWriteIOps")]
    pub blkio_device_write_iops: Option<Vec<ThrottleDevice>>,
    /// CFS period, µs.
    pub cpu_period: i64,
    /// CFS quota, µs.
    pub cpu_quota: i64,
    /// Real-time period, µs.
    pub cpu_realtime_period: i64,
    /// Real-time runtime, µs.
    pub cpu_realtime_runtime: i64,
    /// CPUs allowed (`0-2,4`).
    pub cpuset_cpus: String,
    /// Memory nodes allowed.
    pub cpuset_mems: String,
    /// Devices to map.
    pub devices: Option<Vec<DeviceMapping>>,
    /// Device cgroup rules (`c 1:3 mr`).
    pub device_cgroup_rules: Option<Vec<String>>,
    /// Device driver requests.
    pub device_requests: Option<Vec<DeviceRequest>>,
    /// Kernel memory limit (removed in API 1.42; ignored from then on); omitted when 0.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub kernel_memory: i64,
    /// Kernel TCP buffer limit; omitted when 0.
    #[serde(rename = "KernelMemoryTCP", skip_serializing_if = "is_zero_i64")]
    pub kernel_memory_tcp: i64,
    /// Soft memory limit.
    pub memory_reservation: i64,
    /// Memory plus swap; -1 unlimited.
    pub memory_swap: i64,
    /// Swappiness 0–100; `None` is the default.
    pub memory_swappiness: Option<i64>,
    /// Disable the OOM killer.
    pub oom_kill_disable: Option<bool>,
    /// PIDs limit; 0 or -1 unlimited, `None` unchanged.
    pub pids_limit: Option<i64>,
    /// Ulimits.
    pub ulimits: Option<Vec<Ulimit>>,
    /// Windows only.
    pub cpu_count: i64,
    /// Windows only.
    pub cpu_percent: i64,
    /// Windows only.
    #[serde(rename = "IOMaximumIOps")]
    pub io_maximum_iops: u64,
    /// Windows only.
    #[serde(rename = "IOMaximumBandwidth")]
    pub io_maximum_bandwidth: u64,
}

/// Options of a bind mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct BindOptions {
    /// `rprivate`, `shared`, …
    #[serde(skip_serializing_if = "String::is_empty")]
    pub propagation: String,
    /// Do not bind submounts (API ≥ 1.40).
    #[serde(skip_serializing_if = "is_false")]
    pub non_recursive: bool,
    /// Create the source if missing (API ≥ 1.42).
    #[serde(skip_serializing_if = "is_false")]
    pub create_mountpoint: bool,
    /// Read-only, not recursively (API ≥ 1.44).
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_non_recursive: bool,
    /// Fail unless read-only applies recursively (API ≥ 1.44).
    #[serde(skip_serializing_if = "is_false")]
    pub read_only_force_recursive: bool,
}

/// A volume driver and its options.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MountDriver {
    /// Driver name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Driver options.
    #[serde(skip_serializing_if = "no_entries")]
    pub options: Option<BTreeMap<String, String>>,
}

/// Options of a volume mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct VolumeOptions {
    /// Do not copy the image's content into a new volume.
    #[serde(skip_serializing_if = "is_false")]
    pub no_copy: bool,
    /// Labels of a created volume.
    #[serde(skip_serializing_if = "no_entries")]
    pub labels: Option<BTreeMap<String, String>>,
    /// Mount only this path of the volume (API ≥ 1.45).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
    /// Driver of a created volume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver_config: Option<MountDriver>,
}

/// Options of an image mount (API ≥ 1.48).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct ImageMountOptions {
    /// Mount only this path of the image.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub subpath: String,
}

/// Options of a tmpfs mount.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct TmpfsOptions {
    /// Size limit, bytes.
    #[serde(skip_serializing_if = "is_zero_i64")]
    pub size_bytes: i64,
    /// File mode of the root (Go `os.FileMode`).
    #[serde(skip_serializing_if = "is_zero_u32")]
    pub mode: u32,
    /// Extra mount options as `[key]` or `[key, value]` pairs.
    #[serde(skip_serializing_if = "no_items")]
    pub options: Option<Vec<Vec<String>>>,
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// One entry of `HostConfig.Mounts` (Go `mount.Mount`); every field is `omitempty`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Mount {
    /// `bind`, `volume`, `tmpfs`, `npipe`, `cluster` or `image`.
    #[serde(rename = "Type", skip_serializing_if = "String::is_empty")]
    pub kind: String,
    /// Host path, volume name or image.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Path in the container.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    /// Read-only.
    #[serde(skip_serializing_if = "is_false")]
    pub read_only: bool,
    /// macOS only.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub consistency: String,
    /// Bind options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind_options: Option<BindOptions>,
    /// Volume options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume_options: Option<VolumeOptions>,
    /// Image options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_options: Option<ImageMountOptions>,
    /// Tmpfs options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs_options: Option<TmpfsOptions>,
    /// Swarm cluster volumes; kept verbatim.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_options: Option<serde_json::Value>,
}

/// Where and how a container runs (Go `container.HostConfig`, with `Resources` embedded).
///
/// Decoded as Go decodes it ([`crate::go_json::flattened`]): serde's derived decoder (the
/// inherent `HostConfig::deserialize`, `remote = "Self"`) fills the fields named in
/// [`HOST_CONFIG_FIELDS`], and `Resources` is decoded from the other members.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", rename_all = "PascalCase", default)]
pub struct HostConfig {
    /// `host:container[:opts]` bind specs.
    pub binds: Option<Vec<String>>,
    /// File the client wants the ID written to (the CLI writes it; kept for inspect).
    #[serde(rename = "ContainerIDFile")]
    pub container_id_file: String,
    /// Logging driver.
    pub log_config: LogConfig,
    /// `default`, `bridge`, `host`, `none`, `container:<id>` or a network name.
    pub network_mode: String,
    /// Published ports.
    pub port_bindings: Option<PortMap>,
    /// Restart policy.
    pub restart_policy: RestartPolicy,
    /// Remove the container when it exits (ignored below API 1.25).
    pub auto_remove: bool,
    /// Default volume driver.
    pub volume_driver: String,
    /// `container[:ro|rw]` to take volumes from.
    pub volumes_from: Option<Vec<String>>,
    /// Initial TTY size `[height, width]` (API ≥ 1.42 on Linux).
    pub console_size: [u32; 2],
    /// Runtime annotations (API ≥ 1.43); omitted when empty.
    #[serde(skip_serializing_if = "no_entries")]
    pub annotations: Option<BTreeMap<String, String>>,
    /// Capabilities to add; a string is accepted as one element.
    #[serde(deserialize_with = "str_slice")]
    pub cap_add: Option<Vec<String>>,
    /// Capabilities to drop; a string is accepted as one element.
    #[serde(deserialize_with = "str_slice")]
    pub cap_drop: Option<Vec<String>>,
    /// `private`, `host` or empty.
    pub cgroupns_mode: String,
    /// DNS servers.
    pub dns: Option<Vec<String>>,
    /// DNS options.
    pub dns_options: Option<Vec<String>>,
    /// DNS search domains.
    pub dns_search: Option<Vec<String>>,
    /// `host:ip` entries for `/etc/hosts`.
    pub extra_hosts: Option<Vec<String>>,
    /// Supplementary groups.
    pub group_add: Option<Vec<String>>,
    /// `private`, `shareable`, `host`, `none`, `container:<id>` or empty.
    pub ipc_mode: String,
    /// Cgroup to join (`container:<id>`).
    pub cgroup: String,
    /// Legacy links `name:alias`.
    pub links: Option<Vec<String>>,
    /// OOM score adjustment.
    pub oom_score_adj: i64,
    /// `host`, `container:<id>` or empty.
    pub pid_mode: String,
    /// Privileged mode.
    pub privileged: bool,
    /// Publish every exposed port on an ephemeral host port.
    pub publish_all_ports: bool,
    /// Read-only root filesystem.
    pub readonly_rootfs: bool,
    /// `seccomp=...`, `apparmor=...`, `no-new-privileges`, …
    pub security_opt: Option<Vec<String>>,
    /// Storage driver options; omitted when empty.
    #[serde(skip_serializing_if = "no_entries")]
    pub storage_opt: Option<BTreeMap<String, String>>,
    /// Path → mount options of tmpfs mounts; omitted when empty.
    #[serde(skip_serializing_if = "no_entries")]
    pub tmpfs: Option<BTreeMap<String, String>>,
    /// `host` or empty.
    #[serde(rename = "UTSMode")]
    pub uts_mode: String,
    /// `host` or empty.
    pub userns_mode: String,
    /// Size of `/dev/shm`, bytes.
    pub shm_size: i64,
    /// Namespaced sysctls; omitted when empty.
    #[serde(skip_serializing_if = "no_entries")]
    pub sysctls: Option<BTreeMap<String, String>>,
    /// OCI runtime name; omitted when empty.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    /// Windows isolation; empty on Linux.
    pub isolation: String,
    /// Resource limits, inline.
    #[serde(flatten)]
    pub resources: Resources,
    /// Structured mounts; omitted when empty.
    #[serde(skip_serializing_if = "no_items")]
    pub mounts: Option<Vec<Mount>>,
    /// Paths masked in the container (`None`: the runtime's defaults).
    pub masked_paths: Option<Vec<String>>,
    /// Paths made read-only (`None`: the runtime's defaults).
    pub readonly_paths: Option<Vec<String>>,
    /// Run an init process; omitted when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
}

/// IPAM settings of an endpoint.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct EndpointIpamConfig {
    /// Static IPv4 address.
    #[serde(rename = "IPv4Address", skip_serializing_if = "String::is_empty")]
    pub ipv4_address: String,
    /// Static IPv6 address.
    #[serde(rename = "IPv6Address", skip_serializing_if = "String::is_empty")]
    pub ipv6_address: String,
    /// Link-local addresses.
    #[serde(rename = "LinkLocalIPs", skip_serializing_if = "no_items")]
    pub link_local_ips: Option<Vec<String>>,
}

/// A container's endpoint on one network (Go `network.EndpointSettings`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EndpointSettings {
    /// Requested addresses.
    #[serde(rename = "IPAMConfig")]
    pub ipam_config: Option<EndpointIpamConfig>,
    /// Legacy links.
    #[serde(rename = "Links")]
    pub links: Option<Vec<String>>,
    /// Extra DNS names.
    #[serde(rename = "Aliases")]
    pub aliases: Option<Vec<String>>,
    /// MAC address.
    #[serde(rename = "MacAddress")]
    pub mac_address: String,
    /// Driver options.
    #[serde(rename = "DriverOpts")]
    pub driver_opts: Option<BTreeMap<String, String>>,
    /// Gateway priority (API ≥ 1.48).
    #[serde(rename = "GwPriority")]
    pub gw_priority: i64,
    /// Network ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// IPv4 gateway.
    #[serde(rename = "Gateway")]
    pub gateway: String,
    /// IPv4 address.
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    /// IPv4 prefix length.
    #[serde(rename = "IPPrefixLen")]
    pub ip_prefix_len: i64,
    /// IPv6 gateway.
    #[serde(rename = "IPv6Gateway")]
    pub ipv6_gateway: String,
    /// IPv6 address.
    #[serde(rename = "GlobalIPv6Address")]
    pub global_ipv6_address: String,
    /// IPv6 prefix length.
    #[serde(rename = "GlobalIPv6PrefixLen")]
    pub global_ipv6_prefix_len: i64,
    /// Every DNS name the container answers to on this network.
    #[serde(rename = "DNSNames")]
    pub dns_names: Option<Vec<String>>,
}

/// `NetworkingConfig` of a create body: the endpoints to connect at creation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NetworkingConfig {
    /// Network name → endpoint settings.
    pub endpoints_config: Option<BTreeMap<String, EndpointSettings>>,
}

/// The body of `POST /containers/create`: `Config` inline, plus `HostConfig` and
/// `NetworkingConfig`. Decoded as Go decodes it, like [`HostConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", default)]
pub struct ContainerCreateBody {
    /// The portable configuration, inline.
    #[serde(flatten)]
    pub config: Config,
    /// Host configuration; `None` when the client sent none.
    #[serde(rename = "HostConfig")]
    pub host_config: Option<HostConfig>,
    /// Networks to join; `None` when the client sent none.
    #[serde(rename = "NetworkingConfig")]
    pub networking_config: Option<NetworkingConfig>,
}

/// The body of `POST /containers/{name}/update`: `Resources` inline plus `RestartPolicy`.
/// Decoded as Go decodes it, like [`HostConfig`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(remote = "Self", default)]
pub struct ContainerUpdateBody {
    /// New limits, inline.
    #[serde(flatten)]
    pub resources: Resources,
    /// New restart policy.
    #[serde(rename = "RestartPolicy")]
    pub restart_policy: RestartPolicy,
}

/// The members of a `HostConfig` object that are its own, not `Resources`'.
pub const HOST_CONFIG_FIELDS: [&str; 40] = [
    "Binds",
    "ContainerIDFile",
    "LogConfig",
    "NetworkMode",
    "PortBindings",
    "RestartPolicy",
    "AutoRemove",
    "VolumeDriver",
    "VolumesFrom",
    "ConsoleSize",
    "Annotations",
    "CapAdd",
    "CapDrop",
    "CgroupnsMode",
    "Dns",
    "DnsOptions",
    "DnsSearch",
    "ExtraHosts",
    "GroupAdd",
    "IpcMode",
    "Cgroup",
    "Links",
    "OomScoreAdj",
    "PidMode",
    "Privileged",
    "PublishAllPorts",
    "ReadonlyRootfs",
    "SecurityOpt",
    "StorageOpt",
    "Tmpfs",
    "UTSMode",
    "UsernsMode",
    "ShmSize",
    "Sysctls",
    "Runtime",
    "Isolation",
    "Mounts",
    "MaskedPaths",
    "ReadonlyPaths",
    "Init",
];

/// `Serialize` and `Deserialize` of the three types with a flattened struct: written out by
/// serde's derive as inherent functions (`remote = "Self"`), and decoded through
/// [`crate::go_json::flattened`] so that keys match as in Go at every depth.
macro_rules! go_flattened {
    ($outer:ty, $own:expr, $inner:ty, $field:ident) => {
        impl Serialize for $outer {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                <$outer>::serialize(self, serializer)
            }
        }

        impl<'de> Deserialize<'de> for $outer {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // The inlined struct's field names, probed once.
                static INLINED: std::sync::OnceLock<&'static [&'static str]> =
                    std::sync::OnceLock::new();
                crate::go_json::flattened(
                    deserializer,
                    $own,
                    INLINED.get_or_init(crate::go_json::struct_fields::<$inner>),
                    <$outer>::deserialize,
                    |outer: &mut $outer, inner: $inner| outer.$field = inner,
                )
            }
        }
    };
}

go_flattened!(HostConfig, &HOST_CONFIG_FIELDS, Resources, resources);
go_flattened!(ContainerCreateBody, &["HostConfig", "NetworkingConfig"], Config, config);
go_flattened!(ContainerUpdateBody, &["RestartPolicy"], Resources, resources);
