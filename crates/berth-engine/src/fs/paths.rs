//! Container paths as dockerd reads them (Go's `path/filepath` rules), and a resolver that
//! follows symlinks the way the container would see them.

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use berth_api::{Error, Result};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::SFlag;

use super::at;

/// How many symlinks one resolution may follow, as moby's `FollowSymlinkInScope`.
const MAX_LINKS: usize = 255;

/// Go's `filepath.Join("/", path)`: the path made absolute and cleaned lexically (`.` dropped,
/// `..` eats the previous element and cannot climb above `/`, repeated slashes collapsed).
pub(super) fn clean_abs(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            part => parts.push(part),
        }
    }
    format!("/{}", parts.join("/"))
}

/// Go's `filepath.Base`: the last element, trailing slashes ignored; `/` for the root and `.` for
/// an empty path.
pub(super) fn go_base(path: &str) -> &str {
    if path.is_empty() {
        return ".";
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/";
    }
    match trimmed.rfind('/') {
        Some(i) => &trimmed[i + 1..],
        None => trimmed,
    }
}

/// Whether `path` names "the current directory" (its last element is `.`), which `docker cp`
/// uses to mean "the contents of this directory".
fn specifies_current_dir(path: &str) -> bool {
    go_base(path) == "."
}

/// moby's `PreserveTrailingDotOrSeparator`: gives the cleaned path back the trailing `/.` or `/`
/// that cleaning took away, because both change what `docker cp` does.
pub(super) fn preserve_trailing(cleaned: &str, original: &str) -> String {
    let mut out = cleaned.to_owned();
    if !specifies_current_dir(&out) && specifies_current_dir(original) {
        if !out.ends_with('/') {
            out.push('/');
        }
        out.push('.');
    }
    if !out.ends_with('/') && original.ends_with('/') {
        out.push('/');
    }
    out
}

/// The absolute, cleaned form of a path from the archive API (`path=`), trailing `/` or `/.`
/// kept: what dockerd's archive routes work on.
pub(super) fn archive_path(path: &str) -> String {
    preserve_trailing(&clean_abs(path), path)
}

/// Resolves `path` inside `root` as a process chrooted into `root` would: every symlink on the
/// way is followed with absolute targets taken relative to `root`, `..` never climbs above
/// `root`, and the last element is followed only if `follow_last` is set or the path ends with
/// `/` or `/.`. Missing elements are kept as they are (the result may not exist). The result is
/// always `root` joined with a path free of `..`.
///
/// Like moby's `FollowSymlinkInScope`, but walked with descriptors (see [`resolve_at`]): no
/// path-based syscall ever sees a container path, so a link swapped in meanwhile cannot make the
/// walk read the host. A running container can still change its filesystem between this call
/// and a later use of the result, so the result is information only, never a path to hand to a
/// path-based file operation (`std::fs::create_dir_all`, `chown`, `read`): those must go through
/// `openat2` with `RESOLVE_IN_ROOT`, which the kernel resolves the same way atomically (see
/// [`super::create_dir_in_root`]). More than 255 links is an error, as is any failure other than
/// a missing element.
#[cfg_attr(not(test), expect(dead_code, reason = "the tests check the walk through it"))]
pub(super) fn resolve_in_root(root: &Path, path: &str, follow_last: bool) -> Result<PathBuf> {
    let follow_last = follow_last || path.ends_with('/') || specifies_current_dir(path);
    let resolved = at::open_dir(root)
        .and_then(|root_fd| resolve_at(root_fd.as_fd(), path.as_bytes(), follow_last))
        .map_err(|err| resolve_error(path, err))?;
    let mut out = root.to_path_buf();
    out.extend(resolved);
    Ok(out)
}

/// The error of a failed resolution: too many links, or whatever the walk met.
pub(super) fn resolve_error(path: &str, err: io::Error) -> Error {
    match err.raw_os_error() {
        Some(code) if code == nix::libc::ELOOP => {
            Error::system(format!("too many symbolic links in {path}"))
        }
        _ => Error::system(format!("cannot resolve {path}: {err}")).with_source(err),
    }
}

/// [`resolve_in_root`] below the directory `root` (a descriptor), on bytes, with the raw I/O
/// error: the elements of the resolved path relative to `root`, free of `.`, `..` and links
/// (except those past a missing element, kept as written).
///
/// Each element is looked up with `fstatat`/`readlinkat` relative to the descriptor of the
/// directory before it, opened without following links (`O_NOFOLLOW`), so the walk never
/// leaves `root` even while the tree changes under it; a directory swapped for a link between
/// the look-up and the open is an error (`ELOOP` or `ENOTDIR`).
pub(super) fn resolve_at(
    root: BorrowedFd<'_>,
    path: &[u8],
    follow_last: bool,
) -> io::Result<Vec<OsString>> {
    // Elements still to walk, the next one last; link targets are pushed on top.
    let mut pending: Vec<OsString> = Vec::new();
    push_elements(&mut pending, path);
    // Each resolved element with the descriptor of the directory it names; `None` once the walk
    // is past something missing or not a directory (nothing below it can be looked up).
    let mut resolved: Vec<(OsString, Option<OwnedFd>)> = Vec::new();
    let mut links = 0usize;
    while let Some(element) = pending.pop() {
        if element.as_bytes() == b".." {
            resolved.pop();
            continue;
        }
        if pending.is_empty() && !follow_last {
            resolved.push((element, None));
            continue;
        }
        let dir = match resolved.last() {
            None => root,
            Some((_, Some(fd))) => fd.as_fd(),
            Some((_, None)) => {
                resolved.push((element, None));
                continue;
            }
        };
        let st =
            match nix::sys::stat::fstatat(dir, element.as_os_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                // What does not exist (or sits below a non-directory) is kept as written: the
                // caller's own operation reports it.
                Err(Errno::ENOENT | Errno::ENOTDIR) => {
                    resolved.push((element, None));
                    continue;
                }
                Err(err) => return Err(err.into()),
            };
        match at::file_type(&st) {
            SFlag::S_IFLNK => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(io::Error::from_raw_os_error(nix::libc::ELOOP));
                }
                let target = nix::fcntl::readlinkat(dir, element.as_os_str())?;
                let target = target.as_bytes();
                if target.starts_with(b"/") {
                    resolved.clear();
                }
                push_elements(&mut pending, target);
            }
            SFlag::S_IFDIR => {
                let fd = at::open_child(dir, &element, OFlag::O_PATH | OFlag::O_DIRECTORY)?;
                resolved.push((element, Some(fd)));
            }
            _ => resolved.push((element, None)),
        }
    }
    Ok(resolved.into_iter().map(|(element, _)| element).collect())
}

/// Pushes the elements of `path` so that the first ends on top; empty and `.` elements are
/// dropped (a trailing `/.` is the caller's business: it decides `follow_last`).
fn push_elements(pending: &mut Vec<OsString>, path: &[u8]) {
    let elements: Vec<&[u8]> =
        path.split(|b| *b == b'/').filter(|e| !e.is_empty() && *e != b".").collect();
    for element in elements.into_iter().rev() {
        pending.push(OsStr::from_bytes(element).to_owned());
    }
}

/// Splits a cleaned relative entry name (no `.`/`..`/empty elements) into its parent and its
/// last element; the parent is `.` for a top-level name.
pub(super) fn split_parent(name: &[u8]) -> (&[u8], &[u8]) {
    match name.iter().rposition(|b| *b == b'/') {
        Some(i) => (&name[..i], &name[i + 1..]),
        None => (b".", name),
    }
}

/// Whether a symlink at `name` (cleaned, relative to the extraction point) pointing at `target`
/// climbs above the extraction point, read lexically as moby's `createTarFile` reads it: the
/// target joined to the link's directory, an absolute target included (`/../x` climbs too).
/// dockerd refuses such an archive; what it would reach is never looked at.
pub(super) fn symlink_climbs_out(name: &[u8], target: &[u8]) -> bool {
    let (parent, _) = split_parent(name);
    let mut depth = parent.split(|b| *b == b'/').filter(|p| !p.is_empty() && *p != b".").count();
    for part in target.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if depth == 0 => return true,
            b".." => depth -= 1,
            _ => depth += 1,
        }
    }
    false
}

/// Cleans a name from a tar archive the way moby's `Unpack` does: leading slashes dropped, `.`
/// and empty elements removed, `..` applied lexically. `Ok(None)` for the extraction point
/// itself; an error when the name climbs out of it.
pub(super) fn clean_entry_name(name: &[u8]) -> std::result::Result<Option<Vec<u8>>, ()> {
    let mut parts: Vec<&[u8]> = Vec::new();
    for part in name.split(|b| *b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => {
                if parts.pop().is_none() {
                    return Err(());
                }
            }
            part => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    Ok(Some(parts.join(&b'/')))
}
