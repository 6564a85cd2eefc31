//! Reading a small configuration file of a container (`/etc/passwd`, `/etc/group`) without
//! trusting its path: resolved with `openat2(RESOLVE_IN_ROOT)`, opened non-blocking, and read
//! only if it is a regular file of bounded size.

use std::io::{self, Read};
use std::path::Path;

use nix::fcntl::OFlag;

use super::at;

/// Reads `path` (absolute, as the container sees it) below `root`; `Ok(None)` when it does not
/// exist. A FIFO, device or directory planted there, or a file larger than `limit`, is an
/// `InvalidData` error instead of a hang or an unbounded read.
pub(crate) fn read_file_in_root(
    root: &Path,
    path: &str,
    limit: u64,
) -> io::Result<Option<Vec<u8>>> {
    let dir = at::open_dir(root)?;
    let fd = match at::open_in(&dir, path, OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY) {
        Ok(fd) => fd,
        Err(e) if at::is_missing(&e) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = at::stat_fd(&fd)?;
    if at::file_type(&st) != nix::sys::stat::SFlag::S_IFREG {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} is not a regular file"),
        ));
    }
    let mut bytes = Vec::new();
    std::fs::File::from(fd).take(limit + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{path} is larger than {limit} bytes"),
        ));
    }
    Ok(Some(bytes))
}
