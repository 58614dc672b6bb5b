//! Review of the deadlines kept across cancelled calls (`Socket::write_until`,
//! `Socket::close_until`) and of pongs counted as writes. Every wait is bounded, so that a hang
//! fails. The first two failed when they were written: a deadline kept from a cancelled wait
//! outlived writes that went through afterwards, and dropped a client that was reading.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{
    Ends, masked_frame, push_padded, raw, small_buffer_client, start, string_endpoint, tcp, within,
};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Limits, Router, Sender, SlowConsumer};

enum Report {
    /// The handler's sends backed up after this many 64 KiB chunks (the last one was cancelled).
    Blocked(usize),
    /// What the handler's plain receive returned.
    Got(String),
    /// How the handler's receives ended.
    Ended(String),
    /// The connection's sender.
    Sender(wsgen_runtime::Sender<String>),
}

impl std::fmt::Debug for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Report::Blocked(n) => write!(f, "Blocked({n})"),
            Report::Got(m) => write!(f, "Got({m:?})"),
            Report::Ended(e) => write!(f, "Ended({e})"),
            Report::Sender(_) => write!(f, "Sender"),
        }
    }
}

type Script = (mpsc::UnboundedSender<Report>, mpsc::UnboundedReceiver<()>);

/// Phase 1: sends 64 KiB chunks, each under a 50 ms timeout, until one has to wait and is
/// cancelled (the client is not reading). Then (when told) it receives plainly, forever, as
/// the generated glue of a callback-style endpoint does, reporting each message and the error
/// that ends it.
struct StaleDeadline {
    script: Mutex<Option<Script>>,
}
string_endpoint!(StaleDeadline, |this, socket| {
    let (report, mut go) = this.script.lock().unwrap().take().unwrap();
    let _ = report.send(Report::Sender(socket.conn().sender()));
    let chunk = "c".repeat(64 * 1024);
    let mut sent = 0usize;
    loop {
        sent += 1;
        assert!(
            sent < 1000,
            "64 MiB went out to a client that does not read"
        );
        match tokio::time::timeout(Duration::from_millis(50), socket.send(chunk.clone())).await {
            Ok(result) => result?,
            Err(_) => break,
        }
    }
    let _ = report.send(Report::Blocked(sent));
    let _ = go.recv().await;
    loop {
        match socket.recv().await {
            Ok(message) => {
                let _ = report.send(Report::Got(message));
            }
            Err(e) => {
                let _ = report.send(Report::Ended(format!("{e:?}")));
                return Err(e.into());
            }
        }
    }
});

/// A write waits for the client and its call is cancelled; the client then reads everything,
/// and the rest of that write completes in the receive's fast path (`write_ready`). Pushes
/// 1.2 s later (acknowledged by the sender) whose write has to wait 200 ms for a client that
/// has read everything get the whole write timeout: the old deadline, long past, is over since
/// the socket wrote. (It was kept, and the connection dropped at once with the pushes lost.)
#[tokio::test]
async fn a_deadline_left_by_a_cancelled_write_does_not_drop_a_later_write() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let (go, told) = mpsc::unbounded_channel();
    let endpoint = StaleDeadline {
        script: Mutex::new(Some((report, told))),
    };
    let limits = Limits::DEFAULT
        .with_send_queue(1000)
        .with_slow_consumer(SlowConsumer::Reject)
        .with_write_timeout(Duration::from_secs(1));
    let running = start(Router::new().route("/s", endpoint), limits).await;
    let mut ws = raw(&running.url, "/s").await;
    let sender = match within(reports.recv()).await {
        Some(Report::Sender(sender)) => sender,
        other => panic!("{other:?}"),
    };
    let chunks = match within(reports.recv()).await {
        Some(Report::Blocked(chunks)) => chunks,
        other => panic!("{other:?}"),
    };
    // The client drains what the kernel holds, then lets the handler receive.
    let mut got = 0;
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(200), ws.next()).await {
        match frame {
            Some(Ok(Message::Text(_))) => got += 1,
            other => panic!("{other:?}"),
        }
    }
    go.send(()).unwrap();
    while got < chunks {
        match within(ws.next()).await {
            Some(Ok(Message::Text(_))) => got += 1,
            other => panic!("after {got} of {chunks} chunks: {other:?}"),
        }
    }
    within(ws.send(Message::text("x"))).await.unwrap();
    match within(reports.recv()).await {
        Some(Report::Got(message)) => assert_eq!(message, "x"),
        other => panic!("{other:?}"),
    }
    // Well after the write timeout, 16 MiB of pushes; the client reads them from 200 ms on.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let big = "b".repeat(1 << 20);
    for n in 0..16 {
        sender.send(format!("big {n} {big}")).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut got = 0;
    while got < 16 {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => {
                assert!(text.starts_with(&format!("big {got} ")));
                got += 1;
            }
            other => {
                let report = tokio::time::timeout(Duration::from_secs(1), reports.recv()).await;
                panic!(
                    "a client that had read everything and paused 200 ms (write timeout 1 s) \
                     lost its connection after {got} of 16 pushes: {other:?}; the handler: \
                     {report:?}"
                );
            }
        }
    }
    assert!(reports.try_recv().is_err());
}

/// Hands out its sender, then receives under a 20 ms timeout and does something else for
/// 30 ms, again and again (a `select!` against a timer whose branch does some work), answering
/// nothing; reports how its receives ended.
struct Cancelling {
    script: Mutex<Option<mpsc::UnboundedSender<Report>>>,
}
string_endpoint!(Cancelling, |this, socket| {
    let report = this.script.lock().unwrap().take().unwrap();
    let _ = report.send(Report::Sender(socket.conn().sender()));
    loop {
        match tokio::time::timeout(Duration::from_millis(20), socket.recv()).await {
            Ok(Ok(_)) | Err(_) => tokio::time::sleep(Duration::from_millis(30)).await,
            Ok(Err(e)) => {
                let _ = report.send(Report::Ended(format!("{e:?}")));
                return Err(e.into());
            }
        }
    }
});

/// A client that reads steadily (a 32 KiB push every 5 ms, far within the write timeout of
/// 300 ms) while the handler cancels its receives is kept: the writes that go through in the
/// fast path (`write_ready`) end a kept deadline. (They did not, and the next wait inherited
/// the deadline of one that began long before: the client was dropped as one that "took no
/// data for 300ms".)
#[tokio::test]
async fn a_slow_but_steady_reader_is_kept_when_receives_are_cancelled() {
    let (report, mut reports) = mpsc::unbounded_channel();
    let endpoint = Cancelling {
        script: Mutex::new(Some(report)),
    };
    let limits = Limits::DEFAULT
        .with_send_queue(10_000)
        .with_slow_consumer(SlowConsumer::Reject)
        .with_write_timeout(Duration::from_millis(300));
    let running = start(Router::new().route("/c", endpoint), limits).await;
    let mut ws = small_buffer_client(&running.url, "/c").await;
    let sender = match within(reports.recv()).await {
        Some(Report::Sender(sender)) => sender,
        other => panic!("{other:?}"),
    };
    const PUSHES: usize = 400;
    push_padded(&sender, PUSHES);
    let started = std::time::Instant::now();
    for n in 0..PUSHES {
        tokio::time::sleep(Duration::from_millis(5)).await;
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => assert!(text.starts_with(&format!("push {n} "))),
            other => {
                let report = tokio::time::timeout(Duration::from_secs(1), reports.recv()).await;
                panic!(
                    "a client that took a push every 5 ms (write timeout 300 ms) lost its \
                     connection after {n} of {PUSHES} pushes in {:?}: {other:?}; the handler: \
                     {report:?}",
                    started.elapsed()
                );
            }
        }
    }
}

struct Greeter {
    ends: Ends,
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
}
string_endpoint!(Greeter, records, |this, socket| {
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    socket.handshake("hello", "hi").await?;
    loop {
        let message = socket.recv().await?;
        socket.reply(message).await?;
    }
});

/// Pushes queued before the protocol handshake, and pings meanwhile (their pongs are now
/// flushed while pushes are held): the reply is still the first message, the pushes follow.
#[tokio::test]
async fn pings_before_the_handshake_do_not_let_pushes_ahead_of_the_reply() {
    let ends = Ends::default();
    let (out, sender) = oneshot::channel();
    let endpoint = Greeter {
        ends: ends.clone(),
        sender: Mutex::new(Some(out)),
    };
    let running = start(Router::new().route("/g", endpoint), Limits::DEFAULT).await;
    let mut ws = raw(&running.url, "/g").await;
    let sender = within(sender).await.unwrap();
    for n in 0..5 {
        sender.send(format!("push {n}")).unwrap();
    }
    for _ in 0..50 {
        within(tcp(&mut ws).write_all(&masked_frame(0x9, true, b"p")))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let mut pongs = 0;
    // The pongs come before the handshake (no text yet).
    while pongs < 50 {
        match within(ws.next()).await {
            Some(Ok(Message::Pong(_))) => pongs += 1,
            other => panic!("before the handshake, after {pongs} pongs: {other:?}"),
        }
    }
    within(ws.send(Message::text("hello"))).await.unwrap();
    let mut texts = Vec::new();
    while texts.len() < 6 {
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) => texts.push(t.to_string()),
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    let mut expected = vec!["hi".to_owned()];
    expected.extend((0..5).map(|n| format!("push {n}")));
    assert_eq!(texts, expected);
    assert!(ends.all().is_empty());
}
