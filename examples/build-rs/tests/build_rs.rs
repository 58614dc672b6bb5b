//! The build.rs path end to end: code generated into OUT_DIR at build time serves on
//! 127.0.0.1 and answers the generated client.

use std::time::Duration;

use tokio::net::TcpListener;
use wsgen_example_build_rs::Greeter;
use wsgen_example_build_rs::api::{GreeterHelloClient, GreeterHelloClose, Handlers, Hello};
use wsgen_runtime::ClientError;

#[tokio::test]
async fn code_generated_by_build_rs_serves_and_closes_typed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let handlers = Handlers {
        greeter_hello: Greeter::default(),
    };
    tokio::spawn(handlers.into_server().serve(listener));

    let exchange = async {
        let mut client = GreeterHelloClient::connect(&url).await.unwrap();
        client
            .send(Hello {
                name: "Ada".to_owned(),
                language: Some("fr".to_owned()),
            })
            .await
            .unwrap();
        let greeting = client.recv().await.unwrap();
        assert_eq!(greeting.text, "Bonjour, Ada!");
        assert_eq!(greeting.visitor_number, 1);

        client
            .send(Hello {
                name: " ".to_owned(),
                language: None,
            })
            .await
            .unwrap();
        match client.recv().await {
            Err(ClientError::Closed(GreeterHelloClose::Rude)) => {}
            other => panic!("expected the Rude close condition, got {other:?}"),
        }
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("the exchange finished in time");
}
