//! Resolving `--user` (`name`, `uid`, `name:group`, `uid:gid`) against the image's
//! `/etc/passwd` and `/etc/group`, by the rules dockerd uses (moby/sys/user `GetExecUser`).
//!
//! The resolution is a pure function over the two files' contents; [`load`] reads them from a
//! mounted root filesystem without following symlinks out of it.

use std::path::Path;

use berth_api::{Error, ErrorKind};

use super::spec::ProcessUser;

/// A resolved user: what the process runs as, and its home directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ExecUser {
    /// uid, gid and supplementary groups (the primary group first, as dockerd lists them).
    pub(crate) user: ProcessUser,
    /// The home directory from passwd (`/` when the user has no entry).
    pub(crate) home: String,
}

/// The contents of a root filesystem's `/etc/passwd` and `/etc/group` (empty when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct UserFiles {
    /// `/etc/passwd`.
    pub(crate) passwd: String,
    /// `/etc/group`.
    pub(crate) group: String,
}

struct Passwd<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
}

struct Group<'a> {
    name: &'a str,
    gid: u32,
    members: Vec<&'a str>,
}

fn passwd_entries(text: &str) -> impl Iterator<Item = Passwd<'_>> {
    records(text).filter_map(|f| {
        Some(Passwd {
            name: f.first()?,
            uid: f.get(2)?.parse().ok()?,
            gid: f.get(3)?.parse().ok()?,
            home: f.get(5).copied().unwrap_or(""),
        })
    })
}

fn group_entries(text: &str) -> impl Iterator<Item = Group<'_>> {
    records(text).filter_map(|f| {
        Some(Group {
            name: f.first()?,
            gid: f.get(2)?.parse().ok()?,
            members: f
                .get(3)
                .map(|m| m.split(',').filter(|s| !s.is_empty()).collect())
                .unwrap_or_default(),
        })
    })
}

fn records(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.split(':').collect())
}

fn numeric(s: &str, what: &str) -> Result<Option<u32>, Error> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    s.parse::<u32>()
        .ok()
        .filter(|n| i32::try_from(*n).is_ok())
        .map(Some)
        .ok_or_else(|| Error::invalid(format!("{what} {s} is out of range")))
}

/// Resolves `spec` (empty means root) plus `group_add` (`--group-add`: names or gids).
pub(crate) fn resolve(
    spec: &str,
    group_add: &[String],
    files: &UserFiles,
) -> Result<ExecUser, Error> {
    let (user_arg, group_arg) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, ""),
    };
    let mut uid = 0;
    let mut gid = 0;
    let mut home = "/".to_owned();
    let mut matched_name: Option<String> = None;

    if !user_arg.is_empty() {
        let user_num = numeric(user_arg, "uid")?;
        let entry =
            passwd_entries(&files.passwd).find(|p| p.name == user_arg || user_num == Some(p.uid));
        match (entry, user_num) {
            (Some(p), _) => {
                uid = p.uid;
                gid = p.gid;
                home = p.home.to_owned();
                matched_name = Some(p.name.to_owned());
            }
            (None, Some(n)) => uid = n,
            (None, None) => {
                return Err(Error::invalid(format!(
                    "unable to find user {user_arg}: no matching entries in passwd file"
                )));
            }
        }
    } else if let Some(root) = passwd_entries(&files.passwd).find(|p| p.uid == 0) {
        // No user given: root, with root's entry if the image has one.
        gid = root.gid;
        home = root.home.to_owned();
        matched_name = Some(root.name.to_owned());
    }

    let mut supplementary = Vec::new();
    if !group_arg.is_empty() {
        let group_num = numeric(group_arg, "gid")?;
        let entry =
            group_entries(&files.group).find(|g| g.name == group_arg || group_num == Some(g.gid));
        gid = match (entry, group_num) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(Error::invalid(format!(
                    "unable to find group {group_arg}: no matching entries in group file"
                )));
            }
        };
    } else if let Some(name) = &matched_name {
        // Supplementary groups only come with the implicit form (no explicit group).
        supplementary = group_entries(&files.group)
            .filter(|g| g.members.contains(&name.as_str()))
            .map(|g| g.gid)
            .collect();
    }

    for group in group_add {
        let num = numeric(group, "gid")?;
        let found = group_entries(&files.group).find(|g| g.name == *group || num == Some(g.gid));
        let added = match (found, num) {
            (Some(g), _) => g.gid,
            (None, Some(n)) => n,
            (None, None) => {
                return Err(Error::invalid(format!(
                    "Unable to find group {group}: no matching entries in group file"
                )));
            }
        };
        supplementary.push(added);
    }

    let mut additional_gids = vec![gid];
    for g in supplementary {
        if !additional_gids.contains(&g) {
            additional_gids.push(g);
        }
    }
    Ok(ExecUser { user: ProcessUser { uid, gid, additional_gids }, home })
}

/// The largest `/etc/passwd` or `/etc/group` read (a container could plant anything there).
const MAX_USER_FILE: u64 = 16 << 20;

/// Reads `/etc/passwd` and `/etc/group` from the root filesystem at `rootfs` (a mounted
/// snapshot or a running container's root). A missing file reads as empty; symlinks resolve
/// inside `rootfs`, through descriptors, so a container swapping in a link cannot make berthd
/// read a host file, and a FIFO or device planted there is an error, not a hang.
pub(crate) fn load(rootfs: &Path) -> Result<UserFiles, Error> {
    let read = |name: &str| -> Result<String, Error> {
        match crate::fs::read_file_in_root(rootfs, name, MAX_USER_FILE) {
            Ok(Some(bytes)) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
            Ok(None) => Ok(String::new()),
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => Err(Error::new(
                ErrorKind::InvalidParameter,
                format!("cannot read {name} of the container: {e}"),
            )),
            Err(e) => {
                Err(Error::system(format!("cannot read {name} of the container")).with_source(e))
            }
        }
    };
    Ok(UserFiles { passwd: read("/etc/passwd")?, group: read("/etc/group")? })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1::/usr/sbin:/bin/false\n\
                          # comment\n\
                          nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,daemon\naudio:x:29:daemon\nnogroup:x:65534:\n";

    fn files() -> UserFiles {
        UserFiles { passwd: PASSWD.into(), group: GROUP.into() }
    }

    fn ok(spec: &str) -> ExecUser {
        resolve(spec, &[], &files()).expect(spec)
    }

    #[test]
    fn names_and_ids_resolve_like_dockerd() {
        let root = ok("");
        assert_eq!(root.user, ProcessUser { uid: 0, gid: 0, additional_gids: vec![0, 10] });
        assert_eq!(root.home, "/root");

        let nobody = ok("nobody");
        assert_eq!(
            nobody.user,
            ProcessUser { uid: 65534, gid: 65534, additional_gids: vec![65534] }
        );
        assert_eq!(nobody.home, "/nonexistent");
        assert_eq!(ok("65534"), nobody, "a uid with an entry takes the entry");

        let daemon = ok("daemon");
        assert_eq!(daemon.user.additional_gids, [1, 10, 29], "member groups are supplementary");
        let explicit = ok("daemon:audio");
        assert_eq!(explicit.user.gid, 29);
        assert_eq!(explicit.user.additional_gids, [29], "explicit group: no member groups");

        let unknown = ok("1234:5678");
        assert_eq!(unknown.user, ProcessUser { uid: 1234, gid: 5678, additional_gids: vec![5678] });
        assert_eq!(unknown.home, "/");
        assert_eq!(ok("nobody:0").user.gid, 0);
    }

    #[test]
    fn errors_name_the_missing_entry() {
        let err = resolve("nosuch", &[], &files()).expect_err("missing user");
        assert_eq!(err.message(), "unable to find user nosuch: no matching entries in passwd file");
        let err = resolve("nobody:nosuch", &[], &files()).expect_err("missing group");
        assert_eq!(err.message(), "unable to find group nosuch: no matching entries in group file");
        let err = resolve("root", &["nosuch".into()], &files()).expect_err("missing group-add");
        assert!(err.message().contains("Unable to find group nosuch"), "{err}");
        assert!(resolve("99999999999", &[], &files()).is_err(), "uid out of range");
        // An image without passwd still runs numeric users.
        assert_eq!(resolve("7", &[], &UserFiles::default()).expect("numeric").user.uid, 7);
        assert!(resolve("app", &[], &UserFiles::default()).is_err());
    }

    #[test]
    fn group_add_appends_without_duplicates() {
        let u = resolve("nobody", &["audio".into(), "65534".into(), "4242".into()], &files())
            .expect("resolve");
        assert_eq!(u.user.additional_gids, [65534, 29, 4242]);
    }

    #[test]
    fn load_reads_inside_the_rootfs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        std::fs::create_dir_all(root.join("data")).expect("mkdir");
        std::fs::write(root.join("data/passwd"), PASSWD).expect("write");
        // An absolute link resolves inside the rootfs, not on the host.
        std::os::unix::fs::symlink("/data/passwd", root.join("etc/passwd")).expect("link");
        std::os::unix::fs::symlink("../../../../../etc/shadow", root.join("etc/group"))
            .expect("link");
        let files = load(root).expect("load");
        assert_eq!(files.passwd, PASSWD);
        assert_eq!(files.group, "", "a link out of the rootfs stays inside it (and is absent)");
    }

    #[test]
    fn load_refuses_a_fifo_or_device_instead_of_hanging() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("etc")).expect("mkdir");
        nix::unistd::mkfifo(
            &root.join("etc/passwd"),
            nix::sys::stat::Mode::from_bits_truncate(0o644),
        )
        .expect("mkfifo");
        let err = load(root).expect_err("a FIFO is not a passwd file");
        assert_eq!(err.kind(), ErrorKind::InvalidParameter, "{}", err.message());
        assert!(err.message().contains("not a regular file"), "{}", err.message());

        std::fs::remove_file(root.join("etc/passwd")).expect("rm");
        std::os::unix::fs::symlink("/dev/zero", root.join("etc/passwd")).expect("link");
        // The link resolves inside the rootfs, where there is no /dev/zero: an empty file.
        assert_eq!(load(root).expect("load").passwd, "");
    }
}
