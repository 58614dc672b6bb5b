//! The generated TypeScript client (`wsgen generate --target typescript`):
//! - every module generated from the example and valid test specs type-checks with `tsc`
//!   under `--strict` and the stricter options projects turn on, with and without the DOM types;
//! - a mode violation (sending on a send-only endpoint, receiving on a receive-only one) fails
//!   `tsc` with the error that names the missing method, while the same file without it compiles;
//! - headless Chromium, and Node with the `ws` package, run an exchange with the generated
//!   client against a generated Rust server on 127.0.0.1: typed messages, a validation error,
//!   server pushes, typed query parameters, text and binary frames, and the typed close.
//!
//! TypeScript, `ws` and Chromium are installed by `scripts/interop-deps.sh`; when it cannot,
//! these tests fail with its output instead of skipping.

#[path = "common/browser.rs"]
mod browser;
#[path = "../examples/echo/server.rs"]
mod echo_server;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use browser::{Route, chromium_report, dependencies, every_valid_spec, page_server, root};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// The options a demanding project compiles with, on top of `--strict`.
const STRICT: &[&str] = &[
    "--strict",
    "--noUnusedLocals",
    "--noUnusedParameters",
    "--noImplicitReturns",
    "--noFallthroughCasesInSwitch",
    "--noUncheckedIndexedAccess",
    "--exactOptionalPropertyTypes",
    "--erasableSyntaxOnly",
    "--isolatedModules",
    "--target",
    "es2020",
    "--module",
    "es2020",
    "--moduleResolution",
    "bundler",
];

fn tsc(args: &[&str], files: &[PathBuf]) -> Output {
    let tsc = root().join("tests/interop/node/node_modules/.bin/tsc");
    std::process::Command::new(&tsc)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}", tsc.display()))
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Writes the TypeScript module for `spec` into `dir`; returns its path.
fn generate(spec: &Path, dir: &Path) -> PathBuf {
    let files = wsgen::generate_target(spec, wsgen::Target::TypeScript)
        .unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    assert_eq!(files.len(), 1);
    let path = dir.join(&files[0].path);
    std::fs::write(&path, &files[0].contents).unwrap();
    path
}

#[test]
fn every_generated_module_type_checks_under_strict_settings() {
    dependencies();
    let dir = tempfile::tempdir().unwrap();
    // The example specs, and the valid test specs (every limit key, primitive messages, ...).
    let specs = every_valid_spec();
    let files: Vec<PathBuf> = specs.iter().map(|s| generate(s, dir.path())).collect();
    assert!(files.len() >= 11, "every example and valid test spec");
    // Without the DOM types (a Node project) and with them (a browser project).
    for lib in ["es2020", "es2020,dom"] {
        let mut args = STRICT.to_vec();
        args.extend(["--noEmit", "--lib", lib]);
        let output = tsc(&args, &files);
        assert!(
            output.status.success(),
            "tsc --lib {lib}:\n{}",
            text(&output)
        );
    }
}

/// A file using the echo client, with `line` (a mode violation, or nothing) inside.
fn usage(line: &str) -> String {
    format!(
        r#"import {{ EchoFeedClient, EchoQuietClient, type WebSocketConstructor }} from "./echo.js";

// The browser's WebSocket fits the client's options.
const ctor: WebSocketConstructor = WebSocket;

export async function use(base: string): Promise<number> {{
  const signal = AbortSignal.timeout(5000);
  const feed = await EchoFeedClient.connect(base, {{ count: 3 }}, {{ WebSocket: ctor, signal }});
  const quiet = await EchoQuietClient.connect(base);
  quiet.send("hello");
  const tick = await feed.recv();
  {line}
  return tick.type === "tick" ? tick.n : 0;
}}
"#
    )
}

#[test]
fn a_mode_violation_fails_to_compile() {
    dependencies();
    let dir = tempfile::tempdir().unwrap();
    let echo = generate(&root().join("examples/specs/echo.yaml"), dir.path());
    let compile = |name: &str, line: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, usage(line)).unwrap();
        let mut args = STRICT.to_vec();
        args.extend(["--noEmit", "--lib", "es2020,dom"]);
        tsc(&args, &[echo.clone(), file])
    };

    let fine = compile("fine.ts", "");
    assert!(fine.status.success(), "{}", text(&fine));

    let violation = r#"feed.send({ type: "tick", n: 1 });"#;
    let sends = compile("sends.ts", violation);
    assert!(
        !sends.status.success(),
        "sending on a send-only endpoint compiled"
    );
    let line = usage(violation)
        .lines()
        .position(|l| l.contains(violation))
        .unwrap()
        + 1;
    let expected = format!(
        "sends.ts({line},8): error TS2339: Property 'send' does not exist on type 'EchoFeedClient'."
    );
    assert!(text(&sends).contains(&expected), "{}", text(&sends));

    let receives = compile("receives.ts", "await quiet.recv();");
    assert!(
        !receives.status.success(),
        "receiving on a receive-only endpoint compiled"
    );
    assert!(
        text(&receives)
            .contains("error TS2339: Property 'recv' does not exist on type 'EchoQuietClient'."),
        "{}",
        text(&receives)
    );

    let wrong = compile("wrong.ts", r#"quiet.send(42);"#);
    assert!(
        !wrong.status.success(),
        "sending a number where text is expected compiled"
    );
    assert!(text(&wrong).contains("error TS2345"), "{}", text(&wrong));
}

/// Issue 22, point 9: an explicit `undefined` for an optional property (query parameters and
/// connect options too) under `exactOptionalPropertyTypes`, a union variant carrying an empty
/// struct, message types assignable to `Json`, a typed `ClosedError.close`, and 64-bit
/// parameters as `bigint` or string all compile (tests/typescript/types.ts).
#[test]
fn the_client_types_fit_what_programs_write() {
    dependencies();
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = match std::env::var_os("WSGEN_TS_CLIENTS") {
        Some(from) => ["echo.ts", "stress.ts"]
            .iter()
            .map(|name| {
                let to = dir.path().join(name);
                std::fs::copy(Path::new(&from).join(name), &to).unwrap();
                to
            })
            .collect(),
        None => ["examples/specs/echo.yaml", "tests/typescript/stress.yaml"]
            .iter()
            .map(|spec| generate(&root().join(spec), dir.path()))
            .collect(),
    };
    let types = dir.path().join("types.ts");
    std::fs::copy(root().join("tests/typescript/types.ts"), &types).unwrap();
    files.push(types);
    for lib in ["es2020", "es2020,dom"] {
        let mut args = STRICT.to_vec();
        args.extend(["--noEmit", "--lib", lib]);
        let output = tsc(&args, &files);
        assert!(
            output.status.success(),
            "tsc --lib {lib}:\n{}",
            text(&output)
        );
    }
}

/// Compiles the exchange, the stress cases and the generated echo and stress clients to
/// JavaScript modules in a new directory, with the test page and the Node runner beside them.
///
/// `WSGEN_TS_CLIENTS=DIR` compiles the clients in `DIR` instead (to see the tests fail on an
/// older client).
fn compiled_exchange() -> tempfile::TempDir {
    match std::env::var_os("WSGEN_TS_CLIENTS") {
        Some(dir) => compiled_with(Some(Path::new(&dir))),
        None => compiled_with(None),
    }
}

/// As `compiled_exchange`, with `clients` (a directory holding `echo.ts` and `stress.ts`, such
/// as an older version of the generated modules) instead of today's generated clients; those
/// are compiled without type checks, for the old client's types may not fit the new tests.
fn compiled_with(clients: Option<&Path>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let modules = match clients {
        None => vec![
            generate(&root().join("examples/specs/echo.yaml"), dir.path()),
            generate(&root().join("tests/typescript/stress.yaml"), dir.path()),
        ],
        Some(from) => ["echo.ts", "stress.ts"]
            .iter()
            .map(|name| {
                let to = dir.path().join(name);
                std::fs::copy(from.join(name), &to).unwrap();
                to
            })
            .collect(),
    };
    let mut files = modules;
    for script in ["exchange.ts", "stress-cases.ts"] {
        let to = dir.path().join(script);
        std::fs::copy(root().join("tests/typescript").join(script), &to).unwrap();
        files.push(to);
    }
    let out = dir.path().to_str().unwrap();
    let mut args = STRICT.to_vec();
    args.extend(["--lib", "es2020,dom", "--outDir", out]);
    if clients.is_some() {
        args.push("--noCheck");
    }
    let output = tsc(&args, &files);
    assert!(output.status.success(), "{}", text(&output));
    for file in ["page.html", "node-runner.mjs"] {
        std::fs::copy(
            root().join("tests/typescript").join(file),
            dir.path().join(file),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("package.json"), r#"{ "type": "module" }"#).unwrap();
    dir
}

/// Serves the echo handlers on 127.0.0.1; returns the base URL.
async fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(echo_server::handlers().into_server().serve(listener));
    url
}

/// The checks every run of the exchange must pass.
fn check(report: &Value) {
    assert!(report.get("failure").is_none(), "{report}");
    assert_eq!(report["welcome"]["type"], "welcome", "{report}");
    assert!(
        report["welcome"]["session"].as_u64().is_some_and(|s| s > 0),
        "{report}"
    );
    assert_eq!(report["echo"]["type"], "note", "{report}");
    assert_eq!(report["echo"]["id"], 1, "{report}");
    let client = report["client"].as_str().unwrap();
    assert_eq!(
        report["echo"]["text"],
        format!("hello from {client}"),
        "{report}"
    );
    assert_eq!(
        report["rejected"],
        json!({"isRejectedError": true, "status": 400, "errors": [
            {"loc": ["text"], "type": "string_too_short", "msg": "String should have at least 1 characters"}
        ]}),
        "{report}"
    );
    // The ticks are pushed before the reply is returned, and arrive in that order.
    assert_eq!(
        report["pushes"],
        json!([
            {"type": "tick", "n": 1},
            {"type": "tick", "n": 2},
            {"type": "tick", "n": 3},
            {"type": "pushed", "count": 3}
        ]),
        "{report}"
    );
    assert_eq!(
        report["close"],
        json!({"condition": "Goodbye", "code": 4000, "reason": "goodbye"}),
        "{report}"
    );
    assert_eq!(report["afterClose"], "ClosedError 4000", "{report}");
    assert_eq!(report["feed"], json!([1, 2, 3]), "{report}");
    assert_eq!(
        report["feedClose"],
        json!({"condition": null, "code": 1000}),
        "{report}"
    );
    assert_eq!(report["text"], "plain text ✓", "{report}");
    assert_eq!(report["binary"], json!([0, 1, 2, 254, 255]), "{report}");
    assert_eq!(report["handshake"], "after the handshake", "{report}");
    // The body of `{"statusCode": 200, "body": ..}`, and the rejection before it to onError.
    assert_eq!(
        report["enveloped"],
        json!({"note": {"id": 10, "text": "wrapped"}, "rejected": ["text: string_too_short"], "errorsSeen": 1}),
        "{report}"
    );
    assert!(
        report["refused"]
            .as_str()
            .unwrap()
            .starts_with("could not connect"),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_runs_the_generated_client_against_a_generated_server() {
    dependencies();
    let dir = compiled_exchange();
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(1);
    let js = "text/javascript";
    let origin = page_server(
        report_tx,
        vec![
            Route {
                path: "/",
                file: dir.path().join("page.html"),
                content_type: "text/html; charset=utf-8",
            },
            Route {
                path: "/exchange.js",
                file: dir.path().join("exchange.js"),
                content_type: js,
            },
            Route {
                path: "/echo.js",
                file: dir.path().join("echo.js"),
                content_type: js,
            },
        ],
    )
    .await;
    let server = echo_server().await;
    let report = chromium_report(&format!("{origin}/?ws={server}"), &mut report_rx).await;
    assert!(
        report["client"]
            .as_str()
            .unwrap_or_default()
            .contains("Chrome"),
        "{report}"
    );
    check(&report);
}

/// Runs `node-runner.mjs` in `dir` with `config` (see the runner); returns its report.
async fn node_report(dir: &Path, config: Value) -> Value {
    let mut config = config;
    config["home"] = json!(root().join("tests/interop/node/package.json"));
    let child = tokio::process::Command::new("node")
        .arg(dir.join("node-runner.mjs"))
        .arg(config.to_string())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(Duration::from_secs(300), child.wait_with_output())
        .await
        .expect("node finished within 300s")
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {}", text(&output)))
}

/// The exchange in Node with `socket` ("ws" or "undici") as the WebSocket implementation.
async fn node_exchange(socket: &str) {
    dependencies();
    let dir = compiled_exchange();
    let server = echo_server().await;
    let config = json!({"socket": socket, "run": "exchange", "echo": server});
    let report = node_report(dir.path(), config).await;
    assert!(
        report["client"]
            .as_str()
            .unwrap_or_default()
            .contains(&format!(" {socket} ")),
        "{report}"
    );
    check(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runs_the_generated_client_with_the_ws_package() {
    node_exchange("ws").await;
}

/// undici's WebSocket is Node 22+'s global one (undici 6 there, as here).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runs_the_generated_client_with_undici() {
    node_exchange("undici").await;
}

/// A server that misbehaves in the ways the stress cases need, by the first path segment:
/// - `/flood/...?count=N`: N ticks at once, then a close (1000);
/// - `/flood-open/...?count=N`: N ticks at once, then nothing (the client closes);
/// - `/silent/...`: takes the TCP connection and never answers the upgrade;
/// - `/mute/...`: accepts the upgrade and never answers the protocol handshake;
/// - `/handshake-close/...`: answers the handshake with a close (4000, `go away`);
/// - `/auth/...`: 401 unless `Authorization: Bearer t0k3n` or the subprotocol `bearer.t0k3n`
///   comes with the upgrade; then a welcome message.
///
/// Returns its base URL.
async fn adversary() -> String {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
    use tokio_tungstenite::tungstenite::http::HeaderValue;
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                // The request line, without taking it from the stream.
                let mut head = vec![0; 8192];
                let target = loop {
                    let Ok(n) = stream.peek(&mut head).await else {
                        return;
                    };
                    let seen = String::from_utf8_lossy(&head[..n]).into_owned();
                    if seen.contains("\r\n") || n == head.len() {
                        break seen.split_whitespace().nth(1).unwrap_or("/").to_owned();
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                };
                let route = target
                    .trim_start_matches('/')
                    .split(['/', '?'])
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let count: u32 = target
                    .split_once("count=")
                    .and_then(|(_, n)| n.split('&').next()?.parse().ok())
                    .unwrap_or(0);
                if route == "silent" {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    drop(stream);
                    return;
                }
                let auth = route == "auth";
                let check = move |request: &Request, mut response: Response| {
                    if !auth {
                        return Ok(response);
                    }
                    let header = |name: &str| {
                        request
                            .headers()
                            .get(name)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned()
                    };
                    if header("sec-websocket-protocol")
                        .split(',')
                        .any(|p| p.trim() == "bearer.t0k3n")
                    {
                        response.headers_mut().insert(
                            "sec-websocket-protocol",
                            HeaderValue::from_static("bearer.t0k3n"),
                        );
                        Ok(response)
                    } else if header("authorization") == "Bearer t0k3n" {
                        Ok(response)
                    } else {
                        let mut refusal = ErrorResponse::new(Some("no credentials".to_owned()));
                        *refusal.status_mut() =
                            tokio_tungstenite::tungstenite::http::StatusCode::UNAUTHORIZED;
                        Err(refusal)
                    }
                };
                let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
                    return;
                };
                let tick = |n: u32| Message::text(format!(r#"{{"type":"tick","n":{n}}}"#));
                match route.as_str() {
                    "flood" | "flood-open" => {
                        for n in 1..=count {
                            if ws.feed(tick(n)).await.is_err() {
                                return;
                            }
                        }
                        let _ = ws.flush().await;
                        if route == "flood" {
                            let frame = CloseFrame {
                                code: CloseCode::Normal,
                                reason: "".into(),
                            };
                            let _ = ws.close(Some(frame)).await;
                        }
                    }
                    "handshake-close" => {
                        let _ = ws.next().await;
                        let frame = CloseFrame {
                            code: CloseCode::from(4000),
                            reason: "go away".into(),
                        };
                        let _ = ws.close(Some(frame)).await;
                    }
                    "auth" => {
                        let welcome = r#"{"type":"welcome","session":7}"#;
                        let _ = ws.send(Message::text(welcome)).await;
                    }
                    _ => {}
                }
                while let Some(Ok(_)) = ws.next().await {}
            });
        }
    });
    url
}

/// A `ws://` URL nothing listens at (a port that was just free).
fn refused_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    format!("ws://{}", listener.local_addr().unwrap())
}

/// The stress cases' report in Node with `socket` ("ws" or "undici").
async fn node_stress(socket: &str) -> Value {
    dependencies();
    let dir = compiled_exchange();
    let config = json!({
        "socket": socket,
        "run": "stress",
        "echo": echo_server().await,
        "adversary": adversary().await,
        "refused": refused_url(),
    });
    node_report(dir.path(), config).await
}

/// Which WebSocket implementation ran the stress cases: each says different things (or
/// nothing) about why a connection failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Socket {
    Ws,
    Undici,
    Chromium,
}

/// The checks for every stress case (issue 22's points); `socket` decides what a failed
/// connection can say.
fn check_stress(report: &Value, socket: Socket) {
    let says = socket == Socket::Ws;
    let plain = json!({"error": "ConnectError"});
    // 1. connect settles when the upgrade fails (undici 6: `error`, never `close`), with a
    // typed error (8): the `ws` package names the status and the system error.
    let settles = &report["connectSettles"];
    let (not_found, refused) = if says {
        (
            json!({"error": "ConnectStatusError", "status": 404}),
            json!({"error": "ConnectNetworkError", "code": "ECONNREFUSED"}),
        )
    } else {
        (plain.clone(), plain.clone())
    };
    assert_eq!(settles["notFound"], not_found, "1. {settles}");
    assert_eq!(settles["refused"], refused, "1. {settles}");

    // 2. 100k unread messages: linear, the event loop never stalls long, a late listener
    // takes them all in order.
    let flood = &report["flood"];
    assert_eq!(flood["closed"]["code"], 1000, "2. {flood}");
    assert_eq!(flood["handed"], 100_000, "2. {flood}");
    assert_eq!(flood["ordered"], true, "2. {flood}");
    assert!(
        flood["arrivedMs"].as_f64().unwrap() < 15_000.0,
        "2. {flood}"
    );
    assert!(flood["maxGapMs"].as_f64().unwrap() < 2_000.0, "2. {flood}");
    assert!(
        flood["handoverMs"].as_f64().unwrap() < 5_000.0,
        "2. {flood}"
    );
    // ... and past `maxUnread` the client closes with 1008; what it kept is still read.
    let bounded = &report["bounded"];
    assert_eq!(bounded["closed"]["code"], 1008, "2. {bounded}");
    assert_eq!(bounded["kept"], 1000, "2. {bounded}");
    assert_eq!(bounded["after"]["error"], "ClosedError", "2. {bounded}");
    assert_eq!(bounded["after"]["close"]["code"], 1008, "2. {bounded}");

    // 3. No unhandled rejection; the error keeps its place whichever listener comes first.
    let errors = &report["errorsInOrder"];
    assert_eq!(errors["unhandled"], 0, "3. {errors}");
    assert_eq!(errors["unhandledAfter"], 0, "3. {errors}");
    assert_eq!(
        errors["onlyMessages"],
        json!(["note 2", "error RejectedError"]),
        "3. {errors}"
    );
    let in_order = json!(["note 1", "error RejectedError", "note 3"]);
    assert_eq!(errors["onError"], in_order, "3. {errors}");
    assert_eq!(errors["onMessage"], in_order, "3. {errors}");

    // 4. A shared signal's listeners are all removed.
    assert_eq!(
        report["signalReleased"],
        json!({"listening": 0}),
        "4. {report}"
    );

    // 5. A recv that gave up takes no message.
    let abandoned = &report["abandonedRecv"];
    assert_eq!(
        abandoned["timedOut"],
        json!({"error": "RecvTimeoutError", "timeout": 100}),
        "5. {abandoned}"
    );
    assert_eq!(
        abandoned["abortedWith"],
        json!({"thrown": "changed my mind"}),
        "5. {abandoned}"
    );
    assert_eq!(abandoned["next"], "after", "5. {abandoned}");

    // 6. Connecting gives up: no upgrade answer, no handshake answer.
    let timeout = json!({"error": "ConnectTimeoutError", "timeout": 300});
    assert_eq!(report["connectTimeout"]["silent"], timeout, "6. {report}");
    assert_eq!(report["connectTimeout"]["mute"], timeout, "6. {report}");

    // 7. Credentials: headers from Node; a browser refuses them instead of connecting without.
    let credentials = &report["credentials"];
    let welcome = json!({"type": "welcome", "session": 7});
    if socket == Socket::Chromium {
        assert_eq!(
            credentials["headers"],
            json!({"error": "TypeError"}),
            "7. {credentials}"
        );
    } else {
        assert_eq!(credentials["headers"], welcome, "7. {credentials}");
    }
    assert_eq!(credentials["protocol"], welcome, "7. {credentials}");
    let unauthorized = if says {
        json!({"error": "ConnectStatusError", "status": 401})
    } else {
        plain.clone()
    };
    assert_eq!(credentials["none"], unauthorized, "7. {credentials}");

    // 8. Typed connect errors.
    let connect = &report["connectErrors"];
    assert_eq!(connect["unauthorized"], unauthorized, "8. {connect}");
    assert_eq!(
        connect["aborted"],
        json!({"error": "ConnectAbortedError", "reason": "stop"}),
        "8. {connect}"
    );
    assert_eq!(
        connect["closedInHandshake"],
        json!({"error": "ClosedError", "close": {"condition": null, "code": 4000, "reason": "go away"}}),
        "8. {connect}"
    );

    // 10. The smaller points.
    let smaller = &report["smaller"];
    assert_eq!(
        smaller["urls"],
        json!([
            "ws://host/base/s/float/%2E%2E/18446744073709551615?token=a%20b&big=1180591620717411303424",
            "ws://host/s/float/%2E/12345678901234567890?big=9007199254740993"
        ]),
        "10. {smaller}"
    );
    assert_eq!(
        smaller["numbers"],
        json!(["Infinity", "-Infinity", "NaN", "1.5"]),
        "10. {smaller}"
    );
    assert_eq!(smaller["foreign"], json!([1, 2, 3]), "10. {smaller}");
    assert_eq!(smaller["calls"], json!(["first"]), "10. {smaller}");
    let rejected = json!({"error": "RejectedError", "status": 400, "errors": [
        {"loc": ["text"], "type": "string_too_short", "msg": "short"}
    ]});
    assert_eq!(smaller["reordered"], rejected, "10. {smaller}");
    assert_eq!(smaller["spaced"], rejected, "10. {smaller}");
    assert_eq!(
        smaller["body"],
        json!({"id": 1, "text": "a"}),
        "10. {smaller}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runs_the_stress_cases_with_the_ws_package() {
    let report = node_stress("ws").await;
    eprintln!("{report}");
    check_stress(&report, Socket::Ws);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runs_the_stress_cases_with_undici() {
    let report = node_stress("undici").await;
    eprintln!("{report}");
    check_stress(&report, Socket::Undici);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_runs_the_stress_cases() {
    dependencies();
    let dir = compiled_exchange();
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(1);
    let js = "text/javascript";
    let script = |path: &'static str| Route {
        path,
        file: dir.path().join(path.trim_start_matches('/')),
        content_type: js,
    };
    let origin = page_server(
        report_tx,
        vec![
            Route {
                path: "/",
                file: dir.path().join("page.html"),
                content_type: "text/html; charset=utf-8",
            },
            script("/stress-cases.js"),
            script("/stress.js"),
            script("/echo.js"),
        ],
    )
    .await;
    let page = format!(
        "{origin}/?run=stress&ws={}&adversary={}&refused={}",
        echo_server().await,
        adversary().await,
        refused_url()
    );
    let report = chromium_report(&page, &mut report_rx).await;
    eprintln!("{report}");
    assert!(report.get("failure").is_none(), "{report}");
    check_stress(&report, Socket::Chromium);
}
