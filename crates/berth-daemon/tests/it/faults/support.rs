//! What the fault tests share: a berthd with its own containerd whose roots outlive restarts
//! and which cleans up after itself even when a test fails, HTTP over its socket (also raw, to
//! hang up mid-stream), `ctr` for containerd's own view, and the leak probes (open descriptors,
//! tokio tasks).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

use super::images::busybox_rootfs;
use crate::harness::{DEADLINE, Daemon};

/// Prefix of the lease and snapshot berthd keeps so that it can make containerd clean up.
const RESERVE: &str = "berth-reserve-";

/// How [`Berthd::leftovers`] names an ingest directory without a `ref` file: containerd 1.6
/// leaves one when it cannot write that file (a full disk) or is killed before it does, and
/// never removes it; berthd removes them whenever it (re)starts containerd.
pub(crate) const UNNAMED_INGEST: &str = "unnamed ingest";

/// What berthd logs each time it has reconciled with a restarted containerd.
const RECONCILED: &str = "reconciled with containerd after its restart";

/// A berthd running its own containerd in a private namespace. Its data-root and exec-root
/// survive [`Berthd::restart`]; everything it made (containers, shims, mounts) goes on drop,
/// also after a failed assertion.
pub(crate) struct Berthd {
    daemon: Option<Daemon>,
    pub(crate) data_root: PathBuf,
    pub(crate) exec_root: PathBuf,
    pub(crate) namespace: String,
    extra: Vec<String>,
    /// Holds exec-root (and data-root unless it is given); removed last.
    root: tempfile::TempDir,
}

impl Berthd {
    /// Starts berthd with its roots in a new temporary directory.
    pub(crate) async fn start(tag: &str) -> Self {
        let root =
            tempfile::Builder::new().prefix("berth-fault-").tempdir_in("/tmp").expect("tempdir");
        let data_root = root.path().join("data");
        Self::start_on(root, data_root, tag).await
    }

    /// Starts berthd with `data_root` (a tmpfs, say) and exec-root in `root`.
    pub(crate) async fn start_on(root: tempfile::TempDir, data_root: PathBuf, tag: &str) -> Self {
        let namespace = format!("berth-fault-{tag}-{}", std::process::id());
        let extra = vec!["--containerd-namespace".to_owned(), namespace.clone()];
        let mut berthd = Self {
            daemon: None,
            exec_root: root.path().join("exec"),
            data_root,
            namespace,
            extra,
            root,
        };
        berthd.spawn().await;
        berthd
    }

    async fn spawn(&mut self) {
        // The socket, log, pidfile and config of each run; the roots stay in `root`.
        let dir =
            tempfile::Builder::new().prefix("run-").tempdir_in(self.root.path()).expect("dir");
        std::fs::write(dir.path().join("daemon.json"), "{}").expect("daemon.json");
        let p = |path: &Path| path.display().to_string();
        let mut args = vec![
            "--data-root".to_owned(),
            p(&self.data_root),
            "--exec-root".to_owned(),
            p(&self.exec_root),
            "--pidfile".to_owned(),
            p(&dir.path().join("berthd.pid")),
            "--config-file".to_owned(),
            p(&dir.path().join("daemon.json")),
            "--group".to_owned(),
            "root".to_owned(),
        ];
        args.extend(self.extra.iter().cloned());
        self.daemon = Some(Daemon::start_with(dir, args, &[]).await);
        // berthd lays it in the background at start (its snapshot last); the tests kill
        // containerd only once it is whole.
        wait_for("the reserve", || async {
            let snapshots = self.ctr(&["snapshots", "--snapshotter", "overlayfs", "ls"]).await;
            snapshots.iter().any(|l| l.starts_with(RESERVE))
        })
        .await;
    }

    fn daemon(&self) -> &Daemon {
        self.daemon.as_ref().expect("berthd runs")
    }

    /// Stops berthd (SIGTERM: it stops its containers and containerd) and starts it again on
    /// the same roots.
    pub(crate) async fn restart(&mut self) {
        let mut daemon = self.daemon.take().expect("berthd runs");
        let status = daemon.stop().await;
        assert!(status.success(), "{status}: {}", daemon.log());
        drop(daemon);
        self.spawn().await;
    }

    pub(crate) fn socket(&self) -> PathBuf {
        self.daemon().socket.clone()
    }

    pub(crate) fn pid(&self) -> i32 {
        self.daemon().pid()
    }

    pub(crate) fn log(&self) -> String {
        self.daemon().log()
    }

    /// The PID of the containerd berthd supervises.
    pub(crate) fn containerd_pid(&self) -> i32 {
        let text = std::fs::read_to_string(self.exec_root.join("containerd/containerd.pid"))
            .expect("containerd pidfile");
        text.trim().parse().expect("pid")
    }

    /// SIGKILLs containerd; returns its PID.
    pub(crate) fn kill_containerd(&self) -> i32 {
        let pid = self.containerd_pid();
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL)
            .expect("kill containerd");
        pid
    }

    /// How many times berthd has reconciled with a restarted containerd.
    pub(crate) fn reconciled(&self) -> usize {
        self.log().matches(RECONCILED).count()
    }

    /// Waits until berthd has restarted containerd and reconciled with it `n` times (its log
    /// says so).
    pub(crate) async fn wait_reconciled(&self, n: usize) {
        wait_for(&format!("reconcile #{n}"), || async { self.reconciled() >= n }).await;
    }

    // ---------------------------------------------------------------------------------------
    // HTTP
    // ---------------------------------------------------------------------------------------

    /// A JSON request (or none) and the whole answer.
    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Answer {
        let bytes = body.map(|b| b.to_string().into_bytes());
        self.call_raw(method, path, "application/json", bytes).await
    }

    /// A request with `body` of `content_type`.
    pub(crate) async fn call_raw(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Option<Vec<u8>>,
    ) -> Answer {
        let socket = self.socket();
        let send = async {
            let stream = UnixStream::connect(&socket).await?;
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            let mut builder =
                http::Request::builder().method(method).uri(path).header("host", "berth");
            if body.is_some() {
                builder = builder.header("content-type", content_type);
            }
            let req = builder.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
            let res = sender.send_request(req).await?;
            let status = res.status().as_u16();
            let body = res.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Answer {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        match tokio::time::timeout(DEADLINE, send).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => panic!("{method} {path}: {e}\n{}", self.log()),
            Err(_) => panic!("{method} {path}: no answer within {DEADLINE:?}\n{}", self.log()),
        }
    }

    /// `POST /containers/create`: the ID, or the failed answer.
    pub(crate) async fn create(&self, name: &str, cmd: &[&str]) -> Result<String, Answer> {
        self.create_with(name, json!({ "Image": "busybox", "Cmd": cmd })).await
    }

    /// `POST /containers/create` with `config` (the network is always `none` and the stop
    /// signal SIGKILL, so nothing waits at teardown).
    pub(crate) async fn create_with(
        &self,
        name: &str,
        mut config: Value,
    ) -> Result<String, Answer> {
        config["StopSignal"] = json!("SIGKILL");
        config["HostConfig"]["NetworkMode"] = json!("none");
        let answer =
            self.call("POST", &format!("/containers/create?name={name}"), Some(config)).await;
        if answer.status == 201 {
            Ok(answer.json()["Id"].as_str().expect("Id").to_owned())
        } else {
            Err(answer)
        }
    }

    /// Creates and starts a container; its ID.
    pub(crate) async fn run(&self, name: &str, config: Value) -> String {
        let id =
            self.create_with(name, config).await.unwrap_or_else(|a| panic!("create {name}: {a:?}"));
        let started = self.call("POST", &format!("/containers/{id}/start"), None).await;
        assert_eq!(started.status, 204, "start {name}: {started:?}");
        id
    }

    pub(crate) async fn inspect(&self, id: &str) -> Value {
        let answer = self.call("GET", &format!("/containers/{id}/json"), None).await;
        assert_eq!(answer.status, 200, "inspect {id}: {answer:?}");
        answer.json()
    }

    /// `docker ps -a`: ID → (name, state).
    pub(crate) async fn containers(&self) -> std::collections::BTreeMap<String, (String, String)> {
        let answer = self.call("GET", "/containers/json?all=1", None).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer
            .json()
            .as_array()
            .expect("list")
            .iter()
            .map(|c| {
                let name = c["Names"][0].as_str().unwrap_or_default().trim_start_matches('/');
                (
                    c["Id"].as_str().expect("Id").to_owned(),
                    (name.to_owned(), c["State"].as_str().unwrap_or_default().to_owned()),
                )
            })
            .collect()
    }

    /// Imports the test's busybox rootfs as `busybox:latest`.
    pub(crate) async fn import_busybox(&self) {
        let answer = self
            .call_raw(
                "POST",
                "/images/create?fromSrc=-&repo=busybox&tag=latest",
                "application/x-tar",
                Some(busybox_rootfs()),
            )
            .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        assert!(!answer.body.contains("errorDetail"), "{}", answer.body);
    }

    /// The container's output so far (`docker logs`), frames stripped.
    pub(crate) async fn logs(&self, id: &str) -> String {
        let answer =
            self.call("GET", &format!("/containers/{id}/logs?stdout=1&stderr=1"), None).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        unframe(answer.body.as_bytes())
    }

    /// Runs `cmd` in a new container from `image` to its end; its exit code and output. The
    /// container is removed.
    pub(crate) async fn run_to_end(&self, name: &str, image: &str, cmd: &[&str]) -> (i64, String) {
        let id = self.run(name, json!({ "Image": image, "Cmd": cmd })).await;
        let waited = self.call("POST", &format!("/containers/{id}/wait"), None).await;
        assert_eq!(waited.status, 200, "{waited:?}");
        let code = waited.json()["StatusCode"].as_i64().expect("StatusCode");
        let output = self.logs(&id).await;
        let removed = self.call("DELETE", &format!("/containers/{id}?force=1"), None).await;
        assert_eq!(removed.status, 204, "{removed:?}");
        (code, output)
    }

    /// `/info`.
    pub(crate) async fn info(&self) -> Value {
        let answer = self.call("GET", "/info", None).await;
        assert_eq!(answer.status, 200, "{answer:?}");
        answer.json()
    }

    // ---------------------------------------------------------------------------------------
    // containerd's own view
    // ---------------------------------------------------------------------------------------

    /// `ctr <args>` on berthd's containerd and namespace; its output lines.
    pub(crate) async fn ctr(&self, args: &[&str]) -> Vec<String> {
        let address = self.exec_root.join("containerd/containerd.sock");
        let run = tokio::process::Command::new("ctr")
            .arg("--address")
            .arg(&address)
            .arg("--namespace")
            .arg(&self.namespace)
            .args(args)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(DEADLINE, run)
            .await
            .unwrap_or_else(|_| panic!("ctr {args:?} hung"))
            .expect("run ctr (the containerd package has it)");
        assert!(
            out.status.success(),
            "ctr {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).lines().map(str::to_owned).collect()
    }

    /// IDs of containerd's container records.
    pub(crate) async fn ctr_containers(&self) -> std::collections::BTreeSet<String> {
        self.ctr(&["containers", "ls", "-q"]).await.into_iter().collect()
    }

    /// Host PIDs of the processes in container `id`'s task (its init and its execs).
    pub(crate) async fn ctr_pids(&self, id: &str) -> Vec<String> {
        self.ctr(&["tasks", "ps", id])
            .await
            .iter()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    /// IDs of containerd's tasks, with their status.
    pub(crate) async fn ctr_tasks(&self) -> std::collections::BTreeMap<String, String> {
        self.ctr(&["tasks", "ls"])
            .await
            .iter()
            .skip(1)
            .filter_map(|l| {
                let mut cols = l.split_whitespace();
                Some((cols.next()?.to_owned(), cols.nth(1)?.to_owned()))
            })
            .collect()
    }

    /// Keys of the active (container) snapshots.
    pub(crate) async fn ctr_active_snapshots(&self) -> std::collections::BTreeSet<String> {
        self.ctr(&["snapshots", "--snapshotter", "overlayfs", "ls"])
            .await
            .iter()
            .skip(1)
            .filter_map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                (cols.last() == Some(&"Active") && !cols[0].starts_with(RESERVE))
                    .then(|| cols[0].to_owned())
            })
            .collect()
    }

    /// Leases, content being written (ingests), and files in containerd's ingest directory and
    /// berthd's temporary directory: what an interrupted operation would leave. Empty when
    /// nothing is left.
    pub(crate) async fn leftovers(&self) -> Vec<String> {
        let mut found = Vec::new();
        // The reserve is kept on purpose: berthd deletes it to make containerd clean up.
        for lease in self.ctr(&["leases", "ls", "-q"]).await {
            if !lease.starts_with(RESERVE) {
                found.push(format!("lease {lease}"));
            }
        }
        for ingest in self.ctr(&["content", "active"]).await.into_iter().skip(1) {
            found.push(format!("ingest {ingest}"));
        }
        let ingest = self.data_root.join("containerd/io.containerd.content.v1.content/ingest");
        for entry in std::fs::read_dir(&ingest).into_iter().flatten().flatten() {
            let named = std::fs::metadata(entry.path().join("ref")).is_ok_and(|m| m.len() > 0);
            let what = if named { "ingest file" } else { UNNAMED_INGEST };
            found.push(format!("{what} {}", entry.path().display()));
        }
        for entry in std::fs::read_dir(self.data_root.join("tmp")).into_iter().flatten().flatten() {
            found.push(format!("temporary file {}", entry.path().display()));
        }
        found
    }

    /// Waits until [`Berthd::leftovers`] is empty.
    pub(crate) async fn wait_no_leftovers(&self, what: &str) {
        let start = Instant::now();
        loop {
            let left = self.leftovers().await;
            if left.is_empty() {
                return;
            }
            assert!(start.elapsed() < DEADLINE, "{what}: left behind: {left:#?}\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Checks that Berth's containers and containerd's agree: the same containers in `ps -a`,
    /// under data-root and in containerd (each with its snapshot), and a task for exactly the
    /// running ones. Returns `ps -a`.
    pub(crate) async fn assert_consistent(
        &self,
        what: &str,
    ) -> std::collections::BTreeMap<String, (String, String)> {
        let listed = self.containers().await;
        let ids: std::collections::BTreeSet<String> = listed.keys().cloned().collect();
        let dirs: std::collections::BTreeSet<String> =
            std::fs::read_dir(self.data_root.join("containers"))
                .expect("containers dir")
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
        assert_eq!(dirs, ids, "{what}: directories under data-root vs ps -a");
        assert_eq!(self.ctr_containers().await, ids, "{what}: containerd's containers vs ps -a");
        assert_eq!(self.ctr_active_snapshots().await, ids, "{what}: container snapshots vs ps -a");
        let running: std::collections::BTreeSet<String> = listed
            .iter()
            .filter(|(_, (_, s))| s == "running" || s == "paused")
            .map(|(id, _)| id.clone())
            .collect();
        let tasks: std::collections::BTreeSet<String> =
            self.ctr_tasks().await.into_keys().collect();
        assert_eq!(tasks, running, "{what}: containerd's tasks vs running and paused containers");
        listed
    }

    // ---------------------------------------------------------------------------------------
    // leak probes
    // ---------------------------------------------------------------------------------------

    /// Open descriptors (sockets among them) and live tokio tasks (`NGoroutines`) of berthd
    /// now.
    pub(crate) async fn usage(&self) -> Usage {
        // Descriptors first: the request for the task count holds one, for a few milliseconds
        // after its answer too.
        let targets = fd_targets(self.pid());
        let sockets = targets.iter().filter(|t| t.contains("-> socket:")).count();
        let tasks = self.info().await["NGoroutines"].as_u64().expect("NGoroutines");
        Usage { fds: targets.len(), sockets, tasks }
    }

    /// What berthd uses when idle: the least of a few samples, since its own work (a log
    /// write of a container that prints, the request that asks for the task count) comes and
    /// goes.
    pub(crate) async fn idle_usage(&self) -> Usage {
        // The first `/info` opens files it then keeps (the descriptor table, sysctls).
        self.usage().await;
        let mut least = self.usage().await;
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let now = self.usage().await;
            least = Usage {
                fds: least.fds.min(now.fds),
                sockets: least.sockets.min(now.sockets),
                tasks: least.tasks.min(now.tasks),
            };
        }
        least
    }

    /// Waits until berthd uses no more descriptors and tasks than at `baseline`.
    pub(crate) async fn wait_back_to(&self, baseline: Usage, what: &str) {
        let start = Instant::now();
        loop {
            let now = self.usage().await;
            if now.fds <= baseline.fds
                && now.sockets <= baseline.sockets
                && now.tasks <= baseline.tasks
            {
                return;
            }
            if start.elapsed() > DEADLINE {
                let fds = fd_targets(self.pid());
                panic!("{what}: berthd holds {now:?}, had {baseline:?}; descriptors: {fds:#?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Berthd {
    /// berthd first (SIGTERM: it stops its containers, then containerd), then whatever a
    /// failure left: runc containers, shims and containerd (found by the namespace or by paths
    /// in the temporary directory), mounts under the roots.
    fn drop(&mut self) {
        if std::thread::panicking()
            && let Some(daemon) = &self.daemon
        {
            let containerd = self.exec_root.join("containerd/containerd.log");
            for (what, log) in [
                ("berthd", daemon.log()),
                ("containerd", std::fs::read_to_string(containerd).unwrap_or_default()),
            ] {
                let tail: Vec<&str> = log.lines().rev().take(100).collect();
                eprintln!("--- {what} log (last 100 lines) ---");
                for line in tail.iter().rev() {
                    eprintln!("{line}");
                }
            }
        }
        drop(self.daemon.take());
        for dir in std::fs::read_dir(self.exec_root.join("runc")).into_iter().flatten().flatten() {
            let root = dir.path();
            let listed = std::process::Command::new("runc")
                .arg("--root")
                .arg(&root)
                .args(["list", "-q"])
                .output();
            for id in listed.iter().flat_map(|o| {
                String::from_utf8_lossy(&o.stdout).lines().map(str::to_owned).collect::<Vec<_>>()
            }) {
                let _ = std::process::Command::new("runc")
                    .arg("--root")
                    .arg(&root)
                    .args(["delete", "--force", &id])
                    .output();
            }
        }
        let marks = [self.namespace.clone(), self.root.path().display().to_string()];
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else { continue };
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if pid != std::process::id() as i32
                && marks.iter().any(|m| cmdline.contains(m.as_str()))
            {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        unmount_under(&[self.root.path(), &self.data_root]);
    }
}

/// Unmounts (lazily, deepest first) every mount below any of `roots`; the roots themselves stay.
pub(crate) fn unmount_under(roots: &[&Path]) {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(p.replace("\\040", " ")))
        .filter(|p| roots.iter().any(|r| p.starts_with(r) && p != r))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for point in points {
        let _ = nix::mount::umount2(&point, nix::mount::MntFlags::MNT_DETACH);
    }
}

/// A whole answer.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// The `message` of an error answer.
    pub(crate) fn message(&self) -> String {
        self.json()["message"].as_str().unwrap_or_default().to_owned()
    }
}

/// Descriptors and tasks in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Usage {
    pub(crate) fds: usize,
    pub(crate) sockets: usize,
    pub(crate) tasks: u64,
}

fn fd_targets(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let target = std::fs::read_link(e.path()).map(|t| t.display().to_string());
            format!("{} -> {}", e.file_name().to_string_lossy(), target.unwrap_or_default())
        })
        .collect()
}

/// Polls `check` until it holds, for at most [`DEADLINE`].
pub(crate) async fn wait_for<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// -------------------------------------------------------------------------------------------
// raw connections, to hang up mid-stream
// -------------------------------------------------------------------------------------------

/// A connection that sent a request head and can be dropped at any point.
pub(crate) struct Raw {
    pub(crate) stream: UnixStream,
    /// What came back so far.
    pub(crate) received: Vec<u8>,
}

impl Raw {
    /// Connects and sends `head` (request line and headers, without the blank line) and
    /// `body`.
    pub(crate) async fn send(socket: &Path, head: &str, body: &[u8]) -> Self {
        let mut stream = UnixStream::connect(socket).await.expect("connect");
        let mut bytes = format!("{head}\r\nHost: berth\r\n\r\n").into_bytes();
        bytes.extend_from_slice(body);
        stream.write_all(&bytes).await.expect("send request");
        Self { stream, received: Vec::new() }
    }

    /// Sends `head` and `body` like [`Raw::send`], but berthd may answer (and hang up) before
    /// it read the whole body; then reads the answer to its end. The status and the raw bytes.
    pub(crate) async fn exchange(socket: &Path, head: &str, body: &[u8]) -> (u16, String) {
        let mut stream = UnixStream::connect(socket).await.expect("connect");
        let mut bytes = format!("{head}\r\nHost: berth\r\n\r\n").into_bytes();
        bytes.extend_from_slice(body);
        // A write that fails means berthd answered early: its answer is still there to read.
        let _ = stream.write_all(&bytes).await;
        let mut received = Vec::new();
        let read = tokio::time::timeout(DEADLINE, stream.read_to_end(&mut received)).await;
        assert!(read.is_ok(), "no end of the answer: {}", String::from_utf8_lossy(&received));
        let text = String::from_utf8_lossy(&received).into_owned();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text)
    }

    /// Writes more bytes (request body, or stdin after an upgrade).
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// Reads until what was received contains `needle`.
    pub(crate) async fn read_until(&mut self, needle: &[u8]) {
        let found = async {
            let mut buf = [0u8; 8192];
            while !self.received.windows(needle.len()).any(|w| w == needle) {
                let n = self.stream.read(&mut buf).await.expect("read");
                assert!(n > 0, "connection closed before {:?}", String::from_utf8_lossy(needle));
                self.received.extend_from_slice(&buf[..n]);
            }
        };
        if tokio::time::timeout(DEADLINE, found).await.is_err() {
            panic!(
                "never received {:?}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.received)
            );
        }
    }

    /// The status code of the answer (reads its head first).
    pub(crate) async fn status(&mut self) -> u16 {
        self.read_until(b"\r\n\r\n").await;
        let text = String::from_utf8_lossy(&self.received);
        text.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line")
    }
}

/// Payloads of a multiplexed (stdcopy) stream, concatenated; bytes that are not framed (a
/// TTY) are returned as they are.
pub(crate) fn unframe(mut bytes: &[u8]) -> String {
    let mut out = Vec::new();
    while bytes.len() >= 8 && bytes[0] <= 3 && bytes[1..4] == [0, 0, 0] {
        let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        let end = (8 + len).min(bytes.len());
        out.extend_from_slice(&bytes[8..end]);
        bytes = &bytes[end..];
    }
    out.extend_from_slice(bytes);
    String::from_utf8_lossy(&out).into_owned()
}
