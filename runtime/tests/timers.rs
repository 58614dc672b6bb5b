//! The keepalive and the idle timeout of a connection whose handler loops over `recv` and
//! `reply` (the generated callback loop), against a real server on 127.0.0.1. The socket keeps
//! one timer and moves it only when it fires, while every frame moves the deadlines later: these
//! tests check that a timer set for an earlier deadline neither ends the connection early nor
//! leaves the later deadline unwatched, nor (fired and left ready) spins the connection task.

mod common;

use std::time::{Duration, Instant};

use common::{CpuWatch, Ends, close_code, raw, start, string_endpoint, within};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Disconnect, Keepalive, Limits, Router};

/// Echoes every message with `reply`, as generated glue does.
#[derive(Default)]
struct Echo {
    ends: Ends,
}
string_endpoint!(Echo, records, |_this, socket| {
    loop {
        let message = socket.recv().await?;
        socket.reply(message).await?;
    }
});

/// Echoes as [`Echo`], with a ping every 200 ms that must be answered within 200 ms.
#[derive(Default)]
struct PingingEcho {
    ends: Ends,
}
string_endpoint!(
    PingingEcho,
    records,
    keepalive = Keepalive {
        every: Duration::from_millis(200),
        timeout: Duration::from_millis(200),
    },
    |_this, socket| {
        loop {
            let message = socket.recv().await?;
            socket.reply(message).await?;
        }
    }
);

/// A client that sends a message every 100 ms for a second, each echoed, is never idle under a
/// 300 ms idle timeout; once it stops, it is closed with 1001 one idle timeout after its last
/// message, not sooner (a timer left at an earlier deadline) and not never (a later deadline
/// left unwatched).
#[tokio::test]
async fn the_idle_timeout_counts_from_the_last_frame() {
    let idle = Duration::from_millis(300);
    let ends = Ends::default();
    let endpoint = Echo { ends: ends.clone() };
    let limits = Limits::DEFAULT.with_idle_timeout(Some(idle));
    let running = start(Router::new().route("/echo", endpoint), limits).await;
    let mut ws = raw(&running.url, "/echo").await;
    let watch = CpuWatch::start();
    let mut last = Instant::now();
    for i in 0..10 {
        let text = format!("m{i}");
        last = Instant::now();
        within(ws.send(Message::text(text.clone()))).await.unwrap();
        match within(ws.next()).await {
            Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), text),
            other => panic!("message {i}: expected the echo, got {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(close_code(&mut ws).await, Some(1001));
    let quiet = last.elapsed();
    watch.assert_waited("messages every 100 ms, then quiet");
    // Answer the close and hang up, so that the server need not wait its close timeout.
    let _ = within(ws.flush()).await;
    drop(ws);
    assert!(
        quiet >= idle - Duration::from_millis(20),
        "closed as idle {quiet:?} after the last message, before the {idle:?} timeout"
    );
    assert!(
        quiet < idle + Duration::from_millis(700),
        "closed {quiet:?} after the last message, long after the {idle:?} timeout"
    );
    let why = ends.once().await;
    assert!(
        matches!(why, Disconnect::ServerClosed { code: 1001, .. }),
        "{why:?}"
    );
}

/// Data every 50 ms shows the client is alive, so no ping is sent while it flows; once it stops,
/// the first ping comes one interval after the last message, and a client that answers pings
/// (tungstenite does while it reads) stays connected through several more intervals.
#[tokio::test]
async fn pings_start_one_interval_after_the_last_message_and_answered_pings_keep_it_open() {
    let ends = Ends::default();
    let endpoint = PingingEcho { ends: ends.clone() };
    let running = start(Router::new().route("/echo", endpoint), Limits::DEFAULT).await;
    let mut ws = raw(&running.url, "/echo").await;
    let mut last = Instant::now();
    for i in 0..12 {
        let text = format!("m{i}");
        last = Instant::now();
        within(ws.send(Message::text(text.clone()))).await.unwrap();
        match within(ws.next()).await {
            Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), text),
            other => {
                panic!("message {i}: expected the echo (no ping while data flows), got {other:?}")
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    match within(ws.next()).await {
        Some(Ok(Message::Ping(_))) => {}
        other => panic!("expected a ping once the data stopped, got {other:?}"),
    }
    let first_ping = last.elapsed();
    assert!(
        first_ping >= Duration::from_millis(180),
        "pinged {first_ping:?} after the last message, within the 200 ms interval"
    );
    // Reading answers each ping; four more intervals pass with the connection open.
    let watch = CpuWatch::start();
    let mut pings = 0;
    let listening = tokio::time::timeout(Duration::from_millis(900), async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Ping(_)) => pings += 1,
                other => panic!("expected only pings while the client is quiet, got {other:?}"),
            }
        }
    });
    assert!(
        listening.await.is_err(),
        "the connection ended while pings were answered"
    );
    assert!(pings >= 2, "only {pings} pings in 900 ms at one per 200 ms");
    watch.assert_waited("pings answered for 900 ms");
    assert!(ends.all().is_empty(), "ended: {:?}", ends.all());
    within(ws.send(Message::text("still here"))).await.unwrap();
    match within(ws.next()).await {
        Some(Ok(Message::Text(echoed))) => assert_eq!(echoed.as_str(), "still here"),
        other => panic!("expected the echo after the pings, got {other:?}"),
    }
}
