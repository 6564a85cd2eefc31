//! The volume API group (`/volumes/...`) as an axum `Router` over [`VolumeBackend`].
//!
//! dockerd registers `GET`, `PUT` and `DELETE /volumes/{name:.*}` (greedy) next to the exact
//! `GET /volumes`, `POST /volumes/create` and `POST /volumes/prune`; the first match wins, so
//! `GET /volumes/create` inspects a volume named `create`. axum's `{*name}` needs one character,
//! hence the extra `/volumes/` route, and the exact paths also answer the greedy methods.
//! `PUT` (cluster volume update) is answered as a dockerd outside a swarm does.

use std::sync::Arc;

use axum::Router;
use axum::routing::MethodRouter;
use berth_backend::VolumeBackend;
use berth_http::{get, not_found};

mod params;
mod volumes;

type Backend = Arc<dyn VolumeBackend>;

/// The volume routes. Paths are unversioned: the version middleware strips `/vX.Y` first.
pub fn router(backend: Arc<dyn VolumeBackend>) -> Router {
    // GET, PUT and DELETE /volumes/{name:.*}.
    let named = |route: MethodRouter<Backend>| {
        route.put(volumes::update).delete(volumes::remove).fallback(not_found)
    };
    Router::new()
        .route("/volumes", get(volumes::list).fallback(not_found))
        .route("/volumes/create", named(get(volumes::inspect).post(volumes::create)))
        .route("/volumes/prune", named(get(volumes::inspect).post(volumes::prune)))
        .route("/volumes/{*name}", named(get(volumes::inspect)))
        .route("/volumes/", named(get(volumes::inspect)))
        .with_state(backend)
}
