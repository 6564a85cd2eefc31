//! Tower layers in front of every Berth route: API version negotiation, the experimental flag,
//! CORS and request tracing.
//!
//! Each concern is a `FooLayer` + `Foo<S>` pair in its own module, in the manner of tower-http;
//! a layer validates its configuration once, in `FooLayer::new`. The daemon assembles them (see
//! `berth-daemon`'s `stack.rs`); this crate knows nothing about listeners or backends.

pub mod authz;
pub mod cors;
pub mod experimental;
pub mod prefix;
pub mod trace;
pub mod version;

pub use authz::{Authorizer, AuthzChain, AuthzLayer};
pub use cors::{CorsError, cors_layer};
pub use experimental::{ExperimentalFlag, ExperimentalLayer};
pub use prefix::{StripVersionPrefix, StripVersionPrefixLayer, VersionPrefix};
pub use trace::{AccessTrace, AccessTraceLayer};
pub use version::{VersionCheck, VersionConfigError, VersionLayer};
