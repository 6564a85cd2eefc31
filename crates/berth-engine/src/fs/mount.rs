//! Mounting containerd snapshots on temporary directories (containerd's `WithTempMount`), for
//! `docker cp`, `export` and `diff` on a container that is not running.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use berth_api::{Error, Result};
use containerd_client::types::Mount;
use nix::mount::{MntFlags, MsFlags};

use super::at;

/// The longest option string `mount(2)` accepts (one page).
const MAX_OPTIONS: usize = 4095;

/// Snapshot mounts applied on a fresh directory below a parent; unmounted (lazily, so open files
/// do not keep it busy) and removed when dropped.
#[derive(Debug)]
pub(crate) struct TempMount {
    path: PathBuf,
    /// Mounts stacked on `path` so far.
    mounted: usize,
    /// Directories to remove after unmounting (an empty lower layer of a read-only view).
    scratch: Vec<PathBuf>,
}

impl TempMount {
    /// Applies `mounts` in order on a new directory in `target_parent` (created if missing), as
    /// containerd's `mount.All`: `overlay` mounts with their `lowerdir`/`upperdir`/`workdir`
    /// options, `bind` mounts with `rbind` and `ro` (the single-layer and empty snapshots).
    /// Flag options (`ro`, `rbind`, `nosuid`, …) become mount flags, the rest the data string.
    pub(crate) fn new(mounts: Vec<Mount>, target_parent: &Path) -> Result<TempMount> {
        let mut temp = TempMount::empty(target_parent)?;
        for mount in &mounts {
            mount_one(mount, &temp.path).map_err(|err| {
                Error::system(format!(
                    "cannot mount {} ({}) on {}: {err}",
                    mount.source,
                    mount.r#type,
                    temp.path.display()
                ))
                .with_source(err)
            })?;
            temp.mounted += 1;
        }
        Ok(temp)
    }

    /// A read-only overlay of `layers` (topmost first, as `lowerdir=` lists them): the merged
    /// view the kernel gives, whiteouts and opaque directories applied. No layers gives an empty
    /// directory.
    pub(super) fn read_only_view(layers: &[PathBuf], target_parent: &Path) -> Result<TempMount> {
        let mut temp = TempMount::empty(target_parent)?;
        if layers.is_empty() {
            return Ok(temp);
        }
        let mut lower: Vec<PathBuf> = layers.to_vec();
        if lower.len() == 1 {
            // Overlayfs wants two lower layers when there is no upper one; an empty one is
            // neutral (a bind mount would show whiteouts as character devices).
            let empty = fresh_dir(target_parent, "berth-empty")?;
            temp.scratch.push(empty.clone());
            lower.push(empty);
        }
        let mut joined = Vec::with_capacity(lower.len());
        for layer in &lower {
            let layer = layer.to_str().filter(|l| !l.contains([':', ','])).ok_or_else(|| {
                Error::system(format!("cannot use {} as an overlay layer", layer.display()))
            })?;
            joined.push(layer);
        }
        let mount = Mount {
            r#type: "overlay".to_owned(),
            source: "overlay".to_owned(),
            target: String::new(),
            // index=off: the upper layer of a running container may be one of these; with the
            // inode index on, overlayfs refuses a layer another mount writes to.
            options: vec![
                "ro".to_owned(),
                "index=off".to_owned(),
                format!("lowerdir={}", joined.join(":")),
            ],
        };
        mount_one(&mount, &temp.path).map_err(|err| {
            Error::system(format!("cannot mount a view of {} layers: {err}", lower.len()))
                .with_source(err)
        })?;
        temp.mounted += 1;
        Ok(temp)
    }

    fn empty(target_parent: &Path) -> Result<TempMount> {
        let path = fresh_dir(target_parent, "berth-mount")?;
        Ok(TempMount { path, mounted: 0, scratch: Vec::new() })
    }

    /// Where the snapshot is mounted.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempMount {
    fn drop(&mut self) {
        for _ in 0..self.mounted {
            if let Err(err) = nix::mount::umount2(&self.path, MntFlags::MNT_DETACH) {
                tracing::warn!(path = %self.path.display(), error = %err, "cannot unmount a temporary mount");
                return;
            }
        }
        for dir in std::iter::once(&self.path).chain(&self.scratch) {
            if let Err(err) = std::fs::remove_dir(dir) {
                tracing::warn!(path = %dir.display(), error = %err, "cannot remove a temporary mount point");
            }
        }
    }
}

/// Creates a new directory named `<prefix>-<random>` in `parent` (and `parent` if missing).
fn fresh_dir(parent: &Path, prefix: &str) -> Result<PathBuf> {
    let create = || -> io::Result<PathBuf> {
        std::fs::create_dir_all(parent)?;
        let path = parent.join(format!("{prefix}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&path)?;
        Ok(path)
    };
    create().map_err(|err| {
        Error::system(format!("cannot create a mount point in {}: {err}", parent.display()))
            .with_source(err)
    })
}

/// The overlay `upperdir` of a container's snapshot mounts (where `docker diff` looks), or, for
/// a snapshot without parents (mounted as a read-write bind of its own directory), that
/// directory. `None` for read-only mounts.
pub(crate) fn upper_dir(mounts: &[Mount]) -> Option<PathBuf> {
    for mount in mounts {
        match mount.r#type.as_str() {
            "overlay" => {
                if let Some(upper) = option(mount, "upperdir") {
                    return Some(PathBuf::from(upper));
                }
            }
            "bind" | "rbind" if !mount.options.iter().any(|o| o == "ro") => {
                return Some(PathBuf::from(&mount.source));
            }
            _ => {}
        }
    }
    None
}

/// The overlay `lowerdir` layers of snapshot mounts, topmost first; empty for a bind mount
/// (a snapshot without parents).
pub(crate) fn lower_dirs(mounts: &[Mount]) -> Vec<PathBuf> {
    mounts
        .iter()
        .filter(|m| m.r#type == "overlay")
        .filter_map(|m| option(m, "lowerdir"))
        .flat_map(|lower| {
            lower.split(':').filter(|l| !l.is_empty()).map(PathBuf::from).collect::<Vec<_>>()
        })
        .collect()
}

fn option<'a>(mount: &'a Mount, key: &str) -> Option<&'a str> {
    mount.options.iter().find_map(|o| o.strip_prefix(key)?.strip_prefix('='))
}

/// Mounts `source` of filesystem `fstype` on `target` with fstab-style `options` (the `o=` of a
/// local volume): flag options (`bind`, `ro`, `nosuid`, …) become mount flags, the rest the data.
pub(crate) fn mount_fstab(
    source: &str,
    fstype: &str,
    options: &str,
    target: &Path,
) -> io::Result<()> {
    let options = options.split(',').filter(|o| !o.is_empty()).map(str::to_owned).collect();
    let mount = Mount {
        r#type: fstype.to_owned(),
        source: source.to_owned(),
        target: String::new(),
        options,
    };
    mount_one(&mount, target)
}

/// Bind-mounts the host directory `source` on the directory `path` of the tree at `root` (a
/// temporary mount of a container's snapshot), creating what is missing of `path` as the runtime
/// does for a mount point. `path` is resolved with `root` as `/` and the mount made on the
/// resolved descriptor, so the container's symlinks cannot move it outside. The lazy unmount of
/// the temporary mount takes it away too.
pub(crate) fn bind_in_root(root: &Path, path: &str, source: &Path, readonly: bool) -> Result<()> {
    let failed = |err: io::Error| {
        Error::system(format!("cannot mount {} on {path}: {err}", source.display()))
    };
    let dir = super::create_dir_in_root(root, path, None).map_err(failed)?;
    let target = at::proc_path(&dir);
    nix::mount::mount(
        Some(source),
        &target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| failed(e.into()))?;
    if readonly {
        // The new mount, reached again through the tree (the old descriptor is below it).
        let root_fd = at::open_dir(root).map_err(failed)?;
        let flags = nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY;
        let mounted = at::open_in(&root_fd, path, flags).map_err(failed)?;
        let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        nix::mount::mount(
            None::<&str>,
            &at::proc_path(&mounted),
            None::<&str>,
            remount,
            None::<&str>,
        )
        .map_err(|e| failed(e.into()))?;
    }
    Ok(())
}

/// Mounts one containerd mount on `target`, as containerd's `Mount.mount` on Linux: the
/// non-propagation flags and data first, then the propagation flags, then a read-only remount
/// for a read-only bind (`MS_RDONLY` is ignored on the first bind call).
fn mount_one(mount: &Mount, target: &Path) -> io::Result<()> {
    let (flags, propagation, mut data) = parse_options(&mount.options);
    // Keeps the layer descriptors open until the kernel has resolved them.
    let mut _layers = Vec::new();
    if data.len() > MAX_OPTIONS && mount.r#type == "overlay" {
        (data, _layers) = compact_layers(&data)?;
    }
    if data.len() > MAX_OPTIONS {
        return Err(io::Error::other(format!(
            "mount options are {} bytes, more than the kernel accepts",
            data.len()
        )));
    }
    let fstype = if mount.r#type == "rbind" { "bind" } else { mount.r#type.as_str() };
    let data = (!data.is_empty()).then_some(data.as_str());
    nix::mount::mount(Some(mount.source.as_str()), target, Some(fstype), flags, data)?;
    if !propagation.is_empty() {
        nix::mount::mount(None::<&str>, target, None::<&str>, propagation, None::<&str>)?;
    }
    if flags.contains(MsFlags::MS_BIND | MsFlags::MS_RDONLY) {
        nix::mount::mount(
            None::<&str>,
            target,
            None::<&str>,
            flags | MsFlags::MS_REMOUNT,
            None::<&str>,
        )?;
    }
    Ok(())
}

/// Shortens the overlay layer paths of `data` to `/proc/self/fd/N` of descriptors opened on
/// them, which the kernel resolves at mount time: an image with many layers otherwise exceeds
/// the one page `mount(2)` takes (containerd instead `chdir`s in a helper process to use
/// relative paths, which a multi-threaded daemon cannot do).
fn compact_layers(data: &str) -> io::Result<(String, Vec<OwnedFd>)> {
    let mut fds = Vec::new();
    let mut options = Vec::new();
    for option in data.split(',') {
        let Some((key, value)) = option.split_once('=') else {
            options.push(option.to_owned());
            continue;
        };
        if !matches!(key, "lowerdir" | "upperdir" | "workdir") {
            options.push(option.to_owned());
            continue;
        }
        let mut paths = Vec::new();
        for layer in value.split(':') {
            let fd = at::open_dir(Path::new(layer))?;
            paths.push(at::proc_path(&fd).to_string_lossy().into_owned());
            fds.push(fd);
        }
        options.push(format!("{key}={}", paths.join(":")));
    }
    Ok((options.join(","), fds))
}

/// Splits fstab options into mount flags, propagation flags and the data string (containerd's
/// `parseMountOptions`).
fn parse_options(options: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut propagation = MsFlags::empty();
    let mut data: Vec<&str> = Vec::new();
    for option in options {
        let (set, clear, prop) = match option.as_str() {
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty(), MsFlags::empty()),
            "defaults" => (MsFlags::empty(), MsFlags::empty(), MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty(), MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), MsFlags::empty()),
            "private" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE),
            "rprivate" => {
                (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE | MsFlags::MS_REC)
            }
            "shared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED),
            "rshared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE),
            "rslave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE),
            "runbindable" => {
                (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE | MsFlags::MS_REC)
            }
            other => {
                data.push(other);
                continue;
            }
        };
        flags = (flags | set) & !clear;
        propagation |= prop;
    }
    (flags, propagation, data.join(","))
}
