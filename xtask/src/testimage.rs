//! The three images docker-py's suite uses (alpine:3.10, alpine:latest,
//! busybox:latest), built offline from Debian's static busybox and imported
//! into berthd the way `docker import --change …` does it: `POST
//! /images/create?fromSrc=-` with the root filesystem as a tar body.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use crate::cmd;

/// Debian's busybox-static installs this statically linked binary.
const BUSYBOX: &str = "/bin/busybox";
/// The API version the import request names, as a 20.10 docker CLI would.
const IMPORT_API_VERSION: &str = "v1.41";
/// Ceiling for one import request.
const IMPORT_TIMEOUT: Duration = Duration::from_secs(120);

/// Which root filesystem an image gets: the two differ in their users and
/// groups (docker-py execs `whoami` as alpine's `postgres`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Alpine,
    Busybox,
}

impl Flavour {
    fn name(self) -> &'static str {
        match self {
            Flavour::Alpine => "alpine",
            Flavour::Busybox => "busybox",
        }
    }

    fn passwd(self) -> &'static str {
        match self {
            Flavour::Alpine => include_str!("../testimage/alpine/passwd"),
            Flavour::Busybox => include_str!("../testimage/busybox/passwd"),
        }
    }

    /// Directories this flavour has beyond [`DIRECTORIES`]: alpine-baselayout's (docker-py
    /// execs in `/var/opt`, for one).
    fn extra_directories(self) -> &'static [(&'static str, u32)] {
        match self {
            Flavour::Alpine => &[
                ("opt", 0o755),
                ("mnt", 0o755),
                ("media", 0o755),
                ("srv", 0o755),
                ("var/opt", 0o755),
                ("var/lib", 0o755),
                ("var/cache", 0o755),
                ("var/spool", 0o755),
                ("var/local", 0o755),
            ],
            Flavour::Busybox => &[],
        }
    }

    fn group(self) -> &'static str {
        match self {
            Flavour::Alpine => include_str!("../testimage/alpine/group"),
            Flavour::Busybox => include_str!("../testimage/busybox/group"),
        }
    }
}

/// One image to import.
#[derive(Debug)]
struct TestImage {
    repo: &'static str,
    tag: &'static str,
    flavour: Flavour,
    /// Dockerfile instructions applied on import, as upstream's config has them.
    changes: &'static [&'static str],
}

const TEST_IMAGES: [TestImage; 3] = [
    TestImage {
        repo: "alpine",
        tag: "3.10",
        flavour: Flavour::Alpine,
        changes: &[ALPINE_CMD, IMAGE_ENV],
    },
    TestImage {
        repo: "alpine",
        tag: "latest",
        flavour: Flavour::Alpine,
        changes: &[ALPINE_CMD, IMAGE_ENV],
    },
    TestImage {
        repo: "busybox",
        tag: "latest",
        flavour: Flavour::Busybox,
        changes: &[BUSYBOX_CMD, IMAGE_ENV],
    },
];
const ALPINE_CMD: &str = r#"CMD ["/bin/sh"]"#;
const BUSYBOX_CMD: &str = r#"CMD ["sh"]"#;
/// The PATH both upstream images set.
const IMAGE_ENV: &str = "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Directories of the root filesystem and their modes. /proc, /sys and /dev
/// are mount points the runtime fills; /etc/hosts and friends come from the
/// runtime too.
const DIRECTORIES: &[(&str, u32)] = &[
    ("bin", 0o755),
    ("sbin", 0o755),
    ("usr/bin", 0o755),
    ("usr/sbin", 0o755),
    ("usr/local/bin", 0o755),
    ("etc", 0o755),
    ("root", 0o700),
    ("home", 0o755),
    ("tmp", 0o1777),
    ("var/tmp", 0o1777),
    ("var/log", 0o755),
    ("run", 0o755),
    ("proc", 0o555),
    ("sys", 0o555),
    ("dev", 0o755),
];

/// How one image's import went, for the report.
#[derive(Debug)]
pub(crate) struct Imported {
    pub(crate) reference: String,
    /// The image ID berthd answered, or why the import failed.
    pub(crate) result: Result<String>,
}

impl Imported {
    /// One line: `alpine:3.10: imported sha256:…` or why not.
    pub(crate) fn describe(&self) -> String {
        match &self.result {
            Ok(id) => format!("{}: imported {id}", self.reference),
            Err(err) => format!("{}: NOT imported: {err:#}", self.reference),
        }
    }

    /// The same without the image ID, which changes with every import (the
    /// config records its creation time): for the docs.
    pub(crate) fn describe_stable(&self) -> String {
        match &self.result {
            Ok(_) => format!("{}: imported", self.reference),
            Err(_) => self.describe(),
        }
    }
}

/// Builds the root filesystems under `work` and imports every test image
/// into the berthd on `socket`. A failed import is recorded, not fatal: the
/// suite still runs, so the table shows what berthd does.
pub(crate) fn build_and_import(work: &Path, socket: &Path) -> Result<Vec<Imported>> {
    let applets = busybox_applets()?;
    let mut imported = Vec::new();
    for flavour in [Flavour::Alpine, Flavour::Busybox] {
        let rootfs = work.join(format!("rootfs-{}", flavour.name()));
        let tar = work.join(format!("{}.tar", flavour.name()));
        build_rootfs(&rootfs, flavour, Path::new(BUSYBOX), &applets)?;
        pack(&rootfs, &tar)?;
        for image in TEST_IMAGES.iter().filter(|image| image.flavour == flavour) {
            let reference = format!("{}:{}", image.repo, image.tag);
            let result = import(socket, &tar, image);
            let entry = Imported { reference, result };
            println!("image {}", entry.describe());
            imported.push(entry);
        }
    }
    Ok(imported)
}

/// Paths (relative to /) of every applet this busybox has.
fn busybox_applets() -> Result<Vec<String>> {
    if !Path::new(BUSYBOX).is_file() {
        bail!("{BUSYBOX} is missing: install Debian's busybox-static");
    }
    let list = cmd::stdout(Command::new(BUSYBOX).arg("--list-full"))?;
    let applets: Vec<String> = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && *line != "bin/busybox")
        .map(str::to_owned)
        .collect();
    if !applets.iter().any(|applet| applet == "bin/sh") {
        bail!("{BUSYBOX} --list-full has no bin/sh: {list}");
    }
    Ok(applets)
}

/// A root filesystem in `rootfs`: the directory layout, `busybox` copied to
/// /bin/busybox, every applet a symlink to it, and the flavour's users.
fn build_rootfs(rootfs: &Path, flavour: Flavour, busybox: &Path, applets: &[String]) -> Result<()> {
    if rootfs.exists() {
        fs::remove_dir_all(rootfs).with_context(|| format!("removing {}", rootfs.display()))?;
    }
    let directories = || DIRECTORIES.iter().chain(flavour.extra_directories());
    for (dir, _) in directories() {
        let path = rootfs.join(dir);
        fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
    }
    let binary = rootfs.join("bin/busybox");
    fs::copy(busybox, &binary).with_context(|| format!("copying {}", busybox.display()))?;
    fs::set_permissions(&binary, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", binary.display()))?;
    for applet in applets {
        let link = rootfs.join(applet);
        if let Some(parent) = link.parent() {
            fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        symlink(BUSYBOX, &link).with_context(|| format!("linking {}", link.display()))?;
    }
    for (name, content) in [("passwd", flavour.passwd()), ("group", flavour.group())] {
        let path = rootfs.join("etc").join(name);
        fs::write(&path, content).with_context(|| format!("writing {}", path.display()))?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    // Modes last: create_dir_all honours the umask, and /tmp needs its
    // sticky bit.
    for (dir, mode) in directories() {
        let path = rootfs.join(dir);
        fs::set_permissions(&path, fs::Permissions::from_mode(*mode))
            .with_context(|| format!("chmod {}", path.display()))?;
    }
    Ok(())
}

/// A reproducible tar of `rootfs`: sorted, root-owned, fixed timestamps.
fn pack(rootfs: &Path, tar: &Path) -> Result<()> {
    cmd::stdout(
        Command::new("tar")
            .arg("--create")
            .arg("--file")
            .arg(tar)
            .arg("--directory")
            .arg(rootfs)
            .args(["--sort=name", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner"])
            .arg("."),
    )?;
    Ok(())
}

/// `POST /images/create?fromSrc=-&repo=…&tag=…&changes=…` with the tar as
/// the body; returns the image ID from the last progress message.
fn import(socket: &Path, tar: &Path, image: &TestImage) -> Result<String> {
    let url =
        format!("http://localhost/{IMPORT_API_VERSION}/images/create?{}", import_query(image));
    let mut curl = Command::new("curl");
    curl.args(["--silent", "--show-error"])
        .arg("--unix-socket")
        .arg(socket)
        .args(["--request", "POST"])
        .args(["--header", "Content-Type: application/x-tar"])
        .arg("--data-binary")
        .arg(format!("@{}", tar.display()))
        .args(["--write-out", "\n%{http_code}"])
        .arg(url);
    let out = cmd::capture(&mut curl, IMPORT_TIMEOUT)?;
    if !out.success() {
        bail!("the request failed:\n{}", out.describe());
    }
    let (body, status) = out.stdout.rsplit_once('\n').context("curl printed no status code")?;
    let status: u16 = status
        .trim()
        .parse()
        .with_context(|| format!("curl printed {status:?} as the status code"))?;
    parse_import_response(status, body)
}

/// The query string `docker import --change …` sends.
fn import_query(image: &TestImage) -> String {
    let mut query =
        format!("fromSrc=-&repo={}&tag={}", percent_encode(image.repo), percent_encode(image.tag));
    for change in image.changes {
        query.push_str("&changes=");
        query.push_str(&percent_encode(change));
    }
    query
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The image ID, or the daemon's message: a non-200 status carries
/// `{"message": …}`; a 200 streams progress lines, one of which may be an
/// error, and ends with `{"status": "sha256:…"}`.
fn parse_import_response(status: u16, body: &str) -> Result<String> {
    if status != 200 {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|json| json["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| body.trim().to_owned());
        return Err(anyhow!("HTTP {status}: {message}"));
    }
    let mut id = None;
    for line in body.lines().map(str::trim).filter(|line| !line.is_empty()) {
        let json: Value = serde_json::from_str(line)
            .with_context(|| format!("the import answered a line that is not JSON: {line:?}"))?;
        if let Some(error) = json.get("error").or_else(|| json["errorDetail"].get("message")) {
            bail!("the import stream reported an error: {error}");
        }
        if let Some(status) = json["status"].as_str() {
            id = Some(status.to_owned());
        }
    }
    match id {
        Some(id) if id.starts_with("sha256:") => Ok(id),
        _ => bail!("the import answered 200 without an image ID: {body:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_is_what_docker_import_change_sends() {
        assert_eq!(
            import_query(&TEST_IMAGES[2]),
            "fromSrc=-&repo=busybox&tag=latest\
             &changes=CMD%20%5B%22sh%22%5D\
             &changes=ENV%20PATH%3D%2Fusr%2Flocal%2Fsbin%3A%2Fusr%2Flocal%2Fbin%3A%2Fusr%2Fsbin%3A%2Fusr%2Fbin%3A%2Fsbin%3A%2Fbin"
        );
        assert!(
            import_query(&TEST_IMAGES[0]).starts_with(
                "fromSrc=-&repo=alpine&tag=3.10&changes=CMD%20%5B%22%2Fbin%2Fsh%22%5D&"
            )
        );
    }

    #[test]
    fn the_suite_gets_the_three_images_it_names() {
        let references: Vec<String> =
            TEST_IMAGES.iter().map(|image| format!("{}:{}", image.repo, image.tag)).collect();
        assert_eq!(references, ["alpine:3.10", "alpine:latest", "busybox:latest"]);
    }

    #[test]
    fn alpine_has_the_users_the_suite_runs_as() {
        let users: Vec<&str> =
            Flavour::Alpine.passwd().lines().filter_map(|line| line.split(':').next()).collect();
        for user in ["root", "bin", "daemon", "postgres", "nobody"] {
            assert!(users.contains(&user), "alpine's passwd lacks {user}");
        }
        assert!(Flavour::Busybox.passwd().starts_with("root:x:0:0:"));
        assert!(Flavour::Busybox.group().starts_with("root:x:0:"));
    }

    #[test]
    fn import_answers_are_read() {
        let ok = "{\"status\":\"Importing\",\"progressDetail\":{}}\n{\"status\":\"sha256:abc\"}\n";
        assert_eq!(parse_import_response(200, ok).expect("an ID"), "sha256:abc");

        let not_implemented =
            r#"{"message":"POST /images/create is not implemented by Berth yet"}"#;
        let err = parse_import_response(501, not_implemented).expect_err("501");
        assert_eq!(
            err.to_string(),
            "HTTP 501: POST /images/create is not implemented by Berth yet"
        );

        let streamed = "{\"errorDetail\":{\"message\":\"bad tar\"},\"error\":\"bad tar\"}\n";
        let err = parse_import_response(200, streamed).expect_err("stream error");
        assert!(err.to_string().contains("bad tar"), "{err}");

        assert!(parse_import_response(200, "").is_err());
        assert_eq!(
            parse_import_response(500, "plain text\n").expect_err("500").to_string(),
            "HTTP 500: plain text"
        );
    }

    #[test]
    fn a_rootfs_has_the_layout_and_links() -> Result<()> {
        let dir = tempfile::tempdir()?;
        let rootfs = dir.path().join("rootfs");
        let applets = vec!["bin/sh".to_owned(), "usr/bin/id".to_owned(), "linuxrc".to_owned()];
        // A stand-in for the binary: the test needs no busybox-static.
        let busybox = dir.path().join("busybox");
        fs::write(&busybox, "#!/bin/sh\n")?;
        build_rootfs(&rootfs, Flavour::Alpine, &busybox, &applets)?;
        assert_eq!(fs::read_link(rootfs.join("bin/sh"))?, Path::new(BUSYBOX));
        assert_eq!(fs::read_link(rootfs.join("usr/bin/id"))?, Path::new(BUSYBOX));
        let mode = |path: &str| -> Result<u32> {
            Ok(fs::metadata(rootfs.join(path))?.permissions().mode() & 0o7777)
        };
        assert_eq!(mode("tmp")?, 0o1777);
        assert_eq!(mode("root")?, 0o700);
        assert_eq!(mode("bin/busybox")?, 0o755);
        assert!(fs::read_to_string(rootfs.join("etc/passwd"))?.contains("postgres:x:70:70"));
        assert!(!rootfs.join("etc/hosts").exists());
        assert_eq!(mode("var/opt")?, 0o755, "alpine-baselayout's directories");
        Ok(())
    }
}
