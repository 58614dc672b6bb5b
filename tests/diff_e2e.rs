//! `wsgen diff` end to end, one test per category: for a few pairs of the catalogue
//! (`tests/specs/diff/e2e_*`, one small spec each), the Rust generated from OLD and from NEW is
//! checked in under `tests/diff_e2e/` (kept current by `generated_modules_are_current`;
//! `WSGEN_BLESS=1` rewrites them), and a generated client of one version talks to a generated
//! server of the other. Each shows the break the diff predicted in the direction it predicted,
//! and the safe changes show none.

mod common;

#[allow(dead_code)]
#[path = "diff_e2e/old.rs"]
mod old;

#[allow(dead_code)]
#[path = "diff_e2e/field_added_required.rs"]
mod field_added_required;

#[allow(dead_code)]
#[path = "diff_e2e/enum_value_added.rs"]
mod enum_value_added;

#[allow(dead_code)]
#[path = "diff_e2e/field_removed_required.rs"]
mod field_removed_required;

#[allow(dead_code)]
#[path = "diff_e2e/field_added_optional.rs"]
mod field_added_optional;

#[allow(dead_code)]
#[path = "diff_e2e/type_renamed.rs"]
mod type_renamed;

use std::path::Path;

use common::{serve, within};
use wsgen::diff::{Breaks, Change};
use wsgen_runtime::ClientError;

/// The checked-in modules and the specs they are generated from.
const MODULES: &[(&str, &str)] = &[
    ("old", "tests/specs/diff/e2e_field_added_required/old.yaml"),
    (
        "field_added_required",
        "tests/specs/diff/e2e_field_added_required/new.yaml",
    ),
    (
        "enum_value_added",
        "tests/specs/diff/e2e_enum_value_added/new.yaml",
    ),
    (
        "field_removed_required",
        "tests/specs/diff/e2e_field_removed_required/new.yaml",
    ),
    (
        "field_added_optional",
        "tests/specs/diff/e2e_field_added_optional/new.yaml",
    ),
    ("type_renamed", "tests/specs/diff/e2e_type_renamed/new.yaml"),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_modules_are_current() {
    for (module, spec) in MODULES {
        let files = wsgen::generate(Path::new(spec)).expect("the e2e specs are valid");
        let path = root().join(format!("tests/diff_e2e/{module}.rs"));
        if std::env::var_os("WSGEN_BLESS").is_some() {
            std::fs::write(&path, &files[0].contents).unwrap();
        }
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            current == files[0].contents,
            "{} is stale; run with WSGEN_BLESS=1",
            path.display()
        );
    }
}

/// What the diff of the pair `e2e_<case>` says it breaks, merged over its changes.
fn predicted(case: &str) -> Breaks {
    let dir = root().join(format!("tests/specs/diff/e2e_{case}"));
    let load = |side: &str| wsgen::load::load(&dir.join(format!("{side}.yaml"))).unwrap();
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
