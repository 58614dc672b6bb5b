//! The cost of crossing nodes: a whisper (the chat spec's send by session id) from a client on
//! one node to a client on another, through the Redis backplane, against the same whisper to a
//! client on the same node (delivered in-process, without Redis). Two `chat-node` processes
//! (release build) share a `redis-server` on a free loopback port.
//!
//! The client side is `whisper-load` (bench/src/bin), so that xtask itself never depends on the
//! generated code it regenerates. Throughput: the sender whispers a bounded burst and the
//! receiver counts until it has every message (in order). Latency: one whisper at a time, sent
//! when the previous one arrived.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

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
    let binary = crate::target_dir(root).join("release/examples/chat-node");
    let args = [
        "--listen",
        "127.0.0.1:0",
        "--redis",
        redis,
        "--prefix",
        prefix,
        // Room for every whisper of a window: a node reads up to 64 KiB of whispers at once
        // (hundreds) and queues them for the receiver before its socket task runs, which the
        // default queue of 256 would take for a slow reader and close.
        "--send-queue",
        "4096",
    ];
    let mut child = command(pinned, &binary, &args)
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

/// Runs the cluster bench (Redis from `scripts/deps.sh cluster`); the nodes and Redis share
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
    let (burst, rounds, pings) = if quick {
        (2_000, 1, 200)
    } else {
        (20_000, 5, 2_000)
    };
    let load = crate::target_dir(root).join("release/whisper-load");
    let shape = [burst.to_string(), rounds.to_string(), pings.to_string()];
    let output = Command::new(&load)
        .args([&url_a, &url_b])
        .args(&shape)
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|e| format!("{}: {e}", load.display()))?;
    if !output.status.success() {
        return Err(format!(
            "whisper-load failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let paths = parse_report(&String::from_utf8_lossy(&output.stdout))?;
    let _ = node_a.kill().await;
    let _ = node_b.kill().await;
    let _ = redis.kill().await;
    Ok(ClusterResults {
        burst,
        rounds,
        paths,
        redis: version,
    })
}

/// The paths of whisper-load's JSON report.
fn parse_report(stdout: &str) -> Result<Vec<WhisperPath>, String> {
    let report: serde_json::Value = serde_json::from_str(stdout.trim())
        .map_err(|e| format!("whisper-load said {stdout:?}: {e}"))?;
    let paths = report["paths"].as_array().ok_or("no paths in the report")?;
    let labels = ["same node (in-process)", "other node (through Redis)"];
    paths
        .iter()
        .zip(labels)
        .map(|(path, label)| {
            let micros = |key: &str| Duration::from_micros(path[key].as_u64().unwrap_or(0));
            let rates = path["rates"]
                .as_array()
                .ok_or("no rates in the report")?
                .iter()
                .filter_map(serde_json::Value::as_f64)
                .collect();
            Ok(WhisperPath {
                label,
                rates,
                p50: micros("p50_us"),
                p99: micros("p99_us"),
            })
        })
        .collect()
}
