//! Serving: one accept loop per listener, one task per connection (TLS handshake included),
//! hyper-util's auto builder with upgrades, and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use berth_listeners::{Listener, PeerInfo, establish};
use berth_middleware::authz::Peer;
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::handle::RouterHandle;

/// How long a TLS client may take to finish its handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// dockerd's `ReadHeaderTimeout`.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(300);
/// Longest pause after an accept error (EMFILE and friends) before trying again.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);

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
    stop: watch::Sender<bool>,
    loops: JoinSet<()>,
}

impl Server {
    pub(crate) fn new(handle: Arc<RouterHandle>) -> Self {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder.http1().timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
        let (stop, _) = watch::channel(false);
        Self {
            handle,
            builder: Arc::new(builder),
            graceful: Arc::new(GracefulShutdown::new()),
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
}

async fn accept_loop(listener: Listener, ctx: LoopContext, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::ZERO;
    loop {
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
                    let identity = peer_identity(&peer);
                    let handle = Arc::clone(&ctx.handle);
                    let service =
                        hyper::service::service_fn(move |req: http::Request<Incoming>| {
                            let mut req = req.map(Body::new);
                            req.extensions_mut().insert(Arc::clone(&identity));
                            handle.service().oneshot(req)
                        });
                    let conn =
                        ctx.builder.serve_connection_with_upgrades(TokioIo::new(io), service);
                    if let Err(err) = watcher.watch(conn.into_owned()).await {
                        tracing::debug!(error = %err, "connection ended with an error");
                    }
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

/// Errors that concern one connection only; the listener itself is fine.
fn is_connection_error(err: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(err.kind(), ConnectionRefused | ConnectionAborted | ConnectionReset)
}
