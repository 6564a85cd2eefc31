//! A container's files as the archive routes see them: `docker cp` (`HEAD`/`GET`/`PUT
//! /containers/{name}/archive`), `docker export`, `docker diff` and `SizeRw`.
//!
//! Everything works on a directory where the container's root filesystem is mounted: the
//! running container's rootfs, or a [`TempMount`] of its snapshot. The container owns what is in
//! there, so no path inside is trusted: files are reached through descriptors opened with
//! `openat2(RESOLVE_IN_ROOT)` (see `at`), never by joining strings onto the root, and nothing
//! these functions do can read or write outside it even while the container runs.
//!
//! Blocking work runs on tokio's blocking pool; archives stream through a bounded channel.

mod archive;
mod at;
mod changes;
mod copy;
mod dirs;
mod extract;
mod mount;
mod paths;
mod read;
mod stat;

pub(crate) use archive::{archive_get, export};
pub(crate) use changes::{changes, size};
pub(crate) use copy::copy_up;
pub(crate) use dirs::create_dir_in_root;
pub(crate) use extract::archive_put;
pub(crate) use mount::{TempMount, bind_in_root, lower_dirs, mount_fstab, upper_dir};
pub(crate) use read::read_file_in_root;
pub(crate) use stat::stat;

#[cfg(test)]
mod tests;
