//! Serving: the listener, the HTTP upgrade, routing by path template, typed inputs and
//! middleware before the `101`, and the task that drives one connection through an [`Endpoint`].

mod connection;
mod endpoint;
mod limits;
mod listen;
mod router;
#[cfg(test)]
mod tests;

pub use endpoint::{ConnOf, Endpoint, SocketOf};
pub use limits::{Limits, SlowConsumer};
pub use listen::Server;
pub use router::{Router, RouterError};

pub(crate) use connection::{BoxFuture, Context, Handshake};
use connection::{EndpointService, Service};
