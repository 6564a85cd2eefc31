//! The container operations besides the lifecycle: update, top, stats, the filesystem views
//! (`docker cp`, `diff`, `export`, sizes), prune.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use berth_api::container::{
    ContainerChangeResponseItem, ContainerPruneReport, ContainerStats, ContainerTopResponse,
    ContainerUpdateBody, ContainerUpdateResponse, HostConfig, PathStat,
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
    Live(LiveRoot),
    /// The snapshot, mounted until this is dropped.
    Mounted(TempMount),
}

impl RootView {
    /// The directory to work in.
    pub(crate) fn path(&self) -> &Path {
        match self {
            RootView::Live(root) => &root.path,
            RootView::Mounted(m) => m.path(),
        }
    }
}

/// A running container's root directory, held open: `/proc/<pid>/root` resolved once, when the
/// PID was checked to be the container's, so that a PID reused by another process (the
/// container exited and berthd has not seen it yet) can never lead a `docker cp` to that
/// process's root, such as the host's.
pub(crate) struct LiveRoot {
    /// `/proc/self/fd/<n>` of `_dir`: opening it opens the directory held, whatever the PID
    /// now names.
    path: PathBuf,
    _dir: std::os::fd::OwnedFd,
}

impl LiveRoot {
    /// Opens the root of process `pid`, which must be container `id`'s: a pidfd pins the
    /// process, its root is opened, its cgroup must name the container, and the pidfd must
    /// still be alive after both (a process's PID is not reused while it lives).
    fn open(pid: u32, id: &str) -> Result<Self> {
        use std::os::fd::AsRawFd;
        let gone = || {
            Error::conflict(format!(
                "container {id} stopped while its filesystem was being opened; try again"
            ))
        };
        let process = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw);
        let pidfd = rustix::process::pidfd_open(
            process.ok_or_else(gone)?,
            rustix::process::PidfdFlags::empty(),
        )
        .map_err(|_| gone())?;
        let proc_root = PathBuf::from(format!("/proc/{pid}/root"));
        let dir = nix::fcntl::open(
            &proc_root,
            nix::fcntl::OFlag::O_PATH
                | nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|_| gone())?;
        let cgroup = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).map_err(|_| gone())?;
        if !cgroup.contains(id) {
            return Err(gone());
        }
        let mut poll = [rustix::event::PollFd::new(&pidfd, rustix::event::PollFlags::IN)];
        let zero = rustix::event::Timespec { tv_sec: 0, tv_nsec: 0 };
        // Readable once the process has exited.
        let exited = rustix::event::poll(&mut poll, Some(&zero)).map_err(|e| {
            Error::system(format!("cannot watch process {pid}: {e}")).with_source(e)
        })?;
        if exited > 0 {
            return Err(gone());
        }
        Ok(Self { path: PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd())), _dir: dir })
    }
}

impl Manager {
    /// A view of `c`'s root filesystem.
    pub(crate) async fn root_view(&self, c: &Container) -> Result<RootView> {
        let (running, pid) = c.with(|r| (r.state.is_running(), r.state.pid));
        if running && pid != 0 {
            return Ok(RootView::Live(LiveRoot::open(pid, &c.id)?));
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
        mut body: ContainerUpdateBody,
    ) -> Result<ContainerUpdateResponse> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        // As dockerd's checks of the request: a block-IO weight the kernel cannot apply is
        // dropped, with its warning.
        let mut warnings = Vec::new();
        super::devices::drop_unsupported_blkio(&mut body.resources, &mut warnings);
        let hc = updated_host_config(&c.id, c.with(|r| r.host_config.clone()), &body)?;
        if c.with(|r| r.state.is_running()) {
            let mut resources =
                crate::runtime::spec::linux_resources(&super::spec::resources(&hc), false);
            if hc.resources.blkio_weight > 0 {
                resources["blockIO"] = serde_json::json!({ "weight": hc.resources.blkio_weight });
            }
            self.runtime
                .update_resources(&c.id, &resources)
                .await
                .map_err(|e| cannot_update(&c.id, e))?;
        }
        c.update(|rec| rec.host_config = hc).map_err(|e| cannot_update(&c.id, e))?;
        self.event(&c, "update", &[]);
        // dockerd's Warnings are those of its checks, null rather than [] when there are none.
        Ok(ContainerUpdateResponse { warnings: (!warnings.is_empty()).then_some(warnings) })
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

/// The host config after `body`, checked as dockerd checks an update: first the request
/// (`verifyContainerSettings`: the body's restart policy, and the limits — Berth checks them as
/// they will be), with errors as they are; then its conflicts with what the container has
/// (`UpdateContainer`), with errors naming the container.
fn updated_host_config(
    id: &str,
    mut hc: HostConfig,
    body: &ContainerUpdateBody,
) -> Result<HostConfig> {
    if !body.restart_policy.name.is_empty() {
        let probe =
            HostConfig { restart_policy: body.restart_policy.clone(), ..HostConfig::default() };
        super::config::validate_host_config(&probe)?;
    }
    let new = &body.resources;
    // As dockerd: the request's limits are checked as a create's are, then against what the
    // container has (`UpdateContainer`), whose conflicts are 409s naming the container.
    super::config::validate_resources(new)?;
    let conflict = |why: &str| cannot_update(id, Error::conflict(why));
    let current = &hc.resources;
    for (asked, set, why) in [
        (
            new.nano_cpus,
            current.cpu_period,
            "Nano CPUs cannot be updated as CPU Period has already been set",
        ),
        (
            new.nano_cpus,
            current.cpu_quota,
            "Nano CPUs cannot be updated as CPU Quota has already been set",
        ),
        (
            new.cpu_period,
            current.nano_cpus,
            "CPU Period cannot be updated as NanoCPUs has already been set",
        ),
        (
            new.cpu_quota,
            current.nano_cpus,
            "CPU Quota cannot be updated as NanoCPUs has already been set",
        ),
    ] {
        if asked > 0 && set > 0 {
            return Err(conflict(&format!("Conflicting options: {why}")));
        }
    }
    if new.memory != 0 && new.memory > current.memory_swap && new.memory_swap == 0 {
        return Err(conflict(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
        ));
    }
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
        if hc.auto_remove && body.restart_policy.name != "no" {
            return Err(cannot_update(
                id,
                Error::conflict(
                    "Restart policy cannot be updated because AutoRemove is enabled for the container",
                ),
            ));
        }
        hc.restart_policy = body.restart_policy.clone();
    }
    Ok(hc)
}

/// dockerd's wrapping of an error from applying an update (`errCannotUpdate`).
fn cannot_update(id: &str, e: Error) -> Error {
    Error::new(e.kind(), format!("Cannot update container {id}: {}", e.message()))
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

#[cfg(test)]
mod tests {
    use berth_api::container::{ContainerUpdateBody, HostConfig, RestartPolicy, WaitCondition};
    use berth_backend::{ContainerBackend, ContainerListOptions, ContainerRemoveOptions};

    use super::*;
    use crate::container::tests::{create_options, import_busybox};
    use crate::testutil::{TestContainerd, engine_with};

    #[test]
    fn a_live_root_is_the_checked_process_own_and_stays_pinned() {
        use std::os::unix::fs::MetadataExt;
        // This process stands for the container: its cgroup names "the container".
        let me = std::process::id();
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").expect("cgroup");
        let id = cgroup.lines().next().and_then(|l| l.rsplit(':').next()).expect("a path");
        let root = LiveRoot::open(me, id).expect("our own root");
        assert!(root.path.starts_with("/proc/self/fd/"), "{}", root.path.display());
        let (held, real) =
            (std::fs::metadata(&root.path).expect("held"), std::fs::metadata("/").expect("/"));
        assert_eq!((held.dev(), held.ino()), (real.dev(), real.ino()));

        // A process whose cgroup does not name the container: refused, never opened as its root.
        let other = LiveRoot::open(me, "0123456789abcdef-not-this-cgroup").map(|_| ());
        assert_eq!(other.expect_err("not the container").kind(), ErrorKind::Conflict);

        // A PID that no longer runs (exited and reaped).
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let pid = child.id();
        child.wait().expect("wait");
        let gone = LiveRoot::open(pid, id).map(|_| ()).expect_err("exited");
        assert!(gone.message().contains("stopped while its filesystem was being opened"), "{gone}");
    }

    fn body(memory: i64, policy: &str) -> ContainerUpdateBody {
        let mut body = ContainerUpdateBody {
            restart_policy: RestartPolicy { name: policy.to_owned(), ..RestartPolicy::default() },
            ..ContainerUpdateBody::default()
        };
        body.resources.memory = memory;
        body
    }

    #[test]
    fn update_checks_name_the_container_only_when_applying() {
        let id = "c".repeat(64);
        let hc = HostConfig::default();
        // The checks of the request answer as they are.
        let e = updated_host_config(&id, hc.clone(), &body(1024, "")).expect_err("memory");
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::InvalidParameter, "Minimum memory limit allowed is 6MB")
        );
        let e = updated_host_config(&id, hc.clone(), &body(0, "sometimes")).expect_err("policy");
        assert!(
            e.message().starts_with("invalid restart policy: unknown policy 'sometimes'"),
            "{e}"
        );
        // A conflict with what the container has is dockerd's `errCannotUpdate`.
        let auto = HostConfig { auto_remove: true, ..HostConfig::default() };
        let e = updated_host_config(&id, auto.clone(), &body(0, "always")).expect_err("rm");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            e.message(),
            format!(
                "Cannot update container {id}: Restart policy cannot be updated because AutoRemove is enabled for the container"
            )
        );
        assert!(updated_host_config(&id, auto, &body(0, "no")).is_ok());

        // A memory limit over the container's swap limit needs a new swap limit with it.
        let e = updated_host_config(&id, hc.clone(), &body(64 << 20, "")).expect_err("swap");
        assert_eq!(e.kind(), ErrorKind::Conflict);
        assert_eq!(
            e.message(),
            format!(
                "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
            )
        );
        let mut with_swap = body(64 << 20, "on-failure");
        with_swap.resources.memory_swap = 128 << 20;
        let updated = updated_host_config(&id, hc, &with_swap).expect("update");
        assert_eq!(updated.resources.memory, 64 << 20);
        // NanoCPUs and a CFS period or quota exclude each other across updates.
        let mut nano = body(0, "");
        nano.resources.nano_cpus = 500_000_000;
        let with_nano = updated_host_config(&id, updated.clone(), &nano).expect("nano");
        let mut quota = body(0, "");
        quota.resources.cpu_quota = 50_000;
        let e = updated_host_config(&id, with_nano, &quota).expect_err("quota");
        assert!(
            e.message().ends_with(
                "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
            ),
            "{e}"
        );
        assert_eq!(updated.restart_policy.name, "on-failure");
        // An empty policy name keeps the container's, whatever the count.
        let mut keep = body(0, "");
        keep.restart_policy.maximum_retry_count = 3;
        let kept = updated_host_config(&id, updated.clone(), &keep).expect("kept");
        assert_eq!(kept.restart_policy, updated.restart_policy);
    }

    /// Create, list, update and a first start against a private containerd: what dockerd 28
    /// shows before and after.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_created_container_reads_as_dockerd_28_before_and_after_its_first_start() {
        let ctrd = TestContainerd::start().await;
        let (engine, _) = engine_with(&ctrd, "berthops0", "10.213.248.1/24").await;
        import_busybox(&engine).await;
        let mut options = create_options("fresh", &["sh", "-c", "exit 0"], "none");
        options.body.config.env = Some(vec!["MINE=1".into()]);
        let created = ContainerBackend::create(&engine, options).await.expect("create");

        let i = ContainerBackend::inspect(&engine, "fresh", false).await.expect("inspect");
        for path in [&i.hostname_path, &i.hosts_path, &i.resolv_conf_path, &i.log_path] {
            assert_eq!(path, "", "no files before the first start");
        }
        let network_id = |i: &berth_api::container::ContainerInspect| {
            i.network_settings.clone().expect("settings").networks.expect("networks")["none"]
                .network_id
                .clone()
        };
        assert_eq!(network_id(&i), "");
        let config = i.config.clone().expect("config");
        assert_eq!(config.labels, Some(Default::default()));
        assert_eq!(config.env, Some(vec!["MINE=1".to_owned()]));
        let hc = i.host_config.clone().expect("host config");
        assert_eq!(hc.runtime, "runc");
        assert!(hc.masked_paths.is_some_and(|p| !p.is_empty()));
        assert!(hc.readonly_paths.is_some_and(|p| p.len() == 5));
        let listed = ContainerBackend::list(
            &engine,
            ContainerListOptions { all: true, ..ContainerListOptions::default() },
        )
        .await
        .expect("list");
        assert_eq!(listed[0].command, "sh -c 'exit 0'");

        let e = ContainerBackend::update(&engine, "fresh", body(1024, ""))
            .await
            .expect_err("too little memory");
        assert_eq!(e.message(), "Minimum memory limit allowed is 6MB");
        // No limit yet, so no swap limit: a memory limit needs one with it (dockerd 28).
        let e = ContainerBackend::update(&engine, "fresh", body(64 << 20, ""))
            .await
            .expect_err("memory over the swap limit");
        assert_eq!(e.kind(), ErrorKind::Conflict, "{e}");
        let mut with_swap = body(64 << 20, "");
        with_swap.resources.memory_swap = -1;
        let answer = ContainerBackend::update(&engine, "fresh", with_swap).await.expect("update");
        assert_eq!(answer.warnings, None);
        // A block-IO weight is kept where the kernel can apply it; elsewhere (cgroup v1 without
        // BFQ or CFQ) it is dropped with dockerd's warning.
        let mut weight = body(0, "");
        weight.resources.blkio_weight = 300;
        let answer = ContainerBackend::update(&engine, "fresh", weight).await.expect("update");
        let kept = ContainerBackend::inspect(&engine, "fresh", false)
            .await
            .expect("inspect")
            .host_config
            .expect("host config")
            .resources
            .blkio_weight;
        match answer.warnings {
            None => assert_eq!(kept, 300),
            Some(w) => {
                assert_eq!(kept, 0);
                assert!(w[0].starts_with("Your kernel does not support Block I/O weight"), "{w:?}");
            }
        }

        let wait =
            ContainerBackend::wait(&engine, "fresh", WaitCondition::NextExit).await.expect("wait");
        ContainerBackend::start(&engine, "fresh", "", "").await.expect("start");
        let status = tokio::time::timeout(std::time::Duration::from_secs(30), wait)
            .await
            .expect("exits in time");
        assert_eq!(status.status_code, 0);
        let i = ContainerBackend::inspect(&engine, "fresh", false).await.expect("inspect");
        let dir = ctrd.dir.path().join("data/containers").join(&created.id);
        assert_eq!(i.hostname_path, dir.join("hostname").display().to_string());
        assert_eq!(i.log_path, dir.join(format!("{}-json.log", created.id)).display().to_string());
        assert!(!network_id(&i).is_empty(), "the network's ID after the first start");

        ContainerBackend::remove(&engine, "fresh", ContainerRemoveOptions::default())
            .await
            .expect("rm");

        // A network that does not exist: dockerd 28 creates the container, and its start fails.
        let options = create_options("lost", &["true"], "berth-nosuch-net");
        ContainerBackend::create(&engine, options).await.expect("create on a missing network");
        let i = ContainerBackend::inspect(&engine, "lost", false).await.expect("inspect");
        let networks = i.network_settings.expect("settings").networks.expect("networks");
        assert_eq!(networks.keys().collect::<Vec<_>>(), ["berth-nosuch-net"]);
        let e = ContainerBackend::start(&engine, "lost", "", "").await.expect_err("no network");
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::NotFound, "network berth-nosuch-net not found")
        );
        let state = ContainerBackend::inspect(&engine, "lost", false).await.expect("inspect");
        assert_eq!(state.state.expect("state").status, "created");
        ContainerBackend::remove(&engine, "lost", ContainerRemoveOptions::default())
            .await
            .expect("rm");
        engine.shutdown().await;
        ctrd.stop().await;
    }
}
