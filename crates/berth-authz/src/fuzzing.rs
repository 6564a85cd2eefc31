//! Entry points for the fuzz targets under `fuzz/`; not part of Berth's API.
//!
//! They read what a plugin sends back, or what an administrator wrote in a plugin spec file,
//! exactly as the plugin client does.

use http::StatusCode;

use crate::plugin::client::decode_reply;
use crate::plugin::{CallError, PluginAddr};
use crate::wire::{Manifest, PluginResponse};

fn status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

/// A reply to `AuthZPlugin.AuthZReq` (or `AuthZRes`) with HTTP status `code`.
pub fn authz_reply(code: u16, body: &[u8]) -> Result<PluginResponse, CallError> {
    decode_reply("AuthZPlugin.AuthZReq", status(code), body)
}

/// A reply to `Plugin.Activate` with HTTP status `code`.
pub fn activate_reply(code: u16, body: &[u8]) -> Result<Manifest, CallError> {
    decode_reply("Plugin.Activate", status(code), body)
}

/// The address in a `.spec` or `.json` plugin file (`unix://…`, `tcp://…`, `https://…`).
pub fn plugin_addr(text: &str) -> Result<PluginAddr, String> {
    PluginAddr::parse(text)
}
