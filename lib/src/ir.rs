//! The intermediate representation: everything a template needs, already decided.
//!
//! Every identifier here is a legal Rust identifier (keywords escaped, case converted), every
//! type is a Rust type as it is to be printed, every string literal is already escaped, and every
//! list is in spec order. Templates see only this; they loop and print.

use serde::Serialize;

/// One spec, ready to render.
#[derive(Debug, Clone, Serialize)]
pub struct Ir {
    /// The spec file's name, for the header.
    pub spec_file: String,
    /// The API's name as written in the spec.
    pub name: String,
    /// The output file's stem (snake case).
    pub module: String,
    /// Documentation lines for the API.
    pub docs: Vec<String>,
    /// Struct types, in spec order.
    pub types: Vec<TypeIr>,
    /// Endpoints of all controllers, in spec order.
    pub endpoints: Vec<EndpointIr>,
    /// The spec's shared `inputs`, each a params or query struct emitted once.
    pub shared_inputs: Vec<InputsIr>,
    /// Middleware methods, in spec order (empty: no `Middleware` trait is generated).
    pub middleware: Vec<MiddlewareIr>,
    /// The server-wide limits from the spec (empty: the runtime's defaults).
    pub limits: Vec<LimitIr>,
}

/// One call on the runtime's `Limits` builder, such as `.with_max_message_size(65536)`.
#[derive(Debug, Clone, Serialize)]
pub struct LimitIr {
    /// The builder method.
    pub method: String,
    /// Its argument, as a Rust expression.
    pub value: String,
}

impl LimitIr {
    /// A call of `method` with `value`.
    pub fn new(method: &str, value: impl Into<String>) -> Self {
        LimitIr {
            method: method.to_owned(),
            value: value.into(),
        }
    }
}

/// A middleware: one method of the generated `Middleware` trait.
#[derive(Debug, Clone, Serialize)]
pub struct MiddlewareIr {
    /// The method name.
    pub method: String,
    /// The name as written in the spec, for docs.
    pub name: String,
    /// Documentation lines.
    pub docs: Vec<String>,
    /// Lints the method's name trips by convention, to allow on it (`new` and `from_*` take
    /// no `self` elsewhere; a middleware method takes `&self`).
    pub allow: Vec<String>,
}

/// Typed inputs decoded from the upgrade request: path parameters or query parameters.
#[derive(Debug, Clone, Serialize)]
pub struct InputsIr {
    /// The struct's name.
    pub ident: String,
    /// What the inputs are, for docs: `path parameters` or `query parameters`.
    pub what: String,
    /// Fields, in spec order.
    pub fields: Vec<InputFieldIr>,
    /// The name of the spec's shared `inputs` these come from (emitted once, for every
    /// endpoint naming them), or `None` for an endpoint's own.
    pub shared: Option<String>,
    /// The shared inputs' documentation.
    pub docs: Vec<String>,
}

/// One path or query parameter.
#[derive(Debug, Clone, Serialize)]
pub struct InputFieldIr {
    /// The Rust field name.
    pub ident: String,
    /// The name in the URL, as a string literal.
    pub name_lit: String,
    /// The full Rust type, `Option<..>` included.
    pub ty: String,
    /// Whether the parameter may be absent (query parameters only).
    pub optional: bool,
    /// The `wsgen_runtime::Request` method that decodes it: `param`, `query` or `query_opt`.
    pub getter: String,
    /// Documentation lines.
    pub docs: Vec<String>,
}

/// A protocol handshake before the handler runs.
#[derive(Debug, Clone, Serialize)]
pub struct HandshakeIr {
    /// The text the client must send, as a string literal.
    pub expect_lit: String,
    /// The text the server answers, as a string literal.
    pub reply_lit: String,
    /// The close code when the first message is anything else.
    pub close_code: u16,
    /// The close reason then, as a string literal.
    pub close_reason_lit: String,
}

/// Ping keepalive, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct KeepaliveIr {
    /// Time between pings.
    pub every_ms: u64,
    /// How long to wait for an answer.
    pub timeout_ms: u64,
}

/// How an endpoint's handler is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StyleIr {
    /// on_connect / on_message / on_disconnect.
    Callbacks,
    /// The handler owns the socket.
    Stream,
}

/// A message type.
#[derive(Debug, Clone, Serialize)]
pub struct TypeIr {
    /// The name as written in the spec.
    pub name: String,
    /// The Rust type name.
    pub ident: String,
    /// Documentation lines.
    pub docs: Vec<String>,
    /// Struct, string enum, or tagged union.
    pub kind: TypeKind,
    /// A struct's fields, in spec order.
    pub fields: Vec<FieldIr>,
    /// An enum's or union's variants, in spec order.
    pub variants: Vec<VariantIr>,
    /// A union's tag field, as a string literal.
    pub tag_lit: String,
    /// The name of the deserializer's type parameter in a union's one-pass reader: `D`, or
    /// another name where a spec type is called `D` (the inline fields' structs are declared
    /// inside that function, where the parameter would hide the type).
    pub deserializer_param: String,
    /// Whether the type has validation rules (its own or in nested types).
    pub validates: bool,
    /// Whether every variant of a union validates (no catch-all arm is needed).
    pub every_variant_validates: bool,
    /// The one variant of a union that validates, when the others do not (an `if let` then
    /// reads better than a `match` with a catch-all).
    pub single_validating_variant: Option<String>,
    /// Whether the type implements `wsgen_runtime::codegen::Nested`, for fields that hold it inside
    /// maps or nested lists.
    pub nested_impl: bool,
}

/// One validation call.
#[derive(Debug, Clone, Serialize)]
pub struct CheckIr {
    /// The `wsgen_runtime::codegen::Validator` method.
    pub method: String,
    /// What follows the value in the call (`, 1`, `, &PATTERN`), or nothing.
    pub arg: String,
    /// A statement the call needs before it (the `static` of a pattern), or nothing.
    pub before: String,
}

/// What a message type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TypeKind {
    /// A struct with named fields.
    Struct,
    /// A string enum.
    Enum,
    /// A tagged union.
    Union,
}

/// A variant of a string enum or a tagged union.
#[derive(Debug, Clone, Serialize)]
pub struct VariantIr {
    /// The Rust variant name.
    pub ident: String,
    /// The name on the wire (the enum value or the tag value), as a string literal.
    pub wire_lit: String,
    /// Documentation lines.
    pub docs: Vec<String>,
    /// The carried type for a newtype variant (empty otherwise).
    pub newtype: String,
    /// Inline fields (empty for unit and newtype variants).
    pub fields: Vec<FieldIr>,
    /// For inline fields, the private struct the union's one-pass reader reads them into
    /// (`WelcomeFields`), named apart from every spec type (empty otherwise).
    pub fields_struct: String,
    /// Whether the carried type has validation rules.
    pub validates: bool,
}

/// A struct field.
#[derive(Debug, Clone, Serialize)]
pub struct FieldIr {
    /// The Rust field name.
    pub ident: String,
    /// The name on the wire (the spec's name).
    pub wire_name: String,
    /// The name on the wire, as a string literal.
    pub wire_lit: String,
    /// Validation calls on the runtime's `Validator`, each as `v.<method>(name, value<arg>)`.
    pub checks: Vec<CheckIr>,
    /// The arguments of the field's `#[serde(..)]` attribute (empty for none): the wire name
    /// when it differs from the Rust name, and how an optional field is omitted.
    pub serde: Vec<String>,
    /// The full Rust type, `Option<..>` included.
    pub ty: String,
    /// Whether the field may be absent.
    pub optional: bool,
    /// Documentation lines.
    pub docs: Vec<String>,
}

/// What the server's message handler does with the handler's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    /// The handler's return value is the reply.
    Reply,
    /// The handler returns nothing; the server may still push.
    NoReply,
    /// The endpoint receives nothing: there is no message handler.
    None,
}

/// One endpoint with all the names generated for it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointIr {
    /// `controller.endpoint`, as written in the spec, for docs.
    pub qualified: String,
    /// Documentation lines.
    pub docs: Vec<String>,
    /// The full path, as a string literal.
    pub path_lit: String,
    /// The full path, for docs.
    pub path: String,
    /// The mode as written in the spec.
    pub mode: String,
    /// The handler trait the user implements.
    pub handler_trait: String,
    /// The type alias for the connection handle.
    pub conn_alias: String,
    /// The close condition enum.
    pub close_enum: String,
    /// Whether the close enum is `Copy` (no condition carries a reason given at run time).
    pub close_copy: bool,
    /// The glue struct implementing `wsgen_runtime::codegen::Endpoint`.
    pub glue: String,
    /// The typed client struct.
    pub client: String,
    /// The alias for the client's error type.
    pub client_error: String,
    /// The field in the `Handlers` struct.
    pub field: String,
    /// The generic parameter standing for the user's handler type (in `Handlers` and the
    /// glue); registered as a generated name so that no spec type can be shadowed by it.
    pub type_param: String,
    /// What the server receives (`std::convert::Infallible` when nothing).
    pub receive_ty: String,
    /// What the server sends (`std::convert::Infallible` when nothing).
    pub send_ty: String,
    /// What the message handler does with its result.
    pub message_kind: MessageKind,
    /// The message handler's output type, `Result<..>` included (empty when there is none).
    pub on_message_output: String,
    /// Whether the generated client has `send` (the server receives).
    pub client_sends: bool,
    /// Whether the generated client has `recv` (the server sends).
    pub client_receives: bool,
    /// Close conditions, in spec order.
    pub close: Vec<CloseIr>,
    /// How the handler is written.
    pub style: StyleIr,
    /// Whether the callbacks-style handler keeps a per-connection state (`type State`).
    pub state: bool,
    /// The type alias for the stream-style socket.
    pub socket_alias: String,
    /// The type alias for the endpoint's hub.
    pub hub_alias: String,
    /// The field in the `Hubs` struct.
    pub hub_field: String,
    /// The hub's name across the nodes of a cluster (`api.controller.endpoint`), as a string
    /// literal.
    pub hub_name_lit: String,
    /// The generic arguments of `Conn` (`S`, or `S, P, Q` when there are inputs).
    pub conn_args: String,
    /// The generic arguments of `Socket` (`R, S`, or `R, S, P, Q`).
    pub socket_args: String,
    /// Typed path parameters.
    pub params: Option<InputsIr>,
    /// Typed query parameters.
    pub query: Option<InputsIr>,
    /// The Rust type of the path parameters (`()` when none).
    pub params_ty: String,
    /// The Rust type of the query parameters (`()` when none).
    pub query_ty: String,
    /// The path with each parameter replaced by `{}`, as a string literal for `format!`.
    pub path_format_lit: String,
    /// The path parameters' field names, in path order.
    pub path_args: Vec<String>,
    /// The protocol handshake, if any.
    pub handshake: Option<HandshakeIr>,
    /// Ping keepalive, if any.
    pub keepalive: Option<KeepaliveIr>,
    /// This endpoint's own limits over the server's (empty: none).
    pub limits: Vec<LimitIr>,
    /// The `wsgen_runtime::codegen::OnInvalid` policy, when it is not the default (close).
    pub on_invalid: Option<String>,
    /// Whether sent messages are wrapped in `{"statusCode": 200, "body": ..}`.
    pub envelope: bool,
    /// Whether the client may receive error replies (`statusCode` 400).
    pub error_replies: bool,
    /// Middleware methods to run before the upgrade, in order.
    pub middleware: Vec<String>,
}

/// A close condition.
#[derive(Debug, Clone, Serialize)]
pub struct CloseIr {
    /// The condition's name as written in the spec.
    pub name: String,
    /// The enum variant.
    pub variant: String,
    /// The close code.
    pub code: u16,
    /// The close reason, as a string literal.
    pub reason_lit: String,
    /// The close reason, for docs.
    pub reason: String,
    /// Whether the handler gives the reason (the variant carries a `String`).
    pub runtime_reason: bool,
    /// Documentation lines.
    pub docs: Vec<String>,
}
