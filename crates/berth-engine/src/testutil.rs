//! A private containerd per test, and small tarballs to import.

use std::time::Duration;

use bytes::Bytes;

use crate::{Containerd, Supervisor, SupervisorConfig};

/// A supervised containerd in a temporary directory; stopped by [`TestContainerd::stop`].
pub(crate) struct TestContainerd {
    pub(crate) conn: Containerd,
    pub(crate) namespace: String,
    supervisor: Supervisor,
    pub(crate) dir: tempfile::TempDir,
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
        Self { conn, namespace, supervisor, dir }
    }

    pub(crate) async fn stop(self) {
        self.supervisor.stop().await;
    }
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
