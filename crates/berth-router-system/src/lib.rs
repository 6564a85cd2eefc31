//! The system API group (`/_ping`, `/version`, `/info`, `/events`, and `OPTIONS` on any path) as
//! an axum `Router` over [`SystemBackend`].

use std::sync::Arc;

use axum::Router;
use axum::routing::options;
use berth_backend::SystemBackend;
use berth_http::get;

mod handlers;
mod params;

type Backend = Arc<dyn SystemBackend>;

/// The system routes. Paths are unversioned: the version middleware strips `/vX.Y` first.
pub fn router(backend: Arc<dyn SystemBackend>) -> Router {
    Router::new()
        .route("/_ping", axum::routing::get(handlers::ping).head(handlers::ping_head))
        .route("/version", get(handlers::version))
        .route("/info", get(handlers::info))
        .route("/events", get(handlers::events))
        .route("/system/df", get(handlers::disk_usage))
        .route("/auth", axum::routing::post(handlers::login))
        // dockerd answers OPTIONS on every path (CORS preflight) with an empty 200.
        .route("/", options(handlers::options))
        .route("/{*any}", options(handlers::options))
        .with_state(backend)
}
