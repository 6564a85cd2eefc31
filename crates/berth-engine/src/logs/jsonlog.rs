//! One log entry as a JSON line, encoded exactly as dockerd's `jsonlog.JSONLogs.MarshalJSONBuf`
//! does and decoded as its `jsonlog.JSONLog` is.

use std::collections::BTreeMap;

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Appends one entry and its newline to `out`: `{"log":…,"stream":…,"attrs":…,"time":…}`.
///
/// Like dockerd, an empty `log` and an empty `stream` are left out, `attrs` is written as given
/// (already encoded, see [`encode_attrs`]) and `time` is RFC 3339 with the fraction's trailing
/// zeros dropped.
pub(super) fn encode_entry(
    out: &mut Vec<u8>,
    log: &[u8],
    stream: &str,
    attrs: Option<&str>,
    time: OffsetDateTime,
) {
    let mut first = true;
    let mut field = |out: &mut Vec<u8>, name: &str| {
        if !first {
            out.push(b',');
        }
        first = false;
        out.push(b'"');
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
    };
    out.push(b'{');
    if !log.is_empty() {
        field(out, "log");
        encode_string(out, log);
    }
    if !stream.is_empty() {
        field(out, "stream");
        encode_string(out, stream.as_bytes());
    }
    if let Some(attrs) = attrs.filter(|a| !a.is_empty()) {
        field(out, "attrs");
        out.extend_from_slice(attrs.as_bytes());
    }
    field(out, "time");
    out.push(b'"');
    out.extend_from_slice(crate::timefmt::go(time).as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// `attrs` as the JSON object dockerd writes (Go's `json.Marshal` of a `map[string]string`: keys
/// sorted, strings escaped as in [`encode_string`]), or `None` when there are none.
pub(super) fn encode_attrs(attrs: &BTreeMap<String, String>) -> Option<String> {
    if attrs.is_empty() {
        return None;
    }
    let mut out = vec![b'{'];
    for (i, (key, value)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        encode_string(&mut out, key.as_bytes());
        out.push(b':');
        encode_string(&mut out, value.as_bytes());
    }
    out.push(b'}');
    // Every byte `encode_string` writes is ASCII or copied from valid UTF-8.
    String::from_utf8(out).ok()
}

/// Appends `s` as a JSON string the way Go's `encoding/json` (and dockerd's hand-written copy of
/// it) does: `<`, `>` and `&` are escaped for HTML, control characters other than `\n` and `\r`
/// become `\u00XX`, each byte of invalid UTF-8 becomes `\ufffd`, and U+2028 and U+2029 are
/// escaped for JavaScript.
pub(super) fn encode_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b < 0x80 {
            if b >= 0x20 && !matches!(b, b'\\' | b'"' | b'<' | b'>' | b'&') {
                i += 1;
                continue;
            }
            out.extend_from_slice(&s[start..i]);
            match b {
                b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.extend_from_slice(&[
                    b'\\',
                    b'u',
                    b'0',
                    b'0',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xf)],
                ]),
            }
            i += 1;
            start = i;
            continue;
        }
        match decode_rune(&s[i..]) {
            None => {
                out.extend_from_slice(&s[start..i]);
                out.extend_from_slice(b"\\ufffd");
                i += 1;
                start = i;
            }
            Some(('\u{2028}', len)) | Some(('\u{2029}', len)) => {
                out.extend_from_slice(&s[start..i]);
                let last = if s[i + len - 1] == 0xa8 { b'8' } else { b'9' };
                out.extend_from_slice(&[b'\\', b'u', b'2', b'0', b'2', last]);
                i += len;
                start = i;
            }
            Some((_, len)) => i += len,
        }
    }
    out.extend_from_slice(&s[start..]);
    out.push(b'"');
}

/// The character UTF-8 encodes at the start of `s` and its length, or `None` when the leading
/// bytes are not valid UTF-8 (Go's `utf8.DecodeRune` returning `RuneError, 1`).
fn decode_rune(s: &[u8]) -> Option<(char, usize)> {
    let len = match s.first()? {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return None,
    };
    let encoded = std::str::from_utf8(s.get(..len)?).ok()?;
    encoded.chars().next().map(|c| (c, len))
}

/// A log entry as stored, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Entry {
    /// `log`: the bytes as the container wrote them (with the newline, when it wrote one).
    pub(super) log: String,
    /// `stream`: `stdout` or `stderr`.
    pub(super) stream: String,
    /// `time`: when the line was read from the container. Go's zero time when absent.
    pub(super) time: OffsetDateTime,
    /// `attrs`, sorted by key.
    pub(super) attrs: BTreeMap<String, String>,
}

/// The stored shape of [`Entry`]; every field is optional, as for Go's decoder.
#[derive(Deserialize)]
struct RawEntry {
    /// `log`.
    #[serde(default)]
    log: String,
    /// `stream`.
    #[serde(default)]
    stream: String,
    /// `time`, RFC 3339.
    #[serde(default)]
    time: Option<String>,
    /// `attrs`.
    #[serde(default)]
    attrs: Option<BTreeMap<String, String>>,
}

/// Why a stored line is not a log entry.
#[derive(Debug, thiserror::Error)]
pub(super) enum DecodeError {
    /// Not a JSON object of the expected shape.
    #[error("invalid log entry")]
    Json(#[source] serde_json::Error),
    /// `time` is not an RFC 3339 time.
    #[error("invalid log entry time {0:?}")]
    Time(String, #[source] time::error::Parse),
}

/// Go's zero `time.Time` (`0001-01-01T00:00:00Z`): the time of an entry stored without one.
fn zero_time() -> OffsetDateTime {
    time::macros::datetime!(0001-01-01 0:00 UTC)
}

/// Decodes one stored line (with or without its newline).
pub(super) fn decode_entry(line: &[u8]) -> Result<Entry, DecodeError> {
    let raw: RawEntry = serde_json::from_slice(line).map_err(DecodeError::Json)?;
    let time = match raw.time {
        None => zero_time(),
        Some(t) => OffsetDateTime::parse(&t, &Rfc3339).map_err(|e| DecodeError::Time(t, e))?,
    };
    Ok(Entry { log: raw.log, stream: raw.stream, time, attrs: raw.attrs.unwrap_or_default() })
}
