//! The client side of `cargo xtask bench`'s cross-node rows: a chat client on node A whispers
//! (`hub.send` by session id) to a client on node A, then to one on node B, and reports per
//! path the throughput of bursts (at most 1,000 whispers on their way at once) and the latency
//! of single whispers, as one JSON line.
//!
//! ```text
//! whisper-load NODE_A_URL NODE_B_URL BURST ROUNDS PINGS
//! ```

use std::time::{Duration, Instant};

use wsgen_generated::chat::{ChatConnectClient, ChatConnectQuery, ClientEvent, ServerEvent};
use wsgen_runtime::ConnectOptions;

type Failure = Box<dyn std::error::Error>;

/// How many whispers of a burst may be on their way at once.
const WINDOW: usize = 1_000;

async fn client(url: &str, name: &str) -> Result<(ChatConnectClient, u64), Failure> {
    let query = ChatConnectQuery {
        name: name.to_owned(),
    };
    let options = ConnectOptions::default().header("authorization", "Bearer secret");
    let mut client = ChatConnectClient::connect_with(url, &query, options).await?;
    match client.recv().await? {
        ServerEvent::Welcome { session, .. } => Ok((client, session)),
        other => Err(format!("expected a welcome, got {other:?}").into()),
    }
}

/// Waits for the whisper with `text`, skipping other events; fails after 10 s or when another
/// whisper comes first (out of order).
async fn whispered(client: &mut ChatConnectClient, text: &str) -> Result<(), Failure> {
    let wait = async {
        loop {
            match client.recv().await? {
                ServerEvent::Whispered { text: got, .. } if got == text => return Ok(()),
                ServerEvent::Whispered { text: got, .. } => {
                    return Err(format!("out of order: {got} before {text}").into());
                }
                _ => continue,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| format!("{text} did not arrive within 10s"))?
}

struct Measured {
    rates: Vec<f64>,
    p50: Duration,
    p99: Duration,
}

async fn measure(
    sender: &mut ChatConnectClient,
    receiver: &mut ChatConnectClient,
    to: u64,
    (burst, rounds, pings): (usize, usize, usize),
) -> Result<Measured, Failure> {
    let whisper = |text: String| ClientEvent::Whisper { to, text };
    // Warm up, and make sure the path works before timing it.
    for n in 0..100 {
        let text = format!("warm {n}");
        sender.send(whisper(text.clone())).await?;
        whispered(receiver, &text).await?;
    }
    let mut rates = Vec::new();
    for round in 0..rounds {
        let started = Instant::now();
        // At most WINDOW whispers on their way: a closed loop, which measures what the path
        // sustains rather than how much the queues on the way hold.
        let window = tokio::sync::Semaphore::new(WINDOW);
        let receive = async {
            for n in 0..burst {
                whispered(receiver, &format!("r{round} m{n}")).await?;
                window.add_permits(1);
            }
            Ok::<(), Failure>(())
        };
        let send = async {
            for n in 0..burst {
                window.acquire().await?.forget();
                sender.send(whisper(format!("r{round} m{n}"))).await?;
            }
            Ok::<(), Failure>(())
        };
        // Either side failing ends the round: a receiver that gave up adds no permits, so a
        // sender left waiting for one would wait forever.
        tokio::try_join!(send, receive)?;
        rates.push(burst as f64 / started.elapsed().as_secs_f64());
    }
    let mut times = Vec::with_capacity(pings);
    for n in 0..pings.max(1) {
        let text = format!("ping {n}");
        let started = Instant::now();
        sender.send(whisper(text.clone())).await?;
        whispered(receiver, &text).await?;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok(Measured {
        rates,
        p50: at(0.50),
        p99: at(0.99),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Failure> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [node_a, node_b, burst, rounds, pings] = args.as_slice() else {
        return Err("usage: whisper-load NODE_A_URL NODE_B_URL BURST ROUNDS PINGS".into());
    };
    let shape = (burst.parse()?, rounds.parse()?, pings.parse()?);
    let (mut sender, _) = client(node_a, "sender").await?;
    let (mut local, local_id) = client(node_a, "local").await?;
    let (mut remote, remote_id) = client(node_b, "remote").await?;
    let same = measure(&mut sender, &mut local, local_id, shape).await?;
    let cross = measure(&mut sender, &mut remote, remote_id, shape).await?;
    let path = |label: &str, m: &Measured| {
        serde_json::json!({
            "label": label,
            "rates": m.rates,
            "p50_us": m.p50.as_micros() as u64,
            "p99_us": m.p99.as_micros() as u64,
        })
    };
    let report = serde_json::json!({
        "paths": [
            path("same node (in-process)", &same),
            path("other node (through Redis)", &cross),
        ]
    });
    println!("{report}");
    Ok(())
}
