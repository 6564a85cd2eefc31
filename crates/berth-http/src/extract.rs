use axum::extract::{FromRequest, FromRequestParts, Path, Request};
use axum::response::{IntoResponse, Response};
use berth_api::{ApiVersion, Error, MAX_API_VERSION};
use bytes::Bytes;
use http::request::Parts;
use http::{StatusCode, header};
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

/// A JSON request body read with dockerd's rules: an empty body is `T::default()`; otherwise the
/// `Content-Type` must be `application/json` and the body exactly one JSON value. Every failure is
/// a 400 `{"message": ...}` naming the problem.
#[derive(Debug, Clone, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Default,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let body = Bytes::from_request(req, state).await.map_err(|rejection| {
            error_response(rejection.status(), &format!("cannot read request body: {rejection}"))
        })?;
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
    use super::*;

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
