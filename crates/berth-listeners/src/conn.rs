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
use x509_parser::asn1_rs::Tag;
use x509_parser::certificate::X509Certificate;
use x509_parser::prelude::FromDer;
use x509_parser::x509::AttributeTypeAndValue;

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
    /// The subject common name of the leaf client certificate; filled by [`establish`]. dockerd
    /// sends it to authorization plugins as `User`. When the subject holds several CNs this is the
    /// last one, as Go's `crypto/x509` (and so dockerd) reads it.
    pub common_name: Option<String>,
    /// Every subject organizational unit of the leaf client certificate, in certificate order;
    /// filled by [`establish`].
    pub organizational_units: Vec<String>,
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
            ..PeerInfo::default()
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
/// the client certificates and the leaf's subject names in `peer`. Without an acceptor the
/// connection is returned as is.
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
        if let Some(leaf) = certs.first() {
            let (common_name, organizational_units) = subject_names(leaf);
            peer.common_name = common_name;
            peer.organizational_units = organizational_units;
        }
    }
    Ok(IoStream::Tls(Box::new(stream)))
}

/// The subject CN and OUs of a DER certificate. rustls verified the chain but never parsed the
/// subject, so a certificate x509-parser rejects leaves both empty: the peer is then simply
/// anonymous to authorization, which is logged rather than failing the connection.
fn subject_names(der: &[u8]) -> (Option<String>, Vec<String>) {
    let cert = match X509Certificate::from_der(der) {
        Ok((_, cert)) => cert,
        Err(e) => {
            tracing::debug!(error = %e, "client certificate subject is unreadable; no user name");
            return (None, Vec::new());
        }
    };
    let subject = cert.subject();
    // Go overwrites CommonName with each CN it meets and appends each OU.
    let common_name = subject.iter_common_name().filter_map(attribute_text).last();
    let organizational_units =
        subject.iter_organizational_unit().filter_map(attribute_text).collect();
    (common_name, organizational_units)
}

/// An attribute value as text, for the string types Go's `crypto/x509` accepts in names.
/// Another type, or bytes invalid for the type, yields `None` (logged at debug).
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let bytes = attr.as_slice();
    let text = match attr.attr_value().tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::NumericString => {
            std::str::from_utf8(bytes).ok().map(str::to_owned)
        }
        // T.61 is nearly Latin-1; Go reads it as Latin-1 and so do we.
        Tag::TeletexString => Some(bytes.iter().copied().map(char::from).collect()),
        Tag::BmpString if bytes.len().is_multiple_of(2) => {
            let units = bytes.chunks_exact(2).map(|b| u16::from_be_bytes([b[0], b[1]]));
            char::decode_utf16(units).collect::<Result<String, _>>().ok()
        }
        _ => None,
    };
    if text.is_none() {
        tracing::debug!(
            oid = %attr.attr_type(),
            tag = ?attr.attr_value().tag(),
            "client certificate subject attribute is not readable text; ignored"
        );
    }
    text
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

#[cfg(test)]
mod tests;
