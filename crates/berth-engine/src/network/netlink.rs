//! The rtnetlink requests Berth needs: read a link's MAC address, and (for tests) delete a
//! link.
//!
//! Both act in the network namespace of the calling thread (a netlink socket belongs to the
//! namespace it was created in), so run them through [`super::Netns::run_in`] to reach a
//! container's namespace.

use std::os::fd::{AsRawFd, OwnedFd};

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType, bind, recv, sendto,
    socket,
};

const NLMSG_HDRLEN: usize = 16;
const IFINFOMSG_LEN: usize = 16;
const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_GETLINK: u16 = 18;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
/// Linux's `IFNAMSIZ` minus the terminating NUL.
pub(crate) const MAX_IFNAME_LEN: usize = 15;

/// Why a netlink request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum NetlinkError {
    /// No link has that name.
    #[error("no such link: {0}")]
    NoSuchLink(String),
    /// The name cannot be an interface name.
    #[error("invalid link name: {0:?}")]
    InvalidName(String),
    /// The kernel refused the request or the socket failed.
    #[error("netlink request for {name} failed")]
    Os {
        /// The link the request was about.
        name: String,
        /// The errno.
        #[source]
        source: Errno,
    },
    /// The kernel answered something this module does not understand.
    #[error("malformed netlink answer for {0}")]
    Malformed(String),
}

/// The hardware address of link `name`, as `aa:bb:cc:dd:ee:ff`.
pub(crate) fn link_mac(name: &str) -> Result<String, NetlinkError> {
    let answer = request(RTM_GETLINK, NLM_F_REQUEST, name)?;
    let Some(payload) = answer else {
        return Err(NetlinkError::Malformed(name.to_owned()));
    };
    let attrs = payload.get(IFINFOMSG_LEN..).ok_or_else(|| NetlinkError::Malformed(name.into()))?;
    let address = attributes(attrs)
        .find(|(kind, _)| *kind == IFLA_ADDRESS)
        .map(|(_, value)| value)
        .ok_or_else(|| NetlinkError::Malformed(name.to_owned()))?;
    Ok(address.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"))
}

/// Deletes link `name` (a veth takes its peer with it; a bridge releases its ports); removing a
/// network deletes its bridge with it.
pub(crate) fn delete_link(name: &str) -> Result<(), NetlinkError> {
    request(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK, name).map(drop)
}

/// Sends one link request naming `name`; returns the `RTM_NEWLINK` payload if one came back,
/// `None` for a plain acknowledgement.
fn request(kind: u16, flags: u16, name: &str) -> Result<Option<Vec<u8>>, NetlinkError> {
    if name.is_empty() || name.len() > MAX_IFNAME_LEN || name.contains(['/', '\0']) {
        return Err(NetlinkError::InvalidName(name.to_owned()));
    }
    let os = |source| NetlinkError::Os { name: name.to_owned(), source };
    let fd: OwnedFd = socket(
        AddressFamily::Netlink,
        SockType::Raw,
        SockFlag::SOCK_CLOEXEC,
        SockProtocol::NetlinkRoute,
    )
    .map_err(os)?;
    let kernel = NetlinkAddr::new(0, 0);
    bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0)).map_err(os)?;
    let message = encode(kind, flags, name);
    sendto(fd.as_raw_fd(), &message, &kernel, MsgFlags::empty()).map_err(os)?;

    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = recv(fd.as_raw_fd(), &mut buf, MsgFlags::empty()).map_err(os)?;
        let mut rest = buf.get(..n).ok_or_else(|| NetlinkError::Malformed(name.into()))?;
        while rest.len() >= NLMSG_HDRLEN {
            let len = u32_at(rest, 0) as usize;
            let kind = u16_at(rest, 4);
            if len < NLMSG_HDRLEN || len > rest.len() {
                return Err(NetlinkError::Malformed(name.to_owned()));
            }
            let payload = &rest[NLMSG_HDRLEN..len];
            match kind {
                NLMSG_ERROR => {
                    let code = payload
                        .get(..4)
                        .map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
                        .ok_or_else(|| NetlinkError::Malformed(name.into()))?;
                    return match code {
                        0 => Ok(None),
                        code if -code == Errno::ENODEV as i32 => {
                            Err(NetlinkError::NoSuchLink(name.to_owned()))
                        }
                        code => Err(os(Errno::from_raw(-code))),
                    };
                }
                RTM_NEWLINK => return Ok(Some(payload.to_vec())),
                NLMSG_DONE => return Ok(None),
                _ => {}
            }
            rest = &rest[align(len).min(rest.len())..];
        }
    }
}

/// One netlink message: header, an all-zero `ifinfomsg` and an `IFLA_IFNAME` attribute.
fn encode(kind: u16, flags: u16, name: &str) -> Vec<u8> {
    let attr_len = 4 + name.len() + 1;
    let total = NLMSG_HDRLEN + IFINFOMSG_LEN + align(attr_len);
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&u32::try_from(total).unwrap_or(u32::MAX).to_ne_bytes());
    msg.extend_from_slice(&kind.to_ne_bytes());
    msg.extend_from_slice(&flags.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // sequence number
    msg.extend_from_slice(&0u32.to_ne_bytes()); // port id: the kernel assigns ours
    msg.extend_from_slice(&[0u8; IFINFOMSG_LEN]);
    msg.extend_from_slice(&u16::try_from(attr_len).unwrap_or(u16::MAX).to_ne_bytes());
    msg.extend_from_slice(&IFLA_IFNAME.to_ne_bytes());
    msg.extend_from_slice(name.as_bytes());
    msg.resize(total, 0);
    msg
}

/// The `(type, value)` pairs of a run of route attributes.
fn attributes(mut data: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        if data.len() < 4 {
            return None;
        }
        let len = usize::from(u16_at(data, 0));
        let kind = u16_at(data, 2) & 0x3fff; // drop NLA_F_NESTED and NLA_F_NET_BYTEORDER
        let value = data.get(4..len)?;
        data = &data[align(len).min(data.len())..];
        Some((kind, value))
    })
}

fn align(len: usize) -> usize {
    (len + 3) & !3
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_request_naming_the_link() {
        let msg = encode(RTM_GETLINK, NLM_F_REQUEST, "eth0");
        assert_eq!(msg.len(), 16 + 16 + 12);
        assert_eq!(u32_at(&msg, 0) as usize, msg.len());
        assert_eq!(u16_at(&msg, 4), RTM_GETLINK);
        let attrs: Vec<_> = attributes(&msg[32..]).collect();
        assert_eq!(attrs, vec![(IFLA_IFNAME, &b"eth0\0"[..])]);
    }

    #[test]
    fn reads_the_loopback_mac_and_reports_missing_links() {
        assert_eq!(link_mac("lo").expect("lo exists"), "00:00:00:00:00:00");
        let err = link_mac("berthnope0").expect_err("no such link");
        assert!(matches!(err, NetlinkError::NoSuchLink(_)), "{err:?}");
        let err = delete_link("berthnope0").expect_err("no such link");
        assert!(matches!(err, NetlinkError::NoSuchLink(_)), "{err:?}");
        let err = link_mac("a-name-longer-than-15").expect_err("too long");
        assert!(matches!(err, NetlinkError::InvalidName(_)), "{err:?}");
    }
}
