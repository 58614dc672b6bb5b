//! Generated message types keep the spec's names on the wire, whatever Rust calls them.

use wsgen_generated::naming_rules::{Envelope, MatchEvent};
use wsgen_runtime::codegen::WireMessage;
use wsgen_runtime::tokio_tungstenite::tungstenite::Message;

#[test]
fn keyword_and_camel_case_fields_use_the_spec_names_on_the_wire() {
    let event = MatchEvent {
        r#type: "goal".to_owned(),
        self_: 7,
        user_name: Some("ada".to_owned()),
        r#in: vec![[("x".to_owned(), 1.5)].into()],
        r#async: None,
    };
    let Message::Text(text) = event.clone().encode() else {
        panic!("JSON types travel in text frames");
    };
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "goal", "self": 7, "userName": "ada", "in": [{"x": 1.5}]})
    );
    // Optional fields may be absent; the rest may not.
    let back = MatchEvent::decode(Message::text(r#"{"type":"t","self":1,"in":[]}"#)).unwrap();
    assert_eq!(back.user_name, None);
    assert!(MatchEvent::decode(Message::text(r#"{"type":"t","in":[]}"#)).is_err());
    assert_eq!(MatchEvent::decode(event.clone().encode()).unwrap(), event);

    let envelope = Envelope {
        events: vec![event.clone()],
        lookup: [("first".to_owned(), event)].into(),
    };
    assert_eq!(
        Envelope::decode(envelope.clone().encode()).unwrap(),
        envelope
    );
}
