//! Clients that misbehave, and a daemon out of file descriptors, never stop the others.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tokio::io::AsyncWriteExt;
use tokio::net::UnixStream;

use crate::harness::{DEADLINE, Daemon, base_args, berthd_bin, request};

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
