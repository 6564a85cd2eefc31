//! `PUT /containers/{name}/archive` (`docker cp` into a container): any tar or gzip'd tar
//! extracted by `berth_engine::fuzzing::archive_put` into a fresh directory standing for the
//! container's root. Runs inside the sandbox of `berth_fuzz::sandbox`.
//!
//! Input: one byte of options (bit 0 `noOverwriteDirNonDir`, bit 1 `copyUIDGID`, the rest
//! choosing how the body is cut into chunks), then the body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        berth_fuzz::sandbox::enter();
    },
    |data: &[u8]| {
        let Some((&options, body)) = data.split_first() else { return };
        let scratch = berth_fuzz::sandbox::enter();
        let root = tempfile::tempdir_in(scratch).expect("a directory in the sandbox's tmpfs");
        let chunks = berth_fuzz::chunks(body, options >> 2);
        let _ = berth_fuzz::block_on(berth_engine::fuzzing::archive_put(
            root.path(),
            chunks,
            options & 1 != 0,
            options & 2 != 0,
        ));
        root.close().expect("what an extraction created can be removed");
    }
);
