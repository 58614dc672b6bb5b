//! The spec's type expressions (`string`, `u32`, `Note`, `list<T>`, `map<T>`, a trailing `?` for
//! optional) and its primitive types, in one place for every output: the Rust types of the IR,
//! the TypeScript client, the Markdown reference and the AsyncAPI schemas all read them here.

/// A primitive type of the spec.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Primitive {
    /// Text: a JSON string, or a text frame as a whole message.
    String,
    /// Bytes: a JSON list of numbers, or a binary frame as a whole message.
    Bytes,
    /// `true` or `false`.
    Bool,
    /// A 64-bit signed integer.
    Int,
    /// A 64-bit float.
    Float,
    /// Any JSON value.
    Json,
    /// A text or binary frame, as it comes (whole messages only).
    Frame,
    /// Sized integers and floats.
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    F32,
    F64,
}

impl Primitive {
    /// Every primitive, in the order they are listed to users.
    pub const ALL: [Primitive; 17] = [
        Primitive::String,
        Primitive::Bytes,
        Primitive::Bool,
        Primitive::Int,
        Primitive::Float,
        Primitive::Json,
        Primitive::Frame,
        Primitive::I8,
        Primitive::I16,
        Primitive::I32,
        Primitive::I64,
        Primitive::U8,
        Primitive::U16,
        Primitive::U32,
        Primitive::U64,
        Primitive::F32,
        Primitive::F64,
    ];

    /// The name in the spec.
    pub fn name(self) -> &'static str {
        match self {
            Primitive::String => "string",
            Primitive::Bytes => "bytes",
            Primitive::Bool => "bool",
            Primitive::Int => "int",
            Primitive::Float => "float",
            Primitive::Json => "json",
            Primitive::Frame => "frame",
            Primitive::I8 => "i8",
            Primitive::I16 => "i16",
            Primitive::I32 => "i32",
            Primitive::I64 => "i64",
            Primitive::U8 => "u8",
            Primitive::U16 => "u16",
            Primitive::U32 => "u32",
            Primitive::U64 => "u64",
            Primitive::F32 => "f32",
            Primitive::F64 => "f64",
        }
    }

    /// The primitive called `name` in the spec, if there is one.
    pub fn from_name(name: &str) -> Option<Primitive> {
        Primitive::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The spec's spelling of a type written as another language spells it (`str`, `integer`,
    /// `uint64`, `boolean`, `number`, `object`, `array<T>`, `dict`, ...), for a hint.
    pub fn foreign_spelling(text: &str) -> Option<String> {
        let lower = text.trim().to_ascii_lowercase();
        if let Some(p) = Primitive::from_name(&lower) {
            return (lower != text.trim()).then(|| p.name().to_owned());
        }
        for (open, ours) in [("array<", "list<"), ("vec<", "list<"), ("[]", "list<")] {
            if let Some(inner) = lower.strip_prefix(open) {
                let inner = &text.trim()[text.trim().len() - inner.len()..];
                return Some(format!("{ours}{}", inner.trim_end_matches('>')) + ">");
            }
        }
        if let Some(inner) = ["dict<", "hashmap<", "map<string,", "record<string,"]
            .iter()
            .find_map(|open| lower.strip_prefix(open))
        {
            let inner = &text.trim()[text.trim().len() - inner.len()..];
            return Some(format!("map<{}>", inner.trim().trim_end_matches('>')));
        }
        let ours = match lower.as_str() {
            "str" | "text" | "char" | "varchar" => "string",
            "integer" | "long" | "int64" | "bigint" => "int",
            "number" | "double" | "float64" | "decimal" => "float",
            "float32" | "single" => "f32",
            "boolean" | "bit" => "bool",
            "int8" => "i8",
            "int16" | "short" => "i16",
            "int32" => "i32",
            "uint8" | "byte" => "u8",
            "uint16" | "ushort" => "u16",
            "uint32" | "uint" => "u32",
            "uint64" | "ulong" | "usize" => "u64",
            "binary" | "bytearray" | "blob" | "buffer" | "vec<u8>" | "uint8array" => "bytes",
            "object" | "any" | "dynamic" | "value" | "unknown" => "json",
            "dict" | "hashmap" | "map" | "record" => "map<T>",
            "array" | "list" | "vec" => "list<T>",
            _ => return None,
        };
        Some(ours.to_owned())
    }

    /// The Rust type it becomes.
    pub fn rust(self) -> &'static str {
        match self {
            Primitive::String => "String",
            Primitive::Bytes => "Vec<u8>",
            Primitive::Bool => "bool",
            Primitive::Int | Primitive::I64 => "i64",
            Primitive::Float | Primitive::F64 => "f64",
            Primitive::Json => "wsgen_runtime::serde_json::Value",
            Primitive::Frame => "wsgen_runtime::Frame",
            Primitive::I8 => "i8",
            Primitive::I16 => "i16",
            Primitive::I32 => "i32",
            Primitive::U8 => "u8",
            Primitive::U16 => "u16",
            Primitive::U32 => "u32",
            Primitive::U64 => "u64",
            Primitive::F32 => "f32",
        }
    }

    /// Whether it is an integer type.
    pub fn is_integer(self) -> bool {
        matches!(
            self,
            Primitive::Int
                | Primitive::I8
                | Primitive::I16
                | Primitive::I32
                | Primitive::I64
                | Primitive::U8
                | Primitive::U16
                | Primitive::U32
                | Primitive::U64
        )
    }

    /// Whether it is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, Primitive::Float | Primitive::F32 | Primitive::F64)
    }

    /// Whether a struct field may have this type (everything but `frame`).
    pub fn in_fields(self) -> bool {
        self != Primitive::Frame
    }

    /// Whether a whole message may have this type (see the runtime's codecs).
    pub fn in_messages(self) -> bool {
        matches!(
            self,
            Primitive::String
                | Primitive::Bytes
                | Primitive::Bool
                | Primitive::Int
                | Primitive::Float
                | Primitive::Json
                | Primitive::Frame
        )
    }

    /// Whether a path or query parameter may have this type (parsed from text).
    pub fn in_inputs(self) -> bool {
        !matches!(self, Primitive::Bytes | Primitive::Json | Primitive::Frame)
    }
}

/// A type expression, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeExpr<'a> {
    /// A primitive type.
    Primitive(Primitive),
    /// Anything else: a declared type's name, or a misspelling for the caller to report.
    Named(&'a str),
    /// `list<T>`.
    List(Box<TypeExpr<'a>>),
    /// `map<T>`: string keys.
    Map(Box<TypeExpr<'a>>),
}

impl<'a> TypeExpr<'a> {
    /// Parses `text` without its trailing `?` (see [`parse_field`]). Never fails: what is not
    /// a primitive, a list or a map is a name, which the caller looks up.
    pub fn parse(text: &'a str) -> TypeExpr<'a> {
        let text = text.trim();
        let generic = |prefix: &str| {
            text.strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix('>'))
                .map(TypeExpr::parse)
        };
        if let Some(inner) = generic("list<") {
            return TypeExpr::List(Box::new(inner));
        }
        if let Some(inner) = generic("map<") {
            return TypeExpr::Map(Box::new(inner));
        }
        match Primitive::from_name(text) {
            Some(primitive) => TypeExpr::Primitive(primitive),
            None => TypeExpr::Named(text),
        }
    }

    /// The primitive it is, if it is one.
    pub fn primitive(&self) -> Option<Primitive> {
        match self {
            TypeExpr::Primitive(p) => Some(*p),
            _ => None,
        }
    }
}

/// Parses a field's type expression: the type, and whether it ended in `?`.
pub fn parse_field(text: &str) -> (TypeExpr<'_>, bool) {
    let text = text.trim();
    match text.strip_suffix('?') {
        Some(inner) => (TypeExpr::parse(inner), true),
        None => (TypeExpr::parse(text), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form() {
        assert_eq!(
            parse_field(" list< map<u8> >? "),
            (
                TypeExpr::List(Box::new(TypeExpr::Map(Box::new(TypeExpr::Primitive(
                    Primitive::U8
                ))))),
                true
            )
        );
        assert_eq!(parse_field("Note"), (TypeExpr::Named("Note"), false));
        assert_eq!(TypeExpr::parse("list<Note"), TypeExpr::Named("list<Note"));
        for p in Primitive::ALL {
            assert_eq!(Primitive::from_name(p.name()), Some(p));
        }
    }
}
