//! The OCI runtime spec dockerd would give a container, as JSON: its default capabilities,
//! mounts, masked and read-only paths, device rules, namespaces and sysctls, adjusted by the
//! container's settings (privileged, capabilities, mounts, resources, …).
//!
//! Facts from moby `daemon/pkg/oci/defaults.go`, `daemon/pkg/oci/caps/defaults.go` and
//! `daemon/oci_linux.go`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use berth_api::Error;
use serde_json::{Value, json};

/// `PATH` when the image sets none (dockerd's `DefaultPathEnv`).
pub(crate) const DEFAULT_PATH_ENV: &str =
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// `/dev/shm` size when the container sets none (64 MiB, dockerd's default `ShmSize`).
pub(crate) const DEFAULT_SHM_SIZE: i64 = 64 * 1024 * 1024;
/// Where the init binary appears inside the container (dockerd's `/sbin/docker-init`).
pub(crate) const INIT_PATH_IN_CONTAINER: &str = "/sbin/docker-init";
/// The init binary on the host: Debian's `tini` package (static build preferred, since it
/// needs nothing from the image).
pub(crate) const INIT_BINARIES: [&str; 2] = ["/usr/bin/tini-static", "/usr/bin/tini"];

/// dockerd's 14 default capabilities.
pub(crate) const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every Linux capability, by number (0 = `CAP_CHOWN` … 40 = `CAP_CHECKPOINT_RESTORE`).
const ALL_CAPS: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// dockerd's default masked paths in its order, which inspect shows (per-CPU `thermal_throttle`
/// dirs that exist follow them).
pub(crate) const DEFAULT_MASKED_PATHS: [&str; 12] = [
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// dockerd's default read-only paths.
pub(crate) const DEFAULT_READONLY_PATHS: [&str; 5] =
    ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

/// The user the process runs as (see [`super::user::resolve`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ProcessUser {
    /// User ID.
    pub(crate) uid: u32,
    /// Primary group ID.
    pub(crate) gid: u32,
    /// Supplementary groups (dockerd lists the primary group here too).
    pub(crate) additional_gids: Vec<u32>,
}

/// An extra mount (`-v`, `--mount`, `--tmpfs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountSpec {
    /// A bind mount of a host path.
    Bind {
        /// Path on the host.
        source: PathBuf,
        /// Path in the container.
        destination: String,
        /// Mount it read-only.
        readonly: bool,
        /// Propagation (`rprivate` when empty).
        propagation: String,
    },
    /// A tmpfs; `options` are extra mount options (`size=…`, `mode=…`).
    Tmpfs {
        /// Path in the container.
        destination: String,
        /// Extra options, as `--tmpfs /x:size=1m,mode=700` gives them.
        options: Vec<String>,
    },
}

impl MountSpec {
    fn destination(&self) -> &str {
        match self {
            MountSpec::Bind { destination, .. } | MountSpec::Tmpfs { destination, .. } => {
                destination
            }
        }
    }
}

/// Which network namespace the container gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum NetNs {
    /// A new, empty one (runc brings `lo` up).
    #[default]
    New,
    /// Join the namespace at this path (a CNI-prepared netns file).
    Path(PathBuf),
    /// The host's (`--network host`): no network or UTS namespace.
    Host,
}

/// Resource limits; `None` (or 0 where noted) leaves a limit unset, as dockerd does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Resources {
    /// Memory limit in bytes.
    pub(crate) memory: Option<i64>,
    /// Memory + swap limit in bytes (-1 unlimited).
    pub(crate) memory_swap: Option<i64>,
    /// CPU shares (relative weight).
    pub(crate) cpu_shares: Option<u64>,
    /// CFS quota in microseconds per period.
    pub(crate) cpu_quota: Option<i64>,
    /// CFS period in microseconds.
    pub(crate) cpu_period: Option<u64>,
    /// Real-time period in microseconds (cgroup v1 `cpu.rt_period_us`).
    pub(crate) cpu_rt_period: Option<u64>,
    /// Real-time runtime in microseconds per real-time period (`cpu.rt_runtime_us`).
    pub(crate) cpu_rt_runtime: Option<i64>,
    /// CPUs the container may use (`0-2,4`).
    pub(crate) cpuset_cpus: Option<String>,
    /// Memory nodes the container may use.
    pub(crate) cpuset_mems: Option<String>,
    /// Maximum number of processes (`<= 0` means unlimited).
    pub(crate) pids_limit: Option<i64>,
}

/// Everything the spec depends on; the caller has already merged the image config with the
/// container config (args = entrypoint + cmd, env = image env overridden by `-e`).
#[derive(Debug, Clone, Default)]
pub(crate) struct SpecInput {
    /// The container ID (last component of the cgroups path).
    pub(crate) id: String,
    /// The process's argv; `args[0]` is looked up on `PATH` by runc.
    pub(crate) args: Vec<String>,
    /// `KEY=value` pairs; later entries override earlier ones with the same key.
    pub(crate) env: Vec<String>,
    /// Working directory (`/` when empty).
    pub(crate) cwd: String,
    /// The resolved user.
    pub(crate) user: ProcessUser,
    /// The user's home directory, used for `HOME` when `env` has none.
    pub(crate) home: Option<String>,
    /// Run under a terminal (adds `TERM=xterm`, sets `process.terminal`).
    pub(crate) tty: bool,
    /// The container's hostname (ignored with [`NetNs::Host`]).
    pub(crate) hostname: String,
    /// Mount the root filesystem read-only (and the default mounts that can be).
    pub(crate) readonly_rootfs: bool,
    /// `--privileged`: every capability and device, nothing masked, `/sys` writable.
    pub(crate) privileged: bool,
    /// Capabilities to add (`NET_ADMIN`, `CAP_NET_ADMIN` or `ALL`).
    pub(crate) cap_add: Vec<String>,
    /// Capabilities to drop (same forms).
    pub(crate) cap_drop: Vec<String>,
    /// Extra mounts; one at a default mount's destination replaces it.
    pub(crate) mounts: Vec<MountSpec>,
    /// `/dev/shm` size in bytes ([`DEFAULT_SHM_SIZE`] when `None`).
    pub(crate) shm_size: Option<i64>,
    /// Resource limits.
    pub(crate) resources: Resources,
    /// `process.oomScoreAdj`.
    pub(crate) oom_score_adj: i32,
    /// Sysctls, over dockerd's network defaults.
    pub(crate) sysctls: BTreeMap<String, String>,
    /// `process.noNewPrivileges`.
    pub(crate) no_new_privileges: bool,
    /// `--security-opt writable-cgroups[=<bool>]`: the cgroup mount without `ro`; unset, it is
    /// writable only when privileged.
    pub(crate) writable_cgroups: Option<bool>,
    /// Replaces the masked paths (`--security-opt systempaths=unconfined` gives `Some([])`).
    pub(crate) masked_paths: Option<Vec<String>>,
    /// Replaces the read-only paths.
    pub(crate) readonly_paths: Option<Vec<String>>,
    /// Parent of the container's cgroup (`/berth`); the cgroups path is `<parent>/<id>`.
    pub(crate) cgroup_parent: String,
    /// The network namespace.
    pub(crate) netns: NetNs,
    /// Run an init (tini) as PID 1 in front of the process (`--init`).
    pub(crate) init: bool,
    /// Signal to stop the container with (`SIGTERM` when `None`); recorded as an annotation.
    pub(crate) stop_signal: Option<String>,
}

/// Builds the spec. Fails on an unknown capability or when `init` is asked for and no init
/// binary is installed.
pub(crate) fn build(input: &SpecInput) -> Result<Value, Error> {
    let caps = capabilities(input)?;
    let mut args = input.args.clone();
    let mut mounts = default_mounts(input);
    if input.init {
        let init = init_binary()?;
        args.splice(0..0, [INIT_PATH_IN_CONTAINER.to_owned(), "--".to_owned()]);
        mounts.push(json!({
            "destination": INIT_PATH_IN_CONTAINER,
            "type": "bind",
            "source": init,
            "options": ["bind", "ro"],
        }));
    }
    for m in &input.mounts {
        mounts.push(user_mount(m));
    }

    let mut process = json!({
        "terminal": input.tty,
        "user": {
            "uid": input.user.uid,
            "gid": input.user.gid,
            "additionalGids": input.user.additional_gids,
        },
        "args": args,
        "env": environment(input),
        "cwd": if input.cwd.is_empty() { "/" } else { &input.cwd },
        "capabilities": {
            "bounding": caps,
            "effective": caps,
            "permitted": caps,
        },
        "oomScoreAdj": input.oom_score_adj,
    });
    if input.no_new_privileges {
        process["noNewPrivileges"] = json!(true);
    }

    let (masked, readonly) = if input.privileged {
        (Vec::new(), Vec::new())
    } else {
        (
            input.masked_paths.clone().unwrap_or_else(default_masked_paths),
            input
                .readonly_paths
                .clone()
                .unwrap_or_else(|| DEFAULT_READONLY_PATHS.map(str::to_owned).to_vec()),
        )
    };

    let mut annotations = serde_json::Map::new();
    if let Some(signal) = &input.stop_signal {
        annotations.insert("org.opencontainers.image.stopSignal".to_owned(), json!(signal));
    }

    let mut spec = json!({
        "ociVersion": "1.0.2-dev",
        "process": process,
        "root": { "path": "rootfs", "readonly": input.readonly_rootfs },
        "mounts": mounts,
        "linux": {
            "resources": resources(input),
            "cgroupsPath": format!("{}/{}", input.cgroup_parent.trim_end_matches('/'), input.id),
            "namespaces": namespaces(input),
            "maskedPaths": masked,
            "readonlyPaths": readonly,
            "sysctl": sysctls(input),
        },
    });
    if input.netns != NetNs::Host {
        spec["hostname"] = json!(input.hostname);
    }
    if !annotations.is_empty() {
        spec["annotations"] = Value::Object(annotations);
    }
    if input.privileged {
        spec["linux"]["devices"] = json!(host_devices());
    }
    Ok(spec)
}

/// dockerd's `TweakCapabilities`: the defaults (or every capability when privileged), minus
/// `cap_drop`, plus `cap_add`; `ALL` in either means every capability.
fn capabilities(input: &SpecInput) -> Result<Vec<String>, Error> {
    let all = known_caps();
    if input.privileged {
        return Ok(all);
    }
    let normalize = |names: &[String]| -> Result<Vec<String>, Error> {
        names
            .iter()
            .map(|n| {
                let upper = n.to_uppercase();
                if upper == "ALL" {
                    return Ok(upper);
                }
                let name = if upper.starts_with("CAP_") { upper } else { format!("CAP_{upper}") };
                if ALL_CAPS.contains(&name.as_str()) {
                    Ok(name)
                } else {
                    Err(Error::invalid(format!("unknown capability: {name:?}")))
                }
            })
            .collect()
    };
    let add = normalize(&input.cap_add)?;
    let drop = normalize(&input.cap_drop)?;
    if add.iter().any(|c| c == "ALL") {
        return Ok(all
            .into_iter()
            .filter(|c| !drop.contains(c) || add.contains(c))
            .collect::<Vec<_>>());
    }
    let mut caps: Vec<String> = if drop.iter().any(|c| c == "ALL") {
        Vec::new()
    } else {
        DEFAULT_CAPS.iter().map(|c| (*c).to_owned()).filter(|c| !drop.contains(c)).collect()
    };
    for cap in add {
        if !caps.contains(&cap) {
            caps.push(cap);
        }
    }
    Ok(caps)
}

/// Every capability this kernel knows (what `--privileged` gets).
pub(crate) fn all_capabilities() -> Vec<String> {
    known_caps()
}

/// The capabilities this kernel knows (`/proc/sys/kernel/cap_last_cap`).
fn known_caps() -> Vec<String> {
    let last = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<usize>().ok())
        .unwrap_or(ALL_CAPS.len() - 1);
    ALL_CAPS.iter().take(last + 1).map(|c| (*c).to_owned()).collect()
}

/// The masked paths of a container that names none: [`DEFAULT_MASKED_PATHS`] and this host's
/// `thermal_throttle` dirs.
pub(crate) fn default_masked_paths() -> Vec<String> {
    let mut paths: Vec<String> = DEFAULT_MASKED_PATHS.map(str::to_owned).to_vec();
    // Per-CPU thermal_throttle dirs leak host information (GHSA-6fw5-f8r9-fgfm).
    for cpu in 0..std::thread::available_parallelism().map(usize::from).unwrap_or(1) {
        let path = format!("/sys/devices/system/cpu/cpu{cpu}/thermal_throttle");
        if Path::new(&path).exists() {
            paths.push(path);
        }
    }
    paths
}

fn default_mounts(input: &SpecInput) -> Vec<Value> {
    let shm = format!("size={}", input.shm_size.unwrap_or(DEFAULT_SHM_SIZE));
    let defaults = [
        ("/proc", "proc", "proc", vec!["nosuid", "noexec", "nodev"]),
        ("/dev", "tmpfs", "tmpfs", vec!["nosuid", "strictatime", "mode=755", "size=65536k"]),
        (
            "/dev/pts",
            "devpts",
            "devpts",
            vec!["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
        ),
        ("/sys", "sysfs", "sysfs", vec!["nosuid", "noexec", "nodev", "ro"]),
        ("/sys/fs/cgroup", "cgroup", "cgroup", vec!["ro", "nosuid", "noexec", "nodev"]),
        ("/dev/mqueue", "mqueue", "mqueue", vec!["nosuid", "noexec", "nodev"]),
        ("/dev/shm", "tmpfs", "shm", vec!["nosuid", "noexec", "nodev", "mode=1777", &shm]),
    ];
    let user_dests: Vec<&str> = input.mounts.iter().map(MountSpec::destination).collect();
    let user_dev = user_dests.contains(&"/dev");
    let cgroups_writable = input.writable_cgroups.unwrap_or(input.privileged);
    defaults
        .into_iter()
        .filter(|(dest, ..)| !user_dests.contains(dest))
        .filter(|(dest, ..)| !(user_dev && dest.starts_with("/dev/")))
        .map(|(dest, kind, source, mut options)| {
            // A read-only rootfs makes the default mounts read-only too, except those a
            // process needs to write.
            let writable = ["/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"].contains(&dest);
            if input.readonly_rootfs && !writable && !options.contains(&"ro") {
                options.push("ro");
            }
            // Then, as dockerd, what is writable whatever the rootfs: `/sys` of a privileged
            // container, and the cgroup mount where asked for (by default when privileged).
            if (dest == "/sys" && input.privileged) || (kind == "cgroup" && cgroups_writable) {
                options.retain(|o| *o != "ro");
            }
            json!({ "destination": dest, "type": kind, "source": source, "options": options })
        })
        .collect()
}

fn user_mount(m: &MountSpec) -> Value {
    match m {
        MountSpec::Bind { source, destination, readonly, propagation } => {
            let propagation = if propagation.is_empty() { "rprivate" } else { propagation };
            let mut options = vec!["rbind", propagation];
            if *readonly {
                options.push("ro");
            }
            json!({
                "destination": destination,
                "type": "bind",
                "source": source,
                "options": options,
            })
        }
        MountSpec::Tmpfs { destination, options } => {
            let mut all: Vec<String> =
                ["noexec", "nosuid", "nodev", "rprivate"].map(str::to_owned).to_vec();
            for option in options {
                // A later key=value (or flag) overrides the default of the same key.
                let key = option.split('=').next().unwrap_or(option);
                let clashes = |o: &String| {
                    o.split('=').next() == Some(key)
                        || matches!(
                            (o.as_str(), key),
                            ("noexec", "exec") | ("nosuid", "suid") | ("nodev", "dev")
                        )
                };
                all.retain(|o| !clashes(o));
                all.push(option.clone());
            }
            json!({ "destination": destination, "type": "tmpfs", "source": "tmpfs", "options": all })
        }
    }
}

/// dockerd's `CreateDaemonEnvironment`: `PATH`, `HOSTNAME`, `TERM` (with a TTY), then the
/// container's own; plus `HOME` from the user when nothing set it.
fn environment(input: &SpecInput) -> Vec<String> {
    let mut env: Vec<String> = Vec::new();
    let mut set = |entry: String| {
        let key = entry.split('=').next().unwrap_or(&entry).to_owned();
        match env.iter_mut().find(|e| e.split('=').next() == Some(key.as_str())) {
            Some(existing) => *existing = entry,
            None => env.push(entry),
        }
    };
    set(DEFAULT_PATH_ENV.to_owned());
    if input.netns != NetNs::Host && !input.hostname.is_empty() {
        set(format!("HOSTNAME={}", input.hostname));
    }
    if input.tty {
        set("TERM=xterm".to_owned());
    }
    for entry in &input.env {
        set(entry.clone());
    }
    if let Some(home) = &input.home
        && !env.iter().any(|e| e.starts_with("HOME="))
    {
        env.push(format!("HOME={home}"));
    }
    env
}

fn namespaces(input: &SpecInput) -> Vec<Value> {
    let mut out = vec![json!({ "type": "pid" }), json!({ "type": "ipc" })];
    match &input.netns {
        NetNs::New => {
            out.push(json!({ "type": "uts" }));
            out.push(json!({ "type": "network" }));
        }
        NetNs::Path(path) => {
            out.push(json!({ "type": "uts" }));
            out.push(json!({ "type": "network", "path": path }));
        }
        NetNs::Host => {}
    }
    out.push(json!({ "type": "mount" }));
    out
}

fn sysctls(input: &SpecInput) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    // dockerd sets these only for a namespace it creates itself.
    if input.netns == NetNs::New {
        let exists = |name: &str| Path::new("/proc/sys").join(name.replace('.', "/")).exists();
        if exists("net.ipv4.ping_group_range") {
            out.insert("net.ipv4.ping_group_range".to_owned(), "0 2147483647".to_owned());
        }
        if exists("net.ipv4.ip_unprivileged_port_start") {
            out.insert("net.ipv4.ip_unprivileged_port_start".to_owned(), "0".to_owned());
        }
    }
    out.extend(input.sysctls.clone());
    out
}

fn resources(input: &SpecInput) -> Value {
    linux_resources(&input.resources, input.privileged)
}

/// `linux.resources` for `r` (device rules included), also what `docker update` sends to a
/// running task.
pub(crate) fn linux_resources(r: &Resources, privileged: bool) -> Value {
    let devices = if privileged {
        json!([{ "allow": true, "access": "rwm" }])
    } else {
        let allow = |major: i64, minor: i64| json!({ "allow": true, "type": "c", "major": major, "minor": minor, "access": "rwm" });
        json!([
            { "allow": false, "access": "rwm" },
            allow(1, 5),  // /dev/zero
            allow(1, 3),  // /dev/null
            allow(1, 9),  // /dev/urandom
            allow(1, 8),  // /dev/random
            allow(5, 0),  // /dev/tty
            allow(5, 1),  // /dev/console
            { "allow": false, "type": "c", "major": 10, "minor": 229, "access": "rwm" }, // /dev/net/tun
        ])
    };
    let mut out = json!({ "devices": devices });
    let mut memory = serde_json::Map::new();
    if let Some(limit) = r.memory.filter(|m| *m > 0) {
        memory.insert("limit".to_owned(), json!(limit));
    }
    if let Some(swap) = r.memory_swap.filter(|s| *s != 0) {
        memory.insert("swap".to_owned(), json!(swap));
    }
    if !memory.is_empty() {
        out["memory"] = Value::Object(memory);
    }
    let mut cpu = serde_json::Map::new();
    if let Some(shares) = r.cpu_shares.filter(|s| *s > 0) {
        cpu.insert("shares".to_owned(), json!(shares));
    }
    if let Some(quota) = r.cpu_quota.filter(|q| *q != 0) {
        cpu.insert("quota".to_owned(), json!(quota));
    }
    if let Some(period) = r.cpu_period.filter(|p| *p > 0) {
        cpu.insert("period".to_owned(), json!(period));
    }
    if let Some(period) = r.cpu_rt_period.filter(|p| *p > 0) {
        cpu.insert("realtimePeriod".to_owned(), json!(period));
    }
    if let Some(runtime) = r.cpu_rt_runtime.filter(|r| *r != 0) {
        cpu.insert("realtimeRuntime".to_owned(), json!(runtime));
    }
    if let Some(cpus) = r.cpuset_cpus.as_ref().filter(|c| !c.is_empty()) {
        cpu.insert("cpus".to_owned(), json!(cpus));
    }
    if let Some(mems) = r.cpuset_mems.as_ref().filter(|m| !m.is_empty()) {
        cpu.insert("mems".to_owned(), json!(mems));
    }
    if !cpu.is_empty() {
        out["cpu"] = Value::Object(cpu);
    }
    if let Some(limit) = r.pids_limit.filter(|l| *l != 0) {
        // dockerd: a negative limit means unlimited, which runc spells -1.
        out["pids"] = json!({ "limit": if limit < 0 { -1 } else { limit } });
    }
    out
}

/// The init binary on the host.
fn init_binary() -> Result<&'static str, Error> {
    INIT_BINARIES.into_iter().find(|p| Path::new(p).exists()).ok_or_else(|| {
        Error::invalid(
            "--init requires tini: install the Debian `tini` package (/usr/bin/tini-static)",
        )
    })
}

/// A device node for `linux.devices`.
pub(crate) struct Node {
    pub(crate) path: String,
    pub(crate) kind: &'static str,
    pub(crate) major: u64,
    pub(crate) minor: u64,
    pub(crate) mode: u32,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
}

impl Node {
    /// The node as the OCI spec lists it.
    pub(crate) fn to_json(&self) -> Value {
        json!({
            "path": self.path,
            "type": self.kind,
            "major": self.major,
            "minor": self.minor,
            "fileMode": self.mode,
            "uid": self.uid,
            "gid": self.gid,
        })
    }
}

/// containerd's `DeviceFromPath` on `path` (not following a final link): `None` when it is not
/// a block or character device or a FIFO.
pub(crate) fn node(path: &Path) -> std::io::Result<Option<Node>> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::symlink_metadata(path)?;
    let file_type = meta.file_type();
    let kind = if file_type.is_block_device() {
        "b"
    } else if file_type.is_char_device() {
        "c"
    } else if file_type.is_fifo() {
        "p"
    } else {
        return Ok(None);
    };
    Ok(Some(Node {
        path: path.display().to_string(),
        kind,
        major: nix::sys::stat::major(meta.rdev()),
        minor: nix::sys::stat::minor(meta.rdev()),
        mode: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
    }))
}

/// Every character and block device under the host's `/dev`, for privileged containers
/// (containerd's `HostDevices`, which dockerd uses).
fn host_devices() -> Vec<Value> {
    const SKIP: [&str; 7] = ["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];
    let mut out = Vec::new();
    let mut dirs = vec![PathBuf::from("/dev")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                if dir.as_os_str() != "/dev" || !SKIP.iter().any(|s| entry.file_name() == *s) {
                    dirs.push(path);
                }
                continue;
            }
            if path.as_os_str() == "/dev/console" {
                continue;
            }
            match node(&path) {
                Ok(Some(device)) if device.kind != "p" => out.push(device.to_json()),
                _ => {}
            }
        }
    }
    out.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> SpecInput {
        SpecInput {
            id: "c1".into(),
            args: vec!["echo".into(), "hi".into()],
            env: vec!["FOO=bar".into(), "PATH=/custom".into()],
            hostname: "c1host".into(),
            cgroup_parent: "/berth".into(),
            user: ProcessUser { uid: 65534, gid: 65534, additional_gids: vec![65534] },
            home: Some("/nonexistent".into()),
            ..SpecInput::default()
        }
    }

    fn strings(v: &Value) -> Vec<&str> {
        v.as_array().expect("array").iter().map(|s| s.as_str().expect("string")).collect()
    }

    fn mount<'a>(spec: &'a Value, dest: &str) -> Option<&'a Value> {
        spec["mounts"].as_array().expect("mounts").iter().find(|m| m["destination"] == dest)
    }

    #[test]
    fn defaults_match_dockerd() {
        let spec = build(&input()).expect("spec");
        let caps = &spec["process"]["capabilities"];
        for set in ["bounding", "effective", "permitted"] {
            assert_eq!(strings(&caps[set]), DEFAULT_CAPS, "{set}");
        }
        assert!(caps.get("inheritable").is_none(), "dockerd 28 leaves inheritable empty");
        assert_eq!(spec["root"], json!({ "path": "rootfs", "readonly": false }));
        assert_eq!(spec["hostname"], "c1host");
        assert_eq!(spec["process"]["terminal"], false);
        assert_eq!(spec["process"]["cwd"], "/");
        assert_eq!(spec["process"]["args"], json!(["echo", "hi"]));
        assert_eq!(
            spec["process"]["user"],
            json!({ "uid": 65534, "gid": 65534, "additionalGids": [65534] })
        );
        assert_eq!(
            strings(&spec["process"]["env"]),
            ["PATH=/custom", "HOSTNAME=c1host", "FOO=bar", "HOME=/nonexistent"]
        );
        assert!(spec["process"].get("noNewPrivileges").is_none());
        assert!(spec["process"].get("rlimits").is_none(), "dockerd sets no rlimits by default");
        assert_eq!(spec["linux"]["cgroupsPath"], "/berth/c1");

        let masked = strings(&spec["linux"]["maskedPaths"]);
        assert_eq!(masked[..12], DEFAULT_MASKED_PATHS);
        assert!(masked[12..].iter().all(|p| p.ends_with("/thermal_throttle")));
        assert_eq!(strings(&spec["linux"]["readonlyPaths"]), DEFAULT_READONLY_PATHS);

        let dests: Vec<&str> = spec["mounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .map(|m| m["destination"].as_str().expect("dest"))
            .collect();
        assert_eq!(
            dests,
            ["/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm"]
        );
        let shm = mount(&spec, "/dev/shm").expect("shm");
        assert_eq!(shm["source"], "shm");
        assert_eq!(
            strings(&shm["options"]),
            ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]
        );
        assert_eq!(
            strings(&mount(&spec, "/sys").expect("sys")["options"]),
            ["nosuid", "noexec", "nodev", "ro"]
        );
        assert_eq!(
            strings(&mount(&spec, "/dev/pts").expect("pts")["options"]),
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
        );

        let ns: Vec<&str> = spec["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .map(|n| n["type"].as_str().expect("type"))
            .collect();
        assert_eq!(ns, ["pid", "ipc", "uts", "network", "mount"]);

        let devices = spec["linux"]["resources"]["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 8);
        assert_eq!(devices[0], json!({ "allow": false, "access": "rwm" }));
        assert_eq!(devices[7]["major"], 10);
        assert_eq!(devices[7]["allow"], false);
        assert!(spec["linux"].get("devices").is_none());
        assert!(spec["linux"]["resources"].get("memory").is_none());
    }

    #[test]
    fn privileged_grants_everything_and_masks_nothing() {
        let spec = build(&SpecInput { privileged: true, ..input() }).expect("spec");
        let bounding = strings(&spec["process"]["capabilities"]["bounding"]);
        assert!(bounding.len() > DEFAULT_CAPS.len());
        assert!(bounding.contains(&"CAP_SYS_ADMIN") && bounding.contains(&"CAP_NET_ADMIN"));
        assert_eq!(spec["linux"]["maskedPaths"], json!([]));
        assert_eq!(spec["linux"]["readonlyPaths"], json!([]));
        assert_eq!(
            spec["linux"]["resources"]["devices"],
            json!([{ "allow": true, "access": "rwm" }])
        );
        let devices = spec["linux"]["devices"].as_array().expect("host devices");
        assert!(devices.iter().any(|d| d["path"] == "/dev/null"), "host devices listed");
        assert!(!strings(&mount(&spec, "/sys").expect("sys")["options"]).contains(&"ro"));
        assert!(!strings(&mount(&spec, "/sys/fs/cgroup").expect("cg")["options"]).contains(&"ro"));
    }

    #[test]
    fn writable_cgroups_and_privileged_mounts_follow_dockerd() {
        let options = |i: SpecInput, dest: &str| -> Vec<String> {
            let spec = build(&i).expect("spec");
            strings(&mount(&spec, dest).expect("mount")["options"])
                .into_iter()
                .map(str::to_owned)
                .collect()
        };
        let ro = |o: &Vec<String>| o.iter().any(|o| o == "ro");
        let asked = SpecInput { writable_cgroups: Some(true), ..input() };
        assert!(!ro(&options(asked.clone(), "/sys/fs/cgroup")), "writable-cgroups");
        assert!(ro(&options(asked, "/sys")), "/sys stays read-only");
        let refused = SpecInput { privileged: true, writable_cgroups: Some(false), ..input() };
        assert_eq!(options(refused, "/sys/fs/cgroup"), ["ro", "nosuid", "noexec", "nodev"]);
        // A read-only rootfs does not make a privileged container's /sys or cgroups read-only.
        let both = SpecInput { privileged: true, readonly_rootfs: true, ..input() };
        assert!(!ro(&options(both.clone(), "/sys")) && !ro(&options(both, "/sys/fs/cgroup")));
        let readonly = SpecInput { readonly_rootfs: true, writable_cgroups: Some(true), ..input() };
        assert!(
            !ro(&options(readonly, "/sys/fs/cgroup")),
            "writable-cgroups wins over --read-only"
        );
    }

    #[test]
    fn cap_add_and_drop_follow_tweak_capabilities() {
        let caps = |add: &[&str], drop: &[&str]| {
            let i = SpecInput {
                cap_add: add.iter().map(|s| (*s).to_owned()).collect(),
                cap_drop: drop.iter().map(|s| (*s).to_owned()).collect(),
                ..input()
            };
            capabilities(&i)
        };
        let c = caps(&["net_admin"], &["CAP_CHOWN", "mknod"]).expect("caps");
        assert!(c.contains(&"CAP_NET_ADMIN".to_owned()));
        assert!(!c.contains(&"CAP_CHOWN".to_owned()) && !c.contains(&"CAP_MKNOD".to_owned()));
        assert_eq!(c.len(), 13);
        assert_eq!(caps(&["KILL"], &["ALL"]).expect("caps"), ["CAP_KILL"]);
        assert_eq!(caps(&["ALL"], &[]).expect("caps"), known_caps());
        let err = caps(&["BOGUS"], &[]).expect_err("unknown");
        assert_eq!(err.message(), "unknown capability: \"CAP_BOGUS\"");
    }

    #[test]
    fn settings_shape_the_spec() {
        let i = SpecInput {
            tty: true,
            readonly_rootfs: true,
            no_new_privileges: true,
            init: true,
            shm_size: Some(1024),
            oom_score_adj: 500,
            cwd: "/work".into(),
            netns: NetNs::Path("/run/netns/x".into()),
            sysctls: BTreeMap::from([("net.core.somaxconn".into(), "1024".into())]),
            masked_paths: Some(vec![]),
            stop_signal: Some("SIGQUIT".into()),
            mounts: vec![
                MountSpec::Bind {
                    source: "/host".into(),
                    destination: "/data".into(),
                    readonly: true,
                    propagation: String::new(),
                },
                MountSpec::Tmpfs {
                    destination: "/dev/shm".into(),
                    options: vec!["size=1m".into(), "exec".into()],
                },
            ],
            resources: Resources {
                memory: Some(64 << 20),
                cpu_shares: Some(512),
                cpu_quota: Some(50_000),
                cpu_period: Some(100_000),
                cpu_rt_period: Some(1_000_000),
                cpu_rt_runtime: Some(10_000),
                cpuset_cpus: Some("0".into()),
                pids_limit: Some(-1),
                ..Resources::default()
            },
            ..input()
        };
        let spec = build(&i).expect("spec");
        assert_eq!(spec["process"]["terminal"], true);
        assert!(strings(&spec["process"]["env"]).contains(&"TERM=xterm"));
        assert_eq!(spec["process"]["noNewPrivileges"], true);
        assert_eq!(spec["process"]["oomScoreAdj"], 500);
        assert_eq!(spec["process"]["cwd"], "/work");
        assert_eq!(spec["root"]["readonly"], true);
        assert_eq!(spec["annotations"]["org.opencontainers.image.stopSignal"], "SIGQUIT");
        assert_eq!(spec["process"]["args"], json!([INIT_PATH_IN_CONTAINER, "--", "echo", "hi"]));
        let init = mount(&spec, INIT_PATH_IN_CONTAINER).expect("init mount");
        assert!(INIT_BINARIES.contains(&init["source"].as_str().expect("source")));
        // Read-only rootfs: /sys/fs/cgroup stays ro, /proc stays writable.
        assert!(!strings(&mount(&spec, "/proc").expect("proc")["options"]).contains(&"ro"));
        assert_eq!(
            strings(&mount(&spec, "/data").expect("bind")["options"]),
            ["rbind", "rprivate", "ro"]
        );
        let shm = mount(&spec, "/dev/shm").expect("user shm replaces the default");
        assert_eq!(shm["type"], "tmpfs");
        assert_eq!(strings(&shm["options"]), ["nosuid", "nodev", "rprivate", "size=1m", "exec"]);
        assert_eq!(spec["linux"]["maskedPaths"], json!([]));
        let net = spec["linux"]["namespaces"]
            .as_array()
            .expect("ns")
            .iter()
            .find(|n| n["type"] == "network")
            .expect("network ns");
        assert_eq!(net["path"], "/run/netns/x");
        assert_eq!(
            spec["linux"]["sysctl"],
            json!({ "net.core.somaxconn": "1024" }),
            "no net defaults for a joined netns"
        );
        let r = &spec["linux"]["resources"];
        assert_eq!(r["memory"], json!({ "limit": 64 << 20 }));
        assert_eq!(
            r["cpu"],
            json!({
                "shares": 512,
                "quota": 50_000,
                "period": 100_000,
                "realtimePeriod": 1_000_000,
                "realtimeRuntime": 10_000,
                "cpus": "0"
            })
        );
        assert_eq!(r["pids"], json!({ "limit": -1 }));

        let host = build(&SpecInput { netns: NetNs::Host, ..input() }).expect("host");
        let ns: Vec<&str> = host["linux"]["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .map(|n| n["type"].as_str().expect("type"))
            .collect();
        assert_eq!(ns, ["pid", "ipc", "mount"]);
        assert!(host.get("hostname").is_none());
    }
}
