//! Local volumes: dockerd's `local` driver and volume store, under `data-root/volumes/`.
//!
//! Each volume is a directory `<name>/` holding `_data` (what containers see, the `Mountpoint`)
//! and `volume.json` (name, driver, creation time, labels, options), written atomically. An
//! anonymous volume carries dockerd's `com.docker.volume.anonymous` label. A volume with the
//! driver options `type`/`device` is mounted on its `_data` when the first container using it
//! starts and unmounted when the last one stops.
//!
//! References and active mounts are kept in memory, by container ID: containers reference their
//! volumes from create to removal (a referenced volume cannot be removed or pruned), and hold a
//! mount while they run. After a restart of berthd the container service rebuilds both from its
//! records ([`Volumes::restore_reference`], then [`Volumes::unmount_unused`]).

mod local;
mod query;

#[cfg(test)]
pub(crate) use local::is_mounted;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use berth_api::volume::{
    ANONYMOUS_LABEL, LOCAL_DRIVER, UsageData, Volume, VolumeCreateOptions, VolumeListResponse,
    VolumePruneReport,
};
use berth_api::{Error, Filters, Result};
use serde::{Deserialize, Serialize};

use crate::EventSink;

/// The metadata file in a volume's directory.
const META_FILE: &str = "volume.json";
/// The data directory in a volume's directory (dockerd's name).
const DATA_DIR: &str = "_data";
/// Where removed volumes wait for their deletion (a name no volume can have).
const TRASH_DIR: &str = ".trash";

/// What `volume.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Meta {
    name: String,
    driver: String,
    /// RFC 3339, seconds, UTC.
    created_at: String,
    labels: Option<BTreeMap<String, String>>,
    options: Option<BTreeMap<String, String>>,
}

impl Meta {
    fn options(&self) -> &BTreeMap<String, String> {
        static NONE: BTreeMap<String, String> = BTreeMap::new();
        self.options.as_ref().unwrap_or(&NONE)
    }

    fn is_anonymous(&self) -> bool {
        self.labels.as_ref().is_some_and(|l| l.contains_key(ANONYMOUS_LABEL))
    }
}

/// One volume in memory.
#[derive(Debug)]
struct Entry {
    meta: Meta,
    /// Containers referencing the volume (created with it, not yet removed).
    refs: BTreeSet<String>,
    /// Containers holding a mount (running).
    users: BTreeSet<String>,
    /// `_data` carries the volume's own mount (volumes with `type`/`device` options).
    mounted: bool,
}

/// The volume store. Cheap to clone.
#[derive(Clone)]
pub(crate) struct Volumes {
    inner: Arc<Inner>,
}

struct Inner {
    /// `data-root/volumes`.
    root: PathBuf,
    state: Mutex<BTreeMap<String, Entry>>,
    events: Arc<dyn EventSink>,
    pruning: AtomicBool,
}

impl std::fmt::Debug for Volumes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volumes").field("root", &self.inner.root).finish_non_exhaustive()
    }
}

/// dockerd's `get <name>: no such volume`.
fn no_such_volume(name: &str) -> Error {
    Error::not_found(format!("get {name}: no such volume"))
}

fn io_error(what: &str, path: &Path, err: std::io::Error) -> Error {
    crate::persist::io_error(&format!("{what} '{}'", path.display()), err)
}

impl Volumes {
    /// Opens the store under `root` (created if missing), loading every volume and finishing
    /// removals a crash interrupted.
    pub(crate) fn open(root: PathBuf, events: Arc<dyn EventSink>) -> Result<Self> {
        create_dir(&root, 0o701)?;
        let mut volumes = BTreeMap::new();
        let dirs = std::fs::read_dir(&root)
            .map_err(|e| io_error("cannot read the volume directory", &root, e))?;
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !dir.path().is_dir() {
                continue;
            }
            crate::persist::remove_stale_temps(&dir.path());
            match load_meta(&dir.path(), &name) {
                Some(meta) => {
                    let mounted = local::is_mounted(&dir.path().join(DATA_DIR));
                    let entry =
                        Entry { meta, refs: BTreeSet::new(), users: BTreeSet::new(), mounted };
                    volumes.insert(name, entry);
                }
                None => tracing::warn!(dir = %dir.path().display(), "not a volume; skipping"),
            }
        }
        let store = Self {
            inner: Arc::new(Inner {
                root,
                state: Mutex::new(volumes),
                events,
                pruning: AtomicBool::new(false),
            }),
        };
        store.empty_trash();
        Ok(store)
    }

    fn lock(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.inner.root.join(name)
    }

    /// The `_data` directory of volume `name`.
    pub(crate) fn data_dir(&self, name: &str) -> PathBuf {
        self.dir(name).join(DATA_DIR)
    }

    fn to_api(&self, meta: &Meta) -> Volume {
        Volume {
            created_at: meta.created_at.clone(),
            driver: meta.driver.clone(),
            labels: meta.labels.clone(),
            mountpoint: self.data_dir(&meta.name).display().to_string(),
            name: meta.name.clone(),
            options: meta.options.clone(),
            scope: "local".to_owned(),
            status: None,
            usage_data: None,
        }
    }

    /// Publishes a volume event.
    pub(crate) fn event(&self, name: &str, action: &str, attributes: &[(&str, String)]) {
        let attributes = attributes.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
        self.inner.events.publish("volume", action, name, attributes);
    }

    /// `POST /volumes/create`, and the volumes containers create: an existing name returns that
    /// volume as it is; an empty name generates one and marks the volume anonymous.
    /// `reference` (a container ID) references the volume at once.
    pub(crate) fn create(
        &self,
        request: VolumeCreateOptions,
        reference: Option<&str>,
    ) -> Result<Volume> {
        let anonymous = request.name.is_empty();
        let name =
            if anonymous { crate::container::names::generate_id() } else { request.name.clone() };
        let in_create = |e: Error| Error::new(e.kind(), format!("create {name}: {}", e.message()));
        let driver = request.driver.as_str();
        if !driver.is_empty() && driver != LOCAL_DRIVER {
            return Err(Error::not_found(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        let mut state = self.lock();
        if let Some(entry) = state.get_mut(&name) {
            if let Some(id) = reference {
                entry.refs.insert(id.to_owned());
            }
            return Ok(self.to_api(&entry.meta));
        }
        local::validate_name(&name).map_err(in_create)?;
        if let Some(options) = &request.driver_opts {
            local::validate_options(options).map_err(in_create)?;
        }
        let mut labels = request.labels;
        if anonymous {
            labels.get_or_insert_default().insert(ANONYMOUS_LABEL.to_owned(), String::new());
        }
        let now = time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let meta = Meta {
            name: name.clone(),
            driver: LOCAL_DRIVER.to_owned(),
            created_at: crate::timefmt::go(now),
            labels,
            options: request.driver_opts,
        };
        self.write_new(&meta).map_err(in_create)?;
        let volume = self.to_api(&meta);
        let refs = reference.map(|id| BTreeSet::from([id.to_owned()])).unwrap_or_default();
        state.insert(name.clone(), Entry { meta, refs, users: BTreeSet::new(), mounted: false });
        drop(state);
        self.event(&name, "create", &[("driver", LOCAL_DRIVER.to_owned())]);
        Ok(volume)
    }

    /// Creates the directories and the metadata of a new volume; all or nothing.
    fn write_new(&self, meta: &Meta) -> Result<()> {
        let dir = self.dir(&meta.name);
        let written = create_dir(&dir, 0o701)
            .and_then(|()| create_dir(&dir.join(DATA_DIR), 0o755))
            .and_then(|()| {
                let bytes = serde_json::to_vec(meta).map_err(|e| {
                    Error::system("cannot serialize volume metadata").with_source(e)
                })?;
                crate::persist::save(&dir.join(META_FILE), &bytes)
            });
        if written.is_err()
            && let Err(e) = std::fs::remove_dir_all(&dir)
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot undo a failed volume create");
        }
        written
    }

    /// `GET /volumes/{name}`.
    pub(crate) fn get(&self, name: &str) -> Result<Volume> {
        let state = self.lock();
        let entry = state.get(name).ok_or_else(|| no_such_volume(name))?;
        Ok(self.to_api(&entry.meta))
    }

    /// Adds `container` to the references of the existing volume `name` (`--volumes-from`).
    pub(crate) fn reference(&self, name: &str, container: &str) -> Result<Volume> {
        let mut state = self.lock();
        let entry = state.get_mut(name).ok_or_else(|| no_such_volume(name))?;
        entry.refs.insert(container.to_owned());
        Ok(self.to_api(&entry.meta))
    }

    /// Drops `container`'s reference to `name` (absent ones are fine).
    pub(crate) fn release(&self, name: &str, container: &str) {
        if let Some(entry) = self.lock().get_mut(name) {
            entry.refs.remove(container);
        }
    }

    /// Whether `name` is an anonymous volume (dockerd's label).
    pub(crate) fn is_anonymous(&self, name: &str) -> bool {
        self.lock().get(name).is_some_and(|e| e.meta.is_anonymous())
    }

    /// `GET /volumes`, sorted by name. Filters are checked by the router.
    pub(crate) fn list(&self, filters: &Filters) -> VolumeListResponse {
        let state = self.lock();
        let volumes = state
            .values()
            .filter(|e| {
                query::matches_list(
                    filters,
                    &e.meta.name,
                    &e.meta.driver,
                    e.meta.labels.as_ref(),
                    e.refs.is_empty(),
                )
            })
            .map(|e| self.to_api(&e.meta))
            .collect();
        VolumeListResponse { volumes, warnings: None }
    }

    /// `DELETE /volumes/{name}`. `force` only forgives a missing volume; a referenced one is a
    /// 409 naming its containers, as dockerd's.
    pub(crate) async fn remove(&self, name: &str, force: bool) -> Result<()> {
        let trash = {
            let mut state = self.lock();
            let Some(entry) = state.get_mut(name) else {
                return if force { Ok(()) } else { Err(no_such_volume(name)) };
            };
            if !entry.refs.is_empty() {
                let refs: Vec<&str> = entry.refs.iter().map(String::as_str).collect();
                return Err(Error::conflict(format!(
                    "remove {name}: volume is in use - [{}]",
                    refs.join(", ")
                )));
            }
            if entry.mounted {
                local::unmount(&self.data_dir(name))?;
                entry.mounted = false;
            }
            // Out of the namespace first: the name is free at once, and a crash leaves a
            // directory in the trash rather than half a volume.
            let trash_dir = self.inner.root.join(TRASH_DIR);
            create_dir(&trash_dir, 0o700)?;
            let trash = trash_dir.join(uuid::Uuid::new_v4().simple().to_string());
            std::fs::rename(self.dir(name), &trash)
                .map_err(|e| io_error("error removing volume path", &self.dir(name), e))?;
            state.remove(name);
            trash
        };
        let deleted = tokio::task::spawn_blocking(move || delete_tree(&trash)).await;
        match deleted {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::warn!(volume = name, error = %e, "volume data left in the trash")
            }
            Err(e) => tracing::warn!(volume = name, error = %e, "volume deletion did not finish"),
        }
        self.event(name, "destroy", &[("driver", LOCAL_DRIVER.to_owned())]);
        Ok(())
    }

    /// `POST /volumes/prune`: unreferenced local volumes without driver options; only anonymous
    /// ones unless the `all` filter is true. Filters are checked by the router.
    pub(crate) async fn prune(&self, filters: &Filters) -> Result<VolumePruneReport> {
        if self.inner.pruning.swap(true, Ordering::SeqCst) {
            return Err(Error::conflict("a prune operation is already running"));
        }
        let result = self.prune_now(filters).await;
        self.inner.pruning.store(false, Ordering::SeqCst);
        result
    }

    async fn prune_now(&self, filters: &Filters) -> Result<VolumePruneReport> {
        let all = berth_api::volume::prune_all(filters)?;
        let candidates: Vec<String> = self
            .lock()
            .values()
            .filter(|e| e.refs.is_empty() && e.meta.options().is_empty())
            .filter(|e| all || e.meta.is_anonymous())
            .filter(|e| query::matches_labels(filters, e.meta.labels.as_ref()))
            .map(|e| e.meta.name.clone())
            .collect();
        let mut report = VolumePruneReport::default();
        for name in candidates {
            let size = self.size(&name).await;
            match self.remove(&name, false).await {
                Ok(()) => {
                    report.space_reclaimed += size;
                    report.volumes_deleted.push(name);
                }
                // Referenced meanwhile, or already gone: not pruned, as dockerd.
                Err(e) => tracing::warn!(volume = %name, error = %e, "could not remove volume"),
            }
        }
        self.event("", "prune", &[("reclaimed", report.space_reclaimed.to_string())]);
        Ok(report)
    }

    /// Bytes under `_data` (blocking walk on the blocking pool).
    async fn size(&self, name: &str) -> u64 {
        let data = self.data_dir(name);
        tokio::task::spawn_blocking(move || crate::fs::size(&data)).await.unwrap_or(0)
    }

    /// Local volumes without driver options (as dockerd's `/system/df`), with their size and
    /// reference count.
    pub(crate) async fn usage(&self) -> Vec<Volume> {
        let listed: Vec<(Volume, usize)> = self
            .lock()
            .values()
            .filter(|e| e.meta.options().is_empty())
            .map(|e| (self.to_api(&e.meta), e.refs.len()))
            .collect();
        let mut out = Vec::with_capacity(listed.len());
        for (mut volume, refs) in listed {
            let size = self.size(&volume.name).await;
            volume.usage_data = Some(UsageData {
                ref_count: i64::try_from(refs).unwrap_or(i64::MAX),
                size: i64::try_from(size).unwrap_or(i64::MAX),
            });
            out.push(volume);
        }
        out
    }

    /// Mounts `name` for `container` (a start): a volume with `type`/`device` options is mounted
    /// on its `_data` by the first user. Returns `_data`.
    pub(crate) fn mount(&self, name: &str, container: &str) -> Result<PathBuf> {
        let mut state = self.lock();
        let entry = state.get_mut(name).ok_or_else(|| no_such_volume(name))?;
        let data = self.data_dir(name);
        if local::needs_mount(entry.meta.options()) && !entry.mounted {
            local::mount(entry.meta.options(), &data)?;
            entry.mounted = true;
        }
        entry.users.insert(container.to_owned());
        Ok(data)
    }

    /// Ends `container`'s use of `name`; the last user unmounts the volume's own mount. False
    /// when `container` held no mount.
    pub(crate) fn unmount(&self, name: &str, container: &str) -> Result<bool> {
        let mut state = self.lock();
        let Some(entry) = state.get_mut(name) else { return Ok(false) };
        if !entry.users.remove(container) {
            return Ok(false);
        }
        if entry.users.is_empty() && entry.mounted {
            local::unmount(&self.data_dir(name))?;
            entry.mounted = false;
        }
        Ok(true)
    }

    /// At start-up: `container`'s record references `name`; `running` containers hold a mount.
    pub(crate) fn restore_reference(&self, name: &str, container: &str, running: bool) {
        let mut state = self.lock();
        let Some(entry) = state.get_mut(name) else {
            tracing::warn!(volume = name, container, "a container references a missing volume");
            return;
        };
        entry.refs.insert(container.to_owned());
        if running {
            entry.users.insert(container.to_owned());
        }
    }

    /// At start-up, once every container is restored: unmounts volume mounts no running
    /// container uses (their users exited while berthd was down).
    pub(crate) fn unmount_unused(&self) {
        let mut state = self.lock();
        for (name, entry) in state.iter_mut().filter(|(_, e)| e.mounted && e.users.is_empty()) {
            match local::unmount(&self.inner.root.join(name).join(DATA_DIR)) {
                Ok(()) => entry.mounted = false,
                Err(e) => {
                    tracing::warn!(volume = %name, error = %e, "cannot unmount an unused volume")
                }
            }
        }
    }

    /// Deletes what interrupted removals left in the trash.
    fn empty_trash(&self) {
        let trash = self.inner.root.join(TRASH_DIR);
        for dir in std::fs::read_dir(&trash).into_iter().flatten().flatten() {
            if let Err(e) = delete_tree(&dir.path()) {
                tracing::warn!(dir = %dir.path().display(), error = %e, "cannot empty the volume trash");
            }
        }
    }
}

/// Reads a volume's metadata; a directory with `_data` but no readable metadata (written by
/// hand, or by a crash between the two) is a volume with none.
fn load_meta(dir: &Path, name: &str) -> Option<Meta> {
    match std::fs::read(dir.join(META_FILE)) {
        Ok(bytes) => match serde_json::from_slice::<Meta>(&bytes) {
            Ok(meta) if meta.name == name => return Some(meta),
            Ok(_) => tracing::warn!(dir = %dir.display(), "volume metadata names another volume"),
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "corrupt volume metadata"),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot read volume metadata"),
    }
    let data = std::fs::metadata(dir.join(DATA_DIR)).ok().filter(std::fs::Metadata::is_dir)?;
    let created =
        data.modified().map(time::OffsetDateTime::from).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Some(Meta {
        name: name.to_owned(),
        driver: LOCAL_DRIVER.to_owned(),
        created_at: crate::timefmt::go(created.replace_nanosecond(0).unwrap_or(created)),
        labels: None,
        options: None,
    })
}

/// Creates `path` with `mode` (exactly, whatever the umask); an existing directory is fine.
fn create_dir(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    match std::fs::DirBuilder::new().mode(mode).create(path) {
        Ok(()) => std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_error("error while creating volume path", path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && path.is_dir() => Ok(()),
        Err(e) => Err(io_error("error while creating volume path", path, e)),
    }
}

/// Deletes a removed volume's directory, refusing while anything is still mounted in it (the
/// data of a bind-mounted device must never go with it).
fn delete_tree(dir: &Path) -> std::io::Result<()> {
    if local::is_mounted(&dir.join(DATA_DIR)) {
        return Err(std::io::Error::other("its _data is still mounted"));
    }
    std::fs::remove_dir_all(dir)
}
