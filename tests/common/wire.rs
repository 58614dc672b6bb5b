//! A raw, frame-level WebSocket client for tests about the wire: it writes any frame at all
//! (reserved bits, bad opcodes, unmasked, fragmented, lying lengths) and reports every frame the
//! server sends back, so that the server's handling of each can be checked.

use std::fmt;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Frame opcodes.
pub const CONTINUATION: u8 = 0x0;
pub const TEXT: u8 = 0x1;
pub const BINARY: u8 = 0x2;
pub const CLOSE: u8 = 0x8;
pub const PING: u8 = 0x9;
pub const PONG: u8 = 0xA;

/// What the server sent, as the suite reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A close frame: its code (none for an empty payload) and reason.
    Close(Option<u16>, String),
    /// An HTTP response instead of `101`: its status.
    Http(u16),
    /// The server closed TCP without a close frame.
    Eof,
    /// Nothing arrived in time.
    Timeout,
    /// A frame that is itself invalid (the server must never send one).
    Malformed(String),
}

fn preview(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut shown: String = text.chars().take(24).collect();
    if text.chars().count() > 24 {
        shown.push('…');
    }
    shown
}

impl fmt::Display for Seen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Seen::Text(t) => write!(f, "text({}) {:?}", t.len(), preview(t.as_bytes())),
            Seen::Binary(b) => write!(f, "binary({})", b.len()),
            Seen::Ping(p) => write!(f, "ping({})", p.len()),
            Seen::Pong(p) => write!(f, "pong({})", p.len()),
            Seen::Close(None, _) => write!(f, "close"),
            Seen::Close(Some(code), reason) if reason.is_empty() => write!(f, "close {code}"),
            Seen::Close(Some(code), reason) => {
                write!(f, "close {code} {:?}", preview(reason.as_bytes()))
            }
            Seen::Http(status) => write!(f, "HTTP {status}"),
            Seen::Eof => write!(f, "eof"),
            Seen::Timeout => write!(f, "timeout"),
            Seen::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

/// Renders a sequence of frames for a report cell.
pub fn show(seen: &[Seen]) -> String {
    seen.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// One raw connection.
pub struct Wire {
    stream: TcpStream,
    buffer: Vec<u8>,
    mask_state: u32,
}

/// How long to wait for the server's next bytes before reporting a timeout.
const PATIENCE: Duration = Duration::from_secs(5);

impl Wire {
    /// Opens a TCP connection and sends `request` (a complete or partial upgrade request).
    pub async fn open(addr: &str, request: &[u8]) -> Wire {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        stream.write_all(request).await.expect("write the request");
        Wire {
            stream,
            buffer: Vec::new(),
            mask_state: 0x9E37_79B9,
        }
    }

    /// An upgrade request for `path` with extra header lines.
    pub fn request(path: &str, extra: &str) -> Vec<u8> {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    /// Upgrades to `path`; returns the connection, or the HTTP status of a refusal.
    pub async fn connect(addr: &str, path: &str) -> Result<Wire, u16> {
        let mut wire = Wire::open(addr, &Wire::request(path, "")).await;
        match wire.response().await {
            101 => Ok(wire),
            status => Err(status),
        }
    }

    /// Reads the HTTP response head and returns its status (0 if the connection ended first).
    pub async fn response(&mut self) -> u16 {
        loop {
            if let Some(end) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                self.buffer.drain(..end + 4);
                return head
                    .split_whitespace()
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
            }
            if !self.fill().await {
                return 0;
            }
        }
    }

    /// Reads more bytes; false at EOF, on an error or after [`PATIENCE`].
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        match tokio::time::timeout(PATIENCE, self.stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => {
                self.buffer.extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift: masks vary per frame, as RFC 6455 asks, without a random source.
        self.mask_state ^= self.mask_state << 13;
        self.mask_state ^= self.mask_state >> 17;
        self.mask_state ^= self.mask_state << 5;
        self.mask_state.to_be_bytes()
    }

    /// Encodes one frame. `flags` are the FIN and RSV bits of the first byte (`0x80` is FIN).
    pub fn encode(&mut self, flags: u8, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = vec![flags | opcode];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n <= 0xFFFF => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        if masked {
            let mask = self.next_mask();
            out.extend_from_slice(&mask);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    /// Sends one masked frame.
    pub async fn frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) {
        let flags = if fin { 0x80 } else { 0 };
        let bytes = self.encode(flags, opcode, payload, true);
        self.raw(&bytes).await;
    }

    /// Sends bytes as they are. A server that already hung up is not an error here: what it
    /// sent before is what the case checks.
    pub async fn raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes).await;
    }

    /// Sends a close frame with `code` and `reason`.
    pub async fn close(&mut self, code: u16, reason: &[u8]) {
        let mut payload = code.to_be_bytes().to_vec();
        payload.extend_from_slice(reason);
        self.frame(true, CLOSE, &payload).await;
    }

    /// The next frame from the server (unmasked, as a server must send it).
    pub async fn next(&mut self) -> Seen {
        loop {
            if let Some(seen) = self.parse() {
                return seen;
            }
            if !self.fill().await {
                return match self.stream.peek(&mut [0u8; 1]).await {
                    Ok(0) | Err(_) => Seen::Eof,
                    Ok(_) => Seen::Timeout,
                };
            }
        }
    }

    fn parse(&mut self) -> Option<Seen> {
        let b = &self.buffer;
        if b.len() < 2 {
            return None;
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0F);
        if b[1] & 0x80 != 0 {
            return Some(Seen::Malformed("a masked frame from the server".into()));
        }
        let (len, start) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => {
                let mut n = [0u8; 8];
                n.copy_from_slice(&b[2..10]);
                (u64::from_be_bytes(n) as usize, 10)
            }
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < start + len {
            return None;
        }
        let payload = b[start..start + len].to_vec();
        self.buffer.drain(..start + len);
        if !fin {
            return Some(Seen::Malformed(
                "a fragmented frame (this suite sends none that need it)".into(),
            ));
        }
        Some(match opcode {
            TEXT => match String::from_utf8(payload) {
                Ok(text) => Seen::Text(text),
                Err(_) => Seen::Malformed("text that is not UTF-8".into()),
            },
            BINARY => Seen::Binary(payload),
            PING => Seen::Ping(payload),
            PONG => Seen::Pong(payload),
            CLOSE if payload.is_empty() => Seen::Close(None, String::new()),
            CLOSE if payload.len() == 1 => Seen::Malformed("a one-byte close payload".into()),
            CLOSE => {
                let code = u16::from_be_bytes([payload[0], payload[1]]);
                match String::from_utf8(payload[2..].to_vec()) {
                    Ok(reason) => Seen::Close(Some(code), reason),
                    Err(_) => Seen::Malformed("a close reason that is not UTF-8".into()),
                }
            }
            other => Seen::Malformed(format!("opcode {other:#x}")),
        })
    }

    /// Every frame until (and including) the server's close, EOF or a timeout; answers the
    /// server's close so that the server's side ends cleanly.
    pub async fn until_close(&mut self) -> Vec<Seen> {
        let mut seen = Vec::new();
        // Bounded: a server that streams forever is reported, not waited for.
        for _ in 0..10_000 {
            let frame = self.next().await;
            let last = matches!(
                frame,
                Seen::Close(..) | Seen::Eof | Seen::Timeout | Seen::Malformed(_)
            );
            if let Seen::Close(code, _) = &frame {
                let payload = code.map(|c| c.to_be_bytes().to_vec()).unwrap_or_default();
                self.frame(true, CLOSE, &payload).await;
            }
            seen.push(frame);
            if last {
                break;
            }
        }
        seen
    }
}
