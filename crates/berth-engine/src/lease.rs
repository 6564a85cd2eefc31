//! containerd leases: everything written during one operation is held by a lease until the image
//! record references it, so a half-done import is reclaimed by containerd's GC, never left
//! visible.

use std::collections::HashMap;
use std::time::Duration;

use berth_api::Error;
use containerd_client::services::v1::{CreateRequest, DeleteRequest};

use crate::containerd::{Containerd, status_error};

/// A lease expires on its own after this, in case berthd dies mid-operation.
const EXPIRE_AFTER: Duration = Duration::from_secs(3600);

/// An open lease; call [`Lease::release`] when done (on every path).
pub(crate) struct Lease {
    id: String,
    conn: Containerd,
    plain: Containerd,
}

impl Lease {
    pub(crate) async fn create(conn: &Containerd) -> Result<Self, Error> {
        let id = format!("berth-{}", uuid::Uuid::new_v4());
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
    pub(crate) async fn release(self) {
        let req = DeleteRequest { id: self.id.clone(), sync: false };
        if let Err(status) = self.plain.leases().delete(req).await {
            tracing::warn!(lease = %self.id, error = %status, "cannot delete lease; it expires on its own");
        }
    }
}
