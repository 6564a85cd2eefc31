//! `POST /containers/create`: the container router with any query and body (the JSON
//! extractor, Go-style decoding, the per-version adjustments), and, for what it accepts, the
//! engine's merge with an image config, its checks, and the OCI spec of the first run
//! (`berth_engine::fuzzing::container_create`). Bad input is never a 500.
//!
//! Input: one byte choosing the API version (1.24 to 1.51), the query string up to the first
//! newline, then the body.

#![no_main]

use std::sync::{Arc, LazyLock};

use async_trait::async_trait;
use axum::Router;
use axum::body::Body;
use berth_api::container::{
    ContainerChangeResponseItem, ContainerCreateResponse, ContainerInspect, ContainerPruneReport,
    ContainerStats, ContainerSummary, ContainerTopResponse, ContainerUpdateBody,
    ContainerUpdateResponse, ContainerWaitResponse, ExecCreateBody, ExecInspect, PathStat,
    WaitCondition,
};
use berth_api::{ApiVersion, Error, Filters, MAX_API_VERSION, MIN_API_VERSION, Result};
use berth_backend::{
    ArchivePutOptions, AttachOptions, AttachStream, BoxFuture, BoxStream, ByteStream,
    ContainerBackend, ContainerCommitOptions, ContainerCreateOptions, ContainerListOptions,
    ContainerLogsOptions, ContainerRemoveOptions, ContainerStopOptions, ExecBackend,
    ExecStartOptions, LogStream,
};
use berth_http::RequestApiVersion;
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tower::ServiceExt;

/// The `config` section of the image every container is created from.
static IMAGE_CONFIG: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "User": "",
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"],
        "Cmd": ["sh"],
        "WorkingDir": "/srv",
        "Labels": {"org.example.vendor": "berth"},
        "ExposedPorts": {"80/tcp": {}},
        "Volumes": {"/data": {}},
        "StopSignal": "SIGQUIT",
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 1000000000}
    })
});

static ROUTER: LazyLock<Router> =
    LazyLock::new(|| berth_router_container::router(Arc::new(Fake), Arc::new(Fake)));

/// Answers `create` through the engine's create logic; nothing else is called.
struct Fake;

fn unused<T>() -> Result<T> {
    Err(Error::system("not called by the container_create target"))
}

#[async_trait]
impl ContainerBackend for Fake {
    async fn create(&self, options: ContainerCreateOptions) -> Result<ContainerCreateResponse> {
        let spec = berth_engine::fuzzing::container_create(options, &IMAGE_CONFIG)?;
        assert!(spec["process"]["args"].as_array().is_some_and(|a| !a.is_empty()), "{spec}");
        Ok(ContainerCreateResponse { id: "0".repeat(64), warnings: Vec::new() })
    }
    async fn inspect(&self, _: &str, _: bool) -> Result<ContainerInspect> {
        unused()
    }
    async fn list(&self, _: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        unused()
    }
    async fn start(&self, _: &str, _: &str, _: &str) -> Result<()> {
        unused()
    }
    async fn stop(&self, _: &str, _: ContainerStopOptions) -> Result<()> {
        unused()
    }
    async fn restart(&self, _: &str, _: ContainerStopOptions) -> Result<()> {
        unused()
    }
    async fn kill(&self, _: &str, _: &str) -> Result<()> {
        unused()
    }
    async fn pause(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn unpause(&self, _: &str) -> Result<()> {
        unused()
    }
    async fn wait(
        &self,
        _: &str,
        _: WaitCondition,
    ) -> Result<BoxFuture<'static, ContainerWaitResponse>> {
        unused()
    }
    async fn remove(&self, _: &str, _: ContainerRemoveOptions) -> Result<()> {
        unused()
    }
    async fn rename(&self, _: &str, _: &str) -> Result<()> {
        unused()
    }
    async fn update(&self, _: &str, _: ContainerUpdateBody) -> Result<ContainerUpdateResponse> {
        unused()
    }
    async fn top(&self, _: &str, _: &str) -> Result<ContainerTopResponse> {
        unused()
    }
    async fn stats(
        &self,
        _: &str,
        _: bool,
        _: bool,
    ) -> Result<BoxStream<'static, Result<ContainerStats>>> {
        unused()
    }
    async fn logs(&self, _: &str, _: ContainerLogsOptions) -> Result<LogStream> {
        unused()
    }
    async fn changes(&self, _: &str) -> Result<Option<Vec<ContainerChangeResponseItem>>> {
        unused()
    }
    async fn export(&self, _: &str) -> Result<ByteStream> {
        unused()
    }
    async fn archive_stat(&self, _: &str, _: &str) -> Result<PathStat> {
        unused()
    }
    async fn archive_get(&self, _: &str, _: &str) -> Result<(PathStat, ByteStream)> {
        unused()
    }
    async fn archive_put(&self, _: &str, _: ArchivePutOptions) -> Result<()> {
        unused()
    }
    async fn prune(&self, _: Filters) -> Result<ContainerPruneReport> {
        unused()
    }
    async fn commit(&self, _: ContainerCommitOptions) -> Result<String> {
        unused()
    }
    async fn resize(&self, _: &str, _: u32, _: u32) -> Result<()> {
        unused()
    }
    async fn attach(
        &self,
        _: &str,
        _: AttachOptions,
        _: Option<ByteStream>,
    ) -> Result<AttachStream> {
        unused()
    }
}

#[async_trait]
impl ExecBackend for Fake {
    async fn create(&self, _: &str, _: ExecCreateBody) -> Result<String> {
        unused()
    }
    async fn start(
        &self,
        _: &str,
        _: ExecStartOptions,
        _: Option<ByteStream>,
    ) -> Result<AttachStream> {
        unused()
    }
    async fn resize(&self, _: &str, _: u32, _: u32) -> Result<()> {
        unused()
    }
    async fn inspect(&self, _: &str) -> Result<ExecInspect> {
        unused()
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&version, rest)) = data.split_first() else { return };
    let span = MAX_API_VERSION.minor() - MIN_API_VERSION.minor() + 1;
    let version = ApiVersion::new(1, MIN_API_VERSION.minor() + u32::from(version) % span);
    let (query, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(newline) => (&rest[..newline], &rest[newline + 1..]),
        None => (&b""[..], rest),
    };
    let Ok(query) = std::str::from_utf8(query) else { return };
    let Ok(uri) = format!("/containers/create?{query}").parse::<http::Uri>() else { return };
    let mut request = http::Request::post(uri)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("a request from a valid URI");
    request.extensions_mut().insert(RequestApiVersion(version));
    let response = berth_fuzz::block_on(ROUTER.clone().oneshot(request)).expect("infallible");
    let status = response.status();
    // 501 is an honest answer (a feature Berth does not have); 500 means Berth failed.
    if status == http::StatusCode::INTERNAL_SERVER_ERROR {
        let body = berth_fuzz::block_on(axum::body::to_bytes(response.into_body(), 1 << 20));
        panic!("{status} for a client's input: {body:?}");
    }
});
