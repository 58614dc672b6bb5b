//! `wsgen diff` end to end, one test per category: for a few pairs of the catalogue
//! (`tests/specs/diff/e2e_*`, one small spec each), the Rust generated from OLD and from NEW is
//! checked in under `tests/diff_e2e/` (written by `cargo xtask regen`, which lists them, and
//! checked by `cargo xtask regen --check` in CI), and a generated client of one version talks to a generated
//! server of the other. Each shows the break the diff predicted in the direction it predicted,
//! and the safe changes show none. A union variant added to what the server sends is also
//! shown with the TypeScript client of OLD (compiled by `tsc`, run in Node with `ws`).

mod common;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/old.rs"]
mod old;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/field_added_required.rs"]
mod field_added_required;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/enum_value_added.rs"]
mod enum_value_added;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/field_removed_required.rs"]
mod field_removed_required;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/field_added_optional.rs"]
mod field_added_optional;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/type_renamed.rs"]
mod type_renamed;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/union_old.rs"]
mod union_old;

// Formatted by wsgen (prettyplease), so rustfmt leaves it alone.
#[rustfmt::skip]
#[allow(dead_code)]
#[path = "diff_e2e/union_variant_added.rs"]
mod union_variant_added;

#[path = "common/browser.rs"]
mod browser;

use std::path::Path;

use common::{serve, within};
use wsgen::diff::{Breaks, Change};
use wsgen_runtime::ClientError;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// What the diff of the pair `e2e_<case>` says it breaks, merged over its changes.
fn predicted(case: &str) -> Breaks {
    let dir = root().join(format!("tests/specs/diff/e2e_{case}"));
    let load = |side: &str| wsgen::load(&dir.join(format!("{side}.yaml"))).unwrap();
    let changes: Vec<Change> = wsgen::diff::diff_sources(load("old"), load("new")).unwrap();
    changes.iter().fold(Breaks::default(), |acc, c| Breaks {
        old_clients: acc.old_clients || c.breaks.old_clients,
        old_servers: acc.old_servers || c.breaks.old_servers,
        rust_api: acc.rust_api || c.breaks.rust_api,
    })
}

/// Serves the one handler of a version's spec: it replies with `$reply` (of type `$reply_ty`),
/// built from the received `order`.
macro_rules! server {
    ($module:ident, $reply_ty:ident, |$order:ident| $reply:expr) => {{
        struct Place;
        impl $module::OrdersPlaceHandler for Place {
            async fn on_message(
                &self,
                _conn: &$module::OrdersPlaceConn,
                $order: $module::Order,
            ) -> Result<$module::$reply_ty, $module::OrdersPlaceClose> {
                #[allow(unused_imports)]
                use $module::*;
                Ok($reply)
            }
        }
        serve(
            $module::Handlers {
                orders_place: Place,
            }
            .into_server(),
        )
        .await
    }};
}

fn is_invalid_close<C: wsgen_runtime::CloseCondition>(e: &ClientError<C>) -> bool {
    matches!(
        e,
        ClientError::ClosedOther {
            code: Some(1007),
            ..
        }
    )
}

async fn old_server() -> String {
    server!(old, Ack, |order| Ack {
        item: order.item,
        status: Status::Open,
    })
}

async fn old_client(url: &str, item: &str) -> Result<old::Ack, old::OrdersPlaceError> {
    let mut client = old::OrdersPlaceClient::connect(url).await?;
    client
        .send(old::Order {
            item: item.to_owned(),
            qty: 1,
        })
        .await?;
    client.recv().await
}

#[tokio::test]
async fn old_clients_break_on_a_required_field_added_to_what_the_server_receives() {
    assert!(predicted("field_added_required").old_clients);
    let url = server!(field_added_required, Ack, |order| Ack {
        item: order.email,
        status: Status::Open,
    });
    // An old client's message lacks `email`: the new server refuses it (close 1007).
    let error = within(old_client(&url, "tea")).await.unwrap_err();
    assert!(is_invalid_close(&error), "{error:?}");
    // A new client is served.
    let mut client = field_added_required::OrdersPlaceClient::connect(&url)
        .await
        .unwrap();
    client
        .send(field_added_required::Order {
            item: "tea".into(),
            qty: 1,
            email: "a@example.com".into(),
        })
        .await
        .unwrap();
    assert_eq!(within(client.recv()).await.unwrap().item, "a@example.com");
}

#[tokio::test]
async fn old_clients_get_a_typed_decode_error_for_an_enum_value_added_to_what_the_server_sends() {
    assert!(predicted("enum_value_added").old_clients);
    let url = server!(enum_value_added, Ack, |order| Ack {
        status: if order.item == "gone" {
            Status::Lost
        } else {
            Status::Open
        },
        item: order.item,
    });
    let mut client = old::OrdersPlaceClient::connect(&url).await.unwrap();
    let send = |item: &str| old::Order {
        item: item.to_owned(),
        qty: 1,
    };
    client.send(send("gone")).await.unwrap();
    let error = within(client.recv()).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Decode(_)) && error.to_string().contains("lost"),
        "{error}"
    );
    // Predictably: that one message fails, the connection stays and the next one decodes.
    client.send(send("tea")).await.unwrap();
    assert_eq!(
        within(client.recv()).await.unwrap().status,
        old::Status::Open
    );
}

#[tokio::test]
async fn old_servers_break_on_a_required_field_removed_from_what_they_receive() {
    let breaks = predicted("field_removed_required");
    assert!(breaks.old_servers && !breaks.old_clients);
    // Default direction: an old client meets the new server, which ignores the extra `qty`.
    let new_url = server!(field_removed_required, Ack, |order| Ack {
        item: order.item,
        status: Status::Open,
    });
    assert_eq!(
        within(old_client(&new_url, "tea")).await.unwrap().item,
        "tea"
    );
    // Rolling: a new client leaves `qty` out, and the old server refuses it.
    let old_url = old_server().await;
    let mut client = field_removed_required::OrdersPlaceClient::connect(&old_url)
        .await
        .unwrap();
    client
        .send(field_removed_required::Order { item: "tea".into() })
        .await
        .unwrap();
    let error = within(client.recv()).await.unwrap_err();
    assert!(is_invalid_close(&error), "{error:?}");
}

#[tokio::test]
async fn an_optional_field_added_breaks_neither_direction() {
    assert_eq!(
        predicted("field_added_optional"),
        Breaks {
            rust_api: true,
            ..Breaks::default()
        }
    );
    let new_url = server!(field_added_optional, Ack, |order| Ack {
        item: order.item,
        status: Status::Closed,
        note: Some("thanks".into()),
    });
    // An old client ignores the new field.
    let ack = within(old_client(&new_url, "tea")).await.unwrap();
    assert_eq!(
        (ack.item.as_str(), ack.status),
        ("tea", old::Status::Closed)
    );
    // A new client of an old server gets no `note`.
    let old_url = old_server().await;
    let mut client = field_added_optional::OrdersPlaceClient::connect(&old_url)
        .await
        .unwrap();
    client
        .send(field_added_optional::Order {
            item: "tea".into(),
            qty: 2,
        })
        .await
        .unwrap();
    let ack = within(client.recv()).await.unwrap();
    assert_eq!((ack.item.as_str(), ack.note), ("tea", None));
}

#[tokio::test]
async fn a_rust_api_break_keeps_the_wire() {
    assert_eq!(
        predicted("type_renamed"),
        Breaks {
            rust_api: true,
            ..Breaks::default()
        }
    );
    // The new module names the reply `Receipt` (code naming `Ack` no longer compiles), and
    // both directions still talk.
    let new_url = server!(type_renamed, Receipt, |order| Receipt {
        item: order.item,
        status: Status::Open,
    });
    assert_eq!(
        within(old_client(&new_url, "tea")).await.unwrap().item,
        "tea"
    );
    let old_url = old_server().await;
    let mut client = type_renamed::OrdersPlaceClient::connect(&old_url)
        .await
        .unwrap();
    client
        .send(type_renamed::Order {
            item: "tea".into(),
            qty: 1,
        })
        .await
        .unwrap();
    let receipt: type_renamed::Receipt = within(client.recv()).await.unwrap();
    assert_eq!(receipt.item, "tea");
}

/// The new server of `e2e_union_variant_added`: replies `refunded` (which OLD lacks) to
/// `refund`, `opened` to anything else.
async fn union_server() -> String {
    use union_variant_added::*;
    struct Feed;
    impl ShopFeedHandler for Feed {
        async fn on_message(
            &self,
            _conn: &ShopFeedConn,
            message: String,
        ) -> Result<Event, ShopFeedClose> {
            Ok(if message == "refund" {
                Event::Refunded { id: 7 }
            } else {
                Event::Opened { id: 1 }
            })
        }
    }
    serve(Handlers { shop_feed: Feed }.into_server()).await
}

#[tokio::test]
async fn old_rust_and_typescript_clients_get_a_decode_error_for_a_union_variant_added() {
    assert!(predicted("union_variant_added").old_clients);
    let url = union_server().await;
    // Rust: a typed decode error for that message; the connection goes on.
    let mut client = union_old::ShopFeedClient::connect(&url).await.unwrap();
    client.send("refund".to_owned()).await.unwrap();
    let error = within(client.recv()).await.unwrap_err();
    assert!(
        matches!(&error, ClientError::Decode(_)) && error.to_string().contains("refunded"),
        "{error}"
    );
    client.send("open".to_owned()).await.unwrap();
    assert!(matches!(
        within(client.recv()).await.unwrap(),
        union_old::Event::Opened { id: 1 }
    ));

    // TypeScript, compiled by tsc and run in Node with `ws`: a `DecodeError`, then the next
    // message as usual.
    browser::dependencies();
    let dir = tempfile::tempdir().unwrap();
    let spec = root().join("tests/specs/diff/e2e_union_variant_added/old.yaml");
    let module = browser::write_typescript(&spec, dir.path());
    let out = dir.path().display().to_string();
    let tsc = root().join("tests/interop/node/node_modules/.bin/tsc");
    let compiled = std::process::Command::new(&tsc)
        .args(["--strict", "--target", "es2020", "--module", "es2020"])
        .args(["--lib", "es2020,dom", "--outDir", &out])
        .arg(&module)
        .output()
        .unwrap();
    assert!(compiled.status.success(), "{compiled:?}");
    std::fs::write(dir.path().join("package.json"), r#"{ "type": "module" }"#).unwrap();
    let runner = dir.path().join("old-union-client.mjs");
    std::fs::copy(root().join("tests/diff_e2e/old-union-client.mjs"), &runner).unwrap();
    let output = tokio::process::Command::new("node")
        .arg(&runner)
        .arg(&url)
        .arg(root().join("tests/interop/node/package.json"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(std::time::Duration::from_secs(60), output)
        .await
        .expect("node finished within 60s")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(report["unknown"]["isDecodeError"], true, "{report}");
    assert!(
        report["unknown"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("refunded")),
        "{report}"
    );
    assert_eq!(report["next"]["type"], "opened", "{report}");
}
