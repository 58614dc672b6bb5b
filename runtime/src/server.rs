//! Serving: the listener, the HTTP upgrade, routing by path template, typed inputs and
//! middleware before the `101`, and the task that drives one connection through an [`Endpoint`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use crate::close::{CloseCondition, Disconnect};
use crate::conn::Conn;
use crate::handshake::{self, Head};
use crate::hub::Hub;
use crate::message::WireMessage;
use crate::request::{FromRequest, Refusal, Request};
use crate::socket::{Keepalive, OnInvalid, Settings, Socket, Stop};

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

    /// Ping keepalive, if the spec asks for it.
    const KEEPALIVE: Option<Keepalive> = None;
    /// What to do with a message that does not decode or validate.
    const ON_INVALID: OnInvalid = OnInvalid::Close;
    /// Whether sent messages are wrapped in `{"statusCode": 200, "body": ..}`.
    const ENVELOPE: bool = false;

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

/// Per-connection limits. The defaults are safe for a public server.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Limits {
    /// The largest message accepted; a larger one closes the connection with 1009.
    pub max_message_bytes: usize,
    /// The largest upgrade request head; a larger one is refused with 431.
    pub max_header_bytes: usize,
    /// How many pushed messages may wait for the peer before `send` reports `QueueFull`.
    pub send_queue: usize,
    /// The read buffer allocated per connection.
    pub read_buffer_bytes: usize,
    /// How long the upgrade request may take to arrive.
    pub handshake_timeout: Duration,
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
    /// How long a graceful shutdown waits for connections to finish after telling each client
    /// (close 1001) before it stops them.
    pub shutdown_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            max_header_bytes: 16 * 1024,
            send_queue: 256,
            read_buffer_bytes: 8 * 1024,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            tcp_keepalive: Some(Duration::from_secs(60)),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(10),
        }
    }
}

impl Limits {
    fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_bytes)
            // Frames are fed into this buffer and written by one flush per batch; 0 would write
            // every frame on its own.
            .write_buffer_size(64 * 1024)
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes))
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Two endpoints were registered at the same path (parameter names aside).
    #[error("two endpoints are registered at the path {0}")]
    DuplicatePath(String),
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What every connection task shares: the limits, the allowed origins, and the signal of a
/// graceful shutdown.
#[derive(Clone)]
struct Context {
    limits: Limits,
    origins: Option<Arc<[String]>>,
    shutdown: watch::Receiver<bool>,
}

trait Service: Send + Sync {
    fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        head: Head,
        params: Vec<(String, String)>,
        context: Context,
    ) -> BoxFuture;
}

struct EndpointService<E: Endpoint> {
    endpoint: E,
    hub: Hub<E::Send>,
}

impl<E: Endpoint> Service for EndpointService<E> {
    fn serve(
        self: Arc<Self>,
        stream: TcpStream,
        head: Head,
        params: Vec<(String, String)>,
        context: Context,
    ) -> BoxFuture {
        Box::pin(async move {
            serve_connection(&self.endpoint, &self.hub, stream, head, params, context).await
        })
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

    /// The captured parameters if `path` matches.
    fn matches(&self, path: &str) -> Option<Vec<(String, String)>> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
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
        Some(params)
    }
}

/// A route that matched, with the parameters it captured.
type Matched = (Arc<dyn Service>, Vec<(String, String)>);

/// Path-to-endpoint routing, built once when the server starts. Paths may have parameters
/// (`/rooms/{room_id}`); where two routes match, the one with more literal segments wins.
#[derive(Default)]
pub struct Router {
    routes: Vec<(Template, String, Arc<dyn Service>)>,
    duplicates: Vec<String>,
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
        hub.set_envelope(E::ENVELOPE);
        let template = Template::parse(path);
        if self
            .routes
            .iter()
            .any(|(t, _, _)| t.shape() == template.shape())
        {
            self.duplicates.push(path.to_owned());
        } else {
            self.routes.push((
                template,
                path.to_owned(),
                Arc::new(EndpointService { endpoint, hub }),
            ));
        }
        self
    }

    /// The registered paths, in registration order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(_, p, _)| p.as_str())
    }

    fn find(&self, path: &str) -> Option<Matched> {
        self.routes
            .iter()
            .filter_map(|(template, _, service)| {
                template
                    .matches(path)
                    .map(|params| (template.literals(), service, params))
            })
            // The most literal segments win; among equals, the first registered.
            .rev()
            .max_by_key(|(literals, _, _)| *literals)
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

    /// Accepts connections on `listener` until the process ends.
    pub async fn serve(self, listener: TcpListener) -> Result<(), RouterError> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Accepts connections on `listener` until `shutdown` completes, then shuts down
    /// gracefully: no new connections, every client is closed with 1001 (each connection's
    /// `on_disconnect` runs), and connections get [`Limits::shutdown_timeout`] to finish before
    /// the rest are stopped.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        if let Some(path) = self.router.duplicates.first() {
            return Err(RouterError::DuplicatePath(path.clone()));
        }
        let router = Arc::new(self.router);
        let limits = self.limits;
        let (stop, stopping) = watch::channel(false);
        let context = Context {
            limits,
            origins: self.origins.map(Into::into),
            shutdown: stopping,
        };
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
                        connections.spawn(async move {
                            accept(stream, &router, context).await;
                            drop(slot);
                        });
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
        let _ = stop.send(true);
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

async fn accept(mut stream: TcpStream, router: &Router, context: Context) {
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
    let read = handshake::read_head(&mut stream, limits.max_header_bytes);
    let head = match tokio::time::timeout(limits.handshake_timeout, read).await {
        Ok(Ok(head)) => head,
        Ok(Err(Some(refusal))) => return handshake::refuse(&mut stream, &refusal).await,
        Ok(Err(None)) | Err(_) => return,
    };
    if let (Some(allowed), Some(origin)) = (&context.origins, head.headers.get("origin")) {
        let origin = origin.to_str().unwrap_or_default();
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            let refusal = Refusal::forbidden("this origin may not open WebSockets here");
            return handshake::refuse(&mut stream, &refusal).await;
        }
    }
    match router.find(&head.path) {
        Some((service, params)) => service.serve(stream, head, params, context).await,
        None => {
            let refusal = Refusal::new(404, "no WebSocket endpoint at this path");
            handshake::refuse(&mut stream, &refusal).await;
        }
    }
}

/// Runs `future`, turning a panic into `None`.
async fn guarded<T>(future: impl Future<Output = T>) -> Option<T> {
    AssertUnwindSafe(future).catch_unwind().await.ok()
}

async fn serve_connection<E: Endpoint>(
    endpoint: &E,
    hub: &Hub<E::Send>,
    mut stream: TcpStream,
    head: Head,
    params: Vec<(String, String)>,
    context: Context,
) {
    let limits = context.limits;
    let request = Request {
        path: head.path,
        query: head.query,
        headers: head.headers,
        params,
    };
    let inputs = E::Params::from_request(&request)
        .and_then(|params| Ok((params, E::Query::from_request(&request)?)));
    let (params, query) = match inputs {
        Ok(inputs) => inputs,
        Err(refusal) => return handshake::refuse(&mut stream, &refusal).await,
    };
    match guarded(endpoint.before_upgrade(&request)).await {
        Some(Ok(())) => {}
        Some(Err(refusal)) => return handshake::refuse(&mut stream, &refusal).await,
        None => {
            let refusal = Refusal::new(500, "internal error");
            return handshake::refuse(&mut stream, &refusal).await;
        }
    }
    if handshake::accept(&mut stream, &head.key).await.is_err() {
        return;
    }
    let ws = WebSocketStream::from_partially_read(
        stream,
        head.leftover,
        Role::Server,
        Some(limits.websocket_config()),
    )
    .await;

    let (tx, rx) = mpsc::channel(limits.send_queue);
    let conn = Conn::new(
        request.path,
        request.headers,
        params,
        query,
        tx,
        hub.clone(),
        E::ENVELOPE,
    );
    let session = conn.session_id();
    hub.register(conn.sender());
    let settings = Settings {
        keepalive: E::KEEPALIVE,
        on_invalid: E::ON_INVALID,
        close_timeout: limits.close_timeout,
        write_timeout: limits.write_timeout,
    };
    let mut socket = Socket::new(ws, rx, conn, settings, context.shutdown);
    let outcome = guarded(endpoint.run(&mut socket)).await;
    let why = socket.finish(outcome).await;
    hub.unregister(session);
    // A panic in on_disconnect has nothing left to close; it must not take the task down.
    let _ = guarded(endpoint.on_disconnect(socket.conn(), why)).await;
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Message;

    use super::*;

    #[derive(Debug)]
    enum NoClose {}

    impl CloseCondition for NoClose {
        fn code(&self) -> u16 {
            match *self {}
        }
        fn reason(&self) -> &'static str {
            match *self {}
        }
        fn from_code(_code: u16) -> Option<Self> {
            None
        }
    }

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

    /// Pushes more messages than the queue holds before the socket writes any, and records
    /// what each push returned.
    struct Flood {
        results: tokio::sync::mpsc::UnboundedSender<Result<(), crate::SendError>>,
    }

    impl Endpoint for Flood {
        type Receive = Infallible;
        type Send = String;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        async fn run(&self, socket: &mut SocketOf<Self>) -> Result<(), Stop<NoClose>> {
            for i in 0..Limits::default().send_queue + 10 {
                let _ = self.results.send(socket.conn().send(format!("push {i}")));
            }
            let message = socket.recv().await?;
            match message {}
        }
        async fn on_disconnect(&self, _conn: &ConnOf<Self>, _why: Disconnect) {}
    }

    #[tokio::test]
    async fn the_outbound_queue_is_bounded_and_keeps_what_it_accepted() {
        let (results, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/flood", listener.local_addr().unwrap());
        let router = Router::new().route("/flood", Flood { results });
        tokio::spawn(Server::new(router).serve(listener));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();

        let capacity = Limits::default().send_queue;
        let mut accepted = 0;
        for _ in 0..capacity + 10 {
            match seen.recv().await.unwrap() {
                Ok(()) => accepted += 1,
                Err(e) => assert_eq!(e, crate::SendError::QueueFull),
            }
        }
        assert_eq!(accepted, capacity);
        // Everything accepted arrives, in order.
        for i in 0..capacity {
            let message = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            assert_eq!(message, Message::text(format!("push {i}")));
        }
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
            max_message_bytes: 1024 * 1024,
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
            Err(RouterError::DuplicatePath(path)) => assert_eq!(path, "/a/{y}"),
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
