//! Unix sockets: permissions, group, stale and live sockets, cleanup, peer credentials.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use berth_listeners::{BindOptions, Host, ListenError, Listener, SocketGroup, bind_all};
use nix::unistd::Group;
use tokio::io::AsyncWriteExt;

async fn bind_unix(path: &Path, group: SocketGroup) -> Result<Listener, ListenError> {
    let opts = BindOptions { group, ..BindOptions::default() };
    let mut listeners = bind_all(&[Host::Unix(path.to_owned())], &opts).await?;
    assert_eq!(listeners.len(), 1, "one unix host gives one listener");
    Ok(listeners.remove(0))
}

fn gid_of(name: &str) -> u32 {
    Group::from_name(name)
        .expect("group database readable")
        .unwrap_or_else(|| panic!("group {name} exists on this machine"))
        .gid
        .as_raw()
}

#[tokio::test]
async fn socket_gets_0660_the_group_and_a_0755_parent() {
    let dir = tempfile::tempdir().expect("tempdir");
    // (group option, expected gid): by name, by numeric gid that has no name, and "" = own gid.
    let cases = [
        (SocketGroup::Named("daemon".into()), gid_of("daemon")),
        (SocketGroup::Named("4242".into()), 4242),
        (SocketGroup::Named(String::new()), nix::unistd::getgid().as_raw()),
        (SocketGroup::None, nix::unistd::getgid().as_raw()),
    ];
    for (i, (group, want_gid)) in cases.into_iter().enumerate() {
        let path = dir.path().join(format!("run{i}/sub/berth.sock"));
        let listener = bind_unix(&path, group.clone()).await.expect("bind");
        assert_eq!(listener.addr(), format!("unix://{}", path.display()));
        assert!(!listener.is_tls());
        assert_eq!(listener.local_tcp_addr(), None);

        let meta = std::fs::symlink_metadata(&path).expect("socket exists");
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.mode() & 0o7777, 0o660, "{group:?}");
        assert_eq!(meta.gid(), want_gid, "{group:?}");
        assert_eq!(meta.uid(), 0, "owned by root (tests run as root)");
        let parent = std::fs::metadata(path.parent().expect("has parent")).expect("parent exists");
        assert_eq!(parent.mode() & 0o777, 0o755);

        drop(listener);
        assert!(!path.exists(), "dropping the listener removes its socket");
    }
}

#[tokio::test]
async fn unknown_group_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.sock");
    let err = bind_unix(&path, SocketGroup::Named("no-such-group-xyz".into()))
        .await
        .expect_err("group does not exist");
    assert!(matches!(err, ListenError::GroupNotFound { .. }), "{err:?}");
    assert_eq!(err.to_string(), "group no-such-group-xyz not found");
    assert!(!path.exists(), "nothing is created when the group is wrong");
}

#[tokio::test]
async fn default_group_falls_back_to_own_gid_without_docker_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.sock");
    let listener =
        bind_unix(&path, SocketGroup::Default).await.expect("binds without a docker group");
    let want = match Group::from_name("docker").expect("group database readable") {
        Some(docker) => docker.gid.as_raw(),
        None => nix::unistd::getgid().as_raw(),
    };
    let meta = std::fs::metadata(&path).expect("socket exists");
    assert_eq!(meta.gid(), want);
    assert_eq!(meta.mode() & 0o7777, 0o660);
    drop(listener);
}

#[tokio::test]
async fn stale_socket_is_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.sock");
    drop(std::os::unix::net::UnixListener::bind(&path).expect("bind stale"));
    assert!(path.exists(), "std leaves the socket file behind");

    let listener = bind_unix(&path, SocketGroup::None).await.expect("stale socket removed");
    let mut client =
        tokio::net::UnixStream::connect(&path).await.expect("connect to the new socket");
    let (_conn, peer) = listener.accept().await.expect("accept");
    assert_eq!(peer.addr, "@");
    client.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn live_socket_refuses_to_start_and_is_left_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.sock");
    let live = tokio::net::UnixListener::bind(&path).expect("bind live");

    let err = bind_unix(&path, SocketGroup::None).await.expect_err("a daemon answers there");
    assert!(matches!(err, ListenError::AlreadyListening { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("already listening"), "{msg}");
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("refusing to start"), "{msg}");

    assert!(path.exists(), "the live socket file is kept");
    let _client =
        tokio::net::UnixStream::connect(&path).await.expect("live daemon still reachable");
    live.accept().await.expect("live daemon still accepts");
}

#[tokio::test]
async fn regular_file_or_directory_is_never_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("file.sock");
    std::fs::write(&file, b"user data").expect("write");
    let subdir = dir.path().join("dir.sock");
    std::fs::create_dir(&subdir).expect("mkdir");

    for path in [&file, &subdir] {
        let err = bind_unix(path, SocketGroup::None).await.expect_err("not a socket");
        assert!(matches!(err, ListenError::NotASocket { .. }), "{err:?}");
        assert!(err.to_string().contains(&path.display().to_string()), "{err}");
    }
    assert_eq!(std::fs::read(&file).expect("file kept"), b"user data");
    assert!(subdir.is_dir());
}

#[tokio::test]
async fn drop_leaves_a_socket_that_replaced_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.sock");
    let ours = bind_unix(&path, SocketGroup::None).await.expect("bind");
    // Another daemon took over the path meanwhile.
    std::fs::remove_file(&path).expect("unlink ours");
    let _theirs = std::os::unix::net::UnixListener::bind(&path).expect("bind theirs");
    drop(ours);
    assert!(path.exists(), "someone else's socket is not removed");
}

#[tokio::test]
async fn peer_credentials_are_ours() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("berth.sock");
    let listener = bind_unix(&path, SocketGroup::None).await.expect("bind");
    let _client = tokio::net::UnixStream::connect(&path).await.expect("connect");
    let (conn, peer) = listener.accept().await.expect("accept");
    assert!(matches!(conn, berth_listeners::Conn::Unix(_)));
    assert_eq!(peer.uid, Some(nix::unistd::geteuid().as_raw()));
    assert_eq!(peer.gid, Some(nix::unistd::getegid().as_raw()));
    assert_eq!(peer.pid, Some(i32::try_from(std::process::id()).expect("pid fits")));
    assert!(peer.client_certs.is_empty());
}
