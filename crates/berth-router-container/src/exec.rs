//! Handlers of `/exec/...`: inspect, start (hijacked unless detached), resize.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use berth_api::container::{ExecStartBody, decode_body};
use berth_api::stdcopy::StdStream;
use berth_api::{ApiVersion, Error, ErrorKind};
use berth_backend::{ByteStream, ExecStartOptions, OutputChunk};
use berth_http::{ApiError, ApiJson, Hijack, JsonResponse, RequestApiVersion, not_found};
use futures_util::StreamExt;
use http::{StatusCode, Uri};

use crate::Backends;
use crate::output::{attach_bytes, content_type};
use crate::params::ContainerForm as _;
use crate::params::Form;
use crate::path::{name_after, route};

const PREFIX: &str = "/exec/";

/// `GET /exec/{id:.*}/json`.
pub(crate) async fn get_named(State(b): State<Backends>, uri: Uri) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    let Some((_, id)) = route(&rest, &["json"]) else {
        return Ok(not_found().await);
    };
    Ok(JsonResponse(b.exec.inspect(id).await?).into_response())
}

/// `POST /exec/{id:.*}/start|resize`.
pub(crate) async fn post_named(
    State(b): State<Backends>,
    RequestApiVersion(version): RequestApiVersion,
    uri: Uri,
    form: Form,
    hijack: Hijack,
    body: ApiJson<serde_json::Value>,
) -> Result<Response, ApiError> {
    let rest = name_after(uri.path(), PREFIX);
    match route(&rest, &["start", "resize"]) {
        Some(("start", id)) => start(&b, version, id, hijack, body.0).await,
        Some((_, id)) => {
            let height = form.resize_dim("h", "height")?;
            let width = form.resize_dim("w", "width")?;
            b.exec.resize(id, height, width).await?;
            Ok(StatusCode::OK.into_response())
        }
        None => Ok(not_found().await),
    }
}

async fn start(
    b: &Backends,
    version: ApiVersion,
    id: &str,
    mut hijack: Hijack,
    body: serde_json::Value,
) -> Result<Response, ApiError> {
    let body: ExecStartBody =
        if body.is_null() { ExecStartBody::default() } else { decode_body(body)? };
    let console_size = body.console_size.filter(|_| version >= ApiVersion::new(1, 42) && body.tty);
    let options = ExecStartOptions { detach: body.detach, tty: body.tty, console_size };
    if body.detach {
        b.exec.start(id, options, None).await?;
        return Ok(StatusCode::OK.into_response());
    }
    // Without an upgrade nothing the client sends after the request can be read: no stdin.
    let stdin: Option<ByteStream> = hijack.will_upgrade().then(|| hijack.stdin().boxed());
    let output = match b.exec.start(id, options, stdin).await {
        Ok(attached) => attached.output,
        // dockerd checks that the exec exists before hijacking: a plain JSON 404.
        Err(err) if err.kind() == ErrorKind::NotFound => return Err(err.into()),
        // Any other failure comes after the hijack, in-band: `<err>\r\n` on stdout.
        Err(err) => {
            let line = format!("{}\r\n", err.message());
            futures_util::stream::iter([Ok::<_, Error>(OutputChunk::new(StdStream::Stdout, line))])
                .boxed()
        }
    };
    let tty = body.tty;
    Ok(hijack.respond(content_type(tty, version), attach_bytes(output, tty, "")))
}
