//! dockerd's legacy (v1) plugin discovery: a socket under the socket directory, else a `.spec`
//! or `.json` file under one of the spec directories (moby `pkg/plugins/discovery.go`).

use std::os::unix::fs::FileTypeExt as _;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::PluginError;

/// Where plugins are looked for, in this order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginDirs {
    /// Directory of plugin sockets: `N.sock` or `N/N.sock` (`/run/docker/plugins`).
    pub sockets: PathBuf,
    /// Directories of `N.spec`, `N/N.spec`, `N.json`, `N/N.json`, searched in order
    /// (`/etc/docker/plugins`, then `/usr/lib/docker/plugins`).
    pub specs: Vec<PathBuf>,
}

impl Default for PluginDirs {
    fn default() -> Self {
        Self {
            sockets: PathBuf::from("/run/docker/plugins"),
            specs: vec![
                PathBuf::from("/etc/docker/plugins"),
                PathBuf::from("/usr/lib/docker/plugins"),
            ],
        }
    }
}

/// A plugin found by [`PluginDirs::find`]: where it listens and how to talk to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginSpec {
    /// The configured plugin name.
    pub name: String,
    /// Its address.
    pub addr: PluginAddr,
    /// TLS settings for an [`PluginAddr::Https`] address; `None` means the system roots and full
    /// verification (a `.json` file without `TLSConfig`).
    pub tls: Option<TlsSpec>,
    /// The socket or file it was found through (for logs and messages).
    pub found_at: PathBuf,
}

/// A plugin address. Scheme `unix` is a socket path, `https` is TLS over TCP, and any other
/// scheme (`tcp`, `http`, …) is plain HTTP over TCP, as dockerd does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PluginAddr {
    /// A unix socket.
    Unix(PathBuf),
    /// Plain HTTP over TCP.
    Tcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// Port (80 when the address has none, as Go's HTTP transport assumes).
        port: u16,
    },
    /// HTTPS.
    Https {
        /// Host name or IP address (IPv6 without brackets); also the TLS server name.
        host: String,
        /// Port (443 when the address has none).
        port: u16,
    },
}

impl PluginAddr {
    /// Parses `scheme://…`. An address without a scheme is dockerd's `Unknown protocol`.
    pub(crate) fn parse(addr: &str) -> Result<Self, String> {
        let Some((scheme, rest)) = addr.split_once("://") else {
            return Err("Unknown protocol".to_owned());
        };
        if scheme.is_empty() {
            return Err("Unknown protocol".to_owned());
        }
        if scheme.eq_ignore_ascii_case("unix") {
            if rest.is_empty() {
                return Err(format!("no socket path in {addr}"));
            }
            return Ok(Self::Unix(PathBuf::from(rest)));
        }
        let https = scheme.eq_ignore_ascii_case("https");
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let (host, port) = split_host_port(authority, if https { 443 } else { 80 })
            .ok_or_else(|| format!("invalid host and port in {addr}"))?;
        Ok(if https { Self::Https { host, port } } else { Self::Tcp { host, port } })
    }

    /// The URL prefix requests go to: `http://plugin.moby.localhost` for sockets (dockerd's dummy
    /// host, which becomes the `Host` header), else the scheme and address.
    pub(crate) fn base_url(&self) -> String {
        match self {
            Self::Unix(_) => "http://plugin.moby.localhost".to_owned(),
            Self::Tcp { host, port } => format!("http://{}", join_host_port(host, *port)),
            Self::Https { host, port } => format!("https://{}", join_host_port(host, *port)),
        }
    }
}

impl std::fmt::Display for PluginAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(path) => write!(f, "unix://{}", path.display()),
            Self::Tcp { host, port } => write!(f, "tcp://{}", join_host_port(host, *port)),
            Self::Https { host, port } => write!(f, "https://{}", join_host_port(host, *port)),
        }
    }
}

/// `host:port`, with brackets around an IPv6 address.
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

fn split_host_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        match after {
            "" => (host, None),
            _ => (host, Some(after.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    // A bracket outside an IPv6 literal would make the address print as something that does
    // not parse back (Go's `net.SplitHostPort` refuses it too).
    if host.is_empty() || host.contains(['[', ']']) {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

/// The `TLSConfig` of a `.json` plugin file (Go's `tlsconfig.Options`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TlsSpec {
    /// CA bundle the plugin's certificate must chain to.
    #[serde(rename = "CAFile", default)]
    pub ca_file: Option<PathBuf>,
    /// Client certificate chain presented to the plugin.
    #[serde(default)]
    pub cert_file: Option<PathBuf>,
    /// Private key of the client certificate.
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Accept any server certificate (still checking the handshake signatures).
    #[serde(default)]
    pub insecure_skip_verify: bool,
}

impl TlsSpec {
    /// dockerd's default for socket and `.spec` plugins: no verification.
    fn insecure() -> Self {
        Self { insecure_skip_verify: true, ..Self::default() }
    }
}

/// A `.json` plugin file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JsonSpec {
    #[serde(default)]
    addr: String,
    #[serde(rename = "TLSConfig", default)]
    tls_config: Option<TlsSpec>,
}

/// Rejects names that are empty or could leave the plugin directories.
pub(crate) fn check_name(name: &str) -> Result<(), PluginError> {
    if name.is_empty() || name.contains('/') || name.contains("..") || name.contains('\0') {
        return Err(PluginError::InvalidName { name: name.to_owned() });
    }
    Ok(())
}

impl PluginDirs {
    /// Finds plugin `name`: `N.sock` and `N/N.sock` in [`PluginDirs::sockets`] (sockets only;
    /// other files there are skipped), then `N.spec`, `N/N.spec`, `N.json`, `N/N.json` in each
    /// of [`PluginDirs::specs`]. The first existing spec file decides, even if it is invalid.
    pub fn find(&self, name: &str) -> Result<PluginSpec, PluginError> {
        check_name(name)?;
        for path in candidates(&self.sockets, name, "sock") {
            let is_socket = std::fs::metadata(&path).is_ok_and(|m| m.file_type().is_socket());
            if is_socket {
                return Ok(PluginSpec {
                    name: name.to_owned(),
                    addr: PluginAddr::Unix(path.clone()),
                    tls: Some(TlsSpec::insecure()),
                    found_at: path,
                });
            }
        }
        for dir in &self.specs {
            let files = candidates(dir, name, "spec").chain(candidates(dir, name, "json"));
            for path in files {
                if std::fs::metadata(&path).is_ok() {
                    return read_spec(name, &path);
                }
            }
        }
        let mut dirs = vec![self.sockets.display().to_string()];
        dirs.extend(self.specs.iter().map(|d| d.display().to_string()));
        Err(PluginError::NotFound { name: name.to_owned(), dirs: dirs.join(", ") })
    }
}

/// `dir/N.ext` then `dir/N/N.ext`.
fn candidates(dir: &Path, name: &str, ext: &str) -> impl Iterator<Item = PathBuf> {
    let file = format!("{name}.{ext}");
    [dir.join(&file), dir.join(name).join(&file)].into_iter()
}

fn read_spec(name: &str, path: &Path) -> Result<PluginSpec, PluginError> {
    let invalid = |reason: String| PluginError::InvalidSpec {
        name: name.to_owned(),
        path: path.to_owned(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| invalid(e.to_string()))?;
    let is_json = path.extension().is_some_and(|e| e == "json");
    let (addr, tls) = if is_json {
        let spec: JsonSpec = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
        let tls = spec.tls_config.map(|mut tls| {
            // Go leaves absent strings empty; treat both alike.
            for file in [&mut tls.ca_file, &mut tls.cert_file, &mut tls.key_file] {
                if file.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                    *file = None;
                }
            }
            if tls.ca_file.is_none() {
                tls.insecure_skip_verify = true;
            }
            tls
        });
        (spec.addr, tls)
    } else {
        (text.trim().to_owned(), Some(TlsSpec::insecure()))
    };
    let addr = PluginAddr::parse(addr.trim()).map_err(invalid)?;
    Ok(PluginSpec { name: name.to_owned(), addr, tls, found_at: path.to_owned() })
}
