//! The embedded DNS server, as dockerd's 127.0.0.11 resolver: containers on a user-defined
//! network find each other by container name, network alias and short ID, and everything else
//! goes to the host's resolvers.
//!
//! One [`DnsServer`] serves one container. Its sockets are bound to 127.0.0.11:53 inside the
//! container's network namespace (all of 127.0.0.0/8 is routed to `lo` there, so no address has
//! to be added), then served from the tokio pool in the host namespace; forwarded queries
//! therefore leave from the host. Answers come from a [`Names`] the caller keeps up to date.

mod answer;
mod forward;
#[cfg(test)]
mod tests;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use berth_api::Error;
use hickory_proto::op::ResponseCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::Semaphore;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use self::answer::{Pending, Verdict};
use super::Netns;

/// The address dockerd's embedded resolver listens on, which containers find in resolv.conf.
pub(crate) const DNS_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 11);

/// The port the server listens on.
const DNS_PORT: u16 = 53;

/// Forwards in flight at once per container; one more is refused at once (as dockerd does when
/// its `maxConcurrent` is reached), so a flood costs a bounded number of sockets.
const MAX_FORWARDS: usize = 256;

/// TCP connections served at once per container; further ones wait in the listen backlog.
const MAX_TCP_CONNECTIONS: usize = 64;

/// How long a TCP connection may sit idle between queries (miekg/dns's default).
const TCP_IDLE_TIMEOUT: Duration = Duration::from_secs(8);

/// How long reading the rest of a TCP query, or writing an answer, may take.
const TCP_IO_TIMEOUT: Duration = Duration::from_secs(2);

/// Answers name lookups for one container (called on every query; must be cheap and sync).
pub(crate) trait Names: Send + Sync + 'static {
    /// IPv4 addresses for `name` (already lowercased, without the trailing dot) as seen from
    /// container `from` (its ID), empty if unknown.
    ///
    /// `name` is what the client asked: a container name, an alias, a short ID, or any of
    /// them followed by `.` and a network name. A known name with no address (say, a container
    /// that is not running) should still return nothing, and the question then goes upstream.
    fn lookup(&self, from: &str, name: &str) -> Vec<Ipv4Addr>;

    /// Name for a PTR query of `ip` as seen from `from` (e.g. `web.mynet`), if any.
    fn reverse(&self, from: &str, ip: Ipv4Addr) -> Option<String>;
}

/// The embedded DNS server of one container; serving stops when it is dropped or
/// [`DnsServer::stop`]ped.
pub(crate) struct DnsServer {
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// What the serve loops share.
struct Shared {
    container_id: String,
    names: Arc<dyn Names>,
    upstreams: Vec<SocketAddr>,
    forwards: Arc<Semaphore>,
    /// Bumped per query, to rotate among several addresses for one name.
    rotation: AtomicUsize,
    /// When "too many forwards" was last logged, in seconds since the epoch, to log it at most
    /// once a second.
    saturated_at: AtomicU64,
}

impl DnsServer {
    /// Binds UDP and TCP 127.0.0.11:53 inside the network namespace at `netns` (sockets are
    /// created on a thread that setns'd into it, then served from tokio in the host namespace),
    /// and serves queries for container `container_id`.
    ///
    /// Names `names` does not know are forwarded to `upstreams` (the first three are used, in
    /// order), from the host namespace; with none, such queries get SERVFAIL. `lo` must be up in
    /// the namespace. Must be called within a tokio runtime; blocks for the thread spawn.
    pub(crate) fn start(
        netns: &Path,
        container_id: String,
        names: Arc<dyn Names>,
        upstreams: Vec<SocketAddr>,
    ) -> Result<Self, Error> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|e| Error::system("the DNS server needs a tokio runtime").with_source(e))?;
        let address = SocketAddr::from((DNS_ADDRESS, DNS_PORT));
        let (udp, tcp) = Netns::run_in(netns, move || -> std::io::Result<_> {
            let udp = std::net::UdpSocket::bind(address)?;
            udp.set_nonblocking(true)?;
            let tcp = std::net::TcpListener::bind(address)?;
            tcp.set_nonblocking(true)?;
            Ok((udp, tcp))
        })?
        .map_err(|e| {
            Error::system(format!("cannot listen on {address} in {}", netns.display()))
                .with_source(e)
        })?;
        let _entered = runtime.enter();
        let registration = |e| Error::system("cannot register the DNS sockets").with_source(e);
        let udp = UdpSocket::from_std(udp).map_err(registration)?;
        let tcp = TcpListener::from_std(tcp).map_err(registration)?;

        let shared = Arc::new(Shared {
            container_id,
            names,
            upstreams,
            forwards: Arc::new(Semaphore::new(MAX_FORWARDS)),
            rotation: AtomicUsize::new(0),
            saturated_at: AtomicU64::new(0),
        });
        tracing::debug!(container = %shared.container_id, netns = %netns.display(), "DNS server started");
        let cancel = CancellationToken::new();
        let tasks = vec![
            runtime.spawn(serve_udp(Arc::new(udp), shared.clone(), cancel.clone())),
            runtime.spawn(serve_tcp(tcp, shared, cancel.clone())),
        ];
        Ok(Self { cancel, tasks })
    }

    /// Stops serving and returns once the sockets are closed, so the address can be bound
    /// again at once. Dropping the server stops it too, but closes the sockets a moment later.
    pub(crate) async fn stop(mut self) {
        self.cancel.cancel();
        for task in std::mem::take(&mut self.tasks) {
            if let Err(e) = task.await {
                tracing::warn!(error = %e, "a DNS server task failed");
            }
        }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

impl Shared {
    fn handle(&self, packet: &[u8], udp: bool) -> Verdict {
        let rotation = self.rotation.fetch_add(1, Ordering::Relaxed);
        answer::handle(self.names.as_ref(), &self.container_id, rotation, packet, udp)
    }

    /// A forward slot, or `None` (and a log line, at most once a second) when all are taken.
    fn forward_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        let permit = self.forwards.clone().try_acquire_owned().ok();
        if permit.is_none() {
            let now =
                SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs());
            if self.saturated_at.swap(now, Ordering::Relaxed) != now {
                tracing::warn!(container = %self.container_id, "more than {MAX_FORWARDS} DNS queries forwarded at once, refusing more");
            }
        }
        permit
    }
}

/// REFUSED for a query that could not get a forward slot.
fn refused(pending: &Pending) -> Option<Vec<u8>> {
    answer::encode(
        &answer::error(&pending.query.metadata, Some(&pending.query), ResponseCode::Refused),
        pending.limit,
    )
}

async fn serve_udp(socket: Arc<UdpSocket>, shared: Arc<Shared>, cancel: CancellationToken) {
    let mut forwards = JoinSet::new();
    // The largest datagram; a query is never near it, but a short buffer would cut one silently.
    let mut buf = vec![0; answer::TCP_LIMIT];
    loop {
        reap(&mut forwards);
        let (len, peer) = tokio::select! {
            () = cancel.cancelled() => break,
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                Err(e) => {
                    tracing::debug!(error = %e, "DNS server cannot receive");
                    continue;
                }
            },
        };
        let reply = match shared.handle(&buf[..len], true) {
            Verdict::Drop => continue,
            Verdict::Reply(bytes) => bytes,
            Verdict::Forward(pending) => match shared.forward_permit() {
                Some(permit) => {
                    let (socket, shared) = (socket.clone(), shared.clone());
                    forwards.spawn(async move {
                        if let Some(bytes) =
                            forward::forward(&shared.upstreams, &pending, false).await
                        {
                            send(&socket, &bytes, peer).await;
                        }
                        drop(permit);
                    });
                    continue;
                }
                None => match refused(&pending) {
                    Some(bytes) => bytes,
                    None => continue,
                },
            },
        };
        send(&socket, &reply, peer).await;
    }
    forwards.shutdown().await;
}

async fn send(socket: &UdpSocket, bytes: &[u8], peer: SocketAddr) {
    if let Err(e) = socket.send_to(bytes, peer).await {
        tracing::debug!(%peer, error = %e, "DNS server cannot answer");
    }
}

async fn serve_tcp(listener: TcpListener, shared: Arc<Shared>, cancel: CancellationToken) {
    let connections = Arc::new(Semaphore::new(MAX_TCP_CONNECTIONS));
    let mut tasks = JoinSet::new();
    loop {
        reap(&mut tasks);
        let permit = tokio::select! {
            () = cancel.cancelled() => break,
            permit = connections.clone().acquire_owned() => permit,
        };
        let Ok(permit) = permit else { break };
        let accepted = tokio::select! {
            () = cancel.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, _)) => {
                let shared = shared.clone();
                tasks.spawn(async move {
                    serve_connection(stream, &shared).await;
                    drop(permit);
                });
            }
            Err(e) => tracing::debug!(error = %e, "DNS server cannot accept"),
        }
    }
    tasks.shutdown().await;
}

/// Collects the tasks in `tasks` that have finished, logging any that panicked.
fn reap(tasks: &mut JoinSet<()>) {
    while let Some(done) = tasks.try_join_next() {
        if let Err(e) = done {
            tracing::warn!(error = %e, "a DNS query task failed");
        }
    }
}

/// Answers length-prefixed queries on one connection, in order, until the client closes it,
/// idles, or sends something not worth answering.
async fn serve_connection(mut stream: TcpStream, shared: &Shared) {
    loop {
        let len = match tokio::time::timeout(TCP_IDLE_TIMEOUT, stream.read_u16()).await {
            Ok(Ok(len)) if len > 0 => len,
            _ => return,
        };
        let mut packet = vec![0; usize::from(len)];
        if !matches!(
            tokio::time::timeout(TCP_IO_TIMEOUT, stream.read_exact(&mut packet)).await,
            Ok(Ok(_))
        ) {
            return;
        }
        let reply = match shared.handle(&packet, false) {
            Verdict::Drop => return,
            Verdict::Reply(bytes) => Some(bytes),
            Verdict::Forward(pending) => match shared.forward_permit() {
                Some(_permit) => forward::forward(&shared.upstreams, &pending, true).await,
                None => refused(&pending),
            },
        };
        let Some(reply) = reply else { return };
        let Ok(len) = u16::try_from(reply.len()) else { return };
        let mut framed = Vec::with_capacity(reply.len() + 2);
        framed.extend_from_slice(&len.to_be_bytes());
        framed.extend_from_slice(&reply);
        if !matches!(
            tokio::time::timeout(TCP_IO_TIMEOUT, stream.write_all(&framed)).await,
            Ok(Ok(()))
        ) {
            return;
        }
    }
}
