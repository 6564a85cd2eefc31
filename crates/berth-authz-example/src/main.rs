//! `berth-authz-readonly`: an example Docker authorization plugin that lets read-only requests
//! through and denies the rest.
//!
//! It is kept small on purpose: it is the starting point for writing your own plugin. Copy it,
//! rewrite [`Policy::decide`], keep the plumbing. It works with `berthd` and with `dockerd`
//! alike, since both speak the same protocol.
//!
//! # Policy
//!
//! - `GET` and `HEAD` requests are allowed; any other method is denied with a message such as
//!   `berth-readonly: POST /v1.51/containers/create is not a read-only request`.
//! - `--allow-user CN` (repeatable) allows every request from a client whose TLS client
//!   certificate has that subject common name, whatever the method.
//! - Answers are never blocked.
//!
//! The method is only a rough stand-in for "read-only": `GET /containers/{id}/attach/ws`, for
//! one, opens a websocket that writes to the container's stdin. A policy meant for production
//! looks at the path as well.
//!
//! # Running it
//!
//! ```text
//! berth-authz-readonly --allow-user admin
//! berthd --authorization-plugin berth-readonly     # dockerd takes the same flag
//! ```
//!
//! The daemon looks a plugin named `N` up as the socket `/run/docker/plugins/N.sock` (this
//! binary's default `--socket`), then under `/etc/docker/plugins` and `/usr/lib/docker/plugins`
//! as `N.spec` or `N.json`. `"authorization-plugins": ["berth-readonly"]` in daemon.json does the
//! same as the flag. The socket is created mode 0660: only its owner and group can reach it.
//! SIGTERM or SIGINT removes the socket and exits 0. Every request-phase decision is logged on
//! stderr (method, URI, user, allow or deny; never a body); `RUST_LOG=debug` adds the
//! response phase.
//!
//! # The protocol
//!
//! A plugin is an HTTP/1.1 server, here on a unix socket. The daemon always calls it with `POST`
//! and a JSON body, but sets no `Content-Type`, so read the body as JSON whatever the headers
//! say. The JSON types are in [`berth_authz::wire`].
//!
//! 1. `POST /Plugin.Activate`, empty body, the first time the daemon needs the plugin. The
//!    answer names the kinds of plugin this is: `{"Implements":["authz"]}`. A plugin whose list
//!    lacks `authz` is refused.
//! 2. `POST /AuthZPlugin.AuthZReq` before each API request reaches its handler. Fields (each one
//!    left out when empty):
//!    - `User` and `UserAuthNMethod`: the subject common name of the client's TLS certificate
//!      and `TLS`, when the client connected with mutual TLS. Clients on the unix socket are
//!      anonymous: both are absent.
//!    - `RequestMethod` and `RequestUri`: the method and the request target as the client sent
//!      it, with the API version prefix (`/v1.51`) and the query string. Match paths after the
//!      prefix, and do not trust the query string to be in any particular order.
//!    - `RequestHeaders`: one value per header; `Authorization`, `X-Registry-Auth` and
//!      `X-Registry-Config` are never passed on.
//!    - `RequestBody`: the body in base64, only when it is JSON, under 1 MiB and not a login.
//!    - `RequestPeerCertificates`: the client's certificate chain, each entry the base64 of one
//!      PEM certificate.
//! 3. `POST /AuthZPlugin.AuthZRes` after the handler ran: the same fields plus
//!    `ResponseStatusCode`, `ResponseHeaders` and `ResponseBody` (JSON answers only). The request
//!    has had its effect by then; a denial only replaces the answer. Streamed and hijacked
//!    answers (logs, events, attach, exec) have already gone out, so this phase cannot stop them.
//!
//! Both phases expect status 200 and `{"Allow": true}`, or `{"Allow": false, "Msg": "why"}`.
//! On a denial the daemon stops asking the plugins after this one and answers the API client
//! 403 `authorization denied by plugin berth-readonly: why`. Any other status is a failure of
//! the plugin: the client gets 500 `plugin berth-readonly failed with error:
//! AuthZPlugin.AuthZReq: <Err>`, where `<Err>` is the `Err` field of a JSON answer (or the raw
//! answer). An unreachable plugin fails every request, so keep plugins simple and fast.

use std::collections::HashSet;
use std::fs::{self, DirBuilder, Permissions};
use std::io::{self, IsTerminal};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use berth_authz::wire::{
    ACTIVATE_PATH, AUTHZ_CAPABILITY, AUTHZ_REQUEST_PATH, AUTHZ_RESPONSE_PATH, AuthzRequest,
    Manifest, PluginResponse,
};
use clap::Parser;
use tokio::net::UnixListener;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;

/// The name used in denial messages; the daemon adds its own prefix naming the plugin.
const NAME: &str = "berth-readonly";

/// Command line.
#[derive(Debug, Parser)]
#[command(version, about = "A Docker authorization plugin that allows read-only requests")]
struct Args {
    /// Unix socket to listen on; the daemon finds a plugin named N at /run/docker/plugins/N.sock.
    #[arg(long, value_name = "PATH", default_value = "/run/docker/plugins/berth-readonly.sock")]
    socket: PathBuf,
    /// Allow every request from clients whose TLS certificate has this common name (repeatable).
    #[arg(long = "allow-user", value_name = "CN")]
    allow_users: Vec<String>,
}

/// What the plugin allows. Everything specific to this example is here.
#[derive(Debug)]
struct Policy {
    /// Common names allowed to do anything.
    allowed_users: HashSet<String>,
}

impl Policy {
    /// The request-phase decision.
    fn decide(&self, request: &AuthzRequest) -> PluginResponse {
        // `User` is only ever set for a client that proved it with a TLS certificate.
        let trusted = !request.user.is_empty() && self.allowed_users.contains(&request.user);
        let read_only = matches!(request.request_method.as_str(), "GET" | "HEAD");
        if trusted || read_only {
            return PluginResponse { allow: true, ..PluginResponse::default() };
        }
        PluginResponse {
            allow: false,
            msg: format!(
                "{NAME}: {} {} is not a read-only request",
                request.request_method, request.request_uri
            ),
            ..PluginResponse::default()
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();

    // Handlers first: a SIGTERM right after the socket appears must still clean it up.
    let mut sigterm = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let shutdown = async move {
        let name = tokio::select! {
            _ = sigterm.recv() => "SIGTERM",
            _ = sigint.recv() => "SIGINT",
        };
        tracing::info!(signal = %name, "shutting down");
    };

    let listener = bind(&args.socket)?;
    let policy = Policy { allowed_users: args.allow_users.into_iter().collect() };
    tracing::info!(
        socket = %args.socket.display(),
        allowed_users = ?policy.allowed_users,
        "listening"
    );

    let app = Router::new()
        .route(ACTIVATE_PATH, post(activate))
        .route(AUTHZ_REQUEST_PATH, post(authz_request))
        .route(AUTHZ_RESPONSE_PATH, post(authz_response))
        .with_state(Arc::new(policy));
    let served = axum::serve(listener, app).with_graceful_shutdown(shutdown).await;

    if let Err(e) = fs::remove_file(&args.socket)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(socket = %args.socket.display(), error = %e, "cannot remove the socket");
    }
    served.context("serving the plugin socket")
}

/// `/Plugin.Activate`: the body is empty; the answer says which plugin kinds this is.
async fn activate() -> Response {
    let manifest = Manifest { implements: vec![AUTHZ_CAPABILITY.to_owned()] };
    axum::Json(manifest).into_response()
}

/// `/AuthZPlugin.AuthZReq`: may this request run?
async fn authz_request(State(policy): State<Arc<Policy>>, body: Bytes) -> Response {
    let request: AuthzRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return malformed(&e),
    };
    let answer = policy.decide(&request);
    let decision = if answer.allow { "allow" } else { "deny" };
    tracing::info!(
        method = %request.request_method,
        uri = %request.request_uri,
        user = %user(&request),
        decision = %decision,
        "AuthZReq"
    );
    axum::Json(answer).into_response()
}

/// `/AuthZPlugin.AuthZRes`: may the client see the answer? This policy never objects.
async fn authz_response(body: Bytes) -> Response {
    let request: AuthzRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return malformed(&e),
    };
    tracing::debug!(
        method = %request.request_method,
        uri = %request.request_uri,
        user = %user(&request),
        status = request.response_status_code,
        decision = %"allow",
        "AuthZRes"
    );
    axum::Json(PluginResponse { allow: true, ..PluginResponse::default() }).into_response()
}

/// The 400 answer to a body that is not an [`AuthzRequest`]; the daemon reports `Err` as the
/// plugin's failure.
fn malformed(error: &serde_json::Error) -> Response {
    tracing::warn!(%error, "malformed request from the daemon");
    let answer = PluginResponse { err: format!("malformed JSON: {error}"), ..Default::default() };
    (StatusCode::BAD_REQUEST, axum::Json(answer)).into_response()
}

/// The user for logs: `-` for anonymous clients.
fn user(request: &AuthzRequest) -> &str {
    if request.user.is_empty() { "-" } else { &request.user }
}

/// Listens on `path`: creates its directory (0755) if missing, replaces a socket nobody listens
/// on any more, and leaves the socket mode 0660.
fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        // The umask may have narrowed the mode; the daemon must be able to reach the socket.
        fs::set_permissions(dir, Permissions::from_mode(0o755))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    remove_stale_socket(path)?;
    let listener =
        UnixListener::bind(path).with_context(|| format!("cannot listen on {}", path.display()))?;
    fs::set_permissions(path, Permissions::from_mode(0o660))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(listener)
}

/// Removes `path` if it is a socket left behind by a process that is gone. A live socket, or
/// anything that is not a socket, is an error: never take over or delete someone else's file.
fn remove_stale_socket(path: &Path) -> anyhow::Result<()> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!("{} exists and is not a socket; not removing it", path.display());
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!("{} is in use: another plugin is listening on it", path.display());
    }
    tracing::info!(socket = %path.display(), "removing stale socket");
    fs::remove_file(path).with_context(|| format!("cannot remove stale socket {}", path.display()))
}
