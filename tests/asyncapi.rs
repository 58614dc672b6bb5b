//! What `wsgen asyncapi` says about messages: primitive message types get their own JSON Schema
//! (the official parser's verdict on every exported document is in tests/interop.rs).

#[test]
fn primitive_messages_get_their_own_payload_schemas() {
    let path = std::path::Path::new("tests/specs/valid/primitive_messages.yaml");
    let document: serde_json::Value =
        serde_json::from_str(&wsgen::asyncapi(path).unwrap()).unwrap();
    let messages = &document["components"]["messages"];
    assert_eq!(messages["Int"]["payload"]["type"], "integer", "{messages}");
    assert_eq!(messages["Bool"]["payload"]["type"], "boolean", "{messages}");
    let operation = &document["operations"]["counter_add_receive"];
    assert_eq!(operation["action"], "receive", "{operation}");
    assert_eq!(
        operation["reply"]["messages"][0]["$ref"], "#/channels/counter_add/messages/sentBool",
        "{operation}"
    );
}
