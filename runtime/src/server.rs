//! Serving: the listener, the HTTP upgrade, routing by path template, typed inputs and
//! middleware before the `101`, and the task that drives one connection through an [`Endpoint`].

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::http;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::close::{CloseCondition, Disconnect};
use crate::conn::{Conn, Sender, SessionId};
use crate::handshake;
use crate::hub::Hub;
use crate::io::Io;
use crate::message::WireMessage;
use crate::outbox::Outbox;
use crate::request::{FromRequest, Refusal, Request};
use crate::socket::{
    Keepalive, OnInvalid, Settings, Shutdown, Socket, Stop, Stopping, when_stopping,
};

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

    /// Drives the connection: the callback loop, or the user's stream handler.
    fn run(
        &self,
        socket: &mut SocketOf<Self>,
    ) -> impl Future<Output = Result<(), Stop<Self::Close>>> + Send;

    /// Runs exactly once when the connection ends, however it ends.
    fn on_disconnect(
        &self,
        conn: &ConnOf<Self>,
        why: Disconnect,
    ) -> impl Future<Output = ()> + Send;
}

/// What happens when a push finds a connection's outbound queue full, because the client reads
/// more slowly than the server produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SlowConsumer {
    /// Close the connection with 1013 (try again later): the client may reconnect and catch up.
    /// The push that found the queue full reports [`crate::SendError::QueueFull`].
    #[default]
    TryAgainLater,
    /// Close the connection with 1008 (policy violation).
    PolicyViolation,
    /// Keep the connection; the push reports [`crate::SendError::QueueFull`] and the pusher
    /// decides (drop the message, retry later, or close).
    Reject,
}

impl SlowConsumer {
    /// The close code this policy sends, if it closes.
    pub const fn close_code(self) -> Option<u16> {
        match self {
            SlowConsumer::TryAgainLater => Some(1013),
            SlowConsumer::PolicyViolation => Some(1008),
            SlowConsumer::Reject => None,
        }
    }
}

/// Limits for the server and each connection. The defaults are safe for a public server; the
/// spec's `limits` sections set them in generated code, and the `with_` methods in your own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// The largest message accepted, after reassembling fragments; a larger one closes the
    /// connection with 1009.
    pub max_message_size: usize,
    /// The largest single frame accepted; a larger one closes the connection with 1009.
    pub max_frame_size: usize,
    /// The largest upgrade request head; a larger one is refused with 431.
    pub max_header_size: usize,
    /// How many pushed messages may wait for the peer; what happens beyond is
    /// [`Limits::slow_consumer`].
    pub send_queue: usize,
    /// What to do with a client that does not read fast enough to keep its queue from filling.
    pub slow_consumer: SlowConsumer,
    /// The read buffer allocated per connection.
    pub read_buffer: usize,
    /// How long the upgrade request may take to arrive (slow handshakes are dropped).
    pub handshake_timeout: Duration,
    /// Close a connection with 1001 when no frame at all (data, ping or pong) has arrived for
    /// this long. `None` (the default) never does: a send-only endpoint's clients may rightly
    /// stay silent, and dead peers are found by keepalive, TCP keepalive and write timeouts.
    pub idle_timeout: Option<Duration>,
    /// How long the server waits for the peer's close frame after sending its own.
    pub close_timeout: Duration,
    /// How long a write may wait for a peer that is not reading before the connection is
    /// treated as lost.
    pub write_timeout: Duration,
    /// TCP keepalive probes, so that a peer that vanished without a FIN is noticed even on
    /// endpoints without a `ping` (`None` leaves the OS default, usually off).
    pub tcp_keepalive: Option<Duration>,
    /// The most connections served at once; more are refused with 503 before the upgrade.
    pub max_connections: usize,
    /// How long a graceful shutdown may take. Connections waiting on their socket are closed
    /// with 1001 at once; a handler busy in a callback gets half of this time to get back to
    /// its socket before its run is stopped and its client closed with 1001; writes and close
    /// handshakes are cut off at nine tenths of it. Every connection's `on_disconnect` runs.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

impl Limits {
    /// The defaults: 64 KiB messages and frames, 16 KiB request heads, a queue of 256 pushes
    /// closed with 1013 when full, 8 KiB read buffers, 10 s handshake and write timeouts, no
    /// idle timeout, 5 s to answer a close, TCP keepalive after 60 s, 10,000 connections, and
    /// 10 s for a graceful shutdown.
    pub const DEFAULT: Limits = Limits {
        max_message_size: 64 * 1024,
        max_frame_size: 64 * 1024,
        max_header_size: 16 * 1024,
        send_queue: 256,
        slow_consumer: SlowConsumer::TryAgainLater,
        read_buffer: 8 * 1024,
        handshake_timeout: Duration::from_secs(10),
        idle_timeout: None,
        close_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(10),
        tcp_keepalive: Some(Duration::from_secs(60)),
        max_connections: 10_000,
        shutdown_timeout: Duration::from_secs(10),
    };

    /// Sets [`Limits::max_message_size`].
    pub const fn with_max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// Sets [`Limits::max_frame_size`].
    pub const fn with_max_frame_size(mut self, bytes: usize) -> Self {
        self.max_frame_size = bytes;
        self
    }

    /// Sets [`Limits::max_header_size`].
    pub const fn with_max_header_size(mut self, bytes: usize) -> Self {
        self.max_header_size = bytes;
        self
    }

    /// Sets [`Limits::send_queue`] (at least 1).
    pub const fn with_send_queue(mut self, messages: usize) -> Self {
        self.send_queue = if messages == 0 { 1 } else { messages };
        self
    }

    /// Sets [`Limits::slow_consumer`].
    pub const fn with_slow_consumer(mut self, policy: SlowConsumer) -> Self {
        self.slow_consumer = policy;
        self
    }

    /// Sets [`Limits::read_buffer`].
    pub const fn with_read_buffer(mut self, bytes: usize) -> Self {
        self.read_buffer = bytes;
        self
    }

    /// Sets [`Limits::handshake_timeout`].
    pub const fn with_handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// Sets [`Limits::idle_timeout`].
    pub const fn with_idle_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.idle_timeout = timeout;
        self
    }

    /// Sets [`Limits::close_timeout`].
    pub const fn with_close_timeout(mut self, timeout: Duration) -> Self {
        self.close_timeout = timeout;
        self
    }

    /// Sets [`Limits::write_timeout`].
    pub const fn with_write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Sets [`Limits::tcp_keepalive`].
    pub const fn with_tcp_keepalive(mut self, idle: Option<Duration>) -> Self {
        self.tcp_keepalive = idle;
        self
    }

    /// Sets [`Limits::max_connections`].
    pub const fn with_max_connections(mut self, connections: usize) -> Self {
        self.max_connections = connections;
        self
    }

    /// Sets [`Limits::shutdown_timeout`].
    pub const fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer)
            // Frames are fed into this buffer and written by one flush per batch; 0 would write
            // every frame on its own.
            .write_buffer_size(64 * 1024)
            .max_message_size(Some(self.max_message_size))
            .max_frame_size(Some(self.max_frame_size))
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Two endpoints were registered at the same path (parameter names aside).
    #[error("two endpoints are registered at the path {path}: {first} and {second}")]
    DuplicatePath {
        /// The path registered second.
        path: String,
        /// The endpoint registered first.
        first: String,
        /// The endpoint registered second, which was refused.
        second: String,
    },
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What every connection task shares: the limits, the allowed origins, and the signal of a
/// graceful shutdown.
#[derive(Clone)]
pub(crate) struct Context {
    pub(crate) limits: Limits,
    pub(crate) origins: Option<Arc<[String]>>,
    pub(crate) shutdown: Shutdown,
}

impl Context {
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
    fn serve(
        self: Arc<Self>,
        request: Request,
        handshake: Handshake,
        context: Context,
    ) -> BoxFuture;

    /// The endpoint's name, for errors.
    fn name(&self) -> &'static str;
}

struct EndpointService<E: Endpoint> {
    endpoint: E,
    hub: Hub<E::Send>,
}

impl<E: Endpoint> Service for EndpointService<E> {
    fn serve(
        self: Arc<Self>,
        request: Request,
        handshake: Handshake,
        context: Context,
    ) -> BoxFuture {
        Box::pin(serve_connection(self, request, handshake, context))
    }

    fn name(&self) -> &'static str {
        std::any::type_name::<E>()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A route path such as `/rooms/{room_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Segment>);

impl Template {
    fn parse(path: &str) -> Self {
        Template(
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    },
                )
                .collect(),
        )
    }

    /// The template with parameter names erased: two routes with the same shape collide.
    fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.0 {
            shape.push('/');
            match segment {
                Segment::Literal(text) => shape.push_str(text),
                Segment::Param(_) => shape.push_str("{}"),
            }
        }
        if shape.is_empty() {
            "/".to_owned()
        } else {
            shape
        }
    }

    fn literals(&self) -> usize {
        self.0
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// The captured parameters if `path` matches, and whether it matched exactly (not only
    /// by ignoring a trailing `/`). An empty segment is a parameter's empty value, as the
    /// clients format it (`/rooms//join` for `/rooms/{room}/join`), never nothing.
    fn matches(&self, path: &str) -> Option<(bool, Vec<(String, String)>)> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut exact = true;
        // `/chat/` is `/chat`, where the route has no segment for what follows the `/`.
        if parts.len() == self.0.len() + 1 && parts.last() == Some(&"") {
            parts.pop();
            exact = false;
        }
        if parts.len() != self.0.len() {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.0.iter().zip(parts) {
            match segment {
                Segment::Literal(text) if text == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    let value = percent_encoding::percent_decode_str(part).decode_utf8_lossy();
                    params.push((name.clone(), value.into_owned()));
                }
            }
        }
        Some((exact, params))
    }
}

/// A route that matched, with the parameters it captured.
pub(crate) type Matched = (Arc<dyn Service>, Vec<(String, String)>);

/// Path-to-endpoint routing, built once when the server starts. Paths may have parameters
/// (`/rooms/{room_id}`); where two routes match, the one with more literal segments wins.
#[derive(Default)]
pub struct Router {
    routes: Vec<(Template, String, Arc<dyn Service>)>,
    duplicates: Vec<RouterError>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("paths", &self.paths().collect::<Vec<_>>())
            .finish()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Serves `endpoint` at `path` with a hub of its own.
    pub fn route<E: Endpoint>(self, path: &str, endpoint: E) -> Self {
        self.route_with_hub(path, endpoint, Hub::new())
    }

    /// Serves `endpoint` at `path`, registering its sessions in `hub`. Registering the same
    /// path twice makes [`Server::serve`] fail.
    pub fn route_with_hub<E: Endpoint>(
        mut self,
        path: &str,
        endpoint: E,
        hub: Hub<E::Send>,
    ) -> Self {
        self.add(path, Arc::new(EndpointService { endpoint, hub }));
        self
    }

    fn add(&mut self, path: &str, service: Arc<dyn Service>) {
        let template = Template::parse(path);
        match self
            .routes
            .iter()
            .find(|(t, _, _)| t.shape() == template.shape())
        {
            Some((_, _, first)) => self.duplicates.push(RouterError::DuplicatePath {
                path: path.to_owned(),
                first: first.name().to_owned(),
                second: service.name().to_owned(),
            }),
            None => self.routes.push((template, path.to_owned(), service)),
        }
    }

    /// Serves `other`'s endpoints too (another spec's, with its own hubs). Two endpoints at one
    /// path make [`Server::serve`] (and the axum and tower adapters) fail, naming both; see
    /// [`Router::try_merge`] to find out here.
    pub fn merge(mut self, other: Router) -> Self {
        self.duplicates.extend(other.duplicates);
        for (_, path, service) in other.routes {
            self.add(&path, service);
        }
        self
    }

    /// [`Router::merge`], refusing two endpoints at one path at once.
    pub fn try_merge(self, other: Router) -> Result<Self, RouterError> {
        let mut merged = self.merge(other);
        match merged.duplicates.is_empty() {
            true => Ok(merged),
            false => Err(merged.duplicates.swap_remove(0)),
        }
    }

    /// The first conflict recorded while the router was built.
    pub(crate) fn check(&mut self) -> Result<(), RouterError> {
        match self.duplicates.is_empty() {
            true => Ok(()),
            false => Err(self.duplicates.swap_remove(0)),
        }
    }

    /// The registered paths, in registration order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(_, p, _)| p.as_str())
    }

    pub(crate) fn find(&self, path: &str) -> Option<Matched> {
        self.routes
            .iter()
            .filter_map(|(template, _, service)| {
                template
                    .matches(path)
                    .map(|(exact, params)| ((exact, template.literals()), service, params))
            })
            // An exact match wins over one with a trailing `/` ignored, then the most literal
            // segments; among equals, the first registered.
            .rev()
            .max_by_key(|(rank, _, _)| *rank)
            .map(|(_, service, params)| (Arc::clone(service), params))
    }
}

/// A WebSocket server over a [`Router`].
#[derive(Debug)]
pub struct Server {
    router: Router,
    limits: Limits,
    origins: Option<Vec<String>>,
}

impl Server {
    /// A server with default [`Limits`].
    pub fn new(router: Router) -> Self {
        Server {
            router,
            limits: Limits::default(),
            origins: None,
        }
    }

    /// Accepts browsers only from these origins (such as `https://app.example`): an upgrade
    /// whose `Origin` header names another is refused with 403 before the `101`, against
    /// cross-site WebSocket hijacking. Clients that send no `Origin` (not browsers) are let in.
    pub fn allow_origins<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the per-connection limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The router, what its connections share, and the sender of the shutdown signal.
    #[allow(clippy::type_complexity)]
    pub(crate) fn into_parts(
        mut self,
    ) -> Result<(Arc<Router>, Context, watch::Sender<Option<Stopping>>), RouterError> {
        self.router.check()?;
        let (stop, stopping) = watch::channel(None);
        let context = Context {
            limits: self.limits,
            origins: self.origins.map(Into::into),
            shutdown: stopping,
        };
        Ok((Arc::new(self.router), context, stop))
    }

    /// Accepts connections on `listener` until the process ends.
    pub async fn serve(self, listener: TcpListener) -> Result<(), RouterError> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Accepts connections on `listener` until `shutdown` completes, then shuts down
    /// gracefully: no new connections (an upgrade still under way is refused with 503), every
    /// client is closed with 1001 within [`Limits::shutdown_timeout`], whatever its connection
    /// was doing, and each connection's `on_disconnect` runs once. A task still running after
    /// the timeout (an `on_disconnect` that does not return) is stopped.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        self.run(listener, Tls::None, shutdown).await
    }

    /// Serves `wss://` on `listener` until the process ends: every connection starts with a
    /// TLS handshake under `config` (feature `tls`). See [`Server::serve_tls_with_shutdown`].
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<(), RouterError> {
        self.serve_tls_with_shutdown(listener, config, std::future::pending())
            .await
    }

    /// Serves `wss://` on `listener` until `shutdown` completes, then shuts down as
    /// [`Server::serve_with_shutdown`] does (feature `tls`).
    ///
    /// Each connection's TLS handshake runs on the connection's own task, so a client that
    /// stalls in it or fails it holds up no other: the handshake and the upgrade request that
    /// follows must both complete within [`Limits::handshake_timeout`], and a failed or
    /// timed-out handshake is logged (an `info` event, "TLS handshake failed") and the socket
    /// closed. A connection beyond [`Limits::max_connections`] is closed before its TLS
    /// handshake (a 503 could only be sent after one).
    ///
    /// The server speaks HTTP/1.1 only: leave `config.alpn_protocols` empty or `http/1.1`.
    #[cfg(feature = "tls")]
    pub async fn serve_tls_with_shutdown(
        self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        self.run(listener, Tls::Rustls(acceptor), shutdown).await
    }

    /// The accept loop of every standalone server, plain or TLS.
    async fn run(
        self,
        listener: TcpListener,
        tls: Tls,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        let (router, context, stop) = self.into_parts()?;
        let limits = context.limits;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            // Forget connections that have finished, so the set stays as large as what is open.
            while connections.try_join_next().is_some() {}
            match accepted {
                Ok((mut stream, _peer)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        let router = Arc::clone(&router);
                        let context = context.clone();
                        let tls = tls.clone();
                        connections.spawn(async move {
                            accept(stream, tls, &router, context).await;
                            drop(slot);
                        });
                    }
                    Err(_) if tls.is_some() => {
                        // A TLS client would read a plain 503 as garbage; dropping the socket
                        // costs the server no handshake while it is full.
                        crate::observe::refused(503, "the server is at its connection limit");
                        drop(stream);
                    }
                    Err(_) => {
                        connections.spawn(async move {
                            let refusal =
                                Refusal::new(503, "the server is at its connection limit");
                            handshake::refuse(&mut stream, &refusal).await;
                        });
                    }
                },
                // Out of file descriptors and similar: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        drop(listener);
        let now = tokio::time::Instant::now();
        let timeout = limits.shutdown_timeout;
        let _ = stop.send(Some(Stopping {
            grace_until: now + timeout / 2,
            close_by: now + timeout.mul_f64(0.9),
        }));
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(limits.shutdown_timeout, drained)
            .await
            .is_err()
        {
            connections.shutdown().await;
        }
        Ok(())
    }
}

/// Whether the standalone server's connections start with a TLS handshake.
#[derive(Clone)]
enum Tls {
    /// Plain TCP (`ws://`).
    None,
    /// TLS with rustls (`wss://`).
    #[cfg(feature = "tls")]
    Rustls(tokio_rustls::TlsAcceptor),
}

impl Tls {
    fn is_some(&self) -> bool {
        !matches!(self, Tls::None)
    }
}

async fn accept(stream: TcpStream, tls: Tls, router: &Router, context: Context) {
    let span = crate::observe::connection_span(stream.peer_addr().ok());
    tracing::Instrument::instrument(accept_in_span(stream, tls, router, context), span).await;
}

async fn accept_in_span(stream: TcpStream, tls: Tls, router: &Router, context: Context) {
    let limits = context.limits;
    // Small messages must not wait for Nagle's algorithm; a failure here only costs latency.
    let _ = stream.set_nodelay(true);
    if let Some(idle) = limits.tcp_keepalive {
        let probes = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(Duration::from_secs(10));
        // Best effort: without keepalive the connection still works.
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&probes);
    }
    // The TLS handshake (if any) and the request head share one deadline: a client that
    // stalls in either holds its slot no longer than the handshake timeout.
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    let mut stream = match tls {
        Tls::None => Io::Tcp(stream),
        #[cfg(feature = "tls")]
        Tls::Rustls(acceptor) => {
            // Boxed, as the head below: the handshake's state must not size the task.
            let handshake = Box::pin(acceptor.accept(stream));
            match tokio::time::timeout_at(deadline, handshake).await {
                Ok(Ok(stream)) => Io::Tls(Box::new(stream)),
                Ok(Err(error)) => return crate::observe::tls_failed(&error),
                Err(_) => {
                    let error = format!("timed out after {:?}", limits.handshake_timeout);
                    return crate::observe::tls_failed(&error);
                }
            }
        }
    };
    // Boxed for the same reason as the upgrade: reading the head is over before the connection
    // starts, and must not size its task.
    let read = Box::pin(handshake::read_head(&mut stream, limits.max_header_size));
    let mut head = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(head)) => head,
        Ok(Err(Some(refusal))) => return handshake::refuse(&mut stream, &refusal).await,
        Ok(Err(None)) | Err(_) => return,
    };
    crate::observe::request(&head.path);
    if let Some(refusal) = context.origin_refusal(&head.headers) {
        return handshake::refuse(&mut stream, &refusal).await;
    }
    // An unknown path is 404 whatever the request; a served one that is no valid upgrade gets
    // the reason (426 for a plain GET).
    match (router.find(&head.path), head.not_an_upgrade.take()) {
        (None, _) => {
            let refusal = Refusal::new(404, "no WebSocket endpoint at this path");
            handshake::refuse(&mut stream, &refusal).await;
        }
        (Some(_), Some(refusal)) => handshake::refuse(&mut stream, &refusal).await,
        (Some((service, params)), None) => {
            let request = Request {
                path: head.path,
                query: head.query,
                headers: head.headers,
                params,
                extensions: http::Extensions::new(),
            };
            let handshake = Handshake::Raw {
                stream,
                key: head.key,
                leftover: head.leftover,
            };
            service.serve(request, handshake, context).await
        }
    }
}

use crate::observe::guarded;

/// What a successful upgrade hands to the connection.
struct Upgraded<E: Endpoint> {
    ws: WebSocketStream<Io>,
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
    if shutdown.borrow().is_some() {
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
    let config = Some(limits.websocket_config());
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
            let ws =
                WebSocketStream::from_partially_read(stream, leftover, Role::Server, config).await;
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
            let io = Io::Boxed(Box::new(hyper_util::rt::TokioIo::new(upgraded)));
            let ws = WebSocketStream::from_raw_socket(io, Role::Server, config).await;
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
        // Outside a runtime (it is being dropped) nothing can run any more.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let _ = guarded(service.endpoint.on_disconnect(socket.conn(), why)).await;
            });
        }
    }
}

async fn serve_connection<E: Endpoint>(
    service: Arc<EndpointService<E>>,
    request: Request,
    handshake: Handshake,
    context: Context,
) {
    let (endpoint, hub) = (&service.endpoint, &service.hub);
    let limits = endpoint.limits(context.limits);
    // Boxed, so that the upgrade's state (middleware, the `101`) is freed before the connection
    // settles in: a task keeps the size of its largest state for its whole life.
    let upgrading = upgrade(endpoint, &request, handshake, limits, &context.shutdown);
    let Some(Upgraded { ws, params, query }) = Box::pin(upgrading).await else {
        return;
    };

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
    };
    let socket = Socket::new(ws, outbox, conn, settings, context.shutdown.clone());
    hub.register(socket.conn().sender());
    let mut connection = Connection {
        service: Arc::clone(&service),
        session,
        socket: Some(socket),
        done: false,
        since,
    };
    let Some(socket) = connection.socket.as_mut() else {
        return;
    };
    // A handler busy in a callback does not see a shutdown on its socket: after the grace
    // period its run is stopped, and the connection closed with 1001 here.
    let outcome = tokio::select! {
        biased;
        outcome = guarded(endpoint.run(socket)) => Some(outcome),
        () = when_stopping(&context.shutdown, |s| s.grace_until) => None,
    };
    crate::observe::outcome(E::NAME, &outcome);
    let why = match outcome {
        Some(outcome) => socket.finish(outcome).await,
        None => socket.shut_down().await,
    };
    socket.end_transport().await;
    socket.observe_close(&why, since);
    hub.unregister(session);
    connection.done = true;
    // A panic in on_disconnect has nothing left to close; it must not take the task down.
    let _ = guarded(endpoint.on_disconnect(socket.conn(), why)).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    use super::*;
    use crate::NoClose;

    struct Silent;

    impl Endpoint for Silent {
        type Receive = Infallible;
        type Send = Infallible;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<NoClose>> {
            let message = socket.recv().await?;
            match message {}
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, _why: Disconnect) {}
    }

    /// Pushes more messages than the queue holds before the socket writes any, records what
    /// each push returned, then pushes once more after the socket had a chance to write.
    struct Flood {
        results: tokio::sync::mpsc::UnboundedSender<Result<(), crate::SendError>>,
        ended: tokio::sync::mpsc::UnboundedSender<Disconnect>,
    }

    impl Endpoint for Flood {
        type Receive = String;
        type Send = String;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<NoClose>> {
            for i in 0..Limits::default().send_queue + 10 {
                let _ = self.results.send(socket.conn().send(format!("push {i}")));
            }
            // The client says when it has read everything.
            let _ = socket.recv().await?;
            let _ = self.results.send(socket.conn().send("after".to_owned()));
            let _ = socket.recv().await?;
            Ok(())
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, why: Disconnect) {
            let _ = self.ended.send(why);
        }
    }

    /// Floods one connection under `policy`; returns the client, what the pushes returned, and
    /// the channel that reports how the connection ended.
    async fn flood(
        policy: SlowConsumer,
    ) -> (
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        tokio::sync::mpsc::UnboundedReceiver<Result<(), crate::SendError>>,
        tokio::sync::mpsc::UnboundedReceiver<Disconnect>,
    ) {
        let (results, seen) = tokio::sync::mpsc::unbounded_channel();
        let (ended, why) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/flood", listener.local_addr().unwrap());
        let router = Router::new().route("/flood", Flood { results, ended });
        let limits = Limits::DEFAULT.with_slow_consumer(policy);
        tokio::spawn(Server::new(router).limits(limits).serve(listener));
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        (ws, seen, why)
    }

    async fn next_message(
        ws: &mut tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) -> Message {
        tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a message within 5 s")
            .expect("the stream is open")
            .expect("a valid frame")
    }

    /// Counts the accepted pushes of the flood; every refused one must be `QueueFull`.
    async fn accepted(
        seen: &mut tokio::sync::mpsc::UnboundedReceiver<Result<(), crate::SendError>>,
    ) -> usize {
        let mut accepted = 0;
        for _ in 0..Limits::default().send_queue + 10 {
            match seen.recv().await.unwrap() {
                Ok(()) => accepted += 1,
                Err(e) => assert_eq!(e, crate::SendError::QueueFull),
            }
        }
        accepted
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_and_the_connection_kept_under_reject() {
        let (mut ws, mut seen, _why) = flood(SlowConsumer::Reject).await;
        let capacity = Limits::default().send_queue;
        assert_eq!(accepted(&mut seen).await, capacity);
        // Everything accepted arrives, in order.
        for i in 0..capacity {
            assert_eq!(
                next_message(&mut ws).await,
                Message::text(format!("push {i}"))
            );
        }
        ws.send(Message::text("read it all")).await.unwrap();
        assert_eq!(seen.recv().await.unwrap(), Ok(()));
        assert_eq!(next_message(&mut ws).await, Message::text("after"));
    }

    #[tokio::test]
    async fn a_full_queue_closes_a_slow_consumer_with_1013_after_delivering_what_it_accepted() {
        let (mut ws, mut seen, mut why) = flood(SlowConsumer::TryAgainLater).await;
        let capacity = Limits::default().send_queue;
        assert_eq!(accepted(&mut seen).await, capacity);
        for i in 0..capacity {
            assert_eq!(
                next_message(&mut ws).await,
                Message::text(format!("push {i}"))
            );
        }
        match next_message(&mut ws).await {
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1013);
                assert_eq!(
                    frame.reason.as_str(),
                    "the client does not read fast enough"
                );
            }
            other => panic!("expected a 1013 close, got {other:?}"),
        }
        drop(ws);
        let ended = tokio::time::timeout(Duration::from_secs(10), why.recv()).await;
        assert!(
            matches!(ended, Ok(Some(Disconnect::ServerClosed { code: 1013, .. }))),
            "{ended:?}"
        );
    }

    #[tokio::test]
    async fn policy_violation_closes_a_slow_consumer_with_1008() {
        let (mut ws, mut seen, _why) = flood(SlowConsumer::PolicyViolation).await;
        accepted(&mut seen).await;
        loop {
            match next_message(&mut ws).await {
                Message::Text(_) => continue,
                Message::Close(Some(frame)) => break assert_eq!(u16::from(frame.code), 1008),
                other => panic!("expected a 1008 close, got {other:?}"),
            }
        }
    }

    /// A close condition with a code no endpoint may send and a reason longer than a close
    /// frame carries (a hand-written `CloseCondition`; generated ones are checked by the spec).
    #[derive(Debug)]
    struct Reserved;

    const LONG_REASON: &str =
        "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé";

    impl CloseCondition for Reserved {
        fn code(&self) -> u16 {
            1005
        }
        fn reason(&self) -> &str {
            LONG_REASON
        }
        fn from_close(_code: u16, _reason: &str) -> Option<Self> {
            None
        }
    }

    /// Pushes, then ends with `Reserved`.
    struct PushThenClose;

    impl Endpoint for PushThenClose {
        type Receive = Infallible;
        type Send = String;
        type Close = Reserved;
        type Params = ();
        type Query = ();
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<Reserved>> {
            let _ = socket.conn().send("you are being closed".to_owned());
            Err(Stop::Close(Reserved))
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, _why: Disconnect) {}
    }

    #[tokio::test]
    async fn a_close_delivers_earlier_pushes_and_never_sends_a_reserved_code() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/close", listener.local_addr().unwrap());
        let router = Router::new().route("/close", PushThenClose);
        tokio::spawn(Server::new(router).serve(listener));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        assert_eq!(
            next_message(&mut ws).await,
            Message::text("you are being closed")
        );
        match next_message(&mut ws).await {
            Message::Close(Some(frame)) => {
                assert_eq!(u16::from(frame.code), 1011, "1005 may not be sent");
                assert!(frame.reason.len() <= 123, "{}", frame.reason.len());
                assert!(LONG_REASON.starts_with(frame.reason.as_str()));
            }
            other => panic!("expected a close, got {other:?}"),
        }
    }

    /// Waits for messages; `WRAPPED` says whether it sends in the response envelope.
    struct Listener<const WRAPPED: bool>;

    impl<const WRAPPED: bool> Endpoint for Listener<WRAPPED> {
        type Receive = Infallible;
        type Send = serde_json::Value;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        const ENVELOPE: bool = WRAPPED;
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<NoClose>> {
            let message = socket.recv().await?;
            match message {}
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, _why: Disconnect) {}
    }

    #[tokio::test]
    async fn a_hub_shared_by_two_endpoints_sends_each_session_its_own_form() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("ws://{}", listener.local_addr().unwrap());
        let hub = Hub::new();
        let router = Router::new()
            .route_with_hub("/plain", Listener::<false>, hub.clone())
            .route_with_hub("/wrapped", Listener::<true>, hub.clone());
        tokio::spawn(Server::new(router).serve(listener));
        let (mut plain, _) = tokio_tungstenite::connect_async(format!("{base}/plain"))
            .await
            .unwrap();
        let (mut wrapped, _) = tokio_tungstenite::connect_async(format!("{base}/wrapped"))
            .await
            .unwrap();
        for _ in 0..200 {
            if hub.len() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let delivery = hub.broadcast(serde_json::json!({ "n": 1 }));
        assert_eq!(delivery.delivered, 2);
        assert_eq!(next_message(&mut plain).await, Message::text(r#"{"n":1}"#));
        assert_eq!(
            next_message(&mut wrapped).await,
            Message::text(r#"{"statusCode":200,"body":{"n":1}}"#)
        );
    }

    #[tokio::test]
    async fn a_silent_client_is_closed_with_1001_after_the_idle_timeout() {
        let (ended, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/wait", listener.local_addr().unwrap());
        let limits = Limits::DEFAULT.with_idle_timeout(Some(Duration::from_millis(300)));
        let router = Router::new().route("/wait", Waiter { ended });
        tokio::spawn(Server::new(router).limits(limits).serve(listener));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        // Frames keep it alive: three pings 200 ms apart span 600 ms, twice the timeout.
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            ws.send(Message::Ping(Default::default())).await.unwrap();
        }
        let started = std::time::Instant::now();
        loop {
            match next_message(&mut ws).await {
                Message::Pong(_) => continue,
                Message::Close(Some(frame)) => {
                    assert_eq!(u16::from(frame.code), 1001);
                    assert_eq!(frame.reason.as_str(), "idle timeout");
                    break;
                }
                other => panic!("expected a 1001 close, got {other:?}"),
            }
        }
        assert!(started.elapsed() < Duration::from_secs(5));
        drop(ws);
        let why = tokio::time::timeout(Duration::from_secs(10), seen.recv()).await;
        assert!(
            matches!(why, Ok(Some(Disconnect::ServerClosed { code: 1001, .. }))),
            "{why:?}"
        );
    }

    /// Sends big messages until the peer stops taking them.
    struct Firehose {
        ended: tokio::sync::mpsc::UnboundedSender<Disconnect>,
    }

    impl Endpoint for Firehose {
        type Receive = Infallible;
        type Send = Vec<u8>;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<NoClose>> {
            let block = vec![7u8; 60 * 1024];
            // Bounded: 2,000 blocks is far more than any socket buffer holds.
            for _ in 0..2_000 {
                socket.send(block.clone()).await?;
            }
            Ok(())
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, why: Disconnect) {
            let _ = self.ended.send(why);
        }
    }

    #[tokio::test]
    async fn a_peer_that_stops_reading_is_dropped_after_the_write_timeout() {
        let (ended, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/firehose", listener.local_addr().unwrap());
        let limits = Limits {
            write_timeout: Duration::from_millis(300),
            max_message_size: 1024 * 1024,
            ..Limits::default()
        };
        let router = Router::new().route("/firehose", Firehose { ended });
        tokio::spawn(Server::new(router).limits(limits).serve(listener));
        // Connected, then never read from.
        let (_never_read, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let why = tokio::time::timeout(Duration::from_secs(20), seen.recv())
            .await
            .expect("the server gave up on the peer")
            .unwrap();
        match why {
            Disconnect::Lost { detail } => assert!(detail.contains("took no data"), "{detail}"),
            other => panic!("expected a lost peer, got {other:?}"),
        }
    }

    /// Waits for messages it never gets, and reports how it ended.
    struct Waiter {
        ended: tokio::sync::mpsc::UnboundedSender<Disconnect>,
    }

    impl Endpoint for Waiter {
        type Receive = Infallible;
        type Send = Infallible;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<NoClose>> {
            let message = socket.recv().await?;
            match message {}
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, why: Disconnect) {
            let _ = self.ended.send(why);
        }
    }

    async fn http_status(url: &str, origin: Option<&str>) -> Result<(), u16> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut request = url.into_client_request().unwrap();
        if let Some(origin) = origin {
            request
                .headers_mut()
                .insert("origin", origin.parse().unwrap());
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok(_) => Ok(()),
            Err(tungstenite_error) => match tungstenite_error {
                tokio_tungstenite::tungstenite::Error::Http(response) => {
                    Err(response.status().as_u16())
                }
                other => panic!("unexpected failure: {other:?}"),
            },
        }
    }

    #[tokio::test]
    async fn graceful_shutdown_closes_every_client_with_1001_and_runs_on_disconnect() {
        let (ended, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/wait", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = Router::new().route("/wait", Waiter { ended });
        let server = tokio::spawn(Server::new(router).serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        let mut clients = Vec::new();
        for _ in 0..3 {
            clients.push(
                tokio_tungstenite::connect_async(url.as_str())
                    .await
                    .unwrap()
                    .0,
            );
        }
        stop.send(()).unwrap();
        for client in &mut clients {
            let frame = tokio::time::timeout(Duration::from_secs(5), client.next()).await;
            match frame {
                Ok(Some(Ok(Message::Close(Some(frame))))) => {
                    assert_eq!(u16::from(frame.code), 1001)
                }
                other => panic!("expected a 1001 close, got {other:?}"),
            }
        }
        drop(clients);
        let finished = tokio::time::timeout(Duration::from_secs(10), server).await;
        assert!(matches!(finished, Ok(Ok(Ok(())))), "the server returned");
        for _ in 0..3 {
            match seen.recv().await {
                Some(Disconnect::ServerClosed { code: 1001, .. }) => {}
                other => panic!("expected on_disconnect after a 1001 close, got {other:?}"),
            }
        }
        // After shutdown nobody is listening.
        assert!(
            tokio_tungstenite::connect_async(url.as_str())
                .await
                .is_err()
        );
    }

    #[tokio::test]
    async fn connections_beyond_the_limit_are_refused_with_503() {
        let (ended, _seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/wait", listener.local_addr().unwrap());
        let limits = Limits {
            max_connections: 2,
            ..Limits::default()
        };
        let router = Router::new().route("/wait", Waiter { ended });
        tokio::spawn(Server::new(router).limits(limits).serve(listener));
        let first = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        let second = tokio_tungstenite::connect_async(url.as_str())
            .await
            .unwrap();
        assert_eq!(http_status(&url, None).await, Err(503));
        // A slot frees when a connection ends.
        drop(first);
        let mut admitted = false;
        for _ in 0..100 {
            if http_status(&url, None).await.is_ok() {
                admitted = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(admitted, "a freed slot admits a new connection");
        drop(second);
    }

    #[tokio::test]
    async fn only_allowed_origins_may_upgrade() {
        let (ended, _seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/wait", listener.local_addr().unwrap());
        let router = Router::new().route("/wait", Waiter { ended });
        let server = Server::new(router).allow_origins(["https://app.example"]);
        tokio::spawn(server.serve(listener));
        assert_eq!(
            http_status(&url, Some("https://evil.example")).await,
            Err(403)
        );
        assert_eq!(http_status(&url, Some("https://app.example")).await, Ok(()));
        // Not a browser: no Origin header.
        assert_eq!(http_status(&url, None).await, Ok(()));
    }

    #[tokio::test]
    async fn a_path_registered_twice_stops_the_server_from_starting() {
        let router = Router::new()
            .route("/a/{x}", Silent)
            .route("/b", Silent)
            .route("/a/{y}", Silent);
        assert_eq!(router.paths().collect::<Vec<_>>(), ["/a/{x}", "/b"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        match Server::new(router).serve(listener).await {
            Err(RouterError::DuplicatePath { path, .. }) => assert_eq!(path, "/a/{y}"),
            other => panic!("expected a duplicate-path error, got {other:?}"),
        }
    }

    #[test]
    fn templates_capture_decoded_params_and_literals_win() {
        let router = Router::new()
            .route("/rooms/{id}", Silent)
            .route("/rooms/new", Silent);
        let (_, params) = router.find("/rooms/a%20b").unwrap();
        assert_eq!(params, [("id".to_owned(), "a b".to_owned())]);
        let (_, params) = router.find("/rooms/new").unwrap();
        assert!(params.is_empty());
        assert!(router.find("/rooms").is_none());
        assert!(router.find("/rooms/1/2").is_none());
    }

    #[test]
    fn an_empty_segment_is_an_empty_param_and_a_trailing_slash_is_ignored_only_when_nothing_fits() {
        let router = Router::new()
            .route("/rooms/{room}/join", Silent)
            .route("/rooms/join", Silent)
            .route("/chat", Silent)
            .route("/chat/{id}", Silent);
        // What both clients format for an empty room: it reaches the room route, not `/rooms/join`.
        let (_, params) = router.find("/rooms//join").unwrap();
        assert_eq!(params, [("room".to_owned(), String::new())]);
        let (_, params) = router.find("/chat/").unwrap();
        assert_eq!(params, [("id".to_owned(), String::new())]);
        let (_, params) = router.find("/rooms/join/").unwrap();
        assert!(params.is_empty());
        assert!(router.find("//chat").is_none());
    }

    #[tokio::test]
    async fn serve_with_shutdown_returns_when_told() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let router = Router::new().route("/", Silent);
        let server = tokio::spawn(Server::new(router).serve_with_shutdown(listener, async {
            let _ = stopped.await;
        }));
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }
}
