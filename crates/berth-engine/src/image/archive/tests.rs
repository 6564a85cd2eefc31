//! save and load against a private containerd: round trips, hand-built legacy and OCI archives,
//! and bad archives that must leave nothing behind.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use berth_api::image::{ProgressMessage, Reference};
use berth_api::{Error, ErrorKind};
use berth_backend::{
    ImageBackend, ImageImportOptions, ImageInspectOptions, ImageListOptions, ImageLoadOptions,
    ImageRemoveOptions, ImageSaveOptions, ImportSource,
};
use bytes::Bytes;
use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::Engine;
use crate::content::sha256_digest;
use crate::testutil::{TestContainerd, engine, tar_of, tarball};

async fn import(engine: &Engine, name: Option<&str>, files: &[(&str, &str)]) -> String {
    let body = futures_util::stream::iter([Ok(tarball(files))]).boxed();
    let options = ImageImportOptions {
        source: ImportSource::Body(body),
        reference: name.map(|n| Reference::parse_normalized(n).expect("valid name")),
        changes: Vec::new(),
        message: String::new(),
        platform: None,
    };
    let mut progress = engine.import(options).await.expect("import");
    let last = progress.next().await.expect("one message").expect("no error");
    last.status
}

async fn save(engine: &Engine, names: &[&str]) -> Vec<u8> {
    let options =
        ImageSaveOptions { names: names.iter().map(|n| (*n).to_owned()).collect(), platform: None };
    let mut stream = engine.save(options).await.expect("save");
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("no error mid-stream"));
    }
    out
}

/// Loads `body`; returns the progress lines and the error that ended the stream, if any.
async fn load_stream(
    engine: &Engine,
    body: Vec<Result<Bytes, Error>>,
    quiet: bool,
) -> (Vec<ProgressMessage>, Option<Error>) {
    let options =
        ImageLoadOptions { body: futures_util::stream::iter(body).boxed(), quiet, platform: None };
    let mut stream = match engine.load(options).await {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut lines = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(m) => lines.push(m),
            Err(e) => return (lines, Some(e)),
        }
    }
    (lines, None)
}

async fn load(
    engine: &Engine,
    archive: Vec<u8>,
    quiet: bool,
) -> (Vec<ProgressMessage>, Option<Error>) {
    load_stream(engine, vec![Ok(Bytes::from(archive))], quiet).await
}

fn streams(lines: &[ProgressMessage]) -> Vec<String> {
    lines.iter().filter(|m| !m.stream.is_empty()).map(|m| m.stream.clone()).collect()
}

/// Every image: ID → sorted tags.
async fn images(engine: &Engine) -> BTreeMap<String, Vec<String>> {
    let list = engine.list(ImageListOptions::default()).await.expect("list");
    list.into_iter()
        .map(|s| {
            let mut tags = s.repo_tags;
            tags.sort();
            (s.id, tags)
        })
        .collect()
}

async fn remove_all(engine: &Engine) {
    for id in images(engine).await.into_keys() {
        engine
            .remove(&id, ImageRemoveOptions { force: true, ..Default::default() })
            .await
            .expect("rmi");
    }
    assert!(images(engine).await.is_empty());
}

/// The regular files of a tarball.
fn untar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = BTreeMap::new();
    for entry in archive.entries().expect("tar") {
        let mut entry = entry.expect("entry");
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("read");
        out.insert(path, data);
    }
    out
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("json")
}

/// A legacy docker-save archive of one image with two layers, the second gzip'd; returns the
/// archive and the image ID.
fn legacy_archive(tags: &[&str], wrong_diff_id: bool) -> (Vec<u8>, String) {
    let layer1 = tarball(&[("etc/one", "1")]).to_vec();
    let layer2 = tarball(&[("etc/two", "22")]).to_vec();
    let mut diff2 = sha256_digest(&layer2);
    if wrong_diff_id {
        diff2 = sha256_digest(b"something else");
    }
    let config = serde_json::to_vec(&json!({
        "architecture": crate::go_arch(),
        "os": "linux",
        "config": { "Cmd": ["sh"] },
        "created": "2024-01-02T03:04:05Z",
        "rootfs": { "type": "layers", "diff_ids": [sha256_digest(&layer1), diff2] },
        "history": [{ "created_by": "one" }, { "created_by": "two" }],
    }))
    .expect("config");
    let id = sha256_digest(&config);
    let manifest = serde_json::to_vec(&json!([{
        "Config": "cfg.json",
        "RepoTags": if tags.is_empty() { Value::Null } else { json!(tags) },
        "Layers": ["aaa/layer.tar", "bbb/layer.tar"],
    }]))
    .expect("manifest");
    let layer2_gz = gzip(&layer2);
    let archive = tar_of(&[
        ("aaa/layer.tar", &layer1),
        ("bbb/layer.tar", &layer2_gz),
        ("cfg.json", &config),
        ("manifest.json", &manifest),
    ]);
    (archive, id)
}

#[tokio::test]
async fn save_remove_load_round_trips() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;
    let alpha = import(&engine, Some("alpha"), &[("a", "1"), ("dir/b", "22")]).await;
    engine.tag("alpha", Reference::parse_normalized("alpha:2").expect("ref")).await.expect("tag");
    engine
        .tag("alpha", Reference::parse_normalized("localhost:5000/team/alpha:v1").expect("ref"))
        .await
        .expect("tag");
    let dangling = import(&engine, None, &[("c", "333")]).await;
    let before = images(&engine).await;
    let diff_ids = engine
        .inspect(&alpha, ImageInspectOptions::default())
        .await
        .expect("inspect")
        .root_fs
        .layers;

    // A bare repository exports all its tags; a short ID exports the image untagged.
    let archive =
        save(&engine, &["alpha", "localhost:5000/team/alpha:v1", &dangling[7..19], &alpha]).await;
    let files = untar(&archive);
    let names: Vec<&str> = files.keys().map(String::as_str).collect();
    assert!(names.contains(&"oci-layout") && names.contains(&"repositories"), "{names:?}");
    let manifest = json_of(&files["manifest.json"]);
    let items = manifest.as_array().expect("array");
    assert_eq!(items.len(), 2, "{manifest}");
    assert_eq!(
        items[0]["RepoTags"],
        json!(["alpha:2", "alpha:latest", "localhost:5000/team/alpha:v1"]),
        "{manifest}"
    );
    assert_eq!(items[1]["RepoTags"], Value::Null);
    // The config blob is byte for byte the image's config: its digest is the ID.
    let config_path = items[0]["Config"].as_str().expect("config path");
    assert_eq!(sha256_digest(&files[config_path]), alpha);
    for layer in items[0]["Layers"].as_array().expect("layers") {
        assert!(files.contains_key(layer.as_str().expect("path")));
    }
    let index = json_of(&files["index.json"]);
    let annotations: Vec<&Value> = index["manifests"]
        .as_array()
        .expect("manifests")
        .iter()
        .map(|m| &m["annotations"])
        .collect();
    assert_eq!(annotations.len(), 4, "three tags and one untagged image: {index}");
    assert_eq!(annotations[0]["io.containerd.image.name"], "docker.io/library/alpha:2");
    assert_eq!(annotations[0]["org.opencontainers.image.ref.name"], "2");
    assert!(annotations[3].is_null());
    let repositories = json_of(&files["repositories"]);
    assert!(repositories["alpha"]["latest"].is_string(), "{repositories}");
    assert!(repositories["localhost:5000/team/alpha"]["v1"].is_string(), "{repositories}");

    remove_all(&engine).await;
    let (lines, err) = load(&engine, archive, true).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        streams(&lines),
        [
            "Loaded image: alpha:2\n",
            "Loaded image: alpha:latest\n",
            "Loaded image: localhost:5000/team/alpha:v1\n",
            &format!("Loaded image ID: {dangling}\n"),
        ]
    );
    assert!(lines.iter().all(|m| m.status.is_empty()), "quiet: no layer progress");
    assert_eq!(images(&engine).await, before);
    let again = engine.inspect(&alpha, ImageInspectOptions::default()).await.expect("inspect");
    assert_eq!(again.root_fs.layers, diff_ids);

    // Loading over an existing tag moves it and says so.
    let (other, _) = legacy_archive(&["alpha:latest"], false);
    let (lines, err) = load(&engine, other, true).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(
        streams(&lines)[0],
        format!(
            "The image alpha:latest already exists, renaming the old one with ID {alpha} to empty string\n"
        )
    );
    ctrd.stop().await;
}

#[tokio::test]
async fn legacy_gzip_and_oci_only_archives_load() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;

    let (archive, id) = legacy_archive(&["legacy:1"], false);
    let (lines, err) = load(&engine, archive.clone(), false).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(streams(&lines), ["Loaded image: legacy:1\n"]);
    let loading: Vec<&ProgressMessage> =
        lines.iter().filter(|m| m.status == "Loading layer").collect();
    assert!(loading.len() >= 2, "layer progress without quiet: {lines:?}");
    assert!(loading[0].progress.starts_with('['), "{:?}", loading[0]);
    assert_eq!(images(&engine).await, BTreeMap::from([(id.clone(), vec!["legacy:1".to_owned()])]));
    let inspect =
        engine.inspect("legacy:1", ImageInspectOptions::default()).await.expect("inspect");
    assert_eq!(inspect.root_fs.layers.len(), 2);

    // The whole tarball gzip'd, untagged.
    remove_all(&engine).await;
    let (untagged, id2) = legacy_archive(&[], false);
    assert_eq!(id2, id, "the same config");
    let (lines, err) = load(&engine, gzip(&untagged), true).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(streams(&lines), [format!("Loaded image ID: {id}\n")]);
    assert_eq!(images(&engine).await, BTreeMap::from([(id.clone(), Vec::new())]));

    // Berth's own save, without the legacy files: an OCI layout only. Names come from the
    // index annotations; the saved gzip layer stays as stored.
    engine.tag(&id, Reference::parse_normalized("oci/only:7").expect("ref")).await.expect("tag");
    let saved = untar(&save(&engine, &["oci/only:7"]).await);
    remove_all(&engine).await;
    let layout: Vec<(&str, &[u8])> = saved
        .iter()
        .filter(|(p, _)| !matches!(p.as_str(), "manifest.json" | "repositories"))
        .map(|(p, d)| (p.as_str(), d.as_slice()))
        .collect();
    let (lines, err) = load(&engine, tar_of(&layout), true).await;
    assert!(err.is_none(), "{err:?}");
    assert_eq!(streams(&lines), ["Loaded image: oci/only:7\n"]);
    assert_eq!(images(&engine).await, BTreeMap::from([(id, vec!["oci/only:7".to_owned()])]));
    ctrd.stop().await;
}

#[tokio::test]
async fn bad_archives_fail_clearly_and_leave_nothing() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;
    import(&engine, Some("kept"), &[("k", "1")]).await;
    let before = images(&engine).await;
    let good = save(&engine, &["kept"]).await;

    let (wrong_diff, _) = legacy_archive(&["bad:1"], true);
    let mut traversal = tar_of(&[("x", b"evil")]);
    traversal[..100].fill(0);
    traversal[..4].copy_from_slice(b"../x");
    let mut header = tar::Header::from_byte_slice(&traversal[..512]).clone();
    header.set_cksum();
    traversal[..512].copy_from_slice(header.as_bytes());
    let (legacy, _) = legacy_archive(&["bad:2"], false);
    let mut with_traversal = traversal[..1024].to_vec();
    with_traversal.extend_from_slice(&legacy);

    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("not a tar", vec![b'x'; 700], "invalid tar archive"),
        ("truncated", good[..good.len() / 2].to_vec(), "unexpected EOF"),
        ("empty", Vec::new(), "neither manifest.json nor index.json"),
        ("no manifest", tar_of(&[("hello.txt", b"hi")]), "neither manifest.json nor index.json"),
        ("bad manifest", tar_of(&[("manifest.json", b"{")]), "manifest.json"),
        ("wrong diff ID", wrong_diff, "invalid diffID for layer 1"),
        ("traversal", with_traversal, "path traversal"),
        (
            "missing layer",
            tar_of(&[("manifest.json", br#"[{"Config":"c.json","Layers":[]}]"#)]),
            "c.json is missing",
        ),
    ];
    for (what, archive, expected) in cases {
        let (lines, err) = load(&engine, archive, false).await;
        let err = err.unwrap_or_else(|| panic!("{what}: loaded: {lines:?}"));
        assert!(err.message().contains(expected), "{what}: {}", err.message());
        assert!(streams(&lines).is_empty(), "{what}: {lines:?}");
        assert_eq!(images(&engine).await, before, "{what}: nothing left visible");
    }

    // The client goes away mid-upload: the body stream fails.
    let (legacy, _) = legacy_archive(&["cut:1"], false);
    let body = vec![
        Ok(Bytes::copy_from_slice(&legacy[..1024])),
        Err(Error::invalid("cannot read request body: connection reset")),
    ];
    let (_, err) = load_stream(&engine, body, true).await;
    assert!(err.expect("fails").message().contains("connection reset"));
    assert_eq!(images(&engine).await, before);
    ctrd.stop().await;
}

#[tokio::test]
async fn save_of_a_missing_name_fails_before_any_byte() {
    let ctrd = TestContainerd::start().await;
    let engine = engine(&ctrd).await;
    import(&engine, Some("here"), &[("h", "1")]).await;
    let options =
        ImageSaveOptions { names: vec!["here".to_owned(), "nosuch".to_owned()], platform: None };
    let err = engine.save(options).await.err().expect("404 before the stream");
    assert_eq!((err.kind(), err.message()), (ErrorKind::NotFound, "No such image: nosuch:latest"));
    // No names: an archive with an empty manifest.
    let files = untar(&save(&engine, &[]).await);
    assert_eq!(json_of(&files["manifest.json"]), json!([]));
    ctrd.stop().await;
}
