//! The volume router over a fake backend, driven with `oneshot` (no socket).
//!
//! The fake records every call with its parsed arguments, so tests check both the answer and
//! what reached the backend. The volume `missing` is a 404, `busy` is in use.

use std::sync::{Arc, Mutex};

use axum::body::Body;
use berth_api::volume::{Volume, VolumeCreateOptions, VolumeListResponse, VolumePruneReport};
use berth_api::{ApiVersion, Error, Filters, Result};
use berth_backend::VolumeBackend;
use berth_http::RequestApiVersion;
use expect_test::{Expect, expect};
use http::{Method, Request};
use http_body_util::BodyExt;
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

fn volume(name: &str) -> Volume {
    Volume {
        created_at: "2024-01-02T03:04:05Z".into(),
        driver: "local".into(),
        mountpoint: format!("/var/lib/berth/volumes/{name}/_data"),
        name: name.to_owned(),
        scope: "local".into(),
        ..Volume::default()
    }
}

fn filters(f: &Filters) -> String {
    let mut out = Vec::new();
    for key in ["all", "dangling", "driver", "label", "label!", "name"] {
        let values: Vec<&str> = f.get(key).collect();
        if !values.is_empty() {
            out.push(format!("{key}={}", values.join("|")));
        }
    }
    out.join(",")
}

fn missing(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

#[async_trait::async_trait]
impl VolumeBackend for Fake {
    async fn list(&self, f: Filters) -> Result<VolumeListResponse> {
        self.record(format!("list {}", filters(&f)));
        Ok(VolumeListResponse { volumes: vec![volume("data")], warnings: None })
    }

    async fn inspect(&self, name: &str) -> Result<Volume> {
        self.record(format!("inspect {name:?}"));
        if name == "missing" || name.is_empty() {
            return Err(missing(name));
        }
        Ok(volume(name))
    }

    async fn create(&self, o: VolumeCreateOptions) -> Result<Volume> {
        self.record(format!(
            "create name={:?} driver={:?} opts={:?} labels={:?}",
            o.name, o.driver, o.driver_opts, o.labels
        ));
        Ok(volume(if o.name.is_empty() { "generated" } else { &o.name }))
    }

    async fn remove(&self, name: &str, force: bool) -> Result<()> {
        self.record(format!("remove {name} force={force}"));
        match name {
            "missing" if !force => Err(missing(name)),
            "busy" => Err(Error::conflict("remove busy: volume is in use - [abc]")),
            _ => Ok(()),
        }
    }

    async fn prune(&self, f: Filters) -> Result<VolumePruneReport> {
        self.record(format!("prune {}", filters(&f)));
        Ok(VolumePruneReport { volumes_deleted: vec!["old".into()], space_reclaimed: 7 })
    }
}

/// Sends `method uri` (API 1.`minor` when given) with `body`; renders the status, content type,
/// body and the calls the backend received.
async fn send(method: Method, uri: &str, minor: Option<u32>, body: &'static str) -> String {
    let fake = Arc::new(Fake::default());
    let app = berth_router_volume::router(Arc::clone(&fake) as Arc<dyn VolumeBackend>);
    let mut builder = Request::builder().method(method).uri(uri);
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    let mut request = builder.body(Body::from(body)).expect("request");
    if let Some(minor) = minor {
        request.extensions_mut().insert(RequestApiVersion(ApiVersion::new(1, minor)));
    }
    let res = app.oneshot(request).await.expect("infallible");
    let status = res.status();
    let kind =
        res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    let mut out = format!("{status} {kind}\n{}", String::from_utf8_lossy(&bytes));
    for call in fake.calls.lock().expect("lock").iter() {
        out.push_str(&format!("> {call}\n"));
    }
    out
}

async fn check(method: Method, uri: &str, minor: Option<u32>, body: &'static str, want: Expect) {
    want.assert_eq(&send(method, uri, minor, body).await);
}

#[tokio::test]
async fn list_passes_checked_filters() {
    check(
        Method::GET,
        "/volumes?filters=%7B%22dangling%22%3A%5B%22true%22%5D%2C%22label%22%3A%5B%22a%3Db%22%5D%7D",
        None,
        "",
        expect![[r#"
            200 OK application/json
            {"Volumes":[{"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local"}],"Warnings":null}
            > list dangling=true,label=a=b
        "#]],
    )
    .await;
    check(
        Method::GET,
        "/volumes?filters=%7B%22colour%22%3A%5B%22red%22%5D%7D",
        None,
        "",
        expect![[r#"
            400 Bad Request application/json
            {"message":"invalid filter 'colour'"}
        "#]],
    )
    .await;
    check(
        Method::GET,
        "/volumes?filters=nope",
        None,
        "",
        expect![[r#"
            400 Bad Request application/json
            {"message":"error reading volume filters: invalid filter"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn inspect_takes_the_whole_path_as_the_name() {
    check(
        Method::GET,
        "/volumes/create",
        None,
        "",
        expect![[r#"
            200 OK application/json
            {"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/create/_data","Name":"create","Options":null,"Scope":"local"}
            > inspect "create"
        "#]],
    )
    .await;
    check(
        Method::GET,
        "/volumes/missing",
        None,
        "",
        expect![[r#"
            404 Not Found application/json
            {"message":"get missing: no such volume"}
            > inspect "missing"
        "#]],
    )
    .await;
    check(
        Method::GET,
        "/volumes/",
        None,
        "",
        expect![[r#"
            404 Not Found application/json
            {"message":"get : no such volume"}
            > inspect ""
        "#]],
    )
    .await;
    check(
        Method::HEAD,
        "/volumes/data",
        None,
        "",
        expect![[r#"
            404 Not Found application/json
        "#]],
    )
    .await;
}

#[tokio::test]
async fn create_reads_the_body_like_go() {
    check(
        Method::POST,
        "/volumes/create",
        None,
        r#"{"Name":"data","Driver":null,"DriverOpts":{"type":"tmpfs","device":"tmpfs"},"Labels":{"a":"b"}}"#,
        expect![[r#"
            201 Created application/json
            {"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local"}
            > create name="data" driver="" opts=Some({"device": "tmpfs", "type": "tmpfs"}) labels=Some({"a": "b"})
        "#]],
    )
    .await;
    // No body at all: an anonymous volume, as with dockerd.
    check(
        Method::POST,
        "/volumes/create",
        None,
        "",
        expect![[r#"
            201 Created application/json
            {"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/generated/_data","Name":"generated","Options":null,"Scope":"local"}
            > create name="" driver="" opts=None labels=None
        "#]],
    )
    .await;
    check(
        Method::POST,
        "/volumes/create",
        None,
        "{\"Name\":",
        expect![[r#"
            400 Bad Request application/json
            {"message":"invalid JSON: got EOF while reading request body"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn cluster_volumes_are_for_swarm_managers() {
    check(
        Method::POST,
        "/volumes/create",
        Some(42),
        r#"{"Name":"c","ClusterVolumeSpec":{"Group":"g"}}"#,
        expect![[r#"
            503 Service Unavailable application/json
            {"message":"This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" to connect this node to swarm and try again."}
        "#]],
    )
    .await;
    // Before 1.42 the spec is not a field dockerd knows: a local volume.
    check(
        Method::POST,
        "/volumes/create",
        Some(41),
        r#"{"Name":"c","ClusterVolumeSpec":{"Group":"g"}}"#,
        expect![[r#"
            201 Created application/json
            {"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/c/_data","Name":"c","Options":null,"Scope":"local"}
            > create name="c" driver="" opts=None labels=None
        "#]],
    )
    .await;
    check(
        Method::PUT,
        "/volumes/data?version=1",
        Some(51),
        "{}",
        expect![[r#"
            503 Service Unavailable application/json
            {"message":"volume update only valid for cluster volumes, but swarm is unavailable"}
        "#]],
    )
    .await;
    check(
        Method::PUT,
        "/volumes/data",
        Some(41),
        "",
        expect![[r#"
            400 Bad Request application/json
            {"message":"PUT /volumes/{name:.*} requires minimum API version 1.42"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn remove_forgives_only_missing_volumes() {
    check(
        Method::DELETE,
        "/volumes/missing?force=1",
        None,
        "",
        expect![[r#"
            204 No Content -
            > remove missing force=true
        "#]],
    )
    .await;
    check(
        Method::DELETE,
        "/volumes/busy?force=true",
        None,
        "",
        expect![[r#"
            409 Conflict application/json
            {"message":"remove busy: volume is in use - [abc]"}
            > remove busy force=true
        "#]],
    )
    .await;
    check(
        Method::DELETE,
        "/volumes/prune",
        None,
        "",
        expect![[r#"
            204 No Content -
            > remove prune force=false
        "#]],
    )
    .await;
}

#[tokio::test]
async fn prune_depends_on_the_api_version() {
    check(
        Method::POST,
        "/volumes/prune?filters=%7B%22label%22%3A%5B%22a%22%5D%7D",
        Some(41),
        "",
        expect![[r#"
            200 OK application/json
            {"VolumesDeleted":["old"],"SpaceReclaimed":7}
            > prune all=true,label=a
        "#]],
    )
    .await;
    check(
        Method::POST,
        "/volumes/prune",
        Some(51),
        "",
        expect![[r#"
            200 OK application/json
            {"VolumesDeleted":["old"],"SpaceReclaimed":7}
            > prune 
        "#]],
    )
    .await;
    check(
        Method::POST,
        "/volumes/prune",
        Some(24),
        "",
        expect![[r#"
            400 Bad Request application/json
            {"message":"POST /volumes/prune requires minimum API version 1.25"}
        "#]],
    )
    .await;
    check(
        Method::POST,
        "/volumes/prune?filters=%7B%22until%22%3A%5B%2210m%22%5D%7D",
        None,
        "",
        expect![[r#"
            400 Bad Request application/json
            {"message":"invalid filter 'until'"}
        "#]],
    )
    .await;
    check(
        Method::POST,
        "/volumes/data",
        None,
        "",
        expect![[r#"
            404 Not Found application/json
            {"message":"page not found"}
        "#]],
    )
    .await;
}
