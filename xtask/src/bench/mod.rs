//! `cargo xtask bench [--quick]`: the generated server against baselines, in one run.
//!
//! Servers, each its own process on 127.0.0.1 (pinned to core 0 when `taskset` exists, the
//! load client to core 1): the generated echo server; a hand-written tokio-tungstenite echo with
//! best practice; fastwebsockets; a plain TCP echo with the same framing (the machine's limit);
//! starlette + uvicorn from PyPI; the generated echo mounted in axum; and a hand-written echo on
//! axum's own `extract::ws`. Each row of the matrix runs every server in turn, sample
//! after sample, the order reversed every other round (A B B A), after a warm-up; cells report
//! the median and the min-max, and the ratio of two servers is the median of their ratios per
//! A B B A block of two rounds (see [`Cell::paired`]). Then the generated server and
//! tokio-tungstenite loaded at the same time (CPU per message, [`side_by_side`]), latency at
//! half of peak load, memory per idle connection, and the generator's own speed.
//! Results go to BENCHMARKS.md (tables) and bench/chart.svg (drawn here, with plotters).

pub mod callgrind;
mod chart;
pub mod cluster;
mod load;
mod report;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use load::Payload;

use crate::idle;

/// The generated echo server mounted in axum (`bench/src/bin/axum-generated-echo.rs`).
pub const AXUM_GENERATED: &str = "generated (axum)";
/// A hand-written echo on axum's own `extract::ws` (`bench/src/bin/axum-echo.rs`).
pub const AXUM_WS: &str = "axum extract::ws";

/// One server under test.
pub struct Server {
    pub name: &'static str,
    command: Vec<String>,
    /// Whether it does the typed JSON row (the TCP echo has no JSON layer).
    pub json: bool,
}

/// One row of the matrix.
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub label: &'static str,
    pub payload: Payload,
    pub connections: usize,
    pub in_flight: usize,
}

impl Row {
    /// This row's load against the server at `addr`, closed loop, for `duration`.
    fn run(
        &self,
        addr: &str,
        duration: Duration,
    ) -> impl std::future::Future<Output = Result<load::Run, String>> {
        load::run(
            addr,
            self.payload,
            self.connections,
            self.in_flight,
            None,
            duration,
        )
    }
}

pub const ROWS: [Row; 6] = [
    Row {
        label: "100 conns x 20 B text",
        payload: Payload::Text(20),
        connections: 100,
        in_flight: 1,
    },
    Row {
        label: "10 conns x 1 KiB text",
        payload: Payload::Text(1024),
        connections: 10,
        in_flight: 1,
    },
    Row {
        label: "10 conns x 16 KiB binary",
        payload: Payload::Binary(16 * 1024),
        connections: 10,
        in_flight: 1,
    },
    Row {
        label: "200 conns x 16 KiB binary",
        payload: Payload::Binary(16 * 1024),
        connections: 200,
        in_flight: 1,
    },
    Row {
        label: "10 conns x 1 KiB JSON DTO",
        payload: Payload::Json(1024),
        connections: 10,
        in_flight: 1,
    },
    Row {
        label: "100 conns x 20 B, 16 in flight",
        payload: Payload::Text(20),
        connections: 100,
        in_flight: 16,
    },
];

/// The median of `values` (sorted in place); `None` if there are none.
pub(crate) fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        n if n % 2 == 1 => Some(values[n / 2]),
        n => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// The order the servers run in, in round `round` of a row: every other round the opposite
/// way, so that neither of two neighbours always runs right after the other (A B B A).
fn round_order(servers: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..servers).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

/// Samples per cell and seconds per sample: one short sample in quick mode.
pub fn sampling(quick: bool) -> (usize, f64) {
    // Even: every A B B A block of two rounds is whole.
    if quick { (1, 0.5) } else { (8, 2.0) }
}

/// Rounds and seconds per round of the side-by-side measurement ([`side_by_side`]).
pub fn side_by_side_sampling(quick: bool) -> (usize, f64) {
    if quick { (1, 0.5) } else { (5, 3.0) }
}

/// A ratio of two servers in one row, taken block by block or round by round: its median, its
/// min-max, and how many of the ratios were above 1.0.
#[derive(Debug, Clone, Copy)]
pub struct Paired {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    /// Ratios above 1.0, of `count`.
    pub above: usize,
    pub count: usize,
}

impl Paired {
    /// The median and min-max of `ratios`, leaving out any that is not a finite positive
    /// number; `None` without any.
    fn of(ratios: impl IntoIterator<Item = f64>) -> Option<Paired> {
        let mut ratios: Vec<f64> = ratios
            .into_iter()
            .filter(|r| r.is_finite() && *r > 0.0)
            .collect();
        Some(Paired {
            median: median(&mut ratios)?,
            min: *ratios.first()?,
            max: *ratios.last()?,
            above: ratios.iter().filter(|r| **r > 1.0).count(),
            count: ratios.len(),
        })
    }
}

/// Samples of one server in one row: messages per second.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub samples: Vec<f64>,
    /// The share of its core the server used in each sample (its CPU time over the sample's
    /// wall time): well under 1.0 means it waited, for the load client or the network.
    pub busy: Vec<f64>,
}

impl Cell {
    pub fn median(&self) -> f64 {
        median(&mut self.samples.clone()).unwrap_or(0.0)
    }
    pub fn min(&self) -> f64 {
        self.samples.iter().copied().fold(f64::INFINITY, f64::min)
    }
    pub fn max(&self) -> f64 {
        self.samples.iter().copied().fold(0.0, f64::max)
    }

    /// This server against `other`, block by block: two servers run seconds apart in each
    /// round, so their ratio in one round is little moved by the machine speeding up or slowing
    /// down between rounds (steal time here moves every server's rate by tens of percent over a
    /// minute). One ratio per A B B A block (a round in each order): the geometric mean of its
    /// two rounds' ratios, which cancels an effect of the order and a steady drift within the
    /// block, where the median of an odd number of single rounds would side with one order.
    /// `None` without samples.
    pub fn paired(&self, other: &Cell) -> Option<Paired> {
        let ratios: Vec<f64> = self
            .samples
            .iter()
            .zip(&other.samples)
            .map(|(a, b)| a / b)
            .collect();
        Paired::of(ratios.chunks(2).map(|block| {
            let logs: f64 = block.iter().map(|r| r.ln()).sum();
            (logs / block.len() as f64).exp()
        }))
    }

    /// The median share of its core the server used, if it was measured.
    pub fn busy(&self) -> Option<f64> {
        median(&mut self.busy.clone())
    }
}

/// CPU time a process has used so far, all its threads together (`/proc/PID/task/*/schedstat`,
/// nanoseconds on the CPU); `None` where there is no such file (not Linux).
fn cpu_time(pid: u32) -> Option<Duration> {
    let mut total = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(Duration::from_nanos(total))
}

/// The CPU time used between two readings of [`cpu_time`]; `None` without both, or when it went
/// backwards (a thread exited in between and took its CPU time with it).
fn cpu_between(before: Option<Duration>, after: Option<Duration>) -> Option<Duration> {
    after?.checked_sub(before?)
}

/// Latency of one server at a fixed offered load.
#[derive(Debug, Clone)]
pub struct Latency {
    pub server: &'static str,
    pub row: &'static str,
    pub offered: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Everything one run measured.
pub struct Results {
    pub quick: bool,
    pub pinned: bool,
    pub servers: Vec<&'static str>,
    /// `cells[row][server]`; `None` where a server does not do the row.
    pub cells: Vec<Vec<Option<Cell>>>,
    /// Per row: the generated server and tokio-tungstenite loaded at the same time.
    pub efficiency: Vec<Efficiency>,
    /// Per row: the generated server mounted in axum and axum's own WebSocket echo loaded at
    /// the same time (empty when either is not in the run).
    pub mounted_efficiency: Vec<Efficiency>,
    /// Per row: the generated server and a second process of the same server loaded at the
    /// same time: how far a side-by-side ratio strays where there is no difference to find.
    pub control: Vec<Efficiency>,
    pub latencies: Vec<Latency>,
    pub memory: Vec<(&'static str, idle::IdleMemory)>,
    pub generator: Duration,
    pub generator_size: (usize, usize),
    pub noop_build: (Duration, bool),
    pub client_note: Option<String>,
    /// The cross-node rows, or why they could not be measured (the other rows are kept).
    pub cluster: Result<cluster::ClusterResults, String>,
}

pub(crate) fn run_command(root: &Path, program: &str, args: &[&str]) -> Result<(), String> {
    let status = std::process::Command::new(program)
        .args(args)
        .current_dir(root)
        .status()
        .map_err(|e| format!("{program}: {e}"))?;
    status
        .success()
        .then_some(())
        .ok_or_else(|| format!("`{program} {}` failed", args.join(" ")))
}

fn has_taskset() -> bool {
    std::process::Command::new("taskset")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Pins this process (the load side; its runtime threads inherit it) to core 1, when
/// `taskset` exists; the servers are then started on core 0. Says whether it pinned.
fn pin_to_core_1() -> bool {
    let pinned = has_taskset();
    if pinned {
        let me = std::process::id().to_string();
        let _ = std::process::Command::new("taskset")
            .args(["-cp", "1", &me])
            .stdout(Stdio::null())
            .status();
    }
    pinned
}

fn servers(root: &Path, pinned: bool) -> Vec<Server> {
    let release = crate::target_dir(root).join("release");
    let pin = |mut command: Vec<String>| {
        if pinned {
            command.splice(
                0..0,
                ["taskset".to_owned(), "-c".to_owned(), "0".to_owned()],
            );
        }
        command
    };
    let bin = |p: PathBuf| p.display().to_string();
    vec![
        Server {
            name: "generated",
            command: pin(vec![
                bin(release.join("examples/echo-server")),
                "127.0.0.1:0".into(),
            ]),
            json: true,
        },
        Server {
            name: "tokio-tungstenite",
            command: pin(vec![bin(release.join("tungstenite-echo"))]),
            json: true,
        },
        Server {
            name: "fastwebsockets",
            command: pin(vec![bin(release.join("fastwebsockets-echo"))]),
            json: true,
        },
        Server {
            name: "TCP echo (limit)",
            command: pin(vec![bin(release.join("tcp-echo"))]),
            json: false,
        },
        Server {
            name: "starlette+uvicorn",
            command: pin(vec![
                bin(root.join("target/bench/venv/bin/python")),
                bin(root.join("bench/python/echo_server.py")),
            ]),
            json: true,
        },
        // Last, so that the columns above keep their places (the report finds these by name).
        Server {
            name: AXUM_GENERATED,
            command: pin(vec![bin(release.join("axum-generated-echo"))]),
            json: true,
        },
        Server {
            name: AXUM_WS,
            command: pin(vec![bin(release.join("axum-echo"))]),
            json: true,
        },
    ]
}

/// `cargo xtask bench pair A B [--quick]`: two echo servers (`A` and `B` each a command line,
/// split at whitespace, that prints `listening on ws://ADDR` first) loaded side by side in every
/// row, as the bench loads the generated server and its baseline; prints CPU per message and
/// A's over B's. For a change's before and after: build both, run the two binaries.
pub fn pair_only(a: &str, b: &str, quick: bool) -> Result<(), String> {
    let pinned = pin_to_core_1();
    let command = |line: &str| -> Result<Vec<String>, String> {
        let mut words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() || line.starts_with("--") {
            return Err(format!(
                "bench pair needs two server commands, got {line:?}: \
                 cargo xtask bench pair 'SERVER A' 'SERVER B' [--quick]"
            ));
        }
        if pinned {
            words.splice(
                0..0,
                ["taskset".to_owned(), "-c".to_owned(), "0".to_owned()],
            );
        }
        Ok(words)
    };
    let commands = [command(a)?, command(b)?];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let rows = runtime.block_on(async {
        let mut running = Vec::new();
        for words in &commands {
            running.push(start(words).await?);
        }
        side_by_side(&running, (1, 0), quick).await
    })?;
    println!("{}", report::pair_table(&rows));
    Ok(())
}

/// `cargo xtask bench cluster`: only the cross-node rows, printed (BENCHMARKS.md is written by
/// the whole run).
pub fn cluster_only(root: &Path, quick: bool) -> Result<(), String> {
    let build = [
        "build",
        "--release",
        "-p",
        "wsgen-cli",
        "--example",
        "chat-node",
    ];
    run_command(root, env!("CARGO"), &build)?;
    let load = [
        "build",
        "--release",
        "-p",
        "wsgen-bench",
        "--bin",
        "whisper-load",
    ];
    run_command(root, env!("CARGO"), &load)?;
    run_command(root, "bash", &["scripts/deps.sh", "cluster"])?;
    let pinned = pin_to_core_1();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let results = runtime.block_on(cluster::run(root, quick, pinned))?;
    println!("{}", report::cluster_section(&results));
    Ok(())
}

/// Runs the whole bench and writes BENCHMARKS.md and bench/chart.svg.
pub fn run(root: &Path, quick: bool) -> Result<(), String> {
    // The `wsgen` binary too: the generator's speed is measured on what users run.
    let build = [
        "build",
        "--release",
        "-p",
        "wsgen-cli",
        "--bin",
        "wsgen",
        "--example",
        "echo-server",
        "--example",
        "chat-node",
    ];
    run_command(root, env!("CARGO"), &build)?;
    run_command(
        root,
        env!("CARGO"),
        &["build", "--release", "-p", "wsgen-bench"],
    )?;
    run_command(root, "bash", &["scripts/deps.sh", "bench", "cluster"])?;
    let _ = rlimit::increase_nofile_limit(u64::MAX);
    // Every core, before this process pins itself to one: the generator's run gets them all.
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let pinned = pin_to_core_1();
    let servers = servers(root, pinned);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (cells, [efficiency, mounted_efficiency, control], latencies, memory) =
        runtime.block_on(measure_servers(&servers, quick))?;
    // A failure across nodes (Redis, a node process) costs only its own section.
    let cluster = runtime.block_on(cluster::run(root, quick, pinned));
    if let Err(error) = &cluster {
        eprintln!("the cross-node rows could not be measured: {error}");
    }
    let (generator, generator_size) = generator_speed(root, pinned.then_some(cores))?;
    let noop_build = noop_build(root)?;

    // The client must not be the bottleneck. A server that keeps its core busy is what sets
    // the pace of its row, so a row is flagged only when a server waited: when the generated
    // server or its baseline used less than 90% of its core, or when the plain TCP echo (no
    // protocol work) was no faster than the fastest server without keeping its own core busy.
    let tcp = servers.iter().position(|s| s.name.starts_with("TCP"));
    let mut slow_rows = Vec::new();
    for (r, row) in ROWS.iter().enumerate() {
        let mut why = Vec::new();
        if let Some(limit) = tcp.and_then(|t| cells[r][t].as_ref()) {
            let fastest = cells[r]
                .iter()
                .enumerate()
                .filter(|(s, _)| Some(*s) != tcp)
                .filter_map(|(_, c)| c.as_ref().map(Cell::median))
                .fold(0.0, f64::max);
            let waited = limit.busy().is_some_and(|b| b < 0.9);
            if fastest > 0.0 && limit.median() < 1.1 * fastest && waited {
                why.push(format!(
                    "the TCP echo reached only {:.2}x the fastest server and used {:.0}% of its core",
                    limit.median() / fastest,
                    limit.busy().unwrap_or(0.0) * 100.0
                ));
            }
        }
        for s in [0, 1] {
            let busy = cells[r][s].as_ref().and_then(Cell::busy);
            if let Some(busy) = busy.filter(|b| *b < 0.9) {
                why.push(format!(
                    "{} used {:.0}% of its core",
                    servers[s].name,
                    busy * 100.0
                ));
            }
        }
        if !why.is_empty() {
            slow_rows.push(format!("{} ({})", row.label, why.join(", ")));
        }
    }
    let client_note = (!slow_rows.is_empty()).then(|| {
        format!(
            "the load client may bound these rows: {}. Ratios between servers there understate differences.",
            slow_rows.join("; ")
        )
    });
    let results = Results {
        quick,
        pinned,
        servers: servers.iter().map(|s| s.name).collect(),
        cells,
        efficiency,
        mounted_efficiency,
        control,
        latencies,
        memory,
        generator,
        generator_size,
        noop_build,
        client_note,
        cluster,
    };
    let svg = chart::draw(&results)?;
    std::fs::write(root.join("bench/chart.svg"), svg).map_err(|e| e.to_string())?;
    let markdown = report::markdown(root, &results);
    std::fs::write(root.join("BENCHMARKS.md"), &markdown).map_err(|e| e.to_string())?;
    println!("{markdown}");
    println!("written: BENCHMARKS.md, bench/chart.svg");
    Ok(())
}

type Measured = (
    Vec<Vec<Option<Cell>>>,
    [Vec<Efficiency>; 3],
    Vec<Latency>,
    Vec<(&'static str, idle::IdleMemory)>,
);

/// CPU time per echoed message of a generated server and its baseline, both loaded at the same
/// time, in rounds (one row).
#[derive(Debug, Clone, Default)]
pub struct Efficiency {
    /// Microseconds of CPU per message in each round: (generated, baseline).
    pub rounds: Vec<(f64, f64)>,
}

impl Efficiency {
    /// The baseline's CPU per message over the generated server's, round by round (above 1.0:
    /// the generated server does the same work with less CPU).
    pub fn ratio(&self) -> Option<Paired> {
        Paired::of(self.rounds.iter().map(|(g, b)| b / g))
    }
}

/// Loads two servers (`pair`: the generated server and its baseline, as indexes into
/// `running`) at the same time, both on the servers' core, and divides each one's CPU time by
/// the messages it echoed. The two see the same machine at the same moment, so the ratio is
/// untouched by the drift between samples that the throughput rows have to average out; it
/// compares work per message, not the rate one server reaches alone.
async fn side_by_side(
    running: &[(tokio::process::Child, String)],
    (g, b): (usize, usize),
    quick: bool,
) -> Result<Vec<Efficiency>, String> {
    let (rounds, seconds) = side_by_side_sampling(quick);
    let duration = Duration::from_secs_f64(seconds);
    let mut rows = Vec::new();
    for row in ROWS {
        eprintln!("bench: side by side (servers {g} and {b}), {}", row.label);
        let mut efficiency = Efficiency::default();
        for _ in 0..rounds {
            let pids = [running[g].0.id(), running[b].0.id()];
            let before = pids.map(|p| p.and_then(cpu_time));
            let (generated, baseline) = tokio::join!(
                row.run(&running[g].1, duration),
                row.run(&running[b].1, duration)
            );
            let (generated, baseline) = (generated?, baseline?);
            let after = pids.map(|p| p.and_then(cpu_time));
            let per_message = |s: usize, replies: u64| {
                let used = cpu_between(before[s], after[s]).filter(|d| !d.is_zero())?;
                (replies > 0).then(|| used.as_secs_f64() * 1e6 / replies as f64)
            };
            if let (Some(g), Some(b)) = (
                per_message(0, generated.replies),
                per_message(1, baseline.replies),
            ) {
                efficiency.rounds.push((g, b));
            }
        }
        rows.push(efficiency);
    }
    Ok(rows)
}

/// Starts a server from its command line (program and arguments) and waits for its address.
async fn start(command: &[String]) -> Result<(tokio::process::Child, String), String> {
    let (program, args) = command.split_first().ok_or("empty command")?;
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    idle::start_server(Path::new(program), &args).await
}

async fn measure_servers(servers: &[Server], quick: bool) -> Result<Measured, String> {
    let (samples, seconds) = sampling(quick);
    let duration = Duration::from_secs_f64(seconds);
    let mut running = Vec::new();
    for server in servers {
        running.push(start(&server.command).await?);
    }
    let mut cells = vec![vec![None; servers.len()]; ROWS.len()];
    for (r, row) in ROWS.iter().enumerate() {
        eprintln!("bench: {}", row.label);
        let takes = |s: &Server| s.json || !matches!(row.payload, Payload::Json(_));
        // Warm-up: one short run each.
        for (s, server) in servers.iter().enumerate() {
            if takes(server) {
                row.run(&running[s].1, Duration::from_millis(300)).await?;
            }
        }
        for round in 0..samples {
            for s in round_order(servers.len(), round) {
                let server = &servers[s];
                if !takes(server) {
                    continue;
                }
                let pid = running[s].0.id();
                let before = pid.and_then(cpu_time);
                let started = std::time::Instant::now();
                let run = row.run(&running[s].1, duration).await?;
                let wall = started.elapsed().as_secs_f64();
                let cell = cells[r][s].get_or_insert_with(Cell::default);
                cell.samples.push(run.rate);
                if let Some(used) = cpu_between(before, pid.and_then(cpu_time)) {
                    cell.busy.push(used.as_secs_f64() / wall.max(1e-3));
                }
            }
        }
    }
    let efficiency = side_by_side(&running, (0, 1), quick).await?;
    let at = |name: &str| servers.iter().position(|s| s.name == name);
    let mounted = match at(AXUM_GENERATED).zip(at(AXUM_WS)) {
        Some(pair) => side_by_side(&running, pair, quick).await?,
        None => Vec::new(),
    };
    // The control: the generated server against a second process of itself.
    running.push(start(&servers[0].command).await?);
    let control = side_by_side(&running, (0, running.len() - 1), quick).await?;
    drop(running.pop());
    // Latency at half of peak: the same offered load for the Rust servers (half the slower of
    // generated and tokio-tungstenite), half its own peak for Python.
    let mut latencies = Vec::new();
    for r in [0usize, 4] {
        let row = ROWS[r];
        let peak = |s: usize| cells[r][s].as_ref().map_or(0.0, Cell::median);
        let shared = 0.5 * peak(0).min(peak(1));
        for (s, server) in servers.iter().enumerate() {
            if server.name.starts_with("TCP") || cells[r][s].is_none() {
                continue;
            }
            let offered = if server.name.starts_with("starlette") {
                0.5 * peak(s)
            } else {
                shared
            };
            let run = load::run(
                &running[s].1,
                row.payload,
                row.connections,
                1,
                Some(offered),
                duration * 2,
            )
            .await?;
            if let (Some(p50), Some(p99)) = (run.quantile(0.5), run.quantile(0.99)) {
                latencies.push(Latency {
                    server: server.name,
                    row: row.label,
                    offered,
                    p50,
                    p99,
                });
            }
        }
    }
    for (mut child, _) in running {
        let _ = child.kill().await;
    }
    // Memory per idle connection, each server fresh.
    let mut memory = Vec::new();
    let counts: &[usize] = if quick { &[1_000] } else { &[1_000, 10_000] };
    // The generated server, its two Rust baselines, and the two axum servers.
    let idle = servers
        .iter()
        .enumerate()
        .filter(|(i, s)| *i < 3 || [AXUM_GENERATED, AXUM_WS].contains(&s.name))
        .map(|(_, s)| s);
    for server in idle {
        for &connections in counts {
            let (mut child, addr) = start(&server.command).await?;
            let pid = child.id().ok_or("the server exited")?;
            let measured = idle::measure(pid, &addr, connections).await;
            let _ = child.kill().await;
            memory.push((server.name, measured?));
        }
    }
    Ok((cells, [efficiency, mounted, control], latencies, memory))
}

/// `cargo xtask load ADDR CONNECTIONS BYTES SECONDS [IN_FLIGHT] [json]`: the bench's load client
/// alone against a server that is already running (text echo on `/echo/raw`, or with `json` the
/// JSON DTO row's notes to `/echo/json`), for profiling it.
pub fn load_only(args: &[&str]) -> Result<(), String> {
    let number = |i: usize, default: usize| -> Result<usize, String> {
        args.get(i).map_or(Ok(default), |v| {
            v.parse().map_err(|_| format!("not a number: {v}"))
        })
    };
    let addr = args
        .first()
        .ok_or("usage: cargo xtask load ADDR [CONNECTIONS] [BYTES] [SECONDS] [IN_FLIGHT] [json]")?;
    let (connections, bytes, seconds, in_flight) = (
        number(1, 100)?,
        number(2, 20)?,
        number(3, 10)?,
        number(4, 1)?,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let run = runtime.block_on(load::run(
        addr,
        match args.get(5) {
            None => Payload::Text(bytes),
            Some(&"json") => Payload::Json(bytes),
            Some(other) => return Err(format!("not a payload kind: {other} (json or nothing)")),
        },
        connections,
        in_flight,
        None,
        Duration::from_secs(seconds as u64),
    ))?;
    println!("{:.0} messages per second", run.rate);
    Ok(())
}

/// A spec with `n` endpoints and `n` types.
fn big_spec(n: usize) -> String {
    let mut spec = String::from("wsgen: 1\nname: big\ntypes:\n");
    for i in 0..n {
        spec.push_str(&format!(
            "  T{i}:\n    docs: Type {i}.\n    fields:\n      id: u64\n      name: {{ type: string, max_length: 64 }}\n      tags: \"list<string>\"\n"
        ));
    }
    spec.push_str("controllers:\n  api:\n    path: /api\n    endpoints:\n");
    for i in 0..n {
        spec.push_str(&format!(
            "      e{i}:\n        path: /e{i}\n        receive: T{i}\n        send: T{}\n        reply: true\n",
            (i + 1) % n
        ));
    }
    spec
}

/// Time for the release `wsgen` binary to generate and format a 1,000-endpoint, 1,000-type
/// spec, process start included (median of three); and the files and bytes it wrote. When the
/// bench is pinned to one core, `wsgen` is given back all `cores`, as a user's machine would.
fn generator_speed(
    root: &Path,
    cores: Option<usize>,
) -> Result<(Duration, (usize, usize)), String> {
    let dir = root.join("target/bench");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let path = dir.join("big.yaml");
    std::fs::write(&path, big_spec(1_000)).map_err(|e| e.to_string())?;
    let out = dir.join("big-out");
    let binary = crate::target_dir(root).join("release/wsgen");
    let mut times = Vec::new();
    for _ in 0..3 {
        // Start from nothing, so every run writes.
        let _ = std::fs::remove_dir_all(&out);
        let mut command = match cores {
            Some(cores) => {
                let mut taskset = std::process::Command::new("taskset");
                taskset
                    .arg("-c")
                    .arg(format!("0-{}", cores.saturating_sub(1)))
                    .arg(&binary);
                taskset
            }
            None => std::process::Command::new(&binary),
        };
        let started = Instant::now();
        let status = command
            .arg("generate")
            .arg(&path)
            .arg("-o")
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .map_err(|e| format!("{}: {e}", binary.display()))?;
        times.push(started.elapsed());
        if !status.success() {
            return Err("wsgen failed on the 1,000-endpoint spec".to_owned());
        }
    }
    times.sort();
    let written = std::fs::read_dir(&out)
        .map_err(|e| e.to_string())?
        .filter_map(Result::ok)
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len() as usize)
        .collect::<Vec<_>>();
    Ok((times[1], (written.len(), written.iter().sum())))
}

/// A no-op `cargo build` of the build.rs example after a first build: its time, and whether
/// cargo considered the build script fresh (it must not rerun).
fn noop_build(root: &Path) -> Result<(Duration, bool), String> {
    run_command(
        root,
        env!("CARGO"),
        &["build", "--release", "-p", "wsgen-example-build-rs"],
    )?;
    let started = Instant::now();
    let output = std::process::Command::new(env!("CARGO"))
        .args(["build", "--release", "-v", "-p", "wsgen-example-build-rs"])
        .current_dir(root)
        .output()
        .map_err(|e| e.to_string())?;
    let elapsed = started.elapsed();
    let log = String::from_utf8_lossy(&output.stderr);
    let fresh =
        log.contains("Fresh wsgen-example-build-rs") && !log.contains("build-script-build`");
    Ok((elapsed, fresh))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the order of `measure_servers` for a row that `n` servers take: each sample is
    /// `rate(start time in s, position in its round)`.
    fn replay(n: usize, rate: impl Fn(f64, usize) -> f64) -> Vec<Cell> {
        let (samples, seconds) = sampling(false);
        let mut cells = vec![Cell::default(); n];
        let mut t = 0.0;
        for round in 0..samples {
            for (position, s) in round_order(n, round).into_iter().enumerate() {
                cells[s].samples.push(rate(t, position));
                // `load::run` keeps 200 ms for replies still on their way.
                t += seconds + 0.2;
            }
        }
        cells
    }

    #[test]
    fn equal_servers_come_out_level_whatever_their_order_in_a_round() {
        // Whichever runs later in a round gets 4% more.
        let cells = replay(7, |_, position| 100_000.0 * (1.0 + 0.04 * position as f64));
        let ratio = cells[0].paired(&cells[1]).expect("samples");
        assert!((ratio.median - 1.0).abs() < 0.005, "{ratio:?}");
        assert_eq!(ratio.count, sampling(false).0 / 2, "one ratio per block");
    }

    #[test]
    fn equal_servers_come_out_level_while_the_machine_drifts() {
        // The machine speeds up by 20% a minute; servers 0 and 6 run 13 s apart in a round.
        let cells = replay(7, |t, _| 100_000.0 * (1.0 + 0.2 * t / 60.0));
        let ratio = cells[0].paired(&cells[6]).expect("samples");
        assert!((ratio.median - 1.0).abs() < 0.005, "{ratio:?}");
    }

    #[test]
    fn a_server_ahead_in_every_round_is_ahead_by_that_much() {
        let cells = replay(1, |t, _| 1.0 + 0.1 * (t / 5.0).sin());
        let faster = Cell {
            samples: cells[0].samples.iter().map(|s| s * 1.25).collect(),
            busy: Vec::new(),
        };
        let ratio = faster.paired(&cells[0]).expect("samples");
        assert!((ratio.median - 1.25).abs() < 1e-9, "{ratio:?}");
        assert_eq!(ratio.above, ratio.count);
        assert!(cells[0].paired(&faster).expect("samples").above == 0);
    }

    #[test]
    fn ratios_that_are_not_finite_positive_numbers_are_left_out() {
        let efficiency = Efficiency {
            rounds: vec![(0.0, 0.0), (2.0, 0.0), (2.0, 3.0), (f64::NAN, 1.0)],
        };
        let ratio = efficiency.ratio().expect("one good round");
        assert_eq!((ratio.median, ratio.count, ratio.above), (1.5, 1, 1));
        assert!(
            Efficiency {
                rounds: vec![(0.0, 0.0)]
            }
            .ratio()
            .is_none()
        );
        let silent = Cell {
            samples: vec![0.0, 0.0],
            busy: Vec::new(),
        };
        assert!(silent.paired(&silent).is_none());
    }

    #[test]
    fn cpu_time_that_went_backwards_is_no_reading() {
        let (one, two) = (Duration::from_secs(1), Duration::from_secs(2));
        assert_eq!(cpu_between(Some(one), Some(two)), Some(one));
        assert_eq!(cpu_between(Some(two), Some(one)), None);
        assert_eq!(cpu_between(None, Some(two)), None);
    }
}
