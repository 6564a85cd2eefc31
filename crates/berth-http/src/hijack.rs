//! Hijacked connections for attach and exec start, answered as dockerd answers them.
//!
//! dockerd hijacks the TCP connection and writes the response head by hand. With hyper the
//! handler returns a response and hyper hands over the connection afterwards, so:
//!
//! - With an `Upgrade` header (any value; presence is what counts, as in dockerd) the answer is
//!   `HTTP/1.1 101 UPGRADED` (hyper's [`ReasonPhrase`] keeps dockerd's reason text) with
//!   `Content-Type`, `Connection: Upgrade` and `Upgrade: tcp`. Then both directions are pumped
//!   over the upgraded connection: client bytes feed [`HijackStdin`], output bytes are written
//!   and flushed as they come, and when the output ends the write side is shut down
//!   (half-close), which is what makes `docker run` return.
//! - Without one, the answer is `200 OK` with `Content-Type: application/vnd.docker.raw-stream`
//!   and the output as a streamed body; stdin is empty (ends at once).
//!
//! Known differences from dockerd, all invisible to the docker CLI and docker-py: hyper writes
//! lowercase header names and a `date` header; the response passes through the middleware, so
//! attach answers carry `Server`/`Api-Version`/`Ostype`/`Docker-Experimental` like exec's do
//! (dockerd's attach omits them); the 200 (no-upgrade) answer uses chunked transfer encoding
//! rather than raw bytes until close; and pre-stream attach failures ([`hijack_error`]) carry a
//! `content-length` and `connection: close` rather than being close-delimited.
//!
//! Output is passed in as bytes: the caller frames it (see `berth_api::stdcopy`) when the
//! stream is not a TTY.

use axum::body::Body;
use axum::extract::FromRequestParts;
use axum::response::{IntoResponse, Response};
use berth_api::Error;
use berth_api::stdcopy::RAW_STREAM;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use http::request::Parts;
use http::{HeaderValue, StatusCode, header};
use hyper::ext::ReasonPhrase;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// How many client reads may wait for the backend before reading from the socket pauses.
pub(crate) const STDIN_BUFFER: usize = 16;

/// The hijack side of an attach or exec-start request: whether the client asked to upgrade,
/// and hyper's handle on the connection. Extract it in a handler (it never rejects).
pub struct Hijack {
    on_upgrade: Option<OnUpgrade>,
    upgrade_requested: bool,
    stdin_tx: Option<mpsc::Sender<Result<Bytes, Error>>>,
}

impl std::fmt::Debug for Hijack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hijack")
            .field("upgradable", &self.on_upgrade.is_some())
            .field("upgrade_requested", &self.upgrade_requested)
            .finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Hijack {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            on_upgrade: parts.extensions.remove::<OnUpgrade>(),
            upgrade_requested: parts.headers.contains_key(header::UPGRADE),
            stdin_tx: None,
        })
    }
}

/// The client's bytes after the upgrade, raw (stdin is never framed). Ends when the client
/// half-closes or the connection fails; empty when there is no upgrade.
pub struct HijackStdin {
    rx: mpsc::Receiver<Result<Bytes, Error>>,
}

impl std::fmt::Debug for HijackStdin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HijackStdin").finish_non_exhaustive()
    }
}

impl Stream for HijackStdin {
    type Item = Result<Bytes, Error>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.rx.poll_recv(cx)
    }
}

impl Hijack {
    /// Whether the request carried an `Upgrade` header.
    pub fn upgrade_requested(&self) -> bool {
        self.upgrade_requested
    }

    /// Whether the answer will be a `101` (an `Upgrade` header, and a connection hyper can
    /// hand over).
    pub fn will_upgrade(&self) -> bool {
        self.upgrade_requested && self.on_upgrade.is_some()
    }

    /// The stream the client's bytes will arrive on. It is fed only once [`Hijack::respond`]'s
    /// answer has been sent and the connection upgraded, so hand it to the backend and do not
    /// wait on it before responding.
    pub fn stdin(&mut self) -> HijackStdin {
        let (tx, rx) = mpsc::channel(STDIN_BUFFER);
        if self.will_upgrade() {
            self.stdin_tx = Some(tx);
        }
        HijackStdin { rx }
    }

    /// The answer. `content_type` is used for the `101` (the caller picks multiplexed-stream
    /// for non-TTY output on API ≥ 1.42, as dockerd); the `200` always says raw-stream.
    /// `output` is written as is, each item flushed when it arrives.
    pub fn respond<S>(self, content_type: &'static str, output: S) -> Response
    where
        S: Stream<Item = Bytes> + Send + 'static,
    {
        let Hijack { on_upgrade, upgrade_requested, stdin_tx } = self;
        let on_upgrade = match on_upgrade {
            Some(on_upgrade) if upgrade_requested => on_upgrade,
            _ => {
                let body = Body::from_stream(output.map(Ok::<_, std::convert::Infallible>));
                return ([(header::CONTENT_TYPE, RAW_STREAM)], body).into_response();
            }
        };
        tokio::spawn(pump(on_upgrade, stdin_tx, Box::pin(output)));
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        response.extensions_mut().insert(ReasonPhrase::from_static(b"UPGRADED"));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("tcp"));
        response
    }
}

/// Runs the upgraded connection: client → stdin channel, output → client, then half-close.
async fn pump<S>(
    on_upgrade: OnUpgrade,
    stdin_tx: Option<mpsc::Sender<Result<Bytes, Error>>>,
    mut output: std::pin::Pin<Box<S>>,
) where
    S: Stream<Item = Bytes> + Send + ?Sized,
{
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(err) => {
            tracing::debug!(error = %err, "connection upgrade failed");
            return;
        }
    };
    let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
    let stdin_task = tokio::spawn(async move {
        let Some(tx) = stdin_tx else { return };
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            match reader.read(&mut buf).await {
                // The client half-closed: dropping the sender ends stdin (CloseIO).
                Ok(0) => return,
                Ok(n) => {
                    if tx.send(Ok(Bytes::copy_from_slice(&buf[..n]))).await.is_err() {
                        return;
                    }
                }
                Err(err) => {
                    tracing::debug!(error = %err, "hijacked connection read failed");
                    return;
                }
            }
        }
    });
    while let Some(chunk) = output.next().await {
        if let Err(err) = writer.write_all(&chunk).await {
            tracing::debug!(error = %err, "client went away");
            stdin_task.abort();
            return;
        }
        if let Err(err) = writer.flush().await {
            tracing::debug!(error = %err, "client went away");
            stdin_task.abort();
            return;
        }
    }
    // Output ended: half-close so the client sees EOF and returns. The connection closes
    // fully once the client closes its side too (or at once when stdin is not read).
    if let Err(err) = writer.shutdown().await {
        tracing::debug!(error = %err, "cannot half-close hijacked connection");
    }
    let _ = stdin_task.await;
}

/// dockerd's answer for an attach that fails before streaming: the error's status, the
/// raw-stream content type, and the message plus `\r\n` as plain text; the connection closes.
pub fn hijack_error(err: &Error) -> Response {
    let mut response = (err.status(), format!("{}\r\n", err.message())).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(RAW_STREAM));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}
