//! containerd leases: everything written during one operation is held by a lease until the image
//! (or container) record references it, so a half-done import is reclaimed by containerd's GC,
//! never left visible.
//!
//! A lease is released on every path: by [`Lease::release`], or, when the operation is dropped
//! mid-way (its client went away) or fails before it gets there, by a release spawned from
//! `Drop`. A lease that cannot be released because containerd is gone is no longer counted as
//! active, and [`reclaim`] deletes it once containerd is back (after a restart of containerd or
//! of berthd). As a last resort every lease expires on its own.

use std::collections::HashMap;
use std::time::Duration;

use berth_api::Error;
use containerd_client::services::v1::{CreateRequest, DeleteRequest, ListRequest};

use crate::containerd::{Containerd, status_error};

/// A lease expires on its own after this, in case nothing else releases it.
const EXPIRE_AFTER: Duration = Duration::from_secs(3600);
/// How long the release of a dropped operation's lease waits for the calls it left running.
const CALLS_GRACE: Duration = Duration::from_secs(30);
/// Prefix of the IDs of Berth's leases.
const PREFIX: &str = "berth-";
/// Prefix of the reserve's lease (and snapshot), see [`lay_reserve`].
const RESERVE: &str = "berth-reserve-";

/// An open lease; call [`Lease::release`] when done.
pub(crate) struct Lease {
    id: String,
    conn: Containerd,
    plain: Containerd,
    released: bool,
}

impl Lease {
    pub(crate) async fn create(conn: &Containerd) -> Result<Self, Error> {
        let id = format!("{PREFIX}{}", uuid::Uuid::new_v4());
        let expire = time::OffsetDateTime::now_utc() + EXPIRE_AFTER;
        let expire = expire
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::system("cannot format lease expiry").with_source(e))?;
        let labels = HashMap::from([("containerd.io/gc.expire".to_owned(), expire)]);
        // Active before it exists: a reclaim running meanwhile must not take it. Made before
        // the call, so that a create dropped half-way is undone by `Drop` too.
        let scoped = conn.with_lease(&id)?;
        conn.active_leases().insert(id.clone());
        let mut lease = Self { conn: scoped, plain: conn.clone(), id, released: false };
        let req = CreateRequest { id: lease.id.clone(), labels };
        match conn.leases().create(req).await {
            Ok(_) => Ok(lease),
            Err(status) => {
                lease.released = true;
                conn.active_leases().remove(&lease.id);
                Err(status_error("lease create", status))
            }
        }
    }

    /// The connection whose calls are made inside this lease.
    pub(crate) fn conn(&self) -> &Containerd {
        &self.conn
    }

    /// Holds an existing blob in the lease.
    pub(crate) async fn pin_content(&self, digest: &str) -> Result<(), Error> {
        self.conn.pin("content", digest).await
    }

    /// Holds an existing snapshot in the lease.
    pub(crate) async fn pin_snapshot(&self, key: &str) -> Result<(), Error> {
        self.conn.pin(&format!("snapshots/{}", crate::unpack::SNAPSHOTTER), key).await
    }

    /// Deletes the lease; what nothing else references becomes garbage.
    pub(crate) async fn release(mut self) {
        // Marked after: a release dropped half-way is done again from `Drop`.
        delete(&self.plain, &self.id, false).await;
        self.released = true;
    }
}

impl Drop for Lease {
    /// The operation ended without [`Lease::release`]: release it in the background, with a
    /// synchronous collection, since what it holds is garbage now.
    fn drop(&mut self) {
        if self.released {
            return;
        }
        let (conn, id) = (self.plain.clone(), std::mem::take(&mut self.id));
        let scoped = self.conn.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    // Calls the dropped operation left running (a content write) end first:
                    // containerd would otherwise collect an ingest it is still writing.
                    if tokio::time::timeout(CALLS_GRACE, scoped.lease_calls_done()).await.is_err() {
                        tracing::warn!(lease = %id, "calls in the lease still run; releasing it anyway");
                    }
                    delete(&conn, &id, true).await;
                });
            }
            Err(_) => {
                conn.active_leases().remove(&id);
                tracing::warn!(lease = %id, "cannot release a lease outside the runtime; it is reclaimed later");
            }
        }
    }
}

/// Deletes lease `id` (`sync`: and collects the garbage before answering); either way it is no
/// longer active, so a failed delete is retried by [`reclaim`].
async fn delete(conn: &Containerd, id: &str, sync: bool) {
    let req = DeleteRequest { id: id.to_owned(), sync };
    match conn.leases().delete(req).await {
        Ok(_) => {}
        Err(status) if status.code() == tonic::Code::NotFound => {}
        Err(status) => {
            tracing::warn!(lease = %id, error = %status, "cannot delete lease; it is reclaimed when containerd answers again");
        }
    }
    conn.active_leases().remove(id);
}

/// Deletes Berth's leases that no operation under way holds (left by operations that containerd
/// or berthd died under) and the reserve (see [`lay_reserve`]), collecting what they held.
/// Returns how many went, the reserve not counted.
pub(crate) async fn reclaim(conn: &Containerd) -> Result<usize, Error> {
    let leases = conn
        .leases()
        .list(ListRequest { filters: Vec::new() })
        .await
        .map_err(|s| status_error("list leases", s))?
        .into_inner()
        .leases;
    let mut reclaimed = 0;
    for lease in leases {
        if !lease.id.starts_with(PREFIX) || conn.active_leases().contains(&lease.id) {
            continue;
        }
        let req = DeleteRequest { id: lease.id.clone(), sync: true };
        match conn.leases().delete(req).await {
            Ok(_) if lease.id.starts_with(RESERVE) => {}
            Ok(_) => reclaimed += 1,
            Err(status) if status.code() == tonic::Code::NotFound => {}
            Err(status) => return Err(status_error("delete lease", status)),
        }
    }
    Ok(reclaimed)
}

/// Lays a new reserve: a lease holding a throwaway blob and an empty snapshot, which the next
/// [`reclaim`] deletes. Deleting it makes that collection remove content and a snapshot, and
/// containerd cleans its stores (aborts ingests it has no record of, removes snapshot
/// directories its snapshotter does not know) only in a collection that removed something of
/// theirs. A containerd killed mid-write leaves exactly such things: it creates the directory of
/// an ingest or a snapshot before it commits the record, and a snapshot directory left so takes
/// the ID the next snapshot gets ("failed to rename: … file exists") until a cleanup runs.
pub(crate) async fn lay_reserve(conn: &Containerd) -> Result<(), Error> {
    let id = format!("{RESERVE}{}", uuid::Uuid::new_v4().simple());
    let labels = HashMap::new();
    conn.leases()
        .create(CreateRequest { id: id.clone(), labels })
        .await
        .map_err(|s| status_error("lease create", s))?;
    let laid = async {
        let scoped = conn.with_lease(&id)?;
        let marker = bytes::Bytes::from(format!("berth: reserve {id}"));
        crate::content::write_bytes(&scoped, marker, HashMap::new()).await?;
        let prepare = containerd_client::services::v1::snapshots::PrepareSnapshotRequest {
            snapshotter: crate::unpack::SNAPSHOTTER.to_owned(),
            key: id.clone(),
            parent: String::new(),
            labels: HashMap::new(),
        };
        scoped
            .snapshots()
            .prepare(prepare)
            .await
            .map_err(|s| status_error("prepare snapshot", s))?;
        Ok::<_, Error>(())
    };
    let laid = laid.await;
    if laid.is_err() {
        delete(conn, &id, true).await;
    }
    laid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TestContainerd;

    async fn lease_ids(conn: &Containerd) -> Vec<String> {
        let reply = conn.leases().list(ListRequest { filters: Vec::new() }).await.expect("list");
        reply.into_inner().leases.into_iter().map(|l| l.id).collect()
    }

    #[tokio::test]
    async fn dropped_leases_are_released_and_orphans_reclaimed() {
        let ctrd = TestContainerd::start().await;
        let conn = &ctrd.conn;

        // An operation dropped mid-way: its lease goes in the background.
        let dropped = Lease::create(conn).await.expect("lease");
        let dropped_id = dropped.id.clone();
        drop(dropped);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        while lease_ids(conn).await.contains(&dropped_id) || !conn.active_leases().is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "dropped lease never released");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        // One of an interrupted operation (known to containerd, active nowhere), one under
        // way, and one that is not Berth's.
        let orphan = format!("{PREFIX}orphan");
        let other = "someone-else".to_owned();
        for id in [&orphan, &other] {
            let req = CreateRequest { id: id.clone(), labels: HashMap::new() };
            conn.leases().create(req).await.expect("create");
        }
        let live = Lease::create(conn).await.expect("lease");
        assert_eq!(reclaim(conn).await.expect("reclaim"), 1);
        let mut left = lease_ids(conn).await;
        left.sort();
        let mut want = vec![live.id.clone(), other];
        want.sort();
        assert_eq!(left, want);
        live.release().await;
        assert!(conn.active_leases().is_empty());

        ctrd.stop().await;
    }

    #[tokio::test]
    async fn reclaiming_the_reserve_cleans_what_a_killed_containerd_left() {
        let ctrd = TestContainerd::start().await;
        let conn = &ctrd.conn;
        lay_reserve(conn).await.expect("reserve");
        let reserve = lease_ids(conn).await;
        assert!(reserve.len() == 1 && reserve[0].starts_with(RESERVE), "{reserve:?}");

        // What a containerd killed mid-write leaves: a snapshot directory and an ingest that
        // no record names.
        let root = ctrd.dir.path().join("root");
        let snapshot = root.join("io.containerd.snapshotter.v1.overlayfs/snapshots/9999");
        std::fs::create_dir_all(snapshot.join("fs")).expect("snapshot dir");
        // The content store keeps an ingest under the digest of its (namespaced) ref.
        let reference = format!("{}/1/berth-ingest-x", ctrd.namespace);
        let hex = crate::content::sha256_digest(reference.as_bytes())["sha256:".len()..].to_owned();
        let ingest = root.join("io.containerd.content.v1.content/ingest").join(hex);
        std::fs::create_dir_all(&ingest).expect("ingest dir");
        std::fs::write(ingest.join("ref"), &reference).expect("ref");

        assert_eq!(reclaim(conn).await.expect("reclaim"), 0, "the reserve is not counted");
        assert!(lease_ids(conn).await.is_empty());
        assert!(!snapshot.exists(), "the snapshotter cleaned up");
        assert!(!ingest.exists(), "the content store cleaned up");
        lay_reserve(conn).await.expect("a new reserve");
        assert_eq!(lease_ids(conn).await.len(), 1);
        ctrd.stop().await;
    }
}
