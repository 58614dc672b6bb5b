//! The client of a send_only endpoint has no way to send.
use wsgen_generated::revali::ExampleTickerClient;

async fn try_to_send(mut client: ExampleTickerClient) {
    let _ = client.send(1).await;
}

fn main() {
    let _ = try_to_send;
}
