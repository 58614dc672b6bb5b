#![warn(missing_docs)]

//! The greeter API, generated at build time from `greeter.yaml` by `build.rs`, and a handler
//! for it.

use std::sync::atomic::{AtomicU64, Ordering};

/// The code `wsgen::Builder` generated from `greeter.yaml`.
pub mod api {
    wsgen_runtime::include_spec!("greeter");
}

use api::{GreeterHelloClose, GreeterHelloConn, GreeterHelloHandler, Greeting, Hello};

/// Greets each visitor in their language and counts them.
#[derive(Debug, Default)]
pub struct Greeter {
    visitors: AtomicU64,
}

impl GreeterHelloHandler for Greeter {
    async fn on_message(
        &self,
        _conn: &GreeterHelloConn,
        hello: Hello,
    ) -> Result<Greeting, GreeterHelloClose> {
        if hello.name.trim().is_empty() {
            return Err(GreeterHelloClose::Rude);
        }
        let word = match hello.language.as_deref() {
            Some("es") => "Hola",
            Some("fr") => "Bonjour",
            _ => "Hello",
        };
        Ok(Greeting {
            text: format!("{word}, {}!", hello.name),
            visitor_number: self.visitors.fetch_add(1, Ordering::Relaxed) + 1,
        })
    }
}
