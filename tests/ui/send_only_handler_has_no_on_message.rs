//! A send_only endpoint receives nothing, so its handler trait has no on_message.
use wsgen_generated::revali::{ExampleTickerClose, ExampleTickerConn, ExampleTickerHandler};

struct Ticker;

impl ExampleTickerHandler for Ticker {
    async fn on_message(
        &self,
        _conn: &ExampleTickerConn,
        _message: String,
    ) -> Result<(), ExampleTickerClose> {
        Ok(())
    }
}

fn main() {}
