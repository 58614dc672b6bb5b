//! Fairness of the socket's wait, against a real server on 127.0.0.1: a client that never
//! pauses (text frames or pings back to back) starves neither a push, the shutdown nor a
//! forwarded stream; a forwarded stream that is always ready starves neither pings, pushes,
//! the shutdown nor the idle timer; a client sending while `forward` holds its message is not
//! closed as idle; `forward` of a finite or empty stream returns and `recv` goes on.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Ends, close_code, eventually, raw, start, string_endpoint, within};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Disconnect, Hub, Keepalive, Limits, Router};

/// Receives forever, answering nothing.
struct Sink;
string_endpoint!(Sink, |_this, socket| {
    loop {
        socket.recv().await?;
    }
});

/// A client that writes text frames back to back, without ever pausing, until told to stop.
fn flood(
    mut tx: futures_util::stream::SplitSink<common::Raw, Message>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..64 {
                if tx.feed(Message::text("f")).await.is_err() {
                    return;
                }
            }
            if tx.flush().await.is_err() {
                return;
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_client_does_not_starve_a_push_or_the_shutdown() {
    let hub = Hub::new();
    let mut running = start(
        Router::new().route_with_hub("/sink", Sink, hub.clone()),
        Limits::DEFAULT.with_shutdown_timeout(Duration::from_secs(2)),
    )
    .await;
    let ws = raw(&running.url, "/sink").await;
    let (tx, mut rx) = ws.split();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = flood(tx, Arc::clone(&stop));
    eventually(|| hub.len() == 1).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.broadcast("pushed".to_owned()).delivered, 1);
    match within(rx.next()).await {
        Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), "pushed"),
        other => panic!("expected the push, got {other:?}"),
    }
    running.stop();
    let code = loop {
        match within(rx.next()).await {
            Some(Ok(Message::Close(f))) => break f.map(|f| u16::from(f.code)),
            Some(Ok(_)) => continue,
            other => panic!("expected a close, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1001));
    stop.store(true, Ordering::Relaxed);
    let _ = flooding.await;
}

/// Forwards an endless stream that is always ready.
struct Endless {
    ends: Ends,
}

string_endpoint!(
    Endless,
    records,
    keepalive = Keepalive {
        every: Duration::from_millis(200),
        timeout: Duration::from_secs(5),
    },
    |_this, socket| {
        socket
            .forward(futures_util::stream::repeat("x".to_owned()))
            .await?;
        Ok(())
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_an_always_ready_stream_still_pings_pushes_and_shuts_down() {
    let hub = Hub::new();
    let ends = Ends::default();
    let endpoint = Endless { ends: ends.clone() };
    let mut running = start(
        Router::new().route_with_hub("/e", endpoint, hub.clone()),
        Limits::DEFAULT.with_shutdown_timeout(Duration::from_secs(2)),
    )
    .await;
    let mut ws = raw(&running.url, "/e").await;
    eventually(|| hub.len() == 1).await;
    assert_eq!(hub.broadcast("pushed".to_owned()).delivered, 1);
    let (mut pushed, mut pinged) = (false, false);
    let started = Instant::now();
    while !(pushed && pinged) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "push {pushed}, ping {pinged}"
        );
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) if t.as_str() == "pushed" => pushed = true,
            Some(Ok(Message::Ping(_))) => pinged = true,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    running.stop();
    assert_eq!(close_code(&mut ws).await, Some(1001));
    assert!(matches!(
        ends.once().await,
        Disconnect::ServerClosed { code: 1001, .. }
    ));
}

/// Forwards an endless always-ready stream under an idle timeout: the client never sends.
struct EndlessNoKeepalive;
string_endpoint!(EndlessNoKeepalive, |_this, socket| {
    socket
        .forward(futures_util::stream::repeat("x".to_owned()))
        .await?;
    Ok(())
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_idle_timer_fires_while_an_always_ready_stream_is_forwarded() {
    let limits = Limits::DEFAULT.with_idle_timeout(Some(Duration::from_millis(300)));
    let running = start(Router::new().route("/e", EndlessNoKeepalive), limits).await;
    let mut ws = raw(&running.url, "/e").await;
    let started = Instant::now();
    assert_eq!(close_code(&mut ws).await, Some(1001));
    assert!(started.elapsed() < Duration::from_secs(3));
}

/// Forwards a finite stream (`n` items, ready at once), then echoes what it receives with the
/// count it forwarded.
struct Finite {
    n: usize,
}
string_endpoint!(Finite, |this, socket| {
    // `unfold` panics if it is polled again after it ended: `forward` must not do that.
    let n = this.n;
    let stream = futures_util::stream::unfold(0usize, move |i| async move {
        (i < n).then(|| (i.to_string(), i + 1))
    });
    let sent = socket.forward(stream).await?;
    loop {
        let m = socket.recv().await?;
        socket.send(format!("{sent} {m}")).await?;
    }
});

#[tokio::test]
async fn forward_of_a_finite_or_empty_stream_returns_and_recv_goes_on() {
    for n in [0, 1, 31, 32, 33, 100] {
        let running = start(Router::new().route("/f", Finite { n }), Limits::DEFAULT).await;
        let mut ws = raw(&running.url, "/f").await;
        for i in 0..n {
            match within(ws.next()).await {
                Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), i.to_string()),
                other => panic!("{other:?}"),
            }
        }
        ws.send(Message::text("hi")).await.unwrap();
        match within(ws.next()).await {
            Some(Ok(Message::Text(t))) => assert_eq!(t.as_str(), format!("{n} hi")),
            other => panic!("{other:?}"),
        }
    }
}

/// Forwards one item every 20 ms for as long as the connection lasts.
struct Ticking {
    forwarded: Arc<AtomicUsize>,
}
string_endpoint!(Ticking, |this, socket| {
    let forwarded = Arc::clone(&this.forwarded);
    let stream = futures_util::stream::unfold(0u64, move |i| {
        let forwarded = Arc::clone(&forwarded);
        async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            forwarded.fetch_add(1, Ordering::SeqCst);
            Some((i.to_string(), i + 1))
        }
    });
    socket.forward(stream).await?;
    Ok(())
});

/// A client that only sends pings, back to back, never pausing (a blocking thread writing
/// pre-encoded masked ping frames as fast as the kernel takes them, another thread reading
/// and counting what the server sends): `forward` must still send the stream's items, "each
/// as soon as the stream yields it".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pings_sent_back_to_back_do_not_starve_a_forwarded_stream() {
    use std::io::{Read, Write};
    let forwarded = Arc::new(AtomicUsize::new(0));
    let endpoint = Ticking {
        forwarded: Arc::clone(&forwarded),
    };
    let running = start(Router::new().route("/t", endpoint), Limits::DEFAULT).await;
    let ws = raw(&running.url, "/t").await;
    let tcp = match ws.into_inner() {
        tokio_tungstenite::MaybeTlsStream::Plain(tcp) => tcp.into_std().unwrap(),
        _ => unreachable!(),
    };
    tcp.set_nonblocking(false).unwrap();
    let mut writer = tcp.try_clone().unwrap();
    let mut reader = tcp;
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stopping = Arc::clone(&stop);
    // An empty masked ping is 6 bytes: FIN + opcode 9, MASK + length 0, the mask.
    let pings: Vec<u8> = [0x89u8, 0x80, 1, 2, 3, 4].repeat(64 * 1024 / 6);
    let flooding = std::thread::spawn(move || {
        while !stopping.load(Ordering::Relaxed) {
            if writer.write_all(&pings).is_err() {
                return;
            }
        }
    });
    // Counts the server's text frames (unmasked), skipping pongs.
    let items = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&items);
    std::thread::spawn(move || {
        let mut header = [0u8; 2];
        let mut payload = Vec::new();
        while reader.read_exact(&mut header).is_ok() {
            let mut len = u64::from(header[1] & 0x7f);
            if len == 126 {
                let mut ext = [0u8; 2];
                reader.read_exact(&mut ext).unwrap();
                len = u64::from(u16::from_be_bytes(ext));
            } else if len == 127 {
                let mut ext = [0u8; 8];
                reader.read_exact(&mut ext).unwrap();
                len = u64::from_be_bytes(ext);
            }
            payload.resize(len as usize, 0);
            if reader.read_exact(&mut payload).is_err() {
                return;
            }
            if header[0] & 0x0f == 1 {
                counted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (items, made) = (
        items.load(Ordering::SeqCst),
        forwarded.load(Ordering::SeqCst),
    );
    stop.store(true, Ordering::Relaxed);
    drop(running);
    let _ = flooding;
    // 2 s at one item per 20 ms: dozens are due.
    assert!(
        items >= 10,
        "{items} items forwarded in 2 s while the client pinged (the stream made {made})"
    );
}

/// Forwards a slow finite stream (an item every 100 ms for 1.5 s), then answers every message
/// it has received.
struct SlowThenEcho;
string_endpoint!(SlowThenEcho, |_this, socket| {
    let stream = futures_util::stream::unfold(0u64, |i| async move {
        if i == 15 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        Some((format!("item {i}"), i + 1))
    });
    socket.forward(stream).await?;
    loop {
        let m = socket.recv().await?;
        socket.send(format!("echo {m}")).await?;
    }
});

/// `idle_timeout` is "close with 1001 when no frame (data, ping or pong) arrived for this
/// long". A client that sends a message every 100 ms while the handler forwards a stream is
/// not idle; its first message waits for the handler (as `tick` says for the keepalive: "the
/// peer is alive"), and it must not be closed as idle.
#[tokio::test]
async fn a_client_sending_every_100ms_during_forward_is_not_closed_as_idle() {
    let limits = Limits::DEFAULT.with_idle_timeout(Some(Duration::from_millis(500)));
    let running = start(Router::new().route("/s", SlowThenEcho), limits).await;
    let ws = raw(&running.url, "/s").await;
    let (mut tx, mut rx) = ws.split();
    let sending = tokio::spawn(async move {
        for i in 0..15 {
            if tx.send(Message::text(format!("m{i}"))).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    let mut seen = Vec::new();
    while seen.len() < 15 + 15 {
        match within(rx.next()).await {
            Some(Ok(Message::Text(t))) => seen.push(t.as_str().to_owned()),
            Some(Ok(Message::Close(frame))) => {
                panic!("closed {frame:?} after {} messages: {seen:?}", seen.len())
            }
            Some(Ok(_)) => {}
            other => panic!("{other:?} after {seen:?}"),
        }
    }
    let _ = sending.await;
}
