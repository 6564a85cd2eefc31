//! [`AuthzLayer`] and [`Authz`]: ask the chain before the handler, and after it for complete
//! answers.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::response::{IntoResponse, Response};
use berth_api::{Error, ErrorKind};
use berth_http::{ApiError, ErrorAnswer};
use bytes::{Bytes, BytesMut};
use futures_util::future::{BoxFuture, Either};
use http::{Request, StatusCode, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use tower_layer::Layer;
use tower_service::Service;

use super::{
    AuthzChain, MAX_REQUEST_BODY, MAX_RESPONSE_BODY, Peer, RequestBody, RequestInfo, ResponseInfo,
    is_auth_endpoint, is_json,
};

/// Layer producing [`Authz`].
#[derive(Debug, Clone, Default)]
pub struct AuthzLayer {
    chain: AuthzChain,
}

impl AuthzLayer {
    /// Authorizes every request with `chain`; an empty chain lets everything through untouched.
    pub fn new(chain: AuthzChain) -> Self {
        Self { chain }
    }
}

impl<S> Layer<S> for AuthzLayer {
    type Service = Authz<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authz { inner, chain: self.chain.clone() }
    }
}

/// Asks each authorizer of the chain about the request, runs the handler if all allow, then asks
/// those that inspect responses about a complete answer of at most 64 KiB. Streamed and hijacked
/// answers are authorized on the request only and never buffered.
#[derive(Debug, Clone)]
pub struct Authz<S> {
    inner: S,
    chain: AuthzChain,
}

impl<S> Service<Request<Body>> for Authz<S>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<Body>) -> Self::Future {
        if self.chain.is_empty() {
            return Either::Left(self.inner.call(req));
        }
        // The clone is not ready: keep the ready one for this request (tower's usual dance).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Either::Right(Box::pin(authorize(inner, self.chain.clone(), req)))
    }
}

async fn authorize<S>(
    mut inner: S,
    chain: AuthzChain,
    req: Request<Body>,
) -> Result<Response, Infallible>
where
    S: Service<Request<Body>, Response = Response, Error = Infallible>,
{
    let (info, req) = match request_info(req).await {
        Ok(v) => v,
        Err(err) => return Ok(ApiError(err).into_response()),
    };
    let info = Arc::new(info);
    for link in chain.links() {
        if let Err(err) = link.authorize_request(Arc::clone(&info)).await {
            log_refusal("AuthZRequest", &info, &err);
            return Ok(ApiError(err).into_response());
        }
    }

    let res = inner.call(req).await?;

    let inspecting: Vec<_> = chain.links().iter().filter(|l| l.inspects_responses()).collect();
    if inspecting.is_empty()
        || res.extensions().get::<ErrorAnswer>().is_some()
        || res.status() == StatusCode::SWITCHING_PROTOCOLS
        || !is_complete_and_small(res.body())
    {
        return Ok(res);
    }
    let (parts, body) = res.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => {
            let err = Error::new(ErrorKind::System, format!("cannot read response body: {err}"));
            return Ok(ApiError(err).into_response());
        }
    };
    let response = Arc::new(ResponseInfo {
        status: parts.status,
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    for link in inspecting {
        if let Err(err) = link.authorize_response(Arc::clone(&info), Arc::clone(&response)).await {
            log_refusal("AuthZResponse", &info, &err);
            return Ok(ApiError(err).into_response());
        }
    }
    Ok(Response::from_parts(parts, Body::from(body)))
}

fn log_refusal(phase: &str, info: &RequestInfo, err: &Error) {
    if err.kind() == ErrorKind::Forbidden {
        tracing::info!(method = %info.method, uri = %info.uri, "{}", err.message());
    } else {
        tracing::error!(
            method = %info.method,
            uri = %info.uri,
            "{phase} for {} {} returned error: {}",
            info.method,
            info.uri,
            err.message()
        );
    }
}

/// A body whose exact length is known and at most [`MAX_RESPONSE_BODY`]: handlers build
/// complete answers from bytes, streamed ones from streams of unknown length.
fn is_complete_and_small(body: &Body) -> bool {
    let hint = body.size_hint();
    hint.upper() == Some(hint.lower()) && hint.lower() <= MAX_RESPONSE_BODY as u64
}

/// Splits off what authorizers see, giving back a request whose body is intact.
async fn request_info(req: Request<Body>) -> Result<(RequestInfo, Request<Body>), Error> {
    let (parts, body) = req.into_parts();
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.to_string(), |o| o.0.to_string());
    let path = parts.uri.path().to_owned();
    let peer = parts.extensions.get::<Arc<Peer>>().cloned().unwrap_or_default();

    let length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let chunked = parts
        .headers
        .get(header::TRANSFER_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let has_body = chunked || length.is_some_and(|l| l > 0);
    let shown = has_body
        && is_json(&parts.headers)
        && !is_auth_endpoint(&path)
        && length.is_none_or(|l| l < MAX_REQUEST_BODY as u64);

    let (captured, body) = if !has_body {
        (RequestBody::Empty, body)
    } else if !shown {
        (RequestBody::Hidden, body)
    } else {
        peek(body).await?
    };
    let info = RequestInfo {
        method: parts.method.clone(),
        uri,
        path,
        headers: parts.headers.clone(),
        body: captured,
        peer,
    };
    Ok((info, Request::from_parts(parts, body)))
}

/// Reads `body` up to [`MAX_REQUEST_BODY`]: all of it when smaller, otherwise the part read so far
/// is put back in front of the rest and the body stays hidden.
async fn peek(mut body: Body) -> Result<(RequestBody, Body), Error> {
    let mut buf = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            Error::new(ErrorKind::InvalidParameter, format!("cannot read request body: {e}"))
        })?;
        let Ok(data) = frame.into_data() else { continue };
        buf.extend_from_slice(&data);
        if buf.len() >= MAX_REQUEST_BODY {
            tracing::warn!(
                limit = MAX_REQUEST_BODY,
                "request body larger than the limit is not passed to authorization"
            );
            let head =
                futures_util::stream::once(async move { Ok::<Bytes, axum::Error>(buf.freeze()) });
            let rest = body.into_data_stream();
            return Ok((
                RequestBody::Hidden,
                Body::from_stream(futures_util::StreamExt::chain(head, rest)),
            ));
        }
    }
    let bytes = buf.freeze();
    Ok((RequestBody::Json(bytes.clone()), Body::from(bytes)))
}
