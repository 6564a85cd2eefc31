//! `POST /images/create?fromSrc=`: a root filesystem tarball (plain or gzip) becomes a one-layer
//! image. Everything is written inside a lease, so a failed or abandoned import leaves nothing
//! visible and containerd's GC reclaims what was written.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;

use async_compression::tokio::bufread::GzipDecoder;
use berth_api::Error;
use berth_backend::BoxStream;
use bytes::Bytes;
use containerd_client::types::Descriptor;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio_util::io::{ReaderStream, StreamReader};

use super::{
    MEDIA_OCI_CONFIG, MEDIA_OCI_LAYER_TAR, MEDIA_OCI_MANIFEST, Store, changes, rfc3339_now,
};
use crate::containerd::Containerd;
use crate::content::{self, Written};
use crate::lease::Lease;
use crate::unpack::{self, Layer, SNAPSHOTTER};

/// What to import.
pub(crate) struct ImportRequest {
    /// The tarball.
    pub(crate) body: BoxStream<'static, Result<Bytes, Error>>,
    /// Normalized name to tag the result with, if any.
    pub(crate) name: Option<String>,
    /// Dockerfile instructions for the config.
    pub(crate) changes: Vec<String>,
    /// Commit message (`Comment`); defaults to `Imported from <source>`.
    pub(crate) message: String,
    /// `-` for the request body, else the URL it came from.
    pub(crate) source: String,
}

/// Imports the tarball; returns the new image ID.
pub(crate) async fn import(store: &Store, req: ImportRequest) -> Result<String, Error> {
    // Validate everything cheap before reading the body.
    let mut config_section = Map::new();
    changes::apply(&mut config_section, &req.changes)?;
    let lease = Lease::create(store.conn()).await?;
    let result = import_in(store, &lease, req, config_section).await;
    lease.release().await;
    result
}

async fn import_in(
    store: &Store,
    lease: &Lease,
    req: ImportRequest,
    config_section: Map<String, Value>,
) -> Result<String, Error> {
    let conn = lease.conn();
    let tar = decompressed(req.body).await?;
    // An empty body is an empty layer, as dockerd imports it (its diff ID is the digest of
    // nothing).
    let layer = content::write_stream(conn, tar, None, HashMap::new()).await?;
    let blob = Descriptor {
        media_type: MEDIA_OCI_LAYER_TAR.to_owned(),
        digest: layer.digest.clone(),
        size: layer.size,
        annotations: HashMap::new(),
    };
    // Uncompressed: the blob digest is the diff ID.
    let unpacked =
        unpack::unpack(conn, &[Layer { blob: blob.clone(), diff_id: layer.digest.clone() }])
            .await
            .map_err(|e| match tar_error(e.message()) {
                // The archive's fault, found past its first header by containerd's (Go) reader.
                Some(why) => Error::invalid(format!("import: not a valid tar archive: {why}")),
                // Anything else (disk full, containerd gone) is not the client's.
                None => e,
            })?;
    let (chain, disk_size) = unpacked.first().cloned().unwrap_or_default();

    let created = rfc3339_now()?;
    let message =
        if req.message.is_empty() { format!("Imported from {}", req.source) } else { req.message };
    let config = json!({
        "architecture": crate::go_arch(),
        "comment": message,
        "config": Value::Object(config_section),
        "created": created,
        "history": [{ "created": created, "comment": message }],
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [layer.digest] },
    });
    let parts = ImageParts {
        config: &config,
        layers: std::slice::from_ref(&blob),
        chain: &chain,
        size: disk_size.max(layer.size),
        name: req.name,
    };
    write_image(store, conn, parts).await
}

/// What [`write_image`] writes.
pub(crate) struct ImageParts<'a> {
    /// The image config JSON.
    pub(crate) config: &'a Value,
    /// The layer blobs, bottom first.
    pub(crate) layers: &'a [Descriptor],
    /// The top snapshot's chain ID (empty without layers); the config holds it for GC.
    pub(crate) chain: &'a str,
    /// Bytes the image takes unpacked (the `Size` label).
    pub(crate) size: i64,
    /// Normalized name to give the image; `None` keeps it as dangling.
    pub(crate) name: Option<String>,
}

/// Writes an image's config and OCI manifest with the GC labels that hold its layers and
/// snapshots, then names it. `conn` should carry a lease. Returns the image ID.
pub(crate) async fn write_image(
    store: &Store,
    conn: &Containerd,
    parts: ImageParts<'_>,
) -> Result<String, Error> {
    let config_bytes = Bytes::from(
        serde_json::to_vec(parts.config)
            .map_err(|e| Error::system("encode config").with_source(e))?,
    );
    let mut config_labels = HashMap::new();
    if !parts.chain.is_empty() {
        config_labels
            .insert(format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"), parts.chain.to_owned());
    }
    let config_blob = content::write_bytes(conn, config_bytes, config_labels).await?;

    let layers: Vec<Value> = parts
        .layers
        .iter()
        .map(|l| json!({ "mediaType": l.media_type, "digest": l.digest, "size": l.size }))
        .collect();
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_MANIFEST,
        "config": { "mediaType": MEDIA_OCI_CONFIG, "digest": config_blob.digest, "size": config_blob.size },
        "layers": layers,
    });
    let manifest_bytes = Bytes::from(
        serde_json::to_vec(&manifest)
            .map_err(|e| Error::system("encode manifest").with_source(e))?,
    );
    let mut manifest_labels = HashMap::from([(
        "containerd.io/gc.ref.content.config".to_owned(),
        config_blob.digest.clone(),
    )]);
    for (i, layer) in parts.layers.iter().enumerate() {
        manifest_labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), layer.digest.clone());
    }
    let Written { digest, size } =
        content::write_bytes(conn, manifest_bytes, manifest_labels).await?;
    let target = Descriptor {
        media_type: MEDIA_OCI_MANIFEST.to_owned(),
        digest,
        size,
        annotations: HashMap::new(),
    };

    let labels = HashMap::from([(super::LABEL_SIZE.to_owned(), parts.size.to_string())]);
    let name = match parts.name {
        Some(name) => name,
        None => format!("{}{}", super::DANGLING_PREFIX, config_blob.digest),
    };
    store.set_name(&name, target, labels).await?;
    Ok(config_blob.digest)
}

/// The tar stream: gzip is undone; other compressions are refused by name; what does not start
/// as a tar archive does is refused before anything is stored (see [`check_first_block`]).
pub(crate) async fn decompressed(
    body: BoxStream<'static, Result<Bytes, Error>>,
) -> Result<BoxStream<'static, Result<Bytes, Error>>, Error> {
    let reader = StreamReader::new(body.map_err(|e| io::Error::other(e.message().to_owned())));
    let mut reader = BufReader::new(reader);
    let head = reader.fill_buf().await.map_err(read_error)?;
    let kind = match head {
        [0x1f, 0x8b, ..] => "gzip",
        [b'B', b'Z', b'h', ..] => "bzip2",
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => "xz",
        [0x28, 0xb5, 0x2f, 0xfd, ..] => "zstd",
        _ => "none",
    };
    let mut tar: Pin<Box<dyn AsyncRead + Send>> = match kind {
        "none" => Box::pin(reader),
        "gzip" => Box::pin(GzipDecoder::new(reader)),
        other => {
            return Err(Error::invalid(format!(
                "import: {other}-compressed tarballs are not supported; use a plain or gzip tarball"
            )));
        }
    };
    let mut first = vec![0u8; BLOCK];
    let mut filled = 0;
    while filled < BLOCK {
        match tar.read(&mut first[filled..]).await.map_err(read_error)? {
            0 => break,
            n => filled += n,
        }
    }
    first.truncate(filled);
    check_first_block(&first)?;
    let first = futures_util::stream::iter([Ok(Bytes::from(first))]);
    Ok(first.chain(to_stream(tar)).boxed())
}

/// The size of a tar block (and header).
const BLOCK: usize = 512;

/// Refuses input that Go's `archive/tar` reader (containerd's, and dockerd's) would refuse at
/// its first header, with its words: part of a block (`unexpected EOF`), or a block that is not
/// a header (`archive/tar: invalid tar header`: its checksum field does not match the block's
/// sum, signed or unsigned, counted with the field as spaces). An all-zero block is the end of
/// an empty archive, which dockerd imports as an empty layer. Nothing (a decompressed empty
/// body) is left to the caller.
fn check_first_block(block: &[u8]) -> Result<(), Error> {
    let invalid = |why: &str| Error::invalid(format!("import: not a valid tar archive: {why}"));
    if block.is_empty() || block.iter().all(|b| *b == 0) {
        return Ok(());
    }
    if block.len() < BLOCK {
        return Err(invalid("unexpected EOF"));
    }
    let field = &block[148..156];
    let (mut unsigned, mut signed) = (0u64, 0i64);
    for (i, b) in block.iter().enumerate() {
        let b = if (148..156).contains(&i) { b' ' } else { *b };
        unsigned += u64::from(b);
        signed += i64::from(b as i8);
    }
    // Go's `parseOctal`: spaces and NULs trimmed around, the rest up to a NUL, in octal.
    let trimmed = trim(field);
    let digits = trimmed.split(|b| *b == 0).next().unwrap_or_default();
    let value = if digits.is_empty() {
        Some(0)
    } else {
        std::str::from_utf8(digits).ok().and_then(|d| u64::from_str_radix(d, 8).ok())
    };
    let matches =
        value.is_some_and(|v| v == unsigned || i64::try_from(v).is_ok_and(|v| v == signed));
    if matches { Ok(()) } else { Err(invalid("archive/tar: invalid tar header")) }
}

/// `bytes` without leading and trailing spaces and NULs.
fn trim(bytes: &[u8]) -> &[u8] {
    let keep = |b: &u8| *b != b' ' && *b != 0;
    let start = bytes.iter().position(keep).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(keep).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The part of an apply error that says the archive is malformed, as Go's `archive/tar` words
/// it (`archive/tar: invalid tar header`, `unexpected EOF`), without the temporary mount path
/// containerd puts before it; `None` for any other failure.
fn tar_error(message: &str) -> Option<&str> {
    if let Some(i) = message.find("archive/tar:") {
        return Some(&message[i..]);
    }
    message.ends_with("unexpected EOF").then_some("unexpected EOF")
}

fn to_stream<R: AsyncRead + Send + 'static>(reader: R) -> BoxStream<'static, Result<Bytes, Error>> {
    ReaderStream::new(reader).map_err(read_error).boxed()
}

fn read_error(e: io::Error) -> Error {
    Error::invalid(format!("import: cannot read the tarball: {e}"))
}

#[cfg(test)]
mod tests;
