//! What the interop tests' outside clients report, and how it is checked: the programs
//! (Python `websockets`, Node `ws`) run the exchange of `tests/interop/exchange.js` against the
//! echo spec's `echo.json` endpoint and print their report as one JSON line; Chromium posts the
//! same report from a page.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

/// Runs a client program and parses the JSON report on its last line of output.
pub async fn run_client(program: PathBuf, args: &[&str]) -> Value {
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
pub fn check_exchange(report: &Value) {
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
