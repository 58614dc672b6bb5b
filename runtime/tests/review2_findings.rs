//! Defects found in the second review of the runtime's recent changes, each shown by a test.

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

#[tokio::test]
async fn an_envelope_decodes_the_same_whatever_its_spacing() {
    // The same envelope, as the server writes it and with JSON whitespace: the body's unknown
    // key holds a lone surrogate, which a `serde_json::Value` parse refuses and the one-parse
    // shortcut (for the server's exact spacing) skips over. Both must come out the same.
    let body = r#"{"x":3,"note":"\ud800"}"#;
    let compact = format!(r#"{{"statusCode":200,"body":{body}}}"#);
    let spaced = format!(r#"{{"statusCode": 200, "body": {body}}}"#);
    let url = sending(vec![compact, spaced]).await;
    let options = ConnectOptions::default();
    let mut client = within(Client::<String, Point, NoClose>::connect(
        &url, "/", options,
    ))
    .await
    .unwrap()
    .with_error_replies()
    .with_envelope();
    let first = within(client.recv()).await;
    let second = within(client.recv()).await;
    // Both read, as JSON.parse (the TypeScript client) reads them: what the body's type does
    // not read is skipped.
    assert_eq!(first.ok(), Some(Point { x: 3 }));
    assert_eq!(second.ok(), Some(Point { x: 3 }));
}
