//! The typed model of a validated spec: what every non-Rust target (the TypeScript client, the
//! Markdown reference, the AsyncAPI document) reads, built once by [`build`] after validation.
//!
//! Where the spec has text, the model has values: type expressions are [`TypeRef`] trees whose
//! declared types are [`TypeId`]s, rules are numbers and strings, the endpoint's path is a
//! [`PathTemplate`], modes and policies are enums, durations and sizes are numbers (with the text
//! as written, for the outputs that show the spec as written). Every item keeps its spec name and
//! where it is in the spec, so that a target's own checks can point at the spec line. The names
//! the Rust code generates (and the TypeScript client reuses) are decided once by validation and
//! copied here, so no target reads the IR or the spec.

mod build;
mod path;

pub(crate) use build::build;
pub(crate) use path::{PathTemplate, Segment, segment_param};

pub(crate) use crate::spec::Number;
pub(crate) use crate::typeexpr::Primitive;
pub(crate) use serde_saphyr::Location;

/// One validated spec.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    /// The spec file's name, for headers.
    pub spec_file: String,
    /// The API's name as written in the spec.
    pub name: String,
    /// The output file's stem (snake case).
    pub module: String,
    /// Documentation for the whole API, as written.
    pub docs: Option<String>,
    /// Declared types, in spec order; a [`TypeId`] indexes this.
    pub types: Vec<TypeDecl>,
    /// Middleware, in spec order; [`Endpoint::middleware`] indexes this.
    pub middleware: Vec<Middleware>,
    /// Endpoints of all controllers, in spec order.
    pub endpoints: Vec<Endpoint>,
    /// The spec's top-level limits.
    pub limits: Limits,
}

impl Model {
    /// The declared type `id` names.
    pub fn ty(&self, id: TypeId) -> &TypeDecl {
        &self.types[id.0]
    }

    /// The middleware an endpoint runs, in its order.
    pub fn middleware_of<'a>(&'a self, e: &'a Endpoint) -> impl Iterator<Item = &'a Middleware> {
        e.middleware.iter().filter_map(|i| self.middleware.get(*i))
    }
}

/// A declared type, by its position in [`Model::types`]. Only the builder makes them, so every
/// id names a type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct TypeId(usize);

/// A type expression, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TypeRef {
    /// A primitive type.
    Primitive(Primitive),
    /// `list<T>`.
    List(Box<TypeRef>),
    /// `map<T>`: string keys.
    Map(Box<TypeRef>),
    /// A field that may be absent (`T?` or `optional: true`); only ever outermost.
    Optional(Box<TypeRef>),
    /// A declared type.
    Named(TypeId),
}

impl TypeRef {
    /// The type without its outer [`TypeRef::Optional`].
    pub fn required(&self) -> &TypeRef {
        match self {
            TypeRef::Optional(inner) => inner,
            other => other,
        }
    }

    /// The primitive it is (optional or not), if it is one.
    pub fn primitive(&self) -> Option<Primitive> {
        match self.required() {
            TypeRef::Primitive(p) => Some(*p),
            _ => None,
        }
    }
}

/// A declared type.
#[derive(Debug, Clone)]
pub(crate) struct TypeDecl {
    /// The name as written in the spec.
    pub name: String,
    /// Where the name is in the spec.
    pub at: Location,
    /// The generated type name (Rust's, which the TypeScript client shares).
    pub ident: String,
    /// Documentation, as written.
    pub docs: Option<String>,
    /// What it is.
    pub body: TypeBody,
}

/// What a declared type is.
#[derive(Debug, Clone)]
pub(crate) enum TypeBody {
    /// A struct: its fields, in order.
    Struct(Vec<Field>),
    /// A string enum: its values on the wire, in order.
    Enum(Vec<String>),
    /// A tagged union.
    Union {
        /// The tag field's name (`type` unless the spec says).
        tag: String,
        /// The variants, in order.
        variants: Vec<Variant>,
    },
}

/// A variant of a tagged union.
#[derive(Debug, Clone)]
pub(crate) struct Variant {
    /// The tag value on the wire.
    pub tag_value: String,
    /// What it carries.
    pub carries: Carries,
}

/// What a union variant carries.
#[derive(Debug, Clone)]
pub(crate) enum Carries {
    /// The fields of a declared struct type.
    Type(TypeId),
    /// Its own fields (none: a unit variant).
    Inline {
        /// Documentation, as written.
        docs: Option<String>,
        /// The fields, in order.
        fields: Vec<Field>,
    },
}

/// A struct field, a path parameter or a query parameter.
#[derive(Debug, Clone)]
pub(crate) struct Field {
    /// The name as written (the name on the wire).
    pub name: String,
    /// Where the name is in the spec.
    #[expect(
        dead_code,
        reason = "for target diagnostics; no target checks field names yet"
    )]
    pub at: Location,
    /// Its type; [`TypeRef::Optional`] when it may be absent.
    pub ty: TypeRef,
    /// The type expression as written.
    pub written: String,
    /// Documentation, as written.
    pub docs: Option<String>,
    /// Validation rules.
    pub rules: Rules,
}

impl Field {
    /// Whether the field may be absent.
    pub fn is_optional(&self) -> bool {
        matches!(self.ty, TypeRef::Optional(_))
    }
}

/// A field's validation rules, as values.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Rules {
    /// The fewest characters.
    pub min_length: Option<u64>,
    /// The most characters.
    pub max_length: Option<u64>,
    /// The smallest number.
    pub min: Option<Number>,
    /// The largest number.
    pub max: Option<Number>,
    /// A regular expression the text must match.
    pub pattern: Option<String>,
    /// The fewest list items.
    pub min_items: Option<u64>,
    /// The most list items.
    pub max_items: Option<u64>,
    /// The only texts allowed.
    pub one_of: Option<Vec<String>>,
}

impl Rules {
    /// The rules in words (`1 to 20 characters; matches `^[a-z]+$``), for documentation.
    pub fn describe(&self) -> String {
        let mut out = Vec::new();
        match (self.min_length, self.max_length) {
            (Some(a), Some(b)) => out.push(format!("{a} to {b} characters")),
            (Some(a), None) => out.push(format!("at least {a} characters")),
            (None, Some(b)) => out.push(format!("at most {b} characters")),
            (None, None) => {}
        }
        if let Some(p) = &self.pattern {
            out.push(format!("matches `{p}`"));
        }
        if let Some(v) = &self.one_of {
            out.push(format!(
                "one of {}",
                v.iter()
                    .map(|x| format!("`{x}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if let Some(m) = &self.min {
            out.push(format!(">= {m}"));
        }
        if let Some(m) = &self.max {
            out.push(format!("<= {m}"));
        }
        if let Some(m) = self.min_items {
            out.push(format!("at least {m} items"));
        }
        if let Some(m) = self.max_items {
            out.push(format!("at most {m} items"));
        }
        out.join("; ")
    }
}

/// A middleware declaration.
#[derive(Debug, Clone)]
pub(crate) struct Middleware {
    /// The name as written in the spec.
    pub name: String,
    /// Where the name is in the spec.
    #[expect(
        dead_code,
        reason = "for target diagnostics; no target checks middleware yet"
    )]
    pub at: Location,
    /// The generated method name.
    pub method: String,
    /// The request headers it reads, as written.
    pub headers: Vec<String>,
}

/// Which way messages flow on an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Both sides send.
    TwoWay,
    /// Only the client sends.
    ReceiveOnly,
    /// Only the server sends.
    SendOnly,
}

impl Mode {
    /// The name in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::TwoWay => "two_way",
            Mode::ReceiveOnly => "receive_only",
            Mode::SendOnly => "send_only",
        }
    }
}

/// What to do with a message that does not decode or validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InvalidPolicy {
    /// Close with 1003 or 1007 (the default).
    Close,
    /// Ignore the message.
    Drop,
    /// Answer with the error envelope and keep the connection.
    ReplyError,
}

impl InvalidPolicy {
    /// The name in the spec.
    pub fn as_str(self) -> &'static str {
        match self {
            InvalidPolicy::Close => "close",
            InvalidPolicy::Drop => "drop",
            InvalidPolicy::ReplyError => "reply_error",
        }
    }
}

/// How sent messages are wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Envelope {
    /// `{"statusCode": 200, "body": <message>}`.
    Status,
}

/// One endpoint.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    /// The endpoint's name as written.
    pub name: String,
    /// Where the name is in the spec.
    pub at: Location,
    /// `controller.endpoint`, as written.
    pub qualified: String,
    /// Documentation, as written.
    pub docs: Option<String>,
    /// The full path (the controller's prefix and the endpoint's path).
    pub path: PathTemplate,
    /// Which way messages flow.
    pub mode: Mode,
    /// What the server receives (what clients send); `None` when the mode has no such direction.
    pub receives: Option<TypeRef>,
    /// What the server sends (what clients receive); `None` when the mode has no such direction.
    pub sends: Option<TypeRef>,
    /// Whether every received message is answered with one message.
    pub reply: bool,
    /// Path parameters, in order.
    pub params: Vec<Field>,
    /// Query parameters, in order.
    pub query: Vec<Field>,
    /// Close conditions, in order.
    pub close: Vec<Close>,
    /// The protocol handshake, if any.
    pub handshake: Option<Handshake>,
    /// Ping keepalive, if any.
    pub ping: Option<Ping>,
    /// How sent messages are wrapped, if they are.
    pub envelope: Option<Envelope>,
    /// What happens to a message that does not decode or validate.
    pub on_invalid: InvalidPolicy,
    /// Whether clients may receive error replies (`statusCode` 400): an envelope, or
    /// `reply_error`.
    pub error_replies: bool,
    /// The middleware that runs before the upgrade, in order, as indexes into
    /// [`Model::middleware`] (see [`Model::middleware_of`]).
    pub middleware: Vec<usize>,
    /// The endpoint's own limits.
    pub limits: Limits,
    /// The names generated for it.
    pub names: EndpointNames,
}

/// The names generated for an endpoint (Rust's, which the TypeScript client shares).
#[derive(Debug, Clone)]
pub(crate) struct EndpointNames {
    /// The endpoint's own name (`ControllerEndpoint`).
    pub ident: String,
    /// The typed client.
    pub client: String,
    /// The close condition type.
    pub close_enum: String,
    /// The path parameters' type, when there are any.
    pub params: Option<String>,
    /// The query parameters' type, when there are any.
    pub query: Option<String>,
}

/// A close condition.
#[derive(Debug, Clone)]
pub(crate) struct Close {
    /// The name as written.
    pub name: String,
    /// The generated variant name.
    pub variant: String,
    /// The close code.
    pub code: u16,
    /// The close reason (empty when the handler gives it).
    pub reason: String,
    /// Whether the handler gives the reason at run time.
    pub runtime_reason: bool,
    /// Documentation, as written.
    pub docs: Option<String>,
}

/// A protocol handshake before the handler runs.
#[derive(Debug, Clone)]
pub(crate) struct Handshake {
    /// The text the client must send first.
    pub expect: String,
    /// The text the server answers with.
    pub reply: String,
    /// The close code when the first message is anything else.
    pub close_code: u16,
    /// The close reason then.
    pub close_reason: String,
}

/// Ping keepalive.
#[derive(Debug, Clone)]
pub(crate) struct Ping {
    /// Time between pings.
    pub every: Duration,
    /// How long to wait for an answer.
    pub timeout: Duration,
}

/// A duration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Duration {
    /// In milliseconds; `None` for `off` (where a limit allows it).
    pub ms: Option<u64>,
    /// As written (`30s`).
    pub written: String,
}

/// A size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Size {
    /// In bytes.
    pub bytes: u64,
    /// As written with a unit (`64KiB`); `None` when written as a number of bytes.
    pub written: Option<String>,
}

/// What happens when a slow client's outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SlowConsumer {
    /// Close with 1013.
    TryAgainLater,
    /// Close with 1008.
    PolicyViolation,
    /// The push fails; the connection stays.
    Reject,
}

/// A `limits` section; absent keys keep the runtime's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The largest message.
    pub max_message_size: Option<Size>,
    /// The largest frame.
    pub max_frame_size: Option<Size>,
    /// The read buffer per connection.
    pub read_buffer: Option<Size>,
    /// How many pushed messages may wait (validated: 1 to 10^9).
    pub send_queue: Option<i64>,
    /// What happens when that queue is full.
    pub slow_consumer: Option<SlowConsumer>,
    /// Close when no frame arrives for this long (`off`: never).
    pub idle_timeout: Option<Duration>,
    /// How long a write may wait.
    pub write_timeout: Option<Duration>,
    /// How long to wait for the answer to a close.
    pub close_timeout: Option<Duration>,
    /// The largest upgrade request head (server-wide only).
    pub max_header_size: Option<Size>,
    /// The most connections at once (server-wide only; validated: 1 to 10^9).
    pub max_connections: Option<i64>,
    /// How long the upgrade request may take (server-wide only).
    pub handshake_timeout: Option<Duration>,
    /// How long a graceful shutdown waits (server-wide only).
    pub shutdown_timeout: Option<Duration>,
    /// How fast one client may send messages.
    pub message_rate: Option<MessageRate>,
}

/// A per-connection message rate (validated: 1 to 10^6 each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct MessageRate {
    /// Messages per second on average.
    pub per_second: i64,
    /// Messages at once after a quiet period (the rate when not given).
    pub burst: i64,
    /// A message over the rate is dropped (else the connection is closed with 1008).
    pub drop: bool,
}
