//! OCI platforms (`linux/arm64/v8`): the JSON type, containerd's specifier parser (the `platform`
//! parameter of `POST /images/create`) and dockerd's JSON decoder (the `platform` parameter of
//! the other image endpoints), with their error messages.

use serde::{Deserialize, Serialize};

use crate::Error;

/// An OCI platform (`ocispec.Platform`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Platform {
    /// CPU architecture, Go naming (`amd64`, `arm64`).
    #[serde(default)]
    pub architecture: String,
    /// Operating system (`linux`).
    #[serde(default)]
    pub os: String,
    /// OS version (Windows).
    #[serde(rename = "os.version", default, skip_serializing_if = "String::is_empty")]
    pub os_version: String,
    /// Required OS features (Windows).
    #[serde(rename = "os.features", default, skip_serializing_if = "Vec::is_empty")]
    pub os_features: Vec<String>,
    /// CPU variant (`v7`, `v8`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
}

impl Platform {
    /// The platform this daemon runs on, in Go's naming.
    pub fn host() -> Self {
        Self { architecture: host_arch().to_owned(), os: host_os().to_owned(), ..Self::default() }
    }

    /// containerd's `platforms.Parse`: `os[(osversion)][/arch[/variant]]`, or a lone OS or
    /// architecture, normalized (`x86_64` → `amd64`, `aarch64` → `arm64`, `armhf` → `arm/v7`).
    /// Errors are 400s with containerd's messages.
    pub fn parse_specifier(specifier: &str) -> Result<Self, Error> {
        const OS_RE: &str = r"^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$";
        const PART_RE: &str = r"^[A-Za-z0-9_.-]+$";
        let invalid = |why: String| Error::invalid(format!("{why}: invalid argument"));
        if specifier.contains('*') {
            return Err(invalid(format!("{specifier:?}: wildcards not yet supported")));
        }
        let parts: Vec<&str> = specifier.splitn(4, '/').collect();
        let mut p = Platform::default();
        for (i, part) in parts.iter().enumerate() {
            if i == 0 {
                let Some((os, version)) = split_os_version(part) else {
                    return Err(invalid(format!(
                        "{part:?} is an invalid OS component of {specifier:?}: OSAndVersion \
                         specifier component must match {OS_RE:?}"
                    )));
                };
                p.os = normalize_os(os);
                p.os_version = version.to_owned();
            } else if !is_specifier_component(part) {
                return Err(invalid(format!(
                    "{part:?} is an invalid component of {specifier:?}: platform specifier \
                     component must match {PART_RE:?}"
                )));
            }
        }
        match parts.as_slice() {
            [only] => {
                if is_known_os(&p.os) {
                    p.architecture = host_arch().to_owned();
                    return Ok(p);
                }
                let (arch, variant) = normalize_arch(only, "");
                p.architecture = arch;
                p.variant = if p.architecture == "arm" && variant == "v7" {
                    String::new()
                } else {
                    variant
                };
                if is_known_arch(&p.architecture) {
                    p.os = host_os().to_owned();
                    return Ok(p);
                }
                Err(invalid(format!("{specifier:?}: unknown operating system or architecture")))
            }
            [_, arch] => {
                let (arch, variant) = normalize_arch(arch, "");
                p.variant = if arch == "arm" && variant == "v7" { String::new() } else { variant };
                p.architecture = arch;
                Ok(p)
            }
            [_, arch, variant] => {
                let (arch, variant) = normalize_arch(arch, variant);
                p.variant =
                    if arch == "arm64" && variant.is_empty() { "v8".to_owned() } else { variant };
                p.architecture = arch;
                Ok(p)
            }
            _ => Err(invalid(format!("{specifier:?}: cannot parse platform specifier"))),
        }
    }

    /// dockerd's `DecodePlatform`: a JSON OCI platform, which must name both OS and architecture.
    pub fn decode_json(text: &str) -> Result<Self, Error> {
        let p: Platform = serde_json::from_str(text)
            .map_err(|err| Error::invalid(format!("failed to parse platform: {err}")))?;
        let has_optional =
            !p.variant.is_empty() || !p.os_version.is_empty() || !p.os_features.is_empty();
        if p.os.is_empty() && p.architecture.is_empty() && has_optional {
            return Err(Error::invalid(
                "optional platform fields provided, but OS and Architecture are missing",
            ));
        }
        if p.os.is_empty() || p.architecture.is_empty() {
            return Err(Error::invalid("both OS and Architecture must be provided"));
        }
        Ok(p)
    }
}

/// `^([A-Za-z0-9_-]+)(?:\(([A-Za-z0-9_.-]*)\))?$` → (os, version).
fn split_os_version(part: &str) -> Option<(&str, &str)> {
    let os_ok = |s: &str| {
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    match part.split_once('(') {
        None => os_ok(part).then_some((part, "")),
        Some((os, rest)) => {
            let version = rest.strip_suffix(')')?;
            let version_ok = version
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
            (os_ok(os) && version_ok).then_some((os, version))
        }
    }
}

fn is_specifier_component(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

fn normalize_os(os: &str) -> String {
    if os.is_empty() {
        return host_os().to_owned();
    }
    match os.to_ascii_lowercase().as_str() {
        "macos" => "darwin".to_owned(),
        other => other.to_owned(),
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let arch = arch.to_ascii_lowercase();
    let variant = variant.to_ascii_lowercase();
    match arch.as_str() {
        "i386" => ("386".into(), String::new()),
        "x86_64" | "x86-64" | "amd64" => {
            let v = if variant == "v1" { String::new() } else { variant };
            ("amd64".into(), v)
        }
        "aarch64" | "arm64" => {
            let v = match variant.as_str() {
                "8" | "v8" | "v8.0" => String::new(),
                "9" | "9.0" | "v9.0" => "v9".into(),
                _ => variant,
            };
            ("arm64".into(), v)
        }
        "armhf" => ("arm".into(), "v7".into()),
        "armel" => ("arm".into(), "v6".into()),
        "arm" => {
            let v = match variant.as_str() {
                "" | "7" => "v7".into(),
                "5" | "6" | "8" => format!("v{variant}"),
                _ => variant,
            };
            ("arm".into(), v)
        }
        _ => (arch, variant),
    }
}

fn is_known_os(os: &str) -> bool {
    matches!(
        os,
        "aix"
            | "android"
            | "darwin"
            | "dragonfly"
            | "freebsd"
            | "hurd"
            | "illumos"
            | "ios"
            | "js"
            | "linux"
            | "nacl"
            | "netbsd"
            | "openbsd"
            | "plan9"
            | "solaris"
            | "windows"
            | "zos"
    )
}

fn is_known_arch(arch: &str) -> bool {
    matches!(
        arch,
        "386"
            | "amd64"
            | "amd64p32"
            | "arm"
            | "armbe"
            | "arm64"
            | "arm64be"
            | "ppc64"
            | "ppc64le"
            | "loong64"
            | "mips"
            | "mipsle"
            | "mips64"
            | "mips64le"
            | "mips64p32"
            | "mips64p32le"
            | "ppc"
            | "riscv"
            | "riscv64"
            | "s390"
            | "s390x"
            | "sparc"
            | "sparc64"
            | "wasm"
    )
}

/// Go's `runtime.GOOS` for this build.
fn host_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "darwin",
        other => other,
    }
}

/// Go's `runtime.GOARCH` for this build.
fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "x86" => "386",
        "aarch64" => "arm64",
        "loongarch64" => "loong64",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(s: &str) -> String {
        match Platform::parse_specifier(s) {
            Ok(p) => serde_json::to_string(&p).expect("json"),
            Err(e) => format!("error: {}", e.message()),
        }
    }

    #[test]
    fn specifiers_normalize_like_containerd() {
        let host = host_arch();
        let cases = [
            ("linux/amd64", r#"{"architecture":"amd64","os":"linux"}"#.to_owned()),
            ("Linux/x86_64", r#"{"architecture":"amd64","os":"linux"}"#.to_owned()),
            ("linux/aarch64", r#"{"architecture":"arm64","os":"linux"}"#.to_owned()),
            ("linux/arm64/v8", r#"{"architecture":"arm64","os":"linux","variant":"v8"}"#.to_owned()),
            ("linux/armhf", r#"{"architecture":"arm","os":"linux"}"#.to_owned()),
            ("linux/arm/6", r#"{"architecture":"arm","os":"linux","variant":"v6"}"#.to_owned()),
            ("linux", format!(r#"{{"architecture":"{host}","os":"linux"}}"#)),
            ("arm64", r#"{"architecture":"arm64","os":"linux"}"#.to_owned()),
            (
                "windows(10.0.17763)/amd64",
                r#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763"}"#.to_owned(),
            ),
            ("linux/*", r#"error: "linux/*": wildcards not yet supported: invalid argument"#.to_owned()),
            (
                "bogus",
                r#"error: "bogus": unknown operating system or architecture: invalid argument"#.to_owned(),
            ),
            (
                "a/b/c/d",
                r#"error: "a/b/c/d": cannot parse platform specifier: invalid argument"#.to_owned(),
            ),
            (
                "linux/am d64",
                r#"error: "am d64" is an invalid component of "linux/am d64": platform specifier component must match "^[A-Za-z0-9_.-]+$": invalid argument"#.to_owned(),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(spec(input), want, "{input}");
        }
        assert!(spec("").starts_with(r#"error: "" is an invalid OS component of """#));
    }

    #[test]
    fn json_platforms_need_os_and_architecture() {
        let p = Platform::decode_json(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#)
            .expect("valid");
        assert_eq!((p.os.as_str(), p.variant.as_str()), ("linux", "v8"));
        let msg = |s: &str| Platform::decode_json(s).expect_err(s).message().to_owned();
        assert_eq!(msg(r#"{"os":"linux"}"#), "both OS and Architecture must be provided");
        assert_eq!(
            msg(r#"{"variant":"v7"}"#),
            "optional platform fields provided, but OS and Architecture are missing"
        );
        assert!(msg("linux/amd64").starts_with("failed to parse platform: "));
    }
}
