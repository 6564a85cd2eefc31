//! What the fuzz targets in `fuzz_targets/` share: one tokio runtime, the cutting of an input
//! into body chunks, and the sandbox the tarball targets run in.

use std::future::Future;
use std::sync::OnceLock;

use bytes::Bytes;

pub mod sandbox;

/// Runs `future` on the process's one current-thread runtime; its blocking pool runs what the
/// engine hands to `spawn_blocking`.
pub fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a current-thread tokio runtime can be built")
        })
        .block_on(future)
}

/// `data` as a request body arrives: in chunks of `selector²` bytes, or whole when `selector`
/// is 0. Small chunks exercise the code that sniffs the first bytes of a stream.
pub fn chunks(data: &[u8], selector: u8) -> Vec<Bytes> {
    let size = usize::from(selector).pow(2);
    if size == 0 {
        return vec![Bytes::copy_from_slice(data)];
    }
    data.chunks(size).map(Bytes::copy_from_slice).collect()
}
