//! Handlers of `/containers/...` and `/commit`: extract, call the backend, map the result.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use berth_api::container::{
    ContainerCreateBody, ContainerUpdateBody, ExecCreateBody, IdResponse, PathStat, WaitCondition,
    decode_body,
};
use berth_api::image::Reference;
use berth_api::{ApiVersion, Error, ErrorKind};
use berth_backend::{
    ArchivePutOptions, AttachOptions, ByteStream, ContainerCommitOptions, ContainerCreateOptions,
    ContainerLogsOptions, ContainerRemoveOptions,
};
use berth_http::{
    ApiError, ApiJson, Hijack, JsonResponse, RequestApiVersion, WebSocketAttach, byte_stream,
    hijack_error, json_lines, not_found,
};
use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderValue, StatusCode, Uri, header};

use crate::Backends;
use crate::output::{attach_bytes, content_type, log_bytes};
use crate::params::ContainerForm as _;
use crate::params::{self, Form};
use crate::path::{GET_SUFFIXES, POST_SUFFIXES, name_after, route};

const PREFIX: &str = "/containers/";

/// `GET /containers/json`.
pub(crate) async fn list(
    State(b): State<Backends>,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
) -> Result<Response, ApiError> {
    let options = params::list_options(&form)?;
    let containers = b.containers.list(options).await?;
    let body: Vec<_> = containers.into_iter().map(|c| c.for_api(version)).collect();
    Ok(JsonResponse(body).into_response())
}

/// `GET /containers/{name:.*}/<suffix>`, chosen by suffix as gorilla/mux would.
pub(crate) async fn get_named(
    State(b): State<Backends>,
    RequestApiVersion(version): RequestApiVersion,
    uri: Uri,
    form: Form,
    websocket: Option<WebSocketAttach>,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    let Some((suffix, name)) = route(&rest, GET_SUFFIXES) else {
        return Ok(not_found().await);
    };
    let c = &b.containers;
    match suffix {
        "export" => Ok(byte_stream(c.export(name).await?, "application/octet-stream").await),
        "changes" => Ok(JsonResponse(c.changes(name).await?).into_response()),
        "json" => {
            let inspect = c.inspect(name, form.bool("size")).await?;
            Ok(JsonResponse(inspect.for_api(version)).into_response())
        }
        "top" => Ok(JsonResponse(c.top(name, form.get("ps_args")).await?).into_response()),
        "logs" => logs(&b, version, &form, name).await,
        "stats" => stats(&b, version, &form, name).await,
        "attach/ws" => attach_websocket(&b, version, &form, name, websocket).await,
        "archive" => {
            let path = form.archive_path()?;
            let (stat, tar) = c.archive_get(name, path).await?;
            let mut response = byte_stream(tar, "application/x-tar").await;
            if response.status() == StatusCode::OK {
                insert_path_stat(&mut response, &stat)?;
            }
            Ok(response)
        }
        _ => Ok(not_found().await),
    }
}

async fn logs(
    b: &Backends,
    version: ApiVersion,
    form: &Form,
    name: &str,
) -> Result<Response, ApiError> {
    let (stdout, stderr) = (form.bool("stdout"), form.bool("stderr"));
    if !stdout && !stderr {
        return Err(Error::invalid("Bad parameters: you must choose at least one stream").into());
    }
    let options = ContainerLogsOptions {
        stdout,
        stderr,
        follow: form.bool("follow"),
        since: form.get("since").to_owned(),
        until: form.get("until").to_owned(),
        tail: form.get("tail").to_owned(),
        timestamps: form.bool("timestamps"),
        details: form.bool("details"),
    };
    let (timestamps, details) = (options.timestamps, options.details);
    let logs = b.containers.logs(name, options).await?;
    let tty = logs.tty;
    let body = logs.chunks.map(move |item| {
        Ok::<_, std::convert::Infallible>(log_bytes(item, tty, timestamps, details))
    });
    Ok(([(header::CONTENT_TYPE, content_type(tty, version))], Body::from_stream(body))
        .into_response())
}

async fn stats(
    b: &Backends,
    version: ApiVersion,
    form: &Form,
    name: &str,
) -> Result<Response, ApiError> {
    let stream = form.bool_or("stream", true);
    let one_shot = version >= ApiVersion::new(1, 41) && form.bool_or("one-shot", false);
    let mut samples = b.containers.stats(name, stream, one_shot).await?;
    if !stream {
        return match samples.next().await {
            Some(sample) => Ok(JsonResponse(sample?).into_response()),
            None => Err(Error::system("no stats sample").into()),
        };
    }
    let mut response = json_lines(samples);
    // dockerd flushes the header before writing any JSON, so Go sniffs an empty body.
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    Ok(response)
}

fn insert_path_stat(response: &mut Response, stat: &PathStat) -> Result<(), Error> {
    let json = serde_json::to_vec(stat)
        .map_err(|err| Error::system("cannot encode path stat").with_source(err))?;
    let encoded = base64::engine::general_purpose::STANDARD.encode(json);
    let value = HeaderValue::from_str(&encoded)
        .map_err(|err| Error::system("cannot encode path stat").with_source(err))?;
    response.headers_mut().insert("x-docker-container-path-stat", value);
    Ok(())
}

/// `HEAD /containers/{name:.*}/archive`.
pub(crate) async fn head_named(
    State(b): State<Backends>,
    uri: Uri,
    form: Form,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    let Some((_, name)) = route(&rest, &["archive"]) else {
        return Ok(not_found().await);
    };
    let stat = b.containers.archive_stat(name, form.archive_path()?).await?;
    let mut response = StatusCode::OK.into_response();
    insert_path_stat(&mut response, &stat)?;
    Ok(response)
}

/// `PUT /containers/{name:.*}/archive`.
pub(crate) async fn put_named(
    State(b): State<Backends>,
    uri: Uri,
    form: Form,
    body: Body,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    let Some((_, name)) = route(&rest, &["archive"]) else {
        return Ok(not_found().await);
    };
    let options = ArchivePutOptions {
        path: form.archive_path()?.to_owned(),
        no_overwrite_dir_non_dir: form.bool("noOverwriteDirNonDir"),
        copy_uid_gid: form.bool("copyUIDGID"),
        body: body_stream(body),
    };
    b.containers.archive_put(name, options).await?;
    Ok(StatusCode::OK.into_response())
}

/// `POST /containers/{name:.*}/<suffix>`, chosen by suffix.
pub(crate) async fn post_named(
    State(b): State<Backends>,
    RequestApiVersion(version): RequestApiVersion,
    uri: Uri,
    form: Form,
    hijack: Hijack,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    let Some((suffix, name)) = route(&rest, POST_SUFFIXES) else {
        return Ok(not_found().await);
    };
    let c = &b.containers;
    let no_content = || StatusCode::NO_CONTENT.into_response();
    match suffix {
        "kill" => {
            c.kill(name, form.get("signal")).await.map_err(|err| {
                Error::new(err.kind(), format!("cannot kill container: {name}: {}", err.message()))
            })?;
            Ok(no_content())
        }
        "pause" => c.pause(name).await.map(|()| no_content()).map_err(Into::into),
        "unpause" => c.unpause(name).await.map(|()| no_content()).map_err(Into::into),
        "restart" => {
            c.restart(name, params::stop_options(&form, version)?).await?;
            Ok(no_content())
        }
        "start" => {
            // dockerd refuses a body longer than an empty JSON object (or of unknown length).
            let length = headers
                .get(header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let chunked = headers.contains_key(header::TRANSFER_ENCODING);
            if length.is_some_and(|l| l > 7) || chunked {
                return Err(Error::invalid(
                    "starting container with non-empty request body was deprecated since API \
                     v1.22 and removed in v1.24",
                )
                .into());
            }
            c.start(name, form.get("checkpoint"), form.get("checkpoint-dir")).await?;
            Ok(no_content())
        }
        "stop" => {
            c.stop(name, params::stop_options(&form, version)?).await?;
            Ok(no_content())
        }
        "wait" => wait(&b, version, &form, name).await,
        "resize" => {
            let height = form.resize_dim("h", "height")?;
            let width = form.resize_dim("w", "width")?;
            c.resize(name, height, width).await?;
            Ok(StatusCode::OK.into_response())
        }
        "attach" => Ok(attach(&b, version, &form, name, hijack).await),
        "exec" => exec_create(&b, version, name, &headers, body).await,
        "rename" => {
            c.rename(name, form.get("name")).await?;
            Ok(no_content())
        }
        "update" => update(&b, version, name, &headers, body).await,
        _ => Ok(not_found().await),
    }
}

async fn wait(
    b: &Backends,
    version: ApiVersion,
    form: &Form,
    name: &str,
) -> Result<Response, ApiError> {
    let mut condition = WaitCondition::NotRunning;
    if version >= ApiVersion::new(1, 30) {
        match form.get("condition") {
            "" => {}
            value => {
                condition = WaitCondition::parse(value)
                    .ok_or_else(|| Error::invalid(format!("invalid condition: {value:?}")))?;
            }
        }
    }
    let exit = b.containers.wait(name, condition).await?;
    // The header goes out at once (API ≥ 1.30), the body when the condition is met.
    let body = futures_util::stream::once(async move {
        let answer = exit.await;
        let mut line = serde_json::to_vec(&answer).unwrap_or_default();
        line.push(b'\n');
        Ok::<_, std::convert::Infallible>(Bytes::from(line))
    });
    Ok(([(header::CONTENT_TYPE, "application/json")], Body::from_stream(body)).into_response())
}

/// `GET /containers/{name}/attach/ws`, as dockerd's `wsContainersAttach`: below API 1.42 all
/// three streams whatever the query says; output raw, never multiplexed.
async fn attach_websocket(
    b: &Backends,
    version: ApiVersion,
    form: &Form,
    name: &str,
    websocket: Option<WebSocketAttach>,
) -> Result<Response, ApiError> {
    params::detach_keys(form.get("detachKeys"))?;
    let Some(mut websocket) = websocket else {
        // dockerd looks the container up before the handshake.
        b.containers.inspect(name, false).await?;
        return Err(Error::invalid(
            "attach/ws needs a websocket handshake (Connection: Upgrade, Upgrade: websocket)",
        )
        .into());
    };
    let every = version < ApiVersion::new(1, 42);
    let options = AttachOptions {
        stdin: every || form.bool("stdin"),
        stdout: every || form.bool("stdout"),
        stderr: every || form.bool("stderr"),
        logs: form.bool("logs"),
        stream: form.bool("stream"),
        detach_keys: form.get("detachKeys").to_owned(),
    };
    let stdin: Option<ByteStream> = options.stdin.then(|| websocket.stdin().boxed());
    let attached = b.containers.attach(name, options, stdin).await?;
    // A failure once the socket is open ends it (dockerd logs it; nothing is written).
    let output = attached.output.scan((), |(), item| {
        std::future::ready(match item {
            Ok(chunk) => Some(chunk.bytes),
            Err(err) => {
                tracing::debug!(error = %err.message(), "websocket attach ended");
                None
            }
        })
    });
    Ok(websocket.respond(version >= ApiVersion::new(1, 28), output))
}

async fn attach(
    b: &Backends,
    version: ApiVersion,
    form: &Form,
    name: &str,
    mut hijack: Hijack,
) -> Response {
    if let Err(err) = params::detach_keys(form.get("detachKeys")) {
        return hijack_error(&err);
    }
    let options = AttachOptions {
        stdin: form.bool("stdin"),
        stdout: form.bool("stdout"),
        stderr: form.bool("stderr"),
        logs: form.bool("logs"),
        stream: form.bool("stream"),
        detach_keys: form.get("detachKeys").to_owned(),
    };
    // Without an upgrade nothing the client sends after the request can be read: no stdin
    // (an empty one would end the attach at once).
    let stdin: Option<ByteStream> =
        (options.stdin && hijack.will_upgrade()).then(|| hijack.stdin().boxed());
    match b.containers.attach(name, options, stdin).await {
        Ok(attached) => {
            let tty = attached.tty;
            hijack.respond(
                content_type(tty, version),
                attach_bytes(attached.output, tty, "Error attaching: "),
            )
        }
        Err(err) => hijack_error(&err),
    }
}

async fn read_json<T: serde::de::DeserializeOwned + Default>(
    headers: &http::HeaderMap,
    body: Body,
) -> Result<Option<T>, ApiError> {
    let mut request = http::Request::new(body);
    *request.headers_mut() = headers.clone();
    let ApiJson(value): ApiJson<serde_json::Value> =
        match <ApiJson<serde_json::Value> as axum::extract::FromRequest<()>>::from_request(
            request,
            &(),
        )
        .await
        {
            Ok(json) => json,
            Err(response) => return Err(ApiError(rejection_error(response).await)),
        };
    if value.is_null() {
        return Ok(None);
    }
    Ok(Some(decode_body(value)?))
}

/// Recovers the status class and message of an `ApiJson` rejection (a `{"message": ...}` 400,
/// or 413 for a body over the limit).
async fn rejection_error(response: Response) -> Error {
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 * 1024).await.unwrap_or_default();
    let message = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str().map(str::to_owned)))
        .unwrap_or_else(|| "invalid request body".to_owned());
    match status {
        StatusCode::PAYLOAD_TOO_LARGE => Error::new(ErrorKind::TooLarge, message),
        status if status.is_client_error() => Error::invalid(message),
        _ => Error::system(message),
    }
}

async fn exec_create(
    b: &Backends,
    version: ApiVersion,
    name: &str,
    headers: &http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut config: ExecCreateBody = read_json(headers, body).await?.unwrap_or_default();
    if config.cmd.as_ref().is_none_or(Vec::is_empty) {
        return Err(Error::invalid("No exec command specified").into());
    }
    if version < ApiVersion::new(1, 42) {
        config.console_size = None;
    }
    // dockerd checks them at create, with a plain error (500) worded for escape keys.
    if params::detach_keys(&config.detach_keys).is_err() {
        let message = format!("Invalid escape keys ({}) provided", config.detach_keys);
        return Err(Error::system(message).into());
    }
    let id = b.exec.create(name, config).await?;
    Ok((StatusCode::CREATED, JsonResponse(IdResponse { id })).into_response())
}

async fn update(
    b: &Backends,
    version: ApiVersion,
    name: &str,
    headers: &http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let mut update: ContainerUpdateBody = read_json(headers, body).await?.unwrap_or_default();
    if version < ApiVersion::new(1, 40) {
        update.resources.pids_limit = None;
    }
    if version >= ApiVersion::new(1, 42) {
        update.resources.kernel_memory = 0;
    }
    if update.resources.pids_limit.is_some_and(|l| l <= 0) {
        update.resources.pids_limit = Some(0);
    }
    Ok(JsonResponse(b.containers.update(name, update).await?).into_response())
}

/// `POST /containers/create`.
pub(crate) async fn create(
    State(b): State<Backends>,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let value = match read_json::<serde_json::Value>(&headers, body).await? {
        Some(value) => value,
        None => {
            return Err(Error::invalid("invalid JSON: got EOF while reading request body").into());
        }
    };
    // Go leaves the embedded *Config nil when no Config member is set.
    let has_config = value.as_object().is_some_and(|o| {
        o.iter().any(|(k, v)| !v.is_null() && k != "HostConfig" && k != "NetworkingConfig")
    });
    if !has_config {
        return Err(Error::invalid("config cannot be empty in order to create a container").into());
    }
    let mut body: ContainerCreateBody = decode_body(value)?;
    let platform = match form.get("platform") {
        p if !p.is_empty() && version >= ApiVersion::new(1, 41) => Some(p.to_owned()),
        _ => None,
    };
    let default_read_only_non_recursive = adjust_create(&mut body, version)?;
    let warnings = move_container_mac_address(&mut body, version)?;
    let options = ContainerCreateOptions {
        name: form.get("name").to_owned(),
        body,
        platform,
        default_read_only_non_recursive,
    };
    let mut created = b.containers.create(options).await?;
    created.warnings.extend(warnings);
    Ok((StatusCode::CREATED, JsonResponse(created)).into_response())
}

/// dockerd's per-version adjustments of a create body (`postContainersCreate`). Returns
/// whether read-only mounts default to non-recursive (API < 1.44).
fn adjust_create(body: &mut ContainerCreateBody, version: ApiVersion) -> Result<bool, Error> {
    let v = |minor| ApiVersion::new(1, minor);
    let host = body.host_config.get_or_insert_with(Default::default);
    let net = body.networking_config.get_or_insert_with(Default::default);
    let endpoints = net.endpoints_config.get_or_insert_with(Default::default);
    if host.network_mode.is_empty() || host.network_mode == "default" {
        host.network_mode = "bridge".to_owned();
        if let Some(endpoint) = endpoints.remove("default") {
            endpoints.insert("bridge".to_owned(), endpoint);
        }
    }
    if version < v(25) {
        host.auto_remove = false;
    }
    let mounts = host.mounts.get_or_insert_with(Vec::new);
    if version < v(40) {
        for m in mounts.iter_mut() {
            if let Some(bind) = m.bind_options.as_mut() {
                bind.non_recursive = false;
            }
        }
        host.resources.kernel_memory_tcp = 0;
        if host.ipc_mode.is_empty() {
            host.ipc_mode = "shareable".to_owned();
        }
    }
    if version < v(42) {
        for m in mounts.iter_mut() {
            if let Some(bind) = m.bind_options.as_mut() {
                bind.create_mountpoint = false;
            }
            if m.kind != "volume" {
                m.volume_options = None;
            }
            if m.kind != "tmpfs" {
                m.tmpfs_options = None;
            }
        }
        host.console_size = [0, 0];
    } else {
        host.resources.kernel_memory = 0;
        for m in mounts.iter() {
            let wrong = |what: &str| {
                Error::invalid(format!("{what} must not be specified on mount type {:?}", m.kind))
            };
            if m.volume_options.is_some() && m.kind != "volume" {
                return Err(wrong("VolumeOptions"));
            }
            if m.bind_options.is_some() && m.kind != "bind" {
                return Err(wrong("BindOptions"));
            }
            if m.tmpfs_options.is_some() && m.kind != "tmpfs" {
                return Err(wrong("TmpfsOptions"));
            }
        }
    }
    if version < v(43) {
        host.annotations = None;
    }
    let mut read_only_non_recursive = false;
    if version < v(44) {
        if let Some(health) = body.config.healthcheck.as_mut() {
            health.start_interval = 0;
        }
        read_only_non_recursive = true;
        if mounts.iter().any(|m| {
            m.kind == "bind" && m.bind_options.as_ref().is_some_and(|b| b.read_only_force_recursive)
        }) {
            return Err(Error::invalid(
                "BindOptions.ReadOnlyForceRecursive needs API v1.44 or newer",
            ));
        }
        if endpoints.len() > 1 {
            let names: Vec<&str> = endpoints.keys().map(String::as_str).collect();
            return Err(Error::invalid(format!(
                "Container cannot be created with multiple network endpoints: {}",
                names.join(", ")
            )));
        }
    }
    if version < v(45)
        && mounts.iter().any(|m| m.volume_options.as_ref().is_some_and(|o| !o.subpath.is_empty()))
    {
        return Err(Error::invalid("VolumeOptions.Subpath needs API v1.45 or newer"));
    }
    if version < v(48) {
        for endpoint in endpoints.values_mut() {
            endpoint.gw_priority = 0;
        }
        if mounts.iter().any(|m| m.kind == "image") {
            return Err(Error::invalid(r#"Mount type "Image" needs API v1.48 or newer"#));
        }
    }
    if mounts.is_empty() {
        host.mounts = None;
    }
    if host.resources.pids_limit.is_some_and(|l| l <= 0) {
        host.resources.pids_limit = None;
    }
    Ok(read_only_non_recursive)
}

/// dockerd's `handleMACAddressBC`: the container-wide `Config.MacAddress` (deprecated in API
/// 1.44) moves to the endpoint settings of the network `NetworkMode` names. Below 1.44 an
/// endpoint's own MacAddress is ignored, as the old API did; from 1.44 the two must agree, and
/// the move comes with a warning. Returns the warnings. (`adjust_create` has run: the network
/// mode is never empty and the endpoints map exists.)
fn move_container_mac_address(
    body: &mut ContainerCreateBody,
    version: ApiVersion,
) -> Result<Vec<String>, Error> {
    let old_api = version < ApiVersion::new(1, 44);
    let mac = std::mem::take(&mut body.config.mac_address);
    let host = body.host_config.get_or_insert_with(Default::default);
    let endpoints = body
        .networking_config
        .get_or_insert_with(Default::default)
        .endpoints_config
        .get_or_insert_with(Default::default);
    if mac.is_empty() {
        if old_api {
            for endpoint in endpoints.values_mut() {
                endpoint.mac_address.clear();
            }
        }
        return Ok(Vec::new());
    }
    let mode = host.network_mode.as_str();
    let user_defined =
        !matches!(mode, "bridge" | "host" | "none" | "default") && !mode.starts_with("container:");
    let on_a_network = mode == "bridge" || user_defined;
    if old_api && !on_a_network {
        return Err(Error::invalid("conflicting options: mac-address and the network mode"));
    }
    if on_a_network {
        let only = endpoints.len() == 1;
        let endpoint = if endpoints.is_empty() {
            endpoints.entry(mode.to_owned()).or_default()
        } else if old_api && only {
            endpoints.values_mut().next().expect("one endpoint")
        } else {
            endpoints.get_mut(mode).ok_or_else(|| {
                let why = "HostConfig.NetworkMode must match the identity of a network in \
                           NetworkSettings.Networks";
                if old_api {
                    Error::invalid(why)
                } else {
                    Error::invalid(format!(
                        "unable to migrate container-wide MAC address to a specific network: {why}"
                    ))
                }
            })?
        };
        if old_api || endpoint.mac_address.is_empty() {
            endpoint.mac_address = mac;
        } else if endpoint.mac_address != mac {
            return Err(Error::invalid(
                "the container-wide MAC address must match the endpoint-specific MAC address for \
                 the main network, or be left empty",
            ));
        }
    }
    if old_api {
        return Ok(Vec::new());
    }
    Ok(vec![
        "The container-wide MacAddress field is now deprecated. It should be specified in \
         EndpointsConfig instead."
            .to_owned(),
    ])
}

/// `DELETE /containers/{name:.*}`, including the exact paths (`DELETE /containers/json`).
pub(crate) async fn remove(
    State(b): State<Backends>,
    uri: Uri,
    form: Form,
) -> Result<Response, ApiError> {
    let name = name_after(uri.path(), PREFIX);
    let options = ContainerRemoveOptions {
        force: form.bool("force"),
        volumes: form.bool("v"),
        link: form.bool("link"),
    };
    b.containers.remove(&name, options).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST /containers/prune`.
pub(crate) async fn prune(State(b): State<Backends>, form: Form) -> Result<Response, ApiError> {
    let filters = params::filters(&form, params::PRUNE_FILTERS)?;
    Ok(JsonResponse(b.containers.prune(filters).await?).into_response())
}

/// `POST /commit`.
pub(crate) async fn commit(
    State(b): State<Backends>,
    form: Form,
    headers: http::HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let config = read_json(&headers, body).await?;
    let reference = match (form.get("repo"), form.get("tag")) {
        ("", _) => None,
        (repo, tag) => {
            let text = if tag.is_empty() { repo.to_owned() } else { format!("{repo}:{tag}") };
            Some(
                Reference::parse_normalized(&text)
                    .map_err(|err| Error::invalid(err.to_string()))?
                    .with_default_tag(),
            )
        }
    };
    let options = ContainerCommitOptions {
        container: form.get("container").to_owned(),
        reference,
        comment: form.get("comment").to_owned(),
        author: form.get("author").to_owned(),
        pause: form.bool_or("pause", true),
        changes: form.all("changes").into_iter().map(str::to_owned).collect(),
        config,
    };
    let id = b.containers.commit(options).await?;
    Ok((StatusCode::CREATED, JsonResponse(IdResponse { id })).into_response())
}

/// The request body as the backend's byte stream.
pub(crate) fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .map(|chunk| {
            chunk.map_err(|err| Error::invalid(format!("cannot read request body: {err}")))
        })
        .boxed()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value, version: ApiVersion) -> ContainerCreateBody {
        let mut body: ContainerCreateBody = serde_json::from_value(json).expect("body");
        adjust_create(&mut body, version).expect("adjusted");
        body
    }

    fn endpoint_macs(body: &ContainerCreateBody) -> Vec<(String, String)> {
        body.networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.as_ref())
            .map(|e| e.iter().map(|(k, v)| (k.clone(), v.mac_address.clone())).collect())
            .unwrap_or_default()
    }

    #[test]
    fn the_container_wide_mac_address_moves_to_the_main_network_as_in_dockerd() {
        let (old, new) = (ApiVersion::new(1, 41), ApiVersion::new(1, 44));
        let mac = "02:42:ac:11:00:99";
        let pair = |net: &str| vec![(net.to_owned(), mac.to_owned())];

        // Below 1.44: to the default network's endpoint, silently.
        let mut b = body(serde_json::json!({ "Image": "i", "MacAddress": mac }), old);
        assert_eq!(move_container_mac_address(&mut b, old).expect("moved"), Vec::<String>::new());
        assert_eq!((endpoint_macs(&b), b.config.mac_address.as_str()), (pair("bridge"), ""));

        // ... and an endpoint's own address, which the old API did not know, is dropped.
        let mut b = body(
            serde_json::json!({ "Image": "i", "NetworkingConfig": { "EndpointsConfig": { "net1": { "MacAddress": mac } } } }),
            old,
        );
        move_container_mac_address(&mut b, old).expect("no address");
        assert_eq!(endpoint_macs(&b), vec![("net1".to_owned(), String::new())]);

        // No network to put it on.
        let mut b = body(
            serde_json::json!({ "Image": "i", "MacAddress": mac, "HostConfig": { "NetworkMode": "host" } }),
            old,
        );
        let err = move_container_mac_address(&mut b, old).expect_err("host");
        assert_eq!(err.message(), "conflicting options: mac-address and the network mode");

        // From 1.44: moved with a warning; a different endpoint address is refused.
        let mut b = body(
            serde_json::json!({ "Image": "i", "MacAddress": mac, "HostConfig": { "NetworkMode": "net1" } }),
            new,
        );
        let warnings = move_container_mac_address(&mut b, new).expect("moved");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("The container-wide MacAddress field is now deprecated"));
        assert_eq!(endpoint_macs(&b), pair("net1"));
        let mut b = body(
            serde_json::json!({ "Image": "i", "MacAddress": mac, "HostConfig": { "NetworkMode": "net1" },
                "NetworkingConfig": { "EndpointsConfig": { "net1": { "MacAddress": "02:42:ac:11:00:01" } } } }),
            new,
        );
        let err = move_container_mac_address(&mut b, new).expect_err("mismatch");
        assert!(err.message().starts_with("the container-wide MAC address must match"), "{err}");
    }
}
