//! CORS from `api-cors-header`: dockerd's allowed headers and methods, for a list of origins
//! (dockerd allowed a single one) or `*`.

use http::{HeaderName, HeaderValue, Method};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// An origin that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid api-cors-header origin {origin:?}: must be `*` or an origin such as https://example.com"
)]
pub struct CorsError {
    /// The rejected origin.
    pub origin: String,
}

/// The CORS layer for `origins`, or `None` when the list is empty (CORS off). `*` anywhere in the
/// list allows every origin.
pub fn cors_layer(origins: &[String]) -> Result<Option<CorsLayer>, CorsError> {
    let origins: Vec<&str> = origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()).collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins.contains(&"*") {
        AllowOrigin::any()
    } else {
        let values = origins
            .iter()
            .map(|o| {
                let valid = o.contains("://") && !o.ends_with('/');
                HeaderValue::from_str(o)
                    .ok()
                    .filter(|_| valid)
                    .ok_or_else(|| CorsError { origin: (*o).to_owned() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        AllowOrigin::list(values)
    };
    let layer = CorsLayer::new()
        .allow_origin(allow_origin)
        .allow_methods([
            Method::HEAD,
            Method::GET,
            Method::POST,
            Method::DELETE,
            Method::PUT,
            Method::OPTIONS,
        ])
        .allow_headers([
            HeaderName::from_static("origin"),
            HeaderName::from_static("x-requested-with"),
            HeaderName::from_static("content-type"),
            HeaderName::from_static("accept"),
            HeaderName::from_static("x-registry-auth"),
        ]);
    Ok(Some(layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_means_off_and_bad_origins_are_named() {
        assert!(cors_layer(&[]).expect("empty").is_none());
        assert!(cors_layer(&[" ".into()]).expect("blank").is_none());
        assert!(cors_layer(&["*".into()]).expect("any").is_some());
        assert!(cors_layer(&["https://a.example".into(), "http://b:8080".into()]).is_ok());
        let err = cors_layer(&["not an origin".into()]).expect_err("bad");
        assert_eq!(err.origin, "not an origin");
    }
}
