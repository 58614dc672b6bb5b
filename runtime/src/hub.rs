//! The hub: every live connection of one endpoint by session id, and named rooms, so that a
//! typed message can reach one session, a room, or everyone from anywhere (a handler, a
//! background task, another endpoint's handler), like Rwf's `Comms`.
//!
//! A message is encoded once and the frame shared by every recipient (wrapped once more for the
//! sessions of endpoints that send in an envelope). Pushes never wait: a session whose queue is
//! full misses that message and the call reports it.
//!
//! A hub made with [`Hub::with_backplane`] also reaches the sessions of the other nodes of a
//! cluster: every operation is done on this node's sessions at once and handed to the backplane
//! for the others (see [`crate::Backplane`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use tokio_tungstenite::tungstenite::Message;

use crate::backplane::{BackplaneError, LocalHub, Presence, SharedBackplane, Target};
use crate::message::{WireMessage, envelope_ok};
use crate::sender::Sender;
use crate::session::{SendError, SessionId};

struct State<S> {
    sessions: HashMap<SessionId, Sender<S>>,
    rooms: BTreeMap<String, BTreeSet<SessionId>>,
    /// The rooms of each session that is in any, so that a disconnect leaves its own rooms
    /// instead of scanning every room under the write lock.
    joined: HashMap<SessionId, BTreeSet<String>>,
}

/// The live sessions of one endpoint. Cheap to clone; every clone is the same hub.
pub struct Hub<S> {
    state: Arc<RwLock<State<S>>>,
    remote: Option<Arc<Remote>>,
    _message: PhantomData<fn(S)>,
}

/// The backplane a hub shares its operations through, and its name there.
struct Remote {
    name: String,
    backplane: SharedBackplane,
}

impl<S> Clone for Hub<S> {
    fn clone(&self) -> Self {
        Hub {
            state: Arc::clone(&self.state),
            remote: self.remote.clone(),
            _message: PhantomData,
        }
    }
}

impl<S> Default for Hub<S> {
    fn default() -> Self {
        Hub {
            state: Arc::new(RwLock::new(State {
                sessions: HashMap::new(),
                rooms: BTreeMap::new(),
                joined: HashMap::new(),
            })),
            remote: None,
            _message: PhantomData,
        }
    }
}

impl<S> std::fmt::Debug for Hub<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("sessions", &self.len())
            .finish_non_exhaustive()
    }
}

/// How many recipients a broadcast reached, and how many it missed because their queues
/// were full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    /// Sessions the message was queued for.
    pub delivered: usize,
    /// Sessions whose outbound queue was full.
    pub full: usize,
}

impl<S: 'static> Hub<S> {
    /// A hub whose operations also reach the sessions of every other node sharing
    /// `backplane`, under the cluster-wide name `name` (the same on every node; generated code
    /// uses the API's and the endpoint's names).
    pub fn with_backplane(name: &str, backplane: &SharedBackplane) -> Self {
        let hub = Hub::<S>::default();
        let local: Arc<dyn LocalHub> = hub.state.clone();
        backplane.attach(name, Arc::downgrade(&local));
        Hub {
            remote: Some(Arc::new(Remote {
                name: name.to_owned(),
                backplane: Arc::clone(backplane),
            })),
            ..hub
        }
    }
}

impl<S> Hub<S> {
    /// An empty hub for the sessions of this process.
    pub fn new() -> Self {
        Hub::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<S>> {
        read(&self.state)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<S>> {
        write(&self.state)
    }

    /// Hands an operation to the other nodes: `None` without a backplane (or with one that
    /// has no other node, such as [`crate::InProcess`]), else whether the backplane took it.
    fn publish(&self, target: Target, frame: Option<&Message>) -> Option<bool> {
        let remote = self
            .remote
            .as_ref()
            .filter(|r| !r.backplane.single_node())?;
        let taken = remote.backplane.publish(&remote.name, target, frame);
        crate::observe::backplane(&remote.name, taken);
        Some(taken)
    }

    /// Tells the backplane that this node's sessions or rooms changed.
    fn changed(&self) {
        if let Some(remote) = &self.remote {
            remote.backplane.changed(&remote.name);
        }
    }

    /// The sessions and rooms of this hub on every node (this node's own without a
    /// backplane). The other methods that list sessions and rooms see this node only.
    pub async fn presence(&self) -> Result<Presence, BackplaneError> {
        match &self.remote {
            Some(remote) => remote.backplane.presence(&remote.name).await,
            None => Ok(snapshot(&self.state)),
        }
    }

    /// How many sessions are connected to this node.
    pub fn len(&self) -> usize {
        self.read().sessions.len()
    }

    /// Whether no session is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The connected sessions, in id order.
    pub fn sessions(&self) -> Vec<SessionId> {
        let mut ids: Vec<SessionId> = self.read().sessions.keys().copied().collect();
        ids.sort();
        ids
    }

    /// Whether `session` is connected to this endpoint.
    pub fn contains(&self, session: SessionId) -> bool {
        self.read().sessions.contains_key(&session)
    }

    /// Adds `session` to `room` (creating it). A session of this node is added at once; with a
    /// backplane, any other session is looked for on the other nodes, and this returns true
    /// once that is asked. Returns false only without a backplane, when the session is not
    /// connected here.
    pub fn join(&self, room: &str, session: SessionId) -> bool {
        if join(&self.state, room, session) {
            self.changed();
            return true;
        }
        let room = room.to_owned();
        let session = session.get();
        self.publish(Target::Join { room, session }, None) == Some(true)
    }

    /// Removes `session` from `room`, here or (with a backplane) on its node; an emptied room
    /// is forgotten.
    pub fn leave(&self, room: &str, session: SessionId) {
        if leave(&self.state, room, session) {
            self.changed();
        } else {
            let room = room.to_owned();
            let session = session.get();
            self.publish(Target::Leave { room, session }, None);
        }
    }

    /// The members of `room` on this node, in id order.
    pub fn members(&self, room: &str) -> Vec<SessionId> {
        self.read()
            .rooms
            .get(room)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The rooms that have members on this node, in name order.
    pub fn rooms(&self) -> Vec<String> {
        self.read().rooms.keys().cloned().collect()
    }

    pub(crate) fn register(&self, sender: Sender<S>) {
        self.write().sessions.insert(sender.session_id(), sender);
        self.changed();
    }

    pub(crate) fn unregister(&self, session: SessionId) {
        {
            let mut state = self.write();
            state.sessions.remove(&session);
            for room in state.joined.remove(&session).unwrap_or_default() {
                if let Some(members) = state.rooms.get_mut(&room) {
                    members.remove(&session);
                    if members.is_empty() {
                        state.rooms.remove(&room);
                    }
                }
            }
        }
        self.changed();
    }
}

fn read<S>(state: &RwLock<State<S>>) -> std::sync::RwLockReadGuard<'_, State<S>> {
    // A panic while the lock was held cannot leave the maps half-updated (every update is
    // one insert or remove), so a poisoned lock is still usable.
    state.read().unwrap_or_else(|p| p.into_inner())
}

fn write<S>(state: &RwLock<State<S>>) -> std::sync::RwLockWriteGuard<'_, State<S>> {
    state.write().unwrap_or_else(|p| p.into_inner())
}

/// Adds a session of this node to a room; false when it is not connected here.
fn join<S>(state: &RwLock<State<S>>, room: &str, session: SessionId) -> bool {
    let mut state = write(state);
    if !state.sessions.contains_key(&session) {
        return false;
    }
    state
        .rooms
        .entry(room.to_owned())
        .or_default()
        .insert(session);
    state
        .joined
        .entry(session)
        .or_default()
        .insert(room.to_owned());
    true
}

/// Removes a session of this node from a room; false when it is not connected here.
fn leave<S>(state: &RwLock<State<S>>, room: &str, session: SessionId) -> bool {
    let mut state = write(state);
    if !state.sessions.contains_key(&session) {
        return false;
    }
    if let Some(members) = state.rooms.get_mut(room) {
        members.remove(&session);
        if members.is_empty() {
            state.rooms.remove(room);
        }
    }
    if let Some(rooms) = state.joined.get_mut(&session) {
        rooms.remove(room);
        if rooms.is_empty() {
            state.joined.remove(&session);
        }
    }
    true
}

fn snapshot<S>(state: &RwLock<State<S>>) -> Presence {
    let state = read(state);
    Presence {
        sessions: state.sessions.keys().copied().collect(),
        rooms: state.rooms.clone(),
    }
}

impl<S: 'static> LocalHub for RwLock<State<S>> {
    fn deliver(&self, target: &Target, frame: Option<Message>) {
        match (target, frame) {
            (Target::All, Some(frame)) => {
                deliver(self, frame, Recipients::All);
            }
            (Target::Room { room, except }, Some(frame)) => {
                let except = except.map(SessionId::from);
                deliver(self, frame, Recipients::Room { room, except });
            }
            (Target::Session { session }, Some(frame)) => {
                deliver(self, frame, Recipients::One(SessionId::from(*session)));
            }
            (Target::Join { room, session }, _) => {
                join(self, room, SessionId::from(*session));
            }
            (Target::Leave { room, session }, _) => {
                leave(self, room, SessionId::from(*session));
            }
            // A message operation without its message is malformed; there is nothing to send.
            (_, None) => {}
        }
    }

    fn snapshot(&self) -> Presence {
        snapshot(self)
    }
}

/// Queues `message` for every session of `to` on this node (under one read lock); each session
/// gets it in its own endpoint's form, the envelope built at most once.
fn deliver<S>(state: &RwLock<State<S>>, message: Message, to: Recipients<'_>) -> Delivery {
    let state = read(state);
    let mut wrapped: Option<Message> = None;
    let mut delivery = Delivery::default();
    let mut push = |sender: &Sender<S>| {
        let frame = if sender.envelope() {
            wrapped
                .get_or_insert_with(|| envelope_ok(message.clone()))
                .clone()
        } else {
            message.clone()
        };
        match sender.send_frame(frame) {
            Ok(()) => delivery.delivered += 1,
            Err(SendError::QueueFull) => delivery.full += 1,
            Err(SendError::Closed) => {}
        }
    };
    match to {
        Recipients::All => state.sessions.values().for_each(&mut push),
        Recipients::Room { room, except } => {
            let members = state.rooms.get(room).into_iter().flatten();
            members
                .filter(|id| Some(**id) != except)
                .filter_map(|id| state.sessions.get(id))
                .for_each(&mut push);
        }
        Recipients::One(session) => state.sessions.get(&session).into_iter().for_each(push),
    }
    delivery
}

/// Who a broadcast goes to.
enum Recipients<'a> {
    All,
    Room {
        room: &'a str,
        except: Option<SessionId>,
    },
    One(SessionId),
}

impl<S: WireMessage> Hub<S> {
    /// Sends `message` to one session. A session of this node gets it at once; with a
    /// backplane, any other session gets it on its node, and `Ok` means it was handed over
    /// ([`SendError::QueueFull`] when the backplane's way out is full). Without a backplane, a
    /// session that is not connected here is [`SendError::Closed`].
    pub fn send(&self, session: SessionId, message: S) -> Result<(), SendError> {
        let sender = self.read().sessions.get(&session).cloned();
        match sender {
            Some(sender) => sender.send(message),
            None => {
                let target = Target::Session {
                    session: session.get(),
                };
                match self.publish(target, Some(&message.encode())) {
                    Some(true) => Ok(()),
                    Some(false) => Err(SendError::QueueFull),
                    None => Err(SendError::Closed),
                }
            }
        }
    }

    /// Sends `message` to every connected session (of every node, with a backplane; the
    /// returned counts are this node's).
    pub fn broadcast(&self, message: S) -> Delivery {
        self.everywhere(message, Target::All, Recipients::All)
    }

    /// Sends `message` to every member of `room` (on every node, with a backplane).
    pub fn broadcast_to(&self, room: &str, message: S) -> Delivery {
        let target = Target::Room {
            room: room.to_owned(),
            except: None,
        };
        self.everywhere(message, target, Recipients::Room { room, except: None })
    }

    /// Sends `message` to every member of `room` except `except` (typically the sender).
    pub fn broadcast_to_others(&self, room: &str, except: SessionId, message: S) -> Delivery {
        let target = Target::Room {
            room: room.to_owned(),
            except: Some(except.get()),
        };
        let except = Some(except);
        self.everywhere(message, target, Recipients::Room { room, except })
    }

    /// Encodes `message` once, delivers it to this node's `local` recipients, and hands it to
    /// the other nodes for theirs (`target`).
    fn everywhere(&self, message: S, target: Target, local: Recipients<'_>) -> Delivery {
        let frame = message.encode();
        self.publish(target, Some(&frame));
        deliver(&self.state, frame, local)
    }
}

#[cfg(test)]
mod tests {
    //! Two hubs in one process joined by a backplane that hands each published operation to the
    //! other hub, as Redis does between nodes: every operation crosses the trait and arrives
    //! through `LocalHub::deliver`.

    use std::sync::{Mutex, Weak};

    use super::*;
    use crate::backplane::{Backplane, BoxFuture, Presence};
    use crate::outbox::Outbox;

    /// Carries what one side publishes to the hubs attached on the other side.
    #[derive(Default)]
    struct Wire {
        other: Mutex<Vec<Weak<dyn LocalHub>>>,
        local: Mutex<Vec<Weak<dyn LocalHub>>>,
    }

    struct Side {
        wire: Arc<Wire>,
        first: bool,
    }

    impl Backplane for Side {
        fn attach(&self, _hub: &str, local: Weak<dyn LocalHub>) {
            let list = if self.first {
                &self.wire.local
            } else {
                &self.wire.other
            };
            list.lock().unwrap().push(local);
        }

        fn publish(&self, _hub: &str, target: Target, frame: Option<&Message>) -> bool {
            let list = if self.first {
                &self.wire.other
            } else {
                &self.wire.local
            };
            for hub in list.lock().unwrap().iter().filter_map(Weak::upgrade) {
                hub.deliver(&target, frame.cloned());
            }
            true
        }

        fn changed(&self, _hub: &str) {}

        fn presence<'a>(
            &'a self,
            _hub: &'a str,
        ) -> BoxFuture<'a, Result<Presence, BackplaneError>> {
            Box::pin(async { Ok(Presence::default()) })
        }
    }

    fn session(hub: &Hub<String>) -> (SessionId, Arc<Outbox>) {
        let outbox = Arc::new(Outbox::new(16, false));
        let sender = Sender::new(Arc::clone(&outbox), false);
        let id = sender.session_id();
        hub.register(sender);
        (id, outbox)
    }

    fn drained(outbox: &Outbox) -> Vec<Message> {
        std::iter::from_fn(|| outbox.pop()).collect()
    }

    #[test]
    fn a_disconnect_leaves_exactly_its_own_rooms() {
        let hub: Hub<String> = Hub::new();
        let (a, _a_box) = session(&hub);
        let (b, _b_box) = session(&hub);
        for room in ["one", "two", "three"] {
            assert!(hub.join(room, a));
        }
        assert!(hub.join("two", b));
        hub.leave("three", a);
        hub.unregister(a);
        assert_eq!(hub.rooms(), ["two"]);
        assert_eq!(hub.members("two"), [b]);
        assert!(!hub.write().joined.contains_key(&a));
        hub.unregister(b);
        assert!(hub.rooms().is_empty());
        assert!(hub.write().joined.is_empty());
    }

    #[test]
    fn every_operation_reaches_the_other_node_through_the_backplane() {
        let wire = Arc::new(Wire::default());
        let a_side: SharedBackplane = Arc::new(Side {
            wire: Arc::clone(&wire),
            first: true,
        });
        let b_side: SharedBackplane = Arc::new(Side { wire, first: false });
        let a: Hub<String> = Hub::with_backplane("api.c.e", &a_side);
        let b: Hub<String> = Hub::with_backplane("api.c.e", &b_side);
        let (a1, a1_box) = session(&a);
        let (b1, b1_box) = session(&b);
        let (b2, b2_box) = session(&b);

        // Send by id: the session on the other node gets it, once.
        assert_eq!(a.send(b1, "to b1".to_owned()), Ok(()));
        assert_eq!(drained(&b1_box), [Message::text("to b1")]);
        assert!(drained(&b2_box).is_empty() && drained(&a1_box).is_empty());

        // Broadcast: this node's sessions directly, the other node's through the backplane.
        assert_eq!(a.broadcast("all".to_owned()).delivered, 1);
        for outbox in [&a1_box, &b1_box, &b2_box] {
            assert_eq!(drained(outbox), [Message::text("all")]);
        }

        // Join and leave a session of the other node, then room broadcasts with `except`.
        assert!(a.join("room", b1));
        assert!(a.join("room", a1));
        assert_eq!(b.members("room"), [b1]);
        b.broadcast_to_others("room", b1, "hi".to_owned());
        assert_eq!(drained(&a1_box), [Message::text("hi")]);
        assert!(drained(&b1_box).is_empty() && drained(&b2_box).is_empty());
        a.leave("room", b1);
        assert!(b.members("room").is_empty());
        a.broadcast_to("room", "after".to_owned());
        assert_eq!(drained(&a1_box), [Message::text("after")]);
        assert!(drained(&b1_box).is_empty());

        // Without a backplane, a session that is not here is gone.
        let alone: Hub<String> = Hub::new();
        assert_eq!(alone.send(b2, "x".to_owned()), Err(SendError::Closed));
        assert!(!alone.join("room", b2));
    }
}
