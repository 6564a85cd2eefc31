//! A task's stdio: named FIFOs in a per-container directory that the shim opens during
//! `Tasks.Create`, and the engine's ends of them.
//!
//! Ordering (containerd-engine-notes §3.5): the read ends of stdout and stderr are opened
//! `O_RDONLY|O_NONBLOCK` *before* `Tasks.Create`, since the shim opens them for writing with a
//! blocking open; the stdin write end is opened *after* Create, once the shim holds the read end.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;

use berth_api::Error;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::StreamExt;
use nix::sys::stat::Mode;
use tokio::net::unix::pipe;
use tokio_util::io::ReaderStream;

/// One piece of a task's output, tagged with the stream it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// Bytes the process wrote to stdout (or to its terminal, in TTY mode).
    Stdout(Bytes),
    /// Bytes the process wrote to stderr.
    Stderr(Bytes),
}

/// The task's output: stdout and stderr interleaved as they arrive; ends when the process (and
/// every process holding its stdio) is gone.
pub(crate) type Output = Pin<Box<dyn Stream<Item = io::Result<Chunk>> + Send>>;

/// Which streams a task gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StdioConfig {
    /// Give the process a stdin the engine can write to (`docker run -i`).
    pub(crate) stdin: bool,
    /// Run under a terminal: stdout carries the terminal's output and there is no stderr.
    pub(crate) tty: bool,
}

/// The FIFO directory of one task and the read ends opened before `Tasks.Create`.
pub(crate) struct Fifos {
    dir: PathBuf,
    stdin: Option<PathBuf>,
    stdout: PathBuf,
    stderr: Option<PathBuf>,
    readers: Option<(pipe::Receiver, Option<pipe::Receiver>)>,
}

impl std::fmt::Debug for Fifos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fifos").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Fifos {
    /// Creates `dir` (which must not exist) with the FIFOs `config` asks for, and opens the read
    /// ends of stdout and stderr. On failure nothing is left behind.
    pub(crate) fn create(dir: &Path, config: StdioConfig) -> Result<Self, Error> {
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| io_error("create fifo root", parent, e))?;
        }
        std::fs::create_dir(dir).map_err(|e| io_error("create fifo dir", dir, e))?;
        let made = Self::populate(dir, config);
        if made.is_err() {
            remove_dir(dir);
        }
        made
    }

    fn populate(dir: &Path, config: StdioConfig) -> Result<Self, Error> {
        let mode = Mode::from_bits_truncate(0o700);
        std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(|e| io_error("chmod fifo dir", dir, e))?;
        let fifo = |name: &str| -> Result<PathBuf, Error> {
            let path = dir.join(name);
            nix::unistd::mkfifo(&path, mode).map_err(|e| io_error("mkfifo", &path, e.into()))?;
            Ok(path)
        };
        let stdin = if config.stdin { Some(fifo("stdin")?) } else { None };
        let stdout = fifo("stdout")?;
        let stderr = if config.tty { None } else { Some(fifo("stderr")?) };
        Self::open_readers(dir, stdin, stdout, stderr)
    }

    /// Opens the read ends of `stdout` and `stderr` (non-blocking, so no writer is needed yet).
    fn open_readers(
        dir: &Path,
        stdin: Option<PathBuf>,
        stdout: PathBuf,
        stderr: Option<PathBuf>,
    ) -> Result<Self, Error> {
        let open = |path: &Path| {
            pipe::OpenOptions::new()
                .open_receiver(path)
                .map_err(|e| io_error("open fifo for reading", path, e))
        };
        let out = open(&stdout)?;
        let err = stderr.as_deref().map(open).transpose()?;
        Ok(Self { dir: dir.to_owned(), stdin, stdout, stderr, readers: Some((out, err)) })
    }

    /// Reopens the FIFOs of a task that outlived a restart of berthd: the read ends of stdout
    /// (and stderr, if it exists) and, via [`Fifos::open_stdin`], stdin. The shim holds its own
    /// ends, so the output buffered meanwhile is read now.
    pub(crate) fn reopen(dir: &Path) -> Result<Self, Error> {
        let existing = |name: &str| Some(dir.join(name)).filter(|p| p.exists());
        let stdout = existing("stdout")
            .ok_or_else(|| Error::system(format!("no stdout fifo in {}", dir.display())))?;
        Self::open_readers(dir, existing("stdin"), stdout, existing("stderr"))
    }

    /// `(stdin, stdout, stderr)` paths for `CreateTaskRequest`; empty for an absent stream.
    pub(crate) fn paths(&self) -> (String, String, String) {
        let show = |p: Option<&PathBuf>| p.map(|p| p.display().to_string()).unwrap_or_default();
        (show(self.stdin.as_ref()), show(Some(&self.stdout)), show(self.stderr.as_ref()))
    }

    /// Opens the stdin write end, after `Tasks.Create` returned.
    ///
    /// The shim may open its read end a moment after `Tasks.Create` returns; a write-only
    /// non-blocking open before that fails with ENXIO (seen as a flaky "open stdin fifo" on
    /// start). Opening read-write never does, and the shim's reader still sees EOF when this,
    /// the only writer, is closed.
    pub(crate) fn open_stdin(&self) -> Result<Option<pipe::Sender>, Error> {
        let Some(path) = &self.stdin else { return Ok(None) };
        pipe::OpenOptions::new()
            .read_write(true)
            .open_sender(path)
            .map(Some)
            .map_err(|e| io_error("open stdin fifo", path, e))
    }

    /// The output stream, reading the ends opened at creation. Call after `Tasks.Create`
    /// returned: a read before the shim opened the write side sees EOF at once. Returns `None`
    /// the second time.
    pub(crate) fn take_output(&mut self) -> Option<Output> {
        let (out, err) = self.readers.take()?;
        let out = ReaderStream::new(out).map(|r| r.map(Chunk::Stdout));
        let stream: Output = match err {
            Some(err) => {
                let err = ReaderStream::new(err).map(|r| r.map(Chunk::Stderr));
                Box::pin(futures_util::stream::select(out, err))
            }
            None => Box::pin(out),
        };
        Some(stream)
    }

    /// Removes the FIFO directory. The engine's open ends (if still held) stay valid.
    pub(crate) fn remove(&self) {
        remove_dir(&self.dir);
    }
}

fn remove_dir(dir: &Path) {
    match std::fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "cannot remove fifo dir"),
    }
}

fn io_error(what: &str, path: &Path, e: io::Error) -> Error {
    Error::system(format!("{what} {}", path.display())).with_source(e)
}

/// Collects an [`Output`] into `(stdout, stderr)`; for tests and one-shot runs.
#[cfg(test)]
pub(crate) async fn collect(mut output: Output) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while let Some(chunk) = output.next().await {
        match chunk? {
            Chunk::Stdout(b) => out.extend_from_slice(&b),
            Chunk::Stderr(b) => err.extend_from_slice(&b),
        }
    }
    Ok((out, err))
}
