//! Splitting a stream's raw output into log lines as dockerd's log copier
//! (`daemon/logger/copier.go`) does.

use bytes::{Bytes, BytesMut};
use time::OffsetDateTime;

/// The longest piece of a line logged at once (dockerd's copier buffer, 16 KiB): a line longer
/// than this is logged in pieces of this size, each without a newline.
pub(crate) const MAX_LINE: usize = 16 * 1024;

/// One message for the log: a whole line with its `\n`, or a piece of a longer one without.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    /// The bytes to log, as [`super::LogWriter::write`] takes them.
    pub(crate) bytes: Bytes,
    /// When the line was read. All pieces of a long line share the time of the first, as in
    /// dockerd.
    pub(crate) time: OffsetDateTime,
}

/// Turns the raw chunks of one stream (stdout or stderr; keep one buffer per stream) into
/// [`LogLine`]s: every complete line, and a 16 KiB piece whenever that much is buffered without
/// a newline.
#[derive(Debug, Default)]
pub(crate) struct LineBuffer {
    /// Bytes read and not logged yet: never a full line, and shorter than [`MAX_LINE`].
    pending: BytesMut,
    /// The time of the first piece of the long line being logged in pieces, if any.
    partial_since: Option<OffsetDateTime>,
}

impl LineBuffer {
    /// An empty buffer.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds `chunk`, read at `now`, and returns the messages it completes, in order.
    pub(crate) fn push(&mut self, chunk: &[u8], now: OffsetDateTime) -> Vec<LogLine> {
        self.pending.extend_from_slice(chunk);
        let mut lines = Vec::new();
        loop {
            // dockerd's buffer holds 16 KiB: a newline further on is beyond this message.
            let window = &self.pending[..self.pending.len().min(MAX_LINE)];
            if let Some(end) = window.iter().position(|&b| b == b'\n') {
                let bytes = self.pending.split_to(end + 1).freeze();
                let time = self.partial_since.take().unwrap_or(now);
                lines.push(LogLine { bytes, time });
            } else if self.pending.len() >= MAX_LINE {
                let bytes = self.pending.split_to(MAX_LINE).freeze();
                let time = *self.partial_since.get_or_insert(now);
                lines.push(LogLine { bytes, time });
            } else {
                return lines;
            }
        }
    }

    /// The end of the stream: what is left (the last line, which had no newline) as a final
    /// piece without one, as dockerd logs it.
    pub(crate) fn finish(&mut self, now: OffsetDateTime) -> Option<LogLine> {
        if self.pending.is_empty() {
            return None;
        }
        let bytes = self.pending.split().freeze();
        let time = self.partial_since.take().unwrap_or(now);
        Some(LogLine { bytes, time })
    }
}
