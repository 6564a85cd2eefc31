//! Serving: one accept loop per listener, one task per connection (TLS handshake included),
//! hyper-util's auto builder with upgrades, the protocol limits, and graceful shutdown.
//!
//! The API is HTTP/1.1 only, as dockerd 28's: the HTTP/2 preface is refused (see
//! [`sniff_http2`]).
//!
//! Protocol limits, against clients that misbehave on purpose or by accident:
//! - request line and headers: at most [`MAX_HEADER_BYTES`] (Go's `DefaultMaxHeaderBytes`,
//!   which dockerd keeps); more is a 431 and the connection is closed;
//! - [`HEADER_READ_TIMEOUT`] (dockerd's `ReadHeaderTimeout`) to send a request head, counted
//!   from the moment the daemon waits for one: after the TLS handshake for the first request,
//!   as soon as the previous answer is written for the next ones. hyper arms that timer when a
//!   keep-alive connection goes idle, so it is also the idle keep-alive timeout;
//! - at most [`MAX_CONNECTIONS`] open connections per listener, hijacked ones included; at the
//!   cap the listener stops accepting, so new clients wait in the kernel backlog instead of
//!   being accepted and dropped, and reaching the cap is logged once until the listener is well
//!   under it again.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use berth_listeners::{IoStream, Listener, PeerInfo, establish};
use berth_middleware::authz::Peer;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::handle::RouterHandle;

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// dockerd's `ReadHeaderTimeout` (5 min); also the idle keep-alive timeout (see the module doc).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Go's `http.DefaultMaxHeaderBytes` (1 MiB), dockerd's limit for the request line and headers.
const MAX_HEADER_BYTES: usize = 1 << 20;
/// The room Go's server reads past `MaxHeaderBytes` before it answers 431 (its `bufio` slack);
/// hyper's read buffer, whose size is what bounds a request head there, gets the same.
const HEADER_BUFFER_SLACK: usize = 4096;
/// Open connections per listener before the listener stops accepting. dockerd has no such cap;
/// this one is far above what Docker clients open and keeps a flood within memory and file
/// descriptors.
const MAX_CONNECTIONS: usize = 10_000;
/// Longest pause after an accept error (EMFILE and friends) before trying again.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

/// Test hook: the header read (and idle) timeout in milliseconds, so tests need not wait 5 min.
const HEADER_READ_TIMEOUT_ENV: &str = "BERTHD_TEST_HEADER_READ_TIMEOUT_MS";
/// Test hook: the connection cap per listener, so tests need not open 10 000 connections.
const MAX_CONNECTIONS_ENV: &str = "BERTHD_TEST_MAX_CONNECTIONS";

/// The protocol limits every listener applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    header_read_timeout: Duration,
    max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { header_read_timeout: HEADER_READ_TIMEOUT, max_connections: MAX_CONNECTIONS }
    }
}

impl Limits {
    /// The defaults, with the test hooks applied from the environment.
    fn from_env() -> Self {
        Self::with_overrides(|name| std::env::var(name).ok())
    }

    /// The defaults, with the test hooks `var` returns applied. A hook in effect is logged (it
    /// has no place in production); one that does not parse is logged and ignored.
    fn with_overrides(var: impl Fn(&str) -> Option<String>) -> Self {
        let mut limits = Self::default();
        let parse = |name: &str| {
            let raw = var(name)?;
            match raw.trim().parse::<u64>() {
                Ok(n) if n > 0 => {
                    tracing::warn!("{name}={n}: test override of a protocol limit in effect");
                    Some(n)
                }
                _ => {
                    tracing::warn!("{name}={raw:?} is not a positive integer; ignored");
                    None
                }
            }
        };
        if let Some(ms) = parse(HEADER_READ_TIMEOUT_ENV) {
            limits.header_read_timeout = Duration::from_millis(ms);
        }
        if let Some(n) = parse(MAX_CONNECTIONS_ENV) {
            limits.max_connections =
                usize::try_from(n).unwrap_or(usize::MAX).min(Semaphore::MAX_PERMITS);
        }
        limits
    }
}

/// Who is on the other end of a connection, as authorization sees it; built once per connection
/// and put in every request's extensions.
fn peer_identity(peer: &PeerInfo) -> Arc<Peer> {
    Arc::new(Peer {
        uid: peer.uid,
        gid: peer.gid,
        certificates: peer.client_certs.iter().map(|c| Bytes::copy_from_slice(c)).collect(),
        common_name: peer.common_name.clone(),
        organizational_units: peer.organizational_units.clone(),
    })
}

/// The running accept loops and the connections they spawned.
pub(crate) struct Server {
    handle: Arc<RouterHandle>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
    limits: Limits,
    stop: watch::Sender<bool>,
    loops: JoinSet<()>,
}

impl Server {
    pub(crate) fn new(handle: Arc<RouterHandle>) -> Self {
        let limits = Limits::from_env();
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .max_buf_size(MAX_HEADER_BYTES + HEADER_BUFFER_SLACK);
        let (stop, _) = watch::channel(false);
        Self {
            handle,
            builder: Arc::new(builder),
            graceful: Arc::new(GracefulShutdown::new()),
            limits,
            stop,
            loops: JoinSet::new(),
        }
    }

    /// Starts accepting on `listener`.
    pub(crate) fn spawn(&mut self, listener: Listener) {
        tracing::info!(listener = listener.addr(), "API listen on {}", listener.addr());
        let ctx = LoopContext {
            handle: Arc::clone(&self.handle),
            builder: Arc::clone(&self.builder),
            graceful: Arc::clone(&self.graceful),
            limits: self.limits,
        };
        self.loops.spawn(accept_loop(listener, ctx, self.stop.subscribe()));
    }

    /// Stops accepting (closing the listeners, which removes unix socket files), then waits for
    /// open connections to finish their requests, at most `timeout` (`None`: no limit).
    pub(crate) async fn shutdown(mut self, timeout: Option<Duration>) {
        let _ = self.stop.send(true);
        while self.loops.join_next().await.is_some() {}
        let graceful = match Arc::try_unwrap(self.graceful) {
            Ok(g) => g,
            Err(_) => {
                tracing::error!("connections still being accepted at shutdown");
                return;
            }
        };
        let open = graceful.count();
        if open > 0 {
            tracing::info!(connections = open, "waiting for in-flight requests");
        }
        let drain = graceful.shutdown();
        match timeout {
            Some(t) => {
                if tokio::time::timeout(t, drain).await.is_err() {
                    tracing::warn!(
                        timeout_s = t.as_secs(),
                        "shutdown timeout reached; closing connections"
                    );
                }
            }
            None => drain.await,
        }
    }
}

#[derive(Clone)]
struct LoopContext {
    handle: Arc<RouterHandle>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    graceful: Arc<GracefulShutdown>,
    limits: Limits,
}

async fn accept_loop(listener: Listener, ctx: LoopContext, mut stop: watch::Receiver<bool>) {
    let cap = Arc::new(ConnectionCap::new(listener.addr(), ctx.limits.max_connections));
    let mut backoff = Duration::ZERO;
    loop {
        // The connection's slot is taken before accepting it: at the cap the listener stops
        // accepting, and new clients wait in the backlog instead of being accepted and dropped.
        let slot = tokio::select! {
            _ = stop.changed() => break,
            slot = cap.slot() => slot,
        };
        let Some(slot) = slot else {
            tracing::error!(listener = listener.addr(), "connection slots closed; stop accepting");
            break;
        };
        let accepted = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((conn, peer)) => {
                backoff = Duration::ZERO;
                let tls = listener.tls_acceptor().cloned();
                let watcher = ctx.graceful.watcher();
                let ctx = ctx.clone();
                tokio::spawn(async move {
                    let mut peer = peer;
                    let io = match establish(conn, tls.as_ref(), TLS_HANDSHAKE_TIMEOUT, &mut peer)
                        .await
                    {
                        Ok(io) => io,
                        Err(err) => {
                            tracing::debug!(peer = %peer.addr, error = %err, "connection dropped before HTTP");
                            return;
                        }
                    };
                    serve_http(io, peer, slot, watcher, ctx).await;
                });
            }
            Err(err) if is_connection_error(&err) => {
                tracing::debug!(error = %err, "accept: client went away");
            }
            Err(err) => {
                backoff = (backoff * 2).clamp(Duration::from_millis(5), MAX_ACCEPT_BACKOFF);
                tracing::warn!(listener = listener.addr(), error = %err, backoff_ms = backoff.as_millis() as u64, "accept failed; backing off");
                tokio::select! {
                    _ = stop.changed() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
            }
        }
    }
    tracing::info!(listener = listener.addr(), "stopped accepting");
}

/// Serves HTTP/1.1 on an established connection until it ends.
///
/// The first request head must arrive within the header read timeout, counted from here: the
/// bytes that tell HTTP/1 from HTTP/2 are read before hyper and its header timer see the
/// connection, so a client that sends nothing, or only the start of the HTTP/2 preface, is
/// timed here. Later heads, and the idle time before them, are hyper's.
async fn serve_http(
    mut io: IoStream,
    peer: PeerInfo,
    slot: Slot,
    watcher: Watcher,
    ctx: LoopContext,
) {
    let first_head = tokio::time::sleep(ctx.limits.header_read_timeout);
    tokio::pin!(first_head);
    let prefix = tokio::select! {
        sniffed = sniff_http2(&mut io) => match sniffed {
            Ok(Sniffed::Http1(prefix)) => prefix,
            Ok(Sniffed::Http2) => {
                tracing::debug!(
                    peer = %peer.addr,
                    "HTTP/2 refused: the API is served over HTTP/1.1"
                );
                return;
            }
            Err(err) => {
                tracing::debug!(peer = %peer.addr, error = %err, "connection dropped before HTTP");
                return;
            }
        },
        () = &mut first_head => {
            tracing::debug!(
                peer = %peer.addr,
                "no request head within the header read timeout; closing"
            );
            return;
        }
    };

    let identity = peer_identity(&peer);
    let handle = Arc::clone(&ctx.handle);
    let started = Arc::new(AtomicBool::new(false));
    let seen = Arc::clone(&started);
    let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
        seen.store(true, Ordering::Relaxed);
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(Arc::clone(&identity));
        handle.service().oneshot(req)
    });
    let io = Slotted { prefix, io, _slot: slot };
    let conn = ctx.builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    let served = watcher.watch(conn.into_owned());
    tokio::pin!(served);
    let result = tokio::select! {
        result = &mut served => result,
        () = &mut first_head => {
            if !started.load(Ordering::Relaxed) {
                tracing::debug!(
                    peer = %peer.addr,
                    "no request head within the header read timeout; closing"
                );
                return;
            }
            served.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(error = %err, "connection ended with an error");
    }
}

/// What the first bytes of a connection say.
enum Sniffed {
    /// Not HTTP/2: these bytes, to be read again by hyper.
    Http1(Bytes),
    /// The HTTP/2 connection preface.
    Http2,
}

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Reads until the bytes cannot be the HTTP/2 preface any more, or are all of it.
///
/// The API is HTTP/1.1 only, as dockerd 28's (which answers the preface as an HTTP/1 request
/// to an unknown path). hyper-util's auto builder would otherwise serve HTTP/2 prior knowledge,
/// enabled by the engine's gRPC client through feature unification, and none of the HTTP/1
/// limits here would apply to it.
async fn sniff_http2(io: &mut IoStream) -> std::io::Result<Sniffed> {
    use tokio::io::AsyncReadExt;
    let mut buf = [0; HTTP2_PREFACE.len()];
    let mut filled = 0;
    while filled < buf.len() {
        let n = io.read(&mut buf[filled..]).await?;
        filled += n;
        if n == 0 || !HTTP2_PREFACE.starts_with(&buf[..filled]) {
            return Ok(Sniffed::Http1(Bytes::copy_from_slice(&buf[..filled])));
        }
    }
    Ok(Sniffed::Http2)
}

/// Errors that concern one connection only; the listener itself is fine.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}

/// One listener's cap on open connections.
struct ConnectionCap {
    listener: String,
    max: usize,
    slots: Arc<Semaphore>,
    /// Whether reaching the cap was logged, and leaving it not yet.
    reached: AtomicBool,
}

impl ConnectionCap {
    fn new(listener: &str, max: usize) -> Self {
        Self {
            listener: listener.to_owned(),
            max,
            slots: Arc::new(Semaphore::new(max)),
            reached: AtomicBool::new(false),
        }
    }

    fn open(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }

    /// Open connections at or under which a listener that reached its cap logs that it is
    /// back under it: 90 % of the cap, so a listener hovering at its cap under sustained load
    /// logs once, not once per connection.
    fn low_water(&self) -> usize {
        self.max - (self.max / 10).max(1)
    }

    /// A slot for the next connection. At the cap, logs it (once until back under the low
    /// water mark) and waits for a connection to close. `None` if the semaphore was closed,
    /// which nothing does.
    async fn slot(self: &Arc<Self>) -> Option<Slot> {
        let permit = match Arc::clone(&self.slots).try_acquire_owned() {
            Ok(permit) => permit,
            Err(_) => {
                if !self.reached.swap(true, Ordering::AcqRel) {
                    tracing::warn!(
                        listener = %self.listener,
                        max_connections = self.max,
                        "connection limit reached on {}: {} open connections; new connections \
                         wait in the backlog until some close",
                        self.listener,
                        self.max,
                    );
                }
                Arc::clone(&self.slots).acquire_owned().await.ok()?
            }
        };
        Some(Slot { permit: Some(permit), cap: Arc::clone(self) })
    }
}

/// A connection's place under its listener's cap, given back when dropped.
struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    cap: Arc<ConnectionCap>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        drop(self.permit.take());
        let open = self.cap.open();
        if open <= self.cap.low_water() && self.cap.reached.swap(false, Ordering::AcqRel) {
            tracing::info!(
                listener = %self.cap.listener,
                open,
                "back under the connection limit on {}: {open} open connections",
                self.cap.listener,
            );
        }
    }
}

/// A connection together with its slot under the listener's cap. The slot is given back when
/// the socket is dropped, which for a hijacked connection (attach, exec) is long after hyper
/// handed it over to the handler, so those count against the cap too.
struct Slotted {
    /// Bytes read to tell HTTP/1 from HTTP/2, read again first.
    prefix: Bytes,
    io: IoStream,
    _slot: Slot,
}

impl AsyncRead for Slotted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix.split_to(n));
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Slotted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Limits {
        Limits::with_overrides(|name| {
            vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn defaults_are_dockerds_and_hooks_override_them() {
        assert_eq!(
            with(&[]),
            Limits { header_read_timeout: Duration::from_secs(300), max_connections: 10_000 }
        );
        assert_eq!(
            with(&[(HEADER_READ_TIMEOUT_ENV, "1500"), (MAX_CONNECTIONS_ENV, " 3 ")]),
            Limits { header_read_timeout: Duration::from_millis(1500), max_connections: 3 }
        );
        for bad in ["0", "-1", "soon", ""] {
            assert_eq!(
                with(&[(HEADER_READ_TIMEOUT_ENV, bad), (MAX_CONNECTIONS_ENV, bad)]),
                with(&[])
            );
        }
    }

    #[test]
    fn the_cap_is_left_at_90_percent() {
        let low_water = |max| ConnectionCap::new("unix:///x", max).low_water();
        assert_eq!(
            [low_water(10_000), low_water(20), low_water(2), low_water(1)],
            [9_000, 18, 1, 0]
        );
        assert_eq!(
            with(&[(MAX_CONNECTIONS_ENV, &u64::MAX.to_string())]).max_connections,
            Semaphore::MAX_PERMITS
        );
    }

    #[tokio::test]
    async fn reaching_the_cap_is_logged_once_until_well_under_it() {
        let cap = Arc::new(ConnectionCap::new("unix:///x", 20));
        let mut slots = Vec::new();
        for _ in 0..20 {
            slots.push(cap.slot().await.expect("slot"));
        }
        assert!(!cap.reached.load(Ordering::Acquire));
        // At the cap: the next slot waits, and the cap is marked reached.
        let waiting = tokio::spawn({
            let cap = Arc::clone(&cap);
            async move { cap.slot().await.expect("slot") }
        });
        while !cap.reached.load(Ordering::Acquire) {
            tokio::task::yield_now().await;
        }
        // One close hands its slot to the waiting connection: still at the cap, still reached.
        slots.pop();
        slots.push(waiting.await.expect("join"));
        assert_eq!(cap.open(), 20);
        slots.pop();
        assert!(cap.reached.load(Ordering::Acquire), "19 open is not well under 20");
        slots.pop();
        assert!(!cap.reached.load(Ordering::Acquire), "18 open is");
    }
}
