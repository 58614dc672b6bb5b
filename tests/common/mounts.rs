//! Where the interop tests find the generated echo server: standalone (`Server::serve`), or
//! mounted in the axum app of `examples/axum-app.rs` (the echo spec merged with `/health` and the
//! chat spec, behind the app's trace and auth layers, served by `axum::serve`). Each interop test
//! runs against both.
#![allow(dead_code)]

#[path = "../../examples/axum-app.rs"]
#[allow(dead_code)]
pub mod axum_app;

use tokio::net::TcpListener;

/// How the echo spec is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mount {
    /// The runtime's own server.
    Standalone,
    /// Inside an axum app.
    Axum,
}

/// Serves the echo handlers on 127.0.0.1 as `mount` says; returns the base URL. With
/// `allowed_origins` the echo server refuses other browser origins: standalone it is the server
/// with that allowlist; under axum, the echo spec with that allowlist merged into an axum router
/// of its own (the example app allows every origin, and is served as it is without one).
pub async fn echo_server(mount: Mount, allowed_origins: Option<Vec<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let mut server = axum_app::echo::handlers().into_server();
    if let Some(origins) = &allowed_origins {
        server = server.allow_origins(origins.clone());
    }
    match (mount, allowed_origins) {
        (Mount::Standalone, _) => {
            tokio::spawn(server.serve(listener));
        }
        (Mount::Axum, None) => {
            let app = axum_app::app().unwrap();
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        (Mount::Axum, Some(_)) => {
            let app = axum::Router::new().merge(server.into_axum().unwrap());
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
    }
    url
}
