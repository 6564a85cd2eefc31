//! The shared extractors and helpers inside a real axum router.

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use berth_http::{ApiJson, ApiQuery, Experimental, RouteNotFound, experimental_only, get};
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tower::ServiceExt;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Create {
    image: String,
}

#[derive(Debug, Default, Deserialize)]
struct Query {
    #[serde(default, deserialize_with = "berth_api::params::bool_value")]
    all: bool,
    #[serde(default)]
    limit: Option<u32>,
}

fn app() -> Router {
    Router::new()
        .route(
            "/create",
            post(|ApiJson(body): ApiJson<Create>| async move { format!("image={}", body.image) }),
        )
        .route(
            "/list",
            get(|ApiQuery(q): ApiQuery<Query>| async move {
                format!("all={} limit={:?}", q.all, q.limit)
            }),
        )
        .route(
            "/checkpoints",
            get(|| async { "checkpoints" })
                .route_layer(axum::middleware::from_fn(experimental_only)),
        )
}

async fn send(req: Request<Body>) -> (StatusCode, String, bool) {
    let res = app().oneshot(req).await.expect("infallible");
    let status = res.status();
    let marker = res.extensions().get::<RouteNotFound>().is_some();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned(), marker)
}

fn post_json(body: &'static str, content_type: Option<&str>) -> Request<Body> {
    let mut req = Request::post("/create");
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.body(Body::from(body)).expect("request")
}

#[tokio::test]
async fn json_bodies_follow_dockerd_rules() {
    let cases = [
        (post_json(r#"{"Image":"busybox"}"#, Some("application/json")), 200, "image=busybox"),
        (post_json("", None), 200, "image="),
        (
            post_json(r#"{"Image":"x"}"#, None),
            400,
            r#"{"message":"malformed Content-Type header (): mime: no media type"}"#,
        ),
        (
            post_json(r#"{"Image":"x"}"#, Some("text/plain")),
            400,
            r#"{"message":"unsupported Content-Type header (text/plain): must be 'application/json'"}"#,
        ),
        (
            post_json(r#"{"Image":"x"} {}"#, Some("application/json")),
            400,
            r#"{"message":"unexpected content after JSON"}"#,
        ),
        (
            post_json(r#"{"Image":"#, Some("application/json")),
            400,
            r#"{"message":"invalid JSON: got EOF while reading request body"}"#,
        ),
    ];
    for (req, status, body) in cases {
        let (got_status, got_body, _) = send(req).await;
        assert_eq!((got_status.as_u16(), got_body.trim_end()), (status, body));
    }
    let (status, body, _) = send(post_json(r#"{"Image":7}"#, Some("application/json"))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with(r#"{"message":"invalid JSON: invalid type"#), "{body}");
}

#[tokio::test]
async fn queries_parse_with_bool_value_or_answer_json_400() {
    let get = |uri: &str| Request::get(uri).body(Body::empty()).expect("request");
    assert_eq!(send(get("/list?all=1&limit=3")).await.1, "all=true limit=Some(3)");
    assert_eq!(send(get("/list?all=no")).await.1, "all=false limit=None");
    let (status, body, _) = send(get("/list?limit=many")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.starts_with(r#"{"message":"invalid query parameter: "#), "{body}");
}

#[tokio::test]
async fn get_does_not_answer_head() {
    let req =
        Request::builder().method(Method::HEAD).uri("/list").body(Body::empty()).expect("request");
    let (status, _, marker) = send(req).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(marker, "the 404 is marked so middleware leaves it bare");
}

#[tokio::test]
async fn experimental_routes_need_the_flag() {
    let req = || Request::get("/checkpoints").body(Body::empty()).expect("request");
    let (status, body, _) = send(req()).await;
    assert_eq!(status, StatusCode::NOT_IMPLEMENTED);
    assert!(body.contains("experimental mode"), "{body}");
    let mut enabled = req();
    enabled.extensions_mut().insert(Experimental(true));
    assert_eq!(send(enabled).await.1, "checkpoints");
    let mut disabled = req();
    disabled.extensions_mut().insert(Experimental(false));
    assert_eq!(send(disabled).await.0, StatusCode::NOT_IMPLEMENTED);
}

#[tokio::test]
async fn error_answers_are_json_except_a_bare_304() {
    let conflict = berth_http::error_response(StatusCode::CONFLICT, "name in use");
    assert_eq!(conflict.headers()["content-type"], "application/json");
    assert!(conflict.extensions().get::<berth_http::ErrorAnswer>().is_some());
    let body = conflict.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(body, "{\"message\":\"name in use\"}\n");

    // dockerd's 304 ("container already started") has no body and, as Go's server drops it
    // from a 304, no Content-Type.
    let not_modified =
        berth_http::error_response(StatusCode::NOT_MODIFIED, "container already started");
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert!(not_modified.headers().get("content-type").is_none(), "{:?}", not_modified.headers());
    assert!(not_modified.extensions().get::<berth_http::ErrorAnswer>().is_some());
    let body = not_modified.into_body().collect().await.expect("body").to_bytes();
    assert!(body.is_empty());
}
