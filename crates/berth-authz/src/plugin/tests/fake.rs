//! A fake authorization plugin: a hyper HTTP/1.1 server on a unix socket, TCP or TLS that
//! records what it receives and answers through a handler.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;

/// One request the fake received.
#[derive(Debug, Clone)]
pub(super) struct Recorded {
    pub(super) path: String,
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Recorded {
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("the plugin got JSON")
    }
}

/// The answer to a request: a status and a body, or never answering.
pub(super) type Handler = Arc<dyn Fn(&Recorded) -> Option<(StatusCode, String)> + Send + Sync>;

/// An authz plugin that allows everything.
pub(super) fn allow_all() -> Handler {
    answer(|_| (StatusCode::OK, r#"{"Allow":true}"#.to_owned()))
}

/// A plugin that activates as `authz` and answers authorization calls with `authz`.
pub(super) fn answer(
    authz: impl Fn(&Recorded) -> (StatusCode, String) + Send + Sync + 'static,
) -> Handler {
    Arc::new(move |req| {
        if req.path == crate::wire::ACTIVATE_PATH {
            return Some((StatusCode::OK, r#"{"Implements":["authz"]}"#.to_owned()));
        }
        Some(authz(req))
    })
}

#[derive(Default)]
pub(super) struct Stats {
    connections: AtomicUsize,
    requests: Mutex<Vec<Recorded>>,
}

/// A running fake; dropping it stops it.
pub(super) struct Fake {
    stats: Arc<Stats>,
    task: JoinHandle<()>,
    socket: Option<PathBuf>,
}

enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener, Option<TlsAcceptor>),
}

impl Fake {
    /// Serves on a new unix socket at `path` (its directory is created).
    pub(super) fn unix(path: &Path, handler: Handler) -> Fake {
        std::fs::create_dir_all(path.parent().expect("socket has a directory")).expect("mkdir");
        let listener = UnixListener::bind(path).expect("bind fake plugin socket");
        Self::spawn(Listener::Unix(listener), handler, Some(path.to_owned()))
    }

    /// Serves plain HTTP on a TCP port of 127.0.0.1.
    pub(super) async fn tcp(handler: Handler) -> (Fake, SocketAddr) {
        Self::tcp_with(None, handler).await
    }

    /// Serves HTTPS on a TCP port of 127.0.0.1.
    pub(super) async fn tls(acceptor: TlsAcceptor, handler: Handler) -> (Fake, SocketAddr) {
        Self::tcp_with(Some(acceptor), handler).await
    }

    async fn tcp_with(tls: Option<TlsAcceptor>, handler: Handler) -> (Fake, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake plugin port");
        let addr = listener.local_addr().expect("local addr");
        (Self::spawn(Listener::Tcp(listener, tls), handler, None), addr)
    }

    fn spawn(listener: Listener, handler: Handler, socket: Option<PathBuf>) -> Fake {
        let stats = Arc::new(Stats::default());
        let task = tokio::spawn(accept_loop(listener, handler, Arc::clone(&stats)));
        Fake { stats, task, socket }
    }

    /// Connections accepted so far.
    pub(super) fn connections(&self) -> usize {
        self.stats.connections.load(Ordering::SeqCst)
    }

    /// Requests received so far.
    pub(super) fn requests(&self) -> Vec<Recorded> {
        self.stats.requests.lock().expect("requests lock").clone()
    }

    /// Stops the plugin as a crash would: connections dropped, socket file gone.
    pub(super) async fn kill(mut self) {
        self.task.abort();
        // Cancelled is the expected outcome; the connections die with the accept loop's JoinSet.
        let _ = (&mut self.task).await;
        if let Some(path) = self.socket.take() {
            std::fs::remove_file(path).expect("remove the fake's socket");
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: Listener, handler: Handler, stats: Arc<Stats>) {
    let mut connections = JoinSet::new();
    loop {
        let handler = Arc::clone(&handler);
        let stats2 = Arc::clone(&stats);
        match &listener {
            Listener::Unix(l) => {
                let (stream, _) = l.accept().await.expect("accept");
                stats.connections.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve(stream, handler, stats2));
            }
            Listener::Tcp(l, tls) => {
                let (stream, _) = l.accept().await.expect("accept");
                stats.connections.fetch_add(1, Ordering::SeqCst);
                match tls.clone() {
                    None => {
                        connections.spawn(serve(stream, handler, stats2));
                    }
                    Some(acceptor) => {
                        connections.spawn(async move {
                            // A failed handshake is part of some tests; the client reports it.
                            if let Ok(stream) = acceptor.accept(stream).await {
                                serve(stream, handler, stats2).await;
                            }
                        });
                    }
                }
            }
        }
    }
}

async fn serve<S>(stream: S, handler: Handler, stats: Arc<Stats>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
        let handler = Arc::clone(&handler);
        let stats = Arc::clone(&stats);
        async move {
            let (parts, body) = req.into_parts();
            let body = body.collect().await.expect("request body").to_bytes();
            let recorded =
                Recorded { path: parts.uri.path().to_owned(), headers: parts.headers, body };
            stats.requests.lock().expect("requests lock").push(recorded.clone());
            let Some((status, body)) = handler(&recorded) else {
                return std::future::pending().await;
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body)))
                .expect("valid response");
            Ok::<_, Infallible>(response)
        }
    });
    // Connections end with errors when the client goes away; that is fine here.
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await;
}
