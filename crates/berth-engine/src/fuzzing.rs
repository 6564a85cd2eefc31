//! Entry points for the fuzz targets under `fuzz/`; not part of Berth's API.
//!
//! Each runs what the engine does with untrusted input before containerd is involved, on a
//! directory the caller chose: nothing here connects to containerd or writes outside the given
//! root and the process's temporary directory. The regression tests for what the fuzzers found
//! call these too, so they stay compiled and checked with the rest of the crate.

use std::path::Path;

use berth_api::Result;
use berth_api::container::MountPoint;
use berth_api::image::Platform;
use berth_backend::ContainerCreateOptions;
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use serde_json::{Map, Value};

use crate::container::seccomp::Seccomp;
use crate::container::{config, logging, names, spec as container_spec, views};
use crate::runtime::spec::{self, MountSpec, NetNs, SpecInput};

fn body(chunks: Vec<Bytes>) -> berth_backend::ByteStream {
    futures_util::stream::iter(chunks.into_iter().map(Ok)).boxed()
}

/// `PUT /containers/{name}/archive?path=/`: extracts the tar (or gzip'd tar) `chunks` into
/// `root`, which stands for the container's root filesystem.
pub async fn archive_put(
    root: &Path,
    chunks: Vec<Bytes>,
    no_overwrite_dir_non_dir: bool,
    copy_uid_gid: bool,
) -> Result<()> {
    crate::fs::archive_put(
        root,
        "/",
        "fuzz",
        no_overwrite_dir_non_dir,
        copy_uid_gid,
        Some((1000, 1000)),
        body(chunks),
    )
    .await
}

/// `POST /images/load` up to the first write to containerd: the archive spooled (in the
/// process's temporary directory) and indexed, every image planned, every layer located and,
/// when gzip'd, decompressed. Returns the planned image IDs.
pub async fn image_load(chunks: Vec<Bytes>, platform: Option<&Platform>) -> Result<Vec<String>> {
    crate::image::archive::load_dry_run(body(chunks), platform).await
}

/// `POST /images/create?fromSrc=-` up to the first write to containerd: the `changes` applied
/// to an empty config, the tarball decompressed and its first block checked. Returns the
/// number of tar bytes that would be stored.
pub async fn image_import(chunks: Vec<Bytes>, changes: &[String]) -> Result<u64> {
    crate::image::changes::apply(&mut Map::new(), changes)?;
    let mut tar = crate::image::import::decompressed(body(chunks)).await?;
    let mut total = 0u64;
    while let Some(chunk) = tar.try_next().await? {
        total += chunk.len() as u64;
    }
    Ok(total)
}

/// `POST /containers/create` once the router has decoded and adjusted the body, against an
/// image whose `config` section is `image_config`: dockerd's merge and checks as the engine
/// runs them, then the OCI spec of the first run.
///
/// What needs the host or containerd is left out: the image look-up, volumes, networks, the
/// user (root here) and bind sources (never created). `Privileged` is ignored: it lists the
/// host's devices, which depends on the host rather than the input.
pub fn container_create(options: ContainerCreateOptions, image_config: &Value) -> Result<Value> {
    let ContainerCreateOptions { name, body, .. } = options;
    let mut cfg = body.config;
    let mut hc = body.host_config.unwrap_or_default();
    if !name.is_empty() {
        names::validate_name(&name)?;
    }
    config::merge_image(&mut cfg, image_config);
    config::fill_defaults(&mut hc);
    config::validate_host_config(&hc)?;
    let (path, args) = config::command(&cfg)?;
    let mounts = views::mount_points(&hc)?;
    logging::validate(&hc.log_config)?;
    crate::network::plan(
        hc.port_bindings.as_ref(),
        cfg.exposed_ports.as_ref(),
        hc.publish_all_ports,
    )?;
    if let Some(signal) = (!cfg.stop_signal.is_empty()).then_some(&cfg.stop_signal) {
        config::parse_signal(signal)?;
    }

    let mut extra: Vec<MountSpec> = mounts.iter().filter_map(mount_spec).collect();
    for (target, options) in hc.tmpfs.iter().flatten() {
        extra.push(MountSpec::Tmpfs {
            destination: target.clone(),
            options: options.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect(),
        });
    }
    let security = config::security_options(hc.security_opt.as_deref().unwrap_or_default())?;
    let seccomp = Seccomp::parse(security.seccomp.as_deref())?;
    let input = SpecInput {
        id: "0".repeat(64),
        args: std::iter::once(path).chain(args).collect(),
        hostname: cfg.hostname.clone(),
        mounts: extra,
        netns: if hc.network_mode == "host" { NetNs::Host } else { NetNs::New },
        // Host devices are the host's, not the input's.
        privileged: false,
        ..container_spec::configured(&cfg, &hc, &security)
    };
    let mut spec = spec::build(&input)?;
    container_spec::finish(&mut spec, &hc, &seccomp, false)?;
    Ok(spec)
}

/// The spec mount of a bind or tmpfs mount point, as the engine makes it at start.
fn mount_spec(m: &MountPoint) -> Option<MountSpec> {
    match m.kind.as_str() {
        "bind" => Some(MountSpec::Bind {
            source: m.source.clone().into(),
            destination: m.destination.clone(),
            readonly: !m.rw,
            propagation: m.propagation.clone(),
        }),
        "tmpfs" => Some(MountSpec::Tmpfs {
            destination: m.destination.clone(),
            options: if m.rw { Vec::new() } else { vec!["ro".to_owned()] },
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
