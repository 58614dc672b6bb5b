//! Fuzzes the runtime's message decoding: every frame a hostile client can send, for every
//! message type generated code uses, must decode or give a typed error (never a panic).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wsgen_runtime::tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::{DecodeError, Frame, WireMessage};

fn all(message: Message) {
    let _ = String::decode(message.clone());
    let _ = Vec::<u8>::decode(message.clone());
    let _ = i64::decode(message.clone());
    let _ = f64::decode(message.clone());
    let _ = bool::decode(message.clone());
    let _ = Frame::decode(message.clone());
    let _ = wsgen_runtime::serde_json::Value::decode(message.clone());
    // A generated type with validation rules and a tagged union.
    if let Err(e) = wsgen_generated_like::Say::decode(message.clone()) {
        let _ = e.close_code();
        let _ = e.field_errors();
    }
    if let Err(DecodeError::Rejected(errors)) = wsgen_generated_like::Event::decode(message) {
        assert!(!errors.is_empty());
    }
}

/// Types shaped like the chat spec's, written out here so the fuzz crate does not depend on
/// the checked-in generated crate.
mod wsgen_generated_like {
    use wsgen_runtime::serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(crate = "wsgen_runtime::serde")]
    pub struct Say {
        pub room: String,
        pub text: String,
        pub tags: Option<Vec<String>>,
    }

    impl wsgen_runtime::JsonMessage for Say {
        fn validate(&self, v: &mut wsgen_runtime::Validator) {
            v.pattern("room", &self.room, r"^[a-z0-9-]{1,32}$");
            v.min_length("text", &self.text, 1);
            v.max_length("text", &self.text, 500);
            if let Some(tags) = &self.tags {
                v.max_items("tags", tags, 3);
            }
        }
    }

    #[derive(Debug, Serialize, Deserialize)]
    #[serde(crate = "wsgen_runtime::serde", tag = "type")]
    pub enum Event {
        #[serde(rename = "say")]
        Say(Box<Say>),
        #[serde(rename = "leave")]
        Leave { room: String },
    }

    impl wsgen_runtime::JsonMessage for Event {
        fn validate(&self, v: &mut wsgen_runtime::Validator) {
            if let Event::Say(say) = self {
                wsgen_runtime::JsonMessage::validate(say, v);
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    all(Message::binary(data.to_vec()));
    if let Ok(text) = std::str::from_utf8(data) {
        all(Message::text(text));
    }
});
