//! The JSON text of an outgoing message: byte for byte what `serde_json::to_string` writes,
//! and faster where the message carries text (about half the instructions for a 1 KiB string;
//! a few percent more for a message of short strings or of floats).
//!
//! serde_json checks every byte of every string against its escape table, one byte at a time:
//! most of the cost of encoding a message that carries text. Here a string is searched for the
//! next byte to escape (a control character, `"` or `\`) eight bytes at a time (the usual bit
//! tricks on a `u64`), the runs between are copied as they are, and each escape is written as
//! serde_json writes it. Integers are written by `itoa` and floats by serde_json's own
//! `Serializer`, as serde_json writes them; map keys follow serde_json's rules (strings,
//! integers, booleans and finite floats, quoted; anything else is serde_json's own error), and
//! its private raw-value type (and its number type, when a crate of the build turns on its
//! `arbitrary_precision`) pass their text through unchanged. A `Display` given to
//! `collect_str` is escaped piece by piece as it is formatted; one that fails is an error here
//! (serde_json panics).
//!
//! Everything is written in one pass, in the order serde_json writes it, and every error is a
//! `serde_json::Error`: a `Serialize` implementation that recovers from an error, or that can
//! run only once, sees what it would see under serde_json. The text is built in a `String`
//! from `&str` pieces, so no `unsafe` is needed to hand it on. What a nesting level keeps is
//! one byte of kind and one of state beside the buffer, so deep values take no more stack than
//! under serde_json.

use serde::ser::{self, Impossible, Serialize};
use serde_json::Error;

/// `value` as JSON text: the same text, or the same error, as `serde_json::to_string(value)`.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::with_capacity(128);
    write(&mut out, value)?;
    Ok(out)
}

/// Appends `value` as JSON text to `out`; on an error `out` is as it was.
pub(crate) fn write<T: Serialize + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    let start = out.len();
    let written = value.serialize(Writer { out: &mut *out });
    if written.is_err() {
        out.truncate(start);
    }
    written
}

/// The position of the first byte at or after `from` that serde_json escapes: a control
/// character (below 0x20), `"` or `\`. Eight bytes at a time: in a word read little-endian, the
/// lowest byte that the "has a zero byte" and "has a byte below n" tests flag is always a true
/// one (a false flag can only follow a true one, through the borrow).
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let rest = bytes.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            break;
        };
        let x = u64::from_le_bytes(word);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH;
        let flags = below_space | zero(x ^ (ONES * u64::from(b'"'))) | zero(x ^ (ONES * 0x5c));
        if flags != 0 {
            return Some(at + flags.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = words.remainder();
    tail.iter()
        .position(|&b| ESCAPED[usize::from(b)])
        .map(|i| at + i)
}

/// The bytes serde_json escapes, by value (for the last few bytes of a string).
static ESCAPED: [bool; 256] = {
    let mut escaped = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        escaped[b] = true;
        b += 1;
    }
    escaped[b'"' as usize] = true;
    escaped[b'\\' as usize] = true;
    escaped
};

/// A string, quoted and escaped as serde_json escapes it: `\"`, `\\`, `\b`, `\f`, `\n`, `\r`,
/// `\t`, and `\u00xx` (lowercase) for the other control characters.
fn string(out: &mut String, value: &str) {
    out.reserve(value.len() + 2);
    out.push('"');
    contents(out, value);
    out.push('"');
}

/// A string's contents, escaped (see [`string`]).
fn contents(out: &mut String, value: &str) {
    let bytes = value.as_bytes();
    let mut start = 0;
    while let Some(at) = next_escape(bytes, start) {
        // Both ends are next to an ASCII byte, so on character boundaries.
        out.push_str(value.get(start..at).unwrap_or_default());
        let byte = bytes.get(at).copied().unwrap_or_default();
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            control => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(control >> 4)]));
                out.push(char::from(HEX[usize::from(control & 0xf)]));
            }
        }
        start = at + 1;
    }
    out.push_str(value.get(start..).unwrap_or_default());
}

/// A `Display` value as a string, escaped piece by piece as it is formatted, as serde_json's
/// `collect_str` writes it; a `Display` that fails is an error here (serde_json panics).
fn display<T: std::fmt::Display + ?Sized>(out: &mut String, value: &T) -> Result<(), Error> {
    struct Escaping<'a>(&'a mut String);
    impl std::fmt::Write for Escaping<'_> {
        fn write_str(&mut self, piece: &str) -> std::fmt::Result {
            contents(self.0, piece);
            Ok(())
        }
    }
    out.push('"');
    std::fmt::write(&mut Escaping(out), format_args!("{value}"))
        .map_err(|_| ser::Error::custom("a Display implementation returned an error"))?;
    out.push('"');
    Ok(())
}

/// A float as serde_json writes it (`null` when not finite), by serde_json's own `Serializer`
/// on the stack: the longest takes 24 bytes.
fn float(
    out: &mut String,
    serialize: impl FnOnce(&mut serde_json::Serializer<&mut &mut [u8]>) -> Result<(), Error>,
) -> Result<(), Error> {
    const ROOM: usize = 64;
    let mut buf = [0u8; ROOM];
    let mut rest: &mut [u8] = &mut buf;
    serialize(&mut serde_json::Serializer::new(&mut rest))?;
    let written = ROOM - rest.len();
    let text = buf.get(..written).and_then(|t| std::str::from_utf8(t).ok());
    out.push_str(text.ok_or_else(|| ser::Error::custom("a float longer than 64 bytes"))?);
    Ok(())
}

/// serde_json's own error for a map key it does not take: asked of serde_json with a map of
/// that one key, so that it is the error serde_json gives.
fn key_error<K: Serialize>(key: K) -> Error {
    struct OneKey<K>(K);
    impl<K: Serialize> Serialize for OneKey<K> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(&self.0, &())?;
            map.end()
        }
    }
    match serde_json::to_vec(&OneKey(key)) {
        Err(error) => error,
        Ok(_) => ser::Error::custom("key must be a string"),
    }
}

/// The name under which serde_json's `RawValue` passes its text: a struct of one field, of the
/// same name, holding the text.
const RAW_VALUE: &str = "$serde_json::private::RawValue";

/// The same for a number under serde_json's `arbitrary_precision` feature.
const NUMBER: &str = "$serde_json::private::Number";

/// Whether serde_json was built with `arbitrary_precision` (a feature any crate of the build
/// may turn on): then a number keeps its text, and only then is [`NUMBER`] its token.
fn arbitrary_precision() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| {
        serde_json::from_str::<serde_json::Number>("1e2").is_ok_and(|n| n.to_string() == "1e2")
    })
}

/// Writes one value into `out`.
struct Writer<'a> {
    out: &'a mut String,
}

/// Where an array or an object being written is, as serde_json tracks it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Opened and closed at once (a length hint of zero); anything written after is written
    /// as serde_json writes it.
    Empty,
    First,
    Rest,
}

/// What is being written: it says what closes it. One byte, so that a nesting level costs
/// the stack no more than serde_json's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Array,
    Object,
    /// `{"variant":[..]}`
    VariantArray,
    /// `{"variant":{..}}`
    VariantObject,
    /// serde_json's raw value or number token: its one field's text, as it is.
    Raw(Token),
}

/// Which of serde_json's tokens, for its errors.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Token {
    RawValue,
    Number,
}

impl Token {
    fn name(self) -> &'static str {
        match self {
            Token::RawValue => RAW_VALUE,
            Token::Number => NUMBER,
        }
    }

    /// serde_json's error for a wrong field name (`not_a_string` false) or a value that is not
    /// a string (`not_a_string` true).
    fn error(self, not_a_string: bool) -> Error {
        ser::Error::custom(match (self, not_a_string) {
            (Token::RawValue, false) => "expected value",
            (Token::RawValue, true) => "expected RawValue",
            (Token::Number, _) => "invalid number",
        })
    }
}

/// An array or an object being written.
struct Compound<'a> {
    out: &'a mut String,
    state: State,
    kind: Kind,
}

impl<'a> Compound<'a> {
    fn open(out: &'a mut String, kind: Kind, empty: bool) -> Self {
        match kind {
            Kind::VariantArray | Kind::Array => out.push('['),
            Kind::VariantObject | Kind::Object => out.push('{'),
            Kind::Raw(_) => {}
        }
        let state = if empty {
            out.push_str(kind.close());
            State::Empty
        } else {
            State::First
        };
        Compound { out, state, kind }
    }

    /// `{"variant":` and the variant's array or object.
    fn variant(out: &'a mut String, variant: &str, kind: Kind, empty: bool) -> Self {
        variant_key(out, variant);
        Compound::open(out, kind, empty)
    }

    fn separate(&mut self) {
        if self.state != State::First {
            self.out.push(',');
        }
        self.state = State::Rest;
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.separate();
        value.serialize(Writer { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Error> {
        if let Kind::Raw(token) = self.kind {
            return if key == token.name() {
                value.serialize(Raw {
                    out: self.out,
                    token,
                })
            } else {
                Err(token.error(false))
            };
        }
        self.separate();
        string(self.out, key);
        self.out.push(':');
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Error> {
        if self.state != State::Empty {
            self.out.push_str(self.kind.close());
        }
        if matches!(self.kind, Kind::VariantArray | Kind::VariantObject) {
            self.out.push('}');
        }
        Ok(())
    }
}

impl Kind {
    /// What closes it (a variant's own `}` comes after).
    fn close(self) -> &'static str {
        match self {
            Kind::Array | Kind::VariantArray => "]",
            Kind::Object | Kind::VariantObject => "}",
            Kind::Raw(_) => "",
        }
    }
}

/// `{"variant":` before a variant's content.
fn variant_key(out: &mut String, variant: &str) {
    out.push('{');
    string(out, variant);
    out.push(':');
}

/// What a value and a map key write alike: characters, strings and unit variants as strings,
/// and a newtype struct as what it holds.
macro_rules! strings {
    () => {
        fn serialize_char(self, value: char) -> Result<(), Error> {
            string(self.out, value.encode_utf8(&mut [0; 4]));
            Ok(())
        }

        fn serialize_str(self, value: &str) -> Result<(), Error> {
            string(self.out, value);
            Ok(())
        }

        fn serialize_unit_variant(
            self,
            _name: &'static str,
            _index: u32,
            variant: &'static str,
        ) -> Result<(), Error> {
            string(self.out, variant);
            Ok(())
        }

        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _name: &'static str,
            value: &T,
        ) -> Result<(), Error> {
            value.serialize(self)
        }

        fn collect_str<T: std::fmt::Display + ?Sized>(self, value: &T) -> Result<(), Error> {
            display(self.out, value)
        }
    };
}

macro_rules! integers {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Error> {
                self.out.push_str(itoa::Buffer::new().format(value));
                Ok(())
            }
        )*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    integers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    );

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        float(self.out, |s| ser::Serializer::serialize_f32(s, value))
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        float(self.out, |s| ser::Serializer::serialize_f64(s, value))
    }

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.out.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Error> {
        self.out.push('[');
        for (i, byte) in value.iter().enumerate() {
            if i > 0 {
                self.out.push(',');
            }
            self.out.push_str(itoa::Buffer::new().format(*byte));
        }
        self.out.push(']');
        Ok(())
    }

    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Error> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }

    strings!();

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        variant_key(self.out, variant);
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, Kind::Array, len == Some(0)))
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::variant(
            self.out,
            variant,
            Kind::VariantArray,
            len == 0,
        ))
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Compound<'a>, Error> {
        Ok(Compound::open(self.out, Kind::Object, len == Some(0)))
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a>, Error> {
        let token = match name {
            RAW_VALUE => Some(Token::RawValue),
            NUMBER if arbitrary_precision() => Some(Token::Number),
            _ => None,
        };
        if let Some(token) = token {
            return Ok(Compound::open(self.out, Kind::Raw(token), false));
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Error> {
        Ok(Compound::variant(
            self.out,
            variant,
            Kind::VariantObject,
            len == 0,
        ))
    }
}

/// The traits of arrays (sequences, tuples, tuple structs and variants): elements.
macro_rules! elements {
    ($($trait:ident::$method:ident),* $(,)?) => {
        $(
            impl ser::$trait for Compound<'_> {
                type Ok = ();
                type Error = Error;
                fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
                    self.element(value)
                }
                fn end(self) -> Result<(), Error> {
                    Compound::end(self)
                }
            }
        )*
    };
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field,
);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.separate();
        key.serialize(Key { out: self.out })
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.out.push(':');
        value.serialize(Writer { out: self.out })
    }
    fn end(self) -> Result<(), Error> {
        Compound::end(self)
    }
}

/// The traits of objects with named fields (structs and struct variants).
macro_rules! fields {
    ($($trait:ident),* $(,)?) => {
        $(
            impl ser::$trait for Compound<'_> {
                type Ok = ();
                type Error = Error;
                fn serialize_field<T: Serialize + ?Sized>(
                    &mut self,
                    key: &'static str,
                    value: &T,
                ) -> Result<(), Error> {
                    self.field(key, value)
                }
                fn end(self) -> Result<(), Error> {
                    Compound::end(self)
                }
            }
        )*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

/// Methods that give the serializer's error (`refused`) for a key (or a raw value's text) of
/// their kind.
macro_rules! refused {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, _value: $ty) -> Result<(), Error> {
                Err(self.refused())
            }
        )*
    };
}

/// A serializer's compound types and methods, all giving serde_json's error for a key (or a
/// raw value's text).
macro_rules! refused_compounds {
    () => {
        type Ok = ();
        type Error = Error;
        type SerializeSeq = Impossible<(), Error>;
        type SerializeTuple = Impossible<(), Error>;
        type SerializeTupleStruct = Impossible<(), Error>;
        type SerializeTupleVariant = Impossible<(), Error>;
        type SerializeMap = Impossible<(), Error>;
        type SerializeStruct = Impossible<(), Error>;
        type SerializeStructVariant = Impossible<(), Error>;

        fn serialize_unit(self) -> Result<(), Error> {
            Err(self.refused())
        }
        fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
            Err(self.refused())
        }
        fn serialize_none(self) -> Result<(), Error> {
            Err(self.refused())
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _value: &T,
        ) -> Result<(), Error> {
            Err(self.refused())
        }
        fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
            Err(self.refused())
        }
        fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
            Err(self.refused())
        }
        fn serialize_tuple_struct(
            self,
            _name: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeTupleStruct, Error> {
            Err(self.refused())
        }
        fn serialize_tuple_variant(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeTupleVariant, Error> {
            Err(self.refused())
        }
        fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
            Err(self.refused())
        }
        fn serialize_struct(
            self,
            _name: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeStruct, Error> {
            Err(self.refused())
        }
        fn serialize_struct_variant(
            self,
            _name: &'static str,
            _index: u32,
            _variant: &'static str,
            _len: usize,
        ) -> Result<Self::SerializeStructVariant, Error> {
            Err(self.refused())
        }
    };
}

/// A map key, as serde_json writes it: a string; an integer, a boolean or a finite float in
/// quotes; serde_json's own error for anything else.
struct Key<'a> {
    out: &'a mut String,
}

macro_rules! quoted_numbers {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Error> {
                self.quoted(value, true)
            }
        )*
    };
}

impl Key<'_> {
    /// serde_json's error for a key that is not a string, a number or a boolean.
    fn refused(&self) -> Error {
        key_error(())
    }

    /// A number in quotes, written as a value is; one that is not `finite` (a float) gets
    /// serde_json's error.
    fn quoted<N: Serialize>(self, number: N, finite: bool) -> Result<(), Error> {
        if !finite {
            return Err(key_error(number));
        }
        self.out.push('"');
        number.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push('"');
        Ok(())
    }
}

impl ser::Serializer for Key<'_> {
    quoted_numbers!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    );

    refused!(serialize_bytes: &[u8]);
    refused_compounds!();

    fn serialize_bool(self, value: bool) -> Result<(), Error> {
        self.out
            .push_str(if value { "\"true\"" } else { "\"false\"" });
        Ok(())
    }

    fn serialize_f32(self, value: f32) -> Result<(), Error> {
        self.quoted(value, value.is_finite())
    }

    fn serialize_f64(self, value: f64) -> Result<(), Error> {
        self.quoted(value, value.is_finite())
    }

    strings!();

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
}

/// A raw value's (or an `arbitrary_precision` number's) text, written as it is.
struct Raw<'a> {
    out: &'a mut String,
    token: Token,
}

impl Raw<'_> {
    /// serde_json's error for a token's field that is not a string.
    fn refused(&self) -> Error {
        self.token.error(true)
    }
}

impl ser::Serializer for Raw<'_> {
    refused!(
        serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32,
        serialize_i64: i64, serialize_i128: i128, serialize_u8: u8, serialize_u16: u16,
        serialize_u32: u32, serialize_u64: u64, serialize_u128: u128, serialize_f32: f32,
        serialize_f64: f64, serialize_char: char, serialize_bytes: &[u8],
    );
    refused_compounds!();

    fn serialize_str(self, value: &str) -> Result<(), Error> {
        self.out.push_str(value);
        Ok(())
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
    ) -> Result<(), Error> {
        Err(self.refused())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(self.refused())
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(self.refused())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, HashMap};

    /// `value` written here and by serde_json: the same text, or both fail.
    fn same<T: Serialize + ?Sized>(value: &T) {
        match (to_string(value), serde_json::to_string(value)) {
            (Ok(ours), Ok(theirs)) => assert_eq!(ours, theirs),
            (Err(ours), Err(theirs)) => assert_eq!(ours.to_string(), theirs.to_string()),
            (ours, theirs) => panic!("{ours:?} against serde_json's {theirs:?}"),
        }
    }

    #[test]
    fn every_byte_that_serde_json_escapes_is_found_at_every_position() {
        for byte in 0u8..=0x7f {
            for len in 1..=20 {
                for at in 0..len {
                    let mut bytes = vec![b'a'; len];
                    bytes[at] = byte;
                    let escaped = byte < 0x20 || byte == b'"' || byte == b'\\';
                    let found = next_escape(&bytes, 0);
                    assert_eq!(found, escaped.then_some(at), "{byte:#x} at {at} of {len}");
                    let text = String::from_utf8(bytes).expect("ASCII");
                    same(&text);
                }
            }
        }
        // After a first one, the next is found too, wherever the search starts.
        let text = "ab\"cdefghijklmnop\\qrstuvwxyz\n";
        let starts: Vec<Option<usize>> = [0, 3, 19, 30]
            .iter()
            .map(|&f| next_escape(text.as_bytes(), f))
            .collect();
        assert_eq!(starts, [Some(2), Some(17), Some(28), None]);
        // Bytes above ASCII (UTF-8 sequences) are never escaped, whatever their neighbours.
        for text in [
            "é\"",
            "\u{7f}\u{80}",
            "日本語\\",
            "\u{10ffff}\u{1f}x",
            "ÿÿÿÿÿÿÿÿ",
        ] {
            same(text);
        }
    }

    #[derive(serde::Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Tagged {
        Note { id: u32, text: String },
        Unit,
        Wrapped(Inner),
    }

    #[derive(serde::Serialize)]
    struct Inner {
        #[serde(rename = "we\"ird key")]
        weird: Option<f64>,
        list: Vec<i128>,
        #[serde(skip_serializing_if = "Option::is_none")]
        skipped: Option<u8>,
        #[serde(flatten)]
        rest: BTreeMap<String, serde_json::Value>,
    }

    #[derive(serde::Serialize)]
    enum External {
        Unit,
        Newtype(u64),
        Tuple(i8, char),
        Struct { bytes: Vec<u8>, tuple: (bool, ()) },
    }

    #[test]
    fn every_shape_is_written_as_serde_json_writes_it() {
        same(&Tagged::Note {
            id: u32::MAX,
            text: "line\nbreak \u{1} \"quoted\" back\\slash".to_owned(),
        });
        same(&Tagged::Unit);
        let rest = BTreeMap::from([
            (
                "nested".to_owned(),
                serde_json::json!({"a": [1, -2.5, null, true, "x\ty"]}),
            ),
            ("big".to_owned(), serde_json::json!(u64::MAX)),
        ]);
        same(&Tagged::Wrapped(Inner {
            weird: Some(f64::MIN_POSITIVE),
            list: vec![i128::MIN, i128::MAX, 0],
            skipped: None,
            rest,
        }));
        for weird in [f64::NAN, f64::INFINITY, -0.0, 1e300, 0.1] {
            same(&Inner {
                weird: Some(weird),
                list: Vec::new(),
                skipped: Some(1),
                rest: BTreeMap::new(),
            });
        }
        same(&External::Unit);
        same(&External::Newtype(7));
        same(&External::Tuple(-1, '"'));
        same(&External::Struct {
            bytes: vec![0, 255],
            tuple: (false, ()),
        });
        same(&(1u8, 'é', "", [0f32; 0], Some(()), None::<u8>));
        same(&serde_json::value::RawValue::from_string("[1, 2]".to_owned()).expect("valid"));
    }

    #[test]
    fn map_keys_are_written_or_refused_as_serde_json_does() {
        same(&HashMap::from([(u64::MAX, "a")]));
        same(&BTreeMap::from([(-3i8, 1), (4, 2)]));
        same(&BTreeMap::from([("k\u{0}ey", 1)]));
        same(&BTreeMap::from([(true, 1)]));
        same(&BTreeMap::from([('c', 1)]));
        same(&BTreeMap::from([(Color::Red, 1), (Color::Blue, 2)]));
        // Keys serde_json refuses: the error is its own.
        same(&BTreeMap::from([((1, 2), 1)]));
        same(&BTreeMap::from([(vec![1], 1)]));
    }

    #[derive(serde::Serialize, PartialEq, Eq, PartialOrd, Ord)]
    enum Color {
        Red,
        #[serde(rename = "bl\"ue")]
        Blue,
    }

    /// A sequence whose elements are written by a lenient `Serialize`: one that fails is
    /// replaced by a string, as a user's implementation may do.
    struct Lenient<T>(Vec<T>);

    impl<T: Serialize> Serialize for Lenient<T> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeSeq;
            let mut seq = serializer.serialize_seq(None)?;
            for element in &self.0 {
                if seq.serialize_element(element).is_err() {
                    seq.serialize_element("unwritable")?;
                }
            }
            seq.end()
        }
    }

    /// A map that can be written once (an iterator taken on the first call).
    struct Once(std::cell::Cell<Option<Vec<(bool, u8)>>>);

    impl Serialize for Once {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map(self.0.take().unwrap_or_default())
        }
    }

    /// A sequence or map whose length hint is wrong (zero, then one element).
    struct WrongHint(bool);

    impl Serialize for WrongHint {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::{SerializeMap, SerializeSeq};
            if self.0 {
                let mut seq = serializer.serialize_seq(Some(0))?;
                seq.serialize_element(&1)?;
                seq.end()
            } else {
                let mut map = serializer.serialize_map(Some(0))?;
                map.serialize_entry("a", &1)?;
                map.end()
            }
        }
    }

    #[test]
    fn what_a_serialize_implementation_sees_is_what_serde_json_shows_it() {
        // Keys serde_json takes and keys it refuses, recovered from element by element.
        same(&Lenient(vec![
            BTreeMap::from([(true, 1)]),
            BTreeMap::from([(false, 2)]),
        ]));
        same(&Lenient(vec![BTreeMap::from([(vec![1u8], 1)])]));
        same(&Lenient(vec![HashMap::from([(f64::NAN.to_bits(), 1)])]));
        same(&Lenient(vec![Some(BTreeMap::from([((), 1)]))]));
        // Run once: the only run is the written one.
        let once = || Once(std::cell::Cell::new(Some(vec![(true, 1), (false, 2)])));
        assert_eq!(to_string(&once()).ok(), serde_json::to_string(&once()).ok());
        // A wrong length hint is written as serde_json writes it.
        same(&WrongHint(true));
        same(&WrongHint(false));
    }

    /// Float keys, by value, as serde_json writes or refuses them.
    struct FloatKey(f64);

    impl Serialize for FloatKey {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_map([(self.0, 1), (self.0 as f32 as f64, 2)])
        }
    }

    #[test]
    fn float_option_and_unit_keys_are_written_or_refused_as_serde_json_does() {
        for key in [0.5, -0.0, 1e300, f64::NAN, f64::INFINITY, f64::MIN_POSITIVE] {
            same(&FloatKey(key));
        }
        same(&BTreeMap::from([(Some(3), 1)]));
        same(&BTreeMap::from([(None::<u8>, 1)]));
        same(&BTreeMap::from([((), 1)]));
        same(&BTreeMap::from(
            [(b"ab".as_slice(), 1)].map(|(k, v)| (serde_bytes_like(k), v)),
        ));
    }

    /// Bytes as a map key, through `serialize_bytes`.
    fn serde_bytes_like(bytes: &[u8]) -> BytesKey {
        BytesKey(bytes.to_vec())
    }

    #[derive(PartialEq, Eq, PartialOrd, Ord)]
    struct BytesKey(Vec<u8>);

    impl Serialize for BytesKey {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.serialize_bytes(&self.0)
        }
    }

    #[test]
    fn raw_values_pass_through_wherever_they_are() {
        let raw = || serde_json::value::RawValue::from_string("{\"a\": [1, 2]}".to_owned());
        let raw = raw().expect("valid JSON");
        same(&vec![&raw, &raw]);
        same(&BTreeMap::from([("k", &raw)]));
        same(&Some(&raw));
        same(&BytesKey(vec![0, 1, 255]));
        same(&BytesKey(Vec::new()));
    }

    /// A struct under one of serde_json's private token names, with its one field `field`
    /// holding `value`.
    struct Tokened<V>(&'static str, &'static str, V);

    impl<V: Serialize> Serialize for Tokened<V> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeStruct;
            let mut token = serializer.serialize_struct(self.0, 1)?;
            token.serialize_field(self.1, &self.2)?;
            token.end()
        }
    }

    #[test]
    fn serde_jsons_token_structs_are_written_and_refused_as_serde_json_does() {
        for token in [RAW_VALUE, NUMBER] {
            same(&Tokened(token, token, "1.5"));
            same(&Tokened(token, token, 1u8));
            same(&Tokened(token, "other", "1.5"));
            same(&vec![Tokened(token, token, "[1,2]")]);
        }
        // This workspace builds serde_json without `arbitrary_precision`: the number token is
        // an ordinary struct name, and the probe says so.
        assert!(!arbitrary_precision());
    }

    /// A `Display` written in pieces, some to escape; or one that fails halfway.
    struct Pieces(bool);

    impl std::fmt::Display for Pieces {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("par\"t")?;
            if self.0 {
                return Err(std::fmt::Error);
            }
            f.write_str("\n\u{1}é")?;
            write!(f, "{}", 42)
        }
    }

    struct Collected(bool);

    impl Serialize for Collected {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            serializer.collect_str(&Pieces(self.0))
        }
    }

    #[test]
    fn collected_strings_are_escaped_piece_by_piece_and_a_failing_display_is_an_error() {
        same(&Collected(false));
        same(&BTreeMap::from([("k", Collected(false))]));
        let mut out = "kept".to_owned();
        let failed = write(&mut out, &Collected(true)).expect_err("the Display failed");
        assert!(failed.to_string().contains("Display"), "{failed}");
        assert_eq!(out, "kept");
    }

    /// Nested one-element arrays `depth` deep; the innermost records where the stack is.
    struct Deep<'a> {
        depth: usize,
        bottom: &'a std::cell::Cell<usize>,
    }

    impl Serialize for Deep<'_> {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeSeq;
            if self.depth == 0 {
                let here = 0u8;
                self.bottom.set(std::ptr::addr_of!(here) as usize);
                return serializer.serialize_unit();
            }
            let mut seq = serializer.serialize_seq(Some(1))?;
            seq.serialize_element(&Deep {
                depth: self.depth - 1,
                bottom: self.bottom,
            })?;
            seq.end()
        }
    }

    /// Stack bytes per nesting level of `write` (ours or serde_json's).
    fn stack_per_level(write: impl Fn(&Deep<'_>)) -> usize {
        let bottom = std::cell::Cell::new(0);
        let shallow = Deep {
            depth: 10,
            bottom: &bottom,
        };
        write(&shallow);
        let at_ten = bottom.get();
        let deep = Deep {
            depth: 210,
            bottom: &bottom,
        };
        write(&deep);
        at_ten.abs_diff(bottom.get()) / 200
    }

    #[test]
    fn a_nesting_level_takes_no_more_stack_than_serde_jsons() {
        let ours = stack_per_level(|deep| {
            let _ = to_string(deep);
        });
        let theirs = stack_per_level(|deep| {
            let _ = serde_json::to_string(deep);
        });
        assert!(
            ours * 4 <= theirs * 5,
            "{ours} bytes of stack per level against serde_json's {theirs}"
        );
    }

    /// A `Serialize` that fails halfway: the error is serde_json's and the buffer as it was.
    struct Failing;

    impl Serialize for Failing {
        fn serialize<S: ser::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use ser::SerializeSeq;
            let mut seq = serializer.serialize_seq(None)?;
            seq.serialize_element(&1)?;
            Err(ser::Error::custom("no more"))
        }
    }

    #[test]
    fn a_failure_is_serde_jsons_and_leaves_the_text_as_it_was() {
        same(&Failing);
        let mut out = "kept".to_owned();
        assert!(write(&mut out, &Failing).is_err());
        assert_eq!(out, "kept");
    }
}
