//! Where the cgroup hierarchies live, and reading their files the way containerd's `cgroups`
//! package does (`max` and negative values read as 0, `key value` lines).

use std::collections::BTreeMap;
use std::io;
use std::path::{Component, Path, PathBuf};

use berth_api::{Error, Result};

/// The cgroup v1 controllers Berth knows by name; anything else in a mount's options (`rw`,
/// `name=systemd`, `xattr`…) is not a controller.
const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "memory",
    "misc",
    "net_cls",
    "net_prio",
    "perf_event",
    "pids",
    "rdma",
];

/// The host's cgroup layout: one mount per v1 controller (shared by combined mounts such as
/// `cpu,cpuacct`), or the single v2 unified hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CgroupRoot {
    layout: Layout,
}

/// See [`CgroupRoot`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    /// Controller name → its mount point.
    V1(BTreeMap<String, PathBuf>),
    /// Mount point of the unified hierarchy.
    V2(PathBuf),
}

impl CgroupRoot {
    /// The host's layout, from `/proc/self/mountinfo`.
    pub(crate) fn detect() -> Result<Self> {
        let path = Path::new("/proc/self/mountinfo");
        let text = read_file(path)?;
        Self::from_mountinfo(&text)
    }

    /// The layout a `mountinfo` text describes. Any v1 controller mount makes it v1 (the
    /// "hybrid" layout mounts an empty v2 hierarchy at `/sys/fs/cgroup/unified` next to the v1
    /// controllers, and runc puts containers in the v1 ones); otherwise the `cgroup2` mount.
    pub(crate) fn from_mountinfo(text: &str) -> Result<Self> {
        let mut controllers = BTreeMap::new();
        let mut unified = None;
        for line in text.lines() {
            let fields: Vec<&str> = line.split_ascii_whitespace().collect();
            // id parent major:minor root mount-point options [optional…] - fstype source super
            let Some(sep) = fields.iter().skip(6).position(|f| *f == "-").map(|i| i + 6) else {
                continue;
            };
            let (Some(fstype), Some(mount_point)) = (fields.get(sep + 1), fields.get(4)) else {
                continue;
            };
            let mount_point = PathBuf::from(unescape_mountinfo(mount_point));
            match *fstype {
                "cgroup" => {
                    let options = fields.get(sep + 3).copied().unwrap_or_default();
                    for option in options.split(',') {
                        if V1_CONTROLLERS.contains(&option) {
                            controllers
                                .entry(option.to_owned())
                                .or_insert_with(|| mount_point.clone());
                        }
                    }
                }
                "cgroup2" => {
                    unified.get_or_insert(mount_point);
                }
                _ => {}
            }
        }
        if !controllers.is_empty() {
            return Ok(Self { layout: Layout::V1(controllers) });
        }
        match unified {
            Some(root) => Ok(Self { layout: Layout::V2(root) }),
            None => Err(Error::system("no cgroup hierarchy is mounted")),
        }
    }

    /// A layout rooted at `path`, for tests with a fake tree: v2 when `path/cgroup.controllers`
    /// exists, otherwise v1 with one controller per sub-directory, where a directory named
    /// `cpu,cpuacct` serves both controllers.
    #[cfg(test)]
    pub(crate) fn at(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        if path.join("cgroup.controllers").exists() {
            return Self { layout: Layout::V2(path) };
        }
        let mut controllers = BTreeMap::new();
        if let Ok(entries) = std::fs::read_dir(&path) {
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                for controller in name.split(',') {
                    // A directory named after the controller alone wins over a combined one.
                    if controller == name || !controllers.contains_key(controller) {
                        controllers.insert(controller.to_owned(), entry.path());
                    }
                }
            }
        }
        Self { layout: Layout::V1(controllers) }
    }

    /// Whether this is the v2 unified hierarchy.
    pub(crate) fn is_v2(&self) -> bool {
        matches!(self.layout, Layout::V2(_))
    }

    /// The directory of cgroup `rel` (such as `/berth/<id>`) in v1 `controller`'s hierarchy;
    /// `None` when the controller is not mounted or this is v2.
    pub(crate) fn v1_dir(&self, controller: &str, rel: &str) -> Result<Option<PathBuf>> {
        let rel = relative(rel)?;
        Ok(match &self.layout {
            Layout::V1(controllers) => controllers.get(controller).map(|mount| mount.join(rel)),
            Layout::V2(_) => None,
        })
    }

    /// The directory of cgroup `rel` in the v2 hierarchy; `None` on v1.
    pub(crate) fn v2_dir(&self, rel: &str) -> Result<Option<PathBuf>> {
        let rel = relative(rel)?;
        Ok(match &self.layout {
            Layout::V1(_) => None,
            Layout::V2(root) => Some(root.join(rel)),
        })
    }
}

/// `rel` without its leading `/`, refusing anything that could leave the hierarchy.
fn relative(rel: &str) -> Result<&Path> {
    let path = Path::new(rel.trim_start_matches('/'));
    if path.components().all(|c| matches!(c, Component::Normal(_) | Component::CurDir)) {
        Ok(path)
    } else {
        Err(Error::invalid(format!("invalid cgroup path {rel:?}")))
    }
}

/// Undoes the octal escapes (`\040` for a space…) the kernel writes in mountinfo paths.
pub(crate) fn unescape_mountinfo(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(code) = bytes.get(i + 1..i + 4)
            && code.iter().all(|b| (b'0'..=b'7').contains(b))
        {
            let value = code.iter().fold(0u32, |acc, b| acc * 8 + u32::from(b - b'0'));
            if let Ok(byte) = u8::try_from(value) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The error for a failed read of `path`: 404 when it does not exist (the cgroup or process
/// went away), 500 otherwise.
pub(super) fn io_error(path: &Path, e: io::Error) -> Error {
    if e.kind() == io::ErrorKind::NotFound {
        Error::not_found(format!("no such file: {}", path.display())).with_source(e)
    } else {
        Error::system(format!("cannot read {}", path.display())).with_source(e)
    }
}

/// The whole of `path`.
pub(super) fn read_file(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| io_error(path, e))
}

/// A cgroup counter: `max` and negative numbers (`-1` for "unlimited") read as 0, as
/// containerd's `parseUint` does.
pub(super) fn parse_uint(s: &str) -> Option<u64> {
    let s = s.trim();
    if s == "max" {
        return Some(0);
    }
    match s.parse::<u64>() {
        Ok(v) => Some(v),
        Err(_) => {
            let negative = s.strip_prefix('-')?;
            (!negative.is_empty() && negative.bytes().all(|b| b.is_ascii_digit())).then_some(0)
        }
    }
}

/// The single number in `path` (see [`parse_uint`]).
pub(super) fn read_uint(path: &Path) -> Result<u64> {
    let text = read_file(path)?;
    parse_uint(&text).ok_or_else(|| invalid_content(path, text.trim()))
}

/// The `key value` lines of `path`, in file order; any other line is an error.
pub(super) fn read_kv(path: &Path) -> Result<Vec<(String, u64)>> {
    let text = read_file(path)?;
    let mut pairs = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_ascii_whitespace();
        match (fields.next(), fields.next().and_then(parse_uint), fields.next()) {
            (Some(key), Some(value), None) => pairs.push((key.to_owned(), value)),
            (None, ..) => {}
            _ => return Err(invalid_content(path, line)),
        }
    }
    Ok(pairs)
}

/// 500 for a file whose content is not what the kernel writes.
pub(super) fn invalid_content(path: &Path, content: &str) -> Error {
    Error::system(format!("unexpected content {content:?} in {}", path.display()))
}
