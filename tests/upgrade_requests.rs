//! Upgrade requests written by hand against a generated server: what RFC 6455 §4.2.1 and
//! RFC 9112 ask of a server, beyond what a well-behaved client library sends.

mod common;

#[path = "../examples/echo/server.rs"]
mod echo_server;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// Sends `request` and returns the response head (status line and headers).
async fn ask(url: &str, request: String) -> String {
    let addr = url.trim_start_matches("ws://");
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    common::within(async {
        let mut chunk = [0u8; 1024];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&chunk[..n]);
        }
    })
    .await;
    String::from_utf8_lossy(&response).into_owned()
}

fn upgrade(target: &str, version: &str, key: &str) -> String {
    format!(
        "GET {target} {version}\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

async fn server() -> String {
    common::serve(echo_server::handlers().into_server()).await
}

#[tokio::test]
async fn a_plain_get_to_an_endpoint_gets_426_with_the_upgrade_header() {
    let url = server().await;
    let head = ask(
        &url,
        "GET /echo/text HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(),
    )
    .await;
    assert!(head.starts_with("HTTP/1.1 426 "), "{head}");
    assert!(head.contains("Upgrade: websocket\r\n"), "{head}");
}

#[tokio::test]
async fn an_unknown_path_gets_404_whatever_the_request() {
    let url = server().await;
    let plain = ask(&url, "GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n".to_owned()).await;
    assert!(plain.starts_with("HTTP/1.1 404 "), "{plain}");
    let upgrade = ask(&url, upgrade("/nowhere", "HTTP/1.1", KEY)).await;
    assert!(upgrade.starts_with("HTTP/1.1 404 "), "{upgrade}");
}

#[tokio::test]
async fn a_key_that_is_not_16_bytes_of_base64_gets_400() {
    let url = server().await;
    for key in [
        "abc",
        "dGhlIHNhbXBsZSBub25jZQ",
        "dGhlIHNhbXBsZSBub25jZR==",
        "!GhlIHNhbXBsZSBub25jZQ==",
    ] {
        let head = ask(&url, upgrade("/echo/text", "HTTP/1.1", key)).await;
        assert!(head.starts_with("HTTP/1.1 400 "), "key {key:?}: {head}");
    }
}

#[tokio::test]
async fn http_1_0_gets_400() {
    let url = server().await;
    let head = ask(&url, upgrade("/echo/text", "HTTP/1.0", KEY)).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}

#[tokio::test]
async fn the_absolute_form_is_served_like_the_origin_form() {
    let url = server().await;
    let target = format!("http://{}/echo/text", url.trim_start_matches("ws://"));
    let head = ask(&url, upgrade(&target, "HTTP/1.1", KEY)).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{head}"
    );
}

// Review findings.

#[tokio::test]
async fn a_duplicate_sec_websocket_key_gets_400() {
    // RFC 6455 §11.3.1: Sec-WebSocket-Key MUST NOT appear more than once in a request; a
    // server that picks one of two keys answers for a key the client may not have meant.
    let url = server().await;
    let request = format!(
        "GET /echo/text HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    let head = ask(&url, request).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}

#[tokio::test]
async fn odd_but_valid_upgrade_headers_are_accepted() {
    let url = server().await;
    let request = format!(
        "GET /echo/text HTTP/1.1\r\nHost: 127.0.0.1\r\nupgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\nsec-websocket-version: 13\r\n\r\n"
    );
    let head = ask(&url, request).await;
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[tokio::test]
async fn the_absolute_form_with_userinfo_or_an_ipv6_host_is_served() {
    let url = server().await;
    let port = url.rsplit(':').next().unwrap().to_owned();
    for target in [
        format!("http://user:pw@127.0.0.1:{port}/echo/text"),
        format!("http://[::1]:{port}/echo/text"),
        format!("ws://[::1]:{port}/echo/text?x=http://a/b"),
    ] {
        let head = ask(&url, upgrade(&target, "HTTP/1.1", KEY)).await;
        assert!(head.starts_with("HTTP/1.1 101 "), "{target}: {head}");
    }
}

#[tokio::test]
async fn a_target_that_is_not_a_path_gets_400() {
    let url = server().await;
    let head = ask(&url, upgrade("*", "HTTP/1.1", KEY)).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
    // Nor is a target without its leading `/`, though `/echo/text` is one.
    let head = ask(&url, upgrade("echo/text", "HTTP/1.1", KEY)).await;
    assert!(head.starts_with("HTTP/1.1 400 "), "{head}");
}

#[tokio::test]
async fn an_http_1_1_upgrade_without_one_host_gets_400() {
    // RFC 9112 §3.2 and RFC 6455 §4.2.1: a Host header, exactly one.
    let url = server().await;
    let upgrade = |hosts: &str| {
        format!(
            "GET /echo/text HTTP/1.1\r\n{hosts}Upgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    };
    for hosts in ["", "Host: a\r\nHost: b\r\n"] {
        let head = ask(&url, upgrade(hosts)).await;
        assert!(head.starts_with("HTTP/1.1 400 "), "{hosts:?}: {head}");
    }
}
