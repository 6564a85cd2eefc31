//! What to do with one packet that reached 127.0.0.11: answer it from the container names, hand
//! it to the upstream resolvers, or ignore it. Pure and synchronous, so the serve loops can call it
//! inline for every datagram.

use std::net::{IpAddr, Ipv4Addr};

use hickory_proto::op::{Header, Message, MessageType, Metadata, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use hickory_proto::serialize::binary::BinDecodable;

use super::Names;

/// The TTL of every record answered from container names, as dockerd's resolver (`respTTL`).
pub(super) const TTL: u32 = 600;

/// The largest answer over TCP, where the two-byte length prefix is the only limit.
pub(super) const TCP_LIMIT: usize = u16::MAX as usize;

/// The outcome of [`handle`].
#[derive(Debug)]
pub(super) enum Verdict {
    /// No answer at all: too short to carry a header, or itself a response (answering those
    /// would let two resolvers bounce packets at each other forever).
    Drop,
    /// Send these bytes back to the client.
    Reply(Vec<u8>),
    /// Not one of ours: ask the upstream resolvers.
    Forward(Pending),
}

/// A well-formed query the container names cannot answer.
#[derive(Debug)]
pub(super) struct Pending {
    /// The query, decoded, to check the upstream's answer against.
    pub(super) query: Message,
    /// The query exactly as the client sent it, forwarded byte for byte.
    pub(super) packet: Vec<u8>,
    /// The largest answer the client accepts on the transport it asked over.
    pub(super) limit: usize,
}

/// Decides what to do with `packet`, which arrived over UDP when `udp` is set (the answer must
/// then fit the client's EDNS buffer, or 512 bytes without EDNS) and over TCP otherwise.
///
/// `from` is the container asking; `rotation` picks which of several addresses comes first, so
/// successive lookups of a shared alias spread over its containers.
pub(super) fn handle(
    names: &dyn Names,
    from: &str,
    rotation: usize,
    packet: &[u8],
    udp: bool,
) -> Verdict {
    let Ok(header) = Header::from_bytes(packet) else {
        return Verdict::Drop;
    };
    if header.metadata.message_type == MessageType::Response {
        return Verdict::Drop;
    }
    // As miekg/dns, which dockerd's resolver is built on: a header that parses gets an error
    // answer when the rest does not, so the client fails fast instead of timing out.
    let query = match Message::from_vec(packet) {
        Ok(query) => query,
        Err(e) => {
            tracing::debug!(error = %e, "malformed DNS query");
            return reply(&error(&header.metadata, None, ResponseCode::FormErr), TCP_LIMIT);
        }
    };
    if query.metadata.op_code != OpCode::Query {
        return reply(&error(&query.metadata, None, ResponseCode::NotImp), TCP_LIMIT);
    }
    if query.queries.len() != 1 {
        return reply(&error(&query.metadata, None, ResponseCode::FormErr), TCP_LIMIT);
    }
    let limit = if udp { usize::from(query.max_payload()) } else { TCP_LIMIT };
    match answer(names, from, rotation, &query) {
        Some(response) => reply(&response, limit),
        None => Verdict::Forward(Pending { query, packet: packet.to_vec(), limit }),
    }
}

/// An error answer to `request`, echoing its question when there is one.
pub(super) fn error(request: &Metadata, query: Option<&Message>, code: ResponseCode) -> Message {
    let mut response = Message::response(request.id, request.op_code);
    response.metadata = Metadata::response_from_request(request);
    response.metadata.response_code = code;
    if let Some(query) = query {
        response.add_queries(query.queries.iter().cloned());
    }
    response
}

/// `message` encoded to fit in `limit` bytes: when it does not, the same header with the
/// truncation bit set and only the question, which makes the client ask again over TCP.
pub(super) fn encode(message: &Message, limit: usize) -> Option<Vec<u8>> {
    let encoded = message.to_vec().and_then(|bytes| {
        if bytes.len() <= limit { Ok(bytes) } else { message.truncate().to_vec() }
    });
    match encoded {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            tracing::warn!(error = %e, "cannot encode a DNS answer");
            None
        }
    }
}

fn reply(message: &Message, limit: usize) -> Verdict {
    encode(message, limit).map_or(Verdict::Drop, Verdict::Reply)
}

/// The answer from container names, or `None` when the question is not about them.
///
/// As dockerd: A for a known name lists its addresses; AAAA and MX for a known name are an empty
/// success (the name exists, it just has no such record; an MX miss makes a mailer fall back to
/// the address, RFC 5321 section 5.1); PTR for a known address gives its name. Everything else,
/// including other classes and types, belongs upstream.
fn answer(names: &dyn Names, from: &str, rotation: usize, query: &Message) -> Option<Message> {
    let question = query.queries.first()?;
    if question.query_class() != DNSClass::IN {
        return None;
    }
    let records = match question.query_type() {
        RecordType::A => {
            let mut ips = names.lookup(from, &plain_name(question.name())?);
            if ips.is_empty() {
                return None;
            }
            let len = ips.len();
            ips.rotate_left(rotation % len);
            ips.into_iter()
                .map(|ip| Record::from_rdata(question.name().clone(), TTL, RData::A(A(ip))))
                .collect()
        }
        RecordType::AAAA | RecordType::MX => {
            if names.lookup(from, &plain_name(question.name())?).is_empty() {
                return None;
            }
            Vec::new()
        }
        RecordType::PTR => {
            let ip = reverse_ipv4(question.name())?;
            let host = names.reverse(from, ip)?;
            let target = match Name::from_ascii(format!("{}.", host.trim_end_matches('.'))) {
                Ok(target) => target,
                Err(e) => {
                    tracing::warn!(%ip, host, error = %e, "the name for a container address is not a DNS name");
                    return None;
                }
            };
            vec![Record::from_rdata(question.name().clone(), TTL, RData::PTR(PTR(target)))]
        }
        _ => return None,
    };
    let mut response = Message::response(query.metadata.id, query.metadata.op_code);
    response.metadata = Metadata::response_from_request(&query.metadata);
    // As dockerd, which offers recursion through its upstreams.
    response.metadata.recursion_available = true;
    response.add_queries(query.queries.iter().cloned());
    response.add_answers(records);
    Some(response)
}

/// `name` as [`Names`] expects it: lowercase, without the trailing dot; `None` for the root.
fn plain_name(name: &Name) -> Option<String> {
    let ascii = name.to_lowercase().to_ascii();
    let plain = ascii.strip_suffix('.').unwrap_or(&ascii);
    (!plain.is_empty()).then(|| plain.to_owned())
}

/// The address in a full `d.c.b.a.in-addr.arpa.` name; `None` for anything else, including
/// partial (network) names and ip6.arpa, which we have no addresses for.
fn reverse_ipv4(name: &Name) -> Option<Ipv4Addr> {
    let net = name.parse_arpa_name().ok()?;
    match net.addr() {
        IpAddr::V4(ip) if net.prefix_len() == 32 => Some(ip),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use hickory_proto::op::{Edns, Query};

    use super::*;

    /// A name table that ignores who asks.
    struct Table(HashMap<&'static str, Vec<Ipv4Addr>>);

    impl Names for Table {
        fn lookup(&self, _from: &str, name: &str) -> Vec<Ipv4Addr> {
            self.0.get(name).cloned().unwrap_or_default()
        }
        fn reverse(&self, _from: &str, ip: Ipv4Addr) -> Option<String> {
            self.0
                .iter()
                .find(|(name, ips)| ips.contains(&ip) && name.contains('.'))
                .map(|(name, _)| (*name).to_owned())
        }
    }

    fn table() -> Table {
        let ip = |last| Ipv4Addr::new(172, 18, 0, last);
        Table(HashMap::from([
            ("web", vec![ip(2)]),
            ("web.mynet", vec![ip(2)]),
            ("pool", vec![ip(3), ip(4), ip(5)]),
        ]))
    }

    fn query(name: &str, kind: RecordType) -> Message {
        let mut message = Message::query();
        message.metadata.recursion_desired = true;
        message.add_query(Query::query(Name::from_ascii(name).expect("name"), kind));
        message
    }

    fn run(message: &Message, rotation: usize) -> Verdict {
        handle(&table(), "c1", rotation, &message.to_vec().expect("encode"), true)
    }

    fn replied(verdict: Verdict) -> Message {
        match verdict {
            Verdict::Reply(bytes) => Message::from_vec(&bytes).expect("decode answer"),
            other => panic!("expected an answer, got {other:?}"),
        }
    }

    fn addresses(message: &Message) -> Vec<Ipv4Addr> {
        message
            .answers
            .iter()
            .map(|r| match r.data {
                RData::A(A(ip)) => ip,
                ref other => panic!("not an A record: {other:?}"),
            })
            .collect()
    }

    #[test]
    fn a_for_a_known_name_whatever_its_case_echoes_the_question_with_ttl_600() {
        let q = query("WeB.", RecordType::A);
        let answer = replied(run(&q, 0));
        assert_eq!(answer.metadata.id, q.metadata.id);
        assert_eq!(answer.metadata.message_type, MessageType::Response);
        assert_eq!(answer.metadata.response_code, ResponseCode::NoError);
        assert!(answer.metadata.recursion_desired && answer.metadata.recursion_available);
        assert_eq!(answer.queries, q.queries);
        assert_eq!(addresses(&answer), [Ipv4Addr::new(172, 18, 0, 2)]);
        assert_eq!(answer.answers[0].ttl, TTL);
        assert_eq!(answer.answers[0].name.to_ascii(), "WeB.", "the owner name is the question's");
    }

    #[test]
    fn several_addresses_rotate_between_lookups() {
        let q = query("pool.", RecordType::A);
        let first = addresses(&replied(run(&q, 0)));
        let second = addresses(&replied(run(&q, 1)));
        assert_eq!(first.len(), 3);
        assert_eq!(second, [first[1], first[2], first[0]]);
    }

    #[test]
    fn aaaa_and_mx_for_a_known_name_are_empty_successes() {
        for kind in [RecordType::AAAA, RecordType::MX] {
            let answer = replied(run(&query("web.mynet.", kind), 0));
            assert_eq!(answer.metadata.response_code, ResponseCode::NoError, "{kind}");
            assert!(answer.answers.is_empty(), "{kind}");
        }
    }

    #[test]
    fn ptr_for_a_known_address_names_it() {
        let answer = replied(run(&query("2.0.18.172.in-addr.arpa.", RecordType::PTR), 0));
        assert_eq!(answer.answers.len(), 1);
        assert_eq!(
            answer.answers[0].data,
            RData::PTR(PTR(Name::from_ascii("web.mynet.").expect("name")))
        );
        assert_eq!(answer.answers[0].ttl, TTL);
    }

    #[test]
    fn anything_else_is_forwarded_as_sent() {
        for (name, kind) in [
            ("unknown.", RecordType::A),
            ("unknown.", RecordType::AAAA),
            ("web.", RecordType::TXT),
            ("9.0.18.172.in-addr.arpa.", RecordType::PTR),
            ("18.172.in-addr.arpa.", RecordType::PTR),
            (".", RecordType::A),
        ] {
            let q = query(name, kind);
            match run(&q, 0) {
                Verdict::Forward(pending) => {
                    assert_eq!(pending.packet, q.to_vec().expect("encode"), "{name} {kind}");
                    assert_eq!(pending.limit, 512, "{name} {kind}");
                }
                other => panic!("{name} {kind}: expected a forward, got {other:?}"),
            }
        }
        let mut chaos = query("web.", RecordType::A);
        chaos.queries[0].set_query_class(DNSClass::CH);
        assert!(matches!(run(&chaos, 0), Verdict::Forward(_)));
    }

    #[test]
    fn the_udp_limit_follows_edns_and_tcp_has_none() {
        let mut q = query("unknown.", RecordType::A);
        let mut edns = Edns::new();
        edns.set_max_payload(1232);
        q.set_edns(edns);
        let packet = q.to_vec().expect("encode");
        let Verdict::Forward(pending) = handle(&table(), "c1", 0, &packet, true) else {
            panic!("expected a forward");
        };
        assert_eq!(pending.limit, 1232);
        let Verdict::Forward(pending) = handle(&table(), "c1", 0, &packet, false) else {
            panic!("expected a forward");
        };
        assert_eq!(pending.limit, TCP_LIMIT);
    }

    #[test]
    fn an_answer_too_big_for_udp_is_truncated() {
        let many: Vec<Ipv4Addr> = (0..100).map(|i| Ipv4Addr::new(10, 0, 0, i)).collect();
        let names = Table(HashMap::from([("many", many)]));
        let packet = query("many.", RecordType::A).to_vec().expect("encode");
        let Verdict::Reply(bytes) = handle(&names, "c1", 0, &packet, true) else {
            panic!("expected an answer");
        };
        assert!(bytes.len() <= 512);
        let answer = Message::from_vec(&bytes).expect("decode");
        assert!(answer.metadata.truncation);
        assert!(answer.answers.is_empty());
        let Verdict::Reply(bytes) = handle(&names, "c1", 0, &packet, false) else {
            panic!("expected an answer");
        };
        assert_eq!(addresses(&Message::from_vec(&bytes).expect("decode")).len(), 100);
    }

    #[test]
    fn malformed_packets_are_dropped_or_refused_without_panicking() {
        assert!(matches!(handle(&table(), "c1", 0, b"", true), Verdict::Drop));
        assert!(matches!(handle(&table(), "c1", 0, b"\x12\x34\x01", true), Verdict::Drop));

        // A header claiming one question, then garbage.
        let garbage = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff\xff";
        let answer = replied(handle(&table(), "c1", 0, garbage, true));
        assert_eq!(answer.metadata.id, 0x1234);
        assert_eq!(answer.metadata.response_code, ResponseCode::FormErr);

        let mut none = query("web.", RecordType::A);
        none.queries.clear();
        assert_eq!(replied(run(&none, 0)).metadata.response_code, ResponseCode::FormErr);

        let mut update = query("web.", RecordType::A);
        update.metadata.op_code = OpCode::Update;
        assert_eq!(replied(run(&update, 0)).metadata.response_code, ResponseCode::NotImp);

        let mut response = query("web.", RecordType::A);
        response.metadata.message_type = MessageType::Response;
        assert!(matches!(run(&response, 0), Verdict::Drop));
    }
}
