//! The load's lease, which can also pin blobs and snapshots that existed before it.
//!
//! containerd adds only what a call creates to the lease it runs in. A blob that was already
//! there (an image removed a moment ago and now loaded again) or a snapshot that `unpack`
//! skipped is held by nothing until the image record exists, and a GC in between reclaims it.
//! Pinning them to the lease closes that window. (`crate::lease::Lease` keeps its ID private;
//! this is the same lease with `AddResource` on top.)

use std::collections::HashMap;
use std::time::Duration;

use berth_api::{Error, Result};
use containerd_client::services::v1::{AddResourceRequest, CreateRequest, DeleteRequest, Resource};

use crate::containerd::{Containerd, status_error};

/// The lease expires on its own after this, in case berthd dies mid-load.
const EXPIRE_AFTER: Duration = Duration::from_secs(3600);

pub(super) struct PinLease {
    id: String,
    conn: Containerd,
    plain: Containerd,
}

impl PinLease {
    pub(super) async fn create(conn: &Containerd) -> Result<Self> {
        let id = format!("berth-load-{}", uuid::Uuid::new_v4());
        let expire = time::OffsetDateTime::now_utc() + EXPIRE_AFTER;
        let expire = expire
            .format(&time::format_description::well_known::Rfc3339)
            .map_err(|e| Error::system("cannot format lease expiry").with_source(e))?;
        let labels = HashMap::from([("containerd.io/gc.expire".to_owned(), expire)]);
        conn.leases()
            .create(CreateRequest { id: id.clone(), labels })
            .await
            .map_err(|s| status_error("lease create", s))?;
        Ok(Self { conn: conn.with_lease(&id)?, plain: conn.clone(), id })
    }

    /// The connection whose calls are made inside this lease.
    pub(super) fn conn(&self) -> &Containerd {
        &self.conn
    }

    /// Holds a blob in the lease.
    pub(super) async fn pin_content(&self, digest: &str) -> Result<()> {
        self.pin("content", digest).await
    }

    /// Holds a snapshot in the lease.
    pub(super) async fn pin_snapshot(&self, key: &str) -> Result<()> {
        self.pin(&format!("snapshots/{}", crate::unpack::SNAPSHOTTER), key).await
    }

    async fn pin(&self, kind: &str, id: &str) -> Result<()> {
        let resource = Resource { id: id.to_owned(), r#type: kind.to_owned() };
        let req = AddResourceRequest { id: self.id.clone(), resource: Some(resource) };
        self.plain
            .leases()
            .add_resource(req)
            .await
            .map_err(|s| status_error("lease add resource", s))?;
        Ok(())
    }

    /// Deletes the lease; what nothing else references becomes garbage.
    pub(super) async fn release(self) {
        let req = DeleteRequest { id: self.id.clone(), sync: false };
        if let Err(status) = self.plain.leases().delete(req).await {
            tracing::warn!(lease = %self.id, error = %status, "cannot delete lease; it expires on its own");
        }
    }
}
