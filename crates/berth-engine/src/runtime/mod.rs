//! Running a process in a container: the Docker-default OCI spec, users from the image's
//! `/etc/passwd`, and the containerd task lifecycle (snapshot, container record, FIFOs, task).
//!
//! This is the engine half of `docker run`; the container service (`crate::container`) drives it.

pub(crate) mod spec;
pub(crate) mod stdio;
pub(crate) mod task;
pub(crate) mod user;

#[cfg(test)]
mod task_tests;
