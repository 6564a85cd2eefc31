use axum::body::Body;
use axum::response::{IntoResponse, Response};
use berth_api::Error;
use berth_api::image::ProgressMessage;
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
            let line = item.ok().and_then(|value| match serde_json::to_vec(&value) {
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
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body))
        .into_response()
}

/// A JSON progress answer (pull, push, import, load) with dockerd's failure rules.
///
/// The first item is awaited before anything is sent: if it is an error the client gets a plain
/// error response with its status, as from dockerd, which has flushed nothing yet. Otherwise the
/// answer is `200 application/json`, one message per line, each sent as produced; a later error
/// becomes dockerd's in-band `{"errorDetail":{"message":..},"error":..}` line and ends the stream.
pub async fn progress_lines<S>(stream: S) -> Response
where
    S: Stream<Item = Result<ProgressMessage, Error>> + Send + 'static,
{
    let mut stream = Box::pin(stream);
    let first = match stream.next().await {
        Some(Err(err)) => return crate::ApiError(err).into_response(),
        Some(Ok(first)) => Some(Ok(first)),
        None => None,
    };
    progress_lines_in_band(futures_util::stream::iter(first).chain(stream))
}

/// Like [`progress_lines`], but every error is reported in-band, even one before any message:
/// dockerd's `POST /images/load` always answers 200.
pub fn progress_lines_in_band<S>(stream: S) -> Response
where
    S: Stream<Item = Result<ProgressMessage, Error>> + Send + 'static,
{
    let body = stream
        .scan(false, |ended, item| {
            if *ended {
                return std::future::ready(None);
            }
            let message = item.unwrap_or_else(|err| {
                *ended = true;
                tracing::debug!(error = %err, "progress stream ended by error");
                ProgressMessage::error(err.message())
            });
            std::future::ready(Some(encode_line(&message)))
        })
        .filter_map(|line| std::future::ready(line.map(Ok::<_, std::convert::Infallible>)));
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(body))
        .into_response()
}

/// A streamed archive (`docker save`): `200` with `content_type` once the first chunk is there.
///
/// An error before the first chunk is a plain error response with its status; a later one is
/// appended as dockerd does, as an in-band JSON error line, and ends the body.
pub async fn byte_stream<S>(stream: S, content_type: &'static str) -> Response
where
    S: Stream<Item = Result<Bytes, Error>> + Send + 'static,
{
    let mut stream = Box::pin(stream);
    let first = match stream.next().await {
        Some(Err(err)) => return crate::ApiError(err).into_response(),
        Some(Ok(first)) => Some(Ok(first)),
        None => None,
    };
    let body = futures_util::stream::iter(first)
        .chain(stream)
        .scan(false, |ended, item| {
            if *ended {
                return std::future::ready(None);
            }
            let chunk = match item {
                Ok(bytes) => Some(bytes),
                Err(err) => {
                    *ended = true;
                    tracing::warn!(error = %err, "archive stream ended by error");
                    encode_line(&ProgressMessage::error(err.message()))
                }
            };
            std::future::ready(Some(chunk))
        })
        .filter_map(|chunk| std::future::ready(chunk.map(Ok::<_, std::convert::Infallible>)));
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], Body::from_stream(body))
        .into_response()
}

fn encode_line<T: Serialize>(value: &T) -> Option<Bytes> {
    match serde_json::to_vec(value) {
        Ok(mut line) => {
            line.push(b'\n');
            Some(Bytes::from(line))
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot encode stream item");
            None
        }
    }
}
