use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_api::Error;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::{StatusCode, header};
use serde::Serialize;

/// A JSON answer written as dockerd writes it: `application/json`, no HTML escaping, trailing
/// newline.
#[derive(Debug, Clone)]
pub struct JsonResponse<T>(pub T);

impl<T: Serialize> IntoResponse for JsonResponse<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(mut body) => {
                body.push(b'\n');
                ([(header::CONTENT_TYPE, "application/json")], body).into_response()
            }
            Err(err) => {
                crate::ApiError(Error::system("failed to encode response").with_source(err))
                    .into_response()
            }
        }
    }
}

/// A streamed JSON answer: one JSON document and a newline per item, each sent as its own chunk
/// the moment it is produced. An error item ends the stream (it is logged; the status is already
/// sent).
pub fn json_lines<S, T>(stream: S) -> Response
where
    S: Stream<Item = Result<T, Error>> + Send + 'static,
    T: Serialize + Send + 'static,
{
    let body = stream
        .take_while(|item| {
            let keep = match item {
                Ok(_) => true,
                Err(err) => {
                    tracing::warn!(error = %err, "stream ended by error");
                    false
                }
            };
            std::future::ready(keep)
        })
        .filter_map(|item| {
            let line = item
                .ok()
                .and_then(|value| match serde_json::to_vec(&value) {
                    Ok(mut line) => {
                        line.push(b'\n');
                        Some(Ok::<_, std::convert::Infallible>(Bytes::from(line)))
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, "cannot encode stream item");
                        None
                    }
                });
            std::future::ready(line)
        });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from_stream(body),
    )
        .into_response()
}
