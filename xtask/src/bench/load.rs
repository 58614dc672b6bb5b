//! The load client: closed-loop (each connection keeps `in_flight` messages outstanding and
//! sends one more per reply, as uWebSockets' load_test does) or paced (a fixed total rate, for
//! latency at a given load). It does its own framing and masking on plain TCP so that it is
//! cheap next to the server it measures.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What one cell sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Payload {
    /// Text of this many bytes.
    Text(usize),
    /// Binary of this many bytes.
    Binary(usize),
    /// A `{"type":"note",..}` DTO of about this many bytes, to `/echo/json`.
    Json(usize),
}

impl Payload {
    pub fn path(self) -> &'static str {
        match self {
            Payload::Json(_) => "/echo/json",
            _ => "/echo/raw",
        }
    }

    /// The masked frame to send, built once per connection.
    fn frame(self, mask: [u8; 4]) -> Vec<u8> {
        let (opcode, body) = match self {
            Payload::Text(n) => (0x1, vec![b'x'; n]),
            Payload::Binary(n) => (0x2, (0..n).map(|i| i as u8).collect()),
            Payload::Json(n) => {
                let text = "x".repeat(n.saturating_sub(32).clamp(1, 1000));
                (
                    0x1,
                    format!(r#"{{"type":"note","id":7,"text":"{text}"}}"#).into_bytes(),
                )
            }
        };
        let mut out = vec![0x80 | opcode];
        match body.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(body.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }
}

/// One connection's results.
#[derive(Debug, Default)]
struct Tally {
    replies: u64,
    latencies: Vec<Duration>,
}

/// The length of a complete server frame at the start of `b`, if there is one.
fn frame_len(b: &[u8]) -> Option<usize> {
    if b.len() < 2 {
        return None;
    }
    let (len, at) = match b[1] & 0x7F {
        126 => (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4),
        127 => (
            u64::from_be_bytes(b.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    (b.len() >= at + len).then_some(at + len)
}

async fn connect(addr: &str, payload: Payload) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        payload.path()
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buffer = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    let end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
    };
    if !buffer.starts_with(b"HTTP/1.1 101") {
        return Err(std::io::Error::other(
            String::from_utf8_lossy(&buffer[..end]).into_owned(),
        ));
    }
    buffer.drain(..end);
    // The typed endpoint greets every connection first; that is not a reply.
    if matches!(payload, Payload::Json(_)) {
        while frame_len(&buffer).is_none() {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        let len = frame_len(&buffer).unwrap_or(0);
        buffer.drain(..len);
    }
    Ok((stream, buffer))
}

/// What a connection has read and not yet taken: reads land in the spare capacity of one
/// buffer (never zero-filled), and taken frames are skipped over rather than moved out, so a
/// reply costs no copy; the buffer is compacted only when it runs out of room.
struct Inbox {
    bytes: Vec<u8>,
    /// The first byte not yet taken.
    start: usize,
}

impl Inbox {
    fn new(left_over: Vec<u8>) -> Self {
        let mut bytes = left_over;
        bytes.reserve(64 * 1024);
        Inbox { bytes, start: 0 }
    }

    /// Reads what has arrived (0 at the end of the stream).
    async fn read(&mut self, stream: &mut TcpStream) -> std::io::Result<usize> {
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        } else if self.bytes.capacity() - self.bytes.len() < 16 * 1024 {
            self.bytes.drain(..self.start);
            self.start = 0;
            self.bytes.reserve(64 * 1024);
        }
        stream.read_buf(&mut self.bytes).await
    }

    /// Takes every complete frame that has arrived; says how many.
    fn take_frames(&mut self) -> u64 {
        let mut frames = 0;
        while let Some(len) = frame_len(&self.bytes[self.start..]) {
            self.start += len;
            frames += 1;
        }
        frames
    }
}

/// Drives one connection until `deadline`: closed loop with `in_flight` outstanding, or paced
/// at one message every `interval`.
/// How long a load connection waits for the server's `101`.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server ended a connection during a run: an echo server never does, so the run failed.
fn closed(replies: u64) -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        format!("the server closed the connection after {replies} replies"),
    )
}

async fn drive(
    addr: String,
    payload: Payload,
    in_flight: usize,
    interval: Option<Duration>,
    deadline: Instant,
    mask: [u8; 4],
) -> std::io::Result<Tally> {
    // A server that accepts and never answers must not hold the run up.
    let (mut stream, left_over) = tokio::time::timeout(HANDSHAKE_TIMEOUT, connect(&addr, payload))
        .await
        .map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no WebSocket handshake within {HANDSHAKE_TIMEOUT:?}"),
            )
        })??;
    let mut inbox = Inbox::new(left_over);
    let frame = payload.frame(mask);
    let mut tally = Tally::default();
    let mut sent_at: VecDeque<Instant> = VecDeque::new();
    let mut batch = Vec::with_capacity(frame.len() * in_flight);
    // One timer for the whole run: armed once, not once per read.
    let end = tokio::time::sleep_until(deadline.into());
    tokio::pin!(end);
    match interval {
        None => {
            for _ in 0..in_flight {
                batch.extend_from_slice(&frame);
            }
            stream.write_all(&batch).await?;
            loop {
                let n = tokio::select! {
                    biased;
                    read = inbox.read(&mut stream) => read?,
                    () = &mut end => return Ok(tally),
                };
                if n == 0 {
                    return Err(closed(tally.replies));
                }
                let replies = inbox.take_frames();
                tally.replies += replies;
                if Instant::now() >= deadline {
                    return Ok(tally);
                }
                if replies > 0 {
                    batch.clear();
                    for _ in 0..replies {
                        batch.extend_from_slice(&frame);
                    }
                    stream.write_all(&batch).await?;
                }
            }
        }
        Some(every) => {
            let mut ticker = tokio::time::interval(every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = ticker.tick() => {
                        sent_at.push_back(Instant::now());
                        stream.write_all(&frame).await?;
                    }
                    read = inbox.read(&mut stream) => {
                        if read? == 0 {
                            return Err(closed(tally.replies));
                        }
                        let now = Instant::now();
                        for _ in 0..inbox.take_frames() {
                            tally.replies += 1;
                            if let Some(at) = sent_at.pop_front() {
                                tally.latencies.push(now - at);
                            }
                        }
                    }
                    () = &mut end => return Ok(tally),
                }
            }
        }
    }
}

/// The outcome of one run.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// Replies per second, over all connections.
    pub rate: f64,
    /// Replies, over all connections.
    pub replies: u64,
    /// Round-trip times, sorted (paced runs only).
    pub latencies: Vec<Duration>,
}

impl Run {
    /// The `q` quantile of the round-trip times.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.latencies.is_empty() {
            return None;
        }
        let index = ((self.latencies.len() - 1) as f64 * q).round() as usize;
        self.latencies.get(index).copied()
    }
}

/// Runs `connections` connections for `duration`: closed loop when `rate` is `None`, else
/// paced at `rate` messages per second in total.
pub async fn run(
    addr: &str,
    payload: Payload,
    connections: usize,
    in_flight: usize,
    rate: Option<f64>,
    duration: Duration,
) -> Result<Run, String> {
    let deadline = Instant::now() + duration + Duration::from_millis(200);
    let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r.max(1.0)));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..connections {
        let mask = (0x9E37_79B9u32.wrapping_mul(i as u32 + 1)).to_be_bytes();
        tasks.spawn(drive(
            addr.to_owned(),
            payload,
            in_flight,
            interval,
            deadline,
            mask,
        ));
    }
    let started = Instant::now();
    let mut run = Run::default();
    let mut replies = 0;
    while let Some(joined) = tasks.join_next().await {
        let tally = joined
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("load connection: {e}"))?;
        replies += tally.replies;
        run.latencies.extend(tally.latencies);
    }
    let elapsed = started.elapsed().as_secs_f64().max(1e-3);
    run.replies = replies;
    run.rate = replies as f64 / elapsed;
    run.latencies.sort();
    Ok(run)
}

/// Sends exactly `count` messages on one connection, one in flight, and waits for each reply:
/// a fixed amount of work, for counting instructions.
pub async fn exchange(addr: &str, payload: Payload, count: usize) -> std::io::Result<()> {
    let (mut stream, mut buffer) = connect(addr, payload).await?;
    let frame = payload.frame([1, 2, 3, 4]);
    let mut chunk = vec![0u8; 64 * 1024];
    for _ in 0..count {
        stream.write_all(&frame).await?;
        loop {
            if let Some(len) = frame_len(&buffer) {
                buffer.drain(..len);
                break;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that accepts connections (the kernel's backlog) and never answers: the run
    /// ends with an error once the handshake has waited its limit, instead of never.
    #[tokio::test]
    async fn a_run_against_a_server_that_never_answers_ends_with_an_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        let run = run(
            &addr,
            Payload::Text(20),
            1,
            1,
            None,
            Duration::from_millis(100),
        );
        let ended = tokio::time::timeout(HANDSHAKE_TIMEOUT * 2, run).await;
        let error = ended
            .expect("the run ends")
            .expect_err("a silent server fails the run");
        assert!(error.contains("no WebSocket handshake"), "{error}");
    }

    /// A server that upgrades the connection and then closes it fails the run: a dead server
    /// is not a server that echoed nothing.
    #[tokio::test]
    async fn a_server_that_closes_the_connection_fails_the_run() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address").to_string();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.expect("accept");
            let mut request = vec![0u8; 4096];
            let _ = stream.read(&mut request).await;
            let _ = stream
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\n\r\n")
                .await;
            // Dropped: closed after the upgrade.
        });
        let run = run(&addr, Payload::Text(20), 1, 1, None, Duration::from_secs(5)).await;
        let error = run.expect_err("a closed connection fails the run");
        assert!(
            error.contains("closed the connection after 0 replies"),
            "{error}"
        );
    }
}
