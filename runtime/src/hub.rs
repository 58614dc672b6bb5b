//! The hub: every live connection of one endpoint by session id, and named rooms, so that a
//! typed message can reach one session, a room, or everyone from anywhere (a handler, a
//! background task, another endpoint's handler), like Rwf's `Comms`.
//!
//! A message is encoded once and the frame shared by every recipient (wrapped once more for the
//! sessions of endpoints that send in an envelope). Pushes never wait: a session whose queue is
//! full misses that message and the call reports it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::marker::PhantomData;
use std::sync::{Arc, RwLock};

use tokio_tungstenite::tungstenite::Message;

use crate::conn::{SendError, Sender, SessionId};
use crate::message::{WireMessage, envelope_ok};

struct State<S> {
    sessions: HashMap<SessionId, Sender<S>>,
    rooms: BTreeMap<String, BTreeSet<SessionId>>,
}

/// The live sessions of one endpoint. Cheap to clone; every clone is the same hub.
pub struct Hub<S> {
    state: Arc<RwLock<State<S>>>,
    _message: PhantomData<fn(S)>,
}

impl<S> Clone for Hub<S> {
    fn clone(&self) -> Self {
        Hub {
            state: Arc::clone(&self.state),
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
            })),
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

impl<S> Hub<S> {
    /// An empty hub.
    pub fn new() -> Self {
        Hub::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State<S>> {
        // A panic while the lock was held cannot leave the maps half-updated (every update is
        // one insert or remove), so a poisoned lock is still usable.
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State<S>> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// How many sessions are connected.
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

    /// Adds `session` to `room` (creating it). Returns false if the session is not connected.
    pub fn join(&self, room: &str, session: SessionId) -> bool {
        let mut state = self.write();
        if !state.sessions.contains_key(&session) {
            return false;
        }
        state
            .rooms
            .entry(room.to_owned())
            .or_default()
            .insert(session);
        true
    }

    /// Removes `session` from `room`; an emptied room is forgotten.
    pub fn leave(&self, room: &str, session: SessionId) {
        let mut state = self.write();
        if let Some(members) = state.rooms.get_mut(room) {
            members.remove(&session);
            if members.is_empty() {
                state.rooms.remove(room);
            }
        }
    }

    /// The members of `room`, in id order.
    pub fn members(&self, room: &str) -> Vec<SessionId> {
        self.read()
            .rooms
            .get(room)
            .map(|m| m.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The rooms that have members, in name order.
    pub fn rooms(&self) -> Vec<String> {
        self.read().rooms.keys().cloned().collect()
    }

    pub(crate) fn register(&self, sender: Sender<S>) {
        self.write().sessions.insert(sender.session_id(), sender);
    }

    pub(crate) fn unregister(&self, session: SessionId) {
        let mut state = self.write();
        state.sessions.remove(&session);
        state.rooms.retain(|_, members| {
            members.remove(&session);
            !members.is_empty()
        });
    }

    /// Queues `message` for every session of `to` (under one read lock); each session gets it
    /// in its own endpoint's form, the envelope built at most once.
    fn deliver(&self, message: Message, to: Recipients<'_>) -> Delivery {
        let state = self.read();
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
        }
        delivery
    }
}

/// Who a broadcast goes to.
enum Recipients<'a> {
    All,
    Room {
        room: &'a str,
        except: Option<SessionId>,
    },
}

impl<S: WireMessage> Hub<S> {
    /// Sends `message` to one session.
    pub fn send(&self, session: SessionId, message: S) -> Result<(), SendError> {
        let sender = self
            .read()
            .sessions
            .get(&session)
            .cloned()
            .ok_or(SendError::Closed)?;
        sender.send(message)
    }

    /// Sends `message` to every connected session.
    pub fn broadcast(&self, message: S) -> Delivery {
        self.deliver(message.encode(), Recipients::All)
    }

    /// Sends `message` to every member of `room`.
    pub fn broadcast_to(&self, room: &str, message: S) -> Delivery {
        let to = Recipients::Room { room, except: None };
        self.deliver(message.encode(), to)
    }

    /// Sends `message` to every member of `room` except `except` (typically the sender).
    pub fn broadcast_to_others(&self, room: &str, except: SessionId, message: S) -> Delivery {
        let except = Some(except);
        self.deliver(message.encode(), Recipients::Room { room, except })
    }
}
