//! The echo server's handlers, shared by `cargo run --example echo-server`, the conformance
//! suite, the interop tests and the benchmarks: typed JSON with pushes and a typed close, raw
//! frames, text, a quiet receive-only endpoint, a protocol handshake, the status envelope and a
//! feed for slow consumers.

use wsgen_generated::echo::{
    Command, EchoFeedClose, EchoFeedConn, EchoFeedHandler, EchoHeartbeatClose, EchoHeartbeatConn,
    EchoHeartbeatHandler, EchoJsonClose, EchoJsonConn, EchoJsonHandler, EchoQuietClose,
    EchoQuietConn, EchoQuietHandler, EchoRawClose, EchoRawConn, EchoRawHandler, EchoTextClose,
    EchoTextConn, EchoTextHandler, Event, Handlers, Note,
};
use wsgen_generated::echo::{
    EchoEnvelopedClose, EchoEnvelopedConn, EchoEnvelopedHandler, EchoProtocolClose,
    EchoProtocolConn, EchoProtocolHandler,
};
use wsgen_runtime::Frame;

/// `echo.json`: a welcome push, notes echoed, pushes on request, `bye` closes with `goodbye`.
pub struct JsonEcho;

impl EchoJsonHandler for JsonEcho {
    async fn on_connect(&self, conn: &EchoJsonConn) -> Result<(), EchoJsonClose> {
        let session = conn.session_id().get();
        // A fresh connection's queue is empty, so this push is accepted.
        let _ = conn.send(Event::Welcome { session });
        Ok(())
    }

    async fn on_message(
        &self,
        conn: &EchoJsonConn,
        command: Command,
    ) -> Result<Event, EchoJsonClose> {
        match command {
            Command::Note(note) => Ok(Event::Note(note)),
            Command::Push(push) => {
                for n in 1..=push.count {
                    // At most 100 (validated), within the queue of 256; a client that leaves
                    // the earlier ones unread is closed with 1013 by the slow-consumer policy.
                    if conn.send(Event::Tick { n }).is_err() {
                        break;
                    }
                }
                Ok(Event::Pushed { count: push.count })
            }
            Command::Bye => Err(EchoJsonClose::Goodbye),
        }
    }
}

/// `echo.raw`: every frame back as it came.
pub struct RawEcho;

impl EchoRawHandler for RawEcho {
    async fn on_message(&self, _conn: &EchoRawConn, frame: Frame) -> Result<Frame, EchoRawClose> {
        Ok(frame)
    }
}

/// `echo.text`: text back.
pub struct TextEcho;

impl EchoTextHandler for TextEcho {
    async fn on_message(
        &self,
        _conn: &EchoTextConn,
        text: String,
    ) -> Result<String, EchoTextClose> {
        Ok(text)
    }
}

/// `echo.quiet`: takes messages, answers none.
pub struct Quiet;

impl EchoQuietHandler for Quiet {
    async fn on_message(&self, _conn: &EchoQuietConn, _text: String) -> Result<(), EchoQuietClose> {
        Ok(())
    }
}

/// `echo.heartbeat`: text back, with pings.
pub struct Heartbeat;

impl EchoHeartbeatHandler for Heartbeat {
    async fn on_message(
        &self,
        _conn: &EchoHeartbeatConn,
        text: String,
    ) -> Result<String, EchoHeartbeatClose> {
        Ok(text)
    }
}

/// `echo.feed`: `count` ticks pushed at once.
pub struct Feed;

impl EchoFeedHandler for Feed {
    async fn on_connect(&self, conn: &EchoFeedConn) -> Result<(), EchoFeedClose> {
        for n in 1..=conn.query().count {
            // Beyond the queue of 16 the push fails and the connection is being closed.
            if conn.send(Event::Tick { n }).is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// `echo.protocol`: text back, after the handshake.
pub struct Protocol;

impl EchoProtocolHandler for Protocol {
    async fn on_message(
        &self,
        _conn: &EchoProtocolConn,
        text: String,
    ) -> Result<String, EchoProtocolClose> {
        Ok(text)
    }
}

/// `echo.enveloped`: notes back, in the status envelope.
pub struct Enveloped;

impl EchoEnvelopedHandler for Enveloped {
    async fn on_message(
        &self,
        _conn: &EchoEnvelopedConn,
        note: Note,
    ) -> Result<Note, EchoEnvelopedClose> {
        Ok(note)
    }
}

/// The handler set of the echo spec.
pub type EchoHandlers =
    Handlers<JsonEcho, RawEcho, TextEcho, Quiet, Heartbeat, Protocol, Enveloped, Feed>;

/// Every endpoint of the echo spec with the handlers above.
pub fn handlers() -> EchoHandlers {
    Handlers {
        echo_json: JsonEcho,
        echo_raw: RawEcho,
        echo_text: TextEcho,
        echo_quiet: Quiet,
        echo_heartbeat: Heartbeat,
        echo_protocol: Protocol,
        echo_enveloped: Enveloped,
        echo_feed: Feed,
    }
}
