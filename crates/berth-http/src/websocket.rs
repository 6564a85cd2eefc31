//! `GET /containers/{name}/attach/ws`: attach over a websocket, as dockerd's
//! `wsContainersAttach` serves it.
//!
//! Output is never multiplexed (the frames keep the bytes as they were written, stdout and
//! stderr alike) and goes out as binary messages from API 1.28 on, text messages before. The
//! payload of every message the client sends, text or binary, is the container's stdin. When the
//! output ends Berth closes the socket; when the client closes it or goes away, stdin ends and
//! the attach with it.

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use berth_api::Error;
use bytes::Bytes;
use futures_core::Stream;
use futures_util::{SinkExt, StreamExt};
use http::request::Parts;
use tokio::sync::mpsc;

use crate::hijack::STDIN_BUFFER;

/// The websocket side of an `attach/ws` request. Extract it as `Option<WebSocketAttach>`:
/// `None` when the request is not a websocket handshake.
pub struct WebSocketAttach {
    upgrade: WebSocketUpgrade,
    stdin_tx: Option<mpsc::Sender<Result<Bytes, Error>>>,
}

impl std::fmt::Debug for WebSocketAttach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSocketAttach").finish_non_exhaustive()
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for WebSocketAttach {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(<WebSocketUpgrade as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .ok()
            .map(|upgrade| Self { upgrade, stdin_tx: None }))
    }
}

impl WebSocketAttach {
    /// The client's message payloads, fed once [`WebSocketAttach::respond`]'s handshake is done:
    /// hand it to the backend and do not wait on it before responding.
    pub fn stdin(&mut self) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        let (tx, mut rx) = mpsc::channel(STDIN_BUFFER);
        self.stdin_tx = Some(tx);
        futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
    }

    /// The `101 Switching Protocols` answer; `output` then goes out one message per item,
    /// binary (`binary`, API ≥ 1.28) or text.
    pub fn respond<S>(self, binary: bool, output: S) -> Response
    where
        S: Stream<Item = Bytes> + Send + 'static,
    {
        let Self { upgrade, stdin_tx } = self;
        upgrade
            .on_failed_upgrade(|err| tracing::debug!(error = %err, "websocket upgrade failed"))
            .on_upgrade(move |socket| pump(socket, stdin_tx, binary, Box::pin(output)))
            .into_response()
    }
}

/// Runs the socket: output → messages, messages → stdin, until either side ends.
async fn pump<S>(
    socket: WebSocket,
    stdin_tx: Option<mpsc::Sender<Result<Bytes, Error>>>,
    binary: bool,
    mut output: std::pin::Pin<Box<S>>,
) where
    S: Stream<Item = Bytes> + Send + ?Sized,
{
    let (mut sink, mut incoming) = socket.split();
    let send = async move {
        while let Some(chunk) = output.next().await {
            let message = if binary {
                Message::Binary(chunk)
            } else {
                Message::Text(String::from_utf8_lossy(&chunk).into_owned().into())
            };
            if let Err(err) = sink.send(message).await {
                tracing::debug!(error = %err, "websocket client went away");
                return;
            }
        }
        // The output ended: say so, as dockerd's socket closes.
        let _ = sink.send(Message::Close(None)).await;
        let _ = sink.close().await;
    };
    let receive = async move {
        while let Some(message) = incoming.next().await {
            let payload = match message {
                Ok(Message::Binary(bytes)) => bytes,
                Ok(Message::Text(text)) => Bytes::from(text),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            };
            if let Some(tx) = &stdin_tx
                && tx.send(Ok(payload)).await.is_err()
            {
                break;
            }
        }
        // Dropping the sender ends stdin.
    };
    let send = std::pin::pin!(send);
    let receive = std::pin::pin!(receive);
    // The output ending, or the client closing, ends the attach; a client that only reads
    // never finishes `receive`.
    futures_util::future::select(send, receive).await;
}
