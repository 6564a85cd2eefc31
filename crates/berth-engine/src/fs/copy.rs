//! Copy-up: the image's files at a volume's mount point copied into the new, empty volume, as
//! dockerd does when a container first gets a volume (`copyExistingContents`).
//!
//! The source is a container's root filesystem, which the image controls: the mount point is
//! resolved with `openat2(RESOLVE_IN_ROOT)` (symlinks on the way stay inside the root), and every
//! entry below it is opened relative to its directory's descriptor without following it, so a
//! symlink is copied as a symlink and never read through. The destination is written the same
//! way (one name at a time, `O_EXCL`/`O_NOFOLLOW`), since another container may already use the
//! volume.
//!
//! Copied: directories, regular files, symlinks, FIFOs and device nodes, with owner, mode and
//! times. Not copied: sockets, extended attributes; hard links become separate files.

use std::ffi::OsString;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use berth_api::{Error, Result};
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{FileStat, Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid};

use super::at;

/// Copies the directory `path` of the root filesystem mounted at `root` into `dest` (a volume's
/// `_data`), if `path` is a directory and `dest` is empty; otherwise does nothing. `dest` gets
/// the owner and mode of `path`, as with dockerd. Blocking.
pub(crate) fn copy_up(root: &Path, path: &str, dest: &Path) -> Result<()> {
    let failed = |err: io::Error| {
        Error::system(format!("cannot copy {path} of the image into {}: {err}", dest.display()))
    };
    let root_fd = at::open_dir(root).map_err(failed)?;
    let source = match at::open_in(&root_fd, path, OFlag::O_RDONLY | OFlag::O_DIRECTORY) {
        Ok(fd) => fd,
        // Nothing there, or not a directory: nothing to copy.
        Err(err) if at::is_missing(&err) => return Ok(()),
        Err(err) => return Err(failed(err)),
    };
    // The volume's own directory: a trusted host path.
    let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC;
    let target = nix::fcntl::open(dest, flags, Mode::empty()).map_err(|e| failed(e.into()))?;
    if !at::list(&target).map_err(failed)?.is_empty() {
        return Ok(());
    }
    copy_tree(source, target).map_err(failed)
}

/// A directory being copied: both descriptors, the names left, and the source's times to set on
/// the copy once its entries are in.
struct Level {
    source: OwnedFd,
    target: OwnedFd,
    names: std::vec::IntoIter<OsString>,
    times: (TimeSpec, TimeSpec),
}

fn copy_tree(source: OwnedFd, target: OwnedFd) -> io::Result<()> {
    let st = at::stat_fd(&source)?;
    set_owner_mode(&target, &st)?;
    let names = at::list(&source)?.into_iter();
    let mut stack = vec![Level { source, target, names, times: times(&st) }];
    while let Some(level) = stack.last_mut() {
        let Some(name) = level.names.next() else {
            let done = stack.pop().expect("the loop saw a last level");
            nix::sys::stat::futimens(&done.target, &done.times.0, &done.times.1)?;
            continue;
        };
        let (src, dst) = (&level.source, &level.target);
        let st = nix::sys::stat::fstatat(src, name.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW)?;
        let perm = Mode::from_bits_truncate(st.st_mode & 0o777);
        match at::file_type(&st) {
            SFlag::S_IFDIR => {
                nix::sys::stat::mkdirat(dst, name.as_os_str(), perm)?;
                let source = at::open_child(src, &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                let target = at::open_child(dst, &name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                set_owner_mode(&target, &st)?;
                let names = at::list(&source)?.into_iter();
                stack.push(Level { source, target, names, times: times(&st) });
            }
            SFlag::S_IFREG => {
                // Something else swapped in since the stat (a FIFO would block the open, a
                // device never end) is not copied.
                let from = at::open_child(src, &name, OFlag::O_RDONLY | OFlag::O_NONBLOCK)?;
                if at::file_type(&at::stat_fd(&from)?) != SFlag::S_IFREG {
                    tracing::debug!(name = ?name, "not copying a file replaced while copying");
                    continue;
                }
                let mut from = std::fs::File::from(from);
                let flags = OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW;
                let to = nix::fcntl::openat(dst, name.as_os_str(), flags | OFlag::O_CLOEXEC, perm)?;
                let mut to = std::fs::File::from(to);
                io::copy(&mut from, &mut to)?;
                set_owner_mode(&to, &st)?;
                let (atime, mtime) = times(&st);
                nix::sys::stat::futimens(&to, &atime, &mtime)?;
            }
            SFlag::S_IFLNK => {
                let link = nix::fcntl::readlinkat(src, name.as_os_str())?;
                nix::unistd::symlinkat(link.as_os_str(), dst, name.as_os_str())?;
                set_link_owner_times(dst, &name, &st)?;
            }
            kind @ (SFlag::S_IFIFO | SFlag::S_IFCHR | SFlag::S_IFBLK) => {
                nix::sys::stat::mknodat(dst, name.as_os_str(), kind, perm, st.st_rdev)?;
                set_link_owner_times(dst, &name, &st)?;
                // By descriptor, never through the name (a symlink may sit there by now).
                let node = at::open_child(dst, &name, OFlag::O_PATH)?;
                if at::file_type(&at::stat_fd(&node)?) == kind {
                    let exact = std::fs::Permissions::from_mode(st.st_mode & 0o7777);
                    std::fs::set_permissions(at::proc_path(&node), exact)?;
                }
            }
            _ => tracing::debug!(name = ?name, "not copying a socket into a volume"),
        }
    }
    Ok(())
}

fn times(st: &FileStat) -> (TimeSpec, TimeSpec) {
    (TimeSpec::new(st.st_atime, st.st_atime_nsec), TimeSpec::new(st.st_mtime, st.st_mtime_nsec))
}

/// Owner first: chown clears the set-user-ID and set-group-ID bits the mode may carry.
fn set_owner_mode(fd: &impl std::os::fd::AsFd, st: &FileStat) -> io::Result<()> {
    let file = fd.as_fd();
    std::os::unix::fs::fchown(file, Some(st.st_uid), Some(st.st_gid))?;
    nix::sys::stat::fchmod(file, Mode::from_bits_truncate(st.st_mode & 0o7777))?;
    Ok(())
}

/// The owner and times of `name` in `dir` itself (a symlink is not followed).
fn set_link_owner_times(dir: &OwnedFd, name: &OsString, st: &FileStat) -> io::Result<()> {
    nix::unistd::fchownat(
        dir,
        name.as_os_str(),
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    let (atime, mtime) = times(st);
    nix::sys::stat::utimensat(
        dir,
        name.as_os_str(),
        &atime,
        &mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, symlink};

    use super::*;

    #[test]
    fn copies_the_tree_without_leaving_the_root() {
        let root = tempfile::tempdir().expect("root");
        let data = root.path().join("srv/data");
        std::fs::create_dir_all(data.join("sub")).expect("dirs");
        std::fs::write(data.join("sub/file"), "content").expect("file");
        std::fs::set_permissions(data.join("sub/file"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        std::os::unix::fs::chown(&data, Some(1234), Some(5678)).expect("chown");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o750)).expect("chmod");
        // Links pointing out of the root are copied as links, not followed.
        symlink("/etc/passwd", data.join("abs")).expect("symlink");
        symlink("../../../../../etc", data.join("up")).expect("symlink");
        nix::unistd::mkfifo(&data.join("fifo"), Mode::from_bits_truncate(0o600)).expect("fifo");
        // The mount point itself reached through a symlink inside the root.
        symlink("/srv/data", root.path().join("link")).expect("symlink");

        let volume = tempfile::tempdir().expect("volume");
        let dest = volume.path().join("_data");
        std::fs::create_dir(&dest).expect("_data");
        copy_up(root.path(), "/link", &dest).expect("copy");

        assert_eq!(std::fs::read_to_string(dest.join("sub/file")).expect("read"), "content");
        let file = std::fs::metadata(dest.join("sub/file")).expect("stat");
        assert_eq!(file.mode() & 0o7777, 0o640);
        let top = std::fs::metadata(&dest).expect("stat");
        assert_eq!((top.uid(), top.gid(), top.mode() & 0o7777), (1234, 5678, 0o750));
        assert_eq!(std::fs::read_link(dest.join("abs")).expect("link"), Path::new("/etc/passwd"));
        assert_eq!(
            std::fs::read_link(dest.join("up")).expect("link"),
            Path::new("../../../../../etc")
        );
        let fifo = std::fs::symlink_metadata(dest.join("fifo")).expect("fifo");
        assert_eq!(fifo.mode() & (SFlag::S_IFMT.bits()), SFlag::S_IFIFO.bits());
    }

    #[test]
    fn a_non_empty_volume_or_a_missing_path_is_left_alone() {
        let root = tempfile::tempdir().expect("root");
        std::fs::create_dir(root.path().join("data")).expect("dir");
        std::fs::write(root.path().join("data/new"), "image").expect("file");
        std::fs::write(root.path().join("file"), "not a dir").expect("file");
        let volume = tempfile::tempdir().expect("volume");
        std::fs::write(volume.path().join("old"), "kept").expect("file");

        copy_up(root.path(), "/data", volume.path()).expect("skip");
        assert!(!volume.path().join("new").exists(), "no copy into a non-empty volume");
        let empty = tempfile::tempdir().expect("empty");
        copy_up(root.path(), "/missing", empty.path()).expect("missing");
        copy_up(root.path(), "/file", empty.path()).expect("not a directory");
        assert_eq!(std::fs::read_dir(empty.path()).expect("list").count(), 0);
    }
}
