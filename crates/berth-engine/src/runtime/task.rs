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
    DeleteTaskRequest, KillRequest, ResizePtyRequest, StartRequest, WaitRequest,
};
use tokio::net::unix::pipe;

use super::stdio::{Fifos, Output, StdioConfig};
use crate::containerd::{Containerd, status_error};
use crate::lease::Lease;
use crate::unpack::SNAPSHOTTER;

/// The containerd runtime (shim) Berth's containers use.
pub(crate) const RUNTIME: &str = "io.containerd.runc.v2";
/// `Any.type_url` of an OCI runtime spec serialized as JSON.
pub(crate) const SPEC_TYPE_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Spec";
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

    /// Creates the container and its task (not yet started): snapshot, container record, FIFOs,
    /// `Tasks.Create`. On any failure everything created so far is removed again.
    pub(crate) async fn create(&self, req: CreateRequest) -> Result<Task, StartError> {
        validate_id(&req.id)?;
        let tty = req.spec["process"]["terminal"].as_bool().unwrap_or(false);
        let stdio = StdioConfig { stdin: req.stdin, tty };
        let spec = serde_json::to_vec(&req.spec)
            .map_err(|e| Error::system("cannot serialize the runtime spec").with_source(e))?;

        // The lease holds the new active snapshot until the container record references it.
        let lease = Lease::create(&self.conn).await?;
        let recorded = self.record(&lease, &req, spec).await;
        lease.release().await;
        recorded?;

        let mut fifos = match Fifos::create(&self.fifo_dir(&req.id), stdio) {
            Ok(f) => f,
            Err(e) => {
                self.remove_records(&req.id).await;
                return Err(e.into());
            }
        };
        match self.create_task(&req.id, &fifos, tty).await {
            Ok(pid) => {
                let stdin = match fifos.open_stdin() {
                    Ok(s) => s,
                    Err(e) => {
                        self.remove_task(&req.id).await;
                        self.remove_records(&req.id).await;
                        fifos.remove();
                        return Err(e.into());
                    }
                };
                let output = fifos.take_output();
                Ok(Task { id: req.id, pid, runtime: self.clone(), fifos, stdin, output })
            }
            Err(e) => {
                // The shim may have got as far as recording a task; containerd removes it on a
                // failed create, but make sure.
                self.remove_task(&req.id).await;
                self.remove_records(&req.id).await;
                fifos.remove();
                Err(e)
            }
        }
    }

    /// Prepares the snapshot and creates the container record, inside `lease`.
    async fn record(&self, lease: &Lease, req: &CreateRequest, spec: Vec<u8>) -> Result<(), Error> {
        let prepare = PrepareSnapshotRequest {
            snapshotter: SNAPSHOTTER.to_owned(),
            key: req.id.clone(),
            parent: req.chain_id.clone(),
            labels: HashMap::new(),
        };
        lease
            .conn()
            .snapshots()
            .prepare(prepare)
            .await
            .map_err(|s| status_error("prepare container snapshot", s))?;
        let mut labels = req.labels.clone();
        labels.insert(LABEL_MANAGED_BY.to_owned(), "berth".to_owned());
        let container = Container {
            id: req.id.clone(),
            labels,
            image: req.image.clone(),
            runtime: Some(RuntimeInfo {
                name: RUNTIME.to_owned(),
                options: Some(self.runc_options()?),
            }),
            spec: Some(prost_types::Any { type_url: SPEC_TYPE_URL.to_owned(), value: spec }),
            snapshotter: SNAPSHOTTER.to_owned(),
            snapshot_key: req.id.clone(),
            ..Container::default()
        };
        let created = self
            .containers
            .clone()
            .create(CreateContainerRequest { container: Some(container) })
            .await;
        if let Err(status) = created {
            self.remove_snapshot(&req.id).await;
            return Err(status_error("create container", status));
        }
        Ok(())
    }

    async fn create_task(&self, id: &str, fifos: &Fifos, tty: bool) -> Result<u32, StartError> {
        let mounts = self
            .conn
            .snapshots()
            .mounts(MountsRequest { snapshotter: SNAPSHOTTER.to_owned(), key: id.to_owned() })
            .await
            .map_err(|s| status_error("container snapshot mounts", s))?
            .into_inner()
            .mounts;
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
        match self.tasks.clone().create(req).await {
            Ok(reply) => Ok(reply.into_inner().pid),
            Err(status) => Err(start_error(status.message())),
        }
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

/// A created task. Dropping it leaves the container as it is; call [`Task::delete`] to remove
/// it.
pub(crate) struct Task {
    id: String,
    pid: u32,
    runtime: Runtime,
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
    pub(crate) async fn start(&self) -> Result<(), StartError> {
        let req = StartRequest { container_id: self.id.clone(), exec_id: String::new() };
        match self.runtime.tasks.clone().start(req).await {
            Ok(_) => Ok(()),
            Err(status) => Err(start_error(status.message())),
        }
    }

    /// Waits for the process to exit (a long poll; returns at once if it already has).
    pub(crate) async fn wait(&self) -> Result<Exit, Error> {
        let req = WaitRequest { container_id: self.id.clone(), exec_id: String::new() };
        let reply = self
            .runtime
            .tasks
            .clone()
            .wait(req)
            .await
            .map_err(|s| status_error("wait task", s))?
            .into_inner();
        let exited_at = reply.exited_at.and_then(|t| {
            let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
            time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
        });
        Ok(Exit { code: reply.exit_status, exited_at })
    }

    /// Sends `signal` to the init process, or to every process in the container when `all`.
    pub(crate) async fn kill(
        &self,
        signal: nix::sys::signal::Signal,
        all: bool,
    ) -> Result<(), Error> {
        let signal = u32::try_from(signal as i32).unwrap_or_default();
        let req =
            KillRequest { container_id: self.id.clone(), exec_id: String::new(), signal, all };
        self.runtime.tasks.clone().kill(req).await.map_err(|s| status_error("kill task", s))?;
        Ok(())
    }

    /// Closes the process's stdin: drops the engine's write end and has the shim close its own
    /// (`CloseIO`), so the process reads EOF.
    pub(crate) async fn close_stdin(&mut self) -> Result<(), Error> {
        self.stdin = None;
        let req =
            CloseIoRequest { container_id: self.id.clone(), exec_id: String::new(), stdin: true };
        self.runtime
            .tasks
            .clone()
            .close_io(req)
            .await
            .map_err(|s| status_error("close stdin", s))?;
        Ok(())
    }

    /// Resizes the task's terminal.
    pub(crate) async fn resize(&self, width: u32, height: u32) -> Result<(), Error> {
        let req = ResizePtyRequest {
            container_id: self.id.clone(),
            exec_id: String::new(),
            width,
            height,
        };
        self.runtime.tasks.clone().resize_pty(req).await.map_err(|s| status_error("resize", s))?;
        Ok(())
    }

    /// Deletes the task, the container record, the snapshot and the FIFO dir. The task must
    /// have exited (kill and wait first).
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
