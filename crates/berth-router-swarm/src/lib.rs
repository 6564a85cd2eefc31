//! The swarm API group (swarm, services, nodes, tasks, secrets, configs) answered exactly as a
//! dockerd that is not part of a swarm: `503` with dockerd's messages, so clients treat Berth as a
//! standalone engine.
//!
//! Berth has no swarm mode. Creating or joining a swarm is the one thing a standalone dockerd
//! would do that Berth cannot, so those two answer `501`.

use axum::Router;
use axum::routing::post;
use berth_api::{Error, ErrorKind};
use berth_http::{ApiError, ApiQuery, get};

/// dockerd's answer to manager-only requests on a node outside any swarm.
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Use \"docker swarm init\" or \
                                 \"docker swarm join\" to connect this node to swarm and try again.";

/// dockerd's answer to `POST /swarm/leave` on a node outside any swarm.
pub const NOT_IN_A_SWARM: &str = "This node is not part of a swarm";

/// Why `POST /swarm/init` and `/swarm/join` fail.
pub const UNSUPPORTED: &str = "Berth does not support swarm mode: it runs as a standalone engine";

async fn not_a_manager() -> ApiError {
    ApiError(Error::new(ErrorKind::Unavailable, NOT_A_MANAGER))
}

async fn not_in_a_swarm() -> ApiError {
    ApiError(Error::new(ErrorKind::Unavailable, NOT_IN_A_SWARM))
}

#[derive(Debug, Default, serde::Deserialize)]
struct LogsParams {
    #[serde(default, deserialize_with = "berth_api::params::bool_value")]
    stdout: bool,
    #[serde(default, deserialize_with = "berth_api::params::bool_value")]
    stderr: bool,
}

/// Service and task logs check their parameters before finding there is no swarm.
async fn logs(ApiQuery(params): ApiQuery<LogsParams>) -> ApiError {
    if !(params.stdout || params.stderr) {
        return ApiError(Error::invalid("Bad parameters: you must choose at least one stream"));
    }
    ApiError(Error::new(ErrorKind::Unavailable, NOT_A_MANAGER))
}

async fn unsupported() -> ApiError {
    ApiError(Error::not_implemented(UNSUPPORTED))
}

/// The swarm routes (`{id}` is one path segment, as in dockerd).
pub fn router() -> Router {
    Router::new()
        .route("/swarm", get(not_a_manager))
        .route("/swarm/init", post(unsupported))
        .route("/swarm/join", post(unsupported))
        .route("/swarm/leave", post(not_in_a_swarm))
        .route("/swarm/update", post(not_a_manager))
        .route("/swarm/unlock", post(not_a_manager))
        .route("/swarm/unlockkey", get(not_a_manager))
        .route("/services", get(not_a_manager))
        .route("/services/create", post(not_a_manager))
        .route("/services/{id}", get(not_a_manager).delete(not_a_manager))
        .route("/services/{id}/update", post(not_a_manager))
        .route("/services/{id}/logs", get(logs))
        .route("/nodes", get(not_a_manager))
        .route("/nodes/{id}", get(not_a_manager).delete(not_a_manager))
        .route("/nodes/{id}/update", post(not_a_manager))
        .route("/tasks", get(not_a_manager))
        .route("/tasks/{id}", get(not_a_manager))
        .route("/tasks/{id}/logs", get(logs))
        .route("/secrets", get(not_a_manager))
        .route("/secrets/create", post(not_a_manager))
        .route("/secrets/{id}", get(not_a_manager).delete(not_a_manager))
        .route("/secrets/{id}/update", post(not_a_manager))
        .route("/configs", get(not_a_manager))
        .route("/configs/create", post(not_a_manager))
        .route("/configs/{id}", get(not_a_manager).delete(not_a_manager))
        .route("/configs/{id}/update", post(not_a_manager))
}
