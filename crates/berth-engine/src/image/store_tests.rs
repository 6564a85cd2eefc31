//! The image store against a real, private containerd.

use std::io::Write;

use berth_api::ErrorKind;
use bytes::Bytes;
use futures_util::StreamExt;

use super::import::{ImportRequest, import};
use super::*;
use crate::testutil::{TestContainerd, tarball};

fn request(body: Bytes, name: Option<&str>, changes: &[&str]) -> ImportRequest {
    ImportRequest {
        body: futures_util::stream::iter([Ok(body)]).boxed(),
        name: name.map(|n| parse_reference(n).expect("valid name").to_string()),
        changes: changes.iter().map(|s| (*s).to_owned()).collect(),
        message: String::new(),
        source: "-".to_owned(),
    }
}

#[tokio::test]
async fn import_tag_retag_and_dangle() {
    let ctrd = TestContainerd::start().await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());

    let tar = tarball(&[("etc/hello", "hi\n"), ("bin/tool", "#!/bin/sh\n")]);
    let id = import(&store, request(tar.clone(), Some("busybox"), &[r#"CMD ["sh"]"#]))
        .await
        .expect("import");
    assert!(id.starts_with("sha256:") && id.len() == 71, "{id}");

    let found = store.find("busybox:latest").await.expect("find by name");
    assert_eq!(found.image.id, id);
    assert_eq!(found.names().collect::<Vec<_>>(), ["docker.io/library/busybox:latest"]);
    assert_eq!(found.image.config["config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(found.image.config["comment"], "Imported from -");
    assert_eq!(found.image.diff_ids().len(), 1);
    assert_eq!(store.find(&id[7..19]).await.expect("short id").image.id, id, "ID prefix");
    assert!(found.label(LABEL_TAG_TIME).is_some());
    assert!(found.label(LABEL_SIZE).and_then(|s| s.parse::<u64>().ok()).is_some_and(|s| s > 0));

    // The layer is unpacked under its chain ID.
    let chain = crate::unpack::chain_ids(&found.image.diff_ids()).remove(0);
    let stat = containerd_client::services::v1::snapshots::StatSnapshotRequest {
        snapshotter: crate::unpack::SNAPSHOTTER.into(),
        key: chain,
    };
    assert!(ctrd.conn.snapshots().stat(stat).await.is_ok(), "snapshot committed");

    // Gzip input gives the same layer (the layer is the uncompressed tar).
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&tar).expect("gzip");
    let gz = Bytes::from(gz.finish().expect("gzip"));
    let id2 = import(&store, request(gz, Some("busybox"), &[])).await.expect("gzip import");
    let again = store.find(&id2).await.expect("second image");
    assert_eq!(again.image.diff_ids(), found.image.diff_ids(), "same tar, same diff ID");

    // The tag moved to the second image; the first is kept, untagged.
    let first = store.find(&id).await.expect("first image kept as dangling");
    assert_eq!(first.names().count(), 0);
    assert_eq!(store.find("busybox").await.expect("tag").image.id, id2);

    // Tagging the first image again removes its dangling keeper.
    store
        .set_name(
            &parse_reference("old:1").expect("ref").to_string(),
            first.image.target.clone(),
            Default::default(),
        )
        .await
        .expect("tag");
    let first = store.find("old:1").await.expect("tagged");
    assert_eq!(
        first.records.len(),
        1,
        "no keeper left: {:?}",
        first.records.iter().map(|r| &r.name).collect::<Vec<_>>()
    );

    assert_eq!(store.entries().await.expect("list").len(), 2);
    ctrd.stop().await;
}

#[tokio::test]
async fn bad_input_is_refused_and_leaves_nothing() {
    let ctrd = TestContainerd::start().await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());

    let garbage = Bytes::from_static(b"this is not a tarball at all, not even close ......");
    let err = import(&store, request(garbage, Some("bad"), &[])).await.expect_err("garbage");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{err}");

    // (An empty body is an empty layer, as with dockerd: see image::import::tests.)

    let err = import(&store, request(Bytes::from_static(b"BZh91AY&SY"), None, &[]))
        .await
        .expect_err("bzip2");
    assert!(err.message().contains("bzip2"), "{err}");

    let err = import(&store, request(tarball(&[("a", "b")]), None, &["RUN true"]))
        .await
        .expect_err("RUN");
    assert_eq!(err.message(), "RUN is not a valid change command");

    // A body that fails half-way (client gone) is an error too.
    let body = futures_util::stream::iter([
        Ok(tarball(&[("a", "b")]).slice(..512)),
        Err(berth_api::Error::invalid("client disconnected")),
    ])
    .boxed();
    let req = ImportRequest {
        body,
        name: Some("half".into()),
        changes: vec![],
        message: String::new(),
        source: "-".into(),
    };
    assert!(import(&store, req).await.is_err());

    assert!(store.entries().await.expect("list").is_empty(), "no image left behind");
    assert_eq!(store.find("bad").await.expect_err("absent").kind(), ErrorKind::NotFound);
    ctrd.stop().await;
}
