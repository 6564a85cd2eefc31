//! The network API group (`/networks/...`) as an axum `Router` over [`NetworkBackend`].
//!
//! dockerd registers, in this order, `GET /networks`, `GET /networks/`, `GET /networks/{id:.+}`,
//! `POST /networks/create`, `POST /networks/{id:.*}/connect|disconnect`, `POST /networks/prune`
//! and `DELETE /networks/{id:.*}`; the variables are greedy and the first match wins, so `GET
//! /networks/create` inspects a network named `create` and `POST /networks/a/b/connect` connects
//! to `a/b`. axum's `{*id}` is one route per method with the suffix picked in `path`, and needs
//! one character, hence the extra `/networks/` route (`DELETE /networks/` reaches dockerd's
//! handler with an empty reference). The exact paths also answer the greedy methods.

use std::sync::Arc;

use axum::Router;
use axum::routing::MethodRouter;
use berth_backend::NetworkBackend;
use berth_http::{get, not_found};

mod networks;
mod params;
mod path;

type Backend = Arc<dyn NetworkBackend>;

/// The network routes. Paths are unversioned: the version middleware strips `/vX.Y` first.
pub fn router(backend: Arc<dyn NetworkBackend>) -> Router {
    // DELETE /networks/{id:.*}, next to each path's GET and POST.
    let named = |route: MethodRouter<Backend>| route.delete(networks::remove).fallback(not_found);
    Router::new()
        .route("/networks", get(networks::list).fallback(not_found))
        .route("/networks/", named(get(networks::list)))
        .route("/networks/create", named(get(networks::inspect).post(networks::create)))
        .route("/networks/prune", named(get(networks::inspect).post(networks::prune)))
        // GET {id}, POST {id}/connect|disconnect, DELETE {id}.
        .route("/networks/{*id}", named(get(networks::inspect).post(networks::post_named)))
        .with_state(backend)
}
