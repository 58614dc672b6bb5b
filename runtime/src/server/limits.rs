//! Per-connection limits and the slow-consumer policy, and the tungstenite configuration they
//! become.

use std::time::Duration;

use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::rate::MessageRate;

/// What happens when a push finds a connection's outbound queue full, because the client reads
/// more slowly than the server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Close the connection with 1013 (try again later): the client may reconnect and catch up.
    /// The push that found the queue full reports [`crate::SendError::QueueFull`].
    #[default]
    TryAgainLater,
    /// Close the connection with 1008 (policy violation).
    PolicyViolation,
    /// Keep the connection; the push reports [`crate::SendError::QueueFull`] and the pusher
    /// decides (drop the message, retry later, or close).
    Reject,
}

impl SlowConsumer {
    /// The close code this policy sends, if it closes.
    pub const fn close_code(self) -> Option<u16> {
        match self {
            SlowConsumer::TryAgainLater => Some(1013),
            SlowConsumer::PolicyViolation => Some(1008),
            SlowConsumer::Reject => None,
        }
    }
}

/// Limits for the server and each connection. The defaults are safe for a public server; the
/// spec's `limits` sections set them in generated code, and the `with_` methods in your own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest message accepted, after reassembling fragments; a larger one closes the
    /// connection with 1009.
    pub max_message_size: usize,
    /// The largest single frame accepted; a larger one closes the connection with 1009.
    pub max_frame_size: usize,
    /// The largest upgrade request head; a larger one is refused with 431.
    pub max_header_size: usize,
    /// How many pushed messages may wait for the peer; what happens beyond is
    /// [`Limits::slow_consumer`].
    pub send_queue: usize,
    /// What to do with a client that does not read fast enough to keep its queue from filling.
    pub slow_consumer: SlowConsumer,
    /// How much a connection reads from its socket at once: this many bytes, twice as many
    /// after each read that comes back full, up to 64 KiB (or this, if larger), and half as
    /// many again (down to this) after a read that used less than a quarter. The buffer is freed
    /// as soon as the socket has nothing more waiting, so an idle connection holds none of it.
    /// 0 reads straight into tungstenite's own small buffer (1 KiB), which is slower: small
    /// frames are then never decoded without tungstenite.
    pub read_buffer: usize,
    /// How long the upgrade request may take to arrive (slow handshakes are dropped).
    pub handshake_timeout: Duration,
    /// Close a connection with 1001 when no frame at all (data, ping or pong) has arrived for
    /// this long. `None` (the default) never does: a send-only endpoint's clients may rightly
    /// stay silent, and dead peers are found by keepalive, TCP keepalive and write timeouts.
    pub idle_timeout: Option<Duration>,
    /// How long the server waits for the peer's close frame after sending its own.
    pub close_timeout: Duration,
    /// How long a write may wait for a peer that is not reading before the connection is
    /// treated as lost. A wait cut short by a receive that the handler cancelled goes on
    /// counting in the next call unless the peer took data meanwhile; the pongs that answer a
    /// client's pings count as writes too.
    pub write_timeout: Duration,
    /// TCP keepalive probes, so that a peer that vanished without a FIN is noticed even on
    /// endpoints without a `ping` (`None` leaves the OS default, usually off).
    pub tcp_keepalive: Option<Duration>,
    /// The most connections served at once; more are refused with 503 before the upgrade.
    pub max_connections: usize,
    /// How long a graceful shutdown may take. Connections waiting on their socket are closed
    /// with 1001 at once; a handler busy in a callback gets half of this time to get back to
    /// its socket before its run is stopped and its client closed with 1001; writes and close
    /// handshakes are cut off at nine tenths of it. Every connection's `on_disconnect` runs.
    pub shutdown_timeout: Duration,
    /// How fast one client may send messages, and what happens over it; `None` (the default)
    /// sets no rate.
    pub message_rate: Option<MessageRate>,
}

/// The most tungstenite's own read buffer takes at once (it zero-fills that much before every
/// read): it reads the frames the runtime does not decode itself, from the connection's
/// read-ahead buffer (see [`Limits::read_buffer`]).
const WEBSOCKET_READ_BUFFER: usize = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Limits {
    /// The defaults: 64 KiB messages and frames, 16 KiB request heads, a queue of 256 pushes
    /// closed with 1013 when full, reads of 8 KiB and more, 10 s handshake and write timeouts, no
    /// idle timeout, 5 s to answer a close, TCP keepalive after 60 s, 10,000 connections, and
    /// 10 s for a graceful shutdown.
    pub const DEFAULT: Limits = Limits {
        max_message_size: 64 * 1024,
        max_frame_size: 64 * 1024,
        max_header_size: 16 * 1024,
        send_queue: 256,
        slow_consumer: SlowConsumer::TryAgainLater,
        read_buffer: 8 * 1024,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: None,
        close_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
        tcp_keepalive: Some(Duration::from_secs(60)),
        max_connections: 10_000,
        shutdown_timeout: Duration::from_secs(10),
        message_rate: None,
    };

    /// Sets [`Limits::max_message_size`].
    pub const fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Limits::max_frame_size`].
    pub const fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`Limits::max_header_size`].
    pub const fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// Sets [`Limits::message_rate`].
    pub const fn with_message_rate(mut self, rate: Option<MessageRate>) -> Self {
        self.message_rate = rate;
        self
    }

    /// Sets [`Limits::send_queue`] (at least 1).
    pub const fn with_send_queue(mut self, messages: usize) -> Self {
        self.send_queue = if messages == 0 { 1 } else { messages };
        self
    }

    /// Sets [`Limits::slow_consumer`].
    pub const fn with_slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Sets [`Limits::read_buffer`].
    pub const fn with_read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes;
        self
    }

    /// Sets [`Limits::handshake_timeout`].
    pub const fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`Limits::idle_timeout`].
    pub const fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`Limits::close_timeout`].
    pub const fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`Limits::write_timeout`].
    pub const fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`Limits::tcp_keepalive`].
    pub const fn with_tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// Sets [`Limits::max_connections`].
    pub const fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Sets [`Limits::shutdown_timeout`].
    pub const fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    pub(super) fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            // tungstenite zero-fills what it reads into before every read: its own buffer stays
            // small, and reads from the socket go through the connection's read-ahead
            // (`crate::io`).
            .read_buffer_size(match self.read_buffer {
                // No read-ahead: tungstenite reads from the socket itself, in reads of this
                // size (given 0, it would read 14 bytes, a header's worth, per system call).
                0 => WEBSOCKET_READ_BUFFER,
                n => n.min(WEBSOCKET_READ_BUFFER),
            })
            // Frames are fed into this buffer and written by one flush per batch; 0 would write
            // every frame on its own.
            .write_buffer_size(64 * 1024)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}
