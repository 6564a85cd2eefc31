//! A container's networks: which it is on (checked at create, changed by connect and
//! disconnect), and for each run its namespace by `NetworkMode` — `bridge` or a user-defined
//! network (its own namespace, one interface per network through CNI), `none` (its own namespace
//! with only `lo`), `host` (the host's), `container:<id>` (another running container's) — plus the
//! hostname, hosts and resolv.conf files each mode gets.

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use berth_api::container::{EndpointSettings, HostConfig, NetworkingConfig};
use berth_api::{Error, ErrorKind, Result};

use super::Registry;
use super::record::{Endpoint, Record};
use crate::network::store::{Network, Networks};
use crate::network::{self, Binding, DnsServer, Names, Netns, Published};
use crate::runtime::spec::NetNs;

/// The predefined networks without a namespace of their own per container, and `bridge`.
const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

/// Whether `name` is a user-defined network (container names resolve on those).
pub(crate) fn user_defined(name: &str) -> bool {
    !BUILTIN.contains(&name)
}

/// What a run's network gave it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attached {
    /// How the spec joins a network namespace.
    pub(crate) netns: NetNs,
    /// The namespace file Berth made (bridge, user networks and none), removed when the run ends.
    pub(crate) netns_file: Option<PathBuf>,
    /// The endpoints with what this run got.
    pub(crate) endpoints: BTreeMap<String, Endpoint>,
    /// Directory holding the `hostname`, `hosts` and `resolv.conf` to bind-mount.
    pub(crate) files_dir: Option<PathBuf>,
    /// The hostname the container sees.
    pub(crate) hostname: String,
    /// The host ports published for this run.
    pub(crate) ports: Vec<Binding>,
}

/// What serves a running container from inside berthd: its port proxies and DNS server.
#[derive(Default)]
struct Live {
    ports: Option<Published>,
    dns: Option<DnsServer>,
}

impl Live {
    async fn stop(self) {
        if let Some(ports) = self.ports {
            ports.close().await;
        }
        if let Some(dns) = self.dns {
            dns.stop().await;
        }
    }
}

/// The networking side of the engine.
pub(crate) struct Networking {
    /// Every network.
    pub(crate) store: Arc<Networks>,
    netns_dir: PathBuf,
    /// Running containers' proxies and DNS servers, by container ID.
    live: Mutex<HashMap<String, Live>>,
}

impl std::fmt::Debug for Networking {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Networking").field("netns_dir", &self.netns_dir).finish_non_exhaustive()
    }
}

impl Networking {
    /// Networking over `store`, with namespace files under `netns_dir`.
    pub(crate) fn new(store: Arc<Networks>, netns_dir: PathBuf) -> Self {
        Self { store, netns_dir, live: Mutex::new(HashMap::new()) }
    }

    fn take_live(&self, id: &str) -> Option<Live> {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).remove(id)
    }

    fn put_live(&self, id: &str, live: Live) {
        let old = self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(id.to_owned(), live);
        if let Some(old) = old {
            tokio::spawn(old.stop());
        }
    }

    /// The endpoints a new container starts with, from `NetworkMode` and `NetworkingConfig`,
    /// checked as dockerd checks them at create.
    pub(crate) fn endpoints_at_create(
        &self,
        hc: &HostConfig,
        nc: Option<&NetworkingConfig>,
        registry: &Registry,
    ) -> Result<BTreeMap<String, Endpoint>> {
        let mode = hc.network_mode.as_str();
        let configs: Vec<(&String, &EndpointSettings)> = nc
            .and_then(|n| n.endpoints_config.as_ref())
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        if let Some(other) = mode.strip_prefix("container:") {
            registry.get(other)?;
            if hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) || hc.publish_all_ports {
                return Err(Error::invalid(
                    "conflicting options: port publishing and the container type network mode",
                ));
            }
            if !configs.is_empty() {
                return Err(Error::invalid(
                    "conflicting options: container type network can't be used with other networks",
                ));
            }
            return Ok(BTreeMap::new());
        }
        // dockerd 28 creates a container on a network that does not exist (yet) and looks it up
        // at start (`updateContainerNetworkSettings`, `validateNetworkingConfig`): such an
        // endpoint keeps the name as given and no network ID.
        let primary = self.lookup_at_create(mode)?;
        let primary_name = primary.as_ref().map_or(mode, |n| n.record.name.as_str()).to_owned();
        let mut endpoints = BTreeMap::new();
        endpoints.insert(
            primary_name.clone(),
            Endpoint {
                network_id: primary.as_ref().map(|n| n.record.id.clone()).unwrap_or_default(),
                ..Endpoint::default()
            },
        );
        for (key, settings) in configs {
            let net = self.lookup_at_create(key)?;
            let name = net.as_ref().map_or(key.as_str(), |n| n.record.name.as_str()).to_owned();
            if name != primary_name && !user_defined(&primary_name) && mode != "bridge" {
                return Err(Error::invalid(format!(
                    "Container cannot be connected to network endpoints: {mode}, {key}"
                )));
            }
            let endpoint = requested_endpoint(&name, net.as_deref(), settings)?;
            endpoints.insert(name, endpoint);
        }
        Ok(endpoints)
    }

    /// The network `key` names at create, `None` when there is none.
    fn lookup_at_create(&self, key: &str) -> Result<Option<Arc<Network>>> {
        match self.store.get(key) {
            Ok(net) => Ok(Some(net)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Sets up the network of a run of `record`, writing its files into `dir`.
    pub(crate) async fn attach(
        &self,
        record: &Record,
        dir: &Path,
        registry: &Registry,
        names: Arc<dyn Names>,
    ) -> Result<Attached> {
        let hc = &record.host_config;
        let mode = hc.network_mode.as_str();
        let hostname = record.config.hostname.clone();
        let extra: Vec<String> = hc.extra_hosts.clone().unwrap_or_default();
        if let Some(other) = mode.strip_prefix("container:") {
            let c = registry.get(other)?;
            let (running, pid) = c.with(|r| (r.state.is_running(), r.state.pid));
            if !running || pid == 0 {
                return Err(Error::conflict(format!(
                    "cannot join network namespace of a non running container: {}",
                    c.id
                )));
            }
            let other_host = c.with(|r| r.config.hostname.clone());
            return Ok(Attached {
                netns: NetNs::Path(PathBuf::from(format!("/proc/{pid}/ns/net"))),
                files_dir: Some(c.dir.clone()),
                hostname: other_host,
                ..Attached::default()
            });
        }
        let host_resolv = network::read_host_resolv_conf().await?;
        let dns = hc.dns.clone().unwrap_or_default();
        let search = hc.dns_search.clone().unwrap_or_default();
        let options = hc.dns_options.clone().unwrap_or_default();
        let endpoints = record.networks.clone();
        if mode == "host" {
            let hosts = tokio::fs::read_to_string("/etc/hosts").await.unwrap_or_default();
            network::write_hostname(dir, &hostname)?;
            network::write_hosts_host_mode(dir, &hosts, &extra, None)?;
            network::write_resolv_conf(dir, &host_resolv, &dns, &search, &options, true)?;
            return Ok(Attached {
                netns: NetNs::Host,
                endpoints,
                files_dir: Some(dir.to_owned()),
                hostname,
                ..Attached::default()
            });
        }
        if mode == "none" {
            // runc makes the namespace and brings `lo` up, as dockerd's none network has it.
            network::write_hostname(dir, &hostname)?;
            network::write_hosts(dir, &hostname, None, &extra, None)?;
            network::write_resolv_conf(dir, &host_resolv, &dns, &search, &options, false)?;
            return Ok(Attached {
                netns: NetNs::New,
                endpoints,
                files_dir: Some(dir.to_owned()),
                hostname,
                ..Attached::default()
            });
        }
        let file = Netns::create(&self.netns_dir, &record.id)?;
        let mut attached = Attached {
            netns: NetNs::Path(file.clone()),
            netns_file: Some(file.clone()),
            endpoints: BTreeMap::new(),
            files_dir: Some(dir.to_owned()),
            hostname,
            ports: Vec::new(),
        };
        let order = attach_order(record);
        for (i, name) in order.iter().enumerate() {
            let Some(wanted) = endpoints.get(name) else { continue };
            let result = self.attach_one(&record.id, &file, name, wanted, &format!("eth{i}")).await;
            match result {
                Ok(ep) => {
                    attached.endpoints.insert(name.clone(), ep);
                }
                Err(e) => {
                    self.detach(record, &attached).await;
                    return Err(e);
                }
            }
        }
        let primary = order.first().and_then(|n| attached.endpoints.get(n));
        let ip = primary.and_then(|e| e.ip);
        let gateway = primary.and_then(|e| e.gateway);
        let embedded_dns = attached.endpoints.keys().any(|n| user_defined(n));
        let written = network::write_hostname(dir, &attached.hostname)
            .and_then(|()| network::write_hosts(dir, &attached.hostname, ip, &extra, gateway))
            .and_then(|()| {
                if embedded_dns {
                    network::write_resolv_conf_embedded(dir, &host_resolv, &dns, &search, &options)
                } else {
                    network::write_resolv_conf(dir, &host_resolv, &dns, &search, &options, false)
                        .map(|()| Vec::new())
                }
            });
        let served = match written {
            Ok(upstreams) => {
                self.serve(record, &file, ip, embedded_dns, upstreams, names, None).await
            }
            Err(e) => Err(e),
        };
        match served {
            Ok(ports) => {
                attached.ports = ports;
                Ok(attached)
            }
            Err(e) => {
                self.detach(record, &attached).await;
                Err(e)
            }
        }
    }

    /// Starts what serves a running container from berthd: the DNS server (on user-defined
    /// networks) and the port proxies to `ip`, binding `stored` ports again on restore.
    #[expect(clippy::too_many_arguments, reason = "start and restore pass different parts")]
    async fn serve(
        &self,
        record: &Record,
        file: &Path,
        ip: Option<Ipv4Addr>,
        embedded_dns: bool,
        upstreams: Vec<std::net::SocketAddr>,
        names: Arc<dyn Names>,
        stored: Option<&[Binding]>,
    ) -> Result<Vec<Binding>> {
        let mut live = Live::default();
        if embedded_dns {
            live.dns = Some(DnsServer::start(file, record.id.clone(), names, upstreams)?);
        }
        if let Some(ip) = ip {
            let published = match stored {
                Some(bindings) => network::republish(bindings, ip).await,
                None => {
                    let hc = &record.host_config;
                    let requests = network::plan(
                        hc.port_bindings.as_ref(),
                        record.config.exposed_ports.as_ref(),
                        hc.publish_all_ports,
                    )?;
                    network::publish(&requests, ip).await
                }
            };
            match published {
                Ok(p) => live.ports = Some(p),
                Err(e) => {
                    live.stop().await;
                    let endpoint = record.id.clone();
                    return Err(Error::new(
                        e.kind(),
                        format!(
                            "driver failed programming external connectivity on endpoint {} ({endpoint}): {}",
                            record.short_name(),
                            e.message()
                        ),
                    ));
                }
            }
        }
        let ports = live.ports.as_ref().map(|p| p.bindings().to_vec()).unwrap_or_default();
        self.put_live(&record.id, live);
        Ok(ports)
    }

    /// Serves a container found running after a restart of berthd again: its DNS server and
    /// the host ports it had.
    pub(crate) async fn restore(&self, record: &Record, names: Arc<dyn Names>) {
        let Some(file) = &record.netns else { return };
        let embedded_dns = record.networks.keys().any(|n| user_defined(n));
        let upstreams = if embedded_dns {
            let host_resolv = network::read_host_resolv_conf().await.unwrap_or_default();
            let hc = &record.host_config;
            // The file written at start stays; only its upstream list is needed again.
            network::embedded_resolv_conf_content(
                &host_resolv,
                &hc.dns.clone().unwrap_or_default(),
                &hc.dns_search.clone().unwrap_or_default(),
                &hc.dns_options.clone().unwrap_or_default(),
            )
            .map(|(_, upstreams)| upstreams)
            .unwrap_or_default()
        } else {
            Vec::new()
        };
        let primary =
            attach_order(record).first().and_then(|n| record.networks.get(n)).and_then(|e| e.ip);
        let stored = record.ports.as_slice();
        if let Err(e) =
            self.serve(record, file, primary, embedded_dns, upstreams, names, Some(stored)).await
        {
            tracing::warn!(container = %record.id, error = %e, "cannot serve the restored container's ports and names");
        }
    }

    /// Attaches the namespace `file` to network `name` as `ifname`.
    async fn attach_one(
        &self,
        id: &str,
        file: &Path,
        name: &str,
        wanted: &Endpoint,
        ifname: &str,
    ) -> Result<Endpoint> {
        let net = self.network_of(name, wanted)?;
        let mac = wanted.mac_requested.as_deref();
        let a = net.cni()?.attach(id, file, ifname, wanted.ipv4_requested, mac).await?;
        let internal = net.record.bridge.as_ref().is_some_and(|b| b.internal);
        Ok(Endpoint {
            network_id: net.record.id.clone(),
            aliases: wanted.aliases.clone(),
            ipv4_requested: wanted.ipv4_requested,
            mac_requested: wanted.mac_requested.clone(),
            driver_opts: wanted.driver_opts.clone(),
            endpoint_id: super::names::generate_id(),
            ifname: ifname.to_owned(),
            ip: Some(a.ip),
            prefix_len: a.prefix_len,
            gateway: (!internal).then_some(a.gateway),
            mac: a.mac,
        })
    }

    /// The network an endpoint is on (by ID: a network removed and re-created under the same
    /// name is another network; by name when it did not exist at create).
    fn network_of(&self, name: &str, ep: &Endpoint) -> Result<Arc<Network>> {
        let found = if ep.network_id.is_empty() {
            self.store.get(name).ok()
        } else {
            self.store.get(&ep.network_id).ok().filter(|n| n.record.id == ep.network_id)
        };
        found.ok_or_else(|| Error::not_found(format!("network {name} not found")))
    }

    /// Undoes [`Networking::attach`] after a failed start.
    pub(crate) async fn detach(&self, record: &Record, attached: &Attached) {
        if let Some(live) = self.take_live(&record.id) {
            live.stop().await;
        }
        if let Some(file) = &attached.netns_file {
            self.teardown(&record.id, file, &attached.endpoints).await;
        }
    }

    /// Releases the network of a run that ended (from the stored record).
    pub(crate) async fn release(&self, record: &Record) {
        if let Some(live) = self.take_live(&record.id) {
            live.stop().await;
        }
        if let Some(file) = &record.netns {
            self.teardown(&record.id, file, &record.networks).await;
        } else if !record.host_config.network_mode.starts_with("container:") {
            // A crash between attach and the record's update: the file is named after the ID,
            // and the interfaces follow the attach order.
            let file = self.netns_dir.join(&record.id);
            if file.exists() {
                let mut endpoints = record.networks.clone();
                for (i, name) in attach_order(record).iter().enumerate() {
                    if let Some(ep) = endpoints.get_mut(name) {
                        ep.ifname = format!("eth{i}");
                    }
                }
                self.teardown(&record.id, &file, &endpoints).await;
            }
        }
    }

    async fn teardown(&self, id: &str, file: &Path, endpoints: &BTreeMap<String, Endpoint>) {
        for (name, ep) in endpoints {
            self.detach_one(id, file, name, ep).await;
        }
        if let Err(e) = Netns::remove(file) {
            tracing::warn!(container = id, error = %e, "cannot remove network namespace");
        }
    }

    async fn detach_one(&self, id: &str, file: &Path, name: &str, ep: &Endpoint) {
        if ep.ifname.is_empty() {
            return;
        }
        let Ok(net) = self.network_of(name, ep) else { return };
        if let Ok(cni) = net.cni()
            && let Err(e) = cni.detach(id, file, &ep.ifname).await
        {
            tracing::warn!(container = id, network = name, error = %e, "CNI DEL failed");
        }
    }

    /// Connects the running container `record` (in namespace `file`) to `net`; returns the
    /// endpoint it got.
    pub(crate) async fn connect_running(
        &self,
        record: &Record,
        file: &Path,
        net: &Network,
        wanted: &Endpoint,
    ) -> Result<Endpoint> {
        let used: Vec<&str> = record.networks.values().map(|e| e.ifname.as_str()).collect();
        let ifname = (0..)
            .map(|i| format!("eth{i}"))
            .find(|n| !used.contains(&n.as_str()))
            .unwrap_or_else(|| "eth0".to_owned());
        self.attach_one(&record.id, file, &net.record.name, wanted, &ifname).await
    }

    /// Disconnects the running container `record` (in namespace `file`) from network `name`.
    pub(crate) async fn disconnect_running(&self, record: &Record, file: &Path, name: &str) {
        if let Some(ep) = record.networks.get(name) {
            self.detach_one(&record.id, file, name, ep).await;
        }
    }

    /// The endpoint asked for by a connect request (checked as at create).
    pub(crate) fn requested(&self, net: &Network, settings: &EndpointSettings) -> Result<Endpoint> {
        requested_endpoint(&net.record.name, Some(net), settings)
    }
}

/// Interfaces are made in this order: the `NetworkMode` network first (`eth0`), then the others
/// by name.
fn attach_order(record: &Record) -> Vec<String> {
    let mode = record.host_config.network_mode.as_str();
    let primary = record
        .networks
        .iter()
        .find(|(name, ep)| name.as_str() == mode || ep.network_id == mode)
        .map(|(name, _)| name.clone());
    let mut order: Vec<String> = primary.iter().cloned().collect();
    order.extend(record.networks.keys().filter(|n| Some(*n) != primary.as_ref()).cloned());
    order
}

/// The endpoint `settings` ask for on network `name`, refused as dockerd refuses it. Without
/// `net` (a network that does not exist at create) the checks against the network wait for the
/// start, as in dockerd.
fn requested_endpoint(
    name: &str,
    net: Option<&Network>,
    settings: &EndpointSettings,
) -> Result<Endpoint> {
    let user = net.map_or_else(|| user_defined(name), |n| n.record.user_defined());
    let aliases = settings.aliases.clone().unwrap_or_default();
    if !aliases.is_empty() && !user {
        return Err(Error::invalid(
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    let requested =
        settings.ipam_config.as_ref().map(|c| c.ipv4_address.as_str()).filter(|a| !a.is_empty());
    let ipv4_requested = match requested {
        None => None,
        Some(text) => {
            if !user {
                return Err(Error::invalid(
                    "user specified IP address is supported on user defined networks only",
                ));
            }
            let ip: Ipv4Addr = text
                .parse()
                .map_err(|_| Error::invalid(format!("invalid IPv4 address: {text}")))?;
            let inside = |net: &Network| {
                net.record
                    .bridge
                    .as_ref()
                    .is_some_and(|b| b.ip_range.unwrap_or(b.subnet).contains(ip) && ip != b.gateway)
            };
            if net.is_some_and(|n| !inside(n)) {
                return Err(Error::invalid(format!(
                    "no configured subnet or ip-range contain the IP address {ip}"
                )));
            }
            Some(ip)
        }
    };
    if settings.ipam_config.as_ref().is_some_and(|c| !c.ipv6_address.is_empty()) {
        return Err(Error::invalid(format!(
            "network {name} does not have IPv6 enabled: Berth supports IPv4 only"
        )));
    }
    let mac_requested = Some(settings.mac_address.as_str()).filter(|m| !m.is_empty());
    if let Some(mac) = mac_requested {
        let valid = mac.split(':').count() == 6
            && mac.split(':').all(|b| b.len() == 2 && b.bytes().all(|c| c.is_ascii_hexdigit()));
        if !valid {
            return Err(Error::invalid(format!("invalid MAC address: {mac}")));
        }
    }
    Ok(Endpoint {
        network_id: net.map(|n| n.record.id.clone()).unwrap_or_default(),
        aliases,
        ipv4_requested,
        mac_requested: mac_requested.map(str::to_owned),
        driver_opts: settings.driver_opts.clone().unwrap_or_default(),
        ..Endpoint::default()
    })
}
