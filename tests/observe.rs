//! What a running server reports through `tracing`: a scripted exchange on 127.0.0.1 (a refused
//! upgrade, a normal session, an invalid message, a handler panic, a slow consumer) under a test
//! subscriber that writes every event with its span's fields; each expected event is present with
//! its fields inside the right connection's span, and a handler panic reaches the panic hook
//! installed before the server's only as an event, never through that hook.

#[path = "common/capture.rs"]
mod capture;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use capture::Captured;
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::codegen::{ConnOf, Endpoint, SocketOf};
use wsgen_runtime::{Disconnect, Limits, NoClose, Router, Server, Stop};

/// Echoes text; a binary frame is an invalid message (closed with 1003).
struct Echo;

impl Endpoint for Echo {
    type Receive = String;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    const NAME: &'static str = "test.echo";
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

/// Panics on the first message.
struct Panics;

impl Endpoint for Panics {
    type Receive = String;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    const NAME: &'static str = "test.panics";
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let message = socket.recv().await?;
        panic!("handler blew up on {message}");
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
}

/// Pushes more than the queue holds without the socket writing in between.
struct Flood;

impl Endpoint for Flood {
    type Receive = String;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    const NAME: &'static str = "test.flood";
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        for i in 0..Limits::default().send_queue + 10 {
            let _ = socket.conn().send(format!("push {i}"));
        }
        let _ = socket.recv().await?;
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
}

/// Panics that reached the hook installed before the server's.
static DEFAULT_HOOK_CALLS: AtomicUsize = AtomicUsize::new(0);

/// The line whose text has every one of `parts`.
fn find<'a>(lines: &'a [String], parts: &[&str]) -> &'a str {
    lines
        .iter()
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .unwrap_or_else(|| panic!("no event with {parts:?} in:\n{}", lines.join("\n")))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_connection_reports_in_its_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    // Stands in for the default hook: whatever reaches it would have been printed.
    std::panic::set_hook(Box::new(|info| {
        DEFAULT_HOOK_CALLS.fetch_add(1, Ordering::SeqCst);
        eprintln!("{info}");
    }));

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = Router::new()
        .route("/echo", Echo)
        .route("/panics", Panics)
        .route("/flood", Flood);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(Server::new(router).serve_with_shutdown(listener, async {
        let _ = stopped.await;
    }));

    // A refused upgrade: no endpoint at this path.
    let refused = tokio_tungstenite::connect_async(format!("ws://{addr}/nowhere")).await;
    assert!(refused.is_err());

    // A normal session: two messages each way, closed by the client.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("echo");
    for text in ["hello", "world!"] {
        ws.send(Message::text(text)).await.expect("send");
        let _ = ws.next().await;
    }
    ws.close(None).await.expect("close");
    while ws.next().await.is_some() {}

    // An invalid message: binary to a text endpoint.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/echo"))
        .await
        .expect("echo");
    ws.send(Message::binary(vec![1, 2, 3])).await.expect("send");
    while ws.next().await.is_some() {}

    // A handler panic.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/panics"))
        .await
        .expect("panics");
    ws.send(Message::text("boom")).await.expect("send");
    while ws.next().await.is_some() {}

    // A slow consumer: the handler pushes more than the queue holds.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/flood"))
        .await
        .expect("flood");
    while ws.next().await.is_some() {}

    // The server logs a close after it has ended the connection: wait for the fourth.
    for _ in 0..200 {
        if captured
            .lines()
            .iter()
            .filter(|l| l.contains(" closed "))
            .count()
            >= 4
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lines = captured.lines();

    let refusal = find(&lines, &["upgrade refused", "status=404"]);
    assert!(refusal.contains("ws_connection{"), "{refusal}");
    assert!(refusal.contains("path=\"/nowhere\"") || refusal.contains("path=/nowhere"));
    assert!(refusal.contains("peer=127.0.0.1:"), "{refusal}");

    let upgraded = find(&lines, &["upgraded", "endpoint=\"test.echo\""]);
    assert!(upgraded.contains("session="), "{upgraded}");
    let normal = find(
        &lines,
        &["closed", "closed_by=\"client\"", "endpoint=\"test.echo\""],
    );
    for field in [
        // An empty close frame: no status code, reported as 1005 (RFC 6455 7.1.5).
        "code=1005",
        "messages_in=2",
        "bytes_in=11",
        "messages_out=2",
        "bytes_out=11",
        "duration_ms=",
    ] {
        assert!(normal.contains(field), "{field} missing: {normal}");
    }

    let invalid = find(&lines, &["invalid message", "policy=\"close\""]);
    assert!(invalid.contains("DEBUG"), "{invalid}");
    assert!(invalid.contains("endpoint=\"test.echo\""), "{invalid}");
    find(&lines, &["closed", "closed_by=\"server\"", "code=1003"]);

    let panic = find(&lines, &["handler panicked"]);
    assert!(panic.contains("ERROR"), "{panic}");
    assert!(panic.contains("endpoint=\"test.panics\""), "{panic}");
    assert!(panic.contains("handler blew up on boom"), "{panic}");
    assert!(panic.contains("tests/observe.rs:"), "{panic}");
    find(&lines, &["closed", "endpoint=\"test.panics\"", "code=1011"]);
    assert_eq!(DEFAULT_HOOK_CALLS.load(Ordering::SeqCst), 0);

    let slow = find(&lines, &["slow consumer", "endpoint=\"test.flood\""]);
    assert!(slow.contains("code=1013"), "{slow}");
    find(&lines, &["closed", "endpoint=\"test.flood\"", "code=1013"]);

    // Each connection's events carry its own session: the two echo sessions differ.
    let sessions: std::collections::BTreeSet<&str> = lines
        .iter()
        .filter(|l| l.contains("endpoint=\"test.echo\"") && l.contains("upgraded"))
        .filter_map(|l| l.split("session=").nth(1))
        .filter_map(|s| s.split([' ', '}']).next())
        .collect();
    assert_eq!(sessions.len(), 2, "{sessions:?}");

    // A panic outside a handler still goes to the previous hook.
    let outside = std::panic::catch_unwind(|| panic!("not in a handler"));
    assert!(outside.is_err());
    assert_eq!(DEFAULT_HOOK_CALLS.load(Ordering::SeqCst), 1);

    let _ = stop.send(());
    let _ = server.await;
}
