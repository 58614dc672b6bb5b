//! An echo server generated from `examples/specs/echo.yaml`, for trying clients against and
//! for the interop tests and benchmarks.
//!
//! ```sh
//! cargo run --example echo-server              # ws://127.0.0.1:9002/echo/...
//! cargo run --example echo-server 127.0.0.1:0  # any free port; the address is printed
//! ```
//!
//! It prints `listening on ws://ADDR` on its first line, and shuts down gracefully (every client
//! gets 1001) when its standard input closes.

#[path = "echo/server.rs"]
mod server;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    let stdin_closed = async {
        let mut sink = [0u8; 64];
        let mut stdin = tokio::io::stdin();
        while matches!(stdin.read(&mut sink).await, Ok(n) if n > 0) {}
    };
    server::handlers()
        .into_server()
        .serve_with_shutdown(listener, stdin_closed)
        .await?;
    Ok(())
}
