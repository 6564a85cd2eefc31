//! SIGHUP reloads under load: every request succeeds, every reload is applied and announced.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use nix::sys::signal::Signal;
use tokio::net::UnixStream;

use crate::harness::{DEADLINE, Daemon, request};

const RELOADS: usize = 20;
const CLIENTS: usize = 8;

fn unix_seconds() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs_f64()
}

/// A client on one keep-alive connection, sending requests until `stop`.
async fn hammer(
    socket: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
) {
    let paths = ["/_ping", "/v1.51/version", "/info", "/v1.45/_ping"];
    let mut n = 0usize;
    while !stop.load(Ordering::Relaxed) {
        let stream = match UnixStream::connect(&socket).await {
            Ok(s) => s,
            Err(_) => {
                failed.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let Ok((mut sender, conn)) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
        else {
            failed.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        tokio::spawn(async move {
            let _ = conn.await;
        });
        // Up to 50 requests per connection, so swaps happen under open keep-alive connections.
        for _ in 0..50 {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            n += 1;
            let req = http::Request::get(paths[n % paths.len()])
                .header("host", "berth")
                .body(Empty::<Bytes>::new())
                .expect("request");
            let good = match sender.send_request(req).await {
                Ok(res) => {
                    let status = res.status();
                    res.into_body().collect().await.is_ok() && status == 200
                }
                Err(_) => false,
            };
            if good {
                ok.fetch_add(1, Ordering::Relaxed)
            } else {
                failed.fetch_add(1, Ordering::Relaxed)
            };
        }
    }
}

async fn reload_events_since(daemon: &Daemon, since: f64) -> Vec<serde_json::Value> {
    let path = format!(
        "/events?since={since:.9}&until={:.9}&filters=%7B%22type%22%3A%5B%22daemon%22%5D%7D",
        unix_seconds()
    );
    let res = request(&daemon.socket, "GET", &path, None).await.expect("events");
    assert_eq!(res.status, 200, "{}", res.body);
    res.body.lines().map(|l| serde_json::from_str(l).expect("event JSON")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_reloads_under_load_lose_no_request() {
    let daemon = Daemon::start(&[]).await;
    let config = daemon.dir.path().join("daemon.json");
    let since = unix_seconds();
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(hammer(daemon.socket.clone(), stop.clone(), ok.clone(), failed.clone()))
        })
        .collect();

    for i in 0..RELOADS {
        let debug = i % 2 == 0;
        std::fs::write(&config, format!(r#"{{"debug": {debug}, "labels": ["reload={i}"]}}"#))
            .expect("write config");
        daemon.signal(Signal::SIGHUP);
        // Signals coalesce: wait until this reload is announced before sending the next.
        let start = Instant::now();
        while reload_events_since(&daemon, since).await.len() < i + 1 {
            assert!(start.elapsed() < DEADLINE, "reload {i} never happened: {}", daemon.log());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client task");
    }

    let events = reload_events_since(&daemon, since).await;
    assert_eq!(events.len(), RELOADS, "one reload event per SIGHUP");
    assert!(events.iter().all(|e| e["Action"] == "reload"));
    let last = &events[RELOADS - 1]["Actor"]["Attributes"];
    assert_eq!(last["labels"], format!(r#"["reload={}"]"#, RELOADS - 1));

    let info = daemon.get("/info").await.json();
    assert_eq!(info["Labels"][0], format!("reload={}", RELOADS - 1), "last reload applied");
    assert_eq!(info["Debug"], false);

    let served = ok.load(Ordering::Relaxed);
    assert_eq!(failed.load(Ordering::Relaxed), 0, "{served} requests served, some failed");
    assert!(served > 0, "the clients made requests");
}

#[tokio::test]
async fn an_invalid_file_on_reload_keeps_the_running_configuration() {
    let daemon = Daemon::start(&[]).await;
    let config = daemon.dir.path().join("daemon.json");
    std::fs::write(&config, r#"{"labels": ["good=1"], "experimental": true}"#).expect("write");
    daemon.signal(Signal::SIGHUP);
    let start = Instant::now();
    while daemon.get("/info").await.json()["Labels"][0] != "good=1" {
        assert!(start.elapsed() < DEADLINE, "reload not applied");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let ping = daemon.get("/_ping").await;
    assert_eq!(
        ping.headers.get("docker-experimental").and_then(|v| v.to_str().ok()),
        Some("true"),
        "experimental reloaded"
    );

    std::fs::write(&config, r#"{"labels": ["bad"], "unknown-key": 1}"#).expect("write");
    daemon.signal(Signal::SIGHUP);
    let start = Instant::now();
    while !daemon.log().contains("Error reloading configuration") {
        assert!(start.elapsed() < DEADLINE, "bad reload not reported");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(daemon.log().contains("unknown-key"), "the log names the key");
    assert_eq!(daemon.get("/info").await.json()["Labels"][0], "good=1", "old config kept");
}
