//! Path normalisation before routing: dockerd's 301 for non-canonical paths, and removal of the
//! `/vX.Y` prefix so one route table serves every version.
//!
//! This layer must wrap the whole router (not be added with `Router::layer`), because it rewrites
//! the URI that routing looks at.

use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::OriginalUri;
use axum::response::Response;
use berth_api::ApiVersion;
use berth_http::RequestApiVersion;
use futures_util::future::{Either, FutureExt, Map, Ready, ready};
use http::{Request, StatusCode, Uri, header};
use tower_layer::Layer;
use tower_service::Service;

/// The version text exactly as the client wrote it in the `/vX.Y` prefix, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionPrefix(pub String);

/// Layer producing [`StripVersionPrefix`].
#[derive(Debug, Clone, Copy, Default)]
pub struct StripVersionPrefixLayer;

impl<S> Layer<S> for StripVersionPrefixLayer {
    type Service = StripVersionPrefix<S>;

    fn layer(&self, inner: S) -> Self::Service {
        StripVersionPrefix { inner }
    }
}

/// Redirects non-canonical paths (301, like gorilla/mux) and strips `/v<digits and dots>` from
/// the path, recording it as [`VersionPrefix`] and [`RequestApiVersion`]; the untouched URI is kept
/// as [`OriginalUri`].
#[derive(Debug, Clone)]
pub struct StripVersionPrefix<S> {
    inner: S,
}

impl<S, B> Service<Request<B>> for StripVersionPrefix<S>
where
    S: Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<Ready<Result<Response, S::Error>>, Map<S::Future, DropAllow<S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let path = req.uri().path();
        let clean = clean_path(path);
        if clean != path {
            let location = match req.uri().query() {
                Some(q) => format!("{clean}?{q}"),
                None => clean,
            };
            let mut res = Response::new(Body::empty());
            *res.status_mut() = StatusCode::MOVED_PERMANENTLY;
            if let Ok(value) = location.parse() {
                res.headers_mut().insert(header::LOCATION, value);
            }
            return Either::Left(ready(Ok(res)));
        }
        if let Some((raw, rest)) = split_version(path) {
            let raw = raw.to_owned();
            let stripped = match req.uri().query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest.to_owned(),
            };
            if let Ok(path_and_query) = stripped.parse::<http::uri::PathAndQuery>() {
                let original = req.uri().clone();
                let mut parts = original.clone().into_parts();
                parts.path_and_query = Some(path_and_query);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                    let ext = req.extensions_mut();
                    ext.insert(RequestApiVersion(ApiVersion::parse_lenient(&raw)));
                    ext.insert(VersionPrefix(raw));
                    ext.insert(OriginalUri(original));
                }
            }
        } else {
            let original = req.uri().clone();
            req.extensions_mut().insert(OriginalUri(original));
        }
        if req.method() == http::Method::OPTIONS {
            // dockerd answers OPTIONS on every path through its middleware (CORS preflights).
            // Routing every OPTIONS to `/` keeps that true even where a path has other routes;
            // the client's path stays available as `OriginalUri`.
            let root = match req.uri().query() {
                Some(q) => format!("/?{q}"),
                None => "/".to_owned(),
            };
            if let Ok(path_and_query) = root.parse::<http::uri::PathAndQuery>() {
                let mut parts = req.uri().clone().into_parts();
                parts.path_and_query = Some(path_and_query);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
        }
        Either::Right(self.inner.call(req).map(drop_allow as DropAllow<S::Error>))
    }
}

type DropAllow<E> = fn(Result<Response, E>) -> Result<Response, E>;

/// axum adds `Allow` when a path exists but the method does not; dockerd never sends it.
fn drop_allow<E>(result: Result<Response, E>) -> Result<Response, E> {
    result.map(|mut res| {
        res.headers_mut().remove(header::ALLOW);
        res
    })
}

/// `/v1.51/info` → `Some(("1.51", "/info"))`; a prefix without a following path is not one.
fn split_version(path: &str) -> Option<(&str, &str)> {
    let after_v = path.strip_prefix("/v")?;
    let end = after_v.find('/')?;
    let (version, rest) = after_v.split_at(end);
    let valid = !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    valid.then_some((version, rest))
}

/// Go's `path.Clean`, keeping a trailing slash as gorilla/mux does.
fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return "/".to_owned();
    }
    let mut parts: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    let mut clean = String::with_capacity(path.len());
    for p in &parts {
        clean.push('/');
        clean.push_str(p);
    }
    if clean.is_empty() || path.ends_with('/') {
        clean.push('/');
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_only_numeric_prefixes_followed_by_a_path() {
        assert_eq!(split_version("/v1.51/info"), Some(("1.51", "/info")));
        assert_eq!(split_version("/v9.99/foo/bar"), Some(("9.99", "/foo/bar")));
        assert_eq!(split_version("/v1.51"), None);
        assert_eq!(split_version("/v1.x/info"), None);
        assert_eq!(split_version("/version"), None);
        assert_eq!(split_version("/volumes/x"), None);
    }

    #[test]
    fn cleans_like_go() {
        assert_eq!(clean_path("/containers/json"), "/containers/json");
        assert_eq!(clean_path("//containers/json"), "/containers/json");
        assert_eq!(clean_path("/a/../b"), "/b");
        assert_eq!(clean_path("/x/./y"), "/x/y");
        assert_eq!(clean_path("/networks/"), "/networks/");
        assert_eq!(clean_path("/"), "/");
        assert_eq!(clean_path("/.."), "/");
    }
}
