//! The `X-Registry-Auth` header: base64url-encoded JSON credentials.

use base64::Engine;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use berth_api::image::AuthConfig;
use http::HeaderMap;

/// The header's name (lower-case, as `http` stores it).
const HEADER: &str = "x-registry-auth";

/// Decodes `X-Registry-Auth` for the endpoints where dockerd ignores bad credentials (pull, push,
/// distribution): absent, malformed or undecodable all mean anonymous. The header's value is never
/// logged; only the fact that it was unusable is.
pub(crate) fn registry_auth_lenient(headers: &HeaderMap) -> AuthConfig {
    match decode(headers) {
        Ok(auth) => auth,
        Err(why) => {
            // The reason names the decoding step that failed, never the header's content.
            tracing::debug!(reason = %why, "ignoring an unusable X-Registry-Auth header");
            AuthConfig::default()
        }
    }
}

/// dockerd's `DecodeAuthConfig`: empty means no credentials; otherwise base64url (padded, or —
/// more lenient than dockerd — unpadded; line breaks ignored like Go's decoder does) of a JSON
/// object. The error text is dockerd's `invalid X-Registry-Auth header: ...`.
pub(crate) fn decode(headers: &HeaderMap) -> Result<AuthConfig, String> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(AuthConfig::default());
    };
    let text: String = String::from_utf8_lossy(value.as_bytes())
        .chars()
        .filter(|c| *c != '\r' && *c != '\n')
        .collect();
    if text.is_empty() {
        return Ok(AuthConfig::default());
    }
    let invalid = |why: String| format!("invalid X-Registry-Auth header: {why}");
    let json = URL_SAFE
        .decode(&text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
        .map_err(|err| invalid(err.to_string()))?;
    AuthConfig::from_json(&json).map_err(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(HEADER, value.parse().expect("header value"));
        h
    }

    #[test]
    fn padded_and_unpadded_base64url_decode() {
        // {"username":"u","password":"p?>","serveraddress":"r"}: the `?>` encodes to `_` / `-`.
        let json = r#"{"username":"u","password":"p?>","serveraddress":"r"}"#;
        let padded = URL_SAFE.encode(json);
        assert!(padded.contains(['_', '-']) || padded.ends_with('='), "{padded}");
        for value in [padded.clone(), padded.trim_end_matches('=').to_owned()] {
            let auth = decode(&headers(&value)).expect("decodes");
            assert_eq!((auth.username.as_str(), auth.password.as_str()), ("u", "p?>"));
            assert_eq!(auth.serveraddress, "r");
        }
        let identity = URL_SAFE.encode(r#"{"identitytoken":"tok"}"#);
        assert_eq!(decode(&headers(&identity)).expect("token").identitytoken, "tok");
    }

    #[test]
    fn absent_or_empty_is_anonymous_and_garbage_is_an_error_or_anonymous() {
        assert!(decode(&HeaderMap::new()).expect("absent").is_empty());
        assert!(decode(&headers("")).expect("empty").is_empty());
        let err = decode(&headers("not base64!")).expect_err("garbage");
        assert!(err.starts_with("invalid X-Registry-Auth header: "), "{err}");
        let not_json = URL_SAFE.encode("nope");
        assert!(decode(&headers(&not_json)).is_err());
        assert!(registry_auth_lenient(&headers("not base64!")).is_empty());
        // `{}` is what the docker CLI sends when it has no credentials.
        assert!(registry_auth_lenient(&headers("e30=")).is_empty());
    }
}
