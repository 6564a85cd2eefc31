//! The system backend: host facts for `/info` and `/version`, and the event bus for `/events`.
//!
//! Object counts (containers, images) come from the engine.

use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use berth_api::system::{ComponentVersion, Info, Platform, RegistryConfig, Version};
use berth_api::{Error, MAX_API_VERSION, MIN_API_VERSION, Result};
use berth_backend::{BoxStream, DiskUsage, EventsQuery, PingInfo, SystemBackend};
use futures_util::StreamExt;

use berth_engine::Engine;

use crate::build_info;
use crate::config::Config;
use crate::events::EventBus;

/// Facts about this host that do not change while the daemon runs.
#[derive(Debug, Clone)]
pub(crate) struct HostFacts {
    pub(crate) id: String,
    pub(crate) hostname: String,
    pub(crate) kernel: String,
    pub(crate) machine: String,
    pub(crate) os_name: String,
    pub(crate) os_version: String,
    pub(crate) ncpu: u64,
    pub(crate) mem_total: u64,
    pub(crate) cgroup_version: String,
    /// The engine's probe, read once as dockerd (since 23) reads its `sysinfo`: probing costs
    /// ten `stat`s, too many for every `/info`.
    cgroup: berth_engine::cgroups::CgroupFeatures,
    open_fds: Arc<OpenFds>,
}

impl HostFacts {
    /// Reads the host, and the engine ID under `data_root` (created on first start).
    pub(crate) fn gather(data_root: &Path) -> std::io::Result<Self> {
        let uts = nix::sys::utsname::uname().map_err(std::io::Error::from)?;
        let os_release = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
        let field = |key: &str| {
            os_release
                .lines()
                .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
                .map(|v| v.trim_matches('"').to_owned())
                .unwrap_or_default()
        };
        let cgroup_version = if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
            "2".to_owned()
        } else {
            "1".to_owned()
        };
        Ok(Self {
            id: engine_id(data_root)?,
            hostname: nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
            kernel: uts.release().to_string_lossy().into_owned(),
            machine: uts.machine().to_string_lossy().into_owned(),
            os_name: match field("PRETTY_NAME") {
                name if name.is_empty() => "Linux".to_owned(),
                name => name,
            },
            os_version: field("VERSION_ID"),
            ncpu: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
            mem_total: mem_total().unwrap_or(0),
            cgroup: berth_engine::cgroups::cgroup_features(),
            cgroup_version,
            open_fds: Arc::default(),
        })
    }
}

/// Counts berthd's open file descriptors for `/info`'s `NFd`, as dockerd does on every call.
///
/// Since Linux 6.2 a `stat` of `/proc/self/fd` gives the number of open descriptors as its size:
/// one system call, where listing the directory made procfs look up and print a name for every
/// descriptor (most of `/info`'s cost in the bench's profile, growing with the connections).
/// Older kernels give size 0; there the directory is listed, opened once and rewound after each
/// count (procfs lists the table as it is at each read), and the count includes the descriptor
/// used for counting, as dockerd's does.
#[derive(Debug, Default)]
struct OpenFds(std::sync::Mutex<Option<nix::dir::Dir>>);

impl OpenFds {
    const TABLE: &'static str = "/proc/self/fd";

    fn count(&self) -> u64 {
        if let Ok(stat) = nix::sys::stat::stat(Self::TABLE)
            && stat.st_size > 0
        {
            return stat.st_size as u64;
        }
        self.listed()
    }

    fn listed(&self) -> u64 {
        let mut dir = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if dir.is_none() {
            *dir = nix::dir::Dir::open(
                Self::TABLE,
                nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY,
                nix::sys::stat::Mode::empty(),
            )
            .ok();
        }
        let Some(dir) = dir.as_mut() else { return 0 };
        // Dropping the iterator rewinds the directory for the next count.
        dir.iter()
            .filter_map(std::result::Result::ok)
            .filter(|entry| !matches!(entry.file_name().to_bytes(), b"." | b".."))
            .count() as u64
    }
}

/// The daemon's persistent identity, like dockerd's `engine-id` file.
fn engine_id(data_root: &Path) -> std::io::Result<String> {
    let path = data_root.join("engine-id");
    match std::fs::read_to_string(&path) {
        Ok(id) if !id.trim().is_empty() => return Ok(id.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let id = uuid::Uuid::new_v4().to_string();
    crate::fsutil::write_atomic(&path, id.as_bytes())?;
    Ok(id)
}

fn mem_total() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A `/proc/sys` file `/info` reads on every request, kept open once it exists: reading it
/// again from offset 0 is one system call where opening (a walk of the path), sizing, reading
/// and closing it are five (the bench's findings). The value is still read each time.
#[derive(Debug)]
struct Sysctl {
    path: &'static str,
    file: std::sync::Mutex<Option<std::fs::File>>,
}

impl Sysctl {
    const fn new(path: &'static str) -> Self {
        Self { path, file: std::sync::Mutex::new(None) }
    }

    /// Whether the value is 1 (false while the file does not exist, e.g. before
    /// `br_netfilter` is loaded).
    fn is_on(&self) -> bool {
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        if file.is_none() {
            *file = std::fs::File::open(self.path).ok();
        }
        let Some(open) = file.as_ref() else { return false };
        let mut value = [0u8; 16];
        std::os::unix::fs::FileExt::read_at(open, &mut value, 0)
            .is_ok_and(|n| value[..n].trim_ascii() == b"1")
    }
}

static IP_FORWARD: Sysctl = Sysctl::new("/proc/sys/net/ipv4/ip_forward");
static BRIDGE_NF_IPTABLES: Sysctl = Sysctl::new("/proc/sys/net/bridge/bridge-nf-call-iptables");
static BRIDGE_NF_IP6TABLES: Sysctl = Sysctl::new("/proc/sys/net/bridge/bridge-nf-call-ip6tables");

/// `Info.RegistryConfig`: loopback is always insecure (plain HTTP allowed), as in dockerd; named
/// insecure registries are listed as index configs, CIDRs as insecure CIDRs.
fn registry_config(insecure: &[String]) -> RegistryConfig {
    let is_cidr = |s: &str| {
        s.contains('/')
            && s.split('/').next().is_some_and(|ip| ip.parse::<std::net::IpAddr>().is_ok())
    };
    let mut cidrs = vec!["127.0.0.0/8".to_owned()];
    cidrs.extend(insecure.iter().filter(|s| is_cidr(s)).cloned());
    let mut index_configs = std::collections::BTreeMap::new();
    let index = |name: &str, secure: bool, official: bool| serde_json::json!({ "Name": name, "Mirrors": [], "Secure": secure, "Official": official });
    index_configs.insert("docker.io".to_owned(), index("docker.io", true, true));
    for name in insecure.iter().filter(|s| !is_cidr(s)) {
        index_configs.insert(name.clone(), index(name, false, false));
    }
    RegistryConfig { insecure_registry_cidrs: cidrs, index_configs, mirrors: Vec::new() }
}

/// [`SystemBackend`] over host facts, the live configuration and the event bus.
pub(crate) struct HostSystem {
    facts: HostFacts,
    config: Arc<ArcSwap<Config>>,
    events: EventBus,
    engine: Arc<Engine>,
}

impl HostSystem {
    pub(crate) fn new(
        facts: HostFacts,
        config: Arc<ArcSwap<Config>>,
        events: EventBus,
        engine: Arc<Engine>,
    ) -> Self {
        Self { facts, config, events, engine }
    }
}

#[async_trait::async_trait]
impl SystemBackend for HostSystem {
    fn ping(&self) -> PingInfo {
        PingInfo { builder_version: "2".to_owned(), swarm: "inactive".to_owned() }
    }

    async fn version(&self) -> Result<Version> {
        let config = self.config.load();
        let f = &self.facts;
        let details = [
            ("ApiVersion", MAX_API_VERSION.to_string()),
            ("MinAPIVersion", MIN_API_VERSION.to_string()),
            ("Arch", berth_engine::go_arch().to_owned()),
            ("Os", std::env::consts::OS.to_owned()),
            ("KernelVersion", f.kernel.clone()),
            ("GitCommit", build_info::GIT_COMMIT.to_owned()),
            ("GoVersion", build_info::RUSTC_VERSION.to_owned()),
            ("Experimental", config.experimental.to_string()),
            ("BuildTime", build_info::BUILD_TIME.to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Ok(Version {
            platform: Platform { name: format!("Berth {}", build_info::VERSION) },
            components: std::iter::once(ComponentVersion {
                name: "Engine".to_owned(),
                version: build_info::VERSION.to_owned(),
                details,
            })
            .chain(self.engine.components())
            .collect(),
            version: build_info::VERSION.to_owned(),
            api_version: MAX_API_VERSION.to_string(),
            min_api_version: MIN_API_VERSION.to_string(),
            git_commit: build_info::GIT_COMMIT.to_owned(),
            go_version: build_info::RUSTC_VERSION.to_owned(),
            os: std::env::consts::OS.to_owned(),
            arch: berth_engine::go_arch().to_owned(),
            kernel_version: f.kernel.clone(),
            experimental: config.experimental,
            build_time: build_info::BUILD_TIME.to_owned(),
        })
    }

    async fn info(&self) -> Result<Info> {
        let config = self.config.load();
        let f = &self.facts;
        let cg = f.cgroup;
        let env = |k: &str| {
            std::env::var(k).or_else(|_| std::env::var(k.to_lowercase())).unwrap_or_default()
        };
        let n_fd = f.open_fds.count();
        let n_tasks = tokio::runtime::Handle::try_current()
            .map_or(0, |h| h.metrics().num_alive_tasks() as u64);
        let ip_forward = IP_FORWARD.is_on();
        let system_time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::system("cannot format the system time").with_source(e))?;
        let images = match self.engine.unavailable_reason() {
            Some(_) => 0,
            None => self.engine.image_count().await?,
        };
        let (containerd_commit, runc_commit) = self.engine.commits();
        let mut warnings = Vec::new();
        if let Some(reason) = self.engine.unavailable_reason() {
            warnings.push(format!("WARNING: containerd is not available: {reason}"));
        }
        let available = self.engine.unavailable_reason().is_none();
        let (containers, containers_running, containers_paused, containers_stopped) =
            self.engine.container_counts();
        Ok(Info {
            id: f.id.clone(),
            images,
            containers,
            containers_running,
            containers_paused,
            containers_stopped,
            driver: if available { "overlayfs".to_owned() } else { String::new() },
            driver_status: if available {
                vec![["driver-type".to_owned(), "io.containerd.snapshotter.v1".to_owned()]]
            } else {
                Vec::new()
            },
            // The engine runs every container with runc through containerd's runc v2 shim.
            runtimes: if available {
                [("io.containerd.runc.v2", "runc"), ("runc", "runc")]
                    .into_iter()
                    .map(|(name, path)| (name.to_owned(), serde_json::json!({ "path": path })))
                    .collect()
            } else {
                Default::default()
            },
            default_runtime: if available { "runc".to_owned() } else { String::new() },
            containerd_commit: berth_api::system::Commit { id: containerd_commit },
            runc_commit: berth_api::system::Commit { id: runc_commit },
            init_commit: berth_api::system::Commit { id: self.engine.init_commit() },
            warnings,
            // The drivers Berth has: the local volume driver, the bridge, host and null network
            // drivers, and the json-file and none log drivers (dockerd lists its many more).
            plugins: berth_api::system::PluginsInfo {
                volume: vec!["local".to_owned()],
                network: ["bridge", "host", "null"].map(str::to_owned).to_vec(),
                // The configured plugin names, as dockerd (the built-in policy is not a plugin).
                authorization: (!config.authorization_plugins.is_empty())
                    .then(|| config.authorization_plugins.clone()),
                log: ["json-file", "none"].map(str::to_owned).to_vec(),
            },
            memory_limit: cg.memory,
            swap_limit: cg.swap,
            cpu_cfs_period: cg.cfs_period,
            cpu_cfs_quota: cg.cfs_quota,
            cpu_shares: cg.shares,
            cpu_set: cg.cpuset,
            pids_limit: cg.pids,
            oom_kill_disable: cg.oom_kill_disable,
            ipv4_forwarding: ip_forward,
            bridge_nf_iptables: Some(BRIDGE_NF_IPTABLES.is_on()),
            bridge_nf_ip6tables: Some(BRIDGE_NF_IP6TABLES.is_on()),
            kernel_memory: Some(cg.kernel_memory),
            kernel_memory_tcp: Some(cg.kernel_memory_tcp),
            debug: config.debug,
            n_fd,
            n_goroutines: n_tasks,
            system_time,
            logging_driver: "json-file".to_owned(),
            cgroup_driver: "cgroupfs".to_owned(),
            cgroup_version: f.cgroup_version.clone(),
            n_events_listener: self.events.listeners() as u64,
            kernel_version: f.kernel.clone(),
            operating_system: f.os_name.clone(),
            os_version: f.os_version.clone(),
            os_type: std::env::consts::OS.to_owned(),
            architecture: f.machine.clone(),
            index_server_address: "https://index.docker.io/v1/".to_owned(),
            registry_config: registry_config(&config.insecure_registries),
            ncpu: f.ncpu,
            mem_total: f.mem_total,
            docker_root_dir: config.data_root.display().to_string(),
            http_proxy: env("HTTP_PROXY"),
            https_proxy: env("HTTPS_PROXY"),
            no_proxy: env("NO_PROXY"),
            name: f.hostname.clone(),
            labels: config.labels.clone(),
            experimental_build: config.experimental,
            server_version: build_info::VERSION.to_owned(),
            live_restore_enabled: config.live_restore,
            // `--init` runs Debian's tini as /sbin/docker-init, which dockerd calls docker-init.
            init_binary: if available { "docker-init".to_owned() } else { String::new() },
            security_options: berth_engine::security_options(),
            ..Info::default()
        })
    }

    async fn login(&self, auth: berth_api::image::AuthConfig) -> Result<String> {
        self.engine.login(auth).await
    }

    async fn disk_usage(&self) -> Result<DiskUsage> {
        if self.engine.unavailable_reason().is_some() {
            return Ok(DiskUsage::default());
        }
        let images = self.engine.image_disk_usage().await?;
        let layers_size = images.iter().map(|i| i.size).sum();
        let volumes = self.engine.volume_disk_usage().await;
        Ok(DiskUsage { layers_size, images, volumes })
    }

    fn events(
        &self,
        query: EventsQuery,
    ) -> Result<BoxStream<'static, Result<berth_api::system::Event>>> {
        Ok(self.events.subscribe(query).map(Ok).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_id_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = engine_id(dir.path()).expect("create");
        let second = engine_id(dir.path()).expect("read");
        assert_eq!(first, second);
        assert_eq!(first.len(), 36, "a UUID: {first}");
    }

    #[test]
    fn a_kept_sysctl_reads_the_current_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ip_forward");
        let leaked: &'static str =
            Box::leak(path.to_str().expect("a UTF-8 path").to_owned().into_boxed_str());
        let sysctl = Sysctl::new(leaked);
        assert!(!sysctl.is_on(), "absent reads as off");
        std::fs::write(&path, "1\n").expect("write");
        assert!(sysctl.is_on(), "opened once it exists");
        std::fs::write(&path, "0\n").expect("write");
        assert!(!sysctl.is_on(), "read again, not remembered");
    }

    #[test]
    fn open_fds_follow_the_table_across_counts() {
        let fds = OpenFds::default();
        let before = fds.count();
        assert!(before >= 3, "stdin, stdout and stderr at least: {before}");
        let files: Vec<std::fs::File> =
            (0..5).map(|_| std::fs::File::open("/proc/self/stat").expect("open")).collect();
        // Other test threads open and close files too, so compare with a margin, twice.
        let with = fds.count();
        assert!(with >= before + 5 - 2, "five more open: {before} → {with}");
        drop(files);
        let after = fds.count();
        assert!(after + 5 - 2 <= with, "five closed again: {with} → {after}");
    }

    #[test]
    fn the_stat_count_agrees_with_the_listing() {
        let fds = OpenFds::default();
        let listed = fds.listed();
        let counted = fds.count();
        // The listing holds one descriptor of its own, kept open after it; other test threads
        // open and close files meanwhile, hence the margin.
        assert!(counted.abs_diff(listed) <= 3, "stat {counted} against listing {listed}");
        assert!(counted >= 3, "stdin, stdout and stderr at least: {counted}");
    }

    #[test]
    fn host_facts_are_real() {
        let dir = tempfile::tempdir().expect("tempdir");
        let facts = HostFacts::gather(dir.path()).expect("gather");
        assert!(facts.ncpu >= 1);
        assert!(facts.mem_total > 0);
        assert!(!facts.kernel.is_empty());
        assert!(matches!(facts.cgroup_version.as_str(), "1" | "2"));
    }
}
