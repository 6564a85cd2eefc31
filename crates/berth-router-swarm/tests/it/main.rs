//! The swarm router answers as a dockerd outside any swarm.

use axum::body::Body;
use http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use tower::ServiceExt;

async fn call(method: Method, uri: &str) -> (StatusCode, String) {
    let req = Request::builder().method(method).uri(uri).body(Body::empty()).expect("request");
    let res = berth_router_swarm::router().oneshot(req).await.expect("infallible");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).expect("JSON error body");
    (status, json["message"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn manager_only_endpoints_are_503_not_a_manager() {
    for (method, uri) in [
        (Method::GET, "/swarm"),
        (Method::POST, "/swarm/update"),
        (Method::POST, "/swarm/unlock"),
        (Method::GET, "/swarm/unlockkey"),
        (Method::GET, "/services"),
        (Method::POST, "/services/create"),
        (Method::GET, "/services/web"),
        (Method::DELETE, "/services/web"),
        (Method::POST, "/services/web/update"),
        (Method::GET, "/nodes"),
        (Method::GET, "/nodes/n1"),
        (Method::DELETE, "/nodes/n1"),
        (Method::POST, "/nodes/n1/update"),
        (Method::GET, "/tasks"),
        (Method::GET, "/tasks/t1"),
        (Method::GET, "/secrets"),
        (Method::POST, "/secrets/create"),
        (Method::GET, "/secrets/s1"),
        (Method::DELETE, "/secrets/s1"),
        (Method::POST, "/secrets/s1/update"),
        (Method::GET, "/configs"),
        (Method::POST, "/configs/create"),
        (Method::GET, "/configs/c1"),
        (Method::DELETE, "/configs/c1"),
        (Method::POST, "/configs/c1/update"),
        (Method::GET, "/services/web/logs?stdout=1"),
        (Method::GET, "/tasks/t1/logs?stderr=true"),
    ] {
        let (status, message) = call(method.clone(), uri).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{method} {uri}");
        assert_eq!(message, berth_router_swarm::NOT_A_MANAGER, "{method} {uri}");
    }
}

#[tokio::test]
async fn leave_init_join_and_bad_log_queries() {
    assert_eq!(
        call(Method::POST, "/swarm/leave").await,
        (StatusCode::SERVICE_UNAVAILABLE, "This node is not part of a swarm".to_owned())
    );
    for uri in ["/swarm/init", "/swarm/join"] {
        let (status, message) = call(Method::POST, uri).await;
        assert_eq!(status, StatusCode::NOT_IMPLEMENTED, "{uri}");
        assert!(message.contains("swarm mode"), "{message}");
    }
    let (status, message) = call(Method::GET, "/tasks/t1/logs").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(message, "Bad parameters: you must choose at least one stream");
}
