//! A plugin that stops answering: fail fast and closed, probe at most once per interval, recover.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use berth_api::ErrorKind;
use berth_middleware::authz::Authorizer as _;
use http::StatusCode;
use tokio::net::UnixListener;

use super::fake::{Fake, allow_all, answer};
use super::{Dirs, NAME, PROBE, request, write};
use crate::plugin::{PluginAuthorizer, PluginOptions};

/// Comfortably more than the probe interval.
const AFTER_PROBE: Duration = Duration::from_millis(PROBE.as_millis() as u64 + 100);

#[tokio::test]
async fn a_killed_plugin_fails_fast_then_is_probed_once_per_interval() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    plugin.authorize_request(request()).await.expect("allowed");
    fake.kill().await;

    // The first request finds out: a 500 after a couple of quick retries.
    let started = Instant::now();
    let err = plugin.authorize_request(request()).await.expect_err("never allow a dead plugin");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(err.kind(), ErrorKind::System);
    let prefix = format!(
        "plugin {NAME} failed with error: Post \"http://plugin.moby.localhost/AuthZPlugin.AuthZReq\": "
    );
    let dial = format!(
        "{prefix}dial unix {}: No such file or directory (os error 2)",
        d.socket().display()
    );
    assert_eq!(err.message(), dial);
    assert!(plugin.is_down());

    // Back on the same path, but not looked at before the probe interval has passed.
    let fake = Fake::unix(&d.socket(), allow_all());
    for _ in 0..5 {
        let started = Instant::now();
        let err = plugin.authorize_request(request()).await.expect_err("still down");
        assert!(started.elapsed() < Duration::from_millis(100));
        assert_eq!(err.kind(), ErrorKind::System);
        assert_eq!(
            err.message(),
            format!(
                "{dial} (the plugin is not answering; it is tried again at most once every 200ms)"
            )
        );
    }
    assert_eq!(fake.connections(), 0);

    tokio::time::sleep(AFTER_PROBE).await;
    plugin.authorize_request(request()).await.expect("the probe finds it again");
    assert!(!plugin.is_down());
    plugin.authorize_request(request()).await.expect("allowed");
    let paths: Vec<_> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/Plugin.Activate", "/AuthZPlugin.AuthZReq", "/AuthZPlugin.AuthZReq"]);
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn a_failed_probe_keeps_it_down_for_another_interval() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    fake.kill().await;
    plugin.authorize_request(request()).await.expect_err("dead");

    tokio::time::sleep(AFTER_PROBE).await;
    // The probe: the plugin is gone from the directories altogether.
    let err = plugin.authorize_request(request()).await.expect_err("probe fails");
    assert_eq!(
        err.message(),
        format!(
            "plugin {NAME} failed with error: plugin {NAME} not found in {}, {}, {}",
            d.sockets().display(),
            d.etc().display(),
            d.usr().display()
        )
    );
    assert!(plugin.is_down());

    // Right after a failed probe, requests fail without a probe even though the plugin is back.
    let fake = Fake::unix(&d.socket(), allow_all());
    let err = plugin.authorize_request(request()).await.expect_err("no probe yet");
    assert!(err.message().contains("not found in"), "{}", err.message());
    assert!(err.message().contains("the plugin is not answering"), "{}", err.message());
    assert_eq!(fake.connections(), 0);

    tokio::time::sleep(AFTER_PROBE).await;
    plugin.authorize_request(request()).await.expect("back");
    assert_eq!(fake.connections(), 1);
}

#[tokio::test]
async fn the_probe_finds_a_plugin_restarted_on_a_new_address() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    fake.kill().await;
    plugin.authorize_request(request()).await.expect_err("dead");

    let (fake, addr) = Fake::tcp(allow_all()).await;
    write(&d.etc().join(format!("{NAME}.spec")), &format!("tcp://{addr}"));
    tokio::time::sleep(AFTER_PROBE).await;
    plugin.authorize_request(request()).await.expect("found at its new address");
    let paths: Vec<_> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/Plugin.Activate", "/AuthZPlugin.AuthZReq"]);
    assert!(format!("{plugin:?}").contains("Tcp"), "{plugin:?}");
}

#[tokio::test]
async fn connection_failures_are_retried_twice_then_the_plugin_is_down() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    fake.kill().await;

    // A socket that accepts and hangs up at once: every attempt is a connection.
    let listener = UnixListener::bind(d.socket()).expect("bind");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    let dropper = tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.expect("accept");
            counter.fetch_add(1, Ordering::SeqCst);
            drop(stream);
        }
    });

    let started = Instant::now();
    let err = plugin.authorize_request(request()).await.expect_err("hung up on");
    assert!(started.elapsed() < Duration::from_secs(1), "{:?}", started.elapsed());
    assert_eq!(err.kind(), ErrorKind::System);
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "one try and two retries");
    assert_eq!(
        err.message(),
        format!(
            "plugin {NAME} failed with error: Post \"http://plugin.moby.localhost/AuthZPlugin.AuthZReq\": connection closed before message completed"
        )
    );
    assert!(plugin.is_down());
    plugin.authorize_request(request()).await.expect_err("down");
    assert_eq!(accepted.load(Ordering::SeqCst), 3, "no connection while down");
    dropper.abort();
}

#[tokio::test]
async fn a_timeout_marks_the_plugin_down_without_retrying() {
    let d = Dirs::new();
    let handler = {
        let allow = answer(|_| (StatusCode::OK, r#"{"Allow":true}"#.to_owned()));
        Arc::new(move |req: &super::fake::Recorded| {
            // Activation works; the authorization call never gets an answer.
            if req.path == "/AuthZPlugin.AuthZReq" { None } else { allow(req) }
        })
    };
    let fake = Fake::unix(&d.socket(), handler);
    let timeout = Duration::from_millis(300);
    let options = PluginOptions { call_timeout: timeout, ..d.options() };
    let plugin = PluginAuthorizer::validate(NAME, &options).await.expect("validates");

    let started = Instant::now();
    let err = plugin.authorize_request(request()).await.expect_err("times out");
    let took = started.elapsed();
    assert!(took >= timeout && took < timeout * 2, "{took:?}");
    assert_eq!(
        err.message(),
        format!(
            "plugin {NAME} failed with error: Post \"http://plugin.moby.localhost/AuthZPlugin.AuthZReq\": timed out after 300ms"
        )
    );
    assert!(plugin.is_down());
    assert_eq!(fake.requests().len(), 2, "activation and one call, no retry");

    let started = Instant::now();
    plugin.authorize_request(request()).await.expect_err("down");
    assert!(started.elapsed() < Duration::from_millis(100));
    assert_eq!(fake.requests().len(), 2);
}

#[tokio::test]
async fn only_one_of_many_concurrent_requests_is_the_probe() {
    let d = Dirs::new();
    let fake = Fake::unix(&d.socket(), allow_all());
    let plugin = PluginAuthorizer::validate(NAME, &d.options()).await.expect("validates");
    fake.kill().await;
    plugin.authorize_request(request()).await.expect_err("dead");
    let fake = Fake::unix(&d.socket(), allow_all());
    tokio::time::sleep(AFTER_PROBE).await;

    let calls = (0..10).map(|_| plugin.authorize_request(request()));
    let verdicts = futures_util::future::join_all(calls).await;
    assert_eq!(verdicts.iter().filter(|v| v.is_ok()).count(), 1, "{verdicts:?}");
    let paths: Vec<_> = fake.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/Plugin.Activate", "/AuthZPlugin.AuthZReq"]);
    assert!(!plugin.is_down());
}
