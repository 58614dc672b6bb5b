//! Generated unions read an object whose tag comes first in one pass, without serde's buffer
//! (`JsonMessage::deserialize_tag_first`), and leave everything else to their derived
//! `Deserialize`. The one-pass reader must accept nothing the derived parser rejects and read
//! what it accepts to the same value: checked here on the echo spec's `Command` (newtype and
//! unit variants) and `Event` (inline fields), `wire_edges`' `Shape` (another tag key) and the
//! chat spec's `ClientEvent` and `ServerEvent` (a string enum and a recursive optional field
//! inside a variant), over chosen inputs and random objects.

use proptest::prelude::*;
use wsgen_generated::chat::{ClientEvent, ServerEvent};
use wsgen_generated::echo::{Command, Event, Note, Push};
use wsgen_generated::wire_edges::{Shape, Tag};
use wsgen_runtime::codegen::{JsonMessage, Validator, WireMessage};
use wsgen_runtime::serde::de::DeserializeOwned;
use wsgen_runtime::tokio_tungstenite::tungstenite::Message;

/// What the one-pass reader makes of `text`: `Some` only for a whole message it read.
fn one_pass<T: JsonMessage>(text: &str) -> Option<T> {
    let mut de = serde_json::Deserializer::from_str(text);
    let value = T::deserialize_tag_first(&mut de).ok().flatten()?;
    de.end().ok().map(|()| value)
}

/// What the derived parser makes of `text`.
fn derived<T: DeserializeOwned>(text: &str) -> Result<T, String> {
    serde_json::from_str(text).map_err(|e| e.to_string())
}

/// What the runtime's decoder makes of `text`, as a value or the error's text.
fn decoded<T: JsonMessage + WireMessage>(text: &str) -> Result<T, String> {
    T::decode(Message::text(text)).map_err(|e| e.to_string())
}

fn valid<T: JsonMessage>(value: &T) -> bool {
    let mut v = Validator::new();
    value.validate(&mut v);
    v.finish().is_ok()
}

/// Inputs with the tag first read in one pass, to what the derived parser reads.
#[test]
fn an_object_with_its_tag_first_is_read_in_one_pass_to_what_the_derived_parser_reads() {
    let commands = [
        (
            r#"{"type":"note","id":7,"text":"hi"}"#,
            Command::Note(Note {
                id: 7,
                text: "hi".to_owned(),
            }),
        ),
        (
            // Whitespace, a field order of the sender's choosing, an unknown field skipped,
            // escapes in the tag's value, in a key and in a string.
            " {\n \"type\" : \"no\\u0074e\", \"te\\u0078t\": \"\\\"\u{e9}\\n\", \"extra\": [1, {\"type\": 2}], \"id\": 4294967295 } ",
            Command::Note(Note {
                id: u32::MAX,
                text: "\"\u{e9}\n".to_owned(),
            }),
        ),
        (
            r#"{"type":"push","count":3}"#,
            Command::Push(Push { count: 3 }),
        ),
        // A unit variant skips other fields, as the derived parser does.
        (r#"{"type":"bye","why":{"a":[null]}}"#, Command::Bye),
        (r#"{"type":"bye"}"#, Command::Bye),
        (r#"{"\u0074ype":"bye"}"#, Command::Bye),
    ];
    for (text, expected) in commands {
        // A boxed message (a recursive type sent whole) reads as what it holds.
        assert_eq!(
            one_pass::<Box<Command>>(text).as_deref(),
            Some(&expected),
            "{text}"
        );
        assert_eq!(
            one_pass::<Command>(text).as_ref(),
            Some(&expected),
            "{text}"
        );
        assert_eq!(derived::<Command>(text).as_ref(), Ok(&expected), "{text}");
        assert_eq!(decoded::<Command>(text).as_ref(), Ok(&expected), "{text}");
    }
    let events = [
        (
            r#"{"type":"welcome","session":18446744073709551615}"#,
            Event::Welcome { session: u64::MAX },
        ),
        (r#"{"type":"tick","n":0}"#, Event::Tick { n: 0 }),
        (
            r#"{"type":"pushed","count":100}"#,
            Event::Pushed { count: 100 },
        ),
    ];
    for (text, expected) in events {
        assert_eq!(one_pass::<Event>(text).as_ref(), Some(&expected), "{text}");
        assert_eq!(derived::<Event>(text).as_ref(), Ok(&expected), "{text}");
    }
    let text = r#"{"kind":"tagged","name":"x"}"#;
    let tagged = Shape::Tagged(Tag {
        name: "x".to_owned(),
    });
    assert_eq!(one_pass::<Shape>(text), Some(tagged));
    let text = r#"{"kind":"plain","label":"y"}"#;
    let plain = Shape::Plain {
        label: "y".to_owned(),
    };
    assert_eq!(one_pass::<Shape>(text), Some(plain));
}

/// Inputs the one-pass reader declines; the derived parser decides them, as before.
#[test]
fn what_the_one_pass_reader_declines_the_derived_parser_decides() {
    let cases: [(&str, Result<Command, &str>); 15] = [
        // The tag last: the derived parser reads it.
        (
            r#"{"id":1,"text":"a","type":"note"}"#,
            Ok(Command::Note(Note {
                id: 1,
                text: "a".to_owned(),
            })),
        ),
        // A tag that is not a string.
        (r#"{"type":2}"#, Err("expected variant identifier")),
        // A second tag, even one that agrees: rejected, not skipped as an unknown field.
        (
            r#"{"type":"note","id":1,"type":"note","text":"a"}"#,
            Err("duplicate field `type`"),
        ),
        (
            r#"{"type":"bye","type":"note"}"#,
            Err("duplicate field `type`"),
        ),
        (r#"{"type":"nope","id":1}"#, Err("unknown variant `nope`")),
        (
            r#"{"type":"note","id":1,"text":"a"} x"#,
            Err("trailing characters"),
        ),
        (
            r#"{"type":"note","id":1,"id":2,"text":"a"}"#,
            Err("duplicate field `id`"),
        ),
        (
            r#"{"type":"note","id":4294967296,"text":"a"}"#,
            Err("invalid value"),
        ),
        (
            r#"{"type":"note","id":1.0,"text":"a"}"#,
            Err("invalid type"),
        ),
        (r#"{}"#, Err("Field required")),
        // serde's internally tagged enums take a sequence too.
        (
            r#"["note",1,"a"]"#,
            Ok(Command::Note(Note {
                id: 1,
                text: "a".to_owned(),
            })),
        ),
        // Fields the type does not have are read whole before they are dropped, as the
        // derived parser's buffer reads them: a number beyond `f64` or a lone surrogate is an
        // error there, at any depth, where serde's `IgnoredAny` would skip it.
        (r#"{"type":"bye","x":1e400}"#, Err("number out of range")),
        (
            r#"{"type":"bye","x":[[{"y":-1e999}]]}"#,
            Err("number out of range"),
        ),
        (
            r#"{"type":"note","id":1,"text":"a","x":{"y":"\ud800"}}"#,
            Err("unexpected end of hex escape"),
        ),
        (
            r#"{"type":"push","count":1,"x":"\udc00"}"#,
            Err("lone leading surrogate"),
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(one_pass::<Command>(text), None, "{text}");
        let decoded = decoded::<Command>(text);
        match expected {
            Ok(value) => {
                assert_eq!(decoded, Ok(value.clone()), "{text}");
                assert_eq!(derived::<Command>(text), Ok(value), "{text}");
            }
            Err(part) => {
                let error = decoded.expect_err(text);
                assert!(error.contains(part), "{text}: {error}");
                assert!(derived::<Command>(text).is_err(), "{text}");
            }
        }
    }
}

/// A JSON value of a random kind, at the edges where readers differ.
fn value() -> impl Strategy<Value = String> {
    let leaf = prop::sample::select(vec![
        "0",
        "1",
        "-1",
        "-0",
        "1.0",
        "1e2",
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775809",
        "1e400",
        "null",
        "true",
        "\"\"",
        "\"note\"",
        "\"push\"",
        "\"bye\"",
        "\"welcome\"",
        "\"tick\"",
        "\"pushed\"",
        "\"tagged\"",
        "\"plain\"",
        "\"n\\u006fte\"",
        "\"a\\\"b\\\\\"",
        "\"\u{1F600}\"",
        "[]",
        "{}",
        "{\"type\":\"note\"}",
        "[1,\"x\",null]",
    ]);
    leaf.prop_map(str::to_owned)
}

/// A key from the fields of the types under test, their tags, escaped spellings and strangers.
fn key() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "type",
        "kind",
        "id",
        "text",
        "count",
        "session",
        "n",
        "name",
        "label",
        "typ\\u0065",
        "extra",
        "",
    ])
}

/// A JSON object of random entries, with the tag put first most of the time.
fn object() -> impl Strategy<Value = String> {
    (
        prop::collection::vec((key(), value()), 0..6),
        prop::option::weighted(0.8, (prop::sample::select(vec!["type", "kind"]), value())),
    )
        .prop_map(|(entries, first)| {
            let entries: Vec<String> = first
                .into_iter()
                .chain(entries)
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            format!("{{{}}}", entries.join(","))
        })
}

fn agrees<T>(text: &str) -> Result<(), TestCaseError>
where
    T: JsonMessage + WireMessage + PartialEq + std::fmt::Debug,
{
    let derived = derived::<T>(text);
    if let Some(value) = one_pass::<T>(text) {
        prop_assert_eq!(derived.as_ref().ok(), Some(&value), "{}", text);
    }
    let expected = derived.ok().filter(valid);
    prop_assert_eq!(decoded::<T>(text).ok(), expected, "{}", text);
    Ok(())
}

/// An object close to a message: a variant's tag first, then fields of the types under test
/// with right and wrong values, in any order, now and then a second tag.
fn plausible() -> impl Strategy<Value = String> {
    let entry = prop::sample::select(vec![
        ("id", "7"),
        ("id", "4294967296"),
        ("id", "\"7\""),
        ("text", "\"hi\""),
        ("text", "\"\""),
        ("text", "null"),
        ("count", "3"),
        ("count", "0"),
        ("session", "18446744073709551615"),
        ("n", "1"),
        ("n", "-1"),
        ("name", "\"x\""),
        ("label", "\"y\""),
        ("type", "\"note\""),
        ("kind", "\"plain\""),
        ("extra", "{\"type\":\"bye\"}"),
    ]);
    let variant = prop::sample::select(vec![
        ("type", "note"),
        ("type", "push"),
        ("type", "bye"),
        ("type", "welcome"),
        ("type", "tick"),
        ("type", "pushed"),
        ("kind", "tagged"),
        ("kind", "plain"),
    ]);
    (variant, prop::collection::vec(entry, 0..5)).prop_map(|((tag, name), entries)| {
        let rest: String = entries
            .iter()
            .map(|(k, v)| format!(",\"{k}\":{v}"))
            .collect();
        format!("{{\"{tag}\":\"{name}\"{rest}}}")
    })
}

/// A JSON value nested up to four deep, from the same leaves and keys as [`object`].
fn nested() -> impl Strategy<Value = String> {
    value().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((key(), inner), 0..4).prop_map(|v| {
                let entries: Vec<String> =
                    v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", entries.join(","))
            }),
        ]
    })
}

/// A chat message: a tag first, the fields of one of its variants (a `Line` whose `mood` is a
/// string enum and whose `quote` is a `Line` again), and fields with nested values of any kind.
fn chat() -> impl Strategy<Value = String> {
    let tag = prop::sample::select(vec![
        "line",
        "welcome",
        "joined",
        "left",
        "whispered",
        "join",
        "say",
        "leave",
        "whisper",
        "invite",
        "nope",
    ]);
    let fields = prop::sample::select(vec![
        "",
        r#","room":"r","user":"u","text":"t","mood":"plain""#,
        r#","room":"r","user":"u","text":"t","mood":{"plain":null}"#,
        r#","room":"r","user":"u","text":"t","mood":"plain","quote":{"room":"q","user":"v","text":"w","mood":"plain","x":1e400}"#,
        r#","room":"r","user":"u","text":"t","mood":"plain","quote":["q","v","w","plain"]"#,
        r#","session":1,"user":"u""#,
        r#","to":1,"text":"t""#,
        r#","room":"r","user":"u","members":1"#,
    ]);
    let extra = prop::sample::select(vec!["x", "quote", "mood", "t\\u0079pe", "type"]);
    (tag, fields, prop::collection::vec((extra, nested()), 0..3)).prop_map(
        |(tag, fields, extra)| {
            let extra: String = extra.iter().map(|(k, v)| format!(",\"{k}\":{v}")).collect();
            format!("{{\"type\":\"{tag}\"{fields}{extra}}}")
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn the_one_pass_reader_agrees_with_the_derived_parser_on_chat_messages(text in chat()) {
        agrees::<ClientEvent>(&text)?;
        agrees::<ServerEvent>(&text)?;
    }

    #[test]
    fn the_one_pass_reader_agrees_with_the_derived_parser_on_random_objects(text in object()) {
        agrees::<Command>(&text)?;
        agrees::<Event>(&text)?;
        agrees::<Shape>(&text)?;
    }

    #[test]
    fn the_one_pass_reader_agrees_with_the_derived_parser_near_valid_messages(text in plausible()) {
        agrees::<Command>(&text)?;
        agrees::<Event>(&text)?;
        agrees::<Shape>(&text)?;
    }
}
