//! Only the client half of the greeter API, included into a binary crate: it must build
//! without a warning for the handler trait, `Handlers` or anything else it does not use
//! (CI's clippy denies warnings).
//!
//! ```sh
//! cargo run -p wsgen-example-build-rs --bin client-only -- ws://127.0.0.1:9002 Ada
//! ```

mod api {
    wsgen_runtime::include_spec!("greeter");
}

use api::{GreeterHelloClient, GreeterHelloError, Hello};

#[tokio::main]
async fn main() -> Result<(), GreeterHelloError> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or("ws://127.0.0.1:9002".to_owned());
    let name = args.next().unwrap_or("Ada".to_owned());
    let mut client = GreeterHelloClient::connect(&url).await?;
    client
        .send(Hello {
            name,
            language: None,
        })
        .await?;
    println!("{}", client.recv().await?.text);
    client.close().await
}
