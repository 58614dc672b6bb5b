//! What the typed Rust client reports through `tracing`: generated clients of the echo spec run a
//! scripted exchange against the echo server on 127.0.0.1 under a test subscriber that writes
//! every event with its span's fields. Each connection's events (connected, closed by the
//! client, by the server, lost, dropped; a refused connect; a rejected message) are inside its
//! own `ws_client` span, with the endpoint, the URL and the client's address, which is the
//! server span's `peer`.

mod common;

#[path = "../examples/echo/server.rs"]
mod echo_server;

use std::time::Duration;

use common::capture::Captured;

use tokio::net::TcpListener;
use wsgen_generated::echo::{
    Command, EchoJsonClient, EchoJsonClose, EchoRawClient, EchoTextClient, Note,
};
use wsgen_runtime::{ClientError, Frame};

/// The client's lines (those inside a `ws_client` span) with every one of `parts`.
fn client_line(lines: &[String], parts: &[&str]) -> String {
    lines
        .iter()
        .filter(|l| l.contains("ws_client{"))
        .find(|l| parts.iter().all(|p| l.contains(p)))
        .cloned()
        .unwrap_or_else(|| panic!("no client event with {parts:?} in:\n{}", lines.join("\n")))
}

/// The value of `field=` in `line` (up to the next space or `}`).
fn field<'a>(line: &'a str, name: &str) -> &'a str {
    line.split(&format!("{name}="))
        .nth(1)
        .and_then(|rest| rest.split([' ', '}']).next())
        .unwrap_or_else(|| panic!("no {name} in {line}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_client_connection_reports_in_its_span() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");

    let url = common::serve(echo_server::handlers().into_server()).await;

    // Closed by the client after one message each way.
    let mut text = common::within(EchoTextClient::connect(&url))
        .await
        .expect("connect");
    text.send("hello".to_owned()).await.expect("send");
    assert_eq!(common::within(text.recv()).await.expect("echo"), "hello");
    common::within(text.close()).await.expect("close");

    // A rejected message, then closed by the server with the spec's `goodbye` (4000).
    let mut json = common::within(EchoJsonClient::connect(&url))
        .await
        .expect("connect");
    let _welcome = common::within(json.recv()).await.expect("welcome");
    let empty = Command::Note(Note {
        id: 1,
        text: String::new(),
    });
    json.send(empty).await.expect("send");
    assert!(matches!(
        common::within(json.recv()).await,
        Err(ClientError::Rejected { status: 400, .. })
    ));
    json.send(Command::Bye).await.expect("send");
    assert!(matches!(
        common::within(json.recv()).await,
        Err(ClientError::Closed(EchoJsonClose::Goodbye))
    ));

    // Dropped without a close handshake.
    let mut raw = common::within(EchoRawClient::connect(&url))
        .await
        .expect("connect");
    raw.send(Frame::binary(vec![1, 2, 3])).await.expect("send");
    let _ = common::within(raw.recv()).await.expect("echo");
    drop(raw);

    // Refused: no endpoint under this prefix.
    let refused = common::within(EchoTextClient::connect(&format!("{url}/nowhere"))).await;
    assert!(matches!(
        refused,
        Err(ClientError::Refused { status: 404, .. })
    ));

    // Lost: a server that upgrades, then goes away without a close frame.
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let vanishing = format!("ws://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        if let Ok((stream, _)) = listener.accept().await {
            let ws = tokio_tungstenite::accept_async(stream).await;
            drop(ws);
        }
    });
    let mut lost = common::within(EchoTextClient::connect(&vanishing))
        .await
        .expect("connect");
    assert!(matches!(
        common::within(lost.recv()).await,
        Err(ClientError::Lost)
    ));

    // The server logs its side of the last close after the client saw it.
    for _ in 0..200 {
        let lines = captured.lines();
        let server_closes = lines
            .iter()
            .filter(|l| l.contains("ws_connection{") && l.contains(" closed "))
            .count();
        if server_closes >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let lines = captured.lines();
    let text_span = "endpoint=\"echo.echo.text\"";
    let text_url = format!("url=\"{url}/echo/text\"");

    let connected = client_line(&lines, &["connected", text_span, &text_url]);
    assert!(connected.contains(" INFO "), "{connected}");
    assert!(connected.contains("duration_ms="), "{connected}");
    let local = field(&connected, "local");
    assert!(local.starts_with("127.0.0.1:"), "{connected}");
    // The client's address is the server's `peer` for the same connection.
    let server_side = lines
        .iter()
        .find(|l| l.contains("ws_connection{") && l.contains(&format!("peer={local}")))
        .unwrap_or_else(|| {
            panic!(
                "no server event with peer={local} in:\n{}",
                lines.join("\n")
            )
        });
    assert!(server_side.contains(text_span), "{server_side}");

    let closed = client_line(&lines, &["closed", text_span, &format!("local={local}")]);
    assert!(closed.contains(" INFO "), "{closed}");
    for part in [
        "closed_by=\"client\"",
        "code=1000",
        "messages_in=1",
        "bytes_in=5",
        "messages_out=1",
        "bytes_out=5",
        "duration_ms=",
    ] {
        assert!(closed.contains(part), "{part} missing: {closed}");
    }

    let json_span = "endpoint=\"echo.echo.json\"";
    let rejected = client_line(&lines, &["message rejected by the server", json_span]);
    assert!(rejected.contains("DEBUG"), "{rejected}");
    assert!(rejected.contains("status=400"), "{rejected}");
    let by_server = client_line(&lines, &["closed", json_span, "closed_by=\"server\""]);
    for part in ["code=4000", "reason=\"goodbye\"", "messages_out=2"] {
        assert!(by_server.contains(part), "{part} missing: {by_server}");
    }

    let raw_span = "endpoint=\"echo.echo.raw\"";
    let dropped = client_line(&lines, &["closed", raw_span, "closed_by=\"client\""]);
    assert!(
        dropped.contains("dropped without a close handshake"),
        "{dropped}"
    );
    assert!(dropped.contains("bytes_out=3"), "{dropped}");

    let refusal = client_line(&lines, &["connect refused", text_span]);
    assert!(refusal.contains(" WARN "), "{refusal}");
    assert!(refusal.contains("status=404"), "{refusal}");
    assert!(refusal.contains(&format!("url=\"{url}/nowhere/echo/text\"")));

    let vanished = client_line(&lines, &["closed", "closed_by=\"lost\""]);
    assert!(vanished.contains(&format!("url=\"{vanishing}/echo/text\"")));
    assert!(!vanished.contains("code="), "{vanished}");

    // Every connection's closing event is emitted once.
    let closes = lines
        .iter()
        .filter(|l| l.contains("ws_client{") && l.contains(" closed "))
        .count();
    assert_eq!(closes, 4, "{}", lines.join("\n"));
}
