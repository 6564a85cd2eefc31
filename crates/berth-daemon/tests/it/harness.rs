//! Starts `berthd` on a temporary socket and roots, and talks HTTP to it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// How long anything in these tests may take before it counts as hung.
pub(crate) const DEADLINE: Duration = Duration::from_secs(30);

pub(crate) fn berthd_bin() -> &'static str {
    env!("CARGO_BIN_EXE_berthd")
}

/// A running berthd; killed on drop if the test did not stop it.
pub(crate) struct Daemon {
    pub(crate) child: Child,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) socket: PathBuf,
}

/// Flags every test daemon gets: private roots, pidfile and config file, and a containerd socket
/// that does not exist, so tests of the API server do not start a containerd each (the engine
/// then answers 503). Tests of the engine use [`engine_args`].
pub(crate) fn base_args(dir: &Path) -> Vec<String> {
    let mut args = engine_args(dir);
    args.push("--containerd".into());
    args.push(dir.join("no-containerd.sock").display().to_string());
    args
}

/// Like [`base_args`], but berthd runs its own containerd.
pub(crate) fn engine_args(dir: &Path) -> Vec<String> {
    let p = |name: &str| dir.join(name).display().to_string();
    vec![
        "--data-root".into(),
        p("data"),
        "--exec-root".into(),
        p("exec"),
        "--pidfile".into(),
        p("berthd.pid"),
        "--config-file".into(),
        p("daemon.json"),
        "--group".into(),
        "root".into(),
    ]
}

impl Daemon {
    /// Starts berthd on `<tmp>/berth.sock` with `extra` flags and waits until it answers.
    pub(crate) async fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("daemon.json");
        Self::start_in(dir, extra).await
    }

    pub(crate) async fn start_in(dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let args = base_args(dir.path());
        Self::start_with(dir, args, extra).await
    }

    /// Starts berthd with `args` (see [`base_args`], [`engine_args`]) plus `extra`.
    pub(crate) async fn start_with(
        dir: tempfile::TempDir,
        mut args: Vec<String>,
        extra: &[&str],
    ) -> Self {
        let socket = dir.path().join("berth.sock");
        args.push("-H".into());
        args.push(format!("unix://{}", socket.display()));
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let log = std::fs::File::create(dir.path().join("berthd.log")).expect("log file");
        let child = Command::new(berthd_bin())
            .args(&args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn berthd");
        let mut daemon = Self { child, dir, socket };
        daemon.wait_ready().await;
        daemon
    }

    async fn wait_ready(&mut self) {
        let start = Instant::now();
        loop {
            if let Ok(res) = request(&self.socket, "GET", "/_ping", None).await
                && res.status == 200
            {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("berthd exited early ({status}): {}", self.log());
            }
            assert!(start.elapsed() < DEADLINE, "berthd never answered: {}", self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("berthd.log")).unwrap_or_default()
    }

    pub(crate) fn pid(&self) -> i32 {
        i32::try_from(self.child.id()).expect("pid fits")
    }

    pub(crate) fn signal(&self, signal: nix::sys::signal::Signal) {
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.pid()), signal).expect("signal");
    }

    /// SIGTERM, then wait for the exit status.
    pub(crate) async fn stop(&mut self) -> ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM);
        wait_exit(&mut self.child).await
    }

    pub(crate) async fn get(&self, path: &str) -> Response {
        request(&self.socket, "GET", path, None).await.expect("request")
    }
}

impl Drop for Daemon {
    /// SIGTERM first, so berthd stops the containerd it may run; SIGKILL if it hangs.
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal(nix::sys::signal::Signal::SIGTERM);
            let start = Instant::now();
            while start.elapsed() < DEADLINE {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits for a child to exit, with [`DEADLINE`].
pub(crate) async fn wait_exit(child: &mut Child) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        assert!(start.elapsed() < DEADLINE, "process did not exit");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: String,
}

impl Response {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// One request over a fresh unix-socket connection.
pub(crate) async fn request(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Response, Box<dyn std::error::Error + Send + Sync>> {
    let stream = UnixStream::connect(socket).await?;
    send_over(stream, method, path, body).await
}

/// One request over an already-connected stream.
pub(crate) async fn send_over<S>(
    stream: S,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<Response, Box<dyn std::error::Error + Send + Sync>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let mut builder = http::Request::builder().method(method).uri(path).header("host", "berth");
    if body.is_some() {
        builder = builder.header("content-type", "application/json");
    }
    let req = builder.body(Full::new(Bytes::from(body.unwrap_or("").to_owned())))?;
    let res = sender.send_request(req).await?;
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await?.to_bytes();
    Ok(Response { status, headers, body: String::from_utf8_lossy(&body).into_owned() })
}
