//! Authorization end to end inside berthd: a plugin over a real unix socket (a fake written here,
//! speaking dockerd's protocol), the built-in policy by unix peer uid and by certificate CN,
//! failing closed and fast, and SIGHUP swapping the chain under load.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use nix::sys::signal::Signal;
use tokio::net::UnixListener;
use tokio::task::JoinSet;

use crate::harness::{DEADLINE, Daemon, request, send_over};
use crate::tls::{client_cert, connect_as, start_tls};

/// Where dockerd (and berthd) look for plugin sockets.
const PLUGIN_DIR: &str = "/run/docker/plugins";

/// A unique plugin name for this test process and test.
fn plugin_name(test: &str) -> String {
    format!("berth-it-{}-{test}", std::process::id())
}

/// A fake authorization plugin: allows GET and HEAD, denies the rest with `read-only`.
/// Dropping it (or [`FakePlugin::kill`]) closes the listener and every connection, leaving the
/// socket file behind as a crashed plugin does.
struct FakePlugin {
    path: PathBuf,
    server: tokio::task::JoinHandle<()>,
    calls: Arc<AtomicU64>,
}

impl FakePlugin {
    fn start(name: &str) -> Self {
        std::fs::create_dir_all(PLUGIN_DIR).expect("plugin dir");
        let path = Path::new(PLUGIN_DIR).join(format!("{name}.sock"));
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).expect("bind plugin socket");
        let calls = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&calls);
        let server = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let Ok((stream, _)) = listener.accept().await else { return };
                let counter = Arc::clone(&counter);
                conns.spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        counter.fetch_add(1, Ordering::SeqCst);
                        answer(req)
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { path, server, calls }
    }

    fn kill(&self) {
        self.server.abort();
    }

    fn calls(&self) -> u64 {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Drop for FakePlugin {
    fn drop(&mut self) {
        self.server.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn answer(
    req: http::Request<Incoming>,
) -> Result<http::Response<Full<Bytes>>, std::convert::Infallible> {
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let reply = match path.as_str() {
        "/Plugin.Activate" => serde_json::json!({ "Implements": ["authz"] }),
        "/AuthZPlugin.AuthZReq" => {
            let request: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            let method = request["RequestMethod"].as_str().unwrap_or_default();
            if method == "GET" || method == "HEAD" {
                serde_json::json!({ "Allow": true })
            } else {
                serde_json::json!({ "Allow": false, "Msg": "read-only" })
            }
        }
        _ => serde_json::json!({ "Allow": true }),
    };
    Ok(http::Response::new(Full::new(Bytes::from(reply.to_string()))))
}

async fn post(daemon: &Daemon, path: &str) -> crate::harness::Response {
    request(&daemon.socket, "POST", path, Some("{}")).await.expect("request")
}

#[tokio::test]
async fn a_plugin_allows_reads_and_denies_writes_with_its_message() {
    let name = plugin_name("deny");
    let plugin = FakePlugin::start(&name);
    let daemon = Daemon::start(&["--authorization-plugin", &name]).await;

    let ping = daemon.get("/v1.51/_ping").await;
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
    let denied = post(&daemon, "/v1.51/containers/create").await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json()["message"],
        format!("authorization denied by plugin {name}: read-only")
    );
    // Authorization runs before the version middleware: a denial carries none of its headers.
    assert!(denied.headers.get("api-version").is_none(), "{:?}", denied.headers);
    assert!(plugin.calls() >= 3, "activation and the calls reached the plugin");
    let info = daemon.get("/info").await.json();
    assert_eq!(info["Plugins"]["Authorization"], serde_json::json!([name]));
}

#[tokio::test]
async fn a_dead_plugin_fails_closed_and_fast_then_recovers() {
    let name = plugin_name("dead");
    let plugin = FakePlugin::start(&name);
    let daemon = Daemon::start(&["--authorization-plugin", &name]).await;
    assert_eq!(daemon.get("/_ping").await.status, 200);

    plugin.kill();
    // Five requests fail closed; together they take far less than the ~15 s dockerd spends
    // retrying for each one.
    let start = Instant::now();
    for _ in 0..5 {
        let res = daemon.get("/_ping").await;
        assert_eq!(res.status, 500, "{}", res.body);
        let message = res.json()["message"].as_str().unwrap_or_default().to_owned();
        assert!(message.starts_with(&format!("plugin {name} failed with error: ")), "{message}");
    }
    assert!(start.elapsed() < Duration::from_secs(10), "took {:?}", start.elapsed());

    drop(plugin);
    let plugin = FakePlugin::start(&name);
    let start = Instant::now();
    while daemon.get("/_ping").await.status != 200 {
        assert!(start.elapsed() < DEADLINE, "the restarted plugin was never used again");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(plugin.calls() > 0);
    assert_eq!(post(&daemon, "/containers/create").await.status, 403);
}

#[tokio::test]
async fn a_missing_plugin_stops_startup() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let name = plugin_name("missing");
    let mut args = crate::harness::base_args(dir.path());
    args.extend(["-H".into(), format!("unix://{}", dir.path().join("b.sock").display())]);
    args.extend(["--authorization-plugin".into(), name.clone()]);
    let out = tokio::process::Command::new(crate::harness::berthd_bin())
        .args(&args)
        .output()
        .await
        .expect("run berthd");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("failed to validate authorization plugin"), "{stderr}");
    assert!(stderr.contains(&name), "{stderr}");
}

fn write_policy(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("authz.toml");
    std::fs::write(&path, text).expect("policy");
    path
}

#[tokio::test]
async fn the_policy_matches_the_unix_peer_uid() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    // These tests run as root: uid 0 may read, nobody else may do anything.
    let policy = write_policy(
        dir.path(),
        "[[rule]]\nname = \"root-reads\"\naction = \"allow\"\nuid = [0]\ngroups = [\"*:read\"]\n",
    );
    let policy = policy.display().to_string();
    let daemon = Daemon::start_in(dir, &["--authorization-policy", &policy]).await;
    assert_eq!(daemon.get("/info").await.status, 200);
    let denied = post(&daemon, "/v1.51/containers/create").await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        denied.json()["message"],
        "authorization denied by policy: no rule allows POST /containers/create"
    );

    // Another uid: even reads are refused.
    write_policy(
        daemon.dir.path(),
        "[[rule]]\nname = \"monitoring\"\naction = \"allow\"\nuid = [4242]\ngroups = [\"*:read\"]\n",
    );
    daemon.signal(Signal::SIGHUP);
    let start = Instant::now();
    while daemon_get_status(&daemon, "/info").await != 403 {
        assert!(start.elapsed() < DEADLINE, "policy not reloaded: {}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A broken file on reload keeps the running policy.
    write_policy(daemon.dir.path(), "[[rule]]\nname = \"x\"\naction = \"maybe\"\n");
    daemon.signal(Signal::SIGHUP);
    let start = Instant::now();
    while !daemon.log().contains("invalid authorization policy") {
        assert!(start.elapsed() < DEADLINE, "bad policy not reported: {}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(daemon_get_status(&daemon, "/info").await, 403, "the old policy still applies");
}

async fn daemon_get_status(daemon: &Daemon, path: &str) -> u16 {
    request(&daemon.socket, "GET", path, None).await.expect("request").status
}

#[tokio::test]
async fn the_policy_matches_the_client_certificate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let policy = write_policy(
        dir.path(),
        r#"
default = "allow"

[[rule]]
name = "ci-read-only"
action = "deny"
ou = ["ci"]
groups = ["*:write"]
message = "CI may only read"

[[rule]]
name = "no-bob"
action = "deny"
cn = ["bob"]
"#,
    );
    let policy = policy.display().to_string();
    let (daemon, certs, port) = start_tls(&["--authorization-policy", &policy]).await;
    let alice = client_cert(&certs.ca, "alice", Some("dev"));
    let bob = client_cert(&certs.ca, "bob", Some("dev"));
    let ci = client_cert(&certs.ca, "runner-1", Some("ci"));

    let over = |who| create_as(&certs, port, who);
    // Alice passes authorization; the engine (absent in these tests) answers.
    let res = over(&alice).await;
    assert_ne!(res.status, 403, "{}", res.body);
    let res = over(&bob).await;
    assert_eq!(res.status, 403, "{}\n{}", res.body, daemon.log());
    assert_eq!(res.json()["message"], "authorization denied by policy rule \"no-bob\"");
    let res = over(&ci).await;
    assert_eq!(res.status, 403);
    assert_eq!(
        res.json()["message"],
        "authorization denied by policy rule \"ci-read-only\": CI may only read"
    );
    let stream = connect_as(&certs, port, Some(&ci)).await.expect("handshake");
    assert_eq!(send_over(stream, "GET", "/_ping", None).await.expect("ping").status, 200);
    drop(daemon);
}

async fn create_as(
    certs: &crate::tls::Certs,
    port: u16,
    who: &crate::tls::ClientCert,
) -> crate::harness::Response {
    let stream = connect_as(certs, port, Some(who)).await.expect("handshake");
    send_over(stream, "POST", "/v1.51/containers/create", Some("{}")).await.expect("request")
}

/// Sends GET requests, each on a new connection, until `stop`; counts answers that are not 200.
async fn hammer(socket: PathBuf, stop: Arc<AtomicBool>, ok: Arc<AtomicU64>, bad: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        for path in ["/_ping", "/v1.51/version", "/info"] {
            match request(&socket, "GET", path, None).await {
                Ok(res) if res.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                _ => bad.fetch_add(1, Ordering::Relaxed),
            };
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reloads_swap_the_chain_under_load_without_a_failed_request() {
    let name = plugin_name("reload");
    let _plugin = FakePlugin::start(&name);
    let daemon = Daemon::start(&[]).await;
    let config = daemon.dir.path().join("daemon.json");
    let policy = write_policy(
        daemon.dir.path(),
        "[[rule]]\nname = \"reads\"\naction = \"allow\"\ngroups = [\"*:read\"]\n",
    );
    let stop = Arc::new(AtomicBool::new(false));
    let ok = Arc::new(AtomicU64::new(0));
    let bad = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..4)
        .map(|_| tokio::spawn(hammer(daemon.socket.clone(), stop.clone(), ok.clone(), bad.clone())))
        .collect();

    // Every chain lets reads through and refuses a create; each reload must be in force before
    // the next.
    let configs = [
        serde_json::json!({ "authorization-plugins": [name] }),
        serde_json::json!({ "authorization-policy": policy }),
        serde_json::json!({ "authorization-plugins": [name], "authorization-policy": policy }),
        serde_json::json!({}),
        serde_json::json!({ "authorization-plugins": [name] }),
    ];
    for config_json in configs {
        std::fs::write(&config, config_json.to_string()).expect("write config");
        daemon.signal(Signal::SIGHUP);
        let expect_denial = config_json.as_object().is_some_and(|o| !o.is_empty());
        let start = Instant::now();
        loop {
            let status = post(&daemon, "/containers/create").await.status;
            if (status == 403) == expect_denial {
                break;
            }
            assert!(start.elapsed() < DEADLINE, "{config_json} never applied: {}", daemon.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.await.expect("client");
    }
    assert_eq!(bad.load(Ordering::Relaxed), 0, "{} reads answered", ok.load(Ordering::Relaxed));
    assert!(ok.load(Ordering::Relaxed) > 0);

    // An unknown plugin on reload keeps the running chain.
    std::fs::write(
        &config,
        serde_json::json!({ "authorization-plugins": ["no-such-plugin-x"] }).to_string(),
    )
    .expect("write config");
    daemon.signal(Signal::SIGHUP);
    let start = Instant::now();
    while !daemon.log().contains("failed to validate authorization plugin") {
        assert!(start.elapsed() < DEADLINE, "bad plugin not reported: {}", daemon.log());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(post(&daemon, "/containers/create").await.status, 403, "old chain kept");
}
