//! `forward` and `recv` cancelled at random points: no client message and no acknowledged
//! push is lost or duplicated (forwarded items may be lost: documented).

#[allow(unused_imports)]
mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{raw, start, within};
use futures_util::{SinkExt, StreamExt};
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Limits, Router, SendError, Sender, SlowConsumer};

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
    fn tiny(&mut self) -> Duration {
        match self.below(3) {
            0 => Duration::ZERO,
            _ => Duration::from_micros(self.below(2_000)),
        }
    }
}

struct Chaos {
    seed: u64,
    sender: Mutex<Option<oneshot::Sender<Sender<String>>>>,
    received: Arc<Mutex<Vec<u64>>>,
}

common::string_endpoint!(Chaos, |this, socket| {
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
        if message == "done" {
            return Ok(());
        }
        let n = message.strip_prefix('c').unwrap().parse().unwrap();
        this.received.lock().unwrap().push(n);
    }
    Ok(())
});

const PUSHES: u64 = 2_000;
const SENDS: u64 = 1_000;

async fn round(seed: u64) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let (out, sender) = oneshot::channel();
    let chaos = Chaos {
        seed,
        sender: Mutex::new(Some(out)),
        received: Arc::clone(&received),
    };
    let limits = Limits::DEFAULT
        .with_slow_consumer(SlowConsumer::Reject)
        .with_send_queue(64);
    let running = start(Router::new().route("/c", chaos), limits).await;
    let ws = raw(&running.url, "/c").await;
    let sender = within(sender).await.unwrap();
    let pusher = tokio::spawn(async move {
        let mut acknowledged = 0;
        for n in 0..PUSHES {
            for _ in 0..10_000 {
                match sender.send(format!("p{n}")) {
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
    });
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
                if let Some(n) = t.strip_prefix('p') {
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
        round(seed).await;
    }
}
