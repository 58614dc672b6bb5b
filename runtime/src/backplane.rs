//! Hubs across server nodes. A backplane carries a hub's operations (a send to one session, a
//! broadcast to an endpoint or a room, a join or a leave) to the other nodes of a cluster, and
//! answers which sessions and rooms exist across them (presence).
//!
//! Each node delivers to its own sessions directly, without a round trip through the backplane;
//! the backplane only carries what other nodes must deliver. In one process none is needed: a
//! [`Hub`](crate::Hub) made with `Hub::new()` is in-process, and [`InProcess`] is the
//! backplane that says so. [`RedisBackplane`](crate::RedisBackplane) (feature `redis`) uses
//! Redis pub/sub, as Socket.IO's and SignalR's Redis backplanes do. A NATS backplane would be
//! another implementation of [`Backplane`]: publish broadcasts to a subject per hub and sends by
//! id to a subject per node, subscribe to them, and keep presence in a JetStream key-value
//! bucket with a TTL.
//!
//! An operation that names one session ([`Target::Session`], [`Target::Join`],
//! [`Target::Leave`]) needs to reach only the node that has the session; a backplane may carry
//! it there alone, as the Redis one does, finding the node from the id
//! ([`SessionId::node`](crate::SessionId::node)).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};

use serde::{Deserialize, Serialize};
use tokio_tungstenite::tungstenite::Message;

use crate::session::SessionId;

/// A backplane shared by every hub of a node.
pub type SharedBackplane = Arc<dyn Backplane>;

/// A boxed future, for the backplane's one async method.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a hub operation on one node asks of the other nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "to", rename_all = "snake_case")]
pub enum Target {
    /// Every session of the hub.
    All,
    /// Every member of a room, but `except`.
    Room {
        /// The room.
        room: String,
        /// A session left out (typically the sender).
        except: Option<u64>,
    },
    /// One session.
    Session {
        /// The session.
        session: u64,
    },
    /// Add a session to a room (it carries no message).
    Join {
        /// The room.
        room: String,
        /// The session.
        session: u64,
    },
    /// Remove a session from a room (it carries no message).
    Leave {
        /// The room.
        room: String,
        /// The session.
        session: u64,
    },
}

/// Which sessions exist, and who is in which room: one node's, or the whole cluster's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presence {
    /// The connected sessions.
    pub sessions: BTreeSet<SessionId>,
    /// The rooms that have members, with their members.
    pub rooms: BTreeMap<String, BTreeSet<SessionId>>,
}

impl Presence {
    /// Adds another node's presence to this one.
    pub fn merge(&mut self, other: Presence) {
        self.sessions.extend(other.sessions);
        for (room, members) in other.rooms {
            self.rooms.entry(room).or_default().extend(members);
        }
    }
}

/// A hub as a backplane sees it: where to deliver what other nodes publish, and what to report
/// for presence. Implemented by the runtime's hubs.
pub trait LocalHub: Send + Sync {
    /// Delivers an operation another node published to this node's sessions.
    fn deliver(&self, target: &Target, frame: Option<Message>);
    /// This node's sessions and rooms.
    fn snapshot(&self) -> Presence;
}

/// Why the backplane could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackplaneError {
    /// The backplane's server cannot be reached; local delivery goes on.
    #[error("the backplane is unavailable: {0}")]
    Unavailable(String),
    /// The backplane cannot be set up as asked.
    #[error("the backplane cannot be set up: {0}")]
    Config(String),
}

/// Carries hub operations between the nodes of a cluster.
///
/// Delivery is at most once, as pub/sub is: an operation published while the backplane's
/// server is unreachable is lost for the other nodes (never for this node's own sessions).
/// Operations from one node reach each other node in the order they were published.
pub trait Backplane: Send + Sync + 'static {
    /// Starts handing what other nodes publish for the hub `hub` to `local`.
    fn attach(&self, hub: &str, local: Weak<dyn LocalHub>);
    /// Hands an operation to the other nodes (for an operation on one session, possibly to
    /// its node only); never waits. Returns true once it is handed over, whether or not a node
    /// has the session (a send to a session whose node is gone is lost on the way); false when
    /// it was dropped instead (the way out is full, or there is no other node to carry it to).
    fn publish(&self, hub: &str, target: Target, frame: Option<&Message>) -> bool;
    /// Says that the hub's sessions or rooms changed on this node, so presence catches up.
    fn changed(&self, hub: &str);
    /// The sessions and rooms of the hub on every live node.
    fn presence<'a>(&'a self, hub: &'a str) -> BoxFuture<'a, Result<Presence, BackplaneError>>;
    /// Whether there are no other nodes (as for [`InProcess`]): a session that is not on this
    /// node is then gone, and a send to it is [`crate::SendError::Closed`], as without a
    /// backplane. False by default.
    fn single_node(&self) -> bool {
        false
    }
}

/// The hubs attached to a backplane, by name; several hubs may share a name (each gets every
/// delivery, and presence merges them). Hubs that are gone are forgotten on the way.
#[derive(Default)]
pub(crate) struct Attached(Mutex<HashMap<String, Vec<Weak<dyn LocalHub>>>>);

impl Attached {
    pub(crate) fn attach(&self, name: &str, hub: Weak<dyn LocalHub>) {
        let mut hubs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let list = hubs.entry(name.to_owned()).or_default();
        list.retain(|h| h.strong_count() > 0);
        list.push(hub);
    }

    /// The live hubs called `name`.
    pub(crate) fn named(&self, name: &str) -> Vec<Arc<dyn LocalHub>> {
        let hubs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        hubs.get(name)
            .into_iter()
            .flatten()
            .filter_map(Weak::upgrade)
            .collect()
    }

    /// Every live hub's presence, by name.
    #[cfg(feature = "redis")]
    pub(crate) fn snapshots(&self) -> Vec<(String, Presence)> {
        let mut hubs = self.0.lock().unwrap_or_else(|p| p.into_inner());
        hubs.retain(|_, list| {
            list.retain(|h| h.strong_count() > 0);
            !list.is_empty()
        });
        let live: Vec<(String, Vec<Arc<dyn LocalHub>>)> = hubs
            .iter()
            .map(|(name, list)| {
                (
                    name.clone(),
                    list.iter().filter_map(Weak::upgrade).collect(),
                )
            })
            .collect();
        drop(hubs);
        live.into_iter()
            .map(|(name, list)| (name, merged(&list)))
            .collect()
    }

    /// The presence of the hubs called `name` on this node (`None`: no such hub here).
    pub(crate) fn snapshot(&self, name: &str) -> Option<Presence> {
        let list = self.named(name);
        (!list.is_empty()).then(|| merged(&list))
    }
}

fn merged(hubs: &[Arc<dyn LocalHub>]) -> Presence {
    let mut presence = Presence::default();
    for hub in hubs {
        presence.merge(hub.snapshot());
    }
    presence
}

/// The in-process backplane: one node, nothing to carry. Presence is the attached hubs' own.
#[derive(Default)]
pub struct InProcess {
    hubs: Attached,
}

impl InProcess {
    /// A backplane for hubs that live in this process only.
    pub fn new() -> Self {
        InProcess::default()
    }
}

impl std::fmt::Debug for InProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl Backplane for InProcess {
    fn attach(&self, hub: &str, local: Weak<dyn LocalHub>) {
        self.hubs.attach(hub, local);
    }

    fn publish(&self, _hub: &str, _target: Target, _frame: Option<&Message>) -> bool {
        false
    }

    fn changed(&self, _hub: &str) {}

    fn single_node(&self) -> bool {
        true
    }

    fn presence<'a>(&'a self, hub: &'a str) -> BoxFuture<'a, Result<Presence, BackplaneError>> {
        let presence = self.hubs.snapshot(hub).unwrap_or_default();
        Box::pin(async move { Ok(presence) })
    }
}
