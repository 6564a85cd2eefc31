//! dockerd's `local` volume driver rules: volume names, the driver options (`type`, `device`,
//! `o`, `size`), and mounting a volume that has them on its `_data` directory.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::{Error, ErrorKind, Result};

/// Options the local driver knows.
const OPTIONS: [&str; 4] = ["type", "o", "device", "size"];

/// Options that need others (dockerd's `mandatoryOpts`), checked in this order.
const REQUIRED: [(&str, &[&str]); 3] =
    [("type", &["device"]), ("device", &["type"]), ("o", &["device", "type"])];

/// dockerd's local volume name rule, `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, with its messages.
pub(super) fn validate_name(name: &str) -> Result<()> {
    if name.len() == 1 {
        return Err(Error::invalid(
            "volume name is too short, names should be at least two alphanumeric characters",
        ));
    }
    let allowed = |(i, b): (usize, u8)| {
        b.is_ascii_alphanumeric() || (i > 0 && matches!(b, b'_' | b'.' | b'-'))
    };
    if name.len() < 2 || !name.bytes().enumerate().all(allowed) {
        return Err(Error::invalid(format!(
            "{name:?} includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        )));
    }
    Ok(())
}

/// Checks driver options as dockerd's local driver does. Berth has no quota support, so a
/// non-zero `size` is refused with dockerd's message for a data-root without quotas.
pub(super) fn validate_options(options: &BTreeMap<String, String>) -> Result<()> {
    if let Some(key) = options.keys().find(|k| !OPTIONS.contains(&k.as_str())) {
        return Err(Error::invalid(format!("invalid option: {key:?}")));
    }
    if let Some(size) = options.get("size") {
        let digits = size.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        match digits.trim().parse::<f64>() {
            Ok(n) if n > 0.0 => {
                return Err(Error::invalid("quota size requested but no quota support"));
            }
            Ok(n) if n >= 0.0 => {}
            _ => return Err(Error::invalid(format!("invalid size: '{size}'"))),
        }
    }
    for (option, needs) in REQUIRED {
        if !options.contains_key(option) {
            continue;
        }
        if let Some(missing) = needs.iter().find(|n| !options.contains_key(**n)) {
            return Err(Error::invalid(format!("missing required option: {missing:?}")));
        }
    }
    Ok(())
}

/// Whether a volume with `options` is mounted on its `_data` while containers use it.
pub(super) fn needs_mount(options: &BTreeMap<String, String>) -> bool {
    ["type", "device"].iter().any(|k| options.get(*k).is_some_and(|v| !v.is_empty()))
}

/// Mounts `device` of `type` with the `o` options on `data` (mount(2) does the rest: tmpfs,
/// binds with `o=bind`, nfs with `addr=`). The error names the mount as dockerd's does, with any
/// `password=` hidden.
pub(super) fn mount(options: &BTreeMap<String, String>, data: &Path) -> Result<()> {
    let device = options.get("device").map(String::as_str).unwrap_or_default();
    if device.is_empty() {
        return Err(Error::system("missing device in volume options"));
    }
    let kind = options.get("type").map(String::as_str).unwrap_or_default();
    let opts = options.get("o").map(String::as_str).unwrap_or_default();
    crate::fs::mount_fstab(device, kind, opts, data).map_err(|err| {
        let described = format!(
            "error while mounting volume '{}': failed to mount local volume: mount {device}:{}, data: {}: {err}",
            data.display(),
            data.display(),
            hide_password(opts)
        );
        Error::new(ErrorKind::System, described)
    })
}

/// Lazily unmounts `data` (open files do not keep it busy).
pub(super) fn unmount(data: &Path) -> Result<()> {
    match nix::mount::umount2(data, nix::mount::MntFlags::MNT_DETACH) {
        Ok(()) => Ok(()),
        // Not mounted (any more): what we wanted.
        Err(nix::errno::Errno::EINVAL) if !is_mounted(data) => Ok(()),
        Err(err) => Err(Error::system(format!(
            "error while unmounting volume path '{}': {err}",
            data.display()
        ))),
    }
}

/// Whether something is mounted exactly on `path` (per `/proc/self/mountinfo`).
pub(crate) fn is_mounted(path: &Path) -> bool {
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return false };
    let wanted = path.canonicalize().unwrap_or_else(|_| path.to_owned());
    info.lines()
        .filter_map(|line| line.split(' ').nth(4))
        .any(|point| Path::new(&crate::metrics::unescape_mountinfo(point)) == wanted)
}

fn hide_password(opts: &str) -> String {
    opts.split(',')
        .map(|o| if o.starts_with("password=") { "password=********" } else { o })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn names_follow_the_local_driver() {
        for good in ["ab", "data", "a.b_c-1", "0x"] {
            assert!(validate_name(good).is_ok(), "{good}");
        }
        assert_eq!(
            validate_name("a").expect_err("short").message(),
            "volume name is too short, names should be at least two alphanumeric characters"
        );
        for bad in ["-ab", "a b", "a/b", "_x", ".x", "é"] {
            let e = validate_name(bad).expect_err(bad);
            assert!(
                e.message().starts_with(&format!("{bad:?} includes invalid characters")),
                "{e}"
            );
            assert!(e.message().ends_with("use absolute path"), "{e}");
        }
    }

    #[test]
    fn options_follow_the_local_driver() {
        let err = |pairs: &[(&str, &str)]| {
            validate_options(&opts(pairs)).expect_err("invalid").message().to_owned()
        };
        assert!(validate_options(&opts(&[])).is_ok());
        assert!(
            validate_options(&opts(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")]))
                .is_ok()
        );
        assert_eq!(err(&[("colour", "red")]), r#"invalid option: "colour""#);
        assert_eq!(err(&[("type", "tmpfs")]), r#"missing required option: "device""#);
        assert_eq!(err(&[("o", "bind"), ("device", "/x")]), r#"missing required option: "type""#);
        assert_eq!(err(&[("size", "10m")]), "quota size requested but no quota support");
        assert_eq!(err(&[("size", "lots")]), "invalid size: 'lots'");
        assert!(validate_options(&opts(&[("size", "0")])).is_ok());
        assert!(needs_mount(&opts(&[("type", "tmpfs"), ("device", "tmpfs")])));
        assert!(!needs_mount(&opts(&[("size", "0")])));
    }

    #[test]
    fn mount_points_and_passwords() {
        assert_eq!(
            hide_password("addr=1.2.3.4,password=s3cret,vers=3"),
            "addr=1.2.3.4,password=********,vers=3"
        );
        assert!(is_mounted(Path::new("/proc")));
        assert!(!is_mounted(Path::new("/proc/self")));
    }
}
