//! A full data-root (a small tmpfs, filled): create, start, volume create, commit, load and
//! import fail with a 500 saying "no space left on device", as dockerd's do; nothing is left
//! half-made; everything works again once there is space; and what was stored before still
//! loads after a restart of berthd (metadata is written atomically, never torn).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::images::{busybox_rootfs, docker_save, stream_error, tarball};
use super::support::{Answer, Berthd, Raw, UNNAMED_INGEST, unmount_under};

const FULL: &str = "no space left on device";

/// A tmpfs of `size` on a temporary directory; unmounted (and the directory removed) on drop,
/// also after a failure.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("berth-fault-tmpfs-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        nix::mount::mount(
            Some("tmpfs"),
            dir.path(),
            Some("tmpfs"),
            nix::mount::MsFlags::empty(),
            Some(format!("size={size},mode=0711").as_str()),
        )
        .expect("mount a tmpfs (the fault tests run as root)");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        unmount_under(&[self.dir.path()]);
        if let Err(e) = nix::mount::umount2(self.dir.path(), nix::mount::MntFlags::MNT_DETACH) {
            eprintln!("cannot unmount the tmpfs at {}: {e}", self.dir.path().display());
        }
    }
}

/// Writes a file into `dir` until the filesystem has no byte left; the file.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).expect("filler");
    let chunk = vec![0xa5u8; 1 << 20];
    for size in [1 << 20, 64 << 10, 4 << 10, 512, 1] {
        while matches!(file.write(&chunk[..size]), Ok(n) if n > 0) {}
    }
    assert!(file.write(b"x").is_err(), "the disk is full");
    path
}

fn assert_full(answer: &Answer, what: &str) {
    assert_eq!(answer.status, 500, "{what} on a full disk: {answer:?}");
    assert!(answer.message().contains(FULL), "{what}: {answer:?}");
}

/// Sends an archive to `path` (load, import) on a full disk: berthd answers before it has read
/// it all, and hangs up. The answer, a 500 or a progress stream with an error (dockerd's
/// in-band error), must say why.
async fn assert_full_upload(berthd: &Berthd, path: &str, body: &[u8], what: &str) {
    let head = format!(
        "POST {path} HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\nConnection: close",
        body.len()
    );
    let (status, text) = Raw::exchange(&berthd.socket(), &head, body).await;
    assert!(status == 200 || status == 500, "{what} on a full disk: {text}");
    assert!(text.contains("errorDetail") || status == 500, "{what} worked on a full disk: {text}");
    assert!(text.to_lowercase().contains(FULL), "{what}: {text}");
}

/// Files under `dir` whose name says they are an unfinished atomic write.
fn temporaries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if entry.file_name().to_string_lossy().contains(".tmp-") {
            found.push(path);
        } else if entry.file_type().is_ok_and(|t| t.is_dir()) && entry.file_name() != "_data" {
            found.extend(temporaries(&path));
        }
    }
    found
}

/// Every stored document under `dir` named `file` parses as JSON.
fn assert_documents_parse(dir: &Path, file: &str) -> usize {
    let mut parsed = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let path = entry.path().join(file);
        if path.exists() {
            let bytes = std::fs::read(&path).expect("read");
            serde_json::from_slice::<Value>(&bytes)
                .unwrap_or_else(|e| panic!("{} is torn: {e}", path.display()));
            parsed += 1;
        }
    }
    parsed
}

async fn names(berthd: &Berthd) -> Vec<String> {
    let mut names: Vec<String> = berthd.containers().await.into_values().map(|(n, _)| n).collect();
    names.sort();
    names
}

async fn volumes(berthd: &Berthd) -> Vec<String> {
    let answer = berthd.call("GET", "/volumes", None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut names: Vec<String> = answer.json()["Volumes"]
        .as_array()
        .expect("Volumes")
        .iter()
        .map(|v| v["Name"].as_str().expect("Name").to_owned())
        .collect();
    names.sort();
    names
}

async fn tags(berthd: &Berthd) -> Vec<String> {
    let answer = berthd.call("GET", "/images/json", None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let mut tags: Vec<String> = answer
        .json()
        .as_array()
        .expect("images")
        .iter()
        .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
        .filter_map(|t| t.as_str().map(str::to_owned))
        .collect();
    tags.sort();
    tags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_data_root_fails_cleanly_and_loses_nothing() {
    let tmpfs = Tmpfs::mount("64m");
    let root = tempfile::Builder::new().prefix("berth-fault-").tempdir_in("/tmp").expect("tempdir");
    let data_root = tmpfs.path().join("data");
    let mut berthd = Berthd::start_on(root, data_root.clone(), "disk").await;
    berthd.import_busybox().await;
    let config = json!({
        "Image": "busybox",
        "Cmd": ["sleep", "3600"],
        "Labels": { "fault": "disk" },
        "Env": ["KEEP=1"],
    });
    let before = berthd.run("before", config).await;
    let created = berthd.create("created", &["sleep", "3600"]).await.expect("create");
    let doomed =
        berthd.run("doomed", json!({ "Image": "busybox", "Cmd": ["sleep", "3600"] })).await;
    let body = json!({ "Name": "vol-before", "Labels": { "fault": "disk" } });
    let volume = berthd.call("POST", "/volumes/create", Some(body)).await;
    assert_eq!(volume.status, 201, "{volume:?}");
    let archive = docker_save("disk-load:latest", &[busybox_rootfs()]);
    let layer = tarball(&[("data/", b""), ("data/f", b"imported")]);

    // Full.
    let filler = fill(tmpfs.path());
    assert_full(&berthd.create("full", &["true"]).await.expect_err("create"), "create");
    let body = json!({ "Name": "vol-full" });
    assert_full(&berthd.call("POST", "/volumes/create", Some(body)).await, "volume create");
    let start = berthd.call("POST", &format!("/containers/{created}/start"), None).await;
    assert_full(&start, "start");
    let commit =
        berthd.call("POST", &format!("/commit?container={before}&repo=disk-commit"), None).await;
    assert_full(&commit, "commit");
    assert_full_upload(&berthd, "/images/load", &archive, "load").await;
    let path = "/images/create?fromSrc=-&repo=disk-import&tag=latest";
    assert_full_upload(&berthd, path, &layer, "import").await;
    // Removing is how space is freed: it works on a full disk.
    let removed = berthd.call("DELETE", &format!("/containers/{doomed}?force=1"), None).await;
    assert_eq!(removed.status, 204, "rm -f on a full disk: {removed:?}");

    // Nothing half-made: the containers, volumes and images of before, and no temporary file.
    let listed = berthd.assert_consistent("disk full").await;
    assert_eq!(listed[&before].1, "running");
    assert_eq!(listed[&created].1, "created");
    assert_eq!(names(&berthd).await, ["before", "created"]);
    assert_eq!(volumes(&berthd).await, ["vol-before"]);
    assert!(
        !data_root.join("volumes/vol-full").exists(),
        "a failed volume create left its directory"
    );
    assert_eq!(tags(&berthd).await, ["busybox:latest"]);
    assert_eq!(temporaries(&data_root.join("containers")), Vec::<PathBuf>::new());
    assert_eq!(temporaries(&data_root.join("volumes")), Vec::<PathBuf>::new());

    // Space again: all of it works. What the failed writes left is containerd's own: the
    // ingest directories it made and could not name (berthd removes them at the restart below).
    std::fs::remove_file(&filler).expect("free the disk");
    let left = berthd.leftovers().await;
    assert!(left.iter().all(|l| l.starts_with(UNNAMED_INGEST)), "{left:#?}");
    berthd.create("after", &["sleep", "3600"]).await.expect("create");
    let body = json!({ "Name": "vol-after" });
    assert_eq!(berthd.call("POST", "/volumes/create", Some(body)).await.status, 201);
    let start = berthd.call("POST", &format!("/containers/{created}/start"), None).await;
    assert_eq!(start.status, 204, "{start:?}");
    let commit =
        berthd.call("POST", &format!("/commit?container={before}&repo=disk-commit"), None).await;
    assert_eq!(commit.status, 201, "{commit:?}");
    let load = berthd.call_raw("POST", "/images/load", "application/x-tar", Some(archive)).await;
    assert_eq!(stream_error(&load.body), None, "{}", load.body);
    let import = berthd.call_raw("POST", path, "application/x-tar", Some(layer)).await;
    assert_eq!(stream_error(&import.body), None, "{}", import.body);

    // What was stored, before and after the full disk, loads after a restart.
    berthd.restart().await;
    berthd.wait_no_leftovers("after the restart").await;
    let log = berthd.log();
    for bad in ["skipping", "corrupt", "not a volume", "cannot read"] {
        assert!(!log.contains(bad), "{bad}: {log}");
    }
    assert_eq!(names(&berthd).await, ["after", "before", "created"]);
    let inspect = berthd.inspect(&before).await;
    assert_eq!(inspect["Config"]["Labels"]["fault"], "disk", "{inspect}");
    assert!(inspect["Config"]["Env"].as_array().expect("Env").iter().any(|e| e == "KEEP=1"));
    assert_eq!(volumes(&berthd).await, ["vol-after", "vol-before"]);
    let volume = berthd.call("GET", "/volumes/vol-before", None).await.json();
    assert_eq!(volume["Labels"]["fault"], "disk");
    assert_eq!(
        tags(&berthd).await,
        ["busybox:latest", "disk-commit:latest", "disk-import:latest", "disk-load:latest"]
    );
    assert_eq!(assert_documents_parse(&data_root.join("containers"), "config.v2.json"), 3);
    assert_eq!(assert_documents_parse(&data_root.join("volumes"), "volume.json"), 2);
    for dir in ["containers", "volumes", "network"] {
        assert_eq!(temporaries(&data_root.join(dir)), Vec::<PathBuf>::new(), "{dir}");
    }
    berthd.assert_consistent("after the restart").await;
}
