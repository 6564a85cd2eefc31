//! Tests of the `fs` module: real directories in temporary roots (and real overlay mounts, which
//! need root, as Berth itself does).
//!
//! Every hostile case has a sentinel directory next to the root, standing for "the host":
//! nothing in it may change, and nothing may appear there.

mod changes;
mod get;
mod hostile;
mod mount;
mod paths;
mod put;
mod race;
mod stat;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use berth_backend::ByteStream;
use bytes::Bytes;
use futures_util::StreamExt;
use tar::{EntryType, Header};

/// A container root (`<dir>/root`) next to a stand-in for the host (`<dir>/host`, holding
/// `sentinel`).
pub(super) struct Fixture {
    dir: tempfile::TempDir,
    pub(super) root: PathBuf,
    pub(super) host: PathBuf,
}

impl Fixture {
    pub(super) fn new() -> Self {
        // Tests extract below `/dst` of their root. Should the confinement ever break, that path
        // resolves on the host instead, where it must not exist, so the writes fail rather than
        // land on the host's own files.
        assert!(
            std::fs::symlink_metadata("/dst").is_err(),
            "the host has a /dst: the fs tests refuse to run here"
        );
        let dir = tempfile::Builder::new().prefix("berth-fs-").tempdir_in("/tmp").expect("tempdir");
        let root = dir.path().join("root");
        let host = dir.path().join("host");
        std::fs::create_dir(&root).expect("root");
        std::fs::create_dir(&host).expect("host");
        std::fs::write(host.join("sentinel"), "host secret").expect("sentinel");
        std::fs::set_permissions(host.join("sentinel"), std::fs::Permissions::from_mode(0o640))
            .expect("chmod");
        Self { dir, root, host }
    }

    /// A path below the root.
    pub(super) fn at(&self, rel: &str) -> PathBuf {
        self.root.join(rel.trim_start_matches('/'))
    }

    pub(super) fn file(&self, rel: &str, content: &str) -> &Self {
        let path = self.at(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir -p");
        std::fs::write(&path, content).expect("write");
        self
    }

    pub(super) fn dir(&self, rel: &str) -> &Self {
        std::fs::create_dir_all(self.at(rel)).expect("mkdir");
        self
    }

    pub(super) fn symlink(&self, rel: &str, target: &str) -> &Self {
        let path = self.at(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir -p");
        std::os::unix::fs::symlink(target, &path).expect("symlink");
        self
    }

    pub(super) fn chmod(&self, rel: &str, mode: u32) -> &Self {
        std::fs::set_permissions(self.at(rel), std::fs::Permissions::from_mode(mode))
            .expect("chmod");
        self
    }

    /// The host path of the sentinel, as a hostile container would name it.
    pub(super) fn host_path(&self) -> String {
        self.host.to_string_lossy().into_owned()
    }

    /// Nothing outside the root changed: next to it only the "host" directory, which holds only
    /// the sentinel, with its content.
    pub(super) fn assert_host_untouched(&self) {
        let mut next_to_root: Vec<_> = std::fs::read_dir(self.dir.path())
            .expect("read the fixture")
            .map(|e| e.expect("entry").file_name())
            .collect();
        next_to_root.sort();
        assert_eq!(next_to_root, ["host", "root"], "something appeared next to the root");
        let names: Vec<_> = std::fs::read_dir(&self.host)
            .expect("read host")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["sentinel"], "something appeared next to the sentinel");
        let meta = std::fs::symlink_metadata(self.host.join("sentinel")).expect("sentinel");
        assert!(meta.file_type().is_file(), "the sentinel was replaced");
        assert_eq!(meta.permissions().mode() & 0o7777, 0o640, "the sentinel's mode changed");
        assert_eq!(meta.nlink(), 1, "something links to the sentinel");
        let owner = (meta.uid(), meta.gid());
        assert_eq!(owner, (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw()));
        assert_eq!(
            std::fs::read_to_string(self.host.join("sentinel")).expect("sentinel"),
            "host secret"
        );
    }
}

/// One entry of a test archive; names are written byte for byte (hostile ones too).
pub(super) enum Entry<'a> {
    File(&'a str, &'a str),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    Char(&'a str, u32, u32),
}

/// A tar archive of `entries` (mode 0644/0755, owner 4321:8765, mtime 1_000_000_000).
pub(super) fn tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = Header::new_gnu();
        header.set_uid(4321);
        header.set_gid(8765);
        header.set_mtime(1_000_000_000);
        header.set_mode(0o644);
        header.set_size(0);
        let (name, link, data): (&str, Option<&str>, &[u8]) = match entry {
            Entry::File(name, content) => {
                header.set_entry_type(EntryType::Regular);
                header.set_size(content.len() as u64);
                (name, None, content.as_bytes())
            }
            Entry::Dir(name) => {
                header.set_entry_type(EntryType::Directory);
                header.set_mode(0o755);
                (name, None, b"")
            }
            Entry::Symlink(name, target) => {
                header.set_entry_type(EntryType::Symlink);
                (name, Some(*target), b"")
            }
            Entry::Hardlink(name, target) => {
                header.set_entry_type(EntryType::Link);
                (name, Some(*target), b"")
            }
            Entry::Char(name, major, minor) => {
                header.set_entry_type(EntryType::Char);
                header.set_device_major(*major).expect("major");
                header.set_device_minor(*minor).expect("minor");
                (name, None, b"")
            }
        };
        let old = header.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        if let Some(link) = link {
            old.linkname[..link.len()].copy_from_slice(link.as_bytes());
        }
        header.set_cksum();
        builder.append(&header, data).expect("append");
    }
    builder.into_inner().expect("finish")
}

/// `bytes` as a request body, in small chunks.
pub(super) fn body(bytes: Vec<u8>) -> ByteStream {
    let chunks: Vec<berth_api::Result<Bytes>> =
        bytes.chunks(700).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    futures_util::stream::iter(chunks).boxed()
}

/// Reads a whole stream.
pub(super) async fn collect(mut stream: ByteStream) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk.expect("chunk"));
    }
    out
}

/// An archive entry as read back: type, link target, content.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Read {
    pub(super) kind: EntryType,
    pub(super) link: Option<String>,
    pub(super) data: String,
}

/// The entries of an archive in order, by raw name.
pub(super) fn entries(archive: &[u8]) -> Vec<(String, Read)> {
    use std::io::Read as _;
    let mut out = Vec::new();
    let mut archive = tar::Archive::new(archive);
    for entry in archive.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let kind = entry.header().entry_type();
        let link = entry.link_name_bytes().map(|l| String::from_utf8_lossy(&l).into_owned());
        let mut data = String::new();
        entry.read_to_string(&mut data).expect("data");
        out.push((name, Read { kind, link, data }));
    }
    out
}

/// The entry names of an archive, in order.
pub(super) fn names(archive: &[u8]) -> Vec<String> {
    entries(archive).into_iter().map(|(name, _)| name).collect()
}

/// A listing of a tree: relative path → (kind, content or link target, permission bits).
pub(super) fn tree(root: &Path) -> BTreeMap<String, (char, String, u32)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("lstat");
            let rel = path.strip_prefix(root).expect("below").to_string_lossy().into_owned();
            let perm = meta.permissions().mode() & 0o7777;
            let value = if meta.file_type().is_symlink() {
                ('l', std::fs::read_link(&path).expect("readlink").to_string_lossy().into_owned())
            } else if meta.is_dir() {
                stack.push(path.clone());
                ('d', String::new())
            } else {
                ('f', std::fs::read_to_string(&path).unwrap_or_default())
            };
            out.insert(rel, (value.0, value.1, perm));
        }
    }
    out
}
