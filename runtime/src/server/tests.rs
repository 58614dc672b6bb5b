//! Unit tests of routing, the upgrade and the connection task.

use std::convert::Infallible;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::*;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::close::{CloseCondition, Disconnect, NoClose};
use crate::hub::Hub;
use crate::socket::Stop;

struct Silent;

impl Endpoint for Silent {
    type Receive = Infallible;
    type Send = Infallible;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let message = socket.recv().await?;
        match message {}
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
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
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        for i in 0..Limits::default().send_queue + 10 {
            let _ = self.results.send(socket.conn().send(format!("push {i}")));
        }
        // The client says when it has read everything.
        let _ = socket.recv().await?;
        let _ = self.results.send(socket.conn().send("after".to_owned()));
        let _ = socket.recv().await?;
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, why: Disconnect) {
        let _ = self.ended.send(why);
    }
}

/// Floods one connection under `policy`; returns the client, what the pushes returned, and
/// the channel that reports how the connection ended.
async fn flood(
    policy: SlowConsumer,
) -> (
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
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

const LONG_REASON: &str = "éééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé";

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
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<Reserved>> {
        let _ = socket.conn().send("you are being closed".to_owned());
        Err(Stop::Close(Reserved))
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
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
    type State = ();
    const ENVELOPE: bool = WRAPPED;
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let message = socket.recv().await?;
        match message {}
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
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
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let block = vec![7u8; 60 * 1024];
        // Bounded: 2,000 blocks is far more than any socket buffer holds.
        for _ in 0..2_000 {
            socket.send(block.clone()).await?;
        }
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, why: Disconnect) {
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
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let message = socket.recv().await?;
        match message {}
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, why: Disconnect) {
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

/// Echoes every text message back.
struct Echo;

impl Endpoint for Echo {
    type Receive = String;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        loop {
            let message = socket.recv().await?;
            socket.send(message).await?;
        }
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
}

#[test]
fn tungstenites_buffer_is_small_and_takes_whole_reads_without_a_read_ahead() {
    let size = |read_buffer| {
        Limits::default()
            .with_read_buffer(read_buffer)
            .websocket_config()
            .read_buffer_size
    };
    assert_eq!(size(8 * 1024), 1024);
    assert_eq!(size(100), 100);
    assert_eq!(
        size(0),
        1024,
        "reads from the socket, not a header's worth at a time"
    );
}

#[tokio::test]
async fn every_read_buffer_size_echoes_every_message_whole_and_in_order() {
    // 0 reads without a read-ahead; 1 and 3 are smaller than any frame header.
    for read_buffer in [0, 1, 3, 100, 1024, 8 * 1024] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/echo", listener.local_addr().unwrap());
        let limits = Limits::default().with_read_buffer(read_buffer);
        let server = Server::new(Router::new().route("/echo", Echo)).limits(limits);
        tokio::spawn(server.serve(listener));
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        let sizes = [0usize, 1, 125, 126, 2047, 2048, 2049, 20_000, 65_000];
        // Sent in one burst, so that frames share reads and straddle them.
        for size in sizes {
            let text: String = (0..size)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            ws.feed(Message::text(text)).await.unwrap();
            ws.feed(Message::Ping(vec![7; 3].into())).await.unwrap();
        }
        ws.flush().await.unwrap();
        for size in sizes {
            let text: String = (0..size)
                .map(|i| char::from(b'a' + (i % 26) as u8))
                .collect();
            // The pongs come in between, wherever tungstenite writes them.
            let message = loop {
                match next_message(&mut ws).await {
                    Message::Pong(payload) => assert_eq!(&payload[..], &[7; 3]),
                    other => break other,
                }
            };
            assert_eq!(message, Message::text(text), "read buffer {read_buffer}");
        }
    }
}
