//! One connection after its route is found: the upgrade decision (typed inputs, middleware),
//! the `101`, and the task that drives the socket through an [`Endpoint`] to its close.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::websocket::WebSocket;
use tokio_tungstenite::tungstenite::http;

use super::*;
use crate::close::Disconnect;
use crate::conn::Conn;
use crate::handshake;
use crate::hub::Hub;
use crate::io::Io;
use crate::observe::guarded;
use crate::outbox::Outbox;
use crate::request::{FromRequest, Refusal, Request};
use crate::sender::Sender;
use crate::session::SessionId;
use crate::socket::SocketError;
use crate::socket::{Settings, Socket, Stop};
use crate::stopping::Shutdown;

pub(crate) type BoxFuture<T = ()> = Pin<Box<dyn Future<Output = T> + Send>>;

/// What every connection task shares: the limits, the allowed origins, and the signal of a
/// graceful shutdown. One `Arc`: every connection's futures hold it.
#[derive(Clone)]
pub(crate) struct Context(Arc<Shared>);

/// What a [`Context`] points to.
pub(crate) struct Shared {
    pub(crate) limits: Limits,
    pub(crate) origins: Option<Box<[String]>>,
    pub(crate) shutdown: Shutdown,
}

impl std::ops::Deref for Context {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Context {
    pub(crate) fn new(limits: Limits, origins: Option<Box<[String]>>, shutdown: Shutdown) -> Self {
        Context(Arc::new(Shared {
            limits,
            origins,
            shutdown,
        }))
    }

    /// The 403 for a browser from an origin not allowed, if that is what this request is.
    pub(crate) fn origin_refusal(&self, headers: &http::HeaderMap) -> Option<Refusal> {
        let (allowed, origin) = (self.origins.as_ref()?, headers.get("origin")?);
        let origin = origin.to_str().unwrap_or_default();
        (!allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)))
            .then(|| Refusal::forbidden("this origin may not open WebSockets here"))
    }
}

/// How the opening handshake is finished once the upgrade is decided; everything before
/// (inputs, middleware) and after (the connection) is the same for every way of serving.
pub(crate) enum Handshake {
    /// The standalone server answers on its own stream.
    Raw {
        stream: Io,
        key: String,
        leftover: Vec<u8>,
    },
    /// hyper (under axum or tower): the decision goes back to the service, which answers; the
    /// connection arrives once hyper has sent the `101`.
    #[cfg(feature = "tower")]
    Hyper {
        decided: tokio::sync::oneshot::Sender<Result<(), Refusal>>,
        upgrade: hyper::upgrade::OnUpgrade,
    },
}

pub(crate) trait Service: Send + Sync {
    /// Decides the upgrade and finishes the handshake; resolves to the connection, to be
    /// awaited for as long as it lives, or to `None` when the upgrade was refused (the refusal
    /// has been sent) or the peer went away. Two futures, so that what only the upgrade needs
    /// (the request, the handshake, the middleware's state) is freed before the connection
    /// settles in: a future keeps the size of its largest state for its whole life.
    fn serve(
        self: Arc<Self>,
        request: Request,
        handshake: Handshake,
        context: Context,
    ) -> BoxFuture<Option<BoxFuture>>;

    /// The endpoint's name, for errors.
    fn name(&self) -> &'static str;
}

/// An endpoint and its hub, as one route serves them.
pub(super) struct EndpointService<E: Endpoint> {
    pub(super) endpoint: E,
    pub(super) hub: Hub<E::Send>,
}

impl<E: Endpoint> Service for EndpointService<E> {
    fn serve(
        self: Arc<Self>,
        request: Request,
        handshake: Handshake,
        context: Context,
    ) -> BoxFuture<Option<BoxFuture>> {
        Box::pin(open(self, request, handshake, context))
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<E>()
    }
}

/// What a successful upgrade hands to the connection.
struct Upgraded<E: Endpoint> {
    ws: WebSocket,
    params: E::Params,
    query: E::Query,
}

/// Decodes the typed inputs and runs the middleware: the one decision on an upgrade, however
/// the server is mounted.
async fn decide<E: Endpoint>(
    endpoint: &E,
    request: &Request,
    shutdown: &Shutdown,
) -> Result<(E::Params, E::Query), Refusal> {
    let (params, query) = E::Params::from_request(request)
        .and_then(|params| Ok((params, E::Query::from_request(request)?)))?;
    match guarded(endpoint.before_upgrade(request)).await {
        Some(Ok(())) => {}
        Some(Err(refusal)) => return Err(refusal),
        None => return Err(Refusal::new(500, "internal error")),
    }
    // A shutdown that began while the middleware ran: the server takes no new connection.
    if shutdown.stopping().is_some() {
        return Err(Refusal::new(503, "the server is shutting down"));
    }
    Ok((params, query))
}

/// Decides the upgrade and finishes the handshake; `None` when the upgrade was refused (the
/// refusal has been sent) or the peer went away.
async fn upgrade<E: Endpoint>(
    endpoint: &E,
    request: &Request,
    handshake: Handshake,
    limits: Limits,
    shutdown: &Shutdown,
) -> Option<Upgraded<E>> {
    let decision = decide(endpoint, request, shutdown).await;
    let config = limits.websocket_config();
    match handshake {
        Handshake::Raw {
            mut stream,
            key,
            leftover,
        } => {
            let (params, query) = match decision {
                Ok(inputs) => inputs,
                Err(refusal) => {
                    handshake::refuse(&mut stream, &refusal).await;
                    return None;
                }
            };
            handshake::accept(&mut stream, &key).await.ok()?;
            stream.read_ahead(limits.read_buffer);
            let ws = WebSocket::server(stream, leftover, config);
            Some(Upgraded { ws, params, query })
        }
        #[cfg(feature = "tower")]
        Handshake::Hyper { decided, upgrade } => {
            let (params, query) = match decision {
                Ok(inputs) => inputs,
                Err(refusal) => {
                    let _ = decided.send(Err(refusal));
                    return None;
                }
            };
            decided.send(Ok(())).ok()?;
            let upgraded = upgrade.await.ok()?;
            let mut io = Io::boxed(Box::new(hyper_util::rt::TokioIo::new(upgraded)));
            io.read_ahead(limits.read_buffer);
            let ws = WebSocket::server(io, Vec::new(), config);
            Some(Upgraded { ws, params, query })
        }
    }
}

/// A connection's cleanup, which cannot be skipped: if the task ends before it ran (aborted
/// after the shutdown timeout, or a panic outside the handlers), dropping this takes the session
/// out of its hub and runs `on_disconnect` on a task of its own.
struct Connection<E: Endpoint> {
    service: Arc<EndpointService<E>>,
    session: SessionId,
    socket: Option<SocketOf<E>>,
    /// The connection's state, once `run` created it: kept here, outside `run`, so that
    /// `on_disconnect` gets it even when `run` is stopped or panics.
    state: Option<E::State>,
    /// The cleanup has run (or is running): nothing is left for the drop.
    done: bool,
    /// When the upgrade completed.
    since: std::time::Instant,
}

impl<E: Endpoint> Drop for Connection<E> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        self.service.hub.unregister(self.session);
        let Some(mut socket) = self.socket.take() else {
            return;
        };
        let why = socket.ended().unwrap_or(Disconnect::Lost {
            detail: "the connection task was stopped".to_owned(),
        });
        socket.observe_close(&why, self.since);
        let service = Arc::clone(&self.service);
        let state = self.state.take();
        // Outside a runtime (it is being dropped) nothing can run any more.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let disconnected = service.endpoint.on_disconnect(socket.conn(), state, why);
                let _ = guarded(disconnected).await;
            });
        }
    }
}

/// The upgrade, and the connection set up after it: its outbox, `Conn`, socket and hub entry.
async fn open<E: Endpoint>(
    service: Arc<EndpointService<E>>,
    request: Request,
    handshake: Handshake,
    context: Context,
) -> Option<BoxFuture> {
    let (endpoint, hub) = (&service.endpoint, &service.hub);
    let limits = endpoint.limits(context.limits);
    let upgrading = upgrade(endpoint, &request, handshake, limits, &context.shutdown);
    let Upgraded { ws, params, query } = upgrading.await?;

    let close_code = limits.slow_consumer.close_code();
    let outbox = Arc::new(Outbox::new(limits.send_queue, close_code.is_some()));
    let conn = Conn::new(
        request.path,
        request.headers,
        request.extensions,
        params,
        query,
        Sender::new(Arc::clone(&outbox), E::ENVELOPE),
        hub.clone(),
    );
    let session = conn.session_id();
    let since = crate::observe::upgraded(E::NAME, session);
    let settings = Settings {
        keepalive: E::KEEPALIVE,
        on_invalid: E::ON_INVALID,
        close_timeout: limits.close_timeout,
        write_timeout: limits.write_timeout,
        idle_timeout: limits.idle_timeout,
        slow_consumer_code: close_code.unwrap_or(1013),
        endpoint: E::NAME,
        message_rate: limits.message_rate,
    };
    let socket = Socket::new(ws, outbox, conn, settings, context.shutdown.clone());
    hub.register(socket.conn().sender());
    let connection = Connection {
        service: Arc::clone(&service),
        session,
        socket: Some(socket),
        state: None,
        done: false,
        since,
    };
    Some(Box::pin(live(connection)))
}

/// The connection's life: the handler's run, then the close and `on_disconnect`.
async fn live<E: Endpoint>(mut connection: Connection<E>) {
    let Some(socket) = connection.socket.as_mut() else {
        return;
    };
    let endpoint = &connection.service.endpoint;
    let shutdown = socket.shutdown_signal();
    let state = &mut connection.state;
    // A handler busy in a callback does not see a shutdown on its socket: after the grace
    // period its run is stopped, and the connection closed with 1001 here.
    let outcome = tokio::select! {
        biased;
        outcome = guarded(endpoint.run(socket, state)) => Some(outcome),
        () = shutdown.when(|s| s.grace_until) => None,
    };
    report_outcome(E::NAME, &outcome);
    // Boxed: it runs once, and its state (the close handshake, `on_disconnect`) must not size
    // the future the connection lives in.
    Box::pin(end(&mut connection, outcome)).await;
}

/// Closes the connection after the handler's run (`None`: stopped by a shutdown), takes it out
/// of its hub and runs `on_disconnect`.
async fn end<E: Endpoint>(
    connection: &mut Connection<E>,
    outcome: Option<Option<Result<(), Stop<E::Close>>>>,
) {
    let Some(socket) = connection.socket.as_mut() else {
        return;
    };
    let why = match outcome {
        Some(outcome) => socket.finish(outcome).await,
        None => socket.shut_down().await,
    };
    socket.end_transport().await;
    socket.observe_close(&why, connection.since);
    connection.service.hub.unregister(connection.session);
    connection.done = true;
    // A panic in on_disconnect has nothing left to close; it must not take the task down.
    let state = connection.state.take();
    let disconnected = connection
        .service
        .endpoint
        .on_disconnect(socket.conn(), state, why);
    let _ = guarded(disconnected).await;
}

/// How a handler's run ended: `None` stopped by a shutdown, `Some(None)` panicked.
fn report_outcome<C>(endpoint: &'static str, outcome: &Option<Option<Result<(), Stop<C>>>>) {
    match outcome {
        Some(None) => crate::observe::handler_panicked(endpoint),
        Some(Some(Err(Stop::Socket(error @ SocketError::Unexpected { .. })))) => {
            crate::observe::handler_error(error)
        }
        _ => {}
    }
}
