//! File-descriptor based access below a root that the container controls.
//!
//! A container may be running while Berth reads or writes its filesystem, and may swap any
//! directory for a symlink at any moment (the `docker cp` race, CVE-2018-15664). So no path
//! inside the container is ever handed to a path-based syscall: a directory is opened with
//! `openat2(RESOLVE_IN_ROOT)`, which the kernel resolves as if the root were `/`, and everything
//! else happens relative to that descriptor with a single name and without following a final
//! symlink. Requires Linux 5.6.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::NixPath;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag, openat2};
use nix::sys::stat::{FileStat, Mode, SFlag};

/// How often `openat2` is retried when the kernel reports a concurrent rename (`EAGAIN`).
const RETRIES: usize = 32;

/// Opens a trusted host directory (a root or a layer) as an `O_PATH` descriptor.
pub(super) fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    nix::fcntl::open(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(io::Error::from)
}

/// Opens `path` below `root` with `flags`, resolving it with `root` as `/` (absolute symlinks and
/// `..` stay inside). `path` may be absolute; an empty path means `root` itself.
pub(super) fn open_in<P: ?Sized + NixPath>(
    root: impl AsFd,
    path: &P,
    flags: OFlag,
) -> io::Result<OwnedFd> {
    resolve_open(root, path, flags, ResolveFlag::RESOLVE_IN_ROOT)
}

/// Like [`open_in`] but refuses to follow any symlink on the way (`ELOOP`); with `O_NOFOLLOW`
/// a final symlink is opened itself. For walking two trees in parallel, as `docker diff` does.
pub(super) fn open_no_symlinks<P: ?Sized + NixPath>(
    root: impl AsFd,
    path: &P,
    flags: OFlag,
) -> io::Result<OwnedFd> {
    resolve_open(root, path, flags, ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_SYMLINKS)
}

fn resolve_open<P: ?Sized + NixPath>(
    root: impl AsFd,
    path: &P,
    flags: OFlag,
    resolve: ResolveFlag,
) -> io::Result<OwnedFd> {
    let how = OpenHow::new()
        .flags(flags | OFlag::O_CLOEXEC)
        .resolve(resolve | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let root = root.as_fd();
    let empty = path.is_empty();
    for _ in 0..RETRIES {
        let result = if empty { openat2(root, ".", how) } else { openat2(root, path, how) };
        match result {
            Err(Errno::EAGAIN) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
    Err(io::Error::from(Errno::EAGAIN))
}

/// Opens `name` (one element) in `dir` without following it when it is a symlink.
pub(super) fn open_child(dir: impl AsFd, name: &OsStr, flags: OFlag) -> io::Result<OwnedFd> {
    nix::fcntl::openat(dir, name, flags | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC, Mode::empty())
        .map_err(io::Error::from)
}

/// `fstat`.
pub(super) fn stat_fd(fd: impl AsFd) -> io::Result<FileStat> {
    nix::sys::stat::fstat(fd).map_err(io::Error::from)
}

/// `/proc/self/fd/N`: a path the kernel resolves to exactly the object `fd` refers to, to reopen
/// an `O_PATH` descriptor for reading, list a directory, or `chmod` without following a symlink
/// the container may have planted since.
pub(super) fn proc_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// The names in the directory `dir`, sorted bytewise (Go's `os.ReadDir` order).
pub(super) fn list(dir: &impl AsRawFd) -> io::Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(proc_path(dir))? {
        names.push(entry?.file_name());
    }
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(names)
}

/// The file type bits of a stat.
pub(super) fn file_type(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Whether `st` is a directory.
pub(super) fn is_dir(st: &FileStat) -> bool {
    file_type(st) == SFlag::S_IFDIR
}

/// Whether `st` is an overlayfs whiteout (a character device 0/0).
pub(super) fn is_whiteout(st: &FileStat) -> bool {
    file_type(st) == SFlag::S_IFCHR && st.st_rdev == 0
}

/// A byte slice as an `OsStr` (names from tar archives and directories).
pub(super) fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// Whether `err` is "does not exist" in the wide sense: missing, or below a non-directory.
pub(super) fn is_missing(err: &io::Error) -> bool {
    err.kind() == io::ErrorKind::NotFound || err.raw_os_error() == Some(nix::libc::ENOTDIR)
}
