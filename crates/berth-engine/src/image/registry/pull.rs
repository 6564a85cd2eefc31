//! `docker pull`: manifest (an index resolved to one platform), config and layers into the
//! content store inside a lease, unpack, then the image records — with dockerd's progress.

use std::collections::HashMap;

use berth_api::image::{Platform, Reference};
use berth_api::{Error, ErrorKind};
use berth_backend::{ImagePullOptions, ProgressStream};
use bytes::Bytes;
use containerd_client::services::v1::{GetImageRequest, InfoRequest};
use containerd_client::types::Descriptor;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::client::{Client, Fetched, RegistryError, scope};
use super::progress::{LeaseGuard, Progress, Ticker, run, short};
use crate::containerd::{Containerd, status_error};
use crate::content;
use crate::image::{LABEL_SIZE, Store};
use crate::unpack::{self, Layer, SNAPSHOTTER};

/// Layers downloaded at once (dockerd's `max-concurrent-downloads` default).
const CONCURRENT_DOWNLOADS: usize = 3;

/// `POST /images/create?fromImage=`: pulls `options.reference` (every tag when it has neither
/// tag nor digest).
pub(crate) async fn pull(
    store: &Store,
    options: ImagePullOptions,
) -> Result<ProgressStream, Error> {
    let store = store.clone();
    Ok(run(move |progress| async move { pull_all(&store, options, &progress).await }))
}

async fn pull_all(
    store: &Store,
    options: ImagePullOptions,
    progress: &Progress,
) -> Result<(), Error> {
    let reference = &options.reference;
    let repo = reference.path().to_owned();
    let client = Client::connect(
        reference.domain(),
        &store.insecure_registries,
        options.auth.clone(),
        vec![scope(&repo, "pull")],
    )
    .await
    .map_err(|e| translate(e, reference))?;
    let platform = options.platform.as_ref();
    let (newer, shown) = if reference.is_name_only() {
        let tags = client.tags(&repo).await.map_err(|e| translate(e, reference))?;
        let mut newer = false;
        for tag in tags {
            let tagged = reference.clone().with_tag(&tag).map_err(Error::from)?;
            newer |= pull_one(store, &client, &tagged, platform, progress).await?;
        }
        (newer, reference.familiar_name())
    } else {
        (pull_one(store, &client, reference, platform, progress).await?, reference.familiar())
    };
    let status = if newer {
        format!("Status: Downloaded newer image for {shown}")
    } else {
        format!("Status: Image is up to date for {shown}")
    };
    progress.status("", &status);
    Ok(())
}

/// dockerd's `translatePullError`: what a registry refusal means for a pull.
pub(crate) fn translate(err: RegistryError, reference: &Reference) -> Error {
    let not_found = |text: String| Error::new(ErrorKind::NotFound, text);
    match err.code() {
        Some("DENIED") => not_found(format!(
            "pull access denied for {}, repository does not exist or may require 'docker login': {err}",
            reference.familiar_name()
        )),
        Some("MANIFEST_UNKNOWN") => {
            not_found(format!("manifest for {} not found: {err}", reference.familiar()))
        }
        Some("NAME_UNKNOWN") => {
            not_found(format!("repository {} not found: {err}", reference.familiar_name()))
        }
        _ => err.into_error(),
    }
}

/// The `os/arch[/variant]` text dockerd prints for a platform.
pub(crate) fn format_platform(p: &Platform) -> String {
    let mut text = format!("{}/{}", p.os, p.architecture);
    if !p.variant.is_empty() {
        text.push('/');
        text.push_str(&p.variant);
    }
    text
}

/// The index entry for `want` (a missing variant matches any).
pub(crate) fn choose<'a>(index: &'a Value, want: &Platform) -> Option<&'a Value> {
    index["manifests"].as_array()?.iter().find(|m| {
        let p = &m["platform"];
        p["os"] == want.os.as_str()
            && p["architecture"] == want.architecture.as_str()
            && (want.variant.is_empty() || p["variant"] == want.variant.as_str())
    })
}

/// The entry the image store itself reads from an index (linux and our architecture).
pub(crate) fn store_choice(index: &Value) -> Option<&Value> {
    let host = Platform { os: "linux".to_owned(), ..Platform::host() };
    let host = Platform { variant: String::new(), ..host };
    choose(index, &host)
}

pub(crate) fn descriptor(v: &Value) -> Option<Descriptor> {
    Some(Descriptor {
        media_type: v["mediaType"].as_str().unwrap_or_default().to_owned(),
        digest: v["digest"].as_str()?.to_owned(),
        size: v["size"].as_i64().unwrap_or(0),
        annotations: HashMap::new(),
    })
}

fn fetched_descriptor(f: &Fetched) -> Descriptor {
    Descriptor {
        media_type: f.media_type.clone(),
        digest: f.digest.clone(),
        size: f.bytes.len() as i64,
        annotations: HashMap::new(),
    }
}

/// Resolves a tag or digest to the platform manifest (and the index it came from, if any).
pub(crate) async fn resolve(
    client: &Client,
    reference: &Reference,
    platform: Option<&Platform>,
) -> Result<(Fetched, Option<Fetched>), Error> {
    let repo = reference.path();
    let tag_or_digest = tag_or_digest(reference);
    let top = client.manifest(repo, &tag_or_digest).await.map_err(|e| translate(e, reference))?;
    if !top.is_index() {
        check_schema(&top)?;
        return Ok((top, None));
    }
    let mut want = platform.cloned().unwrap_or_else(Platform::host);
    if want.os.is_empty() {
        want.os = "linux".to_owned();
    }
    let entry = choose(&top.json, &want).and_then(descriptor).ok_or_else(|| {
        Error::not_found(format!(
            "no matching manifest for {} in the manifest list entries",
            format_platform(&want)
        ))
    })?;
    let manifest =
        client.manifest(repo, &entry.digest).await.map_err(|e| translate(e, reference))?;
    check_schema(&manifest)?;
    Ok((manifest, Some(top)))
}

fn check_schema(m: &Fetched) -> Result<(), Error> {
    if m.json["schemaVersion"].as_i64() == Some(1) || m.json["config"].is_null() {
        return Err(Error::invalid(format!(
            "unsupported manifest {} ({}): Berth pulls Docker schema 2 and OCI images only",
            m.digest, m.media_type
        )));
    }
    Ok(())
}

pub(crate) fn tag_or_digest(reference: &Reference) -> String {
    match (reference.digest(), reference.tag()) {
        (Some(d), _) => d.as_str().to_owned(),
        (None, Some(t)) => t.to_owned(),
        (None, None) => "latest".to_owned(),
    }
}

/// The digest a record of `name` points at, if there is one.
async fn record_digest(conn: &Containerd, name: &str) -> Result<Option<String>, Error> {
    match conn.images().get(GetImageRequest { name: name.to_owned() }).await {
        Ok(r) => Ok(r.into_inner().image.and_then(|i| i.target).map(|t| t.digest)),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
        Err(s) => Err(status_error("get image", s)),
    }
}

async fn have_blob(conn: &Containerd, digest: &str) -> Result<bool, Error> {
    match conn.content().info(InfoRequest { digest: digest.to_owned() }).await {
        Ok(_) => Ok(true),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(status_error("content info", s)),
    }
}

/// Reads a small blob (a config) whole and checks its digest.
pub(crate) async fn small_blob(
    client: &Client,
    repo: &str,
    desc: &Descriptor,
) -> Result<Bytes, Error> {
    let response = client.blob(repo, &desc.digest).await?;
    let bytes = response.bytes().await.map_err(|e| {
        Error::system(format!("cannot read blob {}: {e}", desc.digest)).with_source(e)
    })?;
    if content::sha256_digest(&bytes) != desc.digest {
        return Err(Error::system(format!(
            "image config verification failed for digest {}",
            desc.digest
        )));
    }
    Ok(bytes)
}

/// Pulls one tag or digest; true when something new was stored.
async fn pull_one(
    store: &Store,
    client: &Client,
    reference: &Reference,
    platform: Option<&Platform>,
    progress: &Progress,
) -> Result<bool, Error> {
    let repo = reference.path();
    let (manifest, index) = resolve(client, reference, platform).await?;
    let pulled = index.as_ref().unwrap_or(&manifest);
    let pulled_digest = pulled.digest.clone();
    progress.status(&tag_or_digest(reference), &format!("Pulling from {repo}"));

    // Records: the tag (when there is one) and `repo@digest` for RepoDigests.
    let tag_name = reference.digest().is_none().then(|| reference.to_string());
    let digest_name = format!("{}@{}", reference.name(), pulled_digest);
    // The image store reads an index with its own platform rule; point at the index only when
    // that rule lands on the manifest pulled here.
    let target = match &index {
        Some(ix)
            if store_choice(&ix.json).and_then(descriptor).map(|d| d.digest)
                == Some(manifest.digest.clone()) =>
        {
            fetched_descriptor(ix)
        }
        _ => fetched_descriptor(&manifest),
    };
    let conn = store.conn();
    let current = match &tag_name {
        Some(name) => record_digest(conn, name).await?,
        None => record_digest(conn, &digest_name).await?,
    };
    if current.as_deref() == Some(target.digest.as_str()) {
        if record_digest(conn, &digest_name).await?.is_none() {
            store.set_name(&digest_name, target, size_labels(store, &manifest).await).await?;
        }
        progress.status("", &format!("Digest: {pulled_digest}"));
        return Ok(false);
    }

    let config_desc = descriptor(&manifest.json["config"])
        .ok_or_else(|| Error::system(format!("manifest {} has no config", manifest.digest)))?;
    let layers: Vec<Descriptor> = manifest.json["layers"]
        .as_array()
        .map(|ls| ls.iter().filter_map(descriptor).collect())
        .unwrap_or_default();
    let config_bytes = small_blob(client, repo, &config_desc).await?;
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| Error::system("the image config is not valid JSON").with_source(e))?;
    if index.is_none()
        && let Some(want) = platform
        && (config["os"] != want.os.as_str()
            || config["architecture"] != want.architecture.as_str())
    {
        return Err(Error::not_found(format!(
            "image with reference {} was found but does not match the specified platform: wanted {}, actual: {}/{}",
            reference.familiar(),
            format_platform(want),
            config["os"].as_str().unwrap_or_default(),
            config["architecture"].as_str().unwrap_or_default()
        )));
    }
    let diff_ids: Vec<String> = config["rootfs"]["diff_ids"]
        .as_array()
        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    if diff_ids.len() != layers.len() {
        return Err(Error::system(format!(
            "manifest {} has {} layers but its config lists {} diff IDs",
            manifest.digest,
            layers.len(),
            diff_ids.len()
        )));
    }

    let mut present = Vec::with_capacity(layers.len());
    for layer in &layers {
        let have = have_blob(conn, &layer.digest).await?;
        progress
            .layer(&short(&layer.digest), if have { "Already exists" } else { "Pulling fs layer" });
        present.push(have);
    }
    let missing: Vec<(usize, &Descriptor)> =
        layers.iter().enumerate().filter(|(i, _)| !present[*i]).collect();
    for (_, layer) in missing.iter().skip(CONCURRENT_DOWNLOADS) {
        progress.layer(&short(&layer.digest), "Waiting");
    }

    let lease = LeaseGuard::create(conn).await?;
    let leased = lease.conn()?.clone();
    futures_util::stream::iter(missing.iter().map(Ok::<_, Error>))
        .try_for_each_concurrent(CONCURRENT_DOWNLOADS, |(i, layer)| {
            let leased = leased.clone();
            let diff_id = diff_ids[*i].clone();
            async move { download(client, &leased, repo, layer, &diff_id, progress).await }
        })
        .await?;

    let chains = unpack::chain_ids(&diff_ids);
    let mut config_labels = HashMap::new();
    if let Some(top) = chains.last() {
        config_labels.insert(format!("containerd.io/gc.ref.snapshot.{SNAPSHOTTER}"), top.clone());
    }
    content::write_stream(
        &leased,
        futures_util::stream::iter([Ok::<_, Error>(config_bytes)]),
        Some(&config_desc.digest),
        config_labels,
    )
    .await?;

    let unpack_layers: Vec<Layer> = layers
        .iter()
        .zip(&diff_ids)
        .map(|(blob, diff_id)| Layer { blob: blob.clone(), diff_id: diff_id.clone() })
        .collect();
    let mut disk_size = 0;
    for i in 0..unpack_layers.len() {
        let id = short(&layers[i].digest);
        if !present[i] {
            progress.bar(&id, "Extracting", 0, layers[i].size);
        }
        let unpacked = unpack::unpack(&leased, &unpack_layers[..=i]).await?;
        disk_size += unpacked.last().map_or(0, |(_, size)| *size);
        if !present[i] {
            progress.bar(&id, "Extracting", layers[i].size, layers[i].size);
            progress.layer(&id, "Pull complete");
        }
    }

    let mut manifest_labels = HashMap::from([(
        "containerd.io/gc.ref.content.config".to_owned(),
        config_desc.digest.clone(),
    )]);
    for (i, layer) in layers.iter().enumerate() {
        manifest_labels.insert(format!("containerd.io/gc.ref.content.l.{i}"), layer.digest.clone());
    }
    write_verified(&leased, &manifest, manifest_labels).await?;
    if let Some(ix) = &index {
        let mut labels = HashMap::new();
        for (i, m) in ix.json["manifests"].as_array().into_iter().flatten().enumerate() {
            if let Some(d) = m["digest"].as_str() {
                labels.insert(format!("containerd.io/gc.ref.content.m.{i}"), d.to_owned());
            }
        }
        write_verified(&leased, ix, labels).await?;
    }

    let labels = HashMap::from([(
        LABEL_SIZE.to_owned(),
        disk_size.max(layers.iter().map(|l| l.size).sum()).to_string(),
    )]);
    if let Some(name) = &tag_name {
        store.set_name(name, target.clone(), labels.clone()).await?;
    }
    store.set_name(&digest_name, target, labels).await?;
    lease.release().await;
    progress.status("", &format!("Digest: {pulled_digest}"));
    Ok(true)
}

/// The size label of an image already present (for a new `repo@digest` record).
async fn size_labels(store: &Store, manifest: &Fetched) -> HashMap<String, String> {
    let size = match store.entries().await {
        Ok(entries) => entries
            .iter()
            .find(|e| {
                e.image.target.digest == manifest.digest
                    || e.records
                        .iter()
                        .any(|r| r.target.as_ref().is_some_and(|t| t.digest == manifest.digest))
            })
            .and_then(|e| e.label(LABEL_SIZE).map(str::to_owned)),
        Err(e) => {
            tracing::debug!(error = %e, "cannot list images for the size label");
            None
        }
    };
    size.map(|s| HashMap::from([(LABEL_SIZE.to_owned(), s)])).unwrap_or_default()
}

async fn write_verified(
    conn: &Containerd,
    blob: &Fetched,
    labels: HashMap<String, String>,
) -> Result<(), Error> {
    let stream = futures_util::stream::iter([Ok::<_, Error>(blob.bytes.clone())]);
    content::write_stream(conn, stream, Some(&blob.digest), labels).await?;
    Ok(())
}

/// Streams one layer into the content store, reporting `Downloading` and checking size and
/// digest on the way (dockerd's `filesystem layer verification failed`).
async fn download(
    client: &Client,
    conn: &Containerd,
    repo: &str,
    layer: &Descriptor,
    diff_id: &str,
    progress: &Progress,
) -> Result<(), Error> {
    let id = short(&layer.digest);
    let response = client.blob(repo, &layer.digest).await?;
    let url = response.url().to_string();
    let total = layer.size;
    let expected = layer.digest.clone();
    let failed = move || {
        Error::system(format!("filesystem layer verification failed for digest {expected}"))
    };
    let mut hasher = Some(Sha256::new());
    let mut done: i64 = 0;
    let mut ticker = Ticker::new();
    let body = response.bytes_stream();
    let checked = body
        .map(move |chunk| match chunk {
            Ok(chunk) => Ok(Some(chunk)),
            Err(e) => Err(Error::system(format!("Get \"{url}\": {e}")).with_source(e)),
        })
        .chain(futures_util::stream::once(async { Ok(None) }))
        .map(move |item| {
            let chunk = match item? {
                Some(chunk) => chunk,
                None => {
                    let digest = hasher
                        .take()
                        .map(|h| format!("sha256:{}", hex::encode(h.finalize())))
                        .unwrap_or_default();
                    if done != total || digest != layer.digest {
                        return Err(failed());
                    }
                    return Ok(None);
                }
            };
            if let Some(h) = hasher.as_mut() {
                h.update(&chunk);
            }
            done += chunk.len() as i64;
            if done > total {
                return Err(failed());
            }
            if ticker.due(done == total) {
                progress.bar(&id, "Downloading", done, total);
            }
            Ok(Some(chunk))
        })
        .try_filter_map(|c| async move { Ok(c) });
    let labels = HashMap::from([("containerd.io/uncompressed".to_owned(), diff_id.to_owned())]);
    content::write_stream(conn, checked, Some(&layer.digest), labels).await?;
    let id = short(&layer.digest);
    progress.layer(&id, "Verifying Checksum");
    progress.layer(&id, "Download complete");
    Ok(())
}
