//! Authorizers for `berthd`: the Docker authorization plugin protocol and Berth's built-in policy.
//!
//! Both implement [`berth_middleware::authz::Authorizer`]; the daemon builds the chain from its
//! configuration (policy first, then plugins in the configured order) and hands it to
//! [`berth_middleware::authz::AuthzLayer`].
//!
//! - [`wire`]: dockerd's JSON for `Plugin.Activate`, `AuthZPlugin.AuthZReq` and
//!   `AuthZPlugin.AuthZRes`, shared with plugin implementations such as the example plugin.
//! - [`plugin`]: the client side: v1 discovery, activation, [`plugin::PluginAuthorizer`].
//! - [`policy`]: the built-in policy file (`--authorization-policy`), [`policy::Policy`].

#[doc(hidden)]
pub mod fuzzing;
pub mod plugin;
pub mod policy;
pub mod wire;
