//! Port publishing: `plan` and the views against dockerd's rules and shapes, the allocator, and
//! real proxies on loopback.

use std::collections::{BTreeMap, HashSet};
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use berth_api::ErrorKind;
use berth_api::container::{Empty, PortMap};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, oneshot};

use super::alloc::{self, ephemeral_range};
use super::proxy::Tuning;
use super::publish::publish_tuned;
use super::*;

const LOCALHOST: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// How long any one step of a real test may take.
const DEADLINE: Duration = Duration::from_secs(10);

async fn within<T>(step: impl Future<Output = T>) -> T {
    tokio::time::timeout(DEADLINE, step).await.expect("the step finished before the deadline")
}

fn port_map(value: serde_json::Value) -> PortMap {
    serde_json::from_value(value).expect("a PortMap")
}

fn exposed(keys: &[&str]) -> BTreeMap<String, Empty> {
    keys.iter().map(|k| ((*k).to_owned(), Empty {})).collect()
}

fn request(proto: Proto, container_port: u16, host_ip: Option<&str>, ports: (u16, u16)) -> Request {
    Request {
        proto,
        container_port,
        host_ip: host_ip.map(|ip| ip.parse().expect("an address")),
        host_ports: HostPorts { start: ports.0, end: ports.1 },
    }
}

fn binding(proto: Proto, host_ip: &str, host_port: u16, container_port: u16) -> Binding {
    Binding { proto, host_ip: host_ip.parse().expect("an address"), host_port, container_port }
}

// ---- plan -------------------------------------------------------------------------------------

#[test]
fn plan_publishes_the_bindings_of_exposed_ports_only() {
    let bindings = port_map(json!({
        "80/tcp": [{"HostIp": "", "HostPort": "8080"}, {"HostIp": "127.0.0.1", "HostPort": "8081"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
        "9000/tcp": [{"HostIp": "", "HostPort": "9000"}],
    }));
    let exposed = exposed(&["80/tcp", "53/udp", "443/tcp"]);
    let requests = plan(Some(&bindings), Some(&exposed), false).expect("valid");
    assert_eq!(
        requests,
        [
            request(Proto::Tcp, 80, None, (8080, 8080)),
            request(Proto::Tcp, 80, Some("127.0.0.1"), (8081, 8081)),
            request(Proto::Udp, 53, None, (0, 0)),
        ]
    );
}

#[test]
fn plan_with_publish_all_gives_unbound_exposed_ports_an_ephemeral_port() {
    let bindings = port_map(json!({"80/tcp": [{"HostIp": "", "HostPort": "8080"}], "443/tcp": []}));
    let exposed = exposed(&["80/tcp", "443/tcp", "53/udp"]);
    let requests = plan(Some(&bindings), Some(&exposed), true).expect("valid");
    assert_eq!(
        requests,
        [
            request(Proto::Tcp, 80, None, (8080, 8080)),
            request(Proto::Udp, 53, None, (0, 0)),
            request(Proto::Tcp, 443, None, (0, 0)),
        ]
    );
    assert_eq!(plan(None, Some(&exposed), false).expect("valid"), []);
    assert_eq!(plan(None, None, true).expect("valid"), []);
}

#[test]
fn plan_reads_keys_host_ports_and_addresses_as_dockerd_does() {
    let bindings = port_map(json!({
        "80": [
            {"HostIp": "", "HostPort": "0"},
            {"HostIp": "[::1]", "HostPort": "8000-8010"},
            {"HostIp": "::ffff:10.0.0.1", "HostPort": "7000/udp"},
            {"HostIp": "0.0.0.0", "HostPort": "0-0"},
        ],
        "53/UDP": [{"HostIp": "::", "HostPort": "053"}],
    }));
    let exposed = exposed(&["80/tcp", "53/udp"]);
    let requests = plan(Some(&bindings), Some(&exposed), false).expect("valid");
    assert_eq!(
        requests,
        [
            request(Proto::Udp, 53, Some("::"), (53, 53)),
            request(Proto::Tcp, 80, Some("10.0.0.1"), (7000, 7000)),
            request(Proto::Tcp, 80, None, (0, 0)),
            request(Proto::Tcp, 80, Some("0.0.0.0"), (0, 0)),
            request(Proto::Tcp, 80, Some("::1"), (8000, 8010)),
        ]
    );
}

#[test]
fn plan_counts_identical_bindings_once() {
    let twice = json!([{"HostIp": "", "HostPort": "8080"}, {"HostIp": "", "HostPort": "8080"}]);
    let bindings = port_map(json!({"80/tcp": twice, "80": [{"HostIp": "", "HostPort": "8080"}]}));
    let requests = plan(Some(&bindings), Some(&exposed(&["80/tcp"])), false).expect("valid");
    assert_eq!(requests, [request(Proto::Tcp, 80, None, (8080, 8080))]);
}

#[test]
fn plan_refuses_bad_specs_with_dockerds_messages() {
    let table = [
        (json!({"abc/tcp": []}), r#"invalid port specification: "abc""#),
        (json!({"80-90/tcp": []}), r#"invalid port specification: "80-90""#),
        (json!({"70000/tcp": []}), r#"invalid port specification: "70000""#),
        (json!({"0/tcp": []}), r#"invalid port specification: "0""#),
        (json!({"+80/tcp": []}), r#"invalid port specification: "+80""#),
        (json!({"/tcp": []}), r#"invalid port specification: """#),
        (json!({"80/icmp": []}), "invalid proto: icmp"),
        (json!({"80/tcp": [{"HostPort": "abc"}]}), r#"invalid port specification: "abc""#),
        (json!({"80/tcp": [{"HostPort": "65536"}]}), r#"invalid port specification: "65536""#),
        (
            json!({"80/tcp": [{"HostPort": "9000-8000"}]}),
            r#"invalid port specification: "9000-8000""#,
        ),
        (json!({"80/tcp": [{"HostPort": "0-100"}]}), r#"invalid port specification: "0-100""#),
        (json!({"80/tcp": [{"HostPort": "80-"}]}), r#"invalid port specification: "80-""#),
        (json!({"80/tcp": [{"HostPort": ":80"}]}), r#"invalid port specification: ":80""#),
        (json!({"80/tcp": [{"HostIp": "localhost"}]}), "invalid IP address: localhost"),
        (json!({"80/tcp": [{"HostIp": "1.2.3.4.5"}]}), "invalid IP address: 1.2.3.4.5"),
        (json!({"80/tcp": [{"HostIp": "fe80::1%eth0"}]}), "invalid IP address: fe80::1%eth0"),
    ];
    for (bindings, message) in table {
        // Bindings are checked whether or not the port is exposed, as dockerd checks them.
        let err = plan(Some(&port_map(bindings.clone())), None, false).expect_err("invalid");
        assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{bindings}");
        assert_eq!(err.message(), message, "{bindings}");
    }
}

#[test]
fn plan_refuses_to_publish_sctp_and_publish_all_leaves_it_out() {
    let exposed = exposed(&["9999/sctp", "80/tcp"]);
    let bindings = port_map(json!({"9999/sctp": [{"HostIp": "", "HostPort": "9999"}]}));
    let err = plan(Some(&bindings), Some(&exposed), false).expect_err("sctp");
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
    assert_eq!(
        err.message(),
        "cannot publish 9999/sctp: berth does not support sctp port publishing"
    );

    let requests = plan(None, Some(&exposed), true).expect("valid");
    assert_eq!(requests, [request(Proto::Tcp, 80, None, (0, 0))]);
}

#[test]
fn plan_skips_exposed_ports_that_do_not_parse() {
    let requests = plan(None, Some(&exposed(&["80/tcp", "x/tcp", "81/foo"])), true).expect("valid");
    assert_eq!(requests, [request(Proto::Tcp, 80, None, (0, 0))]);
}

// ---- views ------------------------------------------------------------------------------------

fn published_example() -> Vec<Binding> {
    vec![
        binding(Proto::Tcp, "0.0.0.0", 8080, 80),
        binding(Proto::Tcp, "::", 8080, 80),
        binding(Proto::Udp, "127.0.0.1", 5353, 53),
    ]
}

#[test]
fn inspect_ports_lists_exposed_ports_with_their_bindings_or_null() {
    let exposed = exposed(&["80/tcp", "53/udp", "443/tcp", "80"]);
    let ports = inspect_ports(Some(&exposed), Some(&published_example()));
    assert_eq!(
        serde_json::to_value(ports).expect("json"),
        json!({
            "443/tcp": null,
            "53/udp": [{"HostIp": "127.0.0.1", "HostPort": "5353"}],
            "80/tcp": [
                {"HostIp": "0.0.0.0", "HostPort": "8080"},
                {"HostIp": "::", "HostPort": "8080"},
            ],
        })
    );
    // No endpoint (created, stopped, host or none network): `{}`.
    assert_eq!(serde_json::to_value(inspect_ports(Some(&exposed), None)).expect("json"), json!({}));
    // Running with nothing exposed.
    assert_eq!(serde_json::to_value(inspect_ports(None, Some(&[]))).expect("json"), json!({}));
}

#[test]
fn summary_ports_lists_bindings_and_unpublished_exposed_ports() {
    let exposed = exposed(&["80/tcp", "53/udp", "443/tcp"]);
    let ports = summary_ports(Some(&exposed), Some(&published_example()));
    assert_eq!(
        serde_json::to_value(ports).expect("json"),
        json!([
            {"IP": "127.0.0.1", "PrivatePort": 53, "PublicPort": 5353, "Type": "udp"},
            {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"IP": "::", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
            {"PrivatePort": 443, "Type": "tcp"},
        ])
    );
    assert_eq!(serde_json::to_value(summary_ports(Some(&exposed), None)).expect("json"), json!([]));
}

#[test]
fn bindings_are_stored_with_lowercase_protocols() {
    let stored = serde_json::to_value(binding(Proto::Udp, "::", 53, 5353)).expect("json");
    assert_eq!(
        stored,
        json!({"proto": "udp", "host_ip": "::", "host_port": 53, "container_port": 5353})
    );
    let back: Binding = serde_json::from_value(stored).expect("binding");
    assert_eq!(back, binding(Proto::Udp, "::", 53, 5353));
}

// ---- allocator --------------------------------------------------------------------------------
// Ports below 1024 on 127.0.0.2xx: nothing else in these tests reserves them, and nothing is bound.

fn addr(text: &str) -> IpAddr {
    text.parse().expect("an address")
}

#[test]
fn the_allocator_refuses_a_held_port_with_dockerds_message() {
    let (port, held) =
        alloc::reserve(Proto::Tcp, &[addr("127.0.0.201")], HostPorts::exact(700), &[])
            .expect("free");
    assert_eq!(port, 700);
    for other in ["127.0.0.201", "0.0.0.0"] {
        let err = alloc::reserve(Proto::Tcp, &[addr(other)], HostPorts::exact(700), &[])
            .expect_err("held");
        assert_eq!(err.message(), "Bind for 127.0.0.201:700 failed: port is already allocated");
        assert_eq!(err.kind(), ErrorKind::System);
    }
    // Another address, another family or another protocol may take it.
    for (proto, other) in
        [(Proto::Tcp, "127.0.0.202"), (Proto::Tcp, "::"), (Proto::Udp, "127.0.0.201")]
    {
        let (_, leases) =
            alloc::reserve(proto, &[addr(other)], HostPorts::exact(700), &[]).expect("free");
        drop(leases);
    }
    drop(held);
    let (_, again) =
        alloc::reserve(Proto::Tcp, &[addr("0.0.0.0")], HostPorts::exact(700), &[]).expect("freed");
    let err = alloc::reserve(Proto::Tcp, &[addr("127.0.0.203")], HostPorts::exact(700), &[])
        .expect_err("held by 0.0.0.0");
    assert_eq!(err.message(), "Bind for 0.0.0.0:700 failed: port is already allocated");
    drop(again);
}

#[test]
fn the_allocator_takes_the_first_free_port_of_a_range() {
    let a = [addr("127.0.0.211")];
    let range = HostPorts { start: 710, end: 712 };
    let (first, _l1) = alloc::reserve(Proto::Tcp, &a, range, &[]).expect("free");
    assert_eq!(first, 710);
    let (second, l2) = alloc::reserve(Proto::Tcp, &a, range, &[]).expect("free");
    assert_eq!(second, 711);
    assert!(alloc::reserve(Proto::Tcp, &a, range, &[712]).is_err(), "711 is held, 712 skipped");
    drop(l2);
    let (again, _l4) = alloc::reserve(Proto::Tcp, &a, range, &[]).expect("freed");
    assert_eq!(again, 711);
    let (_, _l5) = alloc::reserve(Proto::Tcp, &a, range, &[]).expect("712");
    let err = alloc::reserve(Proto::Tcp, &a, range, &[]).expect_err("full");
    assert_eq!(err.message(), "all ports are allocated");
}

#[test]
fn the_allocator_gives_one_port_to_several_addresses() {
    let addrs = [addr("0.0.0.0"), addr("::")];
    let (port, leases) =
        alloc::reserve(Proto::Udp, &addrs, HostPorts::EPHEMERAL, &[]).expect("free");
    let (start, end) = ephemeral_range();
    assert!((start..=end).contains(&port), "{port} in {start}-{end}");
    assert_eq!(leases.len(), 2);
    let (next, _l) = alloc::reserve(Proto::Udp, &addrs, HostPorts::EPHEMERAL, &[]).expect("free");
    assert_ne!(next, port, "the next ephemeral port is another one");
}

// ---- real proxies on loopback -----------------------------------------------------------------

/// A tcp server on 127.0.0.1 that sends back what it reads and shuts down its side when the
/// client has shut down its own.
async fn tcp_echo() -> u16 {
    let listener = TcpListener::bind((LOCALHOST, 0)).await.expect("bind the echo server");
    let port = listener.local_addr().expect("address").port();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut read, mut write) = stream.split();
                if tokio::io::copy(&mut read, &mut write).await.is_ok() {
                    write.shutdown().await.expect("shut down the echo");
                }
            });
        }
    });
    port
}

/// A udp server on 127.0.0.1 that sends every datagram back and reports where it came from.
async fn udp_echo() -> (u16, mpsc::UnboundedReceiver<SocketAddr>) {
    let socket = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind the echo server");
    let port = socket.local_addr().expect("address").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0; 65536];
        while let Ok((len, from)) = socket.recv_from(&mut buf).await {
            socket.send_to(&buf[..len], from).await.expect("echo");
            if tx.send(from).is_err() {
                break;
            }
        }
    });
    (port, rx)
}

fn ipv6() -> bool {
    std::net::TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok()
}

/// A tcp port on 127.0.0.1 held by a listener of "another process" while it lives.
fn held_port() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind((LOCALHOST, 0)).expect("hold a port");
    let port = listener.local_addr().expect("address").port();
    (listener, port)
}

/// A port on 127.0.0.1 that nothing holds right now.
fn free_port() -> u16 {
    held_port().1
}

/// A udp port on 127.0.0.1 that nothing holds right now.
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind((LOCALHOST, 0)).expect("hold a udp port");
    socket.local_addr().expect("address").port()
}

/// A tcp echo server, published on an ephemeral port of 127.0.0.1; and its own port.
async fn published_echo() -> (Published, u16) {
    let echo = tcp_echo().await;
    let requests = [request(Proto::Tcp, echo, Some("127.0.0.1"), (0, 0))];
    (publish(&requests, LOCALHOST).await.expect("publish"), echo)
}

async fn echo_through(host: SocketAddr, message: &[u8]) {
    let mut client = within(TcpStream::connect(host)).await.expect("connect through the proxy");
    client.write_all(message).await.expect("write");
    client.shutdown().await.expect("half-close");
    let mut back = Vec::new();
    within(client.read_to_end(&mut back)).await.expect("read the echo");
    assert_eq!(back, message, "through {host}");
}

#[tokio::test]
async fn tcp_carries_bytes_both_ways_and_passes_the_clients_half_close() {
    let (published, echo) = published_echo().await;
    let [bound] = published.bindings() else { panic!("one binding: {:?}", published.bindings()) };
    let (start, end) = ephemeral_range();
    assert!((start..=end).contains(&bound.host_port), "{bound:?} in {start}-{end}");
    assert_eq!((bound.host_ip, bound.container_port), (addr("127.0.0.1"), echo));

    let mut client =
        within(TcpStream::connect((LOCALHOST, bound.host_port))).await.expect("connect");
    client.write_all(b"hello").await.expect("write");
    let mut first = [0; 5];
    within(client.read_exact(&mut first)).await.expect("echo");
    assert_eq!(&first, b"hello");
    // The echo only ends its side once our end reaches it: this read ends only if the proxy
    // passed our half-close on and then the server's back.
    client.write_all(b" world").await.expect("write");
    client.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    within(client.read_to_end(&mut rest)).await.expect("read to the end");
    assert_eq!(rest, b" world");
    published.close().await;
}

#[tokio::test]
async fn tcp_passes_the_containers_half_close_and_keeps_the_other_direction() {
    let server = TcpListener::bind((LOCALHOST, 0)).await.expect("bind");
    let port = server.local_addr().expect("address").port();
    let (got, received) = oneshot::channel();
    tokio::spawn(async move {
        let (mut stream, _) = server.accept().await.expect("accept");
        stream.write_all(b"greeting").await.expect("greet");
        stream.shutdown().await.expect("half-close");
        let mut late = Vec::new();
        stream.read_to_end(&mut late).await.expect("read the client");
        got.send(late).expect("report");
    });
    let published = publish(&[request(Proto::Tcp, port, Some("127.0.0.1"), (0, 0))], LOCALHOST)
        .await
        .expect("publish");
    let host_port = published.bindings()[0].host_port;

    let mut client = within(TcpStream::connect((LOCALHOST, host_port))).await.expect("connect");
    let mut greeting = Vec::new();
    within(client.read_to_end(&mut greeting)).await.expect("the server's end arrives");
    assert_eq!(greeting, b"greeting");
    client.write_all(b"late").await.expect("the other direction is still open");
    client.shutdown().await.expect("half-close");
    assert_eq!(within(received).await.expect("the server read to the end"), b"late");
    published.close().await;
}

#[tokio::test]
async fn every_address_means_ipv4_and_ipv6_on_one_ephemeral_port() {
    let echo = tcp_echo().await;
    let published =
        publish(&[request(Proto::Tcp, echo, None, (0, 0))], LOCALHOST).await.expect("publish");
    let port = published.bindings()[0].host_port;
    let mut expected = vec![binding(Proto::Tcp, "0.0.0.0", port, echo)];
    if ipv6() {
        expected.push(binding(Proto::Tcp, "::", port, echo));
    }
    assert_eq!(published.bindings(), expected);
    echo_through(SocketAddr::from((LOCALHOST, port)), b"over ipv4").await;
    if ipv6() {
        echo_through(SocketAddr::from((Ipv6Addr::LOCALHOST, port)), b"over ipv6").await;
    }
    published.close().await;
}

#[tokio::test]
async fn udp_carries_datagrams_both_ways_with_a_flow_per_client() {
    let (echo, mut sources) = udp_echo().await;
    // On every address, so replies must leave from the address each client wrote to: a
    // connected client socket drops anything else, and the kernel alone would answer a client
    // of 127.0.0.5 from 127.0.0.1.
    let published =
        publish(&[request(Proto::Udp, echo, None, (0, 0))], LOCALHOST).await.expect("publish");
    let port = published.bindings()[0].host_port;
    let mut targets = vec![IpAddr::from(LOCALHOST), IpAddr::from(Ipv4Addr::new(127, 0, 0, 5))];
    if ipv6() {
        targets.push(Ipv6Addr::LOCALHOST.into());
    }
    let mut clients = Vec::new();
    for target in &targets {
        let local: IpAddr = if target.is_ipv4() {
            Ipv4Addr::UNSPECIFIED.into()
        } else {
            Ipv6Addr::UNSPECIFIED.into()
        };
        let client = UdpSocket::bind((local, 0)).await.expect("bind a client");
        client.connect((*target, port)).await.expect("connect");
        clients.push(client);
    }
    let big = vec![7; 60_000];
    for round in 0..2 {
        for (i, client) in clients.iter().enumerate() {
            let message = if round == 1 && i == 0 {
                big.clone()
            } else {
                format!("{round}:{i}").into_bytes()
            };
            client.send(&message).await.expect("send");
            let mut buf = vec![0; 65536];
            let len = within(client.recv(&mut buf)).await.expect("the echo comes back");
            assert_eq!(&buf[..len], message, "client {i}, round {round}");
        }
    }
    let mut seen = HashSet::new();
    for _ in 0..2 * clients.len() {
        seen.insert(within(sources.recv()).await.expect("a source"));
    }
    assert_eq!(seen.len(), clients.len(), "one source port per client: {seen:?}");
    assert_eq!(published.udp_flows(), clients.len());
    published.close().await;
}

#[tokio::test]
async fn udp_flows_are_forgotten_when_idle() {
    let (echo, _sources) = udp_echo().await;
    let tuning = Tuning { udp_idle: Duration::from_millis(200), ..Tuning::default() };
    let requests = [request(Proto::Udp, echo, Some("127.0.0.1"), (0, 0))];
    let published = publish_tuned(&requests, LOCALHOST, tuning).await.expect("publish");
    let client = UdpSocket::bind((LOCALHOST, 0)).await.expect("bind a client");
    client.connect((LOCALHOST, published.bindings()[0].host_port)).await.expect("connect");
    let mut buf = [0; 16];
    for _ in 0..2 {
        client.send(b"ping").await.expect("send");
        let len = within(client.recv(&mut buf)).await.expect("echo");
        assert_eq!(&buf[..len], b"ping");
        assert_eq!(published.udp_flows(), 1);
        within(async {
            while published.udp_flows() > 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
    }
    published.close().await;
}

#[tokio::test]
async fn a_port_another_process_holds_fails_and_nothing_stays_bound() {
    let echo = tcp_echo().await;
    let (_taken, taken_port) = held_port();
    let free = free_port();
    let requests = [
        request(Proto::Tcp, echo, Some("127.0.0.1"), (free, free)),
        request(Proto::Tcp, echo.wrapping_add(1), Some("127.0.0.1"), (taken_port, taken_port)),
    ];
    let err = publish(&requests, LOCALHOST).await.expect_err("the port is taken");
    assert_eq!(err.kind(), ErrorKind::System);
    assert_eq!(
        err.message(),
        format!(
            "failed to bind host port for 127.0.0.1:{taken_port}:127.0.0.1:{}/tcp: address already in use",
            echo.wrapping_add(1)
        )
    );
    // The first request was bound before the second failed: both the socket and the reservation
    // are gone.
    drop(std::net::TcpListener::bind((LOCALHOST, free)).expect("the socket was closed"));
    let again = publish(&requests[..1], LOCALHOST).await.expect("the reservation was released");
    echo_through(SocketAddr::from((LOCALHOST, free)), b"bound after all").await;
    again.close().await;
}

#[tokio::test]
async fn a_port_another_container_holds_is_already_allocated() {
    let echo = tcp_echo().await;
    let port = free_port();
    let first = publish(&[request(Proto::Tcp, echo, Some("127.0.0.1"), (port, port))], LOCALHOST)
        .await
        .expect("publish");
    for host_ip in ["127.0.0.1", "0.0.0.0"] {
        let err = publish(&[request(Proto::Tcp, 9, Some(host_ip), (port, port))], LOCALHOST)
            .await
            .expect_err("held");
        assert_eq!(
            err.message(),
            format!("Bind for 127.0.0.1:{port} failed: port is already allocated")
        );
    }
    // Two bindings of one container that overlap fail the same way.
    let both = [
        request(Proto::Udp, echo, None, (port, port)),
        request(Proto::Udp, echo, Some("127.0.0.1"), (port, port)),
    ];
    let err = publish(&both, LOCALHOST).await.expect_err("overlap");
    assert_eq!(err.message(), format!("Bind for 0.0.0.0:{port} failed: port is already allocated"));
    first.close().await;
}

#[tokio::test]
async fn a_range_passes_over_a_port_another_process_holds() {
    let echo = tcp_echo().await;
    let (_taken, start) = held_port();
    let end = start.checked_add(20).expect("the kernel's ephemeral ports end below 65515");
    let published =
        publish(&[request(Proto::Tcp, echo, Some("127.0.0.1"), (start, end))], LOCALHOST)
            .await
            .expect("publish");
    let port = published.bindings()[0].host_port;
    assert!(port > start && port <= end, "{port} in {start}-{end}, not the held one");
    echo_through(SocketAddr::from((LOCALHOST, port)), b"in range").await;
    published.close().await;
}

#[tokio::test]
async fn closing_frees_the_port_and_ends_the_connections() {
    // A port the kernel chose at random, not one from the ephemeral range: Berth hands those out
    // from the range's start in every process (as dockerd does), so another test process may
    // take the same port the moment it is freed, and the rebind below would fail for that.
    let echo = tcp_echo().await;
    let port = free_port();
    let requests = [request(Proto::Tcp, echo, Some("127.0.0.1"), (port, port))];
    let published = publish(&requests, LOCALHOST).await.expect("publish");
    let mut client = within(TcpStream::connect((LOCALHOST, port))).await.expect("connect");
    client.write_all(b"x").await.expect("write");
    let mut one = [0; 1];
    within(client.read_exact(&mut one)).await.expect("echo");

    published.close().await;
    // Once `close` returns the port is free, for another process and for Berth.
    drop(std::net::TcpListener::bind((LOCALHOST, port)).expect("the port is free"));
    let again = publish(&[request(Proto::Tcp, echo, Some("127.0.0.1"), (port, port))], LOCALHOST)
        .await
        .expect("the port is free for berth");
    assert_connection_ended(&mut client).await;
    again.close().await;
}

#[tokio::test]
async fn dropping_frees_the_port_and_ends_the_connections() {
    let echo = tcp_echo().await;
    let (udp_echo, _sources) = udp_echo().await;
    // Ports the kernel chose at random, for the reason given in the test above.
    let (tcp, udp) = (free_port(), free_udp_port());
    let requests = [
        request(Proto::Tcp, echo, Some("127.0.0.1"), (tcp, tcp)),
        request(Proto::Udp, udp_echo, Some("127.0.0.1"), (udp, udp)),
    ];
    let published = publish(&requests, LOCALHOST).await.expect("publish");
    let port_of =
        |proto| published.bindings().iter().find(|b| b.proto == proto).map(|b| b.host_port);
    let tcp_port = port_of(Proto::Tcp).expect("a tcp binding");
    let udp_port = port_of(Proto::Udp).expect("a udp binding");
    let mut client = within(TcpStream::connect((LOCALHOST, tcp_port))).await.expect("connect");
    client.write_all(b"x").await.expect("write");
    let mut one = [0; 1];
    within(client.read_exact(&mut one)).await.expect("echo");

    drop(published);
    assert_connection_ended(&mut client).await;
    within(async {
        while std::net::TcpListener::bind((LOCALHOST, tcp_port)).is_err()
            || std::net::UdpSocket::bind((LOCALHOST, udp_port)).is_err()
        {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    let again = publish(
        &[
            request(Proto::Tcp, echo, Some("127.0.0.1"), (tcp_port, tcp_port)),
            request(Proto::Udp, udp_echo, Some("127.0.0.1"), (udp_port, udp_port)),
        ],
        LOCALHOST,
    )
    .await
    .expect("the ports are free for berth");
    again.close().await;
}

/// The proxied connection is closed: the client reads its end (or a reset).
async fn assert_connection_ended(client: &mut TcpStream) {
    let mut buf = [0; 16];
    match within(client.read(&mut buf)).await {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("read {n} bytes from a closed proxy"),
    }
}

#[tokio::test]
async fn republish_takes_the_same_ports_again() {
    let echo = tcp_echo().await;
    let published =
        publish(&[request(Proto::Tcp, echo, None, (0, 0))], LOCALHOST).await.expect("publish");
    let stored = published.bindings().to_vec();
    published.close().await;

    let restored = republish(&stored, LOCALHOST).await.expect("republish");
    assert_eq!(restored.bindings(), stored);
    echo_through(SocketAddr::from((LOCALHOST, stored[0].host_port)), b"restored").await;
    restored.close().await;
}

#[tokio::test]
async fn publishing_nothing_or_sctp() {
    let none = publish(&[], LOCALHOST).await.expect("nothing to publish");
    assert_eq!(none.bindings(), []);
    none.close().await;
    let err = publish(&[request(Proto::Sctp, 9, None, (0, 0))], LOCALHOST).await.expect_err("sctp");
    assert_eq!(err.kind(), ErrorKind::NotImplemented);
}
