//! The work itself: what each kind of worker does in one iteration, and the bad requests
//! with the status dockerd refuses each with.

use std::sync::atomic::Ordering;
use std::thread;
use std::time::Instant;

use anyhow::{Context, Result, ensure};
use bytes::Bytes;
use serde_json::{Value, json};

use super::{
    API, EXEC_TIMEOUT, IMAGE, Kind, LABEL, NETWORK_SUBNET, Worker, contains, excerpt, label,
    lifecycle, unix_now,
};

impl Worker<'_> {
    /// Iteration `n` of this worker's kind of work.
    pub(super) fn step(&self, n: u64) -> Result<()> {
        match self.id.kind {
            Kind::Probe => self.probe(n),
            Kind::Lifecycle => self.lifecycle(n),
            Kind::Cli => self.cli(n),
            Kind::Objects => self.objects(n),
            Kind::Streams => self.streams(n),
        }
    }

    fn probe(&self, n: u64) -> Result<()> {
        let ping = self.call("GET", "/_ping", None, 200)?;
        ensure!(ping.body == "OK", "GET /_ping answered {}", excerpt(&ping.body));
        self.call("HEAD", "/_ping", None, 200)?;
        let version = self.json("GET", &format!("{API}/version"), None, 200)?;
        ensure!(version["ApiVersion"] == "1.51", "GET {API}/version: {version}");
        let info = self.json("GET", "/info", None, 200)?;
        ensure!(info["ID"].is_string(), "GET /info without an ID: {info}");
        let listed = self.json("GET", &format!("{API}/containers/json?all=1"), None, 200)?;
        ensure!(listed.is_array(), "GET /containers/json: {listed}");
        let images = self.json("GET", &format!("{API}/images/json"), None, 200)?;
        let tagged = images.as_array().is_some_and(|images| {
            images.iter().any(|image| {
                image["RepoTags"].as_array().is_some_and(|t| t.contains(&json!(IMAGE)))
            })
        });
        ensure!(tagged, "GET /images/json does not list {IMAGE}: {images}");
        self.json("GET", &format!("{API}/images/{IMAGE}/json"), None, 200)?;
        self.json("GET", &format!("{API}/images/{IMAGE}/history"), None, 200)?;
        self.json("GET", &format!("{API}/volumes"), None, 200)?;
        self.json("GET", &format!("{API}/networks"), None, 200)?;
        if n.is_multiple_of(5) {
            self.json("GET", &format!("{API}/system/df"), None, 200)?;
        }
        // The round so far: a window that is already over, replayed and closed at once.
        let now = unix_now().as_secs();
        let since = self.started_unix.saturating_sub(1);
        self.events(&format!("{API}/events?since={since}&until={now}"))?;
        if n.is_multiple_of(4) {
            // A live window: held open until `until`, a second or two.
            self.events(&format!("{API}/events?since={now}&until={}", now + 1))?;
        }
        for bad in BAD_REQUESTS {
            let headers: Vec<(String, String)> = bad
                .content_type
                .map(|value| vec![("Content-Type".to_owned(), value.to_owned())])
                .unwrap_or_default();
            self.send(
                bad.method,
                bad.path,
                &headers,
                Bytes::from_static(bad.body.as_bytes()),
                bad.status,
            )?;
        }
        Ok(())
    }

    /// A bounded `GET /events`: it must end by itself, each line an event.
    fn events(&self, path: &str) -> Result<()> {
        let answer = self.call("GET", path, None, 200)?;
        for line in answer.body.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
            let event: Value = serde_json::from_slice(line)
                .with_context(|| format!("GET {path}: a line is not JSON: {}", excerpt(line)))?;
            ensure!(
                event["Type"].is_string() && event["Action"].is_string(),
                "GET {path}: {event}"
            );
        }
        Ok(())
    }

    fn lifecycle(&self, n: u64) -> Result<()> {
        if !n.is_multiple_of(2) {
            // The bench's cycle: `true` without a network, four requests.
            self.tally.requests.fetch_add(4, Ordering::Relaxed);
            lifecycle::Api { client: &self.client, socket: self.socket }.cycle()?;
            return Ok(());
        }
        let name = self.name("c", n);
        let body = json!({
            "Image": IMAGE,
            "Cmd": ["echo", name],
            "Labels": label(),
            "HostConfig": { "NetworkMode": "bridge" },
        });
        let id = self.create(&name, &body)?;
        if n.is_multiple_of(4) {
            self.call("POST", &format!("{API}/containers/create?name={name}"), Some(&body), 409)?;
        }
        let inspected = self.json("GET", &format!("{API}/containers/{id}/json"), None, 200)?;
        ensure!(inspected["State"]["Status"] == "created", "inspect {name}: {inspected}");
        self.call("POST", &format!("{API}/containers/{id}/start"), None, 204)?;
        self.wait(&id, 0)?;
        self.logs_hold(&id, &name)?;
        let filter = crate::testimage::percent_encode(&json!({ "id": [id] }).to_string());
        let listed =
            self.json("GET", &format!("{API}/containers/json?all=1&filters={filter}"), None, 200)?;
        ensure!(listed.as_array().is_some_and(|l| l.len() == 1), "list by id {id}: {listed}");
        // Stopping a container that has exited changes nothing: 304, as in dockerd.
        self.call("POST", &format!("{API}/containers/{id}/stop"), None, 304)?;
        let renamed = format!("{name}-renamed");
        self.call("POST", &format!("{API}/containers/{id}/rename?name={renamed}"), None, 204)?;
        self.json("GET", &format!("{API}/containers/{renamed}/json"), None, 200)?;
        self.call("GET", &format!("{API}/containers/{name}/json"), None, 404)?;
        self.call("DELETE", &format!("{API}/containers/{id}?v=1"), None, 204)?;
        self.call("GET", &format!("{API}/containers/{id}/json"), None, 404)?;
        Ok(())
    }

    fn cli(&self, n: u64) -> Result<()> {
        let name = self.name("c", n);
        let out =
            self.docker(&["run", "-d", "--label", LABEL, "--name", &name, IMAGE, "sleep", "300"])?;
        let id = out.trim();
        ensure!(id.len() == 64, "docker run -d printed {out:?}");
        let out = self.docker(&["exec", &name, "echo", &name])?;
        ensure!(out == format!("{name}\n"), "docker exec printed {out:?}");
        self.detached_exec(id)?;
        // Starting a running container changes nothing (304); removing it needs force (409).
        self.call("POST", &format!("{API}/containers/{id}/start"), None, 304)?;
        self.call("DELETE", &format!("{API}/containers/{id}"), None, 409)?;
        self.docker(&["stop", "-t", "1", &name])?;
        self.docker(&["rm", &name])?;
        if n.is_multiple_of(3) {
            let out = self.docker(&["run", "--rm", "--label", LABEL, IMAGE, "echo", &name])?;
            ensure!(out == format!("{name}\n"), "docker run --rm printed {out:?}");
        }
        if n.is_multiple_of(5) {
            for args in [&["ps", "-a"][..], &["images"], &["volume", "ls"], &["network", "ls"]] {
                self.docker(args)?;
            }
        }
        Ok(())
    }

    /// An exec started detached over the API, polled until it has exited 0.
    fn detached_exec(&self, container: &str) -> Result<()> {
        let body = json!({ "Cmd": ["true"] });
        let created =
            self.json("POST", &format!("{API}/containers/{container}/exec"), Some(&body), 201)?;
        let exec = created["Id"].as_str().with_context(|| format!("exec create: {created}"))?;
        self.call(
            "POST",
            &format!("{API}/exec/{exec}/start"),
            Some(&json!({ "Detach": true })),
            200,
        )?;
        let deadline = Instant::now() + EXEC_TIMEOUT;
        loop {
            let inspected = self.json("GET", &format!("{API}/exec/{exec}/json"), None, 200)?;
            if inspected["Running"] == false && !inspected["ExitCode"].is_null() {
                ensure!(inspected["ExitCode"] == 0, "exec {exec}: {inspected}");
                return Ok(());
            }
            ensure!(
                Instant::now() < deadline,
                "exec {exec} still running after {EXEC_TIMEOUT:?}: {inspected}"
            );
            thread::sleep(crate::cmd::POLL);
        }
    }

    fn objects(&self, n: u64) -> Result<()> {
        let volume = self.name("v", n);
        let created = self.json(
            "POST",
            &format!("{API}/volumes/create"),
            Some(&json!({ "Name": volume, "Labels": label() })),
            201,
        )?;
        ensure!(created["Name"] == volume.as_str(), "volume create: {created}");
        self.json("GET", &format!("{API}/volumes/{volume}"), None, 200)?;
        let filter = crate::testimage::percent_encode(&json!({ "name": [volume] }).to_string());
        let listed = self.json("GET", &format!("{API}/volumes?filters={filter}"), None, 200)?;
        ensure!(
            listed["Volumes"]
                .as_array()
                .is_some_and(|v| v.iter().any(|v| v["Name"] == volume.as_str())),
            "volume list by name {volume}: {listed}"
        );
        self.call("DELETE", &format!("{API}/volumes/{volume}"), None, 204)?;
        self.call("DELETE", &format!("{API}/volumes/{volume}"), None, 404)?;

        // A tag of the image, and its removal (untagging only: busybox keeps its own tag).
        let tag = self.name("t", n);
        self.call("POST", &format!("{API}/images/{IMAGE}/tag?repo=soak&tag={tag}"), None, 201)?;
        self.json("GET", &format!("{API}/images/soak:{tag}/json"), None, 200)?;
        let removed = self.json("DELETE", &format!("{API}/images/soak:{tag}"), None, 200)?;
        ensure!(removed.to_string().contains("Untagged"), "image delete answered {removed}");

        let network = self.name("n", n);
        let body = json!({
            "Name": network,
            "Labels": label(),
            "IPAM": { "Config": [{ "Subnet": NETWORK_SUBNET }] },
        });
        let created = self.json("POST", &format!("{API}/networks/create"), Some(&body), 201)?;
        let net_id = created["Id"].as_str().context("network create answered no Id")?.to_owned();
        let inspected = self.json("GET", &format!("{API}/networks/{net_id}"), None, 200)?;
        if let Some(bridge) = inspected["Options"]["com.docker.network.bridge.name"].as_str() {
            self.tally.bridges.lock().unwrap_or_else(|p| p.into_inner()).insert(bridge.to_owned());
        } else if let Some(short) = net_id.get(..12) {
            self.tally
                .bridges
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(format!("br-{short}"));
        }
        self.call("POST", &format!("{API}/networks/create"), Some(&body), 409)?;

        // A container on it, with an anonymous volume that goes with the container.
        let name = self.name("c", n);
        let id = self.create(
            &name,
            &json!({
                "Image": IMAGE,
                "Cmd": ["sh", "-c", "echo stored > /data/f && cat /data/f"],
                "Labels": label(),
                "Volumes": { "/data": {} },
                "HostConfig": { "NetworkMode": network },
            }),
        )?;
        self.call("POST", &format!("{API}/containers/{id}/start"), None, 204)?;
        self.wait(&id, 0)?;
        self.logs_hold(&id, "stored")?;
        self.call("DELETE", &format!("{API}/containers/{id}?v=1"), None, 204)?;
        self.call("DELETE", &format!("{API}/networks/{net_id}"), None, 204)?;
        self.call("DELETE", &format!("{API}/networks/{net_id}"), None, 404)?;
        Ok(())
    }

    fn streams(&self, n: u64) -> Result<()> {
        let name = self.name("c", n);
        let network = if n.is_multiple_of(2) { "none" } else { "bridge" };
        let id = self.create(
            &name,
            &json!({
                "Image": IMAGE,
                "Cmd": ["sh", "-c", "while true; do echo tick; sleep 0.2; done"],
                "Labels": label(),
                "HostConfig": { "NetworkMode": network },
            }),
        )?;
        self.call("POST", &format!("{API}/containers/{id}/start"), None, 204)?;

        // Clients that go away mid-stream: berthd must let go of everything they held.
        let hang_up = |method: &str, path: String, headers: &[(&str, &str)], first: bool| {
            self.tally.requests.fetch_add(1, Ordering::Relaxed);
            self.streams.hang_up(self.socket, method, &path, headers, first)
        };
        let seen =
            hang_up("GET", format!("{API}/containers/{id}/logs?follow=1&stdout=1"), &[], true)?;
        ensure!(
            seen.status == 200 && contains(&seen.first, b"tick"),
            "logs -f: {} {}",
            seen.status,
            excerpt(&seen.first)
        );
        let seen = hang_up("GET", format!("{API}/containers/{id}/stats"), &[], true)?;
        ensure!(seen.status == 200 && !seen.first.is_empty(), "stats: {}", seen.status);
        let upgrade = [("Connection", "Upgrade"), ("Upgrade", "tcp")];
        let seen = hang_up(
            "POST",
            format!("{API}/containers/{id}/attach?stream=1&stdout=1&stderr=1"),
            &upgrade,
            false,
        )?;
        ensure!(seen.status == 101, "attach: {} instead of 101", seen.status);
        let seen = hang_up("GET", format!("{API}/events"), &[], false)?;
        ensure!(seen.status == 200, "events: {}", seen.status);

        // A client that keeps its connection for several requests.
        let paths = [
            "/_ping".to_owned(),
            format!("{API}/version"),
            format!("{API}/containers/{id}/json"),
            format!("{API}/containers/{id}/top"),
            format!("{API}/containers/json"),
        ];
        self.tally.requests.fetch_add(paths.len() as u64, Ordering::Relaxed);
        for (path, (status, body)) in
            paths.iter().zip(self.streams.keep_alive(self.socket, &paths)?)
        {
            ensure!(status == 200, "kept-alive GET {path}: {status} {}", excerpt(&body));
        }
        self.json("GET", &format!("{API}/containers/{id}/stats?stream=0"), None, 200)?;
        let archive = self.call(
            "GET",
            &format!("{API}/containers/{id}/archive?path=/etc/hostname"),
            None,
            200,
        )?;
        ensure!(
            archive.headers.contains_key("x-docker-container-path-stat"),
            "GET archive without X-Docker-Container-Path-Stat"
        );
        self.call("POST", &format!("{API}/containers/{id}/pause"), None, 204)?;
        self.call("POST", &format!("{API}/containers/{id}/unpause"), None, 204)?;
        // `sh` as PID 1 ignores SIGTERM: the restart kills it after a second, then starts it.
        self.call("POST", &format!("{API}/containers/{id}/restart?t=1"), None, 204)?;
        self.call("POST", &format!("{API}/containers/{id}/kill"), None, 204)?;
        self.wait(&id, 137)?;
        self.call("POST", &format!("{API}/containers/{id}/stop"), None, 304)?;
        self.call("DELETE", &format!("{API}/containers/{id}"), None, 204)?;
        Ok(())
    }
}

/// A request dockerd refuses, and the status it refuses it with: the rows of
/// docs/api-diff.md where berthd and dockerd agree, or where dockerd 28 answers as berthd.
struct Bad {
    method: &'static str,
    path: &'static str,
    content_type: Option<&'static str>,
    body: &'static str,
    status: u16,
}

const fn get(path: &'static str, status: u16) -> Bad {
    Bad { method: "GET", path, content_type: None, body: "", status }
}

const JSON: Option<&str> = Some("application/json");

const BAD_REQUESTS: &[Bad] = &[
    get("/v1.51/containers/soak-nosuch/json", 404),
    get("/v1.51/containers/soak-nosuch/logs?stdout=1", 404),
    get("/v1.51/images/soak-nosuch:1/json", 404),
    get("/v1.51/volumes/soak-nosuch", 404),
    get("/v1.51/networks/soak-nosuch", 404),
    get("/v1.51/exec/soak-nosuch/json", 404),
    get("/v1.51/nope", 404),
    get("/nope", 404),
    // Too new an API version: 400 naming the maximum.
    get("/v9.99/info", 400),
    get("/v1.51/events?since=20&until=10", 400),
    // dockerd 28 answers 400 "invalid filter" (20.10 answered 500).
    get("/v1.51/containers/json?filters=notjson", 400),
    Bad {
        method: "DELETE",
        path: "/v1.51/containers/soak-nosuch",
        content_type: None,
        body: "",
        status: 404,
    },
    Bad {
        method: "POST",
        path: "/v1.51/containers/soak-nosuch/start",
        content_type: None,
        body: "",
        status: 404,
    },
    Bad {
        method: "DELETE",
        path: "/v1.51/volumes/soak-nosuch",
        content_type: None,
        body: "",
        status: 404,
    },
    Bad {
        method: "DELETE",
        path: "/v1.51/networks/soak-nosuch",
        content_type: None,
        body: "",
        status: 404,
    },
    Bad {
        method: "POST",
        path: "/v1.51/containers/create",
        content_type: JSON,
        body: r#"{"Image":"soak-nosuch:1"}"#,
        status: 404,
    },
    // A JSON body without its Content-Type.
    Bad {
        method: "POST",
        path: "/v1.51/containers/create",
        content_type: None,
        body: r#"{"Image":"busybox"}"#,
        status: 400,
    },
    Bad {
        method: "POST",
        path: "/v1.51/volumes/create",
        content_type: JSON,
        body: "[1,",
        status: 400,
    },
];
