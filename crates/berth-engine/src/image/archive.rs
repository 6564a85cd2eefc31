//! `docker save` and `docker load`: image archives in the docker-save and OCI-layout formats.
//!
//! `save` writes what dockerd 25+ writes: an OCI image layout (`oci-layout`, `index.json`,
//! `blobs/sha256/…`) that also carries the legacy `manifest.json` and `repositories`, so both the
//! legacy loader (dockerd ≤ 24 and the graphdriver store) and OCI loaders read it. Blobs are
//! written byte for byte as stored, so the config digest (the image ID) survives.
//!
//! `load` reads either format (the whole tarball possibly gzip'd) from a spool file, writes every
//! blob inside a lease, unpacks, and only then names the images: a failure at any point leaves
//! nothing visible and containerd's GC reclaims what was written.

use berth_api::Result;
use berth_backend::{ByteStream, ImageLoadOptions, ImageSaveOptions, ProgressStream};

use super::Store;

mod load;
mod progress;
mod save;
mod spool;
#[cfg(test)]
mod tests;

/// `manifest.json`: the legacy docker-save index.
const MANIFEST_JSON: &str = "manifest.json";
/// `index.json`: the OCI image layout's index.
const INDEX_JSON: &str = "index.json";
/// `oci-layout`: the OCI image layout marker.
const OCI_LAYOUT: &str = "oci-layout";
/// `repositories`: the legacy repository → tag → top layer map.
const REPOSITORIES: &str = "repositories";
/// Annotation with the full image name on an index entry (containerd's).
const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";
/// Annotation with the tag on an index entry (OCI's).
const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// `GET /images/get`, `GET /images/{name}/get`.
pub(crate) async fn save(store: &Store, options: ImageSaveOptions) -> Result<ByteStream> {
    save::save(store, options).await
}

/// `POST /images/load`.
pub(crate) async fn load(store: &Store, options: ImageLoadOptions) -> Result<ProgressStream> {
    load::load(store, options).await
}

/// `load` without containerd: see `load::dry_run`. For the fuzz targets.
pub(crate) async fn load_dry_run(
    body: ByteStream,
    platform: Option<&berth_api::image::Platform>,
) -> Result<Vec<String>> {
    load::dry_run(body, platform).await
}

/// The path of a blob inside an archive: `blobs/sha256/<hex>`.
fn blob_path(digest: &str) -> String {
    let (algorithm, hex) = digest.split_once(':').unwrap_or(("sha256", digest));
    format!("blobs/{algorithm}/{hex}")
}
