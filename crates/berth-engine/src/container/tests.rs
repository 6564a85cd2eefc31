//! The container lifecycle against a private containerd and runc: create, start, output, exit,
//! logs, exec, removal without leftovers, and restore by a new engine.

use std::sync::Arc;
use std::time::Duration;

use berth_api::container::{
    Config, ContainerCreateBody, ExecCreateBody, HostConfig, WaitCondition,
};
use berth_backend::{
    ContainerBackend, ContainerCreateOptions, ContainerLogsOptions, ContainerRemoveOptions,
    ExecBackend, ExecStartOptions, ImageBackend, ImageImportOptions, ImportSource,
};
use bytes::Bytes;
use futures_util::StreamExt;

use crate::Engine;
use crate::testutil::{TestContainerd, engine_with};

/// A rootfs tarball with the host's static busybox and the applets the tests use.
pub(crate) fn busybox_rootfs() -> Bytes {
    let busybox = std::fs::read("/bin/busybox").expect("busybox-static is installed");
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(busybox.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    builder.append_data(&mut header, "bin/busybox", busybox.as_slice()).expect("append");
    for applet in ["sh", "echo", "sleep", "cat", "true", "ls"] {
        let mut link = tar::Header::new_gnu();
        link.set_entry_type(tar::EntryType::Symlink);
        link.set_size(0);
        link.set_mode(0o777);
        builder.append_link(&mut link, format!("bin/{applet}"), "busybox").expect("link");
    }
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_size(0);
    dir.set_mode(0o1777);
    builder.append_data(&mut dir, "tmp/", std::io::empty()).expect("tmp");
    Bytes::from(builder.into_inner().expect("tar"))
}

pub(crate) async fn import_busybox(engine: &Engine) {
    let body = futures_util::stream::iter([Ok(busybox_rootfs())]).boxed();
    let options = ImageImportOptions {
        source: ImportSource::Body(body),
        reference: Some(berth_api::image::Reference::parse_normalized("busybox").expect("name")),
        changes: vec!["CMD [\"sh\"]".to_owned()],
        message: String::new(),
        platform: None,
    };
    let progress: Vec<_> = engine.import(options).await.expect("import busybox").collect().await;
    assert!(progress.iter().all(Result::is_ok), "import progress: {progress:?}");
}

pub(crate) fn create_options(name: &str, cmd: &[&str], network: &str) -> ContainerCreateOptions {
    ContainerCreateOptions {
        name: name.to_owned(),
        body: ContainerCreateBody {
            config: Config {
                image: "busybox".to_owned(),
                cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
                ..Config::default()
            },
            host_config: Some(HostConfig {
                network_mode: network.to_owned(),
                ..HostConfig::default()
            }),
            networking_config: None,
        },
        ..ContainerCreateOptions::default()
    }
}

/// Starts exec `id` detached from stdin and collects its output to the end.
pub(crate) async fn exec_output(engine: &Engine, id: &str) -> String {
    let stream = ExecBackend::start(engine, id, ExecStartOptions::default(), None)
        .await
        .expect("exec start");
    let out: Vec<_> = stream.output.collect().await;
    out.into_iter()
        .map(|c| String::from_utf8_lossy(&c.expect("chunk").bytes).into_owned())
        .collect()
}

pub(crate) async fn logs(engine: &Engine, name: &str) -> String {
    let options = ContainerLogsOptions { stdout: true, stderr: true, ..Default::default() };
    let stream = ContainerBackend::logs(engine, name, options).await.expect("logs");
    let chunks: Vec<_> = stream.chunks.collect().await;
    chunks
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.expect("chunk").bytes).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_runs_logs_exits_and_leaves_nothing() {
    let ctrd = TestContainerd::start().await;
    let (engine, events) = engine_with(&ctrd, "berthlc0", "10.213.251.1/24").await;
    import_busybox(&engine).await;

    let created = ContainerBackend::create(
        &engine,
        create_options("t1", &["sh", "-c", "echo out; echo err >&2; exit 3"], "none"),
    )
    .await
    .expect("create");
    let wait = ContainerBackend::wait(&engine, "t1", WaitCondition::NextExit).await.expect("wait");
    ContainerBackend::start(&engine, "t1", "", "").await.expect("start");
    let status = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("exits in time");
    assert_eq!(status.status_code, 3);

    let inspect = ContainerBackend::inspect(&engine, "t1", false).await.expect("inspect");
    let state = inspect.state.expect("state");
    assert_eq!((state.status.as_str(), state.exit_code, state.running), ("exited", 3, false));
    let text = logs(&engine, "t1").await;
    assert!(text.contains("out\n") && text.contains("err\n"), "{text:?}");
    assert_eq!(events.actions(&created.id), ["create", "start", "die"]);

    // Command not found: dockerd's exit code and message, and the container stays created.
    ContainerBackend::create(&engine, create_options("t2", &["nosuch"], "none"))
        .await
        .expect("create");
    let err = ContainerBackend::start(&engine, "t2", "", "").await.expect_err("no such binary");
    assert!(err.message().contains("executable file not found"), "{err}");
    let t2 = ContainerBackend::inspect(&engine, "t2", false)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!((t2.status.as_str(), t2.exit_code), ("created", 127));

    // No image, as dockerd 28 allows: an empty root filesystem, which `docker cp` can fill.
    let mut bare = create_options("t3", &["/busybox", "echo", "bare"], "none");
    bare.body.config.image = String::new();
    ContainerBackend::create(&engine, bare).await.expect("create without an image");
    let inspect = ContainerBackend::inspect(&engine, "t3", false).await.expect("inspect");
    let config = inspect.config.expect("config");
    assert_eq!((inspect.image.as_str(), config.image.as_str()), ("", ""));
    assert_eq!(config.labels, None, "no image labels merged, as dockerd: null");
    let busybox = std::fs::read("/bin/busybox").expect("Debian's static busybox");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(busybox.len() as u64);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, "busybox", busybox.as_slice()).expect("append");
    let tar = bytes::Bytes::from(tar.into_inner().expect("tar"));
    let options = berth_backend::ArchivePutOptions {
        path: "/".to_owned(),
        no_overwrite_dir_non_dir: false,
        copy_uid_gid: false,
        body: futures_util::stream::once(async move { Ok(tar) }).boxed(),
    };
    ContainerBackend::archive_put(&engine, "t3", options).await.expect("cp into it");
    let wait = ContainerBackend::wait(&engine, "t3", WaitCondition::NextExit).await.expect("wait");
    ContainerBackend::start(&engine, "t3", "", "").await.expect("start");
    let status = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("exits in time");
    assert_eq!(status.status_code, 0);
    assert_eq!(logs(&engine, "t3").await, "bare\n");

    // --device: the host's /dev/zero as /dev/myzero, readable and writable, not mknod-able; a
    // device that is not there fails the start with dockerd's message.
    let mut with_device =
        create_options("t4", &["sh", "-c", "head -c 3 /dev/myzero | wc -c"], "none");
    let host = with_device.body.host_config.get_or_insert_with(Default::default);
    host.resources.devices = Some(vec![berth_api::container::DeviceMapping {
        path_on_host: "/dev/zero".into(),
        path_in_container: "/dev/myzero".into(),
        cgroup_permissions: "rw".into(),
    }]);
    ContainerBackend::create(&engine, with_device).await.expect("create with a device");
    let wait = ContainerBackend::wait(&engine, "t4", WaitCondition::NextExit).await.expect("wait");
    ContainerBackend::start(&engine, "t4", "", "").await.expect("start");
    let status = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("exits in time");
    assert_eq!(status.status_code, 0, "{}", logs(&engine, "t4").await);
    assert_eq!(logs(&engine, "t4").await.trim(), "3");
    let mut missing = create_options("t5", &["true"], "none");
    let host = missing.body.host_config.get_or_insert_with(Default::default);
    host.resources.devices = Some(vec![berth_api::container::DeviceMapping {
        path_on_host: "/dev/berth-no-such-device".into(),
        path_in_container: "/dev/x".into(),
        cgroup_permissions: "rwm".into(),
    }]);
    ContainerBackend::create(&engine, missing).await.expect("create");
    let err = ContainerBackend::start(&engine, "t5", "", "").await.expect_err("no such device");
    assert!(err.message().contains("error gathering device information while adding custom device \"/dev/berth-no-such-device\""), "{err}");

    for name in ["t1", "t2", "t3", "t4", "t5"] {
        ContainerBackend::remove(&engine, name, ContainerRemoveOptions::default())
            .await
            .expect("rm");
    }
    let runtime = &engine.containers().expect("manager").runtime;
    assert!(runtime.container_ids().await.expect("ids").is_empty(), "containerd records left");
    let dirs = std::fs::read_dir(ctrd.dir.path().join("data/containers")).expect("dir").count();
    assert_eq!(dirs, 0, "container directories left");
    assert!(ContainerBackend::list(&engine, Default::default()).await.expect("list").is_empty());
    engine.shutdown().await;
    ctrd.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_on_the_bridge_and_restore_by_a_new_engine() {
    let ctrd = TestContainerd::start().await;
    let bridge = "berthrs0";
    let (engine, _) = engine_with(&ctrd, bridge, "10.213.252.1/24").await;
    import_busybox(&engine).await;
    let guard = BridgeGuard(bridge);

    ContainerBackend::create(
        &engine,
        create_options("svc", &["sh", "-c", "echo up; while true; do sleep 1; done"], "bridge"),
    )
    .await
    .expect("create");
    ContainerBackend::start(&engine, "svc", "", "").await.expect("start");
    let inspect = ContainerBackend::inspect(&engine, "svc", false).await.expect("inspect");
    let ip = inspect.network_settings.expect("network").ip_address;
    assert!(ip.starts_with("10.213.252."), "{ip}");

    let exec = ExecBackend::create(
        &engine,
        "svc",
        ExecCreateBody {
            cmd: Some(vec!["cat".into(), "/etc/hostname".into()]),
            attach_stdout: true,
            ..ExecCreateBody::default()
        },
    )
    .await
    .expect("exec create");
    let out = exec_output(&engine, &exec).await;
    assert_eq!(out.trim(), &inspect.config.expect("config").hostname);

    // Over, the exec reads as dockerd 28's: its PID kept, not removable until the collection
    // marks it, no detach keys (""), off the container's ExecIDs, and it cannot start again.
    let done = ExecBackend::inspect(&engine, &exec).await.expect("exec inspect");
    assert_eq!((done.exit_code, done.running, done.can_remove), (Some(0), false, false));
    assert!(done.pid > 0, "{done:?}");
    assert_eq!(done.detach_keys.as_deref(), Some(""));
    let again = ExecBackend::start(&engine, &exec, ExecStartOptions::default(), None)
        .await
        .map(|_| ())
        .expect_err("started twice");
    assert_eq!(again.message(), format!("exec command {exec} has already run"));
    let pending = ExecBackend::create(
        &engine,
        "svc",
        ExecCreateBody {
            cmd: Some(vec!["true".into()]),
            detach_keys: "ctrl-x,a".into(),
            ..ExecCreateBody::default()
        },
    )
    .await
    .expect("exec create");
    let pending_inspect = ExecBackend::inspect(&engine, &pending).await.expect("exec inspect");
    assert_eq!(pending_inspect.detach_keys.as_deref(), Some("GGE="), "bytes 0x18 'a'");
    let listed = ContainerBackend::inspect(&engine, "svc", false).await.expect("inspect").exec_ids;
    assert_eq!(listed, Some(vec![pending.clone()]), "only the exec that has not run");

    // berthd "crashes": the engine goes away without stopping anything (live-restore is on in
    // tests); a new one finds the container still running.
    drop(engine);
    let (engine, _) = engine_with(&ctrd, bridge, "10.213.252.1/24").await;
    let state = ContainerBackend::inspect(&engine, "svc", false)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!(state.status, "running");
    ContainerBackend::stop(
        &engine,
        "svc",
        berth_backend::ContainerStopOptions { timeout: Some(1), signal: None },
    )
    .await
    .expect("stop");
    let state = ContainerBackend::inspect(&engine, "svc", false)
        .await
        .expect("inspect")
        .state
        .expect("state");
    assert_eq!(state.status, "exited");
    assert!(logs(&engine, "svc").await.contains("up\n"));
    ContainerBackend::remove(&engine, "svc", ContainerRemoveOptions::default()).await.expect("rm");
    let netns =
        std::fs::read_dir(ctrd.dir.path().join("exec/netns")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(netns, 0, "network namespaces left");
    engine.shutdown().await;
    drop(guard);
    ctrd.stop().await;
}

/// Deletes the test's bridge device, even after a failure.
struct BridgeGuard(&'static str);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["link", "del", self.0]).status();
    }
}

/// What a start or a create that containerd died under leaves: a task the record does not know
/// of (the next start discards it; so does a reconcile), and a containerd container no Berth
/// container owns (a reconcile removes it, not the containers that are Berth's).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_tasks_and_orphan_records_are_cleared() {
    let ctrd = TestContainerd::start().await;
    let (engine, _) = engine_with(&ctrd, "berthst0", "10.213.249.1/24").await;
    import_busybox(&engine).await;
    let manager = Arc::clone(engine.containers().expect("manager"));
    let stop = berth_backend::ContainerStopOptions { timeout: Some(0), signal: None };

    // Host network: the spec of a stopped container names no namespace that is gone.
    for name in ["stale1", "stale2"] {
        ContainerBackend::create(&engine, create_options(name, &["sleep", "60"], "host"))
            .await
            .expect("create");
        ContainerBackend::start(&engine, name, "", "").await.expect("start");
        ContainerBackend::stop(&engine, name, stop.clone()).await.expect("stop");
    }
    let stale = |name: &'static str| {
        let manager = Arc::clone(&manager);
        async move {
            let id = manager.get(name).expect("container").id.clone();
            let spec = manager.runtime.spec(&id).await.expect("spec");
            let task = manager.runtime.start_task(&id, &spec, false).await.expect("stale task");
            drop(task);
            id
        }
    };
    let first = stale("stale1").await;
    ContainerBackend::start(&engine, "stale1", "", "").await.expect("start over a stale task");
    let state = ContainerBackend::inspect(&engine, "stale1", false).await.expect("inspect");
    assert_eq!(state.state.expect("state").status, "running");
    ContainerBackend::stop(&engine, &first, stop.clone()).await.expect("stop");

    let second = stale("stale2").await;
    let labels = [("io.berth.name".to_owned(), "orphan".to_owned())].into();
    let placeholder = serde_json::json!({ "ociVersion": "1.0.2-dev" });
    let record = manager.registry.get("stale2").expect("stale2").record();
    manager
        .runtime
        .prepare("orphan1", &record.config.image, &record.chain_id, &labels, &placeholder)
        .await
        .expect("an orphan record");
    assert_eq!(manager.reconcile().await.expect("reconcile"), (1, 1));
    assert!(manager.runtime.task_status(&second, "").await.expect("status").is_none());
    let mut ids = manager.runtime.container_ids().await.expect("ids");
    ids.sort();
    let mut want = vec![first.clone(), second.clone()];
    want.sort();
    assert_eq!(ids, want, "the orphan went, Berth's containers stayed");
    ContainerBackend::start(&engine, "stale2", "", "").await.expect("start after reconcile");
    for name in ["stale1", "stale2"] {
        let options = ContainerRemoveOptions { force: true, ..ContainerRemoveOptions::default() };
        ContainerBackend::remove(&engine, name, options).await.expect("rm");
    }
    engine.shutdown().await;
    ctrd.stop().await;
}

/// `--cpu-rt-runtime` reaches the container's cgroup as dockerd sends it: without a real-time
/// budget in the parent cgroup (berthd has no daemon-wide `--cpu-rt-runtime`, like a dockerd
/// started without one) the kernel refuses it and the start fails with runc's words, where
/// dropping it would start a container without the scheduling it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_time_runtime_goes_to_the_cgroup() {
    let ctrd = TestContainerd::start().await;
    let (engine, _) = engine_with(&ctrd, "berthrt0", "10.213.238.1/24").await;
    import_busybox(&engine).await;
    let mut options = create_options("rt", &["true"], "none");
    options.body.host_config.as_mut().expect("host config").resources.cpu_realtime_runtime = 10_000;
    ContainerBackend::create(&engine, options).await.expect("create");
    let err = ContainerBackend::start(&engine, "rt", "", "").await.expect_err("no budget");
    assert!(err.message().contains("cpu.rt_runtime_us"), "{err}");
    // Without it the same container starts.
    let mut options = create_options("no-rt", &["true"], "none");
    options.body.host_config.as_mut().expect("host config").resources.cpu_realtime_period =
        1_000_000;
    ContainerBackend::create(&engine, options).await.expect("create");
    let exit =
        ContainerBackend::wait(&engine, "no-rt", WaitCondition::NextExit).await.expect("wait");
    ContainerBackend::start(&engine, "no-rt", "", "").await.expect("a period alone is fine");
    // Removed once it has exited: a forced removal racing the exit is not what this tests.
    let status = tokio::time::timeout(Duration::from_secs(30), exit).await.expect("exits in time");
    assert_eq!(status.status_code, 0);
    for name in ["rt", "no-rt"] {
        let remove = ContainerRemoveOptions { force: true, ..Default::default() };
        ContainerBackend::remove(&engine, name, remove).await.expect("remove");
    }
}
