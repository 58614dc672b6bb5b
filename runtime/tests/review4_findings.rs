//! Review of the receive fast path (`Socket::poll_recv`), the read that is not repeated after
//! a flush, and the one lazy timer per connection: hostile and cancelling clients and handlers
//! against a real server on 127.0.0.1. Every wait is bounded, so that a hang fails.
//!
//! Three of these failed when they were written: a client that sends without pause and never
//! reads escaped the write timeout (the fast path read on after a write that had to wait);
//! receives cancelled more often than the write timeout started it again each time; and pings
//! from a client that never reads filled the write buffer with pongs without bound (before
//! the protocol handshake too). A fourth came with the fix of the second: the deadline of a
//! cancelled wait outlived it and dropped a client that had read everything since.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{
    CpuWatch, Ends, close_code, masked_frame, next_text, push_padded, raw, small_buffer_client,
    start, string_endpoint, tcp, within,
};
use futures_util::{SinkExt, StreamExt};
use tokio::io::AsyncWriteExt;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Disconnect, Keepalive, Limits, Router, Sender, SlowConsumer};

/// Records every message received, in order, and echoes it.
#[derive(Default)]
struct Recorder {
    ends: Ends,
    got: Arc<Mutex<Vec<String>>>,
}
string_endpoint!(Recorder, records, |this, socket| {
    loop {
        let message = socket.recv().await?;
        this.got.lock().unwrap().push(message.clone());
        socket.reply(format!("echo {message}")).await?;
    }
});

/// `count` text messages `m0`, `m1`, …, each after a ping, as one client's bytes.
fn pings_and_messages(count: usize) -> Vec<u8> {
    let mut bytes = Vec::new();
    for n in 0..count {
        bytes.extend(masked_frame(0x9, true, b"p"));
        bytes.extend(masked_frame(0x1, true, format!("m{n}").as_bytes()));
    }
    bytes
}

/// A [`Recorder`] served at `/r`, a raw client connected to it, and what it records.
struct Recording {
    running: common::Running,
    ws: common::Raw,
    ends: Ends,
    got: Arc<Mutex<Vec<String>>>,
}

async fn recording(limits: Limits) -> Recording {
    let ends = Ends::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let endpoint = Recorder {
        ends: ends.clone(),
        got: got.clone(),
    };
    let running = start(Router::new().route("/r", endpoint), limits).await;
    let ws = raw(&running.url, "/r").await;
    Recording {
        running,
        ws,
        ends,
        got,
    }
}

/// A close frame in the middle of a burst: the messages before it are delivered once, in
/// order, the ones after it never, and the connection ends as closed by the client.
#[tokio::test]
async fn a_close_in_the_middle_of_a_burst() {
    let Recording {
        running: _running,
        mut ws,
        ends,
        got,
    } = recording(Limits::DEFAULT).await;
    let mut bytes = pings_and_messages(40);
    bytes.extend(masked_frame(0x8, true, &[0x03, 0xE8]));
    bytes.extend(masked_frame(0x1, true, b"after"));
    within(tcp(&mut ws).write_all(&bytes)).await.unwrap();
    let why = ends.once().await;
    assert!(
        matches!(
            why,
            Disconnect::ClientClosed {
                code: Some(1000),
                ..
            }
        ),
        "{why:?}"
    );
    let expected: Vec<String> = (0..40).map(|n| format!("m{n}")).collect();
    assert_eq!(*got.lock().unwrap(), expected);
}

/// Invalid UTF-8 after valid messages: those are delivered, then 1007.
#[tokio::test]
async fn invalid_utf8_in_a_burst() {
    let Recording {
        running: _running,
        mut ws,
        ends,
        got,
    } = recording(Limits::DEFAULT).await;
    let mut bytes = Vec::new();
    for n in 0..5 {
        bytes.extend(masked_frame(0x1, true, format!("m{n}").as_bytes()));
    }
    bytes.extend(masked_frame(0x1, true, &[0xff, 0xfe]));
    bytes.extend(masked_frame(0x1, true, b"after"));
    within(tcp(&mut ws).write_all(&bytes)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1007));
    let _ = ends.once().await;
    let expected: Vec<String> = (0..5).map(|n| format!("m{n}")).collect();
    assert_eq!(*got.lock().unwrap(), expected);
}

/// A fragmented message whose pieces arrive one byte at a time, with pings between the
/// fragments, is delivered whole and echoed.
#[tokio::test]
async fn a_fragmented_message_arriving_byte_by_byte() {
    let Recording {
        running: _running,
        mut ws,
        ..
    } = recording(Limits::DEFAULT).await;
    let mut bytes = masked_frame(0x1, false, b"hel");
    bytes.extend(masked_frame(0x9, true, b"x"));
    bytes.extend(masked_frame(0x0, false, b"lo "));
    bytes.extend(masked_frame(0xA, true, b"y"));
    bytes.extend(masked_frame(0x0, true, b"world"));
    for byte in bytes {
        within(tcp(&mut ws).write_all(&[byte])).await.unwrap();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(next_text(&mut ws).await, "echo hello world");
}

/// Hands out its sender, then echoes as [`Recorder`], with each receive under a short timeout
/// (cancelled at random points) when `cancel`.
struct Pushed {
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
    got: Arc<Mutex<Vec<String>>>,
    cancel: bool,
}
string_endpoint!(Pushed, |this, socket| {
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    loop {
        let message = if this.cancel {
            match tokio::time::timeout(Duration::from_millis(3), socket.recv()).await {
                Ok(message) => message?,
                Err(_) => continue,
            }
        } else {
            socket.recv().await?
        };
        this.got.lock().unwrap().push(message.clone());
        socket.reply(format!("echo {message}")).await?;
    }
});

async fn pings_while_blocked(cancel: bool) {
    const PUSHES: usize = 300;
    let got = Arc::new(Mutex::new(Vec::new()));
    let (out, sender) = oneshot::channel();
    let endpoint = Pushed {
        sender: Mutex::new(Some(out)),
        got: got.clone(),
        cancel,
    };
    let limits = Limits::DEFAULT
        .with_send_queue(PUSHES * 2)
        .with_slow_consumer(SlowConsumer::Reject)
        .with_write_timeout(Duration::from_secs(20));
    let running = start(Router::new().route("/p", endpoint), limits).await;
    let mut ws = small_buffer_client(&running.url, "/p").await;
    let sender = within(sender).await.unwrap();
    push_padded(&sender, PUSHES);
    // The client does not read: the server's writes back up. Meanwhile it pings and sends.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..20 {
        within(ws.send(Message::Ping(format!("ping{n}").into())))
            .await
            .unwrap();
        within(ws.send(Message::text(format!("m{n}"))))
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Now it reads everything.
    let (mut pushes, mut echoes, mut pongs) = (0, 0, 0);
    while pushes < PUSHES || echoes < 20 || pongs == 0 {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) if text.starts_with("push ") => {
                let n: usize = text.split(' ').nth(1).unwrap().parse().unwrap();
                assert_eq!(n, pushes, "pushes in order");
                pushes += 1;
            }
            Some(Ok(Message::Text(text))) => {
                assert_eq!(text.as_str(), format!("echo m{echoes}"));
                echoes += 1;
            }
            Some(Ok(Message::Pong(_))) => pongs += 1,
            other => panic!("got {other:?} after {pushes} pushes, {echoes} echoes"),
        }
    }
    // And the connection goes on.
    within(ws.send(Message::text("last"))).await.unwrap();
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) if text.as_str() == "echo last" => break,
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("expected the last echo, got {other:?}"),
        }
    }
    let expected: Vec<String> = (0..20)
        .map(|n| format!("m{n}"))
        .chain(["last".to_owned()])
        .collect();
    assert_eq!(*got.lock().unwrap(), expected);
}

#[tokio::test]
async fn pings_while_the_servers_writes_are_blocked() {
    pings_while_blocked(false).await;
}

#[tokio::test]
async fn pings_while_the_servers_writes_are_blocked_and_recv_is_cancelled() {
    pings_while_blocked(true).await;
}

/// How a handler receives: plainly, under a short timeout, or in `select!` against an
/// interval that does nothing.
#[derive(Clone, Copy, Debug)]
enum Style {
    Plain,
    Timeout,
    Select,
}

/// One test per [`Style`] for each scenario (`scenario::plain`, `scenario::timeout`,
/// `scenario::select`).
macro_rules! in_every_style {
    ($($scenario:ident),*) => {$(
        mod $scenario {
            use super::Style;

            #[tokio::test]
            async fn plain() {
                super::$scenario(Style::Plain).await;
            }

            #[tokio::test]
            async fn timeout() {
                super::$scenario(Style::Timeout).await;
            }

            #[tokio::test]
            async fn select() {
                super::$scenario(Style::Select).await;
            }
        }
    )*};
}

in_every_style!(unanswered_pings, answered_pings, idle_after_traffic);

struct Styled {
    ends: Ends,
    style: Style,
}
string_endpoint!(
    Styled,
    records,
    keepalive = Keepalive {
        every: Duration::from_millis(150),
        timeout: Duration::from_millis(150),
    },
    |this, socket| { echo_in_style(this.style, socket).await }
);

/// Echoes every message, receiving in `style`.
async fn echo_in_style(
    style: Style,
    socket: &mut wsgen_runtime::codegen::SocketOf<Styled>,
) -> Result<(), wsgen_runtime::Stop<wsgen_runtime::NoClose>> {
    let mut interval = tokio::time::interval(Duration::from_millis(7));
    loop {
        let message = match style {
            Style::Plain => socket.recv().await?,
            Style::Timeout => {
                match tokio::time::timeout(Duration::from_millis(3), socket.recv()).await {
                    Ok(message) => message?,
                    Err(_) => continue,
                }
            }
            Style::Select => tokio::select! {
                message = socket.recv() => message?,
                _ = interval.tick() => continue,
            },
        };
        socket.reply(message).await?;
    }
}

/// A client that never reads (so never answers a ping) is lost one interval plus one timeout
/// after its last frame, whatever the handler's style; the task waits meanwhile.
async fn unanswered_pings(style: Style) {
    let ends = Ends::default();
    let endpoint = Styled {
        ends: ends.clone(),
        style,
    };
    let running = start(Router::new().route("/s", endpoint), Limits::DEFAULT).await;
    let mut ws = raw(&running.url, "/s").await;
    let (watch, started) = (CpuWatch::start(), Instant::now());
    within(ws.send(Message::text("hi"))).await.unwrap();
    let why = within(async {
        loop {
            if let Some(why) = ends.all().first() {
                break why.clone();
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    let took = started.elapsed();
    assert!(matches!(why, Disconnect::Lost { .. }), "{style:?}: {why:?}");
    assert!(
        took >= Duration::from_millis(280) && took < Duration::from_millis(900),
        "{style:?}: lost after {took:?}, expected about 300 ms"
    );
    watch.assert_waited(&format!("{style:?}: unanswered pings"));
}

/// A client that answers pings (it reads) stays connected for 1.5 s under every style, and its
/// messages are echoed; the task waits meanwhile.
async fn answered_pings(style: Style) {
    let ends = Ends::default();
    let endpoint = Styled {
        ends: ends.clone(),
        style,
    };
    let running = start(Router::new().route("/s", endpoint), Limits::DEFAULT).await;
    let mut ws = raw(&running.url, "/s").await;
    let watch = CpuWatch::start();
    let mut pings = 0;
    let listening = tokio::time::timeout(Duration::from_millis(1500), async {
        while let Some(frame) = ws.next().await {
            match frame {
                Ok(Message::Ping(_)) => pings += 1,
                other => panic!("{style:?}: expected only pings, got {other:?}"),
            }
        }
    });
    assert!(listening.await.is_err(), "{style:?}: the connection ended");
    assert!(
        pings >= 4,
        "{style:?}: only {pings} pings in 1.5 s at one per 150 ms"
    );
    watch.assert_waited(&format!("{style:?}: answered pings"));
    assert!(ends.all().is_empty(), "{style:?}: {:?}", ends.all());
    within(ws.send(Message::text("still"))).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "still");
}

/// A queue that takes every push and never closes a slow consumer, and a write timeout of
/// 300 ms: only the write timeout can end a client that stops reading.
fn only_the_write_timeout() -> Limits {
    Limits::DEFAULT
        .with_send_queue(10_000)
        .with_slow_consumer(SlowConsumer::Reject)
        .with_write_timeout(Duration::from_millis(300))
}

/// Hands out its sender, then receives forever, answering nothing.
struct PushedSink {
    ends: Ends,
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
}
string_endpoint!(PushedSink, records, |this, socket| {
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    loop {
        socket.recv().await?;
        // Some work per message (50 µs): the client sends faster than this handler handles.
        let started = Instant::now();
        while started.elapsed() < Duration::from_micros(50) {
            std::hint::spin_loop();
        }
    }
});

/// A client that never reads while it sends without pausing: once the pushes fill the socket
/// buffers, the server's write waits, and `Limits::write_timeout` ("how long a write may wait
/// for a peer that is not reading before the connection is treated as lost") ends it. Before
/// the fast path, the end of every streak of `MAX_STREAK` frames waited for the write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_that_never_reads_is_dropped_after_the_write_timeout() {
    let ends = Ends::default();
    let (out, sender) = oneshot::channel();
    let endpoint = PushedSink {
        ends: ends.clone(),
        sender: Mutex::new(Some(out)),
    };
    let limits = only_the_write_timeout();
    let running = start(Router::new().route("/f", endpoint), limits).await;
    // A raw TCP client with a small receive buffer, WebSocket handshake done, then raw frames.
    let addr = running.url.strip_prefix("ws://").unwrap().to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = within(socket.connect(addr.parse().unwrap())).await.unwrap();
    within(tokio_tungstenite::client_async(
        format!("{}/f", running.url),
        &mut stream,
    ))
    .await
    .unwrap();
    let sender = within(sender).await.unwrap();
    let (_read, mut write) = stream.into_split();
    let mut batch = Vec::new();
    for _ in 0..4096 {
        batch.extend(masked_frame(0x1, true, b"x"));
    }
    // Never reads; writes frames back to back until the server hangs up.
    let flood = tokio::spawn(async move { while write.write_all(&batch).await.is_ok() {} });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Far more than the socket buffers hold: the server's writes have to wait.
    push_padded(&sender, 400);
    let started = Instant::now();
    let why = ends.first_within(Duration::from_secs(5)).await;
    flood.abort();
    let took = started.elapsed();
    let pushed_ok = sender.send("probe".to_owned()).is_ok();
    assert!(
        matches!(why, Some(Disconnect::Lost { .. })),
        "a client that has read nothing for {took:?} (write timeout 300 ms) is still connected \
         (ended: {why:?}, pushes still accepted: {pushed_ok})"
    );
}

/// Round trips (each message sent as soon as the previous echo arrived, so it arrives while
/// the server flushes or waits), with pushes from another task and pings on the way: none
/// hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trips_with_pushes_and_pings_never_hang() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let (out, sender) = oneshot::channel();
    let endpoint = Pushed {
        sender: Mutex::new(Some(out)),
        got: got.clone(),
        cancel: false,
    };
    let limits = Limits::DEFAULT
        .with_send_queue(100_000)
        .with_slow_consumer(SlowConsumer::Reject);
    let running = start(Router::new().route("/p", endpoint), limits).await;
    let mut ws = raw(&running.url, "/p").await;
    let sender = within(sender).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pusher = {
        let stop = stop.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = sender.send(format!("push {n}"));
                n += 1;
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        })
    };
    for i in 0..3000 {
        if i % 7 == 0 {
            ws.feed(Message::Ping(Vec::new().into())).await.unwrap();
        }
        ws.send(Message::text(format!("m{i}"))).await.unwrap();
        let want = format!("echo m{i}");
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) if t.as_str() == want => break,
                Ok(Some(Ok(_))) => {}
                other => panic!("round trip {i}: {other:?}"),
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = pusher.await;
}

/// Forwards a slow stream (an item every 300 ms) while the client's message waits for the next
/// receive, under a 50 ms keepalive: the held message shows the client alive, and the task
/// waits meanwhile instead of spinning on a timer that has fired.
struct SlowForward {
    ends: Ends,
}
string_endpoint!(
    SlowForward,
    records,
    keepalive = Keepalive {
        every: Duration::from_millis(50),
        timeout: Duration::from_millis(50),
    },
    |_this, socket| {
        let items = futures_util::stream::unfold(0, |n| async move {
            if n == 4 {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            Some((format!("item {n}"), n + 1))
        });
        socket.forward(items).await?;
        let message = socket.recv().await?;
        socket.reply(format!("after {message}")).await?;
        loop {
            socket.recv().await?;
        }
    }
);

#[tokio::test]
async fn forward_holding_a_message_under_a_keepalive_waits() {
    let ends = Ends::default();
    let endpoint = SlowForward { ends: ends.clone() };
    let limits = Limits::DEFAULT.with_idle_timeout(Some(Duration::from_millis(120)));
    let running = start(Router::new().route("/f", endpoint), limits).await;
    let mut ws = raw(&running.url, "/f").await;
    let watch = CpuWatch::start();
    within(ws.send(Message::text("held"))).await.unwrap();
    let mut items = 0;
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) if t.starts_with("item") => items += 1,
            Some(Ok(Message::Text(t))) => {
                assert_eq!(t.as_str(), "after held");
                break;
            }
            Some(Ok(Message::Ping(_))) => {}
            other => panic!("after {items} items: {other:?}"),
        }
    }
    assert_eq!(items, 4);
    watch.assert_waited("forward holding a message");
}

/// Echoes text; a binary frame does not decode as a `String` and gets the endpoint's policy
/// (`Reply` here); receives are cancelled at random points when `cancel`.
struct Replies {
    cancel: bool,
}
string_endpoint!(
    Replies,
    on_invalid = wsgen_runtime::codegen::OnInvalid::Reply,
    |this, socket| {
        let mut n = 0u64;
        loop {
            n += 1;
            let message = if this.cancel {
                let limit = Duration::from_micros(n * 7919 % 500);
                match tokio::time::timeout(limit, socket.recv()).await {
                    Ok(message) => message?,
                    Err(_) => continue,
                }
            } else {
                socket.recv().await?
            };
            socket.reply(format!("echo {message}")).await?;
        }
    }
);

async fn invalid_replies(cancel: bool) {
    let running = start(
        Router::new().route("/i", Replies { cancel }),
        Limits::DEFAULT,
    )
    .await;
    let mut ws = raw(&running.url, "/i").await;
    let mut bytes = Vec::new();
    let mut expected = Vec::new();
    for n in 0..200 {
        bytes.extend(masked_frame(0x1, true, format!("m{n}").as_bytes()));
        expected.push(format!("echo m{n}"));
        if n % 3 == 0 {
            bytes.extend(masked_frame(0x2, true, b"\x00\x01"));
            expected.push("error".to_owned());
        }
        if n % 5 == 0 {
            bytes.extend(masked_frame(0x9, true, b""));
        }
    }
    within(tcp(&mut ws).write_all(&bytes)).await.unwrap();
    let mut got = Vec::new();
    while got.len() < expected.len() {
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) if t.starts_with("echo ") => got.push(t.to_string()),
            Some(Ok(Message::Text(_))) => got.push("error".to_owned()),
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("after {} answers: {other:?}", got.len()),
        }
    }
    assert_eq!(got, expected);
}

#[tokio::test]
async fn invalid_messages_are_answered_once_in_order() {
    invalid_replies(false).await;
}

#[tokio::test]
async fn invalid_messages_are_answered_once_in_order_under_cancellation() {
    invalid_replies(true).await;
}

/// Hands out its sender, then receives under a 100 ms timeout, again and again (a handler that
/// does something else every 100 ms), answering nothing.
struct TimedSink {
    ends: Ends,
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
}
string_endpoint!(TimedSink, records, |this, socket| {
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    loop {
        match tokio::time::timeout(Duration::from_millis(100), socket.recv()).await {
            Ok(message) => {
                message?;
            }
            Err(_) => continue,
        }
    }
});

/// A client that stops reading while pushes wait is dropped after the write timeout, also when
/// the handler's receives are cancelled (by its own timeout) before that.
#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_even_if_receives_are_cancelled() {
    let ends = Ends::default();
    let (out, sender) = oneshot::channel();
    let endpoint = TimedSink {
        ends: ends.clone(),
        sender: Mutex::new(Some(out)),
    };
    let limits = only_the_write_timeout();
    let running = start(Router::new().route("/t", endpoint), limits).await;
    let _ws = small_buffer_client(&running.url, "/t").await;
    let sender = within(sender).await.unwrap();
    push_padded(&sender, 400);
    let started = Instant::now();
    let why = ends.first_within(Duration::from_secs(4)).await;
    assert!(
        matches!(why, Some(Disconnect::Lost { .. })),
        "a client that has read nothing for {:?} (write timeout 300 ms) is still connected: {why:?}",
        started.elapsed()
    );
}

/// A message of exactly `max_message_size` (fragmented, with a ping between the fragments) is
/// delivered whole; one byte more closes with 1009.
#[tokio::test]
async fn messages_at_the_size_limit() {
    let Recording {
        running: _running,
        mut ws,
        ends,
        got,
    } = recording(Limits::DEFAULT).await;
    let limit = Limits::DEFAULT.max_message_size;
    let text = "a".repeat(limit);
    let (first, rest) = text.as_bytes().split_at(limit / 2);
    let mut bytes = masked_frame(0x1, false, first);
    bytes.extend(masked_frame(0x9, true, b"p"));
    bytes.extend(masked_frame(0x0, true, rest));
    bytes.extend(masked_frame(0x1, true, "b".repeat(limit + 1).as_bytes()));
    within(tcp(&mut ws).write_all(&bytes)).await.unwrap();
    assert_eq!(close_code(&mut ws).await, Some(1009));
    let _ = ends.once().await;
    let got = got.lock().unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].len(), limit);
}

/// Protocol errors after valid messages in one burst: the messages before are delivered once,
/// then the connection is closed with 1002.
#[tokio::test]
async fn protocol_errors_after_a_burst() {
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("oversized ping", masked_frame(0x9, true, &[0u8; 126])),
        ("reserved opcode", masked_frame(0x3, true, b"x")),
        ("unmasked", vec![0x81, 0x01, b'x']),
        ("lone continuation", masked_frame(0x0, true, b"x")),
        ("fragmented ping", masked_frame(0x9, false, b"x")),
    ];
    for (what, bad) in bad {
        let Recording {
            running: _running,
            mut ws,
            ends,
            got,
        } = recording(Limits::DEFAULT).await;
        let mut bytes = pings_and_messages(40);
        bytes.extend(bad);
        bytes.extend(masked_frame(0x1, true, b"after"));
        within(tcp(&mut ws).write_all(&bytes)).await.unwrap();
        assert_eq!(close_code(&mut ws).await, Some(1002), "{what}");
        let _ = ends.once().await;
        let expected: Vec<String> = (0..40).map(|n| format!("m{n}")).collect();
        assert_eq!(*got.lock().unwrap(), expected, "{what}");
    }
}

/// Over a message rate that drops: exactly the burst passes, pings do not count, and the
/// connection stays.
#[tokio::test]
async fn over_the_rate_messages_are_dropped_once_and_pings_do_not_count() {
    use wsgen_runtime::{MessageRate, RateExceeded};
    let ends = Ends::default();
    let got = Arc::new(Mutex::new(Vec::new()));
    let endpoint = Recorder {
        ends: ends.clone(),
        got: got.clone(),
    };
    let limits = Limits::DEFAULT
        .with_message_rate(Some(MessageRate::new(1, 5).on_exceeded(RateExceeded::Drop)));
    let running = start(Router::new().route("/r", endpoint), limits).await;
    let mut ws = raw(&running.url, "/r").await;
    let bytes = pings_and_messages(100);
    within(tcp(&mut ws).write_all(&bytes)).await.unwrap();
    let mut echoes = Vec::new();
    while echoes.len() < 5 {
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) => echoes.push(t.to_string()),
            Some(Ok(Message::Pong(_))) => {}
            other => panic!("{other:?}"),
        }
    }
    let expected: Vec<String> = (0..5).map(|n| format!("echo m{n}")).collect();
    assert_eq!(echoes, expected);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    within(ws.send(Message::text("later"))).await.unwrap();
    assert_eq!(next_text(&mut ws).await, "echo later");
    assert!(ends.all().is_empty());
}

/// This process's resident memory.
fn rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Floods the endpoint at `path` with pings from a client whose receive buffer is 4 KiB and
/// that never reads, and fails unless the connection is dropped or the server's memory stays
/// within 64 MB.
async fn flood_pings(router: Router, path: &str, ends: &Ends) {
    let limits = Limits::DEFAULT.with_write_timeout(Duration::from_millis(300));
    let running = start(router, limits).await;
    let addr = running.url.strip_prefix("ws://").unwrap().to_owned();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stream = within(socket.connect(addr.parse().unwrap())).await.unwrap();
    within(tokio_tungstenite::client_async(
        format!("{}{path}", running.url),
        &mut stream,
    ))
    .await
    .unwrap();
    let (_read, mut write) = stream.into_split();
    let mut batch = Vec::new();
    for _ in 0..1000 {
        batch.extend(masked_frame(0x9, true, &[7u8; 125]));
    }
    let before = rss();
    let started = Instant::now();
    let mut sent = 0usize;
    // About 200 MB of pings, or until the server hangs up.
    while sent < 200 << 20 && started.elapsed() < Duration::from_secs(8) {
        match tokio::time::timeout(Duration::from_secs(2), write.write_all(&batch)).await {
            Ok(Ok(())) => sent += batch.len(),
            _ => break,
        }
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let grown = rss().saturating_sub(before);
    let ended = ends.all();
    assert!(
        !ended.is_empty() || grown < 64 << 20,
        "{} MB of pings from a client that reads nothing in {:?}: the server's memory grew by \
         {} MB and the connection is still open",
        sent >> 20,
        started.elapsed(),
        grown >> 20
    );
}

/// A client that sends pings back to back and never reads: every ping's pong is queued behind
/// the ones the client never took. The connection should be dropped (the pongs' write waits
/// far longer than the write timeout) rather than buffer without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_from_a_client_that_never_reads_is_bounded() {
    let ends = Ends::default();
    let endpoint = Recorder {
        ends: ends.clone(),
        got: Arc::default(),
    };
    flood_pings(Router::new().route("/r", endpoint), "/r", &ends).await;
}

/// Answers the protocol handshake `hello` with `hi`, then echoes.
#[derive(Default)]
struct Greeter {
    ends: Ends,
}
string_endpoint!(Greeter, records, |_this, socket| {
    socket.handshake("hello", "hi").await?;
    loop {
        let message = socket.recv().await?;
        socket.reply(message).await?;
    }
});

/// The same flood before the protocol handshake: pushes wait for the handshake's answer, but
/// the pongs are the socket's own writes and must not pile up meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_before_the_protocol_handshake_is_bounded() {
    let ends = Ends::default();
    let endpoint = Greeter { ends: ends.clone() };
    flood_pings(Router::new().route("/g", endpoint), "/g", &ends).await;
}

/// As [`Styled`], without a keepalive.
struct StyledQuiet {
    ends: Ends,
    style: Style,
}
string_endpoint!(StyledQuiet, records, |this, socket| {
    echo_in_style(this.style, socket).await
});

/// Messages every 60 ms for 600 ms, then silence: closed with 1001 one idle timeout (250 ms)
/// after the last message, whatever the handler's style, and the task waits meanwhile.
async fn idle_after_traffic(style: Style) {
    let idle = Duration::from_millis(250);
    let ends = Ends::default();
    let endpoint = StyledQuiet {
        ends: ends.clone(),
        style,
    };
    let limits = Limits::DEFAULT.with_idle_timeout(Some(idle));
    let running = start(Router::new().route("/q", endpoint), limits).await;
    let mut ws = raw(&running.url, "/q").await;
    let watch = CpuWatch::start();
    let mut last = Instant::now();
    for i in 0..10 {
        last = Instant::now();
        within(ws.send(Message::text(format!("m{i}"))))
            .await
            .unwrap();
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), format!("m{i}")),
            other => panic!("{style:?}: {other:?}"),
        }
        tokio::time::sleep(Duration::from_millis(60)).await;
    }
    assert_eq!(close_code(&mut ws).await, Some(1001), "{style:?}");
    let quiet = last.elapsed();
    watch.assert_waited(&format!("{style:?}: idle after traffic"));
    assert!(
        quiet >= idle - Duration::from_millis(20) && quiet < idle + Duration::from_millis(500),
        "{style:?}: closed {quiet:?} after the last message (idle timeout {idle:?})"
    );
}
