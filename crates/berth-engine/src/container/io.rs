//! A container's streams: the output pump of each run (log file + live broadcast), the stdin
//! queue that outlives runs (`docker run -i` attaches before it starts), and attach streams
//! with detach keys.

use std::sync::Arc;

use berth_api::Result;
use berth_backend::{ByteStream, OutputChunk, OutputStream, StdStream};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::logging::LogSink;
use crate::runtime::stdio::{Chunk, Output};
use crate::runtime::task::Runtime;

/// Messages the stdin queue of a container carries.
#[derive(Debug)]
pub(crate) enum StdinMsg {
    /// Bytes for the process.
    Data(Bytes),
    /// Close the process's stdin (`StdinOnce` attach ended, or the client half-closed exec
    /// stdin).
    Close,
}

/// The sending side of a container's stdin queue; the receiving side belongs to the current
/// run's writer.
pub(crate) type StdinHandle = mpsc::Sender<StdinMsg>;

/// The receiving side, handed from run to run.
pub(crate) type StdinQueue = mpsc::Receiver<StdinMsg>;

/// Messages buffered in a stdin queue before attach clients wait.
pub(crate) const STDIN_QUEUE: usize = 64;

/// What a container's output broadcast carries.
#[derive(Debug, Clone)]
pub(crate) enum OutputEvent {
    /// Output of the current run.
    Chunk(OutputChunk),
    /// The run's output ended (the process exited and its stdio closed).
    End,
}

/// Reads a run's output until it ends, feeding the log and the broadcast, then sends
/// [`OutputEvent::End`]. Returns when done.
pub(crate) async fn pump(
    mut output: Output,
    mut log: Option<LogSink>,
    live: broadcast::Sender<OutputEvent>,
) {
    while let Some(item) = output.next().await {
        let (stream, bytes) = match item {
            Ok(Chunk::Stdout(b)) => (StdStream::Stdout, b),
            Ok(Chunk::Stderr(b)) => (StdStream::Stderr, b),
            Err(e) => {
                tracing::warn!(error = %e, "reading container output failed");
                break;
            }
        };
        if let Some(log) = log.as_mut() {
            log.write(stream, &bytes).await;
        }
        // No attached client is fine.
        let _ = live.send(OutputEvent::Chunk(OutputChunk::new(stream, bytes)));
    }
    if let Some(log) = log {
        log.finish().await;
    }
    let _ = live.send(OutputEvent::End);
}

/// Writes the stdin queue into a run's stdin FIFO until the queue closes the stream or the run
/// ends (`done` fires); then hands the queue back through the returned value.
pub(crate) async fn stdin_writer(
    mut queue: StdinQueue,
    mut pipe: pipe::Sender,
    runtime: Runtime,
    id: String,
    exec_id: String,
    mut done: oneshot::Receiver<()>,
) -> StdinQueue {
    loop {
        tokio::select! {
            _ = &mut done => break,
            msg = queue.recv() => match msg {
                Some(StdinMsg::Data(bytes)) => {
                    if let Err(e) = pipe.write_all(&bytes).await {
                        tracing::debug!(container = %id, error = %e, "stdin closed by the process");
                        break;
                    }
                }
                Some(StdinMsg::Close) | None => {
                    drop(pipe);
                    if let Err(e) = runtime.close_stdin(&id, &exec_id).await {
                        tracing::debug!(container = %id, error = %e, "cannot close stdin");
                    }
                    // Wait for the end of the run before handing the queue back.
                    let _ = done.await;
                    return queue;
                }
            }
        }
    }
    queue
}

/// Parses detach keys (`ctrl-p,ctrl-q`, `a,ctrl-@`), already validated by the router; the
/// default when empty.
pub(crate) fn detach_sequence(keys: &str) -> Vec<u8> {
    let keys = if keys.is_empty() { "ctrl-p,ctrl-q" } else { keys };
    keys.split(',')
        .filter_map(|key| {
            let key = key.trim();
            if let Some(c) = key.strip_prefix("ctrl-") {
                let b = *c.as_bytes().first()?;
                match b {
                    b'a'..=b'z' => Some(b - b'a' + 1),
                    b'@' => Some(0),
                    b'[' => Some(27),
                    b'\\' => Some(28),
                    b']' => Some(29),
                    b'^' => Some(30),
                    b'_' => Some(31),
                    _ => None,
                }
            } else {
                key.as_bytes().first().copied()
            }
        })
        .collect()
}

/// What the end of a client's stdin (a half-close, or the client going away) does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StdinEnd {
    /// Closes the process's stdin; the output goes on (exec, and attach to a `StdinOnce`
    /// container without a TTY).
    CloseStdin,
    /// Ends the client's output, as a detach does, and leaves the process's stdin open (any
    /// other attach: dockerd closes the attach's output streams then, which is also how it
    /// lets go of a client that disconnected from a silent container).
    EndOutput,
}

/// Forwards an attach client's stdin into `queue`, watching for the detach sequence. Ends when
/// the client's stdin ends (then does what `on_end` says), or on detach (then fires
/// `detached`).
pub(crate) async fn forward_stdin(
    mut client: ByteStream,
    queue: StdinHandle,
    keys: Vec<u8>,
    on_end: StdinEnd,
    detached: oneshot::Sender<()>,
) {
    let mut matched = 0usize;
    while let Some(item) = client.next().await {
        let Ok(bytes) = item else { break };
        let mut out = Vec::with_capacity(bytes.len());
        for &b in bytes.iter() {
            if !keys.is_empty() && b == keys[matched] {
                matched += 1;
                if matched == keys.len() {
                    if !out.is_empty() {
                        let _ = queue.send(StdinMsg::Data(Bytes::from(out))).await;
                    }
                    let _ = detached.send(());
                    // Keep reading (and dropping) what the client still sends until it closes:
                    // closing our side under it would make its next write fail with EPIPE at a
                    // moment that depends on timing.
                    while client.next().await.is_some() {}
                    return;
                }
                continue;
            }
            // A broken sequence is passed through.
            out.extend_from_slice(&keys[..matched]);
            matched = 0;
            out.push(b);
        }
        if !out.is_empty() && queue.send(StdinMsg::Data(Bytes::from(out))).await.is_err() {
            return;
        }
    }
    match on_end {
        StdinEnd::CloseStdin => {
            let _ = queue.send(StdinMsg::Close).await;
        }
        StdinEnd::EndOutput => {
            let _ = detached.send(());
        }
    }
}

/// The live output of a container from now until the end of its current (or next) run,
/// filtered to the streams asked for; ends early when `detached` fires.
pub(crate) fn live_output(
    mut receiver: broadcast::Receiver<OutputEvent>,
    stdout: bool,
    stderr: bool,
    detached: Option<oneshot::Receiver<()>>,
) -> OutputStream {
    let (tx, rx) = mpsc::channel::<Result<OutputChunk>>(16);
    tokio::spawn(async move {
        let detach = async move {
            match detached {
                Some(d) => {
                    if d.await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        tokio::pin!(detach);
        loop {
            let event = tokio::select! {
                _ = &mut detach => break,
                () = tx.closed() => break,
                event = receiver.recv() => event,
            };
            match event {
                Ok(OutputEvent::Chunk(chunk)) => {
                    let wanted = match chunk.stream {
                        StdStream::Stderr => stderr,
                        _ => stdout,
                    };
                    if wanted && tx.send(Ok(chunk)).await.is_err() {
                        break;
                    }
                }
                Ok(OutputEvent::End) | Err(broadcast::error::RecvError::Closed) => break,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::debug!(skipped = n, "attach client too slow; output skipped");
                }
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx).boxed()
}

/// Shared handle on a stdin queue's receiver between runs.
pub(crate) type QueueSlot = Arc<std::sync::Mutex<Option<StdinQueue>>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse() {
        assert_eq!(detach_sequence(""), [16, 17]);
        assert_eq!(detach_sequence("ctrl-a,x,ctrl-@"), [1, b'x', 0]);
    }

    #[tokio::test]
    async fn stdin_detaches_on_the_key_sequence_and_passes_broken_ones() {
        let (tx, mut rx) = mpsc::channel(8);
        let (dtx, drx) = oneshot::channel();
        let client: ByteStream = futures_util::stream::iter(vec![
            Ok(Bytes::from_static(b"ab\x10c")),
            Ok(Bytes::from_static(b"d\x10\x11ignored")),
        ])
        .boxed();
        forward_stdin(client, tx, detach_sequence(""), StdinEnd::CloseStdin, dtx).await;
        let mut got = Vec::new();
        while let Ok(msg) = rx.try_recv() {
            match msg {
                StdinMsg::Data(b) => got.extend_from_slice(&b),
                StdinMsg::Close => panic!("detach must not close stdin"),
            }
        }
        assert_eq!(got, b"ab\x10cd");
        assert!(drx.await.is_ok(), "detach fired");
    }

    #[tokio::test]
    async fn stdin_eof_closes_when_asked() {
        let (tx, mut rx) = mpsc::channel(8);
        let (dtx, _drx) = oneshot::channel();
        let client: ByteStream =
            futures_util::stream::iter(vec![Ok(Bytes::from_static(b"x"))]).boxed();
        forward_stdin(client, tx, Vec::new(), StdinEnd::CloseStdin, dtx).await;
        assert!(matches!(rx.recv().await, Some(StdinMsg::Data(_))));
        assert!(matches!(rx.recv().await, Some(StdinMsg::Close)));
    }

    #[tokio::test]
    async fn stdin_eof_ends_the_output_when_asked_and_leaves_stdin_open() {
        let (tx, mut rx) = mpsc::channel(8);
        let (dtx, drx) = oneshot::channel();
        let (live_tx, live_rx) = broadcast::channel(8);
        let output = live_output(live_rx, true, true, Some(drx));
        let client: ByteStream =
            futures_util::stream::iter(vec![Ok(Bytes::from_static(b"x"))]).boxed();
        forward_stdin(client, tx, Vec::new(), StdinEnd::EndOutput, dtx).await;
        assert!(matches!(rx.recv().await, Some(StdinMsg::Data(_))));
        assert!(rx.recv().await.is_none(), "no Close: the process keeps its stdin");
        // The output ends although the run goes on (nothing more is sent).
        let got: Vec<_> = output.collect().await;
        assert!(got.is_empty(), "{got:?}");
        drop(live_tx);
    }

    #[tokio::test]
    async fn live_output_filters_and_ends_at_the_end_of_the_run() {
        let (tx, rx) = broadcast::channel(8);
        let stream = live_output(rx, true, false, None);
        tx.send(OutputEvent::Chunk(OutputChunk::new(StdStream::Stdout, "out"))).expect("send");
        tx.send(OutputEvent::Chunk(OutputChunk::new(StdStream::Stderr, "err"))).expect("send");
        tx.send(OutputEvent::End).expect("send");
        let got: Vec<_> = stream.map(|c| c.expect("chunk").bytes).collect().await;
        assert_eq!(got, [Bytes::from_static(b"out")]);
    }
}
