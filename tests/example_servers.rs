//! The example servers as users run them: a process started with standard input closed (as
//! `cargo run --example echo-server &` or `</dev/null` leaves it) keeps serving, and SIGTERM
//! (what `kill`, systemd and Kubernetes send; Ctrl-C is SIGINT, handled alike) shuts it down
//! gracefully: the connected client gets 1001 and the process exits with success.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::SinkExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_tungstenite::tungstenite::Message;

/// An example binary; `cargo test` builds the examples beside the test binaries.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let debug = exe.parent().and_then(|deps| deps.parent()).unwrap();
    debug.join("examples").join(name)
}

async fn start(name: &str) -> (Child, String) {
    let mut child = Command::new(example(name))
        .arg("127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not start the example {name}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = common::within(lines.next_line()).await.unwrap().unwrap();
    let url = first
        .split_whitespace()
        .find(|w| w.starts_with("ws://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    (child, url)
}

async fn sigterm(child: &Child) {
    let pid = child.id().expect("still running").to_string();
    let status = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn echo_server_serves_with_stdin_closed_and_stops_on_sigterm() {
    let (mut child, url) = start("echo-server").await;
    // Still serving after its standard input closed at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut client = common::raw(&url, "/echo/text").await;
    let reply = common::roundtrip(&mut client, "hello").await;
    assert!(
        matches!(reply, Message::Text(ref t) if t.contains("hello")),
        "{reply:?}"
    );
    sigterm(&child).await;
    assert_eq!(common::close_code(&mut client).await, 1001);
    let _ = client.send(Message::Close(None)).await;
    let status = common::within(child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn chat_server_stops_on_sigterm() {
    let (mut child, url) = start("chat-server").await;
    let url = url.trim_end_matches("/chat/connect").to_owned();
    sigterm(&child).await;
    let status = common::within(child.wait()).await.unwrap();
    assert!(status.success(), "{status}");
    // Nothing listens any more.
    let refused = tokio::net::TcpStream::connect(url.trim_start_matches("ws://")).await;
    assert!(refused.is_err());
}
