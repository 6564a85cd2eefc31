//! The container router over a fake backend: `oneshot` for plain routes, a real socket served by
//! hyper-util (with upgrades) for attach and exec.
//!
//! The fake records every call with its parsed arguments. Names steer it: `missing` is a 404,
//! `running` a 409/304 where dockerd has one, `tty` a container with a TTY.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use berth_api::container::{
    ContainerChangeResponseItem, ContainerCreateResponse, ContainerInspect, ContainerPruneReport,
    ContainerStats, ContainerSummary, ContainerTopResponse, ContainerUpdateBody,
    ContainerUpdateResponse, ContainerWaitResponse, Descriptor, ExecCreateBody, ExecInspect,
    PathStat, SummaryHostConfig, WaitCondition,
};
use berth_api::stdcopy::StdStream;
use berth_api::{ApiVersion, Error, Filters, Result};
use berth_backend::{
    ArchivePutOptions, AttachOptions, AttachStream, BoxFuture, BoxStream, ByteStream,
    ContainerBackend, ContainerCommitOptions, ContainerCreateOptions, ContainerListOptions,
    ContainerLogsOptions, ContainerRemoveOptions, ContainerStopOptions, ExecBackend,
    ExecStartOptions, LogStream, OutputChunk,
};
use berth_http::RequestApiVersion;
use bytes::Bytes;
use expect_test::{Expect, expect};
use futures_util::StreamExt;
use http::{Method, Request};
use http_body_util::BodyExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tower::ServiceExt;

#[derive(Default)]
struct Fake {
    calls: Mutex<Vec<String>>,
}

impl Fake {
    fn record(&self, call: String) {
        self.calls.lock().expect("lock").push(call);
    }
}

fn missing(name: &str) -> Result<()> {
    if name == "missing" {
        return Err(Error::not_found(format!("No such container: {name}")));
    }
    Ok(())
}

fn chunks(items: Vec<Result<OutputChunk>>) -> berth_backend::OutputStream {
    futures_util::stream::iter(items).boxed()
}

#[async_trait::async_trait]
impl ContainerBackend for Fake {
    async fn create(&self, o: ContainerCreateOptions) -> Result<ContainerCreateResponse> {
        let host = o.body.host_config.clone().unwrap_or_default();
        self.record(format!(
            "create name={} image={} cmd={:?} network={} ipc={} auto_remove={} memory={} pids={:?} platform={:?} ro_nonrec={}",
            o.name, o.body.config.image, o.body.config.cmd, host.network_mode, host.ipc_mode,
            host.auto_remove, host.resources.memory, host.resources.pids_limit, o.platform,
            o.default_read_only_non_recursive
        ));
        if o.name == "taken" {
            return Err(Error::conflict(
                "Conflict. The container name \"/taken\" is already in use by container \"abc\". You have to remove (or rename) that container to be able to reuse that name.",
            ));
        }
        Ok(ContainerCreateResponse { id: "abc".into(), warnings: Vec::new() })
    }

    async fn inspect(&self, name: &str, size: bool) -> Result<ContainerInspect> {
        self.record(format!("inspect {name} size={size}"));
        missing(name)?;
        Ok(ContainerInspect {
            id: "abc".into(),
            name: format!("/{name}"),
            image_manifest_descriptor: Some(Descriptor { size: 1, ..Descriptor::default() }),
            ..ContainerInspect::default()
        })
    }

    async fn list(&self, o: ContainerListOptions) -> Result<Vec<ContainerSummary>> {
        let status: Vec<&str> = o.filters.get("status").collect();
        self.record(format!(
            "list all={} size={} limit={} status={status:?}",
            o.all, o.size, o.limit
        ));
        Ok(vec![ContainerSummary {
            id: "abc".into(),
            names: Some(vec!["/web".into()]),
            state: "running".into(),
            host_config: SummaryHostConfig {
                network_mode: "bridge".into(),
                annotations: Some([("a".to_owned(), "b".to_owned())].into()),
            },
            ..ContainerSummary::default()
        }])
    }

    async fn start(&self, name: &str, checkpoint: &str, _dir: &str) -> Result<()> {
        self.record(format!("start {name} checkpoint={checkpoint:?}"));
        missing(name)?;
        if name == "running" {
            return Err(Error::new(berth_api::ErrorKind::NotModified, "container already started"));
        }
        Ok(())
    }

    async fn stop(&self, name: &str, o: ContainerStopOptions) -> Result<()> {
        self.record(format!("stop {name} t={:?} signal={:?}", o.timeout, o.signal));
        missing(name)
    }

    async fn restart(&self, name: &str, o: ContainerStopOptions) -> Result<()> {
        self.record(format!("restart {name} t={:?} signal={:?}", o.timeout, o.signal));
        missing(name)
    }

    async fn kill(&self, name: &str, signal: &str) -> Result<()> {
        self.record(format!("kill {name} signal={signal:?}"));
        if name == "stopped" {
            return Err(Error::conflict("Container abc is not running"));
        }
        missing(name)
    }

    async fn pause(&self, name: &str) -> Result<()> {
        self.record(format!("pause {name}"));
        missing(name)
    }

    async fn unpause(&self, name: &str) -> Result<()> {
        self.record(format!("unpause {name}"));
        missing(name)
    }

    async fn wait(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<BoxFuture<'static, ContainerWaitResponse>> {
        self.record(format!("wait {name} {condition:?}"));
        missing(name)?;
        Ok(Box::pin(async { ContainerWaitResponse { error: None, status_code: 7 } }))
    }

    async fn remove(&self, name: &str, o: ContainerRemoveOptions) -> Result<()> {
        self.record(format!("remove {name:?} force={} v={} link={}", o.force, o.volumes, o.link));
        if name == "running" {
            return Err(Error::conflict(
                "cannot remove container \"/running\": container is running: stop the container before removing or force remove",
            ));
        }
        missing(name)
    }

    async fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        self.record(format!("rename {name} -> {new_name}"));
        missing(name)
    }

    async fn update(&self, name: &str, u: ContainerUpdateBody) -> Result<ContainerUpdateResponse> {
        self.record(format!(
            "update {name} memory={} pids={:?} kmem={} restart={}",
            u.resources.memory,
            u.resources.pids_limit,
            u.resources.kernel_memory,
            u.restart_policy.name
        ));
        Ok(ContainerUpdateResponse { warnings: None })
    }

    async fn top(&self, name: &str, ps_args: &str) -> Result<ContainerTopResponse> {
        self.record(format!("top {name} {ps_args:?}"));
        Ok(ContainerTopResponse {
            titles: Some(vec!["PID".into(), "CMD".into()]),
            processes: Some(vec![vec!["1".into(), "sh".into()]]),
        })
    }

    async fn stats(
        &self,
        name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Result<ContainerStats>>> {
        self.record(format!("stats {name} stream={stream} one_shot={one_shot}"));
        let sample = |n: u64| {
            let mut s = ContainerStats {
                name: "/web".into(),
                read: "r".into(),
                preread: "p".into(),
                ..Default::default()
            };
            s.pids_stats.current = n;
            Ok(s)
        };
        Ok(futures_util::stream::iter([sample(1), sample(2)]).boxed())
    }

    async fn logs(&self, name: &str, o: ContainerLogsOptions) -> Result<LogStream> {
        self.record(format!(
            "logs {name} out={} err={} follow={} tail={:?} since={:?}",
            o.stdout, o.stderr, o.follow, o.tail, o.since
        ));
        missing(name)?;
        let mut line = OutputChunk::new(StdStream::Stdout, "hello\n");
        line.timestamp = "2024-01-02T03:04:05.000000006Z".into();
        line.attrs = vec![("tag".into(), "x".into())];
        let err_line = OutputChunk::new(StdStream::Stderr, "oops\n");
        Ok(LogStream {
            tty: name == "tty",
            chunks: chunks(vec![Ok(line), Ok(err_line), Err(Error::system("disk gone"))]),
        })
    }

    async fn changes(&self, name: &str) -> Result<Option<Vec<ContainerChangeResponseItem>>> {
        self.record(format!("changes {name}"));
        Ok(Some(vec![ContainerChangeResponseItem { kind: 1, path: "/tmp".into() }]))
    }

    async fn export(&self, name: &str) -> Result<ByteStream> {
        self.record(format!("export {name}"));
        missing(name)?;
        Ok(futures_util::stream::iter([Ok(Bytes::from_static(b"tar"))]).boxed())
    }

    async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        self.record(format!("archive_stat {name} {path}"));
        Ok(PathStat {
            name: "etc".into(),
            size: 4096,
            mode: 2147484141,
            mtime: "t".into(),
            link_target: String::new(),
        })
    }

    async fn archive_get(&self, name: &str, path: &str) -> Result<(PathStat, ByteStream)> {
        let stat = self.archive_stat(name, path).await?;
        Ok((stat, futures_util::stream::iter([Ok(Bytes::from_static(b"tar"))]).boxed()))
    }

    async fn archive_put(&self, name: &str, o: ArchivePutOptions) -> Result<()> {
        let body: Vec<Result<Bytes>> = o.body.collect().await;
        let len: usize = body.iter().map(|b| b.as_ref().map_or(0, Bytes::len)).sum();
        self.record(format!(
            "archive_put {name} {} bytes={len} nooverwrite={}",
            o.path, o.no_overwrite_dir_non_dir
        ));
        Ok(())
    }

    async fn prune(&self, filters: Filters) -> Result<ContainerPruneReport> {
        let until: Vec<&str> = filters.get("until").collect();
        self.record(format!("prune until={until:?}"));
        Ok(ContainerPruneReport {
            containers_deleted: Some(vec!["abc".into()]),
            space_reclaimed: 5,
        })
    }

    async fn commit(&self, o: ContainerCommitOptions) -> Result<String> {
        self.record(format!(
            "commit {} ref={:?} pause={} cmd={:?}",
            o.container,
            o.reference.map(|r| r.to_string()),
            o.pause,
            o.config.and_then(|c| c.cmd)
        ));
        Ok("sha256:ii".into())
    }

    async fn resize(&self, name: &str, height: u32, width: u32) -> Result<()> {
        self.record(format!("resize {name} {height}x{width}"));
        missing(name)
    }

    async fn attach(
        &self,
        name: &str,
        o: AttachOptions,
        stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        self.record(format!(
            "attach {name} stdin={} stdout={} stream={} stdin_stream={}",
            o.stdin,
            o.stdout,
            o.stream,
            stdin.is_some()
        ));
        missing(name)?;
        if name == "paused" {
            return Err(Error::conflict(
                "container paused is paused, unpause the container before attach",
            ));
        }
        // Echo stdin back on stdout, then say goodbye on stderr: output ends after stdin does.
        let echoed = match stdin {
            Some(stdin) => stdin.map(|b| b.map(|b| OutputChunk::new(StdStream::Stdout, b))).boxed(),
            None => futures_util::stream::empty().boxed(),
        };
        let bye = futures_util::stream::iter([Ok(OutputChunk::new(StdStream::Stderr, "bye\n"))]);
        Ok(AttachStream { tty: name == "tty", output: echoed.chain(bye).boxed() })
    }
}

#[async_trait::async_trait]
impl ExecBackend for Fake {
    async fn create(&self, container: &str, body: ExecCreateBody) -> Result<String> {
        self.record(format!(
            "exec_create {container} cmd={:?} console={:?}",
            body.cmd, body.console_size
        ));
        Ok("e1".into())
    }

    async fn start(
        &self,
        id: &str,
        o: ExecStartOptions,
        _stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        self.record(format!(
            "exec_start {id} detach={} tty={} console={:?}",
            o.detach, o.tty, o.console_size
        ));
        match id {
            "missing" => Err(Error::not_found("No such exec instance: missing")),
            "busy" => Err(Error::conflict("exec instance busy is already running")),
            _ => Ok(AttachStream {
                tty: o.tty,
                output: chunks(vec![Ok(OutputChunk::new(StdStream::Stdout, "out\n"))]),
            }),
        }
    }

    async fn resize(&self, id: &str, height: u32, width: u32) -> Result<()> {
        self.record(format!("exec_resize {id} {height}x{width}"));
        Ok(())
    }

    async fn inspect(&self, id: &str) -> Result<ExecInspect> {
        self.record(format!("exec_inspect {id}"));
        Ok(ExecInspect { id: id.into(), container_id: "abc".into(), ..ExecInspect::default() })
    }
}

fn app(fake: &Arc<Fake>) -> axum::Router {
    berth_router_container::router(
        Arc::clone(fake) as Arc<dyn ContainerBackend>,
        Arc::clone(fake) as Arc<dyn ExecBackend>,
    )
}

struct Call {
    method: Method,
    uri: String,
    version: Option<ApiVersion>,
    json: Option<&'static str>,
}

fn req(method: Method, uri: &str) -> Call {
    Call { method, uri: uri.to_owned(), version: None, json: None }
}

impl Call {
    fn version(mut self, minor: u32) -> Self {
        self.version = Some(ApiVersion::new(1, minor));
        self
    }

    fn json(mut self, body: &'static str) -> Self {
        self.json = Some(body);
        self
    }

    /// Status, headers (no `date`), body with frames shown as `[n:len]`, then backend calls.
    async fn send(self) -> String {
        let fake = Arc::new(Fake::default());
        let mut builder = Request::builder().method(self.method).uri(&self.uri);
        if let Some(json) = self.json {
            builder = builder
                .header("content-type", "application/json")
                .header("content-length", json.len().to_string());
        }
        let mut request = builder.body(Body::from(self.json.unwrap_or(""))).expect("request");
        if let Some(v) = self.version {
            request.extensions_mut().insert(RequestApiVersion(v));
        }
        let res = app(&fake).oneshot(request).await.expect("infallible");
        let mut out = format!("{}\n", res.status());
        let mut names: Vec<_> = res.headers().keys().map(|k| k.as_str().to_owned()).collect();
        names.sort();
        for name in names.iter().filter(|n| *n != "date") {
            let v = res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
            out.push_str(&format!("{name}: {v}\n"));
        }
        let body = res.into_body().collect().await.expect("body").to_bytes();
        out.push('\n');
        out.push_str(&show_frames(&body));
        for call in fake.calls.lock().expect("lock").iter() {
            out.push_str(&format!("> {call}\n"));
        }
        out
    }
}

/// Renders stdcopy frame headers readably; other bytes as text.
fn show_frames(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut rest = bytes;
    while rest.len() >= 8 && rest[0] <= 3 && rest[1..4] == [0, 0, 0] {
        let len = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + len {
            break;
        }
        out.push_str(&format!("[{}:{len}]{}", rest[0], String::from_utf8_lossy(&rest[8..8 + len])));
        rest = &rest[8 + len..];
    }
    out.push_str(&String::from_utf8_lossy(rest));
    out.replace('\r', "\\r")
}

async fn check(call: Call, expected: Expect) {
    expected.assert_eq(&call.send().await);
}

#[tokio::test]
async fn list_shapes_per_version_and_checks_filters() {
    check(
        req(Method::GET, "/containers/json?all=1&limit=2&filters=%7B%22status%22%3A%5B%22running%22%5D%7D"),
        expect![[r#"
            200 OK
            content-length: 237
            content-type: application/json

            [{"Id":"abc","Names":["/web"],"Image":"","ImageID":"","Command":"","Created":0,"Ports":null,"Labels":null,"State":"running","Status":"","HostConfig":{"NetworkMode":"bridge","Annotations":{"a":"b"}},"NetworkSettings":null,"Mounts":null}]
            > list all=true size=false limit=2 status=["running"]
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/containers/json").version(45),
        expect![[r#"
            200 OK
            content-length: 213
            content-type: application/json

            [{"Id":"abc","Names":["/web"],"Image":"","ImageID":"","Command":"","Created":0,"Ports":null,"Labels":null,"State":"running","Status":"","HostConfig":{"NetworkMode":"bridge"},"NetworkSettings":null,"Mounts":null}]
            > list all=false size=false limit=0 status=[]
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/containers/json?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D"),
        expect![[r#"
            400 Bad Request
            content-length: 38
            content-type: application/json

            {"message":"invalid filter 'colour'"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn inspect_and_errors() {
    let out = req(Method::GET, "/containers/web/json?size=1").version(47).send().await;
    assert!(!out.contains("ImageManifestDescriptor"), "{out}");
    assert!(out.contains("> inspect web size=true"), "{out}");
    let out = req(Method::GET, "/containers/web/json").send().await;
    assert!(out.contains("\"ImageManifestDescriptor\":{"), "{out}");
    check(
        req(Method::GET, "/containers/missing/json"),
        expect![[r#"
            404 Not Found
            content-length: 41
            content-type: application/json

            {"message":"No such container: missing"}
            > inspect missing size=false
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/containers/web/bogus"),
        expect![[r#"
            404 Not Found
            content-length: 29
            content-type: application/json

            {"message":"page not found"}
        "#]],
    )
    .await;
    check(
        req(Method::HEAD, "/containers/json"),
        expect![[r#"
            404 Not Found
            content-length: 29
            content-type: application/json

        "#]],
    )
    .await;
}

#[tokio::test]
async fn lifecycle_routes_answer_like_dockerd() {
    check(
        req(Method::POST, "/containers/web/start"),
        expect![[r#"
            204 No Content
            content-length: 0

            > start web checkpoint=""
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/running/start"),
        expect![[r#"
            304 Not Modified
            content-length: 0

            > start running checkpoint=""
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/web/start").json(r#"{"Binds":["/a:/b"]}"#),
        expect![[r#"
            400 Bad Request
            content-length: 113
            content-type: application/json

            {"message":"starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/web/stop?t=3&signal=SIGINT").version(41),
        expect![[r#"
            204 No Content
            content-length: 0

            > stop web t=Some(3) signal=None
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/web/restart?t=3&signal=SIGINT"),
        expect![[r#"
            204 No Content
            content-length: 0

            > restart web t=Some(3) signal=Some("SIGINT")
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/web/stop?t=soon"),
        expect![[r#"
            500 Internal Server Error
            content-length: 61
            content-type: application/json

            {"message":"strconv.Atoi: parsing \"soon\": invalid syntax"}
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/stopped/kill?signal=HUP"),
        expect![[r#"
            409 Conflict
            content-length: 75
            content-type: application/json

            {"message":"cannot kill container: stopped: Container abc is not running"}
            > kill stopped signal="HUP"
        "#]],
    )
    .await;
    for (path, call) in [("pause", "pause web"), ("unpause", "unpause web")] {
        let out = req(Method::POST, &format!("/containers/web/{path}")).send().await;
        assert!(out.starts_with("204 No Content") && out.contains(call), "{out}");
    }
    check(
        req(Method::POST, "/containers/web/rename?name=db"),
        expect![[r#"
            204 No Content
            content-length: 0

            > rename web -> db
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/web/resize?h=24&w=x"),
        expect![[r#"
            400 Bad Request
            content-length: 91
            content-type: application/json

            {"message":"invalid resize width \"x\": strconv.ParseUint: parsing \"x\": invalid syntax"}
        "#]],
    )
    .await;
    let out = req(Method::POST, "/containers/web/resize?h=24&w=80").send().await;
    assert!(out.starts_with("200 OK") && out.contains("> resize web 24x80"), "{out}");
}

#[tokio::test]
async fn remove_wait_and_prune() {
    check(
        req(Method::DELETE, "/containers/running?v=1"),
        expect![[r#"
            409 Conflict
            content-length: 125
            content-type: application/json

            {"message":"cannot remove container \"/running\": container is running: stop the container before removing or force remove"}
            > remove "running" force=false v=true link=false
        "#]],
    )
    .await;
    // DELETE on an exact path removes a container of that name, as in dockerd.
    let out = req(Method::DELETE, "/containers/json?force=1").send().await;
    assert!(out.contains("> remove \"json\" force=true"), "{out}");
    check(
        req(Method::POST, "/containers/web/wait?condition=next-exit"),
        expect![[r#"
            200 OK
            content-type: application/json

            {"StatusCode":7}
            > wait web NextExit
        "#]],
    )
    .await;
    check(
        req(Method::POST, "/containers/web/wait?condition=soon"),
        expect![[r#"
            400 Bad Request
            content-length: 42
            content-type: application/json

            {"message":"invalid condition: \"soon\""}
        "#]],
    )
    .await;
    // Below 1.30 the condition is not read at all.
    let out = req(Method::POST, "/containers/web/wait?condition=soon").version(29).send().await;
    assert!(out.contains("> wait web NotRunning"), "{out}");
    check(
        req(Method::POST, "/containers/prune?filters=%7B%22until%22%3A%5B%2210m%22%5D%7D"),
        expect![[r#"
            200 OK
            content-length: 49
            content-type: application/json

            {"ContainersDeleted":["abc"],"SpaceReclaimed":5}
            > prune until=["10m"]
        "#]],
    )
    .await;
    let out = req(Method::POST, "/containers/prune?filters=%7B%22status%22%3A%5B%22x%22%5D%7D")
        .send()
        .await;
    assert!(out.contains("invalid filter 'status'"), "{out}");
}

#[tokio::test]
async fn create_applies_version_rules() {
    check(
        req(Method::POST, "/containers/create?name=web&platform=linux/amd64")
            .json(r#"{"Image":"busybox","Cmd":"sh","Env":null,"HostConfig":{"Memory":5,"PidsLimit":-1,"Binds":null}}"#),
        expect![[r#"
            201 Created
            content-length: 27
            content-type: application/json

            {"Id":"abc","Warnings":[]}
            > create name=web image=busybox cmd=Some(["sh"]) network=bridge ipc= auto_remove=false memory=5 pids=None platform=Some("linux/amd64") ro_nonrec=false
        "#]],
    )
    .await;
    let out = req(Method::POST, "/containers/create")
        .json(r#"{"Image":"busybox","HostConfig":{"AutoRemove":true}}"#)
        .version(24)
        .send()
        .await;
    assert!(
        out.contains("ipc=shareable auto_remove=false")
            && out.contains("platform=None ro_nonrec=true"),
        "{out}"
    );
    let out = req(Method::POST, "/containers/create?name=taken")
        .json(r#"{"Image":"busybox"}"#)
        .send()
        .await;
    assert!(
        out.starts_with("409 Conflict") && out.contains("is already in use by container"),
        "{out}"
    );
    check(
        req(Method::POST, "/containers/create").json(r#"{"HostConfig":{}}"#),
        expect![[r#"
            400 Bad Request
            content-length: 68
            content-type: application/json

            {"message":"config cannot be empty in order to create a container"}
        "#]],
    )
    .await;
    let out = req(Method::POST, "/containers/create").send().await;
    assert!(out.contains("invalid JSON: got EOF while reading request body"), "{out}");
    // Over the 10 MiB JSON limit: 413 (berthd's own limit), not 400.
    let huge = format!(r#"{{"Image":"busybox","Labels":{{"a":"{}"}}}}"#, "x".repeat(11 << 20));
    let out = req(Method::POST, "/containers/create").json(huge.leak()).send().await;
    assert!(out.starts_with("413 Payload Too Large"), "{}", &out[..out.len().min(300)]);
    let out = req(Method::POST, "/containers/create")
        .json(r#"{"Image":"b","HostConfig":{"Mounts":[{"Type":"bind","Source":"/a","Target":"/b","TmpfsOptions":{}}]}}"#)
        .send()
        .await;
    assert!(out.contains(r#"TmpfsOptions must not be specified on mount type \"bind\""#), "{out}");
    let out = req(Method::POST, "/containers/create")
        .json(r#"{"Image":"b","NetworkingConfig":{"EndpointsConfig":{"a":{},"b":{}}}}"#)
        .version(43)
        .send()
        .await;
    assert!(
        out.contains("Container cannot be created with multiple network endpoints: a, b"),
        "{out}"
    );
}

#[tokio::test]
async fn update_top_changes_export_archive_commit() {
    let out = req(Method::POST, "/containers/web/update")
        .json(r#"{"Memory":9,"PidsLimit":-5,"KernelMemory":4,"RestartPolicy":{"Name":"always"}}"#)
        .send()
        .await;
    assert!(out.contains(r#"{"Warnings":null}"#), "{out}");
    assert!(out.contains("> update web memory=9 pids=Some(0) kmem=0 restart=always"), "{out}");
    let out = req(Method::POST, "/containers/web/update")
        .json(r#"{"PidsLimit":5}"#)
        .version(39)
        .send()
        .await;
    assert!(out.contains("pids=None"), "{out}");
    let out = req(Method::GET, "/containers/web/top?ps_args=aux").send().await;
    assert!(
        out.contains(r#"{"Titles":["PID","CMD"],"Processes":[["1","sh"]]}"#)
            && out.contains("top web \"aux\""),
        "{out}"
    );
    let out = req(Method::GET, "/containers/web/changes").send().await;
    assert!(out.contains(r#"[{"Kind":1,"Path":"/tmp"}]"#), "{out}");
    let out = req(Method::GET, "/containers/web/export").send().await;
    assert!(out.starts_with("200 OK") && out.ends_with("tar> export web\n"), "{out}");
    check(
        req(Method::HEAD, "/containers/web/archive?path=/etc"),
        expect![[r#"
            200 OK
            content-length: 0
            x-docker-container-path-stat: eyJuYW1lIjoiZXRjIiwic2l6ZSI6NDA5NiwibW9kZSI6MjE0NzQ4NDE0MSwibXRpbWUiOiJ0IiwibGlua1RhcmdldCI6IiJ9

            > archive_stat web /etc
        "#]],
    )
    .await;
    let out = req(Method::GET, "/containers/web/archive").send().await;
    assert!(out.contains(r#"{"message":"bad parameter: pathcannot be empty"}"#), "{out}");
    let out = req(Method::GET, "/containers/web/archive?path=/etc").send().await;
    assert!(
        out.contains("content-type: application/x-tar")
            && out.contains("x-docker-container-path-stat"),
        "{out}"
    );
    let out = req(Method::PUT, "/containers/web/archive?path=/tmp&noOverwriteDirNonDir=1")
        .json("xyz")
        .send()
        .await;
    assert!(
        out.starts_with("200 OK") && out.contains("archive_put web /tmp bytes=3 nooverwrite=true"),
        "{out}"
    );
    check(
        req(Method::POST, "/commit?container=web&repo=app&tag=1&pause=0").json(r#"{"Cmd":["sh"]}"#),
        expect![[r#"
            201 Created
            content-length: 19
            content-type: application/json

            {"Id":"sha256:ii"}
            > commit web ref=Some("docker.io/library/app:1") pause=false cmd=Some(["sh"])
        "#]],
    )
    .await;
}

#[tokio::test]
async fn logs_are_framed_unless_tty_and_typed_by_version() {
    check(
        req(Method::GET, "/containers/web/logs?stdout=1&stderr=1&timestamps=1&tail=5"),
        expect![[r#"
            200 OK
            content-type: application/vnd.docker.multiplexed-stream

            [1:37]2024-01-02T03:04:05.000000006Z hello
            [2:6] oops
            [3:31]Error grabbing logs: disk gone
            > logs web out=true err=true follow=false tail="5" since=""
        "#]],
    )
    .await;
    // API 1.41: still framed, but typed raw-stream.
    let out = req(Method::GET, "/containers/web/logs?stdout=1&details=1").version(41).send().await;
    assert!(
        out.contains("content-type: application/vnd.docker.raw-stream")
            && out.contains("[1:12]tag=x hello"),
        "{out}"
    );
    check(
        req(Method::GET, "/containers/tty/logs?stdout=1"),
        expect![[r#"
            200 OK
            content-type: application/vnd.docker.raw-stream

            hello
            oops
            Error grabbing logs: disk gone
            > logs tty out=true err=false follow=false tail="" since=""
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/containers/web/logs"),
        expect![[r#"
            400 Bad Request
            content-length: 66
            content-type: application/json

            {"message":"Bad parameters: you must choose at least one stream"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn stats_stream_or_one_sample() {
    let out = req(Method::GET, "/containers/web/stats?stream=0").send().await;
    assert!(
        out.contains("content-type: application/json")
            && out.contains(r#""pids_stats":{"current":1}"#),
        "{out}"
    );
    assert!(!out.contains(r#""current":2"#), "{out}");
    let out = req(Method::GET, "/containers/web/stats?one-shot=1").version(40).send().await;
    assert!(out.contains("stream=true one_shot=false") && out.contains(r#""current":2"#), "{out}");
}

#[tokio::test]
async fn exec_create_inspect_resize_and_detached_start() {
    check(
        req(Method::POST, "/containers/web/exec")
            .json(r#"{"Cmd":["ls"],"ConsoleSize":[3,4],"Env":null}"#)
            .version(41),
        expect![[r#"
            201 Created
            content-length: 12
            content-type: application/json

            {"Id":"e1"}
            > exec_create web cmd=Some(["ls"]) console=None
        "#]],
    )
    .await;
    let out = req(Method::POST, "/containers/web/exec").json(r#"{"Cmd":[]}"#).send().await;
    assert!(out.contains(r#"{"message":"No exec command specified"}"#), "{out}");
    let out = req(Method::POST, "/containers/web/exec")
        .json(r#"{"Cmd":["ls"],"detachKeys":"ctrl-P"}"#)
        .send()
        .await;
    assert!(
        out.starts_with("500 ")
            && out.contains(r#"{"message":"Invalid escape keys (ctrl-P) provided"}"#),
        "{out}"
    );
    let out = req(Method::GET, "/exec/e1/json").send().await;
    assert!(out.contains(r#""ID":"e1""#) && out.contains(r#""ExitCode":null"#), "{out}");
    let out = req(Method::POST, "/exec/e1/resize?h=1&w=2").send().await;
    assert!(out.starts_with("200 OK") && out.contains("exec_resize e1 1x2"), "{out}");
    let out = req(Method::POST, "/exec/e1/start").json(r#"{"Detach":true}"#).send().await;
    assert!(out.starts_with("200 OK") && out.contains("exec_start e1 detach=true"), "{out}");
    let out = req(Method::POST, "/exec/missing/start").json(r#"{}"#).send().await;
    assert!(
        out.starts_with("404 Not Found") && out.contains("No such exec instance: missing"),
        "{out}"
    );
}

/// Without an upgrade the answer is a plain body and nothing the client sends afterwards can be
/// read: the backend gets no stdin (an empty one would end the attach at once).
#[tokio::test]
async fn attach_without_upgrade_streams_output_and_takes_no_stdin() {
    check(
        req(Method::POST, "/containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1"),
        expect![[r#"
            200 OK
            content-type: application/vnd.docker.raw-stream

            [2:4]bye
            > attach web stdin=true stdout=true stream=true stdin_stream=false
        "#]],
    )
    .await;
}

#[tokio::test]
async fn exec_start_without_upgrade_is_200_raw_stream() {
    check(
        req(Method::POST, "/exec/e1/start").json(r#"{"Tty":true,"ConsoleSize":[24,80]}"#),
        expect![[r#"
            200 OK
            content-type: application/vnd.docker.raw-stream

            out
            > exec_start e1 detach=false tty=true console=Some([24, 80])
        "#]],
    )
    .await;
    // Not a TTY: framed, even though the 200 says raw-stream (as dockerd's); a start failure
    // after the hijack point is in-band.
    check(
        req(Method::POST, "/exec/busy/start").json(r#"{"ConsoleSize":[24,80]}"#),
        expect![[r#"
            200 OK
            content-type: application/vnd.docker.raw-stream

            [1:39]exec instance busy is already running\r
            > exec_start busy detach=false tty=false console=None
        "#]],
    )
    .await;
}

// ---------------------------------------------------------------------------------------------
// Real hijacked connections
// ---------------------------------------------------------------------------------------------

/// Serves the router on a local port with upgrades, as berthd does; returns the address.
async fn serve() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let fake = Arc::new(Fake::default());
    let router = app(&fake);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let service = hyper_util::service::TowerToHyperService::new(router.clone());
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = builder.serve_connection_with_upgrades(io, service).await;
            });
        }
    });
    addr
}

async fn read_head(stream: &mut tokio::net::TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("read head");
        assert_eq!(n, 1, "connection closed in the head: {:?}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head).to_lowercase();
    let mut lines: Vec<&str> =
        text.lines().filter(|l| !l.starts_with("date:") && !l.is_empty()).collect();
    lines[1..].sort();
    lines.join("\n")
}

#[tokio::test]
async fn attach_upgrades_pumps_both_ways_and_half_closes() {
    let addr = serve().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream
        .write_all(
            b"POST /containers/web/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n\
              Host: docker\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n",
        )
        .await
        .expect("send");
    expect![[r#"
        http/1.1 101 upgraded
        connection: upgrade
        content-type: application/vnd.docker.multiplexed-stream
        upgrade: tcp"#]]
    .assert_eq(&read_head(&mut stream).await);
    stream.write_all(b"ping\n").await.expect("stdin");
    // Client half-close: stdin ends, so the fake's output ends, so the server half-closes.
    stream.shutdown().await.expect("half-close");
    let mut rest = Vec::new();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut rest));
    read.await.expect("server half-closed in time").expect("read");
    assert_eq!(show_frames(&rest), "[1:5]ping\n[2:4]bye\n");
}

#[tokio::test]
async fn attach_errors_before_upgrade_are_raw_text() {
    let addr = serve().await;
    for (name, detach, expected) in [
        ("missing", "", "http/1.1 404 not found"),
        ("paused", "", "http/1.1 409 conflict"),
        ("web", "&detachKeys=ctrl-P", "http/1.1 400 bad request"),
    ] {
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let request = format!(
            "POST /containers/{name}/attach?stream=1&stdout=1{detach} HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(10),
            stream.read_to_end(&mut answer),
        );
        read.await.expect("closed in time").expect("read");
        let text = String::from_utf8_lossy(&answer).to_lowercase();
        assert!(text.starts_with(expected), "{text}");
        assert!(text.contains("content-type: application/vnd.docker.raw-stream"), "{text}");
        assert!(text.ends_with("\r\n") && !text.contains("{\"message\""), "{text}");
    }
}

#[tokio::test]
async fn exec_start_upgrades_with_raw_stream_for_tty() {
    let addr = serve().await;
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let body = r#"{"Tty":true}"#;
    let request = format!(
        "POST /exec/e1/start HTTP/1.1\r\nHost: d\r\nUpgrade: tcp\r\nConnection: Upgrade\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    expect![[r#"
        http/1.1 101 upgraded
        connection: upgrade
        content-type: application/vnd.docker.raw-stream
        upgrade: tcp"#]]
    .assert_eq(&read_head(&mut stream).await);
    let mut rest = Vec::new();
    let read =
        tokio::time::timeout(std::time::Duration::from_secs(10), stream.read_to_end(&mut rest));
    read.await.expect("half-closed in time").expect("read");
    assert_eq!(rest, b"out\n");
}

// ---------------------------------------------------------------------------------------------
// attach/ws
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn attach_ws_carries_stdin_and_output_as_binary_messages_and_ends_with_the_client() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;

    let addr = serve().await;
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let url = format!("ws://{addr}/containers/web/attach/ws?stream=1&stdin=1&stdout=1&stderr=1");
    let (mut ws, response) = tokio_tungstenite::client_async(url, stream).await.expect("handshake");
    assert_eq!(response.status(), 101);
    ws.send(Message::Text("ping\n".into())).await.expect("send");
    // The fake echoes stdin on stdout: raw bytes, never framed, in a binary message.
    let echoed = tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("an answer in time")
        .expect("a message")
        .expect("no error");
    assert_eq!(echoed, Message::Binary(Bytes::from_static(b"ping\n")));
    // The client closing ends stdin and the attach: the server closes the connection.
    ws.close(None).await.expect("close");
    let rest = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let mut rest = Vec::new();
        while let Some(Ok(message)) = ws.next().await {
            rest.push(message);
        }
        rest
    })
    .await
    .expect("the server closed in time");
    assert!(rest.iter().all(|m| matches!(m, Message::Close(_))), "{rest:?}");
}

#[tokio::test]
async fn attach_ws_without_a_handshake_is_refused_after_the_container_lookup() {
    check(
        req(Method::GET, "/containers/missing/attach/ws?stream=1"),
        expect![[r#"
            404 Not Found
            content-length: 41
            content-type: application/json

            {"message":"No such container: missing"}
            > inspect missing size=false
        "#]],
    )
    .await;
    check(
        req(Method::GET, "/containers/web/attach/ws?stream=1&detachKeys=nosuch"),
        expect![[r#"
            400 Bad Request
            content-length: 52
            content-type: application/json

            {"message":"Invalid detach keys (nosuch) provided"}
        "#]],
    )
    .await;
    check(req(Method::GET, "/containers/web/attach/ws?stream=1"), expect![[r#"
        400 Bad Request
        content-length: 94
        content-type: application/json

        {"message":"attach/ws needs a websocket handshake (Connection: Upgrade, Upgrade: websocket)"}
        > inspect web size=false
    "#]]).await;
}
