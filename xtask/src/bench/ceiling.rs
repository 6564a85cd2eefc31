//! The ceiling: a bare hyper HTTP/1.1 server answering `OK` to everything on
//! a unix socket, on a tokio runtime like berthd's. No daemon can answer
//! `/_ping` faster on this machine with this stack.
//!
//! `cargo xtask` itself is an unoptimized build, so the bench runs the
//! server in a release build of xtask (`bench --serve-ceiling SOCKET`), as a
//! child process, to compare like with like.

use std::convert::Infallible;
use std::os::unix::net::UnixListener as StdUnixListener;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

use crate::cmd;

/// How long the release-built server gets to bind its socket.
const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// Builds xtask in release and returns the binary's path.
pub(crate) fn build_release() -> Result<PathBuf> {
    cmd::run(cmd::cargo().args([
        "build",
        "--release",
        "--locked",
        "-p",
        "xtask",
        "--bin",
        "xtask",
    ]))?;
    let binary = crate::target_dir()?.join("release").join("xtask");
    if !binary.is_file() {
        bail!("cargo build succeeded but {} is missing", binary.display());
    }
    Ok(binary)
}

/// The server as a child process (`xtask bench --serve-ceiling SOCKET`).
/// Dropping it kills it: it holds no state worth a graceful stop.
#[derive(Debug)]
pub(crate) struct CeilingProcess {
    child: Option<Child>,
    socket: PathBuf,
}

impl CeilingProcess {
    /// Starts `xtask` serving `socket` and waits until the socket accepts.
    pub(crate) fn start(xtask: &Path, socket: &Path) -> Result<CeilingProcess> {
        let mut command = Command::new(xtask);
        command.args(["bench", "--serve-ceiling"]).arg(socket).stdin(Stdio::null());
        println!("$ {}", cmd::display(&command));
        let child = command.spawn().with_context(|| format!("starting {}", xtask.display()))?;
        let mut process = CeilingProcess { child: Some(child), socket: socket.to_path_buf() };
        let deadline = Instant::now() + READY_TIMEOUT;
        while UnixStream::connect(socket).is_err() {
            let child = process.child.as_mut().context("the ceiling server was stopped")?;
            if let Some(status) = child.try_wait().context("polling the ceiling server")? {
                bail!("the ceiling server exited during startup: {status}");
            }
            if Instant::now() >= deadline {
                bail!("the ceiling server did not listen within {READY_TIMEOUT:?}");
            }
            thread::sleep(cmd::POLL);
        }
        Ok(process)
    }

    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for CeilingProcess {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if let Err(err) = child.kill() {
            println!("killing the ceiling server: {err}");
        }
        if let Err(err) = child.wait() {
            println!("reaping the ceiling server: {err}");
        }
    }
}

/// `xtask bench --serve-ceiling SOCKET`: serves until killed.
pub(crate) fn serve_forever(socket: &Path) -> Result<()> {
    let listener =
        StdUnixListener::bind(socket).with_context(|| format!("binding {}", socket.display()))?;
    listener.set_nonblocking(true).context("making the listener non-blocking")?;
    // The sender stays alive (and unused) until the process is killed.
    let (_tx, rx) = oneshot::channel();
    serve(listener, rx)
}

/// Serves `listener` on a multi-threaded runtime until `shutdown` fires
/// (or its sender is dropped).
fn serve(listener: StdUnixListener, mut shutdown: oneshot::Receiver<()>) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the ceiling server's runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::UnixListener::from_std(listener)
            .context("handing the listener to tokio")?;
        loop {
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                accepted = listener.accept() => {
                    let (stream, _) = accepted.context("accepting a connection")?;
                    tokio::spawn(async move {
                        let service = service_fn(|_: Request<hyper::body::Incoming>| async {
                            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"OK"))))
                        });
                        // A client hanging up mid-request is not our concern here.
                        let _ = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::client::{Client, Outgoing};

    #[test]
    fn answers_ok_and_stops_when_told() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let socket = dir.path().join("ceiling.sock");
        let listener = StdUnixListener::bind(&socket)?;
        listener.set_nonblocking(true)?;
        let (tx, rx) = oneshot::channel();
        let server = thread::spawn(move || serve(listener, rx));
        let ping = Outgoing { method: "GET", path: "/_ping", headers: &[], body: Bytes::new() };
        let answer = Client::new()?.send(&socket, &ping);
        let _ = tx.send(());
        server.join().map_err(|_| anyhow::anyhow!("the server thread panicked"))??;
        let answer = answer?;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body, "OK");
        Ok(())
    }
}
