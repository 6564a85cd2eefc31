//! Command-line flags. Names are dockerd's where the feature is the same.
//!
//! Every configurable flag is an `Option` so the config loader can tell a flag that was given
//! from one left at its default (a key set both as a flag and in daemon.json is an error).

use std::path::PathBuf;

use clap::Parser;
use serde::Serialize;

/// berthd: a Docker Engine API daemon.
#[derive(Debug, Clone, Default, Parser, Serialize)]
#[command(name = "berthd", version, about = "Berth: a Docker Engine API daemon")]
#[serde(rename_all = "kebab-case")]
pub(crate) struct Flags {
    /// Daemon socket(s) to listen on: unix:///path, tcp://host:port, fd://, fd://N (repeatable).
    #[arg(short = 'H', long = "host", value_name = "HOST")]
    #[serde(rename = "hosts", skip_serializing_if = "Vec::is_empty")]
    pub(crate) hosts: Vec<String>,

    /// Daemon configuration file.
    #[arg(long, value_name = "FILE")]
    #[serde(skip)]
    pub(crate) config_file: Option<PathBuf>,

    /// Check the configuration and exit.
    #[arg(long)]
    #[serde(skip)]
    pub(crate) validate: bool,

    /// Root directory of persistent Berth state.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) data_root: Option<PathBuf>,

    /// Root directory for execution state files.
    #[arg(long, value_name = "DIR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) exec_root: Option<PathBuf>,

    /// Path of the daemon's PID file.
    #[arg(short = 'p', long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pidfile: Option<PathBuf>,

    /// Group owning the unix socket(s).
    #[arg(short = 'G', long, value_name = "GROUP")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) group: Option<String>,

    /// Use TLS; implies --tlsverify unless --tlsverify=false is given.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls: Option<bool>,

    /// Use TLS and require client certificates signed by --tlscacert.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tlsverify: Option<bool>,

    /// Trust certificates signed by this CA only.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tlscacert: Option<PathBuf>,

    /// Path to the TLS certificate file.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tlscert: Option<PathBuf>,

    /// Path to the TLS key file.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tlskey: Option<PathBuf>,

    /// Enable debug mode.
    #[arg(short = 'D', long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) debug: Option<bool>,

    /// Logging level: debug, info, warn, error, fatal.
    #[arg(short = 'l', long, value_name = "LEVEL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_level: Option<String>,

    /// Log format: text or json.
    #[arg(long, value_name = "FORMAT")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) log_format: Option<String>,

    /// Enable experimental features.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) experimental: Option<bool>,

    /// Origins allowed by CORS, comma-separated (`*` for any).
    #[arg(long, value_name = "ORIGINS")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) api_cors_header: Option<String>,

    /// Daemon label, key=value (repeatable).
    #[arg(long = "label", value_name = "LABEL")]
    #[serde(rename = "labels", skip_serializing_if = "Vec::is_empty")]
    pub(crate) labels: Vec<String>,

    /// containerd socket to use instead of running Berth's own containerd.
    #[arg(long, value_name = "SOCKET")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) containerd: Option<PathBuf>,

    /// containerd namespace for Berth's objects.
    #[arg(long, value_name = "NAMESPACE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) containerd_namespace: Option<String>,

    /// Registry reached over plain HTTP, `host[:port]` or CIDR (repeatable).
    #[arg(long = "insecure-registry", value_name = "REGISTRY")]
    #[serde(rename = "insecure-registries", skip_serializing_if = "Vec::is_empty")]
    pub(crate) insecure_registries: Vec<String>,

    /// Name of the default bridge device (Berth's own, so it coexists with dockerd's docker0).
    #[arg(long, value_name = "NAME")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bridge: Option<String>,

    /// Address and prefix of the default bridge (default 10.201.0.1/16).
    #[arg(long, value_name = "CIDR")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bip: Option<String>,

    /// Keep containers running when berthd stops.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", value_name = "BOOL")]
    #[serde(rename = "live-restore", skip_serializing_if = "Option::is_none")]
    pub(crate) live_restore: Option<bool>,

    /// Authorization plugin to ask about every request, in order (repeatable).
    #[arg(long = "authorization-plugin", value_name = "PLUGIN")]
    #[serde(rename = "authorization-plugins", skip_serializing_if = "Vec::is_empty")]
    pub(crate) authorization_plugins: Vec<String>,

    /// Built-in authorization policy file (TOML rules), asked before any plugin.
    #[arg(long, value_name = "FILE")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) authorization_policy: Option<PathBuf>,

    /// Seconds to wait for in-flight requests on shutdown (negative: forever).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) shutdown_timeout: Option<i64>,
}
