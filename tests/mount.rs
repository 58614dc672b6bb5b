//! The generated endpoints inside other servers: the axum app of `examples/axum-app.rs` (one
//! port for `/health`, the chat spec and the echo spec, with the app's auth layer read by the
//! chat handler), nesting under a prefix, a bare hyper server over the `tower::Service`, and
//! several specs merged on one standalone server, with the path-conflict refusal, and
//! WebSockets over HTTP/2 (RFC 8441) through the axum app with hyper's HTTP/2 client.

mod common;

#[path = "../examples/axum-app.rs"]
#[allow(dead_code)]
mod axum_app;

use common::{refusal, roundtrip, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::chat::{ChatConnectClient, ChatConnectQuery, ServerEvent};
use wsgen_generated::echo::EchoTextClient;
use wsgen_runtime::{ConnectOptions, Router, RouterError, Server};

async fn serve_axum(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("ws://{addr}")
}

/// Sends `request` as it is and returns the whole response (the server closes or the response
/// is complete within 10 s).
async fn http(url: &str, request: &str) -> String {
    let addr = url.trim_start_matches("ws://");
    let mut stream = within(TcpStream::connect(addr)).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        match tokio::time::timeout(std::time::Duration::from_millis(500), stream.read(&mut buf))
            .await
        {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => response.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn one_axum_app_serves_health_chat_and_echo_on_one_port() {
    let url = serve_axum(axum_app::app().unwrap()).await;

    let health = http(
        &url,
        "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    assert!(health.ends_with("{\"status\":\"ok\"}"), "{health}");

    // The auth layer's user, read by the chat handler's on_connect.
    let query = ChatConnectQuery {
        name: "ana".to_owned(),
    };
    let options = ConnectOptions::default().header("authorization", "Bearer secret");
    let mut chat = within(ChatConnectClient::connect_with(&url, &query, options))
        .await
        .unwrap();
    match within(chat.recv()).await.unwrap() {
        ServerEvent::Welcome { user, .. } => assert_eq!(user, "sam"),
        other => panic!("expected the welcome, got {other:?}"),
    }
    // The spec's middleware still decides before the upgrade.
    assert_eq!(refusal(&url, "/chat/connect?name=x", &[]).await.0, 401);
    // Typed query inputs as on the standalone server.
    let (status, _) = refusal(&url, "/chat/connect", &[("authorization", "Bearer secret")]).await;
    assert_eq!(status, 400);

    let mut echo = within(EchoTextClient::connect(&url)).await.unwrap();
    within(echo.send("hello".to_owned())).await.unwrap();
    assert_eq!(within(echo.recv()).await.unwrap(), "hello");
}

#[tokio::test]
async fn plain_gets_get_426_and_unknown_paths_fall_through_to_the_app() {
    let url = serve_axum(axum_app::app().unwrap()).await;
    let plain = http(
        &url,
        "GET /echo/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(plain.starts_with("HTTP/1.1 426"), "{plain}");
    assert!(
        plain.to_ascii_lowercase().contains("upgrade: websocket"),
        "{plain}"
    );

    let unknown = http(
        &url,
        "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(unknown.starts_with("HTTP/1.1 404"), "{unknown}");
    assert!(!unknown.contains("no WebSocket endpoint"), "{unknown}");
}

#[tokio::test]
async fn nested_endpoints_answer_under_the_prefix() {
    let echo = axum_app::echo::handlers()
        .into_server()
        .into_axum()
        .unwrap();
    let url = serve_axum(axum::Router::new().nest("/ws", echo)).await;
    let mut ws = common::raw(&url, "/ws/echo/text").await;
    assert_eq!(roundtrip(&mut ws, "hi").await, Message::text("hi"));
    let plain = http(
        &url,
        "GET /echo/text HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(plain.starts_with("HTTP/1.1 404"), "{plain}");
}

#[tokio::test]
async fn a_bare_hyper_server_serves_the_tower_service() {
    let service = axum_app::echo::handlers()
        .into_server()
        .into_service()
        .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        // Bounded: the test opens two connections.
        for _ in 0..2 {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .with_upgrades(),
            );
        }
    });
    let mut ws = common::raw(&url, "/echo/text").await;
    assert_eq!(roundtrip(&mut ws, "tower").await, Message::text("tower"));
    assert_eq!(refusal(&url, "/nowhere", &[]).await.0, 404);
}

#[tokio::test]
async fn two_specs_share_one_standalone_server_and_a_shared_path_is_refused() {
    let chat = axum_app::chat::handlers(&["secret"], 5).into_router();
    let echo = axum_app::echo::handlers().into_router();
    let merged = chat.try_merge(echo).unwrap();
    let url = common::serve(Server::new(merged)).await;
    let mut ws = common::raw(&url, "/echo/text").await;
    assert_eq!(roundtrip(&mut ws, "both").await, Message::text("both"));
    assert_eq!(refusal(&url, "/chat/connect?name=x", &[]).await.0, 401);

    let again = axum_app::echo::handlers().into_router();
    let twice = axum_app::echo::handlers().into_router();
    match again.try_merge(twice) {
        Err(RouterError::DuplicatePath {
            path,
            first,
            second,
        }) => {
            assert_eq!(path, "/echo/json");
            assert!(first.contains("EchoJson"), "{first}");
            assert!(second.contains("EchoJson"), "{second}");
        }
        other => panic!("expected the conflict, got {other:?}"),
    }
    // The same conflict through `merge` refuses at `serve` and in the adapters.
    let merged = Router::new()
        .merge(axum_app::echo::handlers().into_router())
        .merge(axum_app::echo::handlers().into_router());
    assert!(matches!(
        Server::new(merged).into_axum(),
        Err(RouterError::DuplicatePath { .. })
    ));
}

/// An HTTP/2 connection (prior knowledge, as `axum::serve` accepts it) to the server at `url`,
/// after the server's SETTINGS said it allows extended CONNECT.
async fn http2(url: &str) -> hyper::client::conn::http2::SendRequest<String> {
    let stream = within(TcpStream::connect(url.trim_start_matches("ws://")))
        .await
        .unwrap();
    let (send, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let mut connection = Box::pin(connection);
    // Drive the connection until the server's SETTINGS frame has arrived (bounded).
    for _ in 0..100 {
        if connection.is_extended_connect_protocol_enabled() {
            break;
        }
        let _ =
            tokio::time::timeout(std::time::Duration::from_millis(10), connection.as_mut()).await;
    }
    assert!(
        connection.is_extended_connect_protocol_enabled(),
        "the server did not enable extended CONNECT"
    );
    tokio::spawn(async move {
        let _ = connection.await;
    });
    send
}

/// An extended CONNECT to `path` with `:protocol` (if any) and the given headers.
fn connect(
    path: &str,
    protocol: Option<&'static str>,
    headers: &[(&str, &str)],
) -> http::Request<String> {
    let mut request = http::Request::builder()
        .method(http::Method::CONNECT)
        .uri(format!("http://127.0.0.1{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let mut request = request.body(String::new()).unwrap();
    if let Some(protocol) = protocol {
        request
            .extensions_mut()
            .insert(hyper::ext::Protocol::from_static(protocol));
    }
    request
}

#[tokio::test]
async fn websockets_over_http2_through_the_axum_app() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::protocol::Role;

    let url = serve_axum(axum_app::app().unwrap()).await;
    let mut send = http2(&url).await;

    // Echo: a 200, then WebSocket frames on the stream, and a clean close.
    let mut response = within(send.send_request(connect(
        "/echo/text",
        Some("websocket"),
        &[("sec-websocket-version", "13")],
    )))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("sec-websocket-accept").is_none());
    let stream = within(hyper::upgrade::on(&mut response)).await.unwrap();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(stream),
        Role::Client,
        None,
    )
    .await;
    within(ws.send(Message::text("over h2"))).await.unwrap();
    let echoed = within(ws.next()).await.unwrap().unwrap();
    assert_eq!(echoed, Message::text("over h2"));
    within(ws.close(None)).await.unwrap();
    let ended = within(ws.next()).await;
    assert!(
        matches!(ended, None | Some(Ok(Message::Close(_)))),
        "{ended:?}"
    );

    // The chat spec on the same HTTP/2 connection: the app's auth layer put the user into the
    // request, and the spec's on_connect greets them by it.
    let mut response = within(send.send_request(connect(
        "/chat/connect?name=ana",
        Some("websocket"),
        &[
            ("sec-websocket-version", "13"),
            ("authorization", "Bearer secret"),
        ],
    )))
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let stream = within(hyper::upgrade::on(&mut response)).await.unwrap();
    let mut chat = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(stream),
        Role::Client,
        None,
    )
    .await;
    let welcome = within(chat.next()).await.unwrap().unwrap();
    let welcome = welcome.to_text().unwrap();
    assert!(welcome.contains("\"user\":\"sam\""), "{welcome}");
    chat.send(Message::Close(None)).await.unwrap();

    // Refusals are HTTP answers on the stream: the spec's middleware, a wrong protocol, a
    // missing version; a plain CONNECT (authority form: no path) and an unknown path are left
    // to the app, which answers 404.
    let cases = [
        (
            "/chat/connect?name=x",
            Some("websocket"),
            vec![("sec-websocket-version", "13")],
            401,
        ),
        (
            "/echo/text",
            Some("chat"),
            vec![("sec-websocket-version", "13")],
            400,
        ),
        ("/echo/text", Some("websocket"), vec![], 400),
        (
            "/echo/text",
            None,
            vec![("sec-websocket-version", "13")],
            404,
        ),
        (
            "/nowhere",
            Some("websocket"),
            vec![("sec-websocket-version", "13")],
            404,
        ),
    ];
    for (path, protocol, headers, status) in cases {
        let response = within(send.send_request(connect(path, protocol, &headers)))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{path} {protocol:?} {headers:?}");
    }

    // A GET over HTTP/2 is no WebSocket: 405, naming extended CONNECT.
    let get = http::Request::builder()
        .uri("http://127.0.0.1/echo/text")
        .body(String::new())
        .unwrap();
    let response = within(send.send_request(get)).await.unwrap();
    assert_eq!(response.status(), 405);
}
