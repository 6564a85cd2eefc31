//! The volume API group.

use berth_api::Result;
use berth_api::filters::Filters;
use berth_api::volume::{Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneReport};

/// The volume API group: `/volumes/...`.
///
/// Names are what the client wrote; an unknown volume is a 404 `get <name>: no such volume`
/// (dockerd's wording).
#[async_trait::async_trait]
pub trait VolumeBackend: Send + Sync + 'static {
    /// `GET /volumes`. Filters are parsed and checked by the router: only `dangling` (one
    /// boolean), `driver`, `label` and `name` occur.
    async fn list(&self, filters: Filters) -> Result<VolumeListResponse>;

    /// `GET /volumes/{name}`.
    async fn inspect(&self, name: &str) -> Result<Volume>;

    /// `POST /volumes/create` (201). An existing name returns that volume unchanged. 400 for an
    /// invalid name (`create <name>: "<name>" includes invalid characters for a local volume
    /// name, ...`) or driver option (`create <name>: invalid option: "<key>"`); 404 for a driver
    /// other than `local` (`create <name>: error looking up volume plugin <d>: plugin "<d>" not
    /// found`).
    async fn create(&self, options: VolumeCreateOptions) -> Result<Volume>;

    /// `DELETE /volumes/{name}` (204). 409 `remove <name>: volume is in use - [<id>, ...]` while
    /// containers reference it (even with `force`); `force` only makes a missing volume a
    /// success.
    async fn remove(&self, name: &str, force: bool) -> Result<()>;

    /// `POST /volumes/prune`: removes volumes no container references. Filters checked by the
    /// router: `label`, `label!` and `all` occur; the router adds `all=true` for clients below
    /// API 1.42. Without `all=true` only anonymous volumes go. 400 for a bad `all` value; 409
    /// `a prune operation is already running`.
    async fn prune(&self, filters: Filters) -> Result<VolumePruneReport>;
}
