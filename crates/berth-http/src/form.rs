use axum::extract::FromRequestParts;
use berth_api::params::bool_value_of;
use http::request::Parts;

use crate::{ApiError, ApiQuery};

/// The query as Go's `r.Form` sees it: every pair in order, repeated keys kept. Handlers read
/// parameters with dockerd's helpers (`get`, `bool`, `bool_or`) instead of a typed struct where
/// dockerd's own semantics (first value wins, absent vs empty) matter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Form(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Form {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ApiQuery(pairs) = ApiQuery::from_request_parts(parts, state).await?;
        Ok(Self(pairs))
    }
}

impl Form {
    /// `r.Form.Get`: the first value, or `""`.
    pub fn get(&self, key: &str) -> &str {
        self.0.iter().find(|(k, _)| k == key).map_or("", |(_, v)| v.as_str())
    }

    /// `r.Form[key]`: every value.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether `key` was given at all (even empty).
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// `httputils.BoolValue`.
    pub fn bool(&self, key: &str) -> bool {
        bool_value_of(self.get(key))
    }

    /// `httputils.BoolValueOrDefault`: `default` only when the key is absent.
    pub fn bool_or(&self, key: &str, default: bool) -> bool {
        if self.has(key) { self.bool(key) } else { default }
    }
}

/// Decodes `%XX` escapes in a path; a malformed escape is kept as written (gorilla/mux matches
/// on the decoded path, so `%2F` acts like `/`).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && let (Some(hi), Some(lo)) =
                (bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex))
        {
            out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_reads_like_go() {
        let f = Form(vec![
            ("a".into(), "1".into()),
            ("a".into(), "2".into()),
            ("q".into(), "0".into()),
        ]);
        assert_eq!(f.get("a"), "1");
        assert_eq!(f.all("a"), ["1", "2"]);
        assert!(!f.bool("q") && f.has("q"));
        assert!(f.bool_or("missing", true));
        assert!(!f.bool_or("q", true));
    }

    #[test]
    fn percent_decoding_keeps_malformed_escapes() {
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }
}
