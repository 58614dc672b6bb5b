//! Serving: the listener, the HTTP upgrade, routing by path, and the task that drives one
//! connection through an [`Endpoint`].

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderMap, StatusCode};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::close::{CloseCondition, Disconnect};
use crate::conn::Conn;
use crate::message::WireMessage;

/// The typed behaviour of one endpoint, as the connection task drives it.
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

    /// Runs once after the upgrade, before any message is read.
    fn on_connect(
        &self,
        conn: &Conn<Self::Send>,
    ) -> impl Future<Output = Result<(), Self::Close>> + Send;

    /// Runs for every message; a returned value is sent back as the reply.
    fn on_message(
        &self,
        conn: &Conn<Self::Send>,
        message: Self::Receive,
    ) -> impl Future<Output = Result<Option<Self::Send>, Self::Close>> + Send;

    /// Runs exactly once when the connection ends, however it ends.
    fn on_disconnect(
        &self,
        conn: &Conn<Self::Send>,
        why: Disconnect,
    ) -> impl Future<Output = ()> + Send;
}

/// Per-connection limits. The defaults are safe for a public server.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Limits {
    /// The largest message accepted; a larger one closes the connection with 1009.
    pub max_message_bytes: usize,
    /// How many pushed messages may wait for the peer before `send` reports `QueueFull`.
    pub send_queue: usize,
    /// The read buffer allocated per connection.
    pub read_buffer_bytes: usize,
    /// How long the upgrade request may take to arrive.
    pub handshake_timeout: Duration,
    /// How long the server waits for the peer's close frame after sending its own.
    pub close_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: 64 * 1024,
            send_queue: 256,
            read_buffer_bytes: 8 * 1024,
            handshake_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

impl Limits {
    fn websocket_config(&self) -> WebSocketConfig {
        WebSocketConfig::default()
            .read_buffer_size(self.read_buffer_bytes)
            .write_buffer_size(0)
            .max_message_size(Some(self.max_message_bytes))
            .max_frame_size(Some(self.max_message_bytes))
    }
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Two endpoints were registered at the same path.
    #[error("two endpoints are registered at the path {0}")]
    DuplicatePath(String),
}

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

trait Service: Send + Sync {
    fn serve(
        self: Arc<Self>,
        ws: WebSocketStream<TcpStream>,
        upgrade: Upgrade,
        limits: Limits,
    ) -> BoxFuture;
}

struct EndpointService<E>(E);

impl<E: Endpoint> Service for EndpointService<E> {
    fn serve(
        self: Arc<Self>,
        ws: WebSocketStream<TcpStream>,
        upgrade: Upgrade,
        limits: Limits,
    ) -> BoxFuture {
        Box::pin(async move { serve_connection(&self.0, ws, upgrade, limits).await })
    }
}

/// Path-to-endpoint routing, built once when the server starts.
#[derive(Default)]
pub struct Router {
    routes: Vec<(String, Arc<dyn Service>)>,
    duplicates: Vec<String>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let paths: Vec<&str> = self.routes.iter().map(|(p, _)| p.as_str()).collect();
        f.debug_struct("Router").field("paths", &paths).finish()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Serves `endpoint` at `path`. Registering a path twice makes [`Server::serve`] fail.
    pub fn route<E: Endpoint>(mut self, path: &str, endpoint: E) -> Self {
        if self.routes.iter().any(|(p, _)| p == path) {
            self.duplicates.push(path.to_owned());
        } else {
            self.routes
                .push((path.to_owned(), Arc::new(EndpointService(endpoint))));
        }
        self
    }

    /// The registered paths, in registration order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(p, _)| p.as_str())
    }

    fn find(&self, path: &str) -> Option<&Arc<dyn Service>> {
        self.routes.iter().find(|(p, _)| p == path).map(|(_, s)| s)
    }
}

/// What the upgrade request said, kept for the connection.
struct Upgrade {
    path: String,
    headers: HeaderMap,
}

/// A WebSocket server over a [`Router`].
#[derive(Debug)]
pub struct Server {
    router: Router,
    limits: Limits,
}

impl Server {
    /// A server with default [`Limits`].
    pub fn new(router: Router) -> Self {
        Server {
            router,
            limits: Limits::default(),
        }
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

    /// Accepts connections on `listener` until `shutdown` completes; connections already open
    /// keep running on their own tasks.
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
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => return Ok(()),
                accepted = listener.accept() => accepted,
            };
            match accepted {
                Ok((stream, _peer)) => {
                    let router = Arc::clone(&router);
                    tokio::spawn(async move { accept(stream, &router, limits).await });
                }
                // Out of file descriptors and similar: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    }
}

// The handshake callback's `Result<Response, ErrorResponse>` is tungstenite's signature.
#[allow(clippy::result_large_err)]
async fn accept(stream: TcpStream, router: &Router, limits: Limits) {
    // Small messages must not wait for Nagle's algorithm; a failure here only costs latency.
    let _ = stream.set_nodelay(true);
    let mut matched: Option<(Arc<dyn Service>, Upgrade)> = None;
    let callback = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path();
        match router.find(path) {
            Some(service) => {
                matched = Some((
                    Arc::clone(service),
                    Upgrade {
                        path: path.to_owned(),
                        headers: request.headers().clone(),
                    },
                ));
                Ok(response)
            }
            None => Err(refusal(
                StatusCode::NOT_FOUND,
                "no WebSocket endpoint at this path",
            )),
        }
    };
    let handshake = tokio_tungstenite::accept_hdr_async_with_config(
        stream,
        callback,
        Some(limits.websocket_config()),
    );
    let Ok(Ok(ws)) = tokio::time::timeout(limits.handshake_timeout, handshake).await else {
        return;
    };
    if let Some((service, upgrade)) = matched {
        service.serve(ws, upgrade, limits).await;
    }
}

fn refusal(status: StatusCode, reason: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(reason.to_owned()));
    *response.status_mut() = status;
    response
}

/// Runs `future`, turning a panic into `None`.
async fn guarded<T>(future: impl Future<Output = T>) -> Option<T> {
    AssertUnwindSafe(future).catch_unwind().await.ok()
}

const INTERNAL_ERROR: (u16, &str) = (1011, "internal error");

async fn serve_connection<E: Endpoint>(
    endpoint: &E,
    mut ws: WebSocketStream<TcpStream>,
    upgrade: Upgrade,
    limits: Limits,
) {
    let (tx, mut rx) = mpsc::channel(limits.send_queue);
    let conn = Conn::new(upgrade.path, upgrade.headers, tx);
    let why = drive(endpoint, &conn, &mut ws, &mut rx, &limits).await;
    // A panic in on_disconnect has nothing left to close; it must not take the task's
    // caller down with it.
    let _ = guarded(endpoint.on_disconnect(&conn, why)).await;
}

/// The connection loop: read, decode, call the handler, write replies and pushes in batches.
async fn drive<E: Endpoint>(
    endpoint: &E,
    conn: &Conn<E::Send>,
    ws: &mut WebSocketStream<TcpStream>,
    rx: &mut mpsc::Receiver<Message>,
    limits: &Limits,
) -> Disconnect {
    match guarded(endpoint.on_connect(conn)).await {
        Some(Ok(())) => {}
        Some(Err(close)) => return close_with(ws, close.code(), close.reason(), limits).await,
        None => return close_with(ws, INTERNAL_ERROR.0, INTERNAL_ERROR.1, limits).await,
    }
    // Pushes queued by on_connect go out before the first read.
    if let Err(e) = write_queued(ws, rx).await {
        return lost(e);
    }
    loop {
        tokio::select! {
            biased;
            frame = ws.next() => {
                let message = match frame {
                    Some(Ok(message)) => message,
                    Some(Err(e)) => return read_failed(ws, e, limits).await,
                    None => return lost("the connection closed without a close frame"),
                };
                match message {
                    Message::Text(_) | Message::Binary(_) => {}
                    Message::Close(frame) => {
                        // tungstenite has queued the echo of the close frame; send it.
                        let _ = ws.flush().await;
                        return Disconnect::ClientClosed {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        };
                    }
                    // Pings are answered by tungstenite; pongs need nothing.
                    _ => continue,
                }
                let decoded = match E::Receive::decode(message) {
                    Ok(decoded) => decoded,
                    Err(e) => {
                        let reason = truncate_reason(&e.to_string());
                        return close_with(ws, e.close_code(), &reason, limits).await;
                    }
                };
                match guarded(endpoint.on_message(conn, decoded)).await {
                    Some(Ok(Some(reply))) => {
                        if let Err(e) = ws.feed(reply.encode()).await {
                            return lost(e);
                        }
                    }
                    Some(Ok(None)) => {}
                    Some(Err(close)) => {
                        return close_with(ws, close.code(), close.reason(), limits).await;
                    }
                    None => return close_with(ws, INTERNAL_ERROR.0, INTERNAL_ERROR.1, limits).await,
                }
                if let Err(e) = write_queued(ws, rx).await {
                    return lost(e);
                }
            }
            Some(message) = rx.recv() => {
                if let Err(e) = ws.feed(message).await {
                    return lost(e);
                }
                if let Err(e) = write_queued(ws, rx).await {
                    return lost(e);
                }
            }
        }
    }
}

/// Feeds every queued push, then flushes once.
async fn write_queued(
    ws: &mut WebSocketStream<TcpStream>,
    rx: &mut mpsc::Receiver<Message>,
) -> Result<(), tungstenite::Error> {
    while let Ok(message) = rx.try_recv() {
        ws.feed(message).await?;
    }
    ws.flush().await
}

fn lost(detail: impl std::fmt::Display) -> Disconnect {
    Disconnect::Lost {
        detail: detail.to_string(),
    }
}

async fn read_failed(
    ws: &mut WebSocketStream<TcpStream>,
    error: tungstenite::Error,
    limits: &Limits,
) -> Disconnect {
    use tungstenite::error::{CapacityError, Error, ProtocolError};
    match error {
        // The peer went away without a close frame: there is nobody left to tell.
        Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => lost(error),
        Error::Capacity(CapacityError::MessageTooLong { .. }) => {
            close_with(ws, 1009, "message too big", limits).await
        }
        Error::Utf8(_) => close_with(ws, 1007, "invalid UTF-8 in a text message", limits).await,
        Error::Protocol(e) => {
            let reason = truncate_reason(&e.to_string());
            close_with(ws, 1002, &reason, limits).await
        }
        other => lost(other),
    }
}

/// Sends a close frame, then waits a bounded time for the peer's answer.
async fn close_with(
    ws: &mut WebSocketStream<TcpStream>,
    code: u16,
    reason: &str,
    limits: &Limits,
) -> Disconnect {
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: reason.to_owned().into(),
    };
    if ws.close(Some(frame)).await.is_ok() {
        let drain = async { while let Some(Ok(_)) = ws.next().await {} };
        let _ = tokio::time::timeout(limits.close_timeout, drain).await;
    }
    Disconnect::ServerClosed {
        code,
        reason: reason.to_owned(),
    }
}

/// Cuts `reason` to the 123 bytes a close frame carries, at a character boundary.
fn truncate_reason(reason: &str) -> String {
    const MAX: usize = 123;
    if reason.len() <= MAX {
        return reason.to_owned();
    }
    let mut end = MAX;
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    reason[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

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
        async fn on_connect(&self, _conn: &Conn<Infallible>) -> Result<(), NoClose> {
            Ok(())
        }
        async fn on_message(
            &self,
            _conn: &Conn<Infallible>,
            message: Infallible,
        ) -> Result<Option<Infallible>, NoClose> {
            match message {}
        }
        async fn on_disconnect(&self, _conn: &Conn<Infallible>, _why: Disconnect) {}
    }

    /// Pushes more messages in on_connect than the queue holds, before the connection task
    /// has a chance to write any, and records what each push returned.
    struct Flood {
        results: tokio::sync::mpsc::UnboundedSender<Result<(), crate::SendError>>,
    }

    impl Endpoint for Flood {
        type Receive = Infallible;
        type Send = String;
        type Close = NoClose;
        async fn on_connect(&self, conn: &Conn<String>) -> Result<(), NoClose> {
            for i in 0..Limits::default().send_queue + 10 {
                let _ = self.results.send(conn.send(format!("push {i}")));
            }
            Ok(())
        }
        async fn on_message(
            &self,
            _conn: &Conn<String>,
            message: Infallible,
        ) -> Result<Option<String>, NoClose> {
            match message {}
        }
        async fn on_disconnect(&self, _conn: &Conn<String>, _why: Disconnect) {}
    }

    #[tokio::test]
    async fn the_outbound_queue_is_bounded_and_keeps_what_it_accepted() {
        let (results, mut seen) = tokio::sync::mpsc::unbounded_channel();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/flood", listener.local_addr().unwrap());
        tokio::spawn(Server::new(Router::new().route("/flood", Flood { results })).serve(listener));
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

    #[tokio::test]
    async fn a_path_registered_twice_stops_the_server_from_starting() {
        let router = Router::new()
            .route("/a", Silent)
            .route("/b", Silent)
            .route("/a", Silent);
        assert_eq!(router.paths().collect::<Vec<_>>(), ["/a", "/b"]);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        match Server::new(router).serve(listener).await {
            Err(RouterError::DuplicatePath(path)) => assert_eq!(path, "/a"),
            other => panic!("expected a duplicate-path error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn serve_with_shutdown_returns_when_told() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            Server::new(Router::new().route("/", Silent)).serve_with_shutdown(listener, async {
                let _ = stopped.await;
            }),
        );
        stop.send(()).unwrap();
        let result = tokio::time::timeout(Duration::from_secs(5), server).await;
        assert!(matches!(result, Ok(Ok(Ok(())))));
    }

    #[test]
    fn reasons_are_cut_to_123_bytes_on_a_char_boundary() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert!(cut.len() <= 123);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
