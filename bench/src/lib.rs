//! Shared parts of the baseline echo servers: the listener, a minimal upgrade for the servers
//! that do not bring their own, and the JSON DTO the typed rows echo (the same shape and
//! validation as the echo spec's `echo.json`, so every server does the same work).

use std::future::Future;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// A note, as `echo.json` carries it.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Note {
    /// Chosen by the client.
    pub id: u32,
    /// 1 to 1000 characters.
    pub text: String,
}

/// What a client sends to the JSON path.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Command {
    /// Echo this note.
    Note(Note),
}

/// What the JSON path sends.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// Sent once on connect, as the generated server does.
    Welcome {
        /// The connection's number.
        session: u64,
    },
    /// The echoed note.
    Note(Note),
}

/// Decodes, validates and re-encodes one JSON message: the work a typed echo does. `None`
/// for a message that does not decode or validate.
pub fn json_echo(text: &str) -> Option<String> {
    let Command::Note(note) = serde_json::from_str(text).ok()?;
    let length = note.text.chars().count();
    if !(1..=1000).contains(&length) {
        return None;
    }
    serde_json::to_string(&Event::Note(note)).ok()
}

/// The welcome message for connection `session`.
pub fn welcome(session: u64) -> String {
    serde_json::to_string(&Event::Welcome { session }).unwrap_or_default()
}

/// Binds the address given as the first argument (default `127.0.0.1:0`) and prints
/// `listening on ws://ADDR`, the line the bench waits for.
pub async fn listen() -> std::io::Result<TcpListener> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on ws://{}", listener.local_addr()?);
    Ok(listener)
}

/// Listens (see [`listen`]) and runs `handle` on every connection, with `TCP_NODELAY`, in a task
/// of its own, until SIGTERM or Ctrl-C.
pub async fn serve<F, Fut>(handle: F) -> std::io::Result<()>
where
    F: Fn(TcpStream) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    // Before `listen` prints the address: a SIGTERM right after it must find the handler.
    let terminated = wsgen_runtime::shutdown_signal();
    let listener = listen().await?;
    until_terminated(terminated, async {
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(handle(stream));
        }
    })
    .await
}

/// Runs `serve` until it fails or the process gets SIGTERM or Ctrl-C (how the bench stops a
/// server so that it exits normally, as valgrind needs to write its counts).
async fn until_terminated(
    terminated: impl Future<Output = ()>,
    serve: impl Future<Output = std::io::Result<()>>,
) -> std::io::Result<()> {
    tokio::select! {
        result = serve => result,
        () = terminated => Ok(()),
    }
}

/// Reads an upgrade request and answers `101`; returns the request path.
pub async fn upgrade(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buffer.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buffer) {
            Ok(httparse::Status::Complete(_)) => {
                let key = request
                    .headers
                    .iter()
                    .find(|h| h.name.eq_ignore_ascii_case("sec-websocket-key"))
                    .map(|h| h.value)
                    .ok_or(std::io::ErrorKind::InvalidData)?;
                let response = format!(
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
                    derive_accept_key(key)
                );
                stream.write_all(response.as_bytes()).await?;
                return Ok(request.path.unwrap_or("/").to_owned());
            }
            Ok(httparse::Status::Partial) if buffer.len() < 16 * 1024 => continue,
            _ => return Err(std::io::ErrorKind::InvalidData.into()),
        }
    }
}
