//! The typed client's timeouts and keepalive (`ConnectOptions`): connecting to a listener that
//! never answers, a protocol handshake the server never answers, a write into a server that
//! does not read, and receiving from a frozen server all end within their bounds.

mod common;

use std::time::Duration;

use common::{NoClose, within};
use tokio::net::TcpListener;
use wsgen_runtime::{Client, ClientError, ConnectOptions, Keepalive};

type Plain = Client<String, String, NoClose>;

/// A listener that accepts TCP connections and never answers.
async fn mute_listener() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: the tests connect a few times.
        for _ in 0..16 {
            match listener.accept().await {
                Ok((stream, _)) => held.push(stream),
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
    });
    url
}

/// A server that upgrades one connection, then neither reads nor writes for a minute.
async fn frozen_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(stream).await.unwrap();
        tokio::time::sleep(Duration::from_secs(60)).await;
        drop(ws);
    });
    url
}

fn quick() -> ConnectOptions {
    ConnectOptions::default()
        .connect_timeout(Duration::from_millis(300))
        .handshake_timeout(Duration::from_millis(300))
        .write_timeout(Duration::from_millis(300))
        .keepalive(Some(Keepalive {
            every: Duration::from_millis(100),
            timeout: Duration::from_millis(200),
        }))
}

#[tokio::test]
async fn connecting_to_a_listener_that_never_answers_times_out() {
    let url = mute_listener().await;
    match within(Plain::connect(&url, "/", quick())).await {
        Err(ClientError::TimedOut { what, .. }) => assert_eq!(what, "connect"),
        other => panic!("expected a connect timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn a_handshake_the_server_never_answers_times_out() {
    let url = frozen_server().await;
    // Without keepalive, which would find the frozen server first.
    let options = quick().keepalive(None);
    let mut client = within(Plain::connect(&url, "/", options)).await.unwrap();
    match within(client.handshake("HELLO", "READY")).await {
        Err(ClientError::TimedOut { what, .. }) => assert_eq!(what, "handshake"),
        other => panic!("expected a handshake timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn receiving_from_a_frozen_server_ends_by_keepalive() {
    let url = frozen_server().await;
    let mut client = within(Plain::connect(&url, "/", quick())).await.unwrap();
    let error = within(client.recv()).await.unwrap_err();
    assert!(matches!(error, ClientError::Lost), "{error:?}");
}

#[tokio::test]
async fn a_write_into_a_server_that_does_not_read_times_out() {
    let url = frozen_server().await;
    let mut client = within(Plain::connect(&url, "/", quick())).await.unwrap();
    let block = "x".repeat(1 << 20);
    let mut timed_out = false;
    // Bounded: socket buffers hold a few megabytes at most.
    for _ in 0..200 {
        match within(client.send(block.clone())).await {
            Ok(()) => continue,
            Err(ClientError::TimedOut { what, .. }) => {
                assert_eq!(what, "write");
                timed_out = true;
                break;
            }
            Err(other) => panic!("expected a write timeout, got {other:?}"),
        }
    }
    assert!(timed_out, "the write timed out");
    // The connection is unusable after it.
    let error = within(client.send("more".to_owned())).await.unwrap_err();
    assert!(matches!(error, ClientError::Lost), "{error:?}");
}

#[test]
fn the_defaults_bound_every_wait() {
    let options = format!("{:?}", ConnectOptions::default());
    for expected in ["connect_timeout: 10s", "write_timeout: 10s", "every: 30s"] {
        assert!(options.contains(expected), "{options}");
    }
}
