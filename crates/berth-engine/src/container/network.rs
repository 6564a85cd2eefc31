//! A container's network for one run, by `NetworkMode`: `bridge` (its own namespace on Berth's
//! default bridge through CNI), `none` (its own namespace with only `lo`), `host` (the host's),
//! `container:<id>` (another running container's), and the hostname, hosts and resolv.conf
//! files each mode gets.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use berth_api::container::HostConfig;
use berth_api::{Error, Result};

use super::Registry;
use super::record::{BridgeEndpoint, Record};
use crate::network::{self, Cni, Netns};
use crate::runtime::spec::NetNs;

/// IDs of the predefined networks (stable across restarts, derived from the names).
pub(crate) fn network_id(name: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(format!("berth-network:{name}").as_bytes());
    hex::encode(digest)
}

/// Checks `NetworkMode` at create: user-defined networks come with issue 6.
pub(crate) fn validate_mode(hc: &HostConfig, registry: &Registry) -> Result<()> {
    let mode = hc.network_mode.as_str();
    match mode {
        "bridge" | "host" | "none" => Ok(()),
        _ if mode.starts_with("container:") => {
            let other = &mode["container:".len()..];
            registry.get(other)?;
            if hc.port_bindings.as_ref().is_some_and(|p| !p.is_empty()) || hc.publish_all_ports {
                return Err(Error::invalid(
                    "conflicting options: port publishing and the container type network mode",
                ));
            }
            Ok(())
        }
        _ => Err(Error::not_found(format!("network {mode} not found"))),
    }
}

/// What a run's network gave it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Attached {
    /// How the spec joins a network namespace.
    pub(crate) netns: NetNs,
    /// The namespace file Berth made (bridge and none), removed when the run ends.
    pub(crate) netns_file: Option<PathBuf>,
    /// The bridge endpoint.
    pub(crate) endpoint: Option<BridgeEndpoint>,
    /// Directory holding the `hostname`, `hosts` and `resolv.conf` to bind-mount.
    pub(crate) files_dir: Option<PathBuf>,
    /// The hostname the container sees.
    pub(crate) hostname: String,
}

/// The networking side of the engine.
#[derive(Debug, Clone)]
pub(crate) struct Networking {
    cni: Option<Cni>,
    /// Why the bridge is unusable, when it is.
    unusable: Option<String>,
    netns_dir: PathBuf,
}

impl Networking {
    /// Networking with the default bridge through `cni`, or without it (`reason` says why;
    /// `bridge` containers then fail to start with it).
    pub(crate) fn new(cni: Result<Cni, String>, netns_dir: PathBuf) -> Self {
        match cni {
            Ok(cni) => Self { cni: Some(cni), unusable: None, netns_dir },
            Err(reason) => Self { cni: None, unusable: Some(reason), netns_dir },
        }
    }

    /// Sets up the network of a run of `record`, writing its files into `dir`.
    pub(crate) async fn attach(
        &self,
        record: &Record,
        dir: &Path,
        registry: &Registry,
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
                netns_file: None,
                endpoint: None,
                files_dir: Some(c.dir.clone()),
                hostname: other_host,
            });
        }
        let host_resolv = network::read_host_resolv_conf().await?;
        let dns = hc.dns.clone().unwrap_or_default();
        let search = hc.dns_search.clone().unwrap_or_default();
        let options = hc.dns_options.clone().unwrap_or_default();
        if mode == "host" {
            let hosts = tokio::fs::read_to_string("/etc/hosts").await.unwrap_or_default();
            network::write_hostname(dir, &hostname)?;
            network::write_hosts_host_mode(dir, &hosts, &extra, None)?;
            network::write_resolv_conf(dir, &host_resolv, &dns, &search, &options, true)?;
            return Ok(Attached {
                netns: NetNs::Host,
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
                files_dir: Some(dir.to_owned()),
                hostname,
                ..Attached::default()
            });
        }
        // Only `bridge` is left: `validate_mode` refused anything else at create.
        let Some(cni) = &self.cni else {
            return Err(Error::system(format!(
                "the default bridge network is not available: {}",
                self.unusable.as_deref().unwrap_or("unknown reason")
            )));
        };
        let file = Netns::create(&self.netns_dir, &record.id)?;
        let endpoint = match cni.attach(&record.id, &file).await {
            // A failed attach undoes itself; only the namespace is ours to remove.
            Err(e) => {
                remove_netns(&record.id, &file);
                return Err(e);
            }
            Ok(a) => Some(BridgeEndpoint {
                endpoint_id: super::names::generate_id(),
                ip: a.ip,
                prefix_len: a.prefix_len,
                gateway: a.gateway,
                mac: a.mac,
            }),
        };
        let ip: Option<Ipv4Addr> = endpoint.as_ref().map(|e| e.ip);
        let gateway = endpoint.as_ref().map(|e| e.gateway);
        let written = network::write_hostname(dir, &hostname)
            .and_then(|()| network::write_hosts(dir, &hostname, ip, &extra, gateway))
            .and_then(|()| {
                network::write_resolv_conf(dir, &host_resolv, &dns, &search, &options, false)
            });
        let attached = Attached {
            netns: NetNs::Path(file.clone()),
            netns_file: Some(file),
            endpoint,
            files_dir: Some(dir.to_owned()),
            hostname,
        };
        if let Err(e) = written {
            self.detach(record, &attached).await;
            return Err(e);
        }
        Ok(attached)
    }

    /// Undoes [`Networking::attach`] after a failed start.
    pub(crate) async fn detach(&self, record: &Record, attached: &Attached) {
        if let Some(file) = &attached.netns_file {
            self.teardown(&record.id, file, attached.endpoint.is_some()).await;
        }
    }

    /// Releases the network of a run that ended (from the stored record).
    pub(crate) async fn release(&self, record: &Record) {
        if let Some(file) = &record.netns {
            self.teardown(&record.id, file, record.host_config.network_mode == "bridge").await;
        } else if record.host_config.network_mode == "bridge" {
            // A crash between attach and the record's update: the file is named after the ID.
            let file = self.netns_dir.join(&record.id);
            if file.exists() {
                self.teardown(&record.id, &file, true).await;
            }
        }
    }

    async fn teardown(&self, id: &str, file: &Path, bridge: bool) {
        if bridge
            && let Some(cni) = &self.cni
            && let Err(e) = cni.detach(id, file).await
        {
            tracing::warn!(container = id, error = %e, "CNI DEL failed");
        }
        remove_netns(id, file);
    }
}

fn remove_netns(id: &str, file: &Path) {
    if let Err(e) = Netns::remove(file) {
        tracing::warn!(container = id, error = %e, "cannot remove network namespace");
    }
}
