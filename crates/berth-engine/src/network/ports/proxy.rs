//! The userland proxy: what `docker-proxy` does for dockerd, as tasks inside `berthd`.
//!
//! Each listening socket is served by one task that owns the tasks of its connections (tcp) or
//! flows (udp) in a `JoinSet`; when the socket's task ends or is dropped, they end with it.

use std::collections::HashMap;
use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use nix::libc;
use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrLike, SockaddrStorage, recv, recvmsg,
    sendmsg,
};
use tokio::io::Interest;
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use super::Proto;

/// Buffer per direction of a tcp connection (what Go's `io.Copy` in `docker-proxy` uses).
const TCP_BUFFER: usize = 32 * 1024;

/// The largest udp payload (`docker-proxy`'s `UDPBufSize`).
const MAX_DATAGRAM: usize = 65507;

/// The pause after an accept or receive error that is not about one client, so that the loop
/// does not spin.
const ERROR_PAUSE: Duration = Duration::from_millis(100);

/// Proxy settings.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tuning {
    /// A udp flow with no datagram either way for this long is forgotten.
    pub(super) udp_idle: Duration,
    /// Most udp flows per host socket; datagrams from further clients are dropped.
    pub(super) udp_max_flows: usize,
}

impl Default for Tuning {
    /// `docker-proxy`'s 90-second flow timeout; 4096 flows (one socket each).
    fn default() -> Self {
        Self { udp_idle: Duration::from_secs(90), udp_max_flows: 4096 }
    }
}

/// A bound host socket, registered with tokio.
pub(super) enum Listener {
    /// A listening tcp socket.
    Tcp(TcpListener),
    /// A udp socket and its clients.
    Udp(UdpSocket, Arc<Flows>),
}

impl Listener {
    /// Wraps a socket from `bind_socket` (non-blocking already).
    pub(super) fn new(proto: Proto, socket: OwnedFd) -> io::Result<Self> {
        Ok(match proto {
            Proto::Tcp => Self::Tcp(TcpListener::from_std(socket.into())?),
            Proto::Udp | Proto::Sctp => {
                Self::Udp(UdpSocket::from_std(socket.into())?, Arc::default())
            }
        })
    }

    /// Proxies to `backend` until `stop`; returns once every connection or flow is closed.
    pub(super) async fn serve(self, backend: SocketAddr, stop: CancellationToken, tuning: Tuning) {
        match self {
            Self::Tcp(listener) => serve_tcp(listener, backend, stop).await,
            Self::Udp(socket, flows) => serve_udp(socket, flows, backend, stop, tuning).await,
        }
    }
}

/// Logs an error that is not about one client (no file descriptors left, say) and waits
/// `ERROR_PAUSE`, or less if stopped; returns whether to go on.
async fn pause_after(
    error: io::Error,
    doing: &str,
    backend: SocketAddr,
    stop: &CancellationToken,
) -> bool {
    tracing::warn!(%backend, %error, "cannot {doing}");
    tokio::select! {
        () = stop.cancelled() => false,
        () = tokio::time::sleep(ERROR_PAUSE) => true,
    }
}

/// Logs how a connection or flow task ended, when it did not end normally.
fn reap(done: Result<(), JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "a proxied connection panicked");
    }
}

async fn serve_tcp(listener: TcpListener, backend: SocketAddr, stop: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((client, _)) => {
                    connections.spawn(forward_tcp(client, backend));
                }
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    if !pause_after(e, "accept a connection to proxy", backend, &stop).await {
                        break;
                    }
                }
            },
            Some(done) = connections.join_next() => reap(done),
        }
    }
    connections.shutdown().await;
}

/// An accept error that concerns one connection only.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Carries one tcp connection both ways. When one side ends its stream, the other side's write
/// half is shut down and the other direction goes on, so half-closes pass through.
async fn forward_tcp(mut client: TcpStream, backend: SocketAddr) {
    let mut upstream = match TcpStream::connect(backend).await {
        Ok(upstream) => upstream,
        Err(e) => {
            tracing::debug!(%backend, error = %e, "cannot reach the container; closing the client");
            return;
        }
    };
    // Go, and so docker-proxy, sets TCP_NODELAY on every connection: small writes go at once.
    for stream in [&client, &upstream] {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY on a proxied connection");
        }
    }
    let copied = tokio::io::copy_bidirectional_with_sizes(
        &mut client,
        &mut upstream,
        TCP_BUFFER,
        TCP_BUFFER,
    );
    if let Err(e) = copied.await {
        tracing::debug!(%backend, error = %e, "proxied connection ended with an error");
    }
}

/// One udp client: a socket connected to the container, so each client has its own source port
/// there and replies come back to the right client.
#[derive(Debug)]
pub(super) struct Flow {
    socket: UdpSocket,
    /// The last datagram either way.
    last: Mutex<Instant>,
}

impl Flow {
    fn touch(&self) {
        *lock(&self.last) = Instant::now();
    }

    fn idle_for(&self) -> Duration {
        lock(&self.last).elapsed()
    }
}

/// The flows of one host socket by client address.
pub(super) type Flows = Mutex<HashMap<SocketAddr, Arc<Flow>>>;

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // No critical section here can panic halfway.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How many flows `flows` holds.
#[cfg(test)]
pub(super) fn flow_count(flows: &Flows) -> usize {
    lock(flows).len()
}

async fn serve_udp(
    socket: UdpSocket,
    flows: Arc<Flows>,
    backend: SocketAddr,
    stop: CancellationToken,
    tuning: Tuning,
) {
    let proxy = Arc::new(UdpProxy { socket, flows, backend, tuning });
    let mut replies = JoinSet::new();
    let mut buf = vec![0; MAX_DATAGRAM];
    let mut control = nix::cmsg_space!(libc::in6_pktinfo);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            received = receive(&proxy.socket, &mut buf, &mut control) => match received {
                Ok(Datagram { len, client, local }) => {
                    if let Some(flow) = proxy.flow_for(client, local, &mut replies) {
                        proxy.forward(&flow, &buf[..len]).await;
                    }
                }
                Err(e) => {
                    if !pause_after(e, "receive a datagram to proxy", backend, &stop).await {
                        break;
                    }
                }
            },
            Some(done) = replies.join_next() => reap(done),
        }
    }
    replies.shutdown().await;
    lock(&proxy.flows).clear();
}

/// A udp host socket and its flows, shared by the task reading the socket and the reply tasks.
struct UdpProxy {
    socket: UdpSocket,
    flows: Arc<Flows>,
    backend: SocketAddr,
    tuning: Tuning,
}

impl UdpProxy {
    /// The flow of `client`, opened with its reply task (in `replies`) on its first datagram;
    /// `None` when no flow can be had, and the datagram is dropped.
    fn flow_for(
        self: &Arc<Self>,
        client: SocketAddr,
        local: Option<IpAddr>,
        replies: &mut JoinSet<()>,
    ) -> Option<Arc<Flow>> {
        let backend = self.backend;
        let mut table = lock(&self.flows);
        if let Some(flow) = table.get(&client) {
            flow.touch();
            return Some(flow.clone());
        }
        if table.len() >= self.tuning.udp_max_flows {
            tracing::debug!(%client, %backend, "too many udp flows; dropping a datagram");
            return None;
        }
        let flow = connect_backend(backend)
            .inspect_err(|e| tracing::debug!(%backend, error = %e, "cannot open a udp flow"))
            .ok()?;
        table.insert(client, flow.clone());
        let reply = Reply { flow: flow.clone(), client, local, proxy: self.clone() };
        replies.spawn(reply.run());
        Some(flow)
    }

    /// Sends a client's datagram on to the container.
    async fn forward(&self, flow: &Flow, datagram: &[u8]) {
        if let Err(e) = flow.socket.send(datagram).await {
            let backend = self.backend;
            tracing::debug!(%backend, error = %e, "cannot forward a datagram to the container");
        }
    }
}

/// A socket for a new flow, connected to the container.
fn connect_backend(backend: SocketAddr) -> io::Result<Arc<Flow>> {
    let unspecified: IpAddr = match backend {
        SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let socket = std::net::UdpSocket::bind((unspecified, 0))?;
    socket.connect(backend)?;
    socket.set_nonblocking(true)?;
    Ok(Arc::new(Flow { socket: UdpSocket::from_std(socket)?, last: Mutex::new(Instant::now()) }))
}

/// A datagram read from a host socket.
struct Datagram {
    len: usize,
    client: SocketAddr,
    /// The address the client wrote to, when the kernel said.
    local: Option<IpAddr>,
}

/// Receives one datagram into `buf`, with the address it was sent to.
async fn receive(socket: &UdpSocket, buf: &mut [u8], control: &mut [u8]) -> io::Result<Datagram> {
    socket
        .async_io(Interest::READABLE, || {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrStorage>(
                socket.as_raw_fd(),
                &mut iov,
                Some(&mut *control),
                MsgFlags::empty(),
            )?;
            let client = msg
                .address
                .as_ref()
                .and_then(socket_addr)
                .ok_or_else(|| io::Error::other("datagram without a source address"))?;
            let local = msg.cmsgs().ok().and_then(|mut cmsgs| {
                cmsgs.find_map(|cmsg| match cmsg {
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        Some(IpAddr::from(Ipv4Addr::from(u32::from_be(info.ipi_addr.s_addr))))
                    }
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        Some(IpAddr::from(Ipv6Addr::from(info.ipi6_addr.s6_addr)))
                    }
                    _ => None,
                })
            });
            Ok(Datagram { len: msg.bytes, client, local })
        })
        .await
}

fn socket_addr(addr: &SockaddrStorage) -> Option<SocketAddr> {
    match addr.family()? {
        nix::sys::socket::AddressFamily::Inet => {
            addr.as_sockaddr_in().map(|a| SocketAddrV4::from(*a).into())
        }
        nix::sys::socket::AddressFamily::Inet6 => {
            addr.as_sockaddr_in6().map(|a| SocketAddrV6::from(*a).into())
        }
        _ => None,
    }
}

/// The task that carries a flow's replies back to its client and forgets the flow when idle.
struct Reply {
    flow: Arc<Flow>,
    client: SocketAddr,
    /// The address the client wrote to: replies leave from it, as the client expects.
    local: Option<IpAddr>,
    proxy: Arc<UdpProxy>,
}

impl Reply {
    async fn run(self) {
        let idle = self.proxy.tuning.udp_idle;
        let socket = &self.flow.socket;
        loop {
            let idle_at = tokio::time::Instant::now() + idle.saturating_sub(self.flow.idle_for());
            tokio::select! {
                received = socket.async_io(Interest::READABLE, || take_datagram(socket)) => {
                    if !self.deliver(received).await {
                        break;
                    }
                }
                () = tokio::time::sleep_until(idle_at) => {
                    // Decided under the table lock, where datagrams from the client touch the
                    // flow, so that none is sent to a flow that is going away.
                    let mut table = lock(&self.proxy.flows);
                    if self.flow.idle_for() >= idle {
                        forget(&mut table, self.client, &self.flow);
                        return;
                    }
                }
            }
        }
        forget(&mut lock(&self.proxy.flows), self.client, &self.flow);
    }

    /// Passes a datagram from the container on to the client; returns whether the flow goes on.
    async fn deliver(&self, received: io::Result<Vec<u8>>) -> bool {
        let client = self.client;
        match received {
            Ok(datagram) => {
                self.flow.touch();
                if let Err(e) = self.send(&datagram).await {
                    tracing::debug!(%client, error = %e, "cannot send a udp reply");
                }
                true
            }
            // The container's port is closed (an ICMP error came back): like docker-proxy, keep
            // the flow until it is idle.
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => true,
            Err(e) => {
                tracing::debug!(%client, error = %e, "udp flow failed");
                false
            }
        }
    }

    /// Sends a reply to the client from the address it wrote to.
    async fn send(&self, datagram: &[u8]) -> io::Result<()> {
        let socket = &self.proxy.socket;
        if let Some(local) = self.local.filter(|ip| is_unicast(*ip)) {
            let fd = socket.as_raw_fd();
            let sent = socket
                .async_io(Interest::WRITABLE, || send_from(fd, datagram, self.client, local))
                .await;
            match sent {
                Ok(()) => return Ok(()),
                Err(e) => {
                    tracing::debug!(%local, error = %e, "cannot reply from the client's address")
                }
            }
        }
        socket.send_to(datagram, self.client).await.map(drop)
    }
}

/// Removes the flow of `client` if it is still `flow`.
fn forget(table: &mut HashMap<SocketAddr, Arc<Flow>>, client: SocketAddr, flow: &Arc<Flow>) {
    if table.get(&client).is_some_and(|f| Arc::ptr_eq(f, flow)) {
        table.remove(&client);
    }
}

/// Reads the next datagram whole, in a buffer of its size: peeking with `MSG_TRUNC` gives the
/// size, so an idle flow holds no buffer.
fn take_datagram(socket: &UdpSocket) -> io::Result<Vec<u8>> {
    let fd = socket.as_raw_fd();
    let len = recv(fd, &mut [], MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC)?;
    let mut buf = vec![0; len];
    let read = recv(fd, &mut buf, MsgFlags::empty())?;
    buf.truncate(read);
    Ok(buf)
}

/// Whether `ip` can be the source of a reply.
fn is_unicast(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast()),
        IpAddr::V6(v6) => !(v6.is_unspecified() || v6.is_multicast()),
    }
}

/// `sendmsg` to `client` with `local` as the source address (`IP_PKTINFO`).
fn send_from(fd: i32, datagram: &[u8], client: SocketAddr, local: IpAddr) -> io::Result<()> {
    let iov = [IoSlice::new(datagram)];
    let dest = SockaddrStorage::from(client);
    let sent = match local {
        IpAddr::V4(v4) => {
            let info = libc::in_pktinfo {
                ipi_ifindex: 0,
                ipi_spec_dst: libc::in_addr { s_addr: u32::from(v4).to_be() },
                ipi_addr: libc::in_addr { s_addr: 0 },
            };
            sendmsg(
                fd,
                &iov,
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&dest),
            )
        }
        IpAddr::V6(v6) => {
            let info = libc::in6_pktinfo {
                ipi6_addr: libc::in6_addr { s6_addr: v6.octets() },
                ipi6_ifindex: 0,
            };
            sendmsg(
                fd,
                &iov,
                &[ControlMessage::Ipv6PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&dest),
            )
        }
    };
    sent.map(drop).map_err(io::Error::from)
}
