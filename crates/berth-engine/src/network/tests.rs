//! Real attachments: two namespaces on a test bridge, traffic between them, and no leftovers.
//!
//! These need root, the CNI plugins in `/usr/lib/cni` and iptables, as Berth itself does.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::bridge::{CONTAINER_IFNAME, container_mac};
use super::*;

/// Tests in this binary run in parallel; each gets its own bridge and subnet.
static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// A bridge network in a temporary directory that is torn down even when the test fails.
struct TestNet {
    cni: Cni,
    dir: tempfile::TempDir,
    /// Every namespace the test created, with the container id it was attached as.
    namespaces: Vec<(String, PathBuf)>,
}

impl TestNet {
    fn new() -> Self {
        Self::with_prefix(24)
    }

    fn with_prefix(prefix_len: u8) -> Self {
        let n = NEXT_NET.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("bt{}x{n}", pid % 10000);
        let third = u8::try_from((pid + n * 37) % 250).expect("below 250");
        let subnet = Subnet::new(Ipv4Addr::new(10, 213, third, 0), prefix_len).expect("subnet");
        let dir = tempfile::Builder::new().prefix("berth-net-").tempdir_in("/tmp").expect("tmp");
        let cni =
            Cni::new(DEFAULT_PLUGIN_DIR, dir.path().join("ipam"), BridgeConfig::new(name, subnet))
                .expect("cni");
        Self { cni, dir, namespaces: Vec::new() }
    }

    fn netns(&mut self, id: &str) -> PathBuf {
        let path = Netns::create(&self.dir.path().join("netns"), id).expect("create netns");
        self.namespaces.push((id.to_owned(), path.clone()));
        path
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Drop may run inside the test's runtime, which cannot be blocked on; a thread with a
        // runtime of its own can.
        let cni = self.cni.clone();
        let namespaces = std::mem::take(&mut self.namespaces);
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("cleanup runtime");
            runtime.block_on(async {
                for (id, path) in &namespaces {
                    if let Err(e) = cni.detach(id, path, CONTAINER_IFNAME).await {
                        eprintln!("cleanup: detach {id}: {e}");
                    }
                    if let Err(e) = Netns::remove(path) {
                        eprintln!("cleanup: remove netns {id}: {e}");
                    }
                }
                if let Err(e) = cni.remove_bridge().await {
                    eprintln!("cleanup: remove bridge: {e}");
                }
            });
        });
        if cleanup.join().is_err() {
            eprintln!("cleanup thread panicked");
        }
    }
}

fn nat_table() -> String {
    let out = std::process::Command::new("iptables")
        .args(["-w", "-t", "nat", "-S"])
        .output()
        .expect("run iptables");
    assert!(out.status.success(), "iptables -S: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8")
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// Addresses host-local still holds (its store has one file per address, plus bookkeeping).
fn allocations(store: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(store) else { return Vec::new() };
    entries
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.parse::<std::net::IpAddr>().is_ok())
        .collect()
}

/// Opens a TCP connection from inside `from` to `to` and checks that bytes make it both ways.
fn exchange(from: &Path, listener: TcpListener) {
    let addr = listener.local_addr().expect("listener address");
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 4];
        conn.read_exact(&mut buf).expect("read ping");
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").expect("write pong");
    });
    let mut conn =
        Netns::run_in(from, move || TcpStream::connect_timeout(&addr, Duration::from_secs(5)))
            .expect("join netns")
            .unwrap_or_else(|e| panic!("connect to {addr} from {}: {e}", from.display()));
    conn.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    conn.write_all(b"ping").expect("write ping");
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf).expect("read pong");
    assert_eq!(&buf, b"pong");
    server.join().expect("server thread");
}

fn listen_in(netns: &Path, ip: Ipv4Addr) -> TcpListener {
    Netns::run_in(netns, move || TcpListener::bind(SocketAddr::from((ip, 0))))
        .expect("join netns")
        .unwrap_or_else(|e| panic!("bind {ip} in {}: {e}", netns.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn two_containers_talk_over_the_bridge_and_leave_nothing_behind() {
    let mut net = TestNet::new();
    let bridge = net.cni.bridge().clone();
    let (id_a, id_b) = ("berth-test-a", "berth-test-b");
    let ns_a = net.netns(id_a);
    let ns_b = net.netns(id_b);

    let a = net.cni.attach(id_a, &ns_a, CONTAINER_IFNAME, None, None).await.expect("attach a");
    let b = net.cni.attach(id_b, &ns_b, CONTAINER_IFNAME, None, None).await.expect("attach b");
    for att in [&a, &b] {
        assert!(bridge.subnet.contains(att.ip), "{} in {}", att.ip, bridge.subnet);
        assert_ne!(att.ip, bridge.gateway);
        assert_eq!(att.prefix_len, 24);
        assert_eq!(att.gateway, bridge.gateway);
        assert_eq!(att.bridge, bridge.name);
        assert!(att.host_veth.as_deref().is_some_and(link_exists), "{:?}", att.host_veth);
    }
    assert_ne!(a.ip, b.ip);
    assert_eq!(a.mac, container_mac(&ns_a, CONTAINER_IFNAME).await.expect("mac of a"));
    assert!(link_exists(&bridge.name));
    assert_eq!(allocations(&net.cni.ipam_store()).len(), 2);

    let nat = nat_table();
    for (id, att) in [(id_a, &a), (id_b, &b)] {
        let chain = iptables::masquerade_chain(&bridge.name, id);
        assert!(nat.contains(&format!("-s {}/32", att.ip)), "masquerade for {id}:\n{nat}");
        assert!(nat.contains(&format!("-N {chain}")), "{chain}:\n{nat}");
    }

    // b reaches a, a reaches the host through the gateway, and lo is up in a.
    let (from_a, from_b) = (ns_a.clone(), ns_b.clone());
    let (a_ip, gateway) = (a.ip, bridge.gateway);
    tokio::task::spawn_blocking(move || {
        exchange(&from_b, listen_in(&from_a, a_ip));
        let host = TcpListener::bind(SocketAddr::from((gateway, 0))).expect("bind the gateway");
        exchange(&from_a, host);
        exchange(&from_a, listen_in(&from_a, Ipv4Addr::LOCALHOST));
    })
    .await
    .expect("traffic");

    // a goes the normal way: detach, then drop the namespace. b's namespace vanishes first (a
    // crash, a manual cleanup): its address and NAT rules must still go.
    net.cni.detach(id_a, &ns_a, CONTAINER_IFNAME).await.expect("detach a");
    Netns::remove(&ns_a).expect("remove netns a");
    Netns::remove(&ns_b).expect("remove netns b");
    net.cni.detach(id_b, &ns_b, CONTAINER_IFNAME).await.expect("detach b without its netns");
    for (id, ns) in [(id_a, &ns_a), (id_b, &ns_b)] {
        net.cni.detach(id, ns, CONTAINER_IFNAME).await.expect("detach is idempotent");
    }

    assert_eq!(allocations(&net.cni.ipam_store()), Vec::<String>::new());
    let nat = nat_table();
    for (id, att) in [(id_a, &a), (id_b, &b)] {
        let chain = iptables::masquerade_chain(&bridge.name, id);
        assert!(!nat.contains(&chain), "{chain} left behind:\n{nat}");
        assert!(!nat.contains(&format!("-s {}/32", att.ip)), "rule for {id} left:\n{nat}");
        // The kernel destroys a removed namespace's veth pairs in a deferred work queue: wait
        // for it, with a deadline, instead of racing it on a busy machine.
        let veth = att.host_veth.as_deref().expect("veth name");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while link_exists(veth) {
            assert!(std::time::Instant::now() < deadline, "{veth} left behind");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
    net.cni.remove_bridge().await.expect("remove bridge");
    assert!(!link_exists(&bridge.name));
    net.cni.remove_bridge().await.expect("removing again is fine");
    let subnet = bridge.subnet.to_string();
    assert!(!nat_table().contains(&subnet), "rules for {subnet} left behind");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_attach_is_undone_and_reports_the_plugin_error() {
    let mut net = TestNet::with_prefix(30); // room for the gateway and one container
    let first = net.netns("berth-test-first");
    let kept = net
        .cni
        .attach("berth-test-first", &first, CONTAINER_IFNAME, None, None)
        .await
        .expect("first attach");

    // The bridge plugin creates the veth, then host-local finds the range exhausted.
    let second = net.netns("berth-test-second");
    let err = net
        .cni
        .attach("berth-test-second", &second, CONTAINER_IFNAME, None, None)
        .await
        .expect_err("subnet full");
    assert_eq!(err.kind(), berth_api::ErrorKind::System);
    assert!(
        err.message().starts_with("cni plugin bridge ADD: failed to allocate for range 0"),
        "{}",
        err.message()
    );
    let undone = container_mac(&second, CONTAINER_IFNAME).await.expect_err("eth0 is gone");
    assert_eq!(undone.message(), "cannot read the MAC address of eth0");
    assert_eq!(allocations(&net.cni.ipam_store()), vec![kept.ip.to_string()]);
    assert_eq!(container_mac(&first, CONTAINER_IFNAME).await.expect("first mac"), kept.mac);

    let missing = net.dir.path().join("netns/never-created");
    let err = net
        .cni
        .attach("berth-test-missing", &missing, CONTAINER_IFNAME, None, None)
        .await
        .expect_err("no netns");
    assert!(
        err.message().starts_with("cni plugin loopback ADD: failed to Statfs"),
        "{}",
        err.message()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_remove_bridge_helper_clears_rules_of_containers_never_detached() {
    let mut net = TestNet::new();
    let id = "berth-test-leak";
    let ns = net.netns(id);
    let att = net.cni.attach(id, &ns, CONTAINER_IFNAME, None, None).await.expect("attach");
    let chain = iptables::masquerade_chain(&net.cni.bridge().name, id);
    assert!(nat_table().contains(&chain));

    // The namespace goes and nobody detaches: only the bridge helper is left to clean NAT.
    Netns::remove(&ns).expect("remove netns");
    net.namespaces.clear();
    net.cni.remove_bridge().await.expect("remove bridge");
    let nat = nat_table();
    assert!(!nat.contains(&chain), "{chain} left behind:\n{nat}");
    assert!(!nat.contains(&format!("-s {}/32", att.ip)), "{nat}");
    assert!(!link_exists(&net.cni.bridge().name));
    // The address stays reserved until a DEL; host-local releases it by container id.
    assert_eq!(allocations(&net.cni.ipam_store()), vec![att.ip.to_string()]);
    net.cni.detach(id, &ns, CONTAINER_IFNAME).await.expect("late detach");
    assert_eq!(allocations(&net.cni.ipam_store()), Vec::<String>::new());
}
