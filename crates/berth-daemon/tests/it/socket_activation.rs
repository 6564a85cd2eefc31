//! `-H fd://`: systemd socket activation with an inherited listening socket.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};

use command_fds::{CommandFdExt, FdMapping};

use crate::harness::{DEADLINE, base_args, berthd_bin, request, wait_exit};

async fn run_activated(host: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let socket = dir.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&socket).expect("bind");
    let fd: OwnedFd = listener.into();
    let mut cmd = Command::new("sh");
    // `exec` keeps the shell's PID, so LISTEN_PID=$$ names berthd, as systemd would.
    cmd.arg("-c")
        .arg(r#"LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@""#)
        .arg(berthd_bin())
        .args(base_args(dir.path()))
        .args(["-H", host])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("berthd.log")).expect("log"));
    cmd.fd_mappings(vec![FdMapping { parent_fd: fd, child_fd: 3 }]).expect("fd mapping");
    let mut child = cmd.spawn().expect("spawn");
    let start = std::time::Instant::now();
    let ping = loop {
        if let Ok(res) = request(&socket, "GET", "/_ping", None).await {
            break res;
        }
        let log = std::fs::read_to_string(dir.path().join("berthd.log")).unwrap_or_default();
        assert!(child.try_wait().expect("try_wait").is_none(), "berthd exited: {log}");
        assert!(start.elapsed() < DEADLINE, "no answer on the activated socket: {log}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(ping.body, "OK");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("sigterm");
    assert!(wait_exit(&mut child).await.success());
}

#[tokio::test]
async fn serves_on_all_activated_sockets() {
    run_activated("fd://").await;
}

#[tokio::test]
async fn serves_on_a_named_activated_fd() {
    run_activated("fd://3").await;
}

#[tokio::test]
async fn fd_without_activation_fails_clearly() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("daemon.json"), "{}").expect("config");
    let out = Command::new(berthd_bin())
        .args(base_args(dir.path()))
        .args(["-H", "fd://"])
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDS")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no sockets found via socket activation"), "{stderr}");
}
