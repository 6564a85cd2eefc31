//! `POST /images/load` (`docker load`): any tar or gzip'd tar spooled, indexed and planned as a
//! docker-save archive or an OCI layout, every layer located and, when gzip'd, decompressed
//! (`berth_engine::fuzzing::image_load`; containerd is not involved). Runs inside the sandbox
//! of `berth_fuzz::sandbox`: the spool file goes to its tmpfs.
//!
//! Input: one byte choosing how the body is cut into chunks, then the body.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        berth_fuzz::sandbox::enter();
    },
    |data: &[u8]| {
        let Some((&cut, body)) = data.split_first() else { return };
        let chunks = berth_fuzz::chunks(body, cut);
        let _ = berth_fuzz::block_on(berth_engine::fuzzing::image_load(chunks, None));
    }
);
