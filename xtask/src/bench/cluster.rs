//! The cost of crossing nodes: a whisper (the chat spec's send by session id) from a client on
//! one node to a client on another, through the Redis backplane, against the same whisper to a
//! client on the same node (delivered in-process, without Redis). Two `chat-node` processes
//! (release build) share a `redis-server` on a free loopback port.
//!
//! Throughput: the sender whispers a bounded burst and the receiver counts until it has every
//! message (in order). Latency: one whisper at a time, sent when the previous one arrived.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wsgen_generated::chat::{ChatConnectClient, ChatConnectQuery, ClientEvent, ServerEvent};
use wsgen_runtime::ConnectOptions;

/// One path a whisper takes.
#[derive(Debug, Clone)]
pub struct WhisperPath {
    pub label: &'static str,
    /// Messages per second of a burst, one sample per round.
    pub rates: Vec<f64>,
    pub p50: Duration,
    pub p99: Duration,
}

/// What the cluster bench measured.
#[derive(Debug, Clone)]
pub struct ClusterResults {
    pub burst: usize,
    pub rounds: usize,
    pub paths: Vec<WhisperPath>,
    pub redis: String,
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

/// `program args..`, on core 0 when `pinned` (the load side has core 1).
fn command(pinned: bool, program: &Path, args: &[&str]) -> Command {
    let mut command = if pinned {
        let mut taskset = Command::new("taskset");
        taskset.args(["-c", "0"]).arg(program);
        taskset
    } else {
        Command::new(program)
    };
    command.args(args);
    command
}

async fn node(
    root: &Path,
    pinned: bool,
    redis: &str,
    prefix: &str,
) -> Result<(Child, String), String> {
    let binary = root.join("target/release/examples/chat-node");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--redis",
        redis,
        "--prefix",
        prefix,
    ];
    let mut child = command(pinned, &binary, &args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let url = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(url) = line.strip_prefix("listening on ") {
                return Some(url.to_owned());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
    .ok_or("the chat node did not start")?;
    Ok((child, url))
}

async fn client(url: &str, name: &str) -> Result<(ChatConnectClient, u64), String> {
    let query = ChatConnectQuery {
        name: name.to_owned(),
    };
    let options = ConnectOptions::default().header("authorization", "Bearer secret");
    let mut client = ChatConnectClient::connect_with(url, &query, options)
        .await
        .map_err(|e| e.to_string())?;
    match client.recv().await.map_err(|e| e.to_string())? {
        ServerEvent::Welcome { session, .. } => Ok((client, session)),
        other => Err(format!("expected a welcome, got {other:?}")),
    }
}

/// Waits for the whisper with `text`, skipping other events; fails after 10 s.
async fn whispered(client: &mut ChatConnectClient, text: &str) -> Result<(), String> {
    let wait = async {
        loop {
            match client.recv().await {
                Ok(ServerEvent::Whispered { text: got, .. }) if got == text => return Ok(()),
                Ok(ServerEvent::Whispered { text: got, .. }) => {
                    return Err(format!("out of order: {got} before {text}"));
                }
                Ok(_) => continue,
                Err(e) => return Err(e.to_string()),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .map_err(|_| format!("{text} did not arrive within 10s"))?
}

async fn measure(
    label: &'static str,
    sender: &mut ChatConnectClient,
    receiver: &mut ChatConnectClient,
    to: u64,
    burst: usize,
    rounds: usize,
    pings: usize,
) -> Result<WhisperPath, String> {
    let whisper = |text: String| ClientEvent::Whisper { to, text };
    // Warm up, and make sure the path works before timing it.
    for n in 0..100 {
        let text = format!("warm {n}");
        sender
            .send(whisper(text.clone()))
            .await
            .map_err(|e| e.to_string())?;
        whispered(receiver, &text).await?;
    }
    let mut rates = Vec::new();
    for round in 0..rounds {
        let started = Instant::now();
        let receive = async {
            for n in 0..burst {
                whispered(receiver, &format!("r{round} m{n}")).await?;
            }
            Ok::<(), String>(())
        };
        let send = async {
            for n in 0..burst {
                let text = format!("r{round} m{n}");
                sender
                    .send(whisper(text))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        };
        let (sent, received) = tokio::join!(send, receive);
        sent?;
        received?;
        rates.push(burst as f64 / started.elapsed().as_secs_f64());
    }
    let mut times = Vec::with_capacity(pings);
    for n in 0..pings {
        let text = format!("ping {n}");
        let started = Instant::now();
        sender
            .send(whisper(text.clone()))
            .await
            .map_err(|e| e.to_string())?;
        whispered(receiver, &text).await?;
        times.push(started.elapsed());
    }
    times.sort();
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    Ok(WhisperPath {
        label,
        rates,
        p50: at(0.50),
        p99: at(0.99),
    })
}

/// Runs the cluster bench (Redis from `scripts/cluster-deps.sh`); the nodes and Redis share
/// core 0 when `pinned`.
pub async fn run(root: &Path, quick: bool, pinned: bool) -> Result<ClusterResults, String> {
    let port = free_port()?.to_string();
    let redis_args = [
        "--port",
        &port,
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ];
    let mut redis = command(pinned, Path::new("redis-server"), &redis_args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("redis-server: {e}"))?;
    let redis_url = format!("redis://127.0.0.1:{port}");
    let started = Instant::now();
    while tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
        .await
        .is_err()
    {
        if started.elapsed() > Duration::from_secs(10) {
            return Err("redis-server did not start".to_owned());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let version = std::process::Command::new("redis-server")
        .arg("--version")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let version = text
                .split_whitespace()
                .find_map(|w| w.strip_prefix("v="))
                .unwrap_or("unknown version");
            format!("Redis {version}")
        })
        .unwrap_or_default();
    let prefix = format!("bench-{}", std::process::id());
    let (mut node_a, url_a) = node(root, pinned, &redis_url, &prefix).await?;
    let (mut node_b, url_b) = node(root, pinned, &redis_url, &prefix).await?;
    let (mut sender, _) = client(&url_a, "sender").await?;
    let (mut local, local_id) = client(&url_a, "local").await?;
    let (mut remote, remote_id) = client(&url_b, "remote").await?;
    let (burst, rounds, pings) = if quick {
        (2_000, 1, 200)
    } else {
        (20_000, 5, 2_000)
    };
    let same = measure(
        "same node (in-process)",
        &mut sender,
        &mut local,
        local_id,
        burst,
        rounds,
        pings,
    )
    .await?;
    let cross = measure(
        "other node (through Redis)",
        &mut sender,
        &mut remote,
        remote_id,
        burst,
        rounds,
        pings,
    )
    .await?;
    let _ = node_a.kill().await;
    let _ = node_b.kill().await;
    let _ = redis.kill().await;
    Ok(ClusterResults {
        burst,
        rounds,
        paths: vec![same, cross],
        redis: version,
    })
}
