//! `PathStat`s.

use std::os::unix::fs::MetadataExt;

use super::Fixture;
use crate::fs::stat::{go_mode, rfc3339_nano};

#[test]
fn modes_are_go_file_modes() {
    assert_eq!(go_mode(0o040755), 2_147_484_141, "a 0755 directory");
    assert_eq!(go_mode(0o100644), 0o644);
    assert_eq!(go_mode(0o120777), (1 << 27) | 0o777);
    assert_eq!(go_mode(0o020620), (1 << 26) | (1 << 21) | 0o620, "a char device");
    assert_eq!(go_mode(0o060660), (1 << 26) | 0o660, "a block device");
    assert_eq!(go_mode(0o010644), (1 << 25) | 0o644);
    assert_eq!(go_mode(0o140755), (1 << 24) | 0o755);
    assert_eq!(go_mode(0o104755), (1 << 23) | 0o755, "setuid");
    assert_eq!(go_mode(0o102755), (1 << 22) | 0o755, "setgid");
    assert_eq!(go_mode(0o041777), (1 << 31) | (1 << 20) | 0o777, "sticky /tmp");
}

#[test]
fn times_are_rfc3339_nano_as_go_marshals_them() {
    assert_eq!(rfc3339_nano(0, 0), "1970-01-01T00:00:00Z");
    assert_eq!(rfc3339_nano(1_700_000_000, 120_000_000), "2023-11-14T22:13:20.12Z");
    assert_eq!(rfc3339_nano(1_700_000_000, 1), "2023-11-14T22:13:20.000000001Z");
}

#[tokio::test]
async fn a_directory_a_file_and_a_symlink() {
    let f = Fixture::new();
    f.file("/etc/hostname", "box\n").chmod("/etc", 0o755).chmod("/etc/hostname", 0o644);
    f.symlink("/etc/link", "../etc/./hostname");

    let dir = crate::fs::stat(&f.root, "/etc", "ctr").await.expect("stat");
    assert_eq!(dir.name, "etc");
    assert_eq!(dir.mode, 2_147_484_141);
    assert_eq!(dir.link_target, "");

    let file = crate::fs::stat(&f.root, "/etc/hostname", "ctr").await.expect("stat");
    let meta = std::fs::metadata(f.at("/etc/hostname")).expect("meta");
    assert_eq!((file.name.as_str(), file.size, file.mode), ("hostname", 4, 0o644));
    assert_eq!(file.mtime, rfc3339_nano(meta.mtime(), meta.mtime_nsec()));

    let link = crate::fs::stat(&f.root, "/etc/link", "ctr").await.expect("stat");
    assert_eq!(link.name, "link");
    assert_eq!(link.mode, (1 << 27) | 0o777);
    assert_eq!(link.link_target, "/etc/hostname", "fully resolved, as dockerd");

    // A trailing slash follows the last link, as lstat does.
    f.symlink("/dirlink", "/etc");
    let followed = crate::fs::stat(&f.root, "/dirlink/", "ctr").await.expect("stat");
    assert_eq!((followed.name.as_str(), followed.mode), ("dirlink", 2_147_484_141));

    // dockerd takes a relative path from `/`.
    let relative = crate::fs::stat(&f.root, "etc/hostname", "ctr").await.expect("stat");
    assert_eq!(relative.name, "hostname");
}

#[tokio::test]
async fn missing_files_are_dockerds_404() {
    let f = Fixture::new();
    let err = crate::fs::stat(&f.root, "/nope/x", "web").await.expect_err("missing");
    assert_eq!(err.status().as_u16(), 404);
    assert_eq!(err.message(), "Could not find the file /nope/x in container web");
}

#[tokio::test]
async fn a_trailing_slash_on_a_file_is_dockerds_500() {
    let f = Fixture::new();
    f.file("/f", "x");
    let err = crate::fs::stat(&f.root, "/f/", "web").await.expect_err("not a dir");
    assert_eq!(err.status().as_u16(), 500);
    assert_eq!(err.message(), "lstat /f/: not a directory");
}

#[tokio::test]
async fn hostile_links_do_not_reach_the_host() {
    let f = Fixture::new();
    let climb = format!("../../../../../../../..{}", f.host_path());
    f.symlink("/up", &climb).symlink("/abs", &f.host_path());
    for path in ["/up/sentinel", "/abs/sentinel"] {
        let err = crate::fs::stat(&f.root, path, "web").await.expect_err("not in the root");
        assert_eq!(err.status().as_u16(), 404, "{path}");
    }
    // The link itself is there, and says where it leads inside the container.
    let link = crate::fs::stat(&f.root, "/abs", "web").await.expect("stat");
    assert_eq!(link.link_target, f.host_path());
}
