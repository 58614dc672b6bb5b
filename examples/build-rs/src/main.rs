//! Serves the greeter API on 127.0.0.1, greets two visitors with the generated client, and
//! shows a typed close.

use tokio::net::TcpListener;
use wsgen_example_build_rs::Greeter;
use wsgen_example_build_rs::api::{GreeterHelloClient, Handlers, Hello};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("ws://{}", listener.local_addr()?);
    let handlers = Handlers {
        greeter_hello: Greeter::default(),
    };
    tokio::spawn(handlers.into_server().serve(listener));
    println!("serving on {url}{}", GreeterHelloClient::PATH);

    let mut client = GreeterHelloClient::connect(&url).await?;
    for (name, language) in [("Ada", None), ("Gabriela", Some("es"))] {
        let hello = Hello {
            name: name.to_owned(),
            language: language.map(str::to_owned),
        };
        println!("-> {hello:?}");
        client.send(hello).await?;
        println!("<- {:?}", client.recv().await?);
    }
    client
        .send(Hello {
            name: String::new(),
            language: None,
        })
        .await?;
    match client.recv().await {
        Err(closed) => println!("<- {closed}"),
        Ok(greeting) => println!("<- unexpected {greeting:?}"),
    }
    Ok(())
}
