//! A cap on what the `tar` crate reads into memory to find an archive's next entry. It holds
//! GNU long names and link targets, PAX records and sparse maps in memory whatever their size,
//! so a hostile archive with a header of gigabytes would be read whole. Go's reader, which
//! dockerd uses, refuses each such field over 1 MiB (`archive/tar: header field too long`).

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};
use std::rc::Rc;

/// How many bytes of headers one entry may come with.
pub(crate) const HEADER_BUDGET: u64 = 4 << 20;

/// What the `tar` crate may still read while looking for the next entry. Shared between the
/// reader and its owner, who opens the budget around each `Entries::next`.
#[derive(Default)]
pub(crate) struct Budget {
    /// Counting (inside `Entries::next`).
    active: Cell<bool>,
    left: Cell<u64>,
}

impl Budget {
    /// Opens a fresh budget for one look-up of the next entry.
    pub(crate) fn start(&self) {
        self.left.set(HEADER_BUDGET);
        self.active.set(true);
    }

    /// Closes it: entry data is read without counting.
    pub(crate) fn stop(&self) {
        self.active.set(false);
    }

    /// Runs `next` (one `Entries::next`) under a fresh budget.
    pub(crate) fn next<T>(&self, next: impl FnOnce() -> T) -> T {
        self.start();
        let found = next();
        self.stop();
        found
    }
}

/// The archive reader, refusing to feed more than [`HEADER_BUDGET`] bytes to one look-up of the
/// next entry.
pub(crate) struct Budgeted<R> {
    inner: R,
    budget: Rc<Budget>,
}

impl<R> Budgeted<R> {
    /// `inner` under a budget, and the budget to open around each look-up.
    pub(crate) fn new(inner: R) -> (Self, Rc<Budget>) {
        let budget = Rc::new(Budget::default());
        (Self { inner, budget: Rc::clone(&budget) }, budget)
    }
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.budget.active.get() {
            return self.inner.read(buf);
        }
        let left = self.budget.left.get();
        if left == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the headers of an entry exceed {} MiB", HEADER_BUDGET >> 20),
            ));
        }
        let want = usize::try_from(left).unwrap_or(usize::MAX).min(buf.len());
        let n = self.inner.read(&mut buf[..want])?;
        self.budget.left.set(left - n as u64);
        Ok(n)
    }
}

/// Seeks are free: `entries_with_seek` skips entry data by seeking, which reads nothing.
impl<R: Seek> Seek for Budgeted<R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}
