//! The sandbox of the tarball targets (`archive_put`, `image_load`, `image_import`).
//!
//! Berth confines extraction itself: every path inside the destination is resolved with
//! `openat2(RESOLVE_IN_ROOT)`. Fuzzing exists to find where such a guarantee fails, so the
//! targets must not depend on it. Before the first input, [`enter`] moves the process into a
//! private mount namespace in which every mount is read-only except
//!
//! - a fresh tmpfs (`nodev,nosuid`, 512 MiB) that holds the extraction directories and the
//!   spool files (it becomes `TMPDIR`), and
//! - the directories libFuzzer writes to: the first corpus directory and the artifact
//!   directory (`-artifact_prefix=`, `-exact_artifact_path=`, else the working directory).
//!
//! A write that escaped its temporary directory therefore fails with `EROFS` or lands on that
//! tmpfs; it never reaches the host, and the namespace, with its tmpfs, goes away with the
//! process. Setting it up needs `CAP_SYS_ADMIN` (run as root); without it the targets refuse to
//! start rather than fuzz unprotected.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Where the tmpfs is mounted (inside the private namespace only; on the host it stays an empty
/// directory).
const MOUNT_POINT: &str = "berth-fuzz-sandbox";

/// `MOUNT_ATTR_RDONLY` of `mount_setattr(2)`.
const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// `struct mount_attr` of `mount_setattr(2)` (version 0, 32 bytes).
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Enters the sandbox (once per process) and returns the writable scratch directory.
///
/// # Panics
///
/// When the sandbox cannot be set up or does not hold: the targets must not run without it.
pub fn enter() -> &'static Path {
    static SCRATCH: OnceLock<PathBuf> = OnceLock::new();
    SCRATCH.get_or_init(|| match set_up() {
        Ok(scratch) => scratch,
        Err(err) => panic!(
            "cannot set up the fuzzing sandbox ({err}); the tarball targets run as root, in a \
             private mount namespace where only a tmpfs and libFuzzer's output directories are \
             writable (fuzz/src/sandbox.rs)"
        ),
    })
}

fn set_up() -> io::Result<PathBuf> {
    let writable = libfuzzer_outputs(std::env::args().skip(1))?;
    let scratch = std::env::temp_dir().join(MOUNT_POINT);
    std::fs::create_dir_all(&scratch)?;
    let scratch = scratch.canonicalize()?;

    // SAFETY: plain system calls on NUL-terminated strings that outlive them; libFuzzer calls
    // the targets' initialisation before it starts any thread, and nothing here touches memory.
    #[allow(unsafe_code)]
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS))?;
        // Nothing done below propagates back to the host's namespace.
        check(libc::mount(
            std::ptr::null(),
            c"/".as_ptr(),
            std::ptr::null(),
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ))?;
        set_attr(Path::new("/"), libc::AT_RECURSIVE, MOUNT_ATTR_RDONLY, 0)?;
        let target = c_path(&scratch)?;
        check(libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NODEV | libc::MS_NOSUID,
            c"size=512m,mode=0700".as_ptr().cast(),
        ))?;
        for dir in &writable {
            let dir_c = c_path(dir)?;
            check(libc::mount(
                dir_c.as_ptr(),
                dir_c.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ))?;
            // A bind mount starts with the flags of the mount it copies: read-only.
            set_attr(dir, 0, 0, MOUNT_ATTR_RDONLY)?;
        }
        // Before any other thread exists (see above), so no one reads the environment meanwhile.
        std::env::set_var("TMPDIR", &scratch);
    }
    verify(&scratch)?;
    Ok(scratch)
}

/// Writing in `/` must fail; writing in the scratch directory must work.
fn verify(scratch: &Path) -> io::Result<()> {
    let outside = Path::new("/").join(format!("{MOUNT_POINT}-probe"));
    match std::fs::File::create(&outside) {
        Err(err) if err.raw_os_error() == Some(libc::EROFS) => {}
        Err(err) => return Err(io::Error::other(format!("probe outside the sandbox: {err}"))),
        Ok(_) => {
            let _ = std::fs::remove_file(&outside);
            return Err(io::Error::other("the host is still writable"));
        }
    }
    let inside = tempfile::tempfile_in(scratch)?;
    drop(inside);
    Ok(())
}

/// The directories libFuzzer may write to, created if missing: the first corpus directory, and
/// the directory of the artifact prefix or path (the working directory by default).
fn libfuzzer_outputs(args: impl Iterator<Item = String>) -> io::Result<Vec<PathBuf>> {
    let mut corpus = None;
    let mut artifacts = PathBuf::from(".");
    for arg in args {
        if let Some(prefix) = arg.strip_prefix("-artifact_prefix=") {
            artifacts = if prefix.ends_with('/') {
                PathBuf::from(prefix)
            } else {
                parent(Path::new(prefix))
            };
        } else if let Some(path) = arg.strip_prefix("-exact_artifact_path=") {
            artifacts = parent(Path::new(path));
        } else if !arg.starts_with('-') && corpus.is_none() && Path::new(&arg).is_dir() {
            corpus = Some(PathBuf::from(arg));
        }
    }
    let mut out = Vec::new();
    for dir in corpus.into_iter().chain([artifacts]) {
        std::fs::create_dir_all(&dir)?;
        let dir = dir.canonicalize()?;
        if dir == Path::new("/") {
            return Err(io::Error::other(
                "libFuzzer would write to `/`: run from another directory or pass -artifact_prefix=",
            ));
        }
        if !out.contains(&dir) {
            out.push(dir);
        }
    }
    Ok(out)
}

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_owned(),
        _ => PathBuf::from("."),
    }
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

/// `mount_setattr(2)` on the mount at `path` (and below it with `AT_RECURSIVE`).
fn set_attr(path: &Path, flags: libc::c_int, set: u64, clear: u64) -> io::Result<()> {
    let path = c_path(path)?;
    let attr = MountAttr { attr_set: set, attr_clr: clear, propagation: 0, userns_fd: 0 };
    // SAFETY: `path` is NUL-terminated and `attr` is a valid `struct mount_attr` whose size is
    // passed along; both outlive the call.
    #[allow(unsafe_code)]
    let ret = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if ret == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}
