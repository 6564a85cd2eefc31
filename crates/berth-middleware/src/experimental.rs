//! The experimental flag: tells clients (`Docker-Experimental`) and experimental-only routes
//! ([`berth_http::experimental_only`]) whether experimental features are on.

use std::task::{Context, Poll};

use axum::response::Response;
use berth_http::{Experimental, RouteNotFound};
use futures_util::future::{FutureExt, Map};
use http::{HeaderName, HeaderValue, Request};
use tower_layer::Layer;
use tower_service::Service;

static DOCKER_EXPERIMENTAL: HeaderName = HeaderName::from_static("docker-experimental");

/// Layer producing [`ExperimentalFlag`].
#[derive(Debug, Clone, Copy)]
pub struct ExperimentalLayer {
    enabled: bool,
}

impl ExperimentalLayer {
    /// Experimental features on or off for every request through this layer.
    pub fn new(enabled: bool) -> Self {
        Self { enabled }
    }
}

impl<S> Layer<S> for ExperimentalLayer {
    type Service = ExperimentalFlag<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExperimentalFlag { inner, enabled: self.enabled }
    }
}

/// Inserts [`Experimental`] into the request and sets `Docker-Experimental` on the response.
#[derive(Debug, Clone)]
pub struct ExperimentalFlag<S> {
    inner: S,
    enabled: bool,
}

type SetHeader<E> = fn(Result<Response, E>) -> Result<Response, E>;

fn set_true<E>(res: Result<Response, E>) -> Result<Response, E> {
    res.map(|r| with_header(r, "true"))
}

fn set_false<E>(res: Result<Response, E>) -> Result<Response, E> {
    res.map(|r| with_header(r, "false"))
}

fn with_header(mut res: Response, value: &'static str) -> Response {
    if res.extensions().get::<RouteNotFound>().is_none() {
        res.headers_mut().insert(DOCKER_EXPERIMENTAL.clone(), HeaderValue::from_static(value));
    }
    res
}

impl<S, B> Service<Request<B>> for ExperimentalFlag<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Map<S::Future, SetHeader<S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        req.extensions_mut().insert(Experimental(self.enabled));
        let set: SetHeader<S::Error> = if self.enabled { set_true } else { set_false };
        self.inner.call(req).map(set)
    }
}
