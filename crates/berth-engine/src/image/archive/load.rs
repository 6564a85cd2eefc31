//! `docker load`: a docker-save archive (`manifest.json`) or an OCI layout (`index.json`) becomes
//! images. Everything is written and unpacked inside one lease before any name is set, so a bad
//! archive leaves nothing visible and containerd's GC reclaims what was written.

use std::collections::HashMap;

use async_compression::tokio::bufread::GzipDecoder;
use berth_api::image::{Platform, ProgressMessage, Reference};
use std::time::Duration;

use berth_api::{Error, ErrorKind, Result};
use berth_backend::{ByteStream, ImageLoadOptions, ProgressStream};
use bytes::Bytes;
use containerd_client::services::v1::InfoRequest;
use containerd_client::services::v1::snapshots::StatSnapshotRequest;
use containerd_client::types::Descriptor;
use futures_util::{StreamExt, TryStreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_util::io::ReaderStream;

use super::progress::loading_layer;
use super::spool::Spool;
use super::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, INDEX_JSON, MANIFEST_JSON, blob_path};
use crate::containerd::{Containerd, status_error};
use crate::content::{self, Written, sha256_digest};
use crate::image::{
    DANGLING_PREFIX, LABEL_SIZE, MEDIA_DOCKER_LIST, MEDIA_OCI_CONFIG, MEDIA_OCI_INDEX,
    MEDIA_OCI_LAYER_TAR, MEDIA_OCI_MANIFEST, Store,
};
use crate::lease::Lease;
use crate::unpack::{self, Layer, SNAPSHOTTER};

const MEDIA_OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MEDIA_OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Bytes between two `Loading layer` updates.
const PROGRESS_EVERY: u64 = 512 << 10;

/// One image found in the archive, checked, ready to be written.
struct Plan {
    config: Bytes,
    /// The config digest: the image ID.
    id: String,
    diff_ids: Vec<String>,
    /// Archive paths of the layer blobs, bottom first, one per diff ID.
    layers: Vec<LayerSource>,
    /// The archive's own manifest (OCI layout), kept byte for byte; built when absent.
    manifest: Option<(Bytes, String)>,
    /// Normalized, tagged names.
    names: Vec<Reference>,
}

struct LayerSource {
    path: String,
    /// What the OCI manifest declares; legacy archives declare nothing.
    declared: Option<Descriptor>,
}

/// One `manifest.json` item.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LegacyItem {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    #[serde(default)]
    layers: Vec<String>,
}

/// Where progress goes; sends fail silently once the client is gone (the load goes on).
struct Progress {
    tx: mpsc::UnboundedSender<Result<ProgressMessage>>,
    quiet: bool,
}

impl Progress {
    fn send(&self, message: ProgressMessage) {
        let _ = self.tx.send(Ok(message));
    }
}

pub(super) async fn load(store: &Store, options: ImageLoadOptions) -> Result<ProgressStream> {
    let (tx, rx) = mpsc::unbounded_channel();
    // The work outlives this call: it gets its own handle on the store (same containerd).
    let store = store.clone();
    let ImageLoadOptions { body, quiet, platform } = options;
    tokio::spawn(async move {
        let progress = Progress { tx, quiet };
        let result = async {
            let spool = Spool::new(body).await?;
            let plans = plan(&spool, platform.as_ref()).await?;
            let lease = Lease::create(store.conn()).await?;
            let result = write_and_name(&store, &lease, &spool, plans, &progress).await;
            lease.release().await;
            result
        }
        .await;
        if let Err(err) = result {
            tracing::debug!(error = %err, "image load failed");
            let _ = progress.tx.send(Err(err));
        }
    });
    Ok(UnboundedReceiverStream::new(rx).boxed())
}

/// What [`load`] reads before containerd is involved: the body spooled and indexed, every image
/// planned, every layer located, sniffed and, when gzip'd, decompressed. Returns the planned
/// image IDs. For the fuzz targets (`crate::fuzzing`).
pub(super) async fn dry_run(body: ByteStream, platform: Option<&Platform>) -> Result<Vec<String>> {
    let spool = Spool::new(body).await?;
    let plans = plan(&spool, platform).await?;
    for plan in &plans {
        for source in &plan.layers {
            if sniff(&spool.head(&source.path).await?, &source.path)? == Compression::Gzip {
                gunzip_digest(&spool, &source.path).await?;
            }
        }
    }
    Ok(plans.into_iter().map(|p| p.id).collect())
}

async fn plan(spool: &Spool, platform: Option<&Platform>) -> Result<Vec<Plan>> {
    if spool.has_file(MANIFEST_JSON) {
        legacy_plans(spool).await
    } else if spool.has_file(INDEX_JSON) {
        oci_plans(spool, platform).await
    } else {
        Err(Error::invalid(
            "invalid archive: neither manifest.json nor index.json found (not a docker save or OCI layout tarball)",
        ))
    }
}

async fn legacy_plans(spool: &Spool) -> Result<Vec<Plan>> {
    let bytes = spool.read(MANIFEST_JSON).await?;
    let items: Option<Vec<LegacyItem>> = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("invalid archive: manifest.json: {e}")))?;
    let mut plans = Vec::new();
    for item in items.unwrap_or_default() {
        let config = Bytes::from(spool.read(&item.config).await?);
        let diff_ids = diff_ids(&config, &item.config)?;
        if diff_ids.len() != item.layers.len() {
            return Err(Error::invalid(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                diff_ids.len(),
                item.layers.len()
            )));
        }
        let mut names = Vec::new();
        for tag in item.repo_tags.unwrap_or_default() {
            match Reference::parse_normalized(&tag) {
                Ok(r) if r.tag().is_some() && r.digest().is_none() => names.push(r),
                _ => return Err(Error::invalid(format!("invalid tag \"{tag}\""))),
            }
        }
        let layers =
            item.layers.into_iter().map(|path| LayerSource { path, declared: None }).collect();
        plans.push(Plan {
            id: sha256_digest(&config),
            config,
            diff_ids,
            layers,
            manifest: None,
            names,
        });
    }
    Ok(plans)
}

async fn oci_plans(spool: &Spool, platform: Option<&Platform>) -> Result<Vec<Plan>> {
    let index: Value = serde_json::from_slice(&spool.read(INDEX_JSON).await?)
        .map_err(|e| Error::invalid(format!("invalid archive: index.json: {e}")))?;
    let mut plans = Vec::new();
    for top in index["manifests"].as_array().cloned().unwrap_or_default() {
        let mut desc = top.clone();
        // A multi-platform index: the platform's manifest only (others' blobs may be absent).
        for _ in 0..4 {
            let media = desc["mediaType"].as_str().unwrap_or_default();
            if !matches!(media, MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST) {
                break;
            }
            let nested = blob_json(spool, &desc).await?.1;
            desc = pick(&nested, platform).ok_or_else(|| {
                Error::not_found("no matching manifest for this platform in the archive's index")
            })?;
        }
        let (manifest_bytes, manifest) = blob_json(spool, &desc).await?;
        let config_desc = descriptor(&manifest["config"])
            .ok_or_else(|| Error::invalid("invalid archive: a manifest has no config"))?;
        let config = Bytes::from(read_blob(spool, &config_desc.digest).await?);
        let diff_ids = diff_ids(&config, &blob_path(&config_desc.digest))?;
        let declared: Vec<Descriptor> = manifest["layers"]
            .as_array()
            .map(|ls| ls.iter().filter_map(descriptor).collect())
            .unwrap_or_default();
        if declared.len() != diff_ids.len() {
            return Err(Error::invalid(format!(
                "invalid manifest, layers length mismatch: expected {}, got {}",
                diff_ids.len(),
                declared.len()
            )));
        }
        let layers = declared
            .into_iter()
            .map(|d| LayerSource { path: blob_path(&d.digest), declared: Some(d) })
            .collect();
        let media = desc["mediaType"]
            .as_str()
            .or(manifest["mediaType"].as_str())
            .unwrap_or(MEDIA_OCI_MANIFEST)
            .to_owned();
        plans.push(Plan {
            id: config_desc.digest.clone(),
            config,
            diff_ids,
            layers,
            manifest: Some((Bytes::from(manifest_bytes), media)),
            names: oci_names(&top),
        });
    }
    Ok(plans)
}

/// The name of an index entry: containerd's full-name annotation, else an OCI ref name that is a
/// whole reference (a bare tag names no repository, so the image stays untagged).
fn oci_names(desc: &Value) -> Vec<Reference> {
    let annotations = &desc["annotations"];
    let candidate = annotations[ANNOTATION_IMAGE_NAME]
        .as_str()
        .or_else(|| annotations[ANNOTATION_REF_NAME].as_str().filter(|r| r.contains([':', '/'])));
    candidate
        .and_then(|n| Reference::parse_normalized(n).ok())
        .map(Reference::with_default_tag)
        .filter(|r| r.digest().is_none())
        .into_iter()
        .collect()
}

fn pick(index: &Value, platform: Option<&Platform>) -> Option<Value> {
    let (os, arch, variant) = match platform {
        Some(p) => (p.os.as_str(), p.architecture.as_str(), p.variant.as_str()),
        None => ("linux", crate::go_arch(), ""),
    };
    index["manifests"]
        .as_array()?
        .iter()
        .find(|m| {
            let p = &m["platform"];
            (os.is_empty() || p["os"] == os)
                && (arch.is_empty() || p["architecture"] == arch)
                && (variant.is_empty() || p["variant"] == variant)
        })
        .cloned()
}

fn descriptor(v: &Value) -> Option<Descriptor> {
    Some(Descriptor {
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
        digest: v["digest"].as_str()?.to_owned(),
        size: v["size"].as_i64().unwrap_or(0),
        annotations: HashMap::new(),
    })
}

/// A blob of the layout, checked against its digest.
async fn read_blob(spool: &Spool, digest: &str) -> Result<Vec<u8>> {
    if !digest.starts_with("sha256:") {
        return Err(Error::invalid(format!("invalid archive: unsupported digest {digest}")));
    }
    let bytes = spool.read(&blob_path(digest)).await?;
    let actual = sha256_digest(&bytes);
    if actual != digest {
        return Err(Error::invalid(format!(
            "invalid archive: blob {digest} does not match its content ({actual})"
        )));
    }
    Ok(bytes)
}

async fn blob_json(spool: &Spool, desc: &Value) -> Result<(Vec<u8>, Value)> {
    let digest = desc["digest"]
        .as_str()
        .ok_or_else(|| Error::invalid("invalid archive: an index entry has no digest"))?;
    let bytes = read_blob(spool, digest).await?;
    let value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::invalid(format!("invalid archive: blob {digest}: {e}")))?;
    Ok((bytes, value))
}

/// `rootfs.diff_ids` of a config, which must be a JSON object for this OS.
fn diff_ids(config: &[u8], path: &str) -> Result<Vec<String>> {
    let value: Value = serde_json::from_slice(config)
        .map_err(|e| Error::invalid(format!("invalid archive: image config {path}: {e}")))?;
    if !value.is_object() {
        return Err(Error::invalid(format!(
            "invalid archive: image config {path} is not an object"
        )));
    }
    if let Some(os) = value["os"].as_str()
        && !os.is_empty()
        && os != "linux"
    {
        return Err(Error::invalid(format!(
            "image operating system \"{os}\" cannot be used on this platform"
        )));
    }
    let ids = value["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
    ids.iter()
        .map(|v| {
            v.as_str().filter(|s| s.starts_with("sha256:")).map(str::to_owned).ok_or_else(|| {
                Error::invalid(format!("invalid archive: image config {path}: bad diff ID {v}"))
            })
        })
        .collect()
}

/// Writes every image, then names them all: nothing becomes visible unless everything is in.
async fn write_and_name(
    store: &Store,
    lease: &Lease,
    spool: &Spool,
    plans: Vec<Plan>,
    progress: &Progress,
) -> Result<()> {
    let mut written: Vec<(Plan, Descriptor, i64)> = Vec::new();
    for plan in plans {
        if let Some((earlier, _, _)) = written.iter_mut().find(|(p, _, _)| p.id == plan.id) {
            earlier.names.extend(plan.names);
            continue;
        }
        let (target, size) = write_image(lease, spool, &plan, progress).await?;
        written.push((plan, target, size));
    }
    let entries = store.entries().await?;
    for (plan, target, size) in written {
        let labels = HashMap::from([(LABEL_SIZE.to_owned(), size.to_string())]);
        if plan.names.is_empty() {
            if !entries.iter().any(|e| e.image.id == plan.id) {
                store.set_name(&format!("{DANGLING_PREFIX}{}", plan.id), target, labels).await?;
            }
            progress.send(ProgressMessage::stream(format!("Loaded image ID: {}\n", plan.id)));
            continue;
        }
        let mut seen = Vec::new();
        for name in plan.names {
            let full = name.to_string();
            if seen.contains(&full) {
                continue;
            }
            if let Some(old) = entries.iter().find(|e| e.records.iter().any(|r| r.name == full))
                && old.image.id != plan.id
            {
                progress.send(ProgressMessage::stream(format!(
                    "The image {} already exists, renaming the old one with ID {} to empty string\n",
                    name.familiar(),
                    old.image.id
                )));
            }
            store.set_name(&full, target.clone(), labels.clone()).await?;
            progress.send(ProgressMessage::stream(format!("Loaded image: {}\n", name.familiar())));
            seen.push(full);
        }
    }
    Ok(())
}

/// Writes one image's layers, config and manifest with containerd's GC labels, and unpacks it.
/// Returns the manifest descriptor and the unpacked size.
async fn write_image(
    lease: &Lease,
    spool: &Spool,
    plan: &Plan,
    progress: &Progress,
) -> Result<(Descriptor, i64)> {
    let conn = lease.conn();
    let mut layers = Vec::with_capacity(plan.layers.len());
    for (i, (source, diff_id)) in plan.layers.iter().zip(&plan.diff_ids).enumerate() {
        let blob = write_layer(lease, spool, source, i, diff_id, progress).await?;
        layers.push(Layer { blob, diff_id: diff_id.clone() });
    }
    let unpacked = unpack_pinned(lease, &layers).await?;
    let size: i64 = unpacked.iter().map(|(_, s)| s).sum();
    let mut config_labels = HashMap::new();
    if let Some((top, _)) = unpacked.last() {
        config_labels.insert(format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"), top.clone());
    }
    let config =
        durable(lease, || content::write_bytes(conn, plan.config.clone(), config_labels.clone()))
            .await?;

    let (manifest, media_type) = match &plan.manifest {
        Some((bytes, media)) => (bytes.clone(), media.clone()),
        None => {
            let manifest = json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_OCI_MANIFEST,
                "config": { "mediaType": MEDIA_OCI_CONFIG, "digest": config.digest, "size": config.size },
                "layers": layers.iter().map(|l| json!({
                    "mediaType": l.blob.media_type,
                    "digest": l.blob.digest,
                    "size": l.blob.size,
                })).collect::<Vec<_>>(),
            });
            let bytes = serde_json::to_vec(&manifest)
                .map_err(|e| Error::system("encode manifest").with_source(e))?;
            (Bytes::from(bytes), MEDIA_OCI_MANIFEST.to_owned())
        }
    };
    let mut manifest_labels =
        HashMap::from([("containerd.io/gc.ref.content.config".to_owned(), config.digest.clone())]);
    for (i, layer) in layers.iter().enumerate() {
        manifest_labels
            .insert(format!("containerd.io/gc.ref.content.l.{i}"), layer.blob.digest.clone());
    }
    let written =
        durable(lease, || content::write_bytes(conn, manifest.clone(), manifest_labels.clone()))
            .await?;
    let target = Descriptor {
        media_type,
        digest: written.digest,
        size: written.size,
        annotations: HashMap::new(),
    };
    Ok((target, size))
}

/// What a layer file is compressed with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

fn sniff(head: &[u8], path: &str) -> Result<Compression> {
    match head {
        [0x1f, 0x8b, ..] => Ok(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Ok(Compression::Zstd),
        [b'B', b'Z', b'h', ..] | [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Err(Error::invalid(
            format!("invalid archive: layer {path} uses an unsupported compression (bzip2 or xz)"),
        )),
        _ => Ok(Compression::None),
    }
}

/// Streams one layer file into the content store (with progress), then checks that its
/// uncompressed content is what the config's diff ID says.
async fn write_layer(
    lease: &Lease,
    spool: &Spool,
    source: &LayerSource,
    index: usize,
    diff_id: &str,
    progress: &Progress,
) -> Result<Descriptor> {
    let conn = lease.conn();
    let compression = sniff(&spool.head(&source.path).await?, &source.path)?;
    let (_, total) = spool.locate(&source.path)?;
    let short: String = diff_id.trim_start_matches("sha256:").chars().take(12).collect();
    let mut labels = HashMap::new();
    if compression != Compression::None {
        labels.insert("containerd.io/uncompressed".to_owned(), diff_id.to_owned());
    }
    let expected = source.declared.as_ref().map(|d| d.digest.as_str());
    let written = durable(lease, || async {
        let quiet = progress.quiet;
        let tx = progress.tx.clone();
        let short = short.clone();
        let mut done = 0u64;
        let mut reported = 0u64;
        let stream = ReaderStream::new(spool.open(&source.path).await?)
            .map_err(|e| Error::system(format!("cannot read the spooled archive: {e}")))
            .inspect_ok(move |chunk| {
                done += chunk.len() as u64;
                if !quiet && (reported == 0 || done - reported >= PROGRESS_EVERY) {
                    reported = done;
                    let _ = tx.send(Ok(loading_layer(&short, done, total)));
                }
            });
        content::write_stream(conn, stream, expected, labels.clone()).await
    })
    .await?;
    if !progress.quiet {
        progress.send(loading_layer(&short, u64::try_from(written.size).unwrap_or(0), total));
    }
    let actual = match compression {
        Compression::None => Some(written.digest.clone()),
        Compression::Gzip => Some(gunzip_digest(spool, &source.path).await?),
        // No zstd decoder here: containerd's apply checks the result against the diff ID.
        Compression::Zstd => None,
    };
    if let Some(actual) = actual
        && actual != diff_id
    {
        return Err(Error::invalid(format!(
            "invalid diffID for layer {index}: expected \"{diff_id}\", got \"{actual}\""
        )));
    }
    let media_type = match (&source.declared, compression) {
        (Some(d), _) if !d.media_type.is_empty() => d.media_type.clone(),
        (_, Compression::None) => MEDIA_OCI_LAYER_TAR.to_owned(),
        (_, Compression::Gzip) => MEDIA_OCI_LAYER_GZIP.to_owned(),
        (_, Compression::Zstd) => MEDIA_OCI_LAYER_ZSTD.to_owned(),
    };
    Ok(Descriptor {
        media_type,
        digest: written.digest,
        size: written.size,
        annotations: HashMap::new(),
    })
}

/// The digest of a gzip'd file's uncompressed content.
async fn gunzip_digest(spool: &Spool, path: &str) -> Result<String> {
    let mut decoder = GzipDecoder::new(spool.open(path).await?);
    decoder.multiple_members(true);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = decoder.read(&mut buf).await.map_err(|e| {
            Error::invalid(format!("invalid archive: layer {path} is not valid gzip: {e}"))
        })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("sha256:{}", hex::encode(hasher.finalize())))
}

/// Unpacks, pins every snapshot of the chain to the lease, and unpacks again if the GC took one
/// that `unpack` found and skipped before it was pinned.
async fn unpack_pinned(lease: &Lease, layers: &[Layer]) -> Result<Vec<(String, i64)>> {
    for _ in 0..5 {
        let unpacked = match unpack::unpack(lease.conn(), layers).await {
            Ok(u) => u,
            // A parent found and skipped, then collected before its child was prepared.
            Err(e) if e.kind() == ErrorKind::NotFound => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let mut complete = true;
        for (chain, _) in &unpacked {
            lease.pin_snapshot(chain).await?;
            complete &= snapshot_exists(lease.conn(), chain).await?;
        }
        if complete {
            return Ok(unpacked);
        }
    }
    Err(Error::system("snapshots vanished while being unpacked (garbage collection); try again"))
}

async fn snapshot_exists(conn: &Containerd, key: &str) -> Result<bool> {
    let req = StatSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key: key.to_owned() };
    match conn.snapshots().stat(req).await {
        Ok(_) => Ok(true),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(status_error("snapshot stat", s)),
    }
}

/// Writes a blob and makes sure it stays. containerd answers "already exists" for a blob whose
/// record its GC has just swept while the file is still on disk (an image removed a moment
/// before, then loaded again); that blob then vanishes. The blob is pinned to the lease and
/// checked; a vanished one is written again once the stale file is gone.
async fn durable<F, Fut>(lease: &Lease, mut write: F) -> Result<Written>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Written>>,
{
    let mut delay = Duration::from_millis(20);
    for _ in 0..10 {
        match write().await {
            Ok(written) => {
                lease.pin_content(&written.digest).await?;
                if exists(lease.conn(), &written.digest).await? {
                    return Ok(written);
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(1));
    }
    Err(Error::system("content vanished while being written (garbage collection); try again"))
}

async fn exists(conn: &Containerd, digest: &str) -> Result<bool> {
    match conn.content().info(InfoRequest { digest: digest.to_owned() }).await {
        Ok(_) => Ok(true),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(status_error(&format!("content {digest}"), s)),
    }
}
