//! Docker's seccomp profile format, the one `--security-opt seccomp=<file>` uses (the docker CLI
//! reads the file and sends its JSON text) and the built-in default is written in, and its
//! resolution into the OCI `linux.seccomp` section of one container on this host.
//!
//! It is the OCI section plus conditions: a rule's `includes` keeps it only where all of its
//! conditions hold (every listed capability in the container's bounding set, this host's
//! architecture among the listed ones, the kernel at least `minKernel`); its `excludes` drops it
//! where any holds. `archMap` lists architecture families, of which only this host's goes into
//! the section.
//!
//! Decoding is Go's, through `berth_api::go_json` (unknown keys ignored, keys matched in any
//! case, `null` as absent), with the path of a bad value in the error. What dockerd leaves to runc at start
//! (action, operator, architecture and flag names) is checked here too, so a profile runc would
//! refuse is refused when the container is created.

use std::cmp::Ordering;

use serde::Deserialize;
use serde::de::{self, Deserializer};
use serde_json::{Value, json};

/// A profile in Docker's format, decoded as Go decodes it ([`berth_api::go_json`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Profile {
    /// What a syscall no rule names gets (`SCMP_ACT_ERRNO`, …); empty when the profile sets none.
    pub(super) default_action: String,
    /// The errno of an `SCMP_ACT_ERRNO` default (the kernel's EPERM when unset).
    pub(super) default_errno_ret: Option<u64>,
    /// Architectures the filter covers, given directly.
    pub(super) architectures: Vec<String>,
    /// Architecture families; the one whose head is this host's architecture is used.
    pub(super) arch_map: Vec<ArchFamily>,
    /// `seccomp(2)` filter flags.
    pub(super) flags: Vec<String>,
    /// Unix socket that receives the notify descriptor (`SCMP_ACT_NOTIFY`).
    pub(super) listener_path: String,
    /// Opaque data sent along to the listener.
    pub(super) listener_metadata: String,
    /// The rules, in order.
    #[serde(rename = "syscalls")]
    pub(super) rules: Vec<Rule>,
}

/// One architecture and the others a process on it can also run as (x86-64 runs x86 and x32
/// code, so its filter has to cover their syscall tables too).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct ArchFamily {
    /// `SCMP_ARCH_X86_64`, …
    #[serde(rename = "architecture")]
    pub(super) head: String,
    /// `SCMP_ARCH_X86`, `SCMP_ARCH_X32`, …
    #[serde(rename = "subArchitectures")]
    pub(super) members: Vec<String>,
}

/// A rule: syscalls, what they get, and when the rule applies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Rule {
    /// Syscall names (runc skips those its libseccomp does not know).
    pub(super) names: Vec<String>,
    /// The one-name form of old profiles; a rule uses either this or `names`.
    pub(super) name: String,
    /// `SCMP_ACT_ALLOW`, …
    pub(super) action: String,
    /// The errno of `SCMP_ACT_ERRNO` (or the `SCMP_ACT_TRACE` message).
    pub(super) errno_ret: Option<u64>,
    /// Argument checks, all of which must match.
    pub(super) args: Vec<ArgCheck>,
    /// Keep the rule only where all of these hold.
    pub(super) includes: Option<Conditions>,
    /// Drop the rule where any of these holds.
    pub(super) excludes: Option<Conditions>,
}

/// A comparison of one syscall argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ArgCheck {
    /// Which argument (0-based).
    pub(super) index: u64,
    /// The value compared with (the mask, for `SCMP_CMP_MASKED_EQ`).
    pub(super) value: u64,
    /// The second value (what the masked argument must equal).
    pub(super) value_two: u64,
    /// `SCMP_CMP_EQ`, …
    pub(super) op: String,
}

/// Conditions on the container and the host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct Conditions {
    /// Capabilities (`CAP_SYS_ADMIN`), matched exactly against the bounding set.
    pub(super) caps: Vec<String>,
    /// Architectures in Go's naming (`amd64`, `arm64`, `x86`, …), matched against the host's.
    pub(super) arches: Vec<String>,
    /// The lowest kernel the condition holds on.
    #[serde(deserialize_with = "min_kernel")]
    pub(super) min_kernel: Option<KernelVersion>,
}

/// A kernel version as far as profiles care: `6.8` of `6.8.12-amd64`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct KernelVersion {
    /// The `6` of `6.8`.
    pub(crate) major: u64,
    /// The `8` of `6.8`.
    pub(crate) minor: u64,
}

impl KernelVersion {
    /// The leading `<major>.<minor>` of a release string such as `6.8.12-amd64` or `3.12-1`.
    pub(crate) fn from_release(release: &str) -> Option<Self> {
        let digits = |s: &str| -> Option<(u64, usize)> {
            let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
            s[..end].parse().ok().map(|n| (n, end))
        };
        let release = release.trim_start();
        let (major, end) = digits(release)?;
        let rest = release[end..].strip_prefix('.')?;
        let (minor, _) = digits(rest)?;
        Some(Self { major, minor })
    }
}

/// The host and container facts conditions are evaluated against.
#[derive(Debug, Clone)]
pub(crate) struct Target<'a> {
    /// The host architecture in Go's naming (`amd64`); empty where it has none.
    pub(crate) arch: &'a str,
    /// The host architecture in libseccomp's naming (`SCMP_ARCH_X86_64`).
    pub(crate) scmp_arch: Option<&'a str>,
    /// The running kernel, or why it could not be read.
    pub(crate) kernel: Result<KernelVersion, String>,
    /// The kernel can filter syscalls.
    pub(crate) filters: bool,
    /// The container's bounding capability set.
    pub(crate) bounding: &'a [String],
}

/// The actions the OCI runtime spec defines.
const ACTIONS: [&str; 9] = [
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_TRAP",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_LOG",
    "SCMP_ACT_NOTIFY",
];

/// The argument comparisons the OCI runtime spec defines.
const OPERATORS: [&str; 7] = [
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_MASKED_EQ",
];

/// The architectures the OCI runtime spec names.
const ARCHITECTURES: [&str; 23] = [
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_MIPS",
    "SCMP_ARCH_MIPS64",
    "SCMP_ARCH_MIPS64N32",
    "SCMP_ARCH_MIPSEL",
    "SCMP_ARCH_MIPSEL64",
    "SCMP_ARCH_MIPSEL64N32",
    "SCMP_ARCH_PPC",
    "SCMP_ARCH_PPC64",
    "SCMP_ARCH_PPC64LE",
    "SCMP_ARCH_S390",
    "SCMP_ARCH_S390X",
    "SCMP_ARCH_PARISC",
    "SCMP_ARCH_PARISC64",
    "SCMP_ARCH_RISCV64",
    "SCMP_ARCH_LOONGARCH64",
    "SCMP_ARCH_M68K",
    "SCMP_ARCH_SH",
    "SCMP_ARCH_SHEB",
];

/// The filter flags the OCI runtime spec names.
const FLAGS: [&str; 4] = [
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
];

impl Profile {
    /// Decodes and checks a profile's JSON text. The error is the whole message a client sees.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            let hint = if text.trim_start().starts_with('/') || text.trim_end().ends_with(".json") {
                " (this is the profile's JSON, not a path: the docker CLI reads the file and \
                 sends its content)"
            } else {
                ""
            };
            format!("Decoding seccomp profile failed: {e}{hint}")
        })?;
        // Go decodes `null` into an untouched (empty) profile.
        let profile = if value.is_null() {
            Profile::default()
        } else {
            serde_path_to_error::deserialize(berth_api::go_json::GoValue(value))
                .map_err(|e| format!("Decoding seccomp profile failed: {e}"))?
        };
        profile.check()?;
        Ok(profile)
    }

    /// A profile with neither a default action nor rules asks for no filter at all.
    pub(super) fn is_empty(&self) -> bool {
        self.default_action.is_empty() && self.rules.is_empty()
    }

    /// The checks that do not depend on the container or the host: dockerd's two conflicts,
    /// then the names runc would refuse.
    fn check(&self) -> Result<(), String> {
        if self.is_empty() {
            return Ok(());
        }
        self.check_conflicts()?;
        let unknown = |what: &str, at: &str, name: &str| {
            format!("invalid seccomp profile: {at}: unknown {what} {name:?}")
        };
        if !ACTIONS.contains(&self.default_action.as_str()) {
            return Err(unknown("action", "defaultAction", &self.default_action));
        }
        for (i, arch) in self.architectures.iter().enumerate() {
            if !ARCHITECTURES.contains(&arch.as_str()) {
                return Err(unknown("architecture", &format!("architectures[{i}]"), arch));
            }
        }
        for (i, family) in self.arch_map.iter().enumerate() {
            for arch in std::iter::once(&family.head).chain(&family.members) {
                if !ARCHITECTURES.contains(&arch.as_str()) {
                    return Err(unknown("architecture", &format!("archMap[{i}]"), arch));
                }
            }
        }
        for (i, flag) in self.flags.iter().enumerate() {
            if !FLAGS.contains(&flag.as_str()) {
                return Err(unknown("flag", &format!("flags[{i}]"), flag));
            }
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if !ACTIONS.contains(&rule.action.as_str()) {
                return Err(unknown("action", &format!("syscalls[{i}].action"), &rule.action));
            }
            for (j, arg) in rule.args.iter().enumerate() {
                if !OPERATORS.contains(&arg.op.as_str()) {
                    let at = format!("syscalls[{i}].args[{j}].op");
                    return Err(unknown("operator", &at, &arg.op));
                }
            }
        }
        Ok(())
    }

    /// dockerd's refusals of a profile that says one thing two ways (its wording).
    fn check_conflicts(&self) -> Result<(), String> {
        if !self.architectures.is_empty() && !self.arch_map.is_empty() {
            return Err("both 'architectures' and 'archMap' are specified in the seccomp \
                        profile, use either 'architectures' or 'archMap'"
                .to_owned());
        }
        if self.rules.iter().any(|r| !r.name.is_empty() && !r.names.is_empty()) {
            return Err("both 'name' and 'names' are specified in the seccomp profile, use \
                        either 'name' or 'names'"
                .to_owned());
        }
        Ok(())
    }

    /// The OCI `linux.seccomp` section for `target`, `None` when the profile asks for no filter.
    pub(crate) fn resolve(&self, target: &Target<'_>) -> Result<Option<Value>, String> {
        if self.is_empty() {
            return Ok(None);
        }
        self.check_conflicts()?;
        let mut architectures = self.architectures.clone();
        if let Some(family) =
            target.scmp_arch.and_then(|own| self.arch_map.iter().find(|f| f.head == own))
        {
            architectures.push(family.head.clone());
            architectures.extend(family.members.iter().cloned());
        }
        let mut syscalls = Vec::new();
        for rule in &self.rules {
            if rule.applies(target)? {
                syscalls.push(rule.to_oci());
            }
        }
        let mut section = json!({ "defaultAction": self.default_action });
        if let Some(errno) = self.default_errno_ret {
            section["defaultErrnoRet"] = json!(errno);
        }
        if !architectures.is_empty() {
            section["architectures"] = json!(architectures);
        }
        if !self.flags.is_empty() {
            section["flags"] = json!(self.flags);
        }
        if !self.listener_path.is_empty() {
            section["listenerPath"] = json!(self.listener_path);
        }
        if !self.listener_metadata.is_empty() {
            section["listenerMetadata"] = json!(self.listener_metadata);
        }
        if !syscalls.is_empty() {
            section["syscalls"] = Value::Array(syscalls);
        }
        Ok(Some(section))
    }
}

impl Rule {
    /// Whether the rule is in the filter for `target`: no exclusion holds, every inclusion does.
    fn applies(&self, target: &Target<'_>) -> Result<bool, String> {
        let has_cap = |cap: &String| target.bounding.contains(cap);
        let on_arch = |arches: &[String]| arches.iter().any(|a| a == target.arch);
        if let Some(not) = &self.excludes {
            if on_arch(&not.arches) {
                return Ok(false);
            }
            if not.caps.iter().any(has_cap) {
                return Ok(false);
            }
            if let Some(min) = not.min_kernel
                && kernel_at_least(target, min)?
            {
                return Ok(false);
            }
        }
        if let Some(only) = &self.includes {
            if !only.arches.is_empty() && !on_arch(&only.arches) {
                return Ok(false);
            }
            if !only.caps.iter().all(has_cap) {
                return Ok(false);
            }
            if let Some(min) = only.min_kernel
                && !kernel_at_least(target, min)?
            {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// The rule as the OCI spec writes it (conditions gone, the one-name form turned into a list).
    fn to_oci(&self) -> Value {
        let names = if self.name.is_empty() { self.names.clone() } else { vec![self.name.clone()] };
        let mut rule = json!({ "names": names, "action": self.action });
        if let Some(errno) = self.errno_ret {
            rule["errnoRet"] = json!(errno);
        }
        if !self.args.is_empty() {
            let args: Vec<Value> = self
                .args
                .iter()
                .map(|a| {
                    let mut arg = json!({ "index": a.index, "value": a.value, "op": a.op });
                    if a.value_two != 0 {
                        arg["valueTwo"] = json!(a.value_two);
                    }
                    arg
                })
                .collect();
            rule["args"] = Value::Array(args);
        }
        rule
    }
}

fn kernel_at_least(target: &Target<'_>, min: KernelVersion) -> Result<bool, String> {
    match &target.kernel {
        Ok(running) => Ok(running.cmp(&min) != Ordering::Less),
        Err(why) => Err(why.clone()),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// `minKernel`: `"<major>.<minor>"`, each part below 256, not both zero (dockerd's wording).
/// An empty string is a condition every kernel meets, as in dockerd.
fn min_kernel<'de, D: Deserializer<'de>>(d: D) -> Result<Option<KernelVersion>, D::Error> {
    parse_min_kernel(&Value::deserialize(d)?).map(Some).map_err(de::Error::custom)
}

fn parse_min_kernel(v: &Value) -> Result<KernelVersion, String> {
    let raw = v.to_string();
    let expected = format!("invalid kernel version: {raw}, expected \"<kernel>.<major>\"");
    let Value::String(s) = v else { return Err(expected) };
    if s.is_empty() {
        return Ok(KernelVersion::default());
    }
    let part = |p: &str| -> Result<u64, String> {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("{expected}: {p:?} is not a number"));
        }
        p.parse::<u8>()
            .map(u64::from)
            .map_err(|_| format!("{expected}: {p:?} is out of range (0 to 255)"))
    };
    let parts: Vec<&str> = s.splitn(3, '.').collect();
    let [major, minor] = parts.as_slice() else { return Err(expected) };
    let version = KernelVersion { major: part(major)?, minor: part(minor)? };
    if version == KernelVersion::default() {
        return Err(format!("{expected}: version cannot be 0.0"));
    }
    Ok(version)
}
