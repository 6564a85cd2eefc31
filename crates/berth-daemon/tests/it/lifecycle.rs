//! Start-up, sockets, validation and graceful shutdown.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Command;

use crate::harness::{Daemon, base_args, berthd_bin, request};

#[tokio::test]
async fn unix_socket_is_0660_with_the_requested_group_and_serves_the_api() {
    let mut daemon = Daemon::start(&[]).await;
    let meta = std::fs::metadata(&daemon.socket).expect("socket exists");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 0, "--group root");

    let ping = daemon.get("/_ping").await;
    assert_eq!(ping.body, "OK");
    assert_eq!(ping.headers.get("api-version").and_then(|v| v.to_str().ok()), Some("1.51"));
    let version = daemon.get("/v1.41/version").await.json();
    assert_eq!(version["Version"], env!("CARGO_PKG_VERSION"));
    let info = daemon.get("/info").await.json();
    let data_root = daemon.dir.path().join("data");
    assert_eq!(info["DockerRootDir"], data_root.display().to_string());
    let id = std::fs::read_to_string(data_root.join("engine-id")).expect("engine-id persisted");
    assert_eq!(info["ID"], id.trim());

    let status = daemon.stop().await;
    assert!(status.success(), "graceful exit: {status}: {}", daemon.log());
    assert!(!daemon.socket.exists(), "socket removed on shutdown");
    assert!(!daemon.dir.path().join("berthd.pid").exists(), "pidfile removed");
}

#[tokio::test]
async fn a_live_socket_is_never_stolen_but_a_stale_one_is_replaced() {
    let daemon = Daemon::start(&[]).await;
    // Second daemon, same socket, other roots.
    let other = tempfile::tempdir().expect("tempdir");
    std::fs::write(other.path().join("daemon.json"), "{}").expect("config");
    let out = Command::new(berthd_bin())
        .args(base_args(other.path()))
        .args(["-H", &format!("unix://{}", daemon.socket.display())])
        .output()
        .expect("run second berthd");
    assert!(!out.status.success(), "second daemon must refuse");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already"), "clear reason: {stderr}");
    assert_eq!(daemon.get("/_ping").await.body, "OK", "first daemon unharmed");

    // A stale socket file (bound, then the listener dropped) is removed and reused.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let stale = dir.path().join("berth.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).expect("bind"));
    assert!(stale.exists());
    let fresh = Daemon::start_in(dir, &[]).await;
    assert_eq!(request(&fresh.socket, "GET", "/_ping", None).await.expect("ping").body, "OK");
}

#[tokio::test]
async fn validate_checks_the_configuration_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("daemon.json");
    let run = |extra: &[&str]| {
        Command::new(berthd_bin())
            .args(["--validate", "--config-file", &config.display().to_string()])
            .args(extra)
            .output()
            .expect("run berthd --validate")
    };
    std::fs::write(&config, r#"{"debug": true, "labels": ["team=infra"]}"#).expect("write");
    let ok = run(&[]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    assert!(String::from_utf8_lossy(&ok.stderr).contains("configuration OK"));

    let conflict = run(&["--debug"]);
    assert!(!conflict.status.success());
    assert!(String::from_utf8_lossy(&conflict.stderr).contains("debug"));

    std::fs::write(&config, r#"{"colour": "blue"}"#).expect("write");
    let unknown = run(&[]);
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("colour"));

    let missing = Command::new(berthd_bin())
        .args(["--validate", "--config-file", "/nonexistent/daemon.json"])
        .output()
        .expect("run");
    assert!(!missing.status.success(), "an explicit config file must exist");
}

#[tokio::test]
async fn shutdown_waits_for_in_flight_requests_and_ends_event_streams() {
    let mut daemon = Daemon::start(&[]).await;
    // A long-lived events stream must not hold the daemon for the whole shutdown timeout.
    let socket = daemon.socket.clone();
    let watcher = tokio::spawn(async move { request(&socket, "GET", "/events", None).await });
    // Wait until the daemon counts the listener, so the stream is really open.
    let start = std::time::Instant::now();
    while daemon.get("/info").await.json()["NEventsListener"] != 1 {
        assert!(start.elapsed() < crate::harness::DEADLINE, "events listener never registered");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let began = std::time::Instant::now();
    let status = daemon.stop().await;
    assert!(status.success(), "{status}: {}", daemon.log());
    assert!(
        began.elapsed() < std::time::Duration::from_secs(10),
        "did not wait for the 15 s timeout"
    );
    let events = watcher.await.expect("join").expect("events answered 200 and ended");
    assert_eq!(events.status, 200);
}

#[tokio::test]
async fn json_log_format_writes_one_json_object_per_line() {
    let mut daemon = Daemon::start(&["--log-format", "json", "--debug"]).await;
    daemon.get("/_ping").await;
    assert!(daemon.stop().await.success());
    let log = daemon.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 3, "{log}");
    for line in &lines {
        let value: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(value.get("level").is_some(), "{line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"path\":\"/_ping\"") && l.contains("request_id")),
        "debug logs carry the request span: {log}"
    );
}
