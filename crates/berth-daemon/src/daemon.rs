//! The daemon's life: start-up, the signal loop (SIGHUP reload, SIGTERM/SIGINT shutdown) and
//! graceful stop.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use arc_swap::ArcSwap;
use berth_engine::{Engine, EngineConfig};
use berth_listeners::{BindOptions, SocketGroup, TlsOptions};
use tokio::signal::unix::{SignalKind, signal};

use crate::authz;
use crate::cli::Flags;
use crate::config::Config;
use crate::events::EventBus;
use crate::handle::RouterHandle;
use crate::logging::LogHandle;
use crate::pidfile::PidFile;
use crate::serve::Server;
use crate::stack::{self, Backends, StackConfig};
use crate::system::{HostFacts, HostSystem};

impl From<&Config> for StackConfig {
    fn from(config: &Config) -> Self {
        Self { experimental: config.experimental, cors_origins: config.api_cors_header.clone() }
    }
}

/// Everything SIGHUP needs to rebuild and swap the stack.
struct Reloader {
    flags: Flags,
    config: Arc<ArcSwap<Config>>,
    handle: Arc<RouterHandle>,
    backends: Backends,
    log: LogHandle,
    events: EventBus,
    facts: HostFacts,
}

/// Runs the daemon until SIGTERM or SIGINT.
pub(crate) async fn run(flags: Flags, config: Config, log: LogHandle) -> anyhow::Result<()> {
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    create_dir(&config.data_root, 0o711)?;
    create_dir(&config.exec_root, 0o700)?;
    let pidfile = PidFile::create(&config.pidfile)?;

    let facts = HostFacts::gather(&config.data_root).context("cannot read host facts")?;
    let cell = Arc::new(ArcSwap::from_pointee(config.clone()));
    let events = EventBus::default();

    let hosts = berth_listeners::parse_hosts(&config.hosts, config.tls_enabled())?;
    let tls_settings = if config.tls_enabled() { Some(config.tls_settings()?) } else { None };
    let tls = match &tls_settings {
        Some(t) => Some(berth_listeners::server_tls_config(&TlsOptions {
            ca: t.ca.clone(),
            cert: t.cert.clone(),
            key: t.key.clone(),
            verify: t.verify,
        })?),
        None => None,
    };
    let group = match config.group.as_str() {
        "" => SocketGroup::None,
        "docker" => SocketGroup::Default,
        other => SocketGroup::Named(other.to_owned()),
    };
    let options =
        BindOptions { group, tls, tls_verify: tls_settings.as_ref().is_some_and(|t| t.verify) };
    let listeners = berth_listeners::bind_all(&hosts, &options).await?;

    // Listeners exist before the engine starts, so early clients wait in the backlog (as with
    // dockerd) instead of being refused.
    let engine = Arc::new(
        Engine::start(
            EngineConfig {
                data_root: config.data_root.clone(),
                exec_root: config.exec_root.clone(),
                containerd: config.containerd.clone(),
                namespace: config.containerd_namespace.clone(),
                containerd_binary: "containerd".into(),
                insecure_registries: config.insecure_registries.clone(),
                bridge_name: config.bridge.clone(),
                bip: config.bip.clone(),
                live_restore: config.live_restore,
                cni_plugin_dir: "/usr/lib/cni".into(),
            },
            Arc::new(events.clone()),
        )
        .await,
    );
    let system =
        HostSystem::new(facts.clone(), Arc::clone(&cell), events.clone(), Arc::clone(&engine));
    let backends = Backends {
        system: Arc::new(system),
        images: Arc::clone(&engine) as Arc<dyn berth_backend::ImageBackend>,
        containers: Arc::clone(&engine) as Arc<dyn berth_backend::ContainerBackend>,
        exec: Arc::clone(&engine) as Arc<dyn berth_backend::ExecBackend>,
        volumes: Arc::clone(&engine) as Arc<dyn berth_backend::VolumeBackend>,
        networks: Arc::clone(&engine) as Arc<dyn berth_backend::NetworkBackend>,
    };
    let chain = authz::build_chain(&config, authz::START_WAIT).await?;
    let handle = Arc::new(RouterHandle::new(stack::build(&(&config).into(), &chain, &backends)?));

    // Install signal handlers before serving so an early SIGTERM is not fatal.
    let mut hup = signal(SignalKind::hangup())?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;

    let mut server = Server::new(Arc::clone(&handle));
    for listener in listeners {
        server.spawn(listener);
    }
    tracing::info!(version = crate::build_info::VERSION, "Daemon has completed initialization");

    let reloader =
        Reloader { flags, config: Arc::clone(&cell), handle, backends, log, events, facts };
    let signal_name = loop {
        tokio::select! {
            _ = hup.recv() => reloader.reload().await,
            _ = term.recv() => break "terminated",
            _ = int.recv() => break "interrupt",
        }
    };
    tracing::info!("Processing signal '{signal_name}'");
    tokio::spawn(force_exit_after_three_more(term, int));

    // Event watchers would otherwise hold their connections open until the timeout.
    reloader.events.close();
    server.shutdown(cell.load().shutdown_timeout()).await;
    engine.shutdown().await;
    drop(pidfile);
    tracing::info!("Daemon shutdown complete");
    Ok(())
}

/// dockerd's escape hatch: three more SIGTERM/SIGINT during shutdown exit at once.
async fn force_exit_after_three_more(
    mut term: tokio::signal::unix::Signal,
    mut int: tokio::signal::unix::Signal,
) {
    let mut seen = 0;
    loop {
        let signo = tokio::select! {
            _ = term.recv() => libc_signo(SignalKind::terminate()),
            _ = int.recv() => libc_signo(SignalKind::interrupt()),
        };
        seen += 1;
        if seen >= 3 {
            tracing::error!("Forcing berthd shutdown without cleanup; 3 interrupts received");
            std::process::exit(128 + signo);
        }
        tracing::info!("Processing signal again; {} more to force shutdown", 3 - seen);
    }
}

fn libc_signo(kind: SignalKind) -> i32 {
    kind.as_raw_value()
}

fn create_dir(path: &std::path::Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    let meta = std::fs::metadata(path)?;
    if meta.permissions().mode() & 0o777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

impl Reloader {
    /// SIGHUP: re-read the configuration, apply what may change at run time, swap the stack.
    /// Any failure keeps the running configuration (and authorization chain).
    async fn reload(&self) {
        let new = match Config::load(&self.flags) {
            Ok(c) => c,
            Err(err) => {
                tracing::error!("Error reloading configuration: {}", berth_api::error_chain(&err));
                return;
            }
        };
        let old = self.config.load_full();
        warn_about_restart_only_changes(&old, &new);
        let effective = Config {
            debug: new.debug,
            log_level: new.log_level.clone(),
            experimental: new.experimental,
            api_cors_header: new.api_cors_header.clone(),
            labels: new.labels.clone(),
            shutdown_timeout: new.shutdown_timeout,
            authorization_plugins: new.authorization_plugins.clone(),
            authorization_policy: new.authorization_policy.clone(),
            ..Config::clone(&old)
        };
        // The policy is read again and every plugin activated again, even when the names did
        // not change: the file may have, and a plugin may have moved.
        let chain = match authz::build_chain(&effective, authz::RELOAD_WAIT).await {
            Ok(c) => c,
            Err(err) => {
                tracing::error!("Error reloading configuration: {}", berth_api::error_chain(&err));
                return;
            }
        };
        let stack = match stack::build(&(&effective).into(), &chain, &self.backends) {
            Ok(s) => s,
            Err(err) => {
                tracing::error!("Error reloading configuration: {err}");
                return;
            }
        };
        if let Err(err) = self.log.set(&effective.log_directive()) {
            tracing::error!("Error reloading configuration: log filter: {err}");
            return;
        }
        self.config.store(Arc::new(effective.clone()));
        self.handle.swap(stack);
        self.events.publish(
            "daemon",
            "reload",
            &self.facts.id,
            reload_attributes(&effective, &self.facts),
        );
        tracing::info!(
            debug = effective.debug,
            log_level = %effective.log_level,
            experimental = effective.experimental,
            labels = ?effective.labels,
            cors = ?effective.api_cors_header,
            shutdown_timeout = effective.shutdown_timeout,
            authorization_plugins = ?effective.authorization_plugins,
            authorization_policy = ?effective.authorization_policy,
            "Reloaded configuration"
        );
    }
}

fn warn_about_restart_only_changes(old: &Config, new: &Config) {
    let changed = [
        ("hosts", old.hosts != new.hosts),
        ("group", old.group != new.group),
        ("data-root", old.data_root != new.data_root),
        ("exec-root", old.exec_root != new.exec_root),
        ("pidfile", old.pidfile != new.pidfile),
        ("log-format", old.log_format != new.log_format),
        ("containerd", old.containerd != new.containerd),
        ("containerd-namespace", old.containerd_namespace != new.containerd_namespace),
        ("bridge", old.bridge != new.bridge),
        ("bip", old.bip != new.bip),
        ("live-restore", old.live_restore != new.live_restore),
        (
            "tls",
            (&old.tls, &old.tlsverify, &old.tlscacert, &old.tlscert, &old.tlskey)
                != (&new.tls, &new.tlsverify, &new.tlscacert, &new.tlscert, &new.tlskey),
        ),
    ];
    for (key, differs) in changed {
        if differs {
            tracing::warn!(key, "{key} changed but takes effect only after a restart");
        }
    }
}

fn reload_attributes(config: &Config, facts: &HostFacts) -> BTreeMap<String, String> {
    let labels = serde_json::to_string(&config.labels).unwrap_or_default();
    let cors = config.api_cors_header.join(",");
    [
        ("name", facts.hostname.clone()),
        ("debug", config.debug.to_string()),
        ("log-level", config.log_level.clone()),
        ("experimental", config.experimental.to_string()),
        ("labels", labels),
        ("api-cors-header", cors),
        ("shutdown-timeout", config.shutdown_timeout.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}
