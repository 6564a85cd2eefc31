//! Activation and the authorization calls against a healthy plugin.

use std::sync::Arc;
use std::time::{Duration, Instant};

use berth_api::ErrorKind;
use berth_middleware::authz::Authorizer as _;
use http::StatusCode;
use serde_json::json;

use super::fake::{Fake, allow_all, answer};
use super::{Dirs, NAME, request, response, write};
use crate::plugin::{CallError, PluginAuthorizer, PluginError};
use crate::wire::ACCEPT;

#[tokio::test]
async fn activation_then_request_phase_as_dockerd_posts_it() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    assert_eq!(plugin.name(), NAME);
    plugin.authorize_request(request()).await.expect("allowed");

    let seen = fake.requests();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].path, "/Plugin.Activate");
    assert!(seen[0].body.is_empty());
    assert_eq!(seen[1].path, "/AuthZPlugin.AuthZReq");
    for req in &seen {
        assert_eq!(req.headers["accept"], ACCEPT);
        assert_eq!(req.headers["host"], "plugin.moby.localhost");
        assert!(req.headers.get("content-type").is_none(), "dockerd sets no Content-Type");
    }
    assert_eq!(
        seen[1].json(),
        json!({
            "RequestMethod": "POST",
            "RequestUri": "/v1.51/containers/create?name=web",
            "RequestBody": "eyJJbWFnZSI6ImFscGluZSJ9",
            "RequestHeaders": {
                "Content-Type": "application/json",
                "User-Agent": "Docker-Client/28.0.0 (linux)",
            },
        })
    );
    assert_eq!(fake.connections(), 1, "activation and the call share a connection");
}

#[tokio::test]
async fn response_phase_posts_status_headers_and_body() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    plugin.authorize_response(request(), response()).await.expect("allowed");

    let seen = fake.requests();
    let last = seen.last().expect("a call");
    assert_eq!(last.path, "/AuthZPlugin.AuthZRes");
    let body = last.json();
    assert_eq!(body["ResponseStatusCode"], 201);
    assert_eq!(body["ResponseBody"], "eyJJZCI6ImFiYyJ9");
    assert_eq!(body["ResponseHeaders"], json!({"Content-Type": "application/json"}));
    assert_eq!(body["RequestUri"], "/v1.51/containers/create?name=web");
    assert!(body["RequestHeaders"].get("Authorization").is_none());
}

#[tokio::test]
async fn connections_are_kept_alive_and_reused() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    for _ in 0..10 {
        plugin.authorize_request(request()).await.expect("allowed");
        plugin.authorize_response(request(), response()).await.expect("allowed");
    }
    assert_eq!(fake.requests().len(), 21);
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn a_denial_is_a_403_with_the_plugins_message() {
    let d = Dirs::new();
    let _fake = Fake::unix(
        &d.socket(),
        answer(|req| {
            let body = if req.path.ends_with("AuthZReq") {
                r#"{"Allow":false,"Msg":"no containers on fridays"}"#
            } else {
                r#"{"Allow":false}"#
            };
            (StatusCode::OK, body.to_owned())
        }),
    );
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");

    let err = plugin.authorize_request(request()).await.expect_err("denied");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        err.message(),
        format!("authorization denied by plugin {NAME}: no containers on fridays")
    );

    let err = plugin.authorize_response(request(), response()).await.expect_err("denied");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert_eq!(err.message(), format!("authorization denied by plugin {NAME}: "));
    assert!(!plugin.is_down());
}

#[tokio::test]
async fn on_200_the_err_field_is_ignored() {
    let d = Dirs::new();
    let _fake = Fake::unix(
        &d.socket(),
        answer(|_| (StatusCode::OK, r#"{"Allow":true,"Err":"ignored"}"#.to_owned())),
    );
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    plugin.authorize_request(request()).await.expect("allowed despite Err");
}

#[tokio::test]
async fn a_non_200_reply_is_a_500_naming_the_method_and_is_not_retried() {
    let d = Dirs::new();
    let fake = Fake::unix(
        &d.socket(),
        answer(|req| match req.path.as_str() {
            "/AuthZPlugin.AuthZReq" => {
                (StatusCode::INTERNAL_SERVER_ERROR, r#"{"Err":"policy store offline"}"#.to_owned())
            }
            _ => (StatusCode::BAD_REQUEST, "  not json at all\n".to_owned()),
        }),
    );
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");

    let err = plugin.authorize_request(request()).await.expect_err("plugin error");
    assert_eq!(err.kind(), ErrorKind::System);
    assert_eq!(
        err.message(),
        format!("plugin {NAME} failed with error: AuthZPlugin.AuthZReq: policy store offline")
    );
    let err = plugin.authorize_response(request(), response()).await.expect_err("plugin error");
    assert_eq!(err.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        err.message(),
        format!("plugin {NAME} failed with error: AuthZPlugin.AuthZRes: not json at all")
    );

    // One activation and one post each: no retries, and the plugin is not marked down.
    assert_eq!(fake.requests().len(), 3);
    assert!(!plugin.is_down());
    assert!(plugin.authorize_request(request()).await.is_err());
    assert_eq!(fake.requests().len(), 4);
}

#[tokio::test]
async fn a_200_reply_that_is_not_json_is_a_500() {
    let d = Dirs::new();
    let _fake = Fake::unix(&d.socket(), answer(|_| (StatusCode::OK, "yes".to_owned())));
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    let err = plugin.authorize_request(request()).await.expect_err("never allow on garbage");
    assert_eq!(err.kind(), ErrorKind::System);
    let prefix = format!("plugin {NAME} failed with error: AuthZPlugin.AuthZReq: invalid reply: ");
    assert!(err.message().starts_with(&prefix), "{}", err.message());
}

#[tokio::test]
async fn a_plugin_that_does_not_implement_authz_is_refused() {
    let d = Dirs::new();
    let _fake = Fake::unix(
        &d.socket(),
        Arc::new(|_| Some((StatusCode::OK, r#"{"Implements":["VolumeDriver"]}"#.to_owned()))),
    );
    let err = PluginAuthorizer::validate(NAME, &d.options()).await.expect_err("not authz");
    assert!(matches!(err, PluginError::NotAuthz { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            r#"Plugin does not implement the requested driver: plugin="{NAME}", requested implementation="authz""#
        )
    );
}

#[tokio::test]
async fn a_failed_activation_is_not_retried() {
    let d = Dirs::new();
    let fake = Fake::unix(
        &d.socket(),
        Arc::new(|_| Some((StatusCode::NOT_FOUND, "404 page not found".to_owned()))),
    );
    let options =
        crate::plugin::PluginOptions { discovery_wait: Duration::from_secs(10), ..d.options() };
    let started = Instant::now();
    let err = PluginAuthorizer::validate(NAME, &options).await.expect_err("activation fails");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(fake.requests().len(), 1);
    match &err {
        PluginError::Activate {
            source: CallError::Status { status: 404, message, .. }, ..
        } => {
            assert_eq!(message, "404 page not found");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.to_string(), format!("plugin {NAME}: activation failed"));
}

#[tokio::test]
async fn validate_waits_for_a_plugin_that_appears_later() {
    let d = Dirs::new();
    let socket = d.socket();
    let late = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        Fake::unix(&socket, allow_all())
    });
    let options =
        crate::plugin::PluginOptions { discovery_wait: Duration::from_secs(10), ..d.options() };
    let plugin = PluginAuthorizer::validate(NAME, &options).await.expect("found once it is up");
    let fake = late.await.expect("fake started");
    plugin.authorize_request(request()).await.expect("allowed");
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn validate_gives_up_after_the_discovery_wait() {
    let d = Dirs::new();
    let wait = Duration::from_millis(300);
    let options = crate::plugin::PluginOptions { discovery_wait: wait, ..d.options() };
    let started = Instant::now();
    let err = PluginAuthorizer::validate(NAME, &options).await.expect_err("never appears");
    let took = started.elapsed();
    assert!(matches!(err, PluginError::NotFound { .. }), "{err:?}");
    assert!(took >= wait && took < wait + Duration::from_millis(500), "{took:?}");

    let err = PluginAuthorizer::validate("../etc", &options).await.expect_err("bad name");
    assert!(matches!(err, PluginError::InvalidName { .. }), "{err:?}");
}

#[tokio::test]
async fn a_tcp_plugin_from_a_spec_file() {
    let d = Dirs::new();
    let (fake, addr) = Fake::tcp(allow_all()).await;
    write(&d.usr().join(NAME).join(format!("{NAME}.spec")), &format!("tcp://{addr}\n"));
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    plugin.authorize_request(request()).await.expect("allowed");
    plugin.authorize_request(request()).await.expect("allowed");

    let seen = fake.requests();
    assert_eq!(seen.len(), 3);
    assert_eq!(seen[2].headers["host"], addr.to_string());
    assert_eq!(seen[2].headers["accept"], ACCEPT);
    assert_eq!(fake.connections(), 1);
}
