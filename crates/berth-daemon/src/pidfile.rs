//! The PID file: refuses a second daemon on the same pidfile, removed on exit.

use std::path::{Path, PathBuf};

/// A PID file that holds this process's PID while it exists.
#[derive(Debug)]
pub(crate) struct PidFile {
    path: PathBuf,
}

/// Another daemon holds the PID file, or it cannot be written.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PidFileError {
    #[error("pid file found, ensure berthd is not running or delete {path} (pid {pid} is alive)")]
    Running { path: PathBuf, pid: i32 },
    #[error("cannot write pid file {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PidFile {
    pub(crate) fn create(path: &Path) -> Result<Self, PidFileError> {
        let ours = std::process::id();
        if let Ok(text) = std::fs::read_to_string(path)
            && let Ok(pid) = text.trim().parse::<i32>()
            && pid > 0
            && pid as u32 != ours
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            return Err(PidFileError::Running { path: path.to_owned(), pid });
        }
        crate::fsutil::write_atomic(path, format!("{ours}\n").as_bytes())
            .map_err(|source| PidFileError::Write { path: path.to_owned(), source })?;
        Ok(Self { path: path.to_owned() })
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Err(err) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %err, "cannot remove pid file");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_live_pid_and_replaces_a_dead_one() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("berthd.pid");
        // PID 1 is always alive.
        std::fs::write(&path, "1\n").expect("write");
        let err = PidFile::create(&path).expect_err("pid 1 is alive");
        assert!(err.to_string().contains("pid file found"), "{err}");
        // A PID beyond pid_max is never alive.
        std::fs::write(&path, "2147483600\n").expect("write");
        let pidfile = PidFile::create(&path).expect("stale pid is replaced");
        let text = std::fs::read_to_string(&path).expect("read");
        assert_eq!(text.trim(), std::process::id().to_string());
        drop(pidfile);
        assert!(!path.exists(), "removed on drop");
    }
}
