//! Faults: containerd killed mid-operation, clients that hang up mid-stream, a full data-root.
//! Each test runs a berthd with its own containerd and cleans up after itself, also when it
//! fails.

mod disconnect;
mod disk;
mod images;
mod kill;
mod registry;
mod support;
