//! Seccomp: which syscall filter a container runs under, as dockerd 28 decides it, written into
//! the OCI spec's `linux.seccomp` for runc to load.
//!
//! - No `seccomp=` security option, or `seccomp=builtin`: the built-in profile ([`default`]),
//!   resolved against the container's bounding capabilities, the host's architecture and its
//!   kernel. A privileged container gets no filter.
//! - `seccomp=unconfined`: no filter.
//! - `seccomp=<JSON>` (the docker CLI sends a profile file's content): that profile
//!   ([`profile`]), also for a privileged container.
//!
//! dockerd's one oddity is kept: a privileged container with `seccomp=builtin` fails to start,
//! because dockerd reads the word as a JSON profile there.
//!
//! Facts from moby `daemon/seccomp_linux.go` and `github.com/moby/profiles/seccomp`.

mod default;
mod profile;

use std::sync::OnceLock;

use berth_api::Error;
use serde_json::Value;

pub(crate) use self::profile::{KernelVersion, Profile, Target};

/// What a container's `seccomp=` security option asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Seccomp {
    /// No `seccomp=` option: the daemon's profile, which is the built-in one.
    Unset,
    /// `seccomp=builtin`.
    Builtin,
    /// `seccomp=unconfined`.
    Unconfined,
    /// A profile in Docker's JSON format.
    Custom(Box<Profile>),
}

impl Seccomp {
    /// Reads the value of a `seccomp=` option (`None` when there is none); a custom profile is
    /// decoded and checked, so a bad one is a 400 naming the problem.
    pub(crate) fn parse(value: Option<&str>) -> Result<Self, Error> {
        Ok(match value {
            None => Self::Unset,
            Some("builtin") => Self::Builtin,
            Some("unconfined") => Self::Unconfined,
            Some(json) => Self::Custom(Box::new(Profile::parse(json).map_err(Error::invalid)?)),
        })
    }

    /// The `linux.seccomp` section for a container with the bounding set of `target`; `None`
    /// for no filter.
    pub(crate) fn section(
        &self,
        privileged: bool,
        target: &Target<'_>,
    ) -> Result<Option<Value>, String> {
        match self {
            Self::Unconfined => Ok(None),
            Self::Unset if privileged => Ok(None),
            Self::Builtin if privileged => {
                Err("Decoding seccomp profile failed: \"builtin\" is not a JSON profile (dockerd \
                 takes only a custom profile or unconfined for a privileged container)"
                    .to_owned())
            }
            Self::Custom(profile) if privileged => profile.resolve(target),
            Self::Custom(_) if !target.filters => {
                Err("seccomp is not enabled in your kernel, cannot run a custom seccomp profile"
                    .to_owned())
            }
            Self::Unset | Self::Builtin if !target.filters => {
                tracing::warn!(
                    "seccomp is not enabled in your kernel, running container without default profile"
                );
                Ok(None)
            }
            Self::Custom(profile) => profile.resolve(target),
            Self::Unset | Self::Builtin => default::profile().resolve(target),
        }
    }
}

/// Writes the `linux.seccomp` section of `spec`, whose process capabilities are final. A
/// failure is a server error, as in dockerd: the start request was fine, the stored container
/// is not.
pub(crate) fn apply(spec: &mut Value, seccomp: &Seccomp, privileged: bool) -> Result<(), Error> {
    let bounding: Vec<String> = spec["process"]["capabilities"]["bounding"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect();
    let (arch, scmp_arch) = host_arch();
    let target = Target {
        arch,
        scmp_arch,
        kernel: host_kernel().clone(),
        filters: kernel_filters(),
        bounding: &bounding,
    };
    if let Some(section) = seccomp.section(privileged, &target).map_err(Error::system)? {
        spec["linux"]["seccomp"] = section;
    }
    Ok(())
}

/// This host's architecture in Go's naming (what profiles' `arches` conditions use) and in
/// libseccomp's (what `archMap` and the filter use); as dockerd names its own build target.
fn host_arch() -> (&'static str, Option<&'static str>) {
    let little = cfg!(target_endian = "little");
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", Some("SCMP_ARCH_X86_64")),
        "x86" => ("x86", Some("SCMP_ARCH_X86")),
        "aarch64" => ("arm64", Some("SCMP_ARCH_AARCH64")),
        "arm" => ("arm", Some("SCMP_ARCH_ARM")),
        "powerpc64" if little => ("ppc64le", Some("SCMP_ARCH_PPC64LE")),
        "powerpc64" => ("ppc64", Some("SCMP_ARCH_PPC64")),
        "powerpc" => ("ppc", Some("SCMP_ARCH_PPC")),
        "s390x" => ("s390x", Some("SCMP_ARCH_S390X")),
        "riscv64" => ("riscv64", Some("SCMP_ARCH_RISCV64")),
        "mips64" if little => ("mipsel64", Some("SCMP_ARCH_MIPSEL64")),
        "mips64" => ("mips64", Some("SCMP_ARCH_MIPS64")),
        _ => ("", None),
    }
}

/// The running kernel's version, read once (it cannot change under a running berthd).
fn host_kernel() -> &'static Result<KernelVersion, String> {
    static KERNEL: OnceLock<Result<KernelVersion, String>> = OnceLock::new();
    KERNEL.get_or_init(|| {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_err(|e| format!("cannot read the kernel version: {e}"))?;
        KernelVersion::from_release(&release)
            .ok_or_else(|| format!("failed to parse kernel version {:?}", release.trim()))
    })
}

/// Whether the kernel has seccomp at all (built without it, `/proc/<pid>/status` has no
/// `Seccomp:` line), read once.
pub(crate) fn kernel_filters() -> bool {
    static FILTERS: OnceLock<bool> = OnceLock::new();
    *FILTERS.get_or_init(|| {
        std::fs::read_to_string("/proc/self/status")
            .map(|s| s.lines().any(|l| l.starts_with("Seccomp:")))
            // Unreadable (it never is on Linux): assume it has, and let runc say otherwise.
            .unwrap_or(true)
    })
}

#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod tests;
