//! TLS: mutual authentication, rejected clients, handshake timeout, configuration errors.

use std::sync::Arc;
use std::time::Duration;

use berth_listeners::{
    BindOptions, Host, IoStream, Listener, PeerInfo, SocketGroup, TlsError, bind_all, establish,
    server_tls_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pki::{Pki, foreign_client};

const HANDSHAKE: Duration = Duration::from_secs(10);

async fn tls_listener(pki: &Pki, verify: bool) -> Listener {
    let config = server_tls_config(&pki.options(verify)).expect("server config");
    let opts = BindOptions { tls: Some(config), tls_verify: verify, ..BindOptions::default() };
    let mut listeners = bind_all(&[Host::Tcp("127.0.0.1:0".into())], &opts).await.expect("bind");
    listeners.remove(0)
}

/// Accepts one connection, runs the handshake, and echoes what the client sends until EOF.
async fn serve_echo_once(listener: &Listener) -> std::io::Result<PeerInfo> {
    let (conn, mut peer) = listener.accept().await?;
    let mut stream = establish(conn, listener.tls_acceptor(), HANDSHAKE, &mut peer).await?;
    assert!(matches!(stream, IoStream::Tls(_)));
    let mut buf = [0u8; 64];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(peer);
        }
        stream.write_all(&buf[..n]).await?;
    }
}

#[tokio::test]
async fn client_with_certificate_completes_handshake_and_exchanges_bytes() {
    let pki = Pki::new();
    let listener = tls_listener(&pki, true).await;
    assert!(listener.is_tls());
    let addr = listener.local_tcp_addr().expect("tcp address");

    let client = async {
        let mut tls = pki.connect(addr, Some(&pki.client)).await.expect("handshake");
        assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
        tls.write_all(b"hello over mtls").await.expect("write");
        let mut buf = [0u8; 15];
        tls.read_exact(&mut buf).await.expect("read echo");
        assert_eq!(&buf, b"hello over mtls");
        tls.shutdown().await.expect("close");
    };
    let (peer, ()) = tokio::join!(serve_echo_once(&listener), client);
    let peer = peer.expect("server side succeeds");
    assert_eq!(peer.client_certs, vec![pki.client.cert.clone()]);
    assert_eq!(peer.common_name.as_deref(), Some("berth test"));
    assert!(peer.organizational_units.is_empty());
}

#[tokio::test]
async fn client_certificate_subject_names_the_peer() {
    let pki = Pki::new();
    let alice = pki.client_with_subject("alice", &["ops", "dev"]);
    let listener = tls_listener(&pki, true).await;
    let addr = listener.local_tcp_addr().expect("tcp address");

    let client = async {
        let mut tls = pki.connect(addr, Some(&alice)).await.expect("handshake");
        tls.write_all(b"hi").await.expect("write");
        let mut buf = [0u8; 2];
        tls.read_exact(&mut buf).await.expect("read echo");
        tls.shutdown().await.expect("close");
    };
    let (peer, ()) = tokio::join!(serve_echo_once(&listener), client);
    let peer = peer.expect("server side succeeds");
    assert_eq!(peer.client_certs, vec![alice.cert.clone()]);
    assert_eq!(peer.common_name.as_deref(), Some("alice"));
    assert_eq!(peer.organizational_units, ["ops", "dev"]);
}

/// The server rejects the handshake; the client can send, but never gets an answer.
async fn assert_rejected(pki: &Pki, identity: Option<&crate::pki::Identity>) {
    let listener = tls_listener(pki, true).await;
    let addr = listener.local_tcp_addr().expect("tcp address");
    let server = async {
        let (conn, mut peer) = listener.accept().await.expect("accept");
        let res = establish(conn, listener.tls_acceptor(), HANDSHAKE, &mut peer).await;
        (res.map(|_| ()), peer)
    };
    let client = async {
        // With TLS 1.3 the client finishes its side before the server checks its certificate,
        // so the failure may show up at connect or only at the first read.
        match pki.connect(addr, identity).await {
            Err(_) => {}
            Ok(mut tls) => {
                let _ = tls.write_all(b"ping").await;
                let mut buf = [0u8; 4];
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => {}
                    Ok(n) => panic!("rejected client read {n} bytes"),
                }
            }
        }
    };
    let ((res, peer), ()) = tokio::join!(server, client);
    res.expect_err("server refuses the handshake");
    assert!(peer.client_certs.is_empty());
    assert_eq!(peer.common_name, None);
}

#[tokio::test]
async fn client_without_certificate_is_rejected() {
    let pki = Pki::new();
    assert_rejected(&pki, None).await;
}

#[tokio::test]
async fn client_with_certificate_from_another_ca_is_rejected() {
    let pki = Pki::new();
    assert_rejected(&pki, Some(&foreign_client())).await;
}

#[tokio::test]
async fn without_verify_no_client_certificate_is_needed() {
    let pki = Pki::new();
    let listener = tls_listener(&pki, false).await;
    let addr = listener.local_tcp_addr().expect("tcp address");
    let client = async {
        let mut tls = pki.connect(addr, None).await.expect("handshake");
        tls.write_all(b"hi").await.expect("write");
        let mut buf = [0u8; 2];
        tls.read_exact(&mut buf).await.expect("read echo");
        assert_eq!(&buf, b"hi");
        tls.shutdown().await.expect("close");
    };
    let (peer, ()) = tokio::join!(serve_echo_once(&listener), client);
    let peer = peer.expect("server side succeeds");
    assert!(peer.client_certs.is_empty());
    assert_eq!(peer.common_name, None);
    assert!(peer.organizational_units.is_empty());
}

#[tokio::test]
async fn silent_client_times_out() {
    let pki = Pki::new();
    let listener = tls_listener(&pki, true).await;
    let addr = listener.local_tcp_addr().expect("tcp address");
    let _silent = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (conn, mut peer) = listener.accept().await.expect("accept");
    let err = establish(conn, listener.tls_acceptor(), Duration::from_millis(200), &mut peer)
        .await
        .expect_err("nothing was sent");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
}

#[tokio::test]
async fn unix_listeners_stay_plain_with_tls() {
    let pki = Pki::new();
    let path = pki.dir.path().join("berth.sock");
    let opts = BindOptions {
        group: SocketGroup::None,
        tls: Some(server_tls_config(&pki.options(true)).expect("server config")),
        tls_verify: true,
    };
    let listeners = bind_all(&[Host::Unix(path)], &opts).await.expect("bind");
    assert!(!listeners[0].is_tls());
    assert!(listeners[0].tls_acceptor().is_none());
}

#[test]
fn server_config_negotiates_http1_only() {
    let pki = Pki::new();
    let config: Arc<rustls::ServerConfig> =
        server_tls_config(&pki.options(false)).expect("server config");
    assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
}

#[test]
fn configuration_errors_name_the_file() {
    let pki = Pki::new();
    let missing = pki.dir.path().join("missing.pem");
    let empty = pki.dir.path().join("empty.pem");
    std::fs::write(&empty, "").expect("write");

    let cases: Vec<(&str, berth_listeners::TlsOptions, String)> = vec![
        (
            "verify without ca",
            berth_listeners::TlsOptions { ca: None, ..pki.options(true) },
            "client certificate verification requires a ca certificate (--tlscacert)".into(),
        ),
        (
            "missing ca file",
            berth_listeners::TlsOptions { ca: Some(missing.clone()), ..pki.options(true) },
            format!("could not read ca certificate {}", missing.display()),
        ),
        (
            "empty ca file",
            berth_listeners::TlsOptions { ca: Some(empty.clone()), ..pki.options(true) },
            format!("no certificate found in ca file {}", empty.display()),
        ),
        (
            "missing cert",
            berth_listeners::TlsOptions { cert: missing.clone(), ..pki.options(false) },
            format!("could not read server certificate {}", missing.display()),
        ),
        (
            "empty cert",
            berth_listeners::TlsOptions { cert: empty.clone(), ..pki.options(false) },
            format!("no certificate found in {}", empty.display()),
        ),
        (
            "missing key",
            berth_listeners::TlsOptions { key: missing.clone(), ..pki.options(false) },
            format!("could not read private key {}", missing.display()),
        ),
        (
            "key is not a key",
            berth_listeners::TlsOptions { key: pki.ca.clone(), ..pki.options(false) },
            format!("could not read private key {}", pki.ca.display()),
        ),
        (
            "cert does not match key",
            berth_listeners::TlsOptions { cert: pki.ca.clone(), ..pki.options(false) },
            format!(
                "invalid server certificate {} or key {}",
                pki.ca.display(),
                pki.server_key.display()
            ),
        ),
    ];
    for (name, opts, want) in cases {
        let err = server_tls_config(&opts).expect_err(name);
        assert_eq!(err.to_string(), want, "{name}");
    }
    let err = server_tls_config(&berth_listeners::TlsOptions { ca: None, ..pki.options(true) })
        .expect_err("verify without ca");
    assert!(matches!(err, TlsError::MissingCa));
}
