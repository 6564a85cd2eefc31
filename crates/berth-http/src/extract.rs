use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::response::{IntoResponse, Response};
use berth_api::{ApiVersion, Error, MAX_API_VERSION};
use http::request::Parts;
use http::{StatusCode, header};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

use crate::{ApiError, error_response};

/// The API version a request asked for (its `/vX.Y` prefix), placed in the request extensions by
/// the version middleware. Unversioned requests, and requests that never went through that
/// middleware, are served as [`MAX_API_VERSION`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestApiVersion(pub ApiVersion);

impl<S: Send + Sync> FromRequestParts<S> for RequestApiVersion {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(parts.extensions.get::<Self>().copied().unwrap_or(Self(MAX_API_VERSION)))
    }
}

/// The largest request body [`ApiJson`] reads: 10 MiB. dockerd decodes JSON bodies as a stream
/// with no limit, but every JSON body of the API is a few KiB at most (a secret or config is
/// under 1 MiB); the bodies that are legitimately large (image load and import, `PUT /archive`,
/// build contexts) are streamed by their handlers and never go through [`ApiJson`].
pub(crate) const MAX_JSON_BODY: usize = 10 << 20;

/// A JSON request body read with dockerd's rules: an empty body is `T::default()`; otherwise the
/// `Content-Type` must be `application/json` and the body exactly one JSON value. Every failure is
/// a 400 `{"message": ...}` naming the problem, except a body over 10 MiB: a 413 naming the
/// limit, answered from `Content-Length` before reading when the client declares one.
/// Nesting is bounded by serde_json's recursion limit (128 levels, a 400).
#[derive(Debug, Clone, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, _: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let content_type = parts
            .headers
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_JSON_BODY as u64) {
            return Err(body_too_large());
        }
        let body = match Limited::new(body, MAX_JSON_BODY).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(err) if err.downcast_ref::<LengthLimitError>().is_some() => {
                return Err(body_too_large());
            }
            Err(err) => {
                return Err(error_response(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read request body: {err}"),
                ));
            }
        };
        if body.is_empty() {
            return Ok(Self(T::default()));
        }
        check_json_content_type(content_type.as_deref()).map_err(into_response)?;
        parse_json(&body).map(Self).map_err(into_response)
    }
}

fn into_response(err: Error) -> Response {
    ApiError(err).into_response()
}

/// The 413 for a JSON body over [`MAX_JSON_BODY`].
fn body_too_large() -> Response {
    let message = format!(
        "request body is too large: JSON request bodies are limited to {} MiB ({MAX_JSON_BODY} bytes)",
        MAX_JSON_BODY >> 20
    );
    tracing::debug!(status = 413, "{message}");
    error_response(StatusCode::PAYLOAD_TOO_LARGE, &message)
}

/// dockerd's `CheckForJSON`: the media type (parameters ignored) must be `application/json`.
fn check_json_content_type(content_type: Option<&str>) -> Result<(), Error> {
    let raw = content_type.unwrap_or("");
    let media = raw.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let well_formed = media.split_once('/').is_some_and(|(kind, sub)| {
        let token = |s: &str| {
            !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
        };
        token(kind) && token(sub)
    });
    if !well_formed {
        let why =
            if media.is_empty() { "no media type" } else { "expected slash after first token" };
        return Err(Error::invalid(format!("malformed Content-Type header ({raw}): mime: {why}")));
    }
    if media != "application/json" {
        return Err(Error::invalid(format!(
            "unsupported Content-Type header ({raw}): must be 'application/json'"
        )));
    }
    Ok(())
}

fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, Error> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = T::deserialize(&mut de).map_err(|err| {
        if err.is_eof() {
            Error::invalid("invalid JSON: got EOF while reading request body")
        } else {
            Error::invalid(format!("invalid JSON: {err}"))
        }
    })?;
    de.end().map_err(|_| Error::invalid("unexpected content after JSON"))?;
    Ok(value)
}

/// Query parameters; a value that does not parse is a 400 `{"message": ...}` naming it.
#[derive(Debug, Clone, Default)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or("");
        serde_urlencoded::from_str(query)
            .map(Self)
            .map_err(|err| ApiError(Error::invalid(format!("invalid query parameter: {err}"))))
    }
}

/// Path parameters; a failure is answered as JSON with the status axum chose.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(Self(value)),
            Err(rejection) => {
                let status = match rejection.status() {
                    s if s.is_server_error() => StatusCode::BAD_REQUEST,
                    s => s,
                };
                Err(error_response(status, &rejection.body_text()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use bytes::Bytes;

    use super::*;

    fn post_json(body: Body, content_length: Option<usize>) -> Request {
        let mut req = http::Request::post("/x").header(header::CONTENT_TYPE, "application/json");
        if let Some(len) = content_length {
            req = req.header(header::CONTENT_LENGTH, len);
        }
        req.body(body).expect("request")
    }

    /// The decoded body, or the status and message of the rejection.
    async fn decode(req: Request) -> Result<serde_json::Value, (StatusCode, String)> {
        match ApiJson::<serde_json::Value>::from_request(req, &()).await {
            Ok(ApiJson(value)) => Ok(value),
            Err(res) => {
                let status = res.status();
                let body = res.into_body().collect().await.expect("error body").to_bytes();
                let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON error");
                Err((status, json["message"].as_str().expect("message").to_owned()))
            }
        }
    }

    const TOO_LARGE: &str = "request body is too large: JSON request bodies are limited to 10 MiB \
                             (10485760 bytes)";

    #[tokio::test]
    async fn a_declared_length_over_the_limit_is_refused_before_reading() {
        let req = post_json(Body::from("{}"), Some(MAX_JSON_BODY + 1));
        assert_eq!(decode(req).await, Err((StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE.to_owned())));
    }

    #[tokio::test]
    async fn a_streamed_body_is_cut_at_the_limit() {
        // Chunked: no length to check first, so the limit applies while reading.
        let chunks = (0..11).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b' '; 1 << 20])));
        let req = post_json(Body::from_stream(futures_util::stream::iter(chunks)), None);
        assert_eq!(decode(req).await, Err((StatusCode::PAYLOAD_TOO_LARGE, TOO_LARGE.to_owned())));
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_read() {
        let text = format!("\"{}\"", "a".repeat(MAX_JSON_BODY - 2));
        let req = post_json(Body::from(text), Some(MAX_JSON_BODY));
        let value = decode(req).await.expect("at the limit");
        assert_eq!(value.as_str().map(str::len), Some(MAX_JSON_BODY - 2));
    }

    #[tokio::test]
    async fn absurd_nesting_is_a_400_not_a_stack_overflow() {
        let depth = 100_000;
        let open = "[".repeat(depth);
        let balanced = format!("{open}{}", "]".repeat(depth));
        let objects = "{\"a\":".repeat(depth);
        for body in [open, balanced, objects] {
            let req = post_json(Body::from(body), None);
            let (status, message) = decode(req).await.expect_err("too deep");
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(message.starts_with("invalid JSON: recursion limit exceeded"), "{message}");
        }
        // 128 levels is serde_json's limit, not a problem for real bodies.
        let deep_enough = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(decode(post_json(Body::from(deep_enough), None)).await.is_ok());
    }

    #[test]
    fn content_type_rules_follow_dockerd() {
        assert!(check_json_content_type(Some("application/json")).is_ok());
        assert!(check_json_content_type(Some("application/json; charset=utf-8")).is_ok());
        assert!(check_json_content_type(Some("Application/JSON")).is_ok());
        assert_eq!(
            check_json_content_type(None).expect_err("missing").message(),
            "malformed Content-Type header (): mime: no media type"
        );
        assert_eq!(
            check_json_content_type(Some("text/plain")).expect_err("text").message(),
            "unsupported Content-Type header (text/plain): must be 'application/json'"
        );
        assert!(check_json_content_type(Some("json")).is_err());
    }

    #[test]
    fn json_body_errors_name_the_problem() {
        let eof = parse_json::<serde_json::Value>(b"{\"a\":").expect_err("eof");
        assert_eq!(eof.message(), "invalid JSON: got EOF while reading request body");
        let trailing = parse_json::<serde_json::Value>(b"{} {}").expect_err("trailing");
        assert_eq!(trailing.message(), "unexpected content after JSON");
        let bad = parse_json::<serde_json::Value>(b"{nope}").expect_err("syntax");
        assert!(bad.message().starts_with("invalid JSON: "), "{}", bad.message());
        assert_eq!(parse_json::<u8>(b" 7 \n").expect("whitespace is fine"), 7);
    }
}
