//! Docker's `json-file` log driver: the container's output as one JSON object per line in
//! `<data-root>/containers/<id>/<id>-json.log`, rotated by size, and the reader behind
//! `GET /containers/{id}/logs` (tail, since/until, follow across rotations).
//!
//! The on-disk format is byte-for-byte dockerd's (`daemon/logger/jsonfilelog`), so a log written
//! by Berth reads like one written by dockerd and the other way round:
//!
//! ```text
//! {"log":"hello\n","stream":"stdout","time":"2024-01-02T03:04:05.123456789Z"}
//! ```
//!
//! The container lifecycle feeds raw output through a [`LineBuffer`] per stream into one
//! [`LogWriter`]; `docker logs` calls [`read`].

mod jsonlog;
mod line;
mod options;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

pub(crate) use self::line::LineBuffer;
pub(crate) use self::options::{LogContext, LogOptions};
pub(crate) use self::reader::{ReadOptions, read};
pub(crate) use self::writer::LogWriter;

use berth_backend::StdStream;
use time::OffsetDateTime;

/// `time` as dockerd's `rfc3339NanoFixed`: UTC, exactly nine fraction digits and a `Z`
/// (`2024-01-02T03:04:05.000000006Z`). This is how `docker logs --timestamps` and the events
/// API print times.
pub(crate) fn format_timestamp(time: OffsetDateTime) -> String {
    crate::timefmt::fixed(time)
}

/// `time` as Go's `time.RFC3339Nano` in UTC, which is what dockerd stores in the `time` field of
/// a log entry: trailing zeros of the fraction are dropped, and so is the fraction when it is
/// zero (`2024-01-02T03:04:05.1Z`, `2024-01-02T03:04:05Z`).
fn format_entry_time(time: OffsetDateTime) -> String {
    crate::timefmt::go(time)
}

/// The `stream` value dockerd writes for `stream`, for the two streams a container logs.
fn stream_name(stream: StdStream) -> Option<&'static str> {
    match stream {
        StdStream::Stdout => Some("stdout"),
        StdStream::Stderr => Some("stderr"),
        StdStream::Stdin | StdStream::SystemErr => None,
    }
}
