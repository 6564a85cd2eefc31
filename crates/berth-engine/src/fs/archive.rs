//! Tar streams of a container's files: `GET /containers/{name}/archive` (`docker cp` out) and
//! `GET /containers/{name}/export`.
//!
//! The tar is written by a blocking task into a small channel, so memory stays bounded whatever
//! the size of the tree, and the task stops as soon as the receiver is dropped. Entries come in
//! the order of Go's `filepath.WalkDir` (depth first, names sorted bytewise), named as moby's
//! `Tarballer` names them. Per-file failures (a file removed while walking, a socket) are logged
//! and skipped, as dockerd does; the tar stays well formed (a file that shrinks is padded).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use berth_api::container::PathStat;
use berth_api::{Error, Result};
use berth_backend::ByteStream;
use bytes::Bytes;
use futures_util::StreamExt;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, SFlag};
use tar::{EntryType, Header};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::at;
use super::paths::{archive_path, go_base};
use super::stat::{open_root, stat_path};

/// Bytes gathered before a chunk goes on the channel.
const CHUNK: usize = 64 * 1024;
/// Chunks in flight between the tar task and the client.
const CHANNEL: usize = 8;
/// The longest name a tar header holds; longer ones get a GNU long-name entry first.
const NAME_FIELD: usize = 100;

/// `GET /containers/{name}/archive?path=`: the stat of `path` and a tar stream of it, as dockerd's
/// `containerArchivePath` builds them.
///
/// `path` is cleaned as an absolute path; symlinks on the way are followed inside `root`, the
/// last one only when the path ends with `/` or `/.`. The entries are relative and start with the
/// base name of `path`: `/etc/hostname` gives `hostname`, `/etc` gives `etc/`, `etc/passwd`, …,
/// `/etc/.` gives `./`, `./passwd`, … (what `docker cp ctr:/etc/. dest` extracts as "contents
/// only"), and `/` gives `/`, `/bin/`, … exactly like dockerd. A symlink not followed is archived
/// as the link itself.
///
/// `guard` is dropped when the stream ends or is dropped: pass the [`super::TempMount`] that
/// keeps `root` mounted for a stopped container (or `()`).
///
/// Errors as [`super::stat()`]: 404 `Could not find the file <path> in container <container>`.
pub(crate) async fn archive_get<G: Send + 'static>(
    root: &Path,
    path: &str,
    container: &str,
    guard: G,
) -> Result<(PathStat, ByteStream)> {
    let (root, path, container) = (root.to_owned(), path.to_owned(), container.to_owned());
    let (stat, source) = tokio::task::spawn_blocking(move || {
        let root_fd = open_root(&root)?;
        let abs = archive_path(&path);
        let (fd, st, stat) = stat_path(&root_fd, &abs, &path, &container)?;
        let base = go_base(&abs);
        let source = if at::is_dir(&st) {
            // moby rebases the walk root "." to the base name; for "/" that is the empty
            // string, so the root entry is "/" and every other name starts with "/".
            let prefix = if base == "/" { String::new() } else { base.to_owned() };
            Source::Dir { fd, st: Box::new(st), prefix }
        } else {
            Source::Single { fd, st: Box::new(st), name: base.to_owned() }
        };
        Ok::<_, Error>((stat, source))
    })
    .await
    .map_err(|err| Error::system(format!("archive task failed: {err}")))??;
    let stream = spawn_tar(move |tar| {
        let _guard = guard;
        match source {
            Source::Dir { fd, st, prefix } => {
                let mut root_name = prefix.into_bytes();
                root_name.push(b'/');
                tar.append_stat(&fd, &root_name, &st)?;
                tar.walk(fd, root_name)
            }
            Source::Single { fd, st, name } => tar.append_stat(&fd, name.as_bytes(), &st),
        }
    });
    Ok((stat, stream))
}

/// `GET /containers/{name}/export`: the whole root filesystem at `root` as a tar stream, as
/// dockerd's `docker export`: every entry relative (`bin/`, `bin/sh`, …, no entry for the root
/// itself), in walk order. `guard` as in [`archive_get`].
pub(crate) async fn export<G: Send + 'static>(root: &Path, guard: G) -> Result<ByteStream> {
    let root = root.to_owned();
    let fd = tokio::task::spawn_blocking(move || open_root(&root))
        .await
        .map_err(|err| Error::system(format!("export task failed: {err}")))??;
    Ok(spawn_tar(move |tar| {
        let _guard = guard;
        tar.walk(fd, Vec::new())
    }))
}

/// What `archive_get` archives: a directory tree, or one entry of another type.
enum Source {
    Dir { fd: OwnedFd, st: Box<FileStat>, prefix: String },
    Single { fd: OwnedFd, st: Box<FileStat>, name: String },
}

/// Runs `write` on a blocking thread with a tar writer whose output becomes the returned stream.
fn spawn_tar<F>(write: F) -> ByteStream
where
    F: FnOnce(&mut TarWriter) -> io::Result<()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(CHANNEL);
    tokio::task::spawn_blocking(move || {
        let mut tar = TarWriter::new(ChannelWriter { tx: tx.clone(), buf: Vec::new() });
        let result = write(&mut tar).and_then(|()| tar.finish());
        if let Err(err) = result {
            if err.kind() == io::ErrorKind::BrokenPipe {
                tracing::debug!("archive reader went away; stopped writing");
            } else {
                tracing::warn!(error = %err, "writing a container archive failed");
                // The receiver may be gone too; then nobody needs the error.
                let _ = tx.blocking_send(Err(Error::system(format!("archive failed: {err}"))));
            }
        }
    });
    ReceiverStream::new(rx).boxed()
}

/// Collects tar bytes into chunks and sends them; `BrokenPipe` once the receiver is gone.
struct ChannelWriter {
    tx: mpsc::Sender<Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "archive reader went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

/// A tar writer that names entries byte for byte as dockerd does (the `tar` crate's path
/// setters would drop a leading `./` that `docker cp` relies on) and links hard links.
struct TarWriter {
    builder: tar::Builder<ChannelWriter>,
    /// First archive name of every multiply-linked inode written so far.
    seen: HashMap<(u64, u64), Vec<u8>>,
}

impl TarWriter {
    fn new(sink: ChannelWriter) -> Self {
        Self { builder: tar::Builder::new(sink), seen: HashMap::new() }
    }

    /// Writes the end-of-archive marker and flushes the last chunk.
    fn finish(&mut self) -> io::Result<()> {
        self.builder.finish()?;
        self.builder.get_mut().flush()
    }

    /// Writes the tree below the directory `dir`, each name prefixed with `prefix` (empty, or
    /// ending with `/`). Depth first, names sorted, with an explicit stack so a deep tree cannot
    /// exhaust the thread's stack.
    fn walk(&mut self, dir: OwnedFd, prefix: Vec<u8>) -> io::Result<()> {
        let names = at::list(&dir)?;
        let mut stack = vec![Level { dir, prefix, names: names.into_iter() }];
        while let Some(level) = stack.last_mut() {
            let Some(name) = level.names.next() else {
                stack.pop();
                continue;
            };
            let mut archive_name = level.prefix.clone();
            archive_name.extend_from_slice(name.as_bytes());
            let child = match at::open_child(&level.dir, &name, OFlag::O_PATH) {
                Ok(fd) => fd,
                Err(err) => {
                    skip(&archive_name, &err);
                    continue;
                }
            };
            let st = match at::stat_fd(&child) {
                Ok(st) => st,
                Err(err) => {
                    skip(&archive_name, &err);
                    continue;
                }
            };
            if at::is_dir(&st) {
                archive_name.push(b'/');
                self.append_stat(&child, &archive_name, &st)?;
                match at::list(&child) {
                    Ok(names) => stack.push(Level {
                        dir: child,
                        prefix: archive_name,
                        names: names.into_iter(),
                    }),
                    Err(err) => skip(&archive_name, &err),
                }
            } else {
                self.append_stat(&child, &archive_name, &st)?;
            }
        }
        Ok(())
    }

    /// Appends the object behind the `O_PATH` descriptor `fd` as `name`. Errors only when the
    /// archive cannot be written; an unreadable file is logged and skipped (or padded when its
    /// header is already out).
    fn append_stat(&mut self, fd: &OwnedFd, name: &[u8], st: &FileStat) -> io::Result<()> {
        let mut header = header(st);
        let kind = at::file_type(st);
        match kind {
            SFlag::S_IFDIR => {
                header.set_entry_type(EntryType::Directory);
                self.append(header, name, None, io::empty())
            }
            SFlag::S_IFREG => {
                let key = (st.st_dev, st.st_ino);
                if st.st_nlink > 1 {
                    if let Some(first) = self.seen.get(&key) {
                        let first = first.clone();
                        header.set_entry_type(EntryType::Link);
                        return self.append(header, name, Some(&first), io::empty());
                    }
                    self.seen.insert(key, name.to_vec());
                }
                let file = match std::fs::File::open(at::proc_path(fd)) {
                    Ok(file) => file,
                    Err(err) => {
                        skip(name, &err);
                        return Ok(());
                    }
                };
                let size = u64::try_from(st.st_size).unwrap_or(0);
                header.set_entry_type(EntryType::Regular);
                header.set_size(size);
                self.append(header, name, None, Exact::new(file, size, name))
            }
            SFlag::S_IFLNK => {
                let target = match nix::fcntl::readlinkat(fd, "") {
                    Ok(target) => target,
                    Err(err) => {
                        skip(name, &io::Error::from(err));
                        return Ok(());
                    }
                };
                header.set_entry_type(EntryType::Symlink);
                self.append(header, name, Some(target.as_bytes()), io::empty())
            }
            SFlag::S_IFCHR | SFlag::S_IFBLK => {
                let kind = if kind == SFlag::S_IFCHR { EntryType::Char } else { EntryType::Block };
                header.set_entry_type(kind);
                let (major, minor) =
                    (nix::sys::stat::major(st.st_rdev), nix::sys::stat::minor(st.st_rdev));
                let (Ok(major), Ok(minor)) = (u32::try_from(major), u32::try_from(minor)) else {
                    skip(name, &io::Error::other("device number out of range"));
                    return Ok(());
                };
                header.set_device_major(major)?;
                header.set_device_minor(minor)?;
                self.append(header, name, None, io::empty())
            }
            SFlag::S_IFIFO => {
                header.set_entry_type(EntryType::Fifo);
                self.append(header, name, None, io::empty())
            }
            // Go's tar cannot represent sockets; dockerd logs and skips them.
            _ => {
                skip(name, &io::Error::other("sockets not supported"));
                Ok(())
            }
        }
    }

    /// Appends `header` named `name` (and linking to `link`), with GNU long-name entries first
    /// when a name does not fit.
    fn append(
        &mut self,
        mut header: Header,
        name: &[u8],
        link: Option<&[u8]>,
        data: impl Read,
    ) -> io::Result<()> {
        if name.len() > NAME_FIELD {
            self.append_long(EntryType::GNULongName, name)?;
        }
        let old = header.as_old_mut();
        let n = name.len().min(NAME_FIELD);
        old.name = [0; NAME_FIELD];
        old.name[..n].copy_from_slice(&name[..n]);
        if let Some(link) = link {
            if link.len() > NAME_FIELD {
                self.append_long(EntryType::GNULongLink, link)?;
            }
            let n = link.len().min(NAME_FIELD);
            let old = header.as_old_mut();
            old.linkname = [0; NAME_FIELD];
            old.linkname[..n].copy_from_slice(&link[..n]);
        }
        header.set_cksum();
        self.builder.append(&header, data)
    }

    /// A GNU `././@LongLink` entry carrying the full name (or link target) of the next entry.
    fn append_long(&mut self, kind: EntryType, value: &[u8]) -> io::Result<()> {
        let mut header = Header::new_gnu();
        let marker = b"././@LongLink";
        header.as_old_mut().name[..marker.len()].copy_from_slice(marker);
        header.set_mode(0o644);
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(0);
        header.set_size(value.len() as u64 + 1);
        header.set_entry_type(kind);
        header.set_cksum();
        self.builder.append(&header, value.chain(&[0u8][..]))
    }
}

/// One directory being walked.
struct Level {
    dir: OwnedFd,
    prefix: Vec<u8>,
    names: std::vec::IntoIter<std::ffi::OsString>,
}

/// The header fields moby's `FileInfoHeader` fills: permissions with the special bits, numeric
/// owners (no names), the modification time truncated to seconds.
fn header(st: &FileStat) -> Header {
    let mut header = Header::new_gnu();
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(u64::from(st.st_uid));
    header.set_gid(u64::from(st.st_gid));
    header.set_mtime(u64::try_from(st.st_mtime).unwrap_or(0));
    header.set_size(0);
    // Go writes zeros where the `tar` crate leaves NULs, which its own reader then refuses.
    header.set_device_major(0).expect("a GNU header has device fields");
    header.set_device_minor(0).expect("a GNU header has device fields");
    header
}

fn skip(name: &[u8], err: &io::Error) {
    tracing::debug!(entry = %OsStr::from_bytes(name).to_string_lossy(), error = %err,
        "skipping a file that cannot be archived");
}

/// Reads exactly `left` bytes of a file: a file that shrinks or fails mid-way is padded with
/// zeros, since its header (with the size) is already written.
struct Exact<'a> {
    file: std::fs::File,
    left: u64,
    name: &'a [u8],
    padding: bool,
}

impl<'a> Exact<'a> {
    fn new(file: std::fs::File, left: u64, name: &'a [u8]) -> Self {
        Self { file, left, name, padding: false }
    }
}

impl Read for Exact<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = usize::try_from(self.left).unwrap_or(usize::MAX).min(buf.len());
        if want == 0 {
            return Ok(0);
        }
        let buf = &mut buf[..want];
        if !self.padding {
            match self.file.read(buf) {
                Ok(0) => {
                    skip(self.name, &io::Error::other("file shrank while archiving; padded"));
                    self.padding = true;
                }
                Ok(n) => {
                    self.left -= n as u64;
                    return Ok(n);
                }
                Err(err) if err.kind() == io::ErrorKind::Interrupted => return Err(err),
                Err(err) => {
                    skip(self.name, &err);
                    self.padding = true;
                }
            }
        }
        buf.fill(0);
        self.left -= want as u64;
        Ok(want)
    }
}
