//! API version negotiation: dockerd's `Server`/`Api-Version`/`Ostype` headers on every routed
//! answer, and a 400 for versions outside `[min, max]`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::response::Response;
use berth_api::ApiVersion;
use berth_http::{RequestApiVersion, RouteNotFound, error_response};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use crate::VersionPrefix;

static API_VERSION: HeaderName = HeaderName::from_static("api-version");
static OSTYPE: HeaderName = HeaderName::from_static("ostype");

/// A version configuration that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VersionConfigError {
    /// The minimum is above the maximum.
    #[error(
        "invalid API version: the minimum API version ({min}) is higher than the default version ({max})"
    )]
    MinAboveMax {
        /// Configured minimum.
        min: ApiVersion,
        /// Configured maximum.
        max: ApiVersion,
    },
    /// The product version cannot be put in a header.
    #[error("invalid server version for the Server header: {0:?}")]
    ServerVersion(String),
}

#[derive(Debug)]
struct Config {
    min: ApiVersion,
    max: ApiVersion,
    server: HeaderValue,
    api_version: HeaderValue,
}

/// Layer producing [`VersionCheck`].
#[derive(Debug, Clone)]
pub struct VersionLayer {
    config: Arc<Config>,
}

impl VersionLayer {
    /// `product` and `version` make the `Server` header (`Berth/0.1.0 (linux)`); `[min, max]` is
    /// the range of API versions served, `max` also being what unversioned requests get.
    pub fn new(
        product: &str,
        version: &str,
        min: ApiVersion,
        max: ApiVersion,
    ) -> Result<Self, VersionConfigError> {
        if min > max {
            return Err(VersionConfigError::MinAboveMax { min, max });
        }
        let server_text = format!("{product}/{version} ({})", std::env::consts::OS);
        let server = HeaderValue::from_str(&server_text)
            .map_err(|_| VersionConfigError::ServerVersion(server_text))?;
        let api_version = HeaderValue::from_str(&max.to_string())
            .map_err(|_| VersionConfigError::ServerVersion(max.to_string()))?;
        Ok(Self { config: Arc::new(Config { min, max, server, api_version }) })
    }
}

impl<S> Layer<S> for VersionLayer {
    type Service = VersionCheck<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VersionCheck { inner, config: Arc::clone(&self.config) }
    }
}

/// Rejects requests for unsupported API versions and stamps dockerd's version headers.
#[derive(Debug, Clone)]
pub struct VersionCheck<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S, B> Service<Request<B>> for VersionCheck<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let config = Arc::clone(&self.config);
        let requested = match req.extensions().get::<RequestApiVersion>() {
            Some(v) => v.0,
            None => {
                req.extensions_mut().insert(RequestApiVersion(config.max));
                config.max
            }
        };
        tracing::Span::current().record("api_version", tracing::field::display(requested));
        let raw = || {
            req.extensions()
                .get::<VersionPrefix>()
                .map(|p| p.0.clone())
                .unwrap_or_else(|| requested.to_string())
        };
        let rejection = if requested < config.min {
            Some(format!(
                "client version {} is too old. Minimum supported API version is {}, please \
                 upgrade your client to a newer version",
                raw(),
                config.min
            ))
        } else if requested > config.max {
            Some(format!(
                "client version {} is too new. Maximum supported API version is {}",
                raw(),
                config.max
            ))
        } else {
            None
        };
        match rejection {
            Some(message) => {
                // dockerd answers in plain text to clients older than the JSON error format.
                let legacy = requested < berth_api::MIN_API_VERSION;
                let res = rejection_response(&message, legacy);
                ResponseFuture { state: State::Ready { response: Some(res) }, config }
            }
            None => ResponseFuture { state: State::Inner { future: self.inner.call(req) }, config },
        }
    }
}

fn rejection_response(message: &str, plain_text: bool) -> Response {
    if !plain_text {
        return error_response(StatusCode::BAD_REQUEST, message);
    }
    let mut res = Response::new(Body::from(format!("{message}\n")));
    *res.status_mut() = StatusCode::BAD_REQUEST;
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    res
}

fn stamp(headers: &mut HeaderMap, config: &Config) {
    headers.insert(header::SERVER, config.server.clone());
    headers.insert(API_VERSION.clone(), config.api_version.clone());
    headers.insert(OSTYPE.clone(), HeaderValue::from_static(std::env::consts::OS));
}

pin_project! {
    /// Future of [`VersionCheck`].
    pub struct ResponseFuture<F> {
        #[pin]
        state: State<F>,
        config: Arc<Config>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<F> {
        Ready { response: Option<Response> },
        Inner { #[pin] future: F },
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut res = match this.state.project() {
            StateProj::Ready { response } => match response.take() {
                Some(res) => res,
                None => return Poll::Pending,
            },
            StateProj::Inner { future } => match std::task::ready!(future.poll(cx)) {
                Ok(res) => res,
                Err(err) => return Poll::Ready(Err(err)),
            },
        };
        if res.extensions().get::<RouteNotFound>().is_none() {
            stamp(res.headers_mut(), this.config);
        }
        Poll::Ready(Ok(res))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_validated_once() {
        let (min, max) = (ApiVersion::new(1, 24), ApiVersion::new(1, 51));
        assert!(VersionLayer::new("Berth", "0.1.0", min, max).is_ok());
        let err = VersionLayer::new("Berth", "0.1.0", max, min).expect_err("min above max");
        assert_eq!(
            err.to_string(),
            "invalid API version: the minimum API version (1.51) is higher than the default version (1.24)"
        );
        assert!(VersionLayer::new("Berth", "bad\nversion", min, max).is_err());
    }
}
