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

/// A server that upgrades one connection, waits, writes a close frame (code 4000) on the raw
/// stream and then never reads: the client's answer to the close cannot be written.
async fn closing_server_that_does_not_read() -> String {
    use tokio::io::AsyncWriteExt;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        let mut raw = ws.into_inner();
        tokio::time::sleep(Duration::from_millis(500)).await;
        // FIN + close, unmasked, 2-byte code 4000 and the reason "bye".
        raw.write_all(&[0x88, 5, 0x0f, 0xa0, b'b', b'y', b'e'])
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(raw);
    });
    url
}

#[tokio::test]
async fn a_receive_cancelled_while_the_close_is_answered_does_not_lose_the_close() {
    let url = closing_server_that_does_not_read().await;
    let options = ConnectOptions::default()
        .keepalive(None)
        .write_timeout(Duration::from_millis(1_000));
    let mut client: Client<String, String, NoClose> =
        within(Client::connect(&url, "/", options)).await.unwrap();
    // Fill the way to the server (it does not read) with sends cut short before their
    // write timeout, so the client's answer to the close cannot be flushed.
    let chunk = "x".repeat(64 * 1024);
    for _ in 0..400 {
        if tokio::time::timeout(Duration::from_millis(20), client.send(chunk.clone()))
            .await
            .is_err()
        {
            break;
        }
    }
    // The close arrives while a receive is waiting; that receive is cancelled while it
    // answers the close.
    let first = tokio::time::timeout(Duration::from_millis(700), client.recv()).await;
    assert!(
        first.is_err(),
        "expected the receive to be cancelled, got {first:?}"
    );
    // The next receive still reports the server's close, not a lost connection.
    match within(client.recv()).await {
        Err(ClientError::ClosedOther { code, reason }) => {
            assert_eq!(code, Some(4000));
            assert_eq!(reason, "bye");
        }
        other => panic!("expected the server's close, got {other:?}"),
    }
}
