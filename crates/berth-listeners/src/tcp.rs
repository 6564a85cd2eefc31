//! The tcp listener, with dockerd's warnings when it is not protected by client certificates.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::BindOptions;
use crate::error::ListenError;
use crate::listener::Listener;

/// Binds `addr` (`host:port`), trying each resolved address in turn.
pub(crate) async fn bind(
    addr: &str,
    opts: &BindOptions,
    tls: Option<TlsAcceptor>,
) -> Result<Listener, ListenError> {
    let tcp_err = |source: io::Error| ListenError::Tcp { addr: addr.to_owned(), source };
    let candidates = resolve(addr).await.map_err(tcp_err)?;
    let mut last_err = None;
    for candidate in candidates {
        match TcpListener::bind(candidate).await {
            Ok(listener) => {
                let bound = listener.local_addr().map_err(tcp_err)?;
                if !(opts.tls_verify && tls.is_some()) {
                    warn_insecure(bound, opts.tls.is_some());
                }
                return Ok(Listener::tcp(listener, bound, tls));
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(tcp_err(
        last_err.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, "host resolved to no address")
        }),
    ))
}

/// `localhost` is loopback IPv4, as dockerd binds it; anything else goes through the resolver.
async fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    if let Some((host, port)) = addr.rsplit_once(':')
        && host.eq_ignore_ascii_case("localhost")
    {
        let port = port.parse::<u16>().map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("invalid port value: {port}"))
        })?;
        return Ok(vec![SocketAddr::from((Ipv4Addr::LOCALHOST, port))]);
    }
    Ok(tokio::net::lookup_host(addr).await?.collect())
}

/// dockerd's warnings for a tcp socket anyone who can reach it may drive as root. Unlike
/// dockerd, no startup delay: the daemon starts at once.
fn warn_insecure(bound: SocketAddr, tls: bool) {
    let addr = format!("tcp://{bound}");
    tracing::warn!(
        %addr,
        "Binding to IP address without --tlsverify is insecure and gives root access on this machine to everyone who has access to your network."
    );
    tracing::warn!(
        %addr,
        "Binding to an IP address, even on localhost, can also give access to scripts run in a browser. Be safe out there!"
    );
    tracing::warn!(%addr, "Learn more at: https://docs.docker.com/go/api-security/");
    if !tls && !bound.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "Binding to an IP address without --tls on a non-loopback address exposes unauthenticated, unencrypted root access to the network. Please consider generating tls certificates with client validation to prevent this."
        );
    }
}
