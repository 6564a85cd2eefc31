use axum::response::{IntoResponse, Response};
use berth_api::Error;
use http::{StatusCode, header};

/// An API error on its way to the client. Handlers return `Result<_, ApiError>` and use `?` on
/// backend results.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(err: Error) -> Self {
        Self(err)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let err = self.0;
        if err.status().is_server_error() {
            tracing::error!(error = %err, source = ?std::error::Error::source(&err), "request failed");
        } else {
            tracing::debug!(error = %err, status = err.status().as_u16(), "request rejected");
        }
        error_response(err.status(), err.message())
    }
}

/// Marks a response as an error answer (in its extensions): the request failed, so
/// response-phase authorization leaves it alone, as dockerd skips `AuthZRes` when a handler
/// returns an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorAnswer;

/// dockerd's error answer: `status`, `Content-Type: application/json`, `{"message":"..."}` and a
/// newline. A 304 carries neither body nor `Content-Type`: Go's HTTP server drops both from a
/// 304, so dockerd's "container already started" answer is bare.
pub fn error_response(status: StatusCode, message: &str) -> Response {
    let mut res = if status == StatusCode::NOT_MODIFIED {
        status.into_response()
    } else {
        let mut text = serde_json::json!({ "message": message }).to_string();
        text.push('\n');
        (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
    };
    res.extensions_mut().insert(ErrorAnswer);
    res
}
