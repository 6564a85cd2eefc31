//! Tests of discovery, activation and the authorizer against fake plugins on real sockets.

mod calls;
mod discovery;
mod fake;
mod health;
mod tls;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use berth_middleware::authz::{Peer, RequestBody, RequestInfo, ResponseInfo};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, StatusCode};
use tempfile::TempDir;

use super::{PluginDirs, PluginOptions};

/// The plugin name most tests use.
const NAME: &str = "authz-test";
/// A short probe interval, so the down/up cycle is quick to test.
const PROBE: Duration = Duration::from_millis(200);

/// Plugin directories under a fresh temporary directory.
struct Dirs {
    tmp: TempDir,
}

impl Dirs {
    fn new() -> Dirs {
        Dirs { tmp: tempfile::tempdir().expect("tempdir") }
    }

    fn plugin_dirs(&self) -> PluginDirs {
        PluginDirs { sockets: self.sockets(), specs: vec![self.etc(), self.usr()] }
    }

    fn options(&self) -> PluginOptions {
        PluginOptions {
            dirs: self.plugin_dirs(),
            discovery_wait: Duration::ZERO,
            call_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            probe_interval: PROBE,
        }
    }

    fn sockets(&self) -> PathBuf {
        self.tmp.path().join("run")
    }

    fn etc(&self) -> PathBuf {
        self.tmp.path().join("etc")
    }

    fn usr(&self) -> PathBuf {
        self.tmp.path().join("usr")
    }

    /// `run/NAME.sock`.
    fn socket(&self) -> PathBuf {
        self.sockets().join(format!("{NAME}.sock"))
    }

    /// A scratch path outside the plugin directories.
    fn scratch(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }
}

/// Writes `contents` to `path`, creating its directory.
fn write(path: &Path, contents: &str) {
    std::fs::create_dir_all(path.parent().expect("file has a directory")).expect("mkdir");
    std::fs::write(path, contents).expect("write test file");
}

/// A `docker run`-like request with credentials that must not reach the plugin.
fn request() -> Arc<RequestInfo> {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("content-type", "application/json"),
        ("authorization", "Bearer secret"),
        ("x-registry-auth", "c2VjcmV0"),
        ("user-agent", "Docker-Client/28.0.0 (linux)"),
    ] {
        headers.append(name, HeaderValue::from_static(value));
    }
    Arc::new(RequestInfo {
        method: Method::POST,
        uri: "/v1.51/containers/create?name=web".to_owned(),
        path: "/containers/create".to_owned(),
        headers,
        body: RequestBody::Json(Bytes::from_static(br#"{"Image":"alpine"}"#)),
        peer: Arc::new(Peer::default()),
    })
}

/// The handler's answer to [`request`].
fn response() -> Arc<ResponseInfo> {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    Arc::new(ResponseInfo {
        status: StatusCode::CREATED,
        headers,
        body: Bytes::from_static(br#"{"Id":"abc"}"#),
    })
}
