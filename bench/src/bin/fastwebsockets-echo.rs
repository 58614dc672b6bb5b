//! The fastwebsockets baseline: the same echo (and typed JSON on `/echo/json`) on
//! fastwebsockets, with fragments collected into whole messages as the others do.

use std::sync::atomic::{AtomicU64, Ordering};

use fastwebsockets::{Frame, OpCode, Payload, Role, WebSocket};

static SESSIONS: AtomicU64 = AtomicU64::new(1);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    wsgen_bench::serve(handle).await
}

/// Serves one connection.
async fn handle(mut stream: tokio::net::TcpStream) {
    let Ok(path) = wsgen_bench::upgrade(&mut stream).await else {
        return;
    };
    let json = path == "/echo/json";
    let mut ws = WebSocket::after_handshake(stream, Role::Server);
    ws.set_auto_close(true);
    ws.set_auto_pong(true);
    ws.set_max_message_size(64 * 1024);
    let mut ws = fastwebsockets::FragmentCollector::new(ws);
    if json {
        let session = SESSIONS.fetch_add(1, Ordering::Relaxed);
        let welcome = wsgen_bench::welcome(session).into_bytes();
        if ws
            .write_frame(Frame::text(Payload::Owned(welcome)))
            .await
            .is_err()
        {
            return;
        }
    }
    while let Ok(frame) = ws.read_frame().await {
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text if json => {
                let Ok(text) = std::str::from_utf8(&frame.payload) else {
                    break;
                };
                let Some(reply) = wsgen_bench::json_echo(text) else {
                    break;
                };
                if ws
                    .write_frame(Frame::text(Payload::Owned(reply.into_bytes())))
                    .await
                    .is_err()
                {
                    break;
                }
            }
            OpCode::Text | OpCode::Binary => {
                let reply = Frame::new(true, frame.opcode, None, frame.payload);
                if ws.write_frame(reply).await.is_err() {
                    break;
                }
            }
            _ => {}
        }
    }
}
