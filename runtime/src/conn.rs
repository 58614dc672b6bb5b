//! The server side of one connection as a handler sees it: its session id, the upgrade
//! request's path and headers (kept for the whole connection), and a typed way to push messages.

use tokio_tungstenite::tungstenite::http::{Extensions, HeaderMap};

use crate::hub::Hub;
use crate::message::WireMessage;
use crate::sender::Sender;
use crate::session::{SendError, SessionId};

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
            .field("session_id", &self.sender.session_id())
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
        self.sender.session_id()
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
