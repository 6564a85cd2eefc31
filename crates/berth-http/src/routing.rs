use axum::extract::Request;
use axum::handler::Handler;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use http::StatusCode;

use crate::error_response;

/// Marker in the extensions of a response that no route produced. The middleware leaves such
/// responses alone: dockerd's 404 carries none of the `Server`/`Api-Version` headers.
#[derive(Debug, Clone, Copy)]
pub struct RouteNotFound;

/// dockerd's answer for an unknown path or a known path with the wrong method: 404
/// `{"message":"page not found"}` (never 405).
pub async fn not_found() -> Response {
    let mut response = error_response(StatusCode::NOT_FOUND, "page not found");
    response.extensions_mut().insert(RouteNotFound);
    response
}

/// A `GET` route that, unlike axum's `get`, does not also answer `HEAD`: dockerd registers `HEAD`
/// only where it means it, and answers 404 elsewhere.
pub fn get<H, T, S>(handler: H) -> MethodRouter<S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    axum::routing::get(handler).head(not_found)
}

/// Whether experimental features are on for this request; inserted into the request extensions by
/// the experimental middleware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Experimental(pub bool);

/// Route middleware for experimental-only routes (use with `MethodRouter::route_layer(
/// axum::middleware::from_fn(experimental_only))`): answers 501 with dockerd's message unless
/// experimental features are enabled.
pub async fn experimental_only(request: Request, next: Next) -> Response {
    match request.extensions().get::<Experimental>() {
        Some(Experimental(true)) => next.run(request).await,
        _ => error_response(
            StatusCode::NOT_IMPLEMENTED,
            "This experimental feature is disabled by default. Start the Docker daemon in \
             experimental mode in order to enable it.",
        )
        .into_response(),
    }
}
