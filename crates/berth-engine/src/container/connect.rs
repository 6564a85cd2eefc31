//! `POST /networks/{id}/connect` and `/disconnect`: a container joins or leaves a network, at
//! once when it runs, from its next start when it does not.

use std::sync::Arc;

use berth_api::container::EndpointSettings;
use berth_api::{Error, ErrorKind, Result};

use super::manager::Manager;
use super::record::Status;
use crate::network::store::Network;

impl Manager {
    /// Connects container `name` to `net` with `settings`.
    pub(crate) async fn connect(
        self: &Arc<Self>,
        net: &Network,
        name: &str,
        settings: &EndpointSettings,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        let record = c.record();
        let mode = record.host_config.network_mode.as_str();
        let target = net.record.name.as_str();
        if target == "host" && mode != "host" {
            return Err(Error::invalid(
                "cannot connect container to host network - container must be created in host network mode",
            ));
        }
        if mode.starts_with("container:") || mode == "host" {
            return Err(Error::invalid(
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if mode == "none" || target == "none" {
            return Err(Error::invalid(
                "container cannot be connected to multiple networks with one of the networks in private (none) mode",
            ));
        }
        if record.networks.contains_key(target) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {target}",
                    record.short_name()
                ),
            ));
        }
        let wanted = self.net.requested(net, settings)?;
        let running = matches!(record.state.status, Status::Running | Status::Paused);
        let endpoint = match (&record.netns, running) {
            (Some(file), true) => self.net.connect_running(&record, file, net, &wanted).await?,
            _ => wanted,
        };
        let saved = c.update(|r| {
            r.networks.insert(target.to_owned(), endpoint.clone());
        });
        if let Err(e) = saved {
            if let (Some(file), true) = (&record.netns, running) {
                let mut r = record.clone();
                r.networks.insert(target.to_owned(), endpoint);
                self.net.disconnect_running(&r, file, target).await;
            }
            return Err(e);
        }
        self.network_event(net, "connect", &c.id);
        Ok(())
    }

    /// Disconnects container `name` from `net`; with `force`, a container that is gone is not
    /// an error.
    pub(crate) async fn disconnect(
        self: &Arc<Self>,
        net: &Network,
        name: &str,
        force: bool,
    ) -> Result<()> {
        let c = match self.get(name) {
            Ok(c) => c,
            Err(e) if force && e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let _op = c.op.lock().await;
        let record = c.record();
        let target = net.record.name.as_str();
        if record.host_config.network_mode == "host" && target == "host" {
            return Err(Error::invalid(
                "cannot disconnect container from host network - container was created in host network mode",
            ));
        }
        if !record.networks.contains_key(target) {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("container {} is not connected to the network {target}", c.id),
            ));
        }
        if let Some(file) = &record.netns
            && record.state.is_running()
        {
            self.net.disconnect_running(&record, file, target).await;
        }
        c.update(|r| {
            r.networks.remove(target);
        })?;
        self.network_event(net, "disconnect", &c.id);
        Ok(())
    }

    /// Publishes a network event (`connect`, `disconnect`, …) naming `container`.
    pub(crate) fn network_event(&self, net: &Network, action: &str, container: &str) {
        let mut attrs = std::collections::BTreeMap::new();
        attrs.insert("name".to_owned(), net.record.name.clone());
        attrs.insert("type".to_owned(), net.record.driver.clone());
        if !container.is_empty() {
            attrs.insert("container".to_owned(), container.to_owned());
        }
        self.publish("network", action, &net.record.id, attrs);
    }

    /// The names of the running containers with an endpoint on `net`, with the endpoint IDs.
    pub(crate) fn active_endpoints(&self, net: &Network) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for c in self.registry.all() {
            c.with(|r| {
                if let Some(ep) = r.networks.get(&net.record.name)
                    && ep.network_id == net.record.id
                    && r.state.is_running()
                {
                    out.push((r.short_name().to_owned(), ep.endpoint_id.clone()));
                }
            });
        }
        out
    }

    /// The containers (running or not) with an endpoint on `net`.
    pub(crate) fn containers_on(&self, net: &Network) -> Vec<Arc<super::Container>> {
        self.registry
            .all()
            .into_iter()
            .filter(|c| {
                c.with(|r| {
                    r.networks.get(&net.record.name).is_some_and(|e| e.network_id == net.record.id)
                })
            })
            .collect()
    }
}
