//! End to end: validation rules of a type hold wherever the type sits (map values, lists of
//! lists, union-typed fields, optional wrappers), served from the checked-in code generated
//! from `examples/specs/deep_rules.yaml`. Before, only a message's own fields and `list<T>`
//! fields were checked, and an empty `name` reached the handler from anywhere deeper.

mod common;

use std::sync::{Arc, Mutex};

use common::{raw, roundtrip, serve, within};
use tokio_tungstenite::tungstenite::Message;
use wsgen_generated::deep_rules::*;

struct Keep(Arc<Mutex<Vec<Bag>>>);

impl BagsPutHandler for Keep {
    async fn on_message(&self, _conn: &BagsPutConn, message: Bag) -> Result<String, BagsPutClose> {
        self.0.lock().unwrap().push(message);
        Ok("ok".to_owned())
    }
}

fn text(message: Message) -> String {
    match message {
        Message::Text(text) => text.to_string(),
        other => panic!("expected a text message, got {other:?}"),
    }
}

/// A valid bag with `hole` (a JSON pointer into it) replaced by an empty tag name.
fn bag_with_empty_name(hole: Option<&str>) -> String {
    let mut bag = serde_json::json!({
        "by_key": {"a": {"name": "x"}},
        "grid": [[{"name": "x"}], [{"name": "y"}, {"name": "z"}]],
        "shape": {"kind": "tagged", "name": "x"},
        "maybe": {"k": [{"name": "x"}]},
        "first": {"name": "x"},
    });
    if let Some(hole) = hole {
        *bag.pointer_mut(hole).unwrap() = serde_json::json!("");
    }
    bag.to_string()
}

#[tokio::test]
async fn rules_of_nested_types_are_enforced_at_every_depth() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers {
        bags_put: Keep(Arc::clone(&seen)),
    };
    let url = serve(handlers.into_server()).await;
    let mut ws = within(raw(&url, "/bags/put")).await;

    assert_eq!(
        text(roundtrip(&mut ws, &bag_with_empty_name(None)).await),
        "ok"
    );
    let holes = [
        ("/by_key/a/name", vec!["by_key", "a", "name"]),
        ("/grid/1/1/name", vec!["grid", "1", "1", "name"]),
        ("/shape/name", vec!["shape", "name"]),
        ("/maybe/k/0/name", vec!["maybe", "k", "0", "name"]),
        ("/first/name", vec!["first", "name"]),
    ];
    for (hole, loc) in holes {
        let reply = text(roundtrip(&mut ws, &bag_with_empty_name(Some(hole))).await);
        let reply: serde_json::Value = serde_json::from_str(&reply).unwrap();
        assert_eq!(reply["statusCode"], 400, "{hole}: {reply}");
        let errors = &reply["body"]["errorList"];
        assert_eq!(errors[0]["type"], "string_too_short", "{hole}: {reply}");
        assert_eq!(errors[0]["loc"], serde_json::json!(loc), "{hole}: {reply}");
    }
    // Only the valid bag reached the handler.
    assert_eq!(seen.lock().unwrap().len(), 1);
}
