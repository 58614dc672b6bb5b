//! `Socket` behaviour against a real server on 127.0.0.1: `forward` writes each item as it
//! comes and keeps reading the socket; cancelling `recv` (a timeout around it) loses no
//! acknowledged push; a cancelled `handshake` does not hold pushes back afterwards; a push made
//! while the server waits for the peer's close is refused instead of acknowledged and dropped.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{Ends, close_code, eventually, raw, start, string_endpoint, within};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Disconnect, Hub, Limits, Router, SendError, Sender, SlowConsumer};

/// Forwards what the test puts in a channel.
struct Relay {
    items: Mutex<Option<mpsc::UnboundedReceiver<String>>>,
    ends: Ends,
}

string_endpoint!(Relay, records, |this, socket| {
    let Some(items) = this.items.lock().unwrap().take() else {
        return Ok(());
    };
    let stream = futures_util::stream::unfold(items, |mut items| async move {
        items.recv().await.map(|item| (item, items))
    });
    socket.forward(stream).await?;
    Ok(())
});

/// The next message that is not a pong.
async fn next(ws: &mut common::Raw) -> Message {
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Pong(_))) => continue,
            Some(Ok(message)) => return message,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn forward_sends_each_item_as_it_comes_and_keeps_reading_the_socket() {
    let (items, receiver) = mpsc::unbounded_channel();
    let ends = Ends::default();
    let relay = Relay {
        items: Mutex::new(Some(receiver)),
        ends: ends.clone(),
    };
    let running = start(Router::new().route("/relay", relay), Limits::DEFAULT).await;
    let mut ws = raw(&running.url, "/relay").await;
    // Each item arrives while the stream is still open (the next one is made only after).
    for n in 0..3 {
        items.send(format!("item {n}")).unwrap();
        assert_eq!(next(&mut ws).await, Message::text(format!("item {n}")));
    }
    // A ping is answered meanwhile.
    ws.send(Message::Ping(b"hi".to_vec().into())).await.unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Pong(payload))) => assert_eq!(&payload[..], b"hi"),
        other => panic!("expected the pong, got {other:?}"),
    }
    // A close from the client ends the forwarding although the stream is still open.
    ws.close(None).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1005));
    assert!(matches!(ends.once().await, Disconnect::ClientClosed { .. }));
    drop(items);
}

/// Receives under a short timeout in a loop (a stream handler's pattern) and sends its sender
/// out first.
struct Impatient {
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
}

common::string_endpoint!(Impatient, |this, socket| {
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    // Bounded: the test ends the connection long before.
    for _ in 0..100_000 {
        if let Ok(received) = tokio::time::timeout(Duration::from_millis(20), socket.recv()).await {
            received?;
        }
    }
    Ok(())
});

#[tokio::test]
async fn cancelling_recv_loses_no_acknowledged_push() {
    let (out, sender) = oneshot::channel();
    let endpoint = Impatient {
        sender: Mutex::new(Some(out)),
    };
    let limits = Limits::DEFAULT
        .with_slow_consumer(SlowConsumer::Reject)
        .with_max_message_size(1 << 20);
    let running = start(Router::new().route("/impatient", endpoint), limits).await;
    let mut ws = raw(&running.url, "/impatient").await;
    let sender = within(sender).await.unwrap();
    const PUSHES: usize = 4_000;
    let pusher = tokio::spawn(async move {
        let padding = "x".repeat(4 * 1024);
        let mut acknowledged = 0;
        // Bounded: every message is retried at most 10,000 times.
        for n in 0..PUSHES {
            for _ in 0..10_000 {
                match sender.send(format!("{n} {padding}")) {
                    Ok(()) => {
                        acknowledged += 1;
                        break;
                    }
                    Err(SendError::QueueFull) => tokio::time::sleep(Duration::from_millis(1)).await,
                    Err(SendError::Closed) => return acknowledged,
                }
            }
        }
        acknowledged
    });
    // A slow client: the socket backs up, so the socket's writes wait, and get cancelled.
    let mut received = Vec::new();
    while received.len() < PUSHES {
        if received.len() % 500 == 0 {
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        let message = tokio::time::timeout(Duration::from_secs(5), ws.next()).await;
        match message {
            Ok(Some(Ok(Message::Text(text)))) => {
                let n: usize = text.split(' ').next().unwrap().parse().unwrap();
                received.push(n);
            }
            Ok(Some(Ok(_))) => continue,
            // Nothing more comes.
            _ => break,
        }
    }
    let acknowledged = within(pusher).await.unwrap();
    assert_eq!(acknowledged, PUSHES);
    let expected: Vec<usize> = (0..PUSHES).collect();
    let missing = PUSHES - received.len().min(PUSHES);
    assert!(
        received == expected,
        "every acknowledged push arrives once, in order ({missing} missing)"
    );
}

/// Gives the protocol handshake 50 ms, then receives anyway.
struct GivesUp;

common::string_endpoint!(GivesUp, |_this, socket| {
    let handshake = socket.handshake("HELLO", "READY");
    let _ = tokio::time::timeout(Duration::from_millis(50), handshake).await;
    loop {
        let _ = socket.recv().await?;
    }
});

#[tokio::test]
async fn a_cancelled_handshake_does_not_hold_pushes_back() {
    let hub = Hub::new();
    let router = Router::new().route_with_hub("/gives-up", GivesUp, hub.clone());
    let running = start(router, Limits::DEFAULT).await;
    let mut ws = raw(&running.url, "/gives-up").await;
    eventually(|| hub.len() == 1).await;
    // Pushed after the handshake was given up.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let session = hub.sessions()[0];
    assert_eq!(hub.send(session, "pushed".to_owned()), Ok(()));
    assert_eq!(next(&mut ws).await, Message::text("pushed"));
}

/// Hands out its sender, takes one message and returns: the server closes with 1000 and waits
/// for the peer's close.
struct Closes {
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
}

common::string_endpoint!(Closes, |this, socket| {
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    let _ = socket.recv().await?;
    Ok(())
});

#[tokio::test]
async fn a_push_during_the_close_handshake_is_refused() {
    let (out, sender) = oneshot::channel();
    let endpoint = Closes {
        sender: Mutex::new(Some(out)),
    };
    let hub = Hub::new();
    let router = Router::new().route_with_hub("/closes", endpoint, hub.clone());
    let limits = Limits::DEFAULT.with_close_timeout(Duration::from_secs(30));
    let running = start(router, limits).await;
    let mut ws = raw(&running.url, "/closes").await;
    let sender = within(sender).await.unwrap();
    ws.send(Message::text("bye")).await.unwrap();
    // The server has sent its close and waits for ours, which never comes (nothing is read).
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(hub.contains(sender.session_id()), "still closing");
    assert_eq!(sender.send("late".to_owned()), Err(SendError::Closed));
    assert_eq!(hub.broadcast("late".to_owned()).delivered, 0);
}
