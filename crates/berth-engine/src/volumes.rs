//! The volume backend on the volume store.

use berth_api::volume::{Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneReport};
use berth_api::{Filters, Result};
use berth_backend::VolumeBackend;

use crate::Engine;

impl Engine {
    /// The volume store (it lives with the container service, which references volumes).
    pub(crate) fn volumes(&self) -> Result<&crate::volume::Volumes> {
        Ok(&self.containers()?.volumes)
    }

    /// Every local volume without driver options, with its size and reference count, for
    /// `GET /system/df` (none when the engine is unavailable).
    pub async fn volume_disk_usage(&self) -> Vec<Volume> {
        match self.volumes() {
            Ok(volumes) => volumes.usage().await,
            Err(_) => Vec::new(),
        }
    }
}

#[async_trait::async_trait]
impl VolumeBackend for Engine {
    #[tracing::instrument(skip_all)]
    async fn list(&self, filters: Filters) -> Result<VolumeListResponse> {
        Ok(self.volumes()?.list(&filters))
    }

    #[tracing::instrument(skip_all)]
    async fn inspect(&self, name: &str) -> Result<Volume> {
        self.volumes()?.get(name)
    }

    #[tracing::instrument(skip_all)]
    async fn create(&self, options: VolumeCreateOptions) -> Result<Volume> {
        self.volumes()?.create(options, None)
    }

    #[tracing::instrument(skip_all)]
    async fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.volumes()?.remove(name, force).await
    }

    #[tracing::instrument(skip_all)]
    async fn prune(&self, filters: Filters) -> Result<VolumePruneReport> {
        self.volumes()?.prune(&filters).await
    }
}
