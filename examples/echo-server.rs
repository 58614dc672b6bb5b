//! An echo server generated from `examples/specs/echo.yaml`, for trying clients against and
//! for the interop tests and benchmarks.
//!
//! ```sh
//! cargo run --example echo-server              # ws://127.0.0.1:9002/echo/...
//! cargo run --example echo-server 127.0.0.1:0  # any free port; the address is printed
//! ```
//!
//! It prints `listening on ws://ADDR` on its first line, and shuts down gracefully (every client
//! gets 1001) on Ctrl-C or SIGTERM. `RUST_LOG=info` logs connections to stderr;
//! `WSGEN_METRICS_ADDR=127.0.0.1:9102` serves Prometheus metrics there (the second line says
//! `metrics on http://ADDR/metrics`), see docs/observability.md.

#[path = "common/observe.rs"]
mod observe;
#[path = "echo/server.rs"]
mod server;

use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    observe::logs();
    let listener = TcpListener::bind(&addr).await?;
    // Before the address is printed: a SIGTERM right after it must find the handler.
    let shutdown = wsgen_runtime::shutdown_signal();
    println!("listening on ws://{}", listener.local_addr()?);
    if let Some(metrics) = observe::metrics().await? {
        println!("metrics on http://{metrics}/metrics");
    }
    server::handlers()
        .into_server()
        .serve_with_shutdown(listener, shutdown)
        .await?;
    Ok(())
}
