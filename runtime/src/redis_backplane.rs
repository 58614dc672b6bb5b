//! [`RedisBackplane`] (feature `redis`): hubs across server nodes through Redis pub/sub, in
//! the manner of Socket.IO's and SignalR's Redis backplanes.
//!
//! - Every node publishes a hub operation on the hub's channel, `<prefix>:hub:<hub>`, and
//!   subscribes to the pattern `<prefix>:hub:*`; a node skips what it published itself (it
//!   already delivered that to its own sessions). One publishing connection and one subscribing
//!   connection per node keep the operations of one node in order on every other node.
//! - Presence: every node writes its sessions and rooms per hub to
//!   `<prefix>:presence:<hub>:<node>:sessions` (a set) and `:rooms` (a hash, room to member
//!   ids) when they change and at least every `presence_every`, with a time to live of
//!   `presence_ttl`, so the entries of a node that crashed expire on their own.
//! - Faults: the connections are made in background tasks and remade with backoff (100 ms,
//!   doubling, at most 5 s), each loss and reconnection logged with `tracing`. While Redis is
//!   unreachable, local delivery goes on and what this node publishes is dropped (pub/sub is at
//!   most once; [`RedisBackplane::stats`] counts it); presence catches up on reconnection.
//!
//! The wire form of an operation is one JSON line (the sender's node, the [`Target`], the
//! frame's kind) followed by the frame's bytes as they are: a message is encoded once, by the
//! typed hub on the sending node, and travels unchanged to the sessions of the others.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use redis::AsyncCommands;
use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, mpsc, watch};
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::backplane::{
    Backplane, BackplaneError, BoxFuture, LocalHub, Presence, SharedBackplane, Target,
};
use crate::conn::{SessionId, node_tag};

/// How a [`RedisBackplane`] is set up.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    prefix: String,
    presence_every: Duration,
    presence_ttl: Duration,
    queue: usize,
    connect_timeout: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "wsgen".to_owned(),
            presence_every: Duration::from_secs(5),
            presence_ttl: Duration::from_secs(15),
            queue: 16_384,
            connect_timeout: Duration::from_secs(2),
        }
    }
}

impl RedisOptions {
    /// The defaults: prefix `wsgen`, presence written every 5 s and kept 15 s, 16,384
    /// operations waiting to be published at most, 2 s to connect.
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
    /// live without being written again (how soon a crashed node's sessions disappear).
    pub fn presence(mut self, every: Duration, ttl: Duration) -> Self {
        self.presence_every = every;
        self.presence_ttl = ttl;
        self
    }

    /// How many operations may wait to be published; beyond that they are dropped.
    pub fn queue(mut self, queue: usize) -> Self {
        self.queue = queue.max(1);
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
    node: u32,
    outgoing: mpsc::Sender<Outgoing>,
    hubs: Mutex<HashMap<String, Weak<dyn LocalHub>>>,
    changed: Notify,
    stats: Stats,
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
    node: u32,
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
            .field("node", &self.inner.node)
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
            node: node_tag(),
            outgoing,
            hubs: Mutex::new(HashMap::new()),
            changed: Notify::new(),
            stats: Stats::default(),
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
    fn channel(&self, hub: &str) -> String {
        format!("{}:hub:{hub}", self.options.prefix)
    }

    fn presence_key(&self, hub: &str, node: &str, what: &str) -> String {
        format!("{}:presence:{hub}:{node}:{what}", self.options.prefix)
    }

    fn hubs(&self) -> Vec<(String, Arc<dyn LocalHub>)> {
        let mut hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        hubs.retain(|_, hub| hub.strong_count() > 0);
        hubs.iter()
            .filter_map(|(name, hub)| hub.upgrade().map(|hub| (name.clone(), hub)))
            .collect()
    }

    fn hub(&self, name: &str) -> Option<Arc<dyn LocalHub>> {
        let hubs = self.hubs.lock().unwrap_or_else(|p| p.into_inner());
        hubs.get(name).and_then(Weak::upgrade)
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
        let mut hubs = self.inner.hubs.lock().unwrap_or_else(|p| p.into_inner());
        hubs.insert(hub.to_owned(), local);
        drop(hubs);
        self.inner.changed.notify_one();
    }

    fn publish(&self, hub: &str, target: Target, frame: Option<&Message>) {
        let (kind, bytes): (Kind, &[u8]) = match frame {
            Some(Message::Text(text)) => (Kind::Text, text.as_bytes()),
            Some(Message::Binary(bytes)) => (Kind::Binary, bytes),
            // Hubs publish data frames only; control frames have no meaning for other nodes.
            Some(_) => return,
            None => (Kind::None, &[]),
        };
        let header = Header {
            node: self.inner.node,
            target,
            kind,
        };
        // A header of plain data always serialises.
        let mut payload = serde_json::to_vec(&header).unwrap_or_default();
        payload.push(b'\n');
        payload.extend_from_slice(bytes);
        let outgoing = Outgoing {
            channel: self.inner.channel(hub),
            payload,
        };
        if self.inner.outgoing.try_send(outgoing).is_err() {
            self.inner.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn changed(&self, _hub: &str) {
        self.inner.changed.notify_one();
    }

    fn presence<'a>(&'a self, hub: &'a str) -> BoxFuture<'a, Result<Presence, BackplaneError>> {
        Box::pin(async move {
            let inner = &self.inner;
            let unavailable = |e: redis::RedisError| BackplaneError::Unavailable(e.to_string());
            let mut connection = inner.connection().await.map_err(unavailable)?;
            let pattern = format!(
                "{}:presence:{}:*:sessions",
                glob_escape(&inner.options.prefix),
                glob_escape(hub)
            );
            let keys: Vec<String> = {
                let mut iter = connection
                    .scan_match::<_, String>(&pattern)
                    .await
                    .map_err(unavailable)?;
                let mut keys = Vec::new();
                while let Some(key) = iter.next_item().await {
                    keys.push(key.map_err(unavailable)?);
                }
                keys
            };
            let mut presence = Presence::default();
            for key in keys {
                let Some(base) = key.strip_suffix(":sessions") else {
                    continue;
                };
                let (sessions, rooms): (Vec<u64>, HashMap<String, String>) = redis::pipe()
                    .smembers(&key)
                    .hgetall(format!("{base}:rooms"))
                    .query_async(&mut connection)
                    .await
                    .map_err(unavailable)?;
                let mut node = Presence {
                    sessions: sessions.into_iter().map(SessionId::from).collect(),
                    ..Presence::default()
                };
                for (room, members) in rooms {
                    let members = members
                        .split(',')
                        .filter_map(|id| id.parse::<u64>().ok())
                        .map(SessionId::from);
                    node.rooms.entry(room).or_default().extend(members);
                }
                presence.merge(node);
            }
            // This node's own state is known without waiting for its next write.
            if let Some(local) = inner.hub(hub) {
                let mine = inner.node;
                presence.sessions.retain(|s| s.node() != mine);
                for members in presence.rooms.values_mut() {
                    members.retain(|s| s.node() != mine);
                }
                presence.rooms.retain(|_, members| !members.is_empty());
                presence.merge(local.snapshot());
            }
            Ok(presence)
        })
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
                            (Some(_), Some(strong)) => {
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
        drop(strong);
        let mut messages = pubsub.into_on_message();
        loop {
            let message = tokio::select! {
                _ = stop.changed() => return,
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
    if header.node == inner.node {
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
    if let Some(local) = inner.hub(hub) {
        local.deliver(&header.target, frame);
        // A join or leave asked by another node changed this node's rooms.
        if matches!(header.target, Target::Join { .. } | Target::Leave { .. }) {
            inner.changed.notify_one();
        }
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
        let Some(strong) = inner.upgrade() else {
            return;
        };
        let changed = async {
            strong.changed.notified().await;
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
    let node = inner.node.to_string();
    let ttl = i64::try_from(inner.options.presence_ttl.as_millis()).unwrap_or(i64::MAX);
    let mut pipe = redis::pipe();
    pipe.atomic();
    for (hub, local) in inner.hubs() {
        let snapshot = local.snapshot();
        let sessions_key = inner.presence_key(&hub, &node, "sessions");
        let rooms_key = inner.presence_key(&hub, &node, "rooms");
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
