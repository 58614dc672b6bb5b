//! A server is assembled from one handler per endpoint: leaving one out does not compile.
use wsgen_generated::revali::{
    ExampleListenClose, ExampleListenConn, ExampleListenHandler, ExampleTickerHandler,
    ExampleWebsocketClose, ExampleWebsocketConn, ExampleWebsocketHandler, Handlers, Note,
};

struct Echo;
impl ExampleWebsocketHandler for Echo {
    async fn on_message(
        &self,
        _conn: &ExampleWebsocketConn,
        message: String,
    ) -> Result<String, ExampleWebsocketClose> {
        Ok(message)
    }
}

struct Listen;
impl ExampleListenHandler for Listen {
    async fn on_message(
        &self,
        _conn: &ExampleListenConn,
        _message: Note,
    ) -> Result<(), ExampleListenClose> {
        Ok(())
    }
}

struct Ticker;
impl ExampleTickerHandler for Ticker {}

fn main() {
    let _ = Ticker;
    let _server = Handlers {
        example_websocket: Echo,
        example_listen: Listen,
    }
    .into_server();
}
