//! The server side of `--tls`/`--tlsverify`: a rustls configuration from PEM files.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TlsError;

/// The PEM files and verification mode behind `--tlscacert`, `--tlscert`, `--tlskey`, `--tlsverify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// CA bundle client certificates must chain to; required when `verify` is on.
    pub ca: Option<PathBuf>,
    /// Server certificate chain, leaf first.
    pub cert: PathBuf,
    /// Server private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Require a client certificate signed by `ca` (dockerd's `RequireAndVerifyClientCert`).
    pub verify: bool,
}

/// Builds the server configuration: ring provider, TLS 1.2 and 1.3, ALPN `http/1.1`.
///
/// With `verify`, every client must present a certificate that chains to the CA file, and only
/// to it (the system roots are not trusted); without, no client certificate is requested.
pub fn server_tls_config(opts: &TlsOptions) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|source| TlsError::Protocol { source })?;

    let builder = if opts.verify {
        let ca = opts.ca.as_deref().ok_or(TlsError::MissingCa)?;
        let roots = load_roots(ca)?;
        let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .map_err(|source| TlsError::Verifier { path: ca.to_owned(), source })?;
        builder.with_client_cert_verifier(verifier)
    } else {
        builder.with_no_client_auth()
    };

    let certs = load_certs(&opts.cert)?;
    let key = PrivateKeyDer::from_pem_file(&opts.key)
        .map_err(|source| TlsError::ReadKey { path: opts.key.clone(), source })?;
    let mut config = builder.with_single_cert(certs, key).map_err(|source| TlsError::Config {
        cert: opts.cert.clone(),
        key: opts.key.clone(),
        source,
    })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::ReadCert { path: path.to_owned(), source })?;
    if certs.is_empty() {
        return Err(TlsError::EmptyCert { path: path.to_owned() });
    }
    Ok(certs)
}

fn load_roots(path: &Path) -> Result<RootCertStore, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::ReadCa { path: path.to_owned(), source })?;
    if certs.is_empty() {
        return Err(TlsError::EmptyCa { path: path.to_owned() });
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|source| TlsError::BadCa { path: path.to_owned(), source })?;
    }
    Ok(roots)
}
