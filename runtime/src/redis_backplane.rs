//! [`RedisBackplane`] (feature `redis`): hubs across server nodes through Redis pub/sub, in
//! the manner of Socket.IO's and SignalR's Redis backplanes.
//!
//! - Routing. An operation that names one session (a send by id, a join or a leave of a
//!   session of another node) goes only to the node that owns the session: the session id
//!   carries its node's tag ([`SessionId::node`]), and every node subscribes to its own channel,
//!   `<prefix>:node:<tag>` (the tag in five lowercase hex digits), so the owner is known without
//!   a round trip and no other node sees the operation. A broadcast to a hub or a room goes on
//!   the hub's channel, `<prefix>:hub:<hub>`, which every node receives through the pattern
//!   `<prefix>:hub:*`. A node skips what it published itself (it already delivered that to its
//!   own sessions). Two nodes that drew the same tag share a node channel: each gets the other's
//!   sends and delivers those whose session it has, so they still reach each other. A send to a
//!   session whose node is gone reaches no one, as before: `hub.send` says `Ok` once the
//!   operation is handed over (pub/sub does not tell who received it).
//! - Batching. One publishing connection and one subscribing connection per node keep the
//!   operations of one node in order on every other node. The publisher takes what queued up
//!   while its previous batch was on its way, packs consecutive operations for the same channel
//!   into one Redis message (at most 64 operations and 64 KiB, or one operation if it is
//!   bigger), and sends the batch's `PUBLISH`es in one pipeline: under load Redis and the
//!   receiving node handle one message per run of operations, not one per operation. The
//!   subscriber lets other tasks run after every 64 operations it delivers, so that the
//!   sessions' socket tasks drain their queues between runs.
//! - Presence: every node (named by a random instance id) writes its sessions and rooms per
//!   hub to `<prefix>:presence:<hub>:<node>:sessions` (a set) and `:rooms` (a hash, room to
//!   member ids), with a mark of life `:alive`, and adds itself to the hub's set of nodes
//!   `<prefix>:presence:<hub>:nodes:set`; when they change and at least every
//!   `presence_every`, with a time to live of `presence_ttl`, so the entries of a node that
//!   crashed expire on their own. Readers take the set of nodes and each live node's entries
//!   (no key scan), and forget nodes whose mark has expired.
//! - The subscribing connection is pinged every 5 s, so a connection that went quiet without
//!   breaking is found out and made again.
//! - Faults: the connections are made in background tasks and remade with backoff (100 ms,
//!   doubling, at most 5 s), each loss and reconnection logged with `tracing`. While Redis is
//!   unreachable, local delivery goes on and what this node publishes is dropped (pub/sub is at
//!   most once; [`RedisBackplane::stats`] counts it); presence catches up on reconnection.
//!
//! The wire form of one Redis message: the publishing backplane's instance id and a newline,
//! then one or more operations, each a JSON header line and then the frame's bytes as they are
//! (`<instance>\n<header>\n<frame><header>\n<frame>...`). A header:
//!
//! ```text
//! {"hub":"chat.chat.connect","target":{"to":"session","session":4398046511107},"kind":"text","len":52}
//! ```
//!
//! names the hub, the [`Target`] (in its serde form), the frame's kind (`text`, `binary` or
//! `none`) and the frame's length in bytes, which tells where the next operation starts. A
//! message is encoded once, by the typed hub on the sending node, and travels unchanged to the
//! sessions of the others; the receiving node copies a Redis message once and hands each
//! session a slice of it. Every node of a cluster must speak this form: a node of an older
//! release (one operation per message, no node channel) cannot share a prefix with these.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use crate::backplane::{
    Attached, Backplane, BackplaneError, BoxFuture, LocalHub, Presence, SharedBackplane, Target,
};
use crate::session::{SessionId, node_tag, random_bits};

/// How a [`RedisBackplane`] is set up.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    prefix: String,
    presence_every: Duration,
    presence_ttl: Duration,
    queue: usize,
    queue_bytes: usize,
    connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "wsgen".to_owned(),
            presence_every: Duration::from_secs(5),
            presence_ttl: Duration::from_secs(15),
            queue: 16_384,
            queue_bytes: 64 << 20,
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `wsgen`, presence written every 5 s and kept 15 s, at most 16,384
    /// operations and 64 MiB waiting to be published, 2 s to connect.
    pub fn new() -> Self {
        RedisOptions::default()
    }

    /// The prefix of every key and channel (letters, digits, `-`, `_`, `:` and `.`), to keep
    /// apart several APIs or environments sharing one Redis.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How often presence is written even when nothing changed, and how long a node's entries
    /// live without being written again (how soon a crashed node's sessions disappear). The
    /// interval is at least 50 ms and the time to live at least twice the interval, so that an
    /// entry never expires between two writes.
    pub fn presence(mut self, every: Duration, ttl: Duration) -> Self {
        self.presence_every = every.max(Duration::from_millis(50));
        self.presence_ttl = ttl.max(self.presence_every * 2);
        self
    }

    /// How many operations, and how many bytes of them, may wait to be published; beyond
    /// either, what the hubs publish is dropped (and counted).
    pub fn queue(mut self, operations: usize, bytes: usize) -> Self {
        self.queue = operations.max(1);
        self.queue_bytes = bytes.max(1);
        self
    }
}

/// Counters of a [`RedisBackplane`], since it was made.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BackplaneStats {
    /// Operations published to Redis.
    pub published: u64,
    /// Operations not published: the queue was full or Redis was unreachable.
    pub dropped: u64,
    /// Operations received from other nodes.
    pub received: u64,
    /// Connections to Redis made (the first ones included).
    pub connects: u64,
}

#[derive(Default)]
struct Stats {
    published: AtomicU64,
    dropped: AtomicU64,
    received: AtomicU64,
    connects: AtomicU64,
}

struct Inner {
    client: redis::Client,
    options: RedisOptions,
    /// This backplane's own id: what it publishes carries it (so it skips its own), and its
    /// presence keys are named with it. Random, so two nodes never share one.
    instance: String,
    outgoing: mpsc::Sender<Outgoing>,
    hubs: Attached,
    /// Shared with the presence task, which waits on it without holding the backplane.
    changed: Arc<Notify>,
    /// Bytes waiting to be published.
    queued_bytes: AtomicUsize,
    stats: Stats,
    /// The connection presence queries share, made on first use. The lock is held only to
    /// copy or replace the handle, never while connecting: with Redis slow to answer, every
    /// query waits for its own connect timeout, not for the connects of those before it.
    queries: std::sync::Mutex<Option<redis::aio::MultiplexedConnection>>,
    /// Dropped with the last handle, which stops the background tasks.
    _stop: watch::Sender<()>,
}

/// One operation waiting to be published: its channel, and its header line and frame.
struct Outgoing {
    channel: String,
    record: Vec<u8>,
}

/// The header line of an operation, as published.
#[derive(Serialize)]
struct Header<'a> {
    hub: &'a str,
    target: &'a Target,
    kind: Kind,
    /// The frame's length in bytes.
    len: usize,
}

/// The header line of an operation, as received: borrowed from the message where it can be,
/// and the target read flat (a [`Target`] read through serde's internally tagged enums would
/// buffer every field first).
#[derive(Deserialize)]
struct ReceivedHeader<'a> {
    #[serde(borrow)]
    hub: Cow<'a, str>,
    #[serde(borrow)]
    target: ReceivedTarget<'a>,
    kind: Kind,
    len: usize,
}

/// [`Target`]'s fields, flat.
#[derive(Deserialize)]
struct ReceivedTarget<'a> {
    to: To,
    #[serde(borrow, default)]
    room: Option<Cow<'a, str>>,
    #[serde(default)]
    session: Option<u64>,
    #[serde(default)]
    except: Option<u64>,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum To {
    All,
    Room,
    Session,
    Join,
    Leave,
}

impl ReceivedTarget<'_> {
    /// The target, if it has the fields its kind needs.
    fn target(self) -> Option<Target> {
        let room = self.room.map(Cow::into_owned);
        Some(match self.to {
            To::All => Target::All,
            To::Room => Target::Room {
                room: room?,
                except: self.except,
            },
            To::Session => Target::Session {
                session: self.session?,
            },
            To::Join => Target::Join {
                room: room?,
                session: self.session?,
            },
            To::Leave => Target::Leave {
                room: room?,
                session: self.session?,
            },
        })
    }
}

/// The most bytes of operations packed into one Redis message (one bigger operation goes
/// alone).
const MESSAGE_MOST: usize = 64 << 10;

/// The most operations packed into one Redis message, and the most the subscriber delivers
/// before it lets other tasks run: a session's socket task must get to drain its queue (256
/// frames by default) between two runs of deliveries, or a burst of sends to one session would
/// overflow it.
const MESSAGE_OPS_MOST: usize = 64;

/// The most operations the publisher takes from its queue for one pipeline.
const BATCH_MOST: usize = 1024;

/// The channel of the node whose process tag is `tag`.
fn node_channel(prefix: &str, tag: u32) -> String {
    format!("{prefix}:node:{tag:05x}")
}

/// The channel of the hub `hub`.
fn hub_channel(prefix: &str, hub: &str) -> String {
    format!("{prefix}:hub:{hub}")
}

/// Where an operation is published: an operation on one session to that session's node,
/// any other to the hub's channel, which every node receives.
fn route(prefix: &str, hub: &str, target: &Target) -> String {
    match target {
        Target::Session { session }
        | Target::Join { session, .. }
        | Target::Leave { session, .. } => node_channel(prefix, SessionId::from(*session).node()),
        Target::All | Target::Room { .. } => hub_channel(prefix, hub),
    }
}

/// An operation's header line and frame, as they follow one another in a Redis message.
fn record(hub: &str, target: &Target, kind: Kind, frame: &[u8]) -> Vec<u8> {
    let header = Header {
        hub,
        target,
        kind,
        len: frame.len(),
    };
    let mut record = Vec::with_capacity(96 + hub.len() + frame.len());
    // A header of plain data always serialises into a vector.
    let _ = serde_json::to_writer(&mut record, &header);
    record.push(b'\n');
    record.extend_from_slice(frame);
    record
}

/// Why a received message was not (or not entirely) read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
enum WireError {
    #[error("a message without its sender line")]
    NoSender,
    #[error("an operation without its header line")]
    NoHeader,
    #[error("an operation with a bad header")]
    BadHeader,
    #[error("an operation longer than its message")]
    Truncated,
    #[error("a text frame that is not UTF-8")]
    NotUtf8,
}

/// Hands each operation of a message that `me` did not publish itself to `each` (the hub's
/// name, the target, the frame), in order, and says how many there were (none when `me`
/// published it). Stops at the first malformed operation, as nothing after it can be found.
fn operations(
    me: &str,
    payload: &[u8],
    mut each: impl FnMut(&str, Target, Option<Message>),
) -> Result<usize, WireError> {
    let split = payload
        .iter()
        .position(|b| *b == b'\n')
        .ok_or(WireError::NoSender)?;
    if payload[..split] == *me.as_bytes() {
        return Ok(0);
    }
    // One copy of the whole message; every frame is a slice of it.
    let all = Bytes::copy_from_slice(&payload[split + 1..]);
    let mut at = 0;
    let mut count = 0;
    while at < all.len() {
        let rest = &all[at..];
        let line = rest
            .iter()
            .position(|b| *b == b'\n')
            .ok_or(WireError::NoHeader)?;
        let header: ReceivedHeader<'_> =
            serde_json::from_slice(&rest[..line]).map_err(|_| WireError::BadHeader)?;
        let start = at + line + 1;
        let end = start
            .checked_add(header.len)
            .filter(|end| *end <= all.len())
            .ok_or(WireError::Truncated)?;
        let frame = match header.kind {
            Kind::Text => {
                let text =
                    Utf8Bytes::try_from(all.slice(start..end)).map_err(|_| WireError::NotUtf8)?;
                Some(Message::Text(text))
            }
            Kind::Binary => Some(Message::Binary(all.slice(start..end))),
            Kind::None => None,
        };
        let target = header.target.target().ok_or(WireError::BadHeader)?;
        each(header.hub.as_ref(), target, frame);
        count += 1;
        at = end;
    }
    Ok(count)
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
#[serde(rename_all = "snake_case")]
enum Kind {
    Text,
    Binary,
    None,
}

/// Hubs across nodes through Redis pub/sub; see the module documentation. Cheap to clone.
#[derive(Clone)]
pub struct RedisBackplane {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("prefix", &self.inner.options.prefix)
            .field("instance", &self.inner.instance)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// A backplane on the Redis at `url` (such as `redis://127.0.0.1:6379`) with the default
    /// options. Connects in the background: Redis need not be up yet. Must be called inside a
    /// tokio runtime.
    pub fn new(url: &str) -> Result<Self, BackplaneError> {
        RedisBackplane::with_options(url, RedisOptions::default())
    }

    /// A backplane with `options`.
    pub fn with_options(url: &str, options: RedisOptions) -> Result<Self, BackplaneError> {
        let valid = |c: char| c.is_ascii_alphanumeric() || "-_:.".contains(c);
        if options.prefix.is_empty() || !options.prefix.chars().all(valid) {
            return Err(BackplaneError::Config(format!(
                "the prefix {:?} may hold only letters, digits, `-`, `_`, `:` and `.`",
                options.prefix
            )));
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| {
            BackplaneError::Config("a RedisBackplane is made inside a tokio runtime".to_owned())
        })?;
        let client = redis::Client::open(url)
            .map_err(|e| BackplaneError::Config(format!("bad Redis URL {url:?}: {e}")))?;
        let (outgoing, receiver) = mpsc::channel(options.queue);
        let (stop, stopped) = watch::channel(());
        let inner = Arc::new(Inner {
            client,
            options,
            instance: format!("{:016x}", random_bits()),
            outgoing,
            hubs: Attached::default(),
            changed: Arc::new(Notify::new()),
            queued_bytes: AtomicUsize::new(0),
            stats: Stats::default(),
            queries: std::sync::Mutex::new(None),
            _stop: stop,
        });
        let weak = Arc::downgrade(&inner);
        runtime.spawn(publisher(weak.clone(), receiver, stopped.clone()));
        runtime.spawn(subscriber(weak.clone(), stopped.clone()));
        runtime.spawn(presence_writer(weak, stopped));
        Ok(RedisBackplane { inner })
    }

    /// The backplane as the generated `Hubs::with_backplane` takes it.
    pub fn shared(&self) -> SharedBackplane {
        Arc::new(self.clone())
    }

    /// What the backplane has done so far.
    pub fn stats(&self) -> BackplaneStats {
        let stats = &self.inner.stats;
        BackplaneStats {
            published: stats.published.load(Ordering::Relaxed),
            dropped: stats.dropped.load(Ordering::Relaxed),
            received: stats.received.load(Ordering::Relaxed),
            connects: stats.connects.load(Ordering::Relaxed),
        }
    }
}

impl Inner {
    /// An operation left the queue.
    fn taken(&self, out: &Outgoing) {
        self.queued_bytes
            .fetch_sub(out.record.len(), Ordering::Relaxed);
    }

    fn presence_key(&self, hub: &str, node: &str, what: &str) -> String {
        format!("{}:presence:{hub}:{node}:{what}", self.options.prefix)
    }

    async fn connection(&self) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.options.connect_timeout))
            .set_response_timeout(Some(self.options.connect_timeout));
        let connection = self
            .client
            .get_multiplexed_async_connection_with_config(&config)
            .await?;
        self.stats.connects.fetch_add(1, Ordering::Relaxed);
        Ok(connection)
    }
}

impl Backplane for RedisBackplane {
    fn attach(&self, hub: &str, local: Weak<dyn LocalHub>) {
        self.inner.hubs.attach(hub, local);
        self.inner.changed.notify_one();
    }

    fn publish(&self, hub: &str, target: Target, frame: Option<&Message>) -> bool {
        let (kind, bytes): (Kind, &[u8]) = match frame {
            Some(Message::Text(text)) => (Kind::Text, text.as_bytes()),
            Some(Message::Binary(bytes)) => (Kind::Binary, bytes),
            // Hubs publish data frames only; control frames have no meaning for other nodes.
            Some(_) => return false,
            None => (Kind::None, &[]),
        };
        let record = record(hub, &target, kind, bytes);
        let size = record.len();
        let queued = &self.inner.queued_bytes;
        if queued.load(Ordering::Relaxed) + size > self.inner.options.queue_bytes {
            self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let outgoing = Outgoing {
            channel: route(&self.inner.options.prefix, hub, &target),
            record,
        };
        match self.inner.outgoing.try_send(outgoing) {
            Ok(()) => {
                queued.fetch_add(size, Ordering::Relaxed);
                true
            }
            Err(_) => {
                self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    fn changed(&self, _hub: &str) {
        self.inner.changed.notify_one();
    }

    fn presence<'a>(&'a self, hub: &'a str) -> BoxFuture<'a, Result<Presence, BackplaneError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let mut presence = match inner.remote_presence(hub).await {
                Ok(presence) => presence,
                Err(e) => {
                    // A broken connection is made again next time.
                    *inner.queries() = None;
                    return Err(BackplaneError::Unavailable(e.to_string()));
                }
            };
            // This node's own state is known without waiting for its next write.
            if let Some(local) = inner.hubs.snapshot(hub) {
                presence.merge(local);
            }
            Ok(presence)
        })
    }
}

impl Inner {
    fn queries(&self) -> std::sync::MutexGuard<'_, Option<redis::aio::MultiplexedConnection>> {
        // The lock only guards a handle being copied or replaced: a poisoned one is sound.
        self.queries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The presence the other nodes wrote for `hub`: the hub's set of nodes, then each node's
    /// sessions and rooms. A node whose entries have expired (it crashed) is taken out of the
    /// set on the way.
    async fn remote_presence(&self, hub: &str) -> redis::RedisResult<Presence> {
        let cached = self.queries().clone();
        let mut connection = match cached {
            Some(connection) => connection,
            None => {
                let fresh = self.connection().await?;
                // Another query may have connected meanwhile; either connection will do.
                self.queries().get_or_insert_with(|| fresh.clone());
                fresh
            }
        };
        let nodes_key = self.presence_key(hub, "nodes", "set");
        let nodes: Vec<String> = connection.smembers(&nodes_key).await?;
        let mut presence = Presence::default();
        for node in nodes.iter().filter(|n| **n != self.instance) {
            let sessions_key = self.presence_key(hub, node, "sessions");
            let rooms_key = self.presence_key(hub, node, "rooms");
            let (sessions, rooms, alive): (Vec<u64>, HashMap<String, String>, bool) = redis::pipe()
                .smembers(&sessions_key)
                .hgetall(&rooms_key)
                .exists(self.presence_key(hub, node, "alive"))
                .query_async(&mut connection)
                .await?;
            if !alive {
                let _: redis::RedisResult<()> = connection.srem(&nodes_key, node).await;
                continue;
            }
            let mut found = Presence {
                sessions: sessions.into_iter().map(SessionId::from).collect(),
                ..Presence::default()
            };
            for (room, members) in rooms {
                let members = members
                    .split(',')
                    .filter_map(|id| id.parse::<u64>().ok())
                    .map(SessionId::from);
                found.rooms.entry(room).or_default().extend(members);
            }
            presence.merge(found);
        }
        Ok(presence)
    }
}

/// A Redis glob pattern that matches `text` literally.
fn glob_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// How often the subscribing connection is pinged.
const PING_EVERY: Duration = Duration::from_secs(5);

/// Delays between connection attempts: 100 ms, doubling, at most 5 s.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);
    const MOST: Duration = Duration::from_secs(5);

    fn new() -> Self {
        Backoff(Self::FIRST)
    }

    fn next(&mut self) -> Duration {
        let now = self.0;
        self.0 = (self.0 * 2).min(Self::MOST);
        now
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// Publishes what the hubs hand over, in order, in pipelined batches of messages that each
/// pack a run of operations for one channel; drops it while Redis is unreachable.
async fn publisher(
    inner: Weak<Inner>,
    mut receiver: mpsc::Receiver<Outgoing>,
    mut stop: watch::Receiver<()>,
) {
    let mut backoff = Backoff::new();
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let connected = strong.connection().await;
        drop(strong);
        let mut connection = match connected {
            Ok(connection) => {
                if backoff.0 != Backoff::FIRST {
                    tracing::info!("redis backplane: publishing again");
                }
                backoff.reset();
                connection
            }
            Err(e) => {
                let wait = backoff.next();
                tracing::warn!("redis backplane: cannot publish ({e}); retrying in {wait:?}");
                // Meanwhile what the hubs publish is dropped: pub/sub is at most once.
                let sleep = tokio::time::sleep(wait);
                tokio::pin!(sleep);
                loop {
                    tokio::select! {
                        _ = &mut sleep => break,
                        _ = stop.changed() => return,
                        next = receiver.recv() => match (next, inner.upgrade()) {
                            (Some(out), Some(strong)) => {
                                strong.taken(&out);
                                strong.stats.dropped.fetch_add(1, Ordering::Relaxed);
                            }
                            _ => return,
                        },
                    }
                }
                continue;
            }
        };
        loop {
            let first = tokio::select! {
                _ = stop.changed() => return,
                next = receiver.recv() => match next {
                    Some(first) => first,
                    None => return,
                },
            };
            let mut batch = vec![first];
            while batch.len() < BATCH_MOST {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let Some(strong) = inner.upgrade() else {
                return;
            };
            let pipe = pipeline(&strong.instance, &batch);
            drop(strong);
            let result: redis::RedisResult<()> = pipe.query_async(&mut connection).await;
            let Some(strong) = inner.upgrade() else {
                return;
            };
            for out in &batch {
                strong.taken(out);
            }
            let count = batch.len() as u64;
            match result {
                Ok(()) => strong.stats.published.fetch_add(count, Ordering::Relaxed),
                Err(e) => {
                    strong.stats.dropped.fetch_add(count, Ordering::Relaxed);
                    tracing::warn!("redis backplane: lost the publishing connection ({e})");
                    break;
                }
            };
        }
    }
}

/// The messages of a batch, by channel, in order: each run of operations for one channel
/// packed into one message (up to [`MESSAGE_MOST`] bytes and [`MESSAGE_OPS_MOST`]
/// operations), after the sender line `from`.
fn pack<'a>(from: &str, batch: &'a [Outgoing]) -> Vec<(&'a str, Vec<u8>)> {
    let mut messages: Vec<(&str, Vec<u8>)> = Vec::new();
    // Operations in the last message.
    let mut count = 0;
    for out in batch {
        let joins = match messages.last() {
            Some((channel, message)) => {
                *channel == out.channel
                    && message.len() + out.record.len() <= MESSAGE_MOST
                    && count < MESSAGE_OPS_MOST
            }
            None => false,
        };
        if !joins {
            count = 0;
            let mut message = Vec::with_capacity(from.len() + 1 + out.record.len());
            message.extend_from_slice(from.as_bytes());
            message.push(b'\n');
            messages.push((out.channel.as_str(), message));
        }
        if let Some((_, message)) = messages.last_mut() {
            message.extend_from_slice(&out.record);
            count += 1;
        }
    }
    messages
}

/// The `PUBLISH`es of a batch, in one pipeline (see [`pack`]).
fn pipeline(from: &str, batch: &[Outgoing]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for (channel, message) in pack(from, batch) {
        pipe.publish(channel, message).ignore();
    }
    pipe
}

/// Receives what other nodes publish and delivers it to this node's sessions.
async fn subscriber(inner: Weak<Inner>, mut stop: watch::Receiver<()>) {
    let mut backoff = Backoff::new();
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let pattern = format!("{}:hub:*", glob_escape(&strong.options.prefix));
        let own = node_channel(&strong.options.prefix, node_tag());
        let subscribed = async {
            let mut pubsub = strong.client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            pubsub.subscribe(&own).await?;
            redis::RedisResult::Ok(pubsub)
        };
        let subscribed = tokio::time::timeout(strong.options.connect_timeout, subscribed).await;
        let pubsub = match subscribed {
            Ok(Ok(pubsub)) => {
                strong.stats.connects.fetch_add(1, Ordering::Relaxed);
                if backoff.0 != Backoff::FIRST {
                    tracing::info!("redis backplane: receiving again");
                }
                backoff.reset();
                // What changed while the connection was down is written again.
                strong.changed.notify_one();
                pubsub
            }
            failed => {
                let why = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => "timed out".to_owned(),
                };
                drop(strong);
                let wait = backoff.next();
                tracing::warn!("redis backplane: cannot subscribe ({why}); retrying in {wait:?}");
                tokio::select! {
                    _ = tokio::time::sleep(wait) => continue,
                    _ = stop.changed() => return,
                }
            }
        };
        let answer_within = strong.options.connect_timeout;
        drop(strong);
        let (mut sink, mut messages) = pubsub.split();
        // A connection that went quiet without breaking (a partition, a frozen Redis) would
        // stop deliveries without a word: a ping every few seconds finds it out.
        let mut pings = tokio::time::interval(PING_EVERY);
        pings.tick().await;
        // Operations delivered since the task last let others run.
        let mut delivered = 0;
        loop {
            if delivered >= MESSAGE_OPS_MOST {
                delivered = 0;
                tokio::task::yield_now().await;
            }
            let message = tokio::select! {
                _ = stop.changed() => return,
                _ = pings.tick() => {
                    let ping = tokio::time::timeout(answer_within, sink.ping::<redis::Value>()).await;
                    if !matches!(ping, Ok(Ok(_))) {
                        tracing::warn!("redis backplane: no answer to a ping on the subscribing connection");
                        break;
                    }
                    continue;
                }
                message = messages.next() => message,
            };
            let Some(message) = message else {
                tracing::warn!("redis backplane: lost the subscribing connection");
                break;
            };
            let Some(strong) = inner.upgrade() else {
                return;
            };
            delivered += receive(
                &strong,
                message.get_channel_name(),
                message.get_payload_bytes(),
            );
        }
    }
}

/// Delivers the operations of one message (on `channel`) to the hubs they name, unless this
/// node published them; says how many it delivered.
fn receive(inner: &Inner, channel: &str, payload: &[u8]) -> usize {
    let mut rooms_changed = false;
    // Consecutive operations mostly name the same hub: look it up once per run.
    let mut hubs: Option<(String, Vec<Arc<dyn LocalHub>>)> = None;
    let read = operations(&inner.instance, payload, |hub, target, frame| {
        inner.stats.received.fetch_add(1, Ordering::Relaxed);
        let locals = match &mut hubs {
            Some((name, locals)) if name.as_str() == hub => locals,
            slot => &mut slot.insert((hub.to_owned(), inner.hubs.named(hub))).1,
        };
        if let [local] = locals.as_slice() {
            local.deliver(&target, frame);
        } else {
            for local in locals.iter() {
                local.deliver(&target, frame.clone());
            }
        }
        rooms_changed |= matches!(target, Target::Join { .. } | Target::Leave { .. });
    });
    // A join or leave asked by another node changed this node's rooms.
    if rooms_changed {
        inner.changed.notify_one();
    }
    read.unwrap_or_else(|error| {
        tracing::warn!("redis backplane: {error} on {channel}; the rest of the message is ignored");
        MESSAGE_OPS_MOST
    })
}

/// Writes this node's presence when it changes and every `presence_every`.
async fn presence_writer(inner: Weak<Inner>, mut stop: watch::Receiver<()>) {
    let mut backoff = Backoff::new();
    let mut connection: Option<redis::aio::MultiplexedConnection> = None;
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let every = strong.options.presence_every;
        let written = match connection.as_mut() {
            Some(connection) => write_presence(&strong, connection).await,
            None => match strong.connection().await {
                Ok(mut fresh) => {
                    let written = write_presence(&strong, &mut fresh).await;
                    connection = Some(fresh);
                    written
                }
                Err(e) => Err(e),
            },
        };
        drop(strong);
        let wait = match written {
            Ok(()) => {
                if backoff.0 != Backoff::FIRST {
                    tracing::info!("redis backplane: writing presence again");
                }
                backoff.reset();
                every
            }
            Err(e) => {
                connection = None;
                let wait = backoff.next();
                tracing::warn!(
                    "redis backplane: cannot write presence ({e}); retrying in {wait:?}"
                );
                wait
            }
        };
        let Some(notify) = inner.upgrade().map(|strong| Arc::clone(&strong.changed)) else {
            return;
        };
        let changed = async {
            notify.notified().await;
            // Let a burst of connects and joins settle into one write.
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = changed => {}
            _ = stop.changed() => return,
        }
    }
}

async fn write_presence(
    inner: &Inner,
    connection: &mut redis::aio::MultiplexedConnection,
) -> redis::RedisResult<()> {
    let node = inner.instance.as_str();
    let ttl = i64::try_from(inner.options.presence_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (hub, snapshot) in inner.hubs.snapshots() {
        let sessions_key = inner.presence_key(&hub, node, "sessions");
        let rooms_key = inner.presence_key(&hub, node, "rooms");
        let alive_key = inner.presence_key(&hub, node, "alive");
        let nodes_key = inner.presence_key(&hub, "nodes", "set");
        // The hub's nodes, and this node's mark of life: readers skip (and forget) a node
        // whose mark has expired.
        pipe.sadd(&nodes_key, node).ignore();
        pipe.pexpire(&nodes_key, ttl.saturating_mul(4)).ignore();
        pipe.set(&alive_key, 1).ignore();
        pipe.pexpire(&alive_key, ttl).ignore();
        pipe.del(&sessions_key).ignore().del(&rooms_key).ignore();
        if !snapshot.sessions.is_empty() {
            let ids: Vec<u64> = snapshot.sessions.iter().map(|s| s.get()).collect();
            pipe.sadd(&sessions_key, ids).ignore();
            pipe.pexpire(&sessions_key, ttl).ignore();
        }
        let rooms: Vec<(String, String)> = snapshot
            .rooms
            .iter()
            .map(|(room, members)| {
                let ids: Vec<String> = members.iter().map(|m| m.get().to_string()).collect();
                (room.clone(), ids.join(","))
            })
            .collect();
        if !rooms.is_empty() {
            pipe.hset_multiple(&rooms_key, &rooms).ignore();
            pipe.pexpire(&rooms_key, ttl).ignore();
        }
    }
    pipe.query_async(connection).await
}

#[cfg(test)]
mod tests {
    //! The wire form without Redis: where operations are routed, how a batch is packed into
    //! messages, and that the receiving side reads back exactly what was packed.

    use super::*;

    fn out(hub: &str, target: Target, frame: Option<&Message>) -> Outgoing {
        let (kind, bytes): (Kind, &[u8]) = match frame {
            Some(Message::Text(text)) => (Kind::Text, text.as_bytes()),
            Some(Message::Binary(bytes)) => (Kind::Binary, bytes),
            _ => (Kind::None, &[]),
        };
        Outgoing {
            channel: route("p", hub, &target),
            record: record(hub, &target, kind, bytes),
        }
    }

    /// An operation read back: its hub, target and frame.
    type Received = (String, Target, Option<Message>);

    fn read(me: &str, message: &[u8]) -> (Vec<Received>, Result<usize, WireError>) {
        let mut got = Vec::new();
        let result = operations(me, message, |hub, target, frame| {
            got.push((hub.to_owned(), target, frame));
        });
        (got, result)
    }

    #[test]
    fn an_operation_on_one_session_goes_to_the_channel_of_the_node_in_its_id() {
        // A session id made here carries this process's tag.
        let here = SessionId::next();
        assert_eq!(here.node(), node_tag());
        let session = here.get();
        let mine = node_channel("p", node_tag());
        assert_eq!(mine, format!("p:node:{:05x}", node_tag()));
        for target in [
            Target::Session { session },
            Target::Join {
                room: "r".into(),
                session,
            },
            Target::Leave {
                room: "r".into(),
                session,
            },
        ] {
            assert_eq!(route("p", "api.c.e", &target), mine, "{target:?}");
        }
        // An id from elsewhere: the tag is its upper 20 bits (bits 33 to 52).
        let theirs = (0xabcde_u64 << 33) | 42;
        let target = Target::Session { session: theirs };
        assert_eq!(route("p", "api.c.e", &target), "p:node:abcde");
        assert_eq!(node_channel("p", 1), "p:node:00001");
        // Broadcasts go to the hub's channel, which every node receives.
        let room = Target::Room {
            room: "r".into(),
            except: Some(theirs),
        };
        assert_eq!(route("p", "api.c.e", &room), "p:hub:api.c.e");
        assert_eq!(route("p", "api.c.e", &Target::All), "p:hub:api.c.e");
    }

    #[test]
    fn a_batch_packs_runs_for_one_channel_into_one_message_in_order() {
        let a = (1_u64 << 33) | 7;
        let b = (2_u64 << 33) | 9;
        let text = |t: &str| Message::text(t.to_owned());
        let batch = vec![
            out("h", Target::Session { session: a }, Some(&text("one"))),
            out(
                "h",
                Target::Session { session: a },
                Some(&text("two\nlines")),
            ),
            out(
                "g",
                Target::Join {
                    room: "r\n\"x\"".into(),
                    session: a,
                },
                None,
            ),
            out(
                "h",
                Target::All,
                Some(&Message::Binary(Bytes::from_static(b"\n\0\xff"))),
            ),
            out("h", Target::Session { session: b }, Some(&text(""))),
            out("h", Target::Session { session: a }, Some(&text("three"))),
        ];
        let messages = pack("me", &batch);
        let channels: Vec<&str> = messages.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            channels,
            ["p:node:00001", "p:hub:h", "p:node:00002", "p:node:00001"],
            "consecutive operations for one channel share a message; order is kept"
        );
        let (first, read_first) = read("other", &messages[0].1);
        assert_eq!(read_first, Ok(3));
        assert_eq!(
            first,
            [
                (
                    "h".to_owned(),
                    Target::Session { session: a },
                    Some(text("one"))
                ),
                (
                    "h".to_owned(),
                    Target::Session { session: a },
                    Some(text("two\nlines"))
                ),
                (
                    "g".to_owned(),
                    Target::Join {
                        room: "r\n\"x\"".into(),
                        session: a
                    },
                    None
                ),
            ]
        );
        let (all, _) = read("other", &messages[1].1);
        assert_eq!(
            all,
            [(
                "h".to_owned(),
                Target::All,
                Some(Message::Binary(Bytes::from_static(b"\n\0\xff")))
            )]
        );
        // What a node published itself it skips.
        assert_eq!(read("me", &messages[0].1), (Vec::new(), Ok(0)));
    }

    #[test]
    fn a_big_run_is_split_at_the_message_size_and_a_bigger_operation_goes_alone() {
        let session = (3_u64 << 33) | 1;
        let chunk = Message::text("x".repeat(MESSAGE_MOST / 3));
        let huge = Message::text("y".repeat(MESSAGE_MOST * 2));
        let mut batch: Vec<Outgoing> = (0..5)
            .map(|_| out("h", Target::Session { session }, Some(&chunk)))
            .collect();
        batch.insert(2, out("h", Target::Session { session }, Some(&huge)));
        let messages = pack("me", &batch);
        let counts: Vec<usize> = messages
            .iter()
            .map(|(_, m)| read("other", m).1.unwrap_or(0))
            .collect();
        assert_eq!(counts, [2, 1, 2, 1]);
        // Small operations: at most MESSAGE_OPS_MOST to a message.
        let small: Vec<Outgoing> = (0..MESSAGE_OPS_MOST * 2 + 1)
            .map(|_| out("h", Target::Session { session }, Some(&Message::text("s"))))
            .collect();
        let counts: Vec<usize> = pack("me", &small)
            .iter()
            .map(|(_, m)| read("other", m).1.unwrap_or(0))
            .collect();
        assert_eq!(counts, [MESSAGE_OPS_MOST, MESSAGE_OPS_MOST, 1]);
        assert!(
            messages
                .iter()
                .all(|(_, m)| m.len() <= MESSAGE_MOST + 3 || m.len() > MESSAGE_MOST * 2)
        );
    }

    #[test]
    fn a_malformed_message_is_read_up_to_its_first_bad_operation_without_panicking() {
        let session = (3_u64 << 33) | 1;
        let good = out(
            "h",
            Target::Session { session },
            Some(&Message::text("ok".to_owned())),
        );
        let mut message = b"other\n".to_vec();
        message.extend_from_slice(&good.record);
        for (tail, error) in [
            (&b"{\"hub\":\"h\""[..], WireError::NoHeader),
            (&b"not json\n"[..], WireError::BadHeader),
            (&br#"{"hub":"h","target":{"to":"room"},"kind":"text","len":0}"#[..], WireError::NoHeader),
            (&b"{\"hub\":\"h\",\"target\":{\"to\":\"room\"},\"kind\":\"text\",\"len\":0}\n"[..], WireError::BadHeader),
            (&b"{\"hub\":\"h\",\"target\":{\"to\":\"all\"},\"kind\":\"text\",\"len\":99}\nshort"[..], WireError::Truncated),
            (&b"{\"hub\":\"h\",\"target\":{\"to\":\"all\"},\"kind\":\"text\",\"len\":1}\n\xff"[..], WireError::NotUtf8),
            (&b"{\"hub\":\"h\",\"target\":{\"to\":\"all\"},\"kind\":\"text\",\"len\":18446744073709551615}\n"[..], WireError::Truncated),
        ] {
            let mut bad = message.clone();
            bad.extend_from_slice(tail);
            let (got, result) = read("me", &bad);
            assert_eq!(got.len(), 1, "the good operation before it is delivered");
            assert_eq!(result, Err(error));
        }
        assert_eq!(read("me", b"no sender line").1, Err(WireError::NoSender));
        assert_eq!(read("me", b"other\n"), (Vec::new(), Ok(0)));
    }
}
