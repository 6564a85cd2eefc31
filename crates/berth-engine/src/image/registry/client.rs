//! An OCI distribution API client: endpoint choice (HTTPS, or plain HTTP for insecure
//! registries, as dockerd does), the `/v2/` ping, basic and bearer-token authentication from the
//! `WWW-Authenticate` challenge, and registry errors in dockerd's wording.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use berth_api::image::AuthConfig;
use berth_api::{Error, ErrorKind};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode, Url};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::Value;
use tokio::sync::Mutex;

use crate::image::{MEDIA_DOCKER_LIST, MEDIA_OCI_INDEX, MEDIA_OCI_MANIFEST};

/// What a manifest request accepts: both lists/indexes and both single-platform manifests.
const MANIFEST_ACCEPT: &str = "application/vnd.docker.distribution.manifest.list.v2+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.oci.image.manifest.v1+json";

/// A registry failure, in the words of dockerd's registry client.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RegistryError {
    /// The registry could not be reached (DNS, TCP, TLS, a broken body).
    #[error("{method} \"{url}\": {detail}")]
    Transport { method: String, url: String, detail: String },
    /// The registry wants basic credentials and the client sent none.
    #[error("{method} \"{url}\": no basic auth credentials")]
    NoBasicCredentials { method: String, url: String },
    /// An error the registry reported with a distribution error code.
    #[error("{}: {message}", code.to_lowercase().replace('_', " "))]
    Coded { status: u16, code: String, message: String },
    /// A failure status without a distribution error body.
    #[error("unexpected status from {method} request to {url}: {status}")]
    Status { method: String, url: String, status: u16 },
    /// The token server refused the credentials or answered nonsense.
    #[error("{method} \"{url}\": {source}")]
    Token {
        method: String,
        url: String,
        #[source]
        source: Box<RegistryError>,
    },
}

impl RegistryError {
    /// The distribution error code (`MANIFEST_UNKNOWN`), or what the HTTP status implies.
    pub(crate) fn code(&self) -> Option<&str> {
        match self {
            RegistryError::Coded { code, .. } => Some(code),
            RegistryError::Status { status: 401, .. } => Some("UNAUTHORIZED"),
            RegistryError::Status { status: 404, .. } => Some("NOT_FOUND"),
            RegistryError::Token { source, .. } => source.code(),
            _ => None,
        }
    }

    fn status(&self) -> Option<u16> {
        match self {
            RegistryError::Coded { status, .. } | RegistryError::Status { status, .. } => {
                Some(*status)
            }
            RegistryError::Token { source, .. } => source.status(),
            RegistryError::NoBasicCredentials { .. } => Some(401),
            RegistryError::Transport { .. } => None,
        }
    }

    /// The API error: the class follows the registry's status, as dockerd's
    /// `statusCodeFromDistributionError` does.
    pub(crate) fn into_error(self) -> Error {
        let kind = match self.status() {
            Some(401) => ErrorKind::Unauthorized,
            Some(403) => ErrorKind::Forbidden,
            Some(404) => ErrorKind::NotFound,
            Some(400) => ErrorKind::InvalidParameter,
            _ => ErrorKind::System,
        };
        Error::new(kind, self.to_string())
    }
}

impl From<RegistryError> for Error {
    fn from(e: RegistryError) -> Self {
        e.into_error()
    }
}

/// How the registry wants to be authenticated, from the `/v2/` ping.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    None,
    Basic,
    Bearer { realm: String, service: String },
}

/// A connection to one registry, for one repository and set of actions.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    auth: AuthConfig,
    challenge: Challenge,
    scopes: Vec<String>,
    token: Mutex<Option<String>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base", &self.base.as_str()).finish_non_exhaustive()
    }
}

/// A manifest (or index) as the registry served it.
#[derive(Debug, Clone)]
pub(crate) struct Fetched {
    pub(crate) media_type: String,
    pub(crate) digest: String,
    pub(crate) bytes: bytes::Bytes,
    pub(crate) json: Value,
}

impl Fetched {
    /// True for a manifest list or OCI index.
    pub(crate) fn is_index(&self) -> bool {
        matches!(self.media_type.as_str(), MEDIA_OCI_INDEX | MEDIA_DOCKER_LIST)
    }
}

/// The host the API of `domain` lives on (`docker.io` → `registry-1.docker.io`).
pub(crate) fn endpoint_host(domain: &str) -> &str {
    match domain {
        "docker.io" | "index.docker.io" => "registry-1.docker.io",
        other => other,
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into host and port.
fn split_host_port(domain: &str) -> (&str, Option<u16>) {
    if let Some(rest) = domain.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        return (host, tail.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match domain.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, port.parse().ok()),
        _ => (domain, None),
    }
}

fn in_cidr(ip: IpAddr, cidr: &str) -> bool {
    let Some((net, bits)) = cidr.split_once('/') else {
        return false;
    };
    let (Ok(net), Ok(bits)) = (net.parse::<IpAddr>(), bits.parse::<u32>()) else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) if bits <= 32 => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) if bits <= 128 => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// dockerd's rule: a registry is insecure (plain HTTP allowed, TLS not verified) when it is
/// listed by `host[:port]`, or its address is loopback or inside a listed CIDR.
pub(crate) async fn is_insecure(domain: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|entry| entry == domain) {
        return true;
    }
    let (host, port) = split_host_port(domain);
    if host == "localhost" {
        return true;
    }
    let ips: Vec<IpAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => match tokio::net::lookup_host((host, port.unwrap_or(443))).await {
            Ok(addrs) => addrs.map(|a| a.ip()).collect(),
            Err(_) => Vec::new(),
        },
    };
    ips.iter().any(|ip| ip.is_loopback() || insecure.iter().any(|c| in_cidr(*ip, c)))
}

/// Accepts any certificate: dockerd's `InsecureSkipVerify` for insecure registries.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// An HTTP client with Berth's TLS setup (ring, platform roots; `verify=false` for insecure
/// registries).
pub(crate) fn http_client(verify: bool) -> Result<reqwest::Client, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::system("registry TLS configuration").with_source(e))?;
    let tls = if verify {
        use rustls_platform_verifier::BuilderVerifierExt as _;
        builder
            .with_platform_verifier()
            .map_err(|e| Error::system("registry TLS configuration").with_source(e))?
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
            .with_no_client_auth()
    };
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .connect_timeout(Duration::from_secs(30))
        .user_agent(concat!("berth/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::system("cannot build the registry HTTP client").with_source(e))
}

/// Go's way of printing a transport failure: the innermost cause.
fn transport(method: &Method, url: &str, err: &reqwest::Error) -> RegistryError {
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    RegistryError::Transport {
        method: go_method(method),
        url: url.to_owned(),
        detail: cause.to_string(),
    }
}

/// `GET` → `Get`, as Go's `url.Error` prints methods.
fn go_method(method: &Method) -> String {
    let text = method.as_str();
    let mut out = text[..1].to_owned();
    out.push_str(&text[1..].to_lowercase());
    out
}

/// The error a failed response carries.
pub(crate) async fn response_error(method: &Method, response: Response) -> RegistryError {
    let status = response.status().as_u16();
    let url = response.url().to_string();
    let body = response.bytes().await.unwrap_or_default();
    let coded = serde_json::from_slice::<Value>(&body).ok().and_then(|v| {
        let first = v["errors"].as_array()?.first()?.clone();
        Some((first["code"].as_str()?.to_owned(), first["message"].as_str()?.to_owned()))
    });
    match coded {
        Some((code, message)) => RegistryError::Coded { status, code, message },
        None => RegistryError::Status { method: method.to_string(), url, status },
    }
}

/// Parses `Bearer realm="…",service="…"` / `Basic realm="…"`.
fn parse_challenge(header: &str) -> Challenge {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = std::collections::HashMap::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        params.insert(key.trim().to_lowercase(), value);
    }
    match scheme.to_lowercase().as_str() {
        "basic" => Challenge::Basic,
        "bearer" => Challenge::Bearer {
            realm: params.remove("realm").unwrap_or_default(),
            service: params.remove("service").unwrap_or_default(),
        },
        _ => Challenge::None,
    }
}

impl Client {
    /// Reaches `domain` (HTTPS; for an insecure registry, HTTPS without verification and then
    /// plain HTTP, as dockerd does), pings `/v2/`, and prepares credentials for `scopes`
    /// (`repository:team/app:pull,push`).
    pub(crate) async fn connect(
        domain: &str,
        insecure_registries: &[String],
        auth: AuthConfig,
        scopes: Vec<String>,
    ) -> Result<Self, RegistryError> {
        let host = endpoint_host(domain);
        let insecure = is_insecure(domain, insecure_registries).await;
        let mut attempts = vec![("https", !insecure)];
        if insecure {
            attempts.push(("http", false));
        }
        let mut last = None;
        for (scheme, verify) in attempts {
            let http = http_client(verify).map_err(|e| RegistryError::Transport {
                method: "Get".to_owned(),
                url: format!("{scheme}://{host}/v2/"),
                detail: e.message().to_owned(),
            })?;
            let url = format!("{scheme}://{host}/v2/");
            let base = Url::parse(&format!("{scheme}://{host}/")).map_err(|e| {
                RegistryError::Transport {
                    method: "Get".to_owned(),
                    url: url.clone(),
                    detail: e.to_string(),
                }
            })?;
            match http.get(&url).send().await {
                Ok(response) => {
                    let challenge = if response.status() == StatusCode::UNAUTHORIZED {
                        response
                            .headers()
                            .get(WWW_AUTHENTICATE)
                            .and_then(|v| v.to_str().ok())
                            .map_or(Challenge::None, parse_challenge)
                    } else {
                        Challenge::None
                    };
                    return Ok(Self {
                        http,
                        base,
                        auth,
                        challenge,
                        scopes,
                        token: Mutex::new(None),
                    });
                }
                Err(e) => last = Some(transport(&Method::GET, &url, &e)),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Transport {
            method: "Get".to_owned(),
            url: format!("https://{host}/v2/"),
            detail: "no endpoint to try".to_owned(),
        }))
    }

    /// `<base>/v2/<path>`.
    pub(crate) fn url(&self, path: &str) -> Result<Url, RegistryError> {
        self.base.join(&format!("v2/{path}")).map_err(|e| RegistryError::Transport {
            method: "Get".to_owned(),
            url: format!("{}v2/{path}", self.base),
            detail: e.to_string(),
        })
    }

    /// Resolves a `Location` header against the registry.
    pub(crate) fn location(&self, response: &Response) -> Result<Url, RegistryError> {
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        response.url().join(location).map_err(|e| RegistryError::Transport {
            method: "Post".to_owned(),
            url: response.url().to_string(),
            detail: format!("bad Location {location:?}: {e}"),
        })
    }

    fn basic_credentials(&self) -> Option<(String, String)> {
        if !self.auth.username.is_empty() {
            return Some((self.auth.username.clone(), self.auth.password.clone()));
        }
        if self.auth.auth.is_empty() {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD.decode(&self.auth.auth).ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        Some((user.to_owned(), password.to_owned()))
    }

    /// A bearer token for the client's scopes, fetched once.
    async fn token(&self, realm: &str, service: &str) -> Result<String, RegistryError> {
        if !self.auth.registrytoken.is_empty() {
            return Ok(self.auth.registrytoken.clone());
        }
        let mut cached = self.token.lock().await;
        if let Some(token) = cached.as_ref() {
            return Ok(token.clone());
        }
        let wrap = |method: &str, source: RegistryError| RegistryError::Token {
            method: method.to_owned(),
            url: realm.to_owned(),
            source: Box::new(source),
        };
        let request = if !self.auth.identitytoken.is_empty() {
            let mut form = vec![
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", self.auth.identitytoken.clone()),
                ("service", service.to_owned()),
                ("client_id", "docker".to_owned()),
            ];
            form.push(("scope", self.scopes.join(" ")));
            let body = form
                .iter()
                .map(|(k, v)| format!("{k}={}", form_encode(v)))
                .collect::<Vec<_>>()
                .join("&");
            self.http
                .post(realm)
                .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(body)
        } else {
            let mut url = Url::parse(realm).map_err(|e| {
                wrap(
                    "Get",
                    RegistryError::Transport {
                        method: "Get".to_owned(),
                        url: realm.to_owned(),
                        detail: e.to_string(),
                    },
                )
            })?;
            {
                let mut query = url.query_pairs_mut();
                if !service.is_empty() {
                    query.append_pair("service", service);
                }
                for scope in &self.scopes {
                    query.append_pair("scope", scope);
                }
                if let Some((user, _)) = self.basic_credentials() {
                    query.append_pair("account", &user);
                }
            }
            let mut request = self.http.get(url);
            if let Some((user, password)) = self.basic_credentials() {
                request = request.basic_auth(user, Some(password));
            }
            request
        };
        let method = if self.auth.identitytoken.is_empty() { Method::GET } else { Method::POST };
        let response = request.send().await.map_err(|e| transport(&method, realm, &e))?;
        if !response.status().is_success() {
            let err = response_error(&method, response).await;
            return Err(wrap(&go_method(&method), err));
        }
        let body = response.bytes().await.map_err(|e| transport(&method, realm, &e))?;
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        let token = body["token"]
            .as_str()
            .or_else(|| body["access_token"].as_str())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                wrap(
                    &go_method(&method),
                    RegistryError::Transport {
                        method: go_method(&method),
                        url: realm.to_owned(),
                        detail: "the token server answered without a token".to_owned(),
                    },
                )
            })?
            .to_owned();
        *cached = Some(token.clone());
        Ok(token)
    }

    /// A request with the credentials the registry asked for.
    pub(crate) async fn request(
        &self,
        method: Method,
        url: Url,
    ) -> Result<RequestBuilder, RegistryError> {
        let same_host = url.host_str() == self.base.host_str() && url.port() == self.base.port();
        let text = url.to_string();
        let mut request = self.http.request(method.clone(), url);
        if !same_host {
            return Ok(request);
        }
        match &self.challenge {
            Challenge::None => {}
            Challenge::Basic => match self.basic_credentials() {
                Some((user, password)) => request = request.basic_auth(user, Some(password)),
                None => {
                    return Err(RegistryError::NoBasicCredentials {
                        method: go_method(&method),
                        url: text,
                    });
                }
            },
            Challenge::Bearer { realm, service } => {
                let token = self.token(realm, service).await?;
                request = request.bearer_auth(token);
            }
        }
        Ok(request)
    }

    /// Sends `request`; failure statuses become errors.
    pub(crate) async fn send(
        &self,
        method: &Method,
        request: RequestBuilder,
    ) -> Result<Response, RegistryError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|e| transport(method, "", &e))?;
        let url = request.url().to_string();
        let response = client.execute(request).await.map_err(|e| transport(method, &url, &e))?;
        if response.status().is_success() {
            Ok(response)
        } else {
            Err(response_error(method, response).await)
        }
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: whether the registry has the blob.
    pub(crate) async fn has_blob(&self, repo: &str, digest: &str) -> Result<bool, RegistryError> {
        let url = self.url(&format!("{repo}/blobs/{digest}"))?;
        let request = self.request(Method::HEAD, url).await?;
        match self.send(&Method::HEAD, request).await {
            Ok(_) => Ok(true),
            Err(RegistryError::Status { status: 404, .. }) => Ok(false),
            Err(RegistryError::Coded { status: 404, .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// `GET /v2/<repo>/blobs/<digest>`, streaming.
    pub(crate) async fn blob(&self, repo: &str, digest: &str) -> Result<Response, RegistryError> {
        let url = self.url(&format!("{repo}/blobs/{digest}"))?;
        let request = self.request(Method::GET, url).await?;
        self.send(&Method::GET, request).await
    }

    /// `GET /v2/<repo>/manifests/<reference>`; the digest is computed from the bytes (and
    /// checked when `reference` is a digest).
    pub(crate) async fn manifest(
        &self,
        repo: &str,
        reference: &str,
    ) -> Result<Fetched, RegistryError> {
        let url = self.url(&format!("{repo}/manifests/{reference}"))?;
        let text = url.to_string();
        let request = self.request(Method::GET, url).await?.header(ACCEPT, MANIFEST_ACCEPT);
        let response = self.send(&Method::GET, request).await?;
        let header_type = content_type(response.headers());
        let bytes = response.bytes().await.map_err(|e| transport(&Method::GET, &text, &e))?;
        let digest = crate::content::sha256_digest(&bytes);
        if reference.contains(':') && reference != digest {
            return Err(RegistryError::Transport {
                method: "Get".to_owned(),
                url: text,
                detail: format!("manifest verification failed for digest {reference}"),
            });
        }
        let json: Value = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Transport {
            method: "Get".to_owned(),
            url: text.clone(),
            detail: format!("invalid manifest: {e}"),
        })?;
        let media_type = match json["mediaType"].as_str() {
            Some(m) if !m.is_empty() => m.to_owned(),
            _ if json.get("manifests").is_some() => MEDIA_OCI_INDEX.to_owned(),
            _ => header_type.unwrap_or_else(|| MEDIA_OCI_MANIFEST.to_owned()),
        };
        Ok(Fetched { media_type, digest, bytes, json })
    }

    /// `GET /v2/<repo>/tags/list`.
    pub(crate) async fn tags(&self, repo: &str) -> Result<Vec<String>, RegistryError> {
        let url = self.url(&format!("{repo}/tags/list"))?;
        let text = url.to_string();
        let request = self.request(Method::GET, url).await?;
        let response = self.send(&Method::GET, request).await?;
        let body = response.bytes().await.map_err(|e| transport(&Method::GET, &text, &e))?;
        let body: Value = serde_json::from_slice(&body).unwrap_or_default();
        Ok(body["tags"]
            .as_array()
            .map(|a| a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect())
            .unwrap_or_default())
    }
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(CONTENT_TYPE)?.to_str().ok()?;
    let value = value.split(';').next()?.trim();
    (!value.is_empty() && value != "application/json").then(|| value.to_owned())
}

/// `application/x-www-form-urlencoded` escaping of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// `repository:<path>:<actions>`.
pub(crate) fn scope(path: &str, actions: &str) -> String {
    format!("repository:{path}:{actions}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        assert_eq!(
            parse_challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io""#
            ),
            Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: "registry.docker.io".into()
            }
        );
        assert_eq!(parse_challenge(r#"Basic realm="Registry Realm""#), Challenge::Basic);
        assert_eq!(parse_challenge("Negotiate"), Challenge::None);
    }

    #[test]
    fn errors_read_like_dockerd() {
        let e = RegistryError::Coded {
            status: 404,
            code: "MANIFEST_UNKNOWN".into(),
            message: "manifest unknown".into(),
        };
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert_eq!(e.into_error().kind(), ErrorKind::NotFound);
        let e = RegistryError::NoBasicCredentials {
            method: go_method(&Method::HEAD),
            url: "http://h/v2/".into(),
        };
        assert_eq!(e.to_string(), "Head \"http://h/v2/\": no basic auth credentials");
        assert_eq!(e.into_error().kind(), ErrorKind::Unauthorized);
    }

    #[tokio::test]
    async fn insecure_registries_follow_dockerd() {
        let list = vec!["myreg:5000".to_owned(), "10.1.0.0/16".to_owned()];
        assert!(is_insecure("127.0.0.1:5000", &[]).await);
        assert!(is_insecure("localhost:5000", &[]).await);
        assert!(is_insecure("[::1]:5000", &[]).await);
        assert!(is_insecure("myreg:5000", &list).await);
        assert!(is_insecure("10.1.2.3:5000", &list).await);
        assert!(!is_insecure("10.2.2.3:5000", &list).await);
        assert!(!is_insecure("192.0.2.1", &list).await);
        assert_eq!(endpoint_host("docker.io"), "registry-1.docker.io");
        assert_eq!(split_host_port("[::1]:5000"), ("::1", Some(5000)));
        assert_eq!(split_host_port("h:1"), ("h", Some(1)));
    }
}
