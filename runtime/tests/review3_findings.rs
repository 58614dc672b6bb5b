//! Defects found in reviews of the runtime's recent changes (the client's envelope reading,
//! the per-message fast paths, `Frame`), each shown by a test, and what the reviews found held.

mod common;

use common::{NoClose, within};
use futures_util::SinkExt;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::codegen::JsonMessage;
use wsgen_runtime::{Client, ConnectOptions};

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct Point {
    x: i32,
}
impl JsonMessage for Point {}

/// A body type that takes `null`.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
struct Maybe(Option<i32>);
impl JsonMessage for Maybe {}

/// A server that upgrades one connection and sends `frames` as text, then waits.
async fn sending(frames: Vec<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        for frame in frames {
            ws.send(Message::text(frame)).await.unwrap();
        }
        tokio::time::sleep(std::time::Duration::from_secs(10)).await;
    });
    url
}

async fn client<Rx: wsgen_runtime::codegen::WireMessage>(
    frames: Vec<String>,
) -> Client<String, Rx, NoClose> {
    let url = sending(frames).await;
    within(Client::<String, Rx, NoClose>::connect(
        &url,
        "/",
        ConnectOptions::default(),
    ))
    .await
    .unwrap()
    .with_error_replies()
    .with_envelope()
}

#[tokio::test]
async fn an_envelope_decodes_the_same_whatever_its_spacing() {
    // The same envelope, as the server writes it and with JSON whitespace: the body's unknown
    // key holds a lone surrogate, which a `serde_json::Value` parse refuses and the one-parse
    // shortcut (for the server's exact spacing) skips over. Both must come out the same.
    let body = r#"{"x":3,"note":"\ud800"}"#;
    let compact = format!(r#"{{"statusCode":200,"body":{body}}}"#);
    let spaced = format!(r#"{{"statusCode": 200, "body": {body}}}"#);
    let mut client = client::<Point>(vec![compact, spaced]).await;
    // Both read, as JSON.parse (the TypeScript client) reads them: what the body's type does
    // not read is skipped.
    assert_eq!(within(client.recv()).await.ok(), Some(Point { x: 3 }));
    assert_eq!(within(client.recv()).await.ok(), Some(Point { x: 3 }));
}

#[tokio::test]
async fn a_null_body_reads_the_same_whether_or_not_the_envelope_needs_the_fallback() {
    // `"body": null` is a body like any other for the general (`Value`) path and the one-parse
    // shortcut; the `RawValue` fallback (taken when `Value` refuses the frame: a lone surrogate
    // in a key nobody reads) read it as no body at all and refused the envelope.
    let plain = r#"{"statusCode":200,"body":null}"#.to_owned();
    let spaced = r#"{"statusCode": 200, "body": null}"#.to_owned();
    let fallback = r#"{"statusCode":200,"body":null,"note":"\ud800"}"#.to_owned();
    let mut client = client::<Maybe>(vec![plain, spaced, fallback]).await;
    assert_eq!(within(client.recv()).await.ok(), Some(Maybe(None)));
    assert_eq!(within(client.recv()).await.ok(), Some(Maybe(None)));
    let third = within(client.recv()).await;
    assert_eq!(third.as_ref().ok(), Some(&Maybe(None)), "{third:?}");
}

#[tokio::test]
async fn a_duplicate_key_reads_the_same_whether_or_not_the_envelope_needs_the_fallback() {
    // JSON.parse and `serde_json::Value` keep the last of duplicate keys; the fallback's derived
    // struct refused the whole envelope ("duplicate field").
    let general = r#"{"statusCode":500,"statusCode":200,"body":{"x":3}}"#.to_owned();
    let fallback = r#"{"statusCode":500,"statusCode":200,"body":{"x":3},"n":"\ud800"}"#.to_owned();
    let mut client = client::<Point>(vec![general, fallback]).await;
    assert_eq!(within(client.recv()).await.ok(), Some(Point { x: 3 }));
    let second = within(client.recv()).await;
    assert_eq!(second.as_ref().ok(), Some(&Point { x: 3 }), "{second:?}");
}

#[tokio::test]
async fn the_fallback_accepts_status_200_only_and_never_panics() {
    // What held: each of these, with a lone surrogate so that the fallback reads it, is refused
    // (not a message, not a panic) unless its status is 200 in a number's spelling.
    let s = r#","n":"\ud800"}"#;
    let frames = vec![
        format!(r#"{{"statusCode":200.0,"body":{{"x":1}}{s}"#),
        format!(r#"{{"statusCode":2e2,"body":{{"x":2}}{s}"#),
        format!(r#"{{"statusCode":"200","body":{{"x":0}}{s}"#),
        format!(r#"{{"statusCode":201,"body":{{"x":0}}{s}"#),
        format!(r#"{{"statusCode":70000,"body":{{"x":0}}{s}"#),
        format!(r#"{{"statusCode":1e400,"body":{{"x":0}}{s}"#),
        format!(r#"{{"statusCode":200{s}"#),
        format!(r#"{{"statusCode":200,"body":{{"x":"#),
        format!(r#"{{"statusCode":200,"body":{{"x":4}},"extra":[1,2]{s}"#),
    ];
    let mut client = client::<Point>(frames).await;
    let mut got = Vec::new();
    for _ in 0..9 {
        got.push(within(client.recv()).await.ok());
    }
    assert_eq!(
        got,
        vec![
            Some(Point { x: 1 }),
            Some(Point { x: 2 }),
            None,
            None,
            None,
            None,
            None,
            None,
            Some(Point { x: 4 })
        ]
    );
}

/// Masked client frames for `messages`, as a client writes them.
fn client_bytes(messages: Vec<Message>) -> Vec<u8> {
    use wsgen_runtime::tokio_tungstenite::tungstenite::protocol::{Role, WebSocket};
    let mut ws = WebSocket::from_raw_socket(std::io::Cursor::new(Vec::new()), Role::Client, None);
    for message in messages {
        ws.write(message).unwrap();
    }
    ws.flush().unwrap();
    ws.into_inner().into_inner()
}

#[test]
/// A frame is a slice of the buffer it was read into (no copy on the echo path), so a small
/// frame read after a large one shares that allocation; `Frame::detach` is the documented way
/// to keep one long without it.
fn a_detached_small_frame_does_not_keep_a_large_read_buffer_alive() {
    use wsgen_runtime::Frame;
    use wsgen_runtime::codegen::WireMessage;
    use wsgen_runtime::tokio_tungstenite::tungstenite::protocol::{
        Role, WebSocket, WebSocketConfig,
    };
    // A large message the handler drops, then a 1-byte one it keeps, read as the server reads
    // them (its tungstenite buffer is 1 KiB, `Limits::websocket_config`).
    let bytes = client_bytes(vec![
        Message::binary(vec![7u8; 60_000]),
        Message::binary(vec![1u8]),
    ]);
    let config = WebSocketConfig::default()
        .read_buffer_size(1024)
        .max_message_size(Some(64 * 1024))
        .max_frame_size(Some(64 * 1024));
    let mut ws =
        WebSocket::from_raw_socket(std::io::Cursor::new(bytes), Role::Server, Some(config));
    let large = Frame::decode(ws.read().unwrap()).unwrap();
    let shared = Frame::decode(ws.read().unwrap()).unwrap();
    let small = shared.clone().detach();
    drop(large);
    drop(ws);
    // As read, the 1-byte frame shares the large one's buffer.
    let Frame::Binary(shared) = shared else {
        panic!("a binary frame")
    };
    let mut shared = shared.try_into_mut().expect("the only owner");
    assert!(
        shared.try_reclaim(16 * 1024),
        "the frame as read shares a large buffer"
    );
    let Frame::Binary(small) = small else {
        panic!("a binary frame")
    };
    assert_eq!(small.len(), 1);
    // The kept frame owns its allocation alone now; whether 16 KiB more fit into it without
    // allocating tells whether the 1-byte frame holds a large buffer.
    let mut owned = small.try_into_mut().expect("the only owner");
    assert!(
        !owned.try_reclaim(16 * 1024),
        "a detached 1-byte frame keeps an allocation of at least 16 KiB alive"
    );
}

/// Answers each message with a push (through the connection's queue) and then a reply, or
/// only a reply if `pushes` is false.
struct PushThenReply {
    pushes: bool,
}

common::string_endpoint!(PushThenReply, |this, socket| {
    while let Ok(message) = socket.recv().await {
        if this.pushes {
            let _ = socket.conn().send(format!("push {message}"));
        }
        socket.reply(format!("reply {message}")).await?;
    }
    Ok(())
});

/// Sends `count` messages `0..count` in one write.
async fn burst(ws: &mut common::Raw, count: usize) {
    for n in 0..count {
        ws.feed(Message::text(n.to_string())).await.unwrap();
    }
    within(ws.flush()).await.unwrap();
}

#[tokio::test]
async fn what_held_a_burst_taken_on_the_fast_path_keeps_pushes_before_their_replies() {
    use futures_util::StreamExt;
    use wsgen_runtime::{Limits, Router};
    let running = common::start(
        Router::new().route("/p", PushThenReply { pushes: true }),
        Limits::DEFAULT,
    )
    .await;
    let mut ws = common::raw(&running.url, "/p").await;
    // More than MAX_STREAK (32) frames, all waiting at once: most are taken on the fast path.
    burst(&mut ws, 100).await;
    for n in 0..100 {
        for kind in ["push", "reply"] {
            match within(ws.next()).await {
                Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), format!("{kind} {n}")),
                other => panic!("expected {kind} {n}, got {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn what_held_a_burst_over_the_message_rate_is_refused_on_the_fast_path() {
    use futures_util::StreamExt;
    use wsgen_runtime::{Limits, MessageRate, Router};
    let limits = Limits::DEFAULT.with_message_rate(Some(MessageRate::new(1, 3)));
    let running = common::start(
        Router::new().route("/p", PushThenReply { pushes: false }),
        limits,
    )
    .await;
    let mut ws = common::raw(&running.url, "/p").await;
    burst(&mut ws, 50).await;
    let mut replies = 0;
    let code = loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(_))) => replies += 1,
            Some(Ok(Message::Close(frame))) => break frame.map(|f| u16::from(f.code)),
            other => panic!("expected replies then a close, got {other:?}"),
        }
    };
    assert_eq!((replies, code), (3, Some(1008)));
}

#[test]
fn a_text_frame_debugs_as_its_text() {
    // `Frame::Text` held a `String`, shown as the text; as a `Utf8Bytes` its derived Debug is
    // `Utf8Bytes(b"h\xc3\xa9llo")`: bytes, escaped, in what `Socket::expect` reports (and cuts
    // to 64 characters) and what handlers log.
    use wsgen_runtime::Frame;
    assert_eq!(format!("{:?}", Frame::text("héllo")), r#"Text("héllo")"#);
    assert_eq!(
        format!("{:?}", Frame::binary(vec![1u8, 2])),
        r#"Binary(b"\x01\x02")"#
    );
    // What held: equality and clones compare the contents, whatever buffer they are in.
    assert_eq!(Frame::text(String::from("a")), Frame::text("a"));
    assert_eq!(
        Frame::binary(vec![1u8]).clone(),
        Frame::binary(&b"\x01"[..])
    );
    assert_ne!(Frame::text("a"), Frame::binary(&b"a"[..]));
}

/// Answers each message with 32 KiB.
struct BigReply;

common::string_endpoint!(BigReply, |_this, socket| {
    while let Ok(message) = socket.recv().await {
        socket
            .reply(format!("{message} {}", "x".repeat(32 * 1024)))
            .await?;
    }
    Ok(())
});

#[tokio::test]
async fn what_held_replies_blocked_on_a_full_socket_go_on_once_the_client_reads() {
    // The write buffer and the kernel's fill while the client does not read, so `feed_now`
    // polls write readiness with a no-op waker and gets Pending; the slow path must register a
    // real wakeup: once the client reads, every reply arrives, well within the write timeout.
    use futures_util::StreamExt;
    use wsgen_runtime::{Limits, Router};
    let running = common::start(Router::new().route("/b", BigReply), Limits::DEFAULT).await;
    let mut ws = common::raw(&running.url, "/b").await;
    let count = 300;
    burst(&mut ws, count).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let started = std::time::Instant::now();
    for n in 0..count {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => {
                assert!(text.as_str().starts_with(&format!("{n} ")), "reply {n}")
            }
            other => panic!("expected reply {n}, got {other:?}"),
        }
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Answers each message after `pause`.
struct SlowReply {
    pause: std::time::Duration,
}

common::string_endpoint!(SlowReply, |this, socket| {
    while let Ok(message) = socket.recv().await {
        tokio::time::sleep(this.pause).await;
        socket.reply(message).await?;
    }
    Ok(())
});

#[tokio::test]
async fn what_held_a_frame_taken_on_the_fast_path_restarts_the_idle_timer() {
    // "0" wakes the socket (idle deadline 600 ms); "1" has arrived by the time the handler asks
    // again at 300 ms and is taken on the fast path, which must push the deadline to 900 ms:
    // "2", sent at 700 ms, is then answered rather than the connection closed as idle.
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use wsgen_runtime::{Limits, Router};
    let limits = Limits::DEFAULT.with_idle_timeout(Some(Duration::from_millis(600)));
    let endpoint = SlowReply {
        pause: Duration::from_millis(300),
    };
    let running = common::start(Router::new().route("/s", endpoint), limits).await;
    let mut ws = common::raw(&running.url, "/s").await;
    burst(&mut ws, 2).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    within(ws.send(Message::text("2"))).await.unwrap();
    for n in 0..3 {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => assert_eq!(text.as_str(), n.to_string()),
            other => panic!("expected reply {n}, got {other:?}"),
        }
    }
}
