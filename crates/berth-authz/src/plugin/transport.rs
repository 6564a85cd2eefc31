//! HTTP/1.1 to a plugin over a unix socket, TCP or TLS, with pooled keep-alive connections.
//!
//! hyper-util's legacy client does the pooling; [`Connector`] ignores the request URI and dials
//! the plugin's address, so the URI only supplies the `Host` header and the request path.

use std::future::Future;
use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode, Uri, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::discovery::PluginAddr;
use super::{CallError, PluginError, PluginOptions, PluginSpec, TlsSpec};
use crate::wire::ACCEPT;

/// Plugin replies larger than this are refused (a reply is a few short strings).
const MAX_REPLY: usize = 1 << 20;
/// Idle pooled connections are closed after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// Where the system CA bundle usually is, for `https` plugins without a `TLSConfig`.
const SYSTEM_CA_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// A plugin's status and body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Bytes,
}

/// Posts to one plugin address, reusing connections.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    client: Client<Connector, Full<Bytes>>,
    base: String,
    call_timeout: Duration,
}

impl Transport {
    /// A transport for `spec`; loads the TLS files now, so bad ones fail here.
    pub(crate) fn new(spec: &PluginSpec, options: &PluginOptions) -> Result<Self, PluginError> {
        let tls = match &spec.addr {
            PluginAddr::Https { .. } => Some(
                client_config(spec.tls.as_ref())
                    .map_err(|reason| PluginError::Tls { name: spec.name.clone(), reason })?,
            ),
            PluginAddr::Unix(_) | PluginAddr::Tcp { .. } => None,
        };
        let connector = Connector {
            inner: Arc::new(ConnectorInner {
                addr: spec.addr.clone(),
                tls,
                connect_timeout: options.connect_timeout,
            }),
        };
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_TIMEOUT)
            .pool_timer(TokioTimer::new())
            .build(connector);
        Ok(Self { client, base: spec.addr.base_url(), call_timeout: options.call_timeout })
    }

    /// POSTs `body` to `path` with dockerd's headers and reads the whole reply, all within the
    /// call timeout.
    pub(crate) async fn post(&self, path: &str, body: Bytes) -> Result<Reply, CallError> {
        let url = format!("{}{path}", self.base);
        let transport = |detail: String, timed_out: bool| CallError::Transport {
            url: url.clone(),
            detail,
            timed_out,
        };
        let request = Request::builder()
            .method(Method::POST)
            .uri(&url)
            .header(header::ACCEPT, ACCEPT)
            .body(Full::new(body))
            .map_err(|e| transport(e.to_string(), false))?;
        let call = async {
            let response = self.client.request(request).await.map_err(|e| {
                let timed_out = find_connect_error(&e).is_some_and(|c| c.timed_out);
                transport(innermost(&e), timed_out)
            })?;
            let status = response.status();
            let body = Limited::new(response.into_body(), MAX_REPLY)
                .collect()
                .await
                .map_err(|e| transport(format!("reading the reply: {e}"), false))?
                .to_bytes();
            Ok(Reply { status, body })
        };
        match tokio::time::timeout(self.call_timeout, call).await {
            Ok(result) => result,
            Err(_) => Err(CallError::Timeout { url: url.clone(), after: self.call_timeout }),
        }
    }
}

/// The text of the deepest cause, as Go prints a transport error's last part.
fn innermost(err: &(dyn std::error::Error + 'static)) -> String {
    if let Some(connect) = find_connect_error(err) {
        return connect.to_string();
    }
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

fn find_connect_error<'a>(err: &'a (dyn std::error::Error + 'static)) -> Option<&'a ConnectError> {
    let mut cause = Some(err);
    while let Some(e) = cause {
        if let Some(connect) = e.downcast_ref::<ConnectError>() {
            return Some(connect);
        }
        cause = e.source();
    }
    None
}

/// A failure to connect, worded like Go's dial errors (`dial unix /path: …`).
#[derive(Debug, thiserror::Error)]
#[error("{detail}")]
struct ConnectError {
    detail: String,
    timed_out: bool,
}

/// Dials the plugin's address whatever the URI says.
#[derive(Debug, Clone)]
struct Connector {
    inner: Arc<ConnectorInner>,
}

#[derive(Debug)]
struct ConnectorInner {
    addr: PluginAddr,
    tls: Option<Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
}

impl tower_service::Service<Uri> for Connector {
    type Response = PluginStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<PluginStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let timeout = inner.connect_timeout;
            match tokio::time::timeout(timeout, inner.dial()).await {
                Ok(result) => result,
                Err(_) => Err(ConnectError {
                    detail: format!("{}: timed out after {timeout:?}", inner.describe()),
                    timed_out: true,
                }),
            }
        })
    }
}

impl ConnectorInner {
    /// `dial unix /path` or `dial tcp host:port`, the prefix of every connect error.
    fn describe(&self) -> String {
        match &self.addr {
            PluginAddr::Unix(path) => format!("dial unix {}", path.display()),
            PluginAddr::Tcp { host, port } | PluginAddr::Https { host, port } => {
                format!("dial tcp {}", super::discovery::join_host_port(host, *port))
            }
        }
    }

    async fn dial(&self) -> Result<PluginStream, ConnectError> {
        let failed = |e: io::Error| ConnectError {
            detail: format!("{}: {e}", self.describe()),
            timed_out: false,
        };
        match &self.addr {
            PluginAddr::Unix(path) => {
                let stream = UnixStream::connect(path).await.map_err(failed)?;
                Ok(PluginStream::Unix(TokioIo::new(stream)))
            }
            PluginAddr::Tcp { host, port } => {
                let stream = TcpStream::connect((host.as_str(), *port)).await.map_err(failed)?;
                // Requests are small and answered at once; do not wait to coalesce writes.
                stream.set_nodelay(true).map_err(failed)?;
                Ok(PluginStream::Tcp(TokioIo::new(stream)))
            }
            PluginAddr::Https { host, port } => {
                let config = self.tls.clone().ok_or_else(|| ConnectError {
                    detail: "no TLS configuration for an https plugin".to_owned(),
                    timed_out: false,
                })?;
                let name = ServerName::try_from(host.clone()).map_err(|e| ConnectError {
                    detail: format!("invalid TLS server name {host:?}: {e}"),
                    timed_out: false,
                })?;
                let stream = TcpStream::connect((host.as_str(), *port)).await.map_err(failed)?;
                stream.set_nodelay(true).map_err(failed)?;
                let tls = TlsConnector::from(config)
                    .connect(name, stream)
                    .await
                    .map_err(|e| ConnectError { detail: format!("tls: {e}"), timed_out: false })?;
                Ok(PluginStream::Tls(Box::new(TokioIo::new(tls))))
            }
        }
    }
}

/// One connection to a plugin.
#[derive(Debug)]
enum PluginStream {
    Unix(TokioIo<UnixStream>),
    Tcp(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

impl Connection for PluginStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl Read for PluginStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl Write for PluginStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Unix(s) => Pin::new(s).poll_flush(cx),
            Self::Tcp(s) => Pin::new(s).poll_flush(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Self::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The rustls client configuration for an `https` plugin: the CA file only (or the system
/// bundle without a `TLSConfig`), an optional client certificate, or no verification at all.
fn client_config(spec: Option<&TlsSpec>) -> Result<Arc<rustls::ClientConfig>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS protocol versions: {e}"))?;
    let default = TlsSpec::default();
    let spec = spec.unwrap_or(&default);
    let builder = if spec.insecure_skip_verify {
        builder.dangerous().with_custom_certificate_verifier(Arc::new(AnyServerCert(provider)))
    } else {
        let bundle = match &spec.ca_file {
            Some(ca) => ca.clone(),
            None => system_bundle().ok_or("no system CA bundle found")?,
        };
        let mut roots = rustls::RootCertStore::empty();
        for cert in read_certs(&bundle)? {
            roots.add(cert).map_err(|e| format!("CA file {}: {e}", bundle.display()))?;
        }
        builder.with_root_certificates(roots)
    };
    let config = match (&spec.cert_file, &spec.key_file) {
        (None, None) => builder.with_no_client_auth(),
        (Some(cert), Some(key)) => {
            let certs = read_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| format!("cannot read key file {}: {e}", key.display()))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("client certificate {}: {e}", cert.display()))?
        }
        _ => return Err("CertFile and KeyFile must be given together".to_owned()),
    };
    Ok(Arc::new(config))
}

fn read_certs(path: &std::path::Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("no certificate in {}", path.display()));
    }
    Ok(certs)
}

fn system_bundle() -> Option<PathBuf> {
    let from_env = std::env::var_os("SSL_CERT_FILE").map(PathBuf::from);
    from_env.into_iter().chain(SYSTEM_CA_BUNDLES.iter().map(PathBuf::from)).find(|p| p.is_file())
}

/// Go's `InsecureSkipVerify`: any certificate is accepted, but the handshake signatures are
/// still checked, so the peer must hold the key of the certificate it shows.
#[derive(Debug)]
struct AnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
