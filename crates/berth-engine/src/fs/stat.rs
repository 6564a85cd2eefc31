//! `HEAD /containers/{name}/archive`: the `PathStat` of a path in a container.

use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_api::container::PathStat;
use berth_api::{Error, Result};
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, SFlag};

use super::at;
use super::paths::{go_base, resolve_at, resolve_error};

/// Go's `os.FileMode` type and special bits (`io/fs`).
mod go {
    pub(super) const DIR: u32 = 1 << 31;
    pub(super) const SYMLINK: u32 = 1 << 27;
    pub(super) const DEVICE: u32 = 1 << 26;
    pub(super) const NAMED_PIPE: u32 = 1 << 25;
    pub(super) const SOCKET: u32 = 1 << 24;
    pub(super) const SETUID: u32 = 1 << 23;
    pub(super) const SETGID: u32 = 1 << 22;
    pub(super) const CHAR_DEVICE: u32 = 1 << 21;
    pub(super) const STICKY: u32 = 1 << 20;
}

/// A Unix `st_mode` as Go's `os.FileMode`: permission bits, then Go's own type and special bits
/// (a 0755 directory is `2147484141`).
pub(super) fn go_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    let kind = SFlag::from_bits_truncate(st_mode & SFlag::S_IFMT.bits());
    mode |= match kind {
        SFlag::S_IFDIR => go::DIR,
        SFlag::S_IFLNK => go::SYMLINK,
        SFlag::S_IFBLK => go::DEVICE,
        SFlag::S_IFCHR => go::DEVICE | go::CHAR_DEVICE,
        SFlag::S_IFIFO => go::NAMED_PIPE,
        SFlag::S_IFSOCK => go::SOCKET,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        mode |= go::SETUID;
    }
    if st_mode & 0o2000 != 0 {
        mode |= go::SETGID;
    }
    if st_mode & 0o1000 != 0 {
        mode |= go::STICKY;
    }
    mode
}

/// A time as Go's `time.Time` marshals to JSON (`RFC3339Nano`: fraction without trailing zeros,
/// none at all on a whole second), in UTC.
pub(super) fn rfc3339_nano(secs: i64, nanos: i64) -> String {
    let nanos = nanos.clamp(0, 999_999_999);
    let whole = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    match time::OffsetDateTime::from_unix_timestamp_nanos(whole) {
        Ok(t) => crate::timefmt::go(t),
        Err(_) => "0001-01-01T00:00:00Z".to_owned(),
    }
}

/// Stats `path` in the container whose root filesystem is mounted at `root`, as dockerd's
/// `containerStatPath`: `lstat` of `path` seen from inside the container (symlinks on the way
/// followed within the root; the last one only with a trailing `/` or `/.`). A relative path is
/// taken from `/`, as dockerd's view starts there; dockerd does not reject it.
///
/// 404 `Could not find the file <path> in container <container>` when it does not exist.
pub(crate) async fn stat(root: &Path, path: &str, container: &str) -> Result<PathStat> {
    let (root, path, container) = (root.to_owned(), path.to_owned(), container.to_owned());
    tokio::task::spawn_blocking(move || {
        let root_fd = open_root(&root)?;
        let (_, _, stat) = stat_path(&root_fd, &path, &path, &container)?;
        Ok(stat)
    })
    .await
    .map_err(|err| Error::system(format!("stat task failed: {err}")))?
}

/// Opens a container root; 500 when it is gone (the caller mounted it, so that is a bug).
pub(super) fn open_root(root: &Path) -> Result<OwnedFd> {
    at::open_dir(root).map_err(|err| {
        Error::system(format!("cannot open the container filesystem {}: {err}", root.display()))
            .with_source(err)
    })
}

/// Opens `lookup` (an `O_PATH` descriptor on the object itself, a final symlink not followed)
/// and builds its `PathStat`, named after `lookup`. `shown` is the path as the client wrote it,
/// for the 404.
pub(super) fn stat_path(
    root_fd: &OwnedFd,
    lookup: &str,
    shown: &str,
    container: &str,
) -> Result<(OwnedFd, FileStat, PathStat)> {
    let not_found =
        || Error::not_found(format!("Could not find the file {shown} in container {container}"));
    let fd = at::open_in(root_fd, lookup, OFlag::O_PATH | OFlag::O_NOFOLLOW).map_err(|err| {
        if err.kind() == io::ErrorKind::NotFound { not_found() } else { lstat_error(lookup, err) }
    })?;
    let st = at::stat_fd(&fd).map_err(|err| lstat_error(lookup, err))?;
    let link_target = if at::file_type(&st) == SFlag::S_IFLNK {
        let resolved = resolve_at(root_fd.as_fd(), lookup.as_bytes(), true)
            .map_err(|err| resolve_error(lookup, err))?;
        container_path(&resolved)
    } else {
        String::new()
    };
    let stat = path_stat(go_base(lookup), &st, link_target);
    Ok((fd, st, stat))
}

/// dockerd answers 500 with the `lstat` error for anything but a missing file (a trailing `/`
/// on a file, a symlink loop).
fn lstat_error(path: &str, err: io::Error) -> Error {
    let why = match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_lowercase(),
        None => err.to_string(),
    };
    Error::system(format!("lstat {path}: {why}")).with_source(err)
}

/// The container path of resolved elements: `/` + the elements joined.
fn container_path(elements: &[OsString]) -> String {
    let mut out = String::new();
    for element in elements {
        out.push('/');
        out.push_str(&element.to_string_lossy());
    }
    if out.is_empty() { "/".to_owned() } else { out }
}

/// The `PathStat` of `st`.
pub(super) fn path_stat(name: &str, st: &FileStat, link_target: String) -> PathStat {
    PathStat {
        name: name.to_owned(),
        size: st.st_size,
        mode: go_mode(st.st_mode),
        mtime: rfc3339_nano(st.st_mtime, st.st_mtime_nsec),
        link_target,
    }
}
