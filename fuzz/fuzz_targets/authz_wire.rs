//! The authorization plugin wire format (`berth_authz::wire`): replies to `Plugin.Activate` and
//! `AuthZPlugin.AuthZReq` with any status and body, as the daemon reads them, and the
//! `AuthZReq` body as a plugin reads it (a decoded body encodes and decodes to itself). Also
//! `flatten_headers` over any header names and values.

#![no_main]

use berth_authz::fuzzing::{activate_reply, authz_reply};
use berth_authz::wire::{AuthzRequest, PluginResponse, flatten_headers};
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let code = match selector % 4 {
        0 => 200,
        1 => 403,
        2 => 500,
        _ => 100 + u16::from(selector) * 4,
    };
    match authz_reply(code, body) {
        Ok(reply) => assert_eq!(code, 200, "{reply:?}"),
        Err(err) => {
            let _ = err.to_string();
        }
    }
    if let Ok(manifest) = activate_reply(code, body) {
        assert_eq!(code, 200, "{manifest:?}");
    }

    if let Ok(request) = serde_json::from_slice::<AuthzRequest>(body) {
        let json = serde_json::to_vec(&request).expect("an AuthzRequest encodes");
        let again: AuthzRequest =
            serde_json::from_slice(&json).expect("an encoded AuthzRequest decodes");
        assert_eq!(again, request);
    }
    if let Ok(response) = serde_json::from_slice::<PluginResponse>(body) {
        let json = serde_json::to_vec(&response).expect("a PluginResponse encodes");
        let again: PluginResponse =
            serde_json::from_slice(&json).expect("an encoded PluginResponse decodes");
        assert_eq!(again, response);
    }

    // Header lines `name: value`, as a client could send them.
    let mut headers = HeaderMap::new();
    for line in body.split(|b| *b == b'\n') {
        let Some(colon) = line.iter().position(|b| *b == b':') else { continue };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&line[..colon]),
            HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let flat = flatten_headers(&headers);
    for name in flat.keys() {
        let lower = name.to_ascii_lowercase();
        assert!(
            !matches!(lower.as_str(), "authorization" | "x-registry-auth" | "x-registry-config"),
            "{name} reached a plugin"
        );
    }
});
