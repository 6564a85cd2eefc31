//! A container's log driver: `json-file` (the default, written and read by [`crate::logs`]) or
//! `none`; the sink a run's output pump feeds, and `docker logs`.

use std::collections::BTreeMap;
use std::path::Path;

use berth_api::container::LogConfig;
use berth_api::{Error, Result};
use berth_backend::{ContainerLogsOptions, LogStream, StdStream};
use tokio::sync::watch;

use super::Container;
use super::record::Record;
use super::views::log_path;
use crate::logs::{LineBuffer, LogContext, LogOptions, LogWriter, ReadOptions};

/// Checks a `LogConfig` at create: a driver Berth has, and options it knows.
pub(crate) fn validate(config: &LogConfig) -> Result<()> {
    let empty = BTreeMap::new();
    let opts = config.config.as_ref().unwrap_or(&empty);
    match config.kind.as_str() {
        "" | "json-file" => {
            LogOptions::parse(opts.iter())?;
            Ok(())
        }
        "none" => {
            if let Some(key) = opts.keys().next() {
                return Err(Error::invalid(format!("unknown log opt '{key}' for none log driver")));
            }
            Ok(())
        }
        other => Err(Error::invalid(format!(
            "error looking up logging plugin {other}: plugin \"{other}\" not found"
        ))),
    }
}

/// Where a run's output is logged.
pub(crate) struct LogSink {
    writer: LogWriter,
    stdout: LineBuffer,
    stderr: LineBuffer,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink").finish_non_exhaustive()
    }
}

impl LogSink {
    /// Logs a raw piece of `stream`'s output (whole lines; long ones in 16 KiB pieces).
    pub(crate) async fn write(&mut self, stream: StdStream, bytes: &[u8]) {
        let now = time::OffsetDateTime::now_utc();
        let buffer = match stream {
            StdStream::Stderr => &mut self.stderr,
            _ => &mut self.stdout,
        };
        for line in buffer.push(bytes, now) {
            if let Err(e) = self.writer.write(stream, &line.bytes, line.time).await {
                tracing::warn!(error = %e, "cannot write container log");
            }
        }
    }

    /// Logs what is left of unterminated lines and closes the file.
    pub(crate) async fn finish(mut self) {
        let now = time::OffsetDateTime::now_utc();
        for (stream, rest) in [
            (StdStream::Stdout, self.stdout.finish(now)),
            (StdStream::Stderr, self.stderr.finish(now)),
        ] {
            if let Some(line) = rest
                && let Err(e) = self.writer.write(stream, &line.bytes, line.time).await
            {
                tracing::warn!(error = %e, "cannot write container log");
            }
        }
        if let Err(e) = self.writer.close().await {
            tracing::warn!(error = %e, "cannot close container log");
        }
    }
}

/// The sink of a run of `record` (`None` for the `none` driver).
pub(crate) fn sink(record: &Record, dir: &Path) -> Result<Option<LogSink>> {
    let config = &record.host_config.log_config;
    if config.kind == "none" {
        return Ok(None);
    }
    let empty = BTreeMap::new();
    let mut options = LogOptions::parse(config.config.as_ref().unwrap_or(&empty).iter())?;
    let labels = record.config.labels.clone().unwrap_or_default();
    let env = record.config.env.clone().unwrap_or_default();
    options.resolve_attrs(&LogContext {
        id: &record.id,
        name: &record.name,
        image_id: &record.image_id,
        image_name: &record.config.image,
        labels: &labels,
        env: &env,
    });
    let writer = LogWriter::open(&log_path(dir, &record.id), options)?;
    Ok(Some(LogSink { writer, stdout: LineBuffer::new(), stderr: LineBuffer::new() }))
}

/// `GET /containers/{name}/logs`.
pub(crate) async fn logs(c: &Container, options: &ContainerLogsOptions) -> Result<LogStream> {
    let (tty, driver) = c.with(|r| (r.config.tty, r.host_config.log_config.kind.clone()));
    if driver == "none" {
        return Err(Error::not_implemented("configured logging driver does not support reading"));
    }
    let read = ReadOptions::from_api(options)?;
    let follow = if options.follow { Some(stop_signal(c)) } else { None };
    let path = log_path(&c.dir, &c.id);
    if !path.exists() {
        // Never started: an empty log (and, following, one that waits for the first run).
        std::fs::OpenOptions::new().create(true).append(true).open(&path).map_err(|e| {
            crate::persist::io_error(&format!("cannot create {}", path.display()), e)
        })?;
    }
    let chunks = crate::logs::read(&path, read, follow).await?;
    Ok(LogStream { tty, chunks })
}

/// A watch that turns true when the container is not running (or is removed): what ends
/// `docker logs -f`. Its helper task ends with the follower.
fn stop_signal(c: &Container) -> watch::Receiver<bool> {
    let mut phase = c.watch();
    let (tx, rx) = watch::channel(!phase.borrow().running);
    tokio::spawn(async move {
        tokio::select! {
            _ = phase.wait_for(|p| !p.running || p.removed) => { let _ = tx.send(true); }
            () = tx.closed() => {}
        }
    });
    rx
}
