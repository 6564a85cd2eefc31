//! Containers: the stored records, the name index, and the in-memory side of each container
//! (its lifecycle lock, the watch waiters use, its output broadcast and stdin).
//!
//! The lifecycle (create, start, stop, exit handling, restore) is in [`manager`]; the API views
//! in [`views`]; attach and exec streams in [`io`] and [`exec`].

pub(crate) mod commit;
pub(crate) mod config;
pub(crate) mod connect;
pub(crate) mod devices;
pub(crate) mod dns;
pub(crate) mod exec;
pub(crate) mod health;
pub(crate) mod io;
pub(crate) mod logging;
pub(crate) mod manager;
pub(crate) mod names;
pub(crate) mod network;
pub(crate) mod ops;
pub(crate) mod record;
pub(crate) mod seccomp;
pub(crate) mod spec;
#[cfg(test)]
pub(crate) mod tests;
pub(crate) mod views;
pub(crate) mod volumes;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use berth_api::Error;
use tokio::sync::{broadcast, watch};

use self::io::{OutputEvent, QueueSlot, StdinHandle};
use self::record::Record;

/// Output events a container's broadcast buffers for slow attachers before they skip some.
const OUTPUT_BUFFER: usize = 1024;

/// What waiters watch: changes on every start, exit and removal.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Phase {
    /// A process runs (also while paused).
    pub(crate) running: bool,
    /// Exits seen since berthd started (`next-exit` waits for this to grow).
    pub(crate) exits: u64,
    /// The last exit code.
    pub(crate) exit_code: i64,
    /// The container is gone.
    pub(crate) removed: bool,
}

/// One container in memory.
pub(crate) struct Container {
    /// Full ID.
    pub(crate) id: String,
    /// `data-root/containers/<id>`.
    pub(crate) dir: PathBuf,
    record: Mutex<Record>,
    phase: watch::Sender<Phase>,
    /// Serializes start, stop, restart, pause, remove and friends.
    pub(crate) op: tokio::sync::Mutex<()>,
    /// Live output of the current run (and the end of each run), made on first use: its ring
    /// of [`OUTPUT_BUFFER`] slots is allocated up front (about 100 KiB), which a container that
    /// never runs nor is attached to should not hold (the bench's 100 idle containers did).
    output: OnceLock<broadcast::Sender<OutputEvent>>,
    /// The stdin queue (`OpenStdin` containers): attach clients send into it, each run's writer
    /// takes the receiving side from `stdin_queue`.
    pub(crate) stdin: Option<StdinHandle>,
    /// The receiving side of the stdin queue between runs.
    pub(crate) stdin_queue: QueueSlot,
    /// Delay before the next restart by the restart policy.
    pub(crate) restart_delay: Mutex<std::time::Duration>,
    /// IDs of this container's exec instances.
    pub(crate) exec_ids: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Container {
    /// A container for `record`, stored under `dir`.
    pub(crate) fn new(record: Record, dir: PathBuf) -> Self {
        let phase = Phase {
            running: record.state.is_running(),
            exits: 0,
            exit_code: record.state.exit_code,
            removed: false,
        };
        let (stdin, queue) = if record.config.open_stdin {
            let (tx, rx) = tokio::sync::mpsc::channel(io::STDIN_QUEUE);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        Self {
            id: record.id.clone(),
            dir,
            record: Mutex::new(record),
            phase: watch::Sender::new(phase),
            op: tokio::sync::Mutex::new(()),
            output: OnceLock::new(),
            stdin,
            stdin_queue: Arc::new(Mutex::new(queue)),
            restart_delay: Mutex::new(std::time::Duration::ZERO),
            exec_ids: Mutex::new(Vec::new()),
        }
    }

    /// Live output of the current run (and the end of each run).
    pub(crate) fn output(&self) -> &broadcast::Sender<OutputEvent> {
        self.output.get_or_init(|| broadcast::channel(OUTPUT_BUFFER).0)
    }

    /// A copy of the record.
    pub(crate) fn record(&self) -> Record {
        self.lock().clone()
    }

    /// Reads something from the record.
    pub(crate) fn with<T>(&self, f: impl FnOnce(&Record) -> T) -> T {
        f(&self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the record, saves it, and tells waiters. A failed save is reported; the change
    /// stays in memory.
    pub(crate) fn update<T>(&self, f: impl FnOnce(&mut Record) -> T) -> Result<T, Error> {
        let (out, saved) = {
            let mut record = self.lock();
            let out = f(&mut record);
            (out, record.save(&self.dir))
        };
        self.refresh_phase(false);
        saved.map(|()| out)
    }

    /// Like [`Container::update`] for changes that must not stop the operation making them
    /// when the record cannot be saved (a full disk): the change is kept in memory, and the
    /// failure logged. dockerd also only logs a failed checkpoint once a container runs.
    pub(crate) fn update_or_log<T>(&self, what: &str, f: impl FnOnce(&mut Record) -> T) -> T {
        let (out, saved) = {
            let mut record = self.lock();
            let out = f(&mut record);
            (out, record.save(&self.dir))
        };
        self.refresh_phase(false);
        if let Err(e) = saved {
            tracing::error!(container = %self.id, error = %e, "cannot save the container record ({what}); the change is kept in memory");
        }
        out
    }

    /// Recomputes the phase from the record; `exited` counts one more exit.
    pub(crate) fn refresh_phase(&self, exited: bool) {
        let (running, exit_code) = self.with(|r| (r.state.is_running(), r.state.exit_code));
        self.phase.send_modify(|p| {
            p.running = running;
            p.exit_code = exit_code;
            if exited {
                p.exits += 1;
            }
        });
    }

    /// Marks the container removed, waking `removed` waiters.
    pub(crate) fn mark_removed(&self) {
        self.phase.send_modify(|p| {
            p.running = false;
            p.removed = true;
        });
    }

    /// Watches the phase.
    pub(crate) fn watch(&self) -> watch::Receiver<Phase> {
        self.phase.subscribe()
    }

    /// The phase now.
    pub(crate) fn phase(&self) -> Phase {
        *self.phase.borrow()
    }
}

/// Every container, by ID, with the name index.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    inner: RwLock<Index>,
}

#[derive(Debug, Default)]
struct Index {
    by_id: HashMap<String, Arc<Container>>,
    /// Name with its `/` → ID; also holds names reserved by creates in progress.
    names: HashMap<String, String>,
}

impl Registry {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Index> {
        self.inner.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Index> {
        self.inner.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Finds a container as dockerd does: full ID, then name, then unique ID prefix.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Container>, Error> {
        let index = self.read();
        if name.is_empty() {
            return Err(Error::invalid("No container name or ID supplied"));
        }
        if let Some(c) = index.by_id.get(name) {
            return Ok(Arc::clone(c));
        }
        let with_slash = if name.starts_with('/') { name.to_owned() } else { format!("/{name}") };
        if let Some(c) = index.names.get(&with_slash).and_then(|id| index.by_id.get(id)) {
            return Ok(Arc::clone(c));
        }
        if name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = index.by_id.values().filter(|c| c.id.starts_with(name));
            if let Some(first) = found.next() {
                if found.next().is_some() {
                    return Err(Error::invalid(format!(
                        "multiple IDs found with provided prefix: {name}"
                    )));
                }
                return Ok(Arc::clone(first));
            }
        }
        Err(Error::not_found(format!("No such container: {name}")))
    }

    /// Reserves `name` (with `/`) for `id`: 409 with dockerd's message when taken.
    pub(crate) fn reserve(&self, name: &str, id: &str) -> Result<(), Error> {
        let mut index = self.write();
        if let Some(owner) = index.names.get(name)
            && owner != id
        {
            return Err(name_in_use(name, owner));
        }
        index.names.insert(name.to_owned(), id.to_owned());
        Ok(())
    }

    /// Frees `name` if `id` holds it.
    pub(crate) fn release(&self, name: &str, id: &str) {
        let mut index = self.write();
        if index.names.get(name).is_some_and(|owner| owner == id) {
            index.names.remove(name);
        }
    }

    /// Adds a container (its name must be reserved already).
    pub(crate) fn insert(&self, container: Arc<Container>) {
        self.write().by_id.insert(container.id.clone(), container);
    }

    /// Removes a container and its name.
    pub(crate) fn remove(&self, id: &str) {
        let mut index = self.write();
        index.by_id.remove(id);
        index.names.retain(|_, owner| owner != id);
    }

    /// IDs of every container and of every create under way (they hold a name already).
    pub(crate) fn known_ids(&self) -> std::collections::HashSet<String> {
        let index = self.read();
        index.by_id.keys().chain(index.names.values()).cloned().collect()
    }

    /// Every container.
    pub(crate) fn all(&self) -> Vec<Arc<Container>> {
        self.read().by_id.values().cloned().collect()
    }
}

/// dockerd's message for a name that is taken.
pub(crate) fn name_in_use(name: &str, owner: &str) -> Error {
    Error::conflict(format!(
        "Conflict. The container name \"{name}\" is already in use by container \"{owner}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

/// Loads every stored record under `dir` (`data-root/containers`). Unreadable ones are logged
/// and skipped, never deleted.
pub(crate) fn load_all(dir: &Path) -> Vec<(Record, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        crate::persist::remove_stale_temps(&path);
        match Record::load(&path) {
            Ok(record) => out.push((record, path)),
            Err(e) => tracing::error!(dir = %path.display(), error = %e, "skipping container"),
        }
    }
    out
}
