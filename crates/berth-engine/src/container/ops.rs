//! The container operations besides the lifecycle: update, top, stats, the filesystem views
//! (`docker cp`, `diff`, `export`, sizes), prune.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::container::{
    ContainerChangeResponseItem, ContainerPruneReport, ContainerStats, ContainerTopResponse,
    ContainerUpdateBody, ContainerUpdateResponse, PathStat,
};
use berth_api::{Error, ErrorKind, Filters, Result};
use berth_backend::{ArchivePutOptions, BoxStream, ByteStream};

use super::Container;
use super::manager::Manager;
use super::record::parse_time;
use crate::fs::TempMount;

/// A view of a container's root filesystem: the running container's own root
/// (`/proc/<pid>/root`, with its mounts), or its snapshot mounted for the occasion.
pub(crate) enum RootView {
    /// The running container's root.
    Live(PathBuf),
    /// The snapshot, mounted until this is dropped.
    Mounted(TempMount),
}

impl RootView {
    /// The directory to work in.
    pub(crate) fn path(&self) -> &Path {
        match self {
            RootView::Live(p) => p,
            RootView::Mounted(m) => m.path(),
        }
    }
}

impl Manager {
    /// A view of `c`'s root filesystem.
    pub(crate) async fn root_view(&self, c: &Container) -> Result<RootView> {
        let (running, pid) = c.with(|r| (r.state.is_running(), r.state.pid));
        if running && pid != 0 {
            return Ok(RootView::Live(PathBuf::from(format!("/proc/{pid}/root"))));
        }
        let mounts = self.runtime.rootfs_mounts(&c.id).await?;
        let scratch = self.paths.exec_root.join("mnt");
        std::fs::create_dir_all(&scratch).map_err(|e| {
            Error::system(format!("cannot create {}", scratch.display())).with_source(e)
        })?;
        Ok(RootView::Mounted(TempMount::new(mounts, &scratch)?))
    }

    /// `GraphDriver.Data` of inspect: the overlay directories of the container's snapshot.
    pub(crate) async fn graph_driver_data(
        &self,
        c: &Container,
    ) -> Option<BTreeMap<String, String>> {
        let mounts = self.runtime.rootfs_mounts(&c.id).await.ok()?;
        let mut data = BTreeMap::new();
        for m in mounts.iter().filter(|m| m.r#type == "overlay") {
            for opt in &m.options {
                if let Some((k, v)) = opt.split_once('=') {
                    let key = match k {
                        "lowerdir" => "LowerDir",
                        "upperdir" => "UpperDir",
                        "workdir" => "WorkDir",
                        _ => continue,
                    };
                    data.insert(key.to_owned(), v.to_owned());
                }
            }
        }
        Some(data)
    }

    /// `(SizeRw, SizeRootFs)`: the writable layer's size, and that plus the image's.
    pub(crate) async fn sizes(&self, c: &Container) -> (i64, i64) {
        let Ok(mounts) = self.runtime.rootfs_mounts(&c.id).await else { return (0, 0) };
        let upper = crate::fs::upper_dir(&mounts);
        let rw = match upper {
            Some(dir) => {
                tokio::task::spawn_blocking(move || crate::fs::size(&dir)).await.unwrap_or(0)
            }
            None => 0,
        };
        let image = match self.images.find(&c.with(|r| r.image_id.clone())).await {
            Ok(entry) => crate::image::views::size(&entry),
            Err(_) => 0,
        };
        let rw = i64::try_from(rw).unwrap_or(i64::MAX);
        (rw, rw.saturating_add(image))
    }

    /// `POST /containers/{name}/update`.
    pub(crate) async fn update(
        &self,
        name: &str,
        body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        let id = c.id.clone();
        let wrap = |e: Error| {
            Error::new(e.kind(), format!("Cannot update container {id}: {}", e.message()))
        };
        let mut hc = c.with(|r| r.host_config.clone());
        let new = &body.resources;
        let r = &mut hc.resources;
        // dockerd's update takes every limit that is set (non-zero) in the body.
        let set_i64 = |mine: &mut i64, theirs: i64| {
            if theirs != 0 {
                *mine = theirs;
            }
        };
        set_i64(&mut r.cpu_shares, new.cpu_shares);
        set_i64(&mut r.memory, new.memory);
        set_i64(&mut r.nano_cpus, new.nano_cpus);
        set_i64(&mut r.cpu_period, new.cpu_period);
        set_i64(&mut r.cpu_quota, new.cpu_quota);
        set_i64(&mut r.cpu_realtime_period, new.cpu_realtime_period);
        set_i64(&mut r.cpu_realtime_runtime, new.cpu_realtime_runtime);
        set_i64(&mut r.memory_reservation, new.memory_reservation);
        set_i64(&mut r.memory_swap, new.memory_swap);
        if new.blkio_weight != 0 {
            r.blkio_weight = new.blkio_weight;
        }
        if !new.cpuset_cpus.is_empty() {
            r.cpuset_cpus = new.cpuset_cpus.clone();
        }
        if !new.cpuset_mems.is_empty() {
            r.cpuset_mems = new.cpuset_mems.clone();
        }
        if new.pids_limit.is_some() {
            r.pids_limit = new.pids_limit;
        }
        if !body.restart_policy.name.is_empty() {
            hc.restart_policy = body.restart_policy.clone();
        }
        super::config::validate_resources(&hc.resources).map_err(wrap)?;
        if hc.auto_remove && !matches!(hc.restart_policy.name.as_str(), "" | "no") {
            return Err(wrap(Error::invalid(
                "Restart policy cannot be updated because AutoRemove is enabled for the container",
            )));
        }
        let probe = berth_api::container::HostConfig {
            restart_policy: hc.restart_policy.clone(),
            ..Default::default()
        };
        super::config::validate_host_config(&probe).map_err(wrap)?;
        if c.with(|r| r.state.is_running()) {
            let resources =
                crate::runtime::spec::linux_resources(&super::spec::resources(&hc), false);
            self.runtime.update_resources(&c.id, &resources).await.map_err(wrap)?;
        }
        c.update(|rec| rec.host_config = hc)?;
        self.event(&c, "update", &[]);
        Ok(ContainerUpdateResponse { warnings: Some(Vec::new()) })
    }

    /// `GET /containers/{name}/top`.
    pub(crate) async fn top(&self, name: &str, ps_args: &str) -> Result<ContainerTopResponse> {
        let c = self.get(name)?;
        if !c.with(|r| r.state.is_running()) {
            return Err(Error::conflict(format!("Container {} is not running", c.id)));
        }
        crate::metrics::top::validate_ps_args(ps_args)?;
        let pids = self.runtime.pids(&c.id).await?;
        let args = if ps_args.is_empty() { "-ef" } else { ps_args };
        crate::metrics::top::top(&pids, args).await
    }

    /// `GET /containers/{name}/stats`.
    pub(crate) fn stats(
        self: &Arc<Self>,
        name: &str,
        stream: bool,
        one_shot: bool,
    ) -> Result<BoxStream<'static, Result<ContainerStats>>> {
        let c = self.get(name)?;
        let sampler = self.sampler()?;
        let target = crate::metrics::stream::StatsTarget {
            id: c.id.clone(),
            name: c.with(|r| r.name.clone()),
            cgroup: format!("{}/{}", super::spec::CGROUP_PARENT, c.id),
            networks: c.with(|r| r.host_config.network_mode != "host"),
        };
        let watched = Arc::clone(&c);
        let running = move || {
            watched.with(|r| (r.state.is_running() && r.state.pid != 0).then_some(r.state.pid))
        };
        Ok(sampler.stream(target, stream, one_shot, running))
    }

    /// `GET /containers/{name}/changes`.
    pub(crate) async fn changes(
        &self,
        name: &str,
    ) -> Result<Option<Vec<ContainerChangeResponseItem>>> {
        let c = self.get(name)?;
        let mounts = self.runtime.rootfs_mounts(&c.id).await?;
        let Some(upper) = crate::fs::upper_dir(&mounts) else { return Ok(None) };
        let lowers = crate::fs::lower_dirs(&mounts);
        let scratch = self.paths.exec_root.join("mnt");
        let changes = tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&scratch).map_err(|e| {
                Error::system(format!("cannot create {}", scratch.display())).with_source(e)
            })?;
            crate::fs::changes(&lowers, &upper, &scratch)
        })
        .await
        .map_err(|e| Error::system("diff task failed").with_source(e))??;
        Ok(if changes.is_empty() { None } else { Some(changes) })
    }

    /// `GET /containers/{name}/export`.
    pub(crate) async fn export(&self, name: &str) -> Result<ByteStream> {
        let c = self.get(name)?;
        let view = self.root_view(&c).await?;
        let root = view.path().to_owned();
        let stream = crate::fs::export(&root, view).await?;
        self.event(&c, "export", &[]);
        Ok(stream)
    }

    /// `HEAD /containers/{name}/archive`.
    pub(crate) async fn archive_stat(&self, name: &str, path: &str) -> Result<PathStat> {
        let c = self.get(name)?;
        check_abs(path)?;
        let view = self.archive_view(&c).await?;
        crate::fs::stat(view.path(), path, name).await
    }

    /// `GET /containers/{name}/archive`.
    pub(crate) async fn archive_get(
        &self,
        name: &str,
        path: &str,
    ) -> Result<(PathStat, ByteStream)> {
        let c = self.get(name)?;
        check_abs(path)?;
        let view = self.archive_view(&c).await?;
        let root = view.path().to_owned();
        let out = crate::fs::archive_get(&root, path, name, view).await?;
        self.event(&c, "archive-path", &[]);
        Ok(out)
    }

    /// `PUT /containers/{name}/archive`.
    pub(crate) async fn archive_put(&self, name: &str, options: ArchivePutOptions) -> Result<()> {
        let c = self.get(name)?;
        check_abs(&options.path)?;
        if c.with(|r| r.host_config.readonly_rootfs) {
            return Err(Error::new(ErrorKind::Forbidden, "container rootfs is marked read-only"));
        }
        let view = self.archive_view(&c).await?;
        let owner = self.default_owner(&c, view.path())?;
        crate::fs::archive_put(
            view.path(),
            &options.path,
            name,
            options.no_overwrite_dir_non_dir,
            options.copy_uid_gid,
            owner,
            options.body,
        )
        .await?;
        drop(view);
        self.event(&c, "extract-to-dir", &[]);
        Ok(())
    }

    /// The container user's uid and gid when it has a `User` (owner of files copied in with
    /// `copyUIDGID`, as dockerd).
    fn default_owner(&self, c: &Container, root: &Path) -> Result<Option<(u32, u32)>> {
        let user = c.with(|r| r.config.user.clone());
        if user.is_empty() {
            return Ok(None);
        }
        let files = crate::runtime::user::load(root)?;
        let resolved = crate::runtime::user::resolve(&user, &[], &files)?;
        Ok(Some((resolved.user.uid, resolved.user.gid)))
    }

    /// `POST /containers/prune`.
    pub(crate) async fn prune(&self, filters: Filters) -> Result<ContainerPruneReport> {
        let until = match filters.get("until").next() {
            Some(u) => Some(berth_api::params::parse_timestamp("until", u)?),
            None => None,
        };
        let mut deleted = Vec::new();
        let mut reclaimed: u64 = 0;
        for c in self.registry.all() {
            let eligible = c.with(|r| {
                let labels = r.config.labels.clone().unwrap_or_default();
                let created = parse_time(&r.created).map(|t| t.unix_timestamp_nanos()).unwrap_or(0);
                !r.state.is_running()
                    && r.state.status != super::record::Status::Restarting
                    && filters.match_labels("label", |k| labels.get(k).map(String::as_str))
                    && !filters.get("label!").any(|l| label_matches(&labels, l))
                    && until.is_none_or(|u| created < i128::from(u))
            });
            if !eligible {
                continue;
            }
            let (size, _) = self.sizes(&c).await;
            match self.remove(&c.id, false, false).await {
                Ok(()) => {
                    deleted.push(c.id.clone());
                    reclaimed += u64::try_from(size).unwrap_or(0);
                }
                Err(e) => tracing::debug!(container = %c.id, error = %e, "not pruned"),
            }
        }
        self.events_prune(reclaimed);
        Ok(ContainerPruneReport {
            containers_deleted: if deleted.is_empty() { None } else { Some(deleted) },
            space_reclaimed: reclaimed,
        })
    }
}

fn label_matches(labels: &BTreeMap<String, String>, filter: &str) -> bool {
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|have| have == v),
        None => labels.contains_key(filter),
    }
}

/// dockerd refuses relative archive paths.
fn check_abs(path: &str) -> Result<()> {
    if path.starts_with('/') {
        Ok(())
    } else {
        Err(Error::invalid(format!("Path {path} is not absolute")))
    }
}
