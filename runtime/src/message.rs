//! Message codecs: how a typed value travels in a WebSocket frame.
//!
//! The wire mapping, one place for all of it:
//! - `String` travels as a text frame, `Vec<u8>` as a binary frame;
//! - `i64`, `f64` and `bool` travel as their text form (`42`, `1.5`, `true`);
//! - `serde_json::Value` and every spec type (through [`JsonMessage`]) travel as JSON in a text
//!   frame; JSON is also accepted in a binary frame, as browsers and some clients send it;
//! - [`Frame`] takes text and binary frames as they come;
//! - [`std::convert::Infallible`] stands for "this direction carries nothing": it never decodes.

use std::convert::Infallible;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_tungstenite::tungstenite::{Bytes, Message, Utf8Bytes};

use crate::validate::{FieldError, JsonMessage, Validator, decode_errors};

/// Why an incoming frame could not become the endpoint's message type.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// The frame had the wrong kind, such as binary where text was expected.
    #[error("expected a {expected} frame, got a {got} frame")]
    WrongFrame {
        /// The frame kind the message type travels in.
        expected: &'static str,
        /// The frame kind that arrived.
        got: &'static str,
    },
    /// The payload did not parse as the message type.
    #[error("invalid {ty}: {detail}")]
    Invalid {
        /// The message type's name on the wire (`int`, `bool`, `json`, ...).
        ty: &'static str,
        /// What the parser said.
        detail: String,
    },
    /// The endpoint receives no messages in this direction.
    #[error("this endpoint does not accept messages in this direction")]
    Unexpected,
    /// A JSON message did not fit its type or broke the spec's validation rules.
    #[error("invalid message: {}", .0.iter().map(|e| format!("{}: {}", e.loc.join("."), e.msg)).collect::<Vec<_>>().join("; "))]
    Rejected(Vec<FieldError>),
}

impl DecodeError {
    /// The close code RFC 6455 prescribes for this error: 1003 for data of a kind the endpoint
    /// does not accept, 1007 for data that is inconsistent with the message type.
    pub fn close_code(&self) -> u16 {
        match self {
            DecodeError::WrongFrame { .. } | DecodeError::Unexpected => 1003,
            DecodeError::Invalid { .. } | DecodeError::Rejected(_) => 1007,
        }
    }

    /// The error as Cafeto-style field errors, for an error reply.
    pub fn field_errors(&self) -> Vec<FieldError> {
        match self {
            DecodeError::Rejected(errors) => errors.clone(),
            other => vec![FieldError {
                loc: Vec::new(),
                kind: match other {
                    DecodeError::WrongFrame { .. } | DecodeError::Unexpected => "frame_type",
                    _ => "value_error",
                }
                .to_owned(),
                msg: other.to_string(),
            }],
        }
    }
}

/// A value that can be sent and received as one WebSocket message.
pub trait WireMessage: Sized + Send + 'static {
    /// Whether a text frame decodes as one JSON document (serde_json over the whole text), so
    /// that a value that decodes proves the text is JSON: the typed client then reads an
    /// enveloped body without parsing the envelope first.
    #[doc(hidden)]
    const JSON: bool = false;
    /// Decodes a data frame (text or binary) into the value.
    fn decode(message: Message) -> Result<Self, DecodeError>;
    /// Encodes the value into a data frame.
    fn encode(self) -> Message;
    /// Encodes the value in Cafeto's response envelope, `{"statusCode":200,"body":..}`, as an
    /// endpoint with `envelope` sends it: a text frame's JSON becomes the body, any other frame
    /// goes as it is. The default wraps [`WireMessage::encode`]; JSON types write the envelope
    /// and the value into one buffer.
    fn encode_enveloped(self) -> Message {
        envelope_ok(self.encode())
    }
}

fn frame_kind(message: &Message) -> &'static str {
    match message {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "raw",
    }
}

fn text(message: Message) -> Result<tokio_tungstenite::tungstenite::Utf8Bytes, DecodeError> {
    match message {
        Message::Text(text) => Ok(text),
        other => Err(DecodeError::WrongFrame {
            expected: "text",
            got: frame_kind(&other),
        }),
    }
}

fn parse_text<T: std::str::FromStr>(message: Message, ty: &'static str) -> Result<T, DecodeError>
where
    T::Err: std::fmt::Display,
{
    let text = text(message)?;
    text.trim()
        .parse()
        .map_err(|e: T::Err| DecodeError::Invalid {
            ty,
            detail: e.to_string(),
        })
}

fn json<T: DeserializeOwned>(message: Message) -> Result<T, DecodeError> {
    let parsed = match &message {
        Message::Text(text) => serde_json::from_str(text),
        Message::Binary(bytes) => serde_json::from_slice(bytes),
        other => {
            return Err(DecodeError::WrongFrame {
                expected: "text",
                got: frame_kind(other),
            });
        }
    };
    parsed.map_err(|e| DecodeError::Invalid {
        ty: "json",
        detail: e.to_string(),
    })
}

fn to_json<T: Serialize>(value: &T) -> Message {
    // Serialising plain data (derived Serialize, string keys) cannot fail; a failure would be a
    // bug in a hand-written Serialize impl, reported as a JSON null rather than a panic.
    Message::text(crate::json_text::to_string(value).unwrap_or_else(|_| "null".to_owned()))
}

/// The start of the success envelope; the body and a closing `}` follow.
pub(crate) const ENVELOPE_OK: &str = "{\"statusCode\":200,\"body\":";

/// `to_json` in the success envelope, serialised once into one buffer (the same text as
/// `envelope_ok(to_json(value))`).
fn to_json_enveloped<T: Serialize>(value: &T) -> Message {
    let mut out = String::with_capacity(128);
    out.push_str(ENVELOPE_OK);
    if crate::json_text::write(&mut out, value).is_err() {
        out.push_str("null");
    }
    out.push('}');
    Message::text(out)
}

impl WireMessage for String {
    fn decode(message: Message) -> Result<Self, DecodeError> {
        text(message).map(|text| text.as_str().to_owned())
    }
    fn encode(self) -> Message {
        Message::text(self)
    }
}

impl WireMessage for Vec<u8> {
    fn decode(message: Message) -> Result<Self, DecodeError> {
        match message {
            Message::Binary(bytes) => Ok(bytes.into()),
            other => Err(DecodeError::WrongFrame {
                expected: "binary",
                got: frame_kind(&other),
            }),
        }
    }
    fn encode(self) -> Message {
        Message::binary(self)
    }
}

impl WireMessage for i64 {
    fn decode(message: Message) -> Result<Self, DecodeError> {
        parse_text(message, "int")
    }
    fn encode(self) -> Message {
        Message::text(self.to_string())
    }
}

impl WireMessage for f64 {
    fn decode(message: Message) -> Result<Self, DecodeError> {
        parse_text(message, "float")
    }
    fn encode(self) -> Message {
        Message::text(self.to_string())
    }
}

impl WireMessage for bool {
    fn decode(message: Message) -> Result<Self, DecodeError> {
        parse_text(message, "bool")
    }
    fn encode(self) -> Message {
        Message::text(if self { "true" } else { "false" })
    }
}

impl WireMessage for serde_json::Value {
    const JSON: bool = true;
    fn decode(message: Message) -> Result<Self, DecodeError> {
        json(message)
    }
    fn encode(self) -> Message {
        to_json(&self)
    }
    fn encode_enveloped(self) -> Message {
        to_json_enveloped(&self)
    }
}

/// A boxed message (a recursive field) validates, and is read, as what it holds.
impl<T: JsonMessage> JsonMessage for Box<T> {
    fn validate(&self, validator: &mut Validator) {
        (**self).validate(validator);
    }

    fn deserialize_tag_first<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self>, D::Error> {
        T::deserialize_tag_first(deserializer).map(|value| value.map(Box::new))
    }
}

/// Parses a JSON message into `T` from the deserializer `read` makes: over a text frame's
/// `str` (UTF-8 already checked by the protocol, so its strings are not checked again) or a
/// binary frame's bytes. A union with its tag first is read in one pass
/// ([`JsonMessage::deserialize_tag_first`]); anything else, and anything that fails there, goes
/// to the plain parser (`Deserialize`). Only a message that fails that is parsed again with its
/// path tracked, to say where it failed.
fn parse_json<'de, T, R>(read: impl Fn() -> serde_json::Deserializer<R>) -> Result<T, DecodeError>
where
    T: JsonMessage,
    R: serde_json::de::Read<'de>,
{
    let mut tag_first = read();
    if let Ok(Some(value)) = T::deserialize_tag_first(&mut tag_first) {
        if tag_first.end().is_ok() {
            return Ok(value);
        }
    }
    let mut plain = read();
    let plain = match T::deserialize(&mut plain).and_then(|value| plain.end().map(|()| value)) {
        Ok(value) => return Ok(value),
        Err(plain) => plain,
    };
    match serde_path_to_error::deserialize::<_, T>(&mut read()) {
        Err(error) => Err(DecodeError::Rejected(decode_errors(error))),
        // Only the plain parser checks what follows the value (`{"a": 1} and more`).
        Ok(_) => Err(DecodeError::Rejected(vec![FieldError {
            loc: Vec::new(),
            kind: "json_invalid".to_owned(),
            msg: plain.to_string(),
        }])),
    }
}

impl<T: JsonMessage> WireMessage for T {
    const JSON: bool = true;
    fn decode(message: Message) -> Result<Self, DecodeError> {
        let value: T = match &message {
            Message::Text(text) => parse_json(|| serde_json::Deserializer::from_str(text))?,
            Message::Binary(bytes) => parse_json(|| serde_json::Deserializer::from_slice(bytes))?,
            other => {
                return Err(DecodeError::WrongFrame {
                    expected: "text",
                    got: frame_kind(other),
                });
            }
        };
        let mut validator = Validator::new();
        value.validate(&mut validator);
        validator.finish().map_err(DecodeError::Rejected)?;
        Ok(value)
    }
    fn encode(self) -> Message {
        to_json(&self)
    }
    fn encode_enveloped(self) -> Message {
        to_json_enveloped(&self)
    }
}

/// A text or binary message taken as it comes, for endpoints that carry both (Rwf's and Spry's
/// `Message`): the spec's `frame` type.
///
/// The payload is the frame's own buffer (shared, reference counted), not a copy: an echo or a
/// relay sends back or forwards what it received without copying it. Being a slice of the
/// buffer it was read into, a small frame kept for long (a history, a queue for a slow peer)
/// can keep a larger read buffer alive: keep [`Frame::detach`]ed frames instead. Build one with
/// [`Frame::text`] or [`Frame::binary`] from a `String`, a `&'static str`, a `Vec<u8>` and the
/// like; read a text frame as a `&str` through [`Utf8Bytes::as_str`] (or `Deref`).
#[derive(Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame.
    Text(Utf8Bytes),
    /// A binary frame.
    Binary(Bytes),
}

/// A text frame shows as its text (`Text("héllo")`), as when it held a `String`, not as the
/// escaped bytes of its buffer.
impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Frame::Text(text) => f.debug_tuple("Text").field(&text.as_str()).finish(),
            Frame::Binary(bytes) => f.debug_tuple("Binary").field(bytes).finish(),
        }
    }
}

impl Frame {
    /// A text frame.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Frame::Text(text.into())
    }

    /// A binary frame.
    pub fn binary(bytes: impl Into<Bytes>) -> Self {
        Frame::Binary(bytes.into())
    }

    /// The same frame in a buffer of its own size, for a frame kept long after it was read
    /// (one copy).
    #[must_use]
    pub fn detach(self) -> Self {
        match self {
            Frame::Text(text) => Frame::Text(text.as_str().to_owned().into()),
            Frame::Binary(bytes) => Frame::Binary(Bytes::copy_from_slice(&bytes)),
        }
    }
}

impl WireMessage for Frame {
    #[inline]
    fn decode(message: Message) -> Result<Self, DecodeError> {
        match message {
            Message::Text(text) => Ok(Frame::Text(text)),
            Message::Binary(bytes) => Ok(Frame::Binary(bytes)),
            other => Err(DecodeError::WrongFrame {
                expected: "data",
                got: frame_kind(&other),
            }),
        }
    }
    #[inline]
    fn encode(self) -> Message {
        match self {
            Frame::Text(text) => Message::Text(text),
            Frame::Binary(bytes) => Message::Binary(bytes),
        }
    }
}

impl WireMessage for Infallible {
    fn decode(_message: Message) -> Result<Self, DecodeError> {
        Err(DecodeError::Unexpected)
    }
    fn encode(self) -> Message {
        match self {}
    }
}

/// Wraps an encoded JSON frame in Cafeto's response envelope: `{"statusCode": 200, "body": ..}`.
pub(crate) fn envelope_ok(frame: Message) -> Message {
    match frame {
        Message::Text(text) => {
            let body = text.as_str();
            let mut enveloped = String::with_capacity(ENVELOPE_OK.len() + body.len() + 1);
            enveloped.push_str(ENVELOPE_OK);
            enveloped.push_str(body);
            enveloped.push('}');
            Message::text(enveloped)
        }
        other => other,
    }
}

/// The error reply for a rejected message: `{"statusCode": 400, "body": {"errorList": [..]}}`.
pub(crate) fn envelope_errors(errors: &[FieldError]) -> Message {
    // Written by hand so that `statusCode` comes first, as in the success envelope. A list of
    // strings always serializes; the fallback only keeps this total.
    let list = serde_json::to_string(errors).unwrap_or_else(|_| "[]".to_owned());
    Message::text(format!(
        "{{\"statusCode\":400,\"body\":{{\"errorList\":{list}}}}}"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Point {
        x: i32,
    }
    impl JsonMessage for Point {}

    #[test]
    fn primitives_round_trip_in_their_frame_kinds() {
        assert_eq!(String::decode("hi".to_owned().encode()).unwrap(), "hi");
        assert_eq!(Vec::<u8>::decode(vec![1, 2].encode()).unwrap(), vec![1, 2]);
        assert_eq!(i64::decode(Message::text(" -7 ")).unwrap(), -7);
        assert!(bool::decode(true.encode()).unwrap());
        assert_eq!(f64::decode(1.5f64.encode()).unwrap(), 1.5);
        assert!(matches!(true.encode(), Message::Text(_)));
        assert!(matches!(vec![1u8].encode(), Message::Binary(_)));
    }

    #[test]
    fn wrong_frame_kinds_and_bad_payloads_are_typed_errors() {
        let err = String::decode(Message::binary(vec![104])).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::WrongFrame {
                expected: "text",
                got: "binary"
            }
        ));
        assert_eq!(err.close_code(), 1003);
        let err = i64::decode(Message::text("forty")).unwrap_err();
        assert!(matches!(err, DecodeError::Invalid { ty: "int", .. }));
        assert_eq!(err.close_code(), 1007);
        assert!(matches!(
            Infallible::decode(Message::text("x")),
            Err(DecodeError::Unexpected)
        ));
    }

    #[test]
    fn json_types_accept_text_and_binary_frames() {
        let encoded = Point { x: 3 }.encode();
        assert_eq!(encoded, Message::text(r#"{"x":3}"#));
        assert_eq!(Point::decode(encoded).unwrap(), Point { x: 3 });
        assert_eq!(
            Point::decode(Message::binary(br#"{"x":4}"#.to_vec())).unwrap(),
            Point { x: 4 }
        );
        match Point::decode(Message::text("{}")) {
            Err(DecodeError::Rejected(errors)) => {
                assert_eq!(errors[0].loc, ["x"]);
                assert_eq!(errors[0].kind, "missing");
            }
            other => panic!("expected a missing-field rejection, got {other:?}"),
        }
    }

    #[test]
    fn the_envelope_is_written_in_one_go_as_it_is_wrapped() {
        let point = Point { x: 3 };
        let wrapped = envelope_ok(Point { x: 3 }.encode());
        assert_eq!(
            wrapped,
            Message::text(r#"{"statusCode":200,"body":{"x":3}}"#)
        );
        assert_eq!(point.encode_enveloped(), wrapped);
        let value = serde_json::json!({"a": [1, "b"]});
        assert_eq!(
            value.clone().encode_enveloped(),
            envelope_ok(value.encode())
        );
        assert_eq!(
            "hi".to_owned().encode_enveloped(),
            Message::text(r#"{"statusCode":200,"body":hi}"#)
        );
        assert_eq!(
            vec![1u8].encode_enveloped(),
            Message::binary(vec![1u8]),
            "a binary frame goes as it is"
        );
    }

    #[test]
    fn a_failing_json_message_says_where_and_trailing_data_is_refused() {
        #[derive(Debug, serde::Deserialize, serde::Serialize)]
        struct Outer {
            points: Vec<Point>,
        }
        impl JsonMessage for Outer {}
        match Outer::decode(Message::text(r#"{"points": [{"x": 1}, {"x": "two"}]}"#)) {
            Err(DecodeError::Rejected(errors)) => {
                assert_eq!(errors[0].loc, ["points", "[1]", "x"]);
                assert_eq!(errors[0].kind, "invalid_type");
            }
            other => panic!("expected an invalid_type rejection, got {other:?}"),
        }
        match Point::decode(Message::text(r#"{"x": 1} {"x": 2}"#)) {
            Err(DecodeError::Rejected(errors)) => {
                assert_eq!(errors[0].kind, "json_invalid");
                assert!(errors[0].msg.contains("trailing"), "{errors:?}");
            }
            other => panic!("expected trailing data to be refused, got {other:?}"),
        }
    }
}
