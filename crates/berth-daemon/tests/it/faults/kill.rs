//! containerd SIGKILLed while creates, starts, a load and a pull are under way: berthd restarts
//! it and reconciles, every container and image is then whole or absent, nothing an interrupted
//! operation made is left, and a container started before keeps running.
//!
//! The kill cannot be timed to one gRPC call, so the operations run in loops across it and the
//! checks hold whatever each one met: done before, cut in the middle, or refused while
//! containerd was down.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde_json::json;

use super::images::{busybox_rootfs, digest, docker_save, noise, stream_error, tarball};
use super::registry::Registry;
use super::support::{Answer, Berthd, wait_for};
use crate::harness::DEADLINE;

/// The outcome of each create: its name, and its ID or the failed answer.
type Outcomes = Arc<Mutex<Vec<(String, Result<String, Answer>)>>>;

fn successes(outcomes: &Outcomes) -> usize {
    outcomes.lock().expect("lock").iter().filter(|(_, r)| r.is_ok()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_killed_under_creates_and_starts_leaves_no_half_made_container() {
    let berthd = Arc::new(Berthd::start("create").await);
    berthd.import_busybox().await;
    let keeper =
        berthd.run("keeper", json!({ "Image": "busybox", "Cmd": ["sleep", "3600"] })).await;
    let keeper_pid = berthd.inspect(&keeper).await["State"]["Pid"].as_i64().expect("Pid");
    // What a start and a create that containerd died under can leave, made on purpose (the
    // loops below make them too, when the kill falls right): a task the container's record
    // does not know of, and a containerd container no Berth container owns.
    let ghost = berthd
        .run("ghost", json!({ "Image": "busybox", "Cmd": ["sleep", "3600"], "HostConfig": { "NetworkMode": "host" } }))
        .await;
    let stopped = berthd.call("POST", &format!("/containers/{ghost}/stop"), None).await;
    assert_eq!(stopped.status, 204, "{stopped:?}");
    berthd.ctr(&["tasks", "start", "--detach", "--null-io", &ghost]).await;
    let orphan = format!("orphan{}", std::process::id());
    let image = "docker.io/library/busybox:latest";
    berthd
        .ctr(&["containers", "create", "--label", "io.berth.managed-by=berth", image, &orphan])
        .await;
    assert!(berthd.ctr_tasks().await.contains_key(&ghost));

    let mut to_start = Vec::new();
    for i in 0..6 {
        let id = berthd.create(&format!("start-{i}"), &["sleep", "3600"]).await.expect("create");
        to_start.push(id);
    }

    // Two loops of creates and one of starts run across the kill.
    let stop = Arc::new(AtomicBool::new(false));
    let created: Outcomes = Arc::default();
    let mut loops = Vec::new();
    for l in 0..2 {
        let (berthd, stop, created) =
            (Arc::clone(&berthd), Arc::clone(&stop), Arc::clone(&created));
        loops.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::SeqCst) {
                let name = format!("burst-{l}-{i}");
                let outcome = berthd.create(&name, &["sleep", "3600"]).await;
                let failed = outcome.is_err();
                created.lock().expect("lock").push((name, outcome));
                if failed {
                    // containerd is down: do not spin.
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                i += 1;
            }
        }));
    }
    let started = Arc::new(Mutex::new(Vec::new()));
    let starts = {
        let (berthd, started, ids) = (Arc::clone(&berthd), Arc::clone(&started), to_start.clone());
        tokio::spawn(async move {
            for id in ids {
                let answer = berthd.call("POST", &format!("/containers/{id}/start"), None).await;
                started.lock().expect("lock").push((id, answer));
            }
        })
    };
    wait_for("creates and a start before the kill", || async {
        successes(&created) >= 2 && !started.lock().expect("lock").is_empty()
    })
    .await;
    let old = berthd.kill_containerd();
    berthd.wait_reconciled(1).await;
    assert_ne!(berthd.containerd_pid(), old, "a new containerd");
    let reconciled = berthd.log();
    let line = reconciled.lines().find(|l| l.contains("reconciled with containerd")).expect("line");
    assert!(!line.contains(" tasks=0 "), "the ghost's task was discarded: {line}");
    assert!(!line.contains(" containers=0 "), "the orphan was removed: {line}");
    // Creates go on working after the restart.
    let before = successes(&created);
    wait_for("creates after the restart", || async { successes(&created) >= before + 4 }).await;
    stop.store(true, Ordering::SeqCst);
    for l in loops {
        l.await.expect("create loop");
    }
    starts.await.expect("start loop");

    // The container started before the kill was never touched.
    let state = berthd.inspect(&keeper).await["State"].clone();
    assert_eq!((state["Running"].as_bool(), state["Pid"].as_i64()), (Some(true), Some(keeper_pid)));
    assert!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(keeper_pid as i32), None).is_ok());

    // Each create left a whole container, or nothing.
    let listed = berthd.assert_consistent("after the restart").await;
    let outcomes = created.lock().expect("lock").clone();
    for (name, outcome) in &outcomes {
        match outcome {
            Ok(id) => assert!(listed.contains_key(id), "{name} ({id}) was created but is gone"),
            Err(answer) => {
                assert!(answer.status >= 500, "{name}: {answer:?}");
                assert!(listed.values().all(|(n, _)| n != name), "{name} failed but is listed");
            }
        }
    }
    for (id, answer) in started.lock().expect("lock").iter() {
        assert!(answer.status == 204 || answer.status >= 500, "start {id}: {answer:?}");
    }
    // Each can be started (a start cut short left no task in the way) and removed.
    for (id, (name, state)) in &listed {
        if state != "running" {
            let answer = berthd.call("POST", &format!("/containers/{id}/start"), None).await;
            assert_eq!(answer.status, 204, "start {name} ({state}) after the restart: {answer:?}");
        }
    }
    let listed = berthd.assert_consistent("everything started").await;
    assert!(listed.values().all(|(_, s)| s == "running"), "{listed:#?}");
    for id in listed.keys().filter(|id| **id != keeper) {
        let answer = berthd.call("DELETE", &format!("/containers/{id}?force=1"), None).await;
        assert_eq!(answer.status, 204, "{answer:?}");
    }
    assert_eq!(berthd.assert_consistent("removed").await.len(), 1);
    berthd.wait_no_leftovers("after creates and starts").await;
    assert_eq!(
        berthd.run_to_end("after", "busybox", &["echo", "ok"]).await,
        (0, "ok\n".to_owned())
    );
    assert_eq!(failures(&berthd.log()), Vec::<String>::new());
}

/// Lines berthd logged about state it could not bring in line.
fn failures(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| {
            l.contains("cannot reconcile")
                || l.contains("cannot remove orphan")
                || l.contains("skipping container")
        })
        .map(str::to_owned)
        .collect()
}

/// An image of busybox and four layers of a few MiB each, as `docker save` writes it.
fn big_image() -> Vec<Vec<u8>> {
    let mut layers = vec![busybox_rootfs()];
    for i in 1..=4u64 {
        let data = noise(3 << 20, i);
        layers.push(tarball(&[("data/", b""), (&format!("data/l{i}"), &data)]));
    }
    layers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_killed_under_a_load_leaves_the_image_whole_or_absent() {
    let berthd = Berthd::start("load").await;
    let archive = docker_save("faultload:latest", &big_image());

    // Load, and kill containerd at the first layer written: the others are still to come.
    let socket = berthd.socket();
    let stream = tokio::net::UnixStream::connect(&socket).await.expect("connect");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let req = http::Request::builder()
        .method("POST")
        .uri("/images/load?quiet=0")
        .header("host", "berth")
        .header("content-type", "application/x-tar")
        .body(Full::new(Bytes::from(archive.clone())))
        .expect("request");
    let res = tokio::time::timeout(DEADLINE, sender.send_request(req))
        .await
        .expect("answer")
        .expect("load");
    assert_eq!(res.status(), 200);
    let mut body = res.into_body();
    let mut text = String::new();
    let mut killed = false;
    let read = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.expect("frame");
            if let Some(data) = frame.data_ref() {
                text.push_str(&String::from_utf8_lossy(data));
            }
            if !killed && text.contains("Loading layer") {
                berthd.kill_containerd();
                killed = true;
            }
        }
    };
    tokio::time::timeout(DEADLINE, read).await.expect("load ends");
    assert!(killed, "no layer progress: {text}");
    berthd.wait_reconciled(1).await;

    let inspect = berthd.call("GET", "/images/faultload:latest/json", None).await;
    match stream_error(&text) {
        // Cut: no image, and nothing of it left.
        Some(_) => assert_eq!(inspect.status, 404, "a failed load left an image: {inspect:?}"),
        // It made it before the kill reached it: the image is whole (checked below).
        None => assert_eq!(inspect.status, 200, "{text}"),
    }
    berthd.wait_no_leftovers("after the interrupted load").await;
    if inspect.status == 404 {
        let answer =
            berthd.call_raw("POST", "/images/load", "application/x-tar", Some(archive)).await;
        assert_eq!(stream_error(&answer.body), None, "{}", answer.body);
    }
    let ran = berthd
        .run_to_end("check", "faultload:latest", &["sh", "-c", "test -s /data/l4 && echo whole"])
        .await;
    assert_eq!(ran, (0, "whole\n".to_owned()));
    berthd.wait_no_leftovers("after the load").await;
    assert_eq!(failures(&berthd.log()), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containerd_killed_under_a_pull_leaves_no_image_and_nothing_of_it() {
    let registry = Registry::start().await;
    let layers =
        vec![busybox_rootfs(), tarball(&[("data/", b""), ("data/big", &noise(4 << 20, 7))])];
    registry.push("stall", "latest", &layers);
    registry.stall(&digest(&layers[1]));
    let berthd = Arc::new(Berthd::start("pull").await);
    let repo = registry.repo("stall");

    // The big layer stops half-way: containerd dies under the pull, then the layer goes on.
    let pull = {
        let (berthd, path) =
            (Arc::clone(&berthd), format!("/images/create?fromImage={repo}&tag=latest"));
        tokio::spawn(async move { berthd.call("POST", &path, None).await })
    };
    wait_for("the pull to reach the big layer", || async { registry.stalled() >= 1 }).await;
    berthd.kill_containerd();
    berthd.wait_reconciled(1).await;
    registry.release();
    let answer = pull.await.expect("pull");
    assert_eq!(answer.status, 200, "{answer:?}");
    let error = stream_error(&answer.body);
    assert!(error.is_some(), "the pull survived a dead containerd?\n{}", answer.body);

    let inspect = berthd.call("GET", &format!("/images/{repo}:latest/json"), None).await;
    assert_eq!(inspect.status, 404, "a failed pull left an image: {inspect:?}");
    berthd.wait_no_leftovers("after the interrupted pull").await;

    // Pulled again, whole.
    let answer =
        berthd.call("POST", &format!("/images/create?fromImage={repo}&tag=latest"), None).await;
    assert_eq!(stream_error(&answer.body), None, "{}", answer.body);
    let ran = berthd
        .run_to_end(
            "check",
            &format!("{repo}:latest"),
            &["sh", "-c", "test -s /data/big && echo whole"],
        )
        .await;
    assert_eq!(ran, (0, "whole\n".to_owned()));
    berthd.wait_no_leftovers("after the pull").await;
    assert_eq!(failures(&berthd.log()), Vec::<String>::new());
}
