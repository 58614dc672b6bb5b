//! Interop with clients nobody here wrote: Python's `websockets` (PyPI), Node's `ws` (npm) and
//! headless Chromium opening `new WebSocket(...)` from a page this test serves. Each runs the
//! same exchange against a generated server (the echo spec) on 127.0.0.1: the welcome push, a
//! typed note echoed, a validation error envelope, server pushes, and the typed close whose
//! code and reason the client reports. The browser also shows that a server which does not
//! allow the page's origin refuses it before the upgrade.
//!
//! The AsyncAPI export of every example spec is validated here too, with the official parser
//! (`@asyncapi/parser` from npm, installed with the Node client).
//!
//! `scripts/interop-deps.sh` installs the clients (idempotently); when it cannot, these tests
//! fail with its output instead of skipping.

#[path = "../examples/echo/server.rs"]
mod echo_server;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Runs the install script once per test process; every test gets its outcome.
fn dependencies() {
    static OUTCOME: Mutex<Option<Result<(), String>>> = Mutex::new(None);
    let mut outcome = OUTCOME.lock().unwrap_or_else(|p| p.into_inner());
    let result = outcome.get_or_insert_with(|| {
        let output = std::process::Command::new("bash")
            .arg(root().join("scripts/interop-deps.sh"))
            .output()
            .map_err(|e| format!("could not run scripts/interop-deps.sh: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "scripts/interop-deps.sh failed ({}):\n{}{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ))
        }
    });
    if let Err(why) = result {
        panic!("the interop clients are not installed: {why}");
    }
}

/// Serves the echo handlers on 127.0.0.1; returns the base URL.
async fn echo_server(allowed_origins: Option<Vec<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let mut server = echo_server::handlers().into_server();
    if let Some(origins) = allowed_origins {
        server = server.allow_origins(origins);
    }
    tokio::spawn(server.serve(listener));
    url
}

/// Runs a client program and parses the JSON report on its last line of output.
async fn run_client(program: PathBuf, args: &[&str]) -> Value {
    let child = Command::new(&program)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start {}: {e}", program.display()));
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the client finished within 60s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{} failed ({}):\n{stdout}\n{}",
        program.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).unwrap_or_else(|e| panic!("not a JSON report ({e}): {stdout}"))
}

/// The checks every client's report must pass.
fn check_exchange(report: &Value) {
    let client = &report["client"];
    assert_eq!(report["welcome"]["type"], "welcome", "{client}: {report}");
    assert!(
        report["welcome"]["session"].as_u64().is_some_and(|s| s > 0),
        "{report}"
    );
    let echo = &report["echo"];
    assert_eq!(echo["type"], "note", "{report}");
    assert_eq!(echo["id"], 1, "{report}");
    assert!(
        echo["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("hello from ")),
        "{report}"
    );
    assert_eq!(
        report["error"],
        json!({"statusCode": 400, "body": {"errorList": [
            {"loc": ["text"], "type": "string_too_short", "msg": "String should have at least 1 characters"}
        ]}}),
        "{client}"
    );
    assert_eq!(report["ticks"], json!([1, 2, 3]), "{report}");
    assert_eq!(report["pushed"], json!([3]), "{report}");
    assert_eq!(
        report["close"],
        json!({"code": 4000, "reason": "goodbye"}),
        "{report}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_completes_the_exchange() {
    dependencies();
    let url = echo_server(None).await;
    let python = root().join("target/interop/venv/bin/python");
    let script = root().join("tests/interop/python_client.py");
    let report = run_client(python, &[script.to_str().unwrap(), &url]).await;
    assert!(
        report["client"]
            .as_str()
            .unwrap()
            .starts_with("python websockets")
    );
    check_exchange(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_completes_the_exchange() {
    dependencies();
    let url = echo_server(None).await;
    let script = root().join("tests/interop/node/client.js");
    let report = run_client(PathBuf::from("node"), &[script.to_str().unwrap(), &url]).await;
    assert!(report["client"].as_str().unwrap().starts_with("node ws"));
    check_exchange(&report);
}

/// Serves the page and the shared script, and hands over the report the page posts.
async fn page_server(report: tokio::sync::mpsc::Sender<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        // Bounded: the page makes three requests (and a browser may ask for a favicon).
        for _ in 0..16 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let report = report.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head, body_start) = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (
                            String::from_utf8_lossy(&request[..end]).into_owned(),
                            end + 4,
                        );
                    }
                };
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while request.len() < body_start + length {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&chunk[..n]);
                }
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, kind, body) = if path.starts_with("/report") {
                    let body = String::from_utf8_lossy(&request[body_start..]).into_owned();
                    let _ = report.send(body).await;
                    ("200 OK", "text/plain", Vec::new())
                } else if path.starts_with("/exchange.js") {
                    let script =
                        std::fs::read(root().join("tests/interop/exchange.js")).unwrap_or_default();
                    ("200 OK", "text/javascript", script)
                } else if path == "/" || path.starts_with("/?") {
                    let page =
                        std::fs::read(root().join("tests/interop/page.html")).unwrap_or_default();
                    ("200 OK", "text/html; charset=utf-8", page)
                } else {
                    ("404 Not Found", "text/plain", Vec::new())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    origin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_completes_the_exchange_and_is_refused_from_a_foreign_origin() {
    dependencies();
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(1);
    let origin = page_server(report_tx).await;
    // The server the page talks to allows exactly the page's origin; the other one allows
    // only a different site, so the browser's upgrade there must be refused.
    let allowed = echo_server(Some(vec![origin.clone()])).await;
    let refusing = echo_server(Some(vec!["https://elsewhere.example".to_owned()])).await;
    let profile = tempfile::tempdir().unwrap();
    let page = format!("{origin}/?ws={allowed}&refused={refusing}");
    let mut browser = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(&page)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let received = tokio::time::timeout(Duration::from_secs(90), report_rx.recv()).await;
    let _ = browser.kill().await;
    let report = match received {
        Ok(Some(body)) => body,
        _ => {
            let mut stderr = String::new();
            if let Some(mut pipe) = browser.stderr.take() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), pipe.read_to_string(&mut stderr))
                        .await;
            }
            panic!("the page posted no report within 90s; chromium said:\n{stderr}");
        }
    };
    let report: Value = serde_json::from_str(&report).unwrap_or_else(|e| panic!("{e}: {report}"));
    assert!(report.get("failure").is_none(), "{report}");
    assert!(
        report["client"].as_str().unwrap().contains("Chrome"),
        "{report}"
    );
    check_exchange(&report);
    assert_eq!(report["origin"], Value::String(origin));
    // Refused before the upgrade: the browser never saw the socket open, and reports 1006.
    assert_eq!(
        report["refused"],
        json!({"opened": false, "code": 1006}),
        "{report}"
    );
}

#[test]
fn every_exported_asyncapi_document_validates_with_the_official_parser() {
    dependencies();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // The example specs, and the valid test specs (every limit key, primitive messages, ...).
    let mut specs: Vec<PathBuf> = ["examples/specs", "tests/specs/valid"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    for spec in &specs {
        let document = wsgen::asyncapi::asyncapi(spec).unwrap();
        let file = dir.path().join(format!(
            "{}.json",
            spec.file_stem().unwrap().to_string_lossy()
        ));
        std::fs::write(&file, document).unwrap();
        files.push(file);
    }
    assert!(
        files.len() >= 11,
        "every example and valid test spec is exported"
    );
    let output = std::process::Command::new("node")
        .arg(root().join("tests/interop/node/validate-asyncapi.js"))
        .args(&files)
        .output()
        .expect("node runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        report.matches(": valid AsyncAPI 3.0.0").count(),
        files.len(),
        "{report}"
    );
}
