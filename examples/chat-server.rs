//! A chat server generated from `examples/specs/chat.yaml`.
//!
//! ```sh
//! cargo run --example chat-server              # ws://127.0.0.1:9001/chat/connect
//! cargo run --example chat-server 127.0.0.1:0  # any free port
//! ```
//!
//! Clients need `Authorization: Bearer secret` (or `Bearer guest`). Ctrl-C or SIGTERM shuts it down
//! gracefully: every client gets 1001. `RUST_LOG=info` logs connections to stderr, and
//! `WSGEN_METRICS_ADDR` serves Prometheus metrics, as for the echo server.

#[path = "common/observe.rs"]
mod observe;
#[path = "chat/server.rs"]
mod server;

use tokio::net::TcpListener;
use wsgen_generated::chat::ChatConnectClient;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9001".to_owned());
    observe::logs();
    let listener = TcpListener::bind(&addr).await?;
    // Before the address is printed: a SIGTERM right after it must find the handler.
    let shutdown = wsgen_runtime::shutdown_signal();
    if let Some(metrics) = observe::metrics().await? {
        eprintln!("metrics on http://{metrics}/metrics");
    }
    println!(
        "chat server on ws://{}{} (tokens: secret, guest)",
        listener.local_addr()?,
        ChatConnectClient::PATH
    );
    server::handlers(&["secret", "guest"], 50)
        .into_server()
        .serve_with_shutdown(listener, shutdown)
        .await?;
    Ok(())
}
