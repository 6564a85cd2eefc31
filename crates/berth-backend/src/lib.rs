//! One object-safe trait per Docker API group, so routers and the engine meet without knowing
//! each other.
//!
//! Traits carry no HTTP types: arguments and results are `berth-api` wire types, failures are
//! [`berth_api::Error`]. Streams are boxed and `'static` so a router can hand them straight to a
//! response body.

use std::pin::Pin;

use berth_api::Result;
use berth_api::filters::Filters;
use berth_api::system::{Event, Info, Version};
use futures_core::Stream;

/// A boxed, sendable stream.
pub type BoxStream<'a, T> = Pin<Box<dyn Stream<Item = T> + Send + 'a>>;

/// Time bounds of an events query, in Unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    /// Replay events at or after this time.
    pub since: Option<i64>,
    /// Stop the stream at this time (immediately if it is in the past).
    pub until: Option<i64>,
    /// Filters, already validated by the router.
    pub filters: Filters,
}

/// What `/_ping` reports besides `OK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PingInfo {
    /// `Builder-Version` header value (`1` or `2`).
    pub builder_version: String,
    /// `Swarm` header value (`inactive` for a standalone engine).
    pub swarm: String,
}

/// The system API group: `/_ping`, `/version`, `/info`, `/events`.
#[async_trait::async_trait]
pub trait SystemBackend: Send + Sync + 'static {
    /// Facts for the `/_ping` headers. Must be cheap: clients call it before every command.
    fn ping(&self) -> PingInfo;

    /// `GET /version`.
    async fn version(&self) -> Result<Version>;

    /// `GET /info`.
    async fn info(&self) -> Result<Info>;

    /// `GET /events`: past events matching `query` from `since`, then live ones until `until`.
    /// The stream ends at `until`; without it, only when the client goes away.
    fn events(&self, query: EventsQuery) -> Result<BoxStream<'static, Result<Event>>>;
}
