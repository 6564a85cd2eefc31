//! Plain tcp listeners: bound address reporting, localhost, bind errors.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use berth_listeners::{BindOptions, Host, IoStream, ListenError, bind_all, establish};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn port_zero_reports_the_bound_port_and_serves_plain() {
    let listeners =
        bind_all(&[Host::Tcp("127.0.0.1:0".into())], &BindOptions::default()).await.expect("bind");
    let [listener] = listeners.as_slice() else {
        panic!("one listener expected, got {listeners:?}");
    };
    let bound = listener.local_tcp_addr().expect("tcp listener has an address");
    assert_ne!(bound.port(), 0);
    assert_eq!(listener.addr(), format!("tcp://{bound}"));
    assert!(!listener.is_tls());
    assert!(listener.tls_acceptor().is_none());

    let mut client = tokio::net::TcpStream::connect(bound).await.expect("connect");
    let (conn, mut peer) = listener.accept().await.expect("accept");
    assert_eq!(peer.addr, client.local_addr().expect("client addr").to_string());
    assert_eq!((peer.uid, peer.gid, peer.pid), (None, None, None));
    let mut stream =
        establish(conn, None, Duration::from_secs(5), &mut peer).await.expect("plain establish");
    assert!(matches!(stream, IoStream::Plain(_)));

    client.write_all(b"ping").await.expect("write");
    let mut buf = [0u8; 4];
    stream.read_exact(&mut buf).await.expect("read");
    assert_eq!(&buf, b"ping");
    stream.write_all(b"pong").await.expect("write back");
    client.read_exact(&mut buf).await.expect("read back");
    assert_eq!(&buf, b"pong");
}

#[tokio::test]
async fn localhost_binds_ipv4_loopback() {
    let listeners =
        bind_all(&[Host::Tcp("localhost:0".into())], &BindOptions::default()).await.expect("bind");
    let bound = listeners[0].local_tcp_addr().expect("tcp address");
    assert_eq!(bound.ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
}

#[tokio::test]
async fn out_of_range_port_fails_at_bind() {
    // Parsing accepts it (as dockerd does); binding must not.
    let host = Host::parse("tcp://localhost:99999").expect("parses");
    let err = bind_all(&[host], &BindOptions::default()).await.expect_err("port out of range");
    assert!(matches!(err, ListenError::Tcp { .. }), "{err:?}");
    assert_eq!(err.to_string(), "can't listen on tcp://localhost:99999");
}

#[tokio::test]
async fn port_in_use_is_an_error_and_earlier_listeners_are_dropped() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sock = dir.path().join("berth.sock");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr").to_string();
    let hosts = [Host::Unix(sock.clone()), Host::Tcp(addr.clone())];
    let err = bind_all(&hosts, &BindOptions::default()).await.expect_err("address in use");
    assert_eq!(err.to_string(), format!("can't listen on tcp://{addr}"));
    assert!(!sock.exists(), "the unix socket bound before the failure is cleaned up");
}
