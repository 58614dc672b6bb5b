//! The [`Endpoint`] trait that generated code implements for each endpoint, and the connection
//! and socket types it names.

use std::future::Future;

use super::*;
use crate::close::{CloseCondition, Disconnect};
use crate::conn::Conn;
use crate::message::WireMessage;
use crate::request::{FromRequest, Refusal, Request};
use crate::socket::{Keepalive, OnInvalid, Socket, Stop};

/// The connection handle an endpoint's handlers receive.
pub type ConnOf<E> = Conn<<E as Endpoint>::Send, <E as Endpoint>::Params, <E as Endpoint>::Query>;

/// The socket an endpoint's run owns.
pub type SocketOf<E> = Socket<
    <E as Endpoint>::Receive,
    <E as Endpoint>::Send,
    <E as Endpoint>::Params,
    <E as Endpoint>::Query,
>;

/// The typed behaviour of one endpoint, as the server drives it.
///
/// Generated code implements this for each endpoint by forwarding to the user's handler trait;
/// users implement the generated traits, not this one.
pub trait Endpoint: Send + Sync + 'static {
    /// What the server receives (`Infallible` for a send-only endpoint).
    type Receive: WireMessage;
    /// What the server sends (`Infallible` for a receive-only endpoint).
    type Send: WireMessage;
    /// The endpoint's close conditions.
    type Close: CloseCondition;
    /// Typed path parameters, decoded before the upgrade.
    type Params: FromRequest;
    /// Typed query parameters, decoded before the upgrade.
    type Query: FromRequest;
    /// What one connection keeps between its callbacks (`()` for none): `run` creates it, and
    /// the connection task holds it, so that `on_disconnect` gets it however the connection
    /// ends (a shutdown that stops `run`, a panic in a handler).
    type State: Send + 'static;

    /// The endpoint's name in logs and metric labels (generated code: `api.controller.endpoint`).
    const NAME: &'static str = "endpoint";
    /// Ping keepalive, if the spec asks for it.
    const KEEPALIVE: Option<Keepalive> = None;
    /// What to do with a message that does not decode or validate.
    const ON_INVALID: OnInvalid = OnInvalid::Close;
    /// Whether sent messages are wrapped in `{"statusCode": 200, "body": ..}`.
    const ENVELOPE: bool = false;

    /// This endpoint's limits, given the server's: the spec's per-endpoint `limits` override
    /// the per-connection ones here.
    fn limits(&self, server: Limits) -> Limits {
        server
    }

    /// Runs before the upgrade (middleware); a refusal is answered with its HTTP status.
    fn before_upgrade(
        &self,
        request: &Request,
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let _ = request;
        async { Ok(()) }
    }

    /// Drives the connection: the callback loop, or the user's stream handler. A connection's
    /// state, once created, goes into `state`.
    fn run(
        &self,
        socket: &mut SocketOf<Self>,
        state: &mut Option<Self::State>,
    ) -> impl Future<Output = Result<(), Stop<Self::Close>>> + Send;

    /// Runs exactly once when the connection ends, however it ends, with the connection's
    /// state (`None` if `run` ended before creating it).
    fn on_disconnect(
        &self,
        conn: &ConnOf<Self>,
        state: Option<Self::State>,
        why: Disconnect,
    ) -> impl Future<Output = ()> + Send;
}
