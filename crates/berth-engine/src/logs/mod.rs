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

/// The `stream` value dockerd writes for `stream`, for the two streams a container logs.
fn stream_name(stream: StdStream) -> Option<&'static str> {
    match stream {
        StdStream::Stdout => Some("stdout"),
        StdStream::Stderr => Some("stderr"),
        StdStream::Stdin | StdStream::SystemErr => None,
    }
}
