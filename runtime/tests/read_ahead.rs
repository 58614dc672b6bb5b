//! Reading ahead through a thread's spare buffer, end to end: many clients on a multi-thread
//! runtime, each sending messages a little larger than tungstenite's buffer (and some much
//! larger or smaller), one at a time or a few back to back, get back exactly their own bytes.

mod common;

use common::{raw, start, string_endpoint, within};
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{Limits, Router};

struct Echo;
string_endpoint!(Echo, |_this, socket| {
    loop {
        let m = socket.recv().await?;
        socket.send(m).await?;
    }
});

fn message(client: usize, seq: usize, len: usize) -> String {
    let head = format!("{client}:{seq}:");
    let body: String = (0..len)
        .map(|i| char::from(b'a' + ((client * 31 + seq * 7 + i) % 26) as u8))
        .collect();
    head + &body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_clients_on_many_threads_get_back_exactly_their_own_bytes() {
    let running = start(Router::new().route("/e", Echo), Limits::DEFAULT).await;
    let mut clients = Vec::new();
    for client in 0..64usize {
        let url = running.url.clone();
        clients.push(tokio::spawn(async move {
            let mut ws = raw(&url, "/e").await;
            let mut seed = (client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            for seq in 0..60usize {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let len = match seed % 8 {
                    0 => 10 + (seed >> 8) as usize % 60_000,
                    1 => 10 + (seed >> 8) as usize % 500,
                    _ => 1000 + (seed >> 8) as usize % 300,
                };
                let burst = if seed % 5 == 0 { 3 } else { 1 };
                let sent: Vec<String> = (0..burst)
                    .map(|b| message(client, seq * 4 + b, len))
                    .collect();
                for m in &sent {
                    ws.send(Message::text(m.clone())).await.expect("send");
                }
                for m in &sent {
                    match within(ws.next()).await {
                        Some(Ok(Message::Text(t))) => {
                            assert!(t.as_str() == m, "client {client} seq {seq}: wrong echo")
                        }
                        other => panic!("client {client} seq {seq}: {other:?}"),
                    }
                }
            }
        }));
    }
    for c in clients {
        within(c).await.expect("client");
    }
}
