//! Clients that hang up in the middle of events, logs -f, attach, exec, load, import and pull:
//! afterwards berthd holds no more descriptors and tokio tasks than before, leaves no
//! temporary file, lease or ingest, and containerd runs no process nobody waits for.
//!
//! As dockerd, berthd lets an exec's process run on when its client goes (dockerd starts it
//! with a context that no client cancels): without stdin it runs to its end; with stdin, the
//! client's end closes the process's stdin.

use serde_json::{Value, json};

use super::images::{busybox_rootfs, digest, docker_save, noise, tarball};
use super::registry::Registry;
use super::support::{Berthd, Raw, Usage, wait_for};

const UPGRADE: &str = "Connection: Upgrade\r\nUpgrade: tcp";

/// `POST /containers/{id}/exec` with `body`; the exec's ID.
async fn exec_create(berthd: &Berthd, id: &str, body: Value) -> String {
    let answer = berthd.call("POST", &format!("/containers/{id}/exec"), Some(body)).await;
    assert_eq!(answer.status, 201, "{answer:?}");
    answer.json()["Id"].as_str().expect("Id").to_owned()
}

async fn exec_inspect(berthd: &Berthd, exec: &str) -> Value {
    let answer = berthd.call("GET", &format!("/exec/{exec}/json"), None).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    answer.json()
}

/// Starts exec `exec` attached, over an upgraded connection.
async fn exec_start(berthd: &Berthd, exec: &str) -> Raw {
    let body = br#"{"Detach":false,"Tty":false}"#;
    let head = format!(
        "POST /exec/{exec}/start HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{UPGRADE}",
        body.len()
    );
    let mut raw = Raw::send(&berthd.socket(), &head, body).await;
    assert_eq!(raw.status().await, 101);
    raw
}

/// Waits until berthd's sockets are back to `baseline`'s: it let go of a client connection.
async fn wait_sockets_back(berthd: &Berthd, baseline: Usage, what: &str) {
    wait_for(what, || async { berthd.usage().await.sockets <= baseline.sockets }).await;
}

async fn image_absent(berthd: &Berthd, name: &str) {
    let answer = berthd.call("GET", &format!("/images/{name}/json"), None).await;
    assert_eq!(answer.status, 404, "{name} exists: {answer:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_hang_up_mid_stream_leave_nothing_behind() {
    let registry = Registry::start().await;
    let layers =
        vec![busybox_rootfs(), tarball(&[("data/", b""), ("data/big", &noise(4 << 20, 9))])];
    registry.push("stall", "latest", &layers);
    registry.stall(&digest(&layers[1]));
    let berthd = Berthd::start("hangup").await;
    berthd.import_busybox().await;
    let ticking = json!(["sh", "-c", "while :; do echo tick; sleep 1; done"]);
    let chatty = berthd.run("chatty", json!({ "Image": "busybox", "Cmd": ticking })).await;
    let silent =
        berthd.run("silent", json!({ "Image": "busybox", "Cmd": ["sleep", "3600"] })).await;
    let stdin =
        berthd.run("stdin", json!({ "Image": "busybox", "Cmd": ["cat"], "OpenStdin": true })).await;
    let socket = berthd.socket();
    let baseline = berthd.idle_usage().await;

    // Events.
    let mut events = Raw::send(&socket, "GET /events HTTP/1.1", b"").await;
    assert_eq!(events.status().await, 200);
    wait_for("the events listener", || async { berthd.info().await["NEventsListener"] == 1 }).await;
    drop(events);
    wait_for("the events listener to go", || async { berthd.info().await["NEventsListener"] == 0 })
        .await;
    berthd.wait_back_to(baseline, "events").await;

    // logs -f, of a container that prints and of one that does not.
    let mut logs = Raw::send(
        &socket,
        &format!("GET /containers/{chatty}/logs?follow=1&stdout=1 HTTP/1.1"),
        b"",
    )
    .await;
    assert_eq!(logs.status().await, 200);
    logs.read_until(b"tick").await;
    drop(logs);
    berthd.wait_back_to(baseline, "logs -f of a container that prints").await;
    let mut logs = Raw::send(
        &socket,
        &format!("GET /containers/{silent}/logs?follow=1&stdout=1 HTTP/1.1"),
        b"",
    )
    .await;
    assert_eq!(logs.status().await, 200);
    drop(logs);
    berthd.wait_back_to(baseline, "logs -f of a silent container").await;

    // attach with stdin (as dockerd: its end ends the attach; the container keeps its stdin),
    // and without stdin to a container that prints.
    let head = format!(
        "POST /containers/{stdin}/attach?stream=1&stdin=1&stdout=1&stderr=1 HTTP/1.1\r\n{UPGRADE}"
    );
    let mut attach = Raw::send(&socket, &head, b"").await;
    assert_eq!(attach.status().await, 101);
    attach.write(b"ping\n").await;
    attach.read_until(b"ping").await;
    drop(attach);
    berthd.wait_back_to(baseline, "attach with stdin").await;
    assert_eq!(berthd.inspect(&stdin).await["State"]["Running"], true);
    let head = format!("POST /containers/{chatty}/attach?stream=1&stdout=1 HTTP/1.1\r\n{UPGRADE}");
    let mut attach = Raw::send(&socket, &head, b"").await;
    assert_eq!(attach.status().await, 101);
    attach.read_until(b"tick").await;
    drop(attach);
    berthd.wait_back_to(baseline, "attach to a container that prints").await;

    // exec without stdin: the process outlives its client, as with dockerd, and runs to its
    // end (here: until the test removes the file it loops on, through the container's root).
    let init = berthd.inspect(&silent).await["State"]["Pid"].as_i64().expect("Pid");
    let flag = std::path::PathBuf::from(format!("/proc/{init}/root/tmp/run"));
    std::fs::write(&flag, "").expect("flag");
    let looping = json!(["sh", "-c", "while test -e /tmp/run; do echo tick; sleep 1; done"]);
    let body = json!({ "Cmd": looping, "AttachStdout": true, "AttachStderr": true });
    let exec = exec_create(&berthd, &silent, body).await;
    let mut raw = exec_start(&berthd, &exec).await;
    raw.read_until(b"tick").await;
    drop(raw);
    wait_sockets_back(&berthd, baseline, "berthd to let go of the exec's client").await;
    let inspect = exec_inspect(&berthd, &exec).await;
    assert_eq!(inspect["Running"], true, "the exec outlives its client: {inspect}");
    assert!(berthd.ctr_pids(&silent).await.len() > 1, "the exec runs");
    std::fs::remove_file(&flag).expect("end the exec");
    wait_for("the exec's end", || async { exec_inspect(&berthd, &exec).await["Running"] == false })
        .await;
    assert_eq!(exec_inspect(&berthd, &exec).await["ExitCode"], 0);
    berthd.wait_back_to(baseline, "exec without stdin").await;
    wait_for("the exec's processes to go", || async { berthd.ctr_pids(&silent).await.len() == 1 })
        .await;

    // exec with stdin: the client's end closes the process's stdin, and `cat` ends.
    let body = json!({ "Cmd": ["cat"], "AttachStdin": true, "AttachStdout": true });
    let exec = exec_create(&berthd, &silent, body).await;
    let mut raw = exec_start(&berthd, &exec).await;
    raw.write(b"pong\n").await;
    raw.read_until(b"pong").await;
    drop(raw);
    wait_for("cat to end", || async { exec_inspect(&berthd, &exec).await["Running"] == false })
        .await;
    assert_eq!(exec_inspect(&berthd, &exec).await["ExitCode"], 0);
    berthd.wait_back_to(baseline, "exec with stdin").await;
    assert_eq!(berthd.ctr_pids(&silent).await.len(), 1);

    // load, cut while the archive is being spooled.
    let big = tarball(&[("data/", b""), ("data/big", &noise(8 << 20, 3))]);
    let archive = docker_save("hangup:latest", &[busybox_rootfs(), big]);
    let head = format!(
        "POST /images/load?quiet=0 HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: {}",
        archive.len()
    );
    let raw = Raw::send(&socket, &head, &archive[..2 << 20]).await;
    let tmp = berthd.data_root.join("tmp");
    wait_for("the spool file", || async {
        std::fs::read_dir(&tmp).map(|d| d.count() > 0).unwrap_or(false)
    })
    .await;
    drop(raw);
    berthd.wait_no_leftovers("load").await;
    berthd.wait_back_to(baseline, "load").await;
    image_absent(&berthd, "hangup:latest").await;

    // import, cut while the layer streams into containerd.
    let layer = tarball(&[("data/", b""), ("data/big", &noise(8 << 20, 4))]);
    let head = format!(
        "POST /images/create?fromSrc=-&repo=hangup-import&tag=latest HTTP/1.1\r\nContent-Type: application/x-tar\r\nContent-Length: {}",
        layer.len()
    );
    let raw = Raw::send(&socket, &head, &layer[..2 << 20]).await;
    wait_for("the import's ingest", || async {
        berthd.ctr(&["content", "active"]).await.len() > 1
    })
    .await;
    drop(raw);
    berthd.wait_no_leftovers("import").await;
    berthd.wait_back_to(baseline, "import").await;
    image_absent(&berthd, "hangup-import:latest").await;

    // pull, cut while a layer downloads.
    let repo = registry.repo("stall");
    let head =
        format!("POST /images/create?fromImage={repo}&tag=latest HTTP/1.1\r\nContent-Length: 0");
    let raw = Raw::send(&socket, &head, b"").await;
    wait_for("the pull to reach the big layer", || async { registry.stalled() >= 1 }).await;
    drop(raw);
    wait_for("berthd to drop the download", || async { registry.abandoned() >= 1 }).await;
    berthd.wait_no_leftovers("pull").await;
    berthd.wait_back_to(baseline, "pull").await;
    image_absent(&berthd, &format!("{repo}:latest")).await;

    // commit, cut while the container's changes stream into containerd.
    let body = json!({ "Cmd": ["sh", "-c", "head -c 67108864 /dev/zero > /tmp/big"] });
    let exec = exec_create(&berthd, &silent, body).await;
    let started =
        berthd.call("POST", &format!("/exec/{exec}/start"), Some(json!({ "Detach": true }))).await;
    assert_eq!(started.status, 200, "{started:?}");
    wait_for("the big file", || async { exec_inspect(&berthd, &exec).await["Running"] == false })
        .await;
    let head =
        format!("POST /commit?container={silent}&repo=hangup-commit HTTP/1.1\r\nContent-Length: 0");
    let raw = Raw::send(&socket, &head, b"").await;
    wait_for("the commit's ingest", || async {
        berthd.ctr(&["content", "active"]).await.len() > 1
    })
    .await;
    drop(raw);
    berthd.wait_no_leftovers("commit").await;
    berthd.wait_back_to(baseline, "commit").await;
    // As dockerd's deferred unpause: the container the commit paused runs again.
    wait_for("the unpause", || async {
        berthd.inspect(&silent).await["State"]["Status"] == "running"
    })
    .await;

    // containerd runs the three containers and no exec is left.
    let listed = berthd.assert_consistent("after the hang-ups").await;
    assert_eq!(listed.len(), 3);
    for id in [&silent, &stdin] {
        assert_eq!(berthd.ctr_pids(id).await.len(), 1, "{}", listed[id].0);
    }
}
