//! `docker push`: layers (skipped when the registry has them, mounted from another repository
//! of the same registry when it can), config, then the manifest under the tag — with dockerd's
//! progress. Layers go up exactly as stored: imported layers are uncompressed OCI tar layers
//! (`application/vnd.oci.image.layer.v1.tar`), which registries accept; pulled layers keep their
//! compression. Re-compressing would change the manifest digest the local records know.

use std::collections::HashMap;

use berth_api::Error;
use berth_api::image::Reference;
use berth_backend::{ImagePushOptions, ProgressStream};
use bytes::Bytes;
use containerd_client::services::v1::ReadContentRequest;
use containerd_client::types::Descriptor;
use futures_util::TryStreamExt;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::client::{Client, scope};
use super::progress::{Progress, Ticker, run, short};
use super::pull::{descriptor, store_choice};
use crate::containerd::{Containerd, status_error};
use crate::content;
use crate::image::{Entry, LABEL_SIZE, MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX, Store};

/// Layers uploaded at once.
const CONCURRENT_UPLOADS: usize = 3;

/// The repository part of a record name (`reg/team/app:1`, `reg/team/app@sha256:…`).
fn repo_of(name: &str) -> &str {
    if let Some((repo, _)) = name.split_once('@') {
        return repo;
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

/// `POST /images/{name}/push`: the tag (or, without one, every tag of the repository).
pub(crate) async fn push(
    store: &Store,
    options: ImagePushOptions,
) -> Result<ProgressStream, Error> {
    let reference = options.reference.clone();
    if reference.digest().is_some() {
        return Err(Error::invalid(format!(
            "cannot push a digest reference: {}",
            reference.familiar()
        )));
    }
    let repo = reference.name();
    let mut in_repo: Vec<(String, Entry)> = Vec::new();
    for entry in store.entries().await? {
        for name in entry.names() {
            if name.contains('@') || repo_of(name) != repo {
                continue;
            }
            if let Some(tag) = name.strip_prefix(&format!("{repo}:")) {
                in_repo.push((tag.to_owned(), entry.clone()));
            }
        }
    }
    if in_repo.is_empty() {
        return Err(Error::not_found(format!(
            "An image does not exist locally with the tag: {}",
            reference.familiar_name()
        )));
    }
    if let Some(tag) = reference.tag() {
        in_repo.retain(|(t, _)| t == tag);
        if in_repo.is_empty() {
            return Err(Error::not_found(format!("tag does not exist: {}", reference.familiar())));
        }
    }
    in_repo.sort_by(|a, b| a.0.cmp(&b.0));
    let store = store.clone();
    Ok(run(move |progress| async move {
        push_all(&store, &reference, options.auth, in_repo, &progress).await
    }))
}

async fn push_all(
    store: &Store,
    reference: &Reference,
    auth: berth_api::image::AuthConfig,
    tagged: Vec<(String, Entry)>,
    progress: &Progress,
) -> Result<(), Error> {
    let repo = reference.name();
    progress.status("", &format!("The push refers to repository [{repo}]"));
    let domain = reference.domain();
    let path = reference.path();
    // Other repositories of the same registry holding these images: blobs can be mounted.
    let mut sources: Vec<String> = tagged
        .iter()
        .flat_map(|(_, e)| e.names().map(repo_of).collect::<Vec<_>>())
        .filter_map(|r| r.strip_prefix(&format!("{domain}/")).map(str::to_owned))
        .filter(|p| p != path)
        .collect();
    sources.sort();
    sources.dedup();
    let mut scopes = vec![scope(path, "pull,push")];
    scopes.extend(sources.iter().map(|s| scope(s, "pull")));
    let client = Client::connect(domain, &store.insecure_registries, auth, scopes).await?;
    for (tag, entry) in tagged {
        push_tag(store, &client, reference, &tag, &entry, &sources, progress).await?;
    }
    Ok(())
}

async fn local_manifest(
    conn: &Containerd,
    target: &Descriptor,
) -> Result<(Descriptor, Bytes), Error> {
    let mut desc = target.clone();
    if matches!(desc.media_type.as_str(), MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST) {
        let index: Value = serde_json::from_slice(&content::read_all(conn, &desc.digest).await?)
            .map_err(|e| Error::system("the local index is not valid JSON").with_source(e))?;
        desc = store_choice(&index).and_then(descriptor).ok_or_else(|| {
            Error::not_found("no matching manifest for linux in the manifest list entries")
        })?;
    }
    let bytes = Bytes::from(content::read_all(conn, &desc.digest).await?);
    Ok((desc, bytes))
}

async fn push_tag(
    store: &Store,
    client: &Client,
    reference: &Reference,
    tag: &str,
    entry: &Entry,
    sources: &[String],
    progress: &Progress,
) -> Result<(), Error> {
    let conn = store.conn();
    let path = reference.path();
    let (mut manifest_desc, bytes) = local_manifest(conn, &entry.image.target).await?;
    let manifest: Value = serde_json::from_slice(&bytes)
        .map_err(|e| Error::system("the local manifest is not valid JSON").with_source(e))?;
    if let Some(m) = manifest["mediaType"].as_str().filter(|m| !m.is_empty()) {
        manifest_desc.media_type = m.to_owned();
    }
    let config = descriptor(&manifest["config"])
        .ok_or_else(|| Error::system(format!("manifest {} has no config", manifest_desc.digest)))?;
    let layers: Vec<Descriptor> = manifest["layers"]
        .as_array()
        .map(|ls| ls.iter().filter_map(descriptor).collect())
        .unwrap_or_default();
    let diff_ids = entry.image.diff_ids();
    let ids: Vec<String> = layers
        .iter()
        .enumerate()
        .map(|(i, l)| short(diff_ids.get(i).unwrap_or(&l.digest)))
        .collect();
    for id in ids.iter().rev() {
        progress.layer(id, "Preparing");
    }
    for id in ids.iter().rev().skip(CONCURRENT_UPLOADS) {
        progress.layer(id, "Waiting");
    }
    let pusher = Pusher { client, conn, domain: reference.domain(), path, sources, progress };
    let pusher = &pusher;
    futures_util::stream::iter(layers.iter().zip(&ids).map(Ok::<_, Error>))
        .try_for_each_concurrent(CONCURRENT_UPLOADS, |(layer, id)| async move {
            pusher.blob(layer, Some(id)).await
        })
        .await?;
    pusher.blob(&config, None).await?;

    let url = client.url(&format!("{path}/manifests/{tag}"))?;
    let request = client
        .request(Method::PUT, url)
        .await?
        .header(CONTENT_TYPE, manifest_desc.media_type.clone())
        .body(bytes.clone());
    client.send(&Method::PUT, request).await?;
    let digest = content::sha256_digest(&bytes);
    let size = bytes.len();
    progress.status("", &format!("{tag}: digest: {digest} size: {size}"));
    progress.aux(json!({ "Tag": tag, "Digest": digest, "Size": size }));

    let mut labels = HashMap::new();
    if let Some(size) = entry.label(LABEL_SIZE) {
        labels.insert(LABEL_SIZE.to_owned(), size.to_owned());
    }
    store.set_name(&format!("{}@{digest}", reference.name()), manifest_desc, labels).await
}

/// Where blobs go: the registry, the repository, and where they may be mounted from.
struct Pusher<'a> {
    client: &'a Client,
    conn: &'a Containerd,
    domain: &'a str,
    path: &'a str,
    sources: &'a [String],
    progress: &'a Progress,
}

impl Pusher<'_> {
    /// Uploads one blob unless the registry has it (or can mount it); `id` names a layer in the
    /// progress, `None` uploads silently (the config).
    async fn blob(&self, blob: &Descriptor, id: Option<&str>) -> Result<(), Error> {
        let (client, path) = (self.client, self.path);
        let say = |status: &str| {
            if let Some(id) = id {
                self.progress.layer(id, status);
            }
        };
        if client.has_blob(path, &blob.digest).await? {
            say("Layer already exists");
            return Ok(());
        }
        let mut upload = None;
        if let Some(source) = self.sources.first() {
            let mut url = client.url(&format!("{path}/blobs/uploads/"))?;
            url.query_pairs_mut().append_pair("mount", &blob.digest).append_pair("from", source);
            let request = client.request(Method::POST, url).await?.header(CONTENT_LENGTH, 0);
            let response = client.send(&Method::POST, request).await?;
            if response.status() == StatusCode::CREATED {
                let shown = Reference::parse_normalized(&format!("{}/{source}", self.domain))
                    .map(|r| r.familiar_name())
                    .unwrap_or_else(|_| source.clone());
                say(&format!("Mounted from {shown}"));
                return Ok(());
            }
            // The registry could not mount; it opened an ordinary upload instead.
            upload = Some(client.location(&response)?);
        }
        let location = match upload {
            Some(location) => location,
            None => {
                let url = client.url(&format!("{path}/blobs/uploads/"))?;
                let request = client.request(Method::POST, url).await?.header(CONTENT_LENGTH, 0);
                let response = client.send(&Method::POST, request).await?;
                client.location(&response)?
            }
        };

        let id_owned = id.map(str::to_owned);
        let body = read_stream(self.conn, &blob.digest, blob.size, id_owned, self.progress.clone())
            .await?;
        let request = client
            .request(Method::PATCH, location)
            .await?
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, blob.size)
            .body(body);
        let response = client.send(&Method::PATCH, request).await?;
        let mut finish = client.location(&response)?;
        finish.query_pairs_mut().append_pair("digest", &blob.digest);
        let request = client.request(Method::PUT, finish).await?.header(CONTENT_LENGTH, 0);
        client.send(&Method::PUT, request).await?;
        say("Pushed");
        Ok(())
    }
}

/// A blob from the content store as a request body, reporting `Pushing` as it is read.
async fn read_stream(
    conn: &Containerd,
    digest: &str,
    total: i64,
    id: Option<String>,
    progress: Progress,
) -> Result<reqwest::Body, Error> {
    let req = ReadContentRequest { digest: digest.to_owned(), offset: 0, size: 0 };
    let stream = conn
        .content()
        .read(req)
        .await
        .map_err(|s| status_error(&format!("content {digest}"), s))?
        .into_inner();
    let mut done: i64 = 0;
    let mut ticker = Ticker::new();
    let body = stream
        .map_ok(move |msg| {
            done += msg.data.len() as i64;
            if let Some(id) = &id
                && ticker.due(done >= total)
            {
                progress.bar(id, "Pushing", done, total);
            }
            Bytes::from(msg.data)
        })
        .map_err(|s| std::io::Error::other(format!("content read: {}", s.message())));
    Ok(reqwest::Body::wrap_stream(body))
}
