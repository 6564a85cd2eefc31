//! dockerd's stream multiplexing (`pkg/stdcopy`): each write on a non-TTY attach, exec or logs
//! stream is one frame, an 8-byte header `[stream, 0, 0, 0, size as u32 big-endian]` followed by
//! `size` payload bytes. TTY streams are not framed at all.
//!
//! Pure functions over byte slices, so the encoder and the decoder can be fuzzed and unit tested
//! without any I/O.

/// The length of a frame header.
pub const HEADER_LEN: usize = 8;

/// `application/vnd.docker.raw-stream`: an unframed stream (TTY, or any stream below API 1.42).
pub const RAW_STREAM: &str = "application/vnd.docker.raw-stream";

/// `application/vnd.docker.multiplexed-stream`: a framed stream (no TTY, API ≥ 1.42).
pub const MULTIPLEXED_STREAM: &str = "application/vnd.docker.multiplexed-stream";

/// Which stream a frame belongs to (the first header byte).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StdStream {
    /// 0: stdin echoed on the output.
    Stdin,
    /// 1: standard output.
    Stdout,
    /// 2: standard error.
    Stderr,
    /// 3: a daemon-side error (`Error grabbing logs: ...`); clients treat it as a failure.
    SystemErr,
}

impl StdStream {
    /// The header byte.
    pub fn byte(self) -> u8 {
        match self {
            StdStream::Stdin => 0,
            StdStream::Stdout => 1,
            StdStream::Stderr => 2,
            StdStream::SystemErr => 3,
        }
    }

    /// The stream of header byte `b`, if it is one.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(StdStream::Stdin),
            1 => Some(StdStream::Stdout),
            2 => Some(StdStream::Stderr),
            3 => Some(StdStream::SystemErr),
            _ => None,
        }
    }
}

/// Why a frame cannot be encoded or decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The payload does not fit the 32-bit size field.
    #[error("frame payload of {0} bytes exceeds the 4 GiB frame limit")]
    TooLarge(usize),
    /// The first header byte names no stream.
    #[error("unrecognized input header: {0}")]
    UnknownStream(u8),
}

/// The 8-byte header of a frame of `len` payload bytes.
pub fn header(stream: StdStream, len: usize) -> Result<[u8; HEADER_LEN], FrameError> {
    let size = u32::try_from(len).map_err(|_| FrameError::TooLarge(len))?;
    let [a, b, c, d] = size.to_be_bytes();
    Ok([stream.byte(), 0, 0, 0, a, b, c, d])
}

/// Appends one frame holding `payload` to `out`. An empty payload is a valid zero-length frame,
/// as dockerd writes for an empty write.
pub fn encode_into(stream: StdStream, payload: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
    out.extend_from_slice(&header(stream, payload.len())?);
    out.extend_from_slice(payload);
    Ok(())
}

/// One frame as a new vector.
pub fn encode(stream: StdStream, payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    encode_into(stream, payload, &mut out)?;
    Ok(out)
}

/// A decoded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The stream it belongs to.
    pub stream: StdStream,
    /// The payload.
    pub payload: Vec<u8>,
}

/// An incremental decoder: feed bytes as they arrive, take whole frames out.
#[derive(Debug, Default)]
pub struct Decoder {
    buf: Vec<u8>,
}

impl Decoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` when more bytes are needed. After an error the
    /// stream is corrupt; the decoder keeps returning the same error.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        let Some(head) = self.buf.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let stream = StdStream::from_byte(head[0]).ok_or(FrameError::UnknownStream(head[0]))?;
        let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]);
        let size = usize::try_from(size).map_err(|_| FrameError::TooLarge(usize::MAX))?;
        let Some(end) = HEADER_LEN.checked_add(size) else {
            return Err(FrameError::TooLarge(size));
        };
        if self.buf.len() < end {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(Frame { stream, payload }))
    }

    /// Bytes received but not yet part of a complete frame.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_type_three_zeros_and_big_endian_size() {
        assert_eq!(header(StdStream::Stderr, 0x0102_0304).expect("fits"), [2, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(encode(StdStream::Stdout, b"hi").expect("fits"), b"\x01\0\0\0\0\0\0\x02hi");
        assert_eq!(encode(StdStream::SystemErr, b"").expect("fits"), [3, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn decoder_reassembles_frames_split_anywhere() {
        let mut wire = Vec::new();
        encode_into(StdStream::Stdout, b"hello\n", &mut wire).expect("fits");
        encode_into(StdStream::Stderr, b"", &mut wire).expect("fits");
        encode_into(StdStream::Stderr, b"oops\n", &mut wire).expect("fits");
        for split in 0..=wire.len() {
            let mut decoder = Decoder::new();
            let mut frames = Vec::new();
            for part in [&wire[..split], &wire[split..]] {
                decoder.push(part);
                while let Some(frame) = decoder.next_frame().expect("valid") {
                    frames.push(frame);
                }
            }
            let got: Vec<_> = frames.iter().map(|f| (f.stream, f.payload.as_slice())).collect();
            assert_eq!(
                got,
                [
                    (StdStream::Stdout, &b"hello\n"[..]),
                    (StdStream::Stderr, &b""[..]),
                    (StdStream::Stderr, &b"oops\n"[..])
                ],
                "split at {split}"
            );
            assert_eq!(decoder.pending(), 0);
        }
    }

    #[test]
    fn decoder_rejects_unknown_streams_and_never_panics_on_garbage() {
        let mut decoder = Decoder::new();
        decoder.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert_eq!(decoder.next_frame(), Err(FrameError::UnknownStream(9)));
        // A cheap exhaustive-ish sweep over short inputs: any answer is fine, a panic is not.
        for seed in 0u32..4096 {
            let bytes: Vec<u8> =
                (0..12).map(|i| (seed.wrapping_mul(31).wrapping_add(i * 7) % 5) as u8).collect();
            let mut decoder = Decoder::new();
            decoder.push(&bytes);
            while let Ok(Some(_)) = decoder.next_frame() {}
        }
    }
}
