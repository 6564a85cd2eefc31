//! `docker exec`: exec instances (created, running, exited), their processes in a running
//! container's task, their streams, and the probe runner health checks use.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_api::container::{ExecCreateBody, ExecInspect, ExecProcessConfig};
use berth_api::{Error, Result};
use berth_backend::{AttachStream, ByteStream, ExecStartOptions, OutputChunk, StdStream};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::manager::Manager;
use super::record::Status;
use super::{Container, io, names};
use crate::runtime::stdio::Chunk;
use crate::runtime::user;

/// One exec instance.
#[derive(Debug, Clone)]
pub(crate) struct ExecRecord {
    id: String,
    container_id: String,
    body: ExecCreateBody,
    started: bool,
    running: bool,
    exit_code: Option<i64>,
    /// The process's PID once started, kept after it exits (as dockerd's inspect shows it).
    pid: u32,
    /// Set by a garbage collection pass that found the exec over; the next pass forgets it.
    can_remove: bool,
}

/// Every exec instance, by ID.
#[derive(Debug, Default)]
pub(crate) struct Execs {
    map: Mutex<HashMap<String, Arc<Mutex<ExecRecord>>>>,
}

impl Execs {
    fn get(&self, id: &str) -> Result<Arc<Mutex<ExecRecord>>> {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
            .ok_or_else(|| Error::not_found(format!("No such exec instance: {id}")))
    }

    fn insert(&self, record: ExecRecord) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(record.id.clone(), Arc::new(Mutex::new(record)));
    }

    /// Forgets every exec instance of container `container_id` (it is gone).
    pub(crate) fn remove_container(&self, container_id: &str) {
        self.map
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, e| lock(e).container_id != container_id);
    }

    /// One pass of dockerd's exec garbage collection: execs marked by the previous pass are
    /// forgotten, and those that are over (exited, failed to start, or whose container is
    /// gone: not `live`) are marked. An exec can so be inspected for one to two periods after
    /// it ends. Returns how many were forgotten.
    pub(crate) fn collect_garbage(&self, live: impl Fn(&str) -> bool) -> usize {
        // `live` is asked with no lock held here.
        let containers: HashSet<String> = {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            map.values().map(|e| lock(e).container_id.clone()).collect()
        };
        let live: HashSet<String> = containers.into_iter().filter(|id| live(id)).collect();
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let before = map.len();
        map.retain(|_, e| !lock(e).can_remove);
        for e in map.values() {
            let mut e = lock(e);
            if e.exit_code.is_some() || !live.contains(&e.container_id) {
                e.can_remove = true;
            }
        }
        before - map.len()
    }
}

/// How often exec instances that are over are collected, as dockerd's `execCommandGC`.
pub(crate) const EXEC_GC_PERIOD: Duration = Duration::from_secs(5 * 60);

/// Takes exec `id` off its container's list of live execs (`ExecIDs` in inspect): it exited
/// or could not start.
fn unlist(c: &Container, id: &str) {
    c.exec_ids.lock().unwrap_or_else(|p| p.into_inner()).retain(|e| e != id);
}

fn lock(e: &Mutex<ExecRecord>) -> std::sync::MutexGuard<'_, ExecRecord> {
    e.lock().unwrap_or_else(|p| p.into_inner())
}

/// 409s for a container that cannot run an exec now. A paused container is named `name`: the
/// name the client gave at create, the container's ID at start (as dockerd words them).
fn check_running(c: &Container, name: &str) -> Result<()> {
    match c.with(|r| r.state.status) {
        Status::Running => Ok(()),
        Status::Paused => Err(Error::conflict(format!(
            "Container {name} is paused, unpause the container before exec"
        ))),
        Status::Restarting => Err(Error::conflict(format!(
            "Container {} is restarting, wait until the container is running",
            c.id
        ))),
        _ => Err(Error::conflict(format!("container {} is not running", c.id))),
    }
}

impl Manager {
    /// `POST /containers/{name}/exec`.
    pub(crate) fn exec_create(&self, container: &str, body: ExecCreateBody) -> Result<String> {
        let c = self.get(container)?;
        check_running(&c, container)?;
        let id = names::generate_id();
        let command = body.cmd.clone().unwrap_or_default().join(" ");
        self.execs.insert(ExecRecord {
            id: id.clone(),
            container_id: c.id.clone(),
            body,
            started: false,
            running: false,
            exit_code: None,
            pid: 0,
            can_remove: false,
        });
        c.exec_ids.lock().unwrap_or_else(|p| p.into_inner()).push(id.clone());
        self.event(&c, &format!("exec_create: {command}"), &[("execID", id.clone())]);
        Ok(id)
    }

    /// `GET /exec/{id}/json`.
    pub(crate) fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let e = lock(&*self.execs.get(id)?).clone();
        let mut cmd = e.body.cmd.clone().unwrap_or_default().into_iter();
        Ok(ExecInspect {
            id: e.id.clone(),
            running: e.running,
            exit_code: e.exit_code,
            process_config: Some(ExecProcessConfig {
                tty: e.body.tty,
                entrypoint: cmd.next().unwrap_or_default(),
                arguments: Some(cmd.collect()),
                privileged: Some(e.body.privileged),
                user: e.body.user.clone(),
            }),
            open_stdin: e.body.attach_stdin,
            open_stderr: e.body.attach_stderr,
            open_stdout: e.body.attach_stdout,
            can_remove: e.can_remove,
            container_id: e.container_id.clone(),
            // dockerd keeps the parsed key bytes and sends them base64-encoded ("" for none).
            detach_keys: Some(base64::Engine::encode(
                &base64::engine::general_purpose::STANDARD,
                if e.body.detach_keys.is_empty() {
                    Vec::new()
                } else {
                    io::detach_sequence(&e.body.detach_keys)
                },
            )),
            pid: i64::from(e.pid),
        })
    }

    /// `POST /exec/{id}/resize`.
    pub(crate) async fn exec_resize(&self, id: &str, height: u32, width: u32) -> Result<()> {
        let e = lock(&*self.execs.get(id)?).clone();
        if !e.running {
            return Err(Error::conflict(format!("exec {id} is not running")));
        }
        self.runtime.resize(&e.container_id, id, width, height).await
    }

    /// `POST /exec/{id}/start`.
    pub(crate) async fn exec_start(
        self: &Arc<Self>,
        id: &str,
        options: ExecStartOptions,
        stdin: Option<ByteStream>,
    ) -> Result<AttachStream> {
        let handle = self.execs.get(id)?;
        // As dockerd: the container first (gone is a 404 naming the exec), then the exec.
        let container_id = lock(&handle).container_id.clone();
        let c = self
            .get(&container_id)
            .map_err(|_| Error::not_found(format!("No such container: {id}")))?;
        check_running(&c, &c.id)?;
        let body = {
            let mut e = lock(&handle);
            if e.exit_code.is_some() {
                return Err(Error::conflict(format!("exec command {id} has already run")));
            }
            if e.started {
                return Err(Error::conflict(format!("exec command {id} is already running")));
            }
            e.started = true;
            e.body.clone()
        };
        let tty = body.tty;
        if options.detach {
            // Detached: nobody reads the output (it is drained).
            drop(
                Arc::clone(self).exec_launch(handle, c, id.to_owned(), body, options, None).await?,
            );
            return Ok(AttachStream { tty, output: futures_util::stream::empty().boxed() });
        }
        // The process starts when the client reads the stream, that is once the hijack answer
        // went out: docker-py reads that answer through a buffer it then bypasses, so output
        // sent right behind it would be lost (dockerd, too, starts the process after hijacking).
        let this = Arc::clone(self);
        let id = id.to_owned();
        let launch = async move { this.exec_launch(handle, c, id, body, options, stdin).await };
        let output = futures_util::stream::once(launch)
            .flat_map(|started| match started {
                Ok(output) => output,
                // A failure after the hijack goes in-band, as dockerd writes it.
                Err(e) => futures_util::stream::iter([Ok(OutputChunk::new(
                    StdStream::Stdout,
                    format!("{}\r\n", e.message()),
                ))])
                .boxed(),
            })
            .boxed();
        Ok(AttachStream { tty, output })
    }

    /// Starts the process of exec `id` and its stream plumbing; returns the client's output.
    async fn exec_launch(
        self: Arc<Self>,
        handle: Arc<Mutex<ExecRecord>>,
        c: Arc<Container>,
        id: String,
        body: ExecCreateBody,
        options: ExecStartOptions,
        stdin: Option<ByteStream>,
    ) -> Result<berth_backend::OutputStream> {
        let id = id.as_str();
        let process = match self.exec_process(&c, &body).await {
            Ok(p) => p,
            Err(e) => {
                lock(&handle).exit_code = Some(126);
                unlist(&c, id);
                return Err(e);
            }
        };
        let with_stdin = body.attach_stdin && stdin.is_some();
        let started = self.runtime.exec(&c.id, id, &process, with_stdin).await;
        let proc = match started {
            Ok(p) => p,
            Err(e) => {
                // dockerd records 126 for any exec that cannot start.
                lock(&handle).exit_code = Some(126);
                unlist(&c, id);
                self.event(
                    &c,
                    "exec_die",
                    &[("execID", id.to_owned()), ("exitCode", "126".to_owned())],
                );
                return Err(e.error);
            }
        };
        {
            let mut rec = lock(&handle);
            rec.running = true;
            rec.pid = proc.pid;
        }
        let command = body.cmd.clone().unwrap_or_default().join(" ");
        self.event(&c, &format!("exec_start: {command}"), &[("execID", id.to_owned())]);
        if let Some([h, w]) = options.console_size.or(body.console_size)
            && body.tty
            && h > 0
            && w > 0
            && let Err(e) = self.runtime.resize(&c.id, id, w, h).await
        {
            tracing::debug!(exec = id, error = %e, "cannot set the initial console size");
        }

        // stdin: the client's bytes into the process, closed when the client half-closes.
        let (stdin_done, done_rx) = oneshot::channel();
        let (detach_tx, detach_rx) = oneshot::channel();
        if let (Some(pipe), Some(client)) = (proc.stdin, stdin.filter(|_| with_stdin)) {
            let (tx, rx) = mpsc::channel(io::STDIN_QUEUE);
            tokio::spawn(io::stdin_writer(
                rx,
                pipe,
                self.runtime.clone(),
                c.id.clone(),
                id.to_owned(),
                done_rx,
            ));
            let keys = io::detach_sequence(&body.detach_keys);
            tokio::spawn(io::forward_stdin(client, tx, keys, io::StdinEnd::CloseStdin, detach_tx));
        }

        // Output: drained even after the client left, so the process never blocks on it.
        let (out_tx, out_rx) = mpsc::channel::<Result<OutputChunk>>(16);
        let (want_out, want_err) = (body.attach_stdout, body.attach_stderr);
        let detached = options.detach;
        let output = proc.output;
        // The client's sender is handed back when the output ends, and dropped (ending the
        // client's stream) only once the exit code is recorded: the CLI inspects the exec for it
        // as soon as the stream ends.
        let drain = tokio::spawn(async move {
            let mut client = if detached { None } else { Some(out_tx) };
            let Some(mut output) = output else { return client };
            let mut detach_rx = Some(detach_rx);
            loop {
                let item = match detach_rx.as_mut() {
                    Some(d) => tokio::select! {
                        r = d => {
                            if r.is_ok() { client = None; }
                            detach_rx = None;
                            continue;
                        }
                        item = output.next() => item,
                    },
                    None => output.next().await,
                };
                let Some(item) = item else { break };
                let chunk = match item {
                    Ok(Chunk::Stdout(b)) if want_out => OutputChunk::new(StdStream::Stdout, b),
                    Ok(Chunk::Stderr(b)) if want_err => OutputChunk::new(StdStream::Stderr, b),
                    Ok(_) => continue,
                    Err(e) => {
                        tracing::debug!(error = %e, "exec output read failed");
                        break;
                    }
                };
                if let Some(tx) = &client
                    && tx.send(Ok(chunk)).await.is_err()
                {
                    client = None;
                }
            }
            client
        });

        let this = Arc::clone(&self);
        let exec_id = id.to_owned();
        tokio::spawn(async move {
            let code = loop {
                match this.runtime.wait(&c.id, &exec_id).await {
                    Ok(exit) => break i64::from(exit.code),
                    Err(s) if s.code() == tonic::Code::NotFound => break 255,
                    Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
                }
            };
            let client = match tokio::time::timeout(Duration::from_secs(2), drain).await {
                Ok(Ok(client)) => client,
                _ => None,
            };
            this.runtime.delete_exec(&c.id, &exec_id).await;
            let _ = stdin_done.send(());
            {
                let mut rec = lock(&handle);
                rec.running = false;
                rec.exit_code = Some(code);
            }
            unlist(&c, &exec_id);
            this.event(
                &c,
                "exec_die",
                &[("execID", exec_id.clone()), ("exitCode", code.to_string())],
            );
            drop(client);
        });

        Ok(tokio_stream::wrappers::ReceiverStream::new(out_rx).boxed())
    }

    /// The OCI process of an exec: the container's process settings with the exec's command,
    /// environment, working dir, user and terminal.
    async fn exec_process(&self, c: &Container, body: &ExecCreateBody) -> Result<Value> {
        let spec = self.runtime.spec(&c.id).await?;
        let mut process = spec["process"].clone();
        let (cfg_user, pid, group_add) = c.with(|r| {
            (
                r.config.user.clone(),
                r.state.pid,
                r.host_config.group_add.clone().unwrap_or_default(),
            )
        });
        let user_spec = if body.user.is_empty() { cfg_user } else { body.user.clone() };
        let root = std::path::PathBuf::from(format!("/proc/{pid}/root"));
        let files = user::load(&root)?;
        let resolved = user::resolve(&user_spec, &group_add, &files)?;
        process["user"] = json!({
            "uid": resolved.user.uid,
            "gid": resolved.user.gid,
            "additionalGids": resolved.user.additional_gids,
        });
        process["args"] = json!(body.cmd.clone().unwrap_or_default());
        process["terminal"] = json!(body.tty);
        if !body.working_dir.is_empty() {
            process["cwd"] = json!(body.working_dir);
        }
        let mut env: Vec<String> = process["env"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        let mut set = |entry: &str| {
            let key = entry.split('=').next().unwrap_or(entry);
            env.retain(|e| e.split('=').next() != Some(key));
            env.push(entry.to_owned());
        };
        if body.tty {
            set("TERM=xterm");
        }
        for e in body.env.iter().flatten() {
            set(e);
        }
        if !user_spec.is_empty() {
            // HOME follows the exec's user unless set explicitly.
            let explicit = body.env.iter().flatten().any(|e| e.starts_with("HOME="));
            if !explicit {
                set(&format!("HOME={}", resolved.home));
            }
        }
        process["env"] = json!(env);
        if body.privileged {
            let all = crate::runtime::spec::all_capabilities();
            process["capabilities"] =
                json!({ "bounding": all, "effective": all, "permitted": all });
        }
        Ok(process)
    }

    /// Runs `argv` in the running container `c` (a health probe): exit code and the first 4 KiB
    /// of output; killed after `timeout`.
    pub(crate) async fn probe(
        &self,
        c: &Container,
        argv: Vec<String>,
        timeout: Duration,
    ) -> Result<(i64, String)> {
        let exec_id = format!("probe-{}", uuid::Uuid::new_v4().simple());
        let body = ExecCreateBody { cmd: Some(argv), ..ExecCreateBody::default() };
        let process = self.exec_process(c, &body).await?;
        let proc =
            self.runtime.exec(&c.id, &exec_id, &process, false).await.map_err(|e| e.error)?;
        let collect = async {
            let mut out = Vec::new();
            if let Some(mut output) = proc.output {
                while let Some(Ok(chunk)) = output.next().await {
                    let bytes = match chunk {
                        Chunk::Stdout(b) | Chunk::Stderr(b) => b,
                    };
                    if out.len() < 4096 {
                        out.extend_from_slice(&bytes[..bytes.len().min(4096 - out.len())]);
                    }
                }
            }
            out
        };
        let run = async {
            let (out, exit) = tokio::join!(collect, self.runtime.wait(&c.id, &exec_id));
            (out, exit)
        };
        let result = match tokio::time::timeout(timeout, run).await {
            Ok((out, Ok(exit))) => {
                Ok((i64::from(exit.code), String::from_utf8_lossy(&out).into_owned()))
            }
            Ok((_, Err(s))) => Err(crate::containerd::status_error("wait probe", s)),
            Err(_) => {
                let _ = self
                    .runtime
                    .kill(&c.id, &exec_id, nix::sys::signal::Signal::SIGKILL as i32, false)
                    .await;
                let _ = self.runtime.wait(&c.id, &exec_id).await;
                Ok((-1, format!("Health check exceeded timeout ({timeout:?})")))
            }
        };
        self.runtime.delete_exec(&c.id, &exec_id).await;
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, container: &str, exit_code: Option<i64>) -> ExecRecord {
        ExecRecord {
            id: id.to_owned(),
            container_id: container.to_owned(),
            body: ExecCreateBody::default(),
            started: exit_code.is_some(),
            running: false,
            exit_code,
            pid: 0,
            can_remove: false,
        }
    }

    #[test]
    fn ended_execs_are_marked_then_forgotten_as_by_dockerds_collection() {
        let execs = Execs::default();
        execs.insert(record("exited", "a", Some(0)));
        execs.insert(record("pending", "a", None));
        execs.insert(record("orphan", "gone", None));
        let live = |c: &str| c == "a";

        // First pass: marked, still there to inspect.
        assert_eq!(execs.collect_garbage(live), 0);
        let marked = |id: &str| execs.get(id).map(|e| lock(&e).can_remove);
        assert_eq!(marked("exited").ok(), Some(true));
        assert_eq!(marked("orphan").ok(), Some(true));
        assert_eq!(marked("pending").ok(), Some(false));

        // Second pass: the marked ones are gone; a pending exec of a live container stays.
        assert_eq!(execs.collect_garbage(live), 2);
        assert_eq!(
            execs.get("exited").map(|_| ()).expect_err("gone").kind(),
            berth_api::ErrorKind::NotFound
        );
        assert!(execs.get("orphan").is_err());
        assert_eq!(marked("pending").ok(), Some(false));

        execs.remove_container("a");
        assert!(execs.get("pending").is_err());
    }
}
