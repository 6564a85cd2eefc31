//! A private `docker-registry` (Debian's distribution 2.8) per test, optionally behind basic
//! auth, on a free port of 127.0.0.1.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A running registry; stopped by [`TestRegistry::stop`] (or killed on drop).
pub(crate) struct TestRegistry {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl TestRegistry {
    /// Starts a registry; with `user` set, every request needs basic auth as `(name, password)`.
    pub(crate) async fn start(user: Option<(&str, &str)>) -> Self {
        let dir =
            tempfile::Builder::new().prefix("berth-registry-").tempdir_in("/tmp").expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.path().join("data").display()
        );
        if let Some((name, password)) = user {
            let hash = bcrypt::hash_with_result(password, 4)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoY);
            let htpasswd = dir.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{name}:{hash}\n")).expect("htpasswd");
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.path().join("config.yml");
        std::fs::write(&config_path, config).expect("config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("docker-registry starts (is the docker-registry package installed?)");
        let registry = Self { child, port, dir };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "registry did not listen in time");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        registry
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Where the registry keeps a blob's bytes.
    pub(crate) fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.trim_start_matches("sha256:");
        self.dir
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Stops the registry and removes its storage.
    pub(crate) async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
