//! `wsgen generate --target typescript`: one TypeScript module per spec for browsers and Node,
//! with no runtime dependency beyond the client core (`wsgen-client.ts`) written beside it, which
//! every module in a directory shares. A type for every message type (string enums as
//! literal unions, tagged unions as discriminated unions on the spec's tag), and a client class
//! per endpoint whose `send`, `recv` and `onMessage` exist only where the endpoint's mode allows,
//! with typed path and query parameters, typed close conditions and the error envelope typed where
//! the endpoint uses it.
//!
//! The module model below is all the template sees: every TypeScript type, literal and
//! expression is decided here, from the typed [`Model`] alone (the type names it shares with the
//! Rust code are decided by validation and carried in the model).

use std::path::PathBuf;

use serde::Serialize;

use crate::OutputFile;
use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::error::Error;
use crate::model::{
    Carries, Endpoint, Field, Mode, Model, PathTemplate, Primitive, Segment, TypeBody, TypeDecl,
    TypeId, TypeRef,
};

/// The template the module is rendered from.
pub const TEMPLATE: &str = "client.ts.j2";

/// The file name of the client core, written beside the modules it serves.
pub const CORE_FILE: &str = "wsgen-client.ts";

/// The client core every module imports: written once per output directory.
const CORE: &str = include_str!("../templates/wsgen-client.ts");

/// The core's API, which every module with endpoints re-exports (so that a program imports
/// everything from its spec's module): each name, and whether it is a type only.
const CORE_API: &[(&str, bool)] = &[
    ("FieldError", true),
    ("SocketClose", true),
    ("OtherClose", true),
    ("AnyClose", true),
    ("RejectedError", false),
    ("DecodeError", false),
    ("ClosedError", false),
    ("ConnectError", false),
    ("ConnectStatusError", false),
    ("ConnectNetworkError", false),
    ("ConnectTimeoutError", false),
    ("ConnectAbortedError", false),
    ("HandshakeError", false),
    ("RecvTimeoutError", false),
    ("SocketEvent", true),
    ("WebSocketLike", true),
    ("WebSocketConstructor", true),
    ("AbortSignalLike", true),
    ("ConnectOptions", true),
    ("RecvOptions", true),
];

/// The core's types every module re-exports, endpoints or not.
const CORE_TYPES: &[&str] = &["Json", "Frame"];

/// What only the generated code uses from the core: imported, never re-exported.
const CORE_INTERNAL: &[&str] = &["Connection", "decoders"];

/// JavaScript's globals that the module uses in type and value positions.
const GLOBALS: &[&str] = &[
    "BigInt",
    "TypeError",
    "Error",
    "Promise",
    "Uint8Array",
    "ArrayBuffer",
    "Set",
    "String",
    "Number",
    "Boolean",
    "Object",
    "Array",
    "Record",
];

/// Whether a spec name that becomes `ident` would shadow a name the module binds: what it
/// imports from the core, or one of JavaScript's globals.
fn is_reserved(ident: &str) -> bool {
    CORE_API.iter().any(|(name, _)| *name == ident)
        || CORE_TYPES.contains(&ident)
        || CORE_INTERNAL.contains(&ident)
        || GLOBALS.contains(&ident)
}

/// The whole module.
#[derive(Debug, Serialize)]
pub struct TsModule {
    /// The spec file's name, for the header.
    pub spec_file: String,
    /// The API's name as written in the spec.
    pub name: String,
    /// Documentation lines for the API.
    pub docs: Vec<String>,
    /// Message types, in spec order.
    pub types: Vec<TsType>,
    /// Endpoints, in spec order.
    pub endpoints: Vec<TsEndpoint>,
    /// What the module imports from the core (types marked `type`).
    pub imports: Vec<String>,
    /// What it re-exports of the core's API.
    pub exports: Vec<String>,
}

/// What a message type is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TsKind {
    /// An object type.
    Struct,
    /// A union of string literals.
    Enum,
    /// A discriminated union.
    Union,
}

/// A message type.
#[derive(Debug, Serialize)]
pub struct TsType {
    pub ident: String,
    pub docs: Vec<String>,
    pub kind: TsKind,
    /// A struct's fields.
    pub fields: Vec<TsField>,
    /// A string enum's values, as string literals.
    pub values: Vec<String>,
    /// A union's variants.
    pub variants: Vec<TsVariant>,
}

/// A property of an object type.
#[derive(Debug, Serialize)]
pub struct TsField {
    /// The property name: the wire name, quoted when it is not an identifier.
    pub prop: String,
    /// The TypeScript type.
    pub ty: String,
    /// Whether the property may be absent.
    pub optional: bool,
    /// Documentation lines (the spec's docs, then its validation rules).
    pub docs: Vec<String>,
}

/// A variant of a tagged union.
#[derive(Debug, Serialize)]
pub struct TsVariant {
    pub docs: Vec<String>,
    /// The tag property with its value, such as `type: "note"`.
    pub tag: String,
    /// The declared struct type whose fields the variant carries (empty when inline).
    pub carries: String,
    /// Inline fields.
    pub fields: Vec<TsField>,
}

/// Path or query parameters.
#[derive(Debug, Serialize)]
pub struct TsInputs {
    pub ident: String,
    pub what: String,
    pub fields: Vec<TsField>,
    /// Whether this endpoint declares the type: inputs shared by several endpoints (the spec's
    /// `inputs`) are declared by the first.
    pub declare: bool,
}

/// One direction of an endpoint's messages.
#[derive(Debug, Serialize)]
pub struct TsMessage {
    /// The TypeScript type of one message.
    pub ty: String,
    /// An expression turning `message` into a frame.
    pub encode: String,
    /// A function expression turning a frame into a message.
    pub decode: String,
}

/// A close condition.
#[derive(Debug, Serialize)]
pub struct TsClose {
    /// The condition's name, as a string literal.
    pub condition_lit: String,
    pub code: u16,
    pub reason_lit: String,
    pub docs: Vec<String>,
}

/// A query parameter as it goes into the URL.
#[derive(Debug, Serialize)]
pub struct TsQueryEntry {
    /// The name, as a string literal.
    pub name_lit: String,
    /// The value, as an expression on `query`.
    pub value: String,
}

/// One endpoint's client.
#[derive(Debug, Serialize)]
pub struct TsEndpoint {
    pub qualified: String,
    pub docs: Vec<String>,
    /// The path, for docs.
    pub path: String,
    /// The path, as a string literal.
    pub path_lit: String,
    /// An expression for the path with `params` filled in.
    pub path_expr: String,
    pub mode: String,
    /// The client class.
    pub client: String,
    /// The close type.
    pub close_type: String,
    /// The module-private alias for the client's connection type.
    pub connection_ty: String,
    pub params: Option<TsInputs>,
    pub query: Option<TsInputs>,
    pub query_entries: Vec<TsQueryEntry>,
    /// What the client sends (the server receives), when it sends.
    pub sends: Option<TsMessage>,
    /// What the client receives (the server sends), when it receives.
    pub receives: Option<TsMessage>,
    /// The type of a received message (`never` when the server sends nothing).
    pub rx_ty: String,
    /// The function that reads a received message (`null` when the server sends nothing).
    pub decode: String,
    /// The errors `recv` and `onError` report (`never` when there can be none).
    pub error_ty: String,
    /// Whether the client has `onError`.
    pub on_error: bool,
    /// Whether messages come in the `statusCode` envelope (`true` or `false`, for the code).
    pub envelope_lit: &'static str,
    /// Whether rejected messages are answered (`true` or `false`, for the code).
    pub error_replies_lit: &'static str,
    pub error_replies: bool,
    /// The handshake's texts, as string literals.
    pub handshake: Option<(String, String)>,
    pub close: Vec<TsClose>,
}

/// The TypeScript module for an already loaded spec.
pub fn generate_source(source: &Source) -> Result<Vec<OutputFile>, Error> {
    let (_, model) = crate::lower_model(source)?;
    let module = module(&model, source).map_err(Error::Spec)?;
    let mut text = crate::render::render_with(TEMPLATE, &module)?;
    while text.ends_with("\n\n") {
        text.pop();
    }
    Ok(vec![
        OutputFile {
            path: PathBuf::from(format!("{}.ts", model.module)),
            contents: text,
        },
        OutputFile {
            path: PathBuf::from(CORE_FILE),
            contents: CORE.to_owned(),
        },
    ])
}

/// A JavaScript string literal.
fn literal(text: &str) -> String {
    // JSON strings are JavaScript string literals (ES2019 allows U+2028 and U+2029 in them).
    serde_json::Value::String(text.to_owned()).to_string()
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

/// A property name: as is when it is an identifier, quoted otherwise.
fn prop(name: &str) -> String {
    if is_identifier(name) {
        name.to_owned()
    } else {
        literal(name)
    }
}

/// Documentation lines as a doc comment: `/** one line */`, or a block for several; none for
/// none.
fn comment(lines: Vec<String>) -> Vec<String> {
    match lines.as_slice() {
        [] => Vec::new(),
        [line] => vec![format!("/** {line} */")],
        _ => std::iter::once("/**".to_owned())
            .chain(lines.iter().map(|line| {
                if line.is_empty() {
                    " *".to_owned()
                } else {
                    format!(" * {line}")
                }
            }))
            .chain(std::iter::once(" */".to_owned()))
            .collect(),
    }
}

/// Documentation lines, safe inside `/** */`.
fn doc_lines(docs: Option<&String>) -> Vec<String> {
    docs.map(|d| {
        d.trim()
            .lines()
            .map(|line| line.trim_end().replace("*/", "*\\/"))
            .collect()
    })
    .unwrap_or_default()
}

struct Lowering<'a> {
    model: &'a Model,
}

impl Lowering<'_> {
    fn ident(&self, id: TypeId) -> String {
        self.model.ty(id).ident.clone()
    }

    /// Whether `id` is a struct without fields (`Record<string, never>`, which a variant cannot
    /// intersect with its tag).
    fn is_empty_struct(&self, id: TypeId) -> bool {
        matches!(&self.model.ty(id).body, TypeBody::Struct(fields) if fields.is_empty())
    }

    /// The TypeScript type of a field's type (as JSON).
    fn field_type(&self, ty: &TypeRef) -> String {
        match ty {
            TypeRef::List(inner) => format!("{}[]", self.field_type(inner)),
            TypeRef::Map(inner) => format!("{{ [key: string]: {} }}", self.field_type(inner)),
            TypeRef::Optional(inner) => self.field_type(inner),
            TypeRef::Primitive(p) => match p {
                Primitive::String => "string".to_owned(),
                Primitive::Bool => "boolean".to_owned(),
                Primitive::Json => "Json".to_owned(),
                Primitive::Bytes => "number[]".to_owned(),
                Primitive::Frame => "Frame".to_owned(),
                _ => "number".to_owned(),
            },
            TypeRef::Named(id) => self.ident(*id),
        }
    }

    fn field(&self, f: &Field) -> TsField {
        let mut docs = doc_lines(f.docs.as_ref());
        let rules = f.rules.describe();
        if !rules.is_empty() {
            if !docs.is_empty() {
                docs.push(String::new());
            }
            docs.push(format!(
                "Checked by the server: {}.",
                rules.replace("*/", "*\\/")
            ));
        }
        if f.ty.primitive().is_some_and(is_64_bit) {
            if !docs.is_empty() {
                docs.push(String::new());
            }
            docs.push("A 64-bit integer: exact up to 2^53 in JavaScript.".to_owned());
        }
        TsField {
            prop: prop(&f.name),
            ty: self.field_type(&f.ty),
            optional: f.is_optional(),
            docs: comment(docs),
        }
    }

    fn fields(&self, fields: &[Field]) -> Vec<TsField> {
        fields.iter().map(|f| self.field(f)).collect()
    }

    fn ty(&self, t: &TypeDecl) -> TsType {
        let mut ty = TsType {
            ident: t.ident.clone(),
            docs: comment(doc_lines(t.docs.as_ref())),
            kind: TsKind::Struct,
            fields: Vec::new(),
            values: Vec::new(),
            variants: Vec::new(),
        };
        match &t.body {
            TypeBody::Struct(fields) => ty.fields = self.fields(fields),
            TypeBody::Enum(values) => {
                ty.kind = TsKind::Enum;
                ty.values = values.iter().map(|v| literal(v)).collect();
            }
            TypeBody::Union { tag, variants } => {
                ty.kind = TsKind::Union;
                ty.variants = variants
                    .iter()
                    .map(|variant| {
                        let tag = format!("{}: {}", prop(tag), literal(&variant.tag_value));
                        match &variant.carries {
                            Carries::Type(id) => TsVariant {
                                docs: Vec::new(),
                                tag,
                                carries: if self.is_empty_struct(*id) {
                                    String::new()
                                } else {
                                    self.ident(*id)
                                },
                                fields: Vec::new(),
                            },
                            Carries::Inline { docs, fields } => TsVariant {
                                docs: comment(doc_lines(docs.as_ref())),
                                tag,
                                carries: String::new(),
                                fields: self.fields(fields),
                            },
                        }
                    })
                    .collect();
            }
        }
        ty
    }

    /// How one direction of an endpoint travels.
    fn message(&self, ty: &TypeRef) -> TsMessage {
        let (ty, encode, decode) = match ty {
            TypeRef::Primitive(Primitive::String) => {
                ("string".to_owned(), "message", "decoders.text".to_owned())
            }
            TypeRef::Primitive(Primitive::Bytes) => (
                "Uint8Array".to_owned(),
                "message",
                "decoders.bytes".to_owned(),
            ),
            TypeRef::Primitive(Primitive::Frame) => {
                ("Frame".to_owned(), "message", "decoders.frame".to_owned())
            }
            TypeRef::Primitive(Primitive::Bool) => (
                "boolean".to_owned(),
                "String(message)",
                "decoders.bool".to_owned(),
            ),
            TypeRef::Primitive(Primitive::Float | Primitive::F32 | Primitive::F64) => (
                "number".to_owned(),
                "String(message)",
                "decoders.float".to_owned(),
            ),
            TypeRef::Primitive(Primitive::Json) => (
                "Json".to_owned(),
                "JSON.stringify(message)",
                "(frame: Frame) => decoders.json(frame) as Json".to_owned(),
            ),
            TypeRef::Primitive(_) => (
                "number".to_owned(),
                "String(message)",
                "decoders.number".to_owned(),
            ),
            TypeRef::Named(id) => {
                let ident = self.ident(*id);
                // An enum or union the client does not know all of (a newer server) is a
                // `DecodeError`, as in the Rust client, not a value outside its declared type.
                let known = |values: Vec<&str>| {
                    values
                        .into_iter()
                        .map(literal)
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let decode = match &self.model.ty(*id).body {
                    TypeBody::Enum(values) => format!(
                        "(frame: Frame) => decoders.variant(frame, null, [{}]) as {ident}",
                        known(values.iter().map(String::as_str).collect())
                    ),
                    TypeBody::Union { tag, variants } => format!(
                        "(frame: Frame) => decoders.variant(frame, {}, [{}]) as {ident}",
                        literal(tag),
                        known(variants.iter().map(|v| v.tag_value.as_str()).collect())
                    ),
                    TypeBody::Struct(_) => {
                        format!("(frame: Frame) => decoders.json(frame) as {ident}")
                    }
                };
                (ident, "JSON.stringify(message)", decode)
            }
            // Validation allows only primitives and declared types as messages.
            TypeRef::List(_) | TypeRef::Map(_) | TypeRef::Optional(_) => (
                self.field_type(ty),
                "JSON.stringify(message)",
                "(frame: Frame) => decoders.json(frame)".to_owned(),
            ),
        };
        TsMessage {
            ty,
            encode: encode.to_owned(),
            decode,
        }
    }
}

fn input_type(f: &Field) -> &'static str {
    match f.ty.primitive() {
        Some(Primitive::String) | None => "string",
        Some(Primitive::Bool) => "boolean",
        // Beyond 2^53 a number is not exact: a `bigint` or the digits as a string are.
        Some(p) if is_64_bit(p) => "number | bigint | string",
        Some(_) => "number",
    }
}

/// An integer that JavaScript's numbers do not hold exactly.
fn is_64_bit(p: Primitive) -> bool {
    matches!(p, Primitive::I64 | Primitive::U64 | Primitive::Int)
}

fn inputs(ident: Option<&String>, fields: &[Field], what: &str) -> Option<TsInputs> {
    Some(TsInputs {
        ident: ident?.clone(),
        what: what.to_owned(),
        fields: fields
            .iter()
            .map(|f| TsField {
                prop: prop(&f.name),
                ty: input_type(f).to_owned(),
                optional: f.is_optional(),
                docs: comment(doc_lines(f.docs.as_ref())),
            })
            .collect(),
        declare: true,
    })
}

/// `object.name`, or `object["name"]` when the name is not an identifier.
fn access(object: &str, name: &str) -> String {
    if is_identifier(name) {
        format!("{object}.{name}")
    } else {
        format!("{object}[{}]", literal(name))
    }
}

/// An expression for the path with each `{param}` filled in from `params`, percent-encoded.
fn path_expr(path: &PathTemplate) -> String {
    if !path.has_params() {
        return literal(&path.to_string());
    }
    let mut out = String::from("`");
    for (i, segment) in path.segments().iter().enumerate() {
        if i > 0 {
            out.push('/');
        }
        match segment {
            Segment::Param(name) => out.push_str(&format!(
                "${{Connection.segment({})}}",
                access("params", name)
            )),
            Segment::Literal(text) => {
                for c in text.chars() {
                    if matches!(c, '`' | '\\' | '$') {
                        out.push('\\');
                    }
                    out.push(c);
                }
            }
        }
    }
    out.push('`');
    out
}

fn endpoint(model: &Model, e: &Endpoint, lowering: &Lowering<'_>) -> TsEndpoint {
    let receives = e.sends.as_ref().map(|ty| lowering.message(ty));
    let sends = e.receives.as_ref().map(|ty| lowering.message(ty));
    let error_ty = match (e.error_replies, receives.is_some()) {
        (true, _) => "RejectedError | DecodeError",
        (false, true) => "DecodeError",
        (false, false) => "never",
    };
    let path = e.path.to_string();
    TsEndpoint {
        qualified: e.qualified.clone(),
        docs: {
            let mut lines = doc_lines(e.docs.as_ref());
            if !lines.is_empty() {
                lines.push(String::new());
            }
            let flow = match e.mode {
                Mode::SendOnly => "the server sends, this client listens",
                Mode::ReceiveOnly => "this client sends, the server answers nothing",
                Mode::TwoWay => "both sides send",
            };
            lines.push(format!(
                "A typed client for `{}` at `{path}`: {flow}.",
                e.qualified
            ));
            let headers = browser_cannot_send(model, e);
            if !headers.is_empty() {
                let names: Vec<String> = headers.iter().map(|(_, h)| format!("`{h}`")).collect();
                lines.push(String::new());
                lines.push(format!(
                    "Its middleware reads {}, which a browser cannot send with a WebSocket:",
                    names.join(", ")
                ));
                lines.push(
                    "pass `headers` in the connect options from Node; from a browser the server"
                        .to_owned(),
                );
                lines.push(
                    "must take the credential another way (a query parameter, a cookie)."
                        .to_owned(),
                );
            }
            comment(lines)
        },
        path_lit: literal(&path),
        path_expr: path_expr(&e.path),
        path,
        mode: e.mode.as_str().to_owned(),
        close_type: e.names.close_enum.clone(),
        connection_ty: connection_ty(e),
        params: inputs(e.names.params.as_ref(), &e.params, "Path parameters"),
        query: inputs(e.names.query.as_ref(), &e.query, "Query parameters"),
        query_entries: e
            .query
            .iter()
            .map(|f| {
                let value = access("query", &f.name);
                TsQueryEntry {
                    name_lit: literal(&f.name),
                    value: if f.is_optional() {
                        format!("{value} === undefined ? undefined : Connection.param({value})")
                    } else {
                        format!("Connection.param({value})")
                    },
                }
            })
            .collect(),
        rx_ty: receives
            .as_ref()
            .map_or("never".to_owned(), |r| r.ty.clone()),
        decode: receives
            .as_ref()
            .map_or("null".to_owned(), |r| r.decode.clone()),
        sends,
        receives,
        error_ty: error_ty.to_owned(),
        on_error: error_ty != "never",
        envelope_lit: if e.envelope.is_some() {
            "true"
        } else {
            "false"
        },
        error_replies_lit: if e.error_replies { "true" } else { "false" },
        error_replies: e.error_replies,
        handshake: e
            .handshake
            .as_ref()
            .map(|h| (literal(&h.expect), literal(&h.reply))),
        close: e
            .close
            .iter()
            .map(|c| TsClose {
                condition_lit: literal(&c.variant),
                code: c.code,
                reason_lit: literal(&c.reason),
                docs: comment(doc_lines(c.docs.as_ref())),
            })
            .collect(),
        client: e.names.client.clone(),
    }
}

/// The headers a page can have sent with a WebSocket upgrade: the browser sets them itself
/// (`Cookie` and `Origin` among them), or takes them as the subprotocols.
const BROWSER_HEADERS: &[&str] = &[
    "cookie",
    "origin",
    "host",
    "user-agent",
    "accept-language",
    "sec-websocket-protocol",
];

/// The headers `e`'s middleware reads that a browser cannot send, with the middleware's name.
fn browser_cannot_send<'a>(model: &'a Model, e: &'a Endpoint) -> Vec<(&'a str, &'a str)> {
    model
        .middleware_of(e)
        .flat_map(|m| m.headers.iter().map(move |h| (m.name.as_str(), h.as_str())))
        .filter(|(_, h)| !BROWSER_HEADERS.contains(&h.to_ascii_lowercase().as_str()))
        .collect()
}

/// What `wsgen check --target typescript` warns about: every endpoint whose middleware reads a
/// header that a browser cannot send with a WebSocket.
pub(crate) fn browser_warnings(model: &Model) -> Vec<String> {
    model
        .endpoints
        .iter()
        .flat_map(|e| {
            browser_cannot_send(model, e).into_iter().map(|(middleware, header)| {
                format!(
                    "endpoint `{}` needs the header `{header}` (middleware `{middleware}`), which a \
                     browser cannot send with a WebSocket: the TypeScript client sends it from Node \
                     (`ConnectOptions.headers`); for browsers, let the middleware also take the \
                     credential from a query parameter or a cookie",
                    e.qualified
                )
            })
        })
        .collect()
}

/// The module-private alias for an endpoint's connection type (named after the endpoint).
fn connection_ty(e: &Endpoint) -> String {
    format!("{}Connection", e.names.ident)
}

/// What a module with `endpoints` imports from the core, and what it re-exports: the core's
/// types always, its API when there are endpoints, and what only generated code uses (the
/// connection; the decoders when a client receives) when the module uses it.
fn core_names(endpoints: &[TsEndpoint]) -> (Vec<String>, Vec<String>) {
    let mut api: Vec<(&str, bool)> = CORE_TYPES.iter().map(|name| (*name, true)).collect();
    if !endpoints.is_empty() {
        api.extend(CORE_API);
    }
    let typed = |(name, is_type): &(&str, bool)| {
        if *is_type {
            format!("type {name}")
        } else {
            (*name).to_owned()
        }
    };
    let exports: Vec<String> = api.iter().map(typed).collect();
    let mut imports = exports.clone();
    if !endpoints.is_empty() {
        imports.push("Connection".to_owned());
    }
    if endpoints.iter().any(|e| e.receives.is_some()) {
        imports.push("decoders".to_owned());
    }
    (imports, exports)
}

/// The TypeScript client's own check of a spec: a spec name that would shadow one of the
/// module's own names is an error at that name.
pub(crate) fn check(model: &Model, source: &Source) -> Result<(), Diagnostics> {
    let mut errors = Vec::new();
    let mut error = |at: crate::model::Location, message: String, hint: &str| {
        let mut d = Diagnostic::at(source, at, message);
        d.hint = Some(hint.to_owned());
        errors.push(d);
    };
    let shadows = |what: &str, name: &str, ident: &str| {
        format!(
            "{what} `{name}` becomes the TypeScript name `{ident}`, which the TypeScript client needs for its own `{ident}`"
        )
    };
    for t in &model.types {
        if is_reserved(&t.ident) {
            error(t.at, shadows("type", &t.name, &t.ident), "rename it");
        }
    }
    for e in &model.endpoints {
        let mut names = vec![e.names.client.as_str(), e.names.close_enum.as_str()];
        names.extend(e.names.params.as_deref());
        names.extend(e.names.query.as_deref());
        for ident in names.into_iter().filter(|i| is_reserved(i)) {
            error(e.at, shadows("endpoint", &e.name, ident), "rename it");
        }
        // The one name only the TypeScript client generates must not be a spec type's.
        let alias = connection_ty(e);
        if model.types.iter().any(|t| t.ident == alias) {
            let message = format!(
                "endpoint `{}` needs the TypeScript name `{alias}`, which is also a type's",
                e.name
            );
            error(e.at, message, "rename the endpoint or the type");
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Diagnostics(errors))
    }
}

/// The model of the module (after [`check`]).
pub(crate) fn module(model: &Model, source: &Source) -> Result<TsModule, Diagnostics> {
    check(model, source)?;
    let lowering = Lowering { model };
    let types = model.types.iter().map(|t| lowering.ty(t)).collect();
    let mut endpoints: Vec<TsEndpoint> = model
        .endpoints
        .iter()
        .map(|e| endpoint(model, e, &lowering))
        .collect();
    // Shared inputs are one type: the first endpoint naming them declares it.
    let mut declared = std::collections::HashSet::new();
    for e in &mut endpoints {
        for inputs in [e.params.as_mut(), e.query.as_mut()].into_iter().flatten() {
            inputs.declare = declared.insert(inputs.ident.clone());
        }
    }
    let (imports, exports) = core_names(&endpoints);
    Ok(TsModule {
        spec_file: model.spec_file.clone(),
        name: model.name.clone(),
        docs: comment(doc_lines(model.docs.as_ref())),
        types,
        endpoints,
        imports,
        exports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_core_exports_what_the_modules_import() {
        let mut exported: Vec<&str> = CORE
            .lines()
            .filter_map(|line| line.strip_prefix("export "))
            .filter_map(|rest| rest.split_whitespace().nth(1))
            .filter_map(|name| name.split(|c: char| !c.is_alphanumeric()).next())
            .collect();
        exported.sort_unstable();
        let mut listed: Vec<&str> = CORE_API.iter().map(|(name, _)| *name).collect();
        listed.extend(CORE_TYPES);
        listed.extend(CORE_INTERNAL);
        listed.sort_unstable();
        assert_eq!(exported, listed);
    }

    #[test]
    fn paths_fill_in_encoded_params_and_escape_the_rest() {
        let path = |text: &str| path_expr(&PathTemplate::parse(text));
        assert_eq!(path("/a/b"), "\"/a/b\"");
        assert_eq!(
            path("/rooms/{room-id}/x`$"),
            "`/rooms/${Connection.segment(params[\"room-id\"])}/x\\`\\$`"
        );
    }

    #[test]
    fn properties_are_quoted_only_when_needed() {
        assert_eq!(prop("userName"), "userName");
        assert_eq!(prop("user-name"), "\"user-name\"");
        assert_eq!(prop("2fa"), "\"2fa\"");
    }
}
