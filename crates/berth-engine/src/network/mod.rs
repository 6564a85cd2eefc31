//! Container networking: network namespaces, CNI plugins and the default bridge network, and the
//! `hostname`, `hosts` and `resolv.conf` files.
//!
//! The lifecycle of one bridged container:
//! 1. [`Netns::create`] pins a new namespace at `exec-root/netns/<id>`;
//! 2. [`Cni::attach`] runs the loopback and bridge plugins in it and returns an [`bridge::Attachment`]
//!    (address, gateway, MAC) to store with the container;
//! 3. the files module writes `hostname`, `hosts` and `resolv.conf`, which the spec bind-mounts,
//!    and the spec joins the namespace by path;
//! 4. when the task is gone, [`Cni::detach`] frees the address and NAT rules, then
//!    [`Netns::remove`] drops the namespace.

mod bridge;
pub(crate) mod cni;
mod dns;
mod files;
mod iptables;
mod netlink;
mod netns;
mod ports;
pub(crate) mod store;
#[cfg(test)]
mod tests;

pub(crate) use bridge::{BridgeConfig, Cni, Subnet};
pub(crate) use dns::{DNS_ADDRESS, DnsServer, Names};
pub(crate) use files::{
    embedded_resolv_conf_content, read_host_resolv_conf, validate_extra_hosts, write_hostname,
    write_hosts, write_hosts_host_mode, write_resolv_conf, write_resolv_conf_embedded,
};
pub(crate) use netns::Netns;
pub(crate) use ports::{
    Binding, Published, inspect_ports, plan, publish, republish, summary_ports,
};

/// Where Debian's containernetworking-plugins package installs the plugins; the tests run them
/// from there (the daemon's `cni_plugin_dir` defaults to the same place).
#[cfg(test)]
pub(crate) const DEFAULT_PLUGIN_DIR: &str = "/usr/lib/cni";
