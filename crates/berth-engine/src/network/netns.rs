//! Persistent network namespaces: one bind-mounted namespace file per container.
//!
//! A namespace lives as long as something references it. Bind-mounting
//! `/proc/thread-self/ns/net` onto a plain file keeps it alive after the thread that created it
//! exits; runc joins it through `linux.namespaces[{type: network, path}]` and CNI plugins through
//! `CNI_NETNS`, so nothing has to be named under `/run/netns`.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use berth_api::Error;
use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

/// The namespace of the calling thread, as procfs shows it.
const THREAD_NETNS: &str = "/proc/thread-self/ns/net";

/// Creates and removes persistent network namespaces.
pub(crate) struct Netns;

impl Netns {
    /// Creates a new, empty network namespace pinned at `<dir>/<id>` and returns that path.
    ///
    /// Only `lo` exists in it, and it is down until the loopback CNI plugin runs. Fails with a
    /// conflict if the file already exists: a stale one left by a crash must be [`Netns::remove`]d
    /// first, because it may still be in use by a running container.
    ///
    /// This blocks for the few hundred microseconds a thread spawn takes.
    pub(crate) fn create(dir: &Path, id: &str) -> Result<PathBuf, Error> {
        if id.is_empty() || id.contains('/') || id == "." || id == ".." {
            return Err(Error::invalid(format!("invalid network namespace name: {id:?}")));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            Error::system(format!("cannot create netns directory {}", dir.display())).with_source(e)
        })?;
        let path = dir.join(id);
        match File::options().write(true).create_new(true).open(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(Error::conflict(format!(
                    "network namespace already exists: {}",
                    path.display()
                )));
            }
            Err(e) => {
                return Err(
                    Error::system(format!("cannot create {}", path.display())).with_source(e)
                );
            }
        }

        // unshare(CLONE_NEWNET) moves only the calling thread; a dedicated thread that exits
        // afterwards keeps every other thread (and the tokio pool) in the host namespace.
        let target = path.clone();
        let pinned = std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn(move || -> nix::Result<()> {
                nix::sched::unshare(CloneFlags::CLONE_NEWNET)?;
                nix::mount::mount(
                    Some(THREAD_NETNS),
                    &target,
                    None::<&str>,
                    MsFlags::MS_BIND,
                    None::<&str>,
                )
            })
            .map_err(|e| Error::system("cannot spawn the netns thread").with_source(e))?
            .join();
        let failure = match pinned {
            Ok(Ok(())) => {
                tracing::debug!(path = %path.display(), "created network namespace");
                return Ok(path);
            }
            Ok(Err(errno)) => Error::system(format!(
                "cannot create network namespace {}: {errno}",
                path.display()
            ))
            .with_source(errno),
            Err(_) => Error::system("the netns thread panicked"),
        };
        if let Err(e) = std::fs::remove_file(&path) {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove netns file after a failed create");
        }
        Err(failure)
    }

    /// Unmounts and deletes the namespace file at `path`.
    ///
    /// A missing file or one that is not mounted is fine, so this is safe to repeat. The namespace
    /// itself disappears once no process or mount references it any more.
    pub(crate) fn remove(path: &Path) -> Result<(), Error> {
        match nix::mount::umount2(path, MntFlags::MNT_DETACH) {
            // EINVAL: not a mount point (a create that failed half-way, or a second remove).
            Ok(()) | Err(Errno::ENOENT | Errno::EINVAL) => {}
            Err(errno) => {
                return Err(Error::system(format!(
                    "cannot unmount network namespace {}: {errno}",
                    path.display()
                ))
                .with_source(errno));
            }
        }
        match std::fs::remove_file(path) {
            Ok(()) => {
                tracing::debug!(path = %path.display(), "removed network namespace");
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => {
                Err(Error::system(format!("cannot remove {}", path.display())).with_source(e))
            }
        }
    }

    /// Runs `f` on a fresh thread that has joined the namespace at `path`, and returns its result.
    ///
    /// Sockets created by `f` stay in that namespace even after they are handed back. Blocking.
    pub(crate) fn run_in<T, F>(path: &Path, f: F) -> Result<T, Error>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let ns = File::open(path).map_err(|e| {
            let message = format!("cannot open network namespace {}", path.display());
            if e.kind() == io::ErrorKind::NotFound {
                Error::not_found(message).with_source(e)
            } else {
                Error::system(message).with_source(e)
            }
        })?;
        let display = path.display().to_string();
        std::thread::Builder::new()
            .name("berth-netns".into())
            .spawn(move || -> Result<T, Error> {
                nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET).map_err(|errno| {
                    Error::system(format!("cannot join network namespace {display}: {errno}"))
                        .with_source(errno)
                })?;
                drop(ns);
                Ok(f())
            })
            .map_err(|e| Error::system("cannot spawn the netns thread").with_source(e))?
            .join()
            .map_err(|_| Error::system("the netns thread panicked"))?
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    /// The inode of the network namespace the calling thread is in.
    fn current_netns_inode() -> u64 {
        std::fs::metadata(THREAD_NETNS).expect("stat own netns").ino()
    }

    #[test]
    fn create_pins_a_new_namespace_that_can_be_joined_and_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = Netns::create(dir.path(), "c1").expect("create netns");
        assert_eq!(path, dir.path().join("c1"));

        let host = current_netns_inode();
        let pinned = std::fs::metadata(&path).expect("stat netns file").ino();
        assert_ne!(pinned, host, "the file is a different namespace than ours");
        let joined = Netns::run_in(&path, current_netns_inode).expect("join");
        assert_eq!(joined, pinned, "run_in joins exactly the pinned namespace");
        assert_eq!(current_netns_inode(), host, "the caller's thread never moved");

        let again = Netns::create(dir.path(), "c1").expect_err("second create");
        assert_eq!(again.kind(), berth_api::ErrorKind::Conflict);

        Netns::remove(&path).expect("remove");
        assert!(!path.exists());
        Netns::remove(&path).expect("remove is idempotent");
        let gone = Netns::run_in(&path, || ()).expect_err("joining a removed netns");
        assert_eq!(gone.kind(), berth_api::ErrorKind::NotFound);
    }

    #[test]
    fn remove_tolerates_a_file_that_is_not_mounted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("plain");
        std::fs::write(&path, "").expect("write");
        Netns::remove(&path).expect("remove");
        assert!(!path.exists());
    }

    #[test]
    fn create_rejects_names_that_escape_the_directory() {
        let dir = tempfile::tempdir().expect("tempdir");
        for bad in ["", "..", "a/b"] {
            let err = Netns::create(dir.path(), bad).expect_err(bad);
            assert_eq!(err.kind(), berth_api::ErrorKind::InvalidParameter, "{bad:?}");
        }
    }
}
