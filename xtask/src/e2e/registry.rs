//! A local registry (Debian's `docker-registry`) on 127.0.0.1 for the pull and push checks;
//! optionally behind basic auth. Killed on drop.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

/// A running registry.
pub(crate) struct Registry {
    child: Child,
    pub(crate) port: u16,
}

impl Registry {
    /// Starts a registry storing under `dir`; with `user`, only that user may push or pull.
    pub(crate) fn start(dir: &Path, user: Option<(&str, &str)>) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let port = super::free_port()?;
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            dir.join("data").display()
        );
        if let Some((name, password)) = user {
            let hash = bcrypt::hash_with_result(password, 4)
                .context("bcrypt")?
                .format_for_version(bcrypt::Version::TwoY);
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, format!("{name}:{hash}\n"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: berth-e2e\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = dir.join("config.yml");
        std::fs::write(&config_path, config)?;
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting docker-registry (Debian package docker-registry)")?;
        let mut registry = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = registry.child.try_wait()? {
                bail!("docker-registry exited: {status}");
            }
            if Instant::now() > deadline {
                bail!("docker-registry did not listen on 127.0.0.1:{port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(registry)
    }

    /// `127.0.0.1:<port>`.
    pub(crate) fn domain(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
