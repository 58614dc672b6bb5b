//! End to end for seed 004 (Cafeto): a manual JSON loop, callbacks with optional on_connect and
//! on_disconnect, DTO validation declared in the spec, the `{statusCode, body}` envelope, error
//! replies that keep the connection open, and the three invalid-message policies.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{close_code, eventually, raw, roundtrip, serve, within};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::cafeto::*;
use wsgen_runtime::{ClientError, Disconnect, Stop};

struct Traditional;

impl WsChatHandler for Traditional {
    async fn run(&self, socket: &mut WsChatSocket) -> Result<(), Stop<WsChatClose>> {
        while let Some(data) = socket.next().await {
            let user = data["user"].as_str().unwrap_or("System").to_owned();
            socket
                .send(ChatResponseDto {
                    message: format!("Hi {user}"),
                    user: "System".to_owned(),
                })
                .await?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Seen {
    received: AtomicUsize,
    lifecycle: Mutex<Vec<String>>,
}

struct Callbacks(Arc<Seen>);

impl WsChatCallbacksHandler for Callbacks {
    async fn on_connect(&self, _conn: &WsChatCallbacksConn) -> Result<(), WsChatCallbacksClose> {
        self.0.lifecycle.lock().unwrap().push("connect".to_owned());
        Ok(())
    }

    async fn on_message(
        &self,
        _conn: &WsChatCallbacksConn,
        data: ChatRequestDto,
    ) -> Result<ChatResponseDto, WsChatCallbacksClose> {
        self.0.received.fetch_add(1, Ordering::SeqCst);
        Ok(ChatResponseDto {
            message: format!("Hi, you said {}", data.message),
            user: data.user.unwrap_or_else(|| "System".to_owned()),
        })
    }

    async fn on_disconnect(&self, _conn: &WsChatCallbacksConn, why: Disconnect) {
        self.0
            .lifecycle
            .lock()
            .unwrap()
            .push(format!("disconnect {why:?}"));
    }
}

struct Settings(Arc<Mutex<Vec<RoomSettingsDto>>>);

impl WsSettingsHandler for Settings {
    async fn on_message(
        &self,
        _conn: &WsSettingsConn,
        settings: RoomSettingsDto,
    ) -> Result<(), WsSettingsClose> {
        self.0.lock().unwrap().push(settings);
        Ok(())
    }
}

struct Lenient;

impl WsSettingsLenientHandler for Lenient {
    async fn on_message(
        &self,
        _conn: &WsSettingsLenientConn,
        settings: RoomSettingsDto,
    ) -> Result<String, WsSettingsLenientClose> {
        Ok(format!("{} for {}", settings.room, settings.capacity))
    }
}

struct Server {
    url: String,
    callbacks: Arc<Seen>,
    settings: Arc<Mutex<Vec<RoomSettingsDto>>>,
}

async fn start() -> Server {
    let callbacks = Arc::new(Seen::default());
    let settings = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers {
        ws_chat: Traditional,
        ws_chat_callbacks: Callbacks(Arc::clone(&callbacks)),
        ws_settings: Settings(Arc::clone(&settings)),
        ws_settings_lenient: Lenient,
    };
    Server {
        url: serve(handlers.into_server()).await,
        callbacks,
        settings,
    }
}

fn json(message: Message) -> serde_json::Value {
    match message {
        Message::Text(text) => serde_json::from_str(&text).unwrap(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

#[tokio::test]
async fn the_traditional_loop_receives_and_sends_json() {
    let server = start().await;
    let mut client = within(WsChatClient::connect(&server.url)).await.unwrap();
    client
        .send(serde_json::json!({"message": "Hola", "user": "ana"}))
        .await
        .unwrap();
    let answer = within(client.recv()).await.unwrap();
    assert_eq!(answer.message, "Hi ana");
    assert_eq!(answer.user, "System");
}

#[tokio::test]
async fn answers_go_out_in_the_status_envelope() {
    let server = start().await;
    let mut ws = raw(&server.url, "/ws/chat-callbacks").await;
    let answer = json(roundtrip(&mut ws, r#"{"message": "Hi", "user": "ana_1"}"#).await);
    assert_eq!(
        answer,
        serde_json::json!({"statusCode": 200, "body": {"message": "Hi, you said Hi", "user": "ana_1"}})
    );
    // The generated client opens the envelope.
    let mut client = within(WsChatCallbacksClient::connect(&server.url))
        .await
        .unwrap();
    client
        .send(ChatRequestDto {
            message: "typed".to_owned(),
            user: None,
        })
        .await
        .unwrap();
    let answer = within(client.recv()).await.unwrap();
    assert_eq!(answer.message, "Hi, you said typed");
    assert_eq!(answer.user, "System");
}

#[tokio::test]
async fn invalid_messages_get_an_error_list_and_never_reach_the_handler() {
    let server = start().await;
    let mut ws = raw(&server.url, "/ws/chat-callbacks").await;
    let missing = json(roundtrip(&mut ws, r#"{"user": "ana_1"}"#).await);
    assert_eq!(
        missing,
        serde_json::json!({"statusCode": 400, "body": {"errorList": [
            {"loc": ["message"], "type": "missing", "msg": "Field required"}
        ]}})
    );
    let broken = json(roundtrip(&mut ws, r#"{"message": "", "user": "9lives"}"#).await);
    let errors = &broken["body"]["errorList"];
    assert_eq!(broken["statusCode"], 400);
    assert_eq!(errors[0]["loc"], serde_json::json!(["message"]));
    assert_eq!(errors[0]["type"], "string_too_short");
    assert_eq!(errors[1]["loc"], serde_json::json!(["user"]));
    assert_eq!(errors[1]["type"], "string_pattern_mismatch");
    assert_eq!(server.callbacks.received.load(Ordering::SeqCst), 0);

    // The connection stayed open: a valid message is answered.
    let ok = json(roundtrip(&mut ws, r#"{"message": "now valid"}"#).await);
    assert_eq!(ok["statusCode"], 200);
    assert_eq!(server.callbacks.received.load(Ordering::SeqCst), 1);

    // The typed client surfaces the error reply as a typed rejection, and carries on.
    let mut client = within(WsChatCallbacksClient::connect(&server.url))
        .await
        .unwrap();
    client
        .send(ChatRequestDto {
            message: "x".repeat(201),
            user: None,
        })
        .await
        .unwrap();
    match within(client.recv()).await {
        Err(ClientError::Rejected {
            status: 400,
            errors,
        }) => {
            assert_eq!(errors[0].kind, "string_too_long");
            assert_eq!(errors[0].loc, ["message"]);
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    client
        .send(ChatRequestDto {
            message: "fine".to_owned(),
            user: None,
        })
        .await
        .unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap().message,
        "Hi, you said fine"
    );
}

#[tokio::test]
async fn optional_callbacks_run_around_the_connection() {
    let server = start().await;
    let client = within(WsChatCallbacksClient::connect(&server.url))
        .await
        .unwrap();
    within(client.close()).await.unwrap();
    eventually(|| server.callbacks.lifecycle.lock().unwrap().len() == 2).await;
    let lifecycle = server.callbacks.lifecycle.lock().unwrap().clone();
    assert_eq!(lifecycle[0], "connect");
    assert!(
        lifecycle[1].starts_with("disconnect ClientClosed"),
        "{lifecycle:?}"
    );
}

#[tokio::test]
async fn the_close_policy_closes_with_1007_after_valid_messages_went_through() {
    let server = start().await;
    let mut ws = raw(&server.url, "/ws/settings").await;
    ws.send(Message::text(
        r#"{"room": "lobby", "capacity": 10, "tags": []}"#,
    ))
    .await
    .unwrap();
    ws.send(Message::text(
        r#"{"room": "attic", "capacity": 1, "tags": ["a", "b", "c", "d"]}"#,
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, 1007);
    let accepted = server.settings.lock().unwrap().clone();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].room, "lobby");
}

#[tokio::test]
async fn the_drop_policy_ignores_invalid_messages() {
    let server = start().await;
    let mut ws = raw(&server.url, "/ws/settings-lenient").await;
    ws.send(Message::text(
        r#"{"room": "garden", "capacity": 99, "tags": []}"#,
    ))
    .await
    .unwrap();
    ws.send(Message::text("not json at all")).await.unwrap();
    let answer = roundtrip(
        &mut ws,
        r#"{"room": "cellar", "capacity": 4, "tags": ["x"]}"#,
    )
    .await;
    assert_eq!(answer, Message::text("cellar for 4"));
}
