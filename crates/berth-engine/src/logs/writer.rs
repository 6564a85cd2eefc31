//! Appending entries to a container's log file and rotating it, as dockerd's
//! `loggerutils.LogFile` does.

use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use async_compression::tokio::write::GzipEncoder;
use berth_api::{Error, Result};
use berth_backend::StdStream;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;

use super::LogOptions;
use super::jsonlog;

/// Log files are readable by the owner's group, as dockerd creates them.
const MODE: u32 = 0o640;

/// The writing end of one container's `json-file` log. One per container; the owner feeds it
/// both streams' lines, in order.
#[derive(Debug)]
pub(crate) struct LogWriter {
    /// `<id>-json.log`.
    path: PathBuf,
    /// The file being appended to.
    file: tokio::fs::File,
    /// Its size.
    size: u64,
    /// Rotation limits.
    options: LogOptions,
    /// `options.attrs` encoded once, as every entry carries them.
    attrs: Option<String>,
    /// Compression of the file rotated last, still running; the next rotation waits for it.
    compressing: Option<JoinHandle<()>>,
    /// The entry being encoded, kept to reuse its allocation.
    buf: Vec<u8>,
}

impl LogWriter {
    /// Opens `path` (creating it, mode 0640) to append entries to it.
    pub(crate) fn open(path: &Path, options: LogOptions) -> Result<Self> {
        let file = open_append(path)
            .map_err(|e| io_error(format!("cannot open log file {}", path.display()), e))?;
        let size = file
            .metadata()
            .map_err(|e| io_error(format!("cannot stat log file {}", path.display()), e))?
            .len();
        let attrs = jsonlog::encode_attrs(&options.attrs);
        Ok(Self {
            path: path.to_owned(),
            file: tokio::fs::File::from_std(file),
            size,
            options,
            attrs,
            compressing: None,
            buf: Vec::with_capacity(256),
        })
    }

    /// Appends one entry: `line` (a [`super::line::LogLine`]'s bytes: with its `\n` when complete)
    /// written to `stream` at `time`. Rotates first when the file has reached `max-size`, as
    /// dockerd does (so a file exceeds the limit by at most one entry). Only stdout and stderr
    /// are logged.
    pub(crate) async fn write(
        &mut self,
        stream: StdStream,
        line: &[u8],
        time: OffsetDateTime,
    ) -> Result<()> {
        let Some(stream) = super::stream_name(stream) else {
            return Err(Error::system(format!("cannot log the {stream:?} stream")));
        };
        if self.options.max_size.is_some_and(|max| self.size >= max) {
            self.rotate().await?;
        }
        self.buf.clear();
        jsonlog::encode_entry(&mut self.buf, line, stream, self.attrs.as_deref(), time);
        let written = async {
            self.file.write_all(&self.buf).await?;
            // Readers follow the file: hand the entry to the kernel now.
            self.file.flush().await
        };
        written
            .await
            .map_err(|e| io_error(format!("cannot write log file {}", self.path.display()), e))?;
        self.size += self.buf.len() as u64;
        Ok(())
    }

    /// Flushes the file and waits for a pending compression of a rotated file.
    pub(crate) async fn close(mut self) -> Result<()> {
        self.wait_compression().await;
        self.file
            .flush()
            .await
            .map_err(|e| io_error(format!("cannot write log file {}", self.path.display()), e))
    }

    /// Moves the full file out of the way and starts an empty one: `<log>.N-1` is dropped,
    /// `<log>.i` becomes `<log>.i+1`, `<log>` becomes `<log>.1` (gzipped in the background when
    /// `compress` is set); with `max-file` 1 the file is simply emptied. Readers that have the old
    /// file open keep reading it.
    async fn rotate(&mut self) -> Result<()> {
        self.wait_compression().await;
        let max_file = self.options.max_file;
        let compress = self.options.compress && max_file > 1;
        if let Err(e) = shift_rotated(&self.path, max_file, compress).await {
            // dockerd carries on with a fresh file rather than stopping the container's log.
            tracing::warn!(path = %self.path.display(), error = %e, "cannot rotate log file; log data may be lost");
        } else {
            let moved = if max_file > 1 {
                tokio::fs::rename(&self.path, rotated_path(&self.path, 1, false)).await
            } else {
                tokio::fs::remove_file(&self.path).await
            };
            match moved {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot move the full log file aside");
                }
                _ => {}
            }
        }
        let path = self.path.clone();
        let file = tokio::task::spawn_blocking(move || open_truncate(&path))
            .await
            .map_err(|e| Error::system("log file rotation task failed").with_source(e))?
            .map_err(|e| io_error(format!("cannot open log file {}", self.path.display()), e))?;
        self.file = tokio::fs::File::from_std(file);
        self.size = 0;
        if compress {
            let rotated = rotated_path(&self.path, 1, false);
            self.compressing = Some(tokio::spawn(async move {
                if let Err(e) = compress_file(&rotated).await {
                    tracing::warn!(path = %rotated.display(), error = %e, "cannot compress rotated log file");
                }
            }));
        }
        Ok(())
    }

    /// Waits for the compression started by the previous rotation, if any.
    async fn wait_compression(&mut self) {
        if let Some(task) = self.compressing.take()
            && let Err(e) = task.await
        {
            tracing::warn!(path = %self.path.display(), error = %e, "log compression task failed");
        }
    }
}

/// `<log>.<n>`, or `<log>.<n>.gz`.
pub(super) fn rotated_path(path: &Path, n: usize, gz: bool) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
    PathBuf::from(name)
}

/// Drops the oldest rotated file and renames the others one step older, leaving `<log>.1` free.
async fn shift_rotated(path: &Path, max_file: usize, gz: bool) -> io::Result<()> {
    if max_file < 2 {
        return Ok(());
    }
    ignore_missing(tokio::fs::remove_file(rotated_path(path, max_file - 1, gz)).await)?;
    for i in (2..max_file).rev() {
        let renamed =
            tokio::fs::rename(rotated_path(path, i - 1, gz), rotated_path(path, i, gz)).await;
        ignore_missing(renamed)?;
    }
    Ok(())
}

/// `<file>` → `<file>.gz`, removing `<file>` only once the copy is complete so that readers
/// always find one whole copy (they prefer the uncompressed one).
async fn compress_file(src: &Path) -> io::Result<()> {
    let mut input = match tokio::fs::File::open(src).await {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let mut gz = src.as_os_str().to_owned();
    gz.push(".gz");
    let gz = PathBuf::from(gz);
    let written = async {
        let out = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(MODE)
            .open(&gz)
            .await?;
        let mut encoder = GzipEncoder::new(out);
        tokio::io::copy(&mut input, &mut encoder).await?;
        encoder.shutdown().await?;
        encoder.into_inner().sync_all().await
    };
    if let Err(e) = written.await {
        if let Err(e) = tokio::fs::remove_file(&gz).await {
            tracing::warn!(path = %gz.display(), error = %e, "cannot remove incomplete compressed log");
        }
        return Err(e);
    }
    ignore_missing(tokio::fs::remove_file(src).await)
}

/// `result`, with "not found" counted as success.
fn ignore_missing(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// Opens `path` for appending, creating it.
fn open_append(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new().append(true).create(true).mode(MODE).open(path)
}

/// Opens `path` empty for writing, creating it.
fn open_truncate(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(MODE).open(path)
}

/// A 500 naming what failed and why.
fn io_error(message: String, e: io::Error) -> Error {
    crate::persist::io_error(&message, e)
}
