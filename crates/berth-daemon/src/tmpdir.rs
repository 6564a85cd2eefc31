//! berthd's directory for temporary files, `<data-root>/tmp`, as dockerd's: image load spools
//! and other temporary files sit on the filesystem of the data they become (a full data-root
//! fails them with a clear error instead of filling `/tmp`), and what a crash left there is
//! deleted at the next start.

use std::path::{Path, PathBuf};

/// The temporary directory, ready, and earlier ones still to delete.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// `<data-root>/tmp`, empty.
    pub(crate) dir: PathBuf,
    /// Earlier temporary directories, moved aside for [`delete_in_background`].
    pub(crate) stale: Vec<PathBuf>,
}

/// Creates `<data-root>/tmp` (0700) empty: an existing one is moved aside to
/// `tmp-old-<random>` (deleting a large leftover would hold up the start), as are the
/// leftovers of earlier moves that were not deleted.
pub(crate) fn prepare(data_root: &Path) -> std::io::Result<Prepared> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o711).create(data_root)?;
    let dir = data_root.join("tmp");
    match std::fs::rename(&dir, data_root.join(format!("tmp-old-{}", uuid::Uuid::new_v4()))) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let stale = std::fs::read_dir(data_root)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-old-"))
        .map(|e| e.path())
        .collect();
    std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
    Ok(Prepared { dir, stale })
}

/// Makes `dir` the directory every temporary file of this process (and of the containerd it
/// starts) goes to, through `TMPDIR`.
///
/// Call it before any other thread exists: it changes the environment.
#[allow(unsafe_code)]
pub(crate) fn use_for_temporary_files(dir: &Path) {
    // SAFETY: called from `main` before the async runtime or any other thread is started, so
    // nothing reads or writes the environment concurrently.
    unsafe { std::env::set_var("TMPDIR", dir) };
}

/// Deletes the moved-aside directories on a thread of their own.
pub(crate) fn delete_in_background(stale: Vec<PathBuf>) {
    if stale.is_empty() {
        return;
    }
    let spawned = std::thread::Builder::new().name("tmp-cleanup".into()).spawn(move || {
        for dir in stale {
            match std::fs::remove_dir_all(&dir) {
                Ok(()) => tracing::debug!(dir = %dir.display(), "deleted an old temporary directory"),
                Err(e) => {
                    tracing::warn!(dir = %dir.display(), error = %e, "cannot delete an old temporary directory")
                }
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "cannot start deleting old temporary directories");
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn leftovers_are_moved_aside_and_the_directory_is_fresh() {
        let root = tempfile::tempdir().expect("tempdir");
        let data_root = root.path().join("data");
        let first = prepare(&data_root).expect("first start");
        assert!(first.stale.is_empty());
        let mode = std::fs::metadata(&first.dir).expect("tmp").permissions().mode();
        assert_eq!(mode & 0o777, 0o700);

        std::fs::write(first.dir.join("berth-load-crashed.tar"), "partial").expect("leftover");
        let second = prepare(&data_root).expect("second start");
        assert_eq!(second.dir, first.dir);
        assert_eq!(std::fs::read_dir(&second.dir).expect("read").count(), 0, "empty");
        assert_eq!(second.stale.len(), 1);
        assert!(second.stale[0].join("berth-load-crashed.tar").exists());

        // Not deleted yet (say berthd died first): found again by the next start, with the
        // (empty) directory of the second.
        let third = prepare(&data_root).expect("third start");
        assert_eq!(third.stale.len(), 2);
        assert!(third.stale.contains(&second.stale[0]));
        delete_in_background(third.stale.clone());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while third.stale.iter().any(|d| d.exists()) {
            assert!(std::time::Instant::now() < deadline, "never deleted");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}
