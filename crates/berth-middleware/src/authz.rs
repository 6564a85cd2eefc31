//! Authorization: a chain of [`Authorizer`]s asked about every routed request before its handler
//! runs, and about its answer afterwards, as dockerd's authorization middleware does.
//!
//! This module holds what an authorizer sees ([`RequestInfo`], [`ResponseInfo`], [`Peer`]) and
//! the layer that calls them ([`AuthzLayer`]). The authorizers themselves (the Docker authz
//! plugin protocol and Berth's built-in policy) live in the `berth-authz` crate; the daemon puts a
//! [`Peer`] into every request's extensions.

mod service;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Method, StatusCode};

pub use service::{Authz, AuthzLayer};

/// Request bodies larger than this are not shown to authorizers (dockerd's `maxBodySize`).
pub const MAX_REQUEST_BODY: usize = 1 << 20;
/// Responses larger than this, and streamed ones, are not shown to authorizers (dockerd flushes
/// its response buffer at 64 KiB).
pub const MAX_RESPONSE_BODY: usize = 64 << 10;

/// Who sent a request, as the listener saw the connection. The daemon inserts an `Arc<Peer>`
/// into each request's extensions; a request without one is from an anonymous peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Peer {
    /// The peer's uid (`SO_PEERCRED`, unix sockets only).
    pub uid: Option<u32>,
    /// The peer's gid (`SO_PEERCRED`, unix sockets only).
    pub gid: Option<u32>,
    /// The verified TLS client certificate chain, leaf first, DER encoded.
    pub certificates: Vec<Bytes>,
    /// Subject common name of the leaf client certificate.
    pub common_name: Option<String>,
    /// Subject organizational units of the leaf client certificate.
    pub organizational_units: Vec<String>,
}

/// The request body as authorizers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The request has no body (no `Content-Length` or zero, and not chunked).
    Empty,
    /// The whole body: `Content-Type` is `application/json`, it is smaller than
    /// [`MAX_REQUEST_BODY`], and the path is not an `/auth` endpoint.
    Json(Bytes),
    /// There is a body but it is not shown: another content type, too large, or credentials.
    Hidden,
}

/// What an authorizer sees of a request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The HTTP method.
    pub method: Method,
    /// The request target exactly as the client sent it, `/vX.Y` prefix and query included
    /// (dockerd's `RequestUri`).
    pub uri: String,
    /// The path without the `/vX.Y` prefix and without the query, e.g. `/containers/json`.
    pub path: String,
    /// The request headers, unfiltered; the plugin wire format drops credentials.
    pub headers: HeaderMap,
    /// The body, when it may be shown.
    pub body: RequestBody,
    /// Who sent it.
    pub peer: Arc<Peer>,
}

/// What an authorizer sees of a complete (not streamed, not hijacked) response.
#[derive(Debug, Clone)]
pub struct ResponseInfo {
    /// The status the handler answered.
    pub status: StatusCode,
    /// The response headers, unfiltered.
    pub headers: HeaderMap,
    /// The whole body (at most [`MAX_RESPONSE_BODY`]).
    pub body: Bytes,
}

/// The answer of an authorizer: allowed, or the error the client gets instead of the handler's
/// answer (a 403 for a denial, a 500 when the authorizer itself failed).
pub type Verdict = Result<(), berth_api::Error>;

/// One link of the authorization chain: a plugin or a policy.
pub trait Authorizer: Send + Sync + std::fmt::Debug + 'static {
    /// The name used in logs (e.g. the plugin name).
    fn name(&self) -> &str;

    /// Decides on a request before its handler runs.
    fn authorize_request(&self, request: Arc<RequestInfo>) -> BoxFuture<'static, Verdict>;

    /// Decides on a complete response after the handler ran (its side effects are done); a
    /// denial replaces the answer. Streamed, hijacked and failed requests are not asked.
    fn authorize_response(
        &self,
        request: Arc<RequestInfo>,
        response: Arc<ResponseInfo>,
    ) -> BoxFuture<'static, Verdict>;

    /// Whether [`Authorizer::authorize_response`] needs to be called at all; when no authorizer
    /// in the chain needs it, responses pass through untouched.
    fn inspects_responses(&self) -> bool {
        true
    }
}

/// The configured authorizers, asked in order; the first denial or failure decides.
#[derive(Debug, Clone, Default)]
pub struct AuthzChain {
    links: Arc<[Arc<dyn Authorizer>]>,
}

impl AuthzChain {
    /// A chain asking `links` in this order.
    pub fn new(links: Vec<Arc<dyn Authorizer>>) -> Self {
        Self { links: links.into() }
    }

    /// Whether the chain has no authorizer (every request passes untouched).
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// The authorizers, in order.
    pub fn links(&self) -> &[Arc<dyn Authorizer>] {
        &self.links
    }
}

/// Whether `path` (without the version prefix) is a credentials endpoint whose bodies are never
/// shown: dockerd matches any path starting with `/auth`.
pub fn is_auth_endpoint(path: &str) -> bool {
    path.starts_with("/auth")
}

/// Whether a `Content-Type` value is exactly `application/json` once parameters are dropped.
pub fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
}
