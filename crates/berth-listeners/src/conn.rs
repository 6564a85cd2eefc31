//! Accepted connections, who is on the other end, and the TLS handshake.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// A raw accepted connection, before any TLS handshake.
#[derive(Debug)]
pub enum Conn {
    /// From a unix socket listener (ours or socket activated).
    Unix(UnixStream),
    /// From a tcp listener (ours or socket activated).
    Tcp(TcpStream),
}

/// Who connected: the address for logs, unix credentials, and TLS client certificates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PeerInfo {
    /// `ip:port` for tcp; `@` for unix peers (their sockets are unnamed), as dockerd logs them.
    pub addr: String,
    /// The peer's uid (`SO_PEERCRED`, unix only).
    pub uid: Option<u32>,
    /// The peer's gid (`SO_PEERCRED`, unix only).
    pub gid: Option<u32>,
    /// The peer's pid (`SO_PEERCRED`, unix only).
    pub pid: Option<i32>,
    /// The verified client certificate chain, leaf first; filled by [`establish`].
    pub client_certs: Vec<CertificateDer<'static>>,
}

impl PeerInfo {
    pub(crate) fn unix(stream: &UnixStream) -> PeerInfo {
        let addr = stream
            .peer_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
            .unwrap_or_else(|| "@".to_owned());
        // Linux always has SO_PEERCRED; on failure the peer is simply anonymous.
        let cred = stream.peer_cred().ok();
        PeerInfo {
            addr,
            uid: cred.map(|c| c.uid()),
            gid: cred.map(|c| c.gid()),
            pid: cred.and_then(|c| c.pid()),
            client_certs: Vec::new(),
        }
    }

    pub(crate) fn tcp(addr: std::net::SocketAddr) -> PeerInfo {
        PeerInfo { addr: addr.to_string(), ..PeerInfo::default() }
    }
}

/// An established connection, ready for hyper through `hyper_util::rt::TokioIo`.
#[derive(Debug)]
pub enum IoStream {
    /// No TLS on this listener.
    Plain(Conn),
    /// After a completed TLS handshake.
    Tls(Box<TlsStream<Conn>>),
}

/// Runs the TLS handshake when the listener has an acceptor, bounded by `timeout`, and records
/// the client certificates in `peer`. Without an acceptor the connection is returned as is.
///
/// Call this in the connection task, never in the accept loop: a slow client must not hold up
/// the others. A client that sends nothing gets an [`io::ErrorKind::TimedOut`] error.
pub async fn establish(
    conn: Conn,
    acceptor: Option<&TlsAcceptor>,
    timeout: Duration,
    peer: &mut PeerInfo,
) -> io::Result<IoStream> {
    let Some(acceptor) = acceptor else {
        return Ok(IoStream::Plain(conn));
    };
    let stream = tokio::time::timeout(timeout, acceptor.accept(conn)).await.map_err(|_| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("tls handshake timed out after {timeout:?}"),
        )
    })??;
    if let Some(certs) = stream.get_ref().1.peer_certificates() {
        peer.client_certs = certs.to_vec();
    }
    Ok(IoStream::Tls(Box::new(stream)))
}

/// Forwards the tokio I/O traits to whichever stream a variant holds; all are `Unpin`.
macro_rules! delegate_io {
    ($ty:ty, $($variant:ident),+) => {
        impl AsyncRead for $ty {
            fn poll_read(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut ReadBuf<'_>,
            ) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_read(cx, buf),)+
                }
            }
        }

        impl AsyncWrite for $ty {
            fn poll_write(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &[u8],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_write(cx, buf),)+
                }
            }

            fn poll_write_vectored(
                self: Pin<&mut Self>,
                cx: &mut Context<'_>,
                bufs: &[IoSlice<'_>],
            ) -> Poll<io::Result<usize>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_write_vectored(cx, bufs),)+
                }
            }

            fn is_write_vectored(&self) -> bool {
                match self {
                    $(Self::$variant(s) => s.is_write_vectored(),)+
                }
            }

            fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_flush(cx),)+
                }
            }

            fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
                match self.get_mut() {
                    $(Self::$variant(s) => Pin::new(s).poll_shutdown(cx),)+
                }
            }
        }
    };
}

delegate_io!(Conn, Unix, Tcp);
delegate_io!(IoStream, Plain, Tls);
