//! End to end for seed 003 (Spry): a group of routes sharing middleware that refuses the
//! upgrade with an HTTP status, receive loops, sending one message or forwarding a stream,
//! handler failures that close only their connection with 1011, and readable request headers.

mod common;

use common::{close_code, raw, refusal, serve, within};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::spry::*;
use wsgen_runtime::{ClientError, ConnectOptions, Frame, Refusal, Request, Stop};

struct Auth;

impl Middleware for Auth {
    async fn auth(&self, request: &Request) -> Result<(), Refusal> {
        match request.header("authorization") {
            Some("Bearer let-me-in") => Ok(()),
            Some(_) => Err(Refusal::forbidden("that token is not valid")),
            None => Err(Refusal::unauthorized("an authorization header is required")),
        }
    }
}

struct Echo;

impl WsEchoHandler for Echo {
    async fn run(&self, socket: &mut WsEchoSocket) -> Result<(), Stop<WsEchoClose>> {
        while let Some(message) = socket.next().await {
            socket.send(message).await?;
        }
        Ok(())
    }
}

struct Countdown;

impl WsCountdownHandler for Countdown {
    async fn run(&self, socket: &mut WsCountdownSocket) -> Result<(), Stop<WsCountdownClose>> {
        let numbers = futures_util::stream::iter((1..=5).rev().map(|n| n.to_string()));
        socket.forward(numbers).await?;
        socket.send("liftoff".to_owned()).await?;
        Ok(())
    }
}

struct Fragile;

impl WsFragileHandler for Fragile {
    async fn on_message(
        &self,
        _conn: &WsFragileConn,
        message: String,
    ) -> Result<String, WsFragileClose> {
        match message.as_str() {
            "fail" => Err(WsFragileClose::Failed),
            "panic" => panic!("an exception in the handler"),
            _ => Ok(message.to_uppercase()),
        }
    }
}

struct WhoAmI;

impl PublicWhoamiHandler for WhoAmI {
    async fn on_connect(&self, conn: &PublicWhoamiConn) -> Result<(), PublicWhoamiClose> {
        let agent = conn.header("user-agent").unwrap_or("unknown").to_owned();
        let _ = conn.send(agent);
        Ok(())
    }
}

async fn start() -> String {
    let handlers = Handlers {
        ws_echo: Echo,
        ws_countdown: Countdown,
        ws_fragile: Fragile,
        public_whoami: WhoAmI,
        middleware: Auth,
    };
    serve(handlers.into_server()).await
}

fn authorized() -> ConnectOptions {
    ConnectOptions::default().header("authorization", "Bearer let-me-in")
}

#[tokio::test]
async fn group_middleware_refuses_the_upgrade_with_its_status() {
    let url = start().await;
    for path in ["/ws/echo", "/ws/countdown", "/ws/fragile"] {
        let (status, body) = refusal(&url, path, &[]).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body, "an authorization header is required");
        let (status, _) = refusal(&url, path, &[("authorization", "Bearer guess")]).await;
        assert_eq!(status, 403, "{path}");
    }
    // Routes outside the group are not affected.
    let mut whoami = within(PublicWhoamiClient::connect(&url)).await.unwrap();
    assert!(!within(whoami.recv()).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_receive_loop_echoes_text_and_bytes() {
    let url = start().await;
    let mut client = within(WsEchoClient::connect_with(&url, authorized()))
        .await
        .unwrap();
    client.send(Frame::text("hello")).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), Frame::text("hello"));
    client.send(Frame::binary(vec![1, 2])).await.unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap(),
        Frame::binary(vec![1, 2])
    );
    within(client.close()).await.unwrap();
}

#[tokio::test]
async fn a_whole_stream_is_forwarded_then_the_connection_closes_normally() {
    let url = start().await;
    let mut client = within(WsCountdownClient::connect_with(&url, authorized()))
        .await
        .unwrap();
    let mut got = Vec::new();
    loop {
        match within(client.recv()).await {
            Ok(message) => got.push(message),
            Err(ClientError::ClosedOther {
                code: Some(1000), ..
            }) => break,
            Err(other) => panic!("unexpected end: {other:?}"),
        }
    }
    assert_eq!(got, ["5", "4", "3", "2", "1", "liftoff"]);
}

#[tokio::test]
async fn handler_failures_close_only_their_connection_with_1011() {
    let url = start().await;
    let mut bystander = within(WsFragileClient::connect_with(&url, authorized()))
        .await
        .unwrap();

    let mut failing = within(WsFragileClient::connect_with(&url, authorized()))
        .await
        .unwrap();
    failing.send("fail".to_owned()).await.unwrap();
    match within(failing.recv()).await {
        Err(ClientError::Closed(WsFragileClose::Failed)) => {}
        other => panic!("expected the Failed condition (1011), got {other:?}"),
    }

    let mut ws = raw_authorized(&url, "/ws/fragile").await;
    ws.send(Message::text("panic")).await.unwrap();
    assert_eq!(close_code(&mut ws).await, 1011);

    bystander.send("still fine".to_owned()).await.unwrap();
    assert_eq!(within(bystander.recv()).await.unwrap(), "STILL FINE");
}

async fn raw_authorized(url: &str, path: &str) -> common::Raw {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{url}{path}").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", "Bearer let-me-in".parse().unwrap());
    within(tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
        .0
}

#[tokio::test]
async fn request_headers_are_readable() {
    let url = start().await;
    let options = ConnectOptions::default().header("user-agent", "spry-test/1.0");
    let mut client = within(PublicWhoamiClient::connect_with(&url, options))
        .await
        .unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "spry-test/1.0");
    let _ = raw(&url, "/public/whoami").await;
}
