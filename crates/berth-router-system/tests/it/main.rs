//! The system router over a fake backend, driven with `oneshot` (no socket).

use std::sync::{Arc, Mutex};

use axum::body::Body;
use berth_api::system::{Actor, Event, Info, Version};
use berth_api::{Error, Result};
use berth_backend::{BoxStream, EventsQuery, PingInfo, SystemBackend};
use expect_test::{Expect, expect};
use futures_util::StreamExt;
use http::{Method, Request};
use http_body_util::BodyExt;
use tower::ServiceExt;

#[derive(Default)]
struct Fake {
    last_query: Mutex<Option<EventsQuery>>,
}

#[async_trait::async_trait]
impl SystemBackend for Fake {
    fn ping(&self) -> PingInfo {
        PingInfo { builder_version: "2".into(), swarm: "inactive".into() }
    }

    async fn version(&self) -> Result<Version> {
        Ok(Version { version: "9.9.9".into(), api_version: "1.51".into(), ..Version::default() })
    }

    async fn info(&self) -> Result<Info> {
        Err(Error::unavailable("host facts unavailable"))
    }

    async fn login(&self, auth: berth_api::image::AuthConfig) -> Result<String> {
        if auth.password == "right" {
            Ok("Login Succeeded".into())
        } else {
            Err(Error::new(berth_api::ErrorKind::Unauthorized, "unauthorized: bad credentials"))
        }
    }

    async fn disk_usage(&self) -> Result<berth_backend::DiskUsage> {
        let image = berth_api::image::ImageSummary {
            id: "sha256:abc".into(),
            repo_tags: vec!["busybox:latest".into()],
            size: 42,
            ..Default::default()
        };
        let volume = berth_api::volume::Volume {
            created_at: "2024-01-02T03:04:05Z".into(),
            driver: "local".into(),
            mountpoint: "/var/lib/berth/volumes/data/_data".into(),
            name: "data".into(),
            scope: "local".into(),
            usage_data: Some(berth_api::volume::UsageData { ref_count: 1, size: 4096 }),
            ..Default::default()
        };
        Ok(berth_backend::DiskUsage { layers_size: 42, images: vec![image], volumes: vec![volume] })
    }

    fn events(&self, query: EventsQuery) -> Result<BoxStream<'static, Result<Event>>> {
        *self.last_query.lock().expect("lock") = Some(query);
        let event = |action: &str, t: i64| Event {
            kind: "daemon".into(),
            action: action.into(),
            actor: Actor { id: "d".into(), attributes: Default::default() },
            scope: "local".into(),
            time: t,
            time_nano: t * 1_000_000_000,
        };
        let items =
            vec![Ok(event("reload", 1)), Ok(event("reload", 2)), Err(Error::system("bus gone"))];
        Ok(futures_util::stream::iter(items).boxed())
    }
}

/// Sends a request and renders status, the headers handlers set, and the body for a snapshot.
async fn call(backend: Arc<Fake>, method: Method, uri: &str) -> String {
    let app = berth_router_system::router(backend);
    let req = Request::builder().method(method).uri(uri).body(Body::empty()).expect("request");
    let res = app.oneshot(req).await.expect("infallible");
    let mut out = format!("{}\n", res.status());
    let mut names: Vec<_> = res.headers().keys().map(|k| k.as_str().to_owned()).collect();
    names.sort();
    for name in names {
        if name != "date" {
            let v = res.headers().get(&name).and_then(|v| v.to_str().ok()).unwrap_or("");
            out.push_str(&format!("{name}: {v}\n"));
        }
    }
    let body = res.into_body().collect().await.expect("body").to_bytes();
    out.push('\n');
    out.push_str(&String::from_utf8_lossy(&body));
    out
}

async fn check(method: Method, uri: &str, expected: Expect) {
    expected.assert_eq(&call(Arc::new(Fake::default()), method, uri).await);
}

#[tokio::test]
async fn ping() {
    check(
        Method::GET,
        "/_ping",
        expect![[r#"
        200 OK
        builder-version: 2
        cache-control: no-cache, no-store, must-revalidate
        content-length: 2
        content-type: text/plain; charset=utf-8
        pragma: no-cache
        swarm: inactive

        OK"#]],
    )
    .await;
    check(
        Method::HEAD,
        "/_ping",
        expect![[r#"
        200 OK
        builder-version: 2
        cache-control: no-cache, no-store, must-revalidate
        content-length: 0
        content-type: text/plain; charset=utf-8
        pragma: no-cache
        swarm: inactive

    "#]],
    )
    .await;
}

#[tokio::test]
async fn version_is_json_with_a_newline() {
    check(Method::GET, "/version", expect![[r#"
        200 OK
        content-length: 165
        content-type: application/json

        {"Platform":{"Name":""},"Components":[],"Version":"9.9.9","ApiVersion":"1.51","MinAPIVersion":"","GitCommit":"","GoVersion":"","Os":"","Arch":"","KernelVersion":""}
    "#]])
    .await;
}

#[tokio::test]
async fn backend_errors_keep_their_status_and_message() {
    check(
        Method::GET,
        "/info",
        expect![[r#"
        503 Service Unavailable
        content-length: 37
        content-type: application/json

        {"message":"host facts unavailable"}
    "#]],
    )
    .await;
}

#[tokio::test]
async fn events_stream_one_json_per_line_and_stop_at_an_error() {
    check(Method::GET, "/events", expect![[r#"
        200 OK
        content-type: application/json

        {"Type":"daemon","Action":"reload","Actor":{"ID":"d","Attributes":{}},"scope":"local","time":1,"timeNano":1000000000}
        {"Type":"daemon","Action":"reload","Actor":{"ID":"d","Attributes":{}},"scope":"local","time":2,"timeNano":2000000000}
    "#]])
    .await;
}

#[tokio::test]
async fn events_query_reaches_the_backend_parsed() {
    let fake = Arc::new(Fake::default());
    let uri = "/events?since=10.5&until=20&filters=%7B%22type%22%3A%7B%22daemon%22%3Atrue%7D%7D";
    call(Arc::clone(&fake), Method::GET, uri).await;
    let query = fake.last_query.lock().expect("lock").clone().expect("backend called");
    assert_eq!(query.since, Some(10_500_000_000));
    assert_eq!(query.until, Some(20_000_000_000));
    assert!(query.filters.exact_match("type", "daemon"));
    assert!(!query.filters.exact_match("type", "container"));
}

#[tokio::test]
async fn bad_events_queries_are_json_400s() {
    check(
        Method::GET,
        "/events?filters=%7Bnope",
        expect![[r#"
        400 Bad Request
        content-length: 29
        content-type: application/json

        {"message":"invalid filter"}
    "#]],
    )
    .await;
    check(
        Method::GET,
        "/events?since=30&until=20",
        expect![[r#"
            400 Bad Request
            content-length: 66
            content-type: application/json

            {"message":"`since` time (30) cannot be after `until` time (20)"}
        "#]],
    )
    .await;
}

#[tokio::test]
async fn options_is_an_empty_200_anywhere() {
    check(
        Method::OPTIONS,
        "/containers/abc/json",
        expect![[r#"
        200 OK
        content-length: 0

    "#]],
    )
    .await;
}

#[tokio::test]
async fn disk_usage_reports_images_and_empty_sections() {
    check(Method::GET, "/system/df", expect![[r#"
        200 OK
        content-length: 423
        content-type: application/json

        {"BuildCache":null,"Containers":[],"Images":[{"Containers":0,"Created":0,"Id":"sha256:abc","Labels":null,"ParentId":"","RepoDigests":[],"RepoTags":["busybox:latest"],"SharedSize":0,"Size":42}],"LayersSize":42,"Volumes":[{"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local","UsageData":{"RefCount":1,"Size":4096}}]}
    "#]]).await;
    check(
        Method::GET,
        "/system/df?type=volume",
        expect![[r#"
            200 OK
            content-length: 215
            content-type: application/json

            {"Volumes":[{"CreatedAt":"2024-01-02T03:04:05Z","Driver":"local","Labels":null,"Mountpoint":"/var/lib/berth/volumes/data/_data","Name":"data","Options":null,"Scope":"local","UsageData":{"RefCount":1,"Size":4096}}]}
        "#]],
    )
    .await;
    check(
        Method::GET,
        "/system/df?type=bogus",
        expect![[r#"
        400 Bad Request
        content-length: 41
        content-type: application/json

        {"message":"unknown object type: bogus"}
    "#]],
    )
    .await;
}

async fn post_json(uri: &str, body: &'static str) -> (u16, String) {
    let app = berth_router_system::router(Arc::new(Fake::default()));
    let req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("request");
    let res = app.oneshot(req).await.expect("infallible");
    let status = res.status().as_u16();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn login_answers_like_dockerd() {
    let ok = post_json(
        "/auth",
        r#"{"username":"u","password":"right","serveraddress":"127.0.0.1:5000"}"#,
    )
    .await;
    assert_eq!(ok, (200, "{\"IdentityToken\":\"\",\"Status\":\"Login Succeeded\"}\n".to_owned()));
    let denied = post_json("/auth", r#"{"username":"u","password":"wrong"}"#).await;
    assert_eq!(denied.0, 401);
    let garbage = post_json("/auth", "{not json").await;
    assert_eq!(garbage.0, 400);
}
