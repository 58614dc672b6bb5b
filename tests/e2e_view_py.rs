//! End to end for seed 002 (view.py): typed path and query inputs (400 when missing or
//! malformed), handlers that own the socket (recv, send, pair, expect), typed receives, the
//! spec's protocol handshake, a distinct error when the client leaves early, and a running sum
//! kept as per-connection state by a callbacks-style handler.

mod common;

use std::sync::{Arc, Mutex};

use common::{close_code, close_frame, next_data, raw, refusal, roundtrip, serve, within};
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::view_py::*;
use wsgen_runtime::{Disconnect, SocketError, Stop};

#[derive(Default)]
struct Chat {
    /// What a pair call returned when the client had gone.
    early_exit: Arc<Mutex<Option<SocketError>>>,
}

impl AppChatHandler for Chat {
    async fn run(&self, socket: &mut AppChatSocket) -> Result<(), Stop<AppChatClose>> {
        let first = match socket.pair("Hello?".to_owned()).await {
            Ok(answer) => answer,
            Err(gone) => {
                *self.early_exit.lock().unwrap() = Some(gone.clone());
                return Err(gone.into());
            }
        };
        let second = socket.pair_recv_first("second".to_owned()).await?;
        socket
            .send(format!("you said {first} and {second}"))
            .await?;
        Ok(())
    }
}

struct Items;

impl AppItemsHandler for Items {
    async fn run(&self, socket: &mut AppItemsSocket) -> Result<(), Stop<AppItemsClose>> {
        let item = socket.conn().params().item_id;
        let query = socket.conn().query().clone();
        socket
            .send(format!(
                "item {item} label {} verbose {:?}",
                query.label, query.verbose
            ))
            .await?;
        Ok(())
    }
}

struct Numbers;

impl AppNumbersHandler for Numbers {
    async fn run(&self, socket: &mut AppNumbersSocket) -> Result<(), Stop<AppNumbersClose>> {
        while let Some(n) = socket.next().await {
            socket.send(n * 2).await?;
        }
        Ok(())
    }
}

struct Flags;

impl AppFlagsHandler for Flags {
    async fn run(&self, socket: &mut AppFlagsSocket) -> Result<(), Stop<AppFlagsClose>> {
        loop {
            let flag = socket.recv().await?;
            socket.send(!flag).await?;
        }
    }
}

struct Blobs;

impl AppBlobsHandler for Blobs {
    async fn run(&self, socket: &mut AppBlobsSocket) -> Result<(), Stop<AppBlobsClose>> {
        loop {
            let mut blob = socket.recv().await?;
            blob.reverse();
            socket.send(blob).await?;
        }
    }
}

struct Documents;

impl AppDocumentsHandler for Documents {
    async fn run(&self, socket: &mut AppDocumentsSocket) -> Result<(), Stop<AppDocumentsClose>> {
        loop {
            let document = socket.recv().await?;
            let keys: Vec<String> = document
                .as_object()
                .map(|o| o.keys().cloned().collect())
                .unwrap_or_default();
            socket.send(keys.into()).await?;
        }
    }
}

struct Expecting;

impl AppExpectingHandler for Expecting {
    async fn run(&self, socket: &mut AppExpectingSocket) -> Result<(), Stop<AppExpectingClose>> {
        socket.expect(&"MYPROTOCOL V1.1".to_owned()).await?;
        socket.send("ACK".to_owned()).await?;
        let line = socket.recv().await?;
        socket.send(format!("Echo: {line}")).await?;
        Ok(())
    }
}

struct Protocol;

impl AppProtocolHandler for Protocol {
    async fn on_message(
        &self,
        _conn: &AppProtocolConn,
        message: String,
    ) -> Result<String, AppProtocolClose> {
        Ok(format!("Echo: {message}"))
    }
}

/// Each ended connection's last sum (if it had one) and how it ended.
type Sums = Arc<Mutex<Vec<(Option<i64>, Disconnect)>>>;

/// view.py's running sum in callbacks style: each connection's sum is its own state, and
/// `on_disconnect` records the last one with how the connection ended.
#[derive(Default)]
struct Sum {
    ended: Sums,
}

impl AppSumHandler for Sum {
    type State = i64;

    async fn on_connect(&self, _conn: &AppSumConn) -> Result<i64, AppSumClose> {
        Ok(0)
    }

    async fn on_message(
        &self,
        _conn: &AppSumConn,
        sum: &mut i64,
        number: i64,
    ) -> Result<i64, AppSumClose> {
        *sum = sum.checked_add(number).ok_or(AppSumClose::Overflow)?;
        Ok(*sum)
    }

    async fn on_disconnect(&self, _conn: &AppSumConn, sum: Option<i64>, why: Disconnect) {
        self.ended.lock().unwrap().push((sum, why));
    }
}

type ViewPyHandlers =
    Handlers<Chat, Items, Numbers, Flags, Blobs, Documents, Expecting, Protocol, Sum>;

/// Every endpoint's handler, and where the chat handler records an early exit.
fn handlers() -> (ViewPyHandlers, Arc<Mutex<Option<SocketError>>>) {
    let (handlers, early_exit, _) = handlers_and_sums();
    (handlers, early_exit)
}

/// Every endpoint's handler, where the chat handler records an early exit, and where the sum
/// handler records each connection's last sum.
fn handlers_and_sums() -> (ViewPyHandlers, Arc<Mutex<Option<SocketError>>>, Sums) {
    let sum = Sum::default();
    let sums = Arc::clone(&sum.ended);
    let chat = Chat::default();
    let early_exit = Arc::clone(&chat.early_exit);
    let handlers = Handlers {
        app_chat: chat,
        app_items: Items,
        app_numbers: Numbers,
        app_flags: Flags,
        app_blobs: Blobs,
        app_documents: Documents,
        app_expecting: Expecting,
        app_protocol: Protocol,
        app_sum: sum,
    };
    (handlers, early_exit, sums)
}

async fn start() -> (String, Arc<Mutex<Option<SocketError>>>) {
    let (handlers, early_exit) = handlers();
    (serve(handlers.into_server()).await, early_exit)
}

#[tokio::test]
async fn pair_sends_then_receives_and_recv_first_reverses_it() {
    let (url, _) = start().await;
    let mut client = within(AppChatClient::connect(&url)).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "Hello?");
    client.send("first".to_owned()).await.unwrap();
    client.send("then this".to_owned()).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "second");
    assert_eq!(
        within(client.recv()).await.unwrap(),
        "you said first and then this"
    );
    // The handler returned Ok: a normal close.
    match within(client.recv()).await {
        Err(wsgen_runtime::ClientError::ClosedOther {
            code: Some(1000), ..
        }) => {}
        other => panic!("expected a normal close, got {other:?}"),
    }
}

#[tokio::test]
async fn a_client_leaving_early_is_a_distinct_error_in_the_handler() {
    let (url, early_exit) = start().await;
    let mut ws = raw(&url, "/").await;
    assert_eq!(next_data(&mut ws).await, Message::text("Hello?"));
    drop(ws);
    common::eventually(|| early_exit.lock().unwrap().is_some()).await;
    let seen = early_exit.lock().unwrap().clone();
    assert!(
        matches!(seen, Some(SocketError::Gone(Disconnect::Lost { .. }))),
        "{seen:?}"
    );
}

#[tokio::test]
async fn typed_path_and_query_inputs_reach_the_handler() {
    let (url, _) = start().await;
    let params = AppItemsParams { item_id: 42 };
    let query = AppItemsQuery {
        label: "a label & more".to_owned(),
        verbose: Some(true),
    };
    let mut client = within(AppItemsClient::connect(&url, &params, &query))
        .await
        .unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap(),
        "item 42 label a label & more verbose Some(true)"
    );
    let query = AppItemsQuery {
        label: "plain".to_owned(),
        verbose: None,
    };
    let mut client = within(AppItemsClient::connect(&url, &params, &query))
        .await
        .unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap(),
        "item 42 label plain verbose None"
    );
}

#[tokio::test]
async fn missing_or_malformed_inputs_refuse_the_upgrade_with_400() {
    let (url, _) = start().await;
    let (status, body) = refusal(&url, "/items/42", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(body, "missing query parameter `label`");
    let (status, body) = refusal(&url, "/items/forty-two?label=x", &[]).await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("path parameter `item_id` must be a u64"),
        "{body}"
    );
    let (status, body) = refusal(&url, "/items/1?label=x&verbose=perhaps", &[]).await;
    assert_eq!(status, 400);
    assert!(
        body.starts_with("query parameter `verbose` must be a bool"),
        "{body}"
    );
}

#[tokio::test]
async fn typed_receives_of_int_bool_bytes_and_json() {
    let (url, _) = start().await;
    let mut numbers = within(AppNumbersClient::connect(&url)).await.unwrap();
    numbers.send(21).await.unwrap();
    assert_eq!(within(numbers.recv()).await.unwrap(), 42);

    let mut flags = within(AppFlagsClient::connect(&url)).await.unwrap();
    flags.send(false).await.unwrap();
    assert!(within(flags.recv()).await.unwrap());

    let mut blobs = within(AppBlobsClient::connect(&url)).await.unwrap();
    blobs.send(vec![1, 2, 3]).await.unwrap();
    assert_eq!(within(blobs.recv()).await.unwrap(), vec![3, 2, 1]);

    let mut documents = within(AppDocumentsClient::connect(&url)).await.unwrap();
    documents
        .send(serde_json::json!({"a": 1, "b": [true]}))
        .await
        .unwrap();
    assert_eq!(
        within(documents.recv()).await.unwrap(),
        serde_json::json!(["a", "b"])
    );

    // An int endpoint refuses what is not an int, with 1007.
    let mut ws = raw(&url, "/numbers").await;
    ws_send(&mut ws, "forty").await;
    assert_eq!(close_code(&mut ws).await, 1007);
}

async fn ws_send(ws: &mut common::Raw, text: &str) {
    use futures_util::SinkExt;
    ws.send(Message::text(text)).await.unwrap();
}

#[tokio::test]
async fn expect_in_the_handler_accepts_the_line_and_refuses_anything_else() {
    let (url, _) = start().await;
    let mut ws = raw(&url, "/expect").await;
    assert_eq!(
        roundtrip(&mut ws, "MYPROTOCOL V1.1").await,
        Message::text("ACK")
    );
    assert_eq!(roundtrip(&mut ws, "hi").await, Message::text("Echo: hi"));

    let mut ws = raw(&url, "/expect").await;
    ws_send(&mut ws, "HTTP/1.1").await;
    assert_eq!(close_code(&mut ws).await, 1008);
}

#[tokio::test]
async fn the_specs_handshake_runs_before_the_handler() {
    let (url, _) = start().await;
    let mut ws = raw(&url, "/protocol").await;
    assert_eq!(
        roundtrip(&mut ws, "MYPROTOCOL V1.1").await,
        Message::text("ACK")
    );
    assert_eq!(
        roundtrip(&mut ws, "hello").await,
        Message::text("Echo: hello")
    );

    // The spec's `handshake.close`: 1002 with its reason, not the default 1008.
    let mut ws = raw(&url, "/protocol").await;
    ws_send(&mut ws, "hello").await;
    let frame = close_frame(&mut ws).await;
    assert_eq!(
        (u16::from(frame.code), frame.reason.as_str()),
        (1002, "protocol mismatch")
    );

    // The generated client performs the handshake in connect.
    let mut client = within(AppProtocolClient::connect(&url)).await.unwrap();
    client.send("typed".to_owned()).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "Echo: typed");
}

#[tokio::test]
async fn a_broadcast_during_the_handshake_waits_until_the_answer_has_gone_out() {
    let hubs = Hubs::default();
    let (handlers, _) = handlers();
    let url = serve(handlers.into_server_with_hubs(hubs.clone())).await;
    let mut ws = raw(&url, "/protocol").await;
    // The session is in the hub from the upgrade on; a broadcast reaches it before the client
    // has sent the handshake.
    within(async {
        while hubs.app_protocol.is_empty() {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await;
    assert_eq!(hubs.app_protocol.broadcast("news".to_owned()).delivered, 1);
    assert_eq!(
        roundtrip(&mut ws, "MYPROTOCOL V1.1").await,
        Message::text("ACK"),
        "the handshake's answer comes first"
    );
    let next = within(futures_util::StreamExt::next(&mut ws)).await;
    assert_eq!(next.unwrap().unwrap(), Message::text("news"));
}

#[tokio::test]
async fn each_connection_keeps_its_own_running_sum_and_on_disconnect_gets_it() {
    let (handlers, _, sums) = handlers_and_sums();
    let url = serve(handlers.into_server()).await;
    let mut one = within(AppSumClient::connect(&url)).await.unwrap();
    let mut two = within(AppSumClient::connect(&url)).await.unwrap();
    // Interleaved: each connection's sum is its own.
    for (which, number, expected) in [
        (1, 5, 5),
        (2, 100, 100),
        (1, -2, 3),
        (2, 1, 101),
        (1, 10, 13),
    ] {
        let client = if which == 1 { &mut one } else { &mut two };
        within(client.send(number)).await.unwrap();
        assert_eq!(within(client.recv()).await.unwrap(), expected);
    }
    within(one.close()).await.unwrap();
    common::eventually(|| sums.lock().unwrap().len() == 1).await;
    let first = sums.lock().unwrap()[0].clone();
    assert!(
        matches!(
            first,
            (
                Some(13),
                Disconnect::ClientClosed {
                    code: Some(1000),
                    ..
                }
            )
        ),
        "{first:?}"
    );

    // A close condition from on_message: the state still reaches on_disconnect.
    within(two.send(i64::MAX)).await.unwrap();
    match within(two.recv()).await {
        Err(wsgen_runtime::ClientError::Closed(AppSumClose::Overflow)) => {}
        other => panic!("expected the overflow close, got {other:?}"),
    }
    common::eventually(|| sums.lock().unwrap().len() == 2).await;
    let second = sums.lock().unwrap()[1].clone();
    assert!(
        matches!(
            second,
            (Some(101), Disconnect::ServerClosed { code: 4000, .. })
        ),
        "{second:?}"
    );

    // A client that vanishes mid-connection: its sum is handed over too.
    let mut ws = raw(&url, "/sum").await;
    assert_eq!(roundtrip(&mut ws, "7").await, Message::text("7"));
    drop(ws);
    common::eventually(|| sums.lock().unwrap().len() == 3).await;
    let third = sums.lock().unwrap()[2].clone();
    assert!(
        matches!(third, (Some(7), Disconnect::Lost { .. })),
        "{third:?}"
    );
}
