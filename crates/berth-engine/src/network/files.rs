//! The `hostname`, `hosts` and `resolv.conf` files a container gets bind-mounted into `/etc`.
//!
//! Content follows dockerd: the hosts file is its default table plus `--add-host` entries and
//! the container's own address; resolv.conf is the host's file with nameservers that only work
//! in the host namespace removed (a network without an embedded resolver, like the default
//! bridge), falling back to Google's public resolvers; on a network with the embedded DNS server
//! it names that server alone, which forwards to the host's nameservers.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;

use berth_api::Error;

/// The file name of the hostname file in a container directory.
pub(crate) const HOSTNAME_FILE: &str = "hostname";
/// The file name of the hosts file in a container directory.
pub(crate) const HOSTS_FILE: &str = "hosts";
/// The file name of the resolver configuration in a container directory.
pub(crate) const RESOLV_CONF_FILE: &str = "resolv.conf";

/// The special `--add-host` value that stands for the host's address on the default bridge.
pub(crate) const HOST_GATEWAY: &str = "host-gateway";

/// dockerd's default hosts table.
const DEFAULT_HOSTS: &str = "127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
";

/// Nameservers used when the host has none a container can reach.
const DEFAULT_NAMESERVERS: [Ipv4Addr; 2] = [Ipv4Addr::new(8, 8, 8, 8), Ipv4Addr::new(8, 8, 4, 4)];

/// Writes `<dir>/hostname`: the name and a newline.
pub(crate) fn write_hostname(dir: &Path, hostname: &str) -> Result<(), Error> {
    write(dir, HOSTNAME_FILE, format!("{hostname}\n"))
}

/// Writes `<dir>/hosts`: dockerd's default table, the `extra` hosts (`name:ip`, from
/// `HostConfig.ExtraHosts`) and, when the container has an address, `ip<TAB>hostname`.
///
/// `hostname` may be a FQDN (`Config.Hostname` + `.` + `Config.Domainname`); the short name is
/// then listed too. An extra host of `host-gateway` resolves to `host_gateway` (the bridge
/// gateway) and is an error without one.
pub(crate) fn write_hosts(
    dir: &Path,
    hostname: &str,
    ip: Option<Ipv4Addr>,
    extra: &[String],
    host_gateway: Option<Ipv4Addr>,
) -> Result<(), Error> {
    write(dir, HOSTS_FILE, hosts_content(hostname, ip, extra, host_gateway)?)
}

/// Writes `<dir>/hosts` for a container on the host network: the host's own file, or, when
/// there are extra hosts, dockerd's default table plus those entries.
pub(crate) fn write_hosts_host_mode(
    dir: &Path,
    host_hosts: &str,
    extra: &[String],
    host_gateway: Option<Ipv4Addr>,
) -> Result<(), Error> {
    let content = if extra.is_empty() {
        host_hosts.to_owned()
    } else {
        let mut content = DEFAULT_HOSTS.to_owned();
        append_extra_hosts(&mut content, extra, host_gateway)?;
        content
    };
    write(dir, HOSTS_FILE, content)
}

/// Writes `<dir>/resolv.conf` derived from the host's resolv.conf text.
///
/// With `host_mode` and no overrides the host file is used as is. Otherwise explicit `dns`,
/// `search` and `options` replace the host's values (a search list of just `.` means none), and
/// outside host mode the host's loopback and IPv6 nameservers are dropped, since they cannot be
/// reached from the container's namespace; if none are left, 8.8.8.8 and 8.8.4.4 are used.
pub(crate) fn write_resolv_conf(
    dir: &Path,
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
    host_mode: bool,
) -> Result<(), Error> {
    write(dir, RESOLV_CONF_FILE, resolv_conf_content(host_resolv, dns, search, options, host_mode)?)
}

/// Writes `<dir>/resolv.conf` for a container on a network with the embedded DNS server (a
/// user-defined network), as dockerd does, and returns the servers that DNS server forwards to.
///
/// The file names only [`super::DNS_ADDRESS`]; the host's search list, options and other lines
/// are kept (explicit `search` and `options` replace them, as in [`write_resolv_conf`]), and
/// `ndots:0` is added unless a valid `ndots` is already there. The host's nameservers, or the
/// explicit `dns` ones, become the returned upstreams on port 53, all of them: the DNS server
/// forwards from the host namespace, where loopback resolvers work. A comment at the end lists
/// them, as dockerd's does.
pub(crate) fn write_resolv_conf_embedded(
    dir: &Path,
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> Result<Vec<SocketAddr>, Error> {
    let (content, upstreams) = embedded_resolv_conf_content(host_resolv, dns, search, options)?;
    write(dir, RESOLV_CONF_FILE, content)?;
    Ok(upstreams)
}

/// Reads the host's resolver configuration, looking past systemd-resolved's stub.
///
/// When `/etc/resolv.conf` only names the 127.0.0.53 stub, the upstream servers systemd-resolved
/// lists in `/run/systemd/resolve/resolv.conf` are what a container can use. A missing file reads
/// as empty (and the defaults then apply).
pub(crate) async fn read_host_resolv_conf() -> Result<String, Error> {
    let main = read_optional(Path::new("/etc/resolv.conf")).await?;
    let parsed = ResolvConf::parse(&main);
    let only_stub = !parsed.nameservers.is_empty()
        && parsed.nameservers.iter().all(|ns| ns == &IpAddr::V4(Ipv4Addr::new(127, 0, 0, 53)));
    if only_stub {
        let upstream = read_optional(Path::new("/run/systemd/resolve/resolv.conf")).await?;
        if !upstream.is_empty() {
            return Ok(upstream);
        }
    }
    Ok(main)
}

async fn read_optional(path: &Path) -> Result<String, Error> {
    match tokio::fs::read_to_string(path).await {
        Ok(text) => Ok(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(Error::system(format!("cannot read {}", path.display())).with_source(e)),
    }
}

/// Checks `HostConfig.ExtraHosts` entries the way dockerd does, without resolving them.
pub(crate) fn validate_extra_hosts(extra: &[String]) -> Result<(), Error> {
    extra.iter().try_for_each(|entry| parse_extra_host(entry).map(drop))
}

/// An `--add-host` value: the name and the address (or [`HOST_GATEWAY`]).
#[derive(Debug, PartialEq, Eq)]
enum ExtraAddr {
    Ip(IpAddr),
    HostGateway,
}

/// Splits `name:ip` (or `name=ip`; the address may be `[v6]`) like dockerd's
/// `ValidateExtraHost`: a colon separator splits on the first colon so IPv6 addresses survive.
fn parse_extra_host(entry: &str) -> Result<(&str, ExtraAddr), Error> {
    let (name, addr) = entry
        .split_once('=')
        .or_else(|| entry.split_once(':'))
        .filter(|(name, _)| !name.is_empty() && !name.contains(':'))
        .ok_or_else(|| Error::invalid(format!("bad format for add-host: {entry:?}")))?;
    if addr == HOST_GATEWAY {
        return Ok((name, ExtraAddr::HostGateway));
    }
    let bare = addr
        .strip_prefix('[')
        .and_then(|a| a.strip_suffix(']'))
        .filter(|a| !a.is_empty())
        .unwrap_or(addr);
    let ip: IpAddr = bare
        .parse()
        .map_err(|_| Error::invalid(format!("invalid IP address in add-host: {bare:?}")))?;
    Ok((name, ExtraAddr::Ip(ip)))
}

fn append_extra_hosts(
    content: &mut String,
    extra: &[String],
    host_gateway: Option<Ipv4Addr>,
) -> Result<(), Error> {
    for entry in extra {
        let (name, addr) = parse_extra_host(entry)?;
        let ip = match addr {
            ExtraAddr::Ip(ip) => ip,
            ExtraAddr::HostGateway => IpAddr::V4(host_gateway.ok_or_else(|| {
                Error::invalid(format!(
                    "unable to derive the IP value for {HOST_GATEWAY} in add-host: {entry:?}"
                ))
            })?),
        };
        content.push_str(&format!("{ip}\t{name}\n"));
    }
    Ok(())
}

fn hosts_content(
    hostname: &str,
    ip: Option<Ipv4Addr>,
    extra: &[String],
    host_gateway: Option<Ipv4Addr>,
) -> Result<String, Error> {
    let mut content = DEFAULT_HOSTS.to_owned();
    append_extra_hosts(&mut content, extra, host_gateway)?;
    if let Some(ip) = ip {
        let names = match hostname.split_once('.') {
            Some((short, _)) if !short.is_empty() => format!("{hostname} {short}"),
            _ => hostname.to_owned(),
        };
        content.push_str(&format!("{ip}\t{names}\n"));
    }
    Ok(content)
}

/// The directives of a resolv.conf that matter here; anything else is kept verbatim.
#[derive(Debug, Default)]
struct ResolvConf {
    nameservers: Vec<IpAddr>,
    search: Vec<String>,
    options: Vec<String>,
    other: Vec<String>,
}

impl ResolvConf {
    fn parse(text: &str) -> Self {
        let mut rc = Self::default();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let Some(directive) = fields.next() else { continue };
            if directive.starts_with(['#', ';']) {
                continue;
            }
            let values: Vec<String> = fields.map(str::to_owned).collect();
            match directive {
                "nameserver" => {
                    // A scoped address (`fe80::1%eth0`) cannot be parsed, or used, in the container.
                    if let Some(ns) = values.first().and_then(|v| v.parse().ok()) {
                        rc.nameservers.push(ns);
                    }
                }
                // `domain` is the obsolete spelling of `search`; the last one wins.
                "search" | "domain" if !values.is_empty() => rc.search = values,
                "options" => rc.options.extend(values),
                "search" | "domain" => {}
                _ => rc.other.push(line.to_owned()),
            }
        }
        rc
    }

    fn render(&self, header: &str) -> String {
        let mut out = String::from(header);
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.search.is_empty() {
            out.push_str(&format!("search {}\n", self.search.join(" ")));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        for line in &self.other {
            out.push_str(&format!("{line}\n"));
        }
        out
    }
}

fn resolv_conf_content(
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
    host_mode: bool,
) -> Result<String, Error> {
    let overridden = !dns.is_empty() || !search.is_empty() || !options.is_empty();
    if host_mode && !overridden {
        return Ok(host_resolv.to_owned());
    }
    let mut rc = ResolvConf::parse(host_resolv);
    if !dns.is_empty() {
        rc.nameservers = parse_nameservers(dns)?;
    }
    if !search.is_empty() {
        rc.search = search.iter().filter(|s| s.as_str() != ".").cloned().collect();
    }
    if !options.is_empty() {
        rc.options = options.to_vec();
    }
    if !host_mode && dns.is_empty() {
        // The default bridge has no IPv6, and loopback resolvers live in the host namespace.
        rc.nameservers.retain(|ns| ns.is_ipv4() && !ns.is_loopback());
        if rc.nameservers.is_empty() {
            tracing::info!("no non-localhost nameservers left in resolv.conf, using defaults");
            rc.nameservers = DEFAULT_NAMESERVERS.map(IpAddr::V4).to_vec();
        }
    }
    Ok(rc.render("# Generated by Berth from the host's resolv.conf.\n\n"))
}

pub(crate) fn embedded_resolv_conf_content(
    host_resolv: &str,
    dns: &[String],
    search: &[String],
    options: &[String],
) -> Result<(String, Vec<SocketAddr>), Error> {
    let mut rc = ResolvConf::parse(host_resolv);
    let mut ndots_from = rc.options.iter().any(|o| is_option(o, "ndots")).then_some("host");
    let mut overrides = Vec::new();
    if !dns.is_empty() {
        rc.nameservers = parse_nameservers(dns)?;
        overrides.push("nameservers");
    }
    if !search.is_empty() {
        rc.search = search.iter().filter(|s| s.as_str() != ".").cloned().collect();
        overrides.push("search");
    }
    if !options.is_empty() {
        rc.options = options.to_vec();
        ndots_from = rc.options.iter().any(|o| is_option(o, "ndots")).then_some("override");
        overrides.push("options");
    }
    let upstreams: Vec<SocketAddr> =
        rc.nameservers.iter().map(|&ns| SocketAddr::new(ns, 53)).collect();
    rc.nameservers = vec![IpAddr::V4(super::DNS_ADDRESS)];
    // dockerd's resolver needs clients to ask for single-label names as they are (its container
    // names) before trying the search list; an ndots the resolver library would reject is
    // dropped first, so that it cannot hide the required one.
    rc.options.retain(|o| {
        !is_option(o, "ndots") || o.split_once(':').is_some_and(|(_, v)| v.parse::<u32>().is_ok())
    });
    if !rc.options.iter().any(|o| is_option(o, "ndots")) {
        rc.options.push("ndots:0".to_owned());
        ndots_from = Some("internal");
    }

    let mut content = rc.render("# Generated by Berth from the host's resolv.conf.\n\n");
    content.push_str("\n# Based on the host's resolv.conf (internal resolver)\n");
    if upstreams.is_empty() {
        content.push_str("# NO EXTERNAL NAMESERVERS DEFINED\n");
    } else {
        let servers: Vec<String> = upstreams.iter().map(|s| format!("host({})", s.ip())).collect();
        content.push_str(&format!("# ExtServers: [{}]\n", servers.join(" ")));
    }
    content.push_str(&format!("# Overrides: [{}]\n", overrides.join(" ")));
    if let Some(from) = ndots_from {
        content.push_str(&format!("# Option ndots from: {from}\n"));
    }
    Ok((content, upstreams))
}

/// Whether resolv.conf option `option` (`name` or `name:value`) is `name`.
fn is_option(option: &str, name: &str) -> bool {
    option.split_once(':').map_or(option, |(key, _)| key) == name
}

fn parse_nameservers(dns: &[String]) -> Result<Vec<IpAddr>, Error> {
    dns.iter()
        .map(|ns| ns.parse().map_err(|_| Error::invalid(format!("{ns} is not an ip address"))))
        .collect()
}

fn write(dir: &Path, name: &str, content: String) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(|e| {
        crate::persist::io_error(&format!("cannot create directory {}", dir.display()), e)
    })?;
    // Overwritten in place, never renamed: the file may already be bind-mounted into a running
    // container, and a rename would leave the container looking at the old inode.
    let path = dir.join(name);
    std::fs::write(&path, content)
        .map_err(|e| crate::persist::io_error(&format!("cannot write {}", path.display()), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn writes_the_hostname_with_a_newline() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_hostname(dir.path(), "f1d2c3a4b5e6").expect("write");
        let text = std::fs::read_to_string(dir.path().join("hostname")).expect("read");
        assert_eq!(text, "f1d2c3a4b5e6\n");
    }

    #[test]
    fn hosts_has_the_default_table_extra_hosts_then_the_container() {
        let dir = tempfile::tempdir().expect("tempdir");
        let extra = strings(&["db:10.0.0.5", "v6:2001:db8::68", "gw:host-gateway", "b=[::1]"]);
        let ip = Some(Ipv4Addr::new(172, 18, 0, 2));
        let gateway = Some(Ipv4Addr::new(172, 18, 0, 1));
        write_hosts(dir.path(), "abc123", ip, &extra, gateway).expect("write");
        let text = std::fs::read_to_string(dir.path().join("hosts")).expect("read");
        assert_eq!(
            text,
            "127.0.0.1\tlocalhost\n\
             ::1\tlocalhost ip6-localhost ip6-loopback\n\
             fe00::0\tip6-localnet\n\
             ff00::0\tip6-mcastprefix\n\
             ff02::1\tip6-allnodes\n\
             ff02::2\tip6-allrouters\n\
             10.0.0.5\tdb\n\
             2001:db8::68\tv6\n\
             172.18.0.1\tgw\n\
             ::1\tb\n\
             172.18.0.2\tabc123\n"
        );
    }

    #[test]
    fn hosts_lists_the_short_name_of_a_fqdn_and_nothing_without_an_address() {
        let with_fqdn =
            hosts_content("web.example.com", Some(Ipv4Addr::new(10, 0, 0, 2)), &[], None)
                .expect("hosts");
        assert!(with_fqdn.ends_with("ff02::2\tip6-allrouters\n10.0.0.2\tweb.example.com web\n"));
        let none = hosts_content("web", None, &[], None).expect("hosts");
        assert_eq!(none, DEFAULT_HOSTS);
    }

    #[test]
    fn host_mode_hosts_is_the_host_file_unless_there_are_extra_hosts() {
        let dir = tempfile::tempdir().expect("tempdir");
        write_hosts_host_mode(dir.path(), "127.0.0.1 myhost\n", &[], None).expect("write");
        let text = std::fs::read_to_string(dir.path().join("hosts")).expect("read");
        assert_eq!(text, "127.0.0.1 myhost\n");
        write_hosts_host_mode(dir.path(), "127.0.0.1 myhost\n", &strings(&["a:1.2.3.4"]), None)
            .expect("write");
        let text = std::fs::read_to_string(dir.path().join("hosts")).expect("read");
        assert_eq!(text, format!("{DEFAULT_HOSTS}1.2.3.4\ta\n"));
    }

    #[test]
    fn extra_hosts_are_validated_like_dockerd() {
        let cases = [
            ("foo:1.2", r#"invalid IP address in add-host: "1.2""#),
            ("foo", r#"bad format for add-host: "foo""#),
            (":1.2.3.4", r#"bad format for add-host: ":1.2.3.4""#),
            ("foo:", r#"invalid IP address in add-host: """#),
            ("foo:[]", r#"invalid IP address in add-host: "[]""#),
        ];
        for (entry, message) in cases {
            let err = validate_extra_hosts(&strings(&[entry])).expect_err(entry);
            assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{entry}");
            assert_eq!(err.message(), message, "{entry}");
        }
        validate_extra_hosts(&strings(&["a:1.2.3.4", "b:::1", "c=[fe80::1]", "d:host-gateway"]))
            .expect("valid entries");
        let err = hosts_content("x", None, &strings(&["d:host-gateway"]), None).expect_err("no gw");
        assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter);
    }

    const HOST_RESOLV: &str = "# managed by someone\n\
        nameserver 127.0.0.53\n\
        nameserver 10.255.255.53\n\
        nameserver ::1\n\
        nameserver 2001:4860:4860::8888\n\
        search corp.example\n\
        options edns0 trust-ad\n\
        sortlist 130.155.160.0/255.255.240.0\n";

    #[test]
    fn resolv_conf_drops_host_only_nameservers_and_keeps_the_rest() {
        let text = resolv_conf_content(HOST_RESOLV, &[], &[], &[], false).expect("resolv");
        assert_eq!(
            text,
            "# Generated by Berth from the host's resolv.conf.\n\n\
             nameserver 10.255.255.53\n\
             search corp.example\n\
             options edns0 trust-ad\n\
             sortlist 130.155.160.0/255.255.240.0\n"
        );
    }

    #[test]
    fn resolv_conf_falls_back_to_public_resolvers() {
        let host = "nameserver 127.0.0.1\nnameserver 127.0.1.1\nsearch lan\n";
        let text = resolv_conf_content(host, &[], &[], &[], false).expect("resolv");
        assert!(text.ends_with("nameserver 8.8.8.8\nnameserver 8.8.4.4\nsearch lan\n"), "{text}");
        let text = resolv_conf_content("", &[], &[], &[], false).expect("resolv");
        assert!(text.ends_with("nameserver 8.8.8.8\nnameserver 8.8.4.4\n"), "{text}");
    }

    #[test]
    fn resolv_conf_honours_explicit_settings() {
        let dns = strings(&["1.1.1.1", "127.0.0.11"]);
        let text = resolv_conf_content(
            HOST_RESOLV,
            &dns,
            &strings(&["a.example", "b.example"]),
            &strings(&["ndots:2"]),
            false,
        )
        .expect("resolv");
        assert!(
            text.ends_with(
                "nameserver 1.1.1.1\nnameserver 127.0.0.11\nsearch a.example b.example\n\
                 options ndots:2\nsortlist 130.155.160.0/255.255.240.0\n"
            ),
            "{text}"
        );
        // Only the search list overridden: nameservers still filtered; "." clears the search.
        let text =
            resolv_conf_content(HOST_RESOLV, &[], &strings(&["."]), &[], false).expect("resolv");
        assert!(text.contains("nameserver 10.255.255.53\noptions edns0"), "{text}");
        assert!(!text.contains("search"), "{text}");
        let err = resolv_conf_content(HOST_RESOLV, &strings(&["nope"]), &[], &[], false)
            .expect_err("bad dns");
        assert_eq!(err.message(), "nope is not an ip address");
    }

    #[test]
    fn host_mode_uses_the_host_file_as_is_without_overrides() {
        let text = resolv_conf_content(HOST_RESOLV, &[], &[], &[], true).expect("resolv");
        assert_eq!(text, HOST_RESOLV);
        let text = resolv_conf_content(HOST_RESOLV, &[], &[], &strings(&["rotate"]), true)
            .expect("resolv");
        assert!(text.contains("nameserver 127.0.0.53\n"), "host mode keeps loopback: {text}");
        assert!(text.contains("options rotate\n"), "{text}");
    }

    #[test]
    fn embedded_resolv_conf_names_only_the_dns_server_and_returns_the_host_servers() {
        let dir = tempfile::tempdir().expect("tempdir");
        let upstreams =
            write_resolv_conf_embedded(dir.path(), HOST_RESOLV, &[], &[], &[]).expect("write");
        let text = std::fs::read_to_string(dir.path().join("resolv.conf")).expect("read");
        assert_eq!(
            text,
            "# Generated by Berth from the host's resolv.conf.\n\n\
             nameserver 127.0.0.11\n\
             search corp.example\n\
             options edns0 trust-ad ndots:0\n\
             sortlist 130.155.160.0/255.255.240.0\n\
             \n\
             # Based on the host's resolv.conf (internal resolver)\n\
             # ExtServers: [host(127.0.0.53) host(10.255.255.53) host(::1) host(2001:4860:4860::8888)]\n\
             # Overrides: []\n\
             # Option ndots from: internal\n"
        );
        let expected: Vec<SocketAddr> =
            ["127.0.0.53:53", "10.255.255.53:53", "[::1]:53", "[2001:4860:4860::8888]:53"]
                .iter()
                .map(|s| s.parse().expect("socket address"))
                .collect();
        assert_eq!(upstreams, expected, "loopback and IPv6 servers are kept");
    }

    #[test]
    fn embedded_resolv_conf_keeps_a_valid_ndots_and_honours_overrides() {
        let (text, upstreams) =
            embedded_resolv_conf_content("nameserver 10.0.0.1\noptions ndots:1\n", &[], &[], &[])
                .expect("resolv");
        assert!(text.contains("nameserver 127.0.0.11\noptions ndots:1\n\n"), "{text}");
        assert!(text.ends_with("# Option ndots from: host\n"), "{text}");
        assert_eq!(upstreams, ["10.0.0.1:53".parse::<SocketAddr>().expect("addr")]);

        let (text, _) = embedded_resolv_conf_content("options ndots:x rotate\n", &[], &[], &[])
            .expect("resolv");
        assert!(text.contains("options rotate ndots:0\n"), "an invalid ndots is replaced: {text}");
        assert!(text.contains("# NO EXTERNAL NAMESERVERS DEFINED\n"), "{text}");

        let (text, upstreams) = embedded_resolv_conf_content(
            HOST_RESOLV,
            &strings(&["1.1.1.1"]),
            &strings(&["."]),
            &strings(&["ndots:3"]),
        )
        .expect("resolv");
        assert_eq!(upstreams, ["1.1.1.1:53".parse::<SocketAddr>().expect("addr")]);
        assert!(text.contains("nameserver 127.0.0.11\noptions ndots:3\nsortlist"), "{text}");
        assert!(text.contains("# Overrides: [nameservers search options]\n"), "{text}");
        assert!(text.ends_with("# Option ndots from: override\n"), "{text}");
        let err = embedded_resolv_conf_content("", &strings(&["nope"]), &[], &[]).expect_err("bad");
        assert_eq!(err.message(), "nope is not an ip address");
    }

    #[test]
    fn writes_resolv_conf_into_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sub = dir.path().join("containers/abc");
        write_resolv_conf(&sub, "nameserver 9.9.9.9\n", &[], &[], &[], false).expect("write");
        let text = std::fs::read_to_string(sub.join("resolv.conf")).expect("read");
        assert!(text.ends_with("nameserver 9.9.9.9\n"), "{text}");
    }
}
