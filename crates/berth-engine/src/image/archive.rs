//! `docker save` and `docker load`: image archives in the docker-save and OCI-layout formats.

use berth_api::Result;
use berth_backend::{ByteStream, ImageLoadOptions, ImageSaveOptions, ProgressStream};

use super::Store;
use super::backend::not_yet;

/// `GET /images/get`, `GET /images/{name}/get`.
pub(crate) async fn save(_store: &Store, _options: ImageSaveOptions) -> Result<ByteStream> {
    Err(not_yet("saving images (docker save)"))
}

/// `POST /images/load`.
pub(crate) async fn load(_store: &Store, _options: ImageLoadOptions) -> Result<ProgressStream> {
    Err(not_yet("loading images (docker load)"))
}
