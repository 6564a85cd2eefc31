//! The container and exec API groups (`/containers/...`, `/exec/...`, `/commit`) as an axum
//! `Router` over [`ContainerBackend`] and [`ExecBackend`].
//!
//! dockerd registers greedy routes (`/containers/{name:.*}/json`) and the first match wins.
//! Container names cannot contain `/`, but the routes are greedy all the same, so each method
//! gets one catch-all route and `path` picks the handler from the suffix, as gorilla/mux would.
//! Exact paths (`/containers/json`, `/containers/create`, `/containers/prune`) are separate
//! routes and also answer the other methods dockerd would route to the catch-all
//! (`DELETE /containers/json` removes a container named `json`).
//! `GET /containers/{name}/attach/ws` attaches over a websocket (`berth_http::WebSocketAttach`).

use std::sync::Arc;

use axum::Router;
use axum::routing::{MethodRouter, head, post};
use berth_backend::{ContainerBackend, ExecBackend};
use berth_http::{get, not_found};

mod containers;
mod exec;
mod output;
mod params;
mod path;

/// Both backends, as handler state.
#[derive(Clone)]
pub(crate) struct Backends {
    containers: Arc<dyn ContainerBackend>,
    exec: Arc<dyn ExecBackend>,
}

/// The container and exec routes. Paths are unversioned: the version middleware strips `/vX.Y`.
pub fn router(containers: Arc<dyn ContainerBackend>, exec: Arc<dyn ExecBackend>) -> Router {
    let named = || -> MethodRouter<Backends> {
        head(containers::head_named)
            .get(containers::get_named)
            .post(containers::post_named)
            .put(containers::put_named)
            .delete(containers::remove)
            .fallback(not_found)
    };
    Router::new()
        .route(
            "/containers/json",
            get(containers::list)
                .post(containers::post_named)
                .put(containers::put_named)
                .delete(containers::remove)
                .fallback(not_found),
        )
        .route(
            "/containers/create",
            get(containers::get_named)
                .post(containers::create)
                .put(containers::put_named)
                .delete(containers::remove)
                .fallback(not_found),
        )
        .route(
            "/containers/prune",
            get(containers::get_named)
                .post(containers::prune)
                .put(containers::put_named)
                .delete(containers::remove)
                .fallback(not_found),
        )
        // GET {name}/export|changes|json|top|logs|stats|attach/ws|archive, HEAD and PUT
        // {name}/archive, POST {name}/kill|…|update, DELETE {name}.
        .route("/containers/{*name}", named())
        .route("/containers/", named())
        .route("/exec/{*rest}", get(exec::get_named).post(exec::post_named).fallback(not_found))
        .route("/commit", post(containers::commit).fallback(not_found))
        .with_state(Backends { containers, exec })
}
