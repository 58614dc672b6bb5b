//! [`RedisBackplane`] (feature `redis`): hubs across server nodes through Redis pub/sub, in
//! the manner of Socket.IO's and SignalR's Redis backplanes.
//!
//! - Every node publishes a hub operation on the hub's channel, `<prefix>:hub:<hub>`, and
//!   subscribes to the pattern `<prefix>:hub:*`; a node skips what it published itself (it
//!   already delivered that to its own sessions). One publishing connection and one subscribing
//!   connection per node keep the operations of one node in order on every other node.
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
//! The wire form of an operation is one JSON line (the sender's instance, the [`Target`], the
//! frame's kind) followed by the frame's bytes as they are: a message is encoded once, by the
//! typed hub on the sending node, and travels unchanged to the sessions of the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::backplane::{
    Attached, Backplane, BackplaneError, BoxFuture, LocalHub, Presence, SharedBackplane, Target,
};
use crate::session::{SessionId, random_bits};

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

struct Outgoing {
    channel: String,
    payload: Vec<u8>,
}

/// The header line of a published operation.
#[derive(Serialize, Deserialize)]
struct Header {
    /// The publishing backplane's instance id.
    from: String,
    target: Target,
    kind: Kind,
}

#[derive(Serialize, Deserialize, PartialEq, Eq, Clone, Copy)]
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
            .fetch_sub(out.payload.len(), Ordering::Relaxed);
    }

    fn channel(&self, hub: &str) -> String {
        format!("{}:hub:{hub}", self.options.prefix)
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
        let header = Header {
            from: self.inner.instance.clone(),
            target,
            kind,
        };
        // A header of plain data always serialises.
        let mut payload = serde_json::to_vec(&header).unwrap_or_default();
        payload.push(b'\n');
        payload.extend_from_slice(bytes);
        let size = payload.len();
        let queued = &self.inner.queued_bytes;
        if queued.load(Ordering::Relaxed) + size > self.inner.options.queue_bytes {
            self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        let outgoing = Outgoing {
            channel: self.inner.channel(hub),
            payload,
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

/// Publishes what the hubs hand over, in order, in pipelined batches; drops it while Redis is
/// unreachable.
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
            while batch.len() < 256 {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            let mut pipe = redis::pipe();
            for out in &batch {
                pipe.publish(&out.channel, &out.payload).ignore();
            }
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

/// Receives what other nodes publish and delivers it to this node's sessions.
async fn subscriber(inner: Weak<Inner>, mut stop: watch::Receiver<()>) {
    let mut backoff = Backoff::new();
    loop {
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let pattern = format!("{}:hub:*", glob_escape(&strong.options.prefix));
        let prefix = format!("{}:hub:", strong.options.prefix);
        let subscribed = async {
            let mut pubsub = strong.client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
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
        loop {
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
            let channel = message.get_channel_name();
            if let Some(hub) = channel.strip_prefix(&prefix) {
                receive(&strong, hub, message.get_payload_bytes());
            }
        }
    }
}

/// Delivers one published operation to the hub it names, unless this node published it.
fn receive(inner: &Inner, hub: &str, payload: &[u8]) {
    let Some(split) = payload.iter().position(|b| *b == b'\n') else {
        tracing::warn!("redis backplane: a message on {hub} without a header; ignored");
        return;
    };
    let Ok(header) = serde_json::from_slice::<Header>(&payload[..split]) else {
        tracing::warn!("redis backplane: a message on {hub} with a bad header; ignored");
        return;
    };
    if header.from == inner.instance {
        return;
    }
    let body = &payload[split + 1..];
    let frame = match header.kind {
        Kind::Text => match std::str::from_utf8(body) {
            Ok(text) => Some(Message::text(text)),
            Err(_) => {
                tracing::warn!("redis backplane: a text message on {hub} is not UTF-8; ignored");
                return;
            }
        },
        Kind::Binary => Some(Message::Binary(Bytes::copy_from_slice(body))),
        Kind::None => None,
    };
    inner.stats.received.fetch_add(1, Ordering::Relaxed);
    for local in inner.hubs.named(hub) {
        local.deliver(&header.target, frame.clone());
    }
    // A join or leave asked by another node changed this node's rooms.
    if matches!(header.target, Target::Join { .. } | Target::Leave { .. }) {
        inner.changed.notify_one();
    }
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
