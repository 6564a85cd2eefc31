//! The OCI spec of a container run: its record and network turned into
//! [`crate::runtime::spec::SpecInput`], with the user resolved from the container's own
//! `/etc/passwd` and `/etc/group` and its working directory created, as dockerd does at start,
//! and its seccomp filter.

use std::path::PathBuf;

use berth_api::container::{Config, HostConfig};
use berth_api::{Error, Result};
use serde_json::Value;

use super::Container;
use super::config::SecurityOptions;
use super::manager::Manager;
use super::network::Attached;
use super::record::Record;
use super::seccomp::Seccomp;
use crate::runtime::spec::{self, MountSpec, Resources, SpecInput};
use crate::runtime::user;

/// Parent cgroup of every container (cgroupfs driver): `/berth/<id>`.
pub(crate) const CGROUP_PARENT: &str = "/berth";

/// Builds the spec of the next run of `c`.
pub(crate) async fn build(
    manager: &Manager,
    c: &Container,
    record: &Record,
    attached: &Attached,
) -> Result<Value> {
    let cfg = &record.config;
    let hc = &record.host_config;
    // Checked at create; read again because the record is what the run follows.
    let security = super::config::security_options(hc.security_opt.as_deref().unwrap_or_default())?;
    let seccomp = super::seccomp::Seccomp::parse(security.seccomp.as_deref())?;
    let mounts = manager.runtime.rootfs_mounts(&c.id).await?;
    let scratch = manager.paths.exec_root.join("mnt");
    std::fs::create_dir_all(&scratch).map_err(|e| {
        Error::system(format!("cannot create {}", scratch.display())).with_source(e)
    })?;
    let resolved = {
        let root = crate::fs::TempMount::new(mounts, &scratch)?;
        let files = user::load(root.path())?;
        let group_add = hc.group_add.clone().unwrap_or_default();
        let resolved = user::resolve(&cfg.user, &group_add, &files).map_err(|e| {
            Error::invalid(format!("unable to find user {}: {}", cfg.user, e.message()))
        })?;
        if !cfg.working_dir.is_empty() {
            create_working_dir(
                root.path(),
                &cfg.working_dir,
                resolved.user.uid,
                resolved.user.gid,
            )?;
        }
        resolved
    };

    let mut extra = user_mounts(record)?;
    super::volumes::mount_all(manager, record, &mut extra)?;
    if let Some(dir) = &attached.files_dir {
        let taken: Vec<String> = extra.iter().map(destination).collect();
        for (file, target) in [
            ("hostname", "/etc/hostname"),
            ("hosts", "/etc/hosts"),
            ("resolv.conf", "/etc/resolv.conf"),
        ] {
            if !taken.iter().any(|t| t == target) {
                extra.push(MountSpec::Bind {
                    source: dir.join(file),
                    destination: target.to_owned(),
                    readonly: hc.readonly_rootfs,
                    propagation: "rprivate".to_owned(),
                });
            }
        }
    }
    let input = SpecInput {
        id: c.id.clone(),
        args: std::iter::once(record.path.clone()).chain(record.args.iter().cloned()).collect(),
        user: resolved.user,
        home: Some(resolved.home),
        hostname: attached.hostname.clone(),
        mounts: extra,
        netns: attached.netns.clone(),
        ..configured(cfg, hc, &security)
    };
    let mut spec = spec::build(&input)?;
    finish(&mut spec, hc, &seccomp, true)?;
    Ok(spec)
}

/// The parts of a run's [`SpecInput`] that follow from the configuration alone; the caller
/// fills in the ID, the command, the user, the hostname, the mounts and the network namespace.
pub(crate) fn configured(cfg: &Config, hc: &HostConfig, security: &SecurityOptions) -> SpecInput {
    SpecInput {
        env: cfg.env.clone().unwrap_or_default(),
        cwd: cfg.working_dir.clone(),
        tty: cfg.tty,
        readonly_rootfs: hc.readonly_rootfs,
        privileged: hc.privileged,
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        shm_size: (hc.shm_size > 0).then_some(hc.shm_size),
        resources: resources(hc),
        oom_score_adj: i32::try_from(hc.oom_score_adj).unwrap_or_default(),
        sysctls: hc.sysctls.clone().unwrap_or_default(),
        no_new_privileges: security.no_new_privileges,
        writable_cgroups: security.writable_cgroups,
        masked_paths: if security.systempaths_unconfined {
            Some(Vec::new())
        } else {
            hc.masked_paths.clone()
        },
        readonly_paths: if security.systempaths_unconfined {
            Some(Vec::new())
        } else {
            hc.readonly_paths.clone()
        },
        cgroup_parent: if hc.resources.cgroup_parent.is_empty() {
            CGROUP_PARENT.to_owned()
        } else {
            hc.resources.cgroup_parent.clone()
        },
        init: hc.init.unwrap_or(false),
        stop_signal: (!cfg.stop_signal.is_empty()).then(|| cfg.stop_signal.clone()),
        ..SpecInput::default()
    }
}

/// What is added to a built spec: the ulimits, the host's devices (`devices`: they are read
/// from the host) and, once the capabilities are final, the seccomp filter, whose conditions
/// read the bounding set.
pub(crate) fn finish(
    spec: &mut Value,
    hc: &HostConfig,
    seccomp: &Seccomp,
    devices: bool,
) -> Result<()> {
    apply_ulimits(spec, hc);
    if devices {
        super::devices::apply(spec, hc)?;
    }
    super::seccomp::apply(spec, seccomp, hc.privileged)
}

fn destination(m: &MountSpec) -> String {
    match m {
        MountSpec::Bind { destination, .. } | MountSpec::Tmpfs { destination, .. } => {
            destination.clone()
        }
    }
}

/// Binds and tmpfs mounts from the record (`-v`, `--mount`, `--tmpfs`).
fn user_mounts(record: &Record) -> Result<Vec<MountSpec>> {
    let mut out = Vec::new();
    for m in &record.mounts {
        match m.kind.as_str() {
            "bind" => {
                let source = PathBuf::from(&m.source);
                if !source.exists() {
                    // dockerd creates a missing `-v` source directory.
                    std::fs::create_dir_all(&source).map_err(|e| {
                        Error::invalid(format!(
                            "error while creating mount source path '{}': {e}",
                            m.source
                        ))
                    })?;
                }
                out.push(MountSpec::Bind {
                    source,
                    destination: m.destination.clone(),
                    readonly: !m.rw,
                    propagation: m.propagation.clone(),
                });
            }
            "tmpfs" => out.push(MountSpec::Tmpfs {
                destination: m.destination.clone(),
                options: if m.rw { Vec::new() } else { vec!["ro".to_owned()] },
            }),
            _ => {}
        }
    }
    for (target, options) in record.host_config.tmpfs.iter().flatten() {
        out.push(MountSpec::Tmpfs {
            destination: target.clone(),
            options: options.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect(),
        });
    }
    Ok(out)
}

/// The resource limits of `hc` as the spec builder takes them.
pub(crate) fn resources(hc: &HostConfig) -> Resources {
    let r = &hc.resources;
    let positive = |v: i64| (v > 0).then_some(v);
    let (cpu_quota, cpu_period) = if r.nano_cpus > 0 {
        // dockerd: period 100 ms, quota = NanoCPUs * period / 1e9.
        let period = 100_000u64;
        (Some(r.nano_cpus * 100_000 / 1_000_000_000), Some(period))
    } else {
        (positive(r.cpu_quota), u64::try_from(r.cpu_period).ok().filter(|p| *p > 0))
    };
    Resources {
        memory: positive(r.memory),
        memory_swap: (r.memory_swap != 0).then_some(r.memory_swap),
        cpu_shares: u64::try_from(r.cpu_shares).ok().filter(|s| *s > 0),
        cpu_quota,
        cpu_period,
        // Passed on as dockerd passes them: runc writes them to the container's cgroup, which
        // refuses a runtime its parent has no real-time budget for.
        cpu_rt_period: u64::try_from(r.cpu_realtime_period).ok().filter(|p| *p > 0),
        cpu_rt_runtime: (r.cpu_realtime_runtime != 0).then_some(r.cpu_realtime_runtime),
        cpuset_cpus: (!r.cpuset_cpus.is_empty()).then(|| r.cpuset_cpus.clone()),
        cpuset_mems: (!r.cpuset_mems.is_empty()).then(|| r.cpuset_mems.clone()),
        pids_limit: r.pids_limit.filter(|p| *p != 0),
    }
}

/// `--ulimit`: `process.rlimits`.
fn apply_ulimits(spec: &mut Value, hc: &HostConfig) {
    let limits: Vec<Value> = hc
        .resources
        .ulimits
        .iter()
        .flatten()
        .map(|u| {
            serde_json::json!({
                "type": format!("RLIMIT_{}", u.name.to_uppercase()),
                "hard": u.hard,
                "soft": u.soft,
            })
        })
        .collect();
    if !limits.is_empty() {
        spec["process"]["rlimits"] = Value::Array(limits);
    }
}

/// Creates the working directory inside the root filesystem (following the container's own
/// symlinks through descriptors, never leaving it), what it creates owned by the container's
/// user as dockerd does.
fn create_working_dir(root: &std::path::Path, dir: &str, uid: u32, gid: u32) -> Result<()> {
    crate::fs::create_dir_in_root(root, dir, Some((uid, gid))).map(drop).map_err(|e| {
        Error::invalid(format!("cannot create working directory {dir}")).with_source(e)
    })
}
