//! `PUT /containers/{name}/archive` (`docker cp` in): extracting a tar into a container.
//!
//! Every entry is created relative to the extraction directory as if that directory were `/`,
//! as moby's `Unpack` does (an `os.Root` on it): `..` and absolute names, symlinks planted in
//! the container or earlier in the same archive (`x -> /` then `x/etc/passwd`), hard-link
//! targets, all stay below it. The kernel enforces it (`openat2` with `RESOLVE_IN_ROOT` for
//! each entry's parent, then one name relative to that descriptor, never following a final
//! symlink), so a running container racing the extraction cannot redirect a write either. No
//! code of the container runs (no chroot helper, no NSS look-up inside it: CVE-2019-14271).
//!
//! Decisions:
//! - names climbing above the extraction point (`../x`, `a/../../x`) fail the whole request
//!   with 400 `invalid entry name`, hard links to such targets with 400 `invalid hardlink
//!   target`; absolute names and hard-link targets are taken relative to it (as moby; dockerd
//!   answers these with 500, Berth with 400 as for any bad input);
//! - a write through a relative link that climbs out of the extraction point lands inside it,
//!   where moby refuses it ("path escapes from parent"); both keep it below the extraction
//!   point;
//! - an archive that cannot be read (malformed, truncated, or whose headers for one entry
//!   exceed 4 MiB, a memory bound Go's reader has too) is a 400; so are entries the kernel
//!   refuses for their name (too long, a parent that is not a directory, a link loop);
//! - device nodes, FIFOs and set-user-ID bits are created as the archive says, as dockerd does
//!   as root (it skips devices only inside a user namespace);
//! - ownership is the archive's, or the container user's with `copyUIDGID` (see [`archive_put`]);
//! - PAX `SCHILY.xattr.*` records are not applied (no xattr support yet) and logged.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::pin::Pin;

use async_compression::tokio::bufread::GzipDecoder;
use berth_api::{Error, Result};
use berth_backend::ByteStream;
use bytes::{Bytes, BytesMut};
use futures_util::{StreamExt, TryStreamExt};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag};
use nix::sys::stat::{Mode, SFlag, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{Gid, Uid, UnlinkatFlags};
use tar::EntryType;
use tokio::io::{AsyncRead, BufReader};
use tokio::sync::mpsc;
use tokio_util::io::{ReaderStream, StreamReader};

use super::at;
use super::dirs::create_dirs;
use super::paths::{archive_path, clean_abs, clean_entry_name, split_parent, symlink_climbs_out};
use super::stat::open_root;
use crate::tar_budget::Budgeted;

/// The longest entry name shown in an error message.
const SHOWN_MAX: usize = 256;

/// Extracts the tar `body` into the directory `path` of the container whose root filesystem is
/// mounted at `root`, as dockerd's `containerExtractToDir`.
///
/// `path` is made absolute and resolved with every symlink followed (the last one too: `docker
/// cp` into a symlink to a directory works). 404 `Could not find the file <path> in container
/// <container>` when it does not exist; 400 `extraction point is not a directory`.
///
/// The body may be plain or gzip-compressed (detected by its magic bytes, as moby's
/// `DecompressStream`); bzip2, xz and zstd are refused with 400. An empty body extracts nothing.
///
/// `no_overwrite_dir_non_dir`: fail (500, as dockerd) rather than replace a directory with a
/// non-directory or the reverse. Ownership as dockerd: entries keep the archive's uid/gid,
/// except with `copy_uid_gid` on a container that has a `User`, whose uid and primary gid (as
/// the container's `/etc/passwd` resolves them) the caller passes as `container_user` (`None`
/// when the container has no `User`): then every entry gets that owner.
///
/// A read-only root filesystem is the caller's 403 to give before calling.
pub(crate) async fn archive_put(
    root: &Path,
    path: &str,
    container: &str,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
    container_user: Option<(u32, u32)>,
    body: ByteStream,
) -> Result<()> {
    let owner = if copy_uid_gid { container_user } else { None };
    let (root, shown, container) = (root.to_owned(), path.to_owned(), container.to_owned());
    let (dest, dest_name) =
        tokio::task::spawn_blocking(move || open_dest(&root, &shown, &container))
            .await
            .map_err(|err| Error::system(format!("extract task failed: {err}")))??;

    let (head, body) = sniff(body).await?;
    let reader: Pin<Box<dyn AsyncRead + Send>> = match compression(&head) {
        None => Box::pin(StreamReader::new(body)),
        Some("gzip") => {
            let mut decoder = GzipDecoder::new(BufReader::new(StreamReader::new(body)));
            decoder.multiple_members(true);
            Box::pin(decoder)
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "{other}-compressed archives are not supported; send a plain or gzip tar"
            )));
        }
    };

    let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
    let options = Options { no_overwrite_dir_non_dir, owner, dest_name };
    let worker = tokio::task::spawn_blocking(move || {
        extract(&dest, ChannelReader { rx, current: Bytes::new() }, &options)
    });
    let mut chunks = ReaderStream::new(reader);
    while let Some(chunk) = chunks.next().await {
        // The extractor stops reading at the end-of-archive marker or on an error; the rest of
        // the body is not needed then.
        if tx.send(chunk).await.is_err() {
            break;
        }
    }
    drop(tx);
    worker.await.map_err(|err| Error::system(format!("extract task failed: {err}")))?
}

/// What [`extract`] needs besides the archive.
struct Options {
    no_overwrite_dir_non_dir: bool,
    owner: Option<(u32, u32)>,
    /// The extraction point as dockerd names it in errors.
    dest_name: String,
}

/// Resolves the extraction point: every symlink followed inside the root, must be a directory.
fn open_dest(root: &Path, path: &str, container: &str) -> Result<(OwnedFd, String)> {
    let root_fd = open_root(root)?;
    let abs = archive_path(path);
    let fd = at::open_in(&root_fd, abs.as_str(), OFlag::O_PATH).map_err(|err| {
        if err.kind() == io::ErrorKind::NotFound {
            Error::not_found(format!("Could not find the file {path} in container {container}"))
        } else {
            Error::system(format!("lstat {abs}: {err}")).with_source(err)
        }
    })?;
    let st = at::stat_fd(&fd)
        .map_err(|err| Error::system(format!("lstat {abs}: {err}")).with_source(err))?;
    if !at::is_dir(&st) {
        return Err(Error::invalid("extraction point is not a directory"));
    }
    Ok((fd, clean_abs(path)))
}

/// Reads until at least six bytes are known (enough for every magic number) or the body ends;
/// gives them back with a stream that replays them.
async fn sniff(
    mut body: ByteStream,
) -> Result<(Bytes, impl futures_core::Stream<Item = io::Result<Bytes>> + Send + 'static)> {
    let mut head = BytesMut::new();
    while head.len() < 6 {
        match body.next().await {
            Some(chunk) => head.extend_from_slice(&chunk?),
            None => break,
        }
    }
    let head = head.freeze();
    let replay = futures_util::stream::iter([Ok::<_, Error>(head.clone())]).chain(body);
    Ok((head, replay.map_err(|err| io::Error::other(err.message().to_owned()))))
}

/// moby's `DetectCompression`.
fn compression(head: &[u8]) -> Option<&'static str> {
    match head {
        [0x1f, 0x8b, 0x08, ..] => Some("gzip"),
        [b'B', b'Z', b'h', ..] => Some("bzip2"),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some("xz"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd"),
        _ => None,
    }
}

/// A blocking reader over the chunks the async side forwards.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk?,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// A directory whose times are set once everything below it is written.
struct DirTimes {
    name: Vec<u8>,
    atime: TimeSpec,
    mtime: TimeSpec,
}

/// Extracts `archive` below `dest` (moby's `Unpack`).
fn extract(dest: &OwnedFd, archive: impl Read, options: &Options) -> Result<()> {
    let (archive, budget) = Budgeted::new(archive);
    let mut archive = tar::Archive::new(archive);
    let mut dirs: Vec<DirTimes> = Vec::new();
    let mut entries = archive.entries().map_err(|err| read_error(&err))?;
    loop {
        // Only what the `tar` crate reads to find the next entry counts: headers, long names,
        // PAX records, padding. Entry data is read (or drained) below.
        let next = budget.next(|| entries.next());
        let Some(entry) = next else { break };
        let mut entry = entry.map_err(|err| read_error(&err))?;
        extract_entry(dest, &mut entry, options, &mut dirs)?;
        // What the entry did not use (a directory or link with data, a skipped entry), so that
        // the next look-up only reads headers.
        io::copy(&mut entry, &mut io::sink()).map_err(|err| read_error(&err))?;
    }
    // Directory times last: creating entries inside them changed their mtime.
    for dir in dirs.iter().rev() {
        let (parent, base) = split_parent(&dir.name);
        let set = at::open_in(dest, at::os(parent), OFlag::O_PATH | OFlag::O_DIRECTORY).and_then(
            |parent| {
                nix::sys::stat::utimensat(
                    &parent,
                    at::os(base),
                    &dir.atime,
                    &dir.mtime,
                    UtimensatFlags::NoFollowSymlink,
                )
                .map_err(io::Error::from)
            },
        );
        if let Err(err) = set {
            let shown = shown(&dir.name);
            return Err(Error::system(format!("cannot set the times of {shown}: {err}")));
        }
    }
    Ok(())
}

/// Extracts one entry; a directory is added to `dirs` (its times are set at the end).
fn extract_entry<R: Read>(
    dest: &OwnedFd,
    entry: &mut tar::Entry<'_, R>,
    options: &Options,
    dirs: &mut Vec<DirTimes>,
) -> Result<()> {
    let kind = entry.header().entry_type();
    if kind == EntryType::XGlobalHeader {
        return Ok(());
    }
    let raw = entry.path_bytes().into_owned();
    let name = match clean_entry_name(&raw) {
        Ok(Some(name)) => name,
        Ok(None) => return Ok(()),
        Err(()) => return Err(Error::invalid(format!("invalid entry name {}", shown(&raw)))),
    };
    let meta = Meta::read(entry).map_err(|err| read_error(&err))?;
    // dockerd names the entry by its cleaned name from here on.
    let shown = shown(&name);
    let created = create(dest, &name, &shown, kind, entry, &meta, options)
        .map_err(|err| err.into_api(&shown))?;
    if created {
        dirs.push(DirTimes { name, atime: meta.atime, mtime: meta.mtime });
    }
    Ok(())
}

/// An archive that cannot be read: malformed, truncated, or the body failed. 400, as for any
/// other bad input (dockerd passes Go's `archive/tar` error on as a 500).
fn read_error(err: &io::Error) -> Error {
    Error::invalid(format!("cannot read the archive: {err}"))
}

/// An entry name (or link target) for a message: quoted, cut to [`SHOWN_MAX`] bytes.
fn shown(name: &[u8]) -> String {
    if name.len() <= SHOWN_MAX {
        return format!("{:?}", String::from_utf8_lossy(name));
    }
    let cut = String::from_utf8_lossy(&name[..SHOWN_MAX]);
    format!("{cut:?}… ({} bytes)", name.len())
}

/// Why one entry failed.
enum EntryError {
    Io(io::Error),
    /// The archive's fault, named by dockerd's message (400).
    Invalid(String),
    /// A refusal dockerd answers with 500 (`noOverwriteDirNonDir`).
    Message(String),
}

impl EntryError {
    fn into_api(self, shown: &str) -> Error {
        match self {
            EntryError::Io(err) => {
                let message = format!("cannot extract {shown}: {err}");
                // What the archive asks for and cannot be: a name too long, a parent that is
                // not a directory, a link loop, a NUL in a name. Anything else is the host's.
                let invalid = matches!(
                    err.raw_os_error(),
                    Some(
                        nix::libc::ENAMETOOLONG
                            | nix::libc::ENOTDIR
                            | nix::libc::ELOOP
                            | nix::libc::EINVAL
                    )
                );
                if invalid {
                    Error::invalid(message).with_source(err)
                } else {
                    Error::system(message).with_source(err)
                }
            }
            EntryError::Invalid(message) => Error::invalid(message),
            EntryError::Message(message) => Error::system(message),
        }
    }
}

impl From<io::Error> for EntryError {
    fn from(err: io::Error) -> Self {
        EntryError::Io(err)
    }
}

impl From<Errno> for EntryError {
    fn from(err: Errno) -> Self {
        EntryError::Io(io::Error::from(err))
    }
}

/// The metadata of an entry, PAX records applied over the header.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    atime: TimeSpec,
    mtime: TimeSpec,
    link: Option<Vec<u8>>,
    device: (u64, u64),
}

impl Meta {
    fn read<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<Self> {
        let header = entry.header();
        let old = header.as_old();
        let mut uid = numeric(header.uid(), &old.uid)?;
        let mut gid = numeric(header.gid(), &old.gid)?;
        let mtime = numeric(header.mtime(), &old.mtime)?;
        let mut mtime = TimeSpec::new(i64::try_from(mtime).unwrap_or(i64::MAX), 0);
        let mut atime = None;
        let kind = header.entry_type();
        let device = if matches!(kind, EntryType::Char | EntryType::Block) {
            (
                u64::from(header.device_major()?.unwrap_or(0)),
                u64::from(header.device_minor()?.unwrap_or(0)),
            )
        } else {
            (0, 0)
        };
        let mode = (numeric(header.mode().map(u64::from), &old.mode)? & 0o7777) as u32;
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        if let Some(records) = entry.pax_extensions()? {
            for record in records {
                let record = record?;
                let value = record.value().unwrap_or_default();
                match record.key().unwrap_or_default() {
                    "uid" => uid = value.parse().map_err(|_| bad_pax("uid", value))?,
                    "gid" => gid = value.parse().map_err(|_| bad_pax("gid", value))?,
                    "mtime" => mtime = pax_time(value).ok_or_else(|| bad_pax("mtime", value))?,
                    "atime" => atime = pax_time(value),
                    key if key.starts_with("SCHILY.xattr.") => {
                        tracing::debug!(key, "extended attribute in archive not applied");
                    }
                    _ => {}
                }
            }
        }
        let id = |v: u64| u32::try_from(v).map_err(|_| io::Error::other("owner id out of range"));
        // moby: access time is the later of atime and mtime; times before 1970 become 1970.
        let mtime = bound(mtime);
        let atime = atime.map(bound).filter(|a| *a > mtime).unwrap_or(mtime);
        Ok(Meta { mode, uid: id(uid)?, gid: id(gid)?, atime, mtime, link, device })
    }
}

/// A numeric header field; an empty one (NULs or spaces) is 0, as Go's reader has it.
fn numeric(parsed: io::Result<u64>, raw: &[u8]) -> io::Result<u64> {
    match parsed {
        Ok(value) => Ok(value),
        Err(_) if raw.iter().all(|b| *b == 0 || *b == b' ') => Ok(0),
        Err(err) => Err(err),
    }
}

fn bad_pax(key: &str, value: &str) -> io::Error {
    io::Error::other(format!("invalid PAX {key} record {value:?}"))
}

/// A PAX time: decimal seconds with an optional fraction.
fn pax_time(value: &str) -> Option<TimeSpec> {
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let nanos = if digits.is_empty() { 0 } else { format!("{digits:0<9}").parse().ok()? };
    Some(TimeSpec::new(secs, nanos))
}

fn bound(t: TimeSpec) -> TimeSpec {
    if t.tv_sec() < 0 { TimeSpec::new(0, 0) } else { t }
}

/// Creates one entry. `Ok(true)` for a directory (its times are set at the end).
fn create<R: Read>(
    dest: &OwnedFd,
    name: &[u8],
    name_shown: &str,
    kind: EntryType,
    entry: &mut tar::Entry<'_, R>,
    meta: &Meta,
    options: &Options,
) -> std::result::Result<bool, EntryError> {
    if kind == EntryType::Symlink {
        let target = meta.link.as_deref().unwrap_or_default();
        if symlink_climbs_out(name, target) {
            return Err(EntryError::Invalid(format!(
                "invalid symlink {name_shown} -> {}",
                shown(target)
            )));
        }
    }
    let (parent_name, base) = split_parent(name);
    let base = at::os(base);
    let parent = create_dirs(dest, parent_name, None)?;

    // The hard link's target first: it may not be this very name. Absolute targets are taken
    // from the extraction point, as moby does; climbing above it is refused.
    let link_target = if kind == EntryType::Link {
        let target = meta.link.as_deref().unwrap_or_default();
        let invalid = || EntryError::Invalid(format!("invalid hardlink target {}", shown(target)));
        let cleaned = clean_entry_name(target).map_err(|()| invalid())?.ok_or_else(invalid)?;
        let (target_parent, target_base) = split_parent(&cleaned);
        let missing = || {
            EntryError::Invalid(format!(
                "cannot extract {name_shown}: hardlink target {} does not exist",
                shown(target)
            ))
        };
        let dir = match at::open_in(dest, at::os(target_parent), OFlag::O_PATH | OFlag::O_DIRECTORY)
        {
            Ok(dir) => dir,
            Err(err) if at::is_missing(&err) => return Err(missing()),
            Err(err) => return Err(err.into()),
        };
        match nix::sys::stat::fstatat(&dir, at::os(target_base), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if at::is_dir(&st) => {
                return Err(EntryError::Invalid(format!(
                    "cannot extract {name_shown}: hardlink target {} is a directory",
                    shown(target)
                )));
            }
            Ok(_) => {}
            Err(Errno::ENOENT | Errno::ENOTDIR) => return Err(missing()),
            Err(err) => return Err(err.into()),
        }
        Some((dir, at::os(target_base).to_owned()))
    } else {
        None
    };

    let entry_is_dir = kind == EntryType::Directory;
    let mut merge_dir = false;
    match nix::sys::stat::fstatat(&parent, base, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(existing) => {
            let existing_is_dir = at::is_dir(&existing);
            if options.no_overwrite_dir_non_dir && existing_is_dir && !entry_is_dir {
                return Err(EntryError::Message(format!(
                    "cannot overwrite directory {name_shown} with non-directory {:?}",
                    options.dest_name
                )));
            }
            if options.no_overwrite_dir_non_dir && !existing_is_dir && entry_is_dir {
                return Err(EntryError::Message(format!(
                    "cannot overwrite non-directory {name_shown} with directory {:?}",
                    options.dest_name
                )));
            }
            if existing_is_dir && entry_is_dir {
                merge_dir = true;
            } else {
                remove_all(&parent, base)?;
            }
        }
        Err(Errno::ENOENT) => {}
        Err(err) => return Err(err.into()),
    }

    let perm = Mode::from_bits_truncate(meta.mode & 0o777);
    let mut file = None;
    match kind {
        EntryType::Directory => {
            if !merge_dir {
                nix::sys::stat::mkdirat(&parent, base, perm)?;
            }
        }
        EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
            let fd = nix::fcntl::openat(
                &parent,
                base,
                OFlag::O_WRONLY
                    | OFlag::O_CREAT
                    | OFlag::O_EXCL
                    | OFlag::O_NOFOLLOW
                    | OFlag::O_CLOEXEC,
                perm,
            )?;
            let mut out = std::fs::File::from(fd);
            io::copy(entry, &mut out)?;
            file = Some(out);
        }
        EntryType::Symlink => {
            let target = meta.link.as_deref().unwrap_or_default();
            nix::unistd::symlinkat(at::os(target), &parent, base)?;
        }
        EntryType::Link => {
            if let Some((dir, target)) = &link_target {
                nix::unistd::linkat(dir, target.as_os_str(), &parent, base, AtFlags::empty())?;
            }
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            let node = match kind {
                EntryType::Char => SFlag::S_IFCHR,
                EntryType::Block => SFlag::S_IFBLK,
                _ => SFlag::S_IFIFO,
            };
            let dev = nix::sys::stat::makedev(meta.device.0, meta.device.1);
            nix::sys::stat::mknodat(&parent, base, node, perm, dev)?;
        }
        other => {
            return Err(EntryError::Message(format!(
                "unhandled tar header type {}",
                other.as_byte()
            )));
        }
    }

    // Owner first: chown clears the set-user-ID and set-group-ID bits the mode may carry.
    let (uid, gid) = options.owner.unwrap_or((meta.uid, meta.gid));
    let exact = std::fs::Permissions::from_mode(meta.mode);
    if let Some(file) = file {
        // The file just written, by its descriptor: its name may have been swapped since.
        std::os::unix::fs::fchown(&file, Some(uid), Some(gid))?;
        file.set_permissions(exact)?;
        nix::sys::stat::futimens(&file, &meta.atime, &meta.mtime)?;
        return Ok(false);
    }
    nix::unistd::fchownat(
        &parent,
        base,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::AT_SYMLINK_NOFOLLOW,
    )?;
    // No chmod through a symlink: there is no lchmod, and it would change the target.
    if kind != EntryType::Symlink {
        let fd = at::open_child(&parent, base, OFlag::O_PATH)?;
        if at::file_type(&at::stat_fd(&fd)?) != SFlag::S_IFLNK {
            std::fs::set_permissions(at::proc_path(&fd), exact)?;
        }
    }
    if kind == EntryType::Directory {
        return Ok(true);
    }
    nix::sys::stat::utimensat(
        &parent,
        base,
        &meta.atime,
        &meta.mtime,
        UtimensatFlags::NoFollowSymlink,
    )?;
    Ok(false)
}

/// Removes `name` in `dir` and, for a directory, everything below it, never following a symlink.
fn remove_all(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    let st = nix::sys::stat::fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if !at::is_dir(&st) {
        return nix::unistd::unlinkat(dir, name, UnlinkatFlags::NoRemoveDir).map_err(Into::into);
    }
    /// A directory being emptied: its descriptor, the names left, its name in its parent.
    struct Level {
        fd: OwnedFd,
        names: std::vec::IntoIter<OsString>,
        name: OsString,
    }
    let top = at::open_child(dir, name, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
    let names = at::list(&top)?.into_iter();
    let mut stack = vec![Level { fd: top, names, name: name.to_owned() }];
    while let Some(level) = stack.last_mut() {
        if let Some(child) = level.names.next() {
            let st = nix::sys::stat::fstatat(
                &level.fd,
                child.as_os_str(),
                AtFlags::AT_SYMLINK_NOFOLLOW,
            )?;
            if at::is_dir(&st) {
                let fd = at::open_child(&level.fd, &child, OFlag::O_RDONLY | OFlag::O_DIRECTORY)?;
                let names = at::list(&fd)?.into_iter();
                stack.push(Level { fd, names, name: child });
            } else {
                nix::unistd::unlinkat(&level.fd, child.as_os_str(), UnlinkatFlags::NoRemoveDir)?;
            }
            continue;
        }
        let Some(done) = stack.pop() else { break };
        let parent = stack.last().map_or(dir.as_fd(), |level| level.fd.as_fd());
        nix::unistd::unlinkat(parent, done.name.as_os_str(), UnlinkatFlags::RemoveDir)?;
    }
    Ok(())
}
