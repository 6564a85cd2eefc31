//! User-defined networks against a private containerd: containers on one network reach each
//! other, connect and disconnect change a running container's interfaces, removal of a network
//! in use is refused, and nothing is left behind.

use std::collections::BTreeMap;
use std::time::Duration;

use berth_api::container::{
    EndpointIpamConfig, EndpointSettings, ExecCreateBody, NetworkingConfig, PortBinding,
};
use berth_api::network::{
    Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest,
};
use berth_api::{ErrorKind, Filters};
use berth_backend::{
    ContainerBackend, ContainerRemoveOptions, ExecBackend, ExecStartOptions, NetworkBackend,
    NetworkInspectOptions,
};
use futures_util::StreamExt;

use crate::Engine;
use crate::container::tests::{create_options, import_busybox};
use crate::testutil::{TestContainerd, engine_with};

fn network_request(name: &str, subnet: &str) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: name.to_owned(),
        ipam: Some(Ipam {
            config: Some(vec![IpamConfig { subnet: subnet.to_owned(), ..IpamConfig::default() }]),
            ..Ipam::default()
        }),
        ..NetworkCreateRequest::default()
    }
}

/// Runs `cmd` in container `name`; returns (exit code, output).
async fn exec(engine: &Engine, name: &str, cmd: &[&str]) -> (i64, String) {
    let id = ExecBackend::create(
        engine,
        name,
        ExecCreateBody {
            cmd: Some(cmd.iter().map(|s| (*s).to_owned()).collect()),
            attach_stdout: true,
            attach_stderr: true,
            ..ExecCreateBody::default()
        },
    )
    .await
    .expect("exec create");
    let stream =
        ExecBackend::start(engine, &id, ExecStartOptions::default(), None).await.expect("start");
    let chunks: Vec<_> = stream.output.collect().await;
    let text = chunks
        .into_iter()
        .map(|c| String::from_utf8_lossy(&c.expect("chunk").bytes).into_owned())
        .collect();
    let code =
        ExecBackend::inspect(engine, &id).await.expect("exec inspect").exit_code.unwrap_or(-1);
    (code, text)
}

async fn address_on(engine: &Engine, container: &str, network: &str) -> String {
    let inspect = ContainerBackend::inspect(engine, container, false).await.expect("inspect");
    let networks = inspect.network_settings.expect("settings").networks.expect("networks");
    networks.get(network).map(|e| e.ip_address.clone()).unwrap_or_default()
}

/// GETs `/` from 127.0.0.1:`port`, retrying while the server in the container starts.
async fn http_get(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n").await?;
            let mut text = String::new();
            s.read_to_string(&mut text).await?;
            std::io::Result::Ok(text)
        };
        match tokio::time::timeout(Duration::from_secs(5), attempt).await {
            Ok(Ok(text)) if text.contains("200 OK") => return text,
            other if tokio::time::Instant::now() > deadline => panic!("no answer: {other:?}"),
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

fn links() -> String {
    let out = std::process::Command::new("ip").args(["-o", "link"]).output().expect("ip link");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_on_a_user_network_talk_and_leave_nothing() {
    let ctrd = TestContainerd::start().await;
    let (engine, events) = engine_with(&ctrd, "berthnt0", "10.213.250.1/24").await;
    import_busybox(&engine).await;
    let _guard = LinkGuard(vec!["berthnt0".into()]);

    let n1 = NetworkBackend::create(&engine, network_request("n1", "10.213.246.0/24"))
        .await
        .expect("create n1");
    let n1_bridge = format!("br-{}", &n1.id[..12]);
    let _n1_guard = LinkGuard(vec![n1_bridge.clone()]);
    let dup = NetworkBackend::create(&engine, network_request("n1", "10.213.247.0/24")).await;
    assert_eq!(dup.expect_err("duplicate").kind(), ErrorKind::Conflict);
    assert_eq!(events.actions(&n1.id), ["create"]);

    let looping = ["sh", "-c", "while true; do sleep 1; done"];
    let web = "busybox mkdir -p /www && echo served > /www/index.html && exec busybox httpd -f -p 80 -h /www";
    let mut ca = create_options("ca", &["sh", "-c", web], "n1");
    ca.body.config.exposed_ports =
        Some(BTreeMap::from([("80/tcp".to_owned(), Default::default())]));
    ca.body.host_config.as_mut().expect("hc").port_bindings = Some(BTreeMap::from([(
        "80/tcp".to_owned(),
        Some(vec![PortBinding { host_ip: "127.0.0.1".into(), host_port: String::new() }]),
    )]));
    ContainerBackend::create(&engine, ca).await.expect("a");
    let mut b = create_options("cb", &looping, "n1");
    b.body.networking_config = Some(NetworkingConfig {
        endpoints_config: Some(BTreeMap::from([(
            "n1".to_owned(),
            EndpointSettings {
                aliases: Some(vec!["bee".into()]),
                ipam_config: Some(EndpointIpamConfig {
                    ipv4_address: "10.213.246.77".into(),
                    ..EndpointIpamConfig::default()
                }),
                ..EndpointSettings::default()
            },
        )])),
    });
    ContainerBackend::create(&engine, b).await.expect("b");
    for name in ["ca", "cb"] {
        ContainerBackend::start(&engine, name, "", "").await.expect("start");
    }
    let ip_a = address_on(&engine, "ca", "n1").await;
    assert!(ip_a.starts_with("10.213.246."), "{ip_a}");
    assert_eq!(address_on(&engine, "cb", "n1").await, "10.213.246.77");
    let b_inspect = ContainerBackend::inspect(&engine, "cb", false).await.expect("inspect b");
    let b_ep = b_inspect.network_settings.expect("ns").networks.expect("nets")["n1"].clone();
    let dns_names = b_ep.dns_names.expect("user networks list DNS names");
    assert_eq!(dns_names[..2], ["cb".to_owned(), "bee".to_owned()]);
    assert_eq!(b_ep.network_id, n1.id);

    let (code, out) = exec(&engine, "cb", &["busybox", "ping", "-c1", "-W5", &ip_a]).await;
    assert_eq!(code, 0, "b reaches a: {out}");
    // The embedded DNS server answers names, aliases and short IDs on the network.
    let short_a =
        ContainerBackend::inspect(&engine, "ca", false).await.expect("inspect").id[..12].to_owned();
    for name in ["ca", "bee", short_a.as_str(), "ca.n1"] {
        let (code, out) = exec(&engine, "cb", &["busybox", "nslookup", name, "127.0.0.11"]).await;
        let want = if name == "bee" { "10.213.246.77" } else { ip_a.as_str() };
        assert!(code == 0 && out.contains(want), "nslookup {name}: {out}");
    }
    let resolv = exec(&engine, "cb", &["cat", "/etc/resolv.conf"]).await.1;
    assert!(resolv.contains("nameserver 127.0.0.11"), "{resolv}");

    // The published port answers on 127.0.0.1 through the proxy.
    let ports = ContainerBackend::inspect(&engine, "ca", false)
        .await
        .expect("inspect")
        .network_settings
        .expect("settings")
        .ports
        .expect("ports");
    let binding = ports["80/tcp"].as_ref().expect("80/tcp is published")[0].clone();
    assert_eq!(binding.host_ip, "127.0.0.1");
    let port: u16 = binding.host_port.parse().expect("host port");
    let body = http_get(port).await;
    assert!(body.contains("served"), "{body}");

    let shown = NetworkBackend::inspect(&engine, "n1", NetworkInspectOptions::default())
        .await
        .expect("inspect n1");
    let members: Vec<&str> = shown.containers.values().map(|e| e.name.as_str()).collect();
    assert_eq!(members.len(), 2, "{members:?}");
    assert!(shown.containers.values().any(|e| e.ipv4_address == "10.213.246.77/24"));
    let listed = NetworkBackend::list(&engine, Filters::default()).await.expect("list");
    let names: Vec<&str> = listed.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["bridge", "host", "n1", "none"]);

    let err = NetworkBackend::remove(&engine, "n1").await.expect_err("in use");
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(err.message().contains("has active endpoints"), "{err}");

    // A second network, connected to the running container and disconnected again.
    let n2 = NetworkBackend::create(&engine, network_request("n2", "10.213.247.0/24"))
        .await
        .expect("create n2");
    let _n2_guard = LinkGuard(vec![format!("br-{}", &n2.id[..12])]);
    let connect = NetworkConnectRequest {
        container: "ca".into(),
        endpoint_config: Some(EndpointSettings {
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: "10.213.247.50".into(),
                ..EndpointIpamConfig::default()
            }),
            ..EndpointSettings::default()
        }),
    };
    NetworkBackend::connect(&engine, "n2", connect.clone()).await.expect("connect");
    let (_, addrs) = exec(&engine, "ca", &["busybox", "ip", "-4", "-o", "addr"]).await;
    assert!(addrs.contains("eth1") && addrs.contains("10.213.247.50/24"), "{addrs}");
    let again = NetworkBackend::connect(&engine, "n2", connect).await.expect_err("twice");
    assert_eq!(again.kind(), ErrorKind::Forbidden);
    let disconnect = NetworkDisconnectRequest { container: "ca".into(), force: false };
    NetworkBackend::disconnect(&engine, "n2", disconnect.clone()).await.expect("disconnect");
    let (_, addrs) = exec(&engine, "ca", &["busybox", "ip", "-4", "-o", "addr"]).await;
    assert!(!addrs.contains("10.213.247."), "{addrs}");
    assert!(addrs.contains(&ip_a), "eth0 is untouched: {addrs}");
    let not_on = NetworkBackend::disconnect(&engine, "n2", disconnect).await.expect_err("not on");
    assert_eq!(not_on.kind(), ErrorKind::Forbidden);
    assert_eq!(events.actions(&n2.id), ["create", "connect", "disconnect"]);

    let force = ContainerRemoveOptions { force: true, ..ContainerRemoveOptions::default() };
    for name in ["ca", "cb"] {
        ContainerBackend::remove(&engine, name, force).await.expect("rm");
    }
    NetworkBackend::remove(&engine, "n1").await.expect("remove n1");
    let pruned = NetworkBackend::prune(&engine, Filters::default()).await.expect("prune");
    assert_eq!(pruned.networks_deleted, Some(vec!["n2".to_owned()]));
    let left = NetworkBackend::list(&engine, Filters::default()).await.expect("list");
    assert_eq!(left.len(), 3, "only the predefined networks are left");
    assert!(!links().contains(&n1_bridge), "bridge {n1_bridge} left behind");
    let netns =
        std::fs::read_dir(ctrd.dir.path().join("exec/netns")).map(|d| d.count()).unwrap_or(0);
    assert_eq!(netns, 0, "network namespaces left");
    tokio::time::timeout(Duration::from_secs(60), engine.shutdown()).await.expect("shutdown");
    ctrd.stop().await;
}

/// Deletes the test's bridge devices, even after a failure.
struct LinkGuard(Vec<String>);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = std::process::Command::new("ip").args(["link", "del", name]).status();
        }
    }
}
