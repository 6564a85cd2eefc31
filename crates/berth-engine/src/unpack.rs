//! Unpacking image layers into overlayfs snapshots named by chain ID, as containerd's own
//! unpacker does, so containers (and `ctr`) can use them.

use std::collections::HashMap;

use berth_api::Error;
use containerd_client::services::v1::ApplyRequest;
use containerd_client::services::v1::snapshots::{
    CommitSnapshotRequest, PrepareSnapshotRequest, RemoveSnapshotRequest, StatSnapshotRequest,
    UsageRequest,
};
use containerd_client::types::Descriptor;

use crate::containerd::{Containerd, status_error};
use crate::content::sha256_digest;

/// The snapshotter Berth uses.
pub(crate) const SNAPSHOTTER: &str = "overlayfs";

/// chainID(L0) = diffID(L0); chainID(Ln) = sha256(chainID(Ln-1) + " " + diffID(Ln)).
pub(crate) fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => sha256_digest(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// One layer to unpack: its blob and the diff ID its uncompressed content must have.
pub(crate) struct Layer {
    pub(crate) blob: Descriptor,
    pub(crate) diff_id: String,
}

/// Unpacks `layers` (bottom first), skipping layers already unpacked. Returns the chain IDs and
/// the size each layer takes on disk. `conn` should carry a lease.
pub(crate) async fn unpack(
    conn: &Containerd,
    layers: &[Layer],
) -> Result<Vec<(String, i64)>, Error> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.diff_id.clone()).collect();
    let chains = chain_ids(&diff_ids);
    let mut out = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let chain = &chains[i];
        let parent = if i == 0 { String::new() } else { chains[i - 1].clone() };
        if exists(conn, chain).await? {
            // Already unpacked (by another image, or one removed a moment ago): hold it.
            conn.pin(&format!("snapshots/{SNAPSHOTTER}"), chain).await?;
        } else {
            apply_one(conn, layer, chain, &parent).await?;
        }
        out.push((chain.clone(), usage(conn, chain).await.unwrap_or(0)));
    }
    Ok(out)
}

async fn exists(conn: &Containerd, chain: &str) -> Result<bool, Error> {
    let req = StatSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key: chain.to_owned() };
    match conn.snapshots().stat(req).await {
        Ok(_) => Ok(true),
        Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
        Err(s) => Err(status_error("snapshot stat", s)),
    }
}

async fn usage(conn: &Containerd, chain: &str) -> Result<i64, Error> {
    let req = UsageRequest { snapshotter: SNAPSHOTTER.to_owned(), key: chain.to_owned() };
    let usage = conn.snapshots().usage(req).await.map_err(|s| status_error("snapshot usage", s))?;
    Ok(usage.into_inner().size)
}

async fn apply_one(
    conn: &Containerd,
    layer: &Layer,
    chain: &str,
    parent: &str,
) -> Result<(), Error> {
    let nanos = crate::now_nanos();
    let key = format!("extract-{nanos}-{chain}");
    let prepare = PrepareSnapshotRequest {
        snapshotter: SNAPSHOTTER.to_owned(),
        key: key.clone(),
        parent: parent.to_owned(),
        labels: HashMap::new(),
    };
    let mounts = conn
        .snapshots()
        .prepare(prepare)
        .await
        .map_err(|s| status_error("snapshot prepare", s))?
        .into_inner()
        .mounts;
    let result = async {
        let applied = conn
            .diff()
            .apply(ApplyRequest { diff: Some(layer.blob.clone()), mounts, ..Default::default() })
            .await
            .map_err(|s| status_error("apply layer", s))?
            .into_inner()
            .applied
            .ok_or_else(|| Error::system("apply layer: containerd returned no descriptor"))?;
        if applied.digest != layer.diff_id {
            return Err(Error::invalid(format!(
                "layer {} unpacked to {}, but the image config says {}",
                layer.blob.digest, applied.digest, layer.diff_id
            )));
        }
        let commit = CommitSnapshotRequest {
            snapshotter: SNAPSHOTTER.to_owned(),
            name: chain.to_owned(),
            key: key.clone(),
            labels: HashMap::from([("containerd.io/snapshot.ref".to_owned(), chain.to_owned())]),
        };
        match conn.snapshots().commit(commit).await {
            Ok(_) => Ok(()),
            // Someone unpacked the same layer meanwhile: theirs is as good as ours.
            Err(s) if s.code() == tonic::Code::AlreadyExists => Ok(()),
            Err(s) => Err(status_error("snapshot commit", s)),
        }
    }
    .await;
    if result.is_err() {
        let remove = RemoveSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key };
        let _ = conn.snapshots().remove(remove).await;
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_rule() {
        let a = "sha256:aaaa".to_owned();
        let b = "sha256:bbbb".to_owned();
        let chains = chain_ids(&[a.clone(), b.clone()]);
        assert_eq!(chains[0], a);
        assert_eq!(chains[1], sha256_digest(b"sha256:aaaa sha256:bbbb"));
        assert!(chain_ids(&[]).is_empty());
    }
}
