//! Hostile archives and hostile trees, one attack per test: nothing outside the root changes
//! (the fixture's "host" next to it, and the real host's `/`, `/tmp` and `/etc`), and what is
//! refused is a 4xx naming the problem.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use tar::{EntryType, Header};

use super::{Fixture, body, collect, names};

/// An archive written entry by entry with names and link targets byte for byte (long ones
/// through GNU `././@LongLink` entries), as no honest writer makes them.
struct Tar(tar::Builder<Vec<u8>>);

impl Tar {
    fn new() -> Self {
        Self(tar::Builder::new(Vec::new()))
    }

    fn entry(&mut self, name: &[u8], kind: EntryType, mode: u32, link: &[u8], data: &[u8]) {
        if name.len() > 100 {
            self.long(EntryType::GNULongName, name);
        }
        if link.len() > 100 {
            self.long(EntryType::GNULongLink, link);
        }
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(mode);
        header.set_uid(4321);
        header.set_gid(8765);
        header.set_mtime(1_000_000_000);
        header.set_size(data.len() as u64);
        let old = header.as_old_mut();
        let n = name.len().min(100);
        old.name[..n].copy_from_slice(&name[..n]);
        let n = link.len().min(100);
        old.linkname[..n].copy_from_slice(&link[..n]);
        header.set_cksum();
        self.0.append(&header, data).expect("append");
    }

    fn file(&mut self, name: &str, data: &str) -> &mut Self {
        self.entry(name.as_bytes(), EntryType::Regular, 0o644, b"", data.as_bytes());
        self
    }

    fn dir(&mut self, name: &str) -> &mut Self {
        self.entry(name.as_bytes(), EntryType::Directory, 0o755, b"", b"");
        self
    }

    fn symlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), EntryType::Symlink, 0o777, target.as_bytes(), b"");
        self
    }

    fn hardlink(&mut self, name: &str, target: &str) -> &mut Self {
        self.entry(name.as_bytes(), EntryType::Link, 0o644, target.as_bytes(), b"");
        self
    }

    fn device(&mut self, name: &str, kind: EntryType, major: u32, minor: u32) -> &mut Self {
        let mut header = Header::new_gnu();
        header.set_entry_type(kind);
        header.set_mode(0o620);
        header.set_size(0);
        header.set_device_major(major).expect("major");
        header.set_device_minor(minor).expect("minor");
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        self.0.append(&header, std::io::empty()).expect("append");
        self
    }

    /// A GNU long name or long link entry carrying `value` for the next entry.
    fn long(&mut self, kind: EntryType, value: &[u8]) {
        let mut header = Header::new_gnu();
        header.as_old_mut().name[..13].copy_from_slice(b"././@LongLink");
        header.set_entry_type(kind);
        header.set_mode(0o644);
        header.set_size(value.len() as u64 + 1);
        header.set_cksum();
        self.0.append(&header, [value, b"\0"].concat().as_slice()).expect("append");
    }

    /// A PAX extended header with `records` for the next entry.
    fn pax(&mut self, records: &[(&str, &[u8])]) -> &mut Self {
        let mut data = Vec::new();
        for (key, value) in records {
            let rest = key.len() + value.len() + 3;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            data.extend_from_slice(format!("{len} {key}=").as_bytes());
            data.extend_from_slice(value);
            data.push(b'\n');
        }
        let mut header = Header::new_ustar();
        header.set_path("PaxHeaders/next").expect("name");
        header.set_entry_type(EntryType::XHeader);
        header.set_mode(0o644);
        header.set_size(data.len() as u64);
        header.set_cksum();
        self.0.append(&header, data.as_slice()).expect("append");
        self
    }

    fn finish(&mut self) -> Vec<u8> {
        let builder = std::mem::replace(&mut self.0, tar::Builder::new(Vec::new()));
        builder.into_inner().expect("finish")
    }
}

/// Extracts below `/dst` only: the host has none, so a broken confinement fails there instead
/// of writing over the host's own files.
async fn put(f: &Fixture, path: &str, archive: Vec<u8>) -> berth_api::Result<()> {
    assert!(path.starts_with("/dst"), "extract below /dst only");
    crate::fs::archive_put(&f.root, path, "ctr", false, false, None, body(archive)).await
}

/// A name that must never appear on the real host.
fn marker() -> String {
    format!("berth-escape-{}", uuid::Uuid::new_v4().simple())
}

fn assert_not_on_host(marker: &str) {
    for dir in ["/", "/tmp", "/etc", "/root"] {
        let path = Path::new(dir).join(marker);
        assert!(std::fs::symlink_metadata(&path).is_err(), "{} exists", path.display());
    }
}

/// `err` is a 400 whose message is `want`.
fn assert_400(err: &berth_api::Error, want: &str) {
    assert_eq!(err.status().as_u16(), 400, "{}", err.message());
    assert_eq!(err.message(), want);
}

fn read(f: &Fixture, rel: &str) -> String {
    std::fs::read_to_string(f.at(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

#[tokio::test]
async fn names_climbing_out_are_400_and_write_nothing() {
    let f = Fixture::new();
    f.dir("/dst/sub");
    let m = marker();
    let long_climb = format!("{}{m}", "../".repeat(60));
    let names = [
        format!("../{m}"),
        format!("a/../../{m}"),
        format!("/../{m}"),
        format!("./../{m}"),
        format!("a/./b/../../../{m}"),
        format!("../../../../../../../../tmp/{m}"),
        long_climb,
    ];
    for name in &names {
        let archive = {
            let mut tar = Tar::new();
            tar.file("before", "kept");
            tar.entry(name.as_bytes(), EntryType::Regular, 0o644, b"", b"pwned");
            tar.finish()
        };
        let err = put(&f, "/dst/sub", archive).await.expect_err(name);
        assert_eq!(err.status().as_u16(), 400, "{name}: {}", err.message());
        assert!(err.message().starts_with("invalid entry name "), "{}", err.message());
        // Entries before the bad one are in, as with dockerd (it extracts as it reads).
        assert_eq!(read(&f, "/dst/sub/before"), "kept");
    }
    // The same through a PAX `path` record, which overrides the header's name.
    let archive =
        Tar::new().pax(&[("path", format!("../{m}").as_bytes())]).file("fine", "x").finish();
    let err = put(&f, "/dst/sub", archive).await.expect_err("pax");
    assert_400(&err, &format!("invalid entry name \"../{m}\""));
    assert!(!f.at("/dst/sub/fine").exists(), "the header's own name is not used instead");

    assert!(!f.at(&format!("/dst/{m}")).exists() && !f.at(&format!("/{m}")).exists());
    assert!(!f.at(&format!("/tmp/{m}")).exists());
    assert_not_on_host(&m);
    f.assert_host_untouched();
}

#[tokio::test]
async fn absolute_names_and_link_targets_are_taken_from_the_extraction_point() {
    let f = Fixture::new();
    f.dir("/dst");
    let m = marker();
    let host = f.host_path();
    let archive = Tar::new()
        .file(&format!("/tmp/{m}"), "a")
        .file(&format!("//{m}"), "b")
        .file(&format!("{host}/sentinel"), "pwned")
        .hardlink(&format!("{m}-link"), &format!("/tmp/{m}"))
        .finish();
    put(&f, "/dst", archive).await.expect("put");
    assert_eq!(read(&f, &format!("/dst/tmp/{m}")), "a");
    assert_eq!(read(&f, &format!("/dst/{m}")), "b");
    assert_eq!(read(&f, &format!("/dst{host}/sentinel")), "pwned");
    let linked = std::fs::metadata(f.at(&format!("/dst/{m}-link"))).expect("link");
    assert_eq!(linked.ino(), std::fs::metadata(f.at(&format!("/dst/tmp/{m}"))).expect("a").ino());
    assert_not_on_host(&m);
    f.assert_host_untouched();
}

#[tokio::test]
async fn links_from_the_archive_are_followed_inside() {
    let f = Fixture::new();
    f.dir("/dst");
    let m = marker();
    let host = f.host_path();
    let archive = Tar::new()
        // Absolute, relative, and chained links, then files written through them. (Relative
        // links that climb above the extraction point are refused: see the next test.)
        .dir("sub/")
        .symlink("sub/scratch", "../tmp")
        .file(&format!("sub/scratch/{m}"), "2")
        .symlink("config", "/etc")
        .file(&format!("config/{m}"), "1")
        .symlink("one", "two")
        .symlink("two", &host)
        .file("one/sentinel", "pwned")
        .file("one/new", "pwned")
        // A directory of the archive replaced by a link, then written through.
        .dir("d/")
        .file("d/a", "a")
        .symlink("d", &host)
        .file("d/b", "pwned")
        .finish();
    put(&f, "/dst", archive).await.expect("put");
    assert_eq!(read(&f, &format!("/dst/etc/{m}")), "1");
    assert_eq!(read(&f, &format!("/dst/tmp/{m}")), "2");
    assert_eq!(read(&f, &format!("/dst{host}/sentinel")), "pwned");
    assert_eq!(read(&f, &format!("/dst{host}/b")), "pwned");
    assert!(std::fs::symlink_metadata(f.at("/dst/d")).expect("d").file_type().is_symlink());
    assert!(!f.at(&format!("/etc/{m}")).exists(), "the container's /etc is not the target");
    // `/etc` seen from the extraction point is `etc` itself: a loop, as in moby.
    let archive = Tar::new().symlink("etc", "/etc").file(&format!("etc/{m}"), "x").finish();
    let err = put(&f, "/dst", archive).await.expect_err("a loop");
    assert_eq!(err.status().as_u16(), 400);
    assert!(err.message().ends_with("Too many levels of symbolic links (os error 40)"));
    assert_not_on_host(&m);
    f.assert_host_untouched();
}

#[tokio::test]
async fn symlinks_climbing_above_the_extraction_point_are_refused_as_dockerd_refuses_them() {
    let f = Fixture::new();
    f.dir("/dst");
    let m = marker();
    let host = f.host_path();
    // Read lexically from the link's directory, as moby's `createTarFile` reads them.
    for (name, target) in [
        ("up", "../".to_owned()),
        ("up", format!("../../../../../../../..{host}")),
        ("up", format!("a/../../{m}")),
        ("up", format!("/../../..{host}")),
        ("d/up", format!("../../{m}")),
    ] {
        let archive = Tar::new().file("before", "kept").symlink(name, &target).finish();
        let err = put(&f, "/dst", archive).await.expect_err(&target);
        assert_400(&err, &format!("invalid symlink {name:?} -> {target:?}"));
        assert_eq!(read(&f, "/dst/before"), "kept");
        assert!(std::fs::symlink_metadata(f.at(&format!("/dst/{name}"))).is_err(), "{target}");
    }
    // Links that stay below it are made as they are, whatever they point at later.
    let archive = Tar::new()
        .symlink("d/back", "../before")
        .symlink("d/here", ".")
        .symlink("abs", &format!("{host}/sentinel"))
        .finish();
    put(&f, "/dst", archive).await.expect("put");
    assert_eq!(read(&f, "/dst/d/back"), "kept");
    let abs = std::fs::read_link(f.at("/dst/abs")).expect("abs");
    assert_eq!(abs, std::path::PathBuf::from(format!("{host}/sentinel")));
    f.assert_host_untouched();
}

#[tokio::test]
async fn hard_links_never_reach_or_write_through_to_outside() {
    let f = Fixture::new();
    f.file("/dst/etc/shadow", "container shadow");
    let host = f.host_path();
    // A hard link to a symlink pointing at the host links the symlink itself.
    let archive = Tar::new().symlink("l", &format!("{host}/sentinel")).hardlink("h", "l").finish();
    put(&f, "/dst", archive).await.expect("put");
    let h = std::fs::symlink_metadata(f.at("/dst/h")).expect("h");
    assert!(h.file_type().is_symlink());
    assert_eq!(h.ino(), std::fs::symlink_metadata(f.at("/dst/l")).expect("l").ino());
    // A file entry over a hard link replaces the name; the linked file keeps its content.
    let archive =
        Tar::new().hardlink("s", "/etc/shadow").file("s", "pwned").file("h", "x").finish();
    put(&f, "/dst", archive).await.expect("put");
    assert_eq!(read(&f, "/dst/etc/shadow"), "container shadow");
    assert_eq!(read(&f, "/dst/s"), "pwned");
    // Targets outside, a directory, a missing one.
    let cases = [
        ("../../etc/passwd", "invalid hardlink target \"../../etc/passwd\""),
        ("a/../../../x", "invalid hardlink target \"a/../../../x\""),
        ("/etc", "cannot extract \"x\": hardlink target \"/etc\" is a directory"),
        ("/etc/passwd", "cannot extract \"x\": hardlink target \"/etc/passwd\" does not exist"),
    ];
    for (target, want) in cases {
        let err =
            put(&f, "/dst", Tar::new().hardlink("x", target).finish()).await.expect_err(target);
        assert_400(&err, want);
    }
    // The same through a PAX `linkpath` record.
    let archive =
        Tar::new().pax(&[("linkpath", b"../../../x")]).hardlink("x", "etc/shadow").finish();
    let err = put(&f, "/dst", archive).await.expect_err("pax linkpath");
    assert_400(&err, "invalid hardlink target \"../../../x\"");
    assert!(!f.at("/dst/x").exists());
    f.assert_host_untouched();
}

#[tokio::test]
async fn devices_fifos_and_set_id_bits_are_made_as_dockerd_makes_them() {
    let f = Fixture::new();
    f.dir("/dst");
    let archive = {
        let mut tar = Tar::new();
        tar.device("dev/null", EntryType::Char, 1, 3).device("dev/loop9", EntryType::Block, 7, 9);
        tar.device("run/fifo", EntryType::Fifo, 0, 0);
        tar.entry(b"bin/su", EntryType::Regular, 0o4755, b"", b"#!/bin/sh\n");
        tar.entry(b"shared/", EntryType::Directory, 0o2775, b"", b"");
        tar.finish()
    };
    put(&f, "/dst", archive).await.expect("put");
    let meta = |rel: &str| std::fs::symlink_metadata(f.at(&format!("/dst{rel}"))).expect(rel);
    assert!(meta("/dev/null").file_type().is_char_device());
    assert_eq!(meta("/dev/null").rdev(), nix::sys::stat::makedev(1, 3));
    assert!(meta("/dev/loop9").file_type().is_block_device());
    assert_eq!(meta("/dev/loop9").rdev(), nix::sys::stat::makedev(7, 9));
    assert_eq!(meta("/dev/null").mode() & 0o7777, 0o620);
    assert!(meta("/run/fifo").file_type().is_fifo());
    assert_eq!(meta("/bin/su").mode() & 0o7777, 0o4755, "set-user-ID kept after the chown");
    assert_eq!((meta("/bin/su").uid(), meta("/bin/su").gid()), (4321, 8765));
    assert_eq!(meta("/shared").mode() & 0o7777, 0o2775);
    f.assert_host_untouched();
}

#[tokio::test]
async fn names_the_kernel_refuses_are_400() {
    let f = Fixture::new();
    f.file("/dst/planted-file", "x").symlink("/dst/loop", "/loop");
    let long_element = "n".repeat(300);
    let deep = vec!["d".repeat(200); 25].join("/");
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (long_element.into_bytes(), "File name too long"),
        (format!("{deep}/file").into_bytes(), "File name too long"),
        (b"planted-file/x".to_vec(), "Not a directory"),
        (b"loop/x".to_vec(), "Too many levels of symbolic links"),
    ];
    for (name, why) in cases {
        let mut tar = Tar::new();
        tar.entry(&name, EntryType::Regular, 0o644, b"", b"x");
        let err = put(&f, "/dst", tar.finish()).await.expect_err(why);
        assert_eq!(err.status().as_u16(), 400, "{}", err.message());
        assert!(err.message().starts_with("cannot extract "), "{}", err.message());
        assert!(err.message().contains(why), "{}", err.message());
        assert!(err.message().len() < 400, "long names are cut in messages");
    }
    // A parent that is a file earlier in the same archive.
    let archive = Tar::new().file("f", "file").file("f/x", "x").finish();
    let err = put(&f, "/dst", archive).await.expect_err("parent is a file");
    assert_eq!(err.status().as_u16(), 400);
    assert!(err.message().contains("Not a directory"), "{}", err.message());
    // A NUL in a name (only a PAX record can carry one).
    let archive = Tar::new().pax(&[("path", b"a\0b")]).file("ok", "x").finish();
    let err = put(&f, "/dst", archive).await.expect_err("NUL");
    assert_eq!(err.status().as_u16(), 400, "{}", err.message());
    assert_eq!(read(&f, "/dst/planted-file"), "x");
    f.assert_host_untouched();
}

#[tokio::test]
async fn huge_headers_are_refused_before_they_fill_memory() {
    let f = Fixture::new();
    f.dir("/dst");
    // A 5 MiB GNU long name: refused at 4 MiB, before the `tar` crate would hold it all.
    let mut tar = Tar::new();
    tar.entry(&vec![b'a'; 5 << 20], EntryType::Regular, 0o644, b"", b"x");
    let err = put(&f, "/dst", tar.finish()).await.expect_err("long name");
    assert_400(&err, "cannot read the archive: the headers of an entry exceed 4 MiB");
    // The same for PAX records.
    let big = vec![b'v'; 5 << 20];
    let archive = Tar::new().pax(&[("comment", &big)]).file("x", "x").finish();
    let err = put(&f, "/dst", archive).await.expect_err("pax");
    assert_400(&err, "cannot read the archive: the headers of an entry exceed 4 MiB");
    // Under the bound, a long name fails where the kernel refuses it, named briefly.
    let mut tar = Tar::new();
    tar.entry(&vec![b'a'; 3 << 20], EntryType::Regular, 0o644, b"", b"x");
    let err = put(&f, "/dst", tar.finish()).await.expect_err("3 MiB name");
    assert_eq!(err.status().as_u16(), 400);
    assert!(err.message().contains("(3145728 bytes)"), "{}", &err.message()[..100]);
    assert!(err.message().len() < 400);
    // Data of any size is not a header: a big file goes through.
    let data = "z".repeat(6 << 20);
    put(&f, "/dst", Tar::new().file("big", &data).finish()).await.expect("a big file");
    assert_eq!(std::fs::metadata(f.at("/dst/big")).expect("big").len(), 6 << 20);
    assert!(
        tree_names(&f.at("/dst")).iter().all(|n| n == "big"),
        "{:?}",
        tree_names(&f.at("/dst"))
    );
    f.assert_host_untouched();
}

fn tree_names(root: &Path) -> Vec<String> {
    super::tree(root).into_keys().collect()
}

#[tokio::test]
async fn data_of_entries_without_content_is_not_read_as_headers() {
    let f = Fixture::new();
    f.dir("/dst");
    let m = marker();
    // A directory entry carrying data that is itself a tar header for an escaping name.
    let smuggled = Tar::new().file(&format!("../../{m}"), "pwned").finish();
    let mut tar = Tar::new();
    tar.entry(b"d/", EntryType::Directory, 0o755, b"", &smuggled);
    tar.entry(b"l", EntryType::Symlink, 0o777, b"d", &smuggled);
    tar.file("after", "fine");
    put(&f, "/dst", tar.finish()).await.expect("put");
    assert_eq!(read(&f, "/dst/after"), "fine");
    assert!(f.at("/dst/d").is_dir());
    assert_eq!(tree_names(&f.at("/dst")), ["after", "d", "l"]);
    assert_not_on_host(&m);
    f.assert_host_untouched();
}

#[tokio::test]
async fn malformed_archives_are_400() {
    let f = Fixture::new();
    f.dir("/dst");
    let text = "not a tar archive, just text ".repeat(30).into_bytes();
    let mut cut = Tar::new().file("f", &"x".repeat(4000)).finish();
    cut.truncate(512 + 1000);
    let mut corrupt_gzip = vec![0x1f, 0x8b, 0x08, 0x00];
    corrupt_gzip.extend_from_slice(&text);
    for (what, archive) in [("text", text), ("cut", cut), ("gzip", corrupt_gzip)] {
        let err = put(&f, "/dst", archive).await.expect_err(what);
        assert_eq!(err.status().as_u16(), 400, "{what}: {}", err.message());
        assert!(err.message().starts_with("cannot read the archive: "), "{}", err.message());
    }
    f.assert_host_untouched();
}

#[tokio::test]
async fn reading_hostile_trees_gives_links_never_host_content() {
    let f = Fixture::new();
    let host = f.host_path();
    f.symlink("/h", &host).symlink("/hs", &format!("{host}/sentinel"));
    f.symlink("/up", &format!("../../../../../../..{host}/sentinel"));
    f.symlink("/a/up2", "../..").file("/a/file", "mine");
    // Export and `docker cp` out archive the links themselves.
    let export = collect(crate::fs::export(&f.root, ()).await.expect("export")).await;
    assert!(!String::from_utf8_lossy(&export).contains("host secret"));
    assert_eq!(names(&export), ["a/", "a/file", "a/up2", "h", "hs", "up"]);
    for path in ["/hs", "/up", "/h"] {
        let (stat, stream) = crate::fs::archive_get(&f.root, path, "ctr", ()).await.expect(path);
        let tar = collect(stream).await;
        assert!(!String::from_utf8_lossy(&tar).contains("host secret"), "{path}");
        assert_eq!(stat.mode & (1 << 27), 1 << 27, "{path} is a symlink");
    }
    // Followed (trailing slash), they lead inside, where nothing is.
    for path in ["/h/", "/h/sentinel", "/up/", "/hs/"] {
        let err = crate::fs::archive_get(&f.root, path, "ctr", ()).await.err();
        assert_eq!(err.map(|e| e.status().as_u16()), Some(404), "{path}");
    }
    // Link targets are what the container sees.
    let stat = crate::fs::stat(&f.root, "/a/up2", "ctr").await.expect("stat");
    assert_eq!(stat.link_target, "/");
    let stat = crate::fs::stat(&f.root, "/hs", "ctr").await.expect("stat");
    assert_eq!(stat.link_target, format!("{host}/sentinel"));
    let (_, stream) = crate::fs::archive_get(&f.root, "/a/up2/", "ctr", ()).await.expect("get");
    let tar = collect(stream).await;
    assert!(names(&tar).contains(&"up2/a/file".to_owned()), "{:?}", names(&tar));
    f.assert_host_untouched();
}

#[test]
fn copy_up_through_hostile_links_copies_nothing_from_the_host() {
    let f = Fixture::new();
    let host = f.host_path();
    f.symlink("/data", &host).symlink("/data2", &format!("../../../../../../..{host}"));
    f.dir("/data3").symlink("/data3/s", &format!("{host}/sentinel"));
    for path in ["/data", "/data2", "/data3"] {
        let volume = tempfile::tempdir().expect("volume");
        crate::fs::copy_up(&f.root, path, volume.path()).expect(path);
        for (name, (kind, content, _)) in super::tree(volume.path()) {
            assert!(!content.contains("host secret"), "{path}: {name} ({kind}) read the host");
        }
    }
    let volume = tempfile::tempdir().expect("volume");
    crate::fs::copy_up(&f.root, "/data3", volume.path()).expect("copy");
    let link = std::fs::read_link(volume.path().join("s")).expect("copied as a link");
    assert_eq!(link, Path::new(&format!("{host}/sentinel")));
    f.assert_host_untouched();
}

#[test]
fn mount_points_and_working_dirs_are_made_inside() {
    let f = Fixture::new();
    let host = f.host_path();
    f.symlink("/dst/mnt", &host).symlink("/dst/rel", "../../../../../../../..");
    f.symlink("/dst/w", "/dst/srv/app");
    let source = tempfile::tempdir().expect("source");
    std::fs::write(source.path().join("file"), "bound").expect("file");

    crate::fs::bind_in_root(&f.root, "/dst/mnt/x", source.path(), true).expect("bind");
    let mounted = f.at(&format!("{host}/x"));
    let detach = |path: &Path| {
        nix::mount::umount2(path, nix::mount::MntFlags::MNT_DETACH).expect("unmount");
    };
    let inside = std::fs::read_to_string(mounted.join("file"));
    let readonly = std::fs::write(mounted.join("new"), "x");
    detach(&mounted);
    assert_eq!(inside.expect("the bind is inside"), "bound");
    assert!(readonly.is_err(), "read-only bind");
    crate::fs::bind_in_root(&f.root, "/dst/rel/y", source.path(), false).expect("bind");
    let on_y = f.at("/y/file").exists();
    detach(&f.at("/y"));
    assert!(on_y, "a climbing link leads to the root");

    // A working directory behind a dangling link, owned by the container user where created.
    crate::fs::create_dir_in_root(&f.root, "/dst/w/sub", Some((1234, 5678))).expect("workdir");
    for rel in ["/dst/srv", "/dst/srv/app", "/dst/srv/app/sub"] {
        let meta = std::fs::metadata(f.at(rel)).expect(rel);
        assert_eq!((meta.uid(), meta.gid(), meta.mode() & 0o7777), (1234, 5678, 0o755), "{rel}");
    }
    f.dir("/dst/existing").chmod("/dst/existing", 0o700);
    crate::fs::create_dir_in_root(&f.root, "/dst/existing/new", Some((1, 1))).expect("workdir");
    let existing = std::fs::metadata(f.at("/dst/existing")).expect("existing");
    assert_eq!((existing.uid(), existing.mode() & 0o7777), (0, 0o700), "existing dirs kept");
    crate::fs::create_dir_in_root(&f.root, "/dst/mnt/made", None).expect("through a host link");
    assert!(f.at(&format!("{host}/made")).is_dir());
    crate::fs::create_dir_in_root(&f.root, "/dst/rel/../../../z", None).expect("`..` stays inside");
    assert!(f.at("/z").is_dir());
    f.file("/dst/afile", "x");
    let err = crate::fs::create_dir_in_root(&f.root, "/dst/afile/sub", None).expect_err("a file");
    assert_eq!(err.raw_os_error(), Some(nix::libc::ENOTDIR));
    f.assert_host_untouched();
}
