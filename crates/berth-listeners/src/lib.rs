//! Docker -H host parsing and the listeners behind it: unix, tcp, TLS with client certificates, fd:// socket activation.
//!
//! The daemon parses its `-H` values with [`parse_hosts`], builds the TLS configuration with
//! [`server_tls_config`], binds everything with [`bind_all`] before the engine starts (early
//! clients wait in the backlog), and later runs one accept loop per [`Listener`]. Each accepted
//! [`Conn`] goes to its own task, which runs [`establish`] (the TLS handshake, if any) and then
//! serves HTTP on the returned [`IoStream`].

use std::sync::Arc;

mod conn;
mod error;
mod fd;
mod host;
mod listener;
mod tcp;
mod tls;
mod unix;

pub use conn::{Conn, IoStream, PeerInfo, establish};
pub use error::{HostError, ListenError, TlsError};
pub use host::{DEFAULT_UNIX_SOCKET, FdSpec, Host, parse_hosts};
pub use listener::Listener;
pub use tls::{TlsOptions, server_tls_config};

/// The group that owns unix sockets, from `-G/--group`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SocketGroup {
    /// `-G` not given: `docker` if it exists, else a warning and the daemon's own gid.
    #[default]
    Default,
    /// `-G NAME`: that group (a numeric string is a gid); a missing group is an error.
    Named(String),
    /// `-G ""`: the daemon's own gid, silently.
    None,
}

/// How [`bind_all`] sets up listeners.
#[derive(Debug, Clone, Default)]
pub struct BindOptions {
    /// Group of created unix sockets.
    pub group: SocketGroup,
    /// TLS for tcp and `fd://` listeners (unix listeners stay plain).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Whether `tls` verifies client certificates; without it every tcp listener logs
    /// dockerd's warnings about unauthenticated root access.
    pub tls_verify: bool,
}

/// Binds every host, in order, and returns one listener per socket (`fd://` may yield several).
///
/// Unix sockets: a live daemon at the path is an error, a stale socket is removed, the parent
/// directory is created, the socket gets mode 0660 and the configured group. Tcp: `localhost`
/// binds 127.0.0.1. `fd://`: the sockets systemd passed (`LISTEN_FDS`, `LISTEN_PID`), each
/// taken at most once per process. On error, listeners bound so far are dropped (and their
/// socket files removed).
pub async fn bind_all(hosts: &[Host], opts: &BindOptions) -> Result<Vec<Listener>, ListenError> {
    let acceptor = opts.tls.clone().map(tokio_rustls::TlsAcceptor::from);
    let mut listeners = Vec::with_capacity(hosts.len());
    for host in hosts {
        match host {
            Host::Unix(path) => listeners.push(unix::bind(path, &opts.group).await?),
            Host::Tcp(addr) => listeners.push(tcp::bind(addr, opts, acceptor.clone()).await?),
            Host::Fd(spec) => listeners.extend(fd::bind(*spec, acceptor.as_ref())?),
        }
    }
    Ok(listeners)
}
