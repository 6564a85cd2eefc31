//! berthd with its own supervised containerd, and without a usable one.

use crate::harness::{Daemon, engine_args};

#[tokio::test]
async fn berthd_runs_and_stops_its_own_containerd() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let namespace = format!("berth-it-{}", std::process::id());
    let args = engine_args(dir.path());
    let mut daemon = Daemon::start_with(dir, args, &["--containerd-namespace", &namespace]).await;

    let version = daemon.get("/version").await.json();
    let names: Vec<&str> = version["Components"]
        .as_array()
        .map(|cs| cs.iter().filter_map(|c| c["Name"].as_str()).collect())
        .unwrap_or_default();
    // docker-init is Debian's tini (`--init`), when installed, as with dockerd.
    let tini =
        ["/usr/bin/tini-static", "/usr/bin/tini"].iter().any(|p| std::path::Path::new(p).exists());
    let expected: &[&str] = if tini {
        &["Engine", "containerd", "runc", "docker-init"]
    } else {
        &["Engine", "containerd", "runc"]
    };
    assert_eq!(names, expected, "{version}");
    let info = daemon.get("/info").await.json();
    assert_eq!(info["Driver"], "overlayfs");
    assert_eq!(info["Images"], 0);
    assert!(info["ContainerdCommit"]["ID"].as_str().is_some_and(|s| !s.is_empty()), "{info}");

    let pidfile = daemon.dir.path().join("exec/containerd/containerd.pid");
    let pid: i32 =
        std::fs::read_to_string(&pidfile).expect("containerd pidfile").trim().parse().expect("pid");
    let pid = nix::unistd::Pid::from_raw(pid);
    assert!(nix::sys::signal::kill(pid, None).is_ok(), "containerd runs");

    let status = daemon.stop().await;
    assert!(status.success(), "{status}: {}", daemon.log());
    assert!(nix::sys::signal::kill(pid, None).is_err(), "containerd stopped with berthd");
}

#[tokio::test]
async fn without_containerd_the_daemon_serves_and_says_why() {
    let daemon = Daemon::start(&[]).await;
    let info = daemon.get("/info").await.json();
    let warnings = info["Warnings"].to_string();
    assert!(warnings.contains("containerd is not available"), "{warnings}");
    assert_eq!(info["Driver"], "");
    assert!(daemon.log().contains("containerd is not available"), "logged once at start");
}
