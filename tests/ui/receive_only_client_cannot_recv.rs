//! The client of a receive_only endpoint has no way to receive.
use wsgen_generated::revali::ExampleListenClient;

async fn try_to_receive(mut client: ExampleListenClient) {
    let _ = client.recv().await;
}

fn main() {
    let _ = try_to_receive;
}
