//! The generated TypeScript client (`wsgen generate --target typescript`):
//! - every module generated from the example and valid test specs type-checks with `tsc`
//!   under `--strict` and the stricter options projects turn on, with and without the DOM types;
//! - a mode violation (sending on a send-only endpoint, receiving on a receive-only one) fails
//!   `tsc` with the error that names the missing method, while the same file without it compiles;
//! - headless Chromium, and Node with the `ws` package, run an exchange with the generated
//!   client against a generated Rust server on 127.0.0.1: typed messages, a validation error,
//!   server pushes, typed query parameters, text and binary frames, and the typed close.
//!
//! TypeScript, `ws` and Chromium are installed by `scripts/deps.sh interop`; when it cannot,
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

/// Compiles the exchange and the generated echo client to JavaScript modules in a new
/// directory, with the test page and the Node runner beside them.
fn compiled_exchange() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let echo = generate(&root().join("examples/specs/echo.yaml"), dir.path());
    let exchange = dir.path().join("exchange.ts");
    std::fs::copy(root().join("tests/typescript/exchange.ts"), &exchange).unwrap();
    let out = dir.path().to_str().unwrap();
    let mut args = STRICT.to_vec();
    args.extend(["--lib", "es2020,dom", "--outDir", out]);
    let output = tsc(&args, &[echo, exchange]);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_runs_the_generated_client_with_the_ws_package() {
    dependencies();
    let dir = compiled_exchange();
    let server = echo_server().await;
    let ws_home = root().join("tests/interop/node/package.json");
    let child = tokio::process::Command::new("node")
        .arg(dir.path().join("node-runner.mjs"))
        .arg(&server)
        .arg(&ws_home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("node finished within 60s")
        .unwrap();
    assert!(output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout}"));
    assert!(
        report["client"]
            .as_str()
            .unwrap_or_default()
            .contains(" ws "),
        "{report}"
    );
    check(&report);
}
