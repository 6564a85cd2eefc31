//! `Engine`: the running backend. It owns the connection to containerd (and the supervised
//! containerd, when berthd runs its own) and the stores built on it.

use std::path::{Path, PathBuf};

use berth_api::Error;
use berth_api::system::ComponentVersion;

use crate::EventSink;
use crate::container::manager::{Manager, Paths};
use crate::container::network::Networking;
use crate::container::record::Status;
use crate::containerd::Containerd;
use crate::containerd::supervisor::{Supervisor, SupervisorConfig};
use crate::image::Store;
use crate::network::store::{Networks, StoreConfig};
use crate::network::{BridgeConfig, Subnet};
use std::sync::Arc;

/// How many times a reconcile after a restart of containerd is tried, and the pause between.
const RECONCILE_ATTEMPTS: u32 = 5;
const RECONCILE_RETRY: std::time::Duration = std::time::Duration::from_secs(1);

/// How the engine reaches containerd.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Berth's persistent state root (`data-root`).
    pub data_root: PathBuf,
    /// Berth's runtime state root (`exec-root`).
    pub exec_root: PathBuf,
    /// An external containerd socket (`--containerd`); `None` runs Berth's own containerd.
    pub containerd: Option<PathBuf>,
    /// The containerd namespace Berth's objects live in.
    pub namespace: String,
    /// The containerd binary to supervise.
    pub containerd_binary: PathBuf,
    /// Registries reached over plain HTTP (`host[:port]` or CIDR), besides dockerd's default
    /// `127.0.0.0/8`.
    pub insecure_registries: Vec<String>,
    /// Name of the default bridge device (`bridge`).
    pub bridge_name: String,
    /// The default bridge's address and prefix (`bip`, e.g. `172.18.0.1/16`).
    pub bip: String,
    /// Leave containers running when berthd stops (`live-restore`).
    pub live_restore: bool,
    /// Directory of the CNI plugins.
    pub cni_plugin_dir: PathBuf,
}

struct Running {
    conn: Containerd,
    images: Store,
    containers: Arc<Manager>,
    containerd_version: (String, String),
    runc_version: Option<(String, String)>,
    /// `(version, git commit)` of the init binary `--init` runs, if installed.
    init_version: Option<(String, String)>,
}

/// The backend. When containerd cannot be used it still exists, and every engine-backed call
/// answers 503 with the reason.
pub struct Engine {
    running: Result<Running, String>,
    live_restore: bool,
    supervisor: tokio::sync::Mutex<Option<Supervisor>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("available", &self.running.is_ok()).finish_non_exhaustive()
    }
}

impl Engine {
    /// Connects to (or starts) containerd. Never fails: an unusable containerd is recorded, logged
    /// once with the endpoints it affects, and reported by every call that needs it.
    pub async fn start(config: EngineConfig, events: Arc<dyn EventSink>) -> Self {
        let live_restore = config.live_restore;
        match Self::connect(&config, events).await {
            Ok((running, supervisor)) => {
                let (version, _) = &running.containerd_version;
                tracing::info!(containerd = %running.conn.address().display(), %version, namespace = %config.namespace, "engine ready");
                Self {
                    running: Ok(running),
                    live_restore,
                    supervisor: tokio::sync::Mutex::new(supervisor),
                }
            }
            Err(err) => {
                let reason = err.message().to_owned();
                tracing::error!(
                    "containerd is not available: {reason}; the image API answers 503 until berthd is restarted with a working containerd"
                );
                Self {
                    running: Err(reason),
                    live_restore,
                    supervisor: tokio::sync::Mutex::new(None),
                }
            }
        }
    }

    /// An engine without containerd (for tests of the layers above it): every engine-backed call
    /// answers 503 naming `reason`.
    pub fn unavailable(reason: &str) -> Self {
        Self {
            running: Err(reason.to_owned()),
            live_restore: false,
            supervisor: tokio::sync::Mutex::new(None),
        }
    }

    async fn connect(
        config: &EngineConfig,
        events: Arc<dyn EventSink>,
    ) -> Result<(Running, Option<Supervisor>), Error> {
        let (conn, supervisor) = match &config.containerd {
            Some(socket) => (Containerd::connect(socket, &config.namespace).await?, None),
            None => {
                let sup = SupervisorConfig {
                    binary: config.containerd_binary.clone(),
                    root: config.data_root.join("containerd"),
                    state: config.exec_root.join("containerd"),
                };
                let (supervisor, conn) = Supervisor::start(sup, &config.namespace).await?;
                (conn, Some(supervisor))
            }
        };
        let containerd_version = conn.server_version().await?;
        let runc_version = runc_version().await;
        let init_version = init_version().await;
        let images = Store::new(conn.clone(), config.insecure_registries.clone());
        let store = Networks::load(StoreConfig {
            dir: config.data_root.join("network"),
            plugin_dir: config.cni_plugin_dir.clone(),
            default_bridge: default_bridge(config),
        })?;
        let net = Networking::new(Arc::new(store), config.exec_root.join("netns"));
        let paths = Paths {
            containers: config.data_root.join("containers"),
            exec_root: config.exec_root.clone(),
        };
        let volumes =
            crate::volume::Volumes::open(config.data_root.join("volumes"), Arc::clone(&events))?;
        let containers = Manager::new(&conn, images.clone(), paths, net, volumes, events).await?;
        containers.restore().await;
        // Operations a crash of berthd (or of containerd while berthd was down) interrupted left
        // their leases; deleting the reserve has containerd clean its stores. In the
        // background: operations that start meanwhile hold active leases, which are left alone.
        let reclaiming = conn.clone();
        tokio::spawn(async move {
            match crate::lease::reclaim(&reclaiming).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(leases = n, "reclaimed what interrupted operations left"),
                Err(e) => tracing::warn!(error = %e, "cannot reclaim leases"),
            }
            if let Err(e) = crate::lease::lay_reserve(&reclaiming).await {
                tracing::warn!(error = %e, "cannot lay the reserve that makes containerd clean up after a crash");
            }
        });
        if let Some(supervisor) = &supervisor {
            tokio::spawn(reconcile_after_restarts(
                supervisor.restarts(),
                conn.clone(),
                images.clone(),
                Arc::clone(&containers),
            ));
        }
        Ok((
            Running { conn, images, containers, containerd_version, runc_version, init_version },
            supervisor,
        ))
    }

    fn running(&self) -> Result<&Running, Error> {
        self.running
            .as_ref()
            .map_err(|reason| Error::unavailable(format!("containerd is not available: {reason}")))
    }

    pub(crate) fn images(&self) -> Result<&Store, Error> {
        Ok(&self.running()?.images)
    }

    pub(crate) fn containers(&self) -> Result<&Arc<Manager>, Error> {
        Ok(&self.running()?.containers)
    }

    /// `(total, running, paused, stopped)` container counts for `/info`.
    pub fn container_counts(&self) -> (u64, u64, u64, u64) {
        let Ok(running) = &self.running else { return (0, 0, 0, 0) };
        let mut counts = (0, 0, 0, 0);
        for c in running.containers.registry.all() {
            counts.0 += 1;
            match c.with(|r| r.state.status) {
                Status::Running | Status::Restarting => counts.1 += 1,
                Status::Paused => counts.2 += 1,
                _ => counts.3 += 1,
            }
        }
        counts
    }

    /// Why the engine is unusable, if it is.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.running.as_ref().err().map(String::as_str)
    }

    /// The socket of the containerd in use.
    pub fn containerd_address(&self) -> Option<PathBuf> {
        self.running.as_ref().ok().map(|r| r.conn.address().to_owned())
    }

    /// `/version` components beyond the engine itself: containerd, runc and docker-init.
    pub fn components(&self) -> Vec<ComponentVersion> {
        let Ok(running) = &self.running else {
            return Vec::new();
        };
        let (version, revision) = &running.containerd_version;
        let mut out = vec![ComponentVersion {
            name: "containerd".to_owned(),
            version: version.clone(),
            details: [("GitCommit".to_owned(), revision.clone())].into(),
        }];
        if let Some((version, commit)) = &running.runc_version {
            out.push(ComponentVersion {
                name: "runc".to_owned(),
                version: version.clone(),
                details: [("GitCommit".to_owned(), commit.clone())].into(),
            });
        }
        if let Some((version, commit)) = &running.init_version {
            // Named as dockerd names its init, which is what containers see (/sbin/docker-init).
            out.push(ComponentVersion {
                name: "docker-init".to_owned(),
                version: version.clone(),
                details: [("GitCommit".to_owned(), commit.clone())].into(),
            });
        }
        out
    }

    /// The git commit of the init binary, for `/info`'s `InitCommit` ("" when it prints none).
    pub fn init_commit(&self) -> String {
        self.running
            .as_ref()
            .ok()
            .and_then(|r| r.init_version.as_ref())
            .map(|(_, commit)| commit.clone())
            .unwrap_or_default()
    }

    /// `(containerd revision, runc commit)` for `/info`.
    pub fn commits(&self) -> (String, String) {
        match &self.running {
            Ok(r) => (
                r.containerd_version.1.clone(),
                r.runc_version.as_ref().map(|(_, c)| c.clone()).unwrap_or_default(),
            ),
            Err(_) => (String::new(), String::new()),
        }
    }

    /// How many images there are (tagged and dangling), for `/info`.
    pub async fn image_count(&self) -> Result<u64, Error> {
        Ok(self.images()?.entries().await?.len() as u64)
    }

    /// Stops the containers (unless `live-restore`), then Berth's own containerd, if it runs
    /// one.
    pub async fn shutdown(&self) {
        if let Ok(running) = &self.running
            && !self.live_restore
        {
            running.containers.shutdown().await;
        }
        if let Some(supervisor) = self.supervisor.lock().await.take() {
            supervisor.stop().await;
        }
    }
}

/// Each time the supervisor restarted a dead containerd: brings containerd and Berth's records
/// back in line (see [`Manager::reconcile`]), reclaims what interrupted operations held, and
/// forgets the image records kept in memory. Ends when the supervisor stops.
async fn reconcile_after_restarts(
    mut restarts: tokio::sync::watch::Receiver<u64>,
    conn: Containerd,
    images: Store,
    containers: Arc<Manager>,
) {
    while restarts.changed().await.is_ok() {
        let restart = *restarts.borrow_and_update();
        images.records_changed();
        let mut attempt = 1;
        loop {
            let reconciled = async {
                let (tasks, orphans) = containers.reconcile().await?;
                let leases = crate::lease::reclaim(&conn).await?;
                Ok::<_, Error>((tasks, orphans, leases))
            };
            match reconciled.await {
                Ok((tasks, containers, leases)) => {
                    tracing::info!(
                        restart,
                        tasks,
                        containers,
                        leases,
                        "reconciled with containerd after its restart"
                    );
                    break;
                }
                Err(e)
                    if attempt < RECONCILE_ATTEMPTS && !restarts.has_changed().unwrap_or(true) =>
                {
                    tracing::warn!(restart, attempt, error = %e, "cannot reconcile with containerd yet; trying again");
                    attempt += 1;
                    tokio::time::sleep(RECONCILE_RETRY).await;
                }
                // It died again (the next restart tries again), or keeps failing.
                Err(e) => {
                    tracing::error!(restart, error = %e, "cannot reconcile with containerd");
                    break;
                }
            }
        }
        if let Err(e) = crate::lease::lay_reserve(&conn).await {
            tracing::warn!(error = %e, "cannot lay the reserve that makes containerd clean up after a crash");
        }
    }
}

/// The default bridge from `bridge` and `bip`; the reason when it cannot be used.
fn default_bridge(config: &EngineConfig) -> Result<BridgeConfig, String> {
    let (addr, prefix) = config
        .bip
        .split_once('/')
        .ok_or_else(|| format!("invalid bip {:?}: want address/prefix", config.bip))?;
    let gateway: std::net::Ipv4Addr =
        addr.parse().map_err(|_| format!("invalid bip address {addr:?}"))?;
    let prefix: u8 = prefix.parse().map_err(|_| format!("invalid bip prefix {prefix:?}"))?;
    let subnet = Subnet::new(gateway, prefix).map_err(|e| e.message().to_owned())?;
    let mut bridge = BridgeConfig::new(config.bridge_name.clone(), subnet);
    bridge.gateway = gateway;
    bridge.validate().map_err(|e| e.message().to_owned())?;
    Ok(bridge)
}

/// `runc --version`: `runc version 1.1.5+ds1` / `commit: …`, read once at start (dockerd runs it
/// on every `/version`).
/// `(version, commit)` from the first installed init binary's `--version`.
async fn init_version() -> Option<(String, String)> {
    let binary = crate::runtime::spec::INIT_BINARIES.iter().find(|b| Path::new(b).exists())?;
    let out = tokio::process::Command::new(binary).arg("--version").output().await.ok()?;
    parse_init_version(&String::from_utf8_lossy(&out.stdout))
}

/// Reads tini's `tini version 0.18.0 - git.fec3683` (Debian's prints no ` - git.…` part) as
/// dockerd does: the version after `tini version `, the commit after `git.`; `None` when
/// neither is there.
fn parse_init_version(text: &str) -> Option<(String, String)> {
    let mut parts = text.split(" - ");
    let first = parts.next().unwrap_or("").trim();
    let commit = parts
        .next()
        .and_then(|p| p.trim().split_once('.'))
        .filter(|(git, hash)| *git == "git" && !hash.contains('.'))
        .map(|(_, hash)| hash.to_owned())
        .unwrap_or_default();
    let version = first.strip_prefix("tini version ").unwrap_or("").to_owned();
    (!version.is_empty() || !commit.is_empty()).then_some((version, commit))
}

async fn runc_version() -> Option<(String, String)> {
    let out = tokio::process::Command::new("runc").arg("--version").output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().find_map(|l| l.strip_prefix("runc version "))?.trim().to_owned();
    let commit =
        text.lines().find_map(|l| l.strip_prefix("commit: ")).unwrap_or("").trim().to_owned();
    Some((version, commit))
}

#[cfg(test)]
mod tests {
    use super::parse_init_version;

    #[test]
    fn init_versions_read_as_dockerd_reads_them() {
        let pair = |v: &str, c: &str| Some((v.to_owned(), c.to_owned()));
        assert_eq!(
            parse_init_version("tini version 0.18.0 - git.fec3683\n"),
            pair("0.18.0", "fec3683")
        );
        assert_eq!(parse_init_version("tini version 0.19.0\n"), pair("0.19.0", ""));
        assert_eq!(parse_init_version("tini version 0.19.0 - git.a.b\n"), pair("0.19.0", ""));
        assert_eq!(parse_init_version("something else\n"), None);
    }
}
