//! Daemon configuration: defaults < daemon.json < `BERTH_*` environment < flags (figment).
//!
//! A key given both as a flag and in the file is an error naming it (as dockerd does), and so is
//! an unknown key in the file. The same loader runs on SIGHUP; see `reload.rs` for what a reload
//! may change.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Json, Serialized};
use serde::{Deserialize, Deserializer, Serialize};

use crate::cli::Flags;

/// Where the daemon configuration file is read from by default.
pub(crate) const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// Configuration keys; also the keys `BERTH_<KEY>` environment variables may set.
const KEYS: &[&str] = &[
    "hosts",
    "group",
    "data-root",
    "exec-root",
    "pidfile",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
    "debug",
    "log-level",
    "log-format",
    "experimental",
    "api-cors-header",
    "labels",
    "shutdown-timeout",
    "containerd",
    "containerd-namespace",
    "insecure-registries",
    "bridge",
    "bip",
    "live-restore",
    "authorization-plugins",
    "authorization-policy",
];

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    #[error("cannot read configuration file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration file {path} is not valid JSON: {message}")]
    Syntax { path: PathBuf, message: String },
    #[error("configuration file {path} must hold a JSON object")]
    NotAnObject { path: PathBuf },
    #[error(
        "the following directives are specified both as a flag and in the configuration file: {0}"
    )]
    Conflict(String),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The daemon's configuration, as daemon.json spells it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct Config {
    pub(crate) hosts: Vec<String>,
    pub(crate) group: String,
    pub(crate) data_root: PathBuf,
    pub(crate) exec_root: PathBuf,
    pub(crate) pidfile: PathBuf,
    pub(crate) tls: Option<bool>,
    pub(crate) tlsverify: Option<bool>,
    pub(crate) tlscacert: Option<PathBuf>,
    pub(crate) tlscert: Option<PathBuf>,
    pub(crate) tlskey: Option<PathBuf>,
    pub(crate) debug: bool,
    pub(crate) log_level: String,
    pub(crate) log_format: LogFormat,
    pub(crate) experimental: bool,
    #[serde(deserialize_with = "origins")]
    pub(crate) api_cors_header: Vec<String>,
    pub(crate) labels: Vec<String>,
    pub(crate) shutdown_timeout: i64,
    pub(crate) containerd: Option<PathBuf>,
    pub(crate) containerd_namespace: String,
    pub(crate) insecure_registries: Vec<String>,
    pub(crate) bridge: String,
    pub(crate) bip: String,
    pub(crate) live_restore: bool,
    pub(crate) authorization_plugins: Vec<String>,
    pub(crate) authorization_policy: Option<PathBuf>,
}

/// `log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    Text,
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            hosts: Vec::new(),
            group: "docker".to_owned(),
            data_root: PathBuf::from("/var/lib/berth"),
            exec_root: PathBuf::from("/var/run/berth"),
            pidfile: PathBuf::from("/var/run/berth.pid"),
            tls: None,
            tlsverify: None,
            tlscacert: None,
            tlscert: None,
            tlskey: None,
            debug: false,
            log_level: "info".to_owned(),
            log_format: LogFormat::Text,
            experimental: false,
            api_cors_header: Vec::new(),
            labels: Vec::new(),
            shutdown_timeout: 15,
            containerd: None,
            containerd_namespace: berth_engine::NAMESPACE.to_owned(),
            insecure_registries: Vec::new(),
            bridge: "berth0".to_owned(),
            bip: "10.201.0.1/16".to_owned(),
            live_restore: false,
            authorization_plugins: Vec::new(),
            authorization_policy: None,
        }
    }
}

/// `api-cors-header` is a comma-separated string (dockerd) or a list of origins.
fn origins<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Origins {
        One(String),
        Many(Vec<String>),
    }
    let list = match Origins::deserialize(d)? {
        Origins::One(s) => s.split(',').map(str::to_owned).collect(),
        Origins::Many(v) => v,
    };
    Ok(list.into_iter().map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect())
}

/// TLS settings after dockerd's implications (`--tls` alone implies verification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TlsSettings {
    pub(crate) ca: Option<PathBuf>,
    pub(crate) cert: PathBuf,
    pub(crate) key: PathBuf,
    pub(crate) verify: bool,
}

impl Config {
    /// Loads the configuration for `flags`; run at start and on every SIGHUP.
    pub(crate) fn load(flags: &Flags) -> Result<Self, ConfigError> {
        Self::load_with_env(flags, Env::prefixed("BERTH_"))
    }

    fn load_with_env(flags: &Flags, env: Env) -> Result<Self, ConfigError> {
        let (path, explicit) = match &flags.config_file {
            Some(p) => (p.clone(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        let file = read_file(&path, explicit)?;
        let flag_values = serde_json::to_value(flags)
            .map_err(|e| ConfigError::Invalid(format!("cannot encode flags: {e}")))?;
        if let (Some(file), Some(flag_values)) = (&file, flag_values.as_object()) {
            check_conflicts(file, flag_values)?;
        }
        let env = env.filter_map(|key| {
            let key = key.as_str().to_ascii_lowercase().replace('_', "-");
            KEYS.contains(&key.as_str()).then(|| key.into())
        });
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = &file {
            let text = serde_json::Value::Object(file.clone()).to_string();
            figment = figment.merge(Json::string(&text));
        }
        let config: Config = figment
            .merge(env)
            .merge(Serialized::defaults(flag_values))
            .extract()
            .map_err(|e| ConfigError::Invalid(describe(&e, &path)))?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "fatal", "panic"];
        if !LEVELS.contains(&self.log_level.as_str()) {
            return Err(ConfigError::Invalid(format!(
                "log-level {:?} is not one of {}",
                self.log_level,
                LEVELS.join(", ")
            )));
        }
        for label in &self.labels {
            match label.split_once('=') {
                Some((key, _)) if !key.is_empty() => {}
                _ => {
                    return Err(ConfigError::Invalid(format!(
                        "label {label:?} is not in key=value form"
                    )));
                }
            }
        }
        if self.containerd_namespace.is_empty()
            || !self
                .containerd_namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err(ConfigError::Invalid(format!(
                "containerd-namespace {:?} must be letters, digits, '-', '_' or '.'",
                self.containerd_namespace
            )));
        }
        if self.authorization_plugins.iter().any(|name| name.trim().is_empty()) {
            return Err(ConfigError::Invalid("authorization-plugins: empty plugin name".into()));
        }
        // Loaded again when the chain is built; here so `--validate` and a reload check it too.
        if let Some(path) = &self.authorization_policy {
            berth_authz::policy::Policy::load(path)
                .map_err(|e| ConfigError::Invalid(berth_api::error_chain(&e)))?;
        }
        berth_middleware::cors_layer(&self.api_cors_header)
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        berth_listeners::parse_hosts(&self.hosts, self.tls_enabled())
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        if self.tls_enabled() {
            self.tls_settings()?;
        }
        Ok(())
    }

    /// Whether the TCP listeners use TLS.
    pub(crate) fn tls_enabled(&self) -> bool {
        self.tls == Some(true) || self.tlsverify == Some(true)
    }

    /// The TLS files and verification mode, when TLS is on.
    pub(crate) fn tls_settings(&self) -> Result<TlsSettings, ConfigError> {
        let verify = self.tlsverify == Some(true)
            || (self.tls == Some(true) && self.tlsverify != Some(false));
        let dir = default_cert_dir();
        let pick =
            |given: &Option<PathBuf>, name: &str| given.clone().unwrap_or_else(|| dir.join(name));
        let cert = pick(&self.tlscert, "cert.pem");
        let key = pick(&self.tlskey, "key.pem");
        let ca = match &self.tlscacert {
            Some(ca) => Some(ca.clone()),
            None if verify => Some(dir.join("ca.pem")),
            None => None,
        };
        for path in [Some(&cert), Some(&key), ca.as_ref()].into_iter().flatten() {
            if !path.exists() {
                return Err(ConfigError::Invalid(format!(
                    "TLS is enabled but {} does not exist",
                    path.display()
                )));
            }
        }
        Ok(TlsSettings { ca, cert, key, verify })
    }

    /// How long shutdown waits for in-flight requests; `None` means forever.
    pub(crate) fn shutdown_timeout(&self) -> Option<Duration> {
        u64::try_from(self.shutdown_timeout).ok().map(Duration::from_secs)
    }

    /// The tracing filter directive for `debug` / `log-level`.
    pub(crate) fn log_directive(&self) -> String {
        let level = if self.debug {
            "debug"
        } else {
            match self.log_level.as_str() {
                "fatal" | "panic" => "error",
                other => other,
            }
        };
        format!("{level},hyper=info,h2=info,rustls=info,tokio_rustls=info")
    }
}

/// dockerd's TLS file defaults: `$DOCKER_CERT_PATH`, else `~/.docker`.
fn default_cert_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("DOCKER_CERT_PATH").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".docker")
}

fn read_file(
    path: &Path,
    explicit: bool,
) -> Result<Option<serde_json::Map<String, serde_json::Value>>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => return Ok(None),
        Err(source) => {
            return Err(ConfigError::Read { path: path.to_owned(), source });
        }
    };
    let text = String::from_utf8_lossy(&bytes);
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Ok(Some(serde_json::Map::new()));
    }
    let value: serde_json::Value = serde_json::from_str(text)
        .map_err(|e| ConfigError::Syntax { path: path.to_owned(), message: e.to_string() })?;
    match value {
        serde_json::Value::Object(map) => Ok(Some(map)),
        _ => Err(ConfigError::NotAnObject { path: path.to_owned() }),
    }
}

fn check_conflicts(
    file: &serde_json::Map<String, serde_json::Value>,
    flags: &serde_json::Map<String, serde_json::Value>,
) -> Result<(), ConfigError> {
    let both: BTreeSet<&String> = file.keys().filter(|k| flags.contains_key(*k)).collect();
    if both.is_empty() {
        return Ok(());
    }
    let described: Vec<String> = both
        .into_iter()
        .map(|k| format!("{k}: (from flag: {}, from file: {})", flags[k], file[k]))
        .collect();
    Err(ConfigError::Conflict(described.join(", ")))
}

fn describe(err: &figment::Error, path: &Path) -> String {
    let mut text = err.to_string();
    if text.contains("unknown field") {
        text = format!("{text} (in {} or the BERTH_* environment)", path.display());
    }
    text
}

#[cfg(test)]
mod tests;
