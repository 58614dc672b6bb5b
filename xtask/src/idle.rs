//! `cargo xtask idle-memory [--server PATH]`: what a generated server spends per idle
//! connection.
//!
//! Builds the echo example server in release mode (or takes one built elsewhere, `--server`),
//! starts it, opens 1,000 and then 10,000 WebSocket connections that stay idle (upgraded, then
//! silent), and reads the server's resident memory (`VmRSS`) before and after. The kernel's
//! socket structures are not part of a process's RSS; the growth of the kernel's slab memory is
//! reported beside it (machine-wide, both ends of each loopback connection, so a rough figure).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// One measurement.
#[derive(Debug, Clone, Copy)]
pub struct IdleMemory {
    /// Connections held open.
    pub connections: usize,
    /// The server's RSS with one connection, in KiB.
    pub baseline_kib: u64,
    /// The server's RSS with all of them, in KiB.
    pub loaded_kib: u64,
    /// The kernel's slab memory before and after, in KiB.
    pub kernel_kib: (u64, u64),
}

impl IdleMemory {
    /// User-space bytes per connection.
    pub fn per_connection_bytes(&self) -> f64 {
        (self.loaded_kib.saturating_sub(self.baseline_kib) * 1024) as f64 / self.connections as f64
    }

    /// Kernel slab bytes per connection (both ends of each loopback connection included).
    pub fn kernel_per_connection_bytes(&self) -> f64 {
        (self.kernel_kib.1.saturating_sub(self.kernel_kib.0) * 1024) as f64
            / self.connections as f64
    }
}

fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("reading the server's memory: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS in /proc/PID/status".to_owned())
}

/// The kernel's slab memory in KiB (`Slab` in /proc/meminfo), where socket structures live.
/// Machine-wide, so only a rough figure for the sockets opened meanwhile.
fn kernel_slab_kib() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("Slab:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Starts a server binary that prints `listening on ws://ADDR` first; returns it and ADDR. Its
/// file limit is raised to the hard limit so that it can hold 10,000 sockets.
pub async fn start_server(binary: &Path, args: &[&str]) -> Result<(Child, String), String> {
    start_server_with_env(binary, args, &[]).await
}

/// Like [`start_server`], with extra environment variables for the server.
pub async fn start_server_with_env(
    binary: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<(Child, String), String> {
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(r#"ulimit -n "$(ulimit -Hn)" && exec "$0" "$@""#)
        .arg(binary)
        .args(args)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("starting {}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    let mut reader = BufReader::new(stdout);
    let read = reader.read_line(&mut line);
    tokio::time::timeout(Duration::from_secs(30), read)
        .await
        .map_err(|_| "the server printed no address within 30s".to_owned())?
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .strip_prefix("listening on ws://")
        .ok_or_else(|| format!("unexpected first line from the server: {line:?}"))?
        .to_owned();
    // Whatever the server prints later (the metrics address) is read and dropped: with the pipe
    // closed, its next `println!` would fail and end it.
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut reader, &mut tokio::io::sink()).await;
    });
    Ok((child, addr))
}

/// Asks a server started by [`start_server`] to shut down gracefully (SIGTERM, as `kill` sends),
/// and waits at most `limit` for it to exit.
pub async fn terminate(child: &mut Child, limit: Duration) -> Result<(), String> {
    let pid = child.id().ok_or("the server has already exited")?;
    let sent = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await
        .map_err(|e| format!("running kill: {e}"))?;
    if !sent.success() {
        return Err(format!("kill -TERM {pid} failed"));
    }
    tokio::time::timeout(limit, child.wait())
        .await
        .map_err(|_| format!("the server did not exit within {limit:?} of SIGTERM"))?
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Opens one connection and upgrades it on `path`.
pub async fn upgrade(addr: &str, path: &str) -> Result<TcpStream, String> {
    let mut stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    // Bounded: a response head is short.
    while !head.ends_with(b"\r\n\r\n") && head.len() < 4096 {
        if stream.read(&mut byte).await.map_err(|e| e.to_string())? == 0 {
            return Err("the server closed the connection during the upgrade".to_owned());
        }
        head.push(byte[0]);
    }
    if head.starts_with(b"HTTP/1.1 101") {
        Ok(stream)
    } else {
        Err(format!(
            "upgrade refused: {}",
            String::from_utf8_lossy(&head)
        ))
    }
}

/// Holds `connections` idle connections to `addr` and measures the server process `pid`.
pub async fn measure(pid: u32, addr: &str, connections: usize) -> Result<IdleMemory, String> {
    let first = upgrade(addr, "/echo/text").await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let baseline_kib = rss_kib(pid)?;
    let kernel_before = kernel_slab_kib();
    let mut open = vec![first];
    // Batches of 250 at once keep the listen backlog from overflowing.
    while open.len() < connections {
        let batch = (connections - open.len()).min(250);
        let mut pending = tokio::task::JoinSet::new();
        for _ in 0..batch {
            let addr = addr.to_owned();
            pending.spawn(async move { upgrade(&addr, "/echo/text").await });
        }
        while let Some(joined) = pending.join_next().await {
            open.push(joined.map_err(|e| e.to_string())??);
        }
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let loaded_kib = rss_kib(pid)?;
    let kernel_after = kernel_slab_kib();
    drop(open);
    Ok(IdleMemory {
        connections,
        baseline_kib,
        loaded_kib,
        kernel_kib: (kernel_before, kernel_after),
    })
}

/// Builds the release echo server (or takes `server`, one built elsewhere, for a before/after
/// comparison) and measures it at 1,000 and 10,000 connections, each in a fresh server process.
pub fn run(root: &Path, server: Option<&Path>) -> Result<Vec<IdleMemory>, String> {
    let binary = match server {
        Some(path) => path.to_path_buf(),
        None => {
            let status = std::process::Command::new(env!("CARGO"))
                .args(["build", "--release", "--example", "echo-server"])
                .current_dir(root)
                .status()
                .map_err(|e| e.to_string())?;
            if !status.success() {
                return Err("building the echo server failed".to_owned());
            }
            crate::target_dir(root).join("release/examples/echo-server")
        }
    };
    // The client side holds as many sockets as the server.
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    let runtime = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let mut results = Vec::new();
        for connections in [1_000, 10_000] {
            let (mut server, addr) = start_server(&binary, &["127.0.0.1:0"]).await?;
            let pid = server.id().ok_or("the server exited")?;
            let measured = measure(pid, &addr, connections).await;
            let _ = server.kill().await;
            results.push(measured?);
        }
        Ok(results)
    })
}

/// The results as a Markdown table.
pub fn table(results: &[IdleMemory]) -> String {
    let mut out = String::from(
        "| idle connections | server RSS before | server RSS after | per connection (user space) | kernel slab per connection (both ends) |\n|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} KiB | {} KiB | {:.1} KiB | {:.1} KiB |\n",
            r.connections,
            r.baseline_kib,
            r.loaded_kib,
            r.per_connection_bytes() / 1024.0,
            r.kernel_per_connection_bytes() / 1024.0,
        ));
    }
    out
}
