//! `docker save`: resolves every name before the first byte, then streams the tarball from a
//! background task, reading blobs from containerd chunk by chunk.

use std::collections::BTreeMap;

use berth_api::image::reference::AnyReference;
use berth_api::image::{Platform, Reference};
use berth_api::{Error, Result};
use berth_backend::{ByteStream, ImageSaveOptions};
use bytes::Bytes;
use containerd_client::services::v1::{InfoRequest, ReadContentRequest};
use containerd_client::types::Descriptor;
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use super::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, INDEX_JSON, MANIFEST_JSON, OCI_LAYOUT,
    REPOSITORIES, blob_path,
};
use crate::containerd::{Containerd, status_error};
use crate::image::{Entry, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX, Store, json_blob, pick_platform};

/// One image to export, with the tags it is exported under (familiar order as named).
struct Export {
    entry: Entry,
    tags: Vec<Reference>,
}

/// The archive's plan: every blob (sorted by path) and the small JSON files.
struct Plan {
    /// `blobs/sha256/<hex>` → (digest, size).
    blobs: BTreeMap<String, (String, u64)>,
    files: Vec<(&'static str, Vec<u8>)>,
}

pub(super) async fn save(store: &Store, options: ImageSaveOptions) -> Result<ByteStream> {
    let exports = resolve_names(store, &options.names).await?;
    if let Some(platform) = &options.platform {
        for export in &exports {
            check_platform(export, platform)?;
        }
    }
    let plan = plan(store, &exports).await?;
    let conn = store.conn().clone();
    let (tx, rx) = mpsc::channel::<Result<Bytes>>(4);
    tokio::spawn(async move {
        if let Err(err) = write_tar(&conn, plan, &tx).await {
            // The receiver may be gone (client disconnected); then nobody needs the error.
            let _ = tx.send(Err(err)).await;
        }
    });
    Ok(ReceiverStream::new(rx).boxed())
}

/// dockerd's name rules: a bare repository exports every tag of it; `repo:tag` that tag; a
/// digest reference or an ID the image without tags. Duplicates merge in first-named order.
async fn resolve_names(store: &Store, names: &[String]) -> Result<Vec<Export>> {
    let entries = store.entries().await?;
    let mut out: Vec<Export> = Vec::new();
    let mut add = |entry: &Entry, tag: Option<Reference>| {
        let index = match out.iter().position(|e| e.entry.image.id == entry.image.id) {
            Some(i) => i,
            None => {
                out.push(Export { entry: entry.clone(), tags: Vec::new() });
                out.len() - 1
            }
        };
        if let Some(tag) = tag
            && !out[index].tags.contains(&tag)
        {
            out[index].tags.push(tag);
        }
    };
    for name in names {
        match Reference::parse_any(name) {
            Ok(AnyReference::Named(reference)) if reference.is_name_only() => {
                let repo = reference.name();
                let mut found = false;
                for entry in &entries {
                    for record in entry.names() {
                        if let Ok(r) = Reference::parse_normalized(record)
                            && r.name() == repo
                            && r.tag().is_some()
                            && r.digest().is_none()
                        {
                            add(entry, Some(r));
                            found = true;
                        }
                    }
                }
                if !found {
                    add(&store.find(name).await?, None);
                }
            }
            Ok(AnyReference::Named(reference)) if reference.digest().is_none() => {
                let entry = store.find(name).await?;
                add(&entry, Some(reference));
            }
            _ => add(&store.find(name).await?, None),
        }
    }
    Ok(out)
}

fn check_platform(export: &Export, platform: &Platform) -> Result<()> {
    let config = &export.entry.image.config;
    let os_ok = platform.os.is_empty() || config["os"] == platform.os.as_str();
    let arch_ok = platform.architecture.is_empty()
        || config["architecture"] == platform.architecture.as_str();
    let variant_ok = platform.variant.is_empty()
        || config["variant"].as_str().unwrap_or_default() == platform.variant;
    if os_ok && arch_ok && variant_ok {
        return Ok(());
    }
    let name =
        export.tags.first().map_or_else(|| export.entry.image.id.clone(), Reference::familiar);
    let mut wanted = format!("{}/{}", platform.os, platform.architecture);
    if !platform.variant.is_empty() {
        wanted = format!("{wanted}/{}", platform.variant);
    }
    Err(Error::not_found(format!(
        "image with reference {name} was found but does not provide the specified platform ({wanted})"
    )))
}

/// The single-platform manifest an image's records stand for.
async fn manifest_of(store: &Store, export: &Export) -> Result<Descriptor> {
    let target = &export.entry.image.target;
    if matches!(target.media_type.as_str(), MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST) {
        let index = json_blob(store.conn(), &target.digest).await?;
        return pick_platform(&index).ok_or_else(|| {
            Error::not_found("no matching manifest for linux in the manifest list entries")
        });
    }
    Ok(target.clone())
}

async fn plan(store: &Store, exports: &[Export]) -> Result<Plan> {
    let mut blobs = BTreeMap::new();
    let mut index = Vec::new();
    let mut manifest = Vec::new();
    let mut repositories: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for export in exports {
        let image = &export.entry.image;
        let target = manifest_of(store, export).await?;
        let mut digests = vec![target.digest.clone(), image.id.clone()];
        digests.extend(image.layers.iter().map(|l| l.digest.clone()));
        for digest in digests {
            let size = blob_size(store.conn(), &digest).await?;
            blobs.insert(blob_path(&digest), (digest, size));
        }
        let layers: Vec<String> = image.layers.iter().map(|l| blob_path(&l.digest)).collect();
        let top = image.layers.last().map(|l| l.digest.trim_start_matches("sha256:").to_owned());
        let platform = platform_of(&image.config);
        let descriptor = |annotations: Option<Value>| {
            let mut d = Map::new();
            d.insert("mediaType".into(), json!(target.media_type));
            d.insert("digest".into(), json!(target.digest));
            d.insert("size".into(), json!(target.size));
            if let Some(a) = annotations {
                d.insert("annotations".into(), a);
            }
            d.insert("platform".into(), platform.clone());
            Value::Object(d)
        };
        let mut repo_tags = Vec::new();
        for tag in &export.tags {
            let tag_name = tag.tag().unwrap_or("latest");
            index.push(descriptor(Some(json!({
                ANNOTATION_IMAGE_NAME: tag.to_string(),
                ANNOTATION_REF_NAME: tag_name,
            }))));
            repo_tags.push(tag.familiar());
            if let Some(top) = &top {
                repositories
                    .entry(tag.familiar_name())
                    .or_default()
                    .insert(tag_name.to_owned(), top.clone());
            }
        }
        if export.tags.is_empty() {
            index.push(descriptor(None));
        }
        manifest.push(json!({
            "Config": blob_path(&image.id),
            "RepoTags": if repo_tags.is_empty() { Value::Null } else { json!(repo_tags) },
            "Layers": layers,
        }));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": MEDIA_OCI_INDEX,
        "manifests": index,
    });
    let mut files = vec![
        (INDEX_JSON, encode(&index)?),
        (MANIFEST_JSON, encode_line(&Value::Array(manifest))?),
        (OCI_LAYOUT, br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
    ];
    if !repositories.is_empty() {
        files.push((REPOSITORIES, encode_line(&json!(repositories))?));
    }
    Ok(Plan { blobs, files })
}

fn platform_of(config: &Value) -> Value {
    let mut p = Map::new();
    p.insert("architecture".into(), config["architecture"].clone());
    p.insert("os".into(), config["os"].clone());
    if let Some(v) = config["variant"].as_str().filter(|v| !v.is_empty()) {
        p.insert("variant".into(), json!(v));
    }
    Value::Object(p)
}

fn encode(value: &Value) -> Result<Vec<u8>> {
    serde_json::to_vec(value).map_err(|e| Error::system("encode archive index").with_source(e))
}

/// As Go's `json.Encoder`: with a trailing newline.
fn encode_line(value: &Value) -> Result<Vec<u8>> {
    let mut out = encode(value)?;
    out.push(b'\n');
    Ok(out)
}

/// The stored size of a blob; a missing blob fails the save before any byte is sent.
async fn blob_size(conn: &Containerd, digest: &str) -> Result<u64> {
    let info = conn
        .content()
        .info(InfoRequest { digest: digest.to_owned() })
        .await
        .map_err(|s| status_error(&format!("content {digest}"), s))?
        .into_inner()
        .info
        .ok_or_else(|| Error::system(format!("content {digest}: containerd returned no info")))?;
    u64::try_from(info.size).map_err(|_| Error::system(format!("content {digest}: bad size")))
}

type Sink = mpsc::Sender<Result<Bytes>>;

/// Sends one chunk; `false` when the client is gone.
async fn send(tx: &Sink, chunk: Bytes) -> bool {
    tx.send(Ok(chunk)).await.is_ok()
}

async fn write_tar(conn: &Containerd, plan: Plan, tx: &Sink) -> Result<()> {
    for dir in ["blobs/", "blobs/sha256/"] {
        if !send(tx, header(dir, 0, tar::EntryType::Directory)?).await {
            return Ok(());
        }
    }
    for (path, (digest, size)) in &plan.blobs {
        if !send(tx, header(path, *size, tar::EntryType::Regular)?).await {
            return Ok(());
        }
        let Some(sent) = stream_blob(conn, digest, tx).await? else {
            return Ok(());
        };
        if sent != *size {
            return Err(Error::system(format!(
                "content {digest}: read {sent} bytes, expected {size}"
            )));
        }
        if !send(tx, padding(*size)).await {
            return Ok(());
        }
    }
    for (path, data) in plan.files {
        let size = data.len() as u64;
        let chunk =
            [header(path, size, tar::EntryType::Regular)?, Bytes::from(data), padding(size)]
                .concat();
        if !send(tx, Bytes::from(chunk)).await {
            return Ok(());
        }
    }
    // The end-of-archive marker: two zero blocks.
    send(tx, Bytes::from(vec![0u8; 1024])).await;
    Ok(())
}

/// Streams one blob as containerd hands it out; `None` when the client is gone.
async fn stream_blob(conn: &Containerd, digest: &str, tx: &Sink) -> Result<Option<u64>> {
    let req = ReadContentRequest { digest: digest.to_owned(), offset: 0, size: 0 };
    let mut stream = conn
        .content()
        .read(req)
        .await
        .map_err(|s| status_error(&format!("content {digest}"), s))?
        .into_inner();
    let mut sent = 0u64;
    while let Some(msg) = stream.message().await.map_err(|s| status_error("content read", s))? {
        sent += msg.data.len() as u64;
        if !send(tx, Bytes::from(msg.data)).await {
            return Ok(None);
        }
    }
    Ok(Some(sent))
}

/// A ustar header owned by root, dated the epoch (dockerd dates its metadata files so too).
fn header(path: &str, size: u64, kind: tar::EntryType) -> Result<Bytes> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path).map_err(|e| Error::system(format!("tar path {path}")).with_source(e))?;
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let _ = h.set_username("root");
    let _ = h.set_groupname("root");
    h.set_cksum();
    Ok(Bytes::copy_from_slice(h.as_bytes()))
}

/// Zeros up to the next 512-byte boundary.
fn padding(size: u64) -> Bytes {
    let rest = (512 - size % 512) % 512;
    Bytes::from(vec![0u8; rest as usize])
}
