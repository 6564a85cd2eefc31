//! containerd's content store: streaming blobs in (hashing as they go), reading them back.

use std::collections::HashMap;

use berth_api::Error;
use bytes::Bytes;
use containerd_client::services::v1::{
    ReadContentRequest, UpdateRequest, WriteAction, WriteContentRequest,
};
use futures_core::Stream;
use futures_util::StreamExt;
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::containerd::{Containerd, status_error};

/// Most bytes sent to containerd in one write message.
const CHUNK: usize = 1 << 20;

/// `sha256:<hex>` of `data`.
pub(crate) fn sha256_digest(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// A blob now in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Written {
    pub(crate) digest: String,
    pub(crate) size: i64,
}

/// Writes `data` (known in full) under its digest, with `labels`.
pub(crate) async fn write_bytes(
    conn: &Containerd,
    data: Bytes,
    labels: HashMap<String, String>,
) -> Result<Written, Error> {
    let digest = sha256_digest(&data);
    let stream = futures_util::stream::iter([Ok::<_, Error>(data)]);
    write_stream(conn, stream, Some(&digest), labels).await
}

/// Streams a blob into the content store, hashing it on the way; commits it under the computed
/// digest (checked against `expected` when given). A blob that is already there is success; its
/// labels are then applied with an update, because such a commit applies none.
pub(crate) async fn write_stream<S>(
    conn: &Containerd,
    data: S,
    expected: Option<&str>,
    labels: HashMap<String, String>,
) -> Result<Written, Error>
where
    S: Stream<Item = Result<Bytes, Error>> + Send,
{
    let reference = format!("berth-ingest-{}", uuid::Uuid::new_v4());
    let (tx, rx) = mpsc::channel::<WriteContentRequest>(2);
    let mut client = conn.content();
    // The call may outlive this function (dropped when its client goes away): until it ends,
    // containerd still writes the ingest, and the lease must not be collected under it.
    let hold = conn.hold_lease().await;
    let call = tokio::spawn(async move {
        let _hold = hold;
        let mut responses = client.write(ReceiverStream::new(rx)).await?.into_inner();
        while responses.message().await?.is_some() {}
        Ok::<(), tonic::Status>(())
    });

    let mut hasher = Sha256::new();
    let mut offset: i64 = 0;
    let mut data = std::pin::pin!(data);
    let mut failure = None;
    'read: while let Some(chunk) = data.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        hasher.update(&chunk);
        for piece in chunk.chunks(CHUNK) {
            let msg = WriteContentRequest {
                action: WriteAction::Write as i32,
                r#ref: reference.clone(),
                offset,
                data: Bytes::copy_from_slice(piece).to_vec(),
                ..Default::default()
            };
            offset += piece.len() as i64;
            if tx.send(msg).await.is_err() {
                break 'read;
            }
        }
    }
    let digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    if failure.is_none()
        && let Some(expected) = expected
        && expected != digest
    {
        failure = Some(Error::invalid(format!(
            "content digest mismatch: expected {expected}, got {digest}"
        )));
    }
    if failure.is_none() {
        let commit = WriteContentRequest {
            action: WriteAction::Commit as i32,
            r#ref: reference.clone(),
            offset,
            total: offset,
            expected: digest.clone(),
            labels: labels.clone(),
            ..Default::default()
        };
        // A closed channel means the call already failed; its error is reported below.
        let _ = tx.send(commit).await;
    }
    drop(tx);
    let outcome =
        call.await.map_err(|e| Error::system("content write task failed").with_source(e))?;
    if let Some(err) = failure {
        abort(conn, &reference).await;
        return Err(err);
    }
    match outcome {
        Ok(()) => {}
        Err(status) if status.code() == tonic::Code::AlreadyExists => {
            conn.pin("content", &digest).await?;
            if !labels.is_empty() {
                update_labels(conn, &digest, labels).await?;
            }
        }
        Err(status) => {
            abort(conn, &reference).await;
            return Err(status_error("content write", status));
        }
    }
    Ok(Written { digest, size: offset })
}

/// Drops an unfinished ingest (best effort; containerd also expires them).
async fn abort(conn: &Containerd, reference: &str) {
    let req = containerd_client::services::v1::AbortRequest { r#ref: reference.to_owned() };
    if let Err(status) = conn.content().abort(req).await
        && status.code() != tonic::Code::NotFound
    {
        tracing::debug!(%reference, error = %status, "cannot abort ingest");
    }
}

/// Sets `labels` on an existing blob.
pub(crate) async fn update_labels(
    conn: &Containerd,
    digest: &str,
    labels: HashMap<String, String>,
) -> Result<(), Error> {
    let paths = labels.keys().map(|k| format!("labels.{k}")).collect();
    let info = containerd_client::services::v1::Info {
        digest: digest.to_owned(),
        labels,
        ..Default::default()
    };
    let req =
        UpdateRequest { info: Some(info), update_mask: Some(prost_types::FieldMask { paths }) };
    conn.content().update(req).await.map_err(|s| status_error("content update", s))?;
    Ok(())
}

/// Reads a whole blob (manifests and configs: small).
pub(crate) async fn read_all(conn: &Containerd, digest: &str) -> Result<Vec<u8>, Error> {
    let req = ReadContentRequest { digest: digest.to_owned(), offset: 0, size: 0 };
    let mut stream = conn
        .content()
        .read(req)
        .await
        .map_err(|s| status_error(&format!("content {digest}"), s))?
        .into_inner();
    let mut out = Vec::new();
    while let Some(msg) = stream.message().await.map_err(|s| status_error("content read", s))? {
        out.extend_from_slice(&msg.data);
    }
    Ok(out)
}
