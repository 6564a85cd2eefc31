//! The load body spooled to a temporary file (gzip undone on the way), and an index of the tar
//! entries in it, so that files can be read in any order. The file is removed when the
//! [`Spool`] is dropped, on every path.

use std::collections::HashMap;
use std::io::{self, SeekFrom};
use std::path::{Path, PathBuf};

use async_compression::tokio::bufread::GzipDecoder;
use berth_api::{Error, Result};
use berth_backend::ByteStream;
use futures_util::TryStreamExt;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader,
};
use tokio_util::io::StreamReader;

/// Most bytes of a JSON file (manifest, config, index) read into memory.
const MAX_JSON: u64 = 64 << 20;
/// Most symlinks followed to find a file.
const MAX_HOPS: usize = 16;

/// A spooled archive; removes its file when dropped.
pub(super) struct Spool {
    file: TempPath,
    entries: HashMap<String, Item>,
}

/// What the archive holds at a path.
#[derive(Debug, Clone)]
enum Item {
    File {
        offset: u64,
        size: u64,
    },
    Dir,
    /// A symlink or hard link, with its target as an archive path (`None`: it leaves the archive).
    Link(Option<String>),
}

/// Removes the file when dropped.
struct TempPath(PathBuf);

impl Drop for TempPath {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_file(&self.0)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "cannot remove load spool file");
        }
    }
}

impl Spool {
    /// Reads the whole body into a temporary file and indexes it.
    pub(super) async fn new(body: ByteStream) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("berth-load-{}.tar", uuid::Uuid::new_v4()));
        let file = TempPath(path.clone());
        copy_body(body, &path).await?;
        let entries = tokio::task::spawn_blocking(move || index(&path))
            .await
            .map_err(|e| Error::system("archive index task failed").with_source(e))??;
        Ok(Self { file, entries })
    }

    /// Whether a regular file (possibly behind links) exists at `name`.
    pub(super) fn has_file(&self, name: &str) -> bool {
        self.locate(name).is_ok()
    }

    /// Where a regular file's bytes are: `(offset, size)`.
    pub(super) fn locate(&self, name: &str) -> Result<(u64, u64)> {
        let missing = || Error::invalid(format!("invalid archive: {name} is missing"));
        let mut current = normalize(name).ok().flatten().ok_or_else(missing)?;
        for _ in 0..MAX_HOPS {
            match self.entries.get(&current) {
                Some(Item::File { offset, size }) => return Ok((*offset, *size)),
                Some(Item::Link(Some(target))) => current = target.clone(),
                Some(Item::Link(None)) => {
                    return Err(Error::invalid(format!(
                        "invalid archive: {name} links outside the archive"
                    )));
                }
                Some(Item::Dir) | None => return Err(missing()),
            }
        }
        Err(Error::invalid(format!("invalid archive: too many levels of links at {name}")))
    }

    /// A whole small file (JSON documents).
    pub(super) async fn read(&self, name: &str) -> Result<Vec<u8>> {
        let (_, size) = self.locate(name)?;
        if size > MAX_JSON {
            return Err(Error::invalid(format!(
                "invalid archive: {name} is too large ({size} bytes)"
            )));
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.open(name).await?.read_to_end(&mut out).await.map_err(|e| spool_error(&e))?;
        Ok(out)
    }

    /// A reader of a file's bytes.
    pub(super) async fn open(
        &self,
        name: &str,
    ) -> Result<impl AsyncBufRead + Send + Unpin + use<>> {
        let (offset, size) = self.locate(name)?;
        let mut file = tokio::fs::File::open(&self.file.0).await.map_err(|e| spool_error(&e))?;
        file.seek(SeekFrom::Start(offset)).await.map_err(|e| spool_error(&e))?;
        Ok(BufReader::new(file.take(size)))
    }

    /// The first bytes of a file (to sniff compression).
    pub(super) async fn head(&self, name: &str) -> Result<Vec<u8>> {
        let mut reader = self.open(name).await?.take(8);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).await.map_err(|e| spool_error(&e))?;
        Ok(out)
    }
}

fn spool_error(e: &io::Error) -> Error {
    Error::system(format!("cannot read the spooled archive: {e}"))
}

/// Copies the body into `path`, undoing gzip; other compressions are refused by name.
async fn copy_body(body: ByteStream, path: &Path) -> Result<()> {
    let reader = StreamReader::new(body.map_err(|e| io::Error::other(e.message().to_owned())));
    let mut reader = BufReader::new(reader);
    let head = reader.fill_buf().await.map_err(|e| read_error(&e))?;
    let compression = match head {
        [0x1f, 0x8b, ..] => Some("gzip"),
        [b'B', b'Z', b'h', ..] => Some("bzip2"),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Some("xz"),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Some("zstd"),
        _ => None,
    };
    let mut file = tokio::fs::File::create(path)
        .await
        .map_err(|e| Error::system(format!("cannot create {}", path.display())).with_source(e))?;
    match compression {
        None => tokio::io::copy(&mut reader, &mut file).await,
        Some("gzip") => {
            let mut decoder = GzipDecoder::new(reader);
            decoder.multiple_members(true);
            tokio::io::copy(&mut decoder, &mut file).await
        }
        Some(other) => {
            return Err(Error::invalid(format!(
                "{other}-compressed archives are not supported; use a plain or gzip tarball"
            )));
        }
    }
    .map_err(|e| copy_error(e, path))?;
    file.flush().await.map_err(|e| copy_error(e, path))?;
    Ok(())
}

/// A copy into the spool that failed: the file system's fault (it carries an OS error: a full
/// disk) is a 500 worded as Go words it; anything else is the archive's or the client's (400).
fn copy_error(e: io::Error, path: &Path) -> Error {
    if e.raw_os_error().is_some() {
        crate::persist::io_error(&format!("cannot spool the archive to {}", path.display()), e)
    } else {
        read_error(&e)
    }
}

fn read_error(e: &io::Error) -> Error {
    Error::invalid(format!("cannot read the archive: {e}"))
}

/// Lists the entries of the tar at `path`, refusing paths that climb out of it and entries that
/// run past its end (a truncated upload).
fn index(path: &Path) -> Result<HashMap<String, Item>> {
    let bad = |e: io::Error| Error::invalid(format!("invalid tar archive: {e}"));
    let file = std::fs::File::open(path).map_err(|e| spool_error(&e))?;
    let len = file.metadata().map_err(|e| spool_error(&e))?.len();
    // Headers are read under a budget: a hostile long name or PAX record of gigabytes would
    // otherwise be read into memory whole.
    let (file, budget) = crate::tar_budget::Budgeted::new(file);
    let mut archive = tar::Archive::new(file);
    let mut entries = HashMap::new();
    let mut end = 0u64;
    let mut found = archive.entries_with_seek().map_err(bad)?;
    while let Some(entry) = budget.next(|| found.next()) {
        let entry = entry.map_err(bad)?;
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = normalize(&raw)?;
        let offset = entry.raw_file_position();
        // The size the reader uses: a PAX `size` record overrides the header's field.
        let size = entry.size();
        end = offset.saturating_add(size);
        if end > len {
            return Err(Error::invalid(format!(
                "invalid tar archive: unexpected EOF: {raw} is cut short (truncated upload?)"
            )));
        }
        let Some(name) = name else { continue };
        let kind = entry.header().entry_type();
        let item = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => Item::File { offset, size },
            tar::EntryType::Directory => Item::Dir,
            tar::EntryType::Symlink | tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|b| String::from_utf8_lossy(&b).into_owned())
                    .unwrap_or_default();
                let joined = if kind == tar::EntryType::Symlink && !target.starts_with('/') {
                    match name.rsplit_once('/') {
                        Some((dir, _)) => format!("{dir}/{target}"),
                        None => target,
                    }
                } else {
                    target
                };
                Item::Link(resolve_dots(&joined))
            }
            _ => continue,
        };
        entries.insert(name, item);
    }
    // A header block cut short is caught by the reader; a cut inside the padding is not.
    if end > 0 && len < end.div_ceil(512).saturating_mul(512) {
        return Err(Error::invalid("invalid tar archive: unexpected EOF (truncated upload?)"));
    }
    Ok(entries)
}

/// An entry's path inside the archive (`./a/b/` → `a/b`); `None` for the root itself. A `..`
/// component is refused: nothing in an image archive needs one, and it could reach outside.
fn normalize(raw: &str) -> Result<Option<String>> {
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(Error::invalid(format!(
                    "invalid archive: entry {raw} points outside the archive (path traversal)"
                )));
            }
            p => parts.push(p),
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("/")))
}

/// A link target with `..` resolved; `None` when it climbs above the archive's root.
fn resolve_dots(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_normalize_and_refuse_traversal() {
        assert_eq!(normalize("./a/b/").expect("ok").as_deref(), Some("a/b"));
        assert_eq!(normalize("./").expect("ok"), None);
        assert!(normalize("../x").is_err());
        assert!(normalize("a/../../x").is_err());
        assert_eq!(resolve_dots("a/../b/layer.tar").as_deref(), Some("b/layer.tar"));
        assert_eq!(resolve_dots("a/../../b"), None);
    }

    /// Found while writing the `image_load` fuzz target: a header size near `u64::MAX` under a
    /// PAX `size` record overflowed the index's arithmetic (a panic in a debug build, a wrapped
    /// offset in a release one). The PAX size is the entry's size, as the reader has it.
    #[tokio::test]
    async fn a_pax_size_overrides_a_huge_header_size() {
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_pax_extensions([("size", &b"5"[..])]).expect("pax");
        let mut header = tar::Header::new_ustar();
        header.set_path("manifest.json").expect("path");
        header.set_size(u64::MAX - 100);
        header.set_mode(0o644);
        header.set_cksum();
        let mut raw = builder.get_ref().clone();
        raw.extend_from_slice(header.as_bytes());
        raw.extend_from_slice(b"[]\n\n\n");
        raw.resize(raw.len().div_ceil(512) * 512 + 1024, 0);
        let body = futures_util::stream::iter([Ok(bytes::Bytes::from(raw))]);
        let spool =
            Spool::new(futures_util::StreamExt::boxed(body)).await.expect("a valid archive");
        assert_eq!(spool.read("manifest.json").await.expect("readable"), b"[]\n\n\n");
    }

    /// The `tar` crate reads a GNU long name into memory whole: over the header budget, the
    /// archive is refused instead.
    #[tokio::test]
    async fn a_gigantic_long_name_is_refused_not_read_whole() {
        let name = "d/".repeat(3 << 20) + "f";
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_mode(0o644);
        builder.append_data(&mut header, &name, &b"x"[..]).expect("long name");
        let raw = builder.into_inner().expect("tar");
        assert!(raw.len() > 6 << 20, "{}", raw.len());
        let body = futures_util::stream::iter([Ok(bytes::Bytes::from(raw))]);
        let err = Spool::new(futures_util::StreamExt::boxed(body))
            .await
            .map(|_| ())
            .expect_err("refused");
        assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{err}");
        assert!(err.message().contains("the headers of an entry exceed 4 MiB"), "{err}");
    }
}
