//! The CNI 1.0.0 exec protocol: run a plugin binary with `CNI_*` variables and its network
//! configuration on stdin, read its result or error from stdout.
//!
//! A [`NetworkList`] is a conflist: plugins run in order on ADD, each given the previous one's
//! result as `prevResult`, and in reverse order on DEL.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use berth_api::Error;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::io::AsyncWriteExt;

/// The CNI spec version Berth speaks.
pub(crate) const CNI_VERSION: &str = "1.0.0";

/// How long one plugin may run before it is killed.
const PLUGIN_TIMEOUT: Duration = Duration::from_secs(60);

/// A CNI operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    /// Attach the container to the network.
    Add,
    /// Detach it; must tolerate resources that are already gone.
    Del,
}

impl Command {
    fn as_str(self) -> &'static str {
        match self {
            Command::Add => "ADD",
            Command::Del => "DEL",
        }
    }
}

/// What identifies one attachment: the container, its namespace and the interface inside it.
#[derive(Debug, Clone)]
pub(crate) struct RuntimeArgs {
    /// `CNI_CONTAINERID`.
    pub(crate) container_id: String,
    /// `CNI_NETNS`: the namespace file.
    pub(crate) netns: PathBuf,
    /// `CNI_IFNAME`: the interface name inside the namespace.
    pub(crate) ifname: String,
    /// Values for plugins that declare the matching `capabilities` (for example `portMappings`),
    /// passed as their `runtimeConfig`.
    pub(crate) capabilities: Map<String, Value>,
}

/// A network configuration list: a name and the plugins to chain.
#[derive(Debug, Clone)]
pub(crate) struct NetworkList {
    /// The network name (the `name` every plugin sees; host-local keys its store by it).
    pub(crate) name: String,
    /// One JSON object per plugin, each with at least `type`.
    pub(crate) plugins: Vec<Value>,
}

/// Runs CNI plugins found in one directory.
#[derive(Debug, Clone)]
pub(crate) struct PluginExec {
    dir: PathBuf,
}

impl PluginExec {
    /// Plugins are looked up in, and `CNI_PATH` points to, `dir`.
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// Runs ADD over the whole list and returns the last plugin's result.
    ///
    /// Does not undo earlier plugins when a later one fails; the caller runs [`Self::del`].
    pub(crate) async fn add(&self, list: &NetworkList, rt: &RuntimeArgs) -> Result<Value, Error> {
        let mut prev: Option<Value> = None;
        for plugin in &list.plugins {
            let config = plugin_config(list, plugin, rt, prev.as_ref())?;
            let out = self.exec(Command::Add, &config, rt).await?;
            prev = Some(out.ok_or_else(|| {
                Error::system(format!(
                    "cni plugin {} returned no result for ADD",
                    plugin_type(plugin).unwrap_or("?")
                ))
            })?);
        }
        prev.ok_or_else(|| Error::system(format!("network {} has no plugins", list.name)))
    }

    /// Runs DEL over the list in reverse order, passing `prev` (the ADD result, when known) as
    /// `prevResult`.
    ///
    /// Every plugin runs even if one fails; the first failure is returned.
    pub(crate) async fn del(
        &self,
        list: &NetworkList,
        rt: &RuntimeArgs,
        prev: Option<&Value>,
    ) -> Result<(), Error> {
        let mut first_error = None;
        for plugin in list.plugins.iter().rev() {
            let result = async {
                let config = plugin_config(list, plugin, rt, prev)?;
                self.exec(Command::Del, &config, rt).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(network = %list.name, container = %rt.container_id, error = %e, "cni DEL failed");
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs one plugin with `config` on stdin; returns its parsed stdout (a result for ADD,
    /// usually nothing for DEL).
    pub(crate) async fn exec(
        &self,
        command: Command,
        config: &Value,
        rt: &RuntimeArgs,
    ) -> Result<Option<Value>, Error> {
        let kind = plugin_type(config)
            .ok_or_else(|| Error::system("cni plugin configuration has no type"))?;
        if kind.is_empty() || kind.contains('/') || kind.starts_with('.') {
            return Err(Error::system(format!("invalid cni plugin type: {kind:?}")));
        }
        let binary = self.dir.join(kind);
        if !binary.is_file() {
            return Err(Error::system(format!(
                "cni plugin {kind} not found in {}",
                self.dir.display()
            )));
        }
        let stdin = serde_json::to_vec(config).map_err(|e| {
            Error::system(format!("cannot encode cni configuration for {kind}")).with_source(e)
        })?;

        let mut child = tokio::process::Command::new(&binary)
            .env("CNI_COMMAND", command.as_str())
            .env("CNI_CONTAINERID", &rt.container_id)
            .env("CNI_NETNS", &rt.netns)
            .env("CNI_IFNAME", &rt.ifname)
            .env("CNI_PATH", &self.dir)
            .env_remove("CNI_ARGS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                Error::system(format!("cannot run cni plugin {}", binary.display())).with_source(e)
            })?;
        let mut pipe = child.stdin.take();
        let write = async move {
            if let Some(pipe) = pipe.as_mut() {
                pipe.write_all(&stdin).await?;
                pipe.shutdown().await?;
            }
            drop(pipe);
            Ok::<_, std::io::Error>(())
        };
        let run = async { tokio::join!(write, child.wait_with_output()) };
        let (written, output) = tokio::time::timeout(PLUGIN_TIMEOUT, run).await.map_err(|_| {
            Error::system(format!(
                "cni plugin {kind} {} timed out after {}s",
                command.as_str(),
                PLUGIN_TIMEOUT.as_secs()
            ))
        })?;
        let output = output
            .map_err(|e| Error::system(format!("cni plugin {kind} failed")).with_source(e))?;
        if !output.stderr.is_empty() {
            tracing::debug!(plugin = kind, command = command.as_str(), stderr = %String::from_utf8_lossy(&output.stderr), "cni plugin stderr");
        }
        if !output.status.success() {
            let error = PluginError::from_output(&output.stdout, &output.stderr, output.status);
            return Err(Error::system(format!("cni plugin {kind} {}: {error}", command.as_str()))
                .with_source(error));
        }
        if let Err(e) = written {
            // The plugin succeeded without reading all of stdin (a plugin may ignore it).
            tracing::debug!(plugin = kind, error = %e, "cni plugin did not read its whole config");
        }
        if output.stdout.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        let value = serde_json::from_slice(&output.stdout).map_err(|e| {
            Error::system(format!("cni plugin {kind} {} printed invalid JSON", command.as_str()))
                .with_source(e)
        })?;
        Ok(Some(value))
    }
}

/// The `type` of a plugin configuration.
fn plugin_type(config: &Value) -> Option<&str> {
    config.get("type").and_then(Value::as_str)
}

/// The stdin of one plugin in a list: its own object plus `cniVersion`, `name`, `prevResult` and
/// the `runtimeConfig` for the capabilities it declares.
pub(crate) fn plugin_config(
    list: &NetworkList,
    plugin: &Value,
    rt: &RuntimeArgs,
    prev: Option<&Value>,
) -> Result<Value, Error> {
    let Value::Object(fields) = plugin else {
        return Err(Error::system(format!("cni plugin in network {} is not an object", list.name)));
    };
    let mut config = fields.clone();
    config.insert("cniVersion".into(), CNI_VERSION.into());
    config.insert("name".into(), list.name.clone().into());
    if let Some(prev) = prev {
        config.insert("prevResult".into(), prev.clone());
    }
    let runtime: Map<String, Value> = fields
        .get("capabilities")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, enabled)| enabled.as_bool() == Some(true))
        .filter_map(|(cap, _)| rt.capabilities.get(cap).map(|v| (cap.clone(), v.clone())))
        .collect();
    if !runtime.is_empty() {
        config.insert("runtimeConfig".into(), Value::Object(runtime));
    }
    Ok(Value::Object(config))
}

/// A CNI error as a plugin prints it on a failed run.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, thiserror::Error)]
#[error("{}", self.describe())]
pub(crate) struct PluginError {
    /// The CNI error code (1–99 are reserved by the spec, 100+ are plugin specific).
    #[serde(default)]
    pub(crate) code: u32,
    /// A short message.
    #[serde(default)]
    pub(crate) msg: String,
    /// Longer detail, often the underlying error.
    #[serde(default)]
    pub(crate) details: String,
}

impl PluginError {
    /// Reads the error a failed plugin printed; falls back to its stderr or exit status when
    /// stdout holds no CNI error.
    pub(crate) fn from_output(
        stdout: &[u8],
        stderr: &[u8],
        status: std::process::ExitStatus,
    ) -> Self {
        if let Ok(error) = serde_json::from_slice::<PluginError>(stdout)
            && !error.msg.is_empty()
        {
            return error;
        }
        let text = [stdout, stderr]
            .into_iter()
            .map(|b| String::from_utf8_lossy(b).trim().to_owned())
            .find(|s| !s.is_empty())
            .unwrap_or_else(|| format!("exited with {status}"));
        Self { code: 0, msg: text, details: String::new() }
    }

    fn describe(&self) -> String {
        if self.details.is_empty() {
            self.msg.clone()
        } else {
            format!("{}; {}", self.msg, self.details)
        }
    }
}

/// The parts of a CNI 1.0.0 result Berth reads.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CniResult {
    /// Interfaces the plugins created or touched.
    #[serde(default)]
    pub(crate) interfaces: Vec<Interface>,
    /// Assigned addresses.
    #[serde(default)]
    pub(crate) ips: Vec<IpConfig>,
    /// Routes set up in the namespace.
    #[serde(default)]
    pub(crate) routes: Vec<Route>,
    /// DNS information, if the plugins provide any.
    #[serde(default)]
    pub(crate) dns: Dns,
}

/// One interface in a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Interface {
    /// Interface name.
    pub(crate) name: String,
    /// Hardware address, if known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) mac: String,
    /// The namespace path for interfaces inside the container; empty for host interfaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) sandbox: String,
}

/// One address in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IpConfig {
    /// Index into `interfaces` of the interface holding the address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) interface: Option<usize>,
    /// The address in CIDR form, `10.1.0.2/16`.
    pub(crate) address: String,
    /// The gateway of the subnet, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gateway: Option<IpAddr>,
}

impl IpConfig {
    /// The address and prefix length of `address`.
    pub(crate) fn cidr(&self) -> Result<(IpAddr, u8), Error> {
        parse_cidr(&self.address)
    }
}

/// One route in a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Route {
    /// Destination in CIDR form.
    pub(crate) dst: String,
    /// Next hop, if not the default gateway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) gw: Option<IpAddr>,
}

/// DNS settings in a result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Dns {
    /// Name servers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) nameservers: Vec<String>,
    /// Local domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) domain: Option<String>,
    /// Search domains.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) search: Vec<String>,
    /// Resolver options.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) options: Vec<String>,
}

impl CniResult {
    /// Parses a result printed by a plugin.
    pub(crate) fn from_value(value: &Value) -> Result<Self, Error> {
        Self::deserialize(value)
            .map_err(|e| Error::system("cannot parse the cni result").with_source(e))
    }
}

/// Parses `a.b.c.d/n` (or an IPv6 CIDR).
pub(crate) fn parse_cidr(text: &str) -> Result<(IpAddr, u8), Error> {
    let invalid = || Error::invalid(format!("invalid CIDR address: {text}"));
    let (addr, len) = text.split_once('/').ok_or_else(invalid)?;
    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
    let len: u8 = len.parse().map_err(|_| invalid())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(invalid());
    }
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use serde_json::json;

    use super::*;

    fn rt() -> RuntimeArgs {
        RuntimeArgs {
            container_id: "c1".into(),
            netns: "/run/netns/x".into(),
            ifname: "eth0".into(),
            capabilities: Map::from_iter([(
                "portMappings".to_owned(),
                json!([{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]),
            )]),
        }
    }

    #[test]
    fn parses_a_bridge_result() {
        let printed = json!({
            "cniVersion": "1.0.0",
            "interfaces": [
                {"name": "berth0", "mac": "06:93:2e:28:b9:21"},
                {"name": "veth9602bdba", "mac": "3a:36:6d:c0:25:fb"},
                {"name": "eth0", "mac": "ca:18:14:b6:4a:6a", "sandbox": "/tmp/ns1"}
            ],
            "ips": [{"interface": 2, "address": "10.213.99.2/24", "gateway": "10.213.99.1"}],
            "routes": [{"dst": "0.0.0.0/0"}],
            "dns": {}
        });
        let result = CniResult::from_value(&printed).expect("parse");
        assert_eq!(result.interfaces.len(), 3);
        assert_eq!(result.interfaces[2].sandbox, "/tmp/ns1");
        assert_eq!(result.ips[0].interface, Some(2));
        assert_eq!(result.ips[0].cidr().expect("cidr"), ("10.213.99.2".parse().expect("ip"), 24));
        assert_eq!(result.ips[0].gateway, Some("10.213.99.1".parse().expect("ip")));
        assert_eq!(result.routes, vec![Route { dst: "0.0.0.0/0".into(), gw: None }]);
        assert_eq!(result.dns, Dns::default());
    }

    #[test]
    fn parses_plugin_errors_and_falls_back_to_stderr() {
        let status = std::process::ExitStatus::from_raw(1 << 8);
        let stdout = br#"{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"bridge name too long"}"#;
        let error = PluginError::from_output(stdout, b"", status);
        assert_eq!(error.code, 7);
        assert_eq!(error.to_string(), "invalid network config; bridge name too long");

        let stdout = br#"{"code": 999, "msg": "failed to open netns \"/nonexist\""}"#;
        let error = PluginError::from_output(stdout, b"", status);
        assert_eq!(error.to_string(), r#"failed to open netns "/nonexist""#);

        let error = PluginError::from_output(b"", b"panic: boom\n", status);
        assert_eq!(error.to_string(), "panic: boom");
        let error = PluginError::from_output(b"", b"", status);
        assert_eq!(error.to_string(), "exited with exit status: 1");
    }

    #[test]
    fn plugin_config_adds_name_version_prev_result_and_declared_capabilities() {
        let list = NetworkList {
            name: "net".into(),
            plugins: vec![
                json!({"type": "bridge", "bridge": "b0"}),
                json!({"type": "portmap", "capabilities": {"portMappings": true, "bandwidth": true}}),
            ],
        };
        let first = plugin_config(&list, &list.plugins[0], &rt(), None).expect("config");
        assert_eq!(
            first,
            json!({"type": "bridge", "bridge": "b0", "cniVersion": "1.0.0", "name": "net"})
        );
        let prev = json!({"ips": []});
        let second = plugin_config(&list, &list.plugins[1], &rt(), Some(&prev)).expect("config");
        assert_eq!(second["prevResult"], prev);
        assert_eq!(
            second["runtimeConfig"],
            json!({"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]})
        );
    }

    #[test]
    fn parse_cidr_rejects_garbage() {
        assert!(parse_cidr("10.0.0.1/33").is_err());
        assert!(parse_cidr("10.0.0.1").is_err());
        assert!(parse_cidr("x/8").is_err());
        assert_eq!(parse_cidr("::1/128").expect("v6").1, 128);
    }

    #[tokio::test]
    async fn exec_reports_a_missing_plugin_and_a_plugin_error() {
        let exec = PluginExec::new("/nonexistent-cni-dir");
        let err = exec.exec(Command::Add, &json!({"type": "bridge"}), &rt()).await.expect_err("x");
        assert_eq!(err.message(), "cni plugin bridge not found in /nonexistent-cni-dir");

        let exec = PluginExec::new(super::super::DEFAULT_PLUGIN_DIR);
        // loopback touches nothing before it opens the namespace (bridge would create its device).
        let config = json!({"cniVersion": "1.0.0", "name": "x", "type": "loopback"});
        let mut rt = rt();
        rt.netns = "/nonexistent-netns".into();
        let err = exec.exec(Command::Add, &config, &rt).await.expect_err("bad netns");
        assert!(
            err.message()
                .starts_with(r#"cni plugin loopback ADD: failed to Statfs "/nonexistent-netns""#),
            "{}",
            err.message()
        );
        let source = std::error::Error::source(&err).and_then(|s| s.downcast_ref::<PluginError>());
        assert_eq!(source.map(|e| e.code), Some(999));
    }
}
