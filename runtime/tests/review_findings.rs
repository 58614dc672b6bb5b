//! Defects found in review, each shown by a test.

mod common;

use common::{NoClose, within};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Client, ConnectOptions};

/// A server that answers the protocol handshake, but pings first (a keepalive or a proxy may).
async fn pinging_handshake_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let Some(Ok(Message::Text(text))) = ws.next().await else {
            return;
        };
        assert_eq!(text.as_str(), "HELLO");
        ws.send(Message::Ping(Default::default())).await.unwrap();
        ws.send(Message::text("WELCOME")).await.unwrap();
        ws.send(Message::text("after")).await.unwrap();
        while ws.next().await.is_some() {}
    });
    url
}

#[tokio::test]
async fn a_ping_before_the_handshake_reply_is_not_the_reply() {
    let url = pinging_handshake_server().await;
    let mut client: Client<String, String, NoClose> =
        within(Client::connect(&url, "/", ConnectOptions::default()))
            .await
            .unwrap();
    within(client.handshake("HELLO", "WELCOME"))
        .await
        .expect("a ping is not the handshake's reply");
    assert_eq!(within(client.recv()).await.unwrap(), "after");
}

/// Forwards a stream the test controls, then receives, reporting every message it got.
struct ForwardThenReceive {
    items: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<String>>>,
    got: tokio::sync::mpsc::UnboundedSender<String>,
}

common::string_endpoint!(ForwardThenReceive, |this, socket| {
    let Some(items) = this.items.lock().unwrap().take() else {
        return Ok(());
    };
    let stream = futures_util::stream::unfold(items, |mut items| async move {
        items.recv().await.map(|item| (item, items))
    });
    socket.forward(stream).await?;
    for _ in 0..100 {
        let message = socket.recv().await?;
        let _ = this.got.send(message);
    }
    Ok(())
});

#[tokio::test]
async fn a_message_that_arrives_during_forward_counts_against_the_message_rate() {
    use wsgen_runtime::{Limits, MessageRate, Router};
    let (items, receiver) = tokio::sync::mpsc::unbounded_channel();
    let (got, mut received) = tokio::sync::mpsc::unbounded_channel();
    let endpoint = ForwardThenReceive {
        items: std::sync::Mutex::new(Some(receiver)),
        got,
    };
    // One message per second, no burst: of two sent back to back, the second closes.
    let limits = Limits::DEFAULT.with_message_rate(Some(MessageRate::new(1, 1)));
    let running = common::start(Router::new().route("/fwd", endpoint), limits).await;
    let mut ws = common::raw(&running.url, "/fwd").await;
    items.send("go".to_owned()).unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), "go"),
        other => panic!("expected the forwarded item, got {other:?}"),
    }
    // The first message arrives while the handler forwards (it is kept for the next recv);
    // before the fix it skipped the bucket, so the second took the one token and no close came
    // (`close_code` timed out).
    ws.send(Message::text("a")).await.unwrap();
    ws.send(Message::text("b")).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    drop(items);
    assert_eq!(
        common::close_code(&mut ws).await,
        Some(1008),
        "the second message within a second is over the rate"
    );
    let mut delivered = Vec::new();
    while let Ok(message) = received.try_recv() {
        delivered.push(message);
    }
    assert_eq!(delivered, ["a"]);
}
