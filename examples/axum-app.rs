//! One axum app on one port: `GET /health`, the chat spec and the echo spec, behind tower-http's
//! trace layer and an auth layer that puts the user into the request extensions, where the chat
//! handler's `on_connect` reads it.
//!
//! ```sh
//! cargo run --example axum-app              # http://127.0.0.1:9003/health, ws://.../chat/connect
//! cargo run --example axum-app 127.0.0.1:0  # any free port; the address is printed
//! ```

#[path = "chat/server.rs"]
pub mod chat;
#[path = "echo/server.rs"]
pub mod echo;

use axum::extract::Request;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// `GET /health`.
async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Names the user behind `Authorization: Bearer <token>` in the request's extensions; the
/// chat spec's own middleware still refuses unknown tokens with 401 before the upgrade.
async fn authenticate(mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    let user = match token {
        Some("secret") => Some("sam"),
        Some("guest") => Some("guest"),
        _ => None,
    };
    if let Some(user) = user {
        request.extensions_mut().insert(chat::User(user.to_owned()));
    }
    next.run(request).await
}

/// The app: its own route, then each spec's endpoints at their spec paths.
pub fn app() -> Result<Router, wsgen_runtime::RouterError> {
    let chat = chat::handlers(&["secret", "guest"], 50)
        .into_server()
        .into_axum()?;
    let echo = echo::handlers().into_server().into_axum()?;
    Ok(Router::new()
        .route("/health", get(health))
        .merge(chat)
        .merge(echo)
        .layer(middleware::from_fn(authenticate))
        .layer(TraceLayer::new_for_http()))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9003".to_owned());
    let listener = TcpListener::bind(&addr).await?;
    // Before the address is printed: a SIGTERM right after it must find the handler.
    let shutdown = wsgen_runtime::shutdown_signal();
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app()?)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}
