//! End to end: the checked-in code generated from `examples/specs/revali.yaml`, served on
//! 127.0.0.1 and talked to with the generated client (and a raw client where the wire matters).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::revali::*;
use wsgen_runtime::{ClientError, ConnectOptions, Disconnect};

/// What the handlers saw, for the tests to inspect.
#[derive(Default)]
struct Seen {
    notes: Mutex<Vec<Note>>,
    headers: Mutex<Vec<String>>,
    disconnects: Mutex<Vec<Disconnect>>,
    heartbeat_ends: Mutex<Vec<Disconnect>>,
}

struct Echo(Arc<Seen>);

impl ExampleWebsocketHandler for Echo {
    async fn on_connect(&self, conn: &ExampleWebsocketConn) -> Result<(), ExampleWebsocketClose> {
        if let Some(value) = conn.header("x-client") {
            self.0.headers.lock().unwrap().push(value.to_owned());
        }
        Ok(())
    }

    async fn on_message(
        &self,
        conn: &ExampleWebsocketConn,
        message: String,
    ) -> Result<String, ExampleWebsocketClose> {
        match message.as_str() {
            "bye" => Err(ExampleWebsocketClose::Done),
            "darn" => Err(ExampleWebsocketClose::ForbiddenWord),
            m if m.starts_with("refuse ") => Err(ExampleWebsocketClose::Refused(
                m.trim_start_matches("refuse ").to_owned(),
            )),
            "panic" => panic!("the handler panicked on purpose"),
            "who" => Ok(format!(
                "Echo: {}",
                conn.header("x-client").unwrap_or("nobody")
            )),
            _ => Ok(format!("Echo: {message}")),
        }
    }

    async fn on_disconnect(&self, _conn: &ExampleWebsocketConn, why: Disconnect) {
        self.0.disconnects.lock().unwrap().push(why);
    }
}

struct Listen(Arc<Seen>);

impl ExampleListenHandler for Listen {
    async fn on_message(
        &self,
        _conn: &ExampleListenConn,
        message: Note,
    ) -> Result<(), ExampleListenClose> {
        let mut notes = self.0.notes.lock().unwrap();
        notes.push(message);
        if notes.len() >= 3 {
            return Err(ExampleListenClose::Enough);
        }
        Ok(())
    }
}

struct Ticker;

impl ExampleTickerHandler for Ticker {
    async fn on_connect(&self, conn: &ExampleTickerConn) -> Result<(), ExampleTickerClose> {
        let sender = conn.sender();
        tokio::spawn(async move {
            for n in 1..=5 {
                if sender.send(n).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Ok(())
    }
}

struct Heartbeat(Arc<Seen>);

impl ExampleHeartbeatHandler for Heartbeat {
    async fn on_disconnect(&self, _conn: &ExampleHeartbeatConn, why: Disconnect) {
        self.0.heartbeat_ends.lock().unwrap().push(why);
    }
}

/// Starts the generated server on 127.0.0.1 with an OS-chosen port; returns its base URL.
async fn start() -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handlers = Handlers {
        example_websocket: Echo(Arc::clone(&seen)),
        example_listen: Listen(Arc::clone(&seen)),
        example_ticker: Ticker,
        example_heartbeat: Heartbeat(Arc::clone(&seen)),
    };
    tokio::spawn(handlers.into_server().serve(listener));
    (format!("ws://{addr}"), seen)
}

/// Bounds every wait so that a broken server fails the test instead of hanging it.
async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

#[tokio::test]
async fn two_way_endpoint_replies_with_the_handlers_return_value() {
    let (url, _) = start().await;
    let mut client = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    for word in ["Hello World", "second", ""] {
        client.send(word.to_owned()).await.unwrap();
        assert_eq!(
            within(client.recv()).await.unwrap(),
            format!("Echo: {word}")
        );
    }
    within(client.close()).await.unwrap();
}

#[tokio::test]
async fn a_returned_close_condition_arrives_as_the_typed_variant() {
    let (url, seen) = start().await;
    let mut client = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    client.send("bye".to_owned()).await.unwrap();
    match within(client.recv()).await {
        Err(ClientError::Closed(ExampleWebsocketClose::Done)) => {}
        other => panic!("expected the Done close condition, got {other:?}"),
    }

    let mut client = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    client.send("darn".to_owned()).await.unwrap();
    match within(client.recv()).await {
        Err(ClientError::Closed(ExampleWebsocketClose::ForbiddenWord)) => {}
        other => panic!("expected the ForbiddenWord close condition, got {other:?}"),
    }

    // on_disconnect saw both closes, with the spec's codes and reasons.
    within(async {
        while seen.disconnects.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let disconnects = seen.disconnects.lock().unwrap().clone();
    assert!(disconnects.contains(&Disconnect::ServerClosed {
        code: 4003,
        reason: "That word is not allowed here".to_owned()
    }));
    assert!(disconnects.contains(&Disconnect::ServerClosed {
        code: 1000,
        reason: "Connection closed by client".to_owned()
    }));
}

#[tokio::test]
async fn a_close_reason_given_at_run_time_travels_with_its_condition() {
    let (url, seen) = start().await;
    let mut client = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    client.send("refuse not today".to_owned()).await.unwrap();
    match within(client.recv()).await {
        Err(ClientError::Closed(ExampleWebsocketClose::Refused(reason))) => {
            assert_eq!(reason, "not today");
        }
        other => panic!("expected the Refused close condition, got {other:?}"),
    }

    // A reason longer than a close frame carries is cut to 123 bytes, at a character
    // boundary: 61 two-byte characters (122 bytes), not half of the 62nd.
    let long = "é".repeat(100);
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/websocket"
    )))
    .await
    .unwrap();
    ws.send(Message::text(format!("refuse {long}")))
        .await
        .unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 4001);
            assert_eq!(frame.reason.as_str(), "é".repeat(61));
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
    within(async {
        while !seen
            .disconnects
            .lock()
            .unwrap()
            .contains(&Disconnect::ServerClosed {
                code: 4001,
                reason: "é".repeat(61),
            })
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn close_code_and_reason_are_on_the_wire() {
    let (url, _) = start().await;
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/websocket"
    )))
    .await
    .unwrap();
    ws.send(Message::text("darn")).await.unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 4003);
            assert_eq!(frame.reason.as_str(), "That word is not allowed here");
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn connect_headers_are_seen_for_the_whole_connection() {
    let (url, seen) = start().await;
    let options = ConnectOptions::default().header("x-client", "dart-io");
    let mut client = within(ExampleWebsocketClient::connect_with(&url, options))
        .await
        .unwrap();
    client.send("who".to_owned()).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "Echo: dart-io");
    client.send("who".to_owned()).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "Echo: dart-io");
    assert_eq!(seen.headers.lock().unwrap().as_slice(), ["dart-io"]);
}

#[tokio::test]
async fn client_close_reaches_on_disconnect_exactly_once() {
    let (url, seen) = start().await;
    let client = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    within(client.close()).await.unwrap();
    within(async {
        while seen.disconnects.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        seen.disconnects.lock().unwrap().as_slice(),
        [Disconnect::ClientClosed {
            code: Some(1000),
            reason: String::new()
        }]
    );
}

#[tokio::test]
async fn receive_only_endpoint_takes_typed_messages_and_closes_with_its_condition() {
    let (url, seen) = start().await;
    let mut client = within(ExampleListenClient::connect(&url)).await.unwrap();
    for i in 0..3 {
        let note = Note {
            message: format!("note {i}"),
            tags: (i == 1).then(|| vec!["second".to_owned()]),
        };
        client.send(note).await.unwrap();
    }
    match within(client.closed()).await {
        ClientError::Closed(ExampleListenClose::Enough) => {}
        other => panic!("expected the Enough close condition, got {other:?}"),
    }
    let notes = seen.notes.lock().unwrap();
    assert_eq!(notes.len(), 3);
    assert_eq!(notes[1].message, "note 1");
    assert_eq!(notes[1].tags.as_deref(), Some(&["second".to_owned()][..]));
    assert_eq!(notes[2].tags, None);
}

#[tokio::test]
async fn json_arrives_in_binary_frames_too_as_revalis_client_sends_it() {
    let (url, seen) = start().await;
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/listen"
    )))
    .await
    .unwrap();
    ws.send(Message::binary(br#"{"message": "Hello World"}"#.to_vec()))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"message": "again"}"#))
        .await
        .unwrap();
    ws.send(Message::text(r#"{"message": "third"}"#))
        .await
        .unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 4000),
        other => panic!("expected a close frame, got {other:?}"),
    }
    assert_eq!(seen.notes.lock().unwrap()[0].message, "Hello World");
}

#[tokio::test]
async fn send_only_endpoint_pushes_typed_messages() {
    let (url, _) = start().await;
    let mut client = within(ExampleTickerClient::connect(&url)).await.unwrap();
    let mut got = Vec::new();
    for _ in 0..5 {
        got.push(within(client.recv()).await.unwrap());
    }
    assert_eq!(got, [1, 2, 3, 4, 5]);
    within(client.close()).await.unwrap();
}

#[tokio::test]
async fn a_message_to_a_send_only_endpoint_is_refused_with_1003() {
    let (url, _) = start().await;
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/ticker"
    )))
    .await
    .unwrap();
    ws.send(Message::text("let me talk")).await.unwrap();
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(_))) => continue, // ticks pushed before the refusal
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1003);
                break;
            }
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn malformed_messages_close_with_the_rfc_codes() {
    let (url, _) = start().await;
    // A binary frame where text is expected: 1003 (unsupported data).
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/websocket"
    )))
    .await
    .unwrap();
    ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1003),
        other => panic!("expected a close frame, got {other:?}"),
    }
    // JSON that is not a Note: 1007 (invalid payload data), with the parser's complaint.
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/listen"
    )))
    .await
    .unwrap();
    ws.send(Message::text(r#"{"text": 1}"#)).await.unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => {
            assert_eq!(u16::from(frame.code), 1007);
            assert!(frame.reason.contains("message"), "{}", frame.reason);
        }
        other => panic!("expected a close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_panicking_handler_closes_only_its_connection_with_1011() {
    let (url, _) = start().await;
    let mut bystander = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    let mut victim = within(ExampleWebsocketClient::connect(&url)).await.unwrap();
    victim.send("panic".to_owned()).await.unwrap();
    match within(victim.recv()).await {
        Err(ClientError::ClosedOther {
            code: Some(1011), ..
        }) => {}
        other => panic!("expected a 1011 close, got {other:?}"),
    }
    bystander.send("still here".to_owned()).await.unwrap();
    assert_eq!(within(bystander.recv()).await.unwrap(), "Echo: still here");
}

#[tokio::test]
async fn an_unknown_path_is_refused_before_the_upgrade() {
    let (url, _) = start().await;
    let err = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/nowhere"
    )))
    .await
    .unwrap_err();
    match err {
        tokio_tungstenite::tungstenite::Error::Http(response) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn many_clients_are_served_concurrently() {
    let (url, _) = start().await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut client = ExampleWebsocketClient::connect(&url).await.unwrap();
            for j in 0..20 {
                client.send(format!("{i}-{j}")).await.unwrap();
                assert_eq!(client.recv().await.unwrap(), format!("Echo: {i}-{j}"));
            }
            client.close().await.unwrap();
        }));
    }
    for task in tasks {
        within(task).await.unwrap();
    }
}

#[tokio::test]
async fn an_oversized_message_closes_with_1009() {
    let (url, _) = start().await;
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/websocket"
    )))
    .await
    .unwrap();
    // One byte over the default 64 KiB limit.
    let _ = ws.send(Message::text("x".repeat(64 * 1024 + 1))).await;
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => panic!("expected a 1009 close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};

    let (url, _) = start().await;
    let (mut ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/websocket"
    )))
    .await
    .unwrap();
    let frame = Frame::message(vec![0xff, 0xfe, 0xfd], OpCode::Data(Data::Text), true);
    ws.send(Message::Frame(frame)).await.unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1007),
        other => panic!("expected a 1007 close frame, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_that_vanishes_is_reported_lost_exactly_once() {
    let (url, seen) = start().await;
    let (ws, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/websocket"
    )))
    .await
    .unwrap();
    drop(ws); // no close frame: the TCP connection just ends
    within(async {
        while seen.disconnects.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    let disconnects = seen.disconnects.lock().unwrap().clone();
    assert_eq!(disconnects.len(), 1, "{disconnects:?}");
    assert!(
        matches!(disconnects[0], Disconnect::Lost { .. }),
        "{disconnects:?}"
    );
}

#[tokio::test]
async fn keepalive_keeps_a_live_peer_and_drops_a_dead_one() {
    let (url, seen) = start().await;
    // A live client: reading answers the server's pings.
    let mut live = within(ExampleHeartbeatClient::connect(&url)).await.unwrap();
    let reader = tokio::spawn(async move { live.recv().await });
    // A dead one: connected, but never reads, so it never answers a ping.
    let (dead, _) = within(tokio_tungstenite::connect_async(format!(
        "{url}/example/heartbeat"
    )))
    .await
    .unwrap();
    // Five ping intervals of 200ms.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let ends = seen.heartbeat_ends.lock().unwrap().clone();
    assert_eq!(ends.len(), 1, "only the dead peer is dropped: {ends:?}");
    match &ends[0] {
        Disconnect::Lost { detail } => assert!(detail.contains("ping"), "{detail}"),
        other => panic!("expected a lost connection, got {other:?}"),
    }
    assert!(!reader.is_finished(), "the live client is still connected");
    reader.abort();
    drop(dead);
}
