//! The image API group (`/images/...`, `/distribution/{name}/json`) as an axum `Router` over
//! [`ImageBackend`].
//!
//! dockerd registers greedy routes (`/images/{name:.*}/json`) in a fixed order and the first
//! match wins; image names contain `/` and `:`. axum's `{name}` is one segment, so each method
//! gets one catch-all route and the `path` module picks the handler from the suffix, as
//! gorilla/mux would.
//! Exact paths (`/images/json`, `/images/load`, …) are separate routes, so they also answer the
//! other methods dockerd would route there (`DELETE /images/json` deletes an image named `json`).
//! `GET /images/search` is left unrouted: it needs Docker Hub, and the daemon's table answers 501.

use std::sync::Arc;

use axum::Router;
use axum::routing::{delete, post};
use berth_backend::ImageBackend;
use berth_http::get;

mod auth;
mod distribution;
mod images;
mod params;
mod path;

type Backend = Arc<dyn ImageBackend>;

/// The image and distribution routes. Paths are unversioned: the version middleware strips
/// `/vX.Y` first.
pub fn router(backend: Arc<dyn ImageBackend>) -> Router {
    Router::new()
        // Exact paths first, as dockerd registers them; DELETE on any of them is a name.
        .route("/images/json", get(images::list).delete(images::remove))
        .route("/images/search", delete(images::remove))
        .route("/images/get", get(images::save).delete(images::remove))
        .route("/images/load", post(images::load).delete(images::remove))
        .route("/images/create", post(images::create).delete(images::remove))
        .route("/images/prune", post(images::prune).delete(images::remove))
        // `DELETE /images/` reaches dockerd's handler with an empty name.
        .route("/images/", delete(images::remove))
        // GET {name}/get|history|json, POST {name}/push|tag, DELETE {name}.
        .route(
            "/images/{*name}",
            get(images::get_named).post(images::post_named).delete(images::remove),
        )
        .route("/distribution/{*name}", get(distribution::inspect))
        .with_state(backend)
}
