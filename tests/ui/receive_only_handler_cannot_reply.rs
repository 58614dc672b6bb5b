//! The server handler of a receive_only endpoint cannot reply: its on_message returns `()`.
use wsgen_generated::revali::{ExampleListenClose, ExampleListenConn, ExampleListenHandler, Note};

struct Listen;

impl ExampleListenHandler for Listen {
    async fn on_message(
        &self,
        _conn: &ExampleListenConn,
        message: Note,
    ) -> Result<String, ExampleListenClose> {
        Ok(message.message)
    }
}

fn main() {}
