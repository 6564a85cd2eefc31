//! The network API group.

use berth_api::Result;
use berth_api::filters::Filters;
use berth_api::network::{
    Network, NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse,
    NetworkDisconnectRequest, NetworkPruneReport,
};

/// Options of `GET /networks/{id}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkInspectOptions {
    /// `verbose` (already parsed as a Go boolean by the router). dockerd then adds the swarm
    /// services of the network, which a local network never has: no effect in Berth.
    pub verbose: bool,
    /// `scope`: only a network of this scope matches (`local`; `swarm` or `global` then find
    /// nothing); `None` when the client sent none or an empty one.
    pub scope: Option<String>,
}

/// The network API group: `/networks/...`.
///
/// A network reference (`id_or_name`, `network`) is what the client wrote and is resolved with
/// [`berth_api::network::find`]: a full ID, else a unique name, else a unique ID prefix; no match
/// is a 404 `network <term> not found`, several a 400 whose wording depends on the endpoint
/// (the [`berth_api::network::Lookup`] named on each method).
#[async_trait::async_trait]
pub trait NetworkBackend: Send + Sync + 'static {
    /// `GET /networks`: every network passing `filters`, with `Containers` filled (the router
    /// empties it for clients of API 1.28 and later). The router has checked the filters with
    /// [`berth_api::network::validate_list_filters`]; select with
    /// [`berth_api::network::matches()`].
    async fn list(&self, filters: Filters) -> Result<Vec<Network>>;

    /// `GET /networks/{id}` ([`Lookup::Inspect`](berth_api::network::Lookup::Inspect)), with
    /// `Containers` filled; networks of another scope than `options.scope` do not match.
    async fn inspect(&self, id_or_name: &str, options: NetworkInspectOptions) -> Result<Network>;

    /// `POST /networks/create` (201). The router has decoded the body (and dropped `EnableIPv4`
    /// for clients below API 1.48); the backend runs [`berth_api::network::prepare_create`],
    /// then its name check (409 `network with name <name> already exists`), then
    /// [`berth_api::network::check_create`], then what those leave to it (`ConfigFrom`, the
    /// bridge options, address pools: a subnet overlapping another network's is a 403 `Pool
    /// overlaps with other one on this address space`). Emits a network `create` event.
    async fn create(&self, request: NetworkCreateRequest) -> Result<NetworkCreateResponse>;

    /// `DELETE /networks/{id}` (204; [`Lookup::Remove`](berth_api::network::Lookup::Remove)).
    /// 403 `<name> is a pre-defined network and cannot be removed`; 403 `error while removing
    /// network: network <name> has active endpoints (name:"<container>" id:"<short endpoint
    /// id>", ...)` while containers are connected; 403 `configuration network "<name>" is in
    /// use` for a configuration-only network others depend on. Emits a network `destroy` event.
    async fn remove(&self, id_or_name: &str) -> Result<()>;

    /// `POST /networks/prune`: removes the networks [`berth_api::network::prunable`] selects
    /// and, with `until`, only those created before it (Unix seconds, RFC 3339, or a Go duration
    /// before now; 400 when malformed). The router has checked the filters with
    /// [`berth_api::network::validate_prune_filters`]. Reports the removed networks' names;
    /// 409 `a prune operation is already running`. Emits a network `prune` event.
    async fn prune(&self, filters: Filters) -> Result<NetworkPruneReport>;

    /// `POST /networks/{id}/connect` (200, empty). The container first (404 `No such container:
    /// <name>`), then the network ([`Lookup::Use`](berth_api::network::Lookup::Use)). A running
    /// container gets its endpoint at once; a stopped one records the settings and gets it at
    /// start (a network that does not resolve is then recorded under the name given, as
    /// dockerd does). dockerd's 400s apply: `cannot connect container to host network -
    /// container must be created in host network mode`, `container sharing network namespace
    /// with another container or host cannot be connected to any other network`, `user
    /// specified IP address is supported only when connecting to networks with user configured
    /// subnets`, `invalid endpoint settings:` and the problems; 403 `endpoint with name
    /// <container> already exists in network <network>`. Emits a network `connect` event.
    async fn connect(&self, network: &str, request: NetworkConnectRequest) -> Result<()>;

    /// `POST /networks/{id}/disconnect` (200, empty). Without `force` an unknown container is a
    /// 404 `No such container: <name>`; with it, a leftover endpoint of that name is removed.
    /// 400 `cannot disconnect container from host network - container was created in host
    /// network mode`; 500 `container <id> is not connected to the network <network>` for a
    /// stopped container without that network, as dockerd. Emits a network `disconnect` event.
    async fn disconnect(&self, network: &str, request: NetworkDisconnectRequest) -> Result<()>;
}
