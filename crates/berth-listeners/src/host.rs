//! `-H` address parsing, following dockerd's `opts.ParseHost`.

use std::fmt;
use std::path::PathBuf;

use crate::error::HostError;

/// The unix socket `berthd` listens on when no `-H` is given and TLS is off.
pub const DEFAULT_UNIX_SOCKET: &str = "/var/run/berth.sock";

/// The default tcp host name: loopback, not every interface.
const DEFAULT_HTTP_HOST: &str = "localhost";
/// The port for a tcp address without one, TLS or not.
const DEFAULT_HTTP_PORT: &str = "2375";
/// The port of the default host when TLS is on and no `-H` is given.
const DEFAULT_TLS_HTTP_PORT: &str = "2376";

/// A parsed `-H` address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host {
    /// `unix:///path`; relative paths are allowed.
    Unix(PathBuf),
    /// `tcp://host:port`, stored as `host:port` (`localhost:2375`, `[::1]:2375`, `0.0.0.0:2376`).
    Tcp(String),
    /// `fd://…`: sockets passed by systemd socket activation.
    Fd(FdSpec),
}

/// Which socket-activated descriptors an `fd://` host takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FdSpec {
    /// `fd://` or `fd://*`: every activated socket.
    All,
    /// `fd://N`: only descriptor N (systemd starts at 3).
    One(u32),
}

impl Host {
    /// Parses one `-H` value as dockerd does.
    ///
    /// A value without `://` is tcp; a blank value is the default unix socket. Use
    /// [`parse_hosts`] for a whole list, which also knows about the TLS default.
    pub fn parse(addr: &str) -> Result<Host, HostError> {
        let addr = addr.trim();
        if addr.is_empty() {
            return Ok(Host::Unix(PathBuf::from(DEFAULT_UNIX_SOCKET)));
        }
        let Some((proto, rest)) = addr.split_once("://") else {
            return parse_tcp(addr, addr);
        };
        match proto {
            "tcp" => parse_tcp(addr, rest),
            "unix" => {
                if rest.contains("://") {
                    return Err(HostError::InvalidUnixAddress { addr: rest.to_owned() });
                }
                let path = if rest.is_empty() { DEFAULT_UNIX_SOCKET } else { rest };
                Ok(Host::Unix(PathBuf::from(path)))
            }
            "fd" => match rest {
                "" | "*" => Ok(Host::Fd(FdSpec::All)),
                n => n
                    .parse::<u32>()
                    .map(|n| Host::Fd(FdSpec::One(n)))
                    .map_err(|_| HostError::InvalidFd { fd: n.to_owned() }),
            },
            other => {
                Err(HostError::UnsupportedProto { addr: addr.to_owned(), proto: other.to_owned() })
            }
        }
    }
}

/// Parses the `host:port` part of a tcp address; `original` is what the user wrote, for errors.
fn parse_tcp(original: &str, hostport: &str) -> Result<Host, HostError> {
    // Like Go's url.Parse: the authority ends at the first '/', anything after is a path.
    if hostport.contains('/') {
        return Err(HostError::PathElement { addr: original.to_owned() });
    }
    let (host, port) = if let Some(bracketed) = hostport.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(HostError::UnclosedBracket { addr: original.to_owned() });
        };
        let port = match after {
            "" => "",
            _ => match after.strip_prefix(':') {
                Some(port) => port,
                None => {
                    return Err(HostError::InvalidPort {
                        addr: original.to_owned(),
                        port: after.to_owned(),
                    });
                }
            },
        };
        (host, port)
    } else {
        hostport.rsplit_once(':').unwrap_or((hostport, ""))
    };
    if let Some(bracket) = host.chars().find(|c| matches!(c, '[' | ']')) {
        return Err(HostError::UnexpectedBracket { addr: original.to_owned(), bracket });
    }
    // Out-of-range ports pass here and fail at bind time, as in dockerd.
    if !port.is_empty()
        && (!port.bytes().all(|b| b.is_ascii_digit()) || port.bytes().all(|b| b == b'0'))
    {
        return Err(HostError::InvalidPort { addr: original.to_owned(), port: port.to_owned() });
    }
    let host = if host.is_empty() { DEFAULT_HTTP_HOST } else { host };
    let port = if port.is_empty() { DEFAULT_HTTP_PORT } else { port };
    Ok(Host::Tcp(join_host_port(host, port)))
}

/// `net.JoinHostPort`: brackets around hosts that contain a colon (IPv6 literals).
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
            Host::Tcp(addr) => write!(f, "tcp://{addr}"),
            Host::Fd(FdSpec::All) => f.write_str("fd://"),
            Host::Fd(FdSpec::One(n)) => write!(f, "fd://{n}"),
        }
    }
}

/// Parses every `-H` value the way dockerd does: an empty list means the default
/// (`tcp://localhost:2376` with TLS, else `unix:///var/run/berth.sock`); each value is parsed
/// with [`Host::parse`], then the list is de-duplicated and sorted by canonical string, which is
/// the order listeners are created in.
pub fn parse_hosts(hosts: &[String], tls: bool) -> Result<Vec<Host>, HostError> {
    let mut parsed = if hosts.is_empty() {
        vec![default_host(tls)]
    } else {
        hosts
            .iter()
            .map(|h| if h.trim().is_empty() { Ok(default_host(tls)) } else { Host::parse(h) })
            .collect::<Result<Vec<_>, _>>()?
    };
    parsed.sort_by_cached_key(Host::to_string);
    parsed.dedup();
    Ok(parsed)
}

fn default_host(tls: bool) -> Host {
    if tls {
        Host::Tcp(join_host_port(DEFAULT_HTTP_HOST, DEFAULT_TLS_HTTP_PORT))
    } else {
        Host::Unix(PathBuf::from(DEFAULT_UNIX_SOCKET))
    }
}

#[cfg(test)]
mod tests;
