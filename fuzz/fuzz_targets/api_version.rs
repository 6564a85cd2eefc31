//! API versions: `ApiVersion`'s strict and lenient parsers, and the two layers that read the
//! `/vX.Y` path prefix (`StripVersionPrefix`, then `VersionCheck`), over any request target.

#![no_main]

use std::convert::Infallible;

use axum::body::Body;
use axum::response::Response;
use berth_api::{ApiVersion, MAX_API_VERSION, MIN_API_VERSION};
use berth_middleware::{StripVersionPrefixLayer, VersionLayer};
use futures_util::FutureExt;
use http::{Method, Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use tower::{ServiceBuilder, ServiceExt, service_fn};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lenient = ApiVersion::parse_lenient(&text);
    assert_eq!(ApiVersion::parse_lenient(&lenient.to_string()), lenient, "{text:?}");
    if let Some(strict) = ApiVersion::parse(&text) {
        assert_eq!(strict, lenient, "{text:?}");
        assert_eq!(text.parse::<ApiVersion>(), Ok(strict), "{text:?}");
    }

    for target in [format!("/v{text}/containers/json"), text.clone().into_owned()] {
        let Ok(uri) = target.parse::<http::Uri>() else { continue };
        for method in [Method::GET, Method::OPTIONS] {
            let stack = ServiceBuilder::new()
                .layer(StripVersionPrefixLayer)
                .layer(
                    VersionLayer::new("Berth", "0.0.0", MIN_API_VERSION, MAX_API_VERSION)
                        .expect("a valid version range"),
                )
                .service(service_fn(|_: Request<Body>| async {
                    Ok::<_, Infallible>(Response::new(Body::empty()))
                }));
            let request = Request::builder()
                .method(method)
                .uri(uri.clone())
                .body(Body::empty())
                .expect("a request from a valid URI");
            let response = stack
                .oneshot(request)
                .now_or_never()
                .expect("the version layers answer without waiting")
                .expect("infallible");
            let status = response.status();
            assert!(
                matches!(
                    status,
                    StatusCode::OK | StatusCode::MOVED_PERMANENTLY | StatusCode::BAD_REQUEST
                ),
                "{target:?}: {status}"
            );
        }
    }
});
