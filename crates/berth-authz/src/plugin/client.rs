//! One activated plugin: its address, a transport, and the meaning of its replies.

use bytes::Bytes;
use http::StatusCode;
use serde::de::DeserializeOwned;

use super::transport::Transport;
use super::{CallError, PluginError, PluginOptions, PluginSpec};
use crate::wire::{ACTIVATE_PATH, AUTHZ_CAPABILITY, Manifest, PluginResponse};

/// A plugin found, connected and activated.
#[derive(Debug)]
pub(crate) struct PluginClient {
    pub(crate) spec: PluginSpec,
    transport: Transport,
}

impl PluginClient {
    /// Discovers `name` (once, no waiting), then activates it.
    pub(crate) async fn connect(name: &str, options: &PluginOptions) -> Result<Self, PluginError> {
        let spec = options.dirs.find(name)?;
        let transport = Transport::new(&spec, options)?;
        let client = Self { spec, transport };
        client.activate().await?;
        Ok(client)
    }

    /// `Plugin.Activate`: the plugin must implement `authz`.
    async fn activate(&self) -> Result<(), PluginError> {
        let name = &self.spec.name;
        let manifest: Manifest = self
            .call(ACTIVATE_PATH, Bytes::new())
            .await
            .map_err(|source| PluginError::Activate { name: name.clone(), source })?;
        if !manifest.implements.iter().any(|i| i == AUTHZ_CAPABILITY) {
            return Err(PluginError::NotAuthz { name: name.clone() });
        }
        Ok(())
    }

    /// Posts `body` to `path` and decodes a 200 reply; any other status is the plugin's error.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        path: &str,
        body: Bytes,
    ) -> Result<T, CallError> {
        let reply = self.transport.post(path, body).await?;
        decode_reply(path.trim_start_matches('/'), reply.status, &reply.body)
    }

    /// An authorization call ([`crate::wire::AUTHZ_REQUEST_PATH`] or
    /// [`crate::wire::AUTHZ_RESPONSE_PATH`]).
    pub(crate) async fn authz(&self, path: &str, body: Bytes) -> Result<PluginResponse, CallError> {
        self.call(path, body).await
    }
}

/// A reply to `method`: the expected JSON in a 200, else the plugin's error.
pub(crate) fn decode_reply<T: DeserializeOwned>(
    method: &str,
    status: StatusCode,
    body: &[u8],
) -> Result<T, CallError> {
    if status != StatusCode::OK {
        return Err(status_error(method, status, body));
    }
    serde_json::from_slice(body)
        .map_err(|e| CallError::Decode { method: method.to_owned(), detail: e.to_string() })
}

/// dockerd's reading of a non-200 reply: the `Err` of a JSON body when present, else the body.
fn status_error(method: &str, status: StatusCode, body: &[u8]) -> CallError {
    let from_json = serde_json::from_slice::<PluginResponse>(body)
        .ok()
        .map(|r| r.err)
        .filter(|e| !e.is_empty());
    let message = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    CallError::Status { method: method.to_owned(), status: status.as_u16(), message }
}
