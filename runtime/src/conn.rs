//! The server side of one connection as a handler sees it: its session id, the upgrade
//! request's path and headers (kept for the whole connection), and a typed way to push messages.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::http::{Extensions, HeaderMap};

use crate::hub::Hub;
use crate::message::{WireMessage, envelope_ok};
use crate::outbox::Outbox;

/// A unique id for one connection, also across the nodes of a cluster: the upper 20 bits are a
/// random tag chosen once per process ([`SessionId::node`]), the lower 33 bits count the
/// process's connections from a random start. Every id is below 2^53, so it survives
/// JavaScript's numbers. Two nodes share ids only if they drew the same tag (odds around one
/// in a million per pair) and their counters overlap, or after 2^33 connections to one process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(u64);

impl SessionId {
    pub(crate) fn next() -> Self {
        static NEXT: std::sync::LazyLock<AtomicU64> =
            std::sync::LazyLock::new(|| AtomicU64::new(random_bits() >> 31));
        let count = NEXT.fetch_add(1, Ordering::Relaxed) & COUNTER;
        // 0 is never an id (some clients treat it as "none").
        let count = count.max(1);
        SessionId((u64::from(node_tag()) << 33) | count)
    }

    /// The tag of the process (node) the session is connected to.
    pub fn node(self) -> u32 {
        // The tag has 20 bits, so this never truncates.
        (self.0 >> 33) as u32
    }

    /// The id as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

/// The bits of a session id that count connections.
const COUNTER: u64 = (1 << 33) - 1;

/// 64 random bits: `RandomState` is seeded from the OS; the time and the pid make two draws in
/// one process differ anyway.
pub(crate) fn random_bits() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(now);
    hasher.write_u32(std::process::id());
    hasher.finish()
}

/// This process's node tag: 20 random bits (never 0), chosen once.
pub(crate) fn node_tag() -> u32 {
    static TAG: std::sync::LazyLock<u32> =
        std::sync::LazyLock::new(|| ((random_bits() & 0xF_FFFF) as u32).max(1));
    *TAG
}

impl From<u64> for SessionId {
    /// A session id received from elsewhere (a message, a URL), to address the hub with.
    fn from(id: u64) -> Self {
        SessionId(id)
    }
}

impl std::fmt::Display for SessionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a push to a connection was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The connection has ended.
    #[error("the connection is closed")]
    Closed,
    /// The connection's bounded outbound queue is full: the peer is not reading fast enough.
    /// The message was not queued; under the default slow-consumer policy the connection is
    /// also being closed (see [`crate::SlowConsumer`]).
    #[error("the connection's outbound queue is full")]
    QueueFull,
}

/// A cloneable handle that pushes typed messages to one connection from anywhere: a handler,
/// a background task, another endpoint's handler.
///
/// Pushing never waits: the message is encoded by the caller and put on the connection's
/// bounded queue, which the connection task writes out in batches.
pub struct Sender<S> {
    outbox: Arc<Outbox>,
    session_id: SessionId,
    envelope: bool,
    _message: PhantomData<fn(S)>,
}

impl<S> Clone for Sender<S> {
    fn clone(&self) -> Self {
        Sender {
            outbox: Arc::clone(&self.outbox),
            session_id: self.session_id,
            envelope: self.envelope,
            _message: PhantomData,
        }
    }
}

/// Encodes `message`, in the response envelope if `envelope`.
pub(crate) fn encode_for<S: WireMessage>(message: S, envelope: bool) -> Message {
    let frame = message.encode();
    if envelope { envelope_ok(frame) } else { frame }
}

impl<S> Sender<S> {
    /// A sender for a new session that pushes into `outbox`.
    pub(crate) fn new(outbox: Arc<Outbox>, envelope: bool) -> Self {
        Sender {
            outbox,
            session_id: SessionId::next(),
            envelope,
            _message: PhantomData,
        }
    }

    /// The session this sender pushes to.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// Whether this endpoint sends in the response envelope.
    pub(crate) fn envelope(&self) -> bool {
        self.envelope
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.outbox.is_closed()
    }

    /// Queues an already encoded frame (the hub encodes a broadcast once).
    pub(crate) fn send_frame(&self, frame: Message) -> Result<(), SendError> {
        self.outbox.push(frame)
    }
}

impl<S> std::fmt::Debug for Sender<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("session_id", &self.session_id)
            .finish_non_exhaustive()
    }
}

impl<S: WireMessage> Sender<S> {
    /// Queues `message` for the connection.
    pub fn send(&self, message: S) -> Result<(), SendError> {
        self.send_frame(self.frame(message))
    }

    /// Encodes `message` as this endpoint sends it (in the response envelope if the spec
    /// asks for one).
    pub(crate) fn frame(&self, message: S) -> Message {
        encode_for(message, self.envelope)
    }
}

/// One connection, as passed to every handler call: its session, the upgrade request's path
/// and headers, the typed path parameters `P` and query `Q`, and the endpoint's hub.
///
/// `S` is the type the server sends on this endpoint; for an endpoint that sends nothing it is
/// [`std::convert::Infallible`], so nothing can be pushed.
pub struct Conn<S, P = (), Q = ()> {
    path: String,
    headers: HeaderMap,
    extensions: Extensions,
    params: P,
    query: Q,
    sender: Sender<S>,
    hub: Hub<S>,
}

impl<S, P, Q> std::fmt::Debug for Conn<S, P, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("session_id", &self.sender.session_id)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<S, P, Q> Conn<S, P, Q> {
    pub(crate) fn new(
        path: String,
        headers: HeaderMap,
        extensions: Extensions,
        params: P,
        query: Q,
        sender: Sender<S>,
        hub: Hub<S>,
    ) -> Self {
        Conn {
            path,
            headers,
            extensions,
            params,
            query,
            sender,
            hub,
        }
    }

    /// This connection's session id.
    pub fn session_id(&self) -> SessionId {
        self.sender.session_id
    }

    /// The path the client connected to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The headers of the upgrade request; they stay the same for the whole connection.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// What the host application's layers put into the upgrade request (under axum or tower:
    /// an authenticated user, a request id), typed: `conn.extensions().get::<User>()`. Empty on
    /// the standalone server.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// One header of the upgrade request, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The typed path parameters.
    pub fn params(&self) -> &P {
        &self.params
    }

    /// The typed query parameters.
    pub fn query(&self) -> &Q {
        &self.query
    }

    /// The endpoint's hub: every live session of this endpoint, and its rooms.
    pub fn hub(&self) -> &Hub<S> {
        &self.hub
    }

    /// A cloneable handle for pushing to this connection from other tasks.
    pub fn sender(&self) -> Sender<S> {
        self.sender.clone()
    }

    pub(crate) fn sender_ref(&self) -> &Sender<S> {
        &self.sender
    }
}

impl<S: WireMessage, P, Q> Conn<S, P, Q> {
    /// Queues a message for this connection (see [`Sender::send`]).
    pub fn send(&self, message: S) -> Result<(), SendError> {
        self.sender.send(message)
    }
}
