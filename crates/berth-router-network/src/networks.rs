//! Handlers of `/networks/...`: extract, call the backend, map the result.

use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use berth_api::ApiVersion;
use berth_api::network::NetworkCreateRequest;
use berth_http::{ApiError, ApiJson, Form, JsonResponse, RequestApiVersion, not_found};
use http::{StatusCode, Uri};

use crate::Backend;
use crate::params;
use crate::path::{PostRoute, network_ref, post_route};

/// `GET /networks` and `GET /networks/`.
pub(crate) async fn list(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
) -> Result<Response, ApiError> {
    let networks = backend.list(params::list_filters(&form)?).await?;
    let body: Vec<_> = networks.iter().map(|network| network.for_list(version)).collect();
    Ok(JsonResponse(body).into_response())
}

/// `GET /networks/{id:.+}`.
pub(crate) async fn inspect(
    State(backend): State<Backend>,
    uri: Uri,
    form: Form,
) -> Result<Response, ApiError> {
    let options = params::inspect_options(&form)?;
    let network = backend.inspect(&network_ref(uri.path()), options).await?;
    Ok(JsonResponse(network).into_response())
}

/// `POST /networks/create` (201). `EnableIPv4` exists from API 1.48; older clients' is dropped.
pub(crate) async fn create(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let mut request: NetworkCreateRequest = params::body(body)?;
    if version < ApiVersion::new(1, 48) {
        request.enable_ipv4 = None;
    }
    let created = backend.create(request).await?;
    Ok((StatusCode::CREATED, JsonResponse(created)).into_response())
}

/// `POST /networks/{id:.*}/connect|disconnect` (200, empty). The route is chosen before the body
/// is read, so an unknown action is a 404 whatever the body.
pub(crate) async fn post_named(
    State(backend): State<Backend>,
    request: Request,
) -> Result<Response, ApiError> {
    let rest = network_ref(request.uri().path());
    let Some(route) = post_route(&rest) else {
        return Ok(not_found().await);
    };
    let body = match ApiJson::<serde_json::Value>::from_request(request, &()).await {
        Ok(ApiJson(body)) => body,
        Err(rejection) => return Ok(rejection),
    };
    match route {
        PostRoute::Connect(network) => backend.connect(network, params::body(body)?).await?,
        PostRoute::Disconnect(network) => backend.disconnect(network, params::body(body)?).await?,
    }
    Ok(StatusCode::OK.into_response())
}

/// `DELETE /networks/{id:.*}` (204).
pub(crate) async fn remove(State(backend): State<Backend>, uri: Uri) -> Result<Response, ApiError> {
    backend.remove(&network_ref(uri.path())).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /networks/prune`.
pub(crate) async fn prune(
    State(backend): State<Backend>,
    form: Form,
) -> Result<Response, ApiError> {
    let report = backend.prune(params::prune_filters(&form)?).await?;
    Ok(JsonResponse(report).into_response())
}
