//! Durable writes of the state Berth keeps under data-root (container records, volume and
//! network metadata, the engine ID): the one helper every store uses, and I/O error texts as
//! dockerd words them.
//!
//! A write goes to a temporary file next to the target (`.<name>.tmp-<random>`), is synced,
//! renamed over the target, and the directory is synced, so a crash or a full disk leaves the
//! old document or the new one, never a torn one. A failed write removes its temporary file; a
//! crash between creating and renaming it leaves one behind, which `remove_stale_temps`
//! clears when the store loads.

use std::io::Write;
use std::path::Path;

use berth_api::Error;

/// What temporary files of [`write_atomic`] have in their name after the target's name.
const TEMP_MARK: &str = ".tmp-";

/// Writes `bytes` to `path` atomically: temporary file in the same directory, write, fsync,
/// rename over `path`, fsync the directory. The directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Removed on drop, so every failure below leaves nothing behind.
    let mut tmp =
        tempfile::Builder::new().prefix(&format!(".{name}{TEMP_MARK}")).tempfile_in(dir)?;
    // Through the file itself: the temporary's own `Write` wraps errors with its path, which
    // hides the OS error (and so dockerd's wording) from `io_message`.
    tmp.as_file_mut().write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    // The rename is visible already; this makes it survive a power cut. A directory that
    // cannot be synced (some filesystems refuse) is not worth failing the write for.
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Ok(()) => {}
        Err(e) => tracing::debug!(dir = %dir.display(), error = %e, "cannot sync directory"),
    }
    Ok(())
}

/// [`write_atomic`] with the API error dockerd would give: a 500 naming the file and the cause
/// (`cannot write /…/config.v2.json: no space left on device`).
pub(crate) fn save(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomic(path, bytes).map_err(|e| io_error(&format!("cannot write {}", path.display()), e))
}

/// Removes temporary files [`write_atomic`] left in `dir` (a crash between writing and
/// renaming). Nothing else is touched.
pub(crate) fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !is_temp_name(&name) || !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        match std::fs::remove_file(entry.path()) {
            Ok(()) => tracing::info!(file = %entry.path().display(), "removed an unfinished write"),
            Err(e) => {
                tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove an unfinished write")
            }
        }
    }
}

fn is_temp_name(name: &str) -> bool {
    name.starts_with('.') && name.contains(TEMP_MARK)
}

/// A 500 saying `what` failed and why, the cause worded as Go (and so dockerd) words it.
pub(crate) fn io_error(what: &str, e: std::io::Error) -> Error {
    Error::system(format!("{what}: {}", io_message(&e))).with_source(e)
}

/// An I/O error as Go prints it: `no space left on device`, not Rust's `No space left on
/// device (os error 28)`. Clients (and scripts written against dockerd) look for these words.
pub fn io_message(e: &std::io::Error) -> String {
    let Some(code) = e.raw_os_error() else { return e.to_string() };
    let text = nix::errno::Errno::from_raw(code).desc();
    let mut chars = text.chars();
    match chars.next() {
        // Go's table is the C library's text with a lowercase first letter.
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_replace_the_file_and_leave_no_temporary() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.v2.json");
        write_atomic(&path, b"{\"a\":1}").expect("first write");
        write_atomic(&path, b"{\"a\":2}").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"{\"a\":2}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["config.v2.json"]);
    }

    #[test]
    fn a_failed_write_leaves_no_temporary_and_says_why() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("volume.json");
        write_atomic(&path, b"old").expect("write");
        // Renaming a file over a directory fails after the temporary was written and synced.
        let blocked = dir.path().join("blocked");
        std::fs::create_dir(&blocked).expect("mkdir");
        let err = save(&blocked, b"new").expect_err("cannot replace a directory");
        assert_eq!(err.status(), 500);
        assert!(err.message().starts_with("cannot write "), "{err}");
        assert!(err.message().ends_with(": is a directory"), "{err}");
        assert_eq!(std::fs::read(&path).expect("read"), b"old", "other files untouched");
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["blocked", "volume.json"], "the temporary file went");
    }

    #[test]
    fn stale_temporaries_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        for name in [".config.v2.json.tmp-abc123", "config.v2.json", ".hidden", "x.tmp-1"] {
            std::fs::write(dir.path().join(name), "x").expect("write");
        }
        std::fs::create_dir(dir.path().join(".dir.tmp-1")).expect("mkdir");
        remove_stale_temps(dir.path());
        let mut names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".dir.tmp-1", ".hidden", "config.v2.json", "x.tmp-1"]);
    }

    #[test]
    fn io_errors_read_like_go() {
        let full = std::io::Error::from_raw_os_error(nix::errno::Errno::ENOSPC as i32);
        assert_eq!(io_message(&full), "no space left on device");
        let missing = std::io::Error::from_raw_os_error(nix::errno::Errno::ENOENT as i32);
        assert_eq!(io_message(&missing), "no such file or directory");
        let other = std::io::Error::other("custom");
        assert_eq!(io_message(&other), "custom");
        let err = io_error("cannot write /x", full);
        assert_eq!(err.message(), "cannot write /x: no space left on device");
    }
}
