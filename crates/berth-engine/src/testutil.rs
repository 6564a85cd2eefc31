//! A private containerd per test, and small tarballs to import.

use std::time::Duration;

use bytes::Bytes;

use crate::{Containerd, Supervisor, SupervisorConfig};

/// A supervised containerd in a temporary directory; stopped by [`TestContainerd::stop`].
pub(crate) struct TestContainerd {
    pub(crate) conn: Containerd,
    pub(crate) namespace: String,
    supervisor: Option<Supervisor>,
    pub(crate) dir: tempfile::TempDir,
}

impl Drop for TestContainerd {
    /// A test that panicked never reached `stop`: kill its containerd so none is left behind.
    fn drop(&mut self) {
        let pidfile = self.dir.path().join("state/containerd.pid");
        if let Ok(pid) = std::fs::read_to_string(pidfile)
            && let Ok(pid) = pid.trim().parse::<i32>()
        {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

impl TestContainerd {
    pub(crate) async fn start() -> Self {
        let dir =
            tempfile::Builder::new().prefix("berth-ctrd-").tempdir_in("/tmp").expect("tempdir");
        let config = SupervisorConfig {
            binary: "containerd".into(),
            root: dir.path().join("root"),
            state: dir.path().join("state"),
        };
        let namespace = format!("berth-test-{}", uuid::Uuid::new_v4().simple());
        let (supervisor, conn) =
            tokio::time::timeout(Duration::from_secs(60), Supervisor::start(config, &namespace))
                .await
                .expect("containerd starts in time")
                .expect("containerd starts (is the containerd package installed?)");
        Self { conn, namespace, supervisor: Some(supervisor), dir }
    }

    /// The supervisor's restart counter.
    pub(crate) fn restarts(&self) -> tokio::sync::watch::Receiver<u64> {
        self.supervisor.as_ref().expect("running").restarts()
    }

    pub(crate) async fn stop(mut self) {
        if let Some(supervisor) = self.supervisor.take() {
            supervisor.stop().await;
        }
    }
}

/// Events the engine published in a test, in order: `(kind, action, id)`.
#[derive(Debug, Default)]
pub(crate) struct RecordedEvents(std::sync::Mutex<Vec<(String, String, String)>>);

impl RecordedEvents {
    /// The actions recorded for object `id`.
    pub(crate) fn actions(&self, id: &str) -> Vec<String> {
        self.0
            .lock()
            .expect("events lock")
            .iter()
            .filter(|(_, _, i)| i == id)
            .map(|(_, a, _)| a.clone())
            .collect()
    }
}

impl crate::EventSink for RecordedEvents {
    fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        _attributes: std::collections::BTreeMap<String, String>,
    ) {
        self.0.lock().expect("events lock").push((kind.into(), action.into(), id.into()));
    }
}

/// An engine on the test's containerd, with its roots in the test's directory and a bridge of
/// its own (`bridge`, `bip`); its events go to the returned recorder.
pub(crate) async fn engine_with(
    ctrd: &TestContainerd,
    bridge: &str,
    bip: &str,
) -> (crate::Engine, std::sync::Arc<RecordedEvents>) {
    let events = std::sync::Arc::new(RecordedEvents::default());
    let engine = crate::Engine::start(
        crate::EngineConfig {
            data_root: ctrd.dir.path().join("data"),
            exec_root: ctrd.dir.path().join("exec"),
            containerd: Some(ctrd.conn.address().to_owned()),
            namespace: ctrd.namespace.clone(),
            containerd_binary: "containerd".into(),
            insecure_registries: Vec::new(),
            bridge_name: bridge.to_owned(),
            bip: bip.to_owned(),
            live_restore: true,
            cni_plugin_dir: "/usr/lib/cni".into(),
        },
        events.clone(),
    )
    .await;
    (engine, events)
}

/// An engine on the test's containerd (for image tests: no container networking used).
pub(crate) async fn engine(ctrd: &TestContainerd) -> crate::Engine {
    engine_with(ctrd, "berthtest0", "10.213.250.1/24").await.0
}

/// A tarball holding `files` (path, contents).
pub(crate) fn tarball(files: &[(&str, &str)]) -> Bytes {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(1_700_000_000);
        header.set_cksum();
        builder.append_data(&mut header, path, contents.as_bytes()).expect("append");
    }
    Bytes::from(builder.into_inner().expect("finish tar"))
}

/// A tarball of `(path, bytes)`, in order.
pub(crate) fn tar_of(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, data) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, path, *data).expect("append");
    }
    builder.into_inner().expect("finish")
}
