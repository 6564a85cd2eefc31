//! Handler of `GET /distribution/{name:.*}/json`.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_http::{ApiError, JsonResponse, not_found};
use http::{HeaderMap, Uri};

use crate::Backend;
use crate::auth::registry_auth_lenient;
use crate::params;
use crate::path::{distribution_name, name_after};

/// `GET /distribution/{name:.*}/json`: the registry's descriptor and platforms for a reference.
pub(crate) async fn inspect(
    State(backend): State<Backend>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), "/distribution/");
    let Some(name) = distribution_name(&rest) else {
        return Ok(not_found().await);
    };
    let reference = params::distribution_reference(name)?;
    let auth = registry_auth_lenient(&headers);
    Ok(JsonResponse(backend.distribution_inspect(reference, auth).await?).into_response())
}
