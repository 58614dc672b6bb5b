//! The echo example server's Prometheus endpoint after a scripted exchange: exact counters and
//! gauges, with the open connections back to 0 after the clients left.

mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::Command;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary");
    let debug = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    debug.join("examples").join(name)
}

async fn scrape(addr: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("metrics port");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("request");
    let mut out = String::new();
    stream.read_to_string(&mut out).await.expect("response");
    out
}

/// The value of the sample whose line starts with `series` (name and labels).
fn value(metrics: &str, series: &str) -> Option<f64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test]
async fn the_echo_server_counts_a_scripted_exchange_exactly() {
    let mut child = Command::new(example("echo-server"))
        .arg("127.0.0.1:0")
        .env("WSGEN_METRICS_ADDR", "127.0.0.1:0")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the echo-server example");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = common::within(lines.next_line())
        .await
        .expect("line")
        .expect("first line");
    let url = first.trim_start_matches("listening on ").to_owned();
    let second = common::within(lines.next_line())
        .await
        .expect("line")
        .expect("second line");
    let metrics_addr = second
        .trim_start_matches("metrics on http://")
        .trim_end_matches("/metrics")
        .to_owned();

    // Two clients on /echo/text, three messages each, closed by the client: the first with an
    // empty close frame (no status code: counted as 1005, RFC 6455 7.1.5), the second with
    // 1000. Then a third client that vanishes without a close frame, and one refusal.
    let mut received = 0usize;
    for close in [None, Some(CloseCode::Normal)] {
        let mut ws = common::raw(&url, "/echo/text").await;
        for text in ["one", "two", "three"] {
            ws.send(Message::text(text)).await.expect("send");
            match common::within(ws.next()).await {
                Some(Ok(Message::Text(reply))) => received += reply.len(),
                other => panic!("expected an echo, got {other:?}"),
            }
        }
        let frame = close.map(|code| CloseFrame {
            code,
            reason: "".into(),
        });
        ws.close(frame).await.expect("close");
        while common::within(ws.next()).await.is_some() {}
    }
    assert_eq!(received, 22);
    let mut ws = common::raw(&url, "/echo/text").await;
    ws.send(Message::text("gone")).await.expect("send");
    assert!(matches!(
        common::within(ws.next()).await,
        Some(Ok(Message::Text(_)))
    ));
    // Dropped: the TCP connection closes without a close frame.
    drop(ws);
    let refused = tokio_tungstenite::connect_async(format!("{url}/nowhere")).await;
    assert!(refused.is_err());

    // The server records a close after the client saw it: wait until the last is counted and
    // no connection is open.
    let text = "endpoint=\"echo.echo.text\"";
    let open = format!("wsgen_connections_open{{{text}}}");
    let lost = format!("wsgen_closes_total{{{text},code=\"none\",by=\"lost\"}}");
    let mut metrics = String::new();
    for _ in 0..100 {
        metrics = scrape(&metrics_addr).await;
        if value(&metrics, &lost) == Some(1.0) && value(&metrics, &open) == Some(0.0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expect = [
        (open, 0.0),
        (format!("wsgen_upgrades_accepted_total{{{text}}}"), 3.0),
        (
            "wsgen_upgrades_refused_total{status=\"404\"}".to_owned(),
            1.0,
        ),
        (format!("wsgen_messages_received_total{{{text}}}"), 7.0),
        // Payload bytes: "one", "two", "three" twice, then "gone".
        (format!("wsgen_bytes_received_total{{{text}}}"), 26.0),
        (format!("wsgen_messages_sent_total{{{text}}}"), 7.0),
        (format!("wsgen_bytes_sent_total{{{text}}}"), 26.0),
        (
            format!("wsgen_closes_total{{{text},code=\"1005\",by=\"client\"}}"),
            1.0,
        ),
        (
            format!("wsgen_closes_total{{{text},code=\"1000\",by=\"client\"}}"),
            1.0,
        ),
        (lost, 1.0),
    ];
    for (series, wanted) in expect {
        assert_eq!(
            value(&metrics, &series),
            Some(wanted),
            "{series} in:\n{metrics}"
        );
    }
    // Every close is counted once, under one code: three connections, three closes.
    let closes: f64 = metrics
        .lines()
        .filter(|l| l.starts_with("wsgen_closes_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(closes, 3.0, "{metrics}");
    assert!(!metrics.contains("session"), "{metrics}");
    let _ = child.kill().await;
}
