//! The spec format, version 1: serde types that mirror the YAML one to one.
//!
//! Nothing is interpreted here. Every value that a later error may point at is wrapped in
//! [`Spanned`] so that validation can name `file:line:col`; maps keep their source order and the
//! position of each key.

use serde::Deserialize;
use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor};
pub use serde_saphyr::Spanned;

/// A whole spec file.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Spec {
    /// The spec format version; only `1` exists.
    #[schemars(with = "i64")]
    pub wsgen: Spanned<i64>,
    /// The API's name; it names the generated file and the handler set.
    #[schemars(with = "String")]
    pub name: Spanned<String>,
    /// Documentation for the whole API.
    #[serde(default)]
    pub docs: Option<String>,
    /// Middleware, by name: each runs before the upgrade of the endpoints whose controller lists
    /// it, and may refuse the upgrade with an HTTP status.
    #[serde(default)]
    pub middleware: Map<MiddlewareDef>,
    /// Message types, in the order they are declared.
    #[serde(default)]
    pub types: Map<TypeDef>,
    /// Inputs declared once and shared: each named set of path and query parameters becomes one
    /// `<Name>Params` and one `<Name>Query` type, for every endpoint that says `inputs: <Name>`.
    #[serde(default)]
    pub inputs: Map<InputsDef>,
    /// Controllers: groups of endpoints under one path prefix.
    #[serde(default)]
    pub controllers: Map<Controller>,
    /// Limits for the whole server and, unless an endpoint sets its own, every connection.
    #[serde(default)]
    pub limits: Option<LimitsDef>,
}

/// Limits: sizes as a number of bytes or with a unit (`64KiB`, `1MiB`), durations with a unit
/// (`500ms`, `30s`, `2m`). Absent keys keep the runtime's safe defaults. The keys marked
/// server-wide may appear only in the spec's top-level `limits`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitsDef {
    /// The largest message, after reassembling fragments (default 64KiB); larger closes with 1009.
    #[serde(default)]
    #[schemars(with = "Option<Amount>")]
    pub max_message_size: Option<Spanned<Amount>>,
    /// The largest single frame (default 64KiB); larger closes with 1009.
    #[serde(default)]
    #[schemars(with = "Option<Amount>")]
    pub max_frame_size: Option<Spanned<Amount>>,
    /// The read buffer per connection (default 8KiB).
    #[serde(default)]
    #[schemars(with = "Option<Amount>")]
    pub read_buffer: Option<Spanned<Amount>>,
    /// How many pushed messages may wait for a slow client (default 256).
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub send_queue: Option<Spanned<i64>>,
    /// What happens when that queue is full: `try_again_later` (close with 1013, the default),
    /// `policy_violation` (close with 1008) or `reject` (the push fails, the connection stays).
    #[serde(default)]
    #[schemars(with = "Option<SlowConsumerDef>")]
    pub slow_consumer: Option<Spanned<SlowConsumerDef>>,
    /// How many messages one client may send per second on average (default: no limit); a
    /// message over the rate is handled as `rate_exceeded` says.
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub max_messages_per_second: Option<Spanned<i64>>,
    /// How many messages one client may send at once after a quiet period (default: the
    /// `max_messages_per_second`).
    #[serde(default)]
    #[schemars(with = "Option<i64>")]
    pub burst: Option<Spanned<i64>>,
    /// What happens to a message over the rate: `close` (close with 1008, the default) or
    /// `drop` (the handler never sees it; it is counted).
    #[serde(default)]
    #[schemars(with = "Option<RateExceededDef>")]
    pub rate_exceeded: Option<Spanned<RateExceededDef>>,
    /// Close with 1001 when no frame has arrived for this long (default: never).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub idle_timeout: Option<Spanned<String>>,
    /// How long a write may wait for a client that does not read (default 10s).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub write_timeout: Option<Spanned<String>>,
    /// How long to wait for the client's answer to a close (default 5s).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub close_timeout: Option<Spanned<String>>,
    /// Server-wide: the largest upgrade request head (default 16KiB); larger is refused with 431.
    #[serde(default)]
    #[schemars(with = "Option<Amount>")]
    pub max_header_size: Option<Spanned<Amount>>,
    /// Server-wide: the most connections at once (default 10000); more are refused with 503.
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    pub max_connections: Option<Spanned<i64>>,
    /// Server-wide: how long the upgrade request may take to arrive (default 10s).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub handshake_timeout: Option<Spanned<String>>,
    /// Server-wide: how long a graceful shutdown waits for connections (default 10s).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub shutdown_timeout: Option<Spanned<String>>,
}

/// A size: a number of bytes, or a number with a unit (`B`, `KiB`, `MiB`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Amount {
    /// A number of bytes.
    Bytes(i64),
    /// A number with a unit.
    Text(String),
}

impl JsonSchema for Amount {
    fn schema_name() -> Cow<'static, str> {
        "Amount".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A number of bytes, or a number with a unit: `512B`, `64KiB`, `1MiB`.",
            "type": ["integer", "string"],
        })
    }
}

/// What happens to a message over a client's message rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum RateExceededDef {
    /// Close with 1008 (policy violation).
    Close,
    /// Drop the message before the handler sees it, and count it.
    Drop,
}

/// What happens when a slow client's outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlowConsumerDef {
    /// Close with 1013: the client may reconnect and catch up.
    TryAgainLater,
    /// Close with 1008.
    PolicyViolation,
    /// The push fails with `QueueFull`; the connection stays.
    Reject,
}

/// A type carried in messages: a struct (`fields`), a string enum (`enum`) or a tagged union
/// (`union`); exactly one of the three.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TypeDef {
    /// Documentation for the type.
    #[serde(default)]
    pub docs: Option<String>,
    /// A struct's fields, in order.
    #[serde(default)]
    pub fields: Option<Map<FieldDef>>,
    /// A string enum's values, in order, as they travel on the wire.
    #[serde(default, rename = "enum")]
    #[schemars(with = "Option<Vec<String>>")]
    pub values: Option<Vec<Spanned<String>>>,
    /// A tagged union: a JSON object whose `tag` field names the variant.
    #[serde(default)]
    pub union: Option<UnionDef>,
}

/// A tagged union (serde's internally tagged enum).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UnionDef {
    /// The name of the field that says which variant an object is; `type` when absent.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub tag: Option<Spanned<String>>,
    /// The variants, by their tag value: a struct type's name, or inline `fields` (`{}` for a
    /// variant that carries nothing).
    pub variants: Map<VariantDef>,
}

/// A union variant: the name of a struct type, or an inline struct.
#[derive(Debug)]
pub enum VariantDef {
    /// The variant carries a declared struct type.
    Type(Spanned<String>),
    /// The variant carries these fields (none: a unit variant).
    Inline(InlineVariant),
}

/// An inline union variant.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Variant")]
pub struct InlineVariant {
    /// Documentation for the variant.
    #[serde(default)]
    pub docs: Option<String>,
    /// The variant's fields, in order.
    #[serde(default)]
    pub fields: Map<FieldDef>,
}

impl<'de> Deserialize<'de> for VariantDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let variant = Spanned::<VariantForm>::deserialize(deserializer)?;
        Ok(match variant.value {
            VariantForm::Type(name) => {
                VariantDef::Type(Spanned::new(name, variant.referenced, variant.defined))
            }
            VariantForm::Inline(inline) => VariantDef::Inline(inline),
        })
    }
}

enum VariantForm {
    Type(String),
    Inline(InlineVariant),
}

impl<'de> Deserialize<'de> for VariantForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FormVisitor;
        impl<'de> Visitor<'de> for FormVisitor {
            type Value = VariantForm;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a struct type's name, or a map with `fields` and `docs`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<VariantForm, E> {
                Ok(VariantForm::Type(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<VariantForm, A::Error> {
                InlineVariant::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(VariantForm::Inline)
            }
        }
        deserializer.deserialize_any(FormVisitor)
    }
}

impl JsonSchema for VariantDef {
    fn schema_name() -> Cow<'static, str> {
        "VariantDef".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A union variant: a struct type's name, or inline fields.",
            "anyOf": [
                { "type": "string" },
                generator.subschema_for::<InlineVariant>(),
            ],
        })
    }
}

/// A struct field: either a bare type expression (`name: string`) or the long form.
#[derive(Debug)]
pub struct FieldDef {
    /// The field's type expression, such as `string`, `list<Item>` or `map<int>`.
    pub ty: Spanned<String>,
    /// Whether the field may be absent (`Option<T>`); `string?` says the same.
    pub optional: bool,
    /// Documentation for the field.
    pub docs: Option<String>,
    /// Validation rules, checked before a message reaches its handler.
    pub rules: Rules,
}

/// A number as written: a whole number exactly (beyond 2^53, up to `u64::MAX` and down to
/// `i64::MIN` and further), anything else as a float. Validation decides what fits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// A whole number, exactly.
    Int(i128),
    /// A number with a fraction or an exponent, or a whole number too large for `i128`.
    Float(f64),
}

impl Number {
    /// The number as a float (rounded for whole numbers beyond 2^53).
    pub fn as_f64(self) -> f64 {
        match self {
            Number::Int(n) => n as f64,
            Number::Float(f) => f,
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Int(n) => write!(f, "{n}"),
            Number::Float(x) => write!(f, "{x:?}"),
        }
    }
}

impl serde::Serialize for Number {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::Int(n) => match (i64::try_from(n), u64::try_from(n)) {
                (Ok(n), _) => serializer.serialize_i64(n),
                (_, Ok(n)) => serializer.serialize_u64(n),
                _ => serializer.serialize_f64(n as f64),
            },
            Number::Float(x) => serializer.serialize_f64(x),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
            type Value = Number;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Number, E> {
                Ok(Number::Int(v.into()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Number, E> {
                Ok(Number::Int(v.into()))
            }
            fn visit_i128<E: de::Error>(self, v: i128) -> Result<Number, E> {
                Ok(Number::Int(v))
            }
            fn visit_u128<E: de::Error>(self, v: u128) -> Result<Number, E> {
                Ok(i128::try_from(v).map_or(Number::Float(v as f64), Number::Int))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Number, E> {
                Ok(Number::Float(v))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
    }
}

/// Validation rules of a field (Cafeto's DTO validation).
#[derive(Debug, Default)]
pub struct Rules {
    /// Fewest characters of a string.
    pub min_length: Option<Spanned<u64>>,
    /// Most characters of a string.
    pub max_length: Option<Spanned<u64>>,
    /// Smallest value of a number.
    pub min: Option<Spanned<Number>>,
    /// Largest value of a number.
    pub max: Option<Spanned<Number>>,
    /// A regular expression a string must match.
    pub pattern: Option<Spanned<String>>,
    /// Fewest items of a list.
    pub min_items: Option<Spanned<u64>>,
    /// Most items of a list.
    pub max_items: Option<Spanned<u64>>,
    /// The values a string may take.
    pub one_of: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Field")]
struct FieldLong {
    #[serde(rename = "type")]
    #[schemars(with = "String")]
    ty: Spanned<String>,
    #[serde(default)]
    optional: bool,
    #[serde(default)]
    docs: Option<String>,
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    min_length: Option<Spanned<u64>>,
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    max_length: Option<Spanned<u64>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    min: Option<Spanned<Number>>,
    #[serde(default)]
    #[schemars(with = "Option<f64>")]
    max: Option<Spanned<Number>>,
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pattern: Option<Spanned<String>>,
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    min_items: Option<Spanned<u64>>,
    #[serde(default)]
    #[schemars(with = "Option<u64>")]
    max_items: Option<Spanned<u64>>,
    #[serde(default)]
    #[schemars(with = "Option<Vec<String>>")]
    one_of: Option<Spanned<Vec<String>>>,
}

impl FieldDef {
    /// Whether the field may be absent: `optional: true`, or a type ending in `?`.
    pub fn is_optional(&self) -> bool {
        self.optional || crate::typeexpr::parse_field(&self.ty.value).1
    }
}

impl<'de> Deserialize<'de> for FieldDef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let field = Spanned::<FieldForm>::deserialize(deserializer)?;
        Ok(match field.value {
            FieldForm::Short(ty) => FieldDef {
                ty: Spanned::new(ty, field.referenced, field.defined),
                optional: false,
                docs: None,
                rules: Rules::default(),
            },
            FieldForm::Long(long) => FieldDef {
                ty: long.ty,
                optional: long.optional,
                docs: long.docs,
                rules: Rules {
                    min_length: long.min_length,
                    max_length: long.max_length,
                    min: long.min,
                    max: long.max,
                    pattern: long.pattern,
                    min_items: long.min_items,
                    max_items: long.max_items,
                    one_of: long.one_of,
                },
            },
        })
    }
}

/// The two spellings of a field, told apart by the YAML node's kind.
enum FieldForm {
    Short(String),
    Long(Box<FieldLong>),
}

impl<'de> Deserialize<'de> for FieldForm {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FormVisitor;
        impl<'de> Visitor<'de> for FormVisitor {
            type Value = FieldForm;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a type such as `string`, or a map with `type`, `optional` and `docs`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FieldForm, E> {
                Ok(FieldForm::Short(v.to_owned()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldForm, A::Error> {
                // Deserialising through the map keeps the positions of the inner values.
                FieldLong::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(|long| FieldForm::Long(Box::new(long)))
            }
        }
        deserializer.deserialize_any(FormVisitor)
    }
}

/// A group of endpoints under one path prefix.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Controller {
    /// Documentation for the controller.
    #[serde(default)]
    #[expect(
        dead_code,
        reason = "accepted and in the schema; no output shows controller docs yet"
    )]
    pub docs: Option<String>,
    /// The path prefix of every endpoint in the controller, such as `/example`.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub path: Option<Spanned<String>>,
    /// Middleware names (declared under the top-level `middleware`) that run, in this order,
    /// before the upgrade of every endpoint in the controller.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub middleware: Vec<Spanned<String>>,
    /// The controller's endpoints, in order.
    #[serde(default)]
    pub endpoints: Map<EndpointDef>,
}

/// A middleware declaration.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MiddlewareDef {
    /// Documentation for the middleware; it becomes the doc comment of its method.
    #[serde(default)]
    pub docs: Option<String>,
    /// The request headers it reads (such as `Authorization`). Browsers cannot set most headers
    /// on a WebSocket: the TypeScript client's docs say so, and `wsgen check --target
    /// typescript` warns.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub headers: Vec<Spanned<String>>,
}

/// One WebSocket endpoint.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointDef {
    /// Documentation for the endpoint.
    #[serde(default)]
    pub docs: Option<String>,
    /// The path below the controller's prefix, such as `/websocket`.
    #[schemars(with = "String")]
    pub path: Spanned<String>,
    /// Which way messages flow; `two_way` when absent.
    #[serde(default)]
    #[schemars(with = "Option<Mode>")]
    pub mode: Option<Spanned<Mode>>,
    /// What the server receives: a primitive or a type name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub receive: Option<Spanned<String>>,
    /// What the server sends: a primitive or a type name.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub send: Option<Spanned<String>>,
    /// Whether the message handler's return value is sent back as the reply.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub reply: Option<Spanned<bool>>,
    /// The endpoint's close conditions, in order.
    #[serde(default)]
    pub close: Map<CloseDef>,
    /// Typed path parameters; each appears in the path as `{name}`.
    #[serde(default)]
    pub params: Map<FieldDef>,
    /// Typed query parameters; `?` or `optional: true` makes one optional.
    #[serde(default)]
    pub query: Map<FieldDef>,
    /// The name of inputs declared once under the spec's `inputs`, instead of `params` and
    /// `query` here: endpoints naming the same inputs share their types.
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub inputs: Option<Spanned<String>>,
    /// `callbacks` (on_connect / on_message / on_disconnect; the default) or `stream` (the
    /// handler owns the connection and calls recv / send / pair / expect).
    #[serde(default)]
    #[schemars(with = "Option<Style>")]
    pub style: Option<Spanned<Style>>,
    /// Callbacks style only: the handler keeps a state per connection, created by `on_connect`
    /// and handed as `&mut` to every `on_message` and to `on_disconnect`.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub state: Option<Spanned<bool>>,
    /// A protocol handshake before the handler runs: the first message must be the text
    /// `expect`, answered with the text `reply`.
    #[serde(default)]
    pub handshake: Option<HandshakeDef>,
    /// Ping keepalive: a ping `every` interval; no answer within `timeout` ends the connection.
    #[serde(default)]
    pub ping: Option<PingDef>,
    /// Wrap sent messages in a response envelope: `status` (`{"statusCode": 200, "body": ..}`).
    #[serde(default)]
    #[schemars(with = "Option<Envelope>")]
    pub envelope: Option<Spanned<Envelope>>,
    /// What to do with a message that does not decode or validate: `close` (the default),
    /// `drop`, or `reply_error`.
    #[serde(default)]
    #[schemars(with = "Option<InvalidPolicy>")]
    pub on_invalid: Option<Spanned<InvalidPolicy>>,
    /// Limits for this endpoint's connections, over the spec's top-level ones.
    #[serde(default)]
    pub limits: Option<LimitsDef>,
}

/// Path and query parameters declared once, for the endpoints that name them.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InputsDef {
    /// Documentation for the inputs.
    #[serde(default)]
    pub docs: Option<String>,
    /// Typed path parameters; each appears as `{name}` in the path of every endpoint naming
    /// these inputs.
    #[serde(default)]
    pub params: Map<FieldDef>,
    /// Typed query parameters; `?` or `optional: true` makes one optional.
    #[serde(default)]
    pub query: Map<FieldDef>,
}

impl Spec {
    /// The inputs an endpoint names (`inputs: <Name>`), if they are declared.
    pub fn shared_inputs(&self, def: &EndpointDef) -> Option<(&Spanned<String>, &InputsDef)> {
        let name = def.inputs.as_ref()?;
        self.inputs.iter().find(|(n, _)| n.value == name.value)
    }

    /// An endpoint's path parameters: those of the inputs it names, or its own.
    pub fn params_of<'a>(&'a self, def: &'a EndpointDef) -> &'a Map<FieldDef> {
        self.shared_inputs(def)
            .map_or(&def.params, |(_, i)| &i.params)
    }

    /// An endpoint's query parameters: those of the inputs it names, or its own.
    pub fn query_of<'a>(&'a self, def: &'a EndpointDef) -> &'a Map<FieldDef> {
        self.shared_inputs(def)
            .map_or(&def.query, |(_, i)| &i.query)
    }
}

/// How an endpoint's handler is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// on_connect / on_message / on_disconnect callbacks.
    Callbacks,
    /// The handler owns the connection.
    Stream,
}

/// What to do with a message that does not decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvalidPolicy {
    /// Close with 1003 (wrong frame kind) or 1007 (bad payload).
    Close,
    /// Ignore the message.
    Drop,
    /// Answer `{"statusCode": 400, "body": {"errorList": [..]}}` and keep the connection open.
    ReplyError,
}

/// How sent messages are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Envelope {
    /// Cafeto's response envelope: `{"statusCode": 200, "body": <message>}`.
    Status,
}

/// A protocol handshake declared in the spec.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandshakeDef {
    /// The exact text the client must send first, such as `MYPROTOCOL V1.1`.
    #[schemars(with = "String")]
    pub expect: Spanned<String>,
    /// The text the server answers with, such as `ACK`.
    #[schemars(with = "String")]
    pub reply: Spanned<String>,
    /// How the server closes the connection when the first message is anything else: a close
    /// code and reason (default: 1008, `unexpected message`). view.py's convention is 1002.
    #[serde(default)]
    pub close: Option<HandshakeCloseDef>,
}

impl HandshakeDef {
    /// The close code and reason when the first message is anything else, if the spec does
    /// not say.
    pub const DEFAULT_CLOSE: (u16, &'static str) = (1008, "unexpected message");

    /// The close code and reason when the first message is anything else, for docs and
    /// exports of a validated spec (validation refuses a code a close frame cannot carry).
    pub fn failure_close(&self) -> (u16, &str) {
        let Some(close) = &self.close else {
            return Self::DEFAULT_CLOSE;
        };
        let code = match close.code.value {
            Number::Int(n) => u16::try_from(n).ok(),
            Number::Float(f) => {
                (f.fract() == 0.0 && (0.0..=65535.0).contains(&f)).then_some(f as u16)
            }
        };
        let reason = close.reason.as_ref().map_or("", |r| r.value.as_str());
        (code.unwrap_or(Self::DEFAULT_CLOSE.0), reason)
    }
}

/// The close frame a failed protocol handshake ends the connection with.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HandshakeCloseDef {
    /// The close code (1000-1003, 1007-1014 or 3000-4999).
    #[schemars(with = "i64")]
    pub code: Spanned<Number>,
    /// The close reason (at most 123 bytes of UTF-8; default empty).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reason: Option<Spanned<String>>,
}

/// Ping keepalive settings; durations such as `30s`, `500ms` or `2m`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PingDef {
    /// Time between pings.
    #[schemars(with = "String")]
    pub every: Spanned<String>,
    /// How long to wait for an answer to a ping.
    #[schemars(with = "String")]
    pub timeout: Spanned<String>,
}

/// Which way messages flow on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Both sides send.
    TwoWay,
    /// Only the client sends.
    ReceiveOnly,
    /// Only the server sends.
    SendOnly,
}

/// A close condition: a fixed code and reason a handler returns to end the connection.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseDef {
    /// Documentation for the condition.
    #[serde(default)]
    pub docs: Option<String>,
    /// The close code (1000-1003, 1007-1014 or 3000-4999).
    #[schemars(with = "i64")]
    pub code: Spanned<Number>,
    /// The close reason (at most 123 bytes of UTF-8).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub reason: Option<Spanned<String>>,
    /// The handler gives the reason when it closes (revali's `CloseWebSocketException(code,
    /// reason)`): the generated variant carries a `String`, cut to 123 bytes at a UTF-8
    /// boundary when sent, and the typed client hands it back. Not with `reason`.
    #[serde(default)]
    #[schemars(with = "Option<bool>")]
    pub runtime_reason: Option<Spanned<bool>>,
}

impl CloseDef {
    /// Whether the handler gives the reason at run time.
    pub fn has_runtime_reason(&self) -> bool {
        self.runtime_reason.as_ref().is_some_and(|r| r.value)
    }
}

/// A YAML map whose keys are names: source order and key positions are kept.
#[derive(Debug)]
pub struct Map<T>(pub Vec<(Spanned<String>, T)>);

impl<T> Default for Map<T> {
    fn default() -> Self {
        Map(Vec::new())
    }
}

impl<T> Map<T> {
    /// The entries in source order.
    pub fn iter(&self) -> impl Iterator<Item = (&Spanned<String>, &T)> {
        self.0.iter().map(|(k, v)| (k, v))
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Map<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for MapVisitor<T> {
            type Value = Map<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a map of names to definitions")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Map<T>, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    let value = map.next_value::<T>()?;
                    entries.push((key, value));
                }
                Ok(Map(entries))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Map<T>, E> {
                Ok(Map::default())
            }
        }
        // `any`, not `map`: an empty key (`types:`) is a null, and means no entries.
        deserializer.deserialize_any(MapVisitor(std::marker::PhantomData))
    }
}

impl<T: JsonSchema> JsonSchema for Map<T> {
    fn schema_name() -> Cow<'static, str> {
        format!("MapOf{}", T::schema_name()).into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": ["object", "null"],
            "additionalProperties": generator.subschema_for::<T>(),
        })
    }
}

impl JsonSchema for FieldDef {
    fn schema_name() -> Cow<'static, str> {
        "FieldDef".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A field: a type expression such as `string`, `list<Item>` or `map<int>` (a trailing `?` makes it optional), or the long form.",
            "anyOf": [
                { "type": "string" },
                generator.subschema_for::<FieldLong>(),
            ],
        })
    }
}

/// The JSON Schema of the spec format, for editors (`# yaml-language-server: $schema=...`).
pub fn json_schema_text() -> String {
    let schema = schemars::schema_for!(Spec);
    // A schema is plain JSON data; serialising it cannot fail.
    serde_json::to_string_pretty(&schema).unwrap_or_default() + "\n"
}
