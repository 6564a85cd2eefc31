//! A registry just big enough for `docker pull` (plain HTTP on 127.0.0.1, no auth, one
//! connection per request), which can stop in the middle of a blob until told to go on: a pull
//! that is exactly half-way, whenever the test wants it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::images::{digest, image_config};

const MANIFEST_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";

#[derive(Default)]
struct State {
    blobs: Mutex<HashMap<String, Vec<u8>>>,
    manifests: Mutex<HashMap<String, Vec<u8>>>,
    /// The blob whose answer stops half-way.
    stall: Mutex<Option<String>>,
    /// Answers stopped half-way so far.
    stalled: AtomicUsize,
    /// Stopped answers whose client hung up while waiting.
    abandoned: AtomicUsize,
}

/// A running registry; stops when dropped.
pub(crate) struct Registry {
    port: u16,
    state: Arc<State>,
    release: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Registry {
    pub(crate) async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State::default());
        let (release, released) = watch::channel(false);
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(serve(conn, Arc::clone(&served), released.clone()));
            }
        });
        Self { port, state, release, task }
    }

    /// `127.0.0.1:<port>/<repo>`.
    pub(crate) fn repo(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }

    /// Stores image `repo:tag` with `layers` (uncompressed tars).
    pub(crate) fn push(&self, repo: &str, tag: &str, layers: &[Vec<u8>]) {
        let config = image_config(layers);
        let mut blobs = self.state.blobs.lock().expect("lock");
        let layer_descs: Vec<_> = layers
            .iter()
            .map(|l| {
                blobs.insert(digest(l), l.clone());
                json!({
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(l),
                    "size": l.len(),
                })
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": digest(&config),
                "size": config.len(),
            },
            "layers": layer_descs,
        });
        blobs.insert(digest(&config), config);
        self.state
            .manifests
            .lock()
            .expect("lock")
            .insert(format!("{repo}:{tag}"), manifest.to_string().into_bytes());
    }

    /// Makes the answers for blob `digest` stop half-way until [`Registry::release`].
    pub(crate) fn stall(&self, digest: &str) {
        *self.state.stall.lock().expect("lock") = Some(digest.to_owned());
    }

    /// Lets stopped answers finish, and answers whole from now on.
    pub(crate) fn release(&self) {
        *self.state.stall.lock().expect("lock") = None;
        self.release.send_replace(true);
    }

    /// How many answers stopped half-way.
    pub(crate) fn stalled(&self) -> usize {
        self.state.stalled.load(Ordering::SeqCst)
    }

    /// How many stopped answers the client hung up on.
    pub(crate) fn abandoned(&self) -> usize {
        self.state.abandoned.load(Ordering::SeqCst)
    }
}

async fn serve(mut conn: TcpStream, state: Arc<State>, mut released: watch::Receiver<bool>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
        // The TLS attempt berthd makes first (dockerd does the same): hang up at once.
        if head.first() == Some(&0x16) || head.len() > 64 * 1024 {
            return;
        }
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut words = text.split_whitespace();
    let (method, path) = (words.next().unwrap_or_default(), words.next().unwrap_or_default());
    let head_only = method == "HEAD";
    let (status, content_type, body) = route(&state, path);
    let stall_here = status == "200 OK"
        && path.contains("/blobs/")
        && state.stall.lock().expect("lock").as_deref() == path.rsplit('/').next();
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    if conn.write_all(head.as_bytes()).await.is_err() || head_only {
        return;
    }
    if !stall_here {
        let _ = conn.write_all(&body).await;
        return;
    }
    let (first, rest) = body.split_at(body.len() / 2);
    if conn.write_all(first).await.is_err() || conn.flush().await.is_err() {
        return;
    }
    state.stalled.fetch_add(1, Ordering::SeqCst);
    let mut probe = [0u8; 1];
    let go_on = tokio::select! {
        released = released.wait_for(|r| *r) => released.is_ok(),
        // The client sends nothing more: a read that ends means it hung up.
        _ = conn.read(&mut probe) => {
            state.abandoned.fetch_add(1, Ordering::SeqCst);
            false
        }
    };
    if go_on {
        let _ = conn.write_all(rest).await;
    }
}

fn route(state: &State, path: &str) -> (&'static str, &'static str, Vec<u8>) {
    let not_found = || {
        let body = json!({ "errors": [{ "code": "NAME_UNKNOWN", "message": "repository name not known to registry" }] });
        ("404 Not Found", "application/json", body.to_string().into_bytes())
    };
    if path == "/v2/" {
        return ("200 OK", "application/json", b"{}".to_vec());
    }
    let Some(rest) = path.strip_prefix("/v2/") else { return not_found() };
    if let Some((repo, tag)) = rest.split_once("/manifests/") {
        return match state.manifests.lock().expect("lock").get(&format!("{repo}:{tag}")) {
            Some(m) => ("200 OK", MANIFEST_TYPE, m.clone()),
            None => not_found(),
        };
    }
    if let Some((_, digest)) = rest.split_once("/blobs/") {
        return match state.blobs.lock().expect("lock").get(digest) {
            Some(b) => ("200 OK", "application/octet-stream", b.clone()),
            None => not_found(),
        };
    }
    not_found()
}
