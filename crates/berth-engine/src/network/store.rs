//! The networks Berth knows: the predefined `bridge`, `host` and `none`, and user-defined bridge
//! networks, each stored as one JSON file under `data-root/network/networks/<id>.json`.
//!
//! A bridge network is one CNI bridge (its own device, subnet and host-local store); containers
//! join it through [`Cni`]. Which containers use a network is the container records' business:
//! this store only knows the networks.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use berth_api::network::Lookup;
use berth_api::{Error, ErrorKind, Result};
use serde::{Deserialize, Serialize};

use super::{BridgeConfig, Cni, Subnet};

/// Options dockerd's bridge driver reads; others are stored and shown, as dockerd does.
pub(crate) const OPT_BRIDGE_NAME: &str = "com.docker.network.bridge.name";
const OPT_MASQUERADE: &str = "com.docker.network.bridge.enable_ip_masquerade";
const OPT_ICC: &str = "com.docker.network.bridge.enable_icc";
const OPT_MTU: &str = "com.docker.network.driver.mtu";

/// One network as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetworkRecord {
    /// 64 hex digits.
    pub(crate) id: String,
    /// Unique name.
    pub(crate) name: String,
    /// Creation time, RFC 3339 with nanoseconds.
    pub(crate) created: String,
    /// `bridge`, `host` or `null`.
    pub(crate) driver: String,
    /// No way out of the subnet.
    #[serde(default)]
    pub(crate) internal: bool,
    /// `Attachable` as given (meaningful for swarm only; kept for inspect).
    #[serde(default)]
    pub(crate) attachable: bool,
    /// Labels.
    #[serde(default)]
    pub(crate) labels: BTreeMap<String, String>,
    /// Driver options, as given.
    #[serde(default)]
    pub(crate) options: BTreeMap<String, String>,
    /// IPAM driver options, as given.
    #[serde(default)]
    pub(crate) ipam_options: BTreeMap<String, String>,
    /// The bridge, for bridge networks.
    #[serde(default)]
    pub(crate) bridge: Option<BridgeConfig>,
    /// Addresses kept out of allocation (`--aux-address name=ip`).
    #[serde(default)]
    pub(crate) aux_addresses: BTreeMap<String, String>,
    /// One of `bridge`, `host`, `none` (never stored).
    #[serde(skip)]
    pub(crate) builtin: bool,
}

impl NetworkRecord {
    /// Whether this is a user-defined network (with container name resolution).
    pub(crate) fn user_defined(&self) -> bool {
        !self.builtin
    }
}

/// A network and what it takes to join it.
#[derive(Debug)]
pub(crate) struct Network {
    /// The stored record.
    pub(crate) record: NetworkRecord,
    /// The CNI attacher of a bridge network, or why it cannot be used.
    pub(crate) cni: std::result::Result<Cni, String>,
}

impl Network {
    /// The attacher, or the reason the network cannot be joined.
    pub(crate) fn cni(&self) -> Result<&Cni> {
        self.cni.as_ref().map_err(|reason| {
            Error::system(format!("network {} is not available: {reason}", self.record.name))
        })
    }
}

/// What a new user-defined network asks for.
#[derive(Debug, Clone, Default)]
pub(crate) struct NewNetwork {
    pub(crate) name: String,
    pub(crate) internal: bool,
    pub(crate) attachable: bool,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) options: BTreeMap<String, String>,
    pub(crate) ipam_options: BTreeMap<String, String>,
    /// Requested pools: `(subnet, ip_range, gateway)`, empty to have one allocated.
    pub(crate) pools: Vec<(String, Option<String>, Option<String>)>,
    /// Addresses of the pool kept out of allocation, by name.
    pub(crate) aux_addresses: BTreeMap<String, String>,
}

/// Where the store keeps things, and how it reaches the plugins.
#[derive(Debug, Clone)]
pub(crate) struct StoreConfig {
    /// `data-root/network`.
    pub(crate) dir: PathBuf,
    /// The CNI plugins.
    pub(crate) plugin_dir: PathBuf,
    /// The default bridge, or why it is unusable.
    pub(crate) default_bridge: std::result::Result<BridgeConfig, String>,
}

/// All networks, by ID.
#[derive(Debug)]
pub(crate) struct Networks {
    config: StoreConfig,
    inner: RwLock<BTreeMap<String, Arc<Network>>>,
    /// Serializes create and remove (name and subnet checks against the whole set).
    changes: tokio::sync::Mutex<()>,
}

/// The stable ID of a predefined network (derived from its name).
pub(crate) fn builtin_id(name: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("berth-network:{name}").as_bytes()))
}

impl Networks {
    /// Loads the stored networks and adds the predefined ones.
    pub(crate) fn load(config: StoreConfig) -> Result<Self> {
        let records_dir = config.dir.join("networks");
        std::fs::create_dir_all(&records_dir).map_err(|e| {
            Error::system(format!("cannot create {}", records_dir.display())).with_source(e)
        })?;
        let mut map = BTreeMap::new();
        let created = crate::container::record::now_rfc3339();
        for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
            let mut record = NetworkRecord {
                id: builtin_id(name),
                name: name.to_owned(),
                created: created.clone(),
                driver: driver.to_owned(),
                internal: false,
                attachable: false,
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                ipam_options: BTreeMap::new(),
                bridge: None,
                aux_addresses: BTreeMap::new(),
                builtin: true,
            };
            let cni = match (name, &config.default_bridge) {
                ("bridge", Ok(b)) => {
                    record.options = default_bridge_options(b);
                    record.bridge = Some(b.clone());
                    Self::cni_for(&config, &record)
                }
                ("bridge", Err(reason)) => Err(reason.clone()),
                _ => Err(format!("the {name} network has no bridge")),
            };
            map.insert(record.id.clone(), Arc::new(Network { record, cni }));
        }
        crate::persist::remove_stale_temps(&records_dir);
        let entries = std::fs::read_dir(&records_dir).map_err(|e| {
            Error::system(format!("cannot read {}", records_dir.display())).with_source(e)
        })?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            match load_record(&path) {
                Ok(record) => {
                    let cni = Self::cni_for(&config, &record);
                    map.insert(record.id.clone(), Arc::new(Network { record, cni }));
                }
                Err(e) => tracing::error!(file = %path.display(), error = %e, "skipping network"),
            }
        }
        Ok(Self { config, inner: RwLock::new(map), changes: tokio::sync::Mutex::new(()) })
    }

    /// The attacher of a bridge network, or why it cannot be used.
    fn cni_for(config: &StoreConfig, record: &NetworkRecord) -> std::result::Result<Cni, String> {
        let bridge = record.bridge.clone().ok_or("the network has no bridge")?;
        if !config.plugin_dir.join("bridge").exists() {
            return Err(format!(
                "CNI plugins not found in {} (install containernetworking-plugins)",
                config.plugin_dir.display()
            ));
        }
        Cni::new(&config.plugin_dir, config.dir.join("ipam"), bridge)
            .map_err(|e| e.message().to_owned())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Network>>> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every network, by ID.
    pub(crate) fn all(&self) -> Vec<Arc<Network>> {
        self.read().values().cloned().collect()
    }

    /// Finds a network by full ID, then name, then unique ID prefix (dockerd's order), as
    /// container create, connect and disconnect word it.
    pub(crate) fn get(&self, key: &str) -> Result<Arc<Network>> {
        self.find(key, Lookup::Use)
    }

    /// [`Networks::get`] with the wording of `lookup`.
    pub(crate) fn find(&self, key: &str, lookup: Lookup) -> Result<Arc<Network>> {
        let map = self.read();
        let found = berth_api::network::find(
            map.values(),
            key,
            |n| (n.record.id.as_str(), n.record.name.as_str()),
            lookup,
        )?;
        Ok(Arc::clone(found))
    }

    /// Creates a user-defined bridge network.
    pub(crate) async fn create(&self, req: NewNetwork) -> Result<Arc<Network>> {
        let _changes = self.changes.lock().await;
        if self.read().values().any(|n| n.record.name == req.name) {
            return Err(Error::conflict(format!("network with name {} already exists", req.name)));
        }
        let id = crate::container::names::generate_id();
        let bridge = self.bridge_for(&id, &req)?;
        let mut reserved = Vec::new();
        for (name, text) in &req.aux_addresses {
            let ip: Ipv4Addr = text
                .parse()
                .map_err(|_| Error::invalid(format!("invalid auxiliary address {name}={text}")))?;
            if !bridge.subnet.contains(ip) {
                return Err(Error::invalid(format!(
                    "auxiliary address {name}={ip} is not in subnet {}",
                    bridge.subnet
                )));
            }
            reserved.push(ip);
        }
        // host-local keeps one file per address in use; a file of ours keeps it from handing
        // the auxiliary addresses out (the store goes with the network).
        let store = self.config.dir.join("ipam").join(&bridge.name);
        for ip in reserved {
            std::fs::create_dir_all(&store)
                .and_then(|()| {
                    crate::persist::write_atomic(
                        &store.join(ip.to_string()),
                        b"berth-aux-address\neth0",
                    )
                })
                .map_err(|e| {
                    crate::persist::io_error(
                        &format!("cannot reserve {ip} in {}", store.display()),
                        e,
                    )
                })?;
        }
        let record = NetworkRecord {
            id: id.clone(),
            name: req.name,
            created: crate::container::record::now_rfc3339(),
            driver: "bridge".to_owned(),
            internal: req.internal,
            attachable: req.attachable,
            labels: req.labels,
            options: req.options,
            ipam_options: req.ipam_options,
            bridge: Some(bridge),
            aux_addresses: req.aux_addresses,
            builtin: false,
        };
        let cni = Self::cni_for(&self.config, &record);
        let bytes = serde_json::to_vec(&record)
            .map_err(|e| Error::system("cannot serialize network record").with_source(e))?;
        crate::persist::save(&self.record_path(&id), &bytes)?;
        let network = Arc::new(Network { record, cni });
        self.inner.write().unwrap_or_else(|p| p.into_inner()).insert(id, Arc::clone(&network));
        Ok(network)
    }

    fn record_path(&self, id: &str) -> PathBuf {
        self.config.dir.join("networks").join(format!("{id}.json"))
    }

    /// The bridge of a new network: its device name, subnet, gateway and options.
    fn bridge_for(&self, id: &str, req: &NewNetwork) -> Result<BridgeConfig> {
        let taken: Vec<BridgeConfig> =
            self.read().values().filter_map(|n| n.record.bridge.clone()).collect();
        let name = req
            .options
            .get(OPT_BRIDGE_NAME)
            .cloned()
            .unwrap_or_else(|| format!("br-{}", &id[..12]));
        if taken.iter().any(|b| b.name == name) {
            return Err(Error::conflict(format!(
                "bridge name {name} is already in use by another network"
            )));
        }
        let (subnet, ip_range, gateway) = match req.pools.as_slice() {
            [] => (free_subnet(&taken)?, None, None),
            [(subnet, range, gateway)] => {
                let subnet: Subnet = subnet.parse()?;
                if let Some(b) = taken.iter().find(|b| overlaps(b.subnet, subnet)) {
                    return Err(Error::new(
                        ErrorKind::Forbidden,
                        format!(
                            "invalid pool request: Pool overlaps with other one on this address space ({} of bridge {})",
                            b.subnet, b.name
                        ),
                    ));
                }
                let range = range.as_deref().map(str::parse::<Subnet>).transpose()?;
                let gateway = gateway
                    .as_deref()
                    .map(|g| {
                        g.parse::<Ipv4Addr>()
                            .map_err(|_| Error::invalid(format!("invalid gateway address: {g}")))
                    })
                    .transpose()?;
                (subnet, range, gateway)
            }
            _ => {
                return Err(Error::not_implemented(
                    "Berth supports one IPv4 address pool per network",
                ));
            }
        };
        let mut bridge = BridgeConfig::new(name, subnet);
        if let Some(gateway) = gateway {
            bridge.gateway = gateway;
        }
        bridge.ip_range = ip_range;
        bridge.internal = req.internal;
        if let Some(value) = req.options.get(OPT_MASQUERADE) {
            bridge.masquerade = parse_bool(OPT_MASQUERADE, value)?;
        }
        if let Some(value) = req.options.get(OPT_ICC)
            && !parse_bool(OPT_ICC, value)?
        {
            return Err(Error::not_implemented(format!(
                "{OPT_ICC}=false is not supported by Berth yet"
            )));
        }
        if let Some(value) = req.options.get(OPT_MTU) {
            bridge.mtu =
                value.parse().map_err(|_| Error::invalid(format!("invalid MTU value: {value}")))?;
        }
        bridge.validate()?;
        Ok(bridge)
    }

    /// Removes a user-defined network; `in_use` names its active endpoints (`(container name,
    /// endpoint ID)`), which make removal fail as in dockerd.
    pub(crate) async fn remove(
        &self,
        network: &Network,
        in_use: &[(String, String)],
    ) -> Result<()> {
        let _changes = self.changes.lock().await;
        let record = &network.record;
        if record.builtin {
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("{} is a pre-defined network and cannot be removed", record.name),
            ));
        }
        if !in_use.is_empty() {
            let endpoints: Vec<String> = in_use
                .iter()
                .map(|(name, ep)| format!("name:{name:?} id:{:?}", &ep[..ep.len().min(12)]))
                .collect();
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!(
                    "error while removing network: network {} has active endpoints ({})",
                    record.name,
                    endpoints.join(", ")
                ),
            ));
        }
        if let Ok(cni) = &network.cni
            && let Err(e) = cni.remove_bridge().await
        {
            tracing::warn!(network = %record.name, error = %e, "cannot delete the bridge");
        }
        if let Some(b) = &record.bridge {
            let store = self.config.dir.join("ipam").join(&b.name);
            if let Err(e) = std::fs::remove_dir_all(&store)
                && e.kind() != std::io::ErrorKind::NotFound
            {
                tracing::warn!(dir = %store.display(), error = %e, "cannot remove IPAM store");
            }
        }
        let path = self.record_path(&record.id);
        std::fs::remove_file(&path)
            .or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) })
            .map_err(|e| {
                Error::system(format!("cannot remove {}", path.display())).with_source(e)
            })?;
        self.inner.write().unwrap_or_else(|p| p.into_inner()).remove(&record.id);
        Ok(())
    }
}

fn load_record(path: &Path) -> Result<NetworkRecord> {
    let bytes = std::fs::read(path)
        .map_err(|e| Error::system(format!("cannot read {}", path.display())).with_source(e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::system(format!("corrupt network record {}", path.display())).with_source(e)
    })
}

/// The options dockerd shows on its default bridge network.
fn default_bridge_options(b: &BridgeConfig) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true".to_owned()),
        (OPT_ICC, "true".to_owned()),
        (OPT_MASQUERADE, "true".to_owned()),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0".to_owned()),
        (OPT_BRIDGE_NAME, b.name.clone()),
        (OPT_MTU, b.mtu.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

fn parse_bool(key: &str, value: &str) -> Result<bool> {
    berth_api::params::parse_go_bool(value)
        .ok_or_else(|| Error::invalid(format!("failed to parse {key} value: {value:?}")))
}

fn overlaps(a: Subnet, b: Subnet) -> bool {
    a.contains(b.network()) || b.contains(a.network())
}

/// dockerd's default address pools: 172.17–31.0.0/16, then 192.168.0.0/16 in /20s.
fn default_pools() -> impl Iterator<Item = Subnet> {
    let class_b = (17..=31u8).map(|b| Subnet::new(Ipv4Addr::new(172, b, 0, 0), 16));
    let class_c = (0..16u8).map(|i| Subnet::new(Ipv4Addr::new(192, 168, i * 16, 0), 20));
    class_b.chain(class_c).filter_map(std::result::Result::ok)
}

/// The first default pool that overlaps no network of ours and no route of the host.
fn free_subnet(taken: &[BridgeConfig]) -> Result<Subnet> {
    let routes = host_routes();
    default_pools()
        .find(|s| {
            !taken.iter().any(|b| overlaps(b.subnet, *s))
                && !routes.iter().any(|r| overlaps(*r, *s))
        })
        .ok_or_else(|| {
            Error::new(
                ErrorKind::Forbidden,
                "all predefined address pools have been fully subnetted",
            )
        })
}

/// The host's IPv4 routes other than default ones, from `/proc/net/route`.
fn host_routes() -> Vec<Subnet> {
    let Ok(text) = std::fs::read_to_string("/proc/net/route") else { return Vec::new() };
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let dest = u32::from_str_radix(f.get(1)?, 16).ok()?;
            let mask = u32::from_str_radix(f.get(7)?, 16).ok()?;
            // The file holds them in host (little-endian) byte order.
            let (dest, mask) = (u32::from_be(dest.swap_bytes()), u32::from_be(mask.swap_bytes()));
            let len = mask.count_ones() as u8;
            (len > 0).then(|| Subnet::new(Ipv4Addr::from(dest), len).ok()).flatten()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(dir: &Path) -> Networks {
        let default = BridgeConfig::new("berthtest0", "10.254.0.0/24".parse().expect("subnet"));
        Networks::load(StoreConfig {
            dir: dir.to_owned(),
            plugin_dir: "/usr/lib/cni".into(),
            default_bridge: Ok(default),
        })
        .expect("load")
    }

    #[tokio::test]
    async fn predefined_networks_exist_and_cannot_be_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nets = store(dir.path());
        let names: Vec<String> = nets.all().iter().map(|n| n.record.name.clone()).collect();
        for name in ["bridge", "host", "none"] {
            assert!(names.contains(&name.to_owned()), "{names:?}");
            let n = nets.get(name).expect(name);
            assert_eq!(n.record.id, builtin_id(name));
            let err = nets.remove(&n, &[]).await.expect_err("predefined");
            assert_eq!(err.kind(), ErrorKind::Forbidden);
            assert_eq!(
                err.message(),
                format!("{name} is a pre-defined network and cannot be removed")
            );
        }
        assert_eq!(nets.get("none").expect("none").record.driver, "null");
    }

    #[tokio::test]
    async fn user_networks_persist_get_subnets_and_refuse_duplicates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let nets = store(dir.path());
        let a = nets
            .create(NewNetwork { name: "front".into(), ..NewNetwork::default() })
            .await
            .expect("create");
        let b = nets
            .create(NewNetwork {
                name: "back".into(),
                pools: vec![(
                    "10.99.0.0/24".into(),
                    Some("10.99.0.128/25".into()),
                    Some("10.99.0.254".into()),
                )],
                internal: true,
                ..NewNetwork::default()
            })
            .await
            .expect("create with pool");
        let bb = b.record.bridge.as_ref().expect("bridge");
        assert_eq!(bb.gateway, Ipv4Addr::new(10, 99, 0, 254));
        assert_eq!(bb.ip_range.map(|r| r.to_string()).as_deref(), Some("10.99.0.128/25"));
        assert!(bb.internal);
        assert_eq!(bb.name, format!("br-{}", &b.record.id[..12]));
        let ab = a.record.bridge.as_ref().expect("bridge");
        assert!(!overlaps(ab.subnet, bb.subnet));

        let dup = nets.create(NewNetwork { name: "front".into(), ..NewNetwork::default() }).await;
        assert_eq!(dup.expect_err("duplicate").message(), "network with name front already exists");
        let overlap = nets
            .create(NewNetwork {
                name: "other".into(),
                pools: vec![("10.99.0.0/16".into(), None, None)],
                ..NewNetwork::default()
            })
            .await
            .expect_err("overlap");
        assert_eq!(overlap.kind(), ErrorKind::Forbidden);

        // A new store finds them again, by name, ID and ID prefix.
        let again = store(dir.path());
        assert_eq!(again.get("front").expect("by name").record.id, a.record.id);
        assert_eq!(again.get(&a.record.id[..10]).expect("by prefix").record.name, "front");
        assert_eq!(again.get("back").expect("back").record.bridge, b.record.bridge);

        let err = again
            .remove(
                &again.get("front").expect("front"),
                &[("web".into(), "0123456789abcdef".into())],
            )
            .await
            .expect_err("in use");
        assert_eq!(
            err.message(),
            "error while removing network: network front has active endpoints (name:\"web\" id:\"0123456789ab\")"
        );
        again.remove(&again.get("front").expect("front"), &[]).await.expect("remove");
        assert_eq!(again.get("front").expect_err("gone").kind(), ErrorKind::NotFound);
        assert!(store(dir.path()).get("front").is_err(), "removal is persistent");
    }

    #[test]
    fn default_pools_start_at_172_17_and_skip_taken_ones() {
        let first: Vec<String> = default_pools().take(2).map(|s| s.to_string()).collect();
        assert_eq!(first, ["172.17.0.0/16", "172.18.0.0/16"]);
        assert_eq!(default_pools().nth(15).expect("16th").to_string(), "192.168.0.0/20");
        let taken: Vec<BridgeConfig> =
            default_pools().take(20).map(|s| BridgeConfig::new("x", s)).collect();
        let next = free_subnet(&taken).expect("a free pool");
        assert!(!taken.iter().any(|b| overlaps(b.subnet, next)));
    }
}
