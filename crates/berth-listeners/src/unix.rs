//! The unix socket listener: refuse a live daemon, clear a stale socket, 0660 with the API group.

use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::time::Duration;

use nix::unistd::{Gid, Group};
use tokio::net::{UnixListener, UnixStream};

use crate::SocketGroup;
use crate::error::ListenError;
use crate::listener::{Listener, SocketFile};

/// dockerd's default API group.
const DEFAULT_GROUP: &str = "docker";
/// How long a probe connect may take before we assume a live but busy daemon owns the socket.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Binds `path` as dockerd does: group resolved first, stale socket removed, parent created,
/// then owner root (when we are root), the API group, and mode 0660.
pub(crate) async fn bind(path: &Path, group: &SocketGroup) -> Result<Listener, ListenError> {
    let gid = resolve_gid(group, path)?;
    remove_stale(path).await?;
    let unix_err = |source: io::Error| ListenError::Unix { path: path.to_owned(), source };

    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(parent).map_err(unix_err)?;
    }
    let listener = UnixListener::bind(path).map_err(unix_err)?;
    // From here on, an error drops `file` and so removes the half-configured socket.
    let file = SocketFile::record(path).map_err(unix_err)?;
    // chown to root only works, and only matters, when we are root.
    let uid = nix::unistd::geteuid().is_root().then_some(0);
    std::os::unix::fs::chown(path, uid, Some(gid.as_raw())).map_err(unix_err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660)).map_err(unix_err)?;

    Ok(Listener::unix(listener, format!("unix://{}", path.display()), None, Some(file)))
}

/// Refuses to start over a live daemon; removes a socket nobody answers on.
async fn remove_stale(path: &Path) -> Result<(), ListenError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(ListenError::Unix { path: path.to_owned(), source });
        }
    };
    // Never delete what could be user data: a regular file, a directory, a symlink.
    if !meta.file_type().is_socket() {
        return Err(ListenError::NotASocket { path: path.to_owned() });
    }
    let already = || ListenError::AlreadyListening { path: path.to_owned() };
    match tokio::time::timeout(PROBE_TIMEOUT, UnixStream::connect(path)).await {
        Ok(Ok(_)) => Err(already()),
        // Full backlog or no answer in time: someone is there, just busy.
        Err(_) => Err(already()),
        Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => Err(already()),
        Ok(Err(e))
            if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound) =>
        {
            tracing::info!(path = %path.display(), "removing stale unix socket");
            match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(source) => Err(ListenError::Unix { path: path.to_owned(), source }),
            }
        }
        Ok(Err(source)) => Err(ListenError::Unix { path: path.to_owned(), source }),
    }
}

/// The socket's group, following dockerd's `-G` rules.
fn resolve_gid(group: &SocketGroup, path: &Path) -> Result<Gid, ListenError> {
    match group {
        SocketGroup::None => Ok(nix::unistd::getgid()),
        SocketGroup::Named(name) if name.is_empty() => Ok(nix::unistd::getgid()),
        SocketGroup::Named(name) => {
            lookup_gid(name)?.ok_or_else(|| ListenError::GroupNotFound { group: name.clone() })
        }
        SocketGroup::Default => match lookup_gid(DEFAULT_GROUP)? {
            Some(gid) => Ok(gid),
            None => {
                tracing::warn!(
                    "could not change group {} to {DEFAULT_GROUP}: group {DEFAULT_GROUP} not found",
                    path.display()
                );
                Ok(nix::unistd::getgid())
            }
        },
    }
}

/// A group by name, else a numeric gid (which need not exist, as in dockerd).
fn lookup_gid(name: &str) -> Result<Option<Gid>, ListenError> {
    let numeric = name.parse::<u32>().ok().map(Gid::from_raw);
    match Group::from_name(name) {
        Ok(Some(group)) => Ok(Some(group.gid)),
        Ok(None) => Ok(numeric),
        Err(_) if numeric.is_some() => Ok(numeric),
        Err(source) => Err(ListenError::GroupLookup { group: name.to_owned(), source }),
    }
}
