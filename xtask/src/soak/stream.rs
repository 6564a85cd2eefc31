//! The two kinds of request `diff::client` does not make: one whose client hangs up as soon as
//! the answer's head (and perhaps its first bytes) arrived, as a killed `docker logs -f` or
//! `docker events` does, and several requests over one kept-alive connection, as the docker
//! CLI and the SDKs send them. The connection is driven inside the request's own future, so
//! hanging up closes the socket at once, not at the runtime's next turn.

use std::future::Future;
use std::path::Path;
use std::pin::{Pin, pin};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;
use tokio::runtime::Runtime;

/// How long one exchange may take, connection to hang-up.
const TIMEOUT: Duration = Duration::from_secs(20);

/// What a hung-up request saw before it hung up.
#[derive(Debug)]
pub(super) struct Glimpse {
    pub(super) status: StatusCode,
    /// The first body frame, when one was waited for.
    pub(super) first: Bytes,
}

/// A client for the requests above, on its own single-threaded runtime (one per worker).
#[derive(Debug)]
pub(super) struct StreamClient {
    runtime: Runtime,
}

impl StreamClient {
    pub(super) fn new() -> Result<StreamClient> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("building a tokio runtime for the soak's stream client")?;
        Ok(StreamClient { runtime })
    }

    /// Sends `method path` with `headers`, waits for the answer's head and, with
    /// `first_frame`, for the first frame of its body; then closes the connection.
    pub(super) fn hang_up(
        &self,
        socket: &Path,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        first_frame: bool,
    ) -> Result<Glimpse> {
        let exchange = async {
            let (mut sender, conn) = connect(socket).await?;
            let mut conn = Driven::new(conn.with_upgrades());
            let request = request(method, path, headers)?;
            let response = conn.run(sender.send_request(request)).await?.context("sending")?;
            let status = response.status();
            let mut body = response.into_body();
            let first = if first_frame && status != StatusCode::SWITCHING_PROTOCOLS {
                match conn.run(body.frame()).await? {
                    Some(frame) => frame
                        .context("reading the first body frame")?
                        .into_data()
                        .unwrap_or_default(),
                    None => bail!("{status} with an empty body; a stream was expected"),
                }
            } else {
                Bytes::new()
            };
            // Everything is dropped here: the socket closes with the body unread.
            Ok(Glimpse { status, first })
        };
        self.within(exchange).with_context(|| format!("{method} {path}, hanging up early"))
    }

    /// GETs `paths` one after the other over one connection; each answer's status and body.
    pub(super) fn keep_alive(
        &self,
        socket: &Path,
        paths: &[String],
    ) -> Result<Vec<(StatusCode, Bytes)>> {
        let exchange = async {
            let (mut sender, conn) = connect(socket).await?;
            let mut conn = Driven::new(conn);
            let mut answers = Vec::with_capacity(paths.len());
            for path in paths {
                conn.run(sender.ready())
                    .await?
                    .with_context(|| format!("connection not reusable before GET {path}"))?;
                let response = conn
                    .run(sender.send_request(request("GET", path, &[])?))
                    .await?
                    .with_context(|| format!("GET {path}"))?;
                let status = response.status();
                let body = conn
                    .run(response.into_body().collect())
                    .await?
                    .with_context(|| format!("reading the body of GET {path}"))?
                    .to_bytes();
                answers.push((status, body));
            }
            Ok(answers)
        };
        self.within(exchange).context("requests over one kept-alive connection")
    }

    fn within<T>(&self, exchange: impl Future<Output = Result<T>>) -> Result<T> {
        self.runtime.block_on(async {
            tokio::time::timeout(TIMEOUT, exchange)
                .await
                .with_context(|| format!("not done within {TIMEOUT:?}"))?
        })
    }
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;
type Connection = hyper::client::conn::http1::Connection<TokioIo<UnixStream>, Full<Bytes>>;

async fn connect(socket: &Path) -> Result<(Sender, Connection)> {
    let stream = UnixStream::connect(socket)
        .await
        .with_context(|| format!("connecting to {}", socket.display()))?;
    hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.context("HTTP/1.1 handshake")
}

fn request(method: &str, path: &str, headers: &[(&str, &str)]) -> Result<Request<Full<Bytes>>> {
    let method = Method::from_bytes(method.as_bytes())
        .with_context(|| format!("invalid method {method:?}"))?;
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, "api.moby.localhost")
        .header(http::header::USER_AGENT, "berth-xtask-soak");
    for &(name, value) in headers {
        builder = builder.header(name, value);
    }
    builder.body(Full::new(Bytes::new())).with_context(|| format!("building {path}"))
}

/// A client connection being driven alongside the work that needs it.
struct Driven<C> {
    /// `None` once it ended (an upgrade handed the socket over, or the server closed it):
    /// dropping it closes the request channel, so later work fails instead of waiting.
    conn: Option<Pin<Box<C>>>,
}

impl<C: Future<Output = hyper::Result<()>>> Driven<C> {
    fn new(conn: C) -> Driven<C> {
        Driven { conn: Some(Box::pin(conn)) }
    }

    /// Runs `work` while driving the connection. A connection that ends first still lets
    /// `work` collect what it had delivered.
    async fn run<T>(&mut self, work: impl Future<Output = T>) -> Result<T> {
        let mut work = pin!(work);
        if let Some(conn) = self.conn.as_mut() {
            tokio::select! {
                biased;
                out = &mut work => return Ok(out),
                ended = conn.as_mut() => {
                    self.conn = None;
                    ended.context("the connection failed")?;
                }
            }
        }
        Ok(work.await)
    }
}
