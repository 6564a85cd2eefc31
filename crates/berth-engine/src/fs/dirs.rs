//! `mkdir -p` inside a root the container controls: for archive entries whose parents are
//! missing, mount points, and working directories.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use super::at;
use super::paths::resolve_at;

/// Mode of the directories created on the way (moby's `ImpliedDirectoryMode`, and what dockerd
/// gives a missing working directory).
pub(super) const DIR_MODE: u32 = 0o755;

/// Opens the directory `path` of the tree at `root` (a trusted host directory) as the container
/// sees it, creating what is missing; see [`create_dirs`]. For a working directory (`owner` the
/// container user's, as dockerd's `MkdirAllAndChownNew`) or a mount point (`owner` `None`).
pub(crate) fn create_dir_in_root(
    root: &Path,
    path: &str,
    owner: Option<(u32, u32)>,
) -> io::Result<OwnedFd> {
    let root = at::open_dir(root)?;
    create_dirs(&root, path.as_bytes(), owner)
}

/// Opens the directory `path` below `base`, resolved with `base` as `/` (every link followed,
/// none leading out), creating the missing directories with mode 0755 exactly (whatever the
/// umask) and, with `owner`, that owner; existing directories are left as they are. As moby, a
/// dangling symlink on the way leads to where it points, inside `base`, and the missing
/// directories are created there. Returns an `O_PATH` descriptor of the directory.
///
/// Every step is relative to a descriptor: a directory created here is reopened without
/// following links before its mode and owner are set, and the next step resolves again with
/// `RESOLVE_IN_ROOT`, so a link swapped in meanwhile can only lead elsewhere inside `base`.
pub(super) fn create_dirs(
    base: &OwnedFd,
    path: &[u8],
    owner: Option<(u32, u32)>,
) -> io::Result<OwnedFd> {
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY;
    match at::open_in(base, at::os(path), flags) {
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        other => return other,
    }
    // Where the links that exist lead, missing elements kept.
    let elements = resolve_at(base.as_fd(), path, true)?;
    let mut dir = base.try_clone()?;
    let mut prefix = PathBuf::new();
    for element in &elements {
        prefix.push(element);
        match at::open_in(base, &prefix, flags) {
            Ok(next) => {
                dir = next;
                continue;
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        match nix::sys::stat::mkdirat(&dir, element.as_os_str(), Mode::from_bits_truncate(DIR_MODE))
        {
            Ok(()) => {
                // Not through the name: something may have replaced it since.
                let created = at::open_child(&dir, element, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::fchown(&created, Some(uid), Some(gid))?;
                }
                nix::sys::stat::fchmod(&created, Mode::from_bits_truncate(DIR_MODE))?;
            }
            // Created meanwhile, or a link: the look-up below decides.
            Err(Errno::EEXIST) => {}
            Err(err) => return Err(err.into()),
        }
        dir = at::open_in(base, &prefix, flags)?;
    }
    Ok(dir)
}
