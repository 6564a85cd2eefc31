//! The authorization chain from the configuration: the built-in policy first (local and cheap),
//! then the plugins in the configured order.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use berth_authz::plugin::{PluginAuthorizer, PluginError, PluginOptions};
use berth_authz::policy::{Policy, PolicyError};
use berth_middleware::{Authorizer, AuthzChain};

use crate::config::Config;

/// How long start-up waits for a plugin that is not there yet (dockerd retries for about 15 s);
/// a plugin started alongside `berthd` has this long to create its socket.
pub(crate) const START_WAIT: Duration = Duration::from_secs(10);
/// How long a SIGHUP reload waits for a plugin; the old chain keeps serving meanwhile.
pub(crate) const RELOAD_WAIT: Duration = Duration::from_secs(2);

/// An authorization configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthzError {
    #[error("cannot load authorization policy")]
    Policy(#[source] PolicyError),
    #[error("failed to validate authorization plugin")]
    Plugin(#[source] PluginError),
}

/// Loads the policy and activates every plugin of `config`, waiting at most `wait` for each
/// plugin to appear. A plugin named twice is asked once, at its first place (as dockerd).
pub(crate) async fn build_chain(config: &Config, wait: Duration) -> Result<AuthzChain, AuthzError> {
    let mut links: Vec<Arc<dyn Authorizer>> = Vec::new();
    if let Some(path) = &config.authorization_policy {
        links.push(Arc::new(Policy::load(path).map_err(AuthzError::Policy)?));
    }
    let options = PluginOptions { discovery_wait: wait, ..PluginOptions::default() };
    let mut seen = BTreeSet::new();
    for name in &config.authorization_plugins {
        if !seen.insert(name.as_str()) {
            continue;
        }
        let plugin =
            PluginAuthorizer::validate(name, &options).await.map_err(AuthzError::Plugin)?;
        links.push(plugin);
    }
    Ok(AuthzChain::new(links))
}
