//! Images the fault tests build: the host's static busybox as a rootfs, layers of noise, and
//! `docker save` archives and registry manifests of them.

use serde_json::{Value, json};

/// A tar of `entries`: `(path, contents)`; a path ending in `/` is a directory, contents
/// starting with `->` a symlink.
pub(crate) fn tarball(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mtime(1_700_000_000);
        if path.ends_with('/') {
            header.set_entry_type(tar::EntryType::Directory);
            header.set_mode(0o755);
            header.set_size(0);
            header.set_cksum();
            builder.append_data(&mut header, path, std::io::empty()).expect("dir");
        } else if let Some(target) = contents.strip_prefix(b"->") {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            let target = String::from_utf8_lossy(target).into_owned();
            builder.append_link(&mut header, path, target).expect("link");
        } else {
            header.set_mode(0o755);
            header.set_size(contents.len() as u64);
            header.set_cksum();
            builder.append_data(&mut header, path, *contents).expect("file");
        }
    }
    builder.into_inner().expect("tar")
}

/// The host's static busybox with the applets the tests use, and `/tmp`.
pub(crate) fn busybox_rootfs() -> Vec<u8> {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut entries: Vec<(String, Vec<u8>)> = vec![
        ("bin/".into(), Vec::new()),
        ("bin/busybox".into(), busybox),
        ("tmp/".into(), Vec::new()),
    ];
    for applet in ["sh", "echo", "sleep", "cat", "true", "ls", "test", "wc", "head"] {
        entries.push((format!("bin/{applet}"), b"->busybox".to_vec()));
    }
    let refs: Vec<(&str, &[u8])> =
        entries.iter().map(|(p, c)| (p.as_str(), c.as_slice())).collect();
    tarball(&refs)
}

/// `len` bytes that do not compress and differ per `seed`.
pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// `sha256:<hex>`.
pub(crate) fn digest(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// The image config of `layers` (uncompressed tars) running `sh`.
pub(crate) fn image_config(layers: &[Vec<u8>]) -> Vec<u8> {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    };
    let diff_ids: Vec<String> = layers.iter().map(|l| digest(l)).collect();
    json!({
        "architecture": arch,
        "os": "linux",
        "config": { "Cmd": ["sh"] },
        "rootfs": { "type": "layers", "diff_ids": diff_ids },
    })
    .to_string()
    .into_bytes()
}

/// A `docker save` archive of one image, `name`, with `layers`.
pub(crate) fn docker_save(name: &str, layers: &[Vec<u8>]) -> Vec<u8> {
    let config = image_config(layers);
    let config_name = format!("{}.json", &digest(&config)[7..]);
    let layer_names: Vec<String> =
        layers.iter().enumerate().map(|(i, _)| format!("layer{i}/layer.tar")).collect();
    let manifest = json!([{ "Config": config_name, "RepoTags": [name], "Layers": layer_names }])
        .to_string()
        .into_bytes();
    let mut entries: Vec<(&str, &[u8])> =
        vec![("manifest.json", &manifest), (&config_name, &config)];
    for (path, layer) in layer_names.iter().zip(layers) {
        entries.push((path.as_str(), layer.as_slice()));
    }
    tarball(&entries)
}

/// The first line of `body` (a JSON-lines progress stream) that has an `errorDetail`.
pub(crate) fn stream_error(body: &str) -> Option<String> {
    body.lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("errorDetail").is_some())
        .map(|v| v["errorDetail"]["message"].as_str().unwrap_or_default().to_owned())
}
