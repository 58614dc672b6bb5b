//! Interop with clients nobody here wrote: Python's `websockets` (PyPI), Node's `ws` (npm) and
//! headless Chromium opening `new WebSocket(...)` from a page this test serves. Each runs the
//! same exchange against a generated server (the echo spec) on 127.0.0.1, once standalone and
//! once mounted in the axum app of `examples/axum-app.rs` (`common/mounts.rs`): the welcome push,
//! a typed note echoed, a validation error envelope, server pushes, and the typed close whose
//! code and reason the client reports. The browser also shows that a server which does not
//! allow the page's origin refuses it before the upgrade.
//!
//! The AsyncAPI export of every example spec is validated here too, with the official parser
//! (`@asyncapi/parser` from npm, installed with the Node client).
//!
//! `scripts/deps.sh interop` installs the clients (idempotently); when it cannot, these tests
//! fail with its output instead of skipping.

#[path = "common/browser.rs"]
mod browser;
#[path = "common/exchange.rs"]
mod exchange;
#[path = "common/mounts.rs"]
mod mounts;

use std::path::PathBuf;

use browser::{chromium_report, dependencies, every_valid_spec, interop_page, page_server, root};
use exchange::{check_exchange, run_client};
use mounts::{Mount, echo_server};
use serde_json::{Value, json};

async fn python_websockets(mount: Mount) {
    dependencies();
    let url = echo_server(mount, None).await;
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
async fn python_websockets_completes_the_exchange() {
    python_websockets(Mount::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_completes_the_exchange_with_the_axum_app() {
    python_websockets(Mount::Axum).await;
}

async fn node_ws(mount: Mount) {
    dependencies();
    let url = echo_server(mount, None).await;
    let script = root().join("tests/interop/node/client.js");
    let report = run_client(PathBuf::from("node"), &[script.to_str().unwrap(), &url]).await;
    assert!(report["client"].as_str().unwrap().starts_with("node ws"));
    check_exchange(&report);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_completes_the_exchange() {
    node_ws(Mount::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ws_completes_the_exchange_with_the_axum_app() {
    node_ws(Mount::Axum).await;
}

async fn headless_chromium(mount: Mount) {
    dependencies();
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(1);
    let origin = page_server(report_tx, interop_page()).await;
    // The server the page talks to allows exactly the page's origin (standalone; the axum app,
    // served as it is, allows every origin); the other one allows only a different site, so the
    // browser's upgrade there must be refused.
    let allowed = match mount {
        Mount::Standalone => echo_server(mount, Some(vec![origin.clone()])).await,
        Mount::Axum => echo_server(mount, None).await,
    };
    let refusing = echo_server(mount, Some(vec!["https://elsewhere.example".to_owned()])).await;
    let page = format!("{origin}/?ws={allowed}&refused={refusing}");
    let report = chromium_report(&page, &mut report_rx).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_completes_the_exchange_and_is_refused_from_a_foreign_origin() {
    headless_chromium(Mount::Standalone).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_completes_the_exchange_with_the_axum_app_and_is_refused_from_a_foreign_origin()
 {
    headless_chromium(Mount::Axum).await;
}

#[test]
fn every_exported_asyncapi_document_validates_with_the_official_parser() {
    dependencies();
    let dir = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    // The example specs, and the valid test specs (every limit key, primitive messages, ...).
    let specs = every_valid_spec();
    for spec in &specs {
        let document = wsgen::asyncapi(spec).unwrap();
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
