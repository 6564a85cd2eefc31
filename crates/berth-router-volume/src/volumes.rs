//! Handlers of `/volumes/...`: extract, call the backend, map the result.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_api::container::decode_body;
use berth_api::volume::VolumeCreateOptions;
use berth_api::{ApiVersion, Error, ErrorKind};
use berth_http::{ApiError, ApiJson, Form, JsonResponse, RequestApiVersion};
use http::{StatusCode, Uri};

use crate::Backend;
use crate::params::{self, volume_name};

/// API version that introduced cluster volumes (and `PUT /volumes/{name}`).
const CLUSTER_VOLUMES: ApiVersion = ApiVersion::new(1, 42);

/// dockerd's answer to a cluster-volume request on a node outside any swarm.
const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \
                             \"docker swarm join\" to connect this node to swarm and try again.";

/// `GET /volumes`.
pub(crate) async fn list(State(backend): State<Backend>, form: Form) -> Result<Response, ApiError> {
    let filters = params::list_filters(&form)?;
    Ok(JsonResponse(backend.list(filters).await?).into_response())
}

/// `GET /volumes/{name:.*}`.
pub(crate) async fn inspect(
    State(backend): State<Backend>,
    uri: Uri,
) -> Result<Response, ApiError> {
    let volume = backend.inspect(&volume_name(uri.path())).await?;
    Ok(JsonResponse(volume).into_response())
}

/// `POST /volumes/create` (201). A `ClusterVolumeSpec` (API ≥ 1.42) asks for a swarm cluster
/// volume, which only a swarm manager creates.
pub(crate) async fn create(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let options: VolumeCreateOptions =
        if body.is_null() { VolumeCreateOptions::default() } else { decode_body(body)? };
    if options.cluster_volume_spec.is_some() && version >= CLUSTER_VOLUMES {
        return Err(Error::new(ErrorKind::Unavailable, NOT_A_MANAGER).into());
    }
    let volume = backend.create(options).await?;
    Ok((StatusCode::CREATED, JsonResponse(volume)).into_response())
}

/// `PUT /volumes/{name:.*}` (API ≥ 1.42): updates cluster volumes only, so outside a swarm it
/// is always 503.
pub(crate) async fn update(
    RequestApiVersion(version): RequestApiVersion,
) -> Result<Response, ApiError> {
    params::require_version(version, CLUSTER_VOLUMES, "PUT /volumes/{name:.*}")?;
    Err(Error::new(
        ErrorKind::Unavailable,
        "volume update only valid for cluster volumes, but swarm is unavailable",
    )
    .into())
}

/// `DELETE /volumes/{name:.*}` (204).
pub(crate) async fn remove(
    State(backend): State<Backend>,
    uri: Uri,
    form: Form,
) -> Result<Response, ApiError> {
    backend.remove(&volume_name(uri.path()), form.bool("force")).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /volumes/prune` (API ≥ 1.25).
pub(crate) async fn prune(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
) -> Result<Response, ApiError> {
    params::require_version(version, ApiVersion::new(1, 25), "POST /volumes/prune")?;
    let filters = params::prune_filters(&form, version)?;
    Ok(JsonResponse(backend.prune(filters).await?).into_response())
}
