use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_api::params::parse_timestamp;
use berth_api::system::Info;
use berth_api::{ApiVersion, Error, Filters};
use berth_backend::EventsQuery;
use berth_http::{ApiError, ApiJson, ApiQuery, JsonResponse, RequestApiVersion, json_lines};
use http::{HeaderName, HeaderValue, header};

use crate::Backend;
use crate::params::{DiskUsageParams, EventsParams};

fn ping_headers(backend: &Backend) -> [(HeaderName, HeaderValue); 5] {
    let info = backend.ping();
    let value = |s: String| HeaderValue::from_str(&s).unwrap_or(HeaderValue::from_static(""));
    [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache, no-store, must-revalidate")),
        (header::PRAGMA, HeaderValue::from_static("no-cache")),
        (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8")),
        (HeaderName::from_static("builder-version"), value(info.builder_version)),
        (HeaderName::from_static("swarm"), value(info.swarm)),
    ]
}

pub(crate) async fn ping(State(backend): State<Backend>) -> Response {
    (ping_headers(&backend), "OK").into_response()
}

pub(crate) async fn ping_head(State(backend): State<Backend>) -> Response {
    (ping_headers(&backend), [(header::CONTENT_LENGTH, HeaderValue::from_static("0"))])
        .into_response()
}

pub(crate) async fn version(State(backend): State<Backend>) -> Result<Response, ApiError> {
    Ok(JsonResponse(backend.version().await?).into_response())
}

pub(crate) async fn info(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
) -> Result<Response, ApiError> {
    let info = backend.info().await?;
    Ok(info_response(info, version)?)
}

/// `/info` as dockerd 28 answers a client of `version`. Fields that newer clients no longer get
/// are `None` in [`Info`], which leaves them out; the struct is then written as it is. Only
/// clients below 1.49 get fields `Info` has no place for, added through a JSON value: that
/// round trip costs more than everything else `/info` does (the bench's profile), so it is
/// not taken for the others.
fn info_response(mut info: Info, version: ApiVersion) -> Result<Response, Error> {
    if version >= ApiVersion::new(1, 42) {
        info.kernel_memory = None;
        info.kernel_memory_tcp = None;
    } else if info.kernel_memory_tcp == Some(false) {
        info.kernel_memory_tcp = None;
    }
    if version >= ApiVersion::new(1, 50) {
        info.bridge_nf_iptables = None;
        info.bridge_nf_ip6tables = None;
    }
    if version >= ApiVersion::new(1, 49) {
        return Ok(JsonResponse(info).into_response());
    }
    let mut value = serde_json::to_value(&info)
        .map_err(|e| Error::system("cannot encode /info").with_source(e))?;
    add_legacy_info(&mut value, version);
    Ok(JsonResponse(value).into_response())
}

/// Fields dockerd 28 still sends to clients below 1.49 that `Info` does not hold.
fn add_legacy_info(value: &mut serde_json::Value, version: ApiVersion) {
    let Some(info) = value.as_object_mut() else { return };
    for key in ["ContainerdCommit", "RuncCommit", "InitCommit"] {
        if let Some(commit) = info.get_mut(key).and_then(|c| c.as_object_mut()) {
            let id = commit.get("ID").cloned().unwrap_or_default();
            commit.insert("Expected".into(), id);
        }
    }
    if version < ApiVersion::new(1, 47)
        && let Some(registry) = info.get_mut("RegistryConfig").and_then(|r| r.as_object_mut())
    {
        let empty = || serde_json::Value::Array(Vec::new());
        registry.insert("AllowNondistributableArtifactsCIDRs".into(), empty());
        registry.insert("AllowNondistributableArtifactsHostnames".into(), empty());
    }
}

pub(crate) async fn events(
    State(backend): State<Backend>,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> Result<Response, ApiError> {
    let time = |name: &str, value: Option<String>| -> Result<Option<i64>, Error> {
        match value.as_deref().map(str::trim) {
            None | Some("") => Ok(None),
            Some(v) => parse_timestamp(name, v).map(Some),
        }
    };
    let since = time("since", params.since.clone())?;
    let until = time("until", params.until.clone())?;
    if let (Some(s), Some(u)) = (since, until)
        && u < s
    {
        return Err(Error::invalid(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            params.since.as_deref().unwrap_or_default().trim(),
            params.until.as_deref().unwrap_or_default().trim()
        ))
        .into());
    }
    // dockerd 28 has no whitelist of event filter keys: an unknown key matches nothing special.
    let filters = Filters::parse(params.filters.as_deref().unwrap_or(""))?;
    let stream = backend.events(EventsQuery { since, until, filters })?;
    Ok(json_lines(stream))
}

pub(crate) async fn options() -> Response {
    http::StatusCode::OK.into_response()
}

pub(crate) async fn disk_usage(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    uri: http::Uri,
) -> Result<Response, ApiError> {
    const KINDS: &[&str] = &["container", "image", "volume", "build-cache"];
    let params = DiskUsageParams::from_query(uri.query());
    let types = if version < ApiVersion::new(1, 42) { Vec::new() } else { params.types };
    if let Some(bad) = types.iter().find(|t| !KINDS.contains(&t.as_str())) {
        return Err(Error::invalid(format!("unknown object type: {bad}")).into());
    }
    let want = |kind: &str| types.is_empty() || types.iter().any(|t| t == kind);
    let usage = backend.disk_usage().await?;
    let mut body = serde_json::Map::new();
    if want("image") {
        let images: Vec<serde_json::Value> = usage
            .images
            .iter()
            .map(|i| {
                let mut v = serde_json::to_value(i.for_api(version)).unwrap_or_default();
                // Unlike the image list, df reports computed counts at every API version.
                v["Containers"] = i.containers.into();
                v
            })
            .collect();
        body.insert("LayersSize".into(), usage.layers_size.into());
        body.insert("Images".into(), images.into());
    }
    if want("container") {
        body.insert("Containers".into(), serde_json::Value::Array(Vec::new()));
    }
    if want("volume") {
        let volumes = serde_json::to_value(&usage.volumes).unwrap_or_default();
        body.insert("Volumes".into(), volumes);
    }
    if want("build-cache") {
        // No build cache: Go marshals the nil list as null.
        body.insert("BuildCache".into(), serde_json::Value::Null);
        if version < ApiVersion::new(1, 42) {
            body.insert("BuilderSize".into(), 0.into());
        }
    }
    Ok(JsonResponse(serde_json::Value::Object(body)).into_response())
}

pub(crate) async fn login(
    State(backend): State<Backend>,
    ApiJson(auth): ApiJson<berth_api::image::AuthConfig>,
) -> Result<Response, ApiError> {
    let status = backend.login(auth).await?;
    Ok(JsonResponse(serde_json::json!({ "Status": status, "IdentityToken": "" })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> Info {
        Info {
            kernel_memory: Some(true),
            kernel_memory_tcp: Some(false),
            bridge_nf_iptables: Some(true),
            bridge_nf_ip6tables: Some(false),
            containerd_commit: berth_api::system::Commit { id: "c0ffee".to_owned() },
            ..Info::default()
        }
    }

    async fn body(version: (u32, u32)) -> serde_json::Value {
        let response =
            info_response(info(), ApiVersion::new(version.0, version.1)).expect("encoded");
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("body");
        serde_json::from_slice(&bytes).expect("JSON")
    }

    #[tokio::test]
    async fn each_version_gets_dockerd_28s_fields() {
        let newest = body((1, 51)).await;
        for gone in ["KernelMemory", "KernelMemoryTCP", "BridgeNfIptables", "BridgeNfIp6tables"] {
            assert!(newest.get(gone).is_none(), "{gone} in {newest}");
        }
        assert!(newest["ContainerdCommit"].get("Expected").is_none(), "{newest}");

        let v149 = body((1, 49)).await;
        assert_eq!(v149["BridgeNfIptables"], true);
        assert_eq!(v149["BridgeNfIp6tables"], false);
        assert!(v149.get("KernelMemory").is_none(), "{v149}");
        assert!(v149["ContainerdCommit"].get("Expected").is_none(), "{v149}");

        let v148 = body((1, 48)).await;
        assert_eq!(v148["ContainerdCommit"]["Expected"], "c0ffee");
        assert!(v148["RegistryConfig"].get("AllowNondistributableArtifactsCIDRs").is_none());

        let v141 = body((1, 41)).await;
        assert_eq!(v141["KernelMemory"], true);
        assert!(v141.get("KernelMemoryTCP").is_none(), "false is left out: {v141}");
        assert_eq!(v141["ContainerdCommit"]["Expected"], "c0ffee");
        assert_eq!(
            v141["RegistryConfig"]["AllowNondistributableArtifactsCIDRs"],
            serde_json::json!([])
        );
    }
}
