//! The server in a real network namespace: queries go to 127.0.0.11:53 from inside it, over UDP
//! and TCP, and unknown names reach fake upstream resolvers on the host's loopback.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Metadata, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{DNS_ADDRESS, DNS_PORT, DnsServer, Names, answer::TTL};
use crate::network::Netns;

/// How long a client in the namespace waits for one answer.
const ANSWER_DEADLINE: Duration = Duration::from_secs(10);

/// A network namespace with `lo` up, removed on drop.
struct Namespace {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Namespace {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Netns::create(dir.path(), "dns").expect("create netns");
        let status = Netns::run_in(&path, || {
            // A child inherits the namespace of the thread that spawns it.
            std::process::Command::new("ip").args(["link", "set", "lo", "up"]).status()
        })
        .expect("join netns")
        .expect("run ip");
        assert!(status.success(), "ip link set lo up: {status}");
        Self { path, _dir: dir }
    }

    /// Runs blocking `f` inside the namespace, off the runtime's workers.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || Netns::run_in(&path, f))
            .await
            .expect("netns thread")
            .expect("join netns")
    }

    fn start(&self, names: &Arc<FakeNames>, upstreams: Vec<SocketAddr>) -> DnsServer {
        DnsServer::start(&self.path, "c1".to_owned(), names.clone(), upstreams).expect("start")
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        if let Err(e) = Netns::remove(&self.path) {
            eprintln!("cannot remove test netns {}: {e}", self.path.display());
        }
    }
}

/// A name table, as the caller would keep one, that records who asks.
struct FakeNames {
    forward: HashMap<&'static str, Vec<Ipv4Addr>>,
    asked_by: Mutex<Vec<String>>,
}

const WEB: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 2);
const DB: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 3);

impl FakeNames {
    fn new() -> Arc<Self> {
        Arc::new(Self {
            forward: HashMap::from([
                ("web", vec![WEB]),
                ("web.mynet", vec![WEB]),
                ("0123456789ab", vec![WEB]),
                ("c1", vec![WEB]),
                ("db", vec![DB]),
                ("database", vec![DB]),
            ]),
            asked_by: Mutex::new(Vec::new()),
        })
    }
}

impl Names for FakeNames {
    fn lookup(&self, from: &str, name: &str) -> Vec<Ipv4Addr> {
        self.asked_by.lock().expect("lock").push(from.to_owned());
        self.forward.get(name).cloned().unwrap_or_default()
    }

    fn reverse(&self, from: &str, ip: Ipv4Addr) -> Option<String> {
        self.asked_by.lock().expect("lock").push(from.to_owned());
        match ip {
            WEB => Some("web.mynet".to_owned()),
            _ => None,
        }
    }
}

fn query(name: &str, kind: RecordType) -> Message {
    let mut message = Message::query();
    message.metadata.recursion_desired = true;
    message.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
    message
}

/// Sends `packets` one after the other from inside the namespace over UDP and returns the
/// first `answers` datagrams that come back.
fn udp_exchange(packets: Vec<Vec<u8>>, answers: usize) -> Vec<Message> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind client");
    socket.connect((DNS_ADDRESS, DNS_PORT)).expect("connect");
    socket.set_read_timeout(Some(ANSWER_DEADLINE)).expect("timeout");
    for packet in packets {
        socket.send(&packet).expect("send");
    }
    let mut buf = vec![0; 65535];
    (0..answers)
        .map(|_| {
            let len = socket.recv(&mut buf).expect("an answer before the deadline");
            Message::from_vec(&buf[..len]).expect("decode answer")
        })
        .collect()
}

/// Sends each message in `packets` over one TCP connection from inside the namespace and
/// returns the answers; stops early if the server closes the connection.
fn tcp_exchange(packets: Vec<Vec<u8>>) -> Vec<Message> {
    let mut stream = std::net::TcpStream::connect((DNS_ADDRESS, DNS_PORT)).expect("connect");
    stream.set_read_timeout(Some(ANSWER_DEADLINE)).expect("timeout");
    let mut answers = Vec::new();
    for packet in packets {
        let len = u16::try_from(packet.len()).expect("short packet");
        stream.write_all(&len.to_be_bytes()).expect("write length");
        stream.write_all(&packet).expect("write query");
        let mut len = [0; 2];
        if stream.read_exact(&mut len).is_err() {
            break;
        }
        let mut answer = vec![0; usize::from(u16::from_be_bytes(len))];
        stream.read_exact(&mut answer).expect("read answer");
        answers.push(Message::from_vec(&answer).expect("decode answer"));
    }
    answers
}

async fn ask_udp(ns: &Namespace, message: &Message) -> Message {
    let packet = message.to_vec().expect("encode");
    let answer = ns.run(move || udp_exchange(vec![packet], 1)).await.remove(0);
    assert_eq!(answer.metadata.id, message.metadata.id);
    answer
}

async fn ask_tcp(ns: &Namespace, message: &Message) -> Message {
    let packet = message.to_vec().expect("encode");
    let mut answers = ns.run(move || tcp_exchange(vec![packet])).await;
    assert_eq!(answers.len(), 1, "one answer over TCP");
    let answer = answers.remove(0);
    assert_eq!(answer.metadata.id, message.metadata.id);
    answer
}

fn addresses(message: &Message) -> Vec<Ipv4Addr> {
    message
        .answers
        .iter()
        .filter_map(|r| match r.data {
            RData::A(A(ip)) => Some(ip),
            _ => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_aliases_short_ids_and_addresses_are_answered_over_udp_and_tcp() {
    let ns = Namespace::new();
    let names = FakeNames::new();
    let server = ns.start(&names, Vec::new());

    for name in ["web.", "WEB.mynet.", "0123456789ab.", "c1.", "database."] {
        let expected = if name == "database." { DB } else { WEB };
        for (transport, answer) in [
            ("udp", ask_udp(&ns, &query(name, RecordType::A)).await),
            ("tcp", ask_tcp(&ns, &query(name, RecordType::A)).await),
        ] {
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError, "{name} {transport}");
            assert_eq!(addresses(&answer), [expected], "{name} {transport}");
            assert_eq!(answer.answers[0].ttl, TTL, "{name} {transport}");
        }
    }

    let aaaa = ask_udp(&ns, &query("web.", RecordType::AAAA)).await;
    assert_eq!(aaaa.metadata.response_code, ResponseCode::NoError);
    assert!(aaaa.answers.is_empty(), "IPv4 only: {aaaa}");

    let ptr = ask_tcp(&ns, &query("2.0.18.172.in-addr.arpa.", RecordType::PTR)).await;
    let expected = RData::PTR(PTR(Name::from_ascii("web.mynet.").expect("name")));
    assert_eq!(ptr.answers.iter().map(|r| &r.data).collect::<Vec<_>>(), [&expected]);

    let asked_by = names.asked_by.lock().expect("lock").clone();
    assert!(!asked_by.is_empty() && asked_by.iter().all(|from| from == "c1"), "{asked_by:?}");
    server.stop().await;
}

/// What a fake upstream does with a question.
#[derive(Clone, Copy)]
enum Behaviour {
    /// Answers 192.0.2.1 for any name; for `big.` names, a truncated answer over UDP and 40
    /// addresses over TCP.
    Answer,
    /// Always SERVFAIL.
    Fail,
}

/// A resolver on the host's loopback, over UDP and TCP on one port.
struct Upstream {
    addr: SocketAddr,
    /// The names asked, with the transport.
    seen: Arc<Mutex<Vec<(String, &'static str)>>>,
}

impl Upstream {
    async fn start(behaviour: Behaviour) -> Self {
        let (udp, tcp) = loop {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
            let port = udp.local_addr().expect("addr").port();
            // The same port number may be taken for TCP; try another pair then.
            if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
                break (udp, tcp);
            }
        };
        let addr = udp.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let udp_seen = seen.clone();
        tokio::spawn(async move {
            let mut buf = vec![0; 65535];
            while let Ok((len, peer)) = udp.recv_from(&mut buf).await {
                let answer = respond(&buf[..len], behaviour, true, &udp_seen);
                udp.send_to(&answer, peer).await.expect("upstream send");
            }
        });
        let tcp_seen = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = tcp.accept().await {
                let seen = tcp_seen.clone();
                tokio::spawn(async move {
                    while let Ok(len) = stream.read_u16().await {
                        let mut packet = vec![0; usize::from(len)];
                        stream.read_exact(&mut packet).await.expect("upstream read");
                        let answer = respond(&packet, behaviour, false, &seen);
                        let len = u16::try_from(answer.len()).expect("short answer");
                        stream.write_all(&len.to_be_bytes()).await.expect("upstream write");
                        stream.write_all(&answer).await.expect("upstream write");
                    }
                });
            }
        });
        Self { addr, seen }
    }

    fn seen(&self) -> Vec<(String, &'static str)> {
        self.seen.lock().expect("lock").clone()
    }
}

fn respond(
    packet: &[u8],
    behaviour: Behaviour,
    udp: bool,
    seen: &Mutex<Vec<(String, &'static str)>>,
) -> Vec<u8> {
    let query = Message::from_vec(packet).expect("the server forwards well-formed queries");
    let question = query.queries[0].clone();
    let name = question.name().to_ascii();
    seen.lock().expect("lock").push((name.clone(), if udp { "udp" } else { "tcp" }));
    let mut answer = Message::response(query.metadata.id, OpCode::Query);
    answer.metadata = Metadata::response_from_request(&query.metadata);
    answer.add_query(question.clone());
    match behaviour {
        Behaviour::Fail => answer.metadata.response_code = ResponseCode::ServFail,
        Behaviour::Answer if name.starts_with("big.") && udp => answer.metadata.truncation = true,
        Behaviour::Answer => {
            let ips: Vec<Ipv4Addr> = if name.starts_with("big.") {
                (1..=40).map(|i| Ipv4Addr::new(10, 1, 0, i)).collect()
            } else {
                vec![Ipv4Addr::new(192, 0, 2, 1)]
            };
            for ip in ips {
                answer.add_answer(Record::from_rdata(question.name().clone(), 30, RData::A(A(ip))));
            }
        }
    }
    answer.to_vec().expect("encode upstream answer")
}

/// A loopback port nothing listens on, so that both UDP and TCP fail at once.
fn dead_port() -> SocketAddr {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    socket.local_addr().expect("addr")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_names_are_forwarded_past_failing_upstreams() {
    let ns = Namespace::new();
    let failing = Upstream::start(Behaviour::Fail).await;
    let good = Upstream::start(Behaviour::Answer).await;
    let server = ns.start(&FakeNames::new(), vec![dead_port(), failing.addr, good.addr]);

    let over_udp = ask_udp(&ns, &query("unknown.example.", RecordType::A)).await;
    assert_eq!(over_udp.metadata.response_code, ResponseCode::NoError);
    assert_eq!(addresses(&over_udp), [Ipv4Addr::new(192, 0, 2, 1)]);
    let over_tcp = ask_tcp(&ns, &query("other.example.", RecordType::A)).await;
    assert_eq!(addresses(&over_tcp), [Ipv4Addr::new(192, 0, 2, 1)]);
    // Ours by name but not by type: upstream too.
    let txt = ask_udp(&ns, &query("web.", RecordType::TXT)).await;
    assert_eq!(txt.metadata.response_code, ResponseCode::NoError);

    let expected = [
        ("unknown.example.".to_owned(), "udp"),
        ("other.example.".to_owned(), "tcp"),
        ("web.".to_owned(), "udp"),
    ];
    assert_eq!(failing.seen(), expected, "the failing upstream was asked first");
    assert_eq!(good.seen(), expected);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_upstream_answer_is_fetched_again_over_tcp() {
    let ns = Namespace::new();
    let upstream = Upstream::start(Behaviour::Answer).await;
    let server = ns.start(&FakeNames::new(), vec![upstream.addr]);

    let mut big = query("big.example.", RecordType::A);
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    big.set_edns(edns);
    let answer = ask_udp(&ns, &big).await;
    assert!(!answer.metadata.truncation, "{answer}");
    assert_eq!(addresses(&answer).len(), 40);
    assert_eq!(
        upstream.seen(),
        [("big.example.".to_owned(), "udp"), ("big.example.".to_owned(), "tcp")]
    );

    // Without EDNS the client takes 512 bytes, which 40 addresses do not fit in.
    let answer = ask_udp(&ns, &query("big.example.", RecordType::A)).await;
    assert!(answer.metadata.truncation, "{answer}");
    assert!(answer.answers.is_empty());
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_working_upstream_unknown_names_get_servfail() {
    let ns = Namespace::new();
    let server = ns.start(&FakeNames::new(), Vec::new());
    let q = query("unknown.example.", RecordType::A);
    for answer in [ask_udp(&ns, &q).await, ask_tcp(&ns, &q).await] {
        assert_eq!(answer.metadata.response_code, ResponseCode::ServFail);
        assert_eq!(answer.queries, q.queries);
    }
    server.stop().await;

    let server = ns.start(&FakeNames::new(), vec![dead_port()]);
    assert_eq!(ask_udp(&ns, &q).await.metadata.response_code, ResponseCode::ServFail);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_is_survived_and_the_next_query_answered() {
    let ns = Namespace::new();
    let server = ns.start(&FakeNames::new(), Vec::new());
    let good = query("web.", RecordType::A);
    let packets = vec![
        b"\x01".to_vec(),
        vec![0xff; 12], // a header claiming to be a response: ignored
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\xff\x00".to_vec(),
        good.to_vec().expect("encode"),
    ];
    let answers = ns.run(move || udp_exchange(packets, 2)).await;
    assert_eq!(answers[0].metadata.id, 0x1234, "a readable header gets FORMERR");
    assert_eq!(answers[0].metadata.response_code, ResponseCode::FormErr);
    assert_eq!(answers[1].metadata.id, good.metadata.id, "nothing else was answered in between");
    assert_eq!(addresses(&answers[1]), [WEB]);

    // Over TCP a packet too short for a header ends the connection; a new one is served.
    let answers = ns.run(|| tcp_exchange(vec![b"\x01\x02".to_vec()])).await;
    assert!(answers.is_empty(), "{answers:?}");
    assert_eq!(addresses(&ask_tcp(&ns, &good).await), [WEB]);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_queries_are_all_answered() {
    let ns = Namespace::new();
    let upstream = Upstream::start(Behaviour::Answer).await;
    let server = ns.start(&FakeNames::new(), vec![upstream.addr]);
    let queries: Vec<Message> = (0..64)
        .map(|i| {
            let name = if i % 2 == 0 { "db.".to_owned() } else { format!("host{i}.example.") };
            let mut message = query(&name, RecordType::A);
            // Distinct IDs, to match answers to queries (random ones may collide).
            message.metadata.id = i;
            message
        })
        .collect();
    let packets = queries.iter().map(|q| q.to_vec().expect("encode")).collect();
    let answers = ns.run(move || udp_exchange(packets, 64)).await;
    let by_id: HashMap<u16, Message> = answers.into_iter().map(|a| (a.metadata.id, a)).collect();
    for q in &queries {
        let answer = by_id.get(&q.metadata.id).expect("every query answered");
        assert_eq!(answer.queries, q.queries);
        assert_eq!(addresses(answer).len(), 1, "{answer}");
    }
    assert_eq!(upstream.seen().len(), 32);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_or_dropping_the_server_frees_the_port() {
    let ns = Namespace::new();
    let names = FakeNames::new();
    let server = ns.start(&names, Vec::new());
    let taken = DnsServer::start(&ns.path, "c2".to_owned(), names.clone(), Vec::new());
    assert!(taken.is_err(), "the port is held while serving");

    server.stop().await;
    let server = ns.start(&names, Vec::new());
    assert_eq!(addresses(&ask_udp(&ns, &query("web.", RecordType::A)).await), [WEB]);

    drop(server);
    let deadline = Instant::now() + Duration::from_secs(5);
    let server = loop {
        match DnsServer::start(&ns.path, "c1".to_owned(), names.clone(), Vec::new()) {
            Ok(server) => break server,
            // The dropped server closes its sockets on the runtime; give it a turn.
            Err(_) if Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("the port is still taken after drop: {e}"),
        }
    };
    assert_eq!(addresses(&ask_tcp(&ns, &query("web.", RecordType::A)).await), [WEB]);
    server.stop().await;
}

#[test]
fn start_outside_a_runtime_or_namespace_fails_cleanly() {
    let names: Arc<dyn Names> = FakeNames::new();
    let err =
        DnsServer::start(Path::new("/nonexistent"), "c1".to_owned(), names.clone(), Vec::new())
            .err()
            .expect("no runtime");
    assert_eq!(err.kind(), berth_api::ErrorKind::System);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
    let _entered = runtime.enter();
    let err = DnsServer::start(Path::new("/nonexistent"), "c1".to_owned(), names, Vec::new())
        .err()
        .expect("no namespace");
    assert_eq!(err.kind(), berth_api::ErrorKind::NotFound);
}
