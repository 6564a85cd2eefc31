//! Berth's default `bridge` network, built from the CNI `loopback`, `bridge` and `host-local`
//! plugins.
//!
//! It mirrors dockerd's `docker0` network under names of its own (bridge `berth0`, its own
//! subnet and IPAM store) so that Berth and a dockerd can share a host.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use berth_api::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::cni::{CniResult, NetworkList, PluginExec, RuntimeArgs};
use super::{Netns, iptables, netlink};

/// The interface name a container gets on the bridge.
#[cfg(test)]
pub(crate) const CONTAINER_IFNAME: &str = "eth0";

/// The network name the loopback plugin runs under.
const LOOPBACK_NETWORK: &str = "berth-loopback";

/// An IPv4 subnet, `a.b.c.d/n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Subnet {
    /// The network address (host bits are cleared on parsing).
    addr: Ipv4Addr,
    /// The prefix length, 0–32.
    prefix_len: u8,
}

impl Subnet {
    /// The subnet of `addr/prefix_len`, host bits cleared.
    pub(crate) fn new(addr: Ipv4Addr, prefix_len: u8) -> Result<Self, Error> {
        if prefix_len > 32 {
            return Err(Error::invalid(format!("invalid prefix length: {prefix_len}")));
        }
        Ok(Self { addr: Ipv4Addr::from(u32::from(addr) & Self::mask(prefix_len)), prefix_len })
    }

    fn mask(prefix_len: u8) -> u32 {
        u32::MAX.checked_shl(32 - u32::from(prefix_len)).unwrap_or(0)
    }

    /// The network address.
    pub(crate) fn network(&self) -> Ipv4Addr {
        self.addr
    }

    /// Whether `ip` is inside the subnet.
    pub(crate) fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & Self::mask(self.prefix_len) == u32::from(self.addr)
    }

    /// The first host address (what dockerd picks as the gateway).
    pub(crate) fn first_host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr).wrapping_add(1))
    }
}

impl FromStr for Subnet {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Error> {
        let invalid = || Error::invalid(format!("invalid subnet: {text}"));
        let (addr, len) = text.split_once('/').ok_or_else(invalid)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| invalid())?;
        let len: u8 = len.parse().map_err(|_| invalid())?;
        Self::new(addr, len).map_err(|_| invalid())
    }
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for Subnet {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(|e: Error| serde::de::Error::custom(e.message().to_owned()))
    }
}

/// The bridge network's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BridgeConfig {
    /// The bridge device on the host; also the CNI network name (so iptables comments and the
    /// IPAM store are per bridge).
    pub(crate) name: String,
    /// The container subnet.
    pub(crate) subnet: Subnet,
    /// The bridge's own address, the containers' default gateway.
    pub(crate) gateway: Ipv4Addr,
    /// MTU of the bridge and the veths.
    pub(crate) mtu: u32,
    /// The part of the subnet containers get their addresses from (`--ip-range`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ip_range: Option<Subnet>,
    /// Masquerade traffic that leaves the subnet
    /// (`com.docker.network.bridge.enable_ip_masquerade`).
    #[serde(default = "yes")]
    pub(crate) masquerade: bool,
    /// No route out of the subnet and no masquerading (`--internal`).
    #[serde(default)]
    pub(crate) internal: bool,
}

fn yes() -> bool {
    true
}

impl Default for BridgeConfig {
    /// `berth0`, 172.18.0.0/16 with gateway 172.18.0.1, MTU 1500.
    fn default() -> Self {
        let subnet = Subnet { addr: Ipv4Addr::new(172, 18, 0, 0), prefix_len: 16 };
        Self::new("berth0", subnet)
    }
}

impl BridgeConfig {
    /// A bridge `name` on `subnet` with the first host address as gateway and MTU 1500.
    pub(crate) fn new(name: impl Into<String>, subnet: Subnet) -> Self {
        Self {
            name: name.into(),
            subnet,
            gateway: subnet.first_host(),
            mtu: 1500,
            ip_range: None,
            masquerade: true,
            internal: false,
        }
    }

    /// Checks the settings before any plugin sees them.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= netlink::MAX_IFNAME_LEN
            && self.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !name_ok {
            return Err(Error::invalid(format!("invalid bridge name: {:?}", self.name)));
        }
        if self.subnet.prefix_len > 30 {
            return Err(Error::invalid(format!("subnet {} is too small", self.subnet)));
        }
        let gw = u32::from(self.gateway);
        let broadcast = u32::from(self.subnet.addr) | !Subnet::mask(self.subnet.prefix_len);
        if !self.subnet.contains(self.gateway)
            || gw == u32::from(self.subnet.addr)
            || gw == broadcast
        {
            return Err(Error::invalid(format!(
                "gateway {} is not a host address in subnet {}",
                self.gateway, self.subnet
            )));
        }
        if !(68..=65535).contains(&self.mtu) {
            return Err(Error::invalid(format!("invalid MTU: {}", self.mtu)));
        }
        if let Some(range) = self.ip_range
            && (range.prefix_len < self.subnet.prefix_len || !self.subnet.contains(range.addr))
        {
            return Err(Error::invalid(format!(
                "invalid pool request: ip-range {range} is not within subnet {}",
                self.subnet
            )));
        }
        Ok(())
    }
}

/// A container's place on the bridge network, as ADD reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attachment {
    /// The CNI network name (the bridge name).
    pub(crate) network: String,
    /// The bridge device.
    pub(crate) bridge: String,
    /// The container's address.
    pub(crate) ip: Ipv4Addr,
    /// Its prefix length.
    pub(crate) prefix_len: u8,
    /// Its default gateway.
    pub(crate) gateway: Ipv4Addr,
    /// The MAC address of the container's `eth0`.
    pub(crate) mac: String,
    /// The host end of the veth pair, if the plugin named it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) host_veth: Option<String>,
    /// The full CNI result of the ADD (the `prevResult` a later DEL gets).
    pub(crate) result: Value,
}

/// Attaches containers to the bridge network by running CNI plugins.
#[derive(Debug, Clone)]
pub(crate) struct Cni {
    exec: PluginExec,
    ipam_dir: PathBuf,
    bridge: BridgeConfig,
}

impl Cni {
    /// Plugins from `plugin_dir` (normally `/usr/lib/cni`); host-local keeps its
    /// allocations under `ipam_dir` (data-root/network/ipam) so they survive restarts.
    pub(crate) fn new(
        plugin_dir: impl Into<PathBuf>,
        ipam_dir: impl Into<PathBuf>,
        bridge: BridgeConfig,
    ) -> Result<Self, Error> {
        bridge.validate()?;
        Ok(Self { exec: PluginExec::new(plugin_dir), ipam_dir: ipam_dir.into(), bridge })
    }

    /// The bridge settings.
    #[cfg(test)]
    pub(crate) fn bridge(&self) -> &BridgeConfig {
        &self.bridge
    }

    /// The host-local store for this network: `<ipam_dir>/<network>`.
    #[cfg(test)]
    pub(crate) fn ipam_store(&self) -> PathBuf {
        self.ipam_dir.join(&self.bridge.name)
    }

    /// Brings up `lo` in `netns` and attaches it to the bridge as `ifname` (creating the bridge
    /// on first use), with the address `ip` and MAC address `mac` when asked for, returning the
    /// address it got.
    ///
    /// On failure everything already done is undone, including the address reservation.
    #[tracing::instrument(skip_all, fields(container = id, ifname))]
    pub(crate) async fn attach(
        &self,
        id: &str,
        netns: &Path,
        ifname: &str,
        ip: Option<Ipv4Addr>,
        mac: Option<&str>,
    ) -> Result<Attachment, Error> {
        let result = async {
            self.exec.add(&loopback_list(), &self.runtime_args(id, netns, "lo")).await?;
            let mut rt = self.runtime_args(id, netns, ifname);
            if let Some(ip) = ip {
                let cidr = format!("{ip}/{}", self.bridge.subnet.prefix_len);
                rt.capabilities.insert("ips".into(), json!([cidr]));
            }
            if let Some(mac) = mac {
                rt.capabilities.insert("mac".into(), json!(mac));
            }
            let printed = self.exec.add(&self.bridge_list(), &rt).await?;
            self.attachment(netns, ifname, printed).await
        }
        .await;
        match result {
            Ok(attachment) => {
                tracing::debug!(ip = %attachment.ip, mac = %attachment.mac, "attached to bridge");
                Ok(attachment)
            }
            Err(e) => {
                if let Err(undo) = self.detach(id, netns, ifname).await {
                    tracing::warn!(error = %undo, "cannot undo a failed network attach");
                }
                Err(e)
            }
        }
    }

    /// Detaches the container's `ifname`: runs DEL for the bridge, which frees its address and
    /// deletes its veth, then removes any masquerade rule the plugin could not. `lo` is left up
    /// (other interfaces may still use the namespace; it goes with the namespace).
    ///
    /// Idempotent, and works when `netns` is already gone (the address is still released, and the
    /// NAT rules are found by name). Detaching before removing the namespace is the normal order.
    #[tracing::instrument(skip_all, fields(container = id, ifname))]
    pub(crate) async fn detach(&self, id: &str, netns: &Path, ifname: &str) -> Result<(), Error> {
        let rt = self.runtime_args(id, netns, ifname);
        let bridge = self.exec.del(&self.bridge_list(), &rt, None).await;
        let nat = iptables::remove_masquerade(&self.bridge.name, Some(id)).await;
        bridge.and(nat)
    }

    /// Deletes the bridge device and every masquerade rule left on this network.
    ///
    /// Removing a network and the tests use it; the bridge plugin re-creates the device on the
    /// next attach.
    pub(crate) async fn remove_bridge(&self) -> Result<(), Error> {
        let nat = iptables::remove_masquerade(&self.bridge.name, None).await;
        let name = self.bridge.name.clone();
        let link = tokio::task::spawn_blocking(move || match netlink::delete_link(&name) {
            Ok(()) | Err(netlink::NetlinkError::NoSuchLink(_)) => Ok(()),
            Err(e) => Err(Error::system(format!("cannot delete bridge {name}")).with_source(e)),
        })
        .await
        .map_err(|e| Error::system("the bridge removal task failed").with_source(e))?;
        nat.and(link)
    }

    fn runtime_args(&self, id: &str, netns: &Path, ifname: &str) -> RuntimeArgs {
        RuntimeArgs {
            container_id: id.to_owned(),
            netns: netns.to_owned(),
            ifname: ifname.to_owned(),
            capabilities: Map::new(),
        }
    }

    /// The conflist of the bridge network.
    fn bridge_list(&self) -> NetworkList {
        let b = &self.bridge;
        let mut range = json!({"subnet": b.subnet.to_string(), "gateway": b.gateway.to_string()});
        if let Some(r) = b.ip_range {
            let first = u32::from(r.addr).max(u32::from(b.subnet.addr) + 1);
            let last = (u32::from(r.addr) | !Subnet::mask(r.prefix_len))
                .min((u32::from(b.subnet.addr) | !Subnet::mask(b.subnet.prefix_len)) - 1);
            range["rangeStart"] = Ipv4Addr::from(first).to_string().into();
            range["rangeEnd"] = Ipv4Addr::from(last).to_string().into();
        }
        let routes = if b.internal { json!([]) } else { json!([{"dst": "0.0.0.0/0"}]) };
        NetworkList {
            name: b.name.clone(),
            plugins: vec![json!({
                "type": "bridge",
                "bridge": b.name,
                "isGateway": true,
                "ipMasq": b.masquerade && !b.internal,
                "hairpinMode": true,
                "mtu": b.mtu,
                "capabilities": {"ips": true, "mac": true},
                "ipam": {
                    "type": "host-local",
                    "ranges": [[range]],
                    "routes": routes,
                    "dataDir": self.ipam_dir.to_string_lossy(),
                },
            })],
        }
    }

    /// Reads the container's address and MAC out of a bridge ADD result.
    async fn attachment(
        &self,
        netns: &Path,
        ifname: &str,
        printed: Value,
    ) -> Result<Attachment, Error> {
        let result = CniResult::from_value(&printed)?;
        let eth0 = result
            .interfaces
            .iter()
            .position(|i| i.name == ifname && !i.sandbox.is_empty())
            .or_else(|| result.interfaces.iter().position(|i| !i.sandbox.is_empty()));
        let ip_config = result
            .ips
            .iter()
            .filter(|c| eth0.is_none() || c.interface.is_none() || c.interface == eth0)
            .find_map(|c| match c.cidr() {
                Ok((IpAddr::V4(ip), len)) => Some((c, ip, len)),
                _ => None,
            });
        let Some((ip_config, ip, prefix_len)) = ip_config else {
            return Err(Error::system(format!(
                "network {} gave the container no IPv4 address",
                self.bridge.name
            )));
        };
        let gateway = match ip_config.gateway {
            Some(IpAddr::V4(gw)) => gw,
            _ => self.bridge.gateway,
        };
        let reported = eth0.and_then(|i| result.interfaces.get(i)).map(|i| i.mac.clone());
        let mac = match reported.filter(|m| !m.is_empty()) {
            Some(mac) => mac,
            None => container_mac(netns, ifname).await?,
        };
        let host_veth = result
            .interfaces
            .iter()
            .find(|i| i.sandbox.is_empty() && i.name != self.bridge.name)
            .map(|i| i.name.clone());
        Ok(Attachment {
            network: self.bridge.name.clone(),
            bridge: self.bridge.name.clone(),
            ip,
            prefix_len,
            gateway,
            mac,
            host_veth,
            result: printed,
        })
    }
}

/// The MAC address of `ifname` inside the namespace at `netns`.
pub(crate) async fn container_mac(netns: &Path, ifname: &str) -> Result<String, Error> {
    let netns = netns.to_owned();
    let ifname = ifname.to_owned();
    tokio::task::spawn_blocking(move || {
        let name = ifname.clone();
        Netns::run_in(&netns, move || netlink::link_mac(&name))?.map_err(|e| {
            Error::system(format!("cannot read the MAC address of {ifname}")).with_source(e)
        })
    })
    .await
    .map_err(|e| Error::system("the MAC lookup task failed").with_source(e))?
}

/// The loopback plugin alone; it brings `lo` up in a namespace CNI created.
fn loopback_list() -> NetworkList {
    NetworkList { name: LOOPBACK_NETWORK.into(), plugins: vec![json!({"type": "loopback"})] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets_parse_normalise_and_contain() {
        let subnet: Subnet = "10.213.7.9/24".parse().expect("subnet");
        assert_eq!(subnet.to_string(), "10.213.7.0/24");
        assert_eq!(subnet.first_host(), Ipv4Addr::new(10, 213, 7, 1));
        assert!(subnet.contains(Ipv4Addr::new(10, 213, 7, 255)));
        assert!(!subnet.contains(Ipv4Addr::new(10, 213, 8, 1)));
        assert!("10.0.0.0/33".parse::<Subnet>().is_err());
        assert!("10.0.0.0".parse::<Subnet>().is_err());
        let any: Subnet = "1.2.3.4/0".parse().expect("/0");
        assert!(any.contains(Ipv4Addr::new(8, 8, 8, 8)));
        let json = serde_json::to_string(&subnet).expect("serialize");
        assert_eq!(json, r#""10.213.7.0/24""#);
        assert_eq!(serde_json::from_str::<Subnet>(&json).expect("deserialize"), subnet);
    }

    #[test]
    fn the_default_bridge_is_berth0_on_172_18() {
        let config = BridgeConfig::default();
        assert_eq!(config.name, "berth0");
        assert_eq!(config.subnet.to_string(), "172.18.0.0/16");
        assert_eq!(config.gateway, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(config.mtu, 1500);
        config.validate().expect("the default is valid");
    }

    #[test]
    fn bridge_config_validation() {
        let subnet: Subnet = "10.1.0.0/24".parse().expect("subnet");
        let good = BridgeConfig::new("b0", subnet);
        good.validate().expect("valid");
        let bad = [
            BridgeConfig { name: "a-name-longer-than-15".into(), ..good.clone() },
            BridgeConfig { name: "a/b".into(), ..good.clone() },
            BridgeConfig { gateway: Ipv4Addr::new(10, 2, 0, 1), ..good.clone() },
            BridgeConfig { gateway: Ipv4Addr::new(10, 1, 0, 0), ..good.clone() },
            BridgeConfig { gateway: Ipv4Addr::new(10, 1, 0, 255), ..good.clone() },
            BridgeConfig { mtu: 10, ..good.clone() },
            BridgeConfig::new("b0", "10.1.0.0/31".parse().expect("subnet")),
        ];
        for config in bad {
            let err = config.validate().expect_err("invalid");
            assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{config:?}");
        }
    }

    #[test]
    fn the_bridge_conflist_is_dockerd_like() {
        let cni = Cni::new("/usr/lib/cni", "/var/lib/berth/network/ipam", BridgeConfig::default())
            .expect("cni");
        let list = cni.bridge_list();
        assert_eq!(list.name, "berth0");
        assert_eq!(
            list.plugins[0],
            json!({
                "type": "bridge", "bridge": "berth0", "isGateway": true, "ipMasq": true,
                "hairpinMode": true, "mtu": 1500, "capabilities": {"ips": true, "mac": true},
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": "172.18.0.0/16", "gateway": "172.18.0.1"}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": "/var/lib/berth/network/ipam",
                },
            })
        );
        assert_eq!(cni.ipam_store(), Path::new("/var/lib/berth/network/ipam/berth0"));
    }

    #[tokio::test]
    async fn attachment_reads_address_gateway_and_mac_from_the_result() {
        let cni = Cni::new("/usr/lib/cni", "/tmp/x", BridgeConfig::default()).expect("cni");
        let printed = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "berth0", "mac": "06:93:2e:28:b9:21"},
                {"name": "veth9602bdba", "mac": "3a:36:6d:c0:25:fb"},
                {"name": "eth0", "mac": "ca:18:14:b6:4a:6a", "sandbox": "/x"}
            ],
            "ips": [{"interface": 2, "address": "172.18.0.5/16", "gateway": "172.18.0.1"}],
        });
        let a = cni.attachment(Path::new("/x"), "eth0", printed.clone()).await.expect("attachment");
        assert_eq!(a.ip, Ipv4Addr::new(172, 18, 0, 5));
        assert_eq!(a.prefix_len, 16);
        assert_eq!(a.gateway, Ipv4Addr::new(172, 18, 0, 1));
        assert_eq!(a.mac, "ca:18:14:b6:4a:6a");
        assert_eq!(a.host_veth.as_deref(), Some("veth9602bdba"));
        assert_eq!(a.result, printed);
        let stored = serde_json::to_value(&a).expect("serialize");
        assert_eq!(serde_json::from_value::<Attachment>(stored).expect("deserialize"), a);

        let no_ip = json!({"interfaces": [], "ips": [{"address": "fd00::2/64"}]});
        let err = cni.attachment(Path::new("/x"), "eth0", no_ip).await.expect_err("no v4");
        assert_eq!(err.message(), "network berth0 gave the container no IPv4 address");
    }
}
