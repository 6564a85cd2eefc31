//! Host devices and block-IO limits of a container, as dockerd adds them to the OCI spec at each
//! start: `--device` (a device node, or a directory of them, with its cgroup permissions),
//! `--device-cgroup-rule`, and `--blkio-weight`, `--blkio-weight-device` and the
//! `--device-{read,write}-{bps,iops}` throttles. The devices' numbers are read from the host
//! then, so a device that went away fails the start with dockerd's message. Device requests
//! (`--gpus`) have no driver here and fail the start, as on a dockerd host without one.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use berth_api::container::{DeviceMapping, DeviceRequest, HostConfig, Resources, ThrottleDevice};
use berth_api::{Error, Result};
use serde_json::{Value, json};

use crate::runtime::spec::{Node, node};

/// Adds `hc`'s devices, device rules and block-IO settings to `spec`.
pub(crate) fn apply(spec: &mut Value, hc: &HostConfig) -> Result<()> {
    let mut nodes = Vec::new();
    let mut rules = Vec::new();
    for mapping in hc.resources.devices.iter().flatten() {
        if hc.privileged && mapping.path_on_host == mapping.path_in_container {
            // Already there: a privileged container gets every host device at its own path.
            continue;
        }
        let permissions = if hc.privileged { "rwm" } else { mapping.cgroup_permissions.as_str() };
        for node in from_path(mapping)? {
            rules.push(json!({
                "allow": true,
                "type": node.kind,
                "major": node.major,
                "minor": node.minor,
                "access": permissions,
            }));
            nodes.push(node.to_json());
        }
    }
    if !hc.privileged {
        for rule in hc.resources.device_cgroup_rules.iter().flatten() {
            rules.push(cgroup_rule(rule)?);
        }
    }
    let linux = &mut spec["linux"];
    if !nodes.is_empty() {
        match linux["devices"].as_array_mut() {
            Some(existing) => existing.extend(nodes),
            None => linux["devices"] = Value::Array(nodes),
        }
    }
    // A privileged container's single allow-all rule covers the mapped devices already.
    if !hc.privileged
        && !rules.is_empty()
        && let Some(existing) = linux["resources"]["devices"].as_array_mut()
    {
        existing.extend(rules);
    }
    let block_io = block_io(&hc.resources)?;
    if !block_io.as_object().is_some_and(serde_json::Map::is_empty) {
        linux["resources"]["blockIO"] = block_io;
    }
    if let Some(request) = hc.resources.device_requests.iter().flatten().next() {
        return Err(no_device_driver(request));
    }
    Ok(())
}

/// A device request (`--gpus`, `docker run --device nvidia.com/gpu=all`) no driver can serve.
/// dockerd serves one through its NVIDIA driver (present only where NVIDIA's container hook is
/// installed) or its CDI driver; Berth has neither, so every request fails the start with
/// dockerd's words for a request its drivers cannot match (a 400, moby `daemon/devices.go`).
fn no_device_driver(request: &DeviceRequest) -> Error {
    // Go's `%v` of a `[][]string`: `[[gpu] [compute utility]]`.
    let caps = request
        .capabilities
        .iter()
        .flatten()
        .map(|all| format!("[{}]", all.join(" ")))
        .collect::<Vec<_>>()
        .join(" ");
    Error::invalid(format!(
        "could not select device driver {:?} with capabilities: [{caps}]",
        request.driver
    ))
}

/// dockerd's `DevicesFromPath`: the device at `PathOnHost` (a link to one is followed), or every
/// device below it when it is a directory, placed under `PathInContainer`.
fn from_path(mapping: &DeviceMapping) -> Result<Vec<Node>> {
    let failed = |why: String| {
        Error::system(format!(
            "error gathering device information while adding custom device {:?}: {why}",
            mapping.path_on_host
        ))
    };
    let on_host = Path::new(&mapping.path_on_host);
    let resolved = match std::fs::symlink_metadata(on_host) {
        Ok(meta) if meta.file_type().is_symlink() => {
            std::fs::canonicalize(on_host).unwrap_or_else(|_| on_host.to_owned())
        }
        _ => on_host.to_owned(),
    };
    match node(&resolved) {
        Ok(Some(mut device)) => {
            device.path.clone_from(&mapping.path_in_container);
            return Ok(vec![device]);
        }
        Ok(None) => {}
        Err(e) => return Err(failed(crate::persist::io_message(&e))),
    }
    let mut found = Vec::new();
    if resolved.is_dir() {
        let mut dirs = vec![resolved.clone()];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                    continue;
                }
                let Ok(Some(mut device)) = node(&path) else { continue };
                let below = path.strip_prefix(&resolved).unwrap_or(&path);
                device.path =
                    PathBuf::from(&mapping.path_in_container).join(below).display().to_string();
                found.push(device);
            }
        }
        found.sort_by(|a, b| a.path.cmp(&b.path));
    }
    if found.is_empty() {
        return Err(failed("not a device node".to_owned()));
    }
    Ok(found)
}

/// A `--device-cgroup-rule` (`c 1:3 mr`, `a *:* rwm`) as a device-cgroup rule of the spec, with
/// dockerd's messages for what does not parse.
fn cgroup_rule(rule: &str) -> Result<Value> {
    let invalid =
        |what: &str| Error::system(format!("invalid {what}device cgroup rule format: '{rule}'"));
    let parts: Vec<&str> = rule.split(' ').collect();
    let [kind, numbers, access] = parts[..] else { return Err(invalid("")) };
    let Some((major, minor)) = numbers.split_once(':') else { return Err(invalid("")) };
    let number = |n: &str| n == "*" || (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    let access_ok = (1..=3).contains(&access.len()) && access.bytes().all(|b| b"rwm".contains(&b));
    if !matches!(kind, "a" | "b" | "c") || !number(major) || !number(minor) || !access_ok {
        return Err(invalid(""));
    }
    let value = |n: &str, what: &str| -> Result<i64> {
        if n == "*" {
            return Ok(-1);
        }
        n.parse().map_err(|_| invalid(&format!("{what} value in ")))
    };
    Ok(json!({
        "allow": true,
        "type": kind,
        "major": value(major, "major")?,
        "minor": value(minor, "minor")?,
        "access": access,
    }))
}

/// `linux.resources.blockIO`: the weight, and the per-device weights and throttles with the
/// devices' numbers read from the host (dockerd's `stat <path>: …` when one is missing).
fn block_io(r: &Resources) -> Result<Value> {
    let numbers = |path: &str| -> Result<(u64, u64)> {
        let meta = std::fs::metadata(path).map_err(|e| {
            Error::system(format!("stat {path}: {}", crate::persist::io_message(&e)))
        })?;
        Ok((nix::sys::stat::major(meta.rdev()), nix::sys::stat::minor(meta.rdev())))
    };
    let mut out = serde_json::Map::new();
    if r.blkio_weight > 0 {
        out.insert("weight".to_owned(), json!(r.blkio_weight));
    }
    let mut weights = Vec::new();
    for device in r.blkio_weight_device.iter().flatten() {
        let (major, minor) = numbers(&device.path)?;
        weights.push(json!({ "major": major, "minor": minor, "weight": device.weight }));
    }
    if !weights.is_empty() {
        out.insert("weightDevice".to_owned(), Value::Array(weights));
    }
    let throttles = |devices: &Option<Vec<ThrottleDevice>>| -> Result<Vec<Value>> {
        devices
            .iter()
            .flatten()
            .map(|d| {
                let (major, minor) = numbers(&d.path)?;
                Ok(json!({ "major": major, "minor": minor, "rate": d.rate }))
            })
            .collect()
    };
    for (key, devices) in [
        ("throttleReadBpsDevice", &r.blkio_device_read_bps),
        ("throttleWriteBpsDevice", &r.blkio_device_write_bps),
        ("throttleReadIOPSDevice", &r.blkio_device_read_iops),
        ("throttleWriteIOPSDevice", &r.blkio_device_write_iops),
    ] {
        let list = throttles(devices)?;
        if !list.is_empty() {
            out.insert(key.to_owned(), Value::Array(list));
        }
    }
    Ok(Value::Object(out))
}

/// At create, as dockerd: block-IO settings the kernel cannot apply are dropped from `r`, each
/// with its warning.
pub(crate) fn drop_unsupported_blkio(r: &mut Resources, warnings: &mut Vec<String>) {
    let support = crate::cgroups::cgroup_features();
    if r.blkio_weight > 0 && !support.blkio_weight {
        warnings.push(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded."
                .to_owned(),
        );
        r.blkio_weight = 0;
    }
    let mut drop = |set: &mut Option<Vec<ThrottleDevice>>, supported: bool, warning: &str| {
        if set.as_ref().is_some_and(|s| !s.is_empty()) && !supported {
            warnings.push(warning.to_owned());
            *set = Some(Vec::new());
        }
    };
    drop(
        &mut r.blkio_device_read_bps,
        support.blkio_read_bps,
        "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
    );
    drop(
        &mut r.blkio_device_write_bps,
        support.blkio_write_bps,
        "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.",
    );
    drop(
        &mut r.blkio_device_read_iops,
        support.blkio_read_iops,
        "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.",
    );
    drop(
        &mut r.blkio_device_write_iops,
        support.blkio_write_iops,
        "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.",
    );
    if r.blkio_weight_device.as_ref().is_some_and(|s| !s.is_empty()) && !support.blkio_weight_device
    {
        warnings.push(
            "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded."
                .to_owned(),
        );
        r.blkio_weight_device = Some(Vec::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_request_fails_the_start_with_dockerds_words() {
        let mut hc = HostConfig::default();
        let mut spec = json!({"linux": {"resources": {"devices": []}}});
        apply(&mut spec, &hc).expect("no request, no error");
        // What `docker run --gpus all` sends.
        hc.resources.device_requests = Some(vec![DeviceRequest {
            count: -1,
            capabilities: Some(vec![vec!["gpu".to_owned()]]),
            ..DeviceRequest::default()
        }]);
        let err = apply(&mut spec, &hc).expect_err("no driver");
        assert_eq!(err.status(), 400);
        assert_eq!(
            err.message(),
            r#"could not select device driver "" with capabilities: [[gpu]]"#
        );
        hc.resources.device_requests = Some(vec![DeviceRequest {
            driver: "nvidia".to_owned(),
            capabilities: Some(vec![
                vec!["gpu".to_owned(), "compute".to_owned()],
                vec!["utility".to_owned()],
            ]),
            ..DeviceRequest::default()
        }]);
        let err = apply(&mut spec, &hc).expect_err("no driver");
        assert_eq!(
            err.message(),
            r#"could not select device driver "nvidia" with capabilities: [[gpu compute] [utility]]"#
        );
    }

    fn host_config(devices: Vec<DeviceMapping>, rules: Vec<&str>) -> HostConfig {
        let mut hc = HostConfig::default();
        hc.resources.devices = Some(devices);
        hc.resources.device_cgroup_rules = Some(rules.into_iter().map(str::to_owned).collect());
        hc
    }

    fn mapping(host: &str, container: &str, permissions: &str) -> DeviceMapping {
        DeviceMapping {
            path_on_host: host.to_owned(),
            path_in_container: container.to_owned(),
            cgroup_permissions: permissions.to_owned(),
        }
    }

    fn base() -> Value {
        json!({ "linux": { "resources": { "devices": [{ "allow": false, "access": "rwm" }] } } })
    }

    #[test]
    fn devices_and_rules_join_the_spec_as_dockerd_adds_them() {
        let mut spec = base();
        let hc = host_config(
            vec![mapping("/dev/null", "/dev/mynull", "rw")],
            vec!["c 1:5 r", "b *:* m"],
        );
        apply(&mut spec, &hc).expect("apply");
        let null = std::fs::metadata("/dev/null").expect("/dev/null");
        let devices = spec["linux"]["devices"].as_array().expect("devices");
        assert_eq!(devices.len(), 1);
        assert_eq!(devices[0]["path"], "/dev/mynull");
        assert_eq!(devices[0]["type"], "c");
        assert_eq!(devices[0]["major"], nix::sys::stat::major(null.rdev()));
        assert_eq!(devices[0]["minor"], nix::sys::stat::minor(null.rdev()));
        assert_eq!(devices[0]["fileMode"], null.mode() & 0o7777);
        let rules = spec["linux"]["resources"]["devices"].as_array().expect("rules");
        assert_eq!(rules.len(), 4, "{rules:?}");
        assert_eq!(rules[1]["access"], "rw");
        assert_eq!(
            rules[2],
            json!({ "allow": true, "type": "c", "major": 1, "minor": 5, "access": "r" })
        );
        assert_eq!(
            rules[3],
            json!({ "allow": true, "type": "b", "major": -1, "minor": -1, "access": "m" })
        );
    }

    #[test]
    fn a_directory_maps_every_device_below_it() {
        let mut spec = base();
        let hc = host_config(vec![mapping("/dev/pts", "/dev/hostpts", "rwm")], vec![]);
        apply(&mut spec, &hc).expect("/dev/pts holds devices");
        let devices = spec["linux"]["devices"].as_array().expect("devices");
        assert!(
            devices
                .iter()
                .all(|d| d["path"].as_str().is_some_and(|p| p.starts_with("/dev/hostpts/")))
        );
        assert!(devices.iter().any(|d| d["path"] == "/dev/hostpts/ptmx"), "{devices:?}");
    }

    #[test]
    fn what_is_not_there_or_not_a_device_fails_with_dockerds_words() {
        let message = |m: DeviceMapping| {
            apply(&mut base(), &host_config(vec![m], vec![]))
                .expect_err("refused")
                .message()
                .to_owned()
        };
        assert_eq!(
            message(mapping("/dev/berth-nosuch", "/dev/x", "rwm")),
            "error gathering device information while adding custom device \"/dev/berth-nosuch\": no such file or directory"
        );
        let file = tempfile::NamedTempFile::new().expect("file");
        let shown = file.path().display().to_string();
        assert_eq!(
            message(mapping(&shown, "/dev/x", "rwm")),
            format!(
                "error gathering device information while adding custom device {shown:?}: not a device node"
            )
        );
        for (rule, want) in [
            ("c 1:3", "invalid device cgroup rule format: 'c 1:3'"),
            ("x 1:3 r", "invalid device cgroup rule format: 'x 1:3 r'"),
            ("c 1:3 rwmr", "invalid device cgroup rule format: 'c 1:3 rwmr'"),
            (
                "c 99999999999999999999:3 r",
                "invalid major value in device cgroup rule format: 'c 99999999999999999999:3 r'",
            ),
        ] {
            let err = apply(&mut base(), &host_config(vec![], vec![rule])).expect_err(rule);
            assert_eq!(err.message(), want);
        }
    }

    #[test]
    fn block_io_reads_device_numbers_from_the_host() {
        let mut r = Resources {
            blkio_weight: 300,
            blkio_device_read_bps: Some(vec![ThrottleDevice {
                path: "/dev/null".into(),
                rate: 1024,
            }]),
            ..Resources::default()
        };
        let io = block_io(&r).expect("block io");
        let null = std::fs::metadata("/dev/null").expect("/dev/null");
        assert_eq!(io["weight"], 300);
        assert_eq!(
            io["throttleReadBpsDevice"],
            json!([{ "major": nix::sys::stat::major(null.rdev()), "minor": nix::sys::stat::minor(null.rdev()), "rate": 1024 }])
        );
        r.blkio_device_write_iops =
            Some(vec![ThrottleDevice { path: "/dev/berth-nosuch".into(), rate: 1 }]);
        assert_eq!(
            block_io(&r).expect_err("missing").message(),
            "stat /dev/berth-nosuch: no such file or directory"
        );
    }
}
