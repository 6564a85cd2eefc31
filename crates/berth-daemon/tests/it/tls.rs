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

struct Certs {
    ca: CertifiedIssuer<'static, KeyPair>,
    client_cert: CertificateDer<'static>,
    client_key: String,
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

fn write_pki(dir: &std::path::Path) -> Certs {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, "berth-it CA");
    let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("ca");
    let (server_pem, server_key, _) =
        issue(&ca, &["localhost", "127.0.0.1"], ExtendedKeyUsagePurpose::ServerAuth);
    let (_, client_key, client_cert) = issue(&ca, &[], ExtendedKeyUsagePurpose::ClientAuth);
    std::fs::write(dir.join("ca.pem"), ca.pem()).expect("ca.pem");
    std::fs::write(dir.join("server-cert.pem"), server_pem).expect("cert");
    std::fs::write(dir.join("server-key.pem"), server_key).expect("key");
    Certs { ca, client_cert, client_key }
}

async fn connect(
    certs: &Certs,
    port: u16,
    with_client_cert: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(certs.ca.der().clone()).expect("anchor");
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots);
    let config = if with_client_cert {
        let key = PrivateKeyDer::from_pem_slice(certs.client_key.as_bytes()).expect("key");
        builder.with_client_auth_cert(vec![certs.client_cert.clone()], key).expect("client auth")
    } else {
        builder.with_no_client_auth()
    };
    let tcp = TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").expect("name");
    TlsConnector::from(Arc::new(config)).connect(name, tcp).await
}

#[tokio::test]
async fn tlsverify_requires_a_client_certificate() {
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
    let args = [
        "-H",
        &host,
        "--tlsverify",
        "--tlscacert",
        &p("ca.pem"),
        "--tlscert",
        &p("server-cert.pem"),
        "--tlskey",
        &p("server-key.pem"),
    ];
    let daemon = Daemon::start_in(dir, &args).await;

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
