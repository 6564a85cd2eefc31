//! Clients that misbehave, and a daemon out of file descriptors, never stop the others; the
//! protocol limits (header size, header read and idle timeout, connection cap, JSON bodies) hold.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use crate::harness::{DEADLINE, Daemon, base_args, berthd_bin, request};

/// The test hooks of berthd's protocol limits (see `serve.rs`).
const HEADER_READ_TIMEOUT_ENV: &str = "BERTHD_TEST_HEADER_READ_TIMEOUT_MS";
const MAX_CONNECTIONS_ENV: &str = "BERTHD_TEST_MAX_CONNECTIONS";

/// Starts berthd with `env` added to its environment and waits until it answers.
async fn start_with_env(env: &[(&str, &str)]) -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("daemon.json");
    let socket = dir.path().join("berth.sock");
    let log = std::fs::File::create(dir.path().join("berthd.log")).expect("log");
    let child = Command::new(berthd_bin())
        .args(base_args(dir.path()))
        .args(["-H", &format!("unix://{}", socket.display())])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
        .expect("spawn berthd");
    let mut daemon = Daemon { child, dir, socket };
    let start = Instant::now();
    loop {
        if let Ok(res) = request(&daemon.socket, "GET", "/_ping", None).await
            && res.status == 200
        {
            return daemon;
        }
        if let Ok(Some(status)) = daemon.child.try_wait() {
            panic!("berthd exited early ({status}): {}", daemon.log());
        }
        assert!(start.elapsed() < DEADLINE, "berthd never answered: {}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Sends `bytes` on a fresh connection (from another task, ignoring write errors: the daemon
/// may answer and close before it has read everything) and returns all the daemon wrote until
/// it closed the connection. A reset after the answer (the daemon closed with part of the
/// request unread) ends the answer too.
async fn exchange(socket: &Path, bytes: Vec<u8>) -> String {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let (mut rx, mut tx) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = tx.write_all(&bytes).await;
        tx
    });
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match tokio::time::timeout(DEADLINE, rx.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => break,
            Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
            Err(_) => panic!("connection still open after {DEADLINE:?}"),
        }
    }
    drop(writer.await);
    String::from_utf8_lossy(&answer).into_owned()
}

/// Sends `GET /_ping` on a kept-alive connection and reads the answer.
async fn ping_on(conn: &mut UnixStream) {
    conn.write_all(b"GET /_ping HTTP/1.1\r\nHost: berth\r\n\r\n").await.expect("write");
    let mut answer = Vec::new();
    let mut buf = [0; 1024];
    while !answer.ends_with(b"\r\n\r\nOK") {
        let n = tokio::time::timeout(DEADLINE, conn.read(&mut buf))
            .await
            .expect("ping answered")
            .expect("read");
        assert!(n > 0, "closed mid-answer: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
}

/// Waits until the daemon closes `conn` (EOF or reset).
async fn closed(conn: &mut UnixStream) {
    let mut buf = [0; 1024];
    loop {
        match tokio::time::timeout(DEADLINE, conn.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return,
            Ok(Ok(_)) => {}
            Err(_) => panic!("connection still open after {DEADLINE:?}"),
        }
    }
}

fn occurrences(log: &str, text: &str) -> usize {
    log.lines().filter(|line| line.contains(text)).count()
}

#[tokio::test]
async fn silent_and_half_sent_requests_do_not_stall_other_clients() {
    let daemon = Daemon::start(&[]).await;
    // One client connects and says nothing; another sends half a request line and stops.
    let _silent = UnixStream::connect(&daemon.socket).await.expect("connect");
    let mut partial = UnixStream::connect(&daemon.socket).await.expect("connect");
    partial.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\n").await.expect("write");
    for _ in 0..20 {
        let ping = tokio::time::timeout(Duration::from_secs(5), daemon.get("/_ping")).await;
        assert_eq!(ping.expect("served while others stall").body, "OK");
    }
}

#[tokio::test]
async fn running_out_of_file_descriptors_backs_off_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let socket = dir.path().join("berth.sock");
    let log = std::fs::File::create(dir.path().join("berthd.log")).expect("log");
    // A tiny descriptor limit makes accept fail with EMFILE once a few clients are connected.
    let mut child = Command::new("prlimit")
        .arg("--nofile=48")
        .arg(berthd_bin())
        .args(base_args(dir.path()))
        .args(["-H", &format!("unix://{}", socket.display()), "--debug"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup"))
        .stderr(log)
        .spawn()
        .expect("spawn berthd under prlimit");
    let start = Instant::now();
    while request(&socket, "GET", "/_ping", None).await.is_err() {
        assert!(child.try_wait().expect("try_wait").is_none(), "berthd exited");
        assert!(start.elapsed() < DEADLINE, "berthd never answered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let read_log = || std::fs::read_to_string(dir.path().join("berthd.log")).unwrap_or_default();

    // Hold far more connections than the daemon can accept.
    let mut held = Vec::new();
    for _ in 0..80 {
        held.push(UnixStream::connect(&socket).await.expect("the backlog takes the connection"));
    }
    let start = Instant::now();
    while !read_log().contains("accept failed; backing off") {
        assert!(start.elapsed() < DEADLINE, "no EMFILE back-off logged: {}", read_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        child.try_wait().expect("try_wait").is_none(),
        "accept errors must not kill the daemon"
    );

    drop(held);
    let start = Instant::now();
    loop {
        if let Ok(Ok(res)) =
            tokio::time::timeout(Duration::from_secs(2), request(&socket, "GET", "/_ping", None))
                .await
            && res.body == "OK"
        {
            break;
        }
        assert!(start.elapsed() < DEADLINE, "daemon did not recover: {}", read_log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn request_heads_up_to_dockerds_1_mib_are_served_and_larger_ones_get_431() {
    let daemon = Daemon::start(&[]).await;
    let with_header = |len: usize| {
        format!(
            "GET /_ping HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nX-Big: {}\r\n\r\n",
            "a".repeat(len)
        )
        .into_bytes()
    };
    // More than hyper's default buffer (~400 KiB), as X-Registry-Config can be.
    let answer = exchange(&daemon.socket, with_header(900 << 10)).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK") && answer.ends_with("OK"), "{answer}");

    for head in [
        with_header(2 << 20),
        format!("GET /_ping?x={} HTTP/1.1\r\nHost: berth\r\n\r\n", "a".repeat(2 << 20))
            .into_bytes(),
        // Never ends: the daemon must stop buffering at the limit, not wait for the end.
        format!("GET /_ping HTTP/1.1\r\nX-Endless: {}", "a".repeat(8 << 20)).into_bytes(),
    ] {
        let answer = exchange(&daemon.socket, head).await;
        assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    }
    assert_eq!(daemon.get("/_ping").await.body, "OK");
}

#[tokio::test]
async fn clients_that_send_nothing_half_a_request_or_a_trickle_are_dropped() {
    let timeout = Duration::from_millis(1000);
    let daemon = start_with_env(&[(HEADER_READ_TIMEOUT_ENV, "1000")]).await;
    let mut stalls = Vec::new();
    for partial in [
        &b""[..],
        b"GET /_ping HT",
        b"GET /_ping HTTP/1.1\r\nHost: berth\r\n",
        // The start of the HTTP/2 preface: the daemon must wait for more to tell HTTP/1 from 2.
        b"PRI * HTTP/2.0\r\n",
    ] {
        let socket = daemon.socket.clone();
        stalls.push(tokio::spawn(async move {
            // Timed from before connecting: the daemon's clock starts when it accepts.
            let start = Instant::now();
            let mut conn = UnixStream::connect(&socket).await.expect("connect");
            conn.write_all(partial).await.expect("write");
            closed(&mut conn).await;
            (String::from_utf8_lossy(partial).into_owned(), start.elapsed())
        }));
    }
    // Slowloris: a byte every 100 ms, never finishing the head; progress does not reset the
    // timer.
    let socket = daemon.socket.clone();
    stalls.push(tokio::spawn(async move {
        let start = Instant::now();
        let conn = UnixStream::connect(&socket).await.expect("connect");
        let (mut rx, mut tx) = conn.into_split();
        let trickle = tokio::spawn(async move {
            for byte in b"GET /_ping HTTP/1.1\r\nX-Slow: ".iter().cycle() {
                if tx.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        let mut buf = [0; 64];
        let n = tokio::time::timeout(DEADLINE, rx.read(&mut buf)).await.expect("dropped");
        assert!(matches!(n, Ok(0) | Err(_)), "no answer expected: {n:?}");
        trickle.abort();
        ("trickle".to_owned(), start.elapsed())
    }));
    for stall in stalls {
        let (what, took) = stall.await.expect("client task");
        assert!(took >= timeout, "{what:?} dropped after {took:?}, before the timeout");
    }
    assert_eq!(daemon.get("/_ping").await.body, "OK");
}

#[tokio::test]
async fn http2_prior_knowledge_is_refused_as_by_dockerd_28() {
    let daemon = Daemon::start(&[]).await;
    // The preface and an empty SETTINGS frame, as `curl --http2-prior-knowledge` starts.
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let answer = exchange(&daemon.socket, hello).await;
    assert_eq!(answer, "", "closed without an answer");
    // A request line that starts like the preface is still HTTP/1.
    let answer = exchange(
        &daemon.socket,
        b"PRIX / HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n\r\n".to_vec(),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 "), "{answer}");
    assert_eq!(daemon.get("/_ping").await.body, "OK");
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_but_long_answers_are_not() {
    let timeout = Duration::from_millis(1000);
    let daemon = start_with_env(&[(HEADER_READ_TIMEOUT_ENV, "1000")]).await;

    let mut idle = UnixStream::connect(&daemon.socket).await.expect("connect");
    ping_on(&mut idle).await;
    ping_on(&mut idle).await;
    // The daemon starts counting when it has written the answer, a little before we start.
    let idle_since = Instant::now();
    closed(&mut idle).await;
    let took = idle_since.elapsed();
    assert!(took >= timeout / 2, "closed after {took:?}, long before the idle timeout");

    // An events stream sends nothing for longer than the timeout, then still delivers.
    let mut events = UnixStream::connect(&daemon.socket).await.expect("connect");
    events.write_all(b"GET /events HTTP/1.1\r\nHost: berth\r\n\r\n").await.expect("write");
    let start = Instant::now();
    while daemon.get("/info").await.json()["NEventsListener"] != 1 {
        assert!(start.elapsed() < DEADLINE, "events listener never registered");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Not synchronisation: the point is to let the timeout pass, several times over.
    tokio::time::sleep(timeout * 3).await;
    daemon.signal(nix::sys::signal::Signal::SIGHUP);
    let mut answer = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&answer).contains("\"reload\"") {
        let n = tokio::time::timeout(DEADLINE, events.read(&mut buf))
            .await
            .expect("reload event delivered")
            .expect("read");
        assert!(n > 0, "events stream closed: {}", String::from_utf8_lossy(&answer));
        answer.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn at_the_connection_cap_clients_wait_in_the_backlog_and_it_is_logged_once() {
    let daemon = start_with_env(&[(MAX_CONNECTIONS_ENV, "20")]).await;
    let mut held = Vec::new();
    for _ in 0..20 {
        let mut conn = UnixStream::connect(&daemon.socket).await.expect("connect");
        ping_on(&mut conn).await;
        held.push(conn);
    }
    let start = Instant::now();
    while occurrences(&daemon.log(), "connection limit reached") == 0 {
        assert!(start.elapsed() < DEADLINE, "cap not logged: {}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Over the cap: connecting works (the backlog), answers wait.
    let mut waiting = Vec::new();
    for _ in 0..5 {
        let socket = daemon.socket.clone();
        waiting.push(tokio::spawn(async move {
            let mut conn = UnixStream::connect(&socket).await.expect("the backlog takes it");
            ping_on(&mut conn).await;
        }));
    }
    let early = tokio::time::timeout(Duration::from_millis(500), async {
        for task in &mut waiting {
            task.await.expect("client");
        }
    })
    .await;
    assert!(early.is_err(), "a client over the cap was served");

    // One connection closes: its slot serves the waiting clients one after another, so the
    // listener stays at its cap and logs nothing more. (Closing all of them at once would let
    // it drop well under the cap and reach it again while the waiting clients come in.)
    drop(held.pop());
    for task in waiting {
        tokio::time::timeout(DEADLINE, task)
            .await
            .expect("served through the freed slot")
            .expect("client");
    }
    assert_eq!(occurrences(&daemon.log(), "back under the connection limit"), 0);

    drop(held);
    let start = Instant::now();
    while occurrences(&daemon.log(), "back under the connection limit") == 0 {
        assert!(start.elapsed() < DEADLINE, "recovery not logged: {}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let log = daemon.log();
    assert_eq!(occurrences(&log, "connection limit reached"), 1, "{log}");
    assert_eq!(occurrences(&log, "back under the connection limit"), 1, "{log}");
}

#[tokio::test]
async fn json_bodies_over_10_mib_get_413_and_absurd_nesting_400() {
    let daemon = Daemon::start(&[]).await;
    let message = |answer: &str| -> serde_json::Value {
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
    };
    let too_large = serde_json::json!({
        "message": "request body is too large: JSON request bodies are limited to 10 MiB (10485760 bytes)"
    });

    // Declared: refused before reading.
    let head = "POST /volumes/create HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n\
                Content-Length: 11534336\r\n\r\n";
    let answer = exchange(&daemon.socket, head.as_bytes().to_vec()).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert_eq!(message(&answer), too_large);

    // Chunked: cut while reading.
    let mut chunked = b"POST /v1.41/volumes/create HTTP/1.1\r\nHost: berth\r\n\
                        Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        .to_vec();
    for _ in 0..12 {
        chunked.extend_from_slice(b"100000\r\n");
        chunked.extend_from_slice(&[b' '; 1 << 20]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let answer = exchange(&daemon.socket, chunked).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert_eq!(message(&answer), too_large);

    let nested = "[".repeat(100_000);
    let res =
        request(&daemon.socket, "POST", "/volumes/create", Some(&nested)).await.expect("answered");
    assert_eq!(res.status, 400, "{}", res.body);
    let text = res.json()["message"].as_str().expect("message").to_owned();
    assert!(text.starts_with("invalid JSON: recursion limit exceeded"), "{text}");
    assert_eq!(daemon.get("/_ping").await.body, "OK");
}
