//! `Engine`: the running backend. It owns the connection to containerd (and the supervised
//! containerd, when berthd runs its own) and the stores built on it.

use std::path::PathBuf;

use berth_api::Error;
use berth_api::system::ComponentVersion;

use crate::containerd::Containerd;
use crate::containerd::supervisor::{Supervisor, SupervisorConfig};
use crate::image::Store;

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
}

struct Running {
    conn: Containerd,
    images: Store,
    containerd_version: (String, String),
    runc_version: Option<(String, String)>,
}

/// The backend. When containerd cannot be used it still exists, and every engine-backed call
/// answers 503 with the reason.
pub struct Engine {
    running: Result<Running, String>,
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
    pub async fn start(config: EngineConfig) -> Self {
        match Self::connect(&config).await {
            Ok((running, supervisor)) => {
                let (version, _) = &running.containerd_version;
                tracing::info!(containerd = %running.conn.address().display(), %version, namespace = %config.namespace, "engine ready");
                Self { running: Ok(running), supervisor: tokio::sync::Mutex::new(supervisor) }
            }
            Err(err) => {
                let reason = err.message().to_owned();
                tracing::error!(
                    "containerd is not available: {reason}; the image API answers 503 until berthd is restarted with a working containerd"
                );
                Self { running: Err(reason), supervisor: tokio::sync::Mutex::new(None) }
            }
        }
    }

    /// An engine without containerd (for tests of the layers above it): every engine-backed call
    /// answers 503 naming `reason`.
    pub fn unavailable(reason: &str) -> Self {
        Self { running: Err(reason.to_owned()), supervisor: tokio::sync::Mutex::new(None) }
    }

    async fn connect(config: &EngineConfig) -> Result<(Running, Option<Supervisor>), Error> {
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
        let images = Store::new(conn.clone(), config.insecure_registries.clone());
        Ok((Running { conn, images, containerd_version, runc_version }, supervisor))
    }

    fn running(&self) -> Result<&Running, Error> {
        self.running
            .as_ref()
            .map_err(|reason| Error::unavailable(format!("containerd is not available: {reason}")))
    }

    pub(crate) fn images(&self) -> Result<&Store, Error> {
        Ok(&self.running()?.images)
    }

    /// Why the engine is unusable, if it is.
    pub fn unavailable_reason(&self) -> Option<&str> {
        self.running.as_ref().err().map(String::as_str)
    }

    /// The socket of the containerd in use.
    pub fn containerd_address(&self) -> Option<PathBuf> {
        self.running.as_ref().ok().map(|r| r.conn.address().to_owned())
    }

    /// `/version` components beyond the engine itself: containerd and runc.
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
        out
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

    /// Stops Berth's own containerd, if it runs one.
    pub async fn shutdown(&self) {
        if let Some(supervisor) = self.supervisor.lock().await.take() {
            supervisor.stop().await;
        }
    }
}

/// `runc --version`: `runc version 1.1.5+ds1` / `commit: …`, read once at start (dockerd runs it
/// on every `/version`).
async fn runc_version() -> Option<(String, String)> {
    let out = tokio::process::Command::new("runc").arg("--version").output().await.ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().find_map(|l| l.strip_prefix("runc version "))?.trim().to_owned();
    let commit =
        text.lines().find_map(|l| l.strip_prefix("commit: ")).unwrap_or("").trim().to_owned();
    Some((version, commit))
}
