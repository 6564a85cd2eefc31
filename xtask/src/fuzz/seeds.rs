//! `cargo xtask fuzz seeds`: the checked-in starting inputs of every fuzz target
//! (`fuzz/seeds/NAME/seed-*`) and the libFuzzer dictionaries of the JSON targets
//! (`fuzz/dicts/NAME.dict`), all made here from nothing but this code, so they can be reviewed
//! and regenerated. Minimised inputs of past crashes (`regression-*`) sit next to the seeds and
//! are left alone.
//!
//! Tarballs are written by a small ustar writer below; `gzip` and `sha256sum` (both in every
//! Debian) compress and digest.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::json;

/// Writes every seed and dictionary under `seeds` and its sibling `dicts`.
pub(crate) fn write(seeds: &Path) -> Result<()> {
    let dicts = seeds.with_file_name("dicts");
    let mut written = 0;
    for (target, files) in all()? {
        let dir = seeds.join(target);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for (name, bytes) in files {
            let path = dir.join(format!("seed-{name}"));
            std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
            written += 1;
        }
    }
    std::fs::create_dir_all(&dicts).with_context(|| format!("creating {}", dicts.display()))?;
    for (target, words) in dictionaries() {
        let path = dicts.join(format!("{target}.dict"));
        let mut text =
            format!("# libFuzzer dictionary of the {target} target (cargo xtask fuzz seeds)\n");
        for word in words {
            text.push_str(&format!("\"{}\"\n", escape(word)));
        }
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "fuzz: {written} seeds under {}, dictionaries under {}",
        seeds.display(),
        dicts.display()
    );
    Ok(())
}

/// A dictionary entry: quotes, backslashes and non-printable bytes as `\xNN`.
fn escape(word: &str) -> String {
    word.bytes()
        .map(|b| match b {
            b'"' | b'\\' => format!("\\{}", char::from(b)),
            0x20..=0x7e => char::from(b).to_string(),
            _ => format!("\\x{b:02X}"),
        })
        .collect()
}

type Seeds = Vec<(&'static str, Vec<u8>)>;

fn all() -> Result<Vec<(&'static str, Seeds)>> {
    Ok(vec![
        ("host", host()),
        ("api_version", api_version()),
        ("filters", filters()),
        ("container_create", container_create()),
        ("image_load", image_load()?),
        ("image_import", image_import()?),
        ("archive_put", archive_put()?),
        ("authz_wire", authz_wire()),
        ("stdcopy", stdcopy()),
    ])
}

fn text(pairs: &[(&'static str, &str)]) -> Seeds {
    pairs.iter().map(|(name, text)| (*name, text.as_bytes().to_vec())).collect()
}

fn host() -> Seeds {
    text(&[
        ("unix", "unix:///var/run/berth.sock"),
        ("tcp", "tcp://0.0.0.0:2376"),
        ("ipv6", "[::1]:5555"),
        ("fd", "fd://3"),
        ("list", "unix://relative/x.sock\ntcp://:2375\nfd://\n\nlocalhost:99999"),
        ("plugin-https", "https://[fe80::1]:8443/path?q#f"),
        ("plugin-unix", "unix:///run/docker/plugins/authz.sock"),
    ])
}

fn api_version() -> Seeds {
    text(&[
        ("max", "1.51"),
        ("min", "1.24"),
        ("old", "1.9"),
        ("patch", "1.51.0"),
        ("target", "/v1.41/containers/json?all=1"),
        ("unclean", "//v1.44/../containers/./json/"),
    ])
}

fn filters() -> Seeds {
    text(&[
        ("canonical", r#"{"label":{"com.example=1":true},"dangling":{"true":true}}"#),
        ("legacy", r#"{"name":["^web$","db"],"driver":["bridge"],"type":["custom"]}"#),
        ("until", r#"{"until":["1700000000.5"],"label!":["empty"]}"#),
        ("all", r#"{"all":["true"],"id":["[0-9a-f]{12}"]}"#),
    ])
}

/// One input: the version byte (minor - 24), the query, a newline, the body.
fn create_input(minor: u8, query: &str, body: &serde_json::Value) -> Vec<u8> {
    let mut out = vec![minor - 24];
    out.extend_from_slice(query.as_bytes());
    out.push(b'\n');
    out.extend_from_slice(body.to_string().as_bytes());
    out
}

fn container_create() -> Seeds {
    let mounts = json!([
        {"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 1024, "Mode": 448}},
        {"Type": "volume", "Source": "v", "Target": "/v",
         "VolumeOptions": {"NoCopy": true, "Subpath": "x"}},
        {"Type": "bind", "Source": "/tmp", "Target": "/b",
         "BindOptions": {"Propagation": "rslave", "NonRecursive": true,
                         "ReadOnlyForceRecursive": true}}
    ]);
    let resources = json!({
        "Memory": 67108864, "MemorySwap": -1, "NanoCpus": 500000000, "CpuShares": 512,
        "CpusetCpus": "0-1", "PidsLimit": -1,
        "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]
    });
    let mut host_config = json!({
        "Binds": ["/tmp:/data:ro,z", "vol:/vol"],
        "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080-8090"}]},
        "PublishAllPorts": true,
        "RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 3},
        "NetworkMode": "default", "AutoRemove": true, "Privileged": false,
        "CapAdd": ["NET_ADMIN"], "CapDrop": ["ALL"], "SecurityOpt": ["no-new-privileges"],
        "Tmpfs": {"/tmp": "size=1m,mode=1777"}, "ShmSize": 1048576,
        "Sysctls": {"net.ipv4.ip_forward": "1"}, "OomScoreAdj": 500,
        "ExtraHosts": ["db:10.0.0.2", "gw:host-gateway"],
        "LogConfig": {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}},
        "ConsoleSize": [24, 80], "Annotations": {"a": "b"}, "Init": true
    });
    host_config["Mounts"] = mounts;
    for (key, value) in resources.as_object().into_iter().flatten() {
        host_config[key] = value.clone();
    }
    let mut full = json!({
        "Hostname": "web", "User": "1000:1000", "Tty": true, "OpenStdin": true,
        "Env": ["A=1", "PATH=/bin"], "Cmd": "sh -c true", "Entrypoint": ["/init"],
        "Image": "busybox:latest", "Labels": {"a": "b"}, "WorkingDir": "/app",
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "StopSignal": "SIGTERM",
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1000000000, "Retries": 3,
                        "StartInterval": 5000000000u64},
        "NetworkingConfig": {"EndpointsConfig": {
            "default": {"Aliases": ["w"], "GwPriority": 1,
                        "IPAMConfig": {"IPv4Address": "172.17.0.9"}}
        }}
    });
    full["HostConfig"] = host_config;
    vec![
        ("minimal", create_input(51, "name=web", &json!({"Image": "busybox", "Cmd": ["true"]}))),
        ("full-1.51", create_input(51, "name=web-1&platform=linux/amd64", &full)),
        ("full-1.41", create_input(41, "", &full)),
        ("full-1.24", create_input(24, "name=/x", &full)),
        (
            "nulls",
            create_input(
                44,
                "",
                &json!({"Image": "i", "Cmd": null, "HostConfig": null, "Env": null}),
            ),
        ),
        ("no-config", create_input(51, "", &json!({"HostConfig": {"Memory": 1}}))),
    ]
}

/// Keys of the create body, for the container_create dictionary.
const CREATE_KEYS: &[&str] = &[
    "Image",
    "Cmd",
    "Entrypoint",
    "Env",
    "User",
    "WorkingDir",
    "Labels",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Test",
    "Interval",
    "StartInterval",
    "Hostname",
    "Tty",
    "OpenStdin",
    "HostConfig",
    "Binds",
    "Mounts",
    "Type",
    "Source",
    "Target",
    "ReadOnly",
    "BindOptions",
    "VolumeOptions",
    "TmpfsOptions",
    "Subpath",
    "Propagation",
    "NonRecursive",
    "CreateMountpoint",
    "ReadOnlyForceRecursive",
    "SizeBytes",
    "Mode",
    "PortBindings",
    "HostIp",
    "HostPort",
    "PublishAllPorts",
    "RestartPolicy",
    "Name",
    "MaximumRetryCount",
    "NetworkMode",
    "AutoRemove",
    "Privileged",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
    "Tmpfs",
    "ShmSize",
    "Sysctls",
    "OomScoreAdj",
    "ExtraHosts",
    "LogConfig",
    "Config",
    "Memory",
    "MemorySwap",
    "NanoCpus",
    "CpuShares",
    "CpuQuota",
    "CpuPeriod",
    "CpusetCpus",
    "CpusetMems",
    "PidsLimit",
    "Ulimits",
    "Soft",
    "Hard",
    "ConsoleSize",
    "Annotations",
    "Init",
    "IpcMode",
    "PidMode",
    "UTSMode",
    "GroupAdd",
    "Devices",
    "DeviceRequests",
    "StorageOpt",
    "MaskedPaths",
    "ReadonlyPaths",
    "ReadonlyRootfs",
    "KernelMemory",
    "KernelMemoryTCP",
    "CgroupParent",
    "NetworkingConfig",
    "EndpointsConfig",
    "Aliases",
    "GwPriority",
    "IPAMConfig",
    "IPv4Address",
    "IPv6Address",
    "MacAddress",
    "host",
    "bridge",
    "none",
    "container:",
    "default",
    "always",
    "unless-stopped",
    "on-failure",
    "no",
    "bind",
    "volume",
    "tmpfs",
    "image",
    "npipe",
    "json-file",
    "max-size",
    "max-file",
    "no-new-privileges",
    "systempaths=unconfined",
    "/tcp",
    "/udp",
    "/sctp",
    "host-gateway",
    "rshared",
    "rslave",
    "rprivate",
    "SIGKILL",
    "null",
    "true",
    "false",
];

fn dictionaries() -> Vec<(&'static str, Vec<&'static str>)> {
    let filter_words = vec![
        "label", "label!", "name", "id", "dangling", "driver", "scope", "type", "until", "since",
        "before", "all", "custom", "builtin", "local", "bridge", "true", "false",
    ];
    let authz_words = vec![
        "Allow",
        "Msg",
        "Err",
        "Implements",
        "authz",
        "User",
        "UserAuthNMethod",
        "RequestMethod",
        "RequestUri",
        "RequestBody",
        "RequestHeaders",
        "RequestPeerCertificates",
        "ResponseStatusCode",
        "ResponseBody",
        "ResponseHeaders",
        "-----BEGIN CERTIFICATE-----",
        "-----END CERTIFICATE-----",
        "Authorization",
        "X-Registry-Auth",
        "X-Registry-Config",
    ];
    let load_words = vec![
        "manifest.json",
        "index.json",
        "oci-layout",
        "blobs/sha256/",
        "Config",
        "RepoTags",
        "Layers",
        "manifests",
        "mediaType",
        "digest",
        "size",
        "config",
        "layers",
        "rootfs",
        "diff_ids",
        "sha256:",
        "annotations",
        "platform",
        "architecture",
        "os",
        "linux",
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "io.containerd.image.name",
        "org.opencontainers.image.ref.name",
        "ustar",
    ];
    vec![
        ("container_create", CREATE_KEYS.to_vec()),
        ("filters", filter_words),
        ("authz_wire", authz_words),
        ("image_load", load_words),
    ]
}

// ---------------------------------------------------------------------------------------------
// Tarballs
// ---------------------------------------------------------------------------------------------

/// A tar archive being written: ustar headers, GNU long names and PAX records as needed.
#[derive(Default)]
struct Tar {
    out: Vec<u8>,
}

/// What an entry is.
#[derive(Clone, Copy)]
enum Kind {
    File,
    Dir,
    Symlink,
    Hardlink,
    Fifo,
}

impl Tar {
    fn file(&mut self, name: &str, data: &[u8]) -> &mut Self {
        self.entry(name, Kind::File, data, "", 0o644)
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name, Kind::Dir, b"", "", 0o755)
    }

    fn entry(&mut self, name: &str, kind: Kind, data: &[u8], link: &str, mode: u32) -> &mut Self {
        let flag = match kind {
            Kind::File => b'0',
            Kind::Hardlink => b'1',
            Kind::Symlink => b'2',
            Kind::Dir => b'5',
            Kind::Fifo => b'6',
        };
        if name.len() > 100 {
            self.raw("././@LongLink", b'L', name.as_bytes(), "", 0o644);
        }
        self.raw(name, flag, data, link, mode)
    }

    /// A PAX extended header applying to the next entry.
    fn pax(&mut self, records: &[(&str, &str)]) -> &mut Self {
        let mut body = Vec::new();
        for (key, value) in records {
            // "%d %s=%s\n", where the length counts itself.
            let rest = format!(" {key}={value}\n");
            let mut len = rest.len() + 1;
            while format!("{len}").len() + rest.len() != len {
                len += 1;
            }
            body.extend_from_slice(format!("{len}{rest}").as_bytes());
        }
        self.raw("PaxHeaders/x", b'x', &body, "", 0o644)
    }

    fn raw(&mut self, name: &str, flag: u8, data: &[u8], link: &str, mode: u32) -> &mut Self {
        let mut header = [0u8; 512];
        let name = name.as_bytes();
        header[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        octal(&mut header[100..108], u64::from(mode));
        octal(&mut header[108..116], 0);
        octal(&mut header[116..124], 0);
        octal(&mut header[124..136], data.len() as u64);
        octal(&mut header[136..148], 1_700_000_000);
        header[156] = flag;
        let link = link.as_bytes();
        header[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        header[148..156].fill(b' ');
        let sum: u32 = header.iter().map(|b| u32::from(*b)).sum();
        header[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
        self.out.extend_from_slice(&header);
        self.out.extend_from_slice(data);
        self.out.resize(self.out.len().div_ceil(512) * 512, 0);
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.resize(out.len() + 1024, 0);
        out
    }
}

/// A zero-padded octal field ending in NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(digits.as_bytes());
}

/// `bytes` through a filter command (`gzip -n`, `sha256sum`).
fn filter(program: &str, args: &[&str], bytes: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {program}"))?;
    let mut stdin = child.stdin.take().context("stdin is piped")?;
    let input = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let mut out = Vec::new();
    child.stdout.take().context("stdout is piped")?.read_to_end(&mut out)?;
    let status = child.wait()?;
    writer.join().map_err(|_| anyhow::anyhow!("writer thread panicked"))??;
    if !status.success() {
        bail!("{program} failed: {status}");
    }
    Ok(out)
}

fn gzip(bytes: &[u8]) -> Result<Vec<u8>> {
    filter("gzip", &["-n", "-c"], bytes)
}

fn sha256(bytes: &[u8]) -> Result<String> {
    let out = filter("sha256sum", &[], bytes)?;
    let hex = String::from_utf8(out)?.split_whitespace().next().unwrap_or_default().to_owned();
    if hex.len() != 64 {
        bail!("sha256sum printed {hex:?}");
    }
    Ok(format!("sha256:{hex}"))
}

fn prefixed(prefix: &[u8], body: &[u8]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    out.extend_from_slice(body);
    out
}

fn layer() -> Vec<u8> {
    Tar::default().dir("etc/").file("etc/hostname", b"berth\n").file("bin/sh", b"#!").finish()
}

fn image_load() -> Result<Seeds> {
    let layer = layer();
    let diff_id = sha256(&layer)?;
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]}
    })
    .to_string();
    let manifest = json!([{
        "Config": "config.json", "RepoTags": ["example/app:1"], "Layers": ["layer/layer.tar"]
    }])
    .to_string();
    let legacy = Tar::default()
        .file("config.json", config.as_bytes())
        .dir("layer/")
        .file("layer/layer.tar", &layer)
        .file("manifest.json", manifest.as_bytes())
        .finish();

    let gz_layer = gzip(&layer)?;
    let gz_manifest = json!([{"Config": "c.json", "RepoTags": null, "Layers": ["l.tar.gz"]}]);
    let gz_legacy = Tar::default()
        .file("c.json", config.as_bytes())
        .file("l.tar.gz", &gz_layer)
        .entry("link.json", Kind::Symlink, b"", "c.json", 0o777)
        .file("manifest.json", gz_manifest.to_string().as_bytes())
        .finish();

    let config_digest = sha256(config.as_bytes())?;
    let layer_digest = diff_id.clone();
    let oci_manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": layer_digest, "size": layer.len()}]
    })
    .to_string();
    let manifest_digest = sha256(oci_manifest.as_bytes())?;
    let index = json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": manifest_digest, "size": oci_manifest.len(),
                       "annotations": {"io.containerd.image.name": "example/app:2",
                                       "org.opencontainers.image.ref.name": "2"}}]
    })
    .to_string();
    let blob = |digest: &str| format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"));
    let oci = Tar::default()
        .file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)
        .file("index.json", index.as_bytes())
        .dir("blobs/")
        .dir("blobs/sha256/")
        .file(&blob(&manifest_digest), oci_manifest.as_bytes())
        .file(&blob(&config_digest), config.as_bytes())
        .file(&blob(&layer_digest), &layer)
        .finish();
    Ok(vec![
        ("legacy", prefixed(&[0], &legacy)),
        ("legacy-gzip-chunked", prefixed(&[3], &gzip(&legacy)?)),
        ("legacy-gzip-layer", prefixed(&[0], &gz_legacy)),
        ("oci", prefixed(&[0], &oci)),
    ])
}

fn image_import() -> Result<Seeds> {
    let rootfs = layer();
    let changes = b"CMD [\"sh\", \"-c\", \"true\"]\nENV A=b C=\"d e\"\nEXPOSE 80/tcp\n";
    Ok(vec![
        ("plain", prefixed(&[0, 0], &rootfs)),
        ("changes", prefixed(&[0, 3], &prefixed(changes, &rootfs))),
        ("gzip-chunked", prefixed(&[2, 0], &gzip(&rootfs)?)),
        ("empty-archive", vec![0, 0].into_iter().chain([0u8; 1024]).collect()),
        (
            "changes-only",
            prefixed(&[0, 4], b"WORKDIR /srv\nUSER 1000\nLABEL a=b\nVOLUME [\"/data\"]\n"),
        ),
    ])
}

fn archive_put() -> Result<Seeds> {
    let tree = Tar::default()
        .dir("app/")
        .file("app/run.sh", b"#!/bin/sh\n")
        .entry("app/link", Kind::Symlink, b"", "run.sh", 0o777)
        .entry("app/hard", Kind::Hardlink, b"", "app/run.sh", 0o644)
        .entry("app/fifo", Kind::Fifo, b"", "", 0o600)
        .finish();
    let long_name = format!("deep/{}/file", "d".repeat(120));
    let headers = Tar::default()
        .pax(&[("path", "pax/named.txt"), ("mtime", "1700000000.25"), ("uid", "1000")])
        .file("ignored-by-pax", b"pax")
        .file(&long_name, b"long")
        .finish();
    let hostile = Tar::default()
        .entry("escape", Kind::Symlink, b"", "/", 0o777)
        .file("escape/etc/written-through-a-link", b"x")
        .file("/abs/file", b"y")
        .entry("up", Kind::Symlink, b"", "../../..", 0o777)
        .file("up/z", b"z")
        .dir("app/")
        .file("app", b"replaces a directory")
        .finish();
    Ok(vec![
        ("tree", prefixed(&[0], &tree)),
        ("tree-gzip-chunked-owner", prefixed(&[3 << 2 | 2], &gzip(&tree)?)),
        ("headers", prefixed(&[0], &headers)),
        ("hostile", prefixed(&[0], &hostile)),
        ("hostile-no-overwrite", prefixed(&[1], &hostile)),
    ])
}

fn authz_wire() -> Seeds {
    let request = json!({
        "User": "alice", "UserAuthNMethod": "TLS", "RequestMethod": "POST",
        "RequestUri": "/v1.51/containers/create?name=web",
        "RequestBody": "eyJJbWFnZSI6ImJ1c3lib3gifQ==",
        "RequestHeaders": {"Content-Type": "application/json"},
        "RequestPeerCertificates": [
            // base64 of a PEM block around a few DER-ish bytes
            "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJBQT09Ci0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K"
        ],
        "ResponseStatusCode": 201, "ResponseBody": "e30=",
        "ResponseHeaders": {"Api-Version": "1.51"}
    });
    let mut seeds = text(&[
        ("allow", "\0{\"Allow\":true}"),
        ("deny", "\0{\"Allow\":false,\"Msg\":\"no containers for you\"}"),
        ("status-err", "\u{2}{\"Err\":\"plugin broke\"}"),
        ("status-text", "\u{1}forbidden\n"),
        ("activate", "\0{\"Implements\":[\"authz\",\"VolumeDriver\"]}"),
        (
            "headers",
            "\0Content-Type: application/json\nAuthorization: Bearer x\nx-registry-auth: e30=\nUser-Agent: Docker-Client/28.0.0 (linux)\n",
        ),
    ]);
    seeds.push(("request", prefixed(&[0], request.to_string().as_bytes())));
    seeds
}

fn stdcopy() -> Seeds {
    let frame = |stream: u8, payload: &[u8]| {
        let mut out = vec![stream, 0, 0, 0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    };
    let mut stream = frame(1, b"hello\n");
    stream.extend(frame(2, b""));
    stream.extend(frame(2, b"oops\n"));
    stream.extend(frame(0, b"echo"));
    let mut broken = frame(3, b"Error grabbing logs: EOF");
    broken.extend_from_slice(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
    vec![
        ("frames", prefixed(&[0], &stream)),
        ("frames-byte-by-byte", prefixed(&[1], &stream)),
        ("bad-stream", prefixed(&[5], &broken)),
        ("truncated", prefixed(&[0], &stream[..stream.len() - 3])),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tar_headers_have_valid_checksums_and_padding() {
        let tar = Tar::default().file("a", b"12345").finish();
        assert_eq!(tar.len(), 512 + 512 + 1024);
        let header = &tar[..512];
        let stored = std::str::from_utf8(&header[148..154]).expect("octal");
        let mut copy = header.to_vec();
        copy[148..156].fill(b' ');
        let sum: u32 = copy.iter().map(|b| u32::from(*b)).sum();
        assert_eq!(u32::from_str_radix(stored, 8).expect("octal"), sum);
        assert_eq!(&tar[512..517], b"12345");
    }

    #[test]
    fn pax_records_count_their_own_length() {
        let tar = Tar::default().pax(&[("path", "a")]).finish();
        assert_eq!(&tar[512..522], b"9 path=a\n\0");
    }

    #[test]
    fn dictionary_words_are_escaped() {
        assert_eq!(escape("a\"b\\c\n"), "a\\\"b\\\\c\\x0A");
    }
}
