//! The assembled stack, driven in-process with `oneshot` (no socket).

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::*;
use crate::config::Config;
use crate::events::EventBus;
use crate::system::{HostFacts, HostSystem};

struct Answer {
    status: StatusCode,
    headers: http::HeaderMap,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn stack_with(config: StackConfig) -> (Stack, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let facts = HostFacts::gather(dir.path()).expect("facts");
    let cfg = Config {
        data_root: dir.path().to_owned(),
        experimental: config.experimental,
        api_cors_header: config.cors_origins.clone(),
        ..Config::default()
    };
    assert_eq!(StackConfig::from(&cfg), config, "the daemon derives the stack config this way");
    let engine = Arc::new(berth_engine::Engine::unavailable("no containerd in unit tests"));
    let system = HostSystem::new(
        facts,
        Arc::new(ArcSwap::from_pointee(cfg)),
        EventBus::default(),
        Arc::clone(&engine),
    );
    let stack = build(
        &config,
        &AuthzChain::default(),
        &Backends {
            system: Arc::new(system),
            images: engine.clone(),
            containers: engine.clone(),
            exec: engine.clone(),
            volumes: engine.clone(),
            networks: engine,
        },
    )
    .expect("stack builds");
    (stack, dir)
}

async fn send(stack: &Stack, method: Method, uri: &str, headers: &[(&str, &str)]) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res =
        stack.clone().oneshot(req.body(Body::empty()).expect("request")).await.expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let bytes = res.into_body().collect().await.expect("body").to_bytes();
    Answer { status, headers, body: String::from_utf8_lossy(&bytes).into_owned() }
}

async fn get(stack: &Stack, uri: &str) -> Answer {
    send(stack, Method::GET, uri, &[]).await
}

#[tokio::test]
async fn ping_has_dockerd_headers_with_and_without_prefix() {
    let (stack, _dir) = stack_with(StackConfig::default());
    for uri in ["/_ping", "/v1.51/_ping", "/v1.24/_ping"] {
        let a = get(&stack, uri).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.body, "OK");
        assert_eq!(a.header("api-version"), Some("1.51"));
        assert_eq!(a.header("ostype"), Some("linux"));
        assert_eq!(a.header("docker-experimental"), Some("false"));
        assert_eq!(a.header("swarm"), Some("inactive"));
        assert_eq!(a.header("builder-version"), Some("2"));
        assert_eq!(a.header("cache-control"), Some("no-cache, no-store, must-revalidate"));
        assert_eq!(a.header("pragma"), Some("no-cache"));
        assert!(a.header("server").is_some_and(|s| s.starts_with("Berth/")), "{uri}");
    }
    let head = send(&stack, Method::HEAD, "/_ping", &[]).await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.body, "");
}

#[tokio::test]
async fn version_bounds_answer_400_with_dockerd_messages() {
    let (stack, _dir) = stack_with(StackConfig::default());
    let old = get(&stack, "/v1.12/version").await;
    assert_eq!(old.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        old.header("content-type"),
        Some("text/plain; charset=utf-8"),
        "pre-1.24 clients get text"
    );
    assert_eq!(
        old.body,
        "client version 1.12 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version\n"
    );
    assert!(
        old.header("docker-experimental").is_none(),
        "version errors precede the experimental layer"
    );
    assert_eq!(old.header("api-version"), Some("1.51"));

    let new = get(&stack, "/v9.99/info").await;
    assert_eq!(new.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        new.json()["message"],
        "client version 9.99 is too new. Maximum supported API version is 1.51"
    );

    let older_json = get(&stack, "/v1.23/info").await;
    assert_eq!(older_json.status, StatusCode::BAD_REQUEST);
    assert_eq!(older_json.header("content-type"), Some("text/plain; charset=utf-8"));
}

#[tokio::test]
async fn unknown_paths_and_methods_are_bare_404s() {
    let (stack, _dir) = stack_with(StackConfig::default());
    for (method, uri) in [
        (Method::GET, "/nope"),
        (Method::GET, "/v9.99/foo"),
        (Method::GET, "/v1.51"),
        (Method::POST, "/_ping"),
        (Method::DELETE, "/info"),
        (Method::HEAD, "/info"),
        (Method::GET, "/containers/x/bogus"),
    ] {
        let a = send(&stack, method.clone(), uri, &[]).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{method} {uri}");
        if method != Method::HEAD {
            assert_eq!(a.body, "{\"message\":\"page not found\"}\n", "{method} {uri}");
        }
        assert!(a.header("api-version").is_none(), "{method} {uri}: 404 passes no middleware");
        assert!(a.header("server").is_none(), "{method} {uri}");
        assert!(a.header("allow").is_none(), "{method} {uri}: dockerd sends no Allow");
    }
}

#[tokio::test]
async fn routes_berth_lacks_answer_501_naming_them() {
    let (stack, _dir) = stack_with(StackConfig::default());
    let a = get(&stack, "/v1.51/plugins/team/plugin:1/json").await;
    assert_eq!(a.status, StatusCode::NOT_IMPLEMENTED);
    let message = a.json()["message"].as_str().map(str::to_owned).unwrap_or_default();
    assert!(message.contains("GET /plugins/{name*}/json"), "{message}");
    // Image, container and volume routes exist; without containerd the engine says why (503).
    for uri in
        ["/images/localhost:5000/team/app:1/json", "/v1.51/containers/json?all=1", "/volumes/v"]
    {
        let a = get(&stack, uri).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE, "{uri}");
        assert_eq!(
            a.json()["message"],
            "containerd is not available: no containerd in unit tests",
            "{uri}"
        );
    }
}

#[tokio::test]
async fn options_anywhere_is_200() {
    let (stack, _dir) = stack_with(StackConfig::default());
    for uri in
        ["/", "/containers/json", "/v1.51/anything/at/all", "/version", "/images/busybox/json"]
    {
        let a = send(&stack, Method::OPTIONS, uri, &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
        assert_eq!(a.header("api-version"), Some("1.51"), "OPTIONS passes the middleware");
    }
}

#[tokio::test]
async fn unclean_paths_redirect() {
    let (stack, _dir) = stack_with(StackConfig::default());
    let a = get(&stack, "//v1.51/./info?x=1").await;
    assert_eq!(a.status, StatusCode::MOVED_PERMANENTLY);
    assert_eq!(a.header("location"), Some("/v1.51/info?x=1"));
}

#[tokio::test]
async fn bad_query_is_a_json_400() {
    let (stack, _dir) = stack_with(StackConfig::default());
    for uri in ["/events?filters=%7Bnope", "/events?since=yesterday", "/events?since=20&until=10"] {
        let a = get(&stack, uri).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{uri}");
        assert_eq!(a.header("content-type"), Some("application/json"), "{uri}");
        assert!(a.json()["message"].is_string(), "{uri}");
    }
}

#[tokio::test]
async fn experimental_flag_is_reported() {
    let (stack, _dir) = stack_with(StackConfig { experimental: true, ..StackConfig::default() });
    let a = get(&stack, "/version").await;
    assert_eq!(a.header("docker-experimental"), Some("true"));
    assert_eq!(a.json()["Experimental"], true);
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let origins = vec!["https://ok.example".to_owned()];
    let (stack, _dir) = stack_with(StackConfig { cors_origins: origins, ..StackConfig::default() });
    let allowed = send(&stack, Method::GET, "/_ping", &[("origin", "https://ok.example")]).await;
    assert_eq!(allowed.header("access-control-allow-origin"), Some("https://ok.example"));
    let denied = send(&stack, Method::GET, "/_ping", &[("origin", "https://evil.example")]).await;
    assert!(denied.header("access-control-allow-origin").is_none());
    let preflight = send(
        &stack,
        Method::OPTIONS,
        "/containers/json",
        &[("origin", "https://ok.example"), ("access-control-request-method", "POST")],
    )
    .await;
    assert_eq!(preflight.status, StatusCode::OK);
    let methods = preflight.header("access-control-allow-methods").unwrap_or_default().to_owned();
    assert!(methods.contains("POST") && methods.contains("DELETE"), "{methods}");

    let (plain, _dir) = stack_with(StackConfig::default());
    let none = send(&plain, Method::GET, "/_ping", &[("origin", "https://ok.example")]).await;
    assert!(none.header("access-control-allow-origin").is_none(), "CORS off by default");
}

#[tokio::test]
async fn version_and_info_have_real_values() {
    let (stack, dir) = stack_with(StackConfig::default());
    let v = get(&stack, "/v1.41/version").await.json();
    assert_eq!(v["ApiVersion"], "1.51");
    assert_eq!(v["MinAPIVersion"], "1.24");
    assert_eq!(v["Components"][0]["Name"], "Engine");
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    let i = get(&stack, "/info").await.json();
    assert!(i["NCPU"].as_u64().is_some_and(|n| n >= 1));
    assert!(i["MemTotal"].as_u64().is_some_and(|n| n > 0));
    assert_eq!(i["DockerRootDir"], dir.path().display().to_string());
    assert_eq!(i["ID"].as_str().map(str::len), Some(36));
}
