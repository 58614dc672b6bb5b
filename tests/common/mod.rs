//! Helpers shared by the end-to-end tests.
#![allow(dead_code)]

pub mod capture;
pub mod wire;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// Bounds every wait so that a broken server fails the test instead of hanging it.
pub async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

/// Serves `server` on 127.0.0.1 with an OS-chosen port; returns the base URL.
pub async fn serve(server: wsgen_runtime::Server) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(server.serve(listener));
    url
}

/// A raw tokio-tungstenite client, for tests about the wire.
pub type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a raw client to `url` + `path`.
pub async fn raw(url: &str, path: &str) -> Raw {
    within(tokio_tungstenite::connect_async(format!("{url}{path}")))
        .await
        .unwrap()
        .0
}

/// The HTTP status and body of a refused upgrade.
pub async fn refusal(url: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("{url}{path}").into_client_request().unwrap();
    for (name, value) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match within(tokio_tungstenite::connect_async(request)).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            (response.status().as_u16(), body)
        }
        Ok(_) => panic!("the upgrade was accepted"),
        Err(other) => panic!("expected an HTTP refusal, got {other:?}"),
    }
}

/// Sends a text message on a raw client and returns the next data message.
pub async fn roundtrip(ws: &mut Raw, text: &str) -> Message {
    ws.send(Message::text(text)).await.unwrap();
    next_data(ws).await
}

/// The next text or binary message (pings and pongs skipped).
pub async fn next_data(ws: &mut Raw) -> Message {
    loop {
        match within(ws.next()).await {
            Some(Ok(m @ (Message::Text(_) | Message::Binary(_) | Message::Close(_)))) => return m,
            Some(Ok(_)) => continue,
            other => panic!("expected a message, got {other:?}"),
        }
    }
}

/// The close code the server sent next (data messages before it are skipped).
pub async fn close_code(ws: &mut Raw) -> u16 {
    u16::from(close_frame(ws).await.code)
}

/// Reads until the server's close frame (skipping data), and returns it; a close frame without
/// a code is 1005 (no status) with no reason.
pub async fn close_frame(ws: &mut Raw) -> tokio_tungstenite::tungstenite::protocol::CloseFrame {
    use tokio_tungstenite::tungstenite::protocol::{CloseFrame, frame::coding::CloseCode};
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return frame,
            Some(Ok(Message::Close(None))) => {
                return CloseFrame {
                    code: CloseCode::Status,
                    reason: "".into(),
                };
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// Waits until `check` holds, polling.
pub async fn eventually(mut check: impl FnMut() -> bool) {
    within(async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}
