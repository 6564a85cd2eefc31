//! A throwaway PKI written to a temporary directory: CA, server and client certificates.

use std::path::PathBuf;
use std::sync::Arc;

use berth_listeners::TlsOptions;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tempfile::TempDir;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// PEM files on disk plus the DER forms tests compare against.
pub(crate) struct Pki {
    pub(crate) dir: TempDir,
    pub(crate) ca: PathBuf,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
    pub(crate) ca_der: CertificateDer<'static>,
    pub(crate) client: Identity,
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A client certificate and its key.
pub(crate) struct Identity {
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) key_pem: String,
}

impl Identity {
    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).expect("rcgen writes a valid key")
    }
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("no SANs is valid");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, name);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("keygen"))
        .expect("self-signed ca")
}

fn leaf(
    issuer: &CertifiedIssuer<'static, KeyPair>,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (CertificateDer<'static>, String, String) {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut params = CertificateParams::new(sans).expect("valid SANs");
    params.distinguished_name.push(DnType::CommonName, "berth test");
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("keygen");
    let cert = params.signed_by(&key, issuer).expect("sign leaf");
    (cert.der().clone(), cert.pem(), key.serialize_pem())
}

/// A client identity signed by a CA the server does not trust.
pub(crate) fn foreign_client() -> Identity {
    let other = ca("some other ca");
    let (cert, _, key_pem) = leaf(&other, &[], ExtendedKeyUsagePurpose::ClientAuth);
    Identity { cert, key_pem }
}

impl Pki {
    pub(crate) fn new() -> Pki {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = ca("berth test ca");
        let (_, server_pem, server_key_pem) =
            leaf(&ca, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
        let (client_cert, _, client_key_pem) = leaf(&ca, &[], ExtendedKeyUsagePurpose::ClientAuth);

        let write = |name: &str, contents: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, contents).expect("write pem");
            path
        };
        Pki {
            ca: write("ca.pem", &ca.pem()),
            server_cert: write("cert.pem", &server_pem),
            server_key: write("key.pem", &server_key_pem),
            ca_der: ca.der().clone(),
            client: Identity { cert: client_cert, key_pem: client_key_pem },
            issuer: ca,
            dir,
        }
    }

    /// A client identity signed by this CA whose subject is `CN=common_name` plus one `OU` per
    /// entry of `units` (at most two: rcgen holds one value per attribute type, so the second
    /// goes in under the OU's OID spelled out as a custom type).
    pub(crate) fn client_with_subject(&self, common_name: &str, units: &[&str]) -> Identity {
        let unit_types = [DnType::OrganizationalUnitName, DnType::CustomDnType(vec![2, 5, 4, 11])];
        assert!(units.len() <= unit_types.len(), "at most two organizational units");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("no SANs is valid");
        for (ty, unit) in unit_types.into_iter().zip(units) {
            params.distinguished_name.push(ty, *unit);
        }
        params.distinguished_name.push(DnType::CommonName, common_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().expect("keygen");
        let cert = params.signed_by(&key, &self.issuer).expect("sign client");
        Identity { cert: cert.der().clone(), key_pem: key.serialize_pem() }
    }

    pub(crate) fn options(&self, verify: bool) -> TlsOptions {
        TlsOptions {
            ca: Some(self.ca.clone()),
            cert: self.server_cert.clone(),
            key: self.server_key.clone(),
            verify,
        }
    }

    /// Connects to `addr` over TLS as `localhost`, presenting `identity` if given.
    pub(crate) async fn connect(
        &self,
        addr: std::net::SocketAddr,
        identity: Option<&Identity>,
    ) -> std::io::Result<TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca_der.clone()).expect("ca is a valid trust anchor");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("ring supports the defaults")
            .with_root_certificates(roots);
        let mut config = match identity {
            Some(id) => builder
                .with_client_auth_cert(vec![id.cert.clone()], id.key())
                .expect("client cert and key match"),
            None => builder.with_no_client_auth(),
        };
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = TcpStream::connect(addr).await?;
        let name = ServerName::try_from("localhost").expect("valid server name");
        TlsConnector::from(Arc::new(config)).connect(name, tcp).await
    }
}
