//! A server that vanishes (closes its socket without a close frame, or resets the connection)
//! is reported as `ClientError::Lost` by the typed client's first call.

mod common;

use std::time::Duration;

use common::{NoClose, within};
use tokio::net::TcpListener;
use wsgen_runtime::{Client, ClientError, ConnectOptions};

/// A server that upgrades one connection, then drops it; with `reset`, with an RST (linger 0).
async fn vanishing_server(reset: bool) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        if reset {
            socket2::SockRef::from(ws.get_ref())
                .set_linger(Some(Duration::ZERO))
                .unwrap();
        }
        drop(ws);
    });
    url
}

async fn first_recv(reset: bool) -> ClientError<NoClose> {
    let url = vanishing_server(reset).await;
    let mut client: Client<String, String, NoClose> =
        within(Client::connect(&url, "/", ConnectOptions::default()))
            .await
            .unwrap();
    match within(client.recv()).await {
        Ok(message) => panic!("expected an error, got {message:?}"),
        Err(e) => e,
    }
}

#[tokio::test]
async fn a_server_that_closes_its_socket_without_a_close_frame_is_lost_at_once() {
    let error = first_recv(false).await;
    assert!(matches!(error, ClientError::Lost), "{error:?}");
}

#[tokio::test]
async fn a_server_that_resets_the_connection_is_lost_at_once() {
    let error = first_recv(true).await;
    assert!(matches!(error, ClientError::Lost), "{error:?}");
}
