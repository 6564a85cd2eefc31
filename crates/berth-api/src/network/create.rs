//! The checks dockerd makes on a network create request that need no state, in its order and
//! with its messages.
//!
//! dockerd checks in two rounds around its look-up of the name: [`prepare_create`] is the round
//! before (so its errors win over a name conflict), [`check_create`] the round after.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use super::{BRIDGE, HOST, Ipam, NetworkCreateRequest, is_predefined, parse_go_bool};
use crate::{Error, ErrorKind, Result};

/// The driver option dockerd reads when `EnableIPv4` is not set.
const ENABLE_IPV4_OPTION: &str = "com.docker.network.enable_ipv4";
/// The driver option dockerd reads when `EnableIPv6` is not set.
const ENABLE_IPV6_OPTION: &str = "com.docker.network.enable_ipv6";

/// The checks before the name look-up, normalizing `request` on the way.
///
/// In dockerd's order: a predefined name (`bridge`, `host`, `none`, `default`) is a 403
/// `operation is not permitted on predefined <name> network ` (with its trailing space); the
/// `overlay` driver is a 403 (this engine is no swarm manager); the `enable_ipv4` /
/// `enable_ipv6` driver options must be Go booleans (400 `driver-opt "<option>" is not a valid
/// bool`); the IPAM pools must be well formed (400 `invalid network config:` and one line per
/// problem, as dockerd's `ValidateIPAM`); a blank name is a 400 `invalid name: name is empty`.
///
/// Afterwards `driver` is never empty (`bridge` by default) and `enable_ipv4` / `enable_ipv6`
/// are `Some`: an explicit field wins and removes the matching option from `options` (as dockerd
/// does, so inspect does not show a contradicting option); otherwise the option decides (and
/// stays); otherwise IPv4 on, IPv6 off.
pub fn prepare_create(request: &mut NetworkCreateRequest) -> Result<()> {
    if is_predefined(&request.name) {
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("operation is not permitted on predefined {} network ", request.name),
        ));
    }
    if request.driver.is_empty() {
        request.driver = BRIDGE.to_owned();
    }
    if request.driver == "overlay" {
        return Err(Error::new(
            ErrorKind::Forbidden,
            "This node is not a swarm manager. Use \"docker swarm init\" or \"docker swarm join\" \
             to connect this node to swarm and try again.",
        ));
    }
    let options = &mut request.options;
    request.enable_ipv4 =
        Some(ip_family_enabled(request.enable_ipv4, options, ENABLE_IPV4_OPTION)?);
    let enable_ipv6 = ip_family_enabled(request.enable_ipv6, options, ENABLE_IPV6_OPTION)?;
    request.enable_ipv6 = Some(enable_ipv6);
    if let Some(ipam) = &request.ipam {
        validate_ipam(ipam, enable_ipv6)?;
    }
    if request.name.trim().is_empty() {
        return Err(Error::invalid("invalid name: name is empty"));
    }
    Ok(())
}

/// `EnableIPv4` / `EnableIPv6`: the field, else the driver option, else `default`.
fn ip_family_enabled(
    field: Option<bool>,
    options: &mut Option<BTreeMap<String, String>>,
    option: &str,
) -> Result<bool> {
    let default = option == ENABLE_IPV4_OPTION;
    match field {
        Some(enabled) => {
            if let Some(options) = options {
                options.remove(option);
            }
            Ok(enabled)
        }
        None => match options.as_ref().and_then(|o| o.get(option)) {
            None => Ok(default),
            Some(value) => parse_go_bool(value).ok_or_else(|| {
                Error::invalid(format!("driver-opt \"{option}\" is not a valid bool"))
            }),
        },
    }
}

/// The checks after the name look-up, on a request [`prepare_create`] has normalized.
///
/// In dockerd's order: a configuration-only network may not set `Ingress`, `Internal`,
/// `Attachable` or `Scope` (403), and a `ConfigFrom` network may set none of IPAM, IPv4/IPv6,
/// labels or driver options (403), with dockerd's messages. Then Berth's own limit: IPv6 is not
/// implemented, so `EnableIPv6` is a 501 (for every driver, configuration-only networks too, so
/// that no network can ever take IPv6 settings from one). A configuration-only network then
/// needs no more checks; its `driver` becomes `null` and its `scope` `local`, as in dockerd.
/// Otherwise, for the driver: `macvlan` and `ipvlan` (dockerd's other built-in drivers) are a
/// 501; any driver but `bridge`, `host` and `null` is a 404 `plugin "<driver>" not found`;
/// `Ingress` is a 403 `Ingress network can only be global scope network`; scope `swarm` a 403
/// `cannot create a swarm scoped network when swarm is not active`; an IPAM driver other than
/// `default` a 404 (`null`: 501); `host` and `null` a 403 `only one instance of "host" network
/// is allowed` (the predefined network is that instance); `bridge` with IPv4 off a 400 `IPv4 or
/// IPv6 must be enabled`.
///
/// What remains for the backend, in this order: `ConfigFrom` must name an existing
/// configuration-only network (404 `configuration network "<name>" does not exist`) whose
/// settings the new network takes (a configuration network with IPv4 off then gives the same
/// 400 as above), and the bridge driver's options.
pub fn check_create(request: &mut NetworkCreateRequest) -> Result<()> {
    let forbidden = |message: &str| Err(Error::new(ErrorKind::Forbidden, message));
    if request.config_only
        && (request.ingress || request.internal || request.attachable || !request.scope.is_empty())
    {
        return forbidden(
            "configuration network can only contain network specific fields. Network operator \
             fields like [ ingress | internal | attachable | scope ] are not supported.",
        );
    }
    // dockerd reads an empty `ConfigFrom.Network` as no `ConfigFrom` at all.
    if request.config_from.as_ref().is_some_and(|c| !c.network.is_empty()) {
        if request.config_only {
            return forbidden(
                "a configuration network cannot depend on another configuration network",
            );
        }
        let ipam = request.ipam.clone().unwrap_or_default();
        let has_entries =
            |m: &Option<BTreeMap<String, String>>| m.as_ref().is_some_and(|m| !m.is_empty());
        if !matches!(ipam.driver.as_str(), "" | "default")
            || request.enable_ipv4 == Some(false)
            || request.enable_ipv6 == Some(true)
            || has_entries(&request.labels)
            || has_entries(&ipam.options)
            || ipam.config.is_some_and(|c| !c.is_empty())
        {
            return forbidden(
                "user specified configurations are not supported if the network depends on a \
                 configuration network",
            );
        }
        if has_entries(&request.options) {
            return forbidden(
                "network driver options are not supported if the network depends on a \
                 configuration network",
            );
        }
    }
    if request.enable_ipv6 == Some(true) {
        return Err(Error::not_implemented(
            "IPv6 networks are not implemented by berthd: create the network without \
             EnableIPv6 (--ipv6)",
        ));
    }
    if request.config_only {
        request.driver = "null".to_owned();
        request.scope = "local".to_owned();
        return Ok(());
    }
    let driver = request.driver.as_str();
    match driver {
        BRIDGE | HOST | "null" => {}
        "macvlan" | "ipvlan" => {
            return Err(Error::not_implemented(format!(
                "the {driver} network driver is not implemented by berthd (bridge is)"
            )));
        }
        _ => return Err(plugin_not_found(driver)),
    }
    if request.ingress {
        return forbidden("Ingress network can only be global scope network");
    }
    if request.scope == "swarm" {
        return forbidden("cannot create a swarm scoped network when swarm is not active");
    }
    if driver == HOST || driver == "null" {
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("only one instance of \"{driver}\" network is allowed"),
        ));
    }
    match request.ipam.as_ref().map_or("", |i| i.driver.as_str()) {
        "" | "default" => {}
        "null" => {
            return Err(Error::not_implemented(
                "the null IPAM driver is not implemented by berthd (default is)",
            ));
        }
        other => return Err(plugin_not_found(other)),
    }
    if request.enable_ipv4 == Some(false) {
        return Err(Error::invalid("IPv4 or IPv6 must be enabled"));
    }
    Ok(())
}

/// dockerd's answer for a driver no plugin provides.
fn plugin_not_found(name: &str) -> Error {
    Error::not_found(format!("plugin \"{name}\" not found"))
}

/// dockerd's `ValidateIPAM`: each pool's subnet, range, gateway and auxiliary addresses. IPv6
/// pools are skipped unless IPv6 is enabled. Every problem is reported, one per line.
fn validate_ipam(ipam: &Ipam, enable_ipv6: bool) -> Result<()> {
    let mut errors = Vec::new();
    for pool in ipam.config.iter().flatten() {
        let Some(subnet) = Prefix::parse(&pool.subnet) else {
            errors.push(format!("invalid subnet {}: invalid CIDR block notation", pool.subnet));
            continue;
        };
        if subnet.is_v6() && !enable_ipv6 {
            continue;
        }
        if subnet != subnet.masked() {
            errors.push(format!("invalid subnet {subnet}: it should be {}", subnet.masked()));
        }
        errors.extend(ip_range_errors(&pool.ip_range, subnet));
        if let Err(why) = check_address(&pool.gateway, subnet) {
            errors.push(format!("invalid gateway {}: {why}", pool.gateway));
        }
        for (name, address) in &pool.aux_addresses {
            if let Err(why) = check_address(address, subnet) {
                errors.push(format!("invalid auxiliary address {name}: {why}"));
            }
        }
    }
    let joined = match errors.as_slice() {
        [] => return Ok(()),
        [one] => one.trim().to_owned(),
        many => format!("* {}", many.join("\n* ")),
    };
    Err(Error::invalid(format!("invalid network config:\n{joined}")))
}

fn ip_range_errors(ip_range: &str, subnet: Prefix) -> Vec<String> {
    if ip_range.is_empty() {
        return Vec::new();
    }
    let Some(range) = Prefix::parse(ip_range) else {
        return vec![format!("invalid ip-range {ip_range}: invalid CIDR block notation")];
    };
    if range.is_v6() != subnet.is_v6() {
        return vec![format!(
            "invalid ip-range {ip_range}: parent subnet is an {} block",
            family(subnet)
        )];
    }
    let mut errors = Vec::new();
    if range.bits < subnet.bits {
        errors.push(format!(
            "invalid ip-range {ip_range}: CIDR block is bigger than its parent subnet {subnet}"
        ));
    }
    if range != range.masked() {
        errors.push(format!("invalid ip-range {range}: it should be {}", range.masked()));
    }
    if !subnet.overlaps(range) {
        errors.push(format!(
            "invalid ip-range {ip_range}: parent subnet {subnet} doesn't contain ip-range"
        ));
    }
    errors
}

/// A gateway or auxiliary address: empty, or an address of `subnet`'s family inside it.
fn check_address(address: &str, subnet: Prefix) -> Result<(), String> {
    if address.is_empty() {
        return Ok(());
    }
    let addr: IpAddr = address.parse().map_err(|_| "invalid address".to_owned())?;
    if addr.is_ipv6() != subnet.is_v6() {
        return Err(format!("parent subnet is an {} block", family(subnet)));
    }
    if !subnet.contains(addr) {
        return Err(format!("parent subnet {subnet} doesn't contain this address"));
    }
    Ok(())
}

fn family(prefix: Prefix) -> &'static str {
    if prefix.is_v6() { "IPv6" } else { "IPv4" }
}

/// Go's `netip.Prefix`: an address (host bits allowed) and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix {
    addr: IpAddr,
    bits: u8,
}

impl Prefix {
    /// `netip.ParsePrefix`: `addr/bits`, the length in decimal without sign or leading zero.
    fn parse(text: &str) -> Option<Self> {
        let (addr, bits) = text.split_once('/')?;
        let addr: IpAddr = addr.parse().ok()?;
        let canonical = !bits.is_empty()
            && bits.bytes().all(|b| b.is_ascii_digit())
            && (bits == "0" || !bits.starts_with('0'));
        let bits: u8 = bits.parse().ok().filter(|_| canonical)?;
        let prefix = Self { addr, bits };
        (bits <= prefix.width()).then_some(prefix)
    }

    fn is_v6(self) -> bool {
        self.addr.is_ipv6()
    }

    fn width(self) -> u8 {
        if self.is_v6() { 128 } else { 32 }
    }

    /// The address as an integer, left-aligned in 128 bits so both families mask alike.
    fn high_bits(addr: IpAddr) -> u128 {
        match addr {
            IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
            IpAddr::V6(v6) => u128::from(v6),
        }
    }

    fn mask(bits: u8) -> u128 {
        if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) }
    }

    fn masked(self) -> Self {
        let value = Self::high_bits(self.addr) & Self::mask(self.bits);
        let addr = match self.addr {
            IpAddr::V4(_) => IpAddr::from(u32::try_from(value >> 96).unwrap_or(0).to_be_bytes()),
            IpAddr::V6(_) => IpAddr::from(value.to_be_bytes()),
        };
        Self { addr, bits: self.bits }
    }

    fn same_leading(a: IpAddr, b: IpAddr, bits: u8) -> bool {
        (Self::high_bits(a) ^ Self::high_bits(b)) & Self::mask(bits) == 0
    }

    fn contains(self, addr: IpAddr) -> bool {
        addr.is_ipv6() == self.is_v6() && Self::same_leading(self.addr, addr, self.bits)
    }

    fn overlaps(self, other: Prefix) -> bool {
        self.is_v6() == other.is_v6()
            && Self::same_leading(self.addr, other.addr, self.bits.min(other.bits))
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::Prefix;

    #[test]
    fn prefixes_parse_like_netip() {
        let p = |s: &str| Prefix::parse(s).map(|p| p.to_string());
        assert_eq!(p("10.1.2.3/8").as_deref(), Some("10.1.2.3/8"));
        assert_eq!(p("0.0.0.0/0").as_deref(), Some("0.0.0.0/0"));
        assert_eq!(p("2001:DB8::1/64").as_deref(), Some("2001:db8::1/64"));
        for bad in [
            "10.0.0.0",
            "10.0.0.0/33",
            "10.0.0.0/08",
            "10.0.0.0/+8",
            "010.0.0.0/8",
            "x/8",
            "10.0.0.0/",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
        let net = Prefix::parse("172.20.1.5/16").expect("prefix");
        assert_eq!(net.masked().to_string(), "172.20.0.0/16");
        assert!(net.contains("172.20.255.1".parse().expect("ip")));
        assert!(!net.contains("172.21.0.1".parse().expect("ip")));
        assert!(!net.contains("::1".parse().expect("ip")));
        let inner = Prefix::parse("172.20.8.0/24").expect("prefix");
        assert!(net.overlaps(inner) && inner.overlaps(net));
        assert!(!inner.overlaps(Prefix::parse("172.20.9.0/24").expect("prefix")));
        let v6 = Prefix::parse("fd00::1/8").expect("v6");
        assert_eq!(v6.masked().to_string(), "fd00::/8");
    }
}
