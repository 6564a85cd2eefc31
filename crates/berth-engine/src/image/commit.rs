//! `POST /commit`, the image side: a container's changes become one more layer on its image.
//!
//! containerd's differ compares a read-only view of the image's snapshots with the container's
//! snapshot and writes the difference as an uncompressed layer, so its digest is its diff ID.
//! The layer is then unpacked like any pulled one, so the new image runs at once. Everything is
//! written inside a lease: a failed commit leaves nothing visible.

use std::collections::HashMap;

use berth_api::Error;
use containerd_client::services::v1::DiffRequest;
use containerd_client::services::v1::snapshots::{RemoveSnapshotRequest, ViewSnapshotRequest};
use containerd_client::types::{Descriptor, Mount};
use serde_json::{Map, Value, json};

use super::import::{ImageParts, write_image};
use super::{MEDIA_OCI_LAYER_TAR, Resolved, Store, rfc3339_now};
use crate::containerd::{Containerd, status_error};
use crate::lease::Lease;
use crate::unpack::{self, Layer, SNAPSHOTTER};

/// Diff ID of a tar with no entries (two zero blocks): a container that changed nothing.
const EMPTY_TAR: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What to commit.
pub(crate) struct CommitRequest<'a> {
    /// The container's image.
    pub(crate) parent: &'a Resolved,
    /// The mounts of the container's snapshot.
    pub(crate) rootfs: Vec<Mount>,
    /// The new image's runtime config (the config JSON's `config` object).
    pub(crate) config: Value,
    /// The container's ID.
    pub(crate) container: &'a str,
    /// `author`; empty keeps the parent's.
    pub(crate) author: &'a str,
    /// `comment`.
    pub(crate) comment: &'a str,
    /// The history entry's `created_by`: the container's command.
    pub(crate) created_by: String,
    /// Normalized name to tag the image with; `None` leaves it untagged.
    pub(crate) name: Option<String>,
}

/// Commits the container's changes as a new image; returns its ID.
pub(crate) async fn commit(store: &Store, req: CommitRequest<'_>) -> Result<String, Error> {
    let lease = Lease::create(store.conn()).await?;
    let result = commit_in(store, &lease, req).await;
    lease.release().await;
    result
}

async fn commit_in(
    store: &Store,
    lease: &Lease,
    mut req: CommitRequest<'_>,
) -> Result<String, Error> {
    let conn = lease.conn();
    let mut diff_ids = req.parent.diff_ids();
    if req.parent.layers.len() != diff_ids.len() {
        return Err(Error::system(format!(
            "image {} has {} layers but {} diff IDs",
            req.parent.id,
            req.parent.layers.len(),
            diff_ids.len()
        )));
    }
    let parent_chain = unpack::chain_ids(&diff_ids).pop().unwrap_or_default();
    let blob = diff(conn, &parent_chain, std::mem::take(&mut req.rootfs)).await?;
    // As dockerd: no changes, no layer; the history entry says so.
    let empty_layer = blob.digest == EMPTY_TAR;
    let mut layers: Vec<Descriptor> = req.parent.layers.clone();
    if !empty_layer {
        layers.push(blob.clone());
        diff_ids.push(blob.digest.clone());
    }
    let to_unpack: Vec<Layer> = layers
        .iter()
        .zip(&diff_ids)
        .map(|(blob, diff_id)| Layer { blob: blob.clone(), diff_id: diff_id.clone() })
        .collect();
    let unpacked = unpack::unpack(conn, &to_unpack).await?;
    let chain = unpacked.last().map(|(chain, _)| chain.clone()).unwrap_or_default();
    let disk_size: i64 = unpacked.iter().map(|(_, size)| size).sum();
    let blob_size: i64 = layers.iter().map(|l| l.size).sum();

    let config = image_config(&req, diff_ids, empty_layer)?;
    let parts = ImageParts {
        config: &config,
        layers: &layers,
        chain: &chain,
        size: disk_size.max(blob_size),
        name: req.name,
    };
    write_image(store, conn, parts).await
}

/// The layer blob holding what differs between the snapshot `parent_chain` (empty: no layers)
/// and the container's root filesystem `right`.
async fn diff(
    conn: &Containerd,
    parent_chain: &str,
    right: Vec<Mount>,
) -> Result<Descriptor, Error> {
    let key = format!("berth-commit-{}", uuid::Uuid::new_v4());
    let left = if parent_chain.is_empty() {
        Vec::new()
    } else {
        let view = ViewSnapshotRequest {
            snapshotter: SNAPSHOTTER.to_owned(),
            key: key.clone(),
            parent: parent_chain.to_owned(),
            labels: HashMap::new(),
        };
        conn.snapshots()
            .view(view)
            .await
            .map_err(|s| status_error("snapshot view", s))?
            .into_inner()
            .mounts
    };
    let req = DiffRequest {
        left,
        right,
        media_type: MEDIA_OCI_LAYER_TAR.to_owned(),
        r#ref: key.clone(),
        ..Default::default()
    };
    let result = conn.diff().diff(req).await;
    if !parent_chain.is_empty() {
        let remove = RemoveSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key };
        if let Err(s) = conn.snapshots().remove(remove).await {
            // The lease still holds the view; containerd's GC removes it with the lease.
            tracing::warn!(error = %s, "cannot remove the commit's snapshot view");
        }
    }
    result
        .map_err(|s| status_error("diff container", s))?
        .into_inner()
        .diff
        .ok_or_else(|| Error::system("diff container: containerd returned no descriptor"))
}

/// The new image's config: the parent's platform and history, the container's config, one more
/// history entry and (unless empty) one more layer.
fn image_config(
    req: &CommitRequest<'_>,
    diff_ids: Vec<String>,
    empty_layer: bool,
) -> Result<Value, Error> {
    let parent = &req.parent.config;
    let created = rfc3339_now()?;
    let author = match req.author {
        "" => parent["author"].as_str().unwrap_or_default(),
        own => own,
    };
    let mut entry = Map::new();
    entry.insert("created".into(), json!(created));
    entry.insert("created_by".into(), json!(req.created_by));
    if !author.is_empty() {
        entry.insert("author".into(), json!(author));
    }
    if !req.comment.is_empty() {
        entry.insert("comment".into(), json!(req.comment));
    }
    if empty_layer {
        entry.insert("empty_layer".into(), json!(true));
    }
    let mut history = parent["history"].as_array().cloned().unwrap_or_default();
    history.push(Value::Object(entry));

    let mut config = Map::new();
    let platform = [("architecture", json!(crate::go_arch())), ("os", json!("linux"))];
    for (key, default) in platform {
        config.insert(key.into(), parent.get(key).cloned().unwrap_or(default));
    }
    if let Some(variant) = parent.get("variant") {
        config.insert("variant".into(), variant.clone());
    }
    if !author.is_empty() {
        config.insert("author".into(), json!(author));
    }
    if !req.comment.is_empty() {
        config.insert("comment".into(), json!(req.comment));
    }
    config.insert("config".into(), req.config.clone());
    config.insert("container".into(), json!(req.container));
    config.insert("created".into(), json!(created));
    config.insert("history".into(), Value::Array(history));
    config.insert("rootfs".into(), json!({ "type": "layers", "diff_ids": diff_ids }));
    Ok(Value::Object(config))
}
