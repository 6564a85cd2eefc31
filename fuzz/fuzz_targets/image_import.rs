//! `POST /images/create?fromSrc=-` (`docker import`): the `changes` instructions applied to a
//! config, then any body decompressed and its first tar block checked, as far as Berth reads it
//! before handing the stream to containerd (`berth_engine::fuzzing::image_import`). Runs inside
//! the sandbox of `berth_fuzz::sandbox`.
//!
//! Input: one byte choosing how the body is cut into chunks, one byte `n`, `n` lines of
//! `changes` (`CMD ["sh"]`, `ENV A=b`, …), then the body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        berth_fuzz::sandbox::enter();
    },
    |data: &[u8]| {
        let [cut, lines, rest @ ..] = data else { return };
        let mut rest = rest;
        let mut changes = Vec::new();
        for _ in 0..*lines {
            let Some(newline) = rest.iter().position(|b| *b == b'\n') else { break };
            changes.push(String::from_utf8_lossy(&rest[..newline]).into_owned());
            rest = &rest[newline + 1..];
        }
        let chunks = berth_fuzz::chunks(rest, *cut);
        let _ = berth_fuzz::block_on(berth_engine::fuzzing::image_import(chunks, &changes));
    }
);
