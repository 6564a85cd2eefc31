//! The built-in policy: what dockerd 28's default profile lets a container do, written as
//! Berth's own table.
//!
//! The shape: every syscall not named below fails with EPERM. Most of what ordinary programs
//! use is allowed everywhere (the themed lists first). Then come the exceptions: syscalls only
//! some argument values of are allowed, those of one architecture, and those that need a
//! capability — a container that is given the capability also gets the syscalls it guards, so
//! `--cap-add SYS_ADMIN` lets `mount` through the filter and the kernel then decides.
//!
//! The syscall names are those of the Linux syscall tables (a name the installed libseccomp
//! does not know is skipped by runc); the groups, their conditions and the argument values are
//! dockerd's, so that a program sees the same failures under Berth as under dockerd.

use nix::libc;

use super::profile::{ArchFamily, ArgCheck, Conditions, KernelVersion, Profile, Rule};

// ---------------------------------------------------------------------------------------------
// Allowed everywhere, by theme
// ---------------------------------------------------------------------------------------------

/// Paths, metadata, directories, links, extended attributes, mount listings.
const FILES: &[&str] = &[
    "access",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "creat",
    "faccessat",
    "faccessat2",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fgetxattr",
    "flistxattr",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "ftruncate",
    "ftruncate64",
    "futimesat",
    "getcwd",
    "getdents",
    "getdents64",
    "getxattr",
    "getxattrat",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listmount",
    "listxattr",
    "listxattrat",
    "llistxattr",
    "lremovexattr",
    "lsetxattr",
    "lstat",
    "lstat64",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "name_to_handle_at",
    "newfstatat",
    "open",
    "openat",
    "openat2",
    "readlink",
    "readlinkat",
    "removexattr",
    "removexattrat",
    "rename",
    "renameat",
    "renameat2",
    "rmdir",
    "setxattr",
    "setxattrat",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statmount",
    "statx",
    "symlink",
    "symlinkat",
    "truncate",
    "truncate64",
    "umask",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
];

/// Reading, writing, syncing and waiting on descriptors; asynchronous I/O; file watches.
const DESCRIPTORS: &[&str] = &[
    "_llseek",
    "_newselect",
    "cachestat",
    "close",
    "close_range",
    "copy_file_range",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "flock",
    "fsync",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "io_setup",
    "io_submit",
    "ioctl",
    "lseek",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "ppoll_time64",
    "pread64",
    "preadv",
    "preadv2",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readv",
    "select",
    "sendfile",
    "sendfile64",
    "splice",
    "sync",
    "sync_file_range",
    "syncfs",
    "tee",
    "vmsplice",
    "write",
    "writev",
];

/// The process's own memory.
const MEMORY: &[&str] = &[
    "brk",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mremap",
    "mseal",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "remap_file_pages",
];

/// Process and thread life, identity, limits, futexes, and self-confinement (`seccomp`,
/// Landlock).
const PROCESSES: &[&str] = &[
    "capget",
    "capset",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "fork",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "get_robust_list",
    "get_thread_area",
    "getcpu",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "getrusage",
    "getsid",
    "gettid",
    "getuid",
    "getuid32",
    "ioprio_get",
    "ioprio_set",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "pidfd_open",
    "pidfd_send_signal",
    "prctl",
    "prlimit64",
    "process_mrelease",
    "restart_syscall",
    "riscv_hwprobe",
    "rseq",
    "seccomp",
    "set_robust_list",
    "set_thread_area",
    "set_tid_address",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "setsid",
    "setuid",
    "setuid32",
    "sysinfo",
    "times",
    "ugetrlimit",
    "uname",
    "uretprobe",
    "vfork",
    "wait4",
    "waitid",
    "waitpid",
];

/// Scheduling policy and CPU affinity of the container's own processes.
const SCHEDULING: &[&str] = &[
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
];

/// Sending, blocking and handling signals.
const SIGNALS: &[&str] = &[
    "alarm",
    "kill",
    "pause",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "tgkill",
    "tkill",
];

/// Reading clocks, sleeping, timers. (Setting the clock needs `CAP_SYS_TIME`, below;
/// `adjtimex` and `clock_adjtime` only read it without that capability.)
const TIME: &[&str] = &[
    "adjtimex",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "getitimer",
    "gettimeofday",
    "nanosleep",
    "setitimer",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
];

/// Using sockets (creating one is `socket`, checked below).
const SOCKETS: &[&str] = &[
    "accept",
    "accept4",
    "bind",
    "connect",
    "getpeername",
    "getsockname",
    "getsockopt",
    "listen",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "send",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setsockopt",
    "shutdown",
    "socketcall",
    "socketpair",
];

/// System V and POSIX message queues, semaphores and shared memory (the container has its own
/// IPC namespace).
const IPC: &[&str] = &[
    "ipc",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
];

// ---------------------------------------------------------------------------------------------
// Exceptions
// ---------------------------------------------------------------------------------------------

/// The namespace flags of `clone`: without `CAP_SYS_ADMIN`, a clone may create none of them.
const NAMESPACE_FLAGS: u64 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u64;

/// The `personality` values a container may set: Linux (0) and 32-bit Linux (`PER_LINUX32`,
/// 0x0008), each also with the `uname` that reports a 2.6 kernel (`UNAME26`, 0x20000), and
/// `0xffffffff`, which changes nothing and returns the current one.
const PERSONALITIES: [u64; 5] = [0x0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];

/// Syscalls each capability brings with it, in the order the profile lists them.
const BY_CAPABILITY: &[(&str, &[&str])] = &[
    // Opening a file from a handle bypasses path permission checks.
    ("CAP_DAC_READ_SEARCH", &["open_by_handle_at"]),
    // Mounts, namespaces, new-style mount API, BPF, perf, quotas, host and domain names, LSM
    // attributes. Unconditional `clone` (any flags) comes with it too.
    (
        "CAP_SYS_ADMIN",
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_list_modules",
            "lsm_set_self_attr",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot"]),
    ("CAP_SYS_CHROOT", &["chroot"]),
    ("CAP_SYS_MODULE", &["delete_module", "init_module", "finit_module"]),
    ("CAP_SYS_PACCT", &["acct"]),
    // Looking into other processes.
    (
        "CAP_SYS_PTRACE",
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    ("CAP_SYS_TIME", &["settimeofday", "stime", "clock_settime", "clock_settime64"]),
    ("CAP_SYS_TTY_CONFIG", &["vhangup"]),
    // NUMA memory policy.
    ("CAP_SYS_NICE", &["get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"]),
    ("CAP_SYSLOG", &["syslog"]),
    ("CAP_BPF", &["bpf"]),
    ("CAP_PERFMON", &["perf_event_open"]),
];

/// Syscalls only some architectures have, with those architectures (Go's names).
const BY_ARCHITECTURE: &[(&[&str], &[&str])] = &[
    (&["ppc64le"], &["sync_file_range2", "swapcontext"]),
    (
        &["arm", "arm64"],
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
    ),
    (&["amd64", "x32"], &["arch_prctl"]),
    (&["amd64", "x32", "x86"], &["modify_ldt"]),
    (&["s390", "s390x"], &["s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"]),
    (&["riscv64"], &["riscv_flush_icache"]),
];

/// Architecture families: a filter on the first also covers the others, whose code a process
/// on it can run.
const FAMILIES: &[(&str, &[&str])] = &[
    ("SCMP_ARCH_X86_64", &["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
    ("SCMP_ARCH_AARCH64", &["SCMP_ARCH_ARM"]),
    ("SCMP_ARCH_MIPS64", &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
    ("SCMP_ARCH_MIPS64N32", &["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
    ("SCMP_ARCH_MIPSEL64", &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
    ("SCMP_ARCH_MIPSEL64N32", &["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
    ("SCMP_ARCH_S390X", &["SCMP_ARCH_S390"]),
    ("SCMP_ARCH_RISCV64", &[]),
];

const ALLOW: &str = "SCMP_ACT_ALLOW";

fn owned(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

fn allow(names: &[&str]) -> Rule {
    Rule { names: owned(names), action: ALLOW.to_owned(), ..Rule::default() }
}

fn only(caps: &[&str], arches: &[&str], min_kernel: Option<(u64, u64)>) -> Option<Conditions> {
    Some(Conditions {
        caps: owned(caps),
        arches: owned(arches),
        min_kernel: min_kernel.map(|(major, minor)| KernelVersion { major, minor }),
    })
}

fn arg(index: u64, op: &str, value: u64, value_two: u64) -> ArgCheck {
    ArgCheck { index, value, value_two, op: op.to_owned() }
}

/// dockerd's default profile as a [`Profile`], to be resolved for each container like any
/// other.
pub(crate) fn profile() -> Profile {
    let mut rules: Vec<Rule> =
        [FILES, DESCRIPTORS, MEMORY, PROCESSES, SCHEDULING, SIGNALS, TIME, SOCKETS, IPC]
            .into_iter()
            .map(allow)
            .collect();

    // Before 4.8, ptrace could be used to get around the filter.
    rules.push(Rule {
        includes: only(&[], &[], Some((4, 8))),
        ..allow(&["process_vm_readv", "process_vm_writev", "ptrace"])
    });
    // Any socket but vsock, which talks to the hypervisor.
    rules.push(Rule {
        args: vec![arg(0, "SCMP_CMP_NE", libc::AF_VSOCK as u64, 0)],
        ..allow(&["socket"])
    });
    for persona in PERSONALITIES {
        rules.push(Rule {
            args: vec![arg(0, "SCMP_CMP_EQ", persona, 0)],
            ..allow(&["personality"])
        });
    }
    for (arches, names) in BY_ARCHITECTURE {
        rules.push(Rule { includes: only(&[], arches, None), ..allow(names) });
    }

    let (first, rest) = BY_CAPABILITY.split_at(2);
    for (cap, names) in first {
        rules.push(Rule { includes: only(&[cap], &[], None), ..allow(names) });
    }
    // Without CAP_SYS_ADMIN: `clone` only without namespace flags (its flags are the first
    // argument, except on s390 where they are the second), and `clone3`, whose flags sit in
    // memory a filter cannot read, fails with ENOSYS so that C libraries fall back to `clone`.
    rules.push(Rule {
        args: vec![arg(0, "SCMP_CMP_MASKED_EQ", NAMESPACE_FLAGS, 0)],
        excludes: only(&["CAP_SYS_ADMIN"], &["s390", "s390x"], None),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        args: vec![arg(1, "SCMP_CMP_MASKED_EQ", NAMESPACE_FLAGS, 0)],
        includes: only(&[], &["s390", "s390x"], None),
        excludes: only(&["CAP_SYS_ADMIN"], &[], None),
        ..allow(&["clone"])
    });
    rules.push(Rule {
        names: owned(&["clone3"]),
        action: "SCMP_ACT_ERRNO".to_owned(),
        errno_ret: Some(libc::ENOSYS as u64),
        excludes: only(&["CAP_SYS_ADMIN"], &[], None),
        ..Rule::default()
    });
    for (cap, names) in rest {
        rules.push(Rule { includes: only(&[cap], &[], None), ..allow(names) });
    }

    Profile {
        default_action: "SCMP_ACT_ERRNO".to_owned(),
        default_errno_ret: Some(libc::EPERM as u64),
        arch_map: FAMILIES
            .iter()
            .map(|(head, members)| ArchFamily { head: (*head).to_owned(), members: owned(members) })
            .collect(),
        rules,
        ..Profile::default()
    }
}
