//! A bound socket, ready to accept: what `bind_all` hands to the daemon's accept loops.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use tokio::net::{TcpListener, UnixListener};
use tokio_rustls::TlsAcceptor;

use crate::conn::{Conn, PeerInfo};

/// A bound listener: a unix or tcp socket, plus the TLS acceptor when TLS is on for it.
///
/// Dropping a listener that created its unix socket file removes that file, as long as the
/// path still holds the same file (another daemon may have replaced it since).
pub struct Listener {
    socket: Socket,
    addr: String,
    tls: Option<TlsAcceptor>,
    // Declared after `socket` so the socket is closed before its file is unlinked.
    _file: Option<SocketFile>,
}

enum Socket {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    pub(crate) fn unix(
        listener: UnixListener,
        fallback_addr: String,
        tls: Option<TlsAcceptor>,
        file: Option<SocketFile>,
    ) -> Listener {
        let addr = listener
            .local_addr()
            .ok()
            .and_then(|a| a.as_pathname().map(|p| format!("unix://{}", p.display())))
            .unwrap_or(fallback_addr);
        Listener { socket: Socket::Unix(listener), addr, tls, _file: file }
    }

    pub(crate) fn tcp(
        listener: TcpListener,
        bound: SocketAddr,
        tls: Option<TlsAcceptor>,
    ) -> Listener {
        Listener { socket: Socket::Tcp(listener), addr: format!("tcp://{bound}"), tls, _file: None }
    }

    /// The address for logs: `unix:///run/x.sock`, or `tcp://127.0.0.1:2375` with the port
    /// actually bound (so port 0 shows the real one).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The bound tcp address; `None` for unix listeners.
    pub fn local_tcp_addr(&self) -> Option<SocketAddr> {
        match &self.socket {
            Socket::Tcp(l) => l.local_addr().ok(),
            Socket::Unix(_) => None,
        }
    }

    /// Whether connections must go through the TLS handshake ([`crate::establish`]).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The acceptor to pass to [`crate::establish`]; `None` for plain listeners.
    pub fn tls_acceptor(&self) -> Option<&TlsAcceptor> {
        self.tls.as_ref()
    }

    /// Accepts one raw connection. No TLS handshake happens here: run [`crate::establish`] in
    /// the connection's own task. Errors (EMFILE, ECONNABORTED…) are returned for the caller's
    /// accept loop to log and back off on.
    pub async fn accept(&self) -> io::Result<(Conn, PeerInfo)> {
        match &self.socket {
            Socket::Unix(l) => {
                let (stream, _) = l.accept().await?;
                let peer = PeerInfo::unix(&stream);
                Ok((Conn::Unix(stream), peer))
            }
            Socket::Tcp(l) => {
                let (stream, addr) = l.accept().await?;
                // Go enables TCP_NODELAY on every connection; API streams rely on prompt writes.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::debug!(peer = %addr, error = %e, "could not set TCP_NODELAY");
                }
                Ok((Conn::Tcp(stream), PeerInfo::tcp(addr)))
            }
        }
    }
}

impl fmt::Debug for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listener")
            .field("addr", &self.addr)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

/// A unix socket file this process created; removed on drop if it is still the same inode.
#[derive(Debug)]
pub(crate) struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    /// Records the file now at `path`, right after binding it.
    pub(crate) fn record(path: &Path) -> io::Result<SocketFile> {
        let meta = std::fs::symlink_metadata(path)?;
        Ok(SocketFile { path: path.to_owned(), dev: meta.dev(), ino: meta.ino() })
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        match std::fs::symlink_metadata(&self.path) {
            Ok(meta) if meta.dev() == self.dev && meta.ino() == self.ino => {
                if let Err(e) = std::fs::remove_file(&self.path) {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove unix socket");
                }
            }
            Ok(_) => tracing::debug!(
                path = %self.path.display(),
                "unix socket was replaced by another file, leaving it"
            ),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "could not stat unix socket")
            }
        }
    }
}
