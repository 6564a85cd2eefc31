//! [`PluginAuthorizer`]: an authorization plugin as a link of the authz chain, failing fast and
//! closed while the plugin is not answering.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use berth_api::{Error, ErrorKind};
use berth_middleware::authz::{Authorizer, RequestInfo, ResponseInfo, Verdict};
use bytes::Bytes;
use futures_util::future::BoxFuture;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::client::PluginClient;
use super::{CallError, PluginError, PluginOptions, discovery};
use crate::wire::{AUTHZ_REQUEST_PATH, AUTHZ_RESPONSE_PATH, AuthzRequest, PluginResponse};

/// Pauses before the quick retries of a call that could not reach the plugin; their sum stays
/// well under a second so a dead plugin costs little latency before it is marked down.
const RETRY_BACKOFF: [Duration; 2] = [Duration::from_millis(50), Duration::from_millis(150)];
/// First and longest pause between attempts in [`PluginAuthorizer::validate`].
const VALIDATE_BACKOFF: (Duration, Duration) = (Duration::from_millis(50), Duration::from_secs(1));

/// A Docker authorization plugin (legacy v1 discovery) as an [`Authorizer`].
///
/// Every request is posted to `AuthZPlugin.AuthZReq` and every complete response to
/// `AuthZPlugin.AuthZRes` over kept-alive connections. A denial is a 403
/// `authorization denied by plugin NAME: MSG`; any failure is a 500
/// `plugin NAME failed with error: …` and never an allow.
pub struct PluginAuthorizer {
    inner: Arc<Inner>,
}

struct Inner {
    name: String,
    options: PluginOptions,
    /// The activated plugin; replaced when a probe finds it again.
    client: Mutex<Arc<PluginClient>>,
    /// Whether the plugin stopped answering (the fast path reads only this).
    down: AtomicBool,
    health: Mutex<Health>,
}

/// Meaningful while down.
struct Health {
    last_error: String,
    next_probe: Instant,
}

/// What a call may do, decided before touching the network.
enum Gate {
    /// The plugin is up: call it.
    Go,
    /// The plugin is down and this call is the probe.
    Probe,
    /// The plugin is down: fail with its last error.
    Closed(String),
}

/// Why a call produced no answer; the text follows `plugin NAME failed with error: `.
#[derive(Debug)]
enum Failure {
    Call(CallError),
    Setup(String),
    Down { last_error: String, interval: Duration },
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Call(e) => e.fmt(f),
            Self::Setup(text) => f.write_str(text),
            Self::Down { last_error, interval } => write!(
                f,
                "{last_error} (the plugin is not answering; it is tried again at most once every {interval:?})"
            ),
        }
    }
}

impl PluginAuthorizer {
    /// Finds plugin `name` and activates it; the plugin must implement `authz`.
    ///
    /// A plugin that is not there yet, or does not accept connections, is looked for again with
    /// a growing pause for up to [`PluginOptions::discovery_wait`]; other failures (an invalid
    /// spec file, a plugin that is not an authorization plugin, an error reply) return at once.
    pub async fn validate(name: &str, options: &PluginOptions) -> Result<Arc<Self>, PluginError> {
        discovery::check_name(name)?;
        let deadline = Instant::now() + options.discovery_wait;
        let mut pause = VALIDATE_BACKOFF.0;
        let client = loop {
            match PluginClient::connect(name, options).await {
                Ok(client) => break client,
                Err(e) if e.is_transient() && Instant::now() < deadline => {
                    debug!(plugin = name, error = %berth_api::error_chain(&e), "authorization plugin not ready yet");
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(pause.min(left)).await;
                    pause = (pause * 2).min(VALIDATE_BACKOFF.1);
                }
                Err(e) => return Err(e),
            }
        };
        info!(plugin = name, addr = %client.spec.addr, "authorization plugin activated");
        Ok(Arc::new(Self {
            inner: Arc::new(Inner {
                name: name.to_owned(),
                options: options.clone(),
                client: Mutex::new(Arc::new(client)),
                down: AtomicBool::new(false),
                health: Mutex::new(Health {
                    last_error: String::new(),
                    next_probe: Instant::now(),
                }),
            }),
        }))
    }

    /// Whether the plugin is marked down (requests fail without calling it, but for probes).
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Acquire)
    }
}

impl fmt::Debug for PluginAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PluginAuthorizer")
            .field("name", &self.inner.name)
            .field("addr", &lock(&self.inner.client).spec.addr)
            .field("down", &self.is_down())
            .finish()
    }
}

impl Authorizer for PluginAuthorizer {
    fn name(&self) -> &str {
        &self.inner.name
    }

    fn authorize_request(&self, request: Arc<RequestInfo>) -> BoxFuture<'static, Verdict> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let body = encode(&AuthzRequest::for_request(&request));
            inner.authorize(AUTHZ_REQUEST_PATH, body).await
        })
    }

    fn authorize_response(
        &self,
        request: Arc<RequestInfo>,
        response: Arc<ResponseInfo>,
    ) -> BoxFuture<'static, Verdict> {
        let inner = Arc::clone(&self.inner);
        Box::pin(async move {
            let body = encode(&AuthzRequest::for_response(&request, &response));
            inner.authorize(AUTHZ_RESPONSE_PATH, body).await
        })
    }
}

fn encode(request: &AuthzRequest) -> Bytes {
    serde_json::to_vec(request)
        .expect("an AuthzRequest is strings, bytes and string-keyed maps, always encodable")
        .into()
}

impl Inner {
    async fn authorize(&self, path: &str, body: Bytes) -> Verdict {
        match self.call(path, body).await {
            Ok(PluginResponse { allow: true, .. }) => Ok(()),
            Ok(PluginResponse { msg, .. }) => {
                debug!(plugin = %self.name, method = path, "authorization plugin denied");
                Err(Error::new(
                    ErrorKind::Forbidden,
                    format!("authorization denied by plugin {}: {msg}", self.name),
                ))
            }
            Err(failure) => {
                Err(Error::system(format!("plugin {} failed with error: {failure}", self.name)))
            }
        }
    }

    async fn call(&self, path: &str, body: Bytes) -> Result<PluginResponse, Failure> {
        match self.gate() {
            Gate::Go => {}
            Gate::Probe => return self.probe(path, body).await,
            Gate::Closed(last_error) => {
                return Err(Failure::Down { last_error, interval: self.options.probe_interval });
            }
        }
        let client = Arc::clone(&lock(&self.client));
        let mut retries = RETRY_BACKOFF.iter();
        loop {
            match client.authz(path, body.clone()).await {
                Err(e) if e.is_retryable() => match retries.next() {
                    Some(pause) => tokio::time::sleep(*pause).await,
                    None => return Err(self.mark_down(e)),
                },
                Err(e) if e.is_transport() => return Err(self.mark_down(e)),
                other => return other.map_err(Failure::Call),
            }
        }
    }

    /// Finds and activates the plugin again (it may have restarted elsewhere), then makes the
    /// call; any answer marks the plugin up.
    async fn probe(&self, path: &str, body: Bytes) -> Result<PluginResponse, Failure> {
        let client = match PluginClient::connect(&self.name, &self.options).await {
            Ok(client) => Arc::new(client),
            Err(e) => {
                let text = berth_api::error_chain(&e);
                self.set_down(text.clone());
                return Err(Failure::Setup(text));
            }
        };
        match client.authz(path, body).await {
            Err(e) if e.is_transport() => {
                self.set_down(e.to_string());
                Err(Failure::Call(e))
            }
            result => {
                self.mark_up(client);
                result.map_err(Failure::Call)
            }
        }
    }

    fn gate(&self) -> Gate {
        if !self.down.load(Ordering::Acquire) {
            return Gate::Go;
        }
        let mut health = lock(&self.health);
        if !self.down.load(Ordering::Acquire) {
            return Gate::Go;
        }
        let now = Instant::now();
        if now < health.next_probe {
            return Gate::Closed(health.last_error.clone());
        }
        health.next_probe = now + self.options.probe_interval;
        Gate::Probe
    }

    fn mark_down(&self, error: CallError) -> Failure {
        self.set_down(error.to_string());
        Failure::Call(error)
    }

    /// Records `error` and, if the plugin was up, marks it down until the next probe.
    fn set_down(&self, error: String) {
        let went_down = {
            let mut health = lock(&self.health);
            let was_down = self.down.swap(true, Ordering::AcqRel);
            if !was_down {
                health.next_probe = Instant::now() + self.options.probe_interval;
            }
            health.last_error.clone_from(&error);
            !was_down
        };
        if went_down {
            warn!(
                plugin = %self.name,
                %error,
                "authorization plugin is not answering; requests fail until it is back"
            );
        }
    }

    fn mark_up(&self, client: Arc<PluginClient>) {
        let addr = client.spec.addr.to_string();
        *lock(&self.client) = client;
        let was_down = {
            let _health = lock(&self.health);
            self.down.swap(false, Ordering::AcqRel)
        };
        if was_down {
            info!(plugin = %self.name, %addr, "authorization plugin is answering again");
        }
    }
}

/// Locks `mutex`; the data behind these locks stays consistent even if a holder panicked.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
