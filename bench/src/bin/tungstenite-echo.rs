//! The hand-written baseline: tokio-tungstenite with best practice (TCP_NODELAY, the same
//! buffer sizes and limits as the generated server, `feed` while more messages are ready and
//! one `flush` per batch). `/echo/json` decodes, validates and re-encodes a typed DTO; any other
//! path echoes frames as they come.

use futures_util::{FutureExt, SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

static SESSIONS: AtomicU64 = AtomicU64::new(1);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    wsgen_bench::serve(handle).await
}

/// Serves one connection.
async fn handle(stream: tokio::net::TcpStream) {
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(64 * 1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let mut json = false;
    // The callback's error type is tungstenite's, whatever its size.
    #[allow(clippy::result_large_err)]
    let callback = |request: &Request, response: Response| {
        json = request.uri().path() == "/echo/json";
        Ok(response)
    };
    let Ok(mut ws) =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(config)).await
    else {
        return;
    };
    if json {
        let session = SESSIONS.fetch_add(1, Ordering::Relaxed);
        if ws
            .send(Message::text(wsgen_bench::welcome(session)))
            .await
            .is_err()
        {
            return;
        }
    }
    let mut next = ws.next().await;
    while let Some(Ok(message)) = next {
        let reply = match message {
            Message::Text(text) if json => match wsgen_bench::json_echo(text.as_str()) {
                Some(reply) => Message::text(reply),
                None => break,
            },
            m @ (Message::Text(_) | Message::Binary(_)) => m,
            Message::Close(_) => break,
            _ => {
                next = ws.next().await;
                continue;
            }
        };
        if ws.feed(reply).await.is_err() {
            return;
        }
        // Flush once per batch: only when nothing more is ready.
        next = match ws.next().now_or_never() {
            Some(ready) => ready,
            None => {
                if ws.flush().await.is_err() {
                    return;
                }
                ws.next().await
            }
        };
    }
}
