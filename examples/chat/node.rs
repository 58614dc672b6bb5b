//! One node of a chat cluster: the chat handlers served with hubs that share a Redis backplane,
//! so that whispers, room lines and presence reach the clients of every node. Used by
//! `cargo run --example chat-node` and by the multi-node tests (tests/cluster.rs).

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;
use wsgen_generated::chat::Hubs;
use wsgen_runtime::{Limits, RedisBackplane, RedisOptions};

/// How a node is set up.
pub struct NodeConfig {
    /// The address to serve on (`127.0.0.1:0` for any free port).
    pub listen: String,
    /// The Redis every node shares, such as `redis://127.0.0.1:6379`.
    pub redis: String,
    /// The key and channel prefix in Redis, the same on every node of one cluster.
    pub prefix: String,
    /// How often presence is written, and how long it lives unwritten.
    pub presence: (Duration, Duration),
    /// How many messages may wait for each client (`None`: the runtime's default, 256).
    pub send_queue: Option<usize>,
}

/// Serves until `shutdown` completes; prints `listening on ws://ADDR` first.
pub async fn run(
    config: NodeConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error>> {
    let options = RedisOptions::new()
        .prefix(config.prefix)
        .presence(config.presence.0, config.presence.1);
    let backplane = RedisBackplane::with_options(&config.redis, options)?;
    let hubs = Hubs::with_backplane(&backplane.shared());
    let listener = TcpListener::bind(&config.listen).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    let mut limits = Limits::default();
    if let Some(messages) = config.send_queue {
        limits = limits.with_send_queue(messages);
    }
    super::server::handlers(&["secret"], 100)
        .into_server_with_hubs(hubs)
        .limits(limits)
        .serve_with_shutdown(listener, shutdown)
        .await?;
    Ok(())
}
