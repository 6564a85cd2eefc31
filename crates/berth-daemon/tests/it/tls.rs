//! berthd on TCP with mutual TLS: a client certificate signed by the CA is required.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use crate::harness::{Daemon, send_over};

/// A CA, the server's files in the test directory, and one client certificate.
pub(crate) struct Certs {
    pub(crate) ca: CertifiedIssuer<'static, KeyPair>,
    pub(crate) client: ClientCert,
}

/// A client certificate and its key.
pub(crate) struct ClientCert {
    pub(crate) cert: CertificateDer<'static>,
    pub(crate) key: String,
}

/// A client certificate signed by `ca` with this subject CN and OU (rcgen keeps one value per
/// attribute type).
pub(crate) fn client_cert(
    ca: &CertifiedIssuer<'static, KeyPair>,
    cn: &str,
    ou: Option<&str>,
) -> ClientCert {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.distinguished_name.push(DnType::CommonName, cn);
    if let Some(ou) = ou {
        params.distinguished_name.push(DnType::OrganizationalUnitName, ou);
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign");
    ClientCert { cert: cert.der().clone(), key: key.serialize_pem() }
}

fn issue(
    ca: &CertifiedIssuer<'static, KeyPair>,
    sans: &[&str],
    usage: ExtendedKeyUsagePurpose,
) -> (String, String, CertificateDer<'static>) {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
            .expect("params");
    params.distinguished_name.push(DnType::CommonName, "berth-it");
    params.extended_key_usages = vec![usage];
    let key = KeyPair::generate().expect("key");
    let cert = params.signed_by(&key, ca).expect("sign");
    (cert.pem(), key.serialize_pem(), cert.der().clone())
}

pub(crate) fn write_pki(dir: &std::path::Path) -> Certs {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "berth-it CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
    let (server_pem, server_key, _) =
        issue(&ca, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let client = client_cert(&ca, "berth-it", None);
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("server-cert.pem"), server_pem).expect("cert");
    std::fs::write(dir.join("server-key.pem"), server_key).expect("key");
    Certs { ca, client }
}

async fn connect(
    certs: &Certs,
    port: u16,
    with_client_cert: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    connect_as(certs, port, with_client_cert.then_some(&certs.client)).await
}

/// A TLS connection to `port`, presenting `client` if given.
pub(crate) async fn connect_as(
    certs: &Certs,
    port: u16,
    client: Option<&ClientCert>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca.der().clone()).expect("anchor");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = if let Some(client) = client {
        let key = PrivateKeyDer::from_pem_slice(client.key.as_bytes()).expect("key");
        builder.with_client_auth_cert(vec![client.cert.clone()], key).expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

/// berthd on the unix socket and on a mutual-TLS TCP port, with `extra` flags.
pub(crate) async fn start_tls(extra: &[&str]) -> (Daemon, Certs, u16) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let certs = write_pki(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let p = |name: &str| dir.path().join(name).display().to_string();
    let host = format!("tcp://127.0.0.1:{port}");
    let mut args = vec![
        "-H".to_owned(),
        host,
        "--tlsverify".to_owned(),
        "--tlscacert".to_owned(),
        p("ca.pem"),
        "--tlscert".to_owned(),
        p("server-cert.pem"),
        "--tlskey".to_owned(),
        p("server-key.pem"),
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    (Daemon::start_in(dir, &args).await, certs, port)
}

#[tokio::test]
async fn tlsverify_requires_a_client_certificate() {
    let (daemon, certs, port) = start_tls(&[]).await;

    let stream = connect(&certs, port, true).await.expect("handshake with a client certificate");
    let ping = send_over(stream, "GET", "/_ping", None).await.expect("ping over TLS");
    assert_eq!(ping.body, "OK");

    // Without a client certificate the handshake (or the first read after it, in TLS 1.3) fails.
    let refused = match connect(&certs, port, false).await {
        Err(_) => true,
        Ok(stream) => send_over(stream, "GET", "/_ping", None).await.is_err(),
    };
    assert!(refused, "a client without a certificate must not be served");

    // Plain HTTP to the TLS port is not served either.
    let plain = TcpStream::connect(("127.0.0.1", port)).await.expect("tcp");
    assert!(send_over(plain, "GET", "/_ping", None).await.is_err());
    assert_eq!(daemon.get("/_ping").await.body, "OK", "unix listener unaffected");
}
