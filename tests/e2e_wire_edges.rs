//! End to end, served from the checked-in code generated from `examples/specs/wire_edges.yaml`:
//! - validation rules of a type hold wherever the type sits (map values, lists of lists,
//!   union-typed fields, optional wrappers); before, only a message's own fields and `list<T>`
//!   fields were checked, and an empty `name` reached the handler from anywhere deeper;
//! - with `on_invalid: reply_error` and a `string` send type, the Rust client reads a reply as a
//!   rejection exactly when the TypeScript client does (it starts `{"statusCode":` as the
//!   server writes them); before, any JSON with a `statusCode` was a rejection to Rust only;
//! - an empty path parameter value reaches its route (`/bags//greet`); before, the server
//!   dropped the empty segment and answered 404 to both clients.

mod common;

use std::sync::{Arc, Mutex};

use common::{raw, roundtrip, serve, within};
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::wire_edges::*;
use wsgen_runtime::ClientError;

struct Keep(Arc<Mutex<Vec<Bag>>>);

impl BagsPutHandler for Keep {
    async fn on_message(&self, _conn: &BagsPutConn, message: Bag) -> Result<String, BagsPutClose> {
        self.0.lock().unwrap().push(message);
        Ok("ok".to_owned())
    }
}

struct Echo;

impl BagsEchoHandler for Echo {
    async fn on_message(
        &self,
        _conn: &BagsEchoConn,
        message: String,
    ) -> Result<String, BagsEchoClose> {
        Ok(message)
    }
}

struct Greet;

impl BagsGreetHandler for Greet {
    async fn on_message(
        &self,
        conn: &BagsGreetConn,
        message: String,
    ) -> Result<String, BagsGreetClose> {
        Ok(format!("{message} [{}]", conn.params().name))
    }
}

fn text(message: Message) -> String {
    match message {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A valid bag with `hole` (a JSON pointer into it) replaced by an empty tag name.
fn bag_with_empty_name(hole: Option<&str>) -> String {
    let mut bag = serde_json::json!({
        "by_key": {"a": {"name": "x"}},
        "grid": [[{"name": "x"}], [{"name": "y"}, {"name": "z"}]],
        "shape": {"kind": "tagged", "name": "x"},
        "maybe": {"k": [{"name": "x"}]},
        "first": {"name": "x"},
    });
    if let Some(hole) = hole {
        *bag.pointer_mut(hole).unwrap() = serde_json::json!("");
    }
    bag.to_string()
}

#[tokio::test]
async fn rules_of_nested_types_are_enforced_at_every_depth() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers {
        bags_put: Keep(Arc::clone(&seen)),
        bags_echo: Echo,
        bags_greet: Greet,
    };
    let url = serve(handlers.into_server()).await;
    let mut ws = within(raw(&url, "/bags/put")).await;

    assert_eq!(
        text(roundtrip(&mut ws, &bag_with_empty_name(None)).await),
        "ok"
    );
    let holes = [
        ("/by_key/a/name", vec!["by_key", "a", "name"]),
        ("/grid/1/1/name", vec!["grid", "1", "1", "name"]),
        ("/shape/name", vec!["shape", "name"]),
        ("/maybe/k/0/name", vec!["maybe", "k", "0", "name"]),
        ("/first/name", vec!["first", "name"]),
    ];
    for (hole, loc) in holes {
        let reply = text(roundtrip(&mut ws, &bag_with_empty_name(Some(hole))).await);
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["statusCode"], 400, "{hole}: {reply}");
        let errors = &reply["body"]["errorList"];
        assert_eq!(errors[0]["type"], "string_too_short", "{hole}: {reply}");
        assert_eq!(errors[0]["loc"], serde_json::json!(loc), "{hole}: {reply}");
    }
    // Only the valid bag reached the handler.
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn text_that_only_looks_like_an_error_reply_is_a_message_to_the_rust_client() {
    let handlers = Handlers {
        bags_put: Keep(Arc::default()),
        bags_echo: Echo,
        bags_greet: Greet,
    };
    let url = serve(handlers.into_server()).await;
    let mut client = within(BagsEchoClient::connect(&url)).await.unwrap();
    // What the TypeScript client reads as text (it does not start `{"statusCode":`).
    for looks_like in [
        r#"{ "statusCode": 400, "body": {"errorList": []} }"#,
        r#"{"body": {"errorList": []}, "statusCode": 400}"#,
        r#" {"statusCode":400,"body":{"errorList":[]}}"#,
        r#"{"statusCode":200,"body":{"errorList":[]}}"#,
        r#"{"statusCode":400,"body":{}}"#,
    ] {
        client.send(looks_like.to_owned()).await.unwrap();
        assert_eq!(within(client.recv()).await.unwrap(), looks_like);
    }
    // What it reads as a rejection, whatever the list holds, so does the Rust client.
    client
        .send(r#"{"statusCode":400,"body":{"errorList":[1]}}"#.to_owned())
        .await
        .unwrap();
    match within(client.recv()).await {
        Err(ClientError::Rejected {
            status: 400,
            errors,
        }) => assert_eq!(errors.len(), 1),
        other => panic!("expected a rejection, got {other:?}"),
    }
    client.send("still open".to_owned()).await.unwrap();
    assert_eq!(within(client.recv()).await.unwrap(), "still open");
}

#[tokio::test]
async fn an_empty_path_parameter_reaches_its_route() {
    let handlers = Handlers {
        bags_put: Keep(Arc::default()),
        bags_echo: Echo,
        bags_greet: Greet,
    };
    let url = serve(handlers.into_server()).await;
    for name in ["", "a b", "ünï/code", "."] {
        let params = BagsGreetParams {
            name: name.to_owned(),
        };
        let mut client = within(BagsGreetClient::connect(&url, &params))
            .await
            .unwrap_or_else(|e| panic!("{name:?}: {e}"));
        client.send("hi".to_owned()).await.unwrap();
        assert_eq!(within(client.recv()).await.unwrap(), format!("hi [{name}]"));
    }
}

#[test]
fn integer_bounds_beyond_2_to_the_53_are_exact() {
    use wsgen_runtime::{JsonMessage, Validator};
    let check = |n: u64, below: i64| {
        let mut v = Validator::new();
        Big { n, below }.validate(&mut v);
        v.finish().map_err(|errors| errors.len())
    };
    // Rounded through f64, the bounds were 9007199254740992 and -9007199254740992.
    assert_eq!(check(9_007_199_254_740_993, -9_007_199_254_740_993), Ok(()));
    assert_eq!(check(9_007_199_254_740_994, -9_007_199_254_740_994), Err(2));
}
