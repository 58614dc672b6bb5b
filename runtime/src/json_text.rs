//! The JSON text of an outgoing message, byte for byte what `serde_json::to_string` writes, in
//! less time.
//!
//! serde_json checks every byte of every string against its escape table, one byte at a time:
//! most of the cost of encoding a message that carries text. Here a string is checked eight
//! bytes at a time (the usual bit tricks on a `u64`), and one with nothing to escape (no
//! control character, `"` or `\`) is copied as it is. Integers are written by `itoa`, which is
//! what serde_json writes them with; floats, characters, bytes, and strings that need escaping
//! go through serde_json's own `Serializer`, so their text cannot differ. What is left here is
//! `true`, `false`, `null` and the punctuation (`{`, `:`, `,`, `[`), which is all serde_json's
//! compact formatter writes around values.
//!
//! A value this writer does not take (a map key that is not a string or an integer, serde_json's
//! private number and raw-value types, a `Serialize` implementation that fails) is written again
//! from the start by `serde_json::to_string`, so every error and every corner case is
//! serde_json's own.
//!
//! The text is built in a `String` (every piece is a `&str`), so it needs no UTF-8 check at the
//! end and no `unsafe`.

use serde::ser::{self, Impossible, Serialize};

/// `value` as JSON text: the same text, or the same error, as `serde_json::to_string(value)`.
pub(crate) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(128);
    write(&mut out, value)?;
    Ok(out)
}

/// Appends `value` as JSON text to `out`; on an error `out` is as it was.
pub(crate) fn write<T: Serialize + ?Sized>(
    out: &mut String,
    value: &T,
) -> Result<(), serde_json::Error> {
    let start = out.len();
    if value.serialize(Writer { out }).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    let text = serde_json::to_string(value)?;
    out.push_str(&text);
    Ok(())
}

/// Not written here: [`write`] starts again with serde_json.
#[derive(Debug)]
struct Fallback;

impl std::fmt::Display for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("left to serde_json")
    }
}

impl std::error::Error for Fallback {}

impl ser::Error for Fallback {
    fn custom<T: std::fmt::Display>(_: T) -> Self {
        Fallback
    }
}

/// Whether serde_json escapes any byte of `bytes`: a control character (below 0x20), `"` or
/// `\`. Eight bytes at a time; exact (a byte-wise "has a zero byte" and "has a byte below n"
/// test on a word gives no false answer as a whole, only in which byte).
fn needs_escape(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let has_zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH != 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let Ok(word) = <[u8; 8]>::try_from(word) else {
            return true;
        };
        let x = u64::from_ne_bytes(word);
        let below_space = x.wrapping_sub(ONES * 0x20) & !x & HIGH != 0;
        if below_space || has_zero(x ^ (ONES * u64::from(b'"'))) || has_zero(x ^ (ONES * 0x5c)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| ESCAPED[usize::from(b)])
}

/// The bytes serde_json escapes, by value: for the last few bytes of a string, and for short
/// ones (a field name), a lookup each as in serde_json.
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

/// Runs one of serde_json's own `Serializer` methods and appends what it wrote: a string that
/// needs escaping, or bytes (as an array of numbers).
fn by_serde_json(
    out: &mut String,
    serialize: impl FnOnce(&mut serde_json::Serializer<&mut Vec<u8>>) -> serde_json::Result<()>,
) -> Result<(), Fallback> {
    let mut text = Vec::new();
    serialize(&mut serde_json::Serializer::new(&mut text)).map_err(|_| Fallback)?;
    // serde_json writes UTF-8; the check keeps this free of `unsafe`.
    out.push_str(std::str::from_utf8(&text).map_err(|_| Fallback)?);
    Ok(())
}

/// Like [`by_serde_json`] for a float or a character (escaped), written on the stack: the
/// longest takes 24 bytes.
fn scalar(
    out: &mut String,
    serialize: impl FnOnce(&mut serde_json::Serializer<&mut &mut [u8]>) -> serde_json::Result<()>,
) -> Result<(), Fallback> {
    const ROOM: usize = 64;
    let mut buf = [0u8; ROOM];
    let mut rest: &mut [u8] = &mut buf;
    serialize(&mut serde_json::Serializer::new(&mut rest)).map_err(|_| Fallback)?;
    let written = ROOM - rest.len();
    let text = buf.get(..written).ok_or(Fallback)?;
    out.push_str(std::str::from_utf8(text).map_err(|_| Fallback)?);
    Ok(())
}

/// A string, quoted and escaped as serde_json does.
fn string(out: &mut String, value: &str) -> Result<(), Fallback> {
    if needs_escape(value.as_bytes()) {
        return by_serde_json(out, |s| ser::Serializer::serialize_str(s, value));
    }
    out.reserve(value.len() + 2);
    out.push('"');
    out.push_str(value);
    out.push('"');
    Ok(())
}

/// `{"variant":` before a variant's content (closed by `}` after it).
fn variant_key(out: &mut String, variant: &str) -> Result<(), Fallback> {
    out.push('{');
    string(out, variant)?;
    out.push(':');
    Ok(())
}

/// Writes one value into `out`.
struct Writer<'a> {
    out: &'a mut String,
}

/// The entries of an array or an object being written, and what closes it.
struct Compound<'a> {
    out: &'a mut String,
    first: bool,
    close: &'static str,
}

impl Compound<'_> {
    fn separate(&mut self) {
        if !std::mem::take(&mut self.first) {
            self.out.push(',');
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        self.separate();
        value.serialize(Writer { out: self.out })
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Fallback> {
        self.separate();
        string(self.out, key)?;
        self.out.push(':');
        value.serialize(Writer { out: self.out })
    }

    fn end(self) -> Result<(), Fallback> {
        self.out.push_str(self.close);
        Ok(())
    }
}

macro_rules! integers {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Fallback> {
                self.out.push_str(itoa::Buffer::new().format(value));
                Ok(())
            }
        )*
    };
}

macro_rules! scalars {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Fallback> {
                scalar(self.out, |s| ser::Serializer::$method(s, value))
            }
        )*
    };
}

impl<'a> ser::Serializer for Writer<'a> {
    type Ok = ();
    type Error = Fallback;
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

    scalars!(serialize_f32: f32, serialize_f64: f64, serialize_char: char);

    fn serialize_bytes(self, value: &[u8]) -> Result<(), Fallback> {
        by_serde_json(self.out, |s| ser::Serializer::serialize_bytes(s, value))
    }

    fn serialize_bool(self, value: bool) -> Result<(), Fallback> {
        self.out.push_str(if value { "true" } else { "false" });
        Ok(())
    }

    fn serialize_str(self, value: &str) -> Result<(), Fallback> {
        string(self.out, value)
    }

    fn serialize_none(self) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<(), Fallback> {
        self.out.push_str("null");
        Ok(())
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Fallback> {
        self.serialize_unit()
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Fallback> {
        string(self.out, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        variant_key(self.out, variant)?;
        value.serialize(Writer {
            out: &mut *self.out,
        })?;
        self.out.push('}');
        Ok(())
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Compound<'a>, Fallback> {
        self.out.push('[');
        Ok(Compound {
            out: self.out,
            first: true,
            close: "]",
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<Compound<'a>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Fallback> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Fallback> {
        variant_key(self.out, variant)?;
        self.out.push('[');
        Ok(Compound {
            out: self.out,
            first: true,
            close: "]}",
        })
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Compound<'a>, Fallback> {
        self.out.push('{');
        Ok(Compound {
            out: self.out,
            first: true,
            close: "}",
        })
    }

    fn serialize_struct(self, name: &'static str, len: usize) -> Result<Compound<'a>, Fallback> {
        // serde_json's own number (`arbitrary_precision`) and raw value types pass their text
        // through a struct of this name: only serde_json writes them.
        if name.starts_with('$') && name.starts_with("$serde_json::private::") {
            return Err(Fallback);
        }
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Compound<'a>, Fallback> {
        variant_key(self.out, variant)?;
        self.out.push('{');
        Ok(Compound {
            out: self.out,
            first: true,
            close: "}}",
        })
    }
}

impl ser::SerializeSeq for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

impl ser::SerializeTuple for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleStruct for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

impl ser::SerializeTupleVariant for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        self.element(value)
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Fallback> {
        self.separate();
        key.serialize(Key { out: self.out })?;
        self.out.push(':');
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Fallback> {
        value.serialize(Writer { out: self.out })
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

impl ser::SerializeStruct for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

impl ser::SerializeStructVariant for Compound<'_> {
    type Ok = ();
    type Error = Fallback;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        self.field(key, value)
    }
    fn end(self) -> Result<(), Fallback> {
        Compound::end(self)
    }
}

/// A map key: a string as it is, an integer in quotes (as serde_json writes them); any other
/// key is left to serde_json (which takes some and rejects others).
struct Key<'a> {
    out: &'a mut String,
}

macro_rules! integer_keys {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, value: $ty) -> Result<(), Fallback> {
                self.out.push('"');
                self.out.push_str(itoa::Buffer::new().format(value));
                self.out.push('"');
                Ok(())
            }
        )*
    };
}

macro_rules! left_to_serde_json {
    ($($method:ident: $ty:ty),* $(,)?) => {
        $(
            fn $method(self, _value: $ty) -> Result<(), Fallback> {
                Err(Fallback)
            }
        )*
    };
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Fallback;
    type SerializeSeq = Impossible<(), Fallback>;
    type SerializeTuple = Impossible<(), Fallback>;
    type SerializeTupleStruct = Impossible<(), Fallback>;
    type SerializeTupleVariant = Impossible<(), Fallback>;
    type SerializeMap = Impossible<(), Fallback>;
    type SerializeStruct = Impossible<(), Fallback>;
    type SerializeStructVariant = Impossible<(), Fallback>;

    integer_keys!(
        serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32,
        serialize_u64: u64, serialize_u128: u128,
    );

    left_to_serde_json!(
        serialize_bool: bool, serialize_f32: f32, serialize_f64: f64, serialize_char: char,
        serialize_bytes: &[u8], serialize_unit_struct: &'static str,
    );

    fn serialize_str(self, value: &str) -> Result<(), Fallback> {
        string(self.out, value)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Fallback> {
        string(self.out, variant)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Fallback> {
        value.serialize(self)
    }

    fn serialize_none(self) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_unit(self) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Fallback> {
        Err(Fallback)
    }

    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Fallback> {
        Err(Fallback)
    }

    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Fallback> {
        Err(Fallback)
    }

    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Fallback> {
        Err(Fallback)
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Fallback> {
        Err(Fallback)
    }

    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Fallback> {
        Err(Fallback)
    }

    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Fallback> {
        Err(Fallback)
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Fallback> {
        Err(Fallback)
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
                    assert_eq!(needs_escape(&bytes), escaped, "{byte:#x} at {at} of {len}");
                    let text = String::from_utf8(bytes).expect("ASCII");
                    same(&text);
                }
            }
        }
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
