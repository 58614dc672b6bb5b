//! An outgoing JSON message is written by the runtime's own writer (strings checked for escapes
//! eight bytes at a time), which must write exactly what `serde_json::to_string` writes: checked
//! here through the public path (`WireMessage::encode` and `encode_enveloped`) on random JSON
//! values of every kind and on generated messages (the chat spec's `ServerEvent`, with a string
//! enum and a recursive optional field, and the echo spec's `Event`), with strings of any
//! characters at any position.

use proptest::prelude::*;
use wsgen_generated::chat::{Line, Mood, ServerEvent};
use wsgen_generated::echo::{Event, Note};
use wsgen_runtime::codegen::WireMessage;
use wsgen_runtime::serde::Serialize;
use wsgen_runtime::tokio_tungstenite::tungstenite::Message;

/// The text of an encoded message.
fn text(message: Message) -> String {
    match message {
        Message::Text(text) => text.as_str().to_owned(),
        other => panic!("a JSON message is text, got {other:?}"),
    }
}

/// `value` encoded, plain and enveloped, is what serde_json writes.
fn written_as_serde_json<T>(value: T) -> Result<(), TestCaseError>
where
    T: WireMessage + Serialize + Clone,
{
    let expected = serde_json::to_string(&value).expect("serde_json writes it");
    prop_assert_eq!(text(value.clone().encode()), expected.clone());
    prop_assert_eq!(
        text(value.encode_enveloped()),
        format!("{{\"statusCode\":200,\"body\":{expected}}}")
    );
    Ok(())
}

/// Strings where writers differ: mostly plain ASCII, with the characters JSON escapes (control
/// characters, `"`, `\`), DEL, non-ASCII and astral characters placed anywhere, at lengths on
/// both sides of eight-byte words; and strings of any characters.
fn string() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        8 => "[a-zA-Z0-9 ]{0,17}",
        1 => prop::sample::select(vec![
            "\"", "\\", "\u{0}", "\u{1f}", "\n", "\t", "\u{7f}", "é", "\u{2028}", "\u{1F600}",
            "/", "\u{ffff}",
        ])
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        4 => prop::collection::vec(piece, 0..6).prop_map(|pieces| pieces.concat()),
        1 => any::<String>(),
    ]
}

/// A JSON value of any kind, nested.
fn json() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        prop::sample::select(vec![0.1, -0.0, 1e300, f64::MIN_POSITIVE, 5e-324, 1.5e16])
            .prop_map(serde_json::Value::from),
        string().prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
            prop::collection::vec((string(), inner), 0..5)
                .prop_map(|entries| serde_json::Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn mood() -> impl Strategy<Value = Mood> {
    prop::sample::select(vec![Mood::Plain, Mood::Joke, Mood::Shout])
}

/// A chat line quoting up to three lines.
fn line() -> impl Strategy<Value = Line> {
    let plain = (string(), string(), string(), mood()).prop_map(|(room, user, text, mood)| Line {
        room,
        user,
        text,
        mood,
        quote: None,
    });
    plain.prop_recursive(3, 4, 1, |quoted| {
        (string(), string(), string(), mood(), quoted).prop_map(
            |(room, user, text, mood, quote)| Line {
                room,
                user,
                text,
                mood,
                quote: Some(Box::new(quote)),
            },
        )
    })
}

fn server_event() -> impl Strategy<Value = ServerEvent> {
    prop_oneof![
        (any::<u64>(), string()).prop_map(|(session, user)| ServerEvent::Welcome { session, user }),
        (string(), string(), any::<u32>()).prop_map(|(room, user, members)| {
            ServerEvent::Joined {
                room,
                user,
                members,
            }
        }),
        line().prop_map(ServerEvent::Line),
        string().prop_map(|text| ServerEvent::Notice { text }),
        (any::<u64>(), string(), string())
            .prop_map(|(from, user, text)| { ServerEvent::Whispered { from, user, text } }),
    ]
}

fn echo_event() -> impl Strategy<Value = Event> {
    prop_oneof![
        any::<u64>().prop_map(|session| Event::Welcome { session }),
        (any::<u32>(), string()).prop_map(|(id, text)| Event::Note(Note { id, text })),
        any::<u32>().prop_map(|count| Event::Pushed { count }),
        any::<u32>().prop_map(|n| Event::Tick { n }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn any_json_value_is_written_as_serde_json_writes_it(value in json()) {
        written_as_serde_json(value)?;
    }

    #[test]
    fn generated_messages_are_written_as_serde_json_writes_them(
        chat in server_event(),
        echo in echo_event(),
    ) {
        written_as_serde_json(chat)?;
        written_as_serde_json(echo)?;
    }
}

/// A long string with one character to escape, at each position of its last words: found
/// wherever it is.
#[test]
fn an_escape_anywhere_in_a_long_string_is_written_escaped() {
    for escaped in ['"', '\\', '\u{0}', '\u{1f}'] {
        for at in 1000..1040 {
            let mut text: String = "x".repeat(1040);
            text.replace_range(at..=at, &escaped.to_string());
            let note = Event::Note(Note { id: 1, text });
            let written = text_of(note.clone());
            assert_eq!(written, serde_json::to_string(&note).expect("writes"));
            if escaped.is_control() {
                assert!(!written.contains(escaped), "{written:?}");
            }
        }
    }
}

fn text_of(event: Event) -> String {
    text(event.encode())
}
