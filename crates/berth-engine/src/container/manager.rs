//! The container lifecycle: create, start, stop, kill, pause, restart, remove, rename, wait;
//! the monitor that records each exit and applies restart policies; and restore after a restart
//! of berthd.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use berth_api::container::{ContainerCreateResponse, ContainerWaitResponse, WaitCondition};
use berth_api::{Error, ErrorKind, Result};
use berth_backend::{BoxFuture, ContainerCreateOptions, ContainerStopOptions};
use tokio::sync::oneshot;

use super::io::{self, OutputEvent};
use super::network::Networking;
use super::record::{Record, State, Status, ZERO_TIME, now_rfc3339};
use super::{Container, Registry, config, load_all, names};
use crate::EventSink;
use crate::containerd::Containerd;
use crate::image::Store;
use crate::runtime::task::{Runtime, TaskStatus};

/// Restart back-off: first delay, and the cap (dockerd's restart manager).
const RESTART_FIRST_DELAY: Duration = Duration::from_millis(100);
const RESTART_MAX_DELAY: Duration = Duration::from_secs(60);
/// A run longer than this resets the back-off.
const RESTART_RESET_AFTER: Duration = Duration::from_secs(10);
/// How long an exit waits for the output to drain before the task is deleted.
const OUTPUT_DRAIN: Duration = Duration::from_secs(2);
/// How long stop waits after SIGKILL before it reports a failure.
const KILL_GRACE: Duration = Duration::from_secs(30);
/// Label on containerd container records naming the Docker name.
const LABEL_NAME: &str = "io.berth.name";

/// Where the manager keeps things.
#[derive(Debug, Clone)]
pub(crate) struct Paths {
    /// `data-root/containers`.
    pub(crate) containers: PathBuf,
    /// Berth's exec-root.
    pub(crate) exec_root: PathBuf,
}

/// The container service behind the container and exec backends.
pub(crate) struct Manager {
    pub(crate) runtime: Runtime,
    pub(crate) images: Store,
    pub(crate) registry: Registry,
    pub(crate) execs: super::exec::Execs,
    pub(crate) paths: Paths,
    pub(crate) net: Networking,
    pub(crate) volumes: crate::volume::Volumes,
    events: Arc<dyn EventSink>,
    sampler: std::sync::OnceLock<Arc<crate::metrics::Sampler>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").field("paths", &self.paths).finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager on `conn`; call [`Manager::restore`] once afterwards.
    pub(crate) async fn new(
        conn: &Containerd,
        images: Store,
        paths: Paths,
        net: Networking,
        volumes: crate::volume::Volumes,
        events: Arc<dyn EventSink>,
    ) -> Result<Arc<Self>> {
        std::fs::create_dir_all(&paths.containers).map_err(|e| {
            Error::system(format!("cannot create {}", paths.containers.display())).with_source(e)
        })?;
        let runtime = Runtime::new(
            conn,
            crate::runtime::task::RuntimeConfig { exec_root: paths.exec_root.clone() },
        )
        .await?;
        Ok(Arc::new(Self {
            runtime,
            images,
            registry: Registry::default(),
            execs: super::exec::Execs::default(),
            paths,
            net,
            volumes,
            events,
            sampler: std::sync::OnceLock::new(),
        }))
    }

    /// Publishes a container event with the container's name, image and labels as attributes.
    pub(crate) fn event(&self, c: &Container, action: &str, extra: &[(&str, String)]) {
        let mut attrs: BTreeMap<String, String> = c.with(|r| {
            let mut a: BTreeMap<String, String> = r.config.labels.clone().unwrap_or_default();
            a.insert("name".to_owned(), r.short_name().to_owned());
            a.insert("image".to_owned(), r.config.image.clone());
            a
        });
        for (k, v) in extra {
            attrs.insert((*k).to_owned(), v.clone());
        }
        self.events.publish("container", action, &c.id, attrs);
    }

    /// Publishes an event of any type.
    pub(crate) fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attrs: BTreeMap<String, String>,
    ) {
        self.events.publish(kind, action, id, attrs);
    }

    /// Publishes `prune` with the space reclaimed.
    pub(crate) fn events_prune(&self, reclaimed: u64) {
        let attrs = [("reclaimed".to_owned(), reclaimed.to_string())].into();
        self.events.publish("container", "prune", "", attrs);
    }

    /// The cgroup sampler behind stats (found once).
    pub(crate) fn sampler(&self) -> Result<Arc<crate::metrics::Sampler>> {
        if let Some(s) = self.sampler.get() {
            return Ok(Arc::clone(s));
        }
        let sampler = Arc::new(crate::metrics::Sampler::detect()?);
        Ok(Arc::clone(self.sampler.get_or_init(|| sampler)))
    }

    /// Looks a container up by ID, name or ID prefix.
    pub(crate) fn get(&self, name: &str) -> Result<Arc<Container>> {
        self.registry.get(name)
    }

    // -----------------------------------------------------------------------------------------
    // create
    // -----------------------------------------------------------------------------------------

    /// `POST /containers/create`.
    pub(crate) async fn create(
        self: &Arc<Self>,
        options: ContainerCreateOptions,
    ) -> Result<ContainerCreateResponse> {
        let ContainerCreateOptions { name, body, .. } = options;
        let networking_config = body.networking_config;
        let mut cfg = body.config;
        let mut hc = body.host_config.unwrap_or_default();
        // Without an image, as dockerd 28: an empty root filesystem (to `docker cp` into),
        // no image defaults, and `Image` "" in inspect.
        let (image_id, image_config, chain_id) = if cfg.image.is_empty() {
            (String::new(), serde_json::Value::Null, String::new())
        } else {
            let entry = self.images.find(&cfg.image).await?;
            let chain_id = crate::unpack::chain_ids(&entry.image.diff_ids())
                .last()
                .cloned()
                .unwrap_or_default();
            (entry.image.id.clone(), entry.image.config["config"].clone(), chain_id)
        };

        if !image_config.is_null() {
            config::merge_image(&mut cfg, &image_config);
        }
        config::fill_defaults(&mut hc);
        config::validate_host_config(&hc)?;
        let (path, args) = config::command(&cfg)?;
        let networks =
            self.net.endpoints_at_create(&hc, networking_config.as_ref(), &self.registry)?;
        let mounts = super::views::mount_points(&hc)?;
        super::logging::validate(&hc.log_config)?;
        let mut warnings = Vec::new();
        let publishes = !crate::network::plan(
            hc.port_bindings.as_ref(),
            cfg.exposed_ports.as_ref(),
            hc.publish_all_ports,
        )?
        .is_empty();
        if publishes && hc.network_mode == "host" {
            warnings.push("Published ports are discarded when using host network mode".to_owned());
        }
        super::devices::drop_unsupported_blkio(&mut hc.resources, &mut warnings);
        config::default_swap(&mut hc.resources, &mut warnings);

        let id = names::generate_id();
        let name = self.reserve_name(&name, &id)?;
        let volumes = match super::volumes::attach(self, &id, &cfg, &hc, mounts).await {
            Ok(volumes) => volumes,
            Err(e) => {
                self.registry.release(&name, &id);
                return Err(e);
            }
        };
        if cfg.hostname.is_empty() {
            cfg.hostname = if hc.network_mode == "host" {
                nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default()
            } else {
                id[..12].to_owned()
            };
        }
        let record = Record {
            id: id.clone(),
            name: name.clone(),
            created: now_rfc3339(),
            path,
            args,
            config: cfg,
            host_config: hc,
            image_id,
            chain_id,
            state: State {
                started_at: ZERO_TIME.to_owned(),
                finished_at: ZERO_TIME.to_owned(),
                ..State::default()
            },
            restart_count: 0,
            mounts: volumes.mounts,
            networks,
            netns: None,
            ports: Vec::new(),
        };
        let dir = self.paths.containers.join(&id);
        let created = match self.create_records(&record, &dir).await {
            Ok(()) => super::volumes::populate(self, &record, &dir, &volumes.copy).await,
            Err(e) => Err(e),
        };
        if let Err(e) = created {
            self.registry.release(&name, &id);
            super::volumes::detach(self, &record, true).await;
            return Err(e);
        }
        let container = Arc::new(Container::new(record, dir));
        self.registry.insert(Arc::clone(&container));
        self.event(&container, "create", &[]);
        Ok(ContainerCreateResponse { id, warnings })
    }

    fn reserve_name(&self, requested: &str, id: &str) -> Result<String> {
        if !requested.is_empty() {
            let name = names::validate_name(requested)?;
            self.registry.reserve(&name, id)?;
            return Ok(name);
        }
        for attempt in 0..10 {
            let name = format!("/{}", names::generate_name(attempt));
            if self.registry.reserve(&name, id).is_ok() {
                return Ok(name);
            }
        }
        Err(Error::system("cannot generate a free container name"))
    }

    /// The directory, the stored record and containerd's record + snapshot; all or nothing.
    async fn create_records(&self, record: &Record, dir: &std::path::Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::system(format!("cannot create {}", dir.display())).with_source(e)
        })?;
        let labels: HashMap<String, String> =
            [(LABEL_NAME.to_owned(), record.short_name().to_owned())].into();
        let placeholder = serde_json::json!({ "ociVersion": "1.0.2-dev" });
        let prepared = self
            .runtime
            .prepare(&record.id, &record.config.image, &record.chain_id, &labels, &placeholder)
            .await;
        let saved = prepared.and_then(|()| record.save(dir));
        if let Err(e) = saved {
            if let Err(e) = self.runtime.remove(&record.id).await {
                tracing::warn!(container = %record.id, error = %e, "cannot undo a failed create");
            }
            remove_dir(dir);
            return Err(e);
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // start
    // -----------------------------------------------------------------------------------------

    /// `POST /containers/{name}/start`.
    pub(crate) async fn start(self: &Arc<Self>, name: &str) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        match c.with(|r| r.state.status) {
            Status::Running => {
                return Err(Error::new(ErrorKind::NotModified, "container already started"));
            }
            Status::Paused => {
                return Err(Error::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            Status::Removing => {
                return Err(Error::conflict(
                    "container is marked for removal and cannot be started",
                ));
            }
            Status::Dead => {
                return Err(Error::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    c.id
                )));
            }
            _ => {}
        }
        c.update(|r| {
            r.state.manually_stopped = false;
            r.restart_count = 0;
        })?;
        *c.restart_delay.lock().unwrap_or_else(|p| p.into_inner()) = Duration::ZERO;
        self.start_locked(&c).await
    }

    /// Starts `c`; the caller holds its `op` lock.
    pub(crate) async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> Result<()> {
        let record = c.record();
        let started = self.launch(c, &record).await;
        if let Err(e) = &started {
            let (message, code) = (e.error.message().to_owned(), e.exit_code);
            let status = record.state.status;
            // The cleanup below must run even when a full disk keeps the record from being saved.
            c.update_or_log("failed start", |r| {
                r.state.error = message;
                r.state.exit_code = code.map_or(
                    if r.state.exit_code == 0 { 255 } else { r.state.exit_code },
                    i64::from,
                );
                if status == Status::Restarting {
                    r.state.status = Status::Exited;
                }
                r.networks.values_mut().for_each(super::record::Endpoint::clear_runtime);
                r.netns = None;
                r.ports.clear();
            });
            // Nothing of the failed run may stay behind.
            if let Err(e) = self.runtime.delete_task(&c.id).await {
                tracing::warn!(container = %c.id, error = %e, "cannot delete failed task");
            }
            super::volumes::unmount_all(self, &record);
            // As dockerd: an auto-remove container that cannot start is removed (`docker run
            // --rm` waits for that).
            if record.host_config.auto_remove
                && let Err(e) = self.remove_locked(c, true, true).await
            {
                tracing::warn!(container = %c.id, error = %e, "cannot auto-remove");
            }
        }
        started.map_err(|e| e.error)
    }

    async fn launch(
        self: &Arc<Self>,
        c: &Arc<Container>,
        record: &Record,
    ) -> Result<(), crate::runtime::task::StartError> {
        let names: Arc<dyn crate::network::Names> = Arc::new(super::dns::ContainerNames::new(self));
        let attached = self.net.attach(record, &c.dir, &self.registry, names).await?;
        let spec = match super::spec::build(self, c, record, &attached).await {
            Ok(spec) => spec,
            Err(e) => {
                self.net.detach(record, &attached).await;
                return Err(e.into());
            }
        };
        let stdin = record.config.open_stdin;
        let mut task = match self.runtime.start_task(&c.id, &spec, stdin).await {
            Ok(task) => task,
            Err(e) => {
                self.net.detach(record, &attached).await;
                return Err(e);
            }
        };
        let sink = match super::logging::sink(record, &c.dir) {
            Ok(sink) => sink,
            Err(e) => {
                self.net.detach(record, &attached).await;
                return Err(e.into());
            }
        };
        let output = task.take_output();
        let pipe = task.take_stdin();
        if let Err(e) = self.runtime.start(&c.id).await {
            drop(output);
            self.net.detach(record, &attached).await;
            return Err(e);
        }
        let pid = task.pid();
        let run = self.spawn_io(c, output, pipe, sink);
        let endpoints = attached.endpoints.clone();
        let netns = attached.netns_file.clone();
        let ports = attached.ports.clone();
        // The process runs now: a record that cannot be saved must not leave it unmonitored.
        c.update_or_log("start", |r| {
            r.state.status = Status::Running;
            r.state.pid = pid;
            r.state.started_at = now_rfc3339();
            r.state.error = String::new();
            r.state.exit_code = 0;
            r.state.oom_killed = false;
            r.state.has_been_started = true;
            r.networks = endpoints;
            r.netns = netns;
            r.ports = ports;
            if r.config
                .healthcheck
                .as_ref()
                .is_some_and(|h| h.test.first().is_some_and(|t| t != "NONE"))
            {
                r.state.health = Some(super::record::HealthState {
                    status: "starting".to_owned(),
                    ..Default::default()
                });
            }
        });
        self.event(c, "start", &[]);
        super::health::spawn(self, c);
        self.spawn_monitor(c, run);
        Ok(())
    }

    /// Starts the output pump and the stdin writer of a run.
    fn spawn_io(
        &self,
        c: &Arc<Container>,
        output: Option<crate::runtime::stdio::Output>,
        pipe: Option<tokio::net::unix::pipe::Sender>,
        sink: Option<super::logging::LogSink>,
    ) -> Run {
        let pump = output.map(|o| tokio::spawn(io::pump(o, sink, c.output().clone())));
        let (stdin_done, done_rx) = oneshot::channel();
        let queue = c.stdin_queue.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (pipe, queue) {
            (Some(pipe), Some(queue)) => {
                let slot = Arc::clone(&c.stdin_queue);
                let writer = io::stdin_writer(
                    queue,
                    pipe,
                    self.runtime.clone(),
                    c.id.clone(),
                    String::new(),
                    done_rx,
                );
                tokio::spawn(async move {
                    let queue = writer.await;
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(queue);
                });
            }
            (_, queue) => {
                // No stdin this run: keep the queue for the next one.
                *c.stdin_queue.lock().unwrap_or_else(|p| p.into_inner()) = queue;
            }
        }
        Run { pump, stdin_done, started: tokio::time::Instant::now() }
    }

    // -----------------------------------------------------------------------------------------
    // exits
    // -----------------------------------------------------------------------------------------

    fn spawn_monitor(self: &Arc<Self>, c: &Arc<Container>, run: Run) {
        let this = Arc::clone(self);
        let c = Arc::clone(c);
        tokio::spawn(async move { this.monitor(c, run).await });
    }

    /// Waits for the run to end, records the exit and applies the restart policy.
    async fn monitor(self: Arc<Self>, c: Arc<Container>, run: Run) {
        let exit = self.wait_exit(&c.id).await;
        let Run { pump, stdin_done, started } = run;
        if let Some(pump) = pump
            && tokio::time::timeout(OUTPUT_DRAIN, pump).await.is_err()
        {
            tracing::debug!(container = %c.id, "output still open after exit; closing it");
        }
        let oom = oom_killed(&c.id);
        if let Err(e) = self.runtime.delete_task(&c.id).await {
            tracing::warn!(container = %c.id, error = %e, "cannot delete exited task");
        }
        let _ = stdin_done.send(());
        // The pump may still run if something kept the output open; its End makes attach end.
        let _ = c.output().send(OutputEvent::End);
        self.finish_run(&c, exit, oom, started.elapsed()).await;
    }

    /// The exit status of `id`'s task, riding out containerd restarts.
    async fn wait_exit(&self, id: &str) -> (u32, Option<time::OffsetDateTime>) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.runtime.wait(id, "").await {
                Ok(exit) => return (exit.code, exit.exited_at),
                Err(s) if s.code() == tonic::Code::NotFound => return (255, None),
                Err(s) => {
                    tracing::debug!(container = id, error = %s, "waiting for the task failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Records an exit: state, network teardown, events, then auto-remove or restart.
    async fn finish_run(
        self: &Arc<Self>,
        c: &Arc<Container>,
        (code, exited_at): (u32, Option<time::OffsetDateTime>),
        oom: bool,
        ran: Duration,
    ) {
        let record = c.record();
        self.net.release(&record).await;
        super::volumes::unmount_all(self, &record);
        let finished = exited_at.map_or_else(now_rfc3339, crate::timefmt::fixed);
        let restart = self.should_restart(&record, code);
        let saved = c.update(|r| {
            if r.state.status != Status::Removing {
                r.state.status = if restart { Status::Restarting } else { Status::Exited };
            }
            r.state.pid = 0;
            r.state.exit_code = i64::from(code);
            r.state.finished_at = finished;
            r.state.oom_killed = oom;
            if let Some(h) = r.state.health.as_mut() {
                h.status = "unhealthy".to_owned();
            }
            r.networks.values_mut().for_each(super::record::Endpoint::clear_runtime);
            r.netns = None;
            r.ports.clear();
            if restart {
                r.restart_count += 1;
            }
        });
        if let Err(e) = saved {
            tracing::error!(container = %c.id, error = %e, "cannot record the exit");
        }
        c.refresh_phase(true);
        if oom {
            self.event(c, "oom", &[]);
        }
        self.event(c, "die", &[("exitCode", code.to_string())]);

        if restart {
            let delay = {
                let mut d = c.restart_delay.lock().unwrap_or_else(|p| p.into_inner());
                *d = if ran >= RESTART_RESET_AFTER || d.is_zero() {
                    RESTART_FIRST_DELAY
                } else {
                    (*d * 2).min(RESTART_MAX_DELAY)
                };
                *d
            };
            tokio::spawn(Arc::clone(self).restart_later(Arc::clone(c), delay));
        } else if record.host_config.auto_remove && record.state.status != Status::Removing {
            let this = Arc::clone(self);
            let c = Arc::clone(c);
            tokio::spawn(async move {
                let _op = c.op.lock().await;
                if let Err(e) = this.remove_locked(&c, false, true).await {
                    tracing::warn!(container = %c.id, error = %e, "auto-remove failed");
                }
            });
        }
    }

    /// Starts `c` again after `delay` unless a stop or removal came first. Boxed: the
    /// start → monitor → restart cycle needs a named future type.
    fn restart_later(
        self: Arc<Self>,
        c: Arc<Container>,
        delay: Duration,
    ) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            let _op = c.op.lock().await;
            if c.with(|r| r.state.status) != Status::Restarting || c.phase().removed {
                return;
            }
            if let Err(e) = self.start_locked(&c).await {
                tracing::warn!(container = %c.id, error = %e, "restart by policy failed");
                let _ = c.update(|r| r.state.status = Status::Exited);
            }
        })
    }

    fn should_restart(&self, record: &Record, code: u32) -> bool {
        if record.state.manually_stopped || record.state.status == Status::Removing {
            return false;
        }
        let policy = &record.host_config.restart_policy;
        match policy.name.as_str() {
            "always" | "unless-stopped" => true,
            "on-failure" => {
                code != 0
                    && (policy.maximum_retry_count == 0
                        || record.restart_count < policy.maximum_retry_count)
            }
            _ => false,
        }
    }

    // -----------------------------------------------------------------------------------------
    // stop, kill, pause
    // -----------------------------------------------------------------------------------------

    /// `POST /containers/{name}/stop`.
    pub(crate) async fn stop(&self, name: &str, options: ContainerStopOptions) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        self.stop_locked(&c, options).await
    }

    async fn stop_locked(&self, c: &Arc<Container>, options: ContainerStopOptions) -> Result<()> {
        let status = c.with(|r| r.state.status);
        if status == Status::Restarting {
            c.update_or_log("stop", |r| {
                r.state.status = Status::Exited;
                r.state.manually_stopped = true;
            });
            self.event(c, "stop", &[]);
            return Ok(());
        }
        if !matches!(status, Status::Running | Status::Paused) {
            return Err(Error::new(ErrorKind::NotModified, "container already stopped"));
        }
        let (stop_signal, stop_timeout) =
            c.with(|r| (r.config.stop_signal.clone(), r.config.stop_timeout));
        let signal = match options.signal.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => config::parse_signal(s)?,
            None if !stop_signal.is_empty() => config::parse_signal(&stop_signal)?,
            None => libc_sig(nix::sys::signal::Signal::SIGTERM),
        };
        let timeout = options.timeout.or(stop_timeout).unwrap_or(10);
        // A full disk must not keep anyone from stopping containers.
        c.update_or_log("stop", |r| r.state.manually_stopped = true);
        let mut phase = c.watch();
        self.signal(c, signal, false).await?;
        let graceful = async { phase.wait_for(|p| !p.running).await.is_ok() };
        let stopped = if timeout < 0 {
            graceful.await
        } else {
            let secs = u64::try_from(timeout).unwrap_or(0);
            tokio::time::timeout(Duration::from_secs(secs), graceful).await.unwrap_or(false)
        };
        if !stopped {
            let mut phase = c.watch();
            if phase.borrow().running {
                self.signal(c, libc_sig(nix::sys::signal::Signal::SIGKILL), true).await?;
                let killed = tokio::time::timeout(KILL_GRACE, phase.wait_for(|p| !p.running)).await;
                if !matches!(killed, Ok(Ok(_))) {
                    return Err(Error::system(format!(
                        "cannot stop container: {}: tried to kill container, but did not receive an exit event",
                        c.id
                    )));
                }
            }
        }
        self.event(c, "stop", &[]);
        Ok(())
    }

    /// Sends `signal` (to every process when `all`), thawing a paused container so it can act
    /// on it; emits `kill`.
    async fn signal(&self, c: &Container, signal: i32, all: bool) -> Result<()> {
        self.event(c, "kill", &[("signal", signal.to_string())]);
        match self.runtime.kill(&c.id, "", signal, all).await {
            Ok(()) => {}
            // Gone already: the monitor records the exit.
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        if c.with(|r| r.state.status) == Status::Paused {
            self.runtime.resume(&c.id).await?;
            c.update_or_log("unpause", |r| r.state.status = Status::Running);
            self.event(c, "unpause", &[]);
        }
        Ok(())
    }

    /// `POST /containers/{name}/kill`.
    pub(crate) async fn kill(&self, name: &str, signal: &str) -> Result<()> {
        let c = self.get(name)?;
        let signal = if signal.is_empty() {
            libc_sig(nix::sys::signal::Signal::SIGKILL)
        } else {
            config::parse_signal(signal)?
        };
        let _op = c.op.lock().await;
        if !c.with(|r| r.state.is_running()) {
            return Err(Error::conflict(format!("Container {} is not running", c.id)));
        }
        let stop_signal = c.with(|r| r.config.stop_signal.clone());
        let is_stop = signal == libc_sig(nix::sys::signal::Signal::SIGKILL)
            || (!stop_signal.is_empty() && config::parse_signal(&stop_signal).ok() == Some(signal))
            || (stop_signal.is_empty() && signal == libc_sig(nix::sys::signal::Signal::SIGTERM));
        if is_stop {
            c.update_or_log("kill", |r| r.state.manually_stopped = true);
        }
        let all = signal == libc_sig(nix::sys::signal::Signal::SIGKILL);
        let mut phase = c.watch();
        self.signal(&c, signal, all).await?;
        if all {
            // As dockerd: a SIGKILL returns once the container is gone.
            let exited = tokio::time::timeout(KILL_GRACE, phase.wait_for(|p| !p.running)).await;
            if !matches!(exited, Ok(Ok(_))) {
                return Err(Error::system(format!(
                    "tried to kill container, but did not receive an exit event: {}",
                    c.id
                )));
            }
        }
        Ok(())
    }

    /// `POST /containers/{name}/pause`.
    pub(crate) async fn pause(&self, name: &str) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        match c.with(|r| r.state.status) {
            Status::Running => {}
            Status::Paused => {
                return Err(Error::conflict(format!("Container {} is already paused", c.id)));
            }
            _ => return Err(Error::conflict(format!("Container {} is not running", c.id))),
        }
        self.runtime.pause(&c.id).await?;
        c.update_or_log("pause", |r| r.state.status = Status::Paused);
        self.event(&c, "pause", &[]);
        Ok(())
    }

    /// `POST /containers/{name}/unpause`.
    pub(crate) async fn unpause(&self, name: &str) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        if c.with(|r| r.state.status) != Status::Paused {
            // A plain error in dockerd, so a 500.
            return Err(Error::system(format!("Container {} is not paused", c.id)));
        }
        self.runtime.resume(&c.id).await?;
        c.update_or_log("unpause", |r| r.state.status = Status::Running);
        self.event(&c, "unpause", &[]);
        Ok(())
    }

    /// `POST /containers/{name}/restart`.
    pub(crate) async fn restart(
        self: &Arc<Self>,
        name: &str,
        options: ContainerStopOptions,
    ) -> Result<()> {
        let c = self.get(name)?;
        let _op = c.op.lock().await;
        match self.stop_locked(&c, options).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotModified => {}
            Err(e) => return Err(e),
        }
        c.update(|r| {
            r.state.manually_stopped = false;
            r.restart_count = 0;
        })?;
        self.start_locked(&c).await?;
        self.event(&c, "restart", &[]);
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // remove, rename, wait
    // -----------------------------------------------------------------------------------------

    /// `DELETE /containers/{name}`; `volumes` (`-v`) removes its anonymous volumes too.
    pub(crate) async fn remove(&self, name: &str, force: bool, volumes: bool) -> Result<()> {
        let c = self.get(name)?;
        if c.with(|r| r.state.status) == Status::Removing {
            return Err(Error::conflict(format!(
                "removal of container {} is already in progress",
                c.id
            )));
        }
        let _op = c.op.lock().await;
        self.remove_locked(&c, force, volumes).await.map_err(|e| {
            // dockerd names the container as the client did.
            Error::new(e.kind(), format!("cannot remove container \"{name}\": {}", e.message()))
        })
    }

    /// Removes `c`; errors say why without naming the container.
    async fn remove_locked(&self, c: &Arc<Container>, force: bool, volumes: bool) -> Result<()> {
        if c.phase().removed {
            return Ok(());
        }
        let record = c.record();
        if record.state.is_running() || record.state.status == Status::Restarting {
            if !force {
                let what = if record.state.status == Status::Paused {
                    "container is paused and must be unpaused first"
                } else if record.state.status == Status::Restarting {
                    "container is restarting: stop the container before removing or force remove"
                } else {
                    "container is running: stop the container before removing or force remove"
                };
                return Err(Error::conflict(what));
            }
            let mut phase = c.watch();
            c.update_or_log("remove", |r| {
                r.state.status = if r.state.is_running() { r.state.status } else { Status::Exited };
                r.state.manually_stopped = true;
            });
            if record.state.is_running() {
                self.signal(c, libc_sig(nix::sys::signal::Signal::SIGKILL), true).await.map_err(
                    |e| Error::new(e.kind(), format!("could not kill container: {}", e.message())),
                )?;
                let exited = tokio::time::timeout(KILL_GRACE, phase.wait_for(|p| !p.running)).await;
                if !matches!(exited, Ok(Ok(_))) {
                    return Err(Error::system(
                        "could not kill container: tried to kill container, but did not receive an exit event",
                    ));
                }
            }
        }
        // Removing is how space is freed: a disk too full to record the mark must not stop it
        // (a crash before the end then leaves a container that `rm` removes again).
        c.update_or_log("remove", |r| r.state.status = Status::Removing);
        c.exec_ids.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.execs.remove_container(&c.id);
        if let Err(e) = self.runtime.remove(&c.id).await {
            let _ = c.update(|r| {
                r.state.status = Status::Dead;
                r.state.error = e.message().to_owned();
            });
            return Err(Error::system(format!(
                "unable to remove filesystem for {}: {}",
                c.id,
                e.message()
            )));
        }
        self.net.release(&c.record()).await;
        remove_dir(&c.dir);
        self.registry.remove(&c.id);
        super::volumes::detach(self, &record, volumes).await;
        c.mark_removed();
        self.event(c, "destroy", &[]);
        Ok(())
    }

    /// `POST /containers/{name}/rename`.
    pub(crate) async fn rename(&self, name: &str, new_name: &str) -> Result<()> {
        if name.is_empty() || new_name.is_empty() {
            return Err(Error::invalid("Neither old nor new names may be empty"));
        }
        let c = self.get(name)?;
        let new_name =
            if new_name.starts_with('/') { new_name.to_owned() } else { format!("/{new_name}") };
        let old = c.with(|r| r.name.clone());
        if old == new_name {
            return Err(Error::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        // As dockerd's: the new name is checked and reserved in one step whose errors say so,
        // naming the new name with its '/'.
        let allocating = |e: Error| {
            Error::new(e.kind(), format!("Error when allocating new name: {}", e.message()))
        };
        if names::validate_name(&new_name).is_err() {
            return Err(allocating(Error::invalid(format!(
                "Invalid container name ({new_name}), only {} are allowed",
                names::NAME_CHARS
            ))));
        }
        self.registry.reserve(&new_name, &c.id).map_err(allocating)?;
        if let Err(e) = c.update(|r| r.name = new_name.clone()) {
            self.registry.release(&new_name, &c.id);
            let _ = c.update(|r| r.name = old.clone());
            return Err(e);
        }
        self.registry.release(&old, &c.id);
        self.event(&c, "rename", &[("oldName", old)]);
        Ok(())
    }

    /// `POST /containers/{name}/wait`.
    pub(crate) fn wait(
        &self,
        name: &str,
        condition: WaitCondition,
    ) -> Result<BoxFuture<'static, ContainerWaitResponse>> {
        let c = self.get(name)?;
        let mut phase = c.watch();
        let start = *phase.borrow();
        Ok(Box::pin(async move {
            let done = match condition {
                WaitCondition::NotRunning => {
                    phase.wait_for(|p| !p.running || p.removed).await.map(|p| *p)
                }
                WaitCondition::NextExit => {
                    phase.wait_for(|p| p.exits > start.exits || p.removed).await.map(|p| *p)
                }
                WaitCondition::Removed => phase.wait_for(|p| p.removed).await.map(|p| *p),
            };
            let last = done.unwrap_or_else(|_| *phase.borrow());
            ContainerWaitResponse { error: None, status_code: last.exit_code }
        }))
    }

    // -----------------------------------------------------------------------------------------
    // restore and shutdown
    // -----------------------------------------------------------------------------------------

    /// Runs dockerd's exec garbage collection every [`super::exec::EXEC_GC_PERIOD`] for as
    /// long as the manager lives.
    fn collect_execs_periodically(self: &Arc<Self>) {
        let manager = Arc::downgrade(self);
        tokio::spawn(async move {
            let period = super::exec::EXEC_GC_PERIOD;
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
            loop {
                tick.tick().await;
                let Some(this) = manager.upgrade() else { break };
                let forgotten = this.execs.collect_garbage(|id| this.get(id).is_ok());
                if forgotten > 0 {
                    tracing::debug!(forgotten, "exec instances that ended were forgotten");
                }
            }
        });
    }

    /// Loads every stored container and reconciles it with containerd: running tasks are
    /// reattached (output, monitor), exits that happened while berthd was down are recorded,
    /// restart policies applied; containerd records without a stored container are removed.
    pub(crate) async fn restore(self: &Arc<Self>) {
        for (record, dir) in load_all(&self.paths.containers) {
            if let Err(e) = self.registry.reserve(&record.name, &record.id) {
                tracing::error!(container = %record.id, error = %e, "duplicate name; skipping");
                continue;
            }
            super::volumes::restore(self, &record);
            let c = Arc::new(Container::new(record, dir));
            self.registry.insert(Arc::clone(&c));
            self.restore_one(&c).await;
        }
        self.collect_execs_periodically();
        self.volumes.unmount_unused();
        if let Err(e) = self.remove_orphans().await {
            tracing::warn!(error = %e, "cannot list containerd containers");
        }
    }

    /// Removes containerd containers (and their snapshots) that no Berth container, directory
    /// under `containers/` (even one whose record cannot be read) or create under way owns:
    /// what a create leaves when containerd or berthd dies under it. Returns how many went.
    async fn remove_orphans(&self) -> Result<usize> {
        // Listed before the registry is read: a create records its ID there (with its name)
        // before it makes anything in containerd, so what is listed and unknown is not being
        // made right now.
        let ids = self.runtime.managed_ids().await?;
        let known = self.registry.known_ids();
        let stored: std::collections::HashSet<String> = std::fs::read_dir(&self.paths.containers)
            .map_err(|e| {
                crate::persist::io_error(
                    &format!("cannot read {}", self.paths.containers.display()),
                    e,
                )
            })?
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        let mut removed = 0;
        for id in ids.into_iter().filter(|id| !known.contains(id) && !stored.contains(id)) {
            tracing::warn!(container = %id, "removing a containerd container Berth has no record of");
            match self.runtime.remove(&id).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(container = %id, error = %e, "cannot remove orphan"),
            }
        }
        Ok(removed)
    }

    /// Brings containerd back in line with the records after containerd was restarted (it died
    /// mid-operation): tasks of containers that are not running are discarded (a start or stop
    /// it died under), and containerd containers nobody owns are removed (a create it died
    /// under). Running containers need nothing: their monitors wait through the restart.
    /// Returns `(tasks discarded, containers removed)`.
    pub(crate) async fn reconcile(&self) -> Result<(usize, usize)> {
        let mut discarded = 0;
        for c in self.registry.all() {
            let _op = c.op.lock().await;
            let status = c.with(|r| r.state.status);
            if c.phase().removed
                || matches!(status, Status::Running | Status::Paused | Status::Restarting)
            {
                continue;
            }
            if self.runtime.discard_task(&c.id).await? {
                tracing::warn!(container = %c.id, status = status.as_str(), "discarded a task the container's record does not know of");
                self.runtime.remove_fifos(&c.id);
                discarded += 1;
            }
        }
        let removed = self.remove_orphans().await?;
        Ok((discarded, removed))
    }

    async fn restore_one(self: &Arc<Self>, c: &Arc<Container>) {
        let record = c.record();
        if record.state.status == Status::Removing {
            // A crash during removal: finish it.
            let _op = c.op.lock().await;
            if let Err(e) = self.remove_locked(c, true, false).await {
                tracing::warn!(container = %c.id, error = %e, "cannot finish an interrupted removal");
            }
            return;
        }
        let was_running = record.state.is_running();
        match self.runtime.reattach(&c.id).await {
            Ok(Some((mut task, status)))
                if matches!(
                    status,
                    TaskStatus::Running | TaskStatus::Paused | TaskStatus::Stopped
                ) =>
            {
                let sink = match super::logging::sink(&record, &c.dir) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::warn!(container = %c.id, error = %e, "cannot reopen the log");
                        None
                    }
                };
                let output = task.take_output();
                let pipe = task.take_stdin();
                let pid = task.pid();
                let run = self.spawn_io(c, output, pipe, sink);
                let status = match status {
                    TaskStatus::Paused => Status::Paused,
                    _ => Status::Running,
                };
                let _ = c.update(|r| {
                    r.state.status = status;
                    r.state.pid = pid;
                });
                let names: Arc<dyn crate::network::Names> =
                    Arc::new(super::dns::ContainerNames::new(self));
                self.net.restore(&c.record(), names).await;
                tracing::info!(container = %c.id, "reattached to running container");
                self.spawn_monitor(c, run);
            }
            Ok(other) => {
                if let Some((task, _)) = other {
                    drop(task);
                    let _ = self.runtime.delete_task(&c.id).await;
                }
                if was_running {
                    // It ended while berthd was down and containerd lost it (a reboot): exit 255.
                    self.finish_run(c, (255, None), false, Duration::ZERO).await;
                } else {
                    let _ = self.runtime.delete_task(&c.id).await;
                    self.maybe_start_on_boot(c).await;
                }
            }
            Err(e) => {
                tracing::warn!(container = %c.id, error = %e, "cannot reattach");
                if was_running {
                    self.finish_run(c, (255, None), false, Duration::ZERO).await;
                }
            }
        }
    }

    /// dockerd starts `always` containers, and `unless-stopped` ones not stopped by hand, when
    /// the daemon starts.
    async fn maybe_start_on_boot(self: &Arc<Self>, c: &Arc<Container>) {
        let record = c.record();
        let policy = record.host_config.restart_policy.name.as_str();
        let start = record.state.has_been_started
            && (policy == "always"
                || (policy == "unless-stopped" && !record.state.manually_stopped));
        if start {
            let _op = c.op.lock().await;
            if let Err(e) = self.start_locked(c).await {
                tracing::warn!(container = %c.id, error = %e, "cannot start container on boot");
            }
        }
    }

    /// At shutdown without live-restore: stops every running container with its stop timeout.
    pub(crate) async fn shutdown(&self) {
        let running: Vec<_> =
            self.registry.all().into_iter().filter(|c| c.with(|r| r.state.is_running())).collect();
        let stops = running.iter().map(|c| async move {
            let _op = c.op.lock().await;
            // Keep the restart policy's view: a daemon shutdown is not a manual stop.
            let manual = c.with(|r| r.state.manually_stopped);
            if let Err(e) = self.stop_locked(c, ContainerStopOptions::default()).await {
                tracing::warn!(container = %c.id, error = %e, "cannot stop at shutdown");
            }
            let _ = c.update(|r| r.state.manually_stopped = manual);
        });
        futures_util::future::join_all(stops).await;
    }
}

/// A running run's helpers, held by its monitor.
pub(crate) struct Run {
    pump: Option<tokio::task::JoinHandle<()>>,
    stdin_done: oneshot::Sender<()>,
    started: tokio::time::Instant,
}

fn libc_sig(signal: nix::sys::signal::Signal) -> i32 {
    signal as i32
}

/// Whether the kernel's OOM killer struck in the container's memory cgroup (cgroup v1
/// `memory.oom_control`, `oom_kill` counter; read before the task is deleted).
fn oom_killed(id: &str) -> bool {
    let path = format!("/sys/fs/cgroup/memory/berth/{id}/memory.oom_control");
    std::fs::read_to_string(path)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("oom_kill "))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .is_some_and(|n| n > 0)
}

pub(crate) fn remove_dir(dir: &std::path::Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove container dir"),
    }
}
