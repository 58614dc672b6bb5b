//! Only the server half of the greeter API, included into a binary crate: it must build
//! without a warning for the client, the hub or anything else it does not use (CI's clippy
//! denies warnings).
//!
//! ```sh
//! cargo run -p wsgen-example-build-rs --bin server-only -- 127.0.0.1:9002
//! ```

mod api {
    wsgen_runtime::include_spec!("greeter");
}

use api::{GreeterHelloClose, GreeterHelloConn, GreeterHelloHandler, Greeting, Handlers, Hello};

/// Greets in English, and closes on a visitor without a name.
struct Plain;

impl GreeterHelloHandler for Plain {
    async fn on_message(
        &self,
        _conn: &GreeterHelloConn,
        hello: Hello,
    ) -> Result<Greeting, GreeterHelloClose> {
        if hello.name.is_empty() {
            return Err(GreeterHelloClose::Rude);
        }
        Ok(Greeting {
            text: format!("Hello, {}!", hello.name),
            visitor_number: 0,
        })
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let address = std::env::args()
        .nth(1)
        .unwrap_or("127.0.0.1:9002".to_owned());
    let listener = tokio::net::TcpListener::bind(&address).await?;
    println!("serving on ws://{address}");
    Handlers {
        greeter_hello: Plain,
    }
    .into_server()
    .serve_with_shutdown(listener, wsgen_runtime::shutdown_signal())
    .await?;
    Ok(())
}
