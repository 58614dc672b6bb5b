//! End to end, served from the checked-in code generated from `examples/specs/wire_edges.yaml`:
//! - validation rules of a type hold wherever the type sits (map values, lists of lists,
//!   union-typed fields, optional wrappers); before, only a message's own fields and `list<T>`
//!   fields were checked, and an empty `name` reached the handler from anywhere deeper;
//! - with `on_invalid: reply_error` and a `string` send type, the Rust client reads a reply as a
//!   rejection exactly when the TypeScript client does (a JSON object with a numeric
//!   `statusCode`, whatever its key order and whitespace);
//! - an empty path parameter value reaches its route (`/bags//greet`); before, the server
//!   dropped the empty segment and answered 404 to both clients;
//! - the generated TypeScript client, run by Node with the `ws` package, reads every one of those
//!   answers as the Rust client does.

#[path = "common/browser.rs"]
mod browser;
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

/// Answers with the room and token a connection was opened with, for both endpoints that take
/// the spec's shared `Room` inputs.
struct Rooms;

fn opened_with(params: &RoomParams, query: &RoomQuery, message: &str) -> String {
    format!(
        "{message} in room {} for {} (verbose {:?})",
        params.room_id, query.token, query.verbose
    )
}

impl RoomsReadHandler for Rooms {
    async fn on_message(
        &self,
        conn: &RoomsReadConn,
        message: String,
    ) -> Result<String, RoomsReadClose> {
        Ok(opened_with(conn.params(), conn.query(), &message))
    }
}

impl RoomsWriteHandler for Rooms {
    async fn on_message(
        &self,
        conn: &RoomsWriteConn,
        message: String,
    ) -> Result<String, RoomsWriteClose> {
        Ok(opened_with(conn.params(), conn.query(), &message))
    }
}

/// Echoes, for the endpoints whose spec limits a client's message rate.
struct Metered;

impl MeteredStrictHandler for Metered {
    async fn on_message(
        &self,
        _conn: &MeteredStrictConn,
        message: String,
    ) -> Result<String, MeteredStrictClose> {
        Ok(message)
    }
}

impl MeteredLenientHandler for Metered {
    async fn on_message(
        &self,
        _conn: &MeteredLenientConn,
        message: String,
    ) -> Result<String, MeteredLenientClose> {
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
        metered_strict: Metered,
        metered_lenient: Metered,
        rooms_read: Rooms,
        rooms_write: Rooms,
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
        metered_strict: Metered,
        metered_lenient: Metered,
        rooms_read: Rooms,
        rooms_write: Rooms,
    };
    let url = serve(handlers.into_server()).await;
    let mut client = within(BagsEchoClient::connect(&url)).await.unwrap();
    // What the TypeScript client reads as text: no `errorList` list, or status 200.
    for looks_like in [
        r#"{"statusCode":200,"body":{"errorList":[]}}"#,
        r#"{"statusCode":400,"body":{}}"#,
        r#"{"statusCode":"400","body":{"errorList":[]}}"#,
        r#"{"statusCode":400,"body":{"errorList":[]}"#,
    ] {
        client.send(looks_like.to_owned()).await.unwrap();
        assert_eq!(within(client.recv()).await.unwrap(), looks_like);
    }
    // What it reads as a rejection, so does the Rust client: a JSON object with a numeric
    // `statusCode`, in any key order and with any JSON whitespace (review: the Rust client
    // read these three as messages, the TypeScript client as rejections).
    for reply in [
        r#"{"statusCode":400,"body":{"errorList":[{"loc":["a"]}]}}"#,
        r#"{ "statusCode": 400, "body": {"errorList": [{"loc": ["a"]}]} }"#,
        r#"{"body": {"errorList": [{"loc": ["a"]}]}, "statusCode": 400}"#,
        r#" {"statusCode":400,"body":{"errorList":[{"loc":["a"]}]}}"#,
    ] {
        client.send(reply.to_owned()).await.unwrap();
        match within(client.recv()).await {
            Err(ClientError::Rejected {
                status: 400,
                errors,
            }) => assert_eq!(errors[0].loc, ["a"], "{reply}"),
            other => panic!("{reply}: expected a rejection, got {other:?}"),
        }
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
        metered_strict: Metered,
        metered_lenient: Metered,
        rooms_read: Rooms,
        rooms_write: Rooms,
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
    use wsgen_runtime::codegen::{JsonMessage, Validator};
    let check = |n: u64, below: i64| {
        let mut v = Validator::new();
        Big { n, below }.validate(&mut v);
        v.finish().map_err(|errors| errors.len())
    };
    // Rounded through f64, the bounds were 9007199254740992 and -9007199254740992.
    assert_eq!(check(9_007_199_254_740_993, -9_007_199_254_740_993), Ok(()));
    assert_eq!(check(9_007_199_254_740_994, -9_007_199_254_740_994), Err(2));
}

/// Texts whose echo only looks like an error reply, and one that is one, for both clients.
const LOOKALIKES: &[&str] = &[
    r#"{ "statusCode": 400, "body": {"errorList": []} }"#,
    r#"{"body": {"errorList": []}, "statusCode": 400}"#,
    r#" {"statusCode":400,"body":{"errorList":[]}}"#,
    r#"{"statusCode":200,"body":{"errorList":[]}}"#,
    r#"{"statusCode":400,"body":{}}"#,
    r#"{"statusCode":400,"body":{"errorList":[1]}}"#,
    r#"{"statusCode":422,"body":{"errorList":[]}}"#,
    r#"{"statusCode":400,"body":{"errorList":[{"loc":["a",1],"msg":"m"},{"loc":[]}]}}"#,
    r#"{"statusCode":400,"body":{"errorList":[null]}}"#,
    r#"{"statusCode":400,"body":{"errorList":[]}"#,
    "plain",
];

/// Path parameter values for both clients (`.` and `..` are left out: URL parsing in the
/// TypeScript client folds them).
const NAMES: &[&str] = &["", "a b", "ünï/code", "x%y"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_client_reads_every_answer_as_the_rust_client_does() {
    browser::dependencies();
    let handlers = Handlers {
        bags_put: Keep(Arc::default()),
        bags_echo: Echo,
        bags_greet: Greet,
        metered_strict: Metered,
        metered_lenient: Metered,
        rooms_read: Rooms,
        rooms_write: Rooms,
    };
    let url = serve(handlers.into_server()).await;

    let mut rust = serde_json::json!({"echo": [], "greet": []});
    let mut client = within(BagsEchoClient::connect(&url)).await.unwrap();
    for text in LOOKALIKES {
        client.send((*text).to_owned()).await.unwrap();
        let seen = match within(client.recv()).await {
            Ok(message) => format!("message {message}"),
            Err(ClientError::Rejected { status, errors }) => {
                format!("rejected {status}: {}", errors.len())
            }
            Err(ClientError::Decode(_)) => "decode error".to_owned(),
            Err(other) => format!("error {other}"),
        };
        rust["echo"].as_array_mut().unwrap().push(seen.into());
    }
    for name in NAMES {
        let params = BagsGreetParams {
            name: (*name).to_owned(),
        };
        let mut client = within(BagsGreetClient::connect(&url, &params))
            .await
            .unwrap();
        client.send("hi".to_owned()).await.unwrap();
        let seen = format!("message {}", within(client.recv()).await.unwrap());
        rust["greet"].as_array_mut().unwrap().push(seen.into());
    }

    let root = browser::root();
    let dir = tempfile::tempdir().unwrap();
    browser::write_typescript(&root.join("examples/specs/wire_edges.yaml"), dir.path());
    std::fs::copy(
        root.join("tests/typescript/wire_edges_run.ts"),
        dir.path().join("wire_edges_run.ts"),
    )
    .unwrap();
    std::fs::copy(
        root.join("tests/typescript/wire-edges-runner.mjs"),
        dir.path().join("runner.mjs"),
    )
    .unwrap();
    std::fs::write(dir.path().join("package.json"), r#"{ "type": "module" }"#).unwrap();
    let tsc = std::process::Command::new(root.join("tests/interop/node/node_modules/.bin/tsc"))
        .args([
            "--strict",
            "--target",
            "es2020",
            "--module",
            "es2020",
            "--moduleResolution",
            "bundler",
            "--lib",
            "es2020,dom",
            "--outDir",
        ])
        .arg(dir.path())
        .arg(dir.path().join("wire_edges.ts"))
        .arg(dir.path().join("wire_edges_run.ts"))
        .output()
        .unwrap();
    assert!(
        tsc.status.success(),
        "{}",
        String::from_utf8_lossy(&tsc.stdout)
    );
    let input = serde_json::json!({"texts": LOOKALIKES, "names": NAMES}).to_string();
    let node = tokio::process::Command::new("node")
        .arg(dir.path().join("runner.mjs"))
        .arg(&url)
        .arg(root.join("tests/interop/node/package.json"))
        .arg(input)
        .kill_on_drop(true)
        .output();
    let node = tokio::time::timeout(std::time::Duration::from_secs(60), node)
        .await
        .expect("node finished within 60s")
        .unwrap();
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let stdout = String::from_utf8_lossy(&node.stdout);
    let typescript: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default())
            .unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout}"));
    assert_eq!(typescript, rust);
}

fn metered_server() -> wsgen_runtime::Server {
    Handlers {
        bags_put: Keep(Arc::default()),
        bags_echo: Echo,
        bags_greet: Greet,
        metered_strict: Metered,
        metered_lenient: Metered,
        rooms_read: Rooms,
        rooms_write: Rooms,
    }
    .into_server()
}

/// Sends `count` numbered messages as fast as the socket takes them (errors ignored: the server
/// may close meanwhile).
async fn flood(ws: &mut common::Raw, count: usize) {
    use futures_util::SinkExt;
    for i in 0..count {
        if ws.feed(Message::text(format!("flood {i}"))).await.is_err() {
            break;
        }
    }
    let _ = ws.flush().await;
}

/// A client sending 10 messages a second, half the endpoint's rate: every message is answered,
/// in order, and the connection stays open.
async fn polite(url: String, path: &'static str) {
    let mut ws = within(raw(&url, path)).await;
    for i in 0..10 {
        let said = format!("polite {i}");
        assert_eq!(text(roundtrip(&mut ws, &said).await), said);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ws.close(None).await.unwrap();
}

#[tokio::test]
async fn a_client_over_its_message_rate_is_closed_while_a_polite_one_is_served() {
    use futures_util::StreamExt;
    let url = serve(metered_server()).await;
    let polite = tokio::spawn(polite(url.clone(), "/metered/strict"));
    let mut flooder = within(raw(&url, "/metered/strict")).await;
    flood(&mut flooder, 500).await;
    // The burst is answered, then the connection is closed with 1008.
    let mut answered = 0;
    let frame = loop {
        match within(flooder.next()).await {
            Some(Ok(Message::Text(_))) => answered += 1,
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected replies and a close, got {other:?}"),
        }
    };
    let frame = frame.expect("a close frame with a code");
    assert_eq!(u16::from(frame.code), 1008);
    assert_eq!(frame.reason.as_str(), "message rate exceeded");
    assert!((5..500).contains(&answered), "{answered} answered");
    within(polite).await.unwrap();
}

#[tokio::test]
async fn messages_over_the_rate_are_dropped_and_the_client_stays() {
    use futures_util::{SinkExt, StreamExt};
    let url = serve(metered_server()).await;
    let polite = tokio::spawn(polite(url.clone(), "/metered/lenient"));
    let mut flooder = within(raw(&url, "/metered/lenient")).await;
    flood(&mut flooder, 500).await;
    // After a pause that refills the bucket, a marker gets through: the connection stayed.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    flooder.send(Message::text("marker")).await.unwrap();
    let mut answered = 0;
    loop {
        match within(flooder.next()).await {
            Some(Ok(Message::Text(t))) if t.as_str() == "marker" => break,
            Some(Ok(Message::Text(t))) => {
                assert!(t.starts_with("flood"), "{t}");
                answered += 1;
            }
            other => panic!("expected replies up to the marker, got {other:?}"),
        }
    }
    // The burst and what the rate refilled while the flood arrived, not the whole flood.
    assert!((5..500).contains(&answered), "{answered} answered");
    within(polite).await.unwrap();
}

#[tokio::test]
async fn endpoints_naming_the_same_inputs_share_one_params_and_one_query_type() {
    let url = serve(metered_server()).await;
    // One value of each type serves both endpoints' clients: the types are the same.
    let params = RoomParams { room_id: 7 };
    let query = RoomQuery {
        token: "t&k".to_owned(),
        verbose: Some(true),
    };
    let mut read = within(RoomsReadClient::connect(&url, &params, &query))
        .await
        .unwrap();
    let mut write = within(RoomsWriteClient::connect(&url, &params, &query))
        .await
        .unwrap();
    for (client, said) in [("read", "r"), ("write", "w")] {
        let answer = match client {
            "read" => {
                within(read.send(said.to_owned())).await.unwrap();
                within(read.recv()).await.unwrap()
            }
            _ => {
                within(write.send(said.to_owned())).await.unwrap();
                within(write.recv()).await.unwrap()
            }
        };
        assert_eq!(
            answer,
            format!("{said} in room 7 for t&k (verbose Some(true))")
        );
    }
    // The shared inputs are checked as an endpoint's own: a missing token refuses with 400.
    let (status, reason) = common::refusal(&url, "/rooms/7/write", &[]).await;
    assert_eq!(status, 400, "{reason}");
    assert!(reason.contains("token"), "{reason}");
}
