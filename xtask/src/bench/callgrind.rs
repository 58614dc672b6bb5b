//! `cargo xtask callgrind [--save | --metrics | --server PATH | --size BYTES]`: instructions the
//! generated server spends per echoed message, counted by valgrind's callgrind, as a regression
//! guard that a noisy machine does not disturb (instructions, not seconds).
//!
//! The release echo server runs under callgrind twice, once echoing 2,000 messages of 20 bytes
//! on one connection and once 12,000; the difference of the two totals divided by 10,000 is the
//! per-message cost, with start-up, the handshake and shutdown cancelled out. The hand-written
//! tokio-tungstenite server is counted the same way, for comparison. `--save` records the
//! generated server's count in `bench/callgrind.txt`; without it the count is compared with that
//! record and the command fails when it grew by more than 10%.
//!
//! `--metrics` runs the echo server with `WSGEN_METRICS_ADDR=127.0.0.1:0`, so that a Prometheus
//! recorder is installed and every metric reaches it (the cost of the `metrics` feature in use);
//! `--server PATH` counts an echo server built elsewhere (another commit, for a before/after
//! comparison) instead of building this one; `--size BYTES` echoes messages of that size instead
//! of 20 bytes (the cost of large messages). None of them is compared with the record nor saved.
//! Valgrind comes from `scripts/deps.sh bench` when it is not installed.

use std::path::{Path, PathBuf};
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

/// What to measure.
#[derive(Debug, Default)]
pub struct Options {
    /// Record the count in `bench/callgrind.txt`.
    save: bool,
    /// Install the example's Prometheus recorder (`WSGEN_METRICS_ADDR`).
    metrics: bool,
    /// An echo server built elsewhere, counted instead of this tree's.
    server: Option<PathBuf>,
    /// The size of the echoed messages, if not the recorded 20 bytes.
    size: Option<usize>,
}

impl Options {
    /// Reads `[--save | --metrics | --server PATH]`.
    pub fn parse(args: &[&str]) -> Result<Options, String> {
        let mut options = Options::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match *arg {
                "--save" => options.save = true,
                "--metrics" => options.metrics = true,
                "--server" => {
                    let path = args
                        .next()
                        .ok_or("--server needs the path of an echo server")?;
                    options.server = Some(PathBuf::from(path));
                }
                "--size" => {
                    let size = args
                        .next()
                        .and_then(|n| n.parse().ok())
                        .ok_or("--size needs a message size in bytes")?;
                    options.size = Some(size);
                }
                other => return Err(format!("callgrind: unknown argument {other:?}")),
            }
        }
        if options.save && (options.metrics || options.server.is_some() || options.size.is_some()) {
            return Err(
                "--save records this tree's count of 20-byte messages without a recorder only"
                    .to_owned(),
            );
        }
        Ok(options)
    }
}

/// Runs `binary` under callgrind while `messages` are echoed; returns its total.
async fn count(
    target: &Path,
    binary: &Path,
    messages: usize,
    size: usize,
    env: &[(&str, &str)],
) -> Result<u64, String> {
    let name = binary
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("server");
    let out = target.join(format!("callgrind/{name}-{messages}.out"));
    let _ = std::fs::remove_file(&out);
    let valgrind = Path::new("valgrind");
    let tool = format!("--callgrind-out-file={}", out.display());
    let args = [
        "--tool=callgrind",
        tool.as_str(),
        binary.to_str().unwrap_or_default(),
        "127.0.0.1:0",
    ];
    let (mut server, addr) = idle::start_server_with_env(valgrind, &args, env).await?;
    load::exchange(&addr, Payload::Text(size), messages)
        .await
        .map_err(|e| format!("echoing under callgrind: {e}"))?;
    // SIGTERM shuts the server down gracefully; callgrind then writes.
    idle::terminate(&mut server, Duration::from_secs(120)).await?;
    total_instructions(&out)
}

/// Measures, then saves or checks.
pub fn run(root: &Path, options: &Options) -> Result<(), String> {
    let target = crate::target_dir(root);
    if std::process::Command::new("valgrind")
        .arg("--version")
        .output()
        .is_err()
    {
        super::run_command(root, "bash", &["scripts/deps.sh", "bench"])?;
    }
    if options.server.is_none() {
        let build = [
            "build",
            "--release",
            "-p",
            "wsgen-cli",
            "--example",
            "echo-server",
        ];
        super::run_command(root, env!("CARGO"), &build)?;
    }
    let build = [
        "build",
        "--release",
        "-p",
        "wsgen-bench",
        "--bin",
        "tungstenite-echo",
    ];
    super::run_command(root, env!("CARGO"), &build)?;
    std::fs::create_dir_all(target.join("callgrind")).map_err(|e| e.to_string())?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let size = options.size.unwrap_or(20);
    let per_message = |binary: &Path, env: &[(&str, &str)]| {
        runtime.block_on(async {
            let (few, many) = (
                count(&target, binary, FEW, size, env).await?,
                count(&target, binary, MANY, size, env).await?,
            );
            Ok::<_, String>(many.saturating_sub(few) as f64 / (MANY - FEW) as f64)
        })
    };
    let baseline = per_message(&target.join("release/tungstenite-echo"), &[])?;
    let server = options
        .server
        .clone()
        .unwrap_or_else(|| target.join("release/examples/echo-server"));
    let env: &[(&str, &str)] = if options.metrics {
        &[("WSGEN_METRICS_ADDR", "127.0.0.1:0")]
    } else {
        &[]
    };
    let per_message = per_message(&server, env)?;
    let what = match (&options.server, options.metrics) {
        (Some(path), _) => format!("{} ", path.display()),
        (None, true) => "with a metrics recorder installed ".to_owned(),
        (None, false) => String::new(),
    };
    println!(
        "{per_message:.0} instructions per echoed {size}-byte message {what}(user space, server side); \
         hand-written tokio-tungstenite: {baseline:.0} ({:.2}x)",
        per_message / baseline
    );
    if options.metrics || options.server.is_some() || options.size.is_some() {
        return Ok(());
    }
    let record = root.join("bench/callgrind.txt");
    if options.save {
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
