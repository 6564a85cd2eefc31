//! Talking to registries: pull, push and distribution inspect (the OCI distribution API).

use berth_api::Result;
use berth_api::image::{AuthConfig, DistributionInspect, Reference};
use berth_backend::{ImagePullOptions, ImagePushOptions, ProgressStream};

use super::Store;
use super::backend::not_yet;
use super::familiar;

/// `POST /images/create?fromImage=`.
pub(crate) async fn pull(_store: &Store, options: ImagePullOptions) -> Result<ProgressStream> {
    Err(not_yet(&format!("pulling {}", familiar(&options.reference.to_string()))))
}

/// `POST /images/{name}/push`.
pub(crate) async fn push(_store: &Store, options: ImagePushOptions) -> Result<ProgressStream> {
    Err(not_yet(&format!("pushing {}", familiar(&options.reference.to_string()))))
}

/// `GET /distribution/{name}/json`.
pub(crate) async fn inspect(
    _store: &Store,
    _reference: Reference,
    _auth: AuthConfig,
) -> Result<DistributionInspect> {
    Err(not_yet("distribution inspect (it needs the registry client)"))
}
