//! What the kernel's cgroups can limit, read once as dockerd reads its `sysinfo`: the controllers
//! a kernel offers do not change while it runs. `/info` reports these; create and update drop
//! the block-IO settings the kernel cannot apply, with dockerd's warnings, and give no swap
//! limit where swap cannot be limited.

use std::path::Path;
use std::sync::OnceLock;

/// The limits this host's cgroups offer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[allow(clippy::struct_excessive_bools, reason = "one flag per kernel feature, as dockerd's")]
pub struct CgroupFeatures {
    /// A memory limit.
    pub memory: bool,
    /// A memory+swap limit.
    pub swap: bool,
    /// The CFS period.
    pub cfs_period: bool,
    /// The CFS quota.
    pub cfs_quota: bool,
    /// CPU shares.
    pub shares: bool,
    /// cpusets.
    pub cpuset: bool,
    /// A pids limit.
    pub pids: bool,
    /// Turning the OOM killer off (cgroup v1).
    pub oom_kill_disable: bool,
    /// A kernel memory limit (cgroup v1).
    pub kernel_memory: bool,
    /// A kernel TCP buffer limit (cgroup v1).
    pub kernel_memory_tcp: bool,
    /// A block-IO weight.
    pub blkio_weight: bool,
    /// Per-device block-IO weights.
    pub blkio_weight_device: bool,
    /// Read bytes per second throttles.
    pub blkio_read_bps: bool,
    /// Write bytes per second throttles.
    pub blkio_write_bps: bool,
    /// Read operations per second throttles.
    pub blkio_read_iops: bool,
    /// Write operations per second throttles.
    pub blkio_write_iops: bool,
}

/// This host's features, probed on first use.
pub fn cgroup_features() -> CgroupFeatures {
    static FEATURES: OnceLock<CgroupFeatures> = OnceLock::new();
    *FEATURES.get_or_init(|| probe(Path::new("/sys/fs/cgroup")))
}

/// Reads the cgroup file system mounted at `root`: on v2 its root's `cgroup.controllers` (a
/// controller offers all its limits), on v1 whether each limit's file exists.
fn probe(root: &Path) -> CgroupFeatures {
    if let Ok(controllers) = std::fs::read_to_string(root.join("cgroup.controllers")) {
        let has = |name: &str| controllers.split_whitespace().any(|c| c == name);
        let (memory, cpu, io) = (has("memory"), has("cpu"), has("io"));
        return CgroupFeatures {
            memory,
            swap: memory,
            cfs_period: cpu,
            cfs_quota: cpu,
            shares: cpu,
            cpuset: has("cpuset"),
            pids: has("pids"),
            oom_kill_disable: false,
            kernel_memory: false,
            kernel_memory_tcp: false,
            blkio_weight: io,
            blkio_weight_device: io,
            blkio_read_bps: io,
            blkio_write_bps: io,
            blkio_read_iops: io,
            blkio_write_iops: io,
        };
    }
    let has = |files: &[&str]| files.iter().any(|f| root.join(f).exists());
    CgroupFeatures {
        memory: has(&["memory/memory.limit_in_bytes"]),
        swap: has(&["memory/memory.memsw.limit_in_bytes"]),
        cfs_period: has(&["cpu/cpu.cfs_period_us"]),
        cfs_quota: has(&["cpu/cpu.cfs_quota_us"]),
        shares: has(&["cpu/cpu.shares"]),
        cpuset: has(&["cpuset/cpuset.cpus"]),
        // The root of the pids hierarchy has no pids.max; the mounted controller is what counts.
        pids: has(&["pids/cgroup.procs"]),
        oom_kill_disable: has(&["memory/memory.oom_control"]),
        kernel_memory: has(&["memory/memory.kmem.limit_in_bytes"]),
        kernel_memory_tcp: has(&["memory/memory.kmem.tcp.limit_in_bytes"]),
        blkio_weight: has(&["blkio/blkio.weight", "blkio/blkio.bfq.weight"]),
        blkio_weight_device: has(&["blkio/blkio.weight_device", "blkio/blkio.bfq.weight_device"]),
        blkio_read_bps: has(&["blkio/blkio.throttle.read_bps_device"]),
        blkio_write_bps: has(&["blkio/blkio.throttle.write_bps_device"]),
        blkio_read_iops: has(&["blkio/blkio.throttle.read_iops_device"]),
        blkio_write_iops: has(&["blkio/blkio.throttle.write_iops_device"]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, files: &[&str]) {
        for file in files {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, "").expect("touch");
        }
    }

    #[test]
    fn v1_offers_what_its_files_say() {
        let dir = tempfile::tempdir().expect("tempdir");
        touch(
            dir.path(),
            &[
                "memory/memory.limit_in_bytes",
                "cpu/cpu.shares",
                "pids/cgroup.procs",
                "blkio/blkio.bfq.weight",
                "blkio/blkio.throttle.read_bps_device",
            ],
        );
        let f = probe(dir.path());
        assert!(f.memory && f.shares && f.pids && f.blkio_weight && f.blkio_read_bps, "{f:?}");
        assert!(!f.swap && !f.cfs_quota && !f.blkio_weight_device && !f.blkio_write_iops, "{f:?}");
    }

    #[test]
    fn v2_offers_what_its_controllers_say() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("cgroup.controllers"), "cpuset cpu memory pids\n")
            .expect("write");
        let f = probe(dir.path());
        assert!(f.memory && f.swap && f.cfs_quota && f.cpuset && f.pids, "{f:?}");
        assert!(!f.blkio_weight && !f.oom_kill_disable && !f.kernel_memory, "{f:?}");
    }

    #[test]
    fn this_host_is_read_once() {
        assert_eq!(cgroup_features(), cgroup_features());
        assert_eq!(cgroup_features(), probe(Path::new("/sys/fs/cgroup")));
    }
}
