//! Containers and their volumes, as dockerd does it: `-v name:/path`, `-v /path`, `--mount
//! type=volume`, `--volumes-from`, and anonymous volumes for the image's `VOLUME`s.
//!
//! - At create ([`attach`]) each volume mount gets its volume (created if the name is new, a
//!   generated name for anonymous ones) and references it by the container ID; the image's files
//!   at a new volume's mount point are then copied into it if it is empty ([`populate`]).
//! - At each start ([`mount_all`]) the volumes are mounted (only volumes with driver options
//!   have a mount of their own) and bound into the container; at each exit ([`unmount_all`])
//!   the mounts are released.
//! - At removal ([`detach`]) the references go and, with `-v` or `--rm`, the anonymous volumes.
//! - After a restart of berthd ([`restore`]) the references are rebuilt from the records.

use std::path::{Path, PathBuf};

use berth_api::container::{Config, HostConfig, Mount, MountPoint};
use berth_api::volume::{LOCAL_DRIVER, VolumeCreateOptions};
use berth_api::{Error, ErrorKind, Result};

use super::manager::Manager;
use super::ops::RootView;
use super::record::Record;
use crate::runtime::spec::MountSpec;

/// Mount modes of `-v` that say nothing about the volume itself (dockerd's label, copy and
/// consistency modes).
const NEUTRAL_MODES: [&str; 7] = ["rw", "z", "Z", "nocopy", "consistent", "cached", "delegated"];
/// Propagation modes: bind mounts only.
const PROPAGATION: [&str; 6] = ["private", "rprivate", "shared", "rshared", "slave", "rslave"];

/// Go's `path.Clean` of an absolute container path.
fn clean(path: &str) -> String {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
    let mut out: Vec<&str> = Vec::new();
    for part in parts {
        if part == ".." {
            out.pop();
        } else {
            out.push(part);
        }
    }
    format!("/{}", out.join("/"))
}

/// Checks a volume's mount point: absolute and not `/` (dockerd's messages, inside `what`).
fn check_destination(destination: &str, what: impl Fn(&str) -> Error) -> Result<String> {
    if !destination.starts_with('/') {
        return Err(what(&format!(
            "invalid mount path: '{destination}' mount path must be absolute"
        )));
    }
    let cleaned = clean(destination);
    if cleaned == "/" {
        return Err(what("invalid specification: destination can't be '/'"));
    }
    Ok(cleaned)
}

/// `-v name:/path[:mode]` or `-v /path` (no source: an anonymous volume), from `Binds`: the
/// mount point before its volume exists (no `Source` yet).
pub(crate) fn volume_bind(
    spec: &str,
    source: &str,
    destination: &str,
    mode: &str,
) -> Result<MountPoint> {
    let in_spec = |why: &str| {
        Error::invalid(format!(
            "invalid volume specification: '{spec}': invalid mount config for type \"volume\": {why}"
        ))
    };
    let mut rw = true;
    for option in mode.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => rw = false,
            o if NEUTRAL_MODES.contains(&o) => {}
            o if PROPAGATION.contains(&o) => {
                return Err(in_spec("field BindOptions must not be specified"));
            }
            _ => return Err(Error::invalid(format!("invalid mode: {mode}"))),
        }
    }
    let destination = check_destination(destination, in_spec)?;
    Ok(MountPoint {
        kind: "volume".to_owned(),
        name: source.to_owned(),
        destination,
        driver: LOCAL_DRIVER.to_owned(),
        // dockerd's default mode for local volumes.
        mode: if mode.is_empty() { "z".to_owned() } else { mode.to_owned() },
        rw,
        ..MountPoint::default()
    })
}

/// `--mount type=volume,...` from `Mounts`: the mount point before its volume exists.
pub(crate) fn volume_mount(m: &Mount) -> Result<MountPoint> {
    let in_config =
        |why: &str| Error::invalid(format!("invalid mount config for type \"volume\": {why}"));
    for (set, field) in [
        (m.bind_options.is_some(), "BindOptions"),
        (m.tmpfs_options.is_some(), "TmpfsOptions"),
        (m.image_options.is_some(), "ImageOptions"),
        (m.cluster_options.is_some(), "ClusterOptions"),
    ] {
        if set {
            return Err(in_config(&format!("field {field} must not be specified")));
        }
    }
    let destination = check_destination(&m.target, in_config)?;
    if m.volume_options.as_ref().is_some_and(|o| !o.subpath.is_empty()) {
        if m.source.is_empty() {
            return Err(in_config("must not set Subpath when using anonymous volumes"));
        }
        return Err(Error::not_implemented("volume subpaths are not implemented by Berth"));
    }
    Ok(MountPoint {
        kind: "volume".to_owned(),
        name: m.source.clone(),
        destination,
        driver: LOCAL_DRIVER.to_owned(),
        mode: "z".to_owned(),
        rw: !m.read_only,
        ..MountPoint::default()
    })
}

/// The mount points of a new container with their volumes, and the mount points whose volume
/// gets the image's content.
#[derive(Debug, Default)]
pub(crate) struct Attached {
    /// Every mount point, in the record's order.
    pub(crate) mounts: Vec<MountPoint>,
    /// Destinations to copy the image's files from (volumes without `nocopy`).
    pub(crate) copy: Vec<String>,
}

/// Gives the mount points of container `id` their volumes, as dockerd's
/// `registerMountPoints` and image-volume creation: `--volumes-from` first, then `mounts`
/// (`Binds`, `Mounts`, `Tmpfs` as `views::mount_points` parsed them) replacing those at the same
/// destination, then an anonymous volume for each `Config.Volumes` path nothing else covers.
/// Every volume is referenced by `id`; on failure nothing stays referenced or created.
pub(crate) async fn attach(
    m: &Manager,
    id: &str,
    cfg: &Config,
    hc: &HostConfig,
    mounts: Vec<MountPoint>,
) -> Result<Attached> {
    let mut attached = Attached::default();
    let result = attach_into(m, id, cfg, hc, mounts, &mut attached);
    if let Err(e) = result {
        release(m, id, &attached.mounts, true).await;
        return Err(e);
    }
    Ok(attached)
}

fn attach_into(
    m: &Manager,
    id: &str,
    cfg: &Config,
    hc: &HostConfig,
    mounts: Vec<MountPoint>,
    out: &mut Attached,
) -> Result<()> {
    for spec in hc.volumes_from.iter().flatten() {
        for mut mp in volumes_from(m, spec)? {
            if mp.kind == "volume" {
                m.volumes.reference(&mp.name, id)?;
                mp.source = m.volumes.data_dir(&mp.name).display().to_string();
            }
            replace(m, id, out, mp);
        }
    }
    for mut mp in mounts {
        if mp.kind == "volume" {
            let request = volume_request(hc, &mp);
            let copy = !no_copy(hc, &mp);
            let volume = m.volumes.create(request, Some(id))?;
            mp.name = volume.name;
            mp.source = volume.mountpoint;
            if copy {
                out.copy.push(mp.destination.clone());
            }
        }
        replace(m, id, out, mp);
    }
    let tmpfs: Vec<String> = hc.tmpfs.iter().flat_map(|t| t.keys()).map(|t| clean(t)).collect();
    for path in cfg.volumes.iter().flat_map(|v| v.keys()) {
        let destination = clean(path);
        if destination == "/"
            || tmpfs.contains(&destination)
            || out.mounts.iter().any(|mp| mp.destination == destination)
        {
            continue;
        }
        let request =
            VolumeCreateOptions { driver: hc.volume_driver.clone(), ..Default::default() };
        let volume = m.volumes.create(request, Some(id))?;
        out.copy.push(destination.clone());
        out.mounts.push(MountPoint {
            kind: "volume".to_owned(),
            name: volume.name,
            source: volume.mountpoint,
            destination,
            driver: volume.driver,
            rw: true,
            ..MountPoint::default()
        });
    }
    Ok(())
}

/// Puts `mp` in `out`, replacing (and releasing) a mount point at the same destination.
fn replace(m: &Manager, id: &str, out: &mut Attached, mp: MountPoint) {
    if let Some(i) = out.mounts.iter().position(|old| old.destination == mp.destination) {
        let old = out.mounts.remove(i);
        if old.kind == "volume" && !out.mounts.iter().any(|o| o.name == old.name) {
            m.volumes.release(&old.name, id);
        }
        out.copy.retain(|d| *d != old.destination);
    }
    out.mounts.push(mp);
}

/// The mount points `--volumes-from container[:ro|rw]` copies, read-only when asked; dockerd
/// keeps neither the mode string nor the copy-up.
fn volumes_from(m: &Manager, spec: &str) -> Result<Vec<MountPoint>> {
    if spec.is_empty() {
        return Err(Error::invalid("volumes-from specification cannot be an empty string"));
    }
    let (container, mode) = spec.split_once(':').unwrap_or((spec, ""));
    let valid = mode.split(',').all(|o| o == "ro" || NEUTRAL_MODES.contains(&o));
    if !mode.is_empty() && (!valid || mode.split(',').any(|o| o == "nocopy")) {
        return Err(Error::invalid(format!("invalid mode: {mode}")));
    }
    let read_only = mode.split(',').any(|o| o == "ro");
    let source = m.get(container).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::invalid(e.message().to_owned()),
        _ => e,
    })?;
    Ok(source.with(|r| {
        r.mounts
            .iter()
            .map(|mp| MountPoint { rw: mp.rw && !read_only, mode: String::new(), ..mp.clone() })
            .collect()
    }))
}

/// The `Mounts` entry a `--mount` volume came from (same destination), if it did not come from
/// `Binds`.
fn mount_entry<'a>(hc: &'a HostConfig, mp: &MountPoint) -> Option<&'a Mount> {
    hc.mounts.iter().flatten().find(|m| {
        m.kind == "volume" && m.target.starts_with('/') && clean(&m.target) == mp.destination
    })
}

/// What to create for a volume mount point: `--mount` carries driver, options and labels;
/// `-v` the container's `VolumeDriver`.
fn volume_request(hc: &HostConfig, mp: &MountPoint) -> VolumeCreateOptions {
    let mut request = VolumeCreateOptions { name: mp.name.clone(), ..Default::default() };
    match mount_entry(hc, mp).and_then(|m| m.volume_options.as_ref()) {
        Some(options) => {
            let driver = options.driver_config.as_ref();
            request.driver = driver.map(|d| d.name.clone()).unwrap_or_default();
            request.driver_opts = driver.and_then(|d| d.options.clone());
            request.labels = options.labels.clone();
        }
        None if mount_entry(hc, mp).is_none() => request.driver = hc.volume_driver.clone(),
        None => {}
    }
    request
}

/// `nocopy` in a `-v` mode, or `volume-nocopy` on a `--mount`.
fn no_copy(hc: &HostConfig, mp: &MountPoint) -> bool {
    match mount_entry(hc, mp) {
        Some(m) => m.volume_options.as_ref().is_some_and(|o| o.no_copy),
        None => mp.mode.split(',').any(|o| o == "nocopy"),
    }
}

/// Copies the image's files at each `copy` destination into its volume if that is empty (the
/// rootfs is mounted for the occasion; a volume with driver options is mounted for it too, as
/// dockerd does). On failure the container's containerd records and `dir` are removed: the
/// create fails as a whole.
pub(crate) async fn populate(
    m: &Manager,
    record: &Record,
    dir: &Path,
    copy: &[String],
) -> Result<()> {
    let result = copy_image_content(m, record, copy).await;
    if result.is_err() {
        if let Err(e) = m.runtime.remove(&record.id).await {
            tracing::warn!(container = %record.id, error = %e, "cannot undo a failed create");
        }
        super::manager::remove_dir(dir);
    }
    result
}

async fn copy_image_content(m: &Manager, record: &Record, copy: &[String]) -> Result<()> {
    let targets: Vec<(String, String)> = record
        .mounts
        .iter()
        .filter(|mp| mp.kind == "volume" && copy.contains(&mp.destination))
        .map(|mp| (mp.name.clone(), mp.destination.clone()))
        .collect();
    if targets.is_empty() {
        return Ok(());
    }
    let rootfs = m.runtime.rootfs_mounts(&record.id).await?;
    let scratch = m.paths.exec_root.join("mnt");
    let (volumes, id) = (m.volumes.clone(), record.id.clone());
    let copied = tokio::task::spawn_blocking(move || -> Result<()> {
        let root = crate::fs::TempMount::new(rootfs, &scratch)?;
        for (name, destination) in targets {
            let data = volumes.mount(&name, &id)?;
            let result = crate::fs::copy_up(root.path(), &destination, &data);
            volumes.unmount(&name, &id)?;
            result?;
        }
        Ok(())
    })
    .await;
    copied.map_err(|e| Error::system(format!("copying image content into volumes failed: {e}")))?
}

/// Mounts the volumes of `record` for a start and adds them to `mounts`, then orders all the
/// mounts parents first (dockerd's `sortMounts`), so a volume inside a bind (or the reverse) is
/// not hidden. Emits `mount` events.
pub(crate) fn mount_all(m: &Manager, record: &Record, mounts: &mut Vec<MountSpec>) -> Result<()> {
    for mp in record.mounts.iter().filter(|mp| mp.kind == "volume") {
        let source: PathBuf = m.volumes.mount(&mp.name, &record.id)?;
        m.volumes.event(
            &mp.name,
            "mount",
            &[
                ("driver", mp.driver.clone()),
                ("container", record.id.clone()),
                ("destination", mp.destination.clone()),
                ("read/write", mp.rw.to_string()),
                ("propagation", mp.propagation.clone()),
            ],
        );
        mounts.push(MountSpec::Bind {
            source,
            destination: mp.destination.clone(),
            readonly: !mp.rw,
            propagation: String::new(),
        });
    }
    mounts.sort_by_key(|spec| match spec {
        MountSpec::Bind { destination, .. } | MountSpec::Tmpfs { destination, .. } => {
            depth(destination)
        }
    });
    Ok(())
}

impl Manager {
    /// The root `docker cp` works on: [`Manager::root_view`], and for a container that is not
    /// running its volumes and binds mounted at their mount points, as dockerd mounts them for
    /// the archive routes (a running container's own root has them already). A volume with
    /// driver options shows its data only while a running container has it mounted.
    pub(crate) async fn archive_view(&self, c: &super::Container) -> Result<RootView> {
        let view = self.root_view(c).await?;
        let RootView::Mounted(temp) = &view else { return Ok(view) };
        let mut binds: Vec<(String, PathBuf, bool)> = c.with(|r| {
            r.mounts
                .iter()
                .filter_map(|mp| match mp.kind.as_str() {
                    "volume" => {
                        Some((mp.destination.clone(), self.volumes.data_dir(&mp.name), !mp.rw))
                    }
                    "bind" => Some((mp.destination.clone(), PathBuf::from(&mp.source), !mp.rw)),
                    _ => None,
                })
                .collect()
        });
        binds.sort_by_key(|(destination, ..)| depth(destination));
        for (destination, source, readonly) in binds.iter().filter(|(_, source, _)| source.is_dir())
        {
            crate::fs::bind_in_root(temp.path(), destination, source, *readonly)?;
        }
        Ok(view)
    }
}

/// Number of elements of a container path (`/` is 0).
fn depth(path: &str) -> usize {
    path.split('/').filter(|p| !p.is_empty()).count()
}

/// Ends the run's use of its volumes (idempotent: a container holds at most one mount of each).
/// Emits `unmount` events for the mounts it held.
pub(crate) fn unmount_all(m: &Manager, record: &Record) {
    for mp in record.mounts.iter().filter(|mp| mp.kind == "volume") {
        match m.volumes.unmount(&mp.name, &record.id) {
            Ok(true) => m.volumes.event(
                &mp.name,
                "unmount",
                &[("driver", mp.driver.clone()), ("container", record.id.clone())],
            ),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(container = %record.id, volume = %mp.name, error = %e, "cannot unmount volume")
            }
        }
    }
}

/// At removal: releases `record`'s volumes, and with `remove_anonymous` (`docker rm -v`,
/// `--rm`) removes its anonymous ones that nothing else references.
pub(crate) async fn detach(m: &Manager, record: &Record, remove_anonymous: bool) {
    unmount_all(m, record);
    release(m, &record.id, &record.mounts, remove_anonymous).await;
}

async fn release(m: &Manager, id: &str, mounts: &[MountPoint], remove_anonymous: bool) {
    for mp in mounts.iter().filter(|mp| mp.kind == "volume") {
        m.volumes.release(&mp.name, id);
        if !remove_anonymous || !m.volumes.is_anonymous(&mp.name) {
            continue;
        }
        match m.volumes.remove(&mp.name, true).await {
            Ok(()) => {}
            // Another container still uses it, as dockerd: it stays.
            Err(e) if e.kind() == ErrorKind::Conflict => {}
            Err(e) => {
                tracing::warn!(container = id, volume = %mp.name, error = %e, "cannot remove anonymous volume")
            }
        }
    }
}

/// At start-up, before `record`'s container is restored: its references, and its mounts if it
/// was running.
pub(crate) fn restore(m: &Manager, record: &Record) {
    let running = record.state.is_running();
    for mp in record.mounts.iter().filter(|mp| mp.kind == "volume") {
        m.volumes.restore_reference(&mp.name, &record.id, running);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_binds_parse_like_dockerd() {
        let mp = volume_bind("data:/srv/./www/", "data", "/srv/./www/", "").expect("named");
        assert_eq!(
            (mp.kind.as_str(), mp.name.as_str(), mp.destination.as_str()),
            ("volume", "data", "/srv/www")
        );
        assert_eq!((mp.mode.as_str(), mp.rw), ("z", true));
        let ro = volume_bind("data:/x:ro,nocopy", "data", "/x", "ro,nocopy").expect("ro");
        assert_eq!((ro.mode.as_str(), ro.rw), ("ro,nocopy", false));
        let anonymous = volume_bind("/x", "", "/x", "").expect("anonymous");
        assert_eq!(anonymous.name, "");
        assert_eq!(
            volume_bind("v:/x:rshared", "v", "/x", "rshared").expect_err("propagation").message(),
            "invalid volume specification: 'v:/x:rshared': invalid mount config for type \"volume\": field BindOptions must not be specified"
        );
        assert_eq!(
            volume_bind("v:/x:bogus", "v", "/x", "bogus").expect_err("mode").message(),
            "invalid mode: bogus"
        );
        assert_eq!(
            volume_bind("v:/", "v", "/", "").expect_err("root").message(),
            "invalid volume specification: 'v:/': invalid mount config for type \"volume\": invalid specification: destination can't be '/'"
        );
        assert!(
            volume_bind("v:rel", "v", "rel", "")
                .expect_err("relative")
                .message()
                .contains("mount path must be absolute")
        );
    }

    #[test]
    fn volume_mounts_check_their_fields() {
        let base = Mount {
            kind: "volume".into(),
            source: "v".into(),
            target: "/x".into(),
            ..Mount::default()
        };
        let mp = volume_mount(&Mount { read_only: true, ..base.clone() }).expect("mount");
        assert_eq!(
            (mp.name.as_str(), mp.destination.as_str(), mp.rw, mp.mode.as_str()),
            ("v", "/x", false, "z")
        );
        let with_bind = Mount { bind_options: Some(Default::default()), ..base.clone() };
        assert_eq!(
            volume_mount(&with_bind).expect_err("bind options").message(),
            "invalid mount config for type \"volume\": field BindOptions must not be specified"
        );
        let subpath = |source: &str| Mount {
            source: source.into(),
            volume_options: Some(berth_api::container::VolumeOptions {
                subpath: "a".into(),
                ..Default::default()
            }),
            ..base.clone()
        };
        assert_eq!(
            volume_mount(&subpath("v")).expect_err("subpath").kind(),
            ErrorKind::NotImplemented
        );
        assert_eq!(
            volume_mount(&subpath("")).expect_err("anonymous subpath").message(),
            "invalid mount config for type \"volume\": must not set Subpath when using anonymous volumes"
        );
    }

    #[test]
    fn copy_flags_and_requests_come_from_the_spec() {
        let labels = Some([("a".to_owned(), "b".to_owned())].into());
        let options = Some([("type".to_owned(), "tmpfs".to_owned())].into());
        let hc = HostConfig {
            volume_driver: "local".into(),
            mounts: Some(vec![Mount {
                kind: "volume".into(),
                source: "m".into(),
                target: "/m/".into(),
                volume_options: Some(berth_api::container::VolumeOptions {
                    no_copy: true,
                    labels: labels.clone(),
                    driver_config: Some(berth_api::container::MountDriver {
                        name: String::new(),
                        options: options.clone(),
                    }),
                    ..Default::default()
                }),
                ..Mount::default()
            }]),
            ..HostConfig::default()
        };
        let from_mount =
            MountPoint { name: "m".into(), destination: "/m".into(), ..MountPoint::default() };
        let request = volume_request(&hc, &from_mount);
        assert_eq!((request.labels, request.driver_opts), (labels, options));
        assert!(no_copy(&hc, &from_mount));
        let from_bind = MountPoint {
            name: "b".into(),
            destination: "/b".into(),
            mode: "nocopy".into(),
            ..MountPoint::default()
        };
        assert_eq!(volume_request(&hc, &from_bind).driver, "local");
        assert!(no_copy(&hc, &from_bind));
        assert!(!no_copy(
            &hc,
            &MountPoint { destination: "/c".into(), mode: "z".into(), ..MountPoint::default() }
        ));
    }

    /// Creates `name` running `cmd` with `binds` (network `none`), runs it to its exit and
    /// returns its output.
    async fn run(
        engine: &crate::Engine,
        name: &str,
        image: &str,
        cmd: &[&str],
        hc: HostConfig,
    ) -> String {
        use berth_backend::ContainerBackend;
        let mut options = super::super::tests::create_options(name, cmd, "none");
        options.body.config.image = image.to_owned();
        options.body.host_config = Some(HostConfig { network_mode: "none".into(), ..hc });
        ContainerBackend::create(engine, options).await.expect("create");
        let wait =
            ContainerBackend::wait(engine, name, berth_api::container::WaitCondition::NextExit)
                .await
                .expect("wait");
        ContainerBackend::start(engine, name, "", "").await.expect("start");
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .expect("exits in time");
        let out = super::super::tests::logs(engine, name).await;
        assert_eq!(status.status_code, 0, "{name}: {out}");
        out
    }

    fn binds(specs: &[&str]) -> HostConfig {
        HostConfig {
            binds: Some(specs.iter().map(|s| (*s).to_owned()).collect()),
            ..HostConfig::default()
        }
    }

    async fn mounts(engine: &crate::Engine, name: &str) -> Vec<MountPoint> {
        use berth_backend::ContainerBackend;
        ContainerBackend::inspect(engine, name, false)
            .await
            .expect("inspect")
            .mounts
            .expect("mounts")
    }

    async fn rm(engine: &crate::Engine, name: &str, volumes: bool) {
        use berth_backend::{ContainerBackend, ContainerRemoveOptions};
        let options = ContainerRemoveOptions { force: true, volumes, ..Default::default() };
        ContainerBackend::remove(engine, name, options).await.expect("rm");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn containers_get_copy_share_and_release_volumes() {
        use berth_backend::{ContainerBackend, ContainerCommitOptions, VolumeBackend};

        let ctrd = crate::testutil::TestContainerd::start().await;
        let (engine, events) =
            crate::testutil::engine_with(&ctrd, "berthvol0", "10.213.249.1/24").await;
        super::super::tests::import_busybox(&engine).await;
        let data_root = ctrd.dir.path().join("data");

        // An image with a VOLUME over files of its own.
        run(
            &engine,
            "seed",
            "busybox",
            &["sh", "-c", "/bin/busybox mkdir /seed && echo from-image > /seed/f"],
            HostConfig::default(),
        )
        .await;
        ContainerBackend::commit(
            &engine,
            ContainerCommitOptions {
                container: "seed".into(),
                reference: Some(
                    berth_api::image::Reference::parse_normalized("withvol").expect("ref"),
                ),
                changes: vec!["VOLUME [\"/seed\"]".into()],
                pause: true,
                ..Default::default()
            },
        )
        .await
        .expect("commit");

        // Anonymous image volume: copied up, shown in inspect, removed by rm -v.
        let out = run(&engine, "anon", "withvol", &["cat", "/seed/f"], HostConfig::default()).await;
        assert_eq!(out, "from-image\n");
        let anon = mounts(&engine, "anon").await;
        assert_eq!(anon.len(), 1, "{anon:?}");
        let volume = anon[0].name.clone();
        assert_eq!(volume.len(), 64);
        let data = data_root.join("volumes").join(&volume).join("_data");
        assert_eq!(
            (
                anon[0].kind.as_str(),
                anon[0].source.as_str(),
                anon[0].destination.as_str(),
                anon[0].driver.as_str(),
                anon[0].mode.as_str(),
                anon[0].rw,
                anon[0].propagation.as_str()
            ),
            ("volume", data.to_str().expect("utf-8"), "/seed", "local", "", true, "")
        );
        assert_eq!(std::fs::read_to_string(data.join("f")).expect("copied"), "from-image\n");
        let in_use = VolumeBackend::remove(&engine, &volume, true).await.expect_err("in use");
        let anon_id = ContainerBackend::inspect(&engine, "anon", false).await.expect("inspect").id;
        assert_eq!(in_use.message(), format!("remove {volume}: volume is in use - [{anon_id}]"));
        rm(&engine, "anon", true).await;
        assert!(VolumeBackend::inspect(&engine, &volume).await.is_err(), "rm -v removed it");
        assert!(!data.exists());

        // A named volume across containers, with nocopy, :ro and --volumes-from.
        run(
            &engine,
            "wr",
            "withvol",
            &["sh", "-c", "echo kept > /seed/g"],
            binds(&["named:/seed:nocopy"]),
        )
        .await;
        let out = run(&engine, "rd", "busybox", &["ls", "/data"], binds(&["named:/data:ro"])).await;
        assert_eq!(out, "g\n", "nocopy: only what wr wrote");
        let from = HostConfig { volumes_from: Some(vec!["wr:ro".into()]), ..HostConfig::default() };
        let out = run(&engine, "fr", "busybox", &["cat", "/seed/g"], from).await;
        assert_eq!(out, "kept\n");
        // docker cp on the stopped writer reaches into its volume (`kept\n` is not in its rootfs).
        let stat = ContainerBackend::archive_stat(&engine, "wr", "/seed/g").await.expect("stat");
        assert_eq!(stat.size, 5);
        let shared = mounts(&engine, "fr").await;
        assert_eq!(
            (shared[0].name.as_str(), shared[0].rw, shared[0].mode.as_str()),
            ("named", false, "")
        );
        for name in ["wr", "rd", "fr"] {
            rm(&engine, name, true).await;
        }
        assert!(
            VolumeBackend::inspect(&engine, "named").await.is_ok(),
            "rm -v keeps named volumes"
        );
        VolumeBackend::remove(&engine, "named", false).await.expect("unreferenced now");

        // A tmpfs-typed volume: mounted while its container runs, across a restart of the engine.
        let tmpfs = VolumeCreateOptions {
            name: "scratch".into(),
            driver_opts: Some(
                [("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
            ..Default::default()
        };
        VolumeBackend::create(&engine, tmpfs).await.expect("create");
        let scratch = data_root.join("volumes/scratch/_data");
        let _guard = UnmountOnDrop(scratch.clone());
        let mut options = super::super::tests::create_options("tm", &["sleep", "60"], "none");
        options.body.host_config =
            Some(HostConfig { network_mode: "none".into(), ..binds(&["scratch:/t"]) });
        ContainerBackend::create(&engine, options).await.expect("create");
        assert!(!crate::volume::is_mounted(&scratch), "not mounted before the start");
        ContainerBackend::start(&engine, "tm", "", "").await.expect("start");
        assert!(crate::volume::is_mounted(&scratch), "mounted while tm runs");

        drop(engine);
        let (engine, _) = crate::testutil::engine_with(&ctrd, "berthvol0", "10.213.249.1/24").await;
        assert!(crate::volume::is_mounted(&scratch), "still mounted for the running tm");
        let err = VolumeBackend::remove(&engine, "scratch", false)
            .await
            .expect_err("references restored");
        assert!(err.message().contains("volume is in use"), "{err}");
        let stop = berth_backend::ContainerStopOptions { timeout: Some(0), signal: None };
        ContainerBackend::stop(&engine, "tm", stop).await.expect("stop");
        assert!(!crate::volume::is_mounted(&scratch), "unmounted after the last user");
        rm(&engine, "tm", false).await;
        VolumeBackend::remove(&engine, "scratch", false).await.expect("remove");

        let left = VolumeBackend::list(&engine, berth_api::Filters::default()).await.expect("list");
        assert!(left.volumes.is_empty(), "{left:?}");
        assert!(events.actions("named").contains(&"mount".to_owned()));
        rm(&engine, "seed", true).await;
        engine.shutdown().await;
        ctrd.stop().await;
    }

    /// Unmounts a test volume's `_data` if a failed assertion left it mounted.
    struct UnmountOnDrop(PathBuf);

    impl Drop for UnmountOnDrop {
        fn drop(&mut self) {
            let _ = nix::mount::umount2(&self.0, nix::mount::MntFlags::MNT_DETACH);
        }
    }

    #[test]
    fn paths_clean_and_sort_by_depth() {
        assert_eq!(clean("/a/./b//c/../d/"), "/a/b/d");
        assert_eq!(clean("/.."), "/");
        assert_eq!((depth("/"), depth("/a/b")), (0, 2));
    }
}
