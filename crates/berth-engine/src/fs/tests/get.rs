//! `docker cp` out and `docker export`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tar::EntryType;

use super::{Fixture, collect, entries, names};

fn sample() -> Fixture {
    let f = Fixture::new();
    f.file("/etc/hostname", "box\n").file("/etc/sub/b", "b").file("/etc/a", "a");
    f.symlink("/etc/link", "hostname").symlink("/etclink", "/etc");
    f
}

async fn get(f: &Fixture, path: &str) -> (berth_api::container::PathStat, Vec<u8>) {
    let (stat, stream) = crate::fs::archive_get(&f.root, path, "ctr", ()).await.expect("get");
    (stat, collect(stream).await)
}

#[tokio::test]
async fn a_file_is_one_entry_named_by_its_base() {
    let f = sample();
    let (stat, tar) = get(&f, "/etc/hostname").await;
    assert_eq!(stat.name, "hostname");
    let got = entries(&tar);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "hostname");
    assert_eq!((got[0].1.kind, got[0].1.data.as_str()), (EntryType::Regular, "box\n"));
}

#[tokio::test]
async fn a_directory_is_rebased_on_its_name_in_walk_order() {
    let f = sample();
    let (stat, tar) = get(&f, "/etc").await;
    assert_eq!(stat.name, "etc");
    assert_eq!(names(&tar), ["etc/", "etc/a", "etc/hostname", "etc/link", "etc/sub/", "etc/sub/b"]);
    let (_, tar) = get(&f, "etc/").await;
    assert_eq!(names(&tar)[0], "etc/");
}

#[tokio::test]
async fn slash_dot_means_the_contents() {
    let f = sample();
    let (stat, tar) = get(&f, "/etc/.").await;
    assert_eq!(stat.name, ".");
    assert_eq!(names(&tar), ["./", "./a", "./hostname", "./link", "./sub/", "./sub/b"]);
}

#[tokio::test]
async fn the_root_is_named_slash_as_dockerd_does() {
    let f = sample();
    let (stat, tar) = get(&f, "/").await;
    assert_eq!(stat.name, "/");
    let got = names(&tar);
    assert_eq!(got[..3], ["/", "/etc/", "/etc/a"]);
    assert!(got.contains(&"/etclink".to_owned()));
}

#[tokio::test]
async fn the_last_link_is_followed_only_with_a_trailing_slash() {
    let f = sample();
    let (stat, tar) = get(&f, "/etclink").await;
    assert_eq!((stat.name.as_str(), stat.link_target.as_str()), ("etclink", "/etc"));
    let got = entries(&tar);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "etclink");
    assert_eq!((got[0].1.kind, got[0].1.link.as_deref()), (EntryType::Symlink, Some("/etc")));

    let (stat, tar) = get(&f, "/etclink/").await;
    assert_eq!((stat.name.as_str(), stat.mode >> 31), ("etclink", 1));
    assert_eq!(names(&tar)[..2], ["etclink/", "etclink/a"]);
}

#[tokio::test]
async fn hard_links_are_linked_to_the_first_name() {
    let f = sample();
    std::fs::hard_link(f.at("/etc/a"), f.at("/etc/z")).expect("link");
    let (_, tar) = get(&f, "/etc").await;
    let got = entries(&tar);
    let z = got.iter().find(|(n, _)| n == "etc/z").expect("etc/z");
    assert_eq!((z.1.kind, z.1.link.as_deref()), (EntryType::Link, Some("etc/a")));
}

#[tokio::test]
async fn long_names_survive() {
    let f = Fixture::new();
    let (x, y) = ("x".repeat(90), "y".repeat(90));
    f.file(&format!("/d/{x}/{y}/file"), "deep").symlink("/d/long", &"t".repeat(150));
    let (_, tar) = get(&f, "/d").await;
    let got = entries(&tar);
    let file = format!("d/{x}/{y}/file");
    assert!(got.iter().any(|(n, r)| *n == file && r.data == "deep"), "{:?}", names(&tar));
    let long = got.iter().find(|(n, _)| n == "d/long").expect("d/long");
    assert_eq!(long.1.link.as_deref(), Some("t".repeat(150).as_str()));
}

#[tokio::test]
async fn devices_and_fifos_are_archived() {
    let f = Fixture::new();
    f.dir("/dev");
    nix::sys::stat::mknod(
        &f.at("/dev/null"),
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .expect("mknod (tests run as root)");
    nix::unistd::mkfifo(&f.at("/dev/fifo"), nix::sys::stat::Mode::from_bits_truncate(0o600))
        .expect("mkfifo");
    let (_, tar) = get(&f, "/dev").await;
    let mut archive = tar::Archive::new(tar.as_slice());
    let mut seen = Vec::new();
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        let header = entry.header();
        seen.push((
            String::from_utf8_lossy(&entry.path_bytes()).into_owned(),
            header.entry_type(),
            header.device_major().expect("major"),
            header.device_minor().expect("minor"),
        ));
    }
    assert_eq!(seen[1], ("dev/fifo".to_owned(), EntryType::Fifo, Some(0), Some(0)));
    assert_eq!(seen[2], ("dev/null".to_owned(), EntryType::Char, Some(1), Some(3)));
}

#[tokio::test]
async fn hostile_links_do_not_reach_the_host() {
    let f = Fixture::new();
    f.file("/secret-in-container", "mine");
    f.symlink("/slash", "/").symlink("/h", &f.host_path());
    let climb = format!("../../../../../../..{}", f.host_path());
    f.symlink("/up", &climb);

    // `/slash/` is the container's own root, not the host's.
    let (_, tar) = get(&f, "/slash/").await;
    assert!(names(&tar).contains(&"slash/secret-in-container".to_owned()));
    for path in ["/h/sentinel", "/up/sentinel", "/slash/../../../.."] {
        match crate::fs::archive_get(&f.root, path, "ctr", ()).await {
            Err(err) => assert_eq!(err.status().as_u16(), 404, "{path}"),
            Ok((_, stream)) => {
                let tar = collect(stream).await;
                assert!(!String::from_utf8_lossy(&tar).contains("host secret"), "{path}");
            }
        }
    }
    f.assert_host_untouched();
}

#[tokio::test]
async fn missing_paths_are_404() {
    let f = sample();
    let Err(err) = crate::fs::archive_get(&f.root, "/nope", "ctr", ()).await else {
        panic!("a missing path archived");
    };
    assert_eq!(err.message(), "Could not find the file /nope in container ctr");
}

/// Sets a flag when dropped.
struct Guard(Arc<AtomicBool>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_dropped_stream_stops_the_work_and_releases_the_guard() {
    let f = Fixture::new();
    let big = vec![b'x'; 32 * 1024 * 1024];
    std::fs::write(f.at("/big"), &big).expect("big file");
    let dropped = Arc::new(AtomicBool::new(false));
    let (_, mut stream) =
        crate::fs::archive_get(&f.root, "/big", "ctr", Guard(dropped.clone())).await.expect("get");
    let first = stream.next().await.expect("a chunk").expect("bytes");
    assert!(!first.is_empty());
    assert!(!dropped.load(Ordering::SeqCst), "the guard lives while the stream is read");
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) {
        assert!(Instant::now() < deadline, "the tar task did not stop");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn export_is_every_file_relative_without_a_root_entry() {
    let f = sample();
    let stream = crate::fs::export(&f.root, ()).await.expect("export");
    let tar = collect(stream).await;
    assert_eq!(
        names(&tar),
        ["etc/", "etc/a", "etc/hostname", "etc/link", "etc/sub/", "etc/sub/b", "etclink"]
    );
}
