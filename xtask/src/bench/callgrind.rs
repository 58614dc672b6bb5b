//! `cargo xtask callgrind [--save]`: instructions the generated server spends per echoed
//! message, counted by valgrind's callgrind, as a regression guard that a noisy machine does not
//! disturb (instructions, not seconds).
//!
//! The release echo server runs under callgrind twice, once echoing 2,000 messages of 20 bytes
//! on one connection and once 12,000; the difference of the two totals divided by 10,000 is the
//! per-message cost, with start-up, the handshake and shutdown cancelled out. The hand-written
//! tokio-tungstenite server is counted the same way, for comparison. `--save` records the
//! generated server's count in `bench/callgrind.txt`; without it the count is compared with that
//! record and the command fails when it grew by more than 10%.

use std::path::Path;
use std::time::Duration;

use super::load::{self, Payload};
use crate::idle;

const FEW: usize = 2_000;
const MANY: usize = 12_000;
/// How much growth fails the check.
const TOLERANCE: f64 = 1.10;

/// The `summary:` total of a callgrind output file.
fn total_instructions(file: &Path) -> Result<u64, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no instruction total in {}", file.display()))
}

/// Runs `binary` under callgrind while `messages` are echoed; returns its total.
async fn count(root: &Path, binary: &Path, messages: usize) -> Result<u64, String> {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("server");
    let out = root.join(format!("target/callgrind/{name}-{messages}.out"));
    let _ = std::fs::remove_file(&out);
    let valgrind = Path::new("valgrind");
    let tool = format!("--callgrind-out-file={}", out.display());
    let args = [
        "--tool=callgrind",
        tool.as_str(),
        binary.to_str().unwrap_or_default(),
        "127.0.0.1:0",
    ];
    let (mut server, addr) = idle::start_server(valgrind, &args).await?;
    load::exchange(&addr, Payload::Text(20), messages)
        .await
        .map_err(|e| format!("echoing under callgrind: {e}"))?;
    // SIGTERM shuts the server down gracefully; callgrind then writes.
    idle::terminate(&mut server, Duration::from_secs(120)).await?;
    total_instructions(&out)
}

/// Measures, then saves or checks.
pub fn run(root: &Path, save: bool) -> Result<(), String> {
    let build = [
        "build",
        "--release",
        "-p",
        "wsgen",
        "--example",
        "echo-server",
    ];
    super::run_command(root, env!("CARGO"), &build)?;
    let build = [
        "build",
        "--release",
        "-p",
        "wsgen-bench",
        "--bin",
        "tungstenite-echo",
    ];
    super::run_command(root, env!("CARGO"), &build)?;
    std::fs::create_dir_all(root.join("target/callgrind")).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let per_message = |binary: &Path| {
        runtime.block_on(async {
            let (few, many) = (
                count(root, binary, FEW).await?,
                count(root, binary, MANY).await?,
            );
            Ok::<_, String>(many.saturating_sub(few) as f64 / (MANY - FEW) as f64)
        })
    };
    let baseline = per_message(&root.join("target/release/tungstenite-echo"))?;
    let per_message = per_message(&root.join("target/release/examples/echo-server"))?;
    println!(
        "{per_message:.0} instructions per echoed 20-byte message (user space, server side); \
         hand-written tokio-tungstenite: {baseline:.0} ({:.2}x)",
        per_message / baseline
    );
    let record = root.join("bench/callgrind.txt");
    if save {
        let text = format!(
            "# instructions per echoed 20-byte message, server side; written by `cargo xtask callgrind --save`\n{per_message:.0}\n"
        );
        std::fs::write(&record, text).map_err(|e| e.to_string())?;
        println!("saved to {}", record.display());
        return Ok(());
    }
    let saved: f64 = std::fs::read_to_string(&record)
        .map_err(|e| {
            format!(
                "{}: {e} (run `cargo xtask callgrind --save` first)",
                record.display()
            )
        })?
        .lines()
        .find(|l| !l.starts_with('#'))
        .and_then(|l| l.trim().parse().ok())
        .ok_or_else(|| format!("no count in {}", record.display()))?;
    let ratio = per_message / saved;
    println!("recorded {saved:.0}: {ratio:.3}x");
    if ratio > TOLERANCE {
        return Err(format!(
            "the per-message path grew by {:.1}% (more than {:.0}%): profile it, or record the new count with --save",
            (ratio - 1.0) * 100.0,
            (TOLERANCE - 1.0) * 100.0
        ));
    }
    Ok(())
}
