//! dockerd's authorization plugin wire format (moby `pkg/authorization/api.go`).
//!
//! A plugin is an HTTP server. The daemon posts JSON to `/Plugin.Activate` (empty body; the
//! reply's `Implements` must contain `authz`), then to `/AuthZPlugin.AuthZReq` before each
//! request's handler and `/AuthZPlugin.AuthZRes` after it; the reply to both is a
//! [`PluginResponse`]. Every field is omitted when empty, byte fields are base64 strings (Go's
//! `[]byte`), header maps hold one value per header (the last one) with credentials removed.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use berth_middleware::authz::{RequestBody, RequestInfo, ResponseInfo, is_auth_endpoint, is_json};
use http::HeaderMap;
use serde::{Deserialize, Serialize};

/// The handshake path.
pub const ACTIVATE_PATH: &str = "/Plugin.Activate";
/// The request-phase path.
pub const AUTHZ_REQUEST_PATH: &str = "/AuthZPlugin.AuthZReq";
/// The response-phase path.
pub const AUTHZ_RESPONSE_PATH: &str = "/AuthZPlugin.AuthZRes";
/// The `Accept` header dockerd sends on every plugin call.
pub const ACCEPT: &str = "application/vnd.docker.plugins.v1.2+json";
/// The capability an authorization plugin must list in `Implements`.
pub const AUTHZ_CAPABILITY: &str = "authz";
/// `UserAuthNMethod` for a user identified by a TLS client certificate.
pub const AUTHN_TLS: &str = "TLS";

/// Headers never passed to plugins (compared case-insensitively).
const HIDDEN_HEADERS: &[&str] = &["authorization", "x-registry-auth", "x-registry-config"];

/// The reply to `/Plugin.Activate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Manifest {
    /// The plugin kinds the plugin implements, e.g. `["authz"]`.
    #[serde(default)]
    pub implements: Vec<String>,
}

/// The body of `AuthZReq` and `AuthZRes` (dockerd's `authorization.Request`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthzRequest {
    /// The user: the TLS client certificate's subject common name.
    #[serde(rename = "User", default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// How the user was authenticated: `TLS`, or empty.
    #[serde(rename = "UserAuthNMethod", default, skip_serializing_if = "String::is_empty")]
    pub user_authn_method: String,
    /// The HTTP method.
    #[serde(rename = "RequestMethod", default, skip_serializing_if = "String::is_empty")]
    pub request_method: String,
    /// The raw request target, `/vX.Y` prefix and query included.
    #[serde(rename = "RequestUri", default, skip_serializing_if = "String::is_empty")]
    pub request_uri: String,
    /// The request body (JSON bodies under 1 MiB only).
    #[serde(
        rename = "RequestBody",
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "base64_bytes"
    )]
    pub request_body: Vec<u8>,
    /// The request headers, one value each, credentials removed.
    #[serde(rename = "RequestHeaders", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub request_headers: BTreeMap<String, String>,
    /// The TLS client certificate chain, each the base64 of its PEM text.
    #[serde(
        rename = "RequestPeerCertificates",
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "pem_certificates"
    )]
    pub request_peer_certificates: Vec<Vec<u8>>,
    /// The response status (response phase only).
    #[serde(rename = "ResponseStatusCode", default, skip_serializing_if = "is_zero")]
    pub response_status_code: u16,
    /// The response body (response phase, JSON only).
    #[serde(
        rename = "ResponseBody",
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "base64_bytes"
    )]
    pub response_body: Vec<u8>,
    /// The response headers, one value each, credentials removed (response phase only).
    #[serde(rename = "ResponseHeaders", default, skip_serializing_if = "BTreeMap::is_empty")]
    pub response_headers: BTreeMap<String, String>,
}

/// A plugin's answer to `AuthZReq` and `AuthZRes` (dockerd's `authorization.Response`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginResponse {
    /// Whether the request (or response) may go on.
    #[serde(rename = "Allow", default)]
    pub allow: bool,
    /// Why it was denied; shown to the client.
    #[serde(rename = "Msg", default, skip_serializing_if = "String::is_empty")]
    pub msg: String,
    /// The plugin's own failure; reported as an error of the plugin.
    #[serde(rename = "Err", default, skip_serializing_if = "String::is_empty")]
    pub err: String,
}

impl AuthzRequest {
    /// The request-phase body for `request`, with dockerd's filtering.
    pub fn for_request(request: &RequestInfo) -> Self {
        let peer = &request.peer;
        // As dockerd: any client certificate makes the method TLS, even one without a CN.
        let (user, user_authn_method) = if peer.certificates.is_empty() {
            (String::new(), String::new())
        } else {
            (peer.common_name.clone().unwrap_or_default(), AUTHN_TLS.to_owned())
        };
        let request_body = match &request.body {
            RequestBody::Json(bytes) => bytes.to_vec(),
            RequestBody::Empty | RequestBody::Hidden => Vec::new(),
        };
        Self {
            user,
            user_authn_method,
            request_method: request.method.to_string(),
            request_uri: request.uri.clone(),
            request_body,
            request_headers: flatten_headers(&request.headers),
            request_peer_certificates: peer.certificates.iter().map(|c| c.to_vec()).collect(),
            ..Self::default()
        }
    }

    /// The response-phase body for `request` answered with `response`.
    pub fn for_response(request: &RequestInfo, response: &ResponseInfo) -> Self {
        let response_body = if is_json(&response.headers) && !is_auth_endpoint(&request.path) {
            response.body.to_vec()
        } else {
            Vec::new()
        };
        Self {
            response_status_code: response.status.as_u16(),
            response_headers: flatten_headers(&response.headers),
            response_body,
            ..Self::for_request(request)
        }
    }
}

/// One value per header (the last, as Go's map assignment leaves it), names in Go's canonical
/// form (`Content-Type`), credentials removed; values that are not text are skipped.
pub fn flatten_headers(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        if HIDDEN_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let Ok(value) = value.to_str() {
            out.insert(canonical_header_name(name.as_str()), value.to_owned());
        }
    }
    out
}

/// Go's `CanonicalMIMEHeaderKey`: first letter and each letter after `-` upper case.
fn canonical_header_name(name: &str) -> String {
    let mut upper = true;
    name.chars()
        .map(|c| {
            let out = if upper { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() };
            upper = c == '-';
            out
        })
        .collect()
}

fn is_zero(code: &u16) -> bool {
    *code == 0
}

/// Go's `[]byte` in JSON: a standard base64 string.
mod base64_bytes {
    use super::*;
    use serde::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(bytes))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = Option::<String>::deserialize(d)?.unwrap_or_default();
        STANDARD.decode(text).map_err(serde::de::Error::custom)
    }
}

/// dockerd's `PeerCertificate`: each certificate as the base64 of its PEM encoding. In memory
/// the certificates are DER.
mod pem_certificates {
    use super::*;
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    use serde::ser::SerializeSeq;
    use serde::{Deserializer, Serializer};

    const BEGIN: &str = "-----BEGIN CERTIFICATE-----\n";
    const END: &str = "-----END CERTIFICATE-----\n";

    pub(super) fn serialize<S: Serializer>(certs: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(certs.len()))?;
        for der in certs {
            seq.serialize_element(&STANDARD.encode(to_pem(der)))?;
        }
        seq.end()
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let texts = Option::<Vec<String>>::deserialize(d)?.unwrap_or_default();
        texts
            .iter()
            .map(|t| {
                let pem = STANDARD.decode(t).map_err(serde::de::Error::custom)?;
                CertificateDer::from_pem_slice(&pem)
                    .map(|c| c.to_vec())
                    .map_err(|e| serde::de::Error::custom(format!("not a PEM certificate: {e}")))
            })
            .collect()
    }

    /// Go's `pem.EncodeToMemory`: base64 in lines of 64 characters.
    pub(super) fn to_pem(der: &[u8]) -> String {
        let b64 = STANDARD.encode(der);
        let mut out = String::with_capacity(b64.len() + b64.len() / 64 + BEGIN.len() + END.len());
        out.push_str(BEGIN);
        for line in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str(END);
        out
    }
}

#[cfg(test)]
mod tests;
