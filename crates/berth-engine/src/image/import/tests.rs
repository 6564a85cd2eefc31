//! `docker import` of what is not a tar archive, and of archives that are odd but valid, against
//! a real, private containerd.

use std::collections::HashMap;
use std::io::Write;

use berth_api::ErrorKind;
use bytes::Bytes;
use containerd_client::services::v1::snapshots::{RemoveSnapshotRequest, ViewSnapshotRequest};
use futures_util::StreamExt;

use super::{ImportRequest, check_first_block, import, tar_error};
use crate::image::Store;
use crate::testutil::{TestContainerd, tarball};
use crate::unpack::{SNAPSHOTTER, chain_ids};

/// The diff ID of an archive of two zero blocks: Docker's well-known empty layer.
const EMPTY_LAYER: &str = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

fn request(body: Bytes, name: Option<&str>) -> ImportRequest {
    ImportRequest {
        body: futures_util::stream::iter([Ok(body)]).boxed(),
        name: name.map(|n| crate::image::parse_reference(n).expect("valid name").to_string()),
        changes: Vec::new(),
        message: String::new(),
        source: "-".to_owned(),
    }
}

fn gzip(data: &[u8]) -> Bytes {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(data).expect("gzip");
    Bytes::from(gz.finish().expect("gzip"))
}

/// A tar header block for `name` of type `kind` with `size` bytes of data, checksum set.
fn header(name: &str, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_path(name).expect("name");
    header.set_entry_type(kind);
    header.set_size(size);
    header.set_mode(0o755);
    header.set_mtime(1_700_000_000);
    header.set_cksum();
    header
}

#[test]
fn the_first_block_is_checked_as_go_reads_it() {
    let valid = tarball(&[("a", "b")]);
    assert!(check_first_block(&valid[..512]).is_ok());
    assert!(check_first_block(&[]).is_ok(), "nothing: the caller's business");
    assert!(check_first_block(&[0; 512]).is_ok(), "the end of an empty archive");

    let short = check_first_block(b"not a tar").expect_err("short");
    assert_eq!(short.message(), "import: not a valid tar archive: unexpected EOF");
    assert_eq!(short.kind(), ErrorKind::InvalidParameter);
    let text = b"definitely not a tarball ".repeat(30);
    let bad = check_first_block(&text[..512]).expect_err("text");
    assert_eq!(bad.message(), "import: not a valid tar archive: archive/tar: invalid tar header");

    // One byte changed: the checksum no longer matches.
    let mut corrupt = valid[..512].to_vec();
    corrupt[0] ^= 1;
    assert!(check_first_block(&corrupt).is_err());
    // Go also accepts the sum counted with signed bytes (old writers), in a field padded with
    // spaces rather than zeros.
    let sum = |block: &[u8], signed: bool| -> i64 {
        let byte = |b: u8| if signed { i64::from(b as i8) } else { i64::from(b) };
        block
            .iter()
            .enumerate()
            .map(|(i, b)| if (148..156).contains(&i) { 32 } else { byte(*b) })
            .sum()
    };
    let mut high = tar::Header::new_gnu();
    high.set_path("\u{e9}t\u{e9}").expect("name");
    high.set_size(0);
    let block = high.as_mut_bytes();
    let signed = sum(block, true);
    assert_ne!(signed, sum(block, false), "bytes over 127 make the sums differ");
    block[148..156].copy_from_slice(format!("{signed:>7o}\0").as_bytes());
    assert!(check_first_block(block).is_ok(), "signed checksum");
    let mut padded = header("spaces", tar::EntryType::Regular, 0).as_bytes().to_vec();
    let unsigned = sum(&padded, false);
    padded[148..156].copy_from_slice(format!("{unsigned:>7o}\0").as_bytes());
    assert!(check_first_block(&padded).is_ok(), "space-padded checksum");
}

#[test]
fn apply_errors_are_told_apart() {
    let mount = "apply layer: mount callback failed on /tmp/x/containerd-mount1: ";
    assert_eq!(
        tar_error(&format!("{mount}archive/tar: invalid tar header")),
        Some("archive/tar: invalid tar header")
    );
    assert_eq!(tar_error(&format!("{mount}unexpected EOF")), Some("unexpected EOF"));
    assert_eq!(tar_error(&format!("{mount}write /tmp/x/f: no space left on device")), None);
    assert_eq!(tar_error("snapshot prepare: containerd is not available"), None);
}

#[tokio::test]
async fn what_is_not_a_tar_archive_is_refused_and_leaves_no_image() {
    let ctrd = TestContainerd::start().await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());

    let text = b"definitely not a tarball, just some text that goes on and on\n".repeat(40);
    let mut zero_then_text = vec![0u8; 512];
    zero_then_text.extend_from_slice(&text);
    // A header promising 4096 bytes, followed by 100.
    let mut cut = header("big", tar::EntryType::Regular, 4096).as_bytes().to_vec();
    cut.extend_from_slice(&[b'x'; 100]);
    let invalid_header = "import: not a valid tar archive: archive/tar: invalid tar header";
    let eof = "import: not a valid tar archive: unexpected EOF";
    let cases: Vec<(&str, Bytes, &str)> = vec![
        ("the e2e check's text", Bytes::from_static(b"definitely not a tarball"), eof),
        ("a page of text", Bytes::from(text.clone()), invalid_header),
        ("gzip of text", gzip(&text), invalid_header),
        ("a short run of zeros", Bytes::from(vec![0u8; 100]), eof),
        // Past the first block: containerd's reader finds these.
        ("a zero block, then text", Bytes::from(zero_then_text), invalid_header),
        ("a file cut short", Bytes::from(cut), eof),
    ];
    for (what, body, want) in cases {
        let err = import(&store, request(body, Some("bad"))).await.expect_err(what);
        assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{what}: {err}");
        assert_eq!(err.message(), want, "{what}");
    }
    let err = import(&store, request(Bytes::from_static(&[0x1f, 0x8b, 8, 0, 1, 2]), None))
        .await
        .expect_err("a corrupt gzip stream");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{err}");
    assert!(err.message().starts_with("import: cannot read the tarball"), "{err}");

    assert!(store.entries().await.expect("list").is_empty(), "no image left behind");
    ctrd.stop().await;
}

#[tokio::test]
async fn an_empty_archive_is_an_empty_layer_as_with_dockerd() {
    let ctrd = TestContainerd::start().await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());
    // Two zero blocks (Go's writer), ten (GNU tar's record), and the same gzipped.
    let bodies = [Bytes::from(vec![0u8; 1024]), Bytes::from(vec![0u8; 10240]), gzip(&[0; 1024])];
    for (i, body) in bodies.into_iter().enumerate() {
        let name = format!("empty:{i}");
        let id = import(&store, request(body, Some(&name))).await.expect("an empty archive");
        let found = store.find(&name).await.expect("imported");
        assert_eq!(found.image.id, id);
        let diff_ids = found.image.diff_ids();
        if i == 1 {
            assert_eq!(diff_ids.len(), 1, "one layer, whatever its trailing zeros");
        } else {
            assert_eq!(diff_ids, [EMPTY_LAYER], "the layer is the two zero blocks");
        }
    }
    // Nothing at all: dockerd imports it too, as a layer whose diff ID is the digest of
    // nothing.
    let id = import(&store, request(Bytes::new(), Some("empty:nothing"))).await.expect("nothing");
    let found = store.find("empty:nothing").await.expect("imported");
    assert_eq!(found.image.id, id);
    assert_eq!(
        found.image.diff_ids(),
        ["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
    );
    ctrd.stop().await;
}

#[tokio::test]
async fn every_entry_reaches_the_layer_and_later_ones_win() {
    // The report behind this test: an archive whose `bin/busybox` came last as a symlink to
    // itself "came out empty". It does not: the link replaces the file, as with dockerd.
    let ctrd = TestContainerd::start().await;
    let store = Store::new(ctrd.conn.clone(), Vec::new());
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = header("bin/", tar::EntryType::Directory, 0);
    builder.append(&dir, std::io::empty()).expect("dir");
    let mut file = header("bin/busybox", tar::EntryType::Regular, 6);
    builder.append(&file, &b"binary"[..]).expect("file");
    for (name, target) in [("bin/sh", "busybox"), ("bin/busybox", "busybox")] {
        let mut link = header(name, tar::EntryType::Symlink, 0);
        link.set_link_name(target).expect("target");
        link.set_cksum();
        builder.append(&link, std::io::empty()).expect("link");
    }
    file = header("etc/hostname", tar::EntryType::Regular, 4);
    builder.append(&file, &b"box\n"[..]).expect("file");
    dir = header("empty/", tar::EntryType::Directory, 0);
    builder.append(&dir, std::io::empty()).expect("dir");
    let archive = Bytes::from(builder.into_inner().expect("tar"));

    import(&store, request(archive, Some("selflink"))).await.expect("import");
    let found = store.find("selflink").await.expect("imported");
    let chain = chain_ids(&found.image.diff_ids()).remove(0);
    let key = format!("berth-test-view-{}", uuid::Uuid::new_v4());
    let view = ViewSnapshotRequest {
        snapshotter: SNAPSHOTTER.to_owned(),
        key: key.clone(),
        parent: chain,
        labels: HashMap::new(),
    };
    let mounts = ctrd.conn.snapshots().view(view).await.expect("view").into_inner().mounts;
    let scratch = ctrd.dir.path().join("views");
    {
        let temp = crate::fs::TempMount::new(mounts, &scratch).expect("mount the layer");
        let root = temp.path();
        let link = |name: &str| std::fs::read_link(root.join(name)).expect("a symlink");
        assert_eq!(link("bin/sh"), std::path::Path::new("busybox"));
        assert_eq!(link("bin/busybox"), std::path::Path::new("busybox"), "the later entry won");
        assert_eq!(std::fs::read_to_string(root.join("etc/hostname")).expect("read"), "box\n");
        assert!(root.join("empty").is_dir());
    }
    let remove = RemoveSnapshotRequest { snapshotter: SNAPSHOTTER.to_owned(), key };
    ctrd.conn.snapshots().remove(remove).await.expect("remove the view");
    ctrd.stop().await;
}
