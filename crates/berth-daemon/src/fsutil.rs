//! Small filesystem helpers.

use std::path::Path;

/// Writes `contents` to `path` atomically with the engine's helper (temporary file in the same
/// directory, fsync, rename, fsync of the directory), creating the parent directory when
/// missing.
pub(crate) fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    berth_engine::persist::write_atomic(path, contents)
}
