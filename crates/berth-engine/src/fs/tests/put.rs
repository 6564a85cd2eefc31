//! `docker cp` in, hostile archives first. Everything is extracted below `/dst` of the root,
//! which the host does not have: were the confinement ever broken, the writes would fail there
//! instead of landing on the host's own files.

use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use super::{Entry, Fixture, body, collect, tar, tree};

async fn put(f: &Fixture, path: &str, archive: Vec<u8>) -> berth_api::Result<()> {
    assert!(path.starts_with("/dst"), "extract below /dst only");
    crate::fs::archive_put(&f.root, path, "ctr", false, false, None, body(archive)).await
}

#[tokio::test]
async fn get_then_put_copies_a_tree() {
    let from = Fixture::new();
    from.file("/app/bin/run", "#!/bin/sh\n").chmod("/app/bin/run", 0o4755);
    from.file("/app/conf/a.conf", "a=1").chmod("/app/conf", 0o700);
    from.symlink("/app/current", "bin/run").symlink("/app/abs", "/etc/passwd");
    std::fs::hard_link(from.at("/app/conf/a.conf"), from.at("/app/conf/b.conf")).expect("link");
    let long = "n".repeat(120);
    from.file(&format!("/app/{long}"), "long");

    let (_, stream) = crate::fs::archive_get(&from.root, "/app", "a", ()).await.expect("get");
    let archive = collect(stream).await;
    let to = Fixture::new();
    to.dir("/dst");
    put(&to, "/dst", archive).await.expect("put");

    assert_eq!(tree(&to.at("/dst")), tree(&from.root));
    let a = std::fs::metadata(to.at("/dst/app/conf/a.conf")).expect("a");
    let b = std::fs::metadata(to.at("/dst/app/conf/b.conf")).expect("b");
    assert_eq!(a.ino(), b.ino(), "hard links stay linked");
    let src = std::fs::metadata(from.at("/app/bin/run")).expect("src");
    let dst = std::fs::metadata(to.at("/dst/app/bin/run")).expect("dst");
    assert_eq!(dst.mtime(), src.mtime(), "modification times are restored");
    let dir_src = std::fs::metadata(from.at("/app/conf")).expect("src");
    let dir_dst = std::fs::metadata(to.at("/dst/app/conf")).expect("dst");
    assert_eq!(dir_dst.mtime(), dir_src.mtime(), "directory times are set last");
}

#[tokio::test]
async fn gzip_bodies_are_decompressed() {
    let f = Fixture::new();
    f.dir("/dst");
    let archive = tar(&[Entry::Dir("d/"), Entry::File("d/f", "zipped")]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&archive).expect("gzip");
    put(&f, "/dst", gz.finish().expect("gzip")).await.expect("put");
    assert_eq!(std::fs::read_to_string(f.at("/dst/d/f")).expect("read"), "zipped");
}

#[tokio::test]
async fn other_compressions_are_refused() {
    let f = Fixture::new();
    f.dir("/dst");
    let err = put(&f, "/dst", b"BZh91AY&SY and more".to_vec()).await.expect_err("bzip2");
    assert_eq!(err.status().as_u16(), 400);
}

#[tokio::test]
async fn an_empty_body_extracts_nothing() {
    let f = Fixture::new();
    f.dir("/dst");
    put(&f, "/dst", Vec::new()).await.expect("empty");
    assert!(tree(&f.at("/dst")).is_empty());
}

#[tokio::test]
async fn the_extraction_point_must_be_an_existing_directory() {
    let f = Fixture::new();
    f.file("/dst/file", "x").symlink("/dst/dirlink", "/dst/d").dir("/dst/d");
    let err = put(&f, "/dst/missing", tar(&[])).await.expect_err("missing");
    assert_eq!(err.status().as_u16(), 404);
    assert_eq!(err.message(), "Could not find the file /dst/missing in container ctr");
    let err = put(&f, "/dst/file", tar(&[])).await.expect_err("a file");
    assert_eq!(err.status().as_u16(), 400);
    assert_eq!(err.message(), "extraction point is not a directory");
    // A symlink to a directory is followed, last element included.
    put(&f, "/dst/dirlink", tar(&[Entry::File("x", "through the link")])).await.expect("put");
    assert_eq!(std::fs::read_to_string(f.at("/dst/d/x")).expect("read"), "through the link");
}

#[tokio::test]
async fn dot_dot_names_fail_and_write_nothing_outside() {
    let f = Fixture::new();
    f.dir("/dst/a/b");
    for name in ["../escaped", "a/../../escaped", "../../../host/sentinel"] {
        let err = put(&f, "/dst/a/b", tar(&[Entry::File(name, "pwned")])).await.expect_err(name);
        assert_eq!(err.status().as_u16(), 400, "{name}");
        assert_eq!(err.message(), format!("invalid entry name {name:?}"));
    }
    assert!(!f.at("/dst/a/escaped").exists() && !f.at("/dst/escaped").exists());
    f.assert_host_untouched();
}

#[tokio::test]
async fn absolute_names_are_relative_to_the_extraction_point() {
    let f = Fixture::new();
    f.dir("/dst");
    let host_file = format!("{}/sentinel", f.host_path());
    put(&f, "/dst", tar(&[Entry::File("/abs", "a"), Entry::File(&host_file, "pwned")]))
        .await
        .expect("put");
    assert_eq!(std::fs::read_to_string(f.at("/dst/abs")).expect("read"), "a");
    assert_eq!(std::fs::read_to_string(f.at(&format!("/dst{host_file}"))).expect("read"), "pwned");
    f.assert_host_untouched();
}

#[tokio::test]
async fn writing_through_a_symlink_from_the_archive_stays_inside() {
    let f = Fixture::new();
    let host = f.host_path();
    let archive = tar(&[
        Entry::Symlink("slash", "/"),
        Entry::File("slash/etc/passwd", "root::0:0"),
        Entry::Symlink("abs", &host),
        Entry::File("abs/sentinel", "pwned"),
        Entry::File("abs/new", "pwned"),
    ]);
    f.dir("/dst");
    put(&f, "/dst", archive).await.expect("put");
    f.assert_host_untouched();
    assert_eq!(std::fs::read_to_string(f.at("/dst/etc/passwd")).expect("read"), "root::0:0");
    let inside = f.at(&format!("/dst{host}"));
    assert_eq!(std::fs::read_to_string(inside.join("sentinel")).expect("read"), "pwned");
    assert_eq!(std::fs::read_to_string(inside.join("new")).expect("read"), "pwned");
    // A relative link climbing above the extraction point is refused, as dockerd refuses it.
    let climb = format!("../../../../../../../../..{host}");
    let archive = tar(&[Entry::Symlink("up", &climb), Entry::File("up/new2", "pwned")]);
    let err = put(&f, "/dst", archive).await.expect_err("a climbing link");
    assert_eq!(err.status().as_u16(), 400);
    assert_eq!(err.message(), format!("invalid symlink \"up\" -> {climb:?}"));
    f.assert_host_untouched();
}

#[tokio::test]
async fn symlinks_planted_in_the_container_stay_inside() {
    let f = Fixture::new();
    let host = f.host_path();
    f.symlink("/dst/planted", &host).symlink("/dst/rel", "../../../../../../../../../..");
    // The extraction point itself through a planted link: not on the host.
    let err =
        put(&f, "/dst/planted", tar(&[Entry::File("x", "pwned")])).await.expect_err("missing");
    assert_eq!(err.status().as_u16(), 404);
    // Entries through planted links.
    put(&f, "/dst", tar(&[Entry::File("planted/sentinel", "pwned")])).await.expect("put");
    put(&f, "/dst", tar(&[Entry::File(&format!("rel{host}/new"), "pwned")])).await.expect("put");
    f.assert_host_untouched();
    assert_eq!(
        std::fs::read_to_string(f.at(&format!("/dst{host}/sentinel"))).expect("inside"),
        "pwned"
    );
    // `rel` leads to the extraction point's root: `/dst` is `/` for the archive.
    assert_eq!(std::fs::read_to_string(f.at(&format!("/dst{host}/new"))).expect("inside"), "pwned");
}

#[tokio::test]
async fn hard_links_cannot_reach_outside() {
    let f = Fixture::new();
    f.file("/dst/etc/shadow", "container shadow");
    let sentinel = format!("{}/sentinel", f.host_path());
    for target in ["../../../host/sentinel", "../../../../../etc/shadow", "/../etc/shadow"] {
        let err = put(&f, "/dst", tar(&[Entry::Hardlink("h", target)])).await.expect_err(target);
        assert_eq!(err.status().as_u16(), 400, "{target}");
        assert_eq!(err.message(), format!("invalid hardlink target {target:?}"));
    }
    // Absolute targets are taken from the extraction point; the host's file is not there.
    let err = put(&f, "/dst", tar(&[Entry::Hardlink("h", &sentinel)])).await.expect_err("missing");
    assert_eq!(err.status().as_u16(), 400);
    assert_eq!(
        err.message(),
        format!("cannot extract \"h\": hardlink target {sentinel:?} does not exist")
    );
    // Through a link to the host: resolved inside, where it does not exist.
    let archive = tar(&[Entry::Symlink("l", &f.host_path()), Entry::Hardlink("h", "l/sentinel")]);
    let err = put(&f, "/dst", archive).await.expect_err("missing inside");
    assert_eq!(err.status().as_u16(), 400);
    // A legitimate absolute target inside the extraction point works.
    put(&f, "/dst", tar(&[Entry::Hardlink("h", "/etc/shadow")])).await.expect("link");
    let a = std::fs::metadata(f.at("/dst/h")).expect("h");
    let b = std::fs::metadata(f.at("/dst/etc/shadow")).expect("shadow");
    assert_eq!(a.ino(), b.ino());
    f.assert_host_untouched();
}

#[tokio::test]
async fn no_overwrite_dir_non_dir() {
    let f = Fixture::new();
    f.dir("/dst/d").file("/dst/f", "file");
    let strict =
        |archive| crate::fs::archive_put(&f.root, "/dst", "ctr", true, false, None, body(archive));
    let err = strict(tar(&[Entry::File("d", "x")])).await.expect_err("dir → file");
    assert_eq!(err.message(), r#"cannot overwrite directory "d" with non-directory "/dst""#);
    let err = strict(tar(&[Entry::Dir("f/")])).await.expect_err("file → dir");
    assert_eq!(err.message(), r#"cannot overwrite non-directory "f" with directory "/dst""#);
    // Without the flag both are replaced.
    put(&f, "/dst", tar(&[Entry::File("d", "now a file"), Entry::Dir("f/")])).await.expect("put");
    assert_eq!(std::fs::read_to_string(f.at("/dst/d")).expect("read"), "now a file");
    assert!(f.at("/dst/f").is_dir());
}

#[tokio::test]
async fn a_replaced_directory_is_removed_with_its_contents() {
    let f = Fixture::new();
    f.file("/dst/d/sub/deep", "x").symlink("/dst/d/link", &f.host_path());
    put(&f, "/dst", tar(&[Entry::File("d", "file")])).await.expect("put");
    assert_eq!(std::fs::read_to_string(f.at("/dst/d")).expect("read"), "file");
    f.assert_host_untouched();
}

#[tokio::test]
async fn owners_follow_copy_uid_gid() {
    let f = Fixture::new();
    let archive = || tar(&[Entry::Dir("d/"), Entry::File("d/f", "x"), Entry::Symlink("d/l", "f")]);
    let owner = |rel: &str| {
        let meta = std::fs::symlink_metadata(f.at(rel)).expect("lstat");
        (meta.uid(), meta.gid())
    };
    f.dir("/dst/keep").dir("/dst/user").dir("/dst/nouser");
    put(&f, "/dst/keep", archive()).await.expect("put");
    for rel in ["/dst/keep/d", "/dst/keep/d/f", "/dst/keep/d/l"] {
        assert_eq!(owner(rel), (4321, 8765), "archive owners kept: {rel}");
    }
    let with_user = crate::fs::archive_put(
        &f.root,
        "/dst/user",
        "ctr",
        false,
        true,
        Some((1000, 1001)),
        body(archive()),
    );
    with_user.await.expect("put");
    for rel in ["/dst/user/d", "/dst/user/d/f", "/dst/user/d/l"] {
        assert_eq!(owner(rel), (1000, 1001), "the container user: {rel}");
    }
    let without_user =
        crate::fs::archive_put(&f.root, "/dst/nouser", "ctr", false, true, None, body(archive()));
    without_user.await.expect("put");
    assert_eq!(owner("/dst/nouser/d/f"), (4321, 8765), "no User: archive owners");
}

#[tokio::test]
async fn device_nodes_are_created() {
    let f = Fixture::new();
    f.dir("/dst");
    put(&f, "/dst", tar(&[Entry::Char("dev/null", 1, 3)])).await.expect("put");
    let meta = std::fs::symlink_metadata(f.at("/dst/dev/null")).expect("lstat");
    assert!(meta.file_type().is_char_device());
    assert_eq!(meta.rdev(), nix::sys::stat::makedev(1, 3));
    assert_eq!(std::fs::metadata(f.at("/dst/dev")).expect("dev").mode() & 0o7777, 0o755);
}

#[tokio::test]
async fn modes_are_exact_whatever_the_umask() {
    let f = Fixture::new();
    let mut archive = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mode(0o2777);
    header.set_size(0);
    header.set_path("open").expect("path");
    header.set_cksum();
    archive.append(&header, &b""[..]).expect("append");
    f.dir("/dst");
    put(&f, "/dst", archive.into_inner().expect("tar")).await.expect("put");
    assert_eq!(std::fs::metadata(f.at("/dst/open")).expect("meta").mode() & 0o7777, 0o2777);
}
