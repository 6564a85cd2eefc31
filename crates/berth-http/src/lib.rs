//! axum glue shared by the routers: Docker-style JSON errors, extractors that never answer in
//! plain text, request-scoped API version and experimental flag, and streaming helpers.
//!
//! Routers use only what is here (plus axum's `Router`) so every endpoint answers failures the
//! way dockerd does: a status from [`berth_api::ErrorKind`] and a `{"message": ...}` body.

mod error;
mod extract;
mod form;
mod hijack;
mod response;
mod routing;
mod websocket;

pub use error::{ApiError, ErrorAnswer, error_response};
pub use extract::{ApiJson, ApiPath, ApiQuery, RequestApiVersion};
pub use form::{Form, percent_decode};
pub use hijack::{Hijack, HijackStdin, hijack_error};
pub use response::{JsonResponse, byte_stream, json_lines, progress_lines, progress_lines_in_band};
pub use routing::{Experimental, RouteNotFound, experimental_only, get, not_found};
pub use websocket::WebSocketAttach;
