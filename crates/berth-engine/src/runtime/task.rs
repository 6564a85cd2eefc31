//! The containerd side of a container's life: prepare its rootfs snapshot, record the container
//! (runtime `io.containerd.runc.v2`, runc state under Berth's exec-root), create the task with
//! its FIFOs, start, wait, signal, and delete every trace again.
//!
//! A task that fails to be created (a missing binary, say) is reported as dockerd reports it:
//! the containerd message, an exit code of 127, 126 or 128, and no container record, snapshot or
//! FIFO directory left behind.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::containerd::Scoped;
use berth_api::{Error, ErrorKind};
use containerd_client::services::v1::container::Runtime as RuntimeInfo;
use containerd_client::services::v1::containers_client::ContainersClient;
use containerd_client::services::v1::snapshots::{
    MountsRequest, PrepareSnapshotRequest, RemoveSnapshotRequest,
};
use containerd_client::services::v1::tasks_client::TasksClient;
use containerd_client::services::v1::{
    CloseIoRequest, Container, CreateContainerRequest, CreateTaskRequest, DeleteContainerRequest,
    DeleteProcessRequest, DeleteTaskRequest, ExecProcessRequest, GetRequest, KillRequest,
    ListPidsRequest, PauseTaskRequest, ResizePtyRequest, ResumeTaskRequest, StartRequest,
    UpdateContainerRequest, WaitRequest,
};
use tokio::net::unix::pipe;

use super::stdio::{Fifos, Output, StdioConfig};
use crate::containerd::{Containerd, status_error};
use crate::lease::Lease;
use crate::unpack::SNAPSHOTTER;

/// How long a stale task may take to exit after SIGKILL before discarding it fails.
const DISCARD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The containerd runtime (shim) Berth's containers use.
pub(crate) const RUNTIME: &str = "io.containerd.runc.v2";
/// `Any.type_url` of an OCI runtime spec serialized as JSON.
pub(crate) const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
/// `Any.type_url` of an OCI process (exec) serialized as JSON.
pub(crate) const PROCESS_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/Process";
/// `Any.type_url` of OCI Linux resources serialized as JSON.
pub(crate) const RESOURCES_TYPE_URL: &str =
    "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources";
/// `Any.type_url` of [`RuncOptions`].
pub(crate) const RUNC_OPTIONS_TYPE_URL: &str = "containerd.runc.v1.Options";
/// Container record label naming what manages it.
pub(crate) const LABEL_MANAGED_BY: &str = "io.berth.managed-by";

/// `containerd.runc.v1.Options` (containerd `runtime/v2/runc/options/oci.proto`), which
/// containerd-client does not generate. Tag 8 (`criu_path`) is deprecated and left out.
#[derive(Clone, PartialEq, prost::Message)]
pub(crate) struct RuncOptions {
    /// Do not pivot_root into the rootfs (only for ramdisk roots).
    #[prost(bool, tag = "1")]
    pub(crate) no_pivot_root: bool,
    /// Do not create a new session keyring.
    #[prost(bool, tag = "2")]
    pub(crate) no_new_keyring: bool,
    /// Cgroup to put the shim in.
    #[prost(string, tag = "3")]
    pub(crate) shim_cgroup: String,
    /// Owner of the stdio pipes the shim creates.
    #[prost(uint32, tag = "4")]
    pub(crate) io_uid: u32,
    /// Group of the stdio pipes the shim creates.
    #[prost(uint32, tag = "5")]
    pub(crate) io_gid: u32,
    /// The runc binary (default `runc`).
    #[prost(string, tag = "6")]
    pub(crate) binary_name: String,
    /// runc's state root (`runc --root`).
    #[prost(string, tag = "7")]
    pub(crate) root: String,
    /// Use the systemd cgroup driver.
    #[prost(bool, tag = "9")]
    pub(crate) systemd_cgroup: bool,
}

/// Where the runtime keeps host-side state, and which containerd namespace it works in.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeConfig {
    /// Berth's exec-root: FIFOs go in `fifo/<id>/`, runc state in `runc/`.
    pub(crate) exec_root: PathBuf,
}

/// Runs containers through containerd's Containers and Tasks services.
#[derive(Clone)]
pub(crate) struct Runtime {
    conn: Containerd,
    tasks: TasksClient<Scoped>,
    containers: ContainersClient<Scoped>,
    exec_root: PathBuf,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("exec_root", &self.exec_root).finish_non_exhaustive()
    }
}

#[cfg(test)]
/// What to run: the container's identity, its image, its spec and its stdio.
#[derive(Debug, Clone)]
pub(crate) struct CreateRequest {
    /// The container ID: also the snapshot key, the task ID and the FIFO dir name.
    pub(crate) id: String,
    /// The image the container was created from, as recorded on the container record.
    pub(crate) image: String,
    /// Chain ID of the image's top layer (the parent of the container's snapshot); empty for an
    /// image without layers.
    pub(crate) chain_id: String,
    /// The OCI runtime spec (see [`super::spec::build`]); `process.terminal` decides TTY mode.
    pub(crate) spec: serde_json::Value,
    /// Open a stdin the engine can write to.
    pub(crate) stdin: bool,
    /// Extra labels on the container record (Berth metadata: name, …).
    pub(crate) labels: HashMap<String, String>,
}

/// A failure to create or start a task, as dockerd reports it.
#[derive(Debug)]
pub(crate) struct StartError {
    /// The error for the API client.
    pub(crate) error: Error,
    /// The exit code dockerd records for the container when the runtime refused the process:
    /// 127 (not found), 126 (cannot be invoked) or 128 (anything else); `None` when the failure
    /// came before the runtime was asked.
    pub(crate) exit_code: Option<u32>,
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.error.fmt(f)
    }
}

impl From<Error> for StartError {
    fn from(error: Error) -> Self {
        Self { error, exit_code: None }
    }
}

/// What containerd says a task is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskStatus {
    /// Created, not started.
    Created,
    /// Running.
    Running,
    /// Exited (containerd keeps the exit until the task is deleted).
    Stopped,
    /// Frozen.
    Paused,
    /// Anything else.
    Unknown,
}

/// A started exec process: its PID and the engine's ends of its stdio.
pub(crate) struct ExecProcess {
    /// Host PID.
    pub(crate) pid: u32,
    /// stdin write end, when asked for.
    pub(crate) stdin: Option<pipe::Sender>,
    /// Output.
    pub(crate) output: Option<Output>,
}

impl std::fmt::Debug for ExecProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecProcess").field("pid", &self.pid).finish_non_exhaustive()
    }
}

fn serialize_spec(spec: &serde_json::Value) -> Result<Vec<u8>, Error> {
    serde_json::to_vec(spec)
        .map_err(|e| Error::system("cannot serialize the runtime spec").with_source(e))
}

/// How a task ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Exit {
    /// The exit status (128 + signal for a process killed by a signal).
    pub(crate) code: u32,
    /// When it exited, if containerd said.
    pub(crate) exited_at: Option<time::OffsetDateTime>,
}

impl Runtime {
    /// A runtime on `conn`'s containerd and namespace.
    pub(crate) async fn new(conn: &Containerd, config: RuntimeConfig) -> Result<Self, Error> {
        Ok(Self {
            conn: conn.clone(),
            tasks: conn.tasks(),
            containers: conn.containers(),
            exec_root: config.exec_root,
        })
    }

    /// runc's state root (`Options.root`), kept apart from any other containerd's.
    pub(crate) fn runc_root(&self) -> PathBuf {
        self.exec_root.join("runc")
    }

    /// The FIFO directory of container `id`.
    pub(crate) fn fifo_dir(&self, id: &str) -> PathBuf {
        self.exec_root.join("fifo").join(id)
    }

    fn runc_options(&self) -> Result<prost_types::Any, Error> {
        let options =
            RuncOptions { root: self.runc_root().display().to_string(), ..RuncOptions::default() };
        Ok(prost_types::Any {
            type_url: RUNC_OPTIONS_TYPE_URL.to_owned(),
            value: prost::Message::encode_to_vec(&options),
        })
    }

    #[cfg(test)]
    /// Creates the container and its task (not yet started): snapshot, container record, FIFOs,
    /// `Tasks.Create`. On any failure everything created so far is removed again.
    pub(crate) async fn create(&self, req: CreateRequest) -> Result<Task, StartError> {
        self.prepare(&req.id, &req.image, &req.chain_id, &req.labels, &req.spec).await?;
        match self.start_task(&req.id, &req.spec, req.stdin).await {
            Ok(task) => Ok(task),
            Err(e) => {
                self.remove_records(&req.id).await;
                Err(e)
            }
        }
    }

    /// Prepares the container's snapshot and records the container in containerd (what
    /// `docker create` leaves behind). On failure nothing is left.
    pub(crate) async fn prepare(
        &self,
        id: &str,
        image: &str,
        chain_id: &str,
        labels: &HashMap<String, String>,
        spec: &serde_json::Value,
    ) -> Result<(), Error> {
        validate_id(id)?;
        let spec = serialize_spec(spec)?;
        // The lease holds the new active snapshot until the container record references it.
        let lease = Lease::create(&self.conn).await?;
        let recorded = self.record(&lease, id, image, chain_id, labels, spec).await;
        lease.release().await;
        recorded
    }

    /// Replaces the spec on the container record (before each start).
    pub(crate) async fn update_spec(
        &self,
        id: &str,
        spec: &serde_json::Value,
    ) -> Result<(), Error> {
        let container = Container {
            id: id.to_owned(),
            spec: Some(prost_types::Any {
                type_url: SPEC_TYPE_URL.to_owned(),
                value: serialize_spec(spec)?,
            }),
            ..Container::default()
        };
        let req = UpdateContainerRequest {
            container: Some(container),
            update_mask: Some(prost_types::FieldMask { paths: vec!["spec".to_owned()] }),
        };
        self.containers.clone().update(req).await.map_err(|s| status_error("update spec", s))?;
        Ok(())
    }

    /// Creates the task of a prepared container with `spec` (not yet started): FIFOs, spec on
    /// the record, `Tasks.Create`. On failure the task and FIFOs are removed; the container
    /// record and snapshot stay.
    pub(crate) async fn start_task(
        &self,
        id: &str,
        spec: &serde_json::Value,
        stdin: bool,
    ) -> Result<Task, StartError> {
        let tty = spec["process"]["terminal"].as_bool().unwrap_or(false);
        self.update_spec(id, spec).await?;
        // A FIFO dir left by an earlier run (a crash between exit and cleanup) is stale.
        remove_fifo_dir(&self.fifo_dir(id));
        let mut fifos = Fifos::create(&self.fifo_dir(id), StdioConfig { stdin, tty })?;
        match self.create_task(id, &fifos, tty).await {
            Ok(pid) => {
                let stdin = match fifos.open_stdin() {
                    Ok(s) => s,
                    Err(e) => {
                        self.remove_task(id).await;
                        fifos.remove();
                        return Err(e.into());
                    }
                };
                let output = fifos.take_output();
                Ok(Task {
                    id: id.to_owned(),
                    pid,
                    #[cfg(test)]
                    runtime: self.clone(),
                    #[cfg(test)]
                    fifos,
                    stdin,
                    output,
                })
            }
            Err(e) => {
                // The shim may have got as far as recording a task; containerd removes it on a
                // failed create, but make sure.
                self.remove_task(id).await;
                fifos.remove();
                Err(e)
            }
        }
    }

    /// Starts the init process of container `id`'s created task.
    pub(crate) async fn start(&self, id: &str) -> Result<(), StartError> {
        let req = StartRequest { container_id: id.to_owned(), exec_id: String::new() };
        match self.tasks.clone().start(req).await {
            Ok(_) => Ok(()),
            Err(status) => Err(start_error(status.message())),
        }
    }

    /// Reattaches to the running task of container `id` after a restart of berthd: reopens its
    /// FIFOs. `None` when containerd has no task for it.
    pub(crate) async fn reattach(&self, id: &str) -> Result<Option<(Task, TaskStatus)>, Error> {
        let Some((pid, status)) = self.task_status(id, "").await? else { return Ok(None) };
        let mut fifos = Fifos::reopen(&self.fifo_dir(id))?;
        let stdin = fifos.open_stdin().unwrap_or_else(|e| {
            tracing::warn!(container = id, error = %e, "cannot reopen stdin");
            None
        });
        let output = fifos.take_output();
        Ok(Some((
            Task {
                id: id.to_owned(),
                pid,
                #[cfg(test)]
                runtime: self.clone(),
                #[cfg(test)]
                fifos,
                stdin,
                output,
            },
            status,
        )))
    }

    /// `(pid, status)` of the task (or exec process, with `exec_id`), `None` when containerd has
    /// none.
    pub(crate) async fn task_status(
        &self,
        id: &str,
        exec_id: &str,
    ) -> Result<Option<(u32, TaskStatus)>, Error> {
        let req = GetRequest { container_id: id.to_owned(), exec_id: exec_id.to_owned() };
        match self.tasks.clone().get(req).await {
            Ok(reply) => {
                let process = reply.into_inner().process.unwrap_or_default();
                let status = match process.status {
                    1 => TaskStatus::Created,
                    2 => TaskStatus::Running,
                    3 => TaskStatus::Stopped,
                    4 | 5 => TaskStatus::Paused,
                    _ => TaskStatus::Unknown,
                };
                Ok(Some((process.pid, status)))
            }
            Err(s) if s.code() == tonic::Code::NotFound => Ok(None),
            Err(s) => Err(status_error("get task", s)),
        }
    }

    /// Waits for the task (or exec process) to exit: a long poll that returns at once if it
    /// already has.
    pub(crate) async fn wait(&self, id: &str, exec_id: &str) -> Result<Exit, tonic::Status> {
        let req = WaitRequest { container_id: id.to_owned(), exec_id: exec_id.to_owned() };
        let reply = self.tasks.clone().wait(req).await?.into_inner();
        let exited_at = reply.exited_at.and_then(|t| {
            let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
            time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
        });
        Ok(Exit { code: reply.exit_status, exited_at })
    }

    /// Sends `signal` to the task's init (or exec) process, or to every process when `all`.
    pub(crate) async fn kill(
        &self,
        id: &str,
        exec_id: &str,
        signal: i32,
        all: bool,
    ) -> Result<(), Error> {
        let signal = u32::try_from(signal).unwrap_or_default();
        let req =
            KillRequest { container_id: id.to_owned(), exec_id: exec_id.to_owned(), signal, all };
        self.tasks.clone().kill(req).await.map_err(|s| status_error("kill task", s))?;
        Ok(())
    }

    /// Closes the process's stdin inside the shim (`CloseIO`), so it reads EOF.
    pub(crate) async fn close_stdin(&self, id: &str, exec_id: &str) -> Result<(), Error> {
        let req = CloseIoRequest {
            container_id: id.to_owned(),
            exec_id: exec_id.to_owned(),
            stdin: true,
        };
        self.tasks.clone().close_io(req).await.map_err(|s| status_error("close stdin", s))?;
        Ok(())
    }

    /// Resizes the terminal of the task or exec process.
    pub(crate) async fn resize(
        &self,
        id: &str,
        exec_id: &str,
        width: u32,
        height: u32,
    ) -> Result<(), Error> {
        let req = ResizePtyRequest {
            container_id: id.to_owned(),
            exec_id: exec_id.to_owned(),
            width,
            height,
        };
        self.tasks.clone().resize_pty(req).await.map_err(|s| status_error("resize", s))?;
        Ok(())
    }

    /// Applies new resource limits (`linux.resources` JSON) to the running task.
    pub(crate) async fn update_resources(
        &self,
        id: &str,
        resources: &serde_json::Value,
    ) -> Result<(), Error> {
        let value = serde_json::to_vec(resources)
            .map_err(|e| Error::system("cannot serialize resources").with_source(e))?;
        let req = containerd_client::services::v1::UpdateTaskRequest {
            container_id: id.to_owned(),
            resources: Some(prost_types::Any { type_url: RESOURCES_TYPE_URL.to_owned(), value }),
            annotations: HashMap::new(),
        };
        self.tasks.clone().update(req).await.map_err(|s| status_error("update task", s))?;
        Ok(())
    }

    /// Freezes the task's processes.
    pub(crate) async fn pause(&self, id: &str) -> Result<(), Error> {
        let req = PauseTaskRequest { container_id: id.to_owned() };
        self.tasks.clone().pause(req).await.map_err(|s| status_error("pause", s))?;
        Ok(())
    }

    /// Thaws the task's processes.
    pub(crate) async fn resume(&self, id: &str) -> Result<(), Error> {
        let req = ResumeTaskRequest { container_id: id.to_owned() };
        self.tasks.clone().resume(req).await.map_err(|s| status_error("resume", s))?;
        Ok(())
    }

    /// Host PIDs of every process in the task.
    pub(crate) async fn pids(&self, id: &str) -> Result<Vec<u32>, Error> {
        let req = ListPidsRequest { container_id: id.to_owned() };
        let reply =
            self.tasks.clone().list_pids(req).await.map_err(|s| status_error("list pids", s))?;
        Ok(reply.into_inner().processes.into_iter().map(|p| p.pid).collect())
    }

    /// Deletes the (exited) task and its FIFO dir; the container record and snapshot stay.
    pub(crate) async fn delete_task(&self, id: &str) -> Result<(), Error> {
        match self.tasks.clone().delete(DeleteTaskRequest { container_id: id.to_owned() }).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(status_error("delete task", s)),
        }
        remove_fifo_dir(&self.fifo_dir(id));
        Ok(())
    }

    /// The FIFO directory of exec `exec_id`.
    pub(crate) fn exec_fifo_dir(&self, exec_id: &str) -> PathBuf {
        self.exec_root.join("fifo-exec").join(exec_id)
    }

    /// Creates exec process `exec_id` in the running task of `id` (not yet started).
    pub(crate) async fn exec(
        &self,
        id: &str,
        exec_id: &str,
        process: &serde_json::Value,
        stdin: bool,
    ) -> Result<ExecProcess, StartError> {
        validate_id(exec_id)?;
        let tty = process["terminal"].as_bool().unwrap_or(false);
        let dir = self.exec_fifo_dir(exec_id);
        let mut fifos = Fifos::create(&dir, StdioConfig { stdin, tty })?;
        let (stdin_path, stdout, stderr) = fifos.paths();
        let spec = serde_json::to_vec(process)
            .map_err(|e| Error::system("cannot serialize the exec process").with_source(e))?;
        let req = ExecProcessRequest {
            container_id: id.to_owned(),
            stdin: stdin_path,
            stdout,
            stderr,
            terminal: tty,
            spec: Some(prost_types::Any { type_url: PROCESS_TYPE_URL.to_owned(), value: spec }),
            exec_id: exec_id.to_owned(),
        };
        if let Err(status) = self.tasks.clone().exec(req).await {
            fifos.remove();
            return Err(start_error(status.message()));
        }
        let start = StartRequest { container_id: id.to_owned(), exec_id: exec_id.to_owned() };
        let pid = match self.tasks.clone().start(start).await {
            Ok(reply) => reply.into_inner().pid,
            Err(status) => {
                self.delete_exec(id, exec_id).await;
                return Err(start_error(status.message()));
            }
        };
        let stdin = match fifos.open_stdin() {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(exec = exec_id, error = %e, "cannot open exec stdin");
                None
            }
        };
        let output = fifos.take_output();
        Ok(ExecProcess { pid, stdin, output })
    }

    /// Deletes exec process `exec_id` (after it exited) and its FIFO dir.
    pub(crate) async fn delete_exec(&self, id: &str, exec_id: &str) {
        let req = DeleteProcessRequest { container_id: id.to_owned(), exec_id: exec_id.to_owned() };
        match self.tasks.clone().delete_process(req).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => tracing::warn!(exec = exec_id, error = %s, "cannot delete exec process"),
        }
        remove_fifo_dir(&self.exec_fifo_dir(exec_id));
    }

    /// Prepares the snapshot and creates the container record, inside `lease`.
    async fn record(
        &self,
        lease: &Lease,
        id: &str,
        image: &str,
        chain_id: &str,
        labels: &HashMap<String, String>,
        spec: Vec<u8>,
    ) -> Result<(), Error> {
        let prepare = PrepareSnapshotRequest {
            snapshotter: SNAPSHOTTER.to_owned(),
            key: id.to_owned(),
            parent: chain_id.to_owned(),
            labels: HashMap::new(),
        };
        lease
            .conn()
            .snapshots()
            .prepare(prepare)
            .await
            .map_err(|s| status_error("prepare container snapshot", s))?;
        let mut labels = labels.clone();
        labels.insert(LABEL_MANAGED_BY.to_owned(), "berth".to_owned());
        let container = Container {
            id: id.to_owned(),
            labels,
            image: image.to_owned(),
            runtime: Some(RuntimeInfo {
                name: RUNTIME.to_owned(),
                options: Some(self.runc_options()?),
            }),
            spec: Some(prost_types::Any { type_url: SPEC_TYPE_URL.to_owned(), value: spec }),
            snapshotter: SNAPSHOTTER.to_owned(),
            snapshot_key: id.to_owned(),
            ..Container::default()
        };
        let created = self
            .containers
            .clone()
            .create(CreateContainerRequest { container: Some(container) })
            .await;
        if let Err(status) = created {
            self.remove_snapshot(id).await;
            return Err(status_error("create container", status));
        }
        Ok(())
    }

    /// The mounts of container `id`'s snapshot (its root filesystem).
    pub(crate) async fn rootfs_mounts(
        &self,
        id: &str,
    ) -> Result<Vec<containerd_client::types::Mount>, Error> {
        Ok(self
            .conn
            .snapshots()
            .mounts(MountsRequest { snapshotter: SNAPSHOTTER.to_owned(), key: id.to_owned() })
            .await
            .map_err(|s| status_error("container snapshot mounts", s))?
            .into_inner()
            .mounts)
    }

    async fn create_task(&self, id: &str, fifos: &Fifos, tty: bool) -> Result<u32, StartError> {
        let mounts = self.rootfs_mounts(id).await?;
        let (stdin, stdout, stderr) = fifos.paths();
        let req = CreateTaskRequest {
            container_id: id.to_owned(),
            rootfs: mounts,
            stdin,
            stdout,
            stderr,
            terminal: tty,
            ..CreateTaskRequest::default()
        };
        match self.tasks.clone().create(req.clone()).await {
            Ok(reply) => Ok(reply.into_inner().pid),
            Err(status) if status.code() == tonic::Code::AlreadyExists => {
                // Left by a start that containerd died under: the caller holds the container's
                // lifecycle lock and its record says it is not running, so the task is stale.
                tracing::warn!(container = id, "discarding a stale task before starting");
                self.discard_task(id).await?;
                match self.tasks.clone().create(req).await {
                    Ok(reply) => Ok(reply.into_inner().pid),
                    Err(status) => Err(start_error(status.message())),
                }
            }
            Err(status) => Err(start_error(status.message())),
        }
    }

    /// Kills (if needed) and deletes the task of container `id`, leaving its FIFO directory
    /// alone; `false` when there was none. For tasks Berth does not count as running: left by a
    /// start or a stop that containerd died under.
    pub(crate) async fn discard_task(&self, id: &str) -> Result<bool, Error> {
        // A task whose creation was cut short may exist for containerd while its state cannot
        // be read ("not found"): it is deleted all the same.
        let status = self.task_status(id, "").await?;
        if let Some((_, status)) = status
            && status != TaskStatus::Stopped
        {
            let killed =
                match self.kill(id, "", nix::sys::signal::Signal::SIGKILL as i32, true).await {
                    Ok(()) => true,
                    Err(e) if e.kind() == ErrorKind::NotFound => false,
                    Err(e) => return Err(e),
                };
            let waited = if killed {
                tokio::time::timeout(DISCARD_WAIT, self.wait(id, "")).await
            } else {
                Ok(Ok(Exit { code: 0, exited_at: None }))
            };
            match waited {
                Ok(Ok(_)) => {}
                Ok(Err(s)) if s.code() == tonic::Code::NotFound => {}
                Ok(Err(s)) => return Err(status_error("wait task", s)),
                Err(_) => {
                    return Err(Error::system(format!(
                        "the stale task of {id} did not exit after SIGKILL"
                    )));
                }
            }
        }
        match self.tasks.clone().delete(DeleteTaskRequest { container_id: id.to_owned() }).await {
            Ok(_) => Ok(true),
            Err(s) if s.code() == tonic::Code::NotFound => Ok(false),
            Err(s) => Err(status_error("delete task", s)),
        }
    }

    /// Removes container `id`'s FIFO directory (no task may be using it).
    pub(crate) fn remove_fifos(&self, id: &str) {
        remove_fifo_dir(&self.fifo_dir(id));
    }

    /// Deletes the task (if any), the container record and its snapshot; each step tolerates a
    /// missing object, so this also finishes a half-done removal.
    pub(crate) async fn remove(&self, id: &str) -> Result<(), Error> {
        match self.tasks.clone().delete(DeleteTaskRequest { container_id: id.to_owned() }).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(status_error("delete task", s)),
        }
        match self.containers.clone().delete(DeleteContainerRequest { id: id.to_owned() }).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(status_error("delete container", s)),
        }
        let remove =
            RemoveSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key: id.to_owned() };
        match self.conn.snapshots().remove(remove).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(status_error("remove container snapshot", s)),
        }
        remove_fifo_dir(&self.fifo_dir(id));
        Ok(())
    }

    /// The OCI spec on container `id`'s record.
    pub(crate) async fn spec(&self, id: &str) -> Result<serde_json::Value, Error> {
        let req = containerd_client::services::v1::GetContainerRequest { id: id.to_owned() };
        let reply =
            self.containers.clone().get(req).await.map_err(|s| status_error("get container", s))?;
        let spec = reply.into_inner().container.and_then(|c| c.spec).unwrap_or_default();
        serde_json::from_slice(&spec.value).map_err(|e| {
            Error::system(format!("container {id} has an unreadable spec")).with_source(e)
        })
    }

    /// IDs of the container records in the namespace that Berth made.
    pub(crate) async fn managed_ids(&self) -> Result<Vec<String>, Error> {
        let filter = format!("labels.\"{LABEL_MANAGED_BY}\"==berth");
        let req = containerd_client::services::v1::ListContainersRequest { filters: vec![filter] };
        let reply = self.containers.clone().list(req).await.map_err(|s| status_error("list", s))?;
        Ok(reply.into_inner().containers.into_iter().map(|c| c.id).collect())
    }

    /// IDs of every container record in the namespace (for tests' leak checks).
    #[cfg(test)]
    pub(crate) async fn container_ids(&self) -> Result<Vec<String>, Error> {
        let req = containerd_client::services::v1::ListContainersRequest { filters: Vec::new() };
        let reply = self.containers.clone().list(req).await.map_err(|s| status_error("list", s))?;
        Ok(reply.into_inner().containers.into_iter().map(|c| c.id).collect())
    }

    async fn remove_task(&self, id: &str) {
        match self.tasks.clone().delete(DeleteTaskRequest { container_id: id.to_owned() }).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => tracing::warn!(container = id, error = %s, "cannot delete failed task"),
        }
    }

    #[cfg(test)]
    /// Cleanup after a failed create: the record and the snapshot, logging what cannot go.
    async fn remove_records(&self, id: &str) {
        match self.containers.clone().delete(DeleteContainerRequest { id: id.to_owned() }).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => tracing::warn!(container = id, error = %s, "cannot delete container record"),
        }
        self.remove_snapshot(id).await;
    }

    async fn remove_snapshot(&self, id: &str) {
        let remove =
            RemoveSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key: id.to_owned() };
        match self.conn.snapshots().remove(remove).await {
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => {
                tracing::warn!(container = id, error = %s, "cannot remove container snapshot")
            }
        }
    }
}

fn remove_fifo_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove fifo dir"),
    }
}

/// Container IDs become path components and containerd keys: refuse anything else.
fn validate_id(id: &str) -> Result<(), Error> {
    let ok = !id.is_empty()
        && id.len() <= 76
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        && !id.starts_with(['.', '-']);
    if ok { Ok(()) } else { Err(Error::invalid(format!("invalid container ID {id:?}"))) }
}

/// dockerd's `setExitCodeFromError` over a containerd create/start failure `message`: the kind
/// of error, the exit code it records, and the text (prefixed as libcontainerd does).
pub(crate) fn start_error(message: &str) -> StartError {
    let lower = message.to_lowercase();
    let mut text = format!("failed to create task for container: {message}");
    let (kind, code) = if lower.contains("permission denied") {
        (ErrorKind::InvalidParameter, 126)
    } else if lower.contains("is a directory") {
        // docker/cli looks for "permission denied" to pick exit code 126.
        text.push_str(": permission denied");
        (ErrorKind::InvalidParameter, 126)
    } else if lower.contains("not a directory") {
        text.push_str(
            ": Are you trying to mount a directory onto a file (or vice-versa)? Check if the \
             specified host path exists and is the expected type",
        );
        (ErrorKind::InvalidParameter, 127)
    } else if [
        "executable file not found",
        "no such file or directory",
        "system cannot find the file specified",
        "failed to run runc create/exec call",
    ]
    .iter()
    .any(|m| lower.contains(m))
    {
        (ErrorKind::InvalidParameter, 127)
    } else {
        (ErrorKind::System, 128)
    };
    StartError { error: Error::new(kind, text), exit_code: Some(code) }
}

/// A created task: its init PID and the engine's ends of its stdio. Dropping it leaves the
/// container as it is; the engine drives the task through [`Runtime`] by ID (tests through the
/// methods here).
pub(crate) struct Task {
    id: String,
    pid: u32,
    #[cfg(test)]
    runtime: Runtime,
    #[cfg(test)]
    fifos: Fifos,
    stdin: Option<pipe::Sender>,
    output: Option<Output>,
}

impl std::fmt::Debug for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Task").field("id", &self.id).field("pid", &self.pid).finish_non_exhaustive()
    }
}

impl Task {
    /// The container (and task) ID.
    #[cfg(test)]
    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    /// The init process's host PID.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The write end of stdin, if the task has one (once).
    pub(crate) fn take_stdin(&mut self) -> Option<pipe::Sender> {
        self.stdin.take()
    }

    /// The output stream (once).
    pub(crate) fn take_output(&mut self) -> Option<Output> {
        self.output.take()
    }

    /// Starts the process.
    #[cfg(test)]
    pub(crate) async fn start(&self) -> Result<(), StartError> {
        self.runtime.start(&self.id).await
    }

    /// Waits for the process to exit (a long poll; returns at once if it already has).
    #[cfg(test)]
    pub(crate) async fn wait(&self) -> Result<Exit, Error> {
        self.runtime.wait(&self.id, "").await.map_err(|s| status_error("wait task", s))
    }

    /// Sends `signal` to the init process, or to every process in the container when `all`.
    #[cfg(test)]
    pub(crate) async fn kill(
        &self,
        signal: nix::sys::signal::Signal,
        all: bool,
    ) -> Result<(), Error> {
        self.runtime.kill(&self.id, "", signal as i32, all).await
    }

    /// Closes the process's stdin: drops the engine's write end and has the shim close its own
    /// (`CloseIO`), so the process reads EOF.
    #[cfg(test)]
    pub(crate) async fn close_stdin(&mut self) -> Result<(), Error> {
        self.stdin = None;
        self.runtime.close_stdin(&self.id, "").await
    }

    /// Resizes the task's terminal.
    #[cfg(test)]
    pub(crate) async fn resize(&self, width: u32, height: u32) -> Result<(), Error> {
        self.runtime.resize(&self.id, "", width, height).await
    }

    /// Deletes the task, the container record, the snapshot and the FIFO dir. The task must
    /// have exited (kill and wait first).
    #[cfg(test)]
    pub(crate) async fn delete(self) -> Result<(), Error> {
        let Self { id, runtime, fifos, stdin, output, .. } = self;
        drop((stdin, output));
        runtime.remove(&id).await?;
        fifos.remove();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_errors_map_to_dockerd_exit_codes() {
        let missing = r#"failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: exec: "nosuch": executable file not found in $PATH: unknown"#;
        let e = start_error(missing);
        assert_eq!(e.exit_code, Some(127));
        assert_eq!(e.error.kind(), ErrorKind::InvalidParameter);
        assert_eq!(e.error.message(), format!("failed to create task for container: {missing}"));

        let denied = "runc create failed: unable to start container process: exec: \"/etc/passwd\": permission denied: unknown";
        assert_eq!(start_error(denied).exit_code, Some(126));
        let dir = "exec: \"/etc\": is a directory: unknown";
        let e = start_error(dir);
        assert_eq!(e.exit_code, Some(126));
        assert!(e.error.message().ends_with(": permission denied"), "{}", e.error);
        let other = start_error("something odd");
        assert_eq!(other.exit_code, Some(128));
        assert_eq!(other.error.kind(), ErrorKind::System);
    }

    #[test]
    fn runc_options_use_the_proto_tags() {
        let options = RuncOptions { root: "/r".into(), systemd_cgroup: true, ..Default::default() };
        // field 7 (string "/r"), field 9 (varint 1).
        assert_eq!(prost::Message::encode_to_vec(&options), [0x3a, 2, b'/', b'r', 0x48, 1]);
    }

    #[test]
    fn container_ids_are_checked() {
        assert!(validate_id("abc_1.2-x").is_ok());
        for bad in ["", "../x", "a/b", "-a", ".a", "a b"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }
}
