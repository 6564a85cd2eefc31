//! The Docker authorization plugin protocol, client side: discovery of legacy (v1) plugins,
//! activation, and a [`PluginAuthorizer`] asking the plugin about every request and response.
//!
//! Unlike dockerd, which retries an unreachable plugin for about 15 s on every request, a plugin
//! that stops answering is marked down after a few quick retries: requests then fail closed at
//! once with a 500, and at most one request per [`PluginOptions::probe_interval`] looks for the
//! plugin again (discovery and activation included, so a plugin restarted elsewhere is found).

mod authorizer;
pub(crate) mod client;
mod discovery;
mod transport;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::time::Duration;

pub use authorizer::PluginAuthorizer;
pub use discovery::{PluginAddr, PluginDirs, PluginSpec, TlsSpec};

/// How plugins are found and called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginOptions {
    /// Where plugins are looked for.
    pub dirs: PluginDirs,
    /// How long [`PluginAuthorizer::validate`] keeps retrying a plugin that is not there yet or
    /// does not accept connections (the daemon passes about 10 s at start, 2 s on reload).
    pub discovery_wait: Duration,
    /// Limit on one plugin call, from connecting to the end of the reply.
    pub call_timeout: Duration,
    /// Limit on connecting (and the TLS handshake).
    pub connect_timeout: Duration,
    /// While a plugin is down, how often a request may try it again.
    pub probe_interval: Duration,
}

impl Default for PluginOptions {
    fn default() -> Self {
        Self {
            dirs: PluginDirs::default(),
            discovery_wait: Duration::from_secs(10),
            call_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(2),
            probe_interval: Duration::from_secs(1),
        }
    }
}

/// Why a plugin could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PluginError {
    /// The name is empty or could escape the plugin directories.
    #[error(
        "invalid authorization plugin name {name:?}: it must be non-empty and contain neither '/' nor '..'"
    )]
    InvalidName {
        /// The name as configured.
        name: String,
    },
    /// No socket or spec file has that name.
    #[error("plugin {name} not found in {dirs}")]
    NotFound {
        /// The plugin name.
        name: String,
        /// The directories searched, comma separated.
        dirs: String,
    },
    /// The `.spec` or `.json` file is unreadable or invalid (`Unknown protocol` for an address
    /// without a scheme).
    #[error("plugin {name}: invalid plugin file {}: {reason}", path.display())]
    InvalidSpec {
        /// The plugin name.
        name: String,
        /// The spec file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The TLS files named by a `.json` plugin file are unusable.
    #[error("plugin {name}: invalid TLS configuration: {reason}")]
    Tls {
        /// The plugin name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// `Plugin.Activate` failed.
    #[error("plugin {name}: activation failed")]
    Activate {
        /// The plugin name.
        name: String,
        /// The failed call.
        #[source]
        source: CallError,
    },
    /// The plugin activated but is not an authorization plugin (dockerd's exact message).
    #[error(
        "Plugin does not implement the requested driver: plugin=\"{name}\", requested implementation=\"authz\""
    )]
    NotAuthz {
        /// The plugin name.
        name: String,
    },
}

impl PluginError {
    /// Whether waiting may help: the plugin is not there yet or does not accept connections.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::NotFound { .. } => true,
            Self::Activate { source, .. } => source.is_transport(),
            _ => false,
        }
    }
}

/// One failed plugin call. The text is what follows `plugin NAME failed with error: ` in the
/// message the API client gets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// The plugin could not be reached or dropped the connection.
    #[error("Post \"{url}\": {detail}")]
    Transport {
        /// The URL posted to.
        url: String,
        /// The innermost cause.
        detail: String,
        /// Whether it was the connect timeout.
        timed_out: bool,
    },
    /// No complete reply within [`PluginOptions::call_timeout`].
    #[error("Post \"{url}\": timed out after {after:?}")]
    Timeout {
        /// The URL posted to.
        url: String,
        /// The call timeout.
        after: Duration,
    },
    /// A reply other than 200: the `Err` field of a JSON body, else the body itself.
    #[error("{method}: {message}")]
    Status {
        /// The plugin method, e.g. `AuthZPlugin.AuthZReq`.
        method: String,
        /// The HTTP status.
        status: u16,
        /// The plugin's error.
        message: String,
    },
    /// A 200 reply that is not the expected JSON.
    #[error("{method}: invalid reply: {detail}")]
    Decode {
        /// The plugin method.
        method: String,
        /// The decoder's complaint.
        detail: String,
    },
}

impl CallError {
    /// Whether the plugin did not answer at all (as opposed to answering badly).
    pub(crate) fn is_transport(&self) -> bool {
        matches!(self, Self::Transport { .. } | Self::Timeout { .. })
    }

    /// Whether a quick retry may help: connection failures, but not timeouts.
    pub(crate) fn is_retryable(&self) -> bool {
        matches!(self, Self::Transport { timed_out: false, .. })
    }
}
