//! The hand-written axum baseline: what an axum user writes today with axum's own
//! `extract::ws` (a `recv`/`send` loop per connection, served by `axum::serve` with
//! `TCP_NODELAY`), with the same buffer sizes and limits as the generated server.
//! `/echo/json` sends a welcome, then decodes, validates and re-encodes the typed DTO; every
//! other `/echo/...` path echoes frames as they come.

use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use axum::routing::any;
use axum::serve::ListenerExt;

static SESSIONS: AtomicU64 = AtomicU64::new(1);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Before `listen` prints the address: a SIGTERM right after it must find the handler.
    let shutdown = wsgen_runtime::shutdown_signal();
    let listener = wsgen_bench::listen().await?.tap_io(|tcp| {
        // Small messages must not wait for Nagle's algorithm; a failure only costs latency.
        let _ = tcp.set_nodelay(true);
    });
    let app = Router::new()
        .route("/echo/json", any(|ws| upgrade(ws, true)))
        .route("/echo/{path}", any(|ws| upgrade(ws, false)));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn upgrade(ws: WebSocketUpgrade, json: bool) -> Response {
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(64 * 1024)
        .max_message_size(64 * 1024)
        .max_frame_size(64 * 1024)
        .on_upgrade(move |socket| echo(socket, json))
}

/// Serves one connection.
async fn echo(mut socket: WebSocket, json: bool) {
    if json {
        let session = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let welcome = Message::text(wsgen_bench::welcome(session));
        if socket.send(welcome).await.is_err() {
            return;
        }
    }
    while let Some(Ok(message)) = socket.recv().await {
        let reply = match message {
            Message::Text(text) if json => match wsgen_bench::json_echo(text.as_str()) {
                Some(reply) => Message::text(reply),
                None => return,
            },
            m @ (Message::Text(_) | Message::Binary(_)) => m,
            Message::Close(_) => return,
            _ => continue,
        };
        if socket.send(reply).await.is_err() {
            return;
        }
    }
}
