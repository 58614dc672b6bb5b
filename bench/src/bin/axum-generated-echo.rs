//! The generated echo server mounted in an axum app (`Server::into_axum`, served by
//! `axum::serve` with `TCP_NODELAY`): the bench's "generated (axum)" row, next to the standalone
//! generated server and axum's own `extract::ws` echo.

#[path = "../../../examples/echo/server.rs"]
mod echo;

use axum::serve::ListenerExt;

#[tokio::main]
async fn main() -> std::io::Result<()> {
    // Before `listen` prints the address: a SIGTERM right after it must find the handler.
    let shutdown = wsgen_runtime::shutdown_signal();
    let listener = wsgen_bench::listen().await?.tap_io(|tcp| {
        // Small messages must not wait for Nagle's algorithm; a failure only costs latency.
        let _ = tcp.set_nodelay(true);
    });
    let app = echo::handlers()
        .into_server()
        .into_axum()
        .map_err(std::io::Error::other)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}
