//! The filter a container gets: the built-in profile's conditions, custom profiles, and the
//! errors a bad profile gets.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::*;
use crate::runtime::spec::DEFAULT_CAPS;

fn caps(extra: &[&str]) -> Vec<String> {
    DEFAULT_CAPS.iter().chain(extra).map(|c| (*c).to_owned()).collect()
}

fn target<'a>(arch: &'a str, scmp: Option<&'a str>, bounding: &'a [String]) -> Target<'a> {
    Target {
        arch,
        scmp_arch: scmp,
        kernel: Ok(KernelVersion { major: 6, minor: 8 }),
        filters: true,
        bounding,
    }
}

fn amd64(bounding: &[String]) -> Target<'_> {
    target("amd64", Some("SCMP_ARCH_X86_64"), bounding)
}

fn builtin(t: &Target<'_>) -> Value {
    Seccomp::Unset.section(false, t).expect("resolves").expect("a filter")
}

fn rules(section: &Value) -> &Vec<Value> {
    section["syscalls"].as_array().expect("syscalls")
}

/// Syscalls a rule without argument checks allows.
fn allowed(section: &Value) -> BTreeSet<String> {
    rules(section)
        .iter()
        .filter(|r| r["action"] == "SCMP_ACT_ALLOW" && r.get("args").is_none())
        .flat_map(|r| r["names"].as_array().expect("names").iter())
        .map(|n| n.as_str().expect("name").to_owned())
        .collect()
}

/// The rules naming `name`.
fn rules_for<'a>(section: &'a Value, name: &str) -> Vec<&'a Value> {
    rules(section)
        .iter()
        .filter(|r| r["names"].as_array().expect("names").iter().any(|n| n == name))
        .collect()
}

fn custom(text: &str) -> Seccomp {
    Seccomp::parse(Some(text)).expect("a valid profile")
}

fn refusal(text: &str) -> String {
    let err = Seccomp::parse(Some(text)).expect_err("refused");
    assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{err}");
    err.message().to_owned()
}

#[test]
fn a_default_container_gets_dockerds_filter() {
    let bounding = caps(&[]);
    let s = builtin(&amd64(&bounding));
    assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO");
    assert_eq!(s["defaultErrnoRet"], 1, "EPERM");
    assert_eq!(s["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]));
    let allowed = allowed(&s);
    for name in ["read", "write", "mkdir", "openat", "execve", "futex", "arch_prctl", "modify_ldt"]
    {
        assert!(allowed.contains(name), "{name} allowed");
    }
    // CAP_SYS_CHROOT is one of the default capabilities, so its syscall comes along.
    assert!(allowed.contains("chroot"));
    // Guarded by capabilities a default container lacks.
    for name in ["mount", "umount2", "unshare", "setns", "bpf", "kcmp", "pidfd_getfd", "reboot"] {
        assert!(!allowed.contains(name), "{name} not allowed");
        assert!(rules_for(&s, name).is_empty(), "no rule names {name}");
    }
    // Other architectures' syscalls stay out.
    for name in ["set_tls", "s390_runtime_instr", "riscv_flush_icache", "swapcontext"] {
        assert!(rules_for(&s, name).is_empty(), "{name}");
    }
    // Not listed at all, whatever the capabilities: the default action answers.
    assert!(rules_for(&s, "keyctl").is_empty() && rules_for(&s, "add_key").is_empty());

    // clone without namespace flags; clone3 answers ENOSYS so C libraries fall back to clone.
    let clone = rules_for(&s, "clone");
    assert_eq!(clone.len(), 1, "{clone:?}");
    assert_eq!(
        clone[0]["args"],
        json!([{ "index": 0, "value": 2_114_060_288u64, "op": "SCMP_CMP_MASKED_EQ" }])
    );
    assert_eq!(
        rules_for(&s, "clone3"),
        [&json!({ "names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38 })]
    );
    // Sockets of any family but vsock (40); five personalities.
    assert_eq!(
        rules_for(&s, "socket")[0]["args"],
        json!([{ "index": 0, "value": 40, "op": "SCMP_CMP_NE" }])
    );
    let personas: Vec<&Value> =
        rules_for(&s, "personality").iter().map(|r| &r["args"][0]["value"]).collect();
    assert_eq!(
        personas,
        [&json!(0), &json!(8), &json!(0x20000), &json!(0x20008), &json!(0xffff_ffffu64)]
    );
}

#[test]
fn ptrace_needs_a_recent_kernel_or_the_capability() {
    let bounding = caps(&[]);
    // From 4.8 on ptrace can no longer get around the filter, so dockerd allows it.
    let recent = allowed(&builtin(&amd64(&bounding)));
    assert!(recent.contains("ptrace") && recent.contains("process_vm_readv"));
    assert!(!recent.contains("kcmp") && !recent.contains("process_madvise"));
    let old = Target { kernel: Ok(KernelVersion { major: 4, minor: 4 }), ..amd64(&bounding) };
    let old = allowed(&builtin(&old));
    assert!(!old.contains("ptrace") && !old.contains("process_vm_writev"));

    let with_ptrace = caps(&["CAP_SYS_PTRACE"]);
    let old = Target { kernel: Ok(KernelVersion { major: 4, minor: 4 }), ..amd64(&with_ptrace) };
    let old = allowed(&builtin(&old));
    for name in ["ptrace", "kcmp", "pidfd_getfd", "process_madvise", "process_vm_readv"] {
        assert!(old.contains(name), "{name} with CAP_SYS_PTRACE");
    }
}

#[test]
fn cap_add_sys_admin_brings_the_admin_syscalls() {
    let bounding = caps(&["CAP_SYS_ADMIN"]);
    let s = builtin(&amd64(&bounding));
    let granted = allowed(&s);
    for name in ["mount", "umount2", "unshare", "setns", "clone", "clone3", "bpf", "fsopen"] {
        assert!(granted.contains(name), "{name}");
    }
    // The restricted clone and the clone3 refusal are gone: nothing but the plain allow.
    assert!(rules_for(&s, "clone").iter().all(|r| r.get("args").is_none()));
    assert!(rules_for(&s, "clone3").iter().all(|r| r["action"] == "SCMP_ACT_ALLOW"));

    // One capability, one group: dropping CAP_SYS_CHROOT drops chroot.
    let no_chroot: Vec<String> = caps(&[]).into_iter().filter(|c| c != "CAP_SYS_CHROOT").collect();
    assert!(!allowed(&builtin(&amd64(&no_chroot))).contains("chroot"));
    let time = caps(&["CAP_SYS_TIME", "CAP_SYS_NICE", "CAP_BPF"]);
    let granted = allowed(&builtin(&amd64(&time)));
    for name in ["settimeofday", "clock_settime", "mbind", "set_mempolicy", "bpf"] {
        assert!(granted.contains(name), "{name}");
    }
}

#[test]
fn architectures_pick_their_family_and_syscalls() {
    let bounding = caps(&[]);
    let arm = builtin(&target("arm64", Some("SCMP_ARCH_AARCH64"), &bounding));
    assert_eq!(arm["architectures"], json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]));
    let names = allowed(&arm);
    assert!(names.contains("set_tls") && names.contains("cacheflush"));
    assert!(!names.contains("arch_prctl") && !names.contains("modify_ldt"));

    // On s390 the clone flags are the second argument.
    let s390 = builtin(&target("s390x", Some("SCMP_ARCH_S390X"), &bounding));
    assert_eq!(s390["architectures"], json!(["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]));
    let clone = rules_for(&s390, "clone");
    assert_eq!(clone.len(), 1);
    assert_eq!(clone[0]["args"][0]["index"], 1);

    // 32-bit x86 has no family in the map: no architecture list, modify_ldt but no arch_prctl.
    let x86 = builtin(&target("x86", Some("SCMP_ARCH_X86"), &bounding));
    assert!(x86.get("architectures").is_none());
    assert!(allowed(&x86).contains("modify_ldt") && !allowed(&x86).contains("arch_prctl"));

    let (arch, scmp) = host_arch();
    if std::env::consts::ARCH == "x86_64" {
        assert_eq!((arch, scmp), ("amd64", Some("SCMP_ARCH_X86_64")));
    }
}

#[test]
fn unconfined_and_privileged_containers_get_no_filter() {
    let bounding = caps(&[]);
    let t = amd64(&bounding);
    assert_eq!(Seccomp::parse(None).expect("none"), Seccomp::Unset);
    assert_eq!(Seccomp::parse(Some("builtin")).expect("builtin"), Seccomp::Builtin);
    assert_eq!(Seccomp::parse(Some("unconfined")).expect("unconfined"), Seccomp::Unconfined);
    assert!(Seccomp::Builtin.section(false, &t).expect("builtin").is_some());
    assert_eq!(Seccomp::Unconfined.section(false, &t), Ok(None));
    assert_eq!(Seccomp::Unconfined.section(true, &t), Ok(None));
    assert_eq!(Seccomp::Unset.section(true, &t), Ok(None));
    // dockerd reads `builtin` as a JSON profile for a privileged container, and fails.
    let err = Seccomp::Builtin.section(true, &t).expect_err("privileged builtin");
    assert!(err.starts_with("Decoding seccomp profile failed"), "{err}");
    // A custom profile applies to a privileged container too.
    let deny = custom(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let s = deny.section(true, &t).expect("custom").expect("a filter");
    assert_eq!(s["syscalls"], json!([{ "names": ["mkdir"], "action": "SCMP_ACT_ERRNO" }]));
}

#[test]
fn a_kernel_without_seccomp_runs_defaults_unfiltered_and_refuses_custom_profiles() {
    let bounding = caps(&[]);
    let t = Target { filters: false, ..amd64(&bounding) };
    assert_eq!(Seccomp::Unset.section(false, &t), Ok(None));
    assert_eq!(Seccomp::Builtin.section(false, &t), Ok(None));
    let deny = custom(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
    assert_eq!(
        deny.section(false, &t).expect_err("custom"),
        "seccomp is not enabled in your kernel, cannot run a custom seccomp profile"
    );
}

#[test]
fn custom_profiles_resolve_their_conditions() {
    let profile = custom(
        r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 13,
        "archMap": [
            {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]},
            {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}
        ],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "ignored"},
            {"name": "mkdir", "action": "SCMP_ACT_LOG"},
            {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["chroot"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_CHROOT"]}},
            {"names": ["amd"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
            {"names": ["notamd"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64", "x86"]}},
            {"names": ["new"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.9"}},
            {"names": ["old"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
            {"names": ["always"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "6.8"}},
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"},
                      {"index": 0, "value": 255, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ"}]}
        ]
    }"#,
    );
    let bounding = caps(&[]);
    let s = profile.section(false, &amd64(&bounding)).expect("resolves").expect("a filter");
    assert_eq!(s["defaultErrnoRet"], 13);
    assert_eq!(s["architectures"], json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]));
    assert_eq!(s["flags"], json!(["SECCOMP_FILTER_FLAG_LOG"]));
    let names: Vec<&Value> = rules(&s).iter().map(|r| &r["names"]).collect();
    assert_eq!(
        names,
        [
            &json!(["read", "write"]),
            &json!(["mkdir"]),
            &json!(["amd"]),
            &json!(["always"]),
            &json!(["kill"])
        ]
    );
    assert_eq!(rules(&s)[1]["action"], "SCMP_ACT_LOG");
    assert_eq!(
        rules(&s)[4],
        json!({
            "names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
            "args": [
                { "index": 1, "value": 9, "op": "SCMP_CMP_EQ" },
                { "index": 0, "value": 255, "valueTwo": 3, "op": "SCMP_CMP_MASKED_EQ" },
            ],
        })
    );

    // Another container, another host: the conditions flip.
    let admin: Vec<String> =
        caps(&["CAP_SYS_ADMIN"]).into_iter().filter(|c| c != "CAP_SYS_CHROOT").collect();
    let arm = Target {
        kernel: Ok(KernelVersion { major: 5, minor: 4 }),
        ..target("arm64", Some("SCMP_ARCH_AARCH64"), &admin)
    };
    let s = profile.section(false, &arm).expect("resolves").expect("a filter");
    let names: BTreeSet<&str> = rules(&s)
        .iter()
        .flat_map(|r| r["names"].as_array().expect("names"))
        .map(|n| n.as_str().expect("name"))
        .collect();
    assert_eq!(
        names,
        ["read", "write", "mkdir", "mount", "chroot", "notamd", "old", "kill"]
            .into_iter()
            .collect()
    );
    assert_eq!(s["architectures"], json!(["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]));
    // No family for this host: no architecture list at all.
    let other = target("riscv64", Some("SCMP_ARCH_RISCV64"), &bounding);
    let s = profile.section(false, &other).expect("resolves").expect("a filter");
    assert!(s.get("architectures").is_none());
}

#[test]
fn custom_profiles_decode_as_dockerd_does() {
    let bounding = caps(&[]);
    let t = amd64(&bounding);
    // Nothing asked for: no filter (Go decodes null into an empty profile).
    for empty in ["{}", "null", r#"{"syscalls": [], "defaultAction": ""}"#, r#"{"unknown": 1}"#] {
        assert_eq!(custom(empty).section(false, &t), Ok(None), "{empty}");
    }
    // Keys match whatever their case; null is as good as absent.
    let s = custom(r#"{"DefaultAction": "SCMP_ACT_ALLOW", "ARCHITECTURES": ["SCMP_ARCH_X86_64"], "flags": null,
                     "Syscalls": [{"NAMES": ["mkdir"], "Action": "SCMP_ACT_KILL_PROCESS", "errnoRet": null}]}"#)
    .section(false, &t)
    .expect("resolves")
    .expect("a filter");
    assert_eq!(
        s,
        json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64"],
            "syscalls": [{ "names": ["mkdir"], "action": "SCMP_ACT_KILL_PROCESS" }],
        })
    );
    // `minKernel: ""` is a condition every kernel meets.
    let s = custom(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": ""}},
        {"names": ["b"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": ""}}]}"#,
    )
    .section(false, &t)
    .expect("resolves")
    .expect("a filter");
    assert_eq!(s["syscalls"], json!([{ "names": ["b"], "action": "SCMP_ACT_ERRNO" }]));
}

#[test]
fn bad_profiles_are_refused_naming_the_problem() {
    let cases = [
        ("{", "Decoding seccomp profile failed: EOF while parsing an object at line 1 column 1"),
        (
            "/etc/profile.json",
            "Decoding seccomp profile failed: expected value at line 1 column 1 (this is the \
             profile's JSON, not a path: the docker CLI reads the file and sends its content)",
        ),
        ("[]", "Decoding seccomp profile failed: invalid type: sequence, expected struct Profile"),
        (
            r#"{"defaultAction": 1}"#,
            "Decoding seccomp profile failed: defaultAction: invalid type: integer `1`, expected a string",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": -1}"#,
            "Decoding seccomp profile failed: defaultErrnoRet: invalid value: integer `-1`, \
             expected u64",
        ),
        (
            r#"{"syscalls": [{"names": "mkdir", "action": "SCMP_ACT_ERRNO"}]}"#,
            "Decoding seccomp profile failed: syscalls[0].names: invalid type: string \"mkdir\", \
             expected a sequence",
        ),
        (
            r#"{"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 1.5}]}]}"#,
            "Decoding seccomp profile failed: syscalls[0].args[0].index: invalid type: floating \
             point `1.5`, expected u64",
        ),
        (
            r#"{"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": "4"}}]}"#,
            "Decoding seccomp profile failed: syscalls[0].includes.minKernel: invalid kernel \
             version: \"4\", expected \
             \"<kernel>.<major>\"",
        ),
        (
            r#"{"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "includes": {"minKernel": 4.8}}]}"#,
            "Decoding seccomp profile failed: syscalls[0].includes.minKernel: invalid kernel \
             version: 4.8, expected \
             \"<kernel>.<major>\"",
        ),
        (
            r#"{"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "0.0"}}]}"#,
            "Decoding seccomp profile failed: syscalls[0].excludes.minKernel: invalid kernel \
             version: \"0.0\", expected \
             \"<kernel>.<major>\": version cannot be 0.0",
        ),
        (
            r#"{"syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "excludes": {"minKernel": "4.256"}}]}"#,
            "Decoding seccomp profile failed: syscalls[0].excludes.minKernel: invalid kernel \
             version: \"4.256\", expected \
             \"<kernel>.<major>\": \"256\" is out of range (0 to 255)",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"name": "chmod", "names": ["fchmod"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "both 'name' and 'names' are specified in the seccomp profile, use either 'name' or \
             'names'",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X32"],
                "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": []}]}"#,
            "both 'architectures' and 'archMap' are specified in the seccomp profile, use either \
             'architectures' or 'archMap'",
        ),
        (
            r#"{"syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}"#,
            "invalid seccomp profile: defaultAction: unknown action \"\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "DENY"}]}"#,
            "invalid seccomp profile: syscalls[0].action: unknown action \"DENY\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "=="}]}]}"#,
            "invalid seccomp profile: syscalls[0].args[0].op: unknown operator \"==\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x86_64"]}"#,
            "invalid seccomp profile: architectures[0]: unknown architecture \"x86_64\"",
        ),
        (
            r#"{"defaultAction": "SCMP_ACT_ALLOW", "flags": ["SECCOMP_FILTER_FLAG_NOPE"]}"#,
            "invalid seccomp profile: flags[0]: unknown flag \"SECCOMP_FILTER_FLAG_NOPE\"",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(refusal(text), want, "{text}");
    }
}

#[test]
fn kernel_releases_read_as_dockerd_reads_them() {
    let v = |major, minor| Some(KernelVersion { major, minor });
    assert_eq!(KernelVersion::from_release("6.18.44-fc-v769\n"), v(6, 18));
    assert_eq!(KernelVersion::from_release("3.12-1-amd64"), v(3, 12));
    assert_eq!(KernelVersion::from_release("3.12"), v(3, 12));
    assert_eq!(KernelVersion::from_release("4"), None);
    assert_eq!(KernelVersion::from_release("linux"), None);
    assert!(host_kernel().is_ok(), "{:?}", host_kernel());

    // A condition on the kernel needs it; one the profile never asks for does not.
    let bounding = caps(&[]);
    let unknown = Target { kernel: Err("no kernel".to_owned()), ..amd64(&bounding) };
    assert_eq!(Seccomp::Unset.section(false, &unknown), Err("no kernel".to_owned()));
    let plain = custom(
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["a"], "action": "SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(plain.section(false, &unknown).is_ok());
}

#[test]
fn apply_reads_the_bounding_set_of_the_spec() {
    let mut spec = json!({
        "process": { "capabilities": { "bounding": ["CAP_SYS_ADMIN"] } },
        "linux": {},
    });
    apply(&mut spec, &Seccomp::Unset, false).expect("applies");
    let s = &spec["linux"]["seccomp"];
    assert!(allowed(s).contains("mount"), "CAP_SYS_ADMIN from the spec");
    assert!(!allowed(s).contains("chroot"), "only the spec's capabilities count");

    let mut spec = json!({ "process": {}, "linux": {} });
    apply(&mut spec, &Seccomp::Unconfined, false).expect("applies");
    assert!(spec["linux"].get("seccomp").is_none());
    let err = apply(&mut spec, &Seccomp::Builtin, true).expect_err("privileged builtin");
    assert_eq!(err.kind(), berth_api::ErrorKind::System, "a 500 at start, as dockerd");
}
