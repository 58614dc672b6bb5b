//! Cancel safety under load, randomized (deterministic seeds): a server handler that cancels
//! `handshake`, `recv` and `next` at random points (timeouts of random tiny durations and
//! `select!` against a timer) while a background task pushes thousands of messages, and a typed
//! client that cancels its own `send` and `recv` at random points; and a handler that cancels
//! `forward` and `recv` at random points. Every message acknowledged with `Ok` (a push, a
//! client send) must arrive exactly once and in order; a message whose send was cancelled may
//! arrive or not, but never twice (forwarded items may be lost: documented).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{NoClose, raw, start, within};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{
    Client, ClientError, ConnectOptions, Limits, Router, SendError, Sender, SlowConsumer,
};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A tiny duration, zero a third of the time (cancelled at the first await).
    fn tiny(&mut self) -> Duration {
        match self.below(3) {
            0 => Duration::ZERO,
            _ => Duration::from_micros(self.below(2_000)),
        }
    }
}

const PUSHES: u64 = 2_000;
const PADDING: usize = 2 * 1024;

/// Hands out its sender, runs the handshake and receives, cancelling each at random; records
/// every client message it received (`c<n>`) until `done`.
struct Chaos {
    seed: u64,
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
    received: Received,
}

/// The numbers of the client messages a handler received, in order.
type Received = Arc<Mutex<Vec<u64>>>;

impl Chaos {
    /// A handler for round `seed`, the sender it will hand out, and what it will record.
    fn new(seed: u64) -> (Self, oneshot::Receiver<Sender<String>>, Received) {
        let received = Arc::new(Mutex::new(Vec::new()));
        let (out, sender) = oneshot::channel();
        let chaos = Chaos {
            seed,
            sender: Mutex::new(Some(out)),
            received: Arc::clone(&received),
        };
        (chaos, sender, received)
    }

    fn record(&self, message: &str) -> bool {
        if message == "done" {
            return true;
        }
        let number = message.strip_prefix('c').and_then(|m| m.split(' ').next());
        if let Some(n) = number.and_then(|n| n.parse().ok()) {
            self.received.lock().unwrap().push(n);
        }
        false
    }
}

common::string_endpoint!(Chaos, |this, socket| {
    let mut rng = Rng(this.seed);
    // Pushes start before the handshake is done: they must wait for its answer.
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    let mut shaken = false;
    for _ in 0..100_000 {
        let handshake = socket.handshake("HELLO", "READY");
        if let Ok(done) = tokio::time::timeout(rng.tiny(), handshake).await {
            done?;
            shaken = true;
            break;
        }
    }
    assert!(shaken, "the handshake completed");
    // Bounded: the client sends `done` long before.
    for _ in 0..10_000_000 {
        // A busy moment: the client's writes back up.
        if rng.below(100) == 0 {
            tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
        }
        let message = match rng.below(3) {
            0 => match tokio::time::timeout(rng.tiny(), socket.recv()).await {
                Ok(received) => received?,
                Err(_) => continue,
            },
            1 => match tokio::time::timeout(rng.tiny(), socket.next()).await {
                Ok(Some(message)) => message,
                Ok(None) => return Ok(()),
                Err(_) => continue,
            },
            _ => {
                let timer = tokio::time::sleep(rng.tiny());
                tokio::select! {
                    received = socket.recv() => received?,
                    () = timer => continue,
                }
            }
        };
        if this.record(&message) {
            return Ok(());
        }
    }
    Ok(())
});

/// Pushes `p<n>` for every n, retrying while the queue is full; returns how many were
/// acknowledged.
async fn push_all(sender: Sender<String>) -> u64 {
    let padding = "x".repeat(PADDING);
    let mut acknowledged = 0;
    for n in 0..PUSHES {
        // Bounded: a slow moment of the client is far shorter than 10,000 retries.
        for _ in 0..10_000 {
            match sender.send(format!("p{n} {padding}")) {
                Ok(()) => {
                    acknowledged += 1;
                    break;
                }
                Err(SendError::QueueFull) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(SendError::Closed) => return acknowledged,
            }
        }
    }
    acknowledged
}

async fn round(seed: u64) {
    let (chaos, sender, received) = Chaos::new(seed);
    let limits = Limits::DEFAULT
        .with_slow_consumer(SlowConsumer::Reject)
        .with_send_queue(64)
        .with_max_message_size(2 << 20)
        .with_max_frame_size(2 << 20);
    let running = start(Router::new().route("/chaos", chaos), limits).await;
    let mut rng = Rng(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut client: Client<String, String, NoClose> = within(Client::connect(
        &running.url,
        "/chaos",
        ConnectOptions::default(),
    ))
    .await
    .unwrap();
    let sender = within(sender).await.unwrap();
    let pusher = tokio::spawn(push_all(sender));
    // Let the server's handshake be cancelled a few times first.
    tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
    within(client.handshake("HELLO", "READY")).await.unwrap();

    let (mut acknowledged, mut maybe) = (Vec::new(), Vec::new());
    let mut pushes = Vec::new();
    let mut next_send = 0u64;
    let started = Instant::now();
    while (pushes.len() as u64) < PUSHES {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "round {seed}: {} of {PUSHES} pushes arrived",
            pushes.len()
        );
        let message = match rng.below(4) {
            // Sends, cancelled at random.
            0 if next_send < 2_000 => {
                let n = next_send;
                next_send += 1;
                // Now and then a big one, so that a send has to wait for the socket.
                let big = if rng.below(8) == 0 { 1 << 20 } else { 0 };
                let message = format!("c{n} {}", "y".repeat(big));
                match tokio::time::timeout(rng.tiny(), client.send(message)).await {
                    Ok(sent) => {
                        sent.unwrap();
                        acknowledged.push(n);
                    }
                    Err(_) => maybe.push(n),
                }
                continue;
            }
            // A slow moment: the server's writes back up.
            1 if rng.below(50) == 0 => {
                tokio::time::sleep(Duration::from_millis(rng.below(30))).await;
                continue;
            }
            2 => {
                let timer = tokio::time::sleep(rng.tiny());
                tokio::select! {
                    received = client.recv() => received.unwrap(),
                    () = timer => continue,
                }
            }
            _ => match tokio::time::timeout(rng.tiny(), client.recv()).await {
                Ok(received) => received.unwrap(),
                Err(_) => continue,
            },
        };
        let n: u64 = message
            .strip_prefix('p')
            .and_then(|m| m.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("round {seed}: unexpected message {message:.20}"));
        pushes.push(n);
    }
    assert_eq!(within(pusher).await.unwrap(), PUSHES);
    let expected: Vec<u64> = (0..PUSHES).collect();
    assert!(
        pushes == expected,
        "round {seed}: every acknowledged push arrives once, in order"
    );

    within(client.send("done".to_owned())).await.unwrap();
    match within(client.closed()).await {
        ClientError::ClosedOther {
            code: Some(1000), ..
        } => {}
        other => panic!("round {seed}: expected a normal close, got {other:?}"),
    }
    let received = received.lock().unwrap().clone();
    let mut unique = received.clone();
    unique.dedup();
    assert_eq!(unique, received, "round {seed}: no client message twice");
    assert!(
        received.windows(2).all(|w| w[0] < w[1]),
        "round {seed}: client messages in order"
    );
    for n in &received {
        assert!(
            acknowledged.binary_search(n).is_ok() || maybe.binary_search(n).is_ok(),
            "round {seed}: {n} was never sent"
        );
    }
    let lost: Vec<&u64> = acknowledged
        .iter()
        .filter(|n| received.binary_search(n).is_err())
        .collect();
    assert!(
        lost.is_empty(),
        "round {seed}: acknowledged sends lost: {lost:?}"
    );
    eprintln!(
        "round {seed}: {} sends acknowledged, {} cancelled ({} of them arrived)",
        acknowledged.len(),
        maybe.len(),
        received.len() - acknowledged.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_acknowledged_message_is_lost_or_duplicated_under_random_cancellation() {
    for seed in [0x5EED_0001, 0x5EED_0002, 0x5EED_0003, 0x5EED_0004] {
        round(seed).await;
    }
}

/// Cancels `forward` (of streams of 0 to 39 items, some pausing) and `recv` at random points.
struct ForwardChaos(Chaos);

common::string_endpoint!(ForwardChaos, |this, socket| {
    let this = &this.0;
    let mut rng = Rng(this.seed);
    if let Some(out) = this.sender.lock().unwrap().take() {
        let _ = out.send(socket.conn().sender());
    }
    for _ in 0..10_000_000u64 {
        let message = match rng.below(3) {
            0 => {
                let k = rng.below(40);
                let pause = rng.below(2) == 0;
                let stream = futures_util::stream::unfold(0u64, move |i| async move {
                    if i == k {
                        return None;
                    }
                    if pause && i % 5 == 0 {
                        tokio::time::sleep(Duration::from_micros(300)).await;
                    }
                    Some((format!("i{i}"), i + 1))
                });
                let _ = tokio::time::timeout(rng.tiny(), socket.forward(stream)).await;
                continue;
            }
            1 => match tokio::time::timeout(rng.tiny(), socket.recv()).await {
                Ok(received) => received?,
                Err(_) => continue,
            },
            _ => socket.recv().await?,
        };
        if this.record(&message) {
            return Ok(());
        }
    }
    Ok(())
});

/// Client messages per round of the forward test.
const SENDS: u64 = 1_000;

async fn forward_round(seed: u64) {
    let (chaos, sender, received) = Chaos::new(seed);
    let chaos = ForwardChaos(chaos);
    let limits = Limits::DEFAULT
        .with_slow_consumer(SlowConsumer::Reject)
        .with_send_queue(64);
    let running = start(Router::new().route("/c", chaos), limits).await;
    let ws = raw(&running.url, "/c").await;
    let sender = within(sender).await.unwrap();
    let pusher = tokio::spawn(push_all(sender));
    let (mut tx, mut rx) = ws.split();
    let mut rng = Rng(seed ^ 0xABCD);
    let writer = tokio::spawn(async move {
        for n in 0..SENDS {
            tx.send(Message::text(format!("c{n}"))).await.unwrap();
            if rng.below(20) == 0 {
                tokio::time::sleep(Duration::from_millis(rng.below(5))).await;
            }
        }
        tx
    });
    let mut pushes = Vec::new();
    let started = Instant::now();
    while (pushes.len() as u64) < PUSHES {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{} pushes",
            pushes.len()
        );
        match within(rx.next()).await {
            Some(Ok(Message::Text(t))) => {
                if let Some(n) = t.strip_prefix('p').and_then(|rest| rest.split(' ').next()) {
                    pushes.push(n.parse::<u64>().unwrap());
                }
            }
            Some(Ok(_)) => {}
            other => panic!("round {seed}: {other:?}"),
        }
    }
    assert_eq!(within(pusher).await.unwrap(), PUSHES);
    assert_eq!(
        pushes,
        (0..PUSHES).collect::<Vec<_>>(),
        "round {seed}: pushes"
    );
    let mut tx = within(writer).await.unwrap();
    tx.send(Message::text("done")).await.unwrap();
    // Drain until the server closes.
    loop {
        match within(rx.next()).await {
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            Some(Ok(_)) => {}
        }
    }
    let received = received.lock().unwrap().clone();
    assert_eq!(
        received,
        (0..SENDS).collect::<Vec<_>>(),
        "round {seed}: client messages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_message_lost_when_forward_and_recv_are_cancelled_at_random() {
    for seed in [1, 2, 3, 4] {
        forward_round(seed).await;
    }
}
