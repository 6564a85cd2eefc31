//! Handlers of `/images/...`: extract, call the backend, map the result.

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_api::Error;
use berth_backend::{
    ByteStream, ImageImportOptions, ImageLoadOptions, ImagePullOptions, ImagePushOptions,
    ImportSource,
};
use berth_http::{
    ApiError, JsonResponse, RequestApiVersion, byte_stream, not_found, progress_lines,
    progress_lines_in_band,
};
use futures_util::StreamExt;
use http::{HeaderMap, StatusCode, Uri};

use crate::Backend;
use crate::auth::registry_auth_lenient;
use crate::params::{self, Form};
use crate::path::{GetRoute, PostRoute, get_route, name_after, post_route};

const PREFIX: &str = "/images/";

/// `GET /images/json`.
pub(crate) async fn list(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
) -> Result<Response, ApiError> {
    let options = params::list_options(&form, version)?;
    let images = backend.list(options).await?;
    let body: Vec<_> = images.iter().map(|image| image.for_api(version)).collect();
    Ok(JsonResponse(body).into_response())
}

/// `GET /images/{name:.*}/get|history|json`, chosen by suffix as gorilla/mux would.
pub(crate) async fn get_named(
    State(backend): State<Backend>,
    version: RequestApiVersion,
    uri: Uri,
    form: Form,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    match get_route(&rest) {
        Some(GetRoute::Save(name)) => save_images(backend, version, form, Some(name)).await,
        Some(GetRoute::History(name)) => history(backend, version, form, name).await,
        Some(GetRoute::Inspect(name)) => inspect(backend, version, form, name).await,
        None => Ok(not_found().await),
    }
}

/// `GET /images/get?names=..`.
pub(crate) async fn save(
    State(backend): State<Backend>,
    version: RequestApiVersion,
    form: Form,
) -> Result<Response, ApiError> {
    save_images(backend, version, form, None).await
}

async fn save_images(
    backend: Backend,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
    name: Option<&str>,
) -> Result<Response, ApiError> {
    let options = params::save_options(&form, version, name)?;
    let archive = backend.save(options).await?;
    Ok(byte_stream(archive, "application/x-tar").await)
}

async fn history(
    backend: Backend,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
    name: &str,
) -> Result<Response, ApiError> {
    let platform = params::history_platform(&form, version)?;
    Ok(JsonResponse(backend.history(name, platform).await?).into_response())
}

async fn inspect(
    backend: Backend,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
    name: &str,
) -> Result<Response, ApiError> {
    let options = params::inspect_options(&form, version)?;
    let image = backend.inspect(name, options).await?;
    Ok(JsonResponse(image.for_api(version)).into_response())
}

/// `POST /images/{name:.*}/push|tag`, chosen by suffix.
pub(crate) async fn post_named(
    State(backend): State<Backend>,
    version: RequestApiVersion,
    uri: Uri,
    headers: HeaderMap,
    form: Form,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    match post_route(&rest) {
        Some(PostRoute::Push(name)) => push(backend, version, headers, form, name).await,
        Some(PostRoute::Tag(name)) => tag(backend, form, name).await,
        None => Ok(not_found().await),
    }
}

async fn push(
    backend: Backend,
    RequestApiVersion(version): RequestApiVersion,
    headers: HeaderMap,
    form: Form,
    name: &str,
) -> Result<Response, ApiError> {
    let auth = registry_auth_lenient(&headers);
    let reference = params::push_reference(name, form.get("tag"))?;
    let platform = params::push_platform(&form, version)?;
    let progress = backend.push(ImagePushOptions { reference, platform, auth }).await?;
    Ok(progress_lines(progress).await)
}

async fn tag(backend: Backend, form: Form, name: &str) -> Result<Response, ApiError> {
    let Some(target) = params::repo_tag_reference(form.get("repo"), form.get("tag"))? else {
        // dockerd 28 wraps a nil error here and so answers an empty 200 without tagging.
        return Ok(StatusCode::OK.into_response());
    };
    if target.familiar_name() == "sha256" {
        return Err(Error::invalid(
            "refusing to create an ambiguous tag using digest algorithm as name",
        )
        .into());
    }
    backend.tag(name, target).await?;
    Ok(StatusCode::CREATED.into_response())
}

/// `DELETE /images/{name:.*}`, including the exact paths (`DELETE /images/json` names an image).
pub(crate) async fn remove(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    uri: Uri,
    form: Form,
) -> Result<Response, ApiError> {
    let name = name_after(uri.path(), PREFIX);
    if name.trim().is_empty() {
        return Err(Error::invalid("image name cannot be blank").into());
    }
    let options = params::remove_options(&form, version)?;
    Ok(JsonResponse(backend.remove(&name, options).await?).into_response())
}

/// `POST /images/create`: a pull when `fromImage` is set, else an import from `fromSrc`.
pub(crate) async fn create(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    headers: HeaderMap,
    form: Form,
    body: Body,
) -> Result<Response, ApiError> {
    let platform = params::create_platform(&form, version)?;
    let from_image = form.get("fromImage");
    if !from_image.is_empty() {
        let reference = params::pull_reference(from_image, form.get("tag"))?;
        let auth = registry_auth_lenient(&headers);
        let progress = backend.pull(ImagePullOptions { reference, platform, auth }).await?;
        return Ok(progress_lines(progress).await);
    }

    let src = form.get("fromSrc");
    let reference = params::repo_tag_reference(form.get("repo"), form.get("tag"))?;
    let message = match form.get("message") {
        "" => format!("Imported from {src}"),
        message => message.to_owned(),
    };
    let source = match src {
        "-" => ImportSource::Body(body_stream(body)),
        // Neither fromImage nor fromSrc: dockerd tries to download "http://" and fails so.
        "" => return Err(Error::system(r#"Get "http:": http: no Host in request URL"#).into()),
        url if url.contains("://") => ImportSource::Url(url.to_owned()),
        url => ImportSource::Url(format!("http://{url}")),
    };
    let progress = backend
        .import(ImageImportOptions {
            source,
            reference,
            changes: form.all("changes").into_iter().map(str::to_owned).collect(),
            message,
            platform,
        })
        .await?;
    Ok(progress_lines(progress).await)
}

/// `POST /images/load`: the body is the archive, whatever its content type; every failure after
/// the query checks is reported in-band, as dockerd does.
pub(crate) async fn load(
    State(backend): State<Backend>,
    RequestApiVersion(version): RequestApiVersion,
    form: Form,
    body: Body,
) -> Result<Response, ApiError> {
    let (quiet, platform) = params::load_params(&form, version)?;
    let progress =
        match backend.load(ImageLoadOptions { body: body_stream(body), quiet, platform }).await {
            Ok(progress) => progress,
            Err(err) => futures_util::stream::iter([Err(err)]).boxed(),
        };
    Ok(progress_lines_in_band(progress))
}

/// `POST /images/prune`.
pub(crate) async fn prune(
    State(backend): State<Backend>,
    form: Form,
) -> Result<Response, ApiError> {
    let filters = params::prune_filters(&form)?;
    Ok(JsonResponse(backend.prune(filters).await?).into_response())
}

/// The request body as the backend's byte stream.
fn body_stream(body: Body) -> ByteStream {
    body.into_data_stream()
        .map(|chunk| {
            chunk.map_err(|err| Error::invalid(format!("cannot read request body: {err}")))
        })
        .boxed()
}
