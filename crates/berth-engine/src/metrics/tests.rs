use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use berth_api::ErrorKind;
use berth_api::container::{BlkioStatEntry, ContainerStats, NetworkStats};
use futures_util::StreamExt;

use super::stream::StatsTarget;
use super::*;

const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const REL: &str = "/berth/0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Ticks of `/proc/stat`'s `cpu` line: the first seven sum to 1000 (10 s); steal and guest
/// must not count.
const PROC_STAT: &str = "\
cpu  100 200 300 150 100 100 50 9999 7777 0
cpu0 50 100 150 75 50 50 25 0 0 0
cpu1 50 100 150 75 50 50 25 0 0 0
cpu3 0 0 0 0 0 0 0 0 0 0
intr 12345 0 0
ctxt 999
";

const NET_DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:     500       5    0    0    0     0          0         0      500       5    0    0    0     0       0          0
  eth0:    1296      16    1    2    0     0          0         0      866      11    3    4    0     0       0          0
 tunl0:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth1:10 1 0 0 0 0 0 0 20 2 0 0 0 0 0 0
";

fn write(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().expect("has a parent")).expect("mkdir");
    std::fs::write(path, content).expect("write");
}

/// A fake host: `cgroup/` with v1 controllers (`cpu,cpuacct` combined) and `proc/`.
struct FakeHost {
    dir: tempfile::TempDir,
}

impl FakeHost {
    fn v1() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = Self { dir };
        let cg = host.cgroup();
        let cpu = cg.join("cpu,cpuacct").join(REL.trim_start_matches('/'));
        write(&cpu.join("cpuacct.usage"), "123456789\n");
        write(&cpu.join("cpuacct.usage_percpu"), "100000000 23456789 \n");
        write(&cpu.join("cpuacct.stat"), "user 7\nsystem 3\n");
        write(
            &cpu.join("cpu.stat"),
            "nr_periods 10\nnr_throttled 4\nthrottled_time 5000\nnr_bursts 0\nburst_time 0\n",
        );

        let mem = cg.join("memory").join(REL.trim_start_matches('/'));
        write(
            &mem.join("memory.stat"),
            "cache 4096\nrss 8192\nshmem 1\nworkingset_refault_file 2\ntotal_inactive_file 1024\n\
             hierarchical_memory_limit 9223372036854771712\n",
        );
        write(&mem.join("memory.usage_in_bytes"), "20480\n");
        write(&mem.join("memory.max_usage_in_bytes"), "40960\n");
        write(&mem.join("memory.failcnt"), "3\n");
        write(&mem.join("memory.limit_in_bytes"), "9223372036854771712\n");

        let blkio = cg.join("blkio").join(REL.trim_start_matches('/'));
        write(
            &blkio.join("blkio.throttle.io_service_bytes_recursive"),
            "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n\
             8:0 Total 12288\nTotal 12288\n",
        );
        write(
            &blkio.join("blkio.throttle.io_serviced_recursive"),
            "8:0 Read 1\n8:0 Write 2\nTotal 3\n",
        );

        let pids = cg.join("pids").join(REL.trim_start_matches('/'));
        write(&pids.join("pids.current"), "2\n");
        write(&pids.join("pids.max"), "max\n");

        host.write_proc();
        host
    }

    fn v2() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let host = Self { dir };
        let cg = host.cgroup();
        write(&cg.join("cgroup.controllers"), "cpu io memory pids\n");
        let c = cg.join(REL.trim_start_matches('/'));
        write(
            &c.join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 6\nnr_throttled 2\n\
             throttled_usec 7\n",
        );
        write(&c.join("memory.stat"), "anon 100\nfile 200\ninactive_file 50\nsomething_new 9\n");
        write(&c.join("memory.current"), "300\n");
        write(&c.join("memory.max"), "max\n");
        write(&c.join("memory.events"), "low 0\nhigh 0\nmax 4\noom 2\noom_kill 1\n");
        write(&c.join("pids.current"), "3\n");
        write(&c.join("pids.max"), "max\n");
        write(&c.join("io.stat"), "8:0 rbytes=4096 wbytes=512 rios=1 wios=2 dbytes=0 dios=0\n");
        host.write_proc();
        host
    }

    fn write_proc(&self) {
        let proc = self.proc();
        write(&proc.join("stat"), PROC_STAT);
        write(&proc.join("meminfo"), "MemTotal:        2048 kB\nMemFree:  1 kB\n");
        write(&proc.join("42/net/dev"), NET_DEV);
    }

    fn cgroup(&self) -> PathBuf {
        self.dir.path().join("cgroup")
    }

    fn proc(&self) -> PathBuf {
        self.dir.path().join("proc")
    }

    fn sampler(&self) -> Sampler {
        Sampler::new(CgroupRoot::at(self.cgroup()), self.proc())
    }
}

fn blk(major: u64, minor: u64, op: &str, value: u64) -> BlkioStatEntry {
    BlkioStatEntry { major, minor, op: op.to_owned(), value }
}

fn net(rx: [u64; 4], tx: [u64; 4]) -> NetworkStats {
    NetworkStats {
        rx_bytes: rx[0],
        rx_packets: rx[1],
        rx_errors: rx[2],
        rx_dropped: rx[3],
        tx_bytes: tx[0],
        tx_packets: tx[1],
        tx_errors: tx[2],
        tx_dropped: tx[3],
        ..NetworkStats::default()
    }
}

/// `read` must be a current RFC 3339 UTC time; it is then blanked for exact comparisons.
fn take_read(stats: &mut ContainerStats) {
    assert!(stats.read.ends_with('Z') && stats.read.starts_with("20"), "{}", stats.read);
    time::OffsetDateTime::parse(&stats.read, &time::format_description::well_known::Rfc3339)
        .expect("read is RFC 3339");
    stats.read.clear();
}

#[test]
fn v1_sample_has_dockerds_numbers() {
    let host = FakeHost::v1();
    let mut stats = host.sampler().sample(REL, Some(42)).expect("sample");
    take_read(&mut stats);

    let cpu = &stats.cpu_stats;
    assert_eq!(cpu.cpu_usage.total_usage, 123_456_789);
    assert_eq!(cpu.cpu_usage.percpu_usage, Some(vec![100_000_000, 23_456_789]));
    // USER_HZ ticks → ns.
    assert_eq!(cpu.cpu_usage.usage_in_usermode, 70_000_000);
    assert_eq!(cpu.cpu_usage.usage_in_kernelmode, 30_000_000);
    assert_eq!(cpu.system_usage, 10_000_000_000);
    assert_eq!(cpu.online_cpus, 3);
    assert_eq!(cpu.throttling_data.periods, 10);
    assert_eq!(cpu.throttling_data.throttled_periods, 4);
    assert_eq!(cpu.throttling_data.throttled_time, 5000);

    let mem = &stats.memory_stats;
    assert_eq!(mem.usage, 20480);
    assert_eq!(mem.max_usage, 40960);
    assert_eq!(mem.failcnt, 3);
    // No limit: the machine's 2048 kB.
    assert_eq!(mem.limit, 2048 * 1024);
    let map = mem.stats.as_ref().expect("memory.stat");
    assert_eq!(map.len(), 32, "dockerd's v1 key set");
    assert_eq!(map["cache"], 4096);
    assert_eq!(map["rss"], 8192);
    assert_eq!(map["total_inactive_file"], 1024);
    assert_eq!(map["total_rss"], 0, "absent keys are 0");
    assert_eq!(map["hierarchical_memory_limit"], 9_223_372_036_854_771_712);
    assert!(!map.contains_key("shmem"), "dockerd does not report keys outside its set");

    let blkio = &stats.blkio_stats;
    assert_eq!(
        blkio.io_service_bytes_recursive,
        Some(vec![
            blk(8, 0, "Read", 4096),
            blk(8, 0, "Write", 8192),
            blk(8, 0, "Sync", 0),
            blk(8, 0, "Async", 12288),
            blk(8, 0, "Discard", 0),
            blk(8, 0, "Total", 12288),
        ])
    );
    assert_eq!(
        blkio.io_serviced_recursive,
        Some(vec![blk(8, 0, "Read", 1), blk(8, 0, "Write", 2)])
    );
    assert_eq!(blkio.io_queued_recursive, Some(vec![]), "v1 marshals empty lists as []");
    assert_eq!(blkio.sectors_recursive, Some(vec![]));

    assert_eq!(stats.pids_stats.current, 2);
    assert_eq!(stats.pids_stats.limit, 0, "max reads as 0");

    let networks = stats.networks.as_ref().expect("networks");
    assert_eq!(networks.keys().collect::<Vec<_>>(), ["eth0", "eth1"]);
    assert_eq!(networks["eth0"], net([1296, 16, 1, 2], [866, 11, 3, 4]));
    assert_eq!(networks["eth1"], net([10, 1, 0, 0], [20, 2, 0, 0]));

    assert_eq!(stats.preread, ZERO_TIME);
    assert_eq!(stats.precpu_stats, Default::default());
    assert!(stats.name.is_empty() && stats.id.is_empty());
}

#[test]
fn v1_limit_below_machine_memory_is_kept_and_pids_limit_read() {
    let host = FakeHost::v1();
    let c = REL.trim_start_matches('/');
    write(&host.cgroup().join("memory").join(c).join("memory.limit_in_bytes"), "1048576\n");
    write(&host.cgroup().join("pids").join(c).join("pids.max"), "100\n");
    let stats = host.sampler().sample(REL, None).expect("sample");
    assert_eq!(stats.memory_stats.limit, 1_048_576);
    assert_eq!(stats.pids_stats.limit, 100);
    assert_eq!(stats.networks, None, "no pid, no networks");
}

#[test]
fn v1_cfq_files_win_when_they_report_anything() {
    let host = FakeHost::v1();
    let blkio = host.cgroup().join("blkio").join(REL.trim_start_matches('/'));
    for name in [
        "sectors_recursive",
        "io_service_bytes_recursive",
        "io_queued_recursive",
        "io_service_time_recursive",
        "io_wait_time_recursive",
        "io_merged_recursive",
        "time_recursive",
    ] {
        write(&blkio.join(format!("blkio.{name}")), "Total 0\n");
    }
    write(&blkio.join("blkio.io_serviced_recursive"), "Total 0\n");
    // Every CFQ file empty: the throttle files count.
    let stats = host.sampler().sample(REL, None).expect("sample");
    assert_eq!(stats.blkio_stats.io_serviced_recursive.map(|v| v.len()), Some(2));

    write(&blkio.join("blkio.io_serviced_recursive"), "8:16 Read 5\n8:16 Write 6\nTotal 11\n");
    write(&blkio.join("blkio.time_recursive"), "8:16 77\n");
    let stats = host.sampler().sample(REL, None).expect("sample");
    let b = stats.blkio_stats;
    assert_eq!(b.io_serviced_recursive, Some(vec![blk(8, 16, "Read", 5), blk(8, 16, "Write", 6)]));
    assert_eq!(b.io_time_recursive, Some(vec![blk(8, 16, "", 77)]));
    assert_eq!(b.io_service_bytes_recursive, Some(vec![]));
}

#[test]
fn v1_missing_controllers_are_left_out_and_a_missing_cgroup_is_404() {
    let host = FakeHost::v1();
    std::fs::remove_dir_all(host.cgroup().join("blkio")).expect("rm blkio");
    let stats = host.sampler().sample(REL, None).expect("sample");
    assert_eq!(stats.blkio_stats, Default::default(), "no controller: null lists");

    let err = host.sampler().sample("/berth/gone", None).expect_err("no cgroup");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let err = host.sampler().sample("/berth/../../etc", None).expect_err("escapes");
    assert_eq!(err.kind(), ErrorKind::InvalidParameter);
}

#[test]
fn v1_garbage_in_a_counter_is_a_500() {
    let host = FakeHost::v1();
    let c = REL.trim_start_matches('/');
    write(&host.cgroup().join("pids").join(c).join("pids.current"), "lots\n");
    let err = host.sampler().sample(REL, None).expect_err("garbage");
    assert_eq!(err.kind(), ErrorKind::System);
    assert!(err.message().contains("pids.current"), "{}", err.message());
}

#[test]
fn network_of_the_hosts_namespace_is_not_reported() {
    let host = FakeHost::v1();
    let proc = host.proc();
    std::fs::create_dir_all(proc.join("42/ns")).expect("mkdir");
    std::fs::create_dir_all(proc.join("self/ns")).expect("mkdir");
    std::os::unix::fs::symlink("net:[4026531992]", proc.join("42/ns/net")).expect("link");
    std::os::unix::fs::symlink("net:[4026531992]", proc.join("self/ns/net")).expect("link");
    let stats = host.sampler().sample(REL, Some(42)).expect("sample");
    assert_eq!(stats.networks, None);

    // A process that is gone: the container is stopping.
    let err = host.sampler().sample(REL, Some(4242)).expect_err("no such process");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn only_loopback_means_no_networks() {
    let host = FakeHost::v1();
    let only_lo: String = NET_DEV.lines().take(3).map(|l| format!("{l}\n")).collect();
    write(&host.proc().join("42/net/dev"), &only_lo);
    let stats = host.sampler().sample(REL, Some(42)).expect("sample");
    assert_eq!(stats.networks, None, "--network none");
}

#[test]
fn v2_sample_has_dockerds_numbers() {
    let host = FakeHost::v2();
    assert!(CgroupRoot::at(host.cgroup()).is_v2());
    let mut stats = host.sampler().sample(REL, None).expect("sample");
    take_read(&mut stats);
    let cpu = &stats.cpu_stats;
    assert_eq!(cpu.cpu_usage.total_usage, 1_500_000);
    assert_eq!(cpu.cpu_usage.usage_in_usermode, 1_000_000);
    assert_eq!(cpu.cpu_usage.usage_in_kernelmode, 500_000);
    assert_eq!(cpu.cpu_usage.percpu_usage, None);
    assert_eq!(cpu.throttling_data.periods, 6);
    assert_eq!(cpu.throttling_data.throttled_periods, 2);
    assert_eq!(cpu.throttling_data.throttled_time, 7000);
    assert_eq!(cpu.system_usage, 10_000_000_000);

    let mem = &stats.memory_stats;
    assert_eq!(mem.usage, 300);
    assert_eq!(mem.limit, 2048 * 1024, "max capped at the machine's memory");
    assert_eq!(mem.failcnt, 2, "memory.events oom");
    assert_eq!(mem.max_usage, 0);
    let map = mem.stats.as_ref().expect("stats");
    assert_eq!(map.len(), 31);
    assert_eq!((map["anon"], map["file"], map["inactive_file"]), (100, 200, 50));

    assert_eq!(
        stats.blkio_stats.io_service_bytes_recursive,
        Some(vec![blk(8, 0, "read", 4096), blk(8, 0, "write", 512)])
    );
    assert_eq!(stats.blkio_stats.io_serviced_recursive, None);
    assert_eq!(stats.pids_stats.current, 3);
    assert_eq!(stats.pids_stats.limit, u64::MAX, "containerd reads v2 max as u64::MAX");

    let err = host.sampler().sample("/berth/gone", None).expect_err("gone");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn proc_stat_sums_seven_fields_and_counts_cpus() {
    assert_eq!(procfs::system_cpu_usage(PROC_STAT).expect("parse"), (10_000_000_000, 3));
    // Lines after the leading cpu block are not read (a "cpu" further down is ignored).
    let text = "cpu  1 1 1 1 1 1 1\nintr 1\ncpu0 1 1 1 1 1 1 1\n";
    assert_eq!(procfs::system_cpu_usage(text).expect("parse"), (70_000_000, 0));
    for bad in ["cpu  1 2 3\n", "cpu  1 2 3 4 5 6 x\n", "intr 1\n", ""] {
        let err = procfs::system_cpu_usage(bad).expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::System, "{bad}");
    }
    // Never overflows, however long the uptime.
    let huge = format!("cpu  {} 0 0 0 0 0 0\n", u64::MAX / 2);
    assert_eq!(procfs::system_cpu_usage(&huge).expect("parse").0, u64::MAX);
}

#[test]
fn meminfo_total_in_bytes() {
    assert_eq!(procfs::mem_total("MemTotal:       16303032 kB\n"), Some(16_303_032 * 1024));
    assert_eq!(procfs::mem_total("MemFree: 1 kB\n"), None);
}

#[test]
fn net_dev_skips_loopback_and_fallback_tunnels() {
    let interfaces = procfs::net_dev(NET_DEV).expect("parse");
    assert_eq!(interfaces.keys().collect::<Vec<_>>(), ["eth0", "eth1"]);
    let bad = format!("{NET_DEV}  eth2: 1 2 3\n");
    assert_eq!(procfs::net_dev(&bad).expect_err("short").kind(), ErrorKind::System);
    assert!(procfs::net_dev("a\nb\n").expect("headers only").is_empty());
}

#[test]
fn mountinfo_v1_with_combined_controllers() {
    let text = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:5 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:6 - cgroup cgroup rw,xattr,name=systemd
28 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:7 - cgroup cgroup rw,cpu,cpuacct
29 25 0:27 / /sys/fs/cgroup/memory rw,nosuid shared:8 - cgroup cgroup rw,memory
30 25 0:28 / /sys/fs/cgroup/my\\040pids rw - cgroup cgroup rw,pids
31 25 0:27 / /mnt/memory-again rw - cgroup cgroup rw,memory
";
    let root = CgroupRoot::from_mountinfo(text).expect("v1");
    assert!(!root.is_v2());
    let dir = |c: &str| root.v1_dir(c, "/berth/x").expect("valid").map(|p| p.display().to_string());
    assert_eq!(dir("cpu").as_deref(), Some("/sys/fs/cgroup/cpu,cpuacct/berth/x"));
    assert_eq!(dir("cpuacct").as_deref(), Some("/sys/fs/cgroup/cpu,cpuacct/berth/x"));
    assert_eq!(dir("memory").as_deref(), Some("/sys/fs/cgroup/memory/berth/x"));
    assert_eq!(dir("pids").as_deref(), Some("/sys/fs/cgroup/my pids/berth/x"));
    assert_eq!(dir("blkio"), None);
    assert_eq!(dir("systemd"), None, "named hierarchies are not controllers");
    assert_eq!(root.v2_dir("/berth/x").expect("valid"), None);
}

#[test]
fn mountinfo_v2_and_none() {
    let text = "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 \
                cgroup2 rw,nsdelegate,memory_recursiveprot\n";
    let root = CgroupRoot::from_mountinfo(text).expect("v2");
    assert!(root.is_v2());
    assert_eq!(
        root.v2_dir("/berth/x").expect("valid"),
        Some(PathBuf::from("/sys/fs/cgroup/berth/x"))
    );
    assert_eq!(root.v1_dir("memory", "/berth/x").expect("valid"), None);
    let err = CgroupRoot::from_mountinfo("1 0 0:1 / / rw - ext4 /dev/vda rw\n").expect_err("none");
    assert_eq!(err.kind(), ErrorKind::System);
}

#[test]
fn this_host_is_detected() {
    let root = CgroupRoot::detect().expect("this host mounts cgroups");
    if !root.is_v2() {
        assert!(root.v1_dir("memory", "/").expect("valid").is_some_and(|d| d.is_dir()));
    }
}

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

fn target() -> StatsTarget {
    StatsTarget {
        id: ID.to_owned(),
        name: "/web".to_owned(),
        cgroup: REL.to_owned(),
        networks: true,
    }
}

/// Collects a stream with a deadline, so that a stream that never ends fails the test.
async fn collect_all(
    stream: berth_backend::BoxStream<'static, berth_api::Result<ContainerStats>>,
) -> Vec<ContainerStats> {
    tokio::time::timeout(Duration::from_secs(10), stream.map(|r| r.expect("sample")).collect())
        .await
        .expect("stream ends")
}

#[tokio::test]
async fn stopped_container_gets_dockerds_empty_sample() {
    let host = FakeHost::v1();
    let sampler = Arc::new(host.sampler());
    let samples = collect_all(sampler.stream(target(), false, false, || None)).await;
    assert_eq!(samples.len(), 1);
    let json = serde_json::to_value(&samples[0]).expect("json");
    let expected = serde_json::json!({
        "name": "/web",
        "id": ID,
        "read": "0001-01-01T00:00:00Z",
        "preread": "0001-01-01T00:00:00Z",
        "pids_stats": {},
        "blkio_stats": {
            "io_service_bytes_recursive": null,
            "io_serviced_recursive": null,
            "io_queue_recursive": null,
            "io_service_time_recursive": null,
            "io_wait_time_recursive": null,
            "io_merged_recursive": null,
            "io_time_recursive": null,
            "sectors_recursive": null
        },
        "num_procs": 0,
        "storage_stats": {},
        "cpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        },
        "precpu_stats": {
            "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
            "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
        },
        "memory_stats": {}
    });
    assert_eq!(json, expected);
}

#[tokio::test]
async fn one_shot_is_a_single_sample_without_precpu() {
    let host = FakeHost::v1();
    let sampler = Arc::new(host.sampler());
    let samples = collect_all(sampler.stream(target(), false, true, || Some(42))).await;
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_eq!((s.id.as_str(), s.name.as_str()), (ID, "/web"));
    assert_eq!(s.cpu_stats.cpu_usage.total_usage, 123_456_789);
    assert_eq!(s.preread, ZERO_TIME);
    assert_eq!(s.precpu_stats, Default::default());
    assert!(s.networks.is_some());
}

#[tokio::test]
async fn one_shot_sample_errors_reach_the_caller() {
    let host = FakeHost::v1();
    let c = REL.trim_start_matches('/');
    write(&host.cgroup().join("pids").join(c).join("pids.current"), "lots\n");
    let sampler = Arc::new(host.sampler());
    let mut stream = sampler.stream(target(), false, true, || Some(42));
    let err = stream.next().await.expect("an item").expect_err("garbage");
    assert_eq!(err.kind(), ErrorKind::System);
}

#[tokio::test]
async fn no_stream_sends_the_second_of_two_samples() {
    let host = FakeHost::v1();
    let sampler = Arc::new(host.sampler());
    let stream =
        sampler.stream_every(Duration::from_millis(20), target(), false, false, || Some(42));
    let samples = collect_all(stream).await;
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_ne!(s.preread, ZERO_TIME, "preread is the first sample's read");
    let parse = |t: &str| {
        time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).expect(t)
    };
    assert!(parse(&s.preread) < parse(&s.read), "{} < {}", s.preread, s.read);
    assert_eq!(s.precpu_stats, s.cpu_stats, "the fake counters did not move");
    assert_eq!(s.precpu_stats.system_usage, 10_000_000_000);
}

#[tokio::test]
async fn stream_chains_samples_and_ends_when_the_container_stops() {
    let host = FakeHost::v1();
    let sampler = Arc::new(host.sampler());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    // Running for three samples, then stopped.
    let running = move || (counter.fetch_add(1, Ordering::SeqCst) < 3).then_some(42);
    let stream = sampler.stream_every(Duration::from_millis(5), target(), true, true, running);
    let samples = collect_all(stream).await;
    assert_eq!(samples.len(), 3);
    assert_eq!(samples[0].preread, ZERO_TIME, "one_shot has no effect when streaming");
    assert_eq!(samples[0].precpu_stats, Default::default());
    for pair in samples.windows(2) {
        assert_eq!(pair[1].preread, pair[0].read);
        assert_eq!(pair[1].precpu_stats, pair[0].cpu_stats);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn stream_of_a_stopped_container_sends_empty_samples_until_dropped() {
    let host = FakeHost::v1();
    let sampler = Arc::new(host.sampler());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let running = move || {
        counter.fetch_add(1, Ordering::SeqCst);
        None
    };
    let stream = sampler.stream_every(Duration::from_millis(5), target(), true, false, running);
    let samples: Vec<_> =
        tokio::time::timeout(Duration::from_secs(10), stream.take(3).collect::<Vec<_>>())
            .await
            .expect("samples come");
    for s in samples {
        let s = s.expect("sample");
        assert_eq!(s, target().empty_stats());
    }
    // Dropped after the third: nothing polls `running` any more.
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn stream_of_an_exiting_container_sends_an_empty_sample_then_ends() {
    let host = FakeHost::v1();
    let sampler = Arc::new(host.sampler());
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let cgroup = host.cgroup();
    // The second sample finds the cgroups gone while the task is still reported running.
    let running = move || {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        if n == 1 {
            std::fs::remove_dir_all(&cgroup).expect("rm cgroups");
        }
        (n < 2).then_some(42)
    };
    let stream = sampler.stream_every(Duration::from_millis(5), target(), true, false, running);
    let samples = collect_all(stream).await;
    assert_eq!(samples.len(), 2);
    assert_eq!(samples[1].read, ZERO_TIME);
    assert_eq!(samples[1].precpu_stats, samples[0].cpu_stats);
}

/// A child `sleep` killed and reaped on drop, whatever the test did.
pub(super) struct Child(std::process::Child);

impl Child {
    pub(super) fn sleep() -> Self {
        Self(std::process::Command::new("sleep").arg("600").spawn().expect("spawn sleep"))
    }

    /// `sleep 600` once [`Child::release`] lets it: until then a shell waits on its stdin, so
    /// that the test can move it into a cgroup before `sleep` is loaded (v1 charges memory to
    /// the cgroup a page is touched in, not to the one its task moves to).
    pub(super) fn gated_sleep() -> Self {
        let child = std::process::Command::new("sh")
            .args(["-c", "read go; exec sleep 600"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("spawn sh");
        Self(child)
    }

    /// Opens the gate and waits (with a deadline) until the process is `sleep`.
    pub(super) fn release(&mut self) {
        use std::io::Write;
        let mut stdin = self.0.stdin.take().expect("piped stdin");
        stdin.write_all(b"go\n").expect("write to sh");
        let comm = format!("/proc/{}/comm", self.pid());
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::fs::read_to_string(&comm).map(|c| c.trim() != "sleep").unwrap_or(true) {
            assert!(std::time::Instant::now() < deadline, "sh never became sleep");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    pub(super) fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// A real cgroup v1 on this host
// ---------------------------------------------------------------------------------------------

/// Cgroups `/<name>` made in some v1 controllers; the child is killed and every directory
/// removed on drop, even after a failed assertion.
struct LiveCgroup {
    dirs: Vec<PathBuf>,
    child: Option<Child>,
}

impl Drop for LiveCgroup {
    fn drop(&mut self) {
        drop(self.child.take());
        for dir in &self.dirs {
            // A just-killed task can take a moment to leave the cgroup: retry briefly.
            for _ in 0..100 {
                if std::fs::remove_dir(dir).is_ok() || !dir.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

#[test]
fn live_cgroup_v1_sample() {
    let root = CgroupRoot::detect().expect("detect");
    if root.is_v2() || !nix::unistd::Uid::effective().is_root() {
        eprintln!("live_cgroup_v1_sample needs root and cgroup v1; not run");
        return;
    }
    let rel = format!("/berth-test-{}", std::process::id());
    let mut live = LiveCgroup { dirs: Vec::new(), child: None };
    for controller in ["cpu", "cpuacct", "memory", "pids", "blkio"] {
        let dir = root.v1_dir(controller, &rel).expect("valid").expect("controller is mounted");
        if !live.dirs.contains(&dir) {
            std::fs::create_dir(&dir).expect("mkdir cgroup");
            live.dirs.push(dir);
        }
    }
    let memory = root.v1_dir("memory", &rel).expect("valid").expect("memory");
    std::fs::write(memory.join("memory.limit_in_bytes"), "67108864").expect("set limit");
    let pids = root.v1_dir("pids", &rel).expect("valid").expect("pids");
    std::fs::write(pids.join("pids.max"), "50").expect("set pids.max");

    let child = live.child.insert(Child::gated_sleep());
    let pid = child.pid();
    for dir in &live.dirs {
        std::fs::write(dir.join("cgroup.procs"), pid.to_string()).expect("join cgroup");
    }
    child.release();

    let sampler = Sampler::new(root, "/proc");
    let stats = sampler.sample(&rel, Some(pid)).expect("sample");
    assert_eq!(stats.pids_stats.current, 1);
    assert_eq!(stats.pids_stats.limit, 50);
    assert_eq!(stats.memory_stats.limit, 67_108_864);
    assert!(stats.memory_stats.usage > 0);
    assert!(
        stats.memory_stats.stats.as_ref().is_some_and(|m| m.contains_key("total_inactive_file"))
    );
    assert!(stats.cpu_stats.cpu_usage.total_usage > 0, "exec ran in the cgroup");
    assert!(stats.cpu_stats.cpu_usage.percpu_usage.is_some());
    assert!(stats.cpu_stats.system_usage > 0);
    assert!(stats.cpu_stats.online_cpus >= 1);
    assert!(stats.blkio_stats.io_service_bytes_recursive.is_some());
    // The child shares the test's network namespace: no interfaces, as for --network host.
    assert_eq!(stats.networks, None);
}
