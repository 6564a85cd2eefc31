//! [`NetworkBackend`] on the engine: the network store, with the containers on each network
//! taken from the container records.

use std::collections::BTreeMap;

use berth_api::network::{
    self as api, EndpointResource, Ipam, IpamConfig, Lookup, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneReport,
};
use berth_api::{Error, Filters, Result};
use berth_backend::{NetworkBackend, NetworkInspectOptions};

use crate::Engine;
use crate::container::manager::Manager;
use crate::network::store::{Network, NewNetwork};

/// The API view of `net`, with the containers that are on it now.
fn view(net: &Network, manager: &Manager) -> api::Network {
    let r = &net.record;
    let config = r
        .bridge
        .as_ref()
        .map(|b| {
            vec![IpamConfig {
                subnet: b.subnet.to_string(),
                ip_range: b.ip_range.map(|s| s.to_string()).unwrap_or_default(),
                gateway: b.gateway.to_string(),
                aux_addresses: r.aux_addresses.clone(),
            }]
        })
        .unwrap_or_default();
    let mut containers = BTreeMap::new();
    for c in manager.containers_on(net) {
        c.with(|rec| {
            if !rec.state.is_running() {
                return;
            }
            let Some(ep) = rec.networks.get(&r.name) else { return };
            containers.insert(
                rec.id.clone(),
                EndpointResource {
                    name: rec.short_name().to_owned(),
                    endpoint_id: ep.endpoint_id.clone(),
                    mac_address: ep.mac.clone(),
                    ipv4_address: ep
                        .ip
                        .map(|ip| format!("{ip}/{}", ep.prefix_len))
                        .unwrap_or_default(),
                    ipv6_address: String::new(),
                },
            );
        });
    }
    api::Network {
        name: r.name.clone(),
        id: r.id.clone(),
        created: r.created.clone(),
        scope: "local".to_owned(),
        driver: r.driver.clone(),
        enable_ipv4: true,
        enable_ipv6: false,
        ipam: Ipam {
            driver: "default".to_owned(),
            options: (!r.ipam_options.is_empty()).then(|| r.ipam_options.clone()),
            config: Some(config),
        },
        internal: r.internal,
        attachable: r.attachable,
        ingress: false,
        config_from: api::ConfigReference::default(),
        config_only: false,
        containers,
        options: r.options.clone(),
        labels: r.labels.clone(),
    }
}

#[async_trait::async_trait]
impl NetworkBackend for Engine {
    async fn list(&self, filters: Filters) -> Result<Vec<api::Network>> {
        let manager = self.containers()?;
        let mut out: Vec<api::Network> = manager
            .net
            .store
            .all()
            .iter()
            .map(|n| view(n, manager))
            .filter(|n| api::matches(n, &filters))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    async fn inspect(
        &self,
        id_or_name: &str,
        options: NetworkInspectOptions,
    ) -> Result<api::Network> {
        let manager = self.containers()?;
        let not_found = || Error::not_found(format!("network {id_or_name} not found"));
        if options.scope.as_deref().is_some_and(|s| s != "local") {
            return Err(not_found());
        }
        let net = manager.net.store.find(id_or_name, Lookup::Inspect)?;
        Ok(view(&net, manager))
    }

    async fn create(&self, mut request: NetworkCreateRequest) -> Result<NetworkCreateResponse> {
        let manager = self.containers()?;
        api::prepare_create(&mut request)?;
        let store = &manager.net.store;
        if store.all().iter().any(|n| n.record.name == request.name) {
            return Err(Error::conflict(format!(
                "network with name {} already exists",
                request.name
            )));
        }
        api::check_create(&mut request)?;
        if let Some(from) = request.config_from.as_ref().filter(|f| !f.network.is_empty()) {
            return Err(Error::not_found(format!(
                "configuration network \"{}\" does not exist",
                from.network
            )));
        }
        if request.config_only {
            return Err(Error::not_implemented(
                "configuration-only networks are not implemented by Berth",
            ));
        }
        let ipam = request.ipam.clone().unwrap_or_default();
        let mut aux_addresses = BTreeMap::new();
        let pools = ipam
            .config
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !p.subnet.contains(':'))
            .map(|p| {
                aux_addresses.extend(p.aux_addresses);
                let opt = |s: String| (!s.is_empty()).then_some(s);
                (p.subnet, opt(p.ip_range), opt(p.gateway))
            })
            .collect();
        let net = store
            .create(NewNetwork {
                name: request.name,
                internal: request.internal,
                attachable: request.attachable,
                labels: request.labels.unwrap_or_default(),
                options: request.options.unwrap_or_default(),
                ipam_options: ipam.options.unwrap_or_default(),
                pools,
                aux_addresses,
            })
            .await?;
        manager.network_event(&net, "create", "");
        Ok(NetworkCreateResponse { id: net.record.id.clone(), warning: String::new() })
    }

    async fn remove(&self, id_or_name: &str) -> Result<()> {
        let manager = self.containers()?;
        let net = manager.net.store.find(id_or_name, Lookup::Remove)?;
        let in_use = manager.active_endpoints(&net);
        manager.net.store.remove(&net, &in_use).await?;
        manager.network_event(&net, "destroy", "");
        Ok(())
    }

    async fn prune(&self, filters: Filters) -> Result<NetworkPruneReport> {
        let manager = self.containers()?;
        let until =
            filters.get("until").next().map(crate::image::ops::until_seconds).transpose()?;
        let mut deleted = Vec::new();
        for net in manager.net.store.all() {
            let shown = view(&net, manager);
            if !api::prunable(&shown, &filters) {
                continue;
            }
            if let Some(until) = until {
                let created = crate::container::record::parse_time(&net.record.created)
                    .map_or(0, time::OffsetDateTime::unix_timestamp);
                if created >= until {
                    continue;
                }
            }
            let in_use = manager.active_endpoints(&net);
            match manager.net.store.remove(&net, &in_use).await {
                Ok(()) => {
                    manager.network_event(&net, "destroy", "");
                    deleted.push(net.record.name.clone());
                }
                Err(e) => tracing::debug!(network = %net.record.name, error = %e, "not pruned"),
            }
        }
        let mut attrs = BTreeMap::new();
        attrs.insert("reclaimed".to_owned(), "0".to_owned());
        manager.publish("network", "prune", "", attrs);
        Ok(NetworkPruneReport { networks_deleted: Some(deleted) })
    }

    async fn connect(&self, network: &str, request: NetworkConnectRequest) -> Result<()> {
        let manager = self.containers()?;
        manager.get(&request.container)?;
        let net = manager.net.store.find(network, Lookup::Use)?;
        let settings = request.endpoint_config.unwrap_or_default();
        manager.connect(&net, &request.container, &settings).await
    }

    async fn disconnect(&self, network: &str, request: NetworkDisconnectRequest) -> Result<()> {
        let manager = self.containers()?;
        if !request.force {
            manager.get(&request.container)?;
        }
        let net = manager.net.store.find(network, Lookup::Use)?;
        manager.disconnect(&net, &request.container, request.force).await
    }
}

#[cfg(test)]
mod tests;
