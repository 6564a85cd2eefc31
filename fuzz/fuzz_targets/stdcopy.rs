//! The attach/exec/logs stream framing (`berth_api::stdcopy`): the decoder over any bytes, fed
//! in pieces of any size, agrees with itself fed at once, and what it decoded encodes to as
//! many bytes as it consumed, which decode to the same frames.

#![no_main]

use berth_api::stdcopy::{Decoder, Frame, encode_into};
use libfuzzer_sys::fuzz_target;

/// What the decoder makes of `wire` pushed in pieces of `piece` bytes (all at once for 0): the
/// frames, how many bytes they took, and whether it stopped at an error (it then keeps giving
/// the error).
fn decode(wire: &[u8], piece: usize) -> (Vec<Frame>, usize, bool) {
    let mut decoder = Decoder::new();
    let mut frames = Vec::new();
    let mut pushed = 0;
    let pieces: Vec<&[u8]> = if piece == 0 { vec![wire] } else { wire.chunks(piece).collect() };
    for part in pieces {
        decoder.push(part);
        pushed += part.len();
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => frames.push(frame),
                Ok(None) => break,
                Err(err) => {
                    assert_eq!(decoder.next_frame(), Err(err));
                    return (frames, pushed - decoder.pending(), true);
                }
            }
        }
    }
    (frames, pushed - decoder.pending(), false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&piece, wire)) = data.split_first() else { return };
    let whole = decode(wire, 0);
    assert_eq!(decode(wire, usize::from(piece)), whole);
    let (frames, used, _) = whole;
    // Encoding writes zeros where dockerd's decoder ignores header bytes 1 to 3; what it
    // encodes decodes to the same frames, in as many bytes.
    let mut again = Vec::new();
    for frame in &frames {
        encode_into(frame.stream, &frame.payload, &mut again).expect("a decoded frame fits");
    }
    assert_eq!(again.len(), used);
    assert_eq!(decode(&again, 0), (frames, used, false));
});
