//! Containers run for real: a busybox image imported into a private containerd, run through
//! [`Runtime`], and every trace checked gone afterwards (records, snapshots, FIFOs, runc state,
//! cgroups, shims, mounts).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use nix::sys::signal::Signal;
use tokio::io::AsyncWriteExt;

use super::spec::{self, SpecInput};
use super::stdio::collect;
use super::task::{CreateRequest, Runtime, RuntimeConfig};
use super::user;
use crate::image::Store;
use crate::image::import::{ImportRequest, import};
use crate::testutil::TestContainerd;

const PASSWD: &str =
    "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
const GROUP: &str = "root:x:0:\nnogroup:x:65534:\n";
const APPLETS: [&str; 8] = ["sh", "echo", "cat", "false", "sleep", "id", "tty", "true"];

/// A busybox root filesystem as a tarball: `/bin/busybox`, applet symlinks, passwd and group.
fn busybox_rootfs() -> bytes::Bytes {
    let busybox =
        std::fs::read("/bin/busybox").expect("/bin/busybox (apt-get install busybox-static)");
    let mut builder = tar::Builder::new(Vec::new());
    let mut dir = |path: &str| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(0o755);
        h.set_size(0);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        builder.append_data(&mut h, path, std::io::empty()).expect("dir entry");
    };
    dir("bin/");
    dir("etc/");
    dir("tmp/");
    let mut file = |path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(mode);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        builder.append_data(&mut h, path, data).expect("file entry");
    };
    file("bin/busybox", 0o755, &busybox);
    file("etc/passwd", 0o644, PASSWD.as_bytes());
    file("etc/group", 0o644, GROUP.as_bytes());
    for applet in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        h.set_mode(0o777);
        h.set_mtime(1_700_000_000);
        builder.append_link(&mut h, format!("bin/{applet}"), "busybox").expect("symlink entry");
    }
    bytes::Bytes::from(builder.into_inner().expect("finish tar"))
}

struct Harness {
    ctrd: TestContainerd,
    runtime: Runtime,
    chain: String,
    image: String,
    /// Per-test cgroup parent, so cleanup removes exactly ours.
    cgroup_parent: String,
    exec_root: PathBuf,
    _guard: Guard,
}

/// A failed test still kills its shims and removes its cgroup parents.
struct Guard {
    namespace: String,
    cgroup_parent: String,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for pid in shims(&self.namespace) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
        }
        remove_cgroup_parents(&self.cgroup_parent);
    }
}

impl Harness {
    async fn start() -> Self {
        let ctrd = TestContainerd::start().await;
        let store = Store::new(ctrd.conn.clone(), Vec::new());
        let req = ImportRequest {
            body: futures_util::stream::iter([Ok(busybox_rootfs())]).boxed(),
            name: Some("docker.io/library/bb:latest".into()),
            changes: Vec::new(),
            message: String::new(),
            source: "-".into(),
        };
        let image = import(&store, req).await.expect("import busybox");
        let found = store.find(&image).await.expect("imported image");
        let chain = crate::unpack::chain_ids(&found.image.diff_ids()).pop().expect("one layer");
        let exec_root = ctrd.dir.path().join("exec");
        let config = RuntimeConfig { exec_root: exec_root.clone() };
        let runtime = Runtime::new(&ctrd.conn, config).await.expect("runtime");
        let cgroup_parent = format!("/berth-test-{}", uuid::Uuid::new_v4().simple());
        let _guard =
            Guard { namespace: ctrd.namespace.clone(), cgroup_parent: cgroup_parent.clone() };
        Self { ctrd, runtime, chain, image, cgroup_parent, exec_root, _guard }
    }

    fn spec(&self, id: &str, args: &[&str]) -> SpecInput {
        SpecInput {
            id: id.into(),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            hostname: id.into(),
            cgroup_parent: self.cgroup_parent.clone(),
            ..SpecInput::default()
        }
    }

    fn request(&self, input: &SpecInput, stdin: bool) -> CreateRequest {
        CreateRequest {
            id: input.id.clone(),
            image: self.image.clone(),
            chain_id: self.chain.clone(),
            spec: spec::build(input).expect("spec"),
            stdin,
            labels: [("io.berth.name".to_owned(), format!("/{}", input.id))].into(),
        }
    }

    /// Runs `input` to completion, feeding `stdin` (then EOF) if given; deletes the container.
    async fn run(&self, input: &SpecInput, stdin: Option<&[u8]>) -> (String, String, u32) {
        let mut task =
            self.runtime.create(self.request(input, stdin.is_some())).await.expect("create");
        assert!(task.pid() > 0);
        let output = task.take_output().expect("output");
        let reader = tokio::spawn(collect(output));
        task.start().await.expect("start");
        if let Some(data) = stdin {
            let mut writer = task.take_stdin().expect("stdin");
            writer.write_all(data).await.expect("write stdin");
            drop(writer);
            task.close_stdin().await.expect("close stdin");
        }
        let exit = tokio::time::timeout(Duration::from_secs(30), task.wait())
            .await
            .expect("exits in time")
            .expect("wait");
        assert!(exit.exited_at.is_some(), "containerd reports exited_at");
        let (out, err) = tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("output ends")
            .expect("reader task")
            .expect("read output");
        let id = task.id().to_owned();
        task.delete().await.expect("delete");
        self.assert_gone(&id).await;
        (String::from_utf8_lossy(&out).into(), String::from_utf8_lossy(&err).into(), exit.code)
    }

    /// Nothing of container `id` is left: record, snapshot, FIFO dir, runc state, leaf cgroups.
    async fn assert_gone(&self, id: &str) {
        assert!(!self.runtime.container_ids().await.expect("list").contains(&id.to_owned()));
        let stat = containerd_client::services::v1::snapshots::StatSnapshotRequest {
            snapshotter: crate::unpack::SNAPSHOTTER.into(),
            key: id.into(),
        };
        let err = self.ctrd.conn.snapshots().stat(stat).await.expect_err("snapshot removed");
        assert_eq!(err.code(), tonic::Code::NotFound);
        assert!(!self.runtime.fifo_dir(id).exists(), "fifo dir removed");
        assert!(!self.runtime.runc_root().join(&self.ctrd.namespace).join(id).exists());
        for hierarchy in cgroup_hierarchies() {
            let leaf = hierarchy.join(self.cgroup_parent.trim_start_matches('/')).join(id);
            assert!(!leaf.exists(), "leaf cgroup {} removed", leaf.display());
        }
    }

    /// Removes our cgroup parents, waits for our shims to exit, checks no mount of ours is
    /// left, and stops containerd.
    async fn finish(self) {
        assert!(self.runtime.container_ids().await.expect("list").is_empty(), "no containers left");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !shims(&self.ctrd.namespace).is_empty() {
            assert!(
                Instant::now() < deadline,
                "shims still running: {:?}",
                shims(&self.ctrd.namespace)
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        remove_cgroup_parents(&self.cgroup_parent);
        for hierarchy in cgroup_hierarchies() {
            let dir = hierarchy.join(self.cgroup_parent.trim_start_matches('/'));
            assert!(!dir.exists(), "cgroup {} removed", dir.display());
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let ours = self.ctrd.dir.path().to_string_lossy().into_owned();
        // Committed image layers are not mounted; only containers' rootfs would be.
        let left: Vec<&str> = mountinfo.lines().filter(|l| l.contains(&ours)).collect();
        assert!(left.is_empty(), "mounts left: {left:?}");
        assert!(
            self.exec_root.join("fifo").read_dir().map(|mut d| d.next().is_none()).unwrap_or(true)
        );
        self.ctrd.stop().await;
    }
}

fn cgroup_hierarchies() -> Vec<PathBuf> {
    std::fs::read_dir("/sys/fs/cgroup")
        .map(|d| d.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect())
        .unwrap_or_default()
}

/// `rmdir` the cgroup parent (children first) in every hierarchy.
fn remove_cgroup_parents(parent: &str) {
    for hierarchy in cgroup_hierarchies() {
        let dir = hierarchy.join(parent.trim_start_matches('/'));
        if let Ok(children) = std::fs::read_dir(&dir) {
            for child in children.flatten().filter(|c| c.path().is_dir()) {
                let _ = std::fs::remove_dir(child.path());
            }
        }
        let _ = std::fs::remove_dir(&dir);
    }
}

/// PIDs of the containerd-shim-runc-v2 processes serving `namespace` (ours alone).
fn shims(namespace: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let args: Vec<&[u8]> = cmdline.split(|b| *b == 0).collect();
        let is_shim = args.first().is_some_and(|a| a.ends_with(b"containerd-shim-runc-v2"));
        let ours = args.windows(2).any(|w| w[0] == b"-namespace" && w[1] == namespace.as_bytes());
        if is_shim && ours && !is_zombie(pid) {
            out.push(pid);
        }
    }
    out
}

fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| s.rsplit_once(')').map(|(_, rest)| rest.trim_start().starts_with('Z')))
        .unwrap_or(false)
}

fn exists(path: &Path) -> bool {
    path.exists()
}

#[tokio::test]
async fn echo_exit_codes_and_stdin() {
    let h = Harness::start().await;

    let (out, err, code) = h.run(&h.spec("echo1", &["echo", "hello"]), None).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("hello\n", "", 0));

    let (out, err, code) =
        h.run(&h.spec("fail42", &["sh", "-c", "echo err >&2; exit 42"]), None).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("", "err\n", 42));

    let (out, err, code) = h.run(&h.spec("cat1", &["cat"]), Some(b"abc")).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("abc", "", 0));

    h.finish().await;
}

#[tokio::test]
async fn kill_and_a_missing_binary() {
    let h = Harness::start().await;

    // sleep 30, SIGKILL: 137, and runc kept its state under our root meanwhile.
    let input = h.spec("sleeper", &["sleep", "30"]);
    let mut task = h.runtime.create(h.request(&input, false)).await.expect("create");
    let output = task.take_output().expect("output");
    task.start().await.expect("start");
    let state = h.runtime.runc_root().join(&h.ctrd.namespace).join("sleeper");
    assert!(exists(&state.join("state.json")), "runc state under {}", state.display());
    let leaf = Path::new("/sys/fs/cgroup/pids").join(h.cgroup_parent.trim_start_matches('/'));
    let procs = std::fs::read_to_string(leaf.join("sleeper/cgroup.procs")).expect("cgroup");
    assert_eq!(procs.trim(), task.pid().to_string(), "the task runs in <parent>/<id>");
    let started = Instant::now();
    task.kill(Signal::SIGKILL, true).await.expect("kill");
    let exit = task.wait().await.expect("wait");
    assert_eq!(exit.code, 137);
    assert!(started.elapsed() < Duration::from_secs(10), "killed, not slept out");
    assert_eq!(collect(output).await.expect("output"), (Vec::new(), Vec::new()));
    task.delete().await.expect("delete");
    h.assert_gone("sleeper").await;

    // A binary that is not there: dockerd's 127 and message, and nothing left behind.
    let input = h.spec("missing", &["nosuch"]);
    let err = h.runtime.create(h.request(&input, true)).await.expect_err("no such binary");
    assert_eq!(err.exit_code, Some(127), "{err}");
    assert_eq!(err.error.kind(), berth_api::ErrorKind::InvalidParameter);
    let message = err.error.message();
    assert!(message.starts_with("failed to create task for container: "), "{message}");
    assert!(message.contains(r#"exec: "nosuch": executable file not found in $PATH"#), "{message}");
    h.assert_gone("missing").await;

    // Not executable: 126.
    let input = h.spec("noexec", &["/etc/passwd"]);
    let err = h.runtime.create(h.request(&input, false)).await.expect_err("not executable");
    assert_eq!(err.exit_code, Some(126), "{err}");
    h.assert_gone("noexec").await;

    h.finish().await;
}

#[tokio::test]
async fn user_and_tty() {
    let h = Harness::start().await;

    let files = user::UserFiles { passwd: PASSWD.into(), group: GROUP.into() };
    let nobody = user::resolve("nobody", &[], &files).expect("nobody");
    let input = SpecInput {
        user: nobody.user,
        home: Some(nobody.home),
        ..h.spec("idu", &["sh", "-c", "id -u; id -g; echo $HOME"])
    };
    let (out, err, code) = h.run(&input, None).await;
    assert_eq!((out.as_str(), err.as_str(), code), ("65534\n65534\n/nonexistent\n", "", 0));

    // TTY: stdin + stdout FIFOs, no stderr; the terminal is the container's first pty.
    let input = SpecInput {
        tty: true,
        ..h.spec("tty1", &["sh", "-c", "tty; read x; echo got $x; exit 5"])
    };
    let mut task = h.runtime.create(h.request(&input, true)).await.expect("create tty");
    assert!(!h.runtime.fifo_dir("tty1").join("stderr").exists(), "no stderr fifo with a tty");
    let output = task.take_output().expect("output");
    let reader = tokio::spawn(collect(output));
    task.start().await.expect("start");
    task.resize(100, 40).await.expect("resize");
    let mut stdin = task.take_stdin().expect("stdin");
    stdin.write_all(b"abc\n").await.expect("write");
    let exit = tokio::time::timeout(Duration::from_secs(30), task.wait())
        .await
        .expect("in time")
        .expect("wait");
    assert_eq!(exit.code, 5);
    drop(stdin);
    task.close_stdin().await.ok();
    let (out, err) = reader.await.expect("reader").expect("output");
    let out = String::from_utf8_lossy(&out);
    assert!(out.contains("/dev/pts/0\r\n"), "{out:?}");
    assert!(out.contains("got abc"), "{out:?}");
    assert!(err.is_empty());
    task.delete().await.expect("delete");
    h.assert_gone("tty1").await;

    h.finish().await;
}
