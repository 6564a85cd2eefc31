//! Assembles the HTTP stack: every router merged, the middleware around it, outermost first.
//!
//! `build` runs at start and again on every SIGHUP; the result goes into the `RouterHandle`.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use berth_api::{MAX_API_VERSION, MIN_API_VERSION};
use berth_backend::{
    ContainerBackend, ExecBackend, ImageBackend, NetworkBackend, SystemBackend, VolumeBackend,
};
use berth_middleware::{
    AccessTraceLayer, AuthzChain, AuthzLayer, ExperimentalLayer, StripVersionPrefixLayer,
    VersionLayer, cors_layer,
};
use http::Request;
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;

use crate::{build_info, coverage};

/// The whole HTTP stack as one cloneable service.
pub(crate) type Stack = BoxCloneSyncService<Request<Body>, Response, Infallible>;

/// The backends the routers serve.
#[derive(Clone)]
pub(crate) struct Backends {
    pub(crate) system: Arc<dyn SystemBackend>,
    pub(crate) images: Arc<dyn ImageBackend>,
    pub(crate) containers: Arc<dyn ContainerBackend>,
    pub(crate) exec: Arc<dyn ExecBackend>,
    pub(crate) volumes: Arc<dyn VolumeBackend>,
    pub(crate) networks: Arc<dyn NetworkBackend>,
}

/// The parts of the configuration the stack depends on (all reloadable).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct StackConfig {
    pub(crate) experimental: bool,
    pub(crate) cors_origins: Vec<String>,
}

/// A stack that cannot be built from the configuration.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StackError {
    #[error(transparent)]
    Cors(#[from] berth_middleware::CorsError),
    #[error(transparent)]
    Version(#[from] berth_middleware::VersionConfigError),
}

/// Builds the stack for `config` over `backends`, every routed request authorized by `authz`.
pub(crate) fn build(
    config: &StackConfig,
    authz: &AuthzChain,
    backends: &Backends,
) -> Result<Stack, StackError> {
    let routes = Router::new()
        .merge(berth_router_system::router(Arc::clone(&backends.system)))
        .merge(berth_router_container::router(
            Arc::clone(&backends.containers),
            Arc::clone(&backends.exec),
        ))
        .merge(berth_router_image::router(Arc::clone(&backends.images)))
        .merge(berth_router_volume::router(Arc::clone(&backends.volumes)))
        .merge(berth_router_network::router(Arc::clone(&backends.networks)))
        .merge(berth_router_swarm::router());

    // The route layer runs only for requests that matched a route: dockerd's 404 passes through
    // no middleware and carries none of its headers. One `route_layer` for the four, outermost
    // first: axum boxes every route once per `route_layer` call, and clones and polls each box
    // on every request; four calls made `/_ping` cost a sixth more instructions (callgrind, the
    // bench's findings).
    let route_middleware = ServiceBuilder::new()
        // Authorization first of all, as dockerd: plugins see requests for unsupported versions
        // too, and a denial carries none of the version headers. Unrouted paths (404, 501)
        // reach no handler and are not asked about, as in dockerd.
        .layer(AuthzLayer::new(authz.clone()))
        // CORS outside the version check, as in dockerd: preflights get their headers whatever
        // the version.
        .option_layer(cors_layer(&config.cors_origins)?)
        // Rejects unsupported API versions and stamps Server/Api-Version/Ostype.
        .layer(VersionLayer::new("Berth", build_info::VERSION, MIN_API_VERSION, MAX_API_VERSION)?)
        // Innermost: tells handlers (and experimental-only routes) whether experimental is on.
        // Inside the version check, so a version error has no Docker-Experimental header.
        .layer(ExperimentalLayer::new(config.experimental));
    let routes = routes
        .route_layer(route_middleware)
        // No route for this path and method: 501 for dockerd routes Berth lacks, else dockerd's
        // 404 (never 405). Both fallbacks are needed because `OPTIONS /{*any}` makes every path
        // "known" to axum.
        .method_not_allowed_fallback(coverage::fallback)
        .fallback(coverage::fallback);

    let service = ServiceBuilder::new()
        // Outermost: one span per request, timing everything below.
        .layer(AccessTraceLayer::new())
        // Before routing: 301 for unclean paths, and `/vX.Y` removed so one table serves all.
        .layer(StripVersionPrefixLayer)
        .service(routes);
    Ok(BoxCloneSyncService::new(service))
}

#[cfg(test)]
mod tests;
