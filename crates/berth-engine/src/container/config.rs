//! From a create request and an image config to what a container is: dockerd's merge of the
//! image defaults into `Config`, its checks of `HostConfig`, and the defaults it fills in.
//!
//! Facts from moby `daemon/create.go` (merge), `daemon/container.go`
//! (`verifyContainerSettings`), `daemon/daemon_unix.go` (`verifyPlatformContainerResources`,
//! `adaptContainerSettings`, `parseSecurityOpt`) and `runconfig/hostconfig_unix.go`.

use std::collections::BTreeMap;

use berth_api::Error;
use berth_api::container::{Config, HostConfig};
use berth_api::image::HealthConfig;
use serde_json::Value;

/// Smallest memory limit dockerd accepts (6 MiB).
const MIN_MEMORY: i64 = 6 * 1024 * 1024;

/// Merges the image's config (`config` object of the image config JSON) into `config` as dockerd
/// does: user, env (the container's first, then the image's entries for keys it does not set),
/// labels (always an object), exposed ports, volumes, working dir, stop signal, health check, and
/// the entrypoint/cmd rule.
pub(crate) fn merge_image(config: &mut Config, image: &Value) {
    let strings = |key: &str| -> Option<Vec<String>> {
        image[key]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
    };
    let text = |key: &str| image[key].as_str().unwrap_or_default().to_owned();
    if config.user.is_empty() {
        config.user = text("User");
    }
    match config.env.as_mut() {
        Some(env) if !env.is_empty() => {
            // Checked against the growing list: of two image entries with one key, the first wins.
            for entry in strings("Env").unwrap_or_default() {
                if !env.iter().any(|e| env_key(e) == env_key(&entry)) {
                    env.push(entry);
                }
            }
        }
        _ => config.env = strings("Env"),
    }
    let labels = config.labels.get_or_insert_with(BTreeMap::new);
    for (k, v) in image["Labels"].as_object().into_iter().flatten() {
        if let Some(v) = v.as_str() {
            labels.entry(k.clone()).or_insert_with(|| v.to_owned());
        }
    }
    for (key, target) in
        [("ExposedPorts", &mut config.exposed_ports), ("Volumes", &mut config.volumes)]
    {
        if let Some(set) = image[key].as_object() {
            let merged = target.get_or_insert_with(BTreeMap::new);
            for k in set.keys() {
                merged.entry(k.clone()).or_default();
            }
        }
    }
    if config.entrypoint.as_ref().is_none_or(Vec::is_empty) {
        if config.cmd.as_ref().is_none_or(Vec::is_empty) {
            config.cmd = strings("Cmd");
        }
        if config.entrypoint.is_none() {
            config.entrypoint = strings("Entrypoint");
        }
    }
    if config.working_dir.is_empty() {
        config.working_dir = text("WorkingDir");
    }
    if config.stop_signal.is_empty() {
        config.stop_signal = text("StopSignal");
    }
    if config.on_build.is_none() {
        config.on_build = strings("OnBuild");
    }
    if config.shell.is_none() {
        config.shell = strings("Shell");
    }
    let image_health: Option<HealthConfig> =
        serde_json::from_value(image["Healthcheck"].clone()).ok();
    match (&mut config.healthcheck, image_health) {
        (None, Some(h)) => config.healthcheck = Some(h),
        (Some(own), Some(h)) => {
            if own.test.is_empty() {
                own.test = h.test;
            }
            for (mine, theirs) in [
                (&mut own.interval, h.interval),
                (&mut own.timeout, h.timeout),
                (&mut own.start_period, h.start_period),
                (&mut own.start_interval, h.start_interval),
                (&mut own.retries, h.retries),
            ] {
                if *mine == 0 {
                    *mine = theirs;
                }
            }
        }
        _ => {}
    }
}

/// The name part of a `NAME=value` environment entry.
fn env_key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// The process's path and arguments: entrypoint + cmd; 400 `no command specified` when both are
/// empty.
pub(crate) fn command(config: &Config) -> Result<(String, Vec<String>), Error> {
    let mut argv: Vec<String> = config.entrypoint.clone().unwrap_or_default();
    argv.extend(config.cmd.clone().unwrap_or_default());
    let mut argv = argv.into_iter();
    match argv.next() {
        Some(path) if !path.is_empty() => Ok((path, argv.collect())),
        _ => Err(Error::invalid("no command specified")),
    }
}

/// dockerd's checks of a host config at create (and the resource part at update).
pub(crate) fn validate_host_config(hc: &HostConfig) -> Result<(), Error> {
    validate_restart_policy(hc)?;
    validate_resources(&hc.resources)?;
    if hc.storage_opt.as_ref().is_some_and(|o| !o.is_empty()) {
        // dockerd's answer on every backing filesystem but xfs with project quotas; Berth's
        // snapshots have no size limits.
        return Err(Error::invalid(
            "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
        ));
    }
    if hc.shm_size < 0 {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    if !(-1000..=1000).contains(&hc.oom_score_adj) {
        return Err(Error::invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    crate::network::validate_extra_hosts(hc.extra_hosts.as_deref().unwrap_or_default())?;
    let security = security_options(hc.security_opt.as_deref().unwrap_or_default())?;
    super::seccomp::Seccomp::parse(security.seccomp.as_deref())?;
    Ok(())
}

/// What `HostConfig.SecurityOpt` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SecurityOptions {
    /// `no-new-privileges[=<bool>]`.
    pub(crate) no_new_privileges: bool,
    /// `writable-cgroups[=<bool>]`; unset, the cgroup mount is writable only when privileged.
    pub(crate) writable_cgroups: Option<bool>,
    /// Berth's `systempaths=unconfined` (the docker CLI turns it into empty path lists).
    pub(crate) systempaths_unconfined: bool,
    /// The `seccomp=` value: `builtin`, `unconfined` or a JSON profile; the last one counts.
    pub(crate) seccomp: Option<String>,
}

/// Reads security options as dockerd's `parseSecurityOpt` does: `key=value` (or the deprecated
/// `key:value`), a few bare words, and its two refusals. `label=` (SELinux) and `apparmor=` are
/// accepted and have no effect, as on a dockerd host without SELinux or AppArmor.
pub(crate) fn security_options(options: &[String]) -> Result<SecurityOptions, Error> {
    let mut out = SecurityOptions::default();
    for option in options {
        match option.as_str() {
            "no-new-privileges" => {
                out.no_new_privileges = true;
                continue;
            }
            "writable-cgroups" => {
                out.writable_cgroups = Some(true);
                continue;
            }
            // `label=disable`'s short form.
            "disable" => continue,
            _ => {}
        }
        let (key, value) = option
            .split_once('=')
            .or_else(|| option.split_once(':'))
            .ok_or_else(|| Error::invalid(format!("invalid --security-opt 1: {option:?}")))?;
        let invalid = || Error::invalid(format!("invalid --security-opt 2: {option:?}"));
        match key {
            "label" | "apparmor" => {}
            "seccomp" => out.seccomp = Some(value.to_owned()),
            "no-new-privileges" => {
                out.no_new_privileges =
                    berth_api::params::parse_go_bool(value).ok_or_else(invalid)?
            }
            "writable-cgroups" => {
                out.writable_cgroups =
                    Some(berth_api::params::parse_go_bool(value).ok_or_else(invalid)?)
            }
            "systempaths" if value == "unconfined" => out.systempaths_unconfined = true,
            _ => return Err(invalid()),
        }
    }
    Ok(out)
}

fn validate_restart_policy(hc: &HostConfig) -> Result<(), Error> {
    let policy = &hc.restart_policy;
    match policy.name.as_str() {
        "" | "no" | "always" | "unless-stopped" => {
            if policy.maximum_retry_count != 0 {
                let negative =
                    if policy.maximum_retry_count < 0 { " and cannot be negative" } else { "" };
                return Err(Error::invalid(format!(
                    "invalid restart policy: maximum retry count can only be used with 'on-failure'{negative}"
                )));
            }
        }
        "on-failure" => {
            if policy.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )));
        }
    }
    if hc.auto_remove && !matches!(policy.name.as_str(), "" | "no") {
        return Err(Error::invalid("can't create 'AutoRemove' container with restart policy"));
    }
    Ok(())
}

/// dockerd's swap defaults at create: where the kernel cannot limit swap, a memory limit comes
/// without a swap limit (-1) and dockerd's warning; otherwise a memory limit without a swap
/// limit gets memory+swap at twice the memory (`adaptContainerSettings`).
pub(crate) fn default_swap(r: &mut berth_api::container::Resources, warnings: &mut Vec<String>) {
    if r.memory > 0 && r.memory_swap != -1 && !crate::cgroups::cgroup_features().swap {
        warnings.push(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap."
                .to_owned(),
        );
        r.memory_swap = -1;
    }
    if r.memory > 0 && r.memory_swap == 0 {
        r.memory_swap = r.memory.saturating_mul(2);
    }
}

/// dockerd's resource checks (`verifyPlatformContainerResources`), for create and update.
pub(crate) fn validate_resources(r: &berth_api::container::Resources) -> Result<(), Error> {
    if r.memory != 0 && r.memory < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if r.memory_swap > 0 && r.memory == 0 {
        return Err(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory_reservation != 0 && r.memory_reservation < MIN_MEMORY {
        return Err(Error::invalid("Minimum memory reservation allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return Err(Error::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if let Some(s) = r.memory_swappiness
        && s != -1
        && !(0..=100).contains(&s)
    {
        return Err(Error::invalid(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if r.nano_cpus > 0 && r.cpu_period > 0 {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.nano_cpus > 0 && r.cpu_quota > 0 {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
        ));
    }
    let cpus = std::thread::available_parallelism().map(usize::from).unwrap_or(1) as i64;
    if r.nano_cpus < 0 || r.nano_cpus > cpus * 1_000_000_000 {
        return Err(Error::invalid(format!(
            "Range of CPUs is from 0.01 to {cpus}.00, as there are only {cpus} CPUs available"
        )));
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(Error::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(Error::invalid("CPU cfs quota can not be less than 1ms (i.e. 1000)"));
    }
    if r.cpu_shares < 0 {
        return Err(Error::invalid(format!("invalid CPU shares: {}", r.cpu_shares)));
    }
    for (what, value) in [("cpus", &r.cpuset_cpus), ("mems", &r.cpuset_mems)] {
        if let Err(why) = check_cpuset(value) {
            return Err(Error::invalid(format!("Invalid value {value} for cpuset {what}: {why}")));
        }
    }
    if r.blkio_weight > 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    Ok(())
}

/// Highest CPU or memory node number a cpuset list may name (moby `pkg/sysinfo`
/// `defaultMaxCPUs`, the kernel's usual limit; it keeps `0-9223372036854775807` from costing
/// memory in dockerd).
const MAX_CPUSET: i64 = 8192;

/// Checks a `0-2,4`-style list as moby's `parseUintList` does; the error is its wording, which
/// dockerd appends to its own.
fn check_cpuset(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    let invalid = || format!("invalid format: {value}");
    let number = |n: &str| n.parse::<i64>().map_err(|_| invalid());
    let in_range = |n: i64| {
        if n > MAX_CPUSET {
            Err(format!("value of out range, maximum is {MAX_CPUSET}"))
        } else {
            Ok(())
        }
    };
    for part in value.split(',') {
        match part.split_once('-') {
            None => in_range(number(part)?)?,
            Some((lo, hi)) => {
                let (lo, hi) = (number(lo)?, number(hi)?);
                if hi < lo {
                    return Err(invalid());
                }
                in_range(hi)?;
            }
        }
    }
    Ok(())
}

/// Fills the defaults dockerd 28 reports in inspect: restart policy `no`, log driver
/// `json-file`, `/dev/shm` size, IPC and cgroup namespace modes, network mode `bridge` (its API
/// router's answer to an empty or `default` mode), the masked and read-only paths of an
/// unprivileged container, `OomKillDisable` where the kernel has it, and runtime `runc`.
pub(crate) fn fill_defaults(hc: &mut HostConfig) {
    if hc.restart_policy.name.is_empty() {
        hc.restart_policy.name = "no".to_owned();
    }
    if hc.log_config.kind.is_empty() {
        hc.log_config.kind = "json-file".to_owned();
    }
    if hc.log_config.config.is_none() {
        hc.log_config.config = Some(BTreeMap::new());
    }
    if hc.shm_size == 0 {
        hc.shm_size = crate::runtime::spec::DEFAULT_SHM_SIZE;
    }
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = "private".to_owned();
    }
    if hc.cgroupns_mode.is_empty() {
        // cgroup v1 hosts have no private cgroup namespaces by default.
        let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        hc.cgroupns_mode = if v2 { "private" } else { "host" }.to_owned();
    }
    if hc.network_mode.is_empty() || hc.network_mode == "default" {
        hc.network_mode = "bridge".to_owned();
    }
    // dockerd stores its default lists at create (`createContainerOSSpecificSettings`), so
    // inspect shows what the container gets; a privileged container gets none and keeps null.
    if !hc.privileged {
        // Berth's own `systempaths=unconfined` (the docker CLI sends empty lists instead);
        // options that do not parse are refused by `validate_host_config`.
        let unconfined = security_options(hc.security_opt.as_deref().unwrap_or_default())
            .is_ok_and(|s| s.systempaths_unconfined);
        if hc.masked_paths.is_none() {
            hc.masked_paths = Some(if unconfined {
                Vec::new()
            } else {
                crate::runtime::spec::default_masked_paths()
            });
        }
        if hc.readonly_paths.is_none() {
            hc.readonly_paths = Some(if unconfined {
                Vec::new()
            } else {
                crate::runtime::spec::DEFAULT_READONLY_PATHS.map(str::to_owned).to_vec()
            });
        }
    }
    // `adaptContainerSettings` stores `false`. On a kernel without the knob (cgroup v2, or no
    // v1 memory controller) dockerd's checks at start drop it to null again; Berth leaves it
    // null there from the create on.
    if hc.resources.oom_kill_disable.is_none() && oom_kill_disable_supported() {
        hc.resources.oom_kill_disable = Some(false);
    }
    if hc.runtime.is_empty() {
        hc.runtime = DEFAULT_RUNTIME.to_owned();
    }
}

/// The runtime dockerd names when a create asks for none (`Runtimes.Default`).
const DEFAULT_RUNTIME: &str = "runc";

/// Whether the kernel can disable the OOM killer per container: cgroup v1's
/// `memory.oom_control` (moby `pkg/sysinfo`); cgroup v2 has no such knob.
fn oom_kill_disable_supported() -> bool {
    std::path::Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists()
}

/// The signal number of `name` (`SIGTERM`, `TERM`, `15`), as dockerd's `signal.ParseSignal`.
pub(crate) fn parse_signal(name: &str) -> Result<i32, Error> {
    let invalid = || Error::invalid(format!("Invalid signal: {name}"));
    if let Ok(n) = name.parse::<i32>() {
        return if (1..=64).contains(&n) { Ok(n) } else { Err(invalid()) };
    }
    let upper = name.to_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rt) = bare.strip_prefix("RTMIN") {
        let base = 34;
        let offset = if rt.is_empty() {
            Some(0)
        } else {
            rt.strip_prefix('+').and_then(|n| n.parse::<i32>().ok())
        };
        return offset.filter(|o| (0..=30).contains(o)).map(|o| base + o).ok_or_else(invalid);
    }
    if let Some(rt) = bare.strip_prefix("RTMAX") {
        let base = 64;
        let offset = if rt.is_empty() {
            Some(0)
        } else {
            rt.strip_prefix('-').and_then(|n| n.parse::<i32>().ok())
        };
        return offset.filter(|o| (0..=30).contains(o)).map(|o| base - o).ok_or_else(invalid);
    }
    let full = format!("SIG{bare}");
    full.parse::<nix::sys::signal::Signal>().map(|s| s as i32).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_defaults_merge_as_dockerd() {
        let image = json!({
            "Env": ["PATH=/bin", "A=1"],
            "Cmd": ["sh"],
            "Entrypoint": null,
            "WorkingDir": "/w",
            "Labels": {"l": "image", "k": "image"},
            "ExposedPorts": {"80/tcp": {}},
            "User": "nobody",
        });
        let mut c = Config {
            env: Some(vec!["A=2".into(), "B=3".into()]),
            labels: Some([("k".to_owned(), "mine".to_owned())].into()),
            ..Config::default()
        };
        merge_image(&mut c, &image);
        // The request's entries first, then the image's for keys it does not set.
        assert_eq!(c.env, Some(vec!["A=2".into(), "B=3".into(), "PATH=/bin".into()]));
        assert_eq!(c.cmd, Some(vec!["sh".into()]));
        assert_eq!(c.working_dir, "/w");
        assert_eq!(c.user, "nobody");
        let labels = c.labels.expect("labels");
        assert_eq!(labels["k"], "mine");
        assert_eq!(labels["l"], "image");
        assert!(c.exposed_ports.expect("ports").contains_key("80/tcp"));

        // An explicit entrypoint drops the image's cmd.
        let image = json!({"Cmd": ["default"], "Entrypoint": ["/init"]});
        let mut c = Config { entrypoint: Some(vec!["/mine".into()]), ..Config::default() };
        merge_image(&mut c, &image);
        assert_eq!(c.cmd, None);
        assert_eq!(command(&c).expect("command"), ("/mine".to_owned(), vec![]));
        // An empty entrypoint resets the image's, keeping the image cmd.
        let mut c = Config { entrypoint: Some(vec![]), ..Config::default() };
        merge_image(&mut c, &image);
        assert_eq!(command(&c).expect("command"), ("default".to_owned(), vec![]));
        let none = Config::default();
        assert_eq!(command(&none).expect_err("empty").message(), "no command specified");
    }

    #[test]
    fn env_and_labels_merge_as_dockerd_28() {
        // No request env: the image's as it is.
        let image = json!({"Env": ["A=1", "B=2", "A=3"]});
        let mut c = Config { env: Some(vec![]), ..Config::default() };
        merge_image(&mut c, &image);
        assert_eq!(c.env, Some(vec!["A=1".into(), "B=2".into(), "A=3".into()]));
        // Image entries whose key is set (a bare `B` sets it too) stay out; of two image
        // entries with one key, the first comes in.
        let mut c = Config { env: Some(vec!["B".into(), "C=x=y".into()]), ..Config::default() };
        merge_image(&mut c, &image);
        assert_eq!(c.env, Some(vec!["B".into(), "C=x=y".into(), "A=1".into()]));

        // Labels are an object even when neither side has any.
        let mut c = Config::default();
        merge_image(&mut c, &json!({"Cmd": ["sh"]}));
        assert_eq!(c.labels, Some(BTreeMap::new()));
        assert_eq!(c.env, None);
        let mut c = Config::default();
        merge_image(&mut c, &json!({"Labels": null}));
        assert_eq!(
            serde_json::to_value(&c).expect("config")["Labels"],
            json!({}),
            "inspect shows {{}}, not null"
        );
    }

    #[test]
    fn create_defaults_are_dockerd_28_ones() {
        let mut hc = HostConfig::default();
        fill_defaults(&mut hc);
        assert_eq!(hc.network_mode, "bridge");
        assert_eq!(hc.runtime, "runc");
        assert_eq!(hc.restart_policy.name, "no");
        let masked = hc.masked_paths.clone().expect("masked paths filled");
        assert_eq!(masked[..3], ["/proc/asound", "/proc/acpi", "/proc/interrupts"]);
        assert_eq!(masked, crate::runtime::spec::default_masked_paths());
        assert_eq!(
            hc.readonly_paths.as_deref().expect("readonly paths filled"),
            ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        );
        assert_eq!(hc.resources.oom_kill_disable.is_some(), oom_kill_disable_supported());
        assert_ne!(hc.resources.oom_kill_disable, Some(true));

        // What was asked for stays; a privileged container keeps null lists.
        let mut hc = HostConfig {
            network_mode: "default".into(),
            runtime: "io.containerd.runc.v2".into(),
            masked_paths: Some(vec!["/proc/x".into()]),
            ..HostConfig::default()
        };
        hc.resources.oom_kill_disable = Some(true);
        fill_defaults(&mut hc);
        assert_eq!(hc.network_mode, "bridge");
        assert_eq!(hc.runtime, "io.containerd.runc.v2");
        assert_eq!(hc.masked_paths, Some(vec!["/proc/x".into()]));
        assert!(hc.readonly_paths.is_some_and(|p| p.len() == 5));
        assert_eq!(hc.resources.oom_kill_disable, Some(true));
        let mut hc = HostConfig { privileged: true, ..HostConfig::default() };
        fill_defaults(&mut hc);
        assert_eq!((hc.masked_paths, hc.readonly_paths), (None, None));
        let mut hc = HostConfig {
            security_opt: Some(vec!["systempaths=unconfined".into()]),
            ..HostConfig::default()
        };
        fill_defaults(&mut hc);
        assert_eq!((hc.masked_paths, hc.readonly_paths), (Some(vec![]), Some(vec![])));
    }

    #[test]
    fn restart_policy_and_cpuset_errors_read_as_dockerd_28() {
        let policy = |name: &str, count: i64| {
            let mut hc = HostConfig::default();
            hc.restart_policy.name = name.into();
            hc.restart_policy.maximum_retry_count = count;
            validate_host_config(&hc).map_err(|e| e.message().to_owned())
        };
        assert_eq!(
            policy("on-failure", -1).expect_err("negative"),
            "invalid restart policy: maximum retry count cannot be negative"
        );
        assert_eq!(
            policy("always", 2).expect_err("count"),
            "invalid restart policy: maximum retry count can only be used with 'on-failure'"
        );
        assert_eq!(
            policy("no", -2).expect_err("negative count"),
            "invalid restart policy: maximum retry count can only be used with 'on-failure' and cannot be negative"
        );
        assert!(policy("on-failure", 3).is_ok());

        let cpuset = |cpus: &str, mems: &str| {
            let mut hc = HostConfig::default();
            hc.resources.cpuset_cpus = cpus.into();
            hc.resources.cpuset_mems = mems.into();
            validate_host_config(&hc).map_err(|e| e.message().to_owned())
        };
        assert_eq!(
            cpuset("abc", "").expect_err("cpus"),
            "Invalid value abc for cpuset cpus: invalid format: abc"
        );
        assert_eq!(
            cpuset("0", "1,3-2").expect_err("mems"),
            "Invalid value 1,3-2 for cpuset mems: invalid format: 1,3-2"
        );
        assert_eq!(
            cpuset("0-9000", "").expect_err("too high"),
            "Invalid value 0-9000 for cpuset cpus: value of out range, maximum is 8192"
        );
        for bad in ["-1", "1-", "1-2-3", "1,,2", " 1"] {
            assert!(cpuset(bad, "").is_err(), "{bad}");
        }
        for good in ["0", "0-0,0,1-7", "03,1-3", "3,2,1", "8192"] {
            assert!(cpuset(good, good).is_ok(), "{good}");
        }
    }

    #[test]
    fn host_config_checks_use_dockerd_wording() {
        let mut hc = HostConfig::default();
        hc.restart_policy.name = "sometimes".into();
        assert!(
            validate_host_config(&hc)
                .expect_err("policy")
                .message()
                .contains("unknown policy 'sometimes'")
        );
        hc.restart_policy.name = "always".into();
        hc.auto_remove = true;
        assert_eq!(
            validate_host_config(&hc).expect_err("rm").message(),
            "can't create 'AutoRemove' container with restart policy"
        );
        let mut hc = HostConfig::default();
        hc.resources.memory = 1024;
        assert_eq!(
            validate_host_config(&hc).expect_err("mem").message(),
            "Minimum memory limit allowed is 6MB"
        );
        let mut hc = HostConfig::default();
        hc.resources.cpuset_cpus = "1-0".into();
        assert!(validate_host_config(&hc).is_err());
        hc.resources.cpuset_cpus = "0-1,3".into();
        assert!(validate_host_config(&hc).is_ok());
        hc.extra_hosts = Some(vec!["db:notanip".into()]);
        assert_eq!(
            validate_host_config(&hc).expect_err("host").message(),
            "invalid IP address in add-host: \"notanip\""
        );
    }

    #[test]
    fn security_options_read_as_dockerd_reads_them() {
        let parse = |opts: &[&str]| {
            security_options(&opts.iter().map(|o| (*o).to_owned()).collect::<Vec<_>>())
        };
        let all = parse(&[
            "no-new-privileges",
            "label=disable",
            "disable",
            "label:type:svirt_t",
            "apparmor=unconfined",
            "writable-cgroups=false",
            "systempaths=unconfined",
            "seccomp=unconfined",
            "seccomp:{\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
        ])
        .expect("valid");
        assert_eq!(
            all,
            SecurityOptions {
                no_new_privileges: true,
                writable_cgroups: Some(false),
                systempaths_unconfined: true,
                // The last one counts; `key:value` is the deprecated spelling.
                seccomp: Some("{\"defaultAction\":\"SCMP_ACT_ALLOW\"}".into()),
            }
        );
        assert_eq!(parse(&[]).expect("none"), SecurityOptions::default());
        for (opt, nnp) in [("no-new-privileges=false", false), ("no-new-privileges:1", true)] {
            assert_eq!(parse(&[opt]).expect(opt).no_new_privileges, nnp, "{opt}");
        }
        assert_eq!(parse(&["writable-cgroups"]).expect("bare").writable_cgroups, Some(true));
        for (opt, want) in [
            ("unconfined", "invalid --security-opt 1: \"unconfined\""),
            ("", "invalid --security-opt 1: \"\""),
            ("seccmp=unconfined", "invalid --security-opt 2: \"seccmp=unconfined\""),
            ("no-new-privileges=yes", "invalid --security-opt 2: \"no-new-privileges=yes\""),
            ("writable-cgroups=on", "invalid --security-opt 2: \"writable-cgroups=on\""),
            ("systempaths=confined", "invalid --security-opt 2: \"systempaths=confined\""),
        ] {
            let err = parse(&[opt]).expect_err(opt);
            assert_eq!((err.kind(), err.message()), (berth_api::ErrorKind::InvalidParameter, want));
        }
    }

    #[test]
    fn a_bad_seccomp_profile_fails_the_create() {
        let hc = |opt: &str| HostConfig {
            security_opt: Some(vec![opt.to_owned()]),
            ..HostConfig::default()
        };
        for good in ["seccomp=builtin", "seccomp=unconfined", "seccomp={}"] {
            assert!(validate_host_config(&hc(good)).is_ok(), "{good}");
        }
        let err = validate_host_config(&hc("seccomp={\"defaultAction\": SCMP_ACT_ALLOW}"))
            .expect_err("not JSON");
        assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter);
        assert_eq!(
            err.message(),
            "Decoding seccomp profile failed: expected value at line 1 column 19"
        );
        let err = validate_host_config(&hc("bogus=1")).expect_err("unknown key");
        assert_eq!(err.message(), "invalid --security-opt 2: \"bogus=1\"");
    }

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("SIGTERM").expect("term"), 15);
        assert_eq!(parse_signal("kill").expect("kill"), 9);
        assert_eq!(parse_signal("10").expect("usr1"), 10);
        assert_eq!(parse_signal("RTMIN+2").expect("rt"), 36);
        assert_eq!(parse_signal("SIGNOPE").expect_err("bad").message(), "Invalid signal: SIGNOPE");
        assert!(parse_signal("0").is_err());
    }

    #[test]
    fn a_memory_limit_gets_dockerds_swap_default() {
        let mut warnings = Vec::new();
        let mut r = berth_api::container::Resources { memory: 64 << 20, ..Default::default() };
        default_swap(&mut r, &mut warnings);
        // Twice the memory where swap can be limited; otherwise no swap limit, said so.
        match r.memory_swap {
            -1 => assert_eq!(warnings.len(), 1, "{warnings:?}"),
            swap => assert_eq!((swap, warnings.len()), (128 << 20, 0)),
        }
        let mut none = berth_api::container::Resources::default();
        let mut quiet = Vec::new();
        default_swap(&mut none, &mut quiet);
        assert_eq!((none.memory_swap, quiet.len()), (0, 0), "no memory limit, no swap limit");
    }
}
