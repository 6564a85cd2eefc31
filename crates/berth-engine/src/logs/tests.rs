//! Unit tests of the json-file driver: the format, the line splitter, options, the writer's
//! rotation and the reader (tail, since/until, follow across rotations), on temporary
//! directories.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_api::ErrorKind;
use berth_backend::{ContainerLogsOptions, OutputChunk, OutputStream, StdStream};
use futures_util::StreamExt;
use time::OffsetDateTime;
use time::macros::datetime;
use tokio::sync::watch;

use super::jsonlog::{decode_entry, encode_entry};
use super::line::MAX_LINE;
use super::options::from_human_size;
use super::{LineBuffer, LogContext, LogOptions, LogWriter, ReadOptions, read};

/// How long a test waits for something that should happen at once.
const DEADLINE: Duration = Duration::from_secs(10);

/// 2024-01-02T03:04:05Z plus `secs` seconds and `nanos` nanoseconds.
fn at(secs: i64, nanos: i64) -> OffsetDateTime {
    datetime!(2024-01-02 03:04:05 UTC)
        + time::Duration::seconds(secs)
        + time::Duration::nanoseconds(nanos)
}

/// A temporary directory and the log path in it.
fn log_path() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("abc-json.log");
    (dir, path)
}

/// Options from `--log-opt` pairs.
fn opts(pairs: &[(&str, &str)]) -> berth_api::Result<LogOptions> {
    let map: HashMap<String, String> =
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    LogOptions::parse(&map)
}

/// Both streams, everything.
fn all() -> ReadOptions {
    ReadOptions { stdout: true, stderr: true, ..ReadOptions::default() }
}

/// Writes `n` stdout lines `line <first+i>\n`, stamped `at(first + i)`.
async fn write_numbered(writer: &mut LogWriter, first: usize, n: usize) {
    for i in first..first + n {
        let time = at(i64::try_from(i).expect("small"), 0);
        writer
            .write(StdStream::Stdout, format!("line {i}\n").as_bytes(), time)
            .await
            .expect("write");
    }
}

/// Reads a whole (non-following) log.
async fn read_all(path: &Path, options: ReadOptions) -> Vec<OutputChunk> {
    let stream = read(path, options, None).await.expect("read");
    let items: Vec<_> =
        tokio::time::timeout(DEADLINE, stream.collect()).await.expect("the stream ends");
    items.into_iter().map(|item| item.expect("chunk")).collect()
}

/// The chunks' text.
fn texts(chunks: &[OutputChunk]) -> Vec<String> {
    chunks.iter().map(|c| String::from_utf8_lossy(&c.bytes).into_owned()).collect()
}

/// The next chunk of a followed stream, which must come within the deadline.
async fn next_text(stream: &mut OutputStream) -> String {
    let item = tokio::time::timeout(DEADLINE, stream.next())
        .await
        .expect("a chunk in time")
        .expect("the stream goes on")
        .expect("a chunk");
    String::from_utf8_lossy(&item.bytes).into_owned()
}

/// The file names in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn entries_are_encoded_byte_for_byte_as_dockerd() {
    let mut out = Vec::new();
    encode_entry(&mut out, b"hello\n", "stdout", None, at(0, 123_456_789));
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "{\"log\":\"hello\\n\",\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05.123456789Z\"}\n"
    );

    // Go's escaping: HTML characters, control characters, invalid UTF-8 byte by byte,
    // U+2028/U+2029; other non-ASCII and DEL as they are.
    let mut out = Vec::new();
    let log = b"<a href=\"x\">&</a>\t\\\r\x01\x7f\xff\xe2\x82\xc3\xa9\xe2\x80\xa8\xe2\x80\xa9\n";
    encode_entry(&mut out, log, "stderr", Some(r#"{"a":"1"}"#), at(0, 0));
    let expected = concat!(
        r#"{"log":"\u003ca href=\"x\"\u003e\u0026\u003c/a\u003e\u0009\\\r\u0001"#,
        "\u{7f}",
        r#"\ufffd\ufffd\ufffdé\u2028\u2029\n","stream":"stderr","attrs":{"a":"1"},"#,
        r#""time":"2024-01-02T03:04:05Z"}"#,
        "\n"
    );
    assert_eq!(String::from_utf8(out).expect("utf-8"), expected);

    // An empty line has no "log" key, as with Go's omitempty.
    let mut out = Vec::new();
    encode_entry(&mut out, b"", "stdout", None, at(0, 0));
    assert_eq!(out, b"{\"stream\":\"stdout\",\"time\":\"2024-01-02T03:04:05Z\"}\n");
}

#[test]
fn entries_decode_what_they_encode() {
    let mut out = Vec::new();
    encode_entry(&mut out, "é <x> \u{2028}\n".as_bytes(), "stdout", Some(r#"{"k":"v"}"#), at(1, 5));
    let entry = decode_entry(&out).expect("decode");
    assert_eq!(entry.log, "é <x> \u{2028}\n");
    assert_eq!(entry.stream, "stdout");
    assert_eq!(entry.time, at(1, 5));
    assert_eq!(entry.attrs, BTreeMap::from([("k".to_owned(), "v".to_owned())]));
    // dockerd's own files may carry other offsets; missing fields are empty.
    let entry = decode_entry(br#"{"time":"2024-01-02T05:04:05+02:00"}"#).expect("decode");
    assert_eq!((entry.log.as_str(), entry.time), ("", at(0, 0)));
    assert!(decode_entry(br#"{"log":"x\n","stream":"stdout","time":"yesterday"}"#).is_err());
    assert!(decode_entry(br#"{"log":"x\n","stre"#).is_err());
}

#[test]
fn line_buffer_splits_lines_and_keeps_the_rest() {
    let mut lines = LineBuffer::new();
    let out = lines.push(b"one\ntw", at(0, 0));
    assert_eq!(out.len(), 1);
    assert_eq!((&out[0].bytes[..], out[0].time), (&b"one\n"[..], at(0, 0)));
    let out = lines.push(b"o\nthree\n\nfou", at(1, 0));
    let bytes: Vec<&[u8]> = out.iter().map(|l| &l.bytes[..]).collect();
    assert_eq!(bytes, [&b"two\n"[..], b"three\n", b"\n"]);
    assert!(out.iter().all(|l| l.time == at(1, 0)));
    // The end of the stream flushes the unterminated rest, without a newline.
    let last = lines.finish(at(2, 0)).expect("rest");
    assert_eq!((&last.bytes[..], last.time), (&b"fou"[..], at(2, 0)));
    assert!(lines.finish(at(3, 0)).is_none());
}

#[test]
fn line_buffer_logs_long_lines_in_16k_pieces_stamped_with_the_first() {
    let mut lines = LineBuffer::new();
    assert!(lines.push(&vec![b'a'; MAX_LINE - 1], at(0, 0)).is_empty());
    // The 16 KiB buffer is full without a newline: a piece without one.
    let out = lines.push(b"bc", at(1, 0));
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].bytes.len(), MAX_LINE);
    assert_eq!(out[0].bytes.last(), Some(&b'b'));
    // Stamped when the piece was logged.
    assert_eq!(out[0].time, at(1, 0));
    let first_piece = out[0].time;
    // The end of the long line shares the first piece's time; the next line has its own.
    let out = lines.push(b"d\nnext\n", at(2, 0));
    assert_eq!((&out[0].bytes[..], out[0].time), (&b"cd\n"[..], first_piece));
    assert_eq!((&out[1].bytes[..], out[1].time), (&b"next\n"[..], at(2, 0)));

    // A newline past the first 16 KiB does not make a longer message.
    let mut big = vec![b'x'; MAX_LINE + 10];
    big.push(b'\n');
    let out = lines.push(&big, at(3, 0));
    let sizes: Vec<usize> = out.iter().map(|l| l.bytes.len()).collect();
    assert_eq!(sizes, [MAX_LINE, 11]);
    // Exactly 16 KiB without newline is one piece, the newline a line of its own.
    let mut exact = vec![b'y'; MAX_LINE];
    exact.push(b'\n');
    let sizes: Vec<usize> = lines.push(&exact, at(4, 0)).iter().map(|l| l.bytes.len()).collect();
    assert_eq!(sizes, [MAX_LINE, 1]);
}

#[test]
fn options_parse_like_dockerd() {
    let defaults = opts(&[]).expect("defaults");
    assert_eq!((defaults.max_size, defaults.max_file, defaults.compress), (None, 1, false));

    let o = opts(&[("max-size", "10m"), ("max-file", "3"), ("compress", "true")]).expect("ok");
    assert_eq!((o.max_size, o.max_file, o.compress), (Some(10_000_000), 3, true));
    assert_eq!(opts(&[("max-size", "-1")]).expect("unlimited").max_size, None);
    for (size, bytes) in [("1k", 1000), ("2KB", 2000), ("1kib", 1000), ("1.5m", 1_500_000)] {
        assert_eq!(from_human_size(size), Ok(bytes), "{size}");
    }
    assert_eq!(from_human_size("5 g"), Ok(5_000_000_000));
    assert_eq!(from_human_size("12"), Ok(12));

    let err = |pairs: &[(&str, &str)]| {
        let e = opts(pairs).expect_err("invalid");
        assert_eq!(e.kind(), ErrorKind::InvalidParameter);
        e.message().to_owned()
    };
    assert_eq!(err(&[("max-bytes", "1")]), "unknown log opt 'max-bytes' for json-file log driver");
    assert_eq!(err(&[("max-size", "abc")]), "invalid size: 'abc'");
    assert_eq!(err(&[("max-size", "10x")]), "invalid suffix: 'x'");
    assert_eq!(err(&[("max-size", "10mbb")]), "invalid suffix: 'mbb'");
    assert_eq!(
        err(&[("max-size", "1.2.3")]),
        r#"strconv.ParseFloat: parsing "1.2.3": invalid syntax"#
    );
    assert_eq!(err(&[("max-size", "0")]), "max-size must be a positive number");
    assert_eq!(err(&[("max-file", "x")]), r#"strconv.Atoi: parsing "x": invalid syntax"#);
    assert_eq!(err(&[("max-file", "0")]), "max-file cannot be less than 1");
    assert_eq!(err(&[("compress", "yes")]), r#"strconv.ParseBool: parsing "yes": invalid syntax"#);
    assert_eq!(
        err(&[("compress", "true"), ("max-file", "2")]),
        "compress cannot be true when max-file is less than 2 or max-size is not set"
    );
    assert_eq!(
        err(&[("compress", "1"), ("max-size", "1k")]),
        "compress cannot be true when max-file is less than 2 or max-size is not set"
    );
}

#[test]
fn labels_env_and_tag_become_attributes() {
    let mut o = opts(&[
        ("labels", "team,missing"),
        ("env", "REGION,NOPE"),
        ("env-regex", "^A"),
        ("tag", "{{.Name}}/{{.ID}}/{{.ImageName}}"),
    ])
    .expect("ok");
    let labels = BTreeMap::from([
        ("team".to_owned(), "core".to_owned()),
        ("other".to_owned(), "x".to_owned()),
    ]);
    let env = ["REGION=eu=1".to_owned(), "HOME=/root".to_owned()];
    o.resolve_attrs(&LogContext {
        id: "0123456789abcdef0123",
        name: "/web",
        image_id: "sha256:feedfacefeedface",
        image_name: "nginx:latest",
        labels: &labels,
        env: &env,
    });
    let expected = BTreeMap::from([
        ("REGION".to_owned(), "eu=1".to_owned()),
        ("tag".to_owned(), "web/0123456789ab/nginx:latest".to_owned()),
        ("team".to_owned(), "core".to_owned()),
    ]);
    assert_eq!(o.attrs, expected);
}

#[tokio::test]
async fn write_then_read_both_streams_with_details_and_timestamps() {
    let (dir, path) = log_path();
    let mut options = LogOptions::default();
    options.attrs =
        BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".to_owned(), "1".to_owned())]);
    let mut writer = LogWriter::open(&path, options).expect("open");
    writer.write(StdStream::Stdout, b"out 1\n", at(0, 123_456_789)).await.expect("write");
    writer.write(StdStream::Stderr, b"err 1\n", at(1, 0)).await.expect("write");
    writer.write(StdStream::Stdout, b"partial", at(2, 0)).await.expect("write");
    assert!(writer.write(StdStream::Stdin, b"x\n", at(3, 0)).await.is_err());
    writer.close().await.expect("close");

    let file = std::fs::read_to_string(&path).expect("log");
    let first = file.lines().next().expect("a line");
    assert_eq!(
        first,
        r#"{"log":"out 1\n","stream":"stdout","attrs":{"a":"1","b":"2"},"time":"2024-01-02T03:04:05.123456789Z"}"#
    );
    assert_eq!(files_in(dir.path()), ["abc-json.log"]);

    let chunks = read_all(&path, ReadOptions { timestamps: true, details: true, ..all() }).await;
    assert_eq!(texts(&chunks), ["out 1\n", "err 1\n", "partial"]);
    let streams: Vec<StdStream> = chunks.iter().map(|c| c.stream).collect();
    assert_eq!(streams, [StdStream::Stdout, StdStream::Stderr, StdStream::Stdout]);
    assert_eq!(chunks[0].timestamp, "2024-01-02T03:04:05.123456789Z");
    assert_eq!(chunks[1].timestamp, "2024-01-02T03:04:06.000000000Z");
    assert_eq!(
        chunks[0].attrs,
        [("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]
    );

    // Without timestamps and details, and one stream only.
    let chunks = read_all(&path, ReadOptions { stdout: false, ..all() }).await;
    assert_eq!(texts(&chunks), ["err 1\n"]);
    assert!(chunks[0].timestamp.is_empty() && chunks[0].attrs.is_empty());
}

#[tokio::test]
async fn reopening_appends() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 2).await;
    drop(writer);
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("reopen");
    write_numbered(&mut writer, 2, 1).await;
    assert_eq!(texts(&read_all(&path, all()).await), ["line 0\n", "line 1\n", "line 2\n"]);
}

#[tokio::test]
async fn a_missing_log_reads_empty() {
    let (_dir, path) = log_path();
    assert!(read_all(&path, all()).await.is_empty());
}

/// One entry of `line N\n` at `at(N)` is 67 bytes for N < 10.
const ENTRY_LEN: u64 = 67;

#[tokio::test]
async fn rotation_keeps_max_file_files_of_about_max_size() {
    let (dir, path) = log_path();
    // Two entries reach 146 ≥ 100 bytes: every third write rotates first.
    let options = opts(&[("max-size", "100"), ("max-file", "3")]).expect("options");
    let mut writer = LogWriter::open(&path, options).expect("open");
    write_numbered(&mut writer, 0, 1).await;
    assert_eq!(std::fs::metadata(&path).expect("stat").len(), ENTRY_LEN);
    write_numbered(&mut writer, 1, 6).await;
    assert_eq!(files_in(dir.path()), ["abc-json.log", "abc-json.log.1", "abc-json.log.2"]);
    let lines_of = |p: PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .expect("file")
            .lines()
            .map(|l| decode_entry(l.as_bytes()).expect("entry").log)
            .collect()
    };
    // 7 entries in pairs: [0,1] dropped, [2,3] in .2, [4,5] in .1, [6] current.
    assert_eq!(lines_of(path.with_extension("log.2")), ["line 2\n", "line 3\n"]);
    assert_eq!(lines_of(path.with_extension("log.1")), ["line 4\n", "line 5\n"]);
    assert_eq!(lines_of(path.clone()), ["line 6\n"]);
    // Reading goes oldest to newest across the files.
    let expected: Vec<String> = (2..7).map(|i| format!("line {i}\n")).collect();
    assert_eq!(texts(&read_all(&path, all()).await), expected);
}

#[tokio::test]
async fn max_file_one_truncates() {
    let (dir, path) = log_path();
    let options = opts(&[("max-size", "100")]).expect("options");
    let mut writer = LogWriter::open(&path, options).expect("open");
    write_numbered(&mut writer, 0, 5).await;
    assert_eq!(files_in(dir.path()), ["abc-json.log"]);
    assert_eq!(texts(&read_all(&path, all()).await), ["line 4\n"]);
}

#[tokio::test]
async fn tail_counts_back_across_rotated_files() {
    let (_dir, path) = log_path();
    let options = opts(&[("max-size", "100"), ("max-file", "4")]).expect("options");
    let mut writer = LogWriter::open(&path, options).expect("open");
    write_numbered(&mut writer, 0, 7).await;
    // Files: .3 [0,1], .2 [2,3], .1 [4,5], current [6].
    let tail = |n: usize| ReadOptions { tail: Some(n), ..all() };
    assert_eq!(texts(&read_all(&path, tail(1)).await), ["line 6\n"]);
    assert_eq!(texts(&read_all(&path, tail(2)).await), ["line 5\n", "line 6\n"]);
    let expected: Vec<String> = (2..7).map(|i| format!("line {i}\n")).collect();
    assert_eq!(texts(&read_all(&path, tail(5)).await), expected);
    let expected: Vec<String> = (0..7).map(|i| format!("line {i}\n")).collect();
    assert_eq!(texts(&read_all(&path, tail(100)).await), expected);
    assert!(read_all(&path, tail(0)).await.is_empty());
}

#[tokio::test]
async fn tail_of_a_large_file_reads_backwards() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 3000).await;
    // An entry still being written at the end is neither counted nor shown.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, br#"{"log":"half"#))
        .expect("append");
    let chunks = read_all(&path, ReadOptions { tail: Some(3), ..all() }).await;
    assert_eq!(texts(&chunks), ["line 2997\n", "line 2998\n", "line 2999\n"]);
    assert_eq!(read_all(&path, all()).await.len(), 3000);
    // `tail` counts lines before the stream filter, as dockerd does.
    let chunks = read_all(&path, ReadOptions { stdout: false, tail: Some(3), ..all() }).await;
    assert!(chunks.is_empty());
}

#[tokio::test]
async fn compressed_rotated_files_are_read_and_tailed() {
    let (dir, path) = log_path();
    let options =
        opts(&[("max-size", "100"), ("max-file", "3"), ("compress", "true")]).expect("options");
    let mut writer = LogWriter::open(&path, options).expect("open");
    write_numbered(&mut writer, 0, 7).await;
    writer.close().await.expect("close");
    assert_eq!(files_in(dir.path()), ["abc-json.log", "abc-json.log.1.gz", "abc-json.log.2.gz"]);
    let expected: Vec<String> = (2..7).map(|i| format!("line {i}\n")).collect();
    assert_eq!(texts(&read_all(&path, all()).await), expected);
    let chunks = read_all(&path, ReadOptions { tail: Some(4), ..all() }).await;
    assert_eq!(texts(&chunks), ["line 3\n", "line 4\n", "line 5\n", "line 6\n"]);
}

#[tokio::test]
async fn a_corrupt_compressed_file_is_skipped() {
    let (dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 2).await;
    std::fs::write(dir.path().join("abc-json.log.1.gz"), b"\x1f\x8b not really gzip").expect("gz");
    assert_eq!(texts(&read_all(&path, all()).await), ["line 0\n", "line 1\n"]);
    let chunks = read_all(&path, ReadOptions { tail: Some(5), ..all() }).await;
    assert_eq!(texts(&chunks), ["line 0\n", "line 1\n"]);
}

#[tokio::test]
async fn since_and_until_select_a_window() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 6).await;
    let base = at(0, 0).unix_timestamp();
    let window = |since: String, until: String| ContainerLogsOptions {
        stdout: true,
        stderr: true,
        since,
        until,
        ..ContainerLogsOptions::default()
    };
    // `since` is inclusive, `until` too (entries after it end the stream).
    let options =
        ReadOptions::from_api(&window(format!("{}", base + 2), format!("{}.5", base + 4)))
            .expect("options");
    assert_eq!(texts(&read_all(&path, options).await), ["line 2\n", "line 3\n", "line 4\n"]);
    let options =
        ReadOptions::from_api(&window(format!("{}.000000001", base + 4), "0".into())).expect("ok");
    assert_eq!(texts(&read_all(&path, options).await), ["line 5\n"]);
    // Empty and 0 mean unset.
    let options = ReadOptions::from_api(&window(String::new(), "0".into())).expect("options");
    assert_eq!((options.since, options.until), (None, None));
    let e = ReadOptions::from_api(&window("yesterday".into(), String::new())).expect_err("bad");
    assert_eq!(e.kind(), ErrorKind::InvalidParameter);
    assert!(e.message().contains("since"), "{}", e.message());
}

#[test]
fn tail_parses_like_dockerd() {
    let tail = |t: &str| {
        ReadOptions::from_api(&ContainerLogsOptions { tail: t.into(), ..Default::default() })
            .expect("options")
            .tail
    };
    assert_eq!(tail("all"), None);
    assert_eq!(tail(""), None);
    assert_eq!(tail("-1"), None);
    assert_eq!(tail("x"), None);
    assert_eq!(tail("0"), Some(0));
    assert_eq!(tail("25"), Some(25));
}

#[tokio::test]
async fn corrupt_lines_are_skipped() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 1).await;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"not json\n\n"))
        .expect("append");
    write_numbered(&mut writer, 1, 1).await;
    assert_eq!(texts(&read_all(&path, all()).await), ["line 0\n", "line 1\n"]);
}

#[tokio::test]
async fn follow_picks_up_new_lines_and_ends_when_the_container_stops() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 2).await;
    let (stop, running) = watch::channel(false);
    let options = ReadOptions { tail: Some(1), ..all() };
    let mut stream = read(&path, options, Some(running)).await.expect("read");
    assert_eq!(next_text(&mut stream).await, "line 1\n");
    write_numbered(&mut writer, 2, 1).await;
    assert_eq!(next_text(&mut stream).await, "line 2\n");
    // What is written before the stop is still delivered, then the stream ends.
    write_numbered(&mut writer, 3, 1).await;
    stop.send(true).expect("send");
    assert_eq!(next_text(&mut stream).await, "line 3\n");
    let end = tokio::time::timeout(DEADLINE, stream.next()).await.expect("ends in time");
    assert!(end.is_none());
}

#[tokio::test]
async fn follow_completes_a_line_being_written() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 1).await;
    let mut raw = Vec::new();
    encode_entry(&mut raw, b"late\n", "stdout", None, at(9, 0));
    let (head, tail) = raw.split_at(20);
    let append = |bytes: &[u8]| {
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .and_then(|mut f| std::io::Write::write_all(&mut f, bytes))
            .expect("append");
    };
    append(head);
    let (stop, running) = watch::channel(false);
    let mut stream = read(&path, all(), Some(running)).await.expect("read");
    assert_eq!(next_text(&mut stream).await, "line 0\n");
    append(tail);
    assert_eq!(next_text(&mut stream).await, "late\n");
    drop(stop);
    let end = tokio::time::timeout(DEADLINE, stream.next()).await.expect("ends in time");
    assert!(end.is_none(), "a dropped sender ends the stream");
}

#[tokio::test]
async fn follow_continues_across_rotations() {
    let (_dir, path) = log_path();
    let options = opts(&[("max-size", "100"), ("max-file", "2")]).expect("options");
    let mut writer = LogWriter::open(&path, options).expect("open");
    write_numbered(&mut writer, 0, 1).await;
    let (stop, running) = watch::channel(false);
    let mut stream = read(&path, all(), Some(running)).await.expect("read");
    assert_eq!(next_text(&mut stream).await, "line 0\n");
    // Line 1 goes to the old file, line 2 rotates it to .1 and starts a new one.
    for i in 1..6 {
        write_numbered(&mut writer, i, 1).await;
        assert_eq!(next_text(&mut stream).await, format!("line {i}\n"));
    }
    // Several entries and a rotation between two polls are all delivered, in order.
    write_numbered(&mut writer, 6, 3).await;
    stop.send(true).expect("send");
    let rest: Vec<_> = tokio::time::timeout(DEADLINE, stream.collect::<Vec<_>>())
        .await
        .expect("ends in time")
        .into_iter()
        .map(|c| c.expect("chunk"))
        .collect();
    assert_eq!(texts(&rest), ["line 6\n", "line 7\n", "line 8\n"]);
}

#[tokio::test]
async fn follow_waits_for_the_log_to_appear() {
    let (_dir, path) = log_path();
    let (stop, running) = watch::channel(false);
    let mut stream = read(&path, all(), Some(running)).await.expect("read");
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 1).await;
    assert_eq!(next_text(&mut stream).await, "line 0\n");
    stop.send(true).expect("send");
    assert!(tokio::time::timeout(DEADLINE, stream.next()).await.expect("in time").is_none());
}

#[tokio::test]
async fn follow_ends_at_the_first_entry_after_until() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    let now = OffsetDateTime::now_utc();
    let hour = time::Duration::hours(1);
    writer.write(StdStream::Stdout, b"before\n", now).await.expect("write");
    let (_stop, running) = watch::channel(false);
    let options = ReadOptions { until: Some(now + hour), ..all() };
    let mut stream = read(&path, options, Some(running)).await.expect("read");
    assert_eq!(next_text(&mut stream).await, "before\n");
    writer.write(StdStream::Stdout, b"at until\n", now + hour).await.expect("write");
    writer.write(StdStream::Stdout, b"after\n", now + hour * 2).await.expect("write");
    assert_eq!(next_text(&mut stream).await, "at until\n");
    let end = tokio::time::timeout(DEADLINE, stream.next()).await.expect("ends in time");
    assert!(end.is_none(), "the entry after until ends the stream");
}

#[tokio::test]
async fn follow_with_until_in_the_past_ends_once_drained() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 2).await;
    let (_stop, running) = watch::channel(false);
    let options = ReadOptions { until: Some(at(5, 0)), ..all() };
    let stream = read(&path, options, Some(running)).await.expect("read");
    let items: Vec<_> =
        tokio::time::timeout(DEADLINE, stream.collect::<Vec<_>>()).await.expect("ends in time");
    assert_eq!(items.len(), 2);
}

#[tokio::test]
async fn follow_from_tail_zero_shows_only_new_lines() {
    let (_dir, path) = log_path();
    let mut writer = LogWriter::open(&path, LogOptions::default()).expect("open");
    write_numbered(&mut writer, 0, 3).await;
    let (stop, running) = watch::channel(false);
    let mut stream =
        read(&path, ReadOptions { tail: Some(0), ..all() }, Some(running)).await.expect("read");
    write_numbered(&mut writer, 3, 1).await;
    assert_eq!(next_text(&mut stream).await, "line 3\n");
    // A client going away drops the stream and everything it held: no task lives on.
    drop(stream);
    assert_eq!(stop.receiver_count(), 0);
}
