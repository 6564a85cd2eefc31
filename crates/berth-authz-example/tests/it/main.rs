//! Integration tests for `berth-authz-readonly`: the real binary on a socket in a temporary
//! directory, spoken to over HTTP/1.1 as the daemon speaks to it.

use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use berth_authz::wire::{
    ACCEPT, ACTIVATE_PATH, AUTHN_TLS, AUTHZ_REQUEST_PATH, AUTHZ_RESPONSE_PATH, AuthzRequest,
    Manifest, PluginResponse,
};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tempfile::TempDir;
use tokio::io::AsyncReadExt;
use tokio::net::UnixStream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;
use tokio::time::{Instant, sleep, timeout};

const DEADLINE: Duration = Duration::from_secs(10);

/// A running plugin; killed on drop.
struct Plugin {
    child: Child,
    socket: PathBuf,
    stderr: JoinHandle<String>,
    _dir: Option<TempDir>,
}

/// Starts the binary with `args` on `socket`, not waiting for it.
fn spawn(socket: &Path, args: &[&str]) -> (Child, JoinHandle<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth-authz-readonly"))
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start berth-authz-readonly");
    let mut pipe = child.stderr.take().expect("stderr is piped");
    // Read continuously so a chatty plugin never blocks on a full pipe.
    let stderr = tokio::spawn(async move {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text).await;
        text
    });
    (child, stderr)
}

impl Plugin {
    /// Starts the plugin on a socket in a fresh temporary directory.
    async fn start(args: &[&str]) -> Plugin {
        let dir = tempfile::tempdir().expect("tempdir");
        let socket = dir.path().join("berth-readonly.sock");
        let mut plugin = Plugin::start_at(&socket, args).await;
        plugin._dir = Some(dir);
        plugin
    }

    /// Starts the plugin on `socket` and waits until it accepts connections.
    async fn start_at(socket: &Path, args: &[&str]) -> Plugin {
        let (child, stderr) = spawn(socket, args);
        let mut plugin = Plugin { child, socket: socket.to_owned(), stderr, _dir: None };
        let deadline = Instant::now() + DEADLINE;
        loop {
            if UnixStream::connect(socket).await.is_ok() {
                return plugin;
            }
            if let Some(status) = plugin.child.try_wait().expect("poll the plugin") {
                let stderr = plugin.stderr.await.expect("stderr reader");
                panic!("plugin exited early ({status}): {stderr}");
            }
            assert!(Instant::now() < deadline, "plugin did not listen on {socket:?} in time");
            sleep(Duration::from_millis(10)).await;
        }
    }

    async fn post(&self, path: &str, body: impl Into<Bytes>) -> (StatusCode, Bytes) {
        post(&self.socket, path, body.into()).await
    }

    /// A request-phase call; the answer must be a 200.
    async fn authz(&self, request: &AuthzRequest) -> PluginResponse {
        self.call(AUTHZ_REQUEST_PATH, request).await
    }

    async fn call(&self, path: &str, request: &AuthzRequest) -> PluginResponse {
        let body = serde_json::to_vec(request).expect("serialize");
        let (status, answer) = self.post(path, body).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer:?}");
        serde_json::from_slice(&answer).expect("a plugin response")
    }

    /// Sends `signal` and waits for the plugin to exit; returns its status and stderr.
    async fn stop(mut self, signal: Signal) -> (ExitStatus, String) {
        let pid = self.child.id().expect("still running");
        kill(Pid::from_raw(i32::try_from(pid).expect("pid fits")), signal).expect("signal");
        let status = timeout(DEADLINE, self.child.wait())
            .await
            .expect("plugin exits after a signal")
            .expect("wait");
        let stderr = self.stderr.await.expect("stderr reader");
        (status, stderr)
    }
}

/// One HTTP/1.1 POST over the unix socket, as the daemon sends it.
async fn post(socket: &Path, path: &str, body: Bytes) -> (StatusCode, Bytes) {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let request = Request::post(path)
        .header(header::HOST, "plugin.moby.localhost")
        .header(header::ACCEPT, ACCEPT)
        .body(Full::new(body))
        .expect("valid request");
    let response = timeout(DEADLINE, sender.send_request(request))
        .await
        .expect("plugin answers in time")
        .expect("send");
    let status = response.status();
    let body = response.into_body().collect().await.expect("read body").to_bytes();
    (status, body)
}

fn request(method: &str, uri: &str) -> AuthzRequest {
    AuthzRequest {
        request_method: method.to_owned(),
        request_uri: uri.to_owned(),
        ..AuthzRequest::default()
    }
}

fn from_user(method: &str, uri: &str, user: &str) -> AuthzRequest {
    AuthzRequest {
        user: user.to_owned(),
        user_authn_method: AUTHN_TLS.to_owned(),
        ..request(method, uri)
    }
}

fn allowed() -> PluginResponse {
    PluginResponse { allow: true, ..PluginResponse::default() }
}

#[tokio::test]
async fn activate_answers_authz() {
    let plugin = Plugin::start(&[]).await;
    let (status, body) = plugin.post(ACTIVATE_PATH, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
    let manifest: Manifest = serde_json::from_slice(&body).expect("a manifest");
    assert_eq!(manifest.implements, ["authz"]);
}

#[tokio::test]
async fn get_and_head_are_allowed() {
    let plugin = Plugin::start(&[]).await;
    for (method, uri) in [
        ("GET", "/v1.51/containers/json?all=1"),
        ("GET", "/_ping"),
        ("HEAD", "/_ping"),
        ("GET", "/images/localhost:5000/team/app:1/json"),
    ] {
        assert_eq!(plugin.authz(&request(method, uri)).await, allowed(), "{method} {uri}");
    }
}

#[tokio::test]
async fn other_methods_are_denied_with_the_reason() {
    let plugin = Plugin::start(&[]).await;
    for (method, uri) in [
        ("POST", "/v1.51/containers/create"),
        ("DELETE", "/containers/web?force=1"),
        ("PUT", "/containers/web/archive?path=/tmp"),
        ("POST", "/_ping"),
        ("get", "/containers/json"),
    ] {
        let answer = plugin.authz(&request(method, uri)).await;
        let want = PluginResponse {
            allow: false,
            msg: format!("berth-readonly: {method} {uri} is not a read-only request"),
            err: String::new(),
        };
        assert_eq!(answer, want, "{method} {uri}");
    }
}

#[tokio::test]
async fn allowed_users_may_write() {
    let plugin = Plugin::start(&["--allow-user", "admin", "--allow-user", "ci"]).await;
    let create = "/v1.51/containers/create";
    assert_eq!(plugin.authz(&from_user("POST", create, "admin")).await, allowed());
    assert_eq!(plugin.authz(&from_user("DELETE", "/images/alpine", "ci")).await, allowed());
    assert_eq!(plugin.authz(&from_user("GET", "/info", "mallory")).await, allowed());
    let denied = plugin.authz(&from_user("POST", create, "mallory")).await;
    assert!(!denied.allow);
    assert_eq!(denied.msg, format!("berth-readonly: POST {create} is not a read-only request"));
    // No certificate, no user: the list does not apply.
    assert!(!plugin.authz(&request("POST", create)).await.allow);
}

#[tokio::test]
async fn responses_are_always_allowed() {
    let plugin = Plugin::start(&[]).await;
    let after_write = AuthzRequest {
        response_status_code: 201,
        response_body: br#"{"Id":"abc"}"#.to_vec(),
        ..request("POST", "/v1.51/containers/create")
    };
    assert_eq!(plugin.call(AUTHZ_RESPONSE_PATH, &after_write).await, allowed());
    let after_read = AuthzRequest { response_status_code: 200, ..request("GET", "/info") };
    assert_eq!(plugin.call(AUTHZ_RESPONSE_PATH, &after_read).await, allowed());
}

#[tokio::test]
async fn malformed_json_is_a_400_with_err() {
    let plugin = Plugin::start(&[]).await;
    for path in [AUTHZ_REQUEST_PATH, AUTHZ_RESPONSE_PATH] {
        for body in [&b"{not json"[..], b"", br#"{"RequestMethod": 7}"#] {
            let (status, answer) = plugin.post(path, Bytes::from_static(body)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body:?}");
            let answer: PluginResponse = serde_json::from_slice(&answer).expect("JSON error");
            assert!(!answer.allow);
            assert!(answer.err.starts_with("malformed JSON: "), "{path}: {:?}", answer.err);
        }
    }
    // The plugin is still serving.
    assert_eq!(plugin.authz(&request("GET", "/info")).await, allowed());
}

#[tokio::test]
async fn sigterm_and_sigint_remove_the_socket_and_exit_zero() {
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let plugin = Plugin::start(&[]).await;
        let socket = plugin.socket.clone();
        assert!(socket.exists());
        let (status, stderr) = plugin.stop(signal).await;
        assert!(status.success(), "{signal}: {status}; stderr: {stderr}");
        assert!(!socket.exists(), "{signal} left {socket:?} behind");
    }
}

#[tokio::test]
async fn each_decision_is_logged_without_the_body() {
    let plugin = Plugin::start(&["--allow-user", "admin"]).await;
    let secret = "do-not-log-me";
    let body = format!(r#"{{"Image":"alpine","Env":["TOKEN={secret}"]}}"#);
    let create = AuthzRequest {
        request_body: body.into_bytes(),
        ..request("POST", "/v1.51/containers/create")
    };
    assert!(!plugin.authz(&create).await.allow);
    assert!(plugin.authz(&from_user("POST", "/v1.51/containers/create", "admin")).await.allow);
    assert!(plugin.authz(&request("GET", "/v1.51/info")).await.allow);
    let (status, stderr) = plugin.stop(Signal::SIGTERM).await;
    assert!(status.success(), "{status}");

    let decisions: Vec<&str> = stderr.lines().filter(|l| l.contains("AuthZReq")).collect();
    assert_eq!(decisions.len(), 3, "{stderr}");
    let has = |line: &str, parts: &[&str]| parts.iter().all(|p| line.contains(p));
    let create = ["method=POST", "uri=/v1.51/containers/create"];
    assert!(has(decisions[0], &[&create[..], &["user=-", "decision=deny"]].concat()), "{stderr}");
    assert!(
        has(decisions[1], &[&create[..], &["user=admin", "decision=allow"]].concat()),
        "{stderr}"
    );
    assert!(has(decisions[2], &["method=GET", "uri=/v1.51/info", "decision=allow"]), "{stderr}");
    assert!(!stderr.contains(secret), "a request body reached the log: {stderr}");
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let socket = dir.path().join("berth-readonly.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists(), "a dropped listener leaves its socket file");

    let plugin = Plugin::start_at(&socket, &[]).await;
    let (status, _) = plugin.post(ACTIVATE_PATH, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn socket_is_0660_in_a_created_0755_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let plugins = dir.path().join("run/docker/plugins");
    let socket = plugins.join("berth-readonly.sock");
    let _plugin = Plugin::start_at(&socket, &[]).await;

    let meta = std::fs::metadata(&socket).expect("socket exists");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    let dir_mode = std::fs::metadata(&plugins).expect("directory exists").permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o755);
}

/// Starts the plugin on a path it must refuse; returns its stderr.
async fn refused(socket: &Path) -> String {
    let (mut child, stderr) = spawn(socket, &[]);
    let status: ExitStatus =
        timeout(DEADLINE, child.wait()).await.expect("plugin gives up in time").expect("wait");
    let stderr = stderr.await.expect("stderr reader");
    assert!(!status.success(), "{status}: {stderr}");
    stderr
}

#[tokio::test]
async fn a_live_socket_is_left_to_its_owner() {
    let first = Plugin::start(&[]).await;
    let stderr = refused(&first.socket).await;
    assert!(stderr.contains("is in use"), "{stderr}");
    let (status, _) = first.post(ACTIVATE_PATH, Bytes::new()).await;
    assert_eq!(status, StatusCode::OK, "the first plugin still serves");
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_never_removed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth-readonly.sock");
    std::fs::write(&path, "precious").expect("write");
    let stderr = refused(&path).await;
    assert!(stderr.contains("is not a socket"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&path).expect("still there"), "precious");
}
