//! Asking the host's resolvers what the container names cannot answer.
//!
//! As dockerd's resolver: the client's query goes out as it came, from the host namespace (so a
//! resolver on the host's loopback, like systemd-resolved's 127.0.0.53, works), to each upstream
//! in turn until one answers with something other than SERVFAIL or REFUSED, each try bounded by
//! a timeout. Every exchange uses a fresh socket, so the client's query ID can be kept. A UDP
//! answer with the truncation bit set is asked again over TCP, and kept as it is if that fails.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::answer::{self, Pending};

/// How long one exchange with one upstream may take, as dockerd's `extIOTimeout`.
pub(super) const EXCHANGE_TIMEOUT: Duration = Duration::from_secs(4);

/// How many upstreams are tried, as dockerd (and glibc's `MAXNS`).
pub(super) const MAX_UPSTREAMS: usize = 3;

/// Forwards `pending` to `upstreams` over UDP, or over TCP when `tcp` is set (the client asked
/// over TCP), and returns the bytes to send back: the first usable answer, fitted to the client's
/// limit, or SERVFAIL when no upstream gave one (or there are none).
pub(super) async fn forward(
    upstreams: &[SocketAddr],
    pending: &Pending,
    tcp: bool,
) -> Option<Vec<u8>> {
    for &upstream in upstreams.iter().take(MAX_UPSTREAMS) {
        let Some((bytes, message)) = ask(upstream, pending, tcp).await else { continue };
        if matches!(message.metadata.response_code, ResponseCode::ServFail | ResponseCode::Refused)
        {
            tracing::debug!(%upstream, rcode = %message.metadata.response_code, "upstream DNS server failed, trying the next");
            continue;
        }
        if bytes.len() <= pending.limit {
            return Some(bytes);
        }
        return answer::encode(&message, pending.limit);
    }
    if upstreams.is_empty() {
        tracing::debug!("no upstream DNS servers to forward to");
    }
    answer::encode(
        &answer::error(&pending.query.metadata, Some(&pending.query), ResponseCode::ServFail),
        pending.limit,
    )
}

/// One upstream's answer, raw and decoded; `None` if it gave none that matches the query.
async fn ask(upstream: SocketAddr, pending: &Pending, tcp: bool) -> Option<(Vec<u8>, Message)> {
    if tcp {
        return exchange(upstream, pending, true).await;
    }
    let (bytes, message) = exchange(upstream, pending, false).await?;
    if !message.metadata.truncation {
        return Some((bytes, message));
    }
    // The client could take more than this upstream sent over UDP; if TCP fails too, the
    // truncated answer still tells the client to retry over TCP itself.
    match exchange(upstream, pending, true).await {
        Some(full) => Some(full),
        None => Some((bytes, message)),
    }
}

async fn exchange(
    upstream: SocketAddr,
    pending: &Pending,
    tcp: bool,
) -> Option<(Vec<u8>, Message)> {
    let proto = if tcp { "tcp" } else { "udp" };
    let id = pending.query.metadata.id;
    let result = tokio::time::timeout(EXCHANGE_TIMEOUT, async {
        if tcp {
            exchange_tcp(upstream, &pending.packet).await
        } else {
            exchange_udp(upstream, &pending.packet, id).await
        }
    })
    .await;
    let bytes = match result {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            tracing::debug!(%upstream, proto, error = %e, "cannot reach upstream DNS server");
            return None;
        }
        Err(_) => {
            tracing::debug!(%upstream, proto, "upstream DNS server timed out");
            return None;
        }
    };
    match Message::from_vec(&bytes) {
        Ok(message)
            if message.metadata.id == id
                && message.metadata.message_type == MessageType::Response
                && message.queries == pending.query.queries =>
        {
            Some((bytes, message))
        }
        Ok(_) => {
            tracing::debug!(%upstream, proto, "upstream DNS answer does not match the query");
            None
        }
        Err(e) => {
            tracing::debug!(%upstream, proto, error = %e, "malformed upstream DNS answer");
            None
        }
    }
}

async fn exchange_udp(upstream: SocketAddr, packet: &[u8], id: u16) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = if upstream.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(upstream).await?;
    socket.send(packet).await?;
    // Oversized answers are taken whole (as dockerd does for servers that ignore the EDNS size);
    // they are fitted to the client's limit afterwards.
    let mut buf = vec![0; answer::TCP_LIMIT];
    loop {
        let len = socket.recv(&mut buf).await?;
        // A connected socket only hears from the upstream; still skip stray datagrams (a late
        // answer to nothing, or a spoof) rather than giving up on the real one.
        if len >= 2 && buf[..2] == id.to_be_bytes() {
            buf.truncate(len);
            return Ok(buf);
        }
    }
}

async fn exchange_tcp(upstream: SocketAddr, packet: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(upstream).await?;
    let len = u16::try_from(packet.len()).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    let mut framed = Vec::with_capacity(packet.len() + 2);
    framed.extend_from_slice(&len.to_be_bytes());
    framed.extend_from_slice(packet);
    stream.write_all(&framed).await?;
    let len = stream.read_u16().await?;
    let mut buf = vec![0; usize::from(len)];
    stream.read_exact(&mut buf).await?;
    Ok(buf)
}
