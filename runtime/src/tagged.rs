//! Reading a tagged union whose tag comes first, in one pass.
//!
//! A spec union travels as one JSON object with a tag field (`{"type": "note", "id": 1, ..}`),
//! serde's internally tagged representation. serde's derived `Deserialize` for it takes the
//! fields in any order, so it first buffers the whole object (every key and value) to find the
//! tag, then reads the variant from the buffer: about twice the work of reading the variant's
//! struct directly. Almost every sender writes the tag first (wsgen's clients, serde's
//! `Serialize`, a JavaScript object literal written as the docs show it). [`tag_first`] reads
//! such an object as it comes: the tag's value picks the variant, and the variant's fields are
//! read from the rest of the object with no buffer.
//!
//! It is a fast path, not a second definition of the format: a message whose first key is not
//! the tag, whose tag names no variant, or that fails in any way, is parsed again by the type's
//! derived `Deserialize`, which gives the answer and the error (see `parse_json` in the message
//! codecs). So it only has to accept nothing the derived parser would not, and read what it
//! accepts as that parser would: it rejects a second tag key, as the derived parser does; it
//! reads a variant's struct with that struct's own derived code, and a variant's inline fields
//! with a private struct that the generated code derives with the same fields and attributes,
//! from the map instead of a buffer; and it reads every value it skips whole, as the buffer
//! does (`Strict`, below).

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{CowStrDeserializer, MapAccessDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

/// A spec union, as generated code describes it for [`tag_first`].
pub trait TaggedUnion: Sized {
    /// The tag's key (`type` unless the spec names another).
    const TAG: &'static str;

    /// The variant tagged `tag` (its wire name), read from `fields`, a deserializer of the
    /// object's other fields. `Ok(None)` when `tag` names no variant.
    fn variant<'de, D: Deserializer<'de>>(tag: &str, fields: D) -> Result<Option<Self>, D::Error>;
}

/// Reads a `T` from an object whose first key is `T::TAG`. `Ok(None)` when the first key is
/// another (or there is none) or the tag names no variant; the caller then parses the message
/// with `T`'s `Deserialize`. An error means the same: this path's errors are not reported.
pub fn tag_first<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
where
    T: TaggedUnion,
    D: Deserializer<'de>,
{
    deserializer.deserialize_map(TagFirst(PhantomData))
}

struct TagFirst<T>(PhantomData<T>);

impl<'de, T: TaggedUnion> Visitor<'de> for TagFirst<T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with `{}` first", T::TAG)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        match map.next_key_seed(Text)? {
            Some(key) if key == T::TAG => {}
            // Returning here leaves the object half read: the caller's parser reports that,
            // and the caller starts again with the derived parser.
            _ => return Ok(None),
        }
        let tag = map.next_value_seed(Text)?;
        T::variant(&tag, MapAccessDeserializer::new(Rest { map, tag: T::TAG }))
    }
}

/// A string, borrowed from the input when it has no escapes.
struct Text;

impl<'de> DeserializeSeed<'de> for Text {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Text {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(text))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text.to_owned()))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(text))
    }
}

/// The rest of the object after its tag, for the variant's fields. A second tag key is an
/// error, as it is to the derived parser (`duplicate field`), rather than an unknown field that
/// the variant would skip.
struct Rest<A> {
    map: A,
    tag: &'static str,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, A::Error> {
        let Some(key) = self.map.next_key_seed(Text)? else {
            return Ok(None);
        };
        if key == self.tag {
            return Err(de::Error::duplicate_field(self.tag));
        }
        seed.deserialize(CowStrDeserializer::new(key)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, A::Error> {
        self.map.next_value_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// Reads a value as the derived parser's buffer would, at any depth. The buffer reads every
/// value whole (`deserialize_any`), so it rejects what `IgnoredAny` skips over: a number
/// beyond `f64` (`1e400`) or a lone surrogate (`"\ud800"`) in a field the type does not have.
/// `Strict` wraps the deserializer, its visitors and every map, sequence and enum below it,
/// and reads a value that is to be skipped whole (`deserialize_any`) before it is dropped.
/// Everything else passes through unchanged.
struct Strict<T>(T);

/// A value read whole and dropped: what an ignored value costs in the derived parser's buffer.
struct Whole;

impl<'de> de::Deserialize<'de> for Whole {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Whole, D::Error> {
        deserializer.deserialize_any(Whole)
    }
}

impl<'de> Visitor<'de> for Whole {
    type Value = Whole;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_str<E>(self, _: &str) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_bytes<E>(self, _: &[u8]) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_unit<E>(self) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_none<E>(self) -> Result<Whole, E> {
        Ok(Whole)
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Whole, D::Error> {
        deserializer.deserialize_any(Whole)
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Whole, D::Error> {
        deserializer.deserialize_any(Whole)
    }
    fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Whole, S::Error> {
        while seq.next_element::<Whole>()?.is_some() {}
        Ok(Whole)
    }
    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Whole, M::Error> {
        while map.next_entry::<Whole, Whole>()?.is_some() {}
        Ok(Whole)
    }
    fn visit_enum<E: EnumAccess<'de>>(self, data: E) -> Result<Whole, E::Error> {
        data.variant::<Whole>()?.1.newtype_variant::<Whole>()
    }
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for Strict<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<S::Value, D::Error> {
        self.0.deserialize(Strict(deserializer))
    }
}

/// `deserialize_*` methods passed on with the visitor wrapped.
macro_rules! strict_deserialize {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(
            fn $method<V: Visitor<'de>>(self, $($arg: $ty,)* visitor: V) -> Result<V::Value, D::Error> {
                self.0.$method($($arg,)* Strict(visitor))
            }
        )*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    strict_deserialize! {
        deserialize_any(); deserialize_bool(); deserialize_i8(); deserialize_i16();
        deserialize_i32(); deserialize_i64(); deserialize_i128(); deserialize_u8();
        deserialize_u16(); deserialize_u32(); deserialize_u64(); deserialize_u128();
        deserialize_f32(); deserialize_f64(); deserialize_char(); deserialize_str();
        deserialize_string(); deserialize_bytes(); deserialize_byte_buf();
        deserialize_option(); deserialize_unit(); deserialize_unit_struct(name: &'static str);
        deserialize_newtype_struct(name: &'static str); deserialize_seq();
        deserialize_tuple(len: usize); deserialize_tuple_struct(name: &'static str, len: usize);
        deserialize_map();
        deserialize_struct(name: &'static str, fields: &'static [&'static str]);
        deserialize_enum(name: &'static str, variants: &'static [&'static str]);
        deserialize_identifier();
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.0.deserialize_any(Whole)?;
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// `visit_*` methods of plain values passed on unchanged.
macro_rules! strict_visit {
    ($($method:ident($ty:ty);)*) => {
        $(
            fn $method<E: de::Error>(self, value: $ty) -> Result<V::Value, E> {
                self.0.$method(value)
            }
        )*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Strict<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    strict_visit! {
        visit_bool(bool); visit_i8(i8); visit_i16(i16); visit_i32(i32); visit_i64(i64);
        visit_i128(i128); visit_u8(u8); visit_u16(u16); visit_u32(u32); visit_u64(u64);
        visit_u128(u128); visit_f32(f32); visit_f64(f64); visit_char(char);
        visit_str(&str); visit_borrowed_str(&'de str); visit_string(String);
        visit_bytes(&[u8]); visit_borrowed_bytes(&'de [u8]); visit_byte_buf(Vec<u8>);
    }

    fn visit_none<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_none()
    }
    fn visit_unit<E: de::Error>(self) -> Result<V::Value, E> {
        self.0.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<V::Value, D::Error> {
        self.0.visit_some(Strict(deserializer))
    }
    fn visit_newtype_struct<D: Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<V::Value, D::Error> {
        self.0.visit_newtype_struct(Strict(deserializer))
    }
    fn visit_seq<S: SeqAccess<'de>>(self, seq: S) -> Result<V::Value, S::Error> {
        self.0.visit_seq(Strict(seq))
    }
    fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<V::Value, M::Error> {
        self.0.visit_map(Strict(map))
    }
    fn visit_enum<E: EnumAccess<'de>>(self, data: E) -> Result<V::Value, E::Error> {
        self.0.visit_enum(Strict(data))
    }
}

impl<'de, S: SeqAccess<'de>> SeqAccess<'de> for Strict<S> {
    type Error = S::Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, S::Error> {
        self.0.next_element_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, M: MapAccess<'de>> MapAccess<'de> for Strict<M> {
    type Error = M::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, M::Error> {
        self.0.next_key_seed(Strict(seed))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, M::Error> {
        self.0.next_value_seed(Strict(seed))
    }

    fn size_hint(&self) -> Option<usize> {
        self.0.size_hint()
    }
}

impl<'de, E: EnumAccess<'de>> EnumAccess<'de> for Strict<E> {
    type Error = E::Error;
    type Variant = Strict<E::Variant>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self::Variant), E::Error> {
        let (value, variant) = self.0.variant_seed(Strict(seed))?;
        Ok((value, Strict(variant)))
    }
}

impl<'de, A: VariantAccess<'de>> VariantAccess<'de> for Strict<A> {
    type Error = A::Error;

    fn unit_variant(self) -> Result<(), A::Error> {
        self.0.unit_variant()
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, A::Error> {
        self.0.newtype_variant_seed(Strict(seed))
    }

    fn tuple_variant<V: Visitor<'de>>(self, len: usize, visitor: V) -> Result<V::Value, A::Error> {
        self.0.tuple_variant(len, Strict(visitor))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        self.0.struct_variant(fields, Strict(visitor))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::{TaggedUnion, tag_first};

    #[derive(Debug, PartialEq, Deserialize)]
    struct Inner {
        n: u8,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    enum Colour {
        #[serde(rename = "red")]
        Red,
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Outer {
        inner: Inner,
        maybe: Option<Inner>,
        list: Vec<Inner>,
        map: BTreeMap<String, Inner>,
        colour: Colour,
    }

    /// A union as the generator writes one, with a variant whose struct nests others.
    #[derive(Debug, PartialEq, Deserialize)]
    #[serde(tag = "type")]
    enum Union {
        #[serde(rename = "outer")]
        Outer(Outer),
    }

    impl TaggedUnion for Union {
        const TAG: &'static str = "type";

        fn variant<'de, D: serde::Deserializer<'de>>(
            tag: &str,
            fields: D,
        ) -> Result<Option<Self>, D::Error> {
            Ok(match tag {
                "outer" => Some(Self::Outer(Deserialize::deserialize(fields)?)),
                _ => None,
            })
        }
    }

    fn one_pass(text: &str) -> Option<Union> {
        let mut de = serde_json::Deserializer::from_str(text);
        let value = tag_first::<Union, _>(&mut de).ok().flatten()?;
        de.end().ok().map(|()| value)
    }

    fn message(junk: &str) -> String {
        format!(
            r#"{{"type":"outer","inner":{{"n":1{junk}}},"maybe":{{"n":2{junk}}},"list":[{{"n":3{junk}}}],"map":{{"k":{{"n":4{junk}}}}},"colour":"red"}}"#
        )
    }

    #[test]
    fn nested_structs_are_read_in_one_pass_as_the_derived_parser_reads_them() {
        for junk in ["", r#","x":[1e308,"\u00e9",{"y":null}]"#] {
            let text = message(junk);
            let read = one_pass(&text);
            assert!(read.is_some(), "{text}");
            assert_eq!(
                read.ok_or(()),
                serde_json::from_str::<Union>(&text).map_err(|_| ())
            );
        }
    }

    #[test]
    fn a_value_the_derived_parser_rejects_is_declined_at_any_depth() {
        for junk in [
            r#","x":1e400"#,
            r#","x":[{"y":"\ud800"}]"#,
            r#","x":{"y":[-1e999]}"#,
        ] {
            let text = message(junk);
            assert_eq!(one_pass(&text), None, "{text}");
            assert!(serde_json::from_str::<Union>(&text).is_err(), "{text}");
        }
    }
}
