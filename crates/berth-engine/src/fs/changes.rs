//! `GET /containers/{name}/changes` (`docker diff`) and the `SizeRw` of a container.
//!
//! dockerd (containerd image store) mounts the image and the container and compares the two
//! trees in full (moby's `ChangesDirs`). Berth gets the same answer cheaper: everything that
//! differs between the two views has a name in the container's overlay upper directory, so only
//! those names are compared, each `lstat`ed in a read-only view of the image layers ("old") and
//! of the container ("new"). Letting overlayfs build both views keeps its rules (whiteouts,
//! opaque directories, metacopy) in the kernel, and needs no extended-attribute reading. What
//! is in an upper directory but gone from the new view (an opaque directory hides the image's
//! content; a whiteout deletes it) is found by listing that directory in both views.
//!
//! The comparison is moby's: mode (type and permission bits), owner, device number, and for
//! non-directories size and modification time (equal, or the same second when one side has no
//! nanoseconds); a directory with any change below it is reported modified; sorted by path.
//! Unlike moby the `security.capability` attribute is not compared.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_api::container::ContainerChangeResponseItem;
use berth_api::{Error, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::FileStat;

use super::at;
use super::mount::TempMount;

/// `Kind` of a change: modified.
pub(super) const MODIFIED: u8 = 0;
/// `Kind` of a change: added.
pub(super) const ADDED: u8 = 1;
/// `Kind` of a change: deleted.
pub(super) const DELETED: u8 = 2;

/// Mount points dockerd keeps in a container's init layer (moby `initlayer.Setup`), so they
/// never show in `docker diff`. Berth has no init layer; when the runtime creates them in the
/// upper directory they are left out here instead.
const INIT_LAYER: &[&str] = &[
    "/.dockerenv",
    "/dev/console",
    "/dev/pts",
    "/dev/shm",
    "/etc/hostname",
    "/etc/hosts",
    "/etc/mtab",
    "/etc/resolv.conf",
    "/proc",
    "/sys",
];

/// Directories the init layer creates when the image lacks them: hidden when nothing else
/// changed below them.
const INIT_LAYER_PARENTS: &[&str] = &["/dev", "/etc"];

/// The changes of a container against its image, from its snapshot: `lower_dirs` are the image
/// layers (topmost first, as the overlay `lowerdir=` lists them, see [`super::lower_dirs`]),
/// `upper` the container's writable layer ([`super::upper_dir`]). Two read-only overlay views
/// are mounted in `scratch` for the duration (for a running container, overlayfs logs that the
/// upper directory is in use by another mount; dockerd's own second mount does the same).
///
/// Kind 0 modified, 1 added, 2 deleted; sorted by path; empty when nothing changed. Blocking:
/// call it from `spawn_blocking`.
pub(crate) fn changes(
    lower_dirs: &[PathBuf],
    upper: &Path,
    scratch: &Path,
) -> Result<Vec<ContainerChangeResponseItem>> {
    let old_view = TempMount::read_only_view(lower_dirs, scratch)?;
    let mut layers = vec![upper.to_owned()];
    layers.extend_from_slice(lower_dirs);
    let new_view = TempMount::read_only_view(&layers, scratch)?;
    let open = |path: &Path| {
        at::open_dir(path).map_err(|err| {
            Error::system(format!("cannot open {}: {err}", path.display())).with_source(err)
        })
    };
    let views = Views { old: open(old_view.path())?, new: open(new_view.path())? };
    let upper_fd = open(upper)?;
    let found = views
        .walk(upper_fd)
        .map_err(|err| Error::system(format!("cannot compare the container's files: {err}")))?;
    Ok(finish(found))
}

/// The image ("old") and container ("new") views.
struct Views {
    old: OwnedFd,
    new: OwnedFd,
}

impl Views {
    /// Walks the upper directory and compares each of its names in both views.
    fn walk(&self, upper: OwnedFd) -> io::Result<BTreeMap<String, u8>> {
        let mut found = BTreeMap::new();
        self.deleted_in("/", &mut found)?;
        let mut stack: Vec<(OwnedFd, String)> = vec![(upper, String::new())];
        while let Some((dir, prefix)) = stack.pop() {
            for name in at::list(&dir)? {
                let path = format!("{prefix}/{}", name.to_string_lossy());
                let st = match at::open_child(&dir, &name, OFlag::O_PATH) {
                    Ok(fd) => at::stat_fd(&fd)?,
                    Err(err) => {
                        // Removed since it was listed (the container runs): no longer a change.
                        tracing::debug!(path, error = %err, "skipping a vanished file");
                        continue;
                    }
                };
                if at::is_whiteout(&st) {
                    // Its parent's listing below reports what it deleted.
                    continue;
                }
                let rel = rel_bytes(&prefix, &name);
                let Some(new) = lookup(&self.new, &rel)? else { continue };
                let old = lookup(&self.old, &rel)?;
                match &old {
                    None => {
                        found.insert(path.clone(), ADDED);
                    }
                    Some(old) if different(old, &new) => {
                        found.insert(path.clone(), MODIFIED);
                    }
                    Some(_) => {}
                }
                if at::is_dir(&st) {
                    if old.as_ref().is_some_and(at::is_dir) && at::is_dir(&new) {
                        self.deleted_in(&path, &mut found)?;
                    }
                    let sub = at::open_child(&dir, &name, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                    stack.push((sub, path));
                }
            }
        }
        Ok(found)
    }

    /// Records as deleted what the directory `path` holds in the old view but not in the new.
    fn deleted_in(&self, path: &str, found: &mut BTreeMap<String, u8>) -> io::Result<()> {
        let rel = path.trim_start_matches('/');
        let old = names(&self.old, rel)?;
        let new: HashSet<OsString> = names(&self.new, rel)?.into_iter().collect();
        let prefix = if path == "/" { "" } else { path };
        for name in old.into_iter().filter(|n| !new.contains(n)) {
            found.insert(format!("{prefix}/{}", name.to_string_lossy()), DELETED);
        }
        Ok(())
    }
}

fn rel_bytes(prefix: &str, name: &OsString) -> Vec<u8> {
    let mut rel = prefix.trim_start_matches('/').as_bytes().to_vec();
    if !rel.is_empty() {
        rel.push(b'/');
    }
    rel.extend_from_slice(name.as_bytes());
    rel
}

/// `lstat` of `rel` in a view, `None` when it does not exist there (or only behind a symlink,
/// which a tree walk never follows).
fn lookup(view: &OwnedFd, rel: &[u8]) -> io::Result<Option<FileStat>> {
    match at::open_no_symlinks(view, at::os(rel), OFlag::O_PATH | OFlag::O_NOFOLLOW) {
        Ok(fd) => at::stat_fd(&fd).map(Some),
        Err(err) if at::is_missing(&err) || err.raw_os_error() == Some(nix::libc::ELOOP) => {
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

/// The names in directory `rel` of a view; none when it is not a directory there.
fn names(view: &OwnedFd, rel: &str) -> io::Result<Vec<OsString>> {
    let rel = if rel.is_empty() { "." } else { rel };
    match at::open_no_symlinks(view, rel, OFlag::O_PATH | OFlag::O_DIRECTORY) {
        Ok(fd) => at::list(&fd),
        Err(err) if at::is_missing(&err) || err.raw_os_error() == Some(nix::libc::ELOOP) => {
            Ok(Vec::new())
        }
        Err(err) => Err(err),
    }
}

/// moby's `statDifferent`.
fn different(old: &FileStat, new: &FileStat) -> bool {
    old.st_mode != new.st_mode
        || old.st_uid != new.st_uid
        || old.st_gid != new.st_gid
        || old.st_rdev != new.st_rdev
        || (!at::is_dir(old) && (!same_time(old, new) || old.st_size != new.st_size))
}

/// moby's `sameFsTime`: equal, or the same second with no nanoseconds on one side (tar keeps
/// whole seconds).
fn same_time(a: &FileStat, b: &FileStat) -> bool {
    a.st_mtime == b.st_mtime
        && (a.st_mtime_nsec == b.st_mtime_nsec || a.st_mtime_nsec == 0 || b.st_mtime_nsec == 0)
}

/// Drops the init layer's mount points, adds every changed path's parent directories as
/// modified (moby: they must be in a diff to restore their permissions), sorts.
fn finish(mut found: BTreeMap<String, u8>) -> Vec<ContainerChangeResponseItem> {
    for path in INIT_LAYER {
        found.remove(*path);
    }
    for parent in INIT_LAYER_PARENTS {
        let below = format!("{parent}/");
        if found.get(*parent) == Some(&ADDED) && !found.keys().any(|p| p.starts_with(&below)) {
            found.remove(*parent);
        }
    }
    let mut parents: HashMap<String, u8> = HashMap::new();
    for path in found.keys() {
        let mut current = path.as_str();
        while let Some(i) = current.rfind('/') {
            current = &current[..i];
            if current.is_empty() || found.contains_key(current) {
                break;
            }
            parents.insert(current.to_owned(), MODIFIED);
        }
    }
    found.extend(parents);
    found.into_iter().map(|(path, kind)| ContainerChangeResponseItem { kind, path }).collect()
}

/// Disk usage of `dir` as containerd's snapshot `Usage` counts it (what dockerd reports as
/// `SizeRw`): allocated blocks × 512 of every inode below it, each hard-linked inode once,
/// symlinks not followed. Unreadable parts are skipped (logged); a missing directory is 0.
/// Blocking: call it from `spawn_blocking`.
pub(crate) fn size(dir: &Path) -> u64 {
    let top = match at::open_dir(dir) {
        Ok(top) => top,
        Err(err) => {
            if !at::is_missing(&err) {
                tracing::warn!(dir = %dir.display(), error = %err, "cannot measure a directory");
            }
            return 0;
        }
    };
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let mut total = 0u64;
    let mut count = |st: &FileStat| {
        if seen.insert((st.st_dev, st.st_ino)) {
            total += u64::try_from(st.st_blocks).unwrap_or(0) * 512;
        }
    };
    if let Ok(st) = at::stat_fd(&top) {
        count(&st);
    }
    let mut stack = vec![top];
    while let Some(current) = stack.pop() {
        let names = match at::list(&current) {
            Ok(names) => names,
            Err(err) => {
                tracing::debug!(error = %err, "cannot list a directory for its size");
                continue;
            }
        };
        for name in names {
            // Anything gone since the listing no longer takes space.
            let Ok(fd) = at::open_child(&current, &name, OFlag::O_PATH) else { continue };
            let Ok(st) = at::stat_fd(&fd) else { continue };
            count(&st);
            if at::is_dir(&st) {
                stack.push(fd);
            }
        }
    }
    total
}
