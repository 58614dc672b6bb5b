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
