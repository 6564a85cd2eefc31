//! Access tracing: one span per request (id, method, path, API version, status, latency) and a
//! debug line when the answer is ready.
//!
//! Levels follow STYLE.md: per-request lines are `debug`; failures are logged where they are
//! understood (the error response), not here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::response::Response;
use http::Request;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;
use tracing::Instrument;
use tracing::Span;
use tracing::instrument::Instrumented;

/// Layer producing [`AccessTrace`].
#[derive(Debug, Clone, Default)]
pub struct AccessTraceLayer {
    next_id: Arc<AtomicU64>,
}

impl AccessTraceLayer {
    /// A layer numbering requests from 1.
    pub fn new() -> Self {
        Self::default()
    }
}

impl<S> Layer<S> for AccessTraceLayer {
    type Service = AccessTrace<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AccessTrace { inner, next_id: Arc::clone(&self.next_id) }
    }
}

/// Runs each request inside a `request` span and logs its outcome.
#[derive(Debug, Clone)]
pub struct AccessTrace<S> {
    inner: S,
    next_id: Arc<AtomicU64>,
}

impl<S, B> Service<Request<B>> for AccessTrace<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ResponseFuture<Instrumented<S::Future>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let span = tracing::debug_span!(
            "request",
            request_id = id,
            method = %req.method(),
            path = %req.uri().path(),
            api_version = tracing::field::Empty,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        let future = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        ResponseFuture { future: future.instrument(span.clone()), span, start: Instant::now() }
    }
}

pin_project! {
    /// Future of [`AccessTrace`].
    pub struct ResponseFuture<F> {
        #[pin]
        future: F,
        span: Span,
        start: Instant,
    }
}

impl<F, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.future.poll(cx));
        if let Ok(res) = &result {
            let latency = this.start.elapsed().as_secs_f64() * 1000.0;
            this.span.record("status", res.status().as_u16());
            this.span.record("latency_ms", latency);
            let _entered = this.span.enter();
            tracing::debug!(status = res.status().as_u16(), latency_ms = latency, "answered");
        }
        Poll::Ready(result)
    }
}
