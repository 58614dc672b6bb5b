//! One node of a chat cluster sharing a Redis backplane (see the README's deployment section).
//!
//! ```sh
//! redis-server --port 6379 &
//! cargo run --example chat-node -- --listen 127.0.0.1:9001 &
//! cargo run --example chat-node -- --listen 127.0.0.1:9002 &
//! cargo run --example chat-client -- --url ws://127.0.0.1:9001 --name ana
//! cargo run --example chat-client -- --url ws://127.0.0.1:9002 --name bo
//! ```
//!
//! It prints `listening on ws://ADDR` first, logs the backplane's losses and reconnections to
//! stderr, and shuts down gracefully on Ctrl-C or SIGTERM.

#[path = "chat/node.rs"]
mod node;
#[path = "chat/server.rs"]
mod server;

use std::time::Duration;

use clap::Parser;

/// A chat node.
#[derive(Parser)]
struct Args {
    /// The address to serve on.
    #[arg(long, default_value = "127.0.0.1:9001")]
    listen: String,
    /// The Redis every node shares.
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis: String,
    /// The key and channel prefix in Redis.
    #[arg(long, default_value = "chat")]
    prefix: String,
    /// How many messages may wait for each client (default: the runtime's, 256).
    #[arg(long)]
    send_queue: Option<usize>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = node::NodeConfig {
        listen: args.listen,
        redis: args.redis,
        prefix: args.prefix,
        presence: (Duration::from_secs(5), Duration::from_secs(15)),
        send_queue: args.send_queue,
    };
    node::run(config, wsgen_runtime::shutdown_signal()).await
}
