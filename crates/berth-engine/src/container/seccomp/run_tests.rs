//! Real containers on a private containerd and runc: the filter the kernel reports inside
//! them, and a custom profile's refusals reaching the process.

use std::time::Duration;

use berth_api::ErrorKind;
use berth_api::container::{ExecCreateBody, WaitCondition};
use berth_backend::{
    ContainerBackend, ContainerCreateOptions, ContainerListOptions, ContainerRemoveOptions,
    ExecBackend,
};

use crate::Engine;
use crate::container::tests::{create_options, exec_output, import_busybox, logs};
use crate::testutil::{TestContainerd, engine_with};

/// Runs `cmd` to its end in a new container set up by `adjust`; its exit code and output.
async fn run(
    engine: &Engine,
    name: &str,
    cmd: &[&str],
    adjust: impl FnOnce(&mut ContainerCreateOptions),
) -> (i64, String) {
    let mut options = create_options(name, cmd, "none");
    adjust(&mut options);
    ContainerBackend::create(engine, options).await.expect("create");
    let wait = ContainerBackend::wait(engine, name, WaitCondition::NextExit).await.expect("wait");
    ContainerBackend::start(engine, name, "", "").await.expect("start");
    let status = tokio::time::timeout(Duration::from_secs(30), wait).await.expect("exits in time");
    (status.status_code, logs(engine, name).await)
}

fn security(options: &mut ContainerCreateOptions, opts: &[&str]) {
    let hc = options.body.host_config.as_mut().expect("host config");
    hc.security_opt = Some(opts.iter().map(|o| (*o).to_owned()).collect());
}

/// Whether this process's bounding set has every capability the kernel knows.
fn holds_every_capability() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let bounding = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("CapBnd");
    let last: u32 = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .expect("cap_last_cap")
        .trim()
        .parse()
        .expect("a number");
    let every = u64::MAX >> (63 - last);
    bounding & every == every
}

/// The `Seccomp:` mode the kernel reports for the container's process: 2 is filtered, 0 none.
const MODE: [&str; 4] = ["/bin/busybox", "grep", "^Seccomp:", "/proc/self/status"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_run_under_the_filter_dockerd_would_give_them() {
    let ctrd = TestContainerd::start().await;
    let (engine, _) = engine_with(&ctrd, "berthsc0", "10.213.236.1/24").await;
    import_busybox(&engine).await;

    let (code, out) = run(&engine, "default", &MODE, |_| {}).await;
    assert_eq!((code, out.trim()), (0, "Seccomp:\t2"), "the built-in profile is loaded");
    let (code, out) = run(&engine, "builtin", &MODE, |o| security(o, &["seccomp=builtin"])).await;
    assert_eq!((code, out.trim()), (0, "Seccomp:\t2"));
    let (code, out) =
        run(&engine, "unconfined", &MODE, |o| security(o, &["seccomp=unconfined"])).await;
    assert_eq!((code, out.trim()), (0, "Seccomp:\t0"));
    // Privileged: no filter. A privileged container gets every capability the kernel knows,
    // which runc cannot grant where the test itself lacks one (some sandboxes): there only the
    // spec runc was given is checked, below.
    if holds_every_capability() {
        let (code, out) = run(&engine, "privileged", &MODE, |o| {
            o.body.host_config.as_mut().expect("host config").privileged = true;
        })
        .await;
        assert_eq!((code, out.trim()), (0, "Seccomp:\t0"), "privileged: no filter");
    } else {
        let mut options = create_options("privileged", &MODE, "none");
        options.body.host_config.as_mut().expect("host config").privileged = true;
        ContainerBackend::create(&engine, options).await.expect("create");
        let err = ContainerBackend::start(&engine, "privileged", "", "").await.expect_err("caps");
        assert!(err.message().contains("caps"), "{err}");
    }

    // The built-in profile lets mkdir through; a profile that denies it does not.
    let mkdir = ["/bin/busybox", "mkdir", "/made"];
    let (code, out) = run(&engine, "mkdir-default", &mkdir, |_| {}).await;
    assert_eq!((code, out.as_str()), (0, ""));
    let deny = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}"#;
    let seccomp = format!("seccomp={deny}");
    let (code, out) = run(&engine, "mkdir-denied", &mkdir, |o| security(o, &[&seccomp])).await;
    assert_ne!(code, 0, "{out}");
    assert!(out.contains("Operation not permitted"), "{out:?}");

    // Capabilities open their group: with CAP_SYS_ADMIN the filter lets mount through.
    let mount = ["/bin/busybox", "mount", "-t", "tmpfs", "none", "/tmp"];
    let (code, out) = run(&engine, "admin", &mount, |o| {
        o.body.host_config.as_mut().expect("host config").cap_add = Some(vec!["SYS_ADMIN".into()]);
    })
    .await;
    assert_eq!((code, out.as_str()), (0, ""), "mount with CAP_SYS_ADMIN");

    // An exec joins the container's filter.
    ContainerBackend::create(&engine, create_options("execd", &["sleep", "60"], "none"))
        .await
        .expect("create");
    ContainerBackend::start(&engine, "execd", "", "").await.expect("start");
    let body = ExecCreateBody {
        cmd: Some(MODE.iter().map(|s| (*s).to_owned()).collect()),
        attach_stdout: true,
        ..ExecCreateBody::default()
    };
    let exec = ExecBackend::create(&engine, "execd", body).await.expect("exec create");
    let out = exec_output(&engine, &exec).await;
    assert_eq!(out.trim(), "Seccomp:\t2", "exec");
    let force = ContainerRemoveOptions { force: true, ..ContainerRemoveOptions::default() };
    ContainerBackend::remove(&engine, "execd", force).await.expect("rm");

    // What runc was given: the section is there, or not.
    let manager = engine.containers().expect("manager");
    for (name, filtered) in [("default", true), ("unconfined", false), ("privileged", false)] {
        let id = manager.get(name).expect("container").id.clone();
        let spec = manager.runtime.spec(&id).await.expect("spec");
        assert_eq!(spec["process"]["args"][0], "/bin/busybox", "{name}: the run's own spec");
        assert_eq!(spec["linux"].get("seccomp").is_some(), filtered, "{name}");
    }

    // Bad options fail the create and leave nothing.
    let all = || ContainerListOptions { all: true, ..ContainerListOptions::default() };
    let before = ContainerBackend::list(&engine, all()).await.expect("list").len();
    assert_eq!(before, 7);
    for (opt, want) in [
        ("seccomp={\"defaultAction\":", "Decoding seccomp profile failed: "),
        (
            "seccomp={\"syscalls\":[{\"name\":\"a\",\"names\":[\"b\"]}]}",
            "use either 'name' or 'names'",
        ),
        ("seccmp=unconfined", "invalid --security-opt 2: \"seccmp=unconfined\""),
        ("unconfined", "invalid --security-opt 1: \"unconfined\""),
    ] {
        let mut options = create_options("", &["true"], "none");
        security(&mut options, &[opt]);
        let err = ContainerBackend::create(&engine, options).await.expect_err(opt);
        assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{opt}: {err}");
        assert!(err.message().contains(want), "{opt}: {err}");
    }
    let after = ContainerBackend::list(&engine, all()).await.expect("list").len();
    assert_eq!(before, after, "refused creates left containers");

    for name in
        ["default", "builtin", "unconfined", "privileged", "mkdir-default", "mkdir-denied", "admin"]
    {
        ContainerBackend::remove(&engine, name, Default::default()).await.expect("rm");
    }
    engine.shutdown().await;
    ctrd.stop().await;
}
