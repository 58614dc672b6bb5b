//! [`Sender`]: a cloneable handle that pushes typed messages into one connection's outbox.

use std::marker::PhantomData;
use std::sync::Arc;

use tokio_tungstenite::tungstenite::Message;

use crate::message::WireMessage;
use crate::outbox::Outbox;
use crate::session::{SendError, SessionId};

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
    if envelope {
        message.encode_enveloped()
    } else {
        message.encode()
    }
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
