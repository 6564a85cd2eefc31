use std::sync::Arc;

use berth_middleware::authz::{Peer, RequestBody, RequestInfo, ResponseInfo};
use bytes::Bytes;
use expect_test::expect;
use http::{HeaderMap, HeaderValue, Method, StatusCode};

use super::*;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (k, v) in pairs {
        map.append(*k, HeaderValue::from_str(v).expect("test header"));
    }
    map
}

fn request(path: &str, body: RequestBody, peer: Peer) -> RequestInfo {
    RequestInfo {
        method: Method::POST,
        uri: format!("/v1.51{path}?name=web"),
        path: path.to_owned(),
        headers: headers(&[
            ("content-type", "application/json"),
            ("x-registry-auth", "c2VjcmV0"),
            ("Authorization", "Bearer secret"),
            ("x-Registry-Config", "e30="),
            ("accept", "text/plain"),
            ("accept", "application/json"),
            ("user-agent", "Docker-Client/28.0.0 (linux)"),
        ]),
        body,
        peer: Arc::new(peer),
    }
}

#[test]
fn request_phase_json_as_dockerd_sends_it() {
    let info = request(
        "/containers/create",
        RequestBody::Json(Bytes::from_static(b"{}")),
        Peer::default(),
    );
    let json = serde_json::to_string_pretty(&AuthzRequest::for_request(&info)).expect("encodes");
    // Credentials gone, names canonical, the last of repeated values, body base64, no user.
    expect![[r#"
        {
          "RequestMethod": "POST",
          "RequestUri": "/v1.51/containers/create?name=web",
          "RequestBody": "e30=",
          "RequestHeaders": {
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "Docker-Client/28.0.0 (linux)"
          }
        }"#]]
    .assert_eq(&json);
}

#[test]
fn hidden_and_empty_bodies_are_omitted() {
    for body in [RequestBody::Hidden, RequestBody::Empty] {
        let info = request("/build", body, Peer::default());
        let value = serde_json::to_value(AuthzRequest::for_request(&info)).expect("encodes");
        assert!(value.get("RequestBody").is_none(), "{value}");
    }
}

#[test]
fn tls_user_and_peer_certificates() {
    let der = (0u8..=200).collect::<Vec<u8>>();
    let peer = Peer {
        certificates: vec![Bytes::from(der.clone())],
        common_name: Some("alice".into()),
        ..Peer::default()
    };
    let info = request("/info", RequestBody::Empty, peer);
    let wire = AuthzRequest::for_request(&info);
    assert_eq!(wire.user, "alice");
    assert_eq!(wire.user_authn_method, "TLS");
    let value = serde_json::to_value(&wire).expect("encodes");
    let first = value["RequestPeerCertificates"][0].as_str().expect("a string");
    let pem = String::from_utf8(STANDARD.decode(first).expect("base64")).expect("text");
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----\n"), "{pem}");
    assert!(pem.ends_with("\n-----END CERTIFICATE-----\n"), "{pem}");
    assert!(pem.lines().all(|l| l.len() <= 64), "{pem}");
    // And back: a plugin written with these types reads the DER again.
    let back: AuthzRequest = serde_json::from_value(value).expect("decodes");
    assert_eq!(back.request_peer_certificates, vec![der]);
}

#[test]
fn a_common_name_without_certificates_is_not_a_user() {
    let peer = Peer { common_name: Some("mallory".into()), ..Peer::default() };
    let wire = AuthzRequest::for_request(&request("/info", RequestBody::Empty, peer));
    assert_eq!((wire.user.as_str(), wire.user_authn_method.as_str()), ("", ""));
}

#[test]
fn response_phase_adds_status_headers_and_json_body() {
    let info = request("/containers/create", RequestBody::Empty, Peer::default());
    let response = ResponseInfo {
        status: StatusCode::CREATED,
        headers: headers(&[("content-type", "application/json"), ("api-version", "1.51")]),
        body: Bytes::from_static(b"{\"Id\":\"abc\"}\n"),
    };
    let wire = AuthzRequest::for_response(&info, &response);
    assert_eq!(wire.response_status_code, 201);
    assert_eq!(wire.response_body, b"{\"Id\":\"abc\"}\n");
    assert_eq!(wire.response_headers.get("Api-Version").map(String::as_str), Some("1.51"));
    assert_eq!(wire.request_method, "POST");
}

#[test]
fn response_bodies_of_auth_and_non_json_are_omitted() {
    let json = headers(&[("content-type", "application/json")]);
    let text = headers(&[("content-type", "text/plain; charset=utf-8")]);
    for (path, h) in [("/auth", json), ("/_ping", text)] {
        let info = request(path, RequestBody::Empty, Peer::default());
        let response =
            ResponseInfo { status: StatusCode::OK, headers: h, body: Bytes::from_static(b"OK") };
        let value =
            serde_json::to_value(AuthzRequest::for_response(&info, &response)).expect("encodes");
        assert!(value.get("ResponseBody").is_none(), "{path}: {value}");
    }
}

#[test]
fn plugin_replies_decode_leniently() {
    let r: PluginResponse = serde_json::from_str(r#"{"Allow":true}"#).expect("decodes");
    assert!(r.allow);
    let r: PluginResponse = serde_json::from_str(r#"{"Msg":"no","Extra":1}"#).expect("decodes");
    assert_eq!((r.allow, r.msg.as_str()), (false, "no"));
    let m: Manifest =
        serde_json::from_str(r#"{"Implements":["authz","VolumeDriver"]}"#).expect("decodes");
    assert!(m.implements.iter().any(|i| i == AUTHZ_CAPABILITY));
    assert_eq!(
        serde_json::to_string(&PluginResponse::default()).expect("encodes"),
        r#"{"Allow":false}"#
    );
}

#[test]
fn header_names_are_canonical() {
    assert_eq!(canonical_header_name("x-forwarded-for"), "X-Forwarded-For");
    assert_eq!(canonical_header_name("content-type"), "Content-Type");
    assert_eq!(canonical_header_name("dnt"), "Dnt");
}

#[test]
fn a_certificate_without_a_common_name_is_still_tls() {
    let peer = Peer { certificates: vec![Bytes::from_static(b"der")], ..Peer::default() };
    let wire = AuthzRequest::for_request(&request("/info", RequestBody::Empty, peer));
    assert_eq!((wire.user.as_str(), wire.user_authn_method.as_str()), ("", "TLS"));
}
