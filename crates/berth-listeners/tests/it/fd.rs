//! `fd://` socket activation, end to end: the parent binds sockets, re-runs this test binary
//! as a child with them at fds 3 and 4 and `LISTEN_FDS`/`LISTEN_PID` set as systemd would, and
//! the child ([`activated_child`]) binds them through `bind_all`.

use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_listeners::{BindOptions, FdSpec, Host, ListenError, Listener, bind_all};
use command_fds::{CommandFdExt, FdMapping};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::pki::Pki;

/// Set in the child only: what it should check.
const MODE_ENV: &str = "BERTH_LISTENERS_FD_CHILD";
const TCP_ENV: &str = "BERTH_LISTENERS_FD_TCP";
const UNIX_ENV: &str = "BERTH_LISTENERS_FD_UNIX";
const CHILD_TEST: &str = "fd::activated_child";
/// How long the parent waits for the child's answers before declaring it stuck.
const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn fd_without_activation_is_an_error() {
    // This process was not socket activated (LISTEN_FDS is unset).
    for spec in [FdSpec::All, FdSpec::One(3)] {
        let err = bind_all(&[Host::Fd(spec)], &BindOptions::default())
            .await
            .expect_err("no activated sockets");
        assert!(matches!(err, ListenError::NoActivatedSockets), "{err:?}");
        assert_eq!(
            err.to_string(),
            "no sockets found via socket activation: make sure the service was started by systemd"
        );
    }
}

/// Spawns the child with a tcp socket at fd 3 and a unix socket at fd 4.
/// `pid`: `Some(v)` sets LISTEN_PID=v directly, `None` lets a shell set it to the child's pid.
fn spawn_child(
    mode: &str,
    pid: Option<&str>,
) -> (std::process::Child, std::net::SocketAddr, std::path::PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("activated.sock");
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").expect("bind tcp");
    let tcp_addr = tcp.local_addr().expect("tcp addr");
    let unix = std::os::unix::net::UnixListener::bind(&path).expect("bind unix");
    let exe = std::env::current_exe().expect("test binary path");

    let mut cmd = match pid {
        // `exec` keeps the shell's pid, so $$ is the pid of the test process that reads it.
        None => {
            let mut cmd = Command::new("/bin/sh");
            cmd.arg("-c").arg(r#"LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@""#).arg(&exe);
            cmd
        }
        Some(pid) => {
            let mut cmd = Command::new(&exe);
            cmd.env("LISTEN_PID", pid);
            cmd
        }
    };
    cmd.args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env("LISTEN_FDS", "2")
        .env(MODE_ENV, mode)
        .env(TCP_ENV, tcp_addr.to_string())
        .env(UNIX_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .fd_mappings(vec![
            FdMapping { parent_fd: OwnedFd::from(tcp), child_fd: 3 },
            FdMapping { parent_fd: OwnedFd::from(unix), child_fd: 4 },
        ])
        .expect("distinct child fds");
    let child = cmd.spawn().expect("spawn child");
    // Dropping `cmd` closes the parent's copies: only the child holds the sockets now.
    drop(cmd);
    (child, tcp_addr, path, dir)
}

fn assert_child_passed(child: std::process::Child) {
    let out = child.wait_with_output().expect("child exits");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    // Guards against a filter that matched nothing (which also exits 0).
    assert!(stdout.contains(&format!("test {CHILD_TEST} ... ok")), "child did not run:\n{stdout}");
}

#[tokio::test]
async fn activated_sockets_are_taken_once_each() {
    let (mut child, tcp_addr, path, _dir) = spawn_child("one", None);
    // The child accepts one connection per socket and answers with the socket's kind.
    let talk = async {
        let read_tcp = async {
            let mut tcp = tokio::net::TcpStream::connect(tcp_addr).await.expect("connect tcp");
            let mut got = String::new();
            tcp.read_to_string(&mut got).await.expect("read tcp");
            got
        };
        let read_unix = async {
            let mut unix = tokio::net::UnixStream::connect(&path).await.expect("connect unix");
            let mut got = String::new();
            unix.read_to_string(&mut got).await.expect("read unix");
            got
        };
        tokio::join!(read_tcp, read_unix)
    };
    let Ok(answers) = tokio::time::timeout(DEADLINE, talk).await else {
        child.kill().expect("kill stuck child");
        assert_child_passed(child);
        panic!("the child did not answer within {DEADLINE:?}");
    };
    assert_eq!(answers, ("tcp".to_owned(), "unix".to_owned()));
    assert_child_passed(child);
    assert!(path.exists(), "the activated socket's file belongs to systemd and is kept");
}

#[tokio::test]
async fn fd_all_takes_every_socket_and_wraps_them_in_tls() {
    let (child, _, _, _dir) = spawn_child("all", None);
    assert_child_passed(child);
}

#[tokio::test]
async fn fds_for_another_pid_are_ignored() {
    let (child, _, _, _dir) = spawn_child("wrong-pid", Some("1"));
    assert_child_passed(child);
}

/// Accepts one connection and writes `name` to it.
async fn answer(listener: &Listener, name: &str) {
    let (mut conn, _peer) = listener.accept().await.expect("accept");
    conn.write_all(name.as_bytes()).await.expect("write");
    conn.shutdown().await.expect("shutdown");
}

/// Runs only inside the child spawned above; a no-op in a normal test run.
#[tokio::test]
async fn activated_child() {
    let Ok(mode) = std::env::var(MODE_ENV) else {
        return;
    };
    let tcp_addr = std::env::var(TCP_ENV).expect("tcp addr passed");
    let unix_path = std::env::var(UNIX_ENV).expect("unix path passed");
    let tcp_display = format!("tcp://{tcp_addr}");
    let unix_display = format!("unix://{unix_path}");
    let bind = |hosts: Vec<Host>, opts: BindOptions| async move { bind_all(&hosts, &opts).await };

    match mode.as_str() {
        "one" => {
            assert_eq!(
                std::env::var("LISTEN_PID").ok(),
                Some(std::process::id().to_string()),
                "the shell set LISTEN_PID to our pid"
            );
            let listeners = bind(
                vec![Host::Fd(FdSpec::One(4)), Host::Fd(FdSpec::One(3))],
                BindOptions::default(),
            )
            .await
            .expect("both activated sockets");
            let addrs: Vec<&str> = listeners.iter().map(|l| l.addr()).collect();
            assert_eq!(addrs, [unix_display.as_str(), tcp_display.as_str()]);
            assert_eq!(std::env::var_os("LISTEN_FDS"), None, "cleared for our children");

            let cases = [
                (FdSpec::One(3), "socket activated fd 3 is already in use by another fd:// host"),
                (FdSpec::All, "all socket activated files are already in use by other fd:// hosts"),
                (FdSpec::One(5), "too few socket activated files passed in by systemd"),
                (
                    FdSpec::One(2),
                    "socket activated fd 2 is out of range: systemd passes descriptors from 3",
                ),
            ];
            for (spec, want) in cases {
                let err = bind(vec![Host::Fd(spec)], BindOptions::default())
                    .await
                    .expect_err("cannot take again");
                assert_eq!(err.to_string(), want, "{spec:?}");
            }

            // Served concurrently: the parent may connect in any order.
            tokio::join!(answer(&listeners[0], "unix"), answer(&listeners[1], "tcp"));
        }
        "all" => {
            let pki = Pki::new();
            let opts = BindOptions {
                tls: Some(
                    berth_listeners::server_tls_config(&pki.options(true)).expect("server config"),
                ),
                tls_verify: true,
                ..BindOptions::default()
            };
            let listeners =
                bind(vec![Host::Fd(FdSpec::All)], opts).await.expect("all activated sockets");
            let addrs: Vec<&str> = listeners.iter().map(|l| l.addr()).collect();
            assert_eq!(addrs, [tcp_display.as_str(), unix_display.as_str()]);
            assert!(listeners.iter().all(|l| l.is_tls()), "activated unix sockets get TLS too");
            assert_eq!(
                listeners[0].local_tcp_addr().map(|a| a.to_string()),
                Some(tcp_addr.clone())
            );
        }
        "wrong-pid" => {
            let err = bind(vec![Host::Fd(FdSpec::All)], BindOptions::default())
                .await
                .expect_err("sockets were meant for another process");
            assert!(matches!(err, ListenError::NoActivatedSockets), "{err:?}");
        }
        other => panic!("unknown child mode {other}"),
    }
}
