//! `fd://` hosts: listening sockets passed by systemd socket activation.
//!
//! `LISTEN_FDS`/`LISTEN_PID` are read (and cleared, so children do not inherit them) once per
//! process; the descriptors are then handed out from one shared table, so several `fd://N`
//! hosts, in one `bind_all` call or several, each take their own, and none is taken twice.

use std::sync::{Mutex, OnceLock, PoisonError};

use listenfd::ListenFd;
use tokio_rustls::TlsAcceptor;

use crate::FdSpec;
use crate::error::ListenError;
use crate::listener::Listener;

/// The first descriptor systemd passes (`SD_LISTEN_FDS_START`).
const LISTEN_FDS_START: u32 = 3;

static ACTIVATED: OnceLock<Mutex<ListenFd>> = OnceLock::new();

/// Takes the activated sockets `spec` names and wraps them in listeners (TLS on all of them when
/// `tls` is set, unix ones included, as dockerd does).
pub(crate) fn bind(spec: FdSpec, tls: Option<&TlsAcceptor>) -> Result<Vec<Listener>, ListenError> {
    let mut fds = ACTIVATED
        .get_or_init(|| Mutex::new(ListenFd::from_env()))
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if fds.len() == 0 {
        return Err(ListenError::NoActivatedSockets);
    }
    match spec {
        FdSpec::One(fd) => {
            let idx = fd.checked_sub(LISTEN_FDS_START).ok_or(ListenError::FdOutOfRange { fd })?;
            let idx = usize::try_from(idx).map_err(|_| ListenError::TooFewActivated)?;
            if idx >= fds.len() {
                return Err(ListenError::TooFewActivated);
            }
            let listener = take(&mut fds, idx, tls)?.ok_or(ListenError::FdInUse { fd })?;
            Ok(vec![listener])
        }
        FdSpec::All => {
            let mut listeners = Vec::new();
            for idx in 0..fds.len() {
                // Descriptors already taken by an `fd://N` host are skipped.
                listeners.extend(take(&mut fds, idx, tls)?);
            }
            if listeners.is_empty() {
                return Err(ListenError::AllFdsInUse);
            }
            Ok(listeners)
        }
    }
}

/// Takes descriptor `idx` as a tcp or unix stream listener; `None` if already taken.
fn take(
    fds: &mut ListenFd,
    idx: usize,
    tls: Option<&TlsAcceptor>,
) -> Result<Option<Listener>, ListenError> {
    let fd = LISTEN_FDS_START.saturating_add(u32::try_from(idx).unwrap_or(u32::MAX));
    let not_listener = |source| ListenError::FdNotListener { fd, source };
    let fallback_addr = format!("fd://{fd}");
    // listenfd checks the socket family and type and leaves the fd in place on a mismatch.
    match fds.take_tcp_listener(idx) {
        Ok(None) => Ok(None),
        Ok(Some(std)) => {
            std.set_nonblocking(true).map_err(not_listener)?;
            let listener = tokio::net::TcpListener::from_std(std).map_err(not_listener)?;
            let bound = listener.local_addr().map_err(not_listener)?;
            Ok(Some(Listener::tcp(listener, bound, tls.cloned())))
        }
        Err(_) => {
            let std = fds
                .take_unix_listener(idx)
                .map_err(not_listener)?
                .ok_or(ListenError::FdInUse { fd })?;
            std.set_nonblocking(true).map_err(not_listener)?;
            let listener = tokio::net::UnixListener::from_std(std).map_err(not_listener)?;
            // The socket file belongs to systemd: never removed by us.
            Ok(Some(Listener::unix(listener, fallback_addr, tls.cloned(), None)))
        }
    }
}
