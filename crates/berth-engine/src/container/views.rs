//! What the API shows of a container: the inspect document, list entries with their human
//! status, list filters, and the mount points parsed from `Binds`, `Mounts` and `Tmpfs`.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_api::container::{
    ContainerInspect, ContainerState, ContainerSummary, EndpointIpamConfig, EndpointSettings,
    GraphDriver, Health, HostConfig, MountPoint, NetworkSettings, SummaryHostConfig,
    SummaryNetworkSettings,
};
use berth_api::{Error, Filters, Result};

use super::Container;
use super::record::{Record, Status, parse_time};

/// The json-file log of a container.
pub(crate) fn log_path(dir: &std::path::Path, id: &str) -> std::path::PathBuf {
    dir.join(format!("{id}-json.log"))
}

/// `GET /containers/{name}/json`.
pub(crate) fn inspect(c: &Container, graph: Option<BTreeMap<String, String>>) -> ContainerInspect {
    let r = c.record();
    let state = &r.state;
    let health = state.health.as_ref().map(|h| Health {
        status: h.status.clone(),
        failing_streak: h.failing_streak,
        log: Some(h.log.clone()),
    });
    // dockerd sets these paths when a start sets the container up, and keeps them after.
    let started = r.state.has_been_started;
    let file = |name: &str| {
        if started { c.dir.join(name).display().to_string() } else { String::new() }
    };
    // Only the json-file driver exposes its file (moby `container.StartLogger`).
    let json_file = matches!(r.host_config.log_config.kind.as_str(), "" | "json-file");
    let networks = endpoints(&r);
    let bridge = r.networks.get("bridge").filter(|e| e.ip.is_some());
    ContainerInspect {
        id: r.id.clone(),
        created: r.created.clone(),
        path: r.path.clone(),
        args: Some(r.args.clone()),
        state: Some(ContainerState {
            status: state.status.as_str().to_owned(),
            running: state.is_running(),
            paused: state.status == Status::Paused,
            restarting: state.status == Status::Restarting,
            oom_killed: state.oom_killed,
            dead: state.status == Status::Dead,
            pid: i64::from(state.pid),
            exit_code: state.exit_code,
            error: state.error.clone(),
            started_at: state.started_at.clone(),
            finished_at: state.finished_at.clone(),
            health,
        }),
        image: r.image_id.clone(),
        resolv_conf_path: file("resolv.conf"),
        hostname_path: file("hostname"),
        hosts_path: file("hosts"),
        log_path: if started && json_file {
            log_path(&c.dir, &r.id).display().to_string()
        } else {
            String::new()
        },
        name: r.name.clone(),
        restart_count: r.restart_count,
        driver: crate::unpack::SNAPSHOTTER.to_owned(),
        platform: "linux".to_owned(),
        mount_label: String::new(),
        process_label: String::new(),
        app_armor_profile: String::new(),
        exec_ids: {
            let ids = c.exec_ids.lock().unwrap_or_else(|p| p.into_inner()).clone();
            if ids.is_empty() { None } else { Some(ids) }
        },
        host_config: Some(r.host_config.clone()),
        graph_driver: GraphDriver { data: graph, name: crate::unpack::SNAPSHOTTER.to_owned() },
        size_rw: None,
        size_root_fs: None,
        mounts: Some(r.mounts.clone()),
        config: Some(r.config.clone()),
        network_settings: Some(NetworkSettings {
            sandbox_id: r.netns.as_ref().map(|_| r.id.clone()).unwrap_or_default(),
            sandbox_key: r.netns.as_ref().map(|p| p.display().to_string()).unwrap_or_default(),
            ports: Some(crate::network::inspect_ports(
                r.config.exposed_ports.as_ref(),
                published(&r),
            )),
            endpoint_id: bridge.map(|b| b.endpoint_id.clone()).unwrap_or_default(),
            gateway: bridge.and_then(|b| b.gateway).map(|g| g.to_string()).unwrap_or_default(),
            ip_address: bridge.and_then(|b| b.ip).map(|i| i.to_string()).unwrap_or_default(),
            ip_prefix_len: bridge.map(|b| i64::from(b.prefix_len)).unwrap_or_default(),
            mac_address: bridge.map(|b| b.mac.clone()).unwrap_or_default(),
            networks: Some(networks),
            ..NetworkSettings::default()
        }),
        image_manifest_descriptor: None,
    }
}

/// The published ports of a container that has an address (dockerd shows none otherwise).
fn published(r: &Record) -> Option<&[crate::network::Binding]> {
    let addressed = r.state.is_running() && r.networks.values().any(|e| e.ip.is_some());
    addressed.then_some(r.ports.as_slice())
}

/// The container's endpoints by network name. Their `NetworkID` shows from the first start on:
/// dockerd's create stores only the endpoint config asked for, and connecting at start fills it.
fn endpoints(r: &Record) -> BTreeMap<String, EndpointSettings> {
    r.networks
        .iter()
        .map(|(name, ep)| {
            let user = super::network::user_defined(name);
            let mut settings = EndpointSettings {
                network_id: if r.state.has_been_started {
                    ep.network_id.clone()
                } else {
                    String::new()
                },
                endpoint_id: ep.endpoint_id.clone(),
                gateway: ep.gateway.map(|g| g.to_string()).unwrap_or_default(),
                ip_address: ep.ip.map(|i| i.to_string()).unwrap_or_default(),
                ip_prefix_len: i64::from(ep.prefix_len),
                mac_address: if ep.mac.is_empty() {
                    ep.mac_requested.clone().unwrap_or_default()
                } else {
                    ep.mac.clone()
                },
                driver_opts: (!ep.driver_opts.is_empty()).then(|| ep.driver_opts.clone()),
                aliases: (user || !ep.aliases.is_empty()).then(|| ep.aliases.clone()),
                ipam_config: ep.ipv4_requested.map(|ip| EndpointIpamConfig {
                    ipv4_address: ip.to_string(),
                    ..EndpointIpamConfig::default()
                }),
                ..EndpointSettings::default()
            };
            if user {
                // dockerd's order: name, aliases, short ID, hostname; no duplicates.
                let mut names = vec![r.short_name().to_owned()];
                names.extend(ep.aliases.iter().cloned());
                names.push(r.id[..12].to_owned());
                names.push(r.config.hostname.clone());
                let mut seen = std::collections::BTreeSet::new();
                names.retain(|n| !n.is_empty() && seen.insert(n.clone()));
                settings.dns_names = Some(names);
            }
            (name.clone(), settings)
        })
        .collect()
}

/// One entry of `GET /containers/json`.
pub(crate) fn summary(c: &Container) -> ContainerSummary {
    c.with(summary_of)
}

/// One entry of `GET /containers/json`, read from the record in place (listing 100 containers
/// copied each whole record first: most of the list's cost, in the bench's profile).
fn summary_of(r: &Record) -> ContainerSummary {
    let command = list_command(&r.path, &r.args);
    ContainerSummary {
        id: r.id.clone(),
        names: Some(vec![r.name.clone()]),
        image: r.config.image.clone(),
        image_id: r.image_id.clone(),
        image_manifest_descriptor: None,
        command,
        created: parse_time(&r.created).map(|t| t.unix_timestamp()).unwrap_or_default(),
        ports: Some(crate::network::summary_ports(r.config.exposed_ports.as_ref(), published(r))),
        size_rw: 0,
        size_root_fs: 0,
        labels: Some(r.config.labels.clone().unwrap_or_default()),
        state: r.state.status.as_str().to_owned(),
        status: human_status(r, time::OffsetDateTime::now_utc()),
        host_config: SummaryHostConfig {
            network_mode: r.host_config.network_mode.clone(),
            annotations: r.host_config.annotations.clone(),
        },
        network_settings: Some(SummaryNetworkSettings { networks: Some(endpoints(r)) }),
        mounts: Some(r.mounts.clone()),
    }
}

/// The `Command` of a list entry: the path and the arguments, each argument holding a space in
/// single quotes (moby `container/view.go`; no other quoting or escaping).
fn list_command(path: &str, args: &[String]) -> String {
    let mut command = path.to_owned();
    for a in args {
        command.push(' ');
        if a.contains(' ') {
            command.push('\'');
            command.push_str(a);
            command.push('\'');
        } else {
            command.push_str(a);
        }
    }
    command
}

/// The `Status` column of `docker ps`.
pub(crate) fn human_status(r: &Record, now: time::OffsetDateTime) -> String {
    let since = |t: &str| -> String {
        let elapsed = parse_time(t).map(|t| now - t).unwrap_or_default();
        human_duration(Duration::from_secs_f64(elapsed.as_seconds_f64().max(0.0)))
    };
    let s = &r.state;
    match s.status {
        Status::Running | Status::Paused => {
            let mut out = format!("Up {}", since(&s.started_at));
            if s.status == Status::Paused {
                out.push_str(" (Paused)");
            } else if let Some(h) = &s.health {
                out.push_str(&format!(" ({})", health_word(&h.status)));
            }
            out
        }
        Status::Restarting => {
            format!("Restarting ({}) {} ago", s.exit_code, since(&s.finished_at))
        }
        Status::Removing => "Removal In Progress".to_owned(),
        Status::Dead => "Dead".to_owned(),
        Status::Created => "Created".to_owned(),
        Status::Exited => {
            if parse_time(&s.finished_at).is_none() {
                "Created".to_owned()
            } else {
                format!("Exited ({}) {} ago", s.exit_code, since(&s.finished_at))
            }
        }
    }
}

fn health_word(status: &str) -> String {
    if status == "starting" { "health: starting".to_owned() } else { status.to_owned() }
}

/// go-units `HumanDuration`.
pub(crate) fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    let minutes = seconds / 60;
    let hours = (d.as_secs_f64() / 3600.0 + 0.5) as u64;
    match () {
        _ if seconds < 1 => "Less than a second".to_owned(),
        _ if seconds == 1 => "1 second".to_owned(),
        _ if seconds < 60 => format!("{seconds} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", hours / 24 / 365),
    }
}

/// The accepted `status` filter values, in the order dockerd's message lists them.
const STATUSES: [&str; 7] =
    ["created", "running", "paused", "restarting", "removing", "exited", "dead"];

/// Checks filter values that can be wrong independently of the containers.
pub(crate) fn check_filters(filters: &Filters) -> Result<()> {
    for s in filters.get("status") {
        if !STATUSES.contains(&s) {
            // moby 28 `daemon/list.go` wrapping `container.ValidateContainerState`.
            return Err(Error::invalid(format!(
                "invalid filter 'status={s}': invalid value for state ({s}): must be one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    for e in filters.get("exited") {
        if e.parse::<i64>().is_err() {
            return Err(Error::invalid(format!("invalid filter 'exited={e}'")));
        }
    }
    for h in filters.get("health") {
        if !["starting", "healthy", "unhealthy", "none"].contains(&h) {
            return Err(Error::invalid(format!("Unrecognized filter value for health: {h}")));
        }
    }
    if let Some(v) = filters.get("is-task").next()
        && !["true", "false"].contains(&v)
    {
        return Err(Error::invalid(format!("Unrecognized filter value for is-task: {v}")));
    }
    Ok(())
}

/// Whether `r` passes the filters (besides `before`/`since`, applied by the caller, and
/// `ancestor`, given as the set of matching image IDs).
pub(crate) fn matches(r: &Record, filters: &Filters, ancestors: Option<&[String]>) -> bool {
    let labels = r.config.labels.clone().unwrap_or_default();
    if !filters.match_labels("label", |k| labels.get(k).map(String::as_str)) {
        return false;
    }
    if filters.contains("id") && !filters.get("id").any(|p| r.id.starts_with(p)) {
        return false;
    }
    if filters.contains("name")
        && !filters.get("name").any(|n| {
            let n = n.trim_start_matches('/');
            r.short_name().contains(n)
        })
    {
        return false;
    }
    if filters.contains("status") && !filters.get("status").any(|s| s == r.state.status.as_str()) {
        return false;
    }
    if filters.contains("exited") {
        if r.state.status != Status::Exited {
            return false;
        }
        if !filters.get("exited").any(|e| e.parse::<i64>().ok() == Some(r.state.exit_code)) {
            return false;
        }
    }
    if filters.contains("health") {
        let status = r.state.health.as_ref().map_or("none", |h| h.status.as_str());
        if !filters.get("health").any(|h| h == status) {
            return false;
        }
    }
    if filters.contains("network")
        && !filters
            .get("network")
            .any(|n| r.networks.iter().any(|(name, ep)| name == n || ep.network_id.starts_with(n)))
    {
        return false;
    }
    if filters.contains("volume")
        && !filters
            .get("volume")
            .any(|v| r.mounts.iter().any(|m| m.source == v || m.name == v || m.destination == v))
    {
        return false;
    }
    if filters.get("is-task").any(|v| v == "true") {
        return false;
    }
    if filters.contains("publish") || filters.contains("expose") {
        let exposed = r.config.exposed_ports.clone().unwrap_or_default();
        let wanted = |v: &str| {
            let v = if v.contains('/') { v.to_owned() } else { format!("{v}/tcp") };
            exposed.contains_key(&v)
        };
        if filters.contains("expose") && !filters.get("expose").any(wanted) {
            return false;
        }
        if filters.contains("publish") {
            let published = |v: &str| {
                let (port, proto) = v.split_once('/').unwrap_or((v, "tcp"));
                r.ports.iter().any(|b| {
                    b.proto.to_string() == proto
                        && (b.host_port.to_string() == port || b.container_port.to_string() == port)
                })
            };
            if !filters.get("publish").any(published) {
                return false;
            }
        }
    }
    if let Some(ids) = ancestors
        && !ids.contains(&r.image_id)
    {
        return false;
    }
    true
}

/// Mount points from `Binds`, `Mounts` and `Tmpfs`, checked as dockerd does
/// (`registerMountPoints`): a bind's destination must be new among the binds and the `Tmpfs`
/// targets, a mount's among the binds and the earlier mounts.
pub(crate) fn mount_points(hc: &HostConfig) -> Result<Vec<MountPoint>> {
    let mut out: Vec<MountPoint> = Vec::new();
    let tmpfs = hc.tmpfs.as_ref();
    let duplicate =
        |out: &[MountPoint], destination: &str| out.iter().any(|m| m.destination == destination);
    for bind in hc.binds.iter().flatten() {
        let point = parse_bind(bind)?;
        if duplicate(&out, &point.destination)
            || tmpfs.is_some_and(|t| t.contains_key(&point.destination))
        {
            return Err(Error::invalid(format!("Duplicate mount point: {}", point.destination)));
        }
        out.push(point);
    }
    for m in hc.mounts.iter().flatten() {
        if !m.target.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid mount config for type \"{}\": invalid mount path: '{}' mount path must be absolute",
                m.kind, m.target
            )));
        }
        match m.kind.as_str() {
            "bind" => {
                if m.source.is_empty() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"bind\": field Source must not be empty",
                    ));
                }
                if !std::path::Path::new(&m.source).exists() {
                    return Err(Error::invalid(format!(
                        "invalid mount config for type \"bind\": bind source path does not exist: {}",
                        m.source
                    )));
                }
                let propagation = m
                    .bind_options
                    .as_ref()
                    .map(|o| o.propagation.clone())
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| "rprivate".to_owned());
                out.push(MountPoint {
                    kind: "bind".to_owned(),
                    source: m.source.clone(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    propagation,
                    ..MountPoint::default()
                });
            }
            "tmpfs" => {
                if !m.source.is_empty() {
                    return Err(Error::invalid(
                        "invalid mount config for type \"tmpfs\": field Source must not be specified",
                    ));
                }
                out.push(MountPoint {
                    kind: "tmpfs".to_owned(),
                    destination: m.target.clone(),
                    rw: !m.read_only,
                    ..MountPoint::default()
                });
            }
            "volume" => out.push(super::volumes::volume_mount(m)?),
            other => {
                return Err(Error::invalid(format!(
                    "invalid mount config for type \"{other}\": mount type unknown"
                )));
            }
        }
        if let Some((added, earlier)) = out.split_last()
            && duplicate(earlier, &added.destination)
        {
            return Err(Error::invalid(format!("Duplicate mount point: {}", m.target)));
        }
    }
    for target in hc.tmpfs.iter().flat_map(|t| t.keys()) {
        if !target.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid mount path: '{target}' mount path must be absolute"
            )));
        }
    }
    Ok(out)
}

/// `-v host:container[:opts]`.
fn parse_bind(spec: &str) -> Result<MountPoint> {
    let invalid =
        |why: &str| Error::invalid(format!("invalid volume specification: '{spec}'{why}"));
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, destination, mode) = match parts.as_slice() {
        [dst] => ("", *dst, ""),
        [src, dst] => (*src, *dst, ""),
        [src, dst, mode] => (*src, *dst, *mode),
        _ => return Err(invalid("")),
    };
    if !source.starts_with('/') {
        return super::volumes::volume_bind(spec, source, destination, mode);
    }
    if !destination.starts_with('/') {
        return Err(invalid(&format!(
            ": invalid mount config for type \"bind\": invalid mount path: '{destination}' mount path must be absolute"
        )));
    }
    let mut rw = true;
    let mut propagation = "rprivate".to_owned();
    for opt in mode.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => rw = false,
            "rw" | "z" | "Z" | "nocopy" => {}
            "private" | "rprivate" | "shared" | "rshared" | "slave" | "rslave" => {
                propagation = opt.to_owned();
            }
            _ => return Err(invalid("")),
        }
    }
    Ok(MountPoint {
        kind: "bind".to_owned(),
        source: source.to_owned(),
        destination: destination.to_owned(),
        mode: mode.to_owned(),
        rw,
        propagation,
        ..MountPoint::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::record::{Endpoint, State, ZERO_TIME};

    #[test]
    fn durations_read_as_docker_ps_shows_them() {
        assert_eq!(human_duration(Duration::from_millis(300)), "Less than a second");
        assert_eq!(human_duration(Duration::from_secs(1)), "1 second");
        assert_eq!(human_duration(Duration::from_secs(59)), "59 seconds");
        assert_eq!(human_duration(Duration::from_secs(61)), "About a minute");
        assert_eq!(human_duration(Duration::from_secs(600)), "10 minutes");
        assert_eq!(human_duration(Duration::from_secs(3600)), "About an hour");
        assert_eq!(human_duration(Duration::from_secs(5 * 3600)), "5 hours");
        assert_eq!(human_duration(Duration::from_secs(3 * 86400)), "3 days");
    }

    #[test]
    fn binds_parse_and_fail_like_dockerd() {
        let m = parse_bind("/src:/dst:ro,rshared").expect("bind");
        assert!(!m.rw);
        assert_eq!(m.propagation, "rshared");
        assert_eq!(m.mode, "ro,rshared");
        let e = parse_bind("/src:rel").expect_err("relative");
        assert!(e.message().contains("mount path must be absolute"), "{e}");
        assert!(parse_bind("/a:/b:bogus").is_err());
        assert_eq!(parse_bind("named:/data").expect("volume").kind, "volume");
    }

    #[test]
    fn status_filter_values_are_checked() {
        let mut f = Filters::default();
        f.add("status", "sleeping");
        assert_eq!(
            check_filters(&f).expect_err("bad").message(),
            "invalid filter 'status=sleeping': invalid value for state (sleeping): must be one of created, running, paused, restarting, removing, exited, dead"
        );
        let mut f = Filters::default();
        for s in STATUSES {
            f.add("status", s);
        }
        assert!(check_filters(&f).is_ok());
    }

    #[test]
    fn list_command_quotes_arguments_with_spaces() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            list_command("sh", &args(&["-c", "echo hi; exec sleep 1000"])),
            "sh -c 'echo hi; exec sleep 1000'"
        );
        // Only a space counts; quotes inside are not escaped, as in dockerd.
        assert_eq!(list_command("echo", &args(&["a\tb", "it's x"])), "echo a\tb 'it's x'");
        assert_eq!(list_command("top", &[]), "top");
    }

    fn record(started: bool) -> Record {
        let id = "0123456789ab".repeat(5) + "cdef";
        let mut networks = BTreeMap::new();
        networks.insert(
            "bridge".to_owned(),
            Endpoint { network_id: "f".repeat(64), ..Default::default() },
        );
        Record {
            name: "/web".to_owned(),
            created: "2024-01-01T00:00:00.000000000Z".to_owned(),
            path: "sh".to_owned(),
            args: vec!["-c".to_owned(), "sleep 1".to_owned()],
            config: berth_api::container::Config::default(),
            host_config: HostConfig::default(),
            image_id: String::new(),
            chain_id: String::new(),
            state: State {
                status: if started { Status::Exited } else { Status::Created },
                has_been_started: started,
                started_at: ZERO_TIME.to_owned(),
                finished_at: ZERO_TIME.to_owned(),
                ..Default::default()
            },
            restart_count: 0,
            mounts: Vec::new(),
            networks,
            netns: None,
            ports: Vec::new(),
            id,
        }
    }

    #[test]
    fn files_and_network_ids_show_from_the_first_start() {
        let dir = std::path::PathBuf::from("/data/containers/x");
        let created = Container::new(record(false), dir.clone());
        let i = inspect(&created, None);
        for path in [&i.hostname_path, &i.hosts_path, &i.resolv_conf_path, &i.log_path] {
            assert_eq!(path, "", "empty before the first start");
        }
        let net = |i: &ContainerInspect| {
            i.network_settings.clone().expect("settings").networks.expect("networks")["bridge"]
                .network_id
                .clone()
        };
        assert_eq!(net(&i), "");
        let listed = summary(&created);
        assert_eq!(listed.command, "sh -c 'sleep 1'");
        let listed_net = |s: &ContainerSummary| {
            s.network_settings.clone().expect("settings").networks.expect("networks")["bridge"]
                .network_id
                .clone()
        };
        assert_eq!(listed_net(&listed), "");

        let started = Container::new(record(true), dir.clone());
        let i = inspect(&started, None);
        assert_eq!(i.hostname_path, "/data/containers/x/hostname");
        assert_eq!(i.hosts_path, "/data/containers/x/hosts");
        assert_eq!(i.resolv_conf_path, "/data/containers/x/resolv.conf");
        assert_eq!(i.log_path, format!("/data/containers/x/{}-json.log", started.id));
        assert_eq!(net(&i), "f".repeat(64));
        assert_eq!(listed_net(&summary(&started)), "f".repeat(64));

        // Only the json-file driver shows its file.
        let mut r = record(true);
        r.host_config.log_config.kind = "none".to_owned();
        assert_eq!(inspect(&Container::new(r, dir), None).log_path, "");
    }

    #[test]
    fn mounts_are_refused_as_dockerd_refuses_them() {
        let weird = berth_api::container::Mount {
            kind: "weird".to_owned(),
            source: "/tmp".to_owned(),
            target: "/x".to_owned(),
            ..Default::default()
        };
        let hc = HostConfig { mounts: Some(vec![weird]), ..HostConfig::default() };
        assert_eq!(
            mount_points(&hc).expect_err("unknown type").message(),
            "invalid mount config for type \"weird\": mount type unknown"
        );

        // A bind on a Tmpfs target.
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/data".to_owned()]),
            tmpfs: Some([("/data".to_owned(), String::new())].into()),
            ..HostConfig::default()
        };
        let e = mount_points(&hc).expect_err("bind over tmpfs");
        assert_eq!(
            (e.kind(), e.message()),
            (berth_api::ErrorKind::InvalidParameter, "Duplicate mount point: /data")
        );
        // Two binds, and a mount over a bind.
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/data".to_owned(), "/var:/data:ro".to_owned()]),
            ..HostConfig::default()
        };
        assert_eq!(
            mount_points(&hc).expect_err("two binds").message(),
            "Duplicate mount point: /data"
        );
        let tmpfs_mount = berth_api::container::Mount {
            kind: "tmpfs".to_owned(),
            target: "/data".to_owned(),
            ..Default::default()
        };
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/data".to_owned()]),
            mounts: Some(vec![tmpfs_mount.clone()]),
            ..HostConfig::default()
        };
        assert_eq!(
            mount_points(&hc).expect_err("mount over bind").message(),
            "Duplicate mount point: /data"
        );
        // dockerd checks a mount against the binds and the earlier mounts only, not `Tmpfs`.
        let hc = HostConfig {
            mounts: Some(vec![tmpfs_mount]),
            tmpfs: Some([("/data".to_owned(), String::new())].into()),
            ..HostConfig::default()
        };
        assert_eq!(mount_points(&hc).expect("mount beside tmpfs").len(), 1);
        // Distinct targets are fine, and Tmpfs entries are no mount points of their own.
        let hc = HostConfig {
            binds: Some(vec!["/tmp:/a".to_owned()]),
            tmpfs: Some([("/b".to_owned(), String::new())].into()),
            ..HostConfig::default()
        };
        assert_eq!(mount_points(&hc).expect("distinct").len(), 1);
    }
}
