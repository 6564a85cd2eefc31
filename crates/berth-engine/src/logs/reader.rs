//! Reading a container's `json-file` log for `docker logs`, as dockerd's
//! `loggerutils.LogFile.ReadLogs`: the rotated files oldest first and then the current one,
//! `tail` counted backwards from the end without reading whole files, `since` and `until`, and
//! `follow` across rotations until the container stops.
//!
//! The reader only knows the path: it notices a rotation when `<log>` no longer names the file
//! it has open (another inode), finishes the old file through its open handle and continues with
//! the new one.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::io::{self, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_compression::tokio::bufread::GzipDecoder;
use berth_api::params::parse_timestamp;
use berth_api::{Error, Result};
use berth_backend::{ContainerLogsOptions, OutputChunk, OutputStream, StdStream};
use bytes::Bytes;
use time::OffsetDateTime;
use tokio::fs::File;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, BufReader};
use tokio::sync::watch;

use super::jsonlog;

/// How often a followed log is checked for new entries and rotations.
const POLL: Duration = Duration::from_millis(150);

/// How long after `until` a follower waits for entries stamped before it to reach the file.
const UNTIL_GRACE: Duration = Duration::from_secs(1);

/// A stored line longer than this cannot be an entry Berth or dockerd wrote (they hold at most
/// 16 KiB of output, escaped): it is skipped rather than buffered.
const MAX_ENTRY: usize = 1 << 20;

/// The block size of the backwards scan for `tail`.
const TAIL_BLOCK: usize = 8 * 1024;

/// The read buffer of every log file.
const READ_BUFFER: usize = 64 * 1024;

/// What to read from a log: `GET /containers/{id}/logs` parameters, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReadOptions {
    /// Include stdout entries.
    pub(crate) stdout: bool,
    /// Include stderr entries.
    pub(crate) stderr: bool,
    /// Skip entries before this time (until the first one at or after it: like dockerd, later
    /// entries are not checked again, as times need not be monotonic).
    pub(crate) since: Option<OffsetDateTime>,
    /// End the stream at the first entry after this time, following or not.
    pub(crate) until: Option<OffsetDateTime>,
    /// Only the last this many lines of history (before `since`, `until` and the stream filter
    /// apply, as in dockerd); `None` for all.
    pub(crate) tail: Option<usize>,
    /// Fill [`OutputChunk::timestamp`].
    pub(crate) timestamps: bool,
    /// Fill [`OutputChunk::attrs`].
    pub(crate) details: bool,
}

impl ReadOptions {
    /// Parses the API's strings as dockerd does: `since` and `until` are Unix seconds with an
    /// optional fraction (empty or `0`: unset), `tail` is a number of lines (anything else, or a
    /// negative number, means all).
    pub(crate) fn from_api(options: &ContainerLogsOptions) -> Result<Self> {
        Ok(Self {
            stdout: options.stdout,
            stderr: options.stderr,
            since: parse_time("since", &options.since)?,
            until: parse_time("until", &options.until)?,
            tail: options.tail.parse::<i64>().ok().and_then(|n| usize::try_from(n).ok()),
            timestamps: options.timestamps,
            details: options.details,
        })
    }
}

/// `since` or `until`: `None` when empty or `0`.
fn parse_time(name: &str, value: &str) -> Result<Option<OffsetDateTime>> {
    let value = value.trim();
    if value.is_empty() || value == "0" {
        return Ok(None);
    }
    let nanos = parse_timestamp(name, value)?;
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map(Some)
        .map_err(|e| Error::invalid(format!("invalid value for {name}: {value:?}")).with_source(e))
}

/// Streams the log at `path` (`<id>-json.log`, with its rotated `<id>-json.log.N[.gz]`).
///
/// Without `follow_until` the stream ends with the last entry present when it was opened. With
/// it, the stream then waits for new entries (and rotations) until the watch turns true or its
/// sender is dropped, reads what was written up to then, and ends. Turn it true only after the
/// last write to the [`super::LogWriter`] returned. A log that does not exist yet is empty (and
/// followed once it appears).
///
/// Dropping the stream stops everything: there is no background task. Lines that are not log
/// entries are skipped with a warning; an `Err` item (then the end) is an I/O failure.
pub(crate) async fn read(
    path: &Path,
    options: ReadOptions,
    follow_until: Option<watch::Receiver<bool>>,
) -> Result<OutputStream> {
    let reader =
        Reader::open(path, options, follow_until).await.map_err(|e| read_error(path, e))?;
    Ok(Box::pin(futures_util::stream::unfold(reader, |mut reader| async move {
        let item = reader.next().await?;
        Some((item, reader))
    })))
}

/// A 500 for an I/O failure on the log at `path`.
fn read_error(path: &Path, e: io::Error) -> Error {
    Error::system(format!("cannot read log file {}", path.display())).with_source(e)
}

/// The state of one [`read`] stream.
struct Reader {
    /// Whole or partial files still to read, oldest first (ending with the current file unless
    /// it is followed).
    history: VecDeque<Segment>,
    /// The followed current file, read after `history`.
    live: Option<Live>,
    /// Which entries become chunks.
    filter: Filter,
}

impl Reader {
    /// Opens the files `options` needs and positions them.
    async fn open(
        path: &Path,
        options: ReadOptions,
        follow_until: Option<watch::Receiver<bool>>,
    ) -> io::Result<Self> {
        let snapshot = Snapshot::open(path, options.tail != Some(0)).await?;
        let following = follow_until.is_some();
        let mut history = Vec::new();
        let mut live_start = 0;
        let mut current = None;
        let mut remaining = options.tail;
        if let Some(Current { mut file, id, len }) = snapshot.current {
            let range = match remaining {
                None => TailRange { start: 0, end: len, found: 0 },
                Some(n) => tail_range(&mut file, len, n).await?,
            };
            if let Some(n) = remaining.as_mut() {
                *n -= range.found;
            }
            if following {
                live_start = range.start;
                current = Some((file, id));
            } else {
                history.push(Segment::range(file, range.start, range.end, path.to_owned()).await?);
            }
        }
        // Rotated files fill what the current one lacks, newest first.
        for rotated in snapshot.rotated.into_iter().rev() {
            if remaining == Some(0) {
                break;
            }
            history.push(rotated.into_segment(&mut remaining).await?);
        }
        history.reverse();
        let live = match follow_until {
            None => None,
            Some(mut stop) => {
                let stopped = *stop.borrow_and_update();
                let file = match current {
                    Some((mut file, id)) => {
                        file.seek(SeekFrom::Start(live_start)).await?;
                        Some(LiveFile { segment: Segment::new(file, path.to_owned()), id })
                    }
                    None => None,
                };
                Some(Live {
                    path: path.to_owned(),
                    stop,
                    stopped,
                    until: options.until,
                    pending: VecDeque::new(),
                    file,
                    rotated: false,
                    finished: false,
                })
            }
        };
        Ok(Self { history: history.into(), live, filter: Filter::new(options) })
    }

    /// The next chunk, an I/O error (after which the stream ends), or the end.
    async fn next(&mut self) -> Option<Result<OutputChunk>> {
        while !self.filter.ended {
            let (line, rest, path) = if let Some(segment) = self.history.front_mut() {
                match segment.next_line().await {
                    Ok(Some(line)) => (line, false, &segment.path),
                    Ok(None) => {
                        let rest = segment.take_rest();
                        let Some(segment) = self.history.pop_front() else { continue };
                        if let Some(chunk) =
                            rest.and_then(|rest| self.filter.accept(&rest, true, &segment.path))
                        {
                            return Some(Ok(chunk));
                        }
                        continue;
                    }
                    Err(e) => {
                        self.filter.ended = true;
                        return Some(Err(read_error(&segment.path, e)));
                    }
                }
            } else if let Some(live) = self.live.as_mut() {
                match live.next_line().await {
                    Ok(Some((line, rest))) => (line, rest, &live.path),
                    Ok(None) => break,
                    Err(e) => {
                        self.filter.ended = true;
                        return Some(Err(read_error(&live.path, e)));
                    }
                }
            } else {
                break;
            };
            if let Some(chunk) = self.filter.accept(&line, rest, path) {
                return Some(Ok(chunk));
            }
        }
        self.filter.ended = true;
        None
    }
}

/// Decides which entries become chunks, and when the stream ends because of `until`.
struct Filter {
    /// The request.
    options: ReadOptions,
    /// `since` still applies (no entry at or after it seen yet).
    since_pending: bool,
    /// An entry after `until` was seen, or the stream otherwise ended.
    ended: bool,
}

impl Filter {
    /// A filter for `options`.
    fn new(options: ReadOptions) -> Self {
        Self { since_pending: options.since.is_some(), options, ended: false }
    }

    /// The chunk for the stored `line` of `path`, if it is an entry the request wants. `rest`
    /// marks the unterminated end of a file, which may be an entry still being written.
    fn accept(&mut self, line: &[u8], rest: bool, path: &Path) -> Option<OutputChunk> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let entry = match jsonlog::decode_entry(line) {
            Ok(entry) => entry,
            Err(e) if rest => {
                tracing::debug!(path = %path.display(), error = %e, "skipping incomplete log entry");
                return None;
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "skipping a corrupt log entry");
                return None;
            }
        };
        if self.since_pending {
            if self.options.since.is_some_and(|since| entry.time < since) {
                return None;
            }
            self.since_pending = false;
        }
        if self.options.until.is_some_and(|until| entry.time > until) {
            self.ended = true;
            return None;
        }
        let stream = match entry.stream.as_str() {
            "stdout" if self.options.stdout => StdStream::Stdout,
            "stderr" if self.options.stderr => StdStream::Stderr,
            _ => return None,
        };
        let mut chunk = OutputChunk::new(stream, Bytes::from(entry.log.into_bytes()));
        if self.options.timestamps {
            chunk.timestamp = crate::timefmt::fixed(entry.time);
        }
        if self.options.details {
            chunk.attrs = entry.attrs.into_iter().collect();
        }
        Some(chunk)
    }
}

/// A source of stored lines: one file, or part of it.
struct Segment {
    /// The bytes (decompressed for a `.gz` file).
    input: Box<dyn AsyncBufRead + Send + Unpin>,
    /// The file, for messages.
    path: PathBuf,
    /// Complete lines to drop first (the part of a compressed file before the tail).
    skip: usize,
    /// The line being assembled.
    line: Vec<u8>,
    /// The line being assembled exceeded [`MAX_ENTRY`] and is being dropped.
    overlong: bool,
    /// The input is decompressed: a corrupt stream ends the segment instead of the read.
    gzip: bool,
}

impl Segment {
    /// All of `file` from its current position.
    fn new(file: File, path: PathBuf) -> Self {
        Self::from_input(Box::new(BufReader::with_capacity(READ_BUFFER, file)), path)
    }

    /// The bytes `start..end` of `file`.
    async fn range(mut file: File, start: u64, end: u64, path: PathBuf) -> io::Result<Self> {
        file.seek(SeekFrom::Start(start)).await?;
        let input = BufReader::with_capacity(READ_BUFFER, file.take(end.saturating_sub(start)));
        Ok(Self::from_input(Box::new(input), path))
    }

    /// The decompressed content of the gzipped `file`, without its first `skip` lines.
    fn gzip(file: File, skip: usize, path: PathBuf) -> Self {
        let decoder = GzipDecoder::new(BufReader::with_capacity(READ_BUFFER, file));
        let mut segment =
            Self::from_input(Box::new(BufReader::with_capacity(READ_BUFFER, decoder)), path);
        segment.skip = skip;
        segment.gzip = true;
        segment
    }

    /// A segment reading `input`.
    fn from_input(input: Box<dyn AsyncBufRead + Send + Unpin>, path: PathBuf) -> Self {
        Self { input, path, skip: 0, line: Vec::new(), overlong: false, gzip: false }
    }

    /// The next complete line, with its newline; `None` at the end of the input, keeping an
    /// unterminated last line for [`Segment::take_rest`] (or for more reads, if it grows).
    async fn next_line(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            let buf = match self.input.fill_buf().await {
                Ok(buf) => buf,
                // A compression cut short (berthd stopped meanwhile): what it held is lost, as
                // with dockerd, which moves on to the next file after a decoding error.
                Err(e)
                    if self.gzip
                        && matches!(
                            e.kind(),
                            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                        ) =>
                {
                    tracing::warn!(path = %self.path.display(), error = %e, "skipping the rest of a corrupt compressed log file");
                    self.line.clear();
                    return Ok(None);
                }
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                return Ok(None);
            }
            let (used, complete) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if !self.overlong {
                self.line.extend_from_slice(&buf[..used]);
            }
            self.input.consume(used);
            if !complete {
                if self.line.len() > MAX_ENTRY {
                    self.overlong = true;
                    self.line = Vec::new();
                }
                continue;
            }
            let line = std::mem::take(&mut self.line);
            if std::mem::take(&mut self.overlong) {
                tracing::warn!(path = %self.path.display(), "skipping an overlong line in a log file");
            } else if self.skip > 0 {
                self.skip -= 1;
            } else {
                return Ok(Some(line));
            }
        }
    }

    /// The unterminated end of the input, once no more will come.
    fn take_rest(&mut self) -> Option<Vec<u8>> {
        if std::mem::take(&mut self.overlong) || self.line.is_empty() {
            self.line.clear();
            return None;
        }
        Some(std::mem::take(&mut self.line))
    }
}

/// The followed current file.
struct Live {
    /// `<id>-json.log`.
    path: PathBuf,
    /// Turns true when the container stopped.
    stop: watch::Receiver<bool>,
    /// The container stopped (or `until` passed): read what is left, then end.
    stopped: bool,
    /// `until`: once it is past, nothing more can match.
    until: Option<OffsetDateTime>,
    /// Whole files rotated out after the followed one and before the current one (when
    /// several rotations happened between two polls), to read before `file`.
    pending: VecDeque<Segment>,
    /// The file being followed; `None` until the path exists.
    file: Option<LiveFile>,
    /// `path` names a newer file: finish this one, then switch.
    rotated: bool,
    /// Everything was read.
    finished: bool,
}

/// An open file and its identity, to notice when the path names another file.
struct LiveFile {
    /// Its lines.
    segment: Segment,
    /// Its identity.
    id: FileId,
}

impl Live {
    /// The next stored line and whether it is an unterminated last line, waiting for one as
    /// long as the container runs; `None` once it stopped and everything was read.
    async fn next_line(&mut self) -> io::Result<Option<(Vec<u8>, bool)>> {
        loop {
            if self.finished {
                return Ok(None);
            }
            if let Some(segment) = self.pending.front_mut() {
                if let Some(line) = segment.next_line().await? {
                    return Ok(Some((line, false)));
                }
                let rest = segment.take_rest();
                self.pending.pop_front();
                if let Some(rest) = rest {
                    return Ok(Some((rest, true)));
                }
                continue;
            }
            if let Some(file) = self.file.as_mut() {
                if let Some(line) = file.segment.next_line().await? {
                    return Ok(Some((line, false)));
                }
                if self.rotated {
                    // The old file is drained (the writer never goes back to it): switch.
                    self.rotated = false;
                    let rest = file.segment.take_rest();
                    self.switch().await?;
                    if let Some(rest) = rest {
                        return Ok(Some((rest, true)));
                    }
                    continue;
                }
                if path_id(&self.path).await?.is_some_and(|id| id != file.id) {
                    // Entries may have reached the old file since its end was read.
                    self.rotated = true;
                    continue;
                }
            } else if let Some(file) = open_live(&self.path).await? {
                self.file = Some(file);
                continue;
            }
            if self.stopped {
                self.finished = true;
                let rest = self.file.take().and_then(|mut f| f.segment.take_rest());
                return Ok(rest.map(|rest| (rest, true)));
            }
            self.wait().await;
        }
    }

    /// Moves on from the drained, rotated-out file to the files written after it: the rotated
    /// files newer than it, if it is still among them (more than one rotation since the last
    /// poll), then the current file from its start.
    async fn switch(&mut self) -> io::Result<()> {
        let old = self.file.take().map(|f| f.id);
        let snapshot = Snapshot::open(&self.path, true).await?;
        let position = old.and_then(|id| snapshot.rotated.iter().position(|r| r.id == id));
        let newer = match position {
            Some(i) => i + 1,
            // Gone without compression: rotated out of `max-file`, so every rotated file
            // is newer.
            None if snapshot.rotated.iter().all(|r| !r.gzip) => 0,
            // Gone, probably compressed into one of the `.gz` files (whose identity differs):
            // which ones are newer is unknown. dockerd also skips files when it falls behind by
            // more than one rotation.
            None => snapshot.rotated.len(),
        };
        for rotated in snapshot.rotated.into_iter().skip(newer) {
            self.pending.push_back(rotated.into_segment(&mut None).await?);
        }
        self.file = snapshot.current.map(|Current { file, id, .. }| LiveFile {
            segment: Segment::new(file, self.path.clone()),
            id,
        });
        Ok(())
    }

    /// Sleeps until the next poll or until the container stops; notes when it did.
    async fn wait(&mut self) {
        tokio::select! {
            () = tokio::time::sleep(POLL) => {}
            changed = self.stop.changed() => {
                if changed.is_err() {
                    // The container's record is gone: nothing more will be written.
                    self.stopped = true;
                }
            }
        }
        if *self.stop.borrow_and_update() {
            self.stopped = true;
        }
        if self.until.is_some_and(|until| OffsetDateTime::now_utc() > until + UNTIL_GRACE) {
            self.stopped = true;
        }
    }
}

/// Opens the file `path` names now, from its start; `None` if there is none.
async fn open_live(path: &Path) -> io::Result<Option<LiveFile>> {
    let Some(file) = open_if_exists(path).await? else { return Ok(None) };
    let id = FileId::of(&file.metadata().await?);
    Ok(Some(LiveFile { segment: Segment::new(file, path.to_owned()), id }))
}

/// The identity of the file `path` names now; `None` if there is none (a rotation in
/// progress).
async fn path_id(path: &Path) -> io::Result<Option<FileId>> {
    match tokio::fs::metadata(path).await {
        Ok(meta) => Ok(Some(FileId::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// Opens `path` for reading; `None` if it does not exist.
async fn open_if_exists(path: &Path) -> io::Result<Option<File>> {
    match File::open(path).await {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// A file's identity: device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FileId {
    /// `st_dev`.
    dev: u64,
    /// `st_ino`.
    ino: u64,
}

impl FileId {
    /// The identity in `meta`.
    fn of(meta: &std::fs::Metadata) -> Self {
        Self { dev: meta.dev(), ino: meta.ino() }
    }
}

/// The current log file, open.
struct Current {
    /// The file.
    file: File,
    /// Its identity.
    id: FileId,
    /// Its size when opened.
    len: u64,
}

/// A rotated file, open.
struct Rotated {
    /// The file.
    file: File,
    /// Its identity.
    id: FileId,
    /// `<log>.N.gz` rather than `<log>.N`.
    gzip: bool,
    /// Its path, for messages.
    path: PathBuf,
}

impl Rotated {
    /// The segment of this file a request needs: all of it, or its last `remaining` lines
    /// (and `remaining` is reduced by the lines it holds).
    async fn into_segment(self, remaining: &mut Option<usize>) -> io::Result<Segment> {
        let Rotated { mut file, gzip, path, .. } = self;
        if gzip {
            let skip = match remaining {
                None => 0,
                Some(n) => {
                    let lines = count_gzip_lines(&mut file).await?;
                    let taken = lines.min(*n);
                    *n -= taken;
                    lines - taken
                }
            };
            return Ok(Segment::gzip(file, skip, path));
        }
        let len = file.metadata().await?.len();
        match remaining {
            None => Segment::range(file, 0, len, path).await,
            Some(n) => {
                let range = tail_range(&mut file, len, *n).await?;
                *n -= range.found;
                Segment::range(file, range.start, range.end, path).await
            }
        }
    }
}

/// Every file of a log, opened together so that a rotation cannot make the reader miss or
/// repeat one.
struct Snapshot {
    /// Rotated files, oldest first.
    rotated: Vec<Rotated>,
    /// The current file, if it exists.
    current: Option<Current>,
}

impl Snapshot {
    /// Opens the current file and (with `rotated`) the rotated ones. The current file is opened
    /// first: if a rotation happens meanwhile, it shows up among the rotated files (same
    /// identity, or a rotated file gone) and the whole set is opened again.
    async fn open(path: &Path, rotated: bool) -> io::Result<Self> {
        const ATTEMPTS: usize = 5;
        for attempt in 1..=ATTEMPTS {
            if let Some(snapshot) = Self::try_open(path, rotated, attempt == ATTEMPTS).await? {
                return Ok(snapshot);
            }
        }
        Err(io::Error::other("log files kept rotating while being opened"))
    }

    /// One attempt of [`Snapshot::open`]: `None` if a rotation got in the way, unless
    /// `last`, which takes what it can.
    async fn try_open(path: &Path, with_rotated: bool, last: bool) -> io::Result<Option<Self>> {
        let current = match open_if_exists(path).await? {
            None => None,
            Some(file) => {
                let meta = file.metadata().await?;
                Some(Current { file, id: FileId::of(&meta), len: meta.len() })
            }
        };
        let mut seen: HashSet<FileId> = current.iter().map(|c| c.id).collect();
        let mut rotated = Vec::new();
        if with_rotated {
            for (gzip, rotated_path) in list_rotated(path).await? {
                let file = match File::open(&rotated_path).await {
                    Ok(file) => file,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {
                        if last {
                            continue;
                        }
                        return Ok(None);
                    }
                    Err(e) => return Err(e),
                };
                let id = FileId::of(&file.metadata().await?);
                if !seen.insert(id) {
                    if last {
                        continue;
                    }
                    return Ok(None);
                }
                rotated.push(Rotated { file, id, gzip, path: rotated_path });
            }
        }
        Ok(Some(Self { rotated, current }))
    }
}

/// The rotated files of the log at `path`, oldest (highest number) first: `<log>.N`, or
/// `<log>.N.gz` where there is no uncompressed copy (one being compressed has both).
async fn list_rotated(path: &Path) -> io::Result<Vec<(bool, PathBuf)>> {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return Ok(Vec::new()) };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // Number → compressed; an uncompressed copy wins.
    let mut found: BTreeMap<usize, bool> = BTreeMap::new();
    while let Some(entry) = entries.next_entry().await? {
        let file_name = entry.file_name();
        let Some(suffix) =
            file_name.to_str().and_then(|f| f.strip_prefix(name)).and_then(|f| f.strip_prefix('.'))
        else {
            continue;
        };
        let (number, gzip) = match suffix.strip_suffix(".gz") {
            Some(number) => (number, true),
            None => (suffix, false),
        };
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(number) = number.parse::<usize>() else { continue };
        if number == 0 {
            continue;
        }
        let slot = found.entry(number).or_insert(gzip);
        *slot = *slot && gzip;
    }
    Ok(found
        .into_iter()
        .rev()
        .map(|(n, gzip)| (gzip, super::writer::rotated_path(path, n, gzip)))
        .collect())
}

/// Where the last lines of a file are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct TailRange {
    /// The offset of the first of them.
    start: u64,
    /// The offset just past the last newline.
    end: u64,
    /// How many lines `start..end` holds (fewer than asked when the file has fewer).
    found: usize,
}

/// The last `n` complete lines of the first `len` bytes of `file`, found by reading backwards
/// in blocks (dockerd's `tailfile`). An unterminated last line is not counted. With `n` = 0,
/// the empty range at the end of the last complete line.
async fn tail_range(file: &mut File, len: u64, n: usize) -> io::Result<TailRange> {
    let mut buf = vec![0; TAIL_BLOCK];
    let mut pos = len;
    let mut end = None;
    let mut newlines = 0;
    while pos > 0 {
        let block = usize::try_from(pos).map_or(TAIL_BLOCK, |p| p.min(TAIL_BLOCK));
        let start = pos - block as u64;
        file.seek(SeekFrom::Start(start)).await?;
        file.read_exact(&mut buf[..block]).await?;
        for (i, &b) in buf[..block].iter().enumerate().rev() {
            if b != b'\n' {
                continue;
            }
            let after = start + i as u64 + 1;
            let end = *end.get_or_insert(after);
            if newlines == n {
                return Ok(TailRange { start: after, end, found: n });
            }
            newlines += 1;
        }
        pos = start;
    }
    Ok(TailRange { start: 0, end: end.unwrap_or(0), found: newlines })
}

/// The number of lines in the gzipped `file`, which is left at its start.
async fn count_gzip_lines(file: &mut File) -> io::Result<usize> {
    let mut decoder = GzipDecoder::new(BufReader::with_capacity(READ_BUFFER, &mut *file));
    let mut buf = vec![0; READ_BUFFER];
    let mut lines = 0;
    loop {
        let n = match decoder.read(&mut buf).await {
            Ok(n) => n,
            // Corrupt: the segment will end at the same place (see `Segment::next_line`).
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof
                ) =>
            {
                0
            }
            Err(e) => return Err(e),
        };
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
    }
    drop(decoder);
    file.seek(SeekFrom::Start(0)).await?;
    Ok(lines)
}
