//! Turning the backend's output chunks into wire bytes: stdcopy frames unless TTY, the log
//! prefixes, and dockerd's in-band error lines.

use berth_api::stdcopy::{self, MULTIPLEXED_STREAM, RAW_STREAM, StdStream};
use berth_api::{ApiVersion, Error};
use berth_backend::{OutputChunk, OutputStream};
use bytes::Bytes;
use futures_util::{Stream, StreamExt};

/// The content type of a logs, attach or exec stream: multiplexed iff not TTY and API ≥ 1.42.
pub(crate) fn content_type(tty: bool, version: ApiVersion) -> &'static str {
    if !tty && version >= ApiVersion::new(1, 42) { MULTIPLEXED_STREAM } else { RAW_STREAM }
}

/// `payload` on `stream`, framed unless `tty`.
pub(crate) fn wire(stream: StdStream, payload: &[u8], tty: bool) -> Bytes {
    if tty {
        return Bytes::copy_from_slice(payload);
    }
    match stdcopy::encode(stream, payload) {
        Ok(frame) => Bytes::from(frame),
        Err(err) => {
            // Only a >4 GiB chunk gets here; dockerd would split nothing either.
            tracing::warn!(error = %err, "dropping unframeable output chunk");
            Bytes::new()
        }
    }
}

/// Attach and exec output: chunks as frames (or raw), a failure as dockerd's in-band
/// `Error attaching: <err>\n` on stdout, after which the stream ends.
pub(crate) fn attach_bytes(
    output: OutputStream,
    tty: bool,
    error_prefix: &'static str,
) -> impl Stream<Item = Bytes> + Send + 'static {
    output.scan(false, move |ended, item| {
        if *ended {
            return std::future::ready(None);
        }
        let bytes = match item {
            Ok(chunk) => wire(chunk.stream, &chunk.bytes, tty),
            Err(err) => {
                *ended = true;
                wire(
                    StdStream::Stdout,
                    format!("{error_prefix}{}\n", err.message()).as_bytes(),
                    tty,
                )
            }
        };
        std::future::ready(Some(bytes))
    })
}

/// One log message as dockerd's `WriteLogStream` writes it: `details` attributes, then the
/// timestamp, then the line; errors as `Error grabbing logs: <err>\n` on the system-error
/// stream (and the stream goes on, as dockerd's does).
pub(crate) fn log_bytes(
    item: Result<OutputChunk, Error>,
    tty: bool,
    timestamps: bool,
    details: bool,
) -> Bytes {
    let chunk = match item {
        Ok(chunk) => chunk,
        Err(err) => {
            let line = format!("Error grabbing logs: {}\n", err.message());
            return wire(StdStream::SystemErr, line.as_bytes(), tty);
        }
    };
    let mut line = Vec::with_capacity(chunk.bytes.len() + 40);
    if timestamps {
        line.extend_from_slice(chunk.timestamp.as_bytes());
        line.push(b' ');
    }
    if details {
        let attrs: Vec<String> = chunk.attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        line.extend_from_slice(attrs.join(",").as_bytes());
        line.push(b' ');
    }
    line.extend_from_slice(&chunk.bytes);
    wire(chunk.stream, &line, tty)
}
