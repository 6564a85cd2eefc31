//! One HTTP/1.1 request over a unix socket, answered in full: hyper's client
//! connection on a tokio `UnixStream`, no pooling, no redirects followed.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

/// How long one request may take, connection to last body byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// What a daemon answered.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

/// A request as a scenario spells it: the path goes on the wire verbatim.
#[derive(Debug, Clone)]
pub(crate) struct Outgoing<'a> {
    pub(crate) method: &'a str,
    pub(crate) path: &'a str,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) body: Bytes,
}

/// A client for daemons on unix sockets, on its own single-threaded runtime.
#[derive(Debug)]
pub(crate) struct Client {
    runtime: Runtime,
}

impl Client {
    pub(crate) fn new() -> Result<Client> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a tokio runtime for the diff client")?;
        Ok(Client { runtime })
    }

    /// Sends `request` to the daemon on `socket` on a fresh connection and
    /// reads the whole answer, within [`REQUEST_TIMEOUT`].
    pub(crate) fn send(&self, socket: &Path, request: &Outgoing<'_>) -> Result<Answer> {
        let exchange = exchange(socket, request);
        self.runtime.block_on(async {
            tokio::time::timeout(REQUEST_TIMEOUT, exchange)
                .await
                .with_context(|| format!("no complete answer within {REQUEST_TIMEOUT:?}"))?
        })
    }
}

async fn exchange(socket: &Path, outgoing: &Outgoing<'_>) -> Result<Answer> {
    let stream = UnixStream::connect(socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .context("HTTP/1.1 handshake")?;
    // The connection future drives the socket; it ends when the answer is
    // read and the sender dropped.
    let driver = tokio::spawn(connection);

    let method = Method::from_bytes(outgoing.method.as_bytes())
        .with_context(|| format!("invalid method {:?}", outgoing.method))?;
    let mut builder = Request::builder()
        .method(method)
        .uri(outgoing.path)
        // What the docker CLI sends for a unix socket.
        .header(http::header::HOST, "api.moby.localhost")
        .header(http::header::USER_AGENT, "berth-xtask-diff");
    for (name, value) in outgoing.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let request = builder
        .body(Full::new(outgoing.body.clone()))
        .with_context(|| format!("building {} {}", outgoing.method, outgoing.path))?;
    let response = sender.send_request(request).await.context("sending")?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await.context("reading the body")?.to_bytes();
    drop(sender);
    driver.abort();
    Ok(Answer { status: parts.status, headers: parts.headers, body })
}

#[cfg(test)]
mod tests {
    #[test]
    fn paths_that_need_cleaning_stay_verbatim() {
        // dockerd answers these with a 301; the client must not clean them first.
        for path in ["//info", "/a/../info", "/v1.41/./info"] {
            let uri: http::Uri = path.parse().expect("a valid request target");
            assert_eq!(uri.path(), path);
        }
    }
}
