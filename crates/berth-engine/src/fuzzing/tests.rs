//! The fuzzing entry points do what the engine does, without containerd.

use bytes::Bytes;
use serde_json::json;

use super::*;
use crate::content::sha256_digest;
use crate::testutil::{tar_of, tarball};

#[tokio::test]
async fn image_load_plans_a_docker_save_archive() {
    let layer = tarball(&[("etc/hostname", "berth\n")]);
    let config = serde_json::to_vec(&json!({
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [sha256_digest(&layer)] },
    }))
    .expect("config");
    let manifest = serde_json::to_vec(&json!([{
        "Config": "config.json", "RepoTags": ["example/app:1"], "Layers": ["l/layer.tar"],
    }]))
    .expect("manifest");
    let archive = Bytes::from(tar_of(&[
        ("config.json", &config),
        ("l/layer.tar", &layer),
        ("manifest.json", &manifest),
    ]));
    let ids = image_load(vec![archive], None).await.expect("a valid archive");
    assert_eq!(ids, [sha256_digest(&config)]);

    let err =
        image_load(vec![Bytes::from_static(b"not a tarball")], None).await.expect_err("garbage");
    assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{err}");
}

#[tokio::test]
async fn image_import_counts_the_tar_and_checks_the_changes() {
    let tar = tarball(&[("a", "1")]);
    let chunks = tar.chunks(7).map(Bytes::copy_from_slice).collect();
    let counted = image_import(chunks, &["CMD [\"sh\"]".to_owned()]).await.expect("valid");
    assert_eq!(counted, tar.len() as u64);
    assert!(image_import(vec![tar], &["FROM scratch".to_owned()]).await.is_err());
    assert!(image_import(vec![Bytes::from_static(&[1; 512])], &[]).await.is_err());
}

#[tokio::test]
async fn archive_put_extracts_into_the_given_root() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut builder = tar::Builder::new(Vec::new());
    for (name, data) in [("dir/file", &b"data"[..]), ("../up", b"x")] {
        // Written into the header directly: the builder refuses `..`.
        let mut header = tar::Header::new_ustar();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    let tar = Bytes::from(builder.into_inner().expect("finish"));
    let err = archive_put(root.path(), vec![tar], false, false).await.expect_err("`..` refused");
    assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{err}");
    assert_eq!(std::fs::read(root.path().join("dir/file")).expect("extracted"), b"data");
}

#[test]
fn container_create_builds_the_spec_of_the_first_run() {
    let body: berth_api::container::ContainerCreateBody =
        serde_json::from_value(json!({"Image": "busybox", "Env": ["A=1"]})).expect("body");
    let options = ContainerCreateOptions {
        name: "web".to_owned(),
        body,
        platform: None,
        default_read_only_non_recursive: false,
    };
    let image = json!({ "Cmd": ["sh"], "Env": ["PATH=/bin"], "WorkingDir": "/srv" });
    let spec = container_create(options.clone(), &image).expect("a valid body");
    assert_eq!(spec["process"]["args"], json!(["sh"]));
    assert_eq!(spec["process"]["cwd"], "/srv");

    let bad = ContainerCreateOptions { name: "-x".to_owned(), ..options };
    assert!(container_create(bad, &image).is_err());
}
