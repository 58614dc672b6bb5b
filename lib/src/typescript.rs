//! `wsgen generate --target typescript`: one TypeScript module per spec for browsers and Node,
//! with no runtime dependency beyond the client core (`wsgen-client.ts`) written beside it, which
//! every module in a directory shares. A type for every message type (string enums as
//! literal unions, tagged unions as discriminated unions on the spec's tag), and a client class
//! per endpoint whose `send`, `recv` and `onMessage` exist only where the endpoint's mode allows,
//! with typed path and query parameters, typed close conditions and the error envelope typed where
//! the endpoint uses it.
//!
//! The model below is all the template sees: every TypeScript type, literal and expression is
//! decided here, from the spec (type expressions, wire names) and the IR (names, modes, flags).

use std::path::PathBuf;

use serde::Serialize;

use crate::OutputFile;
use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::error::Error;
use crate::ir::{EndpointIr, InputsIr, Ir, TypeKind};
use crate::spec::{FieldDef, Map, Spec, TypeDef, VariantDef};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};

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

/// A message type.
#[derive(Debug, Serialize)]
pub struct TsType {
    pub ident: String,
    pub docs: Vec<String>,
    pub kind: TypeKind,
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
    let (spec, ir) = crate::lower_with_spec(source)?;
    let model = model(&spec, &ir, source).map_err(Error::Spec)?;
    let mut text = crate::render::render_with(TEMPLATE, &model)?;
    while text.ends_with("\n\n") {
        text.pop();
    }
    Ok(vec![
        OutputFile {
            path: PathBuf::from(format!("{}.ts", ir.module)),
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
    /// Spec type names and their identifiers.
    idents: Vec<(&'a str, &'a str)>,
    /// The spec names of structs without fields (`Record<string, never>`, which a variant
    /// cannot intersect with its tag).
    empty: Vec<&'a str>,
    /// Enums and unions by spec name: the union's tag (as a literal; `None` for an enum) and
    /// the known values or tags (as literals), which `decoders.variant` checks.
    variants: Vec<(&'a str, Option<String>, Vec<String>)>,
}

impl Lowering<'_> {
    fn ident(&self, name: &str) -> String {
        self.idents
            .iter()
            .find(|(n, _)| *n == name)
            .map_or_else(|| name.to_owned(), |(_, ident)| (*ident).to_owned())
    }

    /// The TypeScript type of a field's type expression (as JSON).
    fn field_type(&self, expr: &TypeExpr<'_>) -> String {
        match expr {
            TypeExpr::List(inner) => format!("{}[]", self.field_type(inner)),
            TypeExpr::Map(inner) => format!("{{ [key: string]: {} }}", self.field_type(inner)),
            TypeExpr::Primitive(p) => match p {
                Primitive::String => "string".to_owned(),
                Primitive::Bool => "boolean".to_owned(),
                Primitive::Json => "Json".to_owned(),
                Primitive::Bytes => "number[]".to_owned(),
                Primitive::Frame => "Frame".to_owned(),
                _ => "number".to_owned(),
            },
            TypeExpr::Named(name) => self.ident(name),
        }
    }

    fn field(&self, name: &str, def: &FieldDef) -> TsField {
        let (expr, suffix) = parse_field(&def.ty.value);
        let mut docs = doc_lines(def.docs.as_ref());
        let rules = crate::docs::rules(&def.rules);
        if !rules.is_empty() {
            if !docs.is_empty() {
                docs.push(String::new());
            }
            docs.push(format!(
                "Checked by the server: {}.",
                rules.replace("*/", "*\\/")
            ));
        }
        if expr.primitive().is_some_and(is_64_bit) {
            if !docs.is_empty() {
                docs.push(String::new());
            }
            docs.push("A 64-bit integer: exact up to 2^53 in JavaScript.".to_owned());
        }
        TsField {
            prop: prop(name),
            ty: self.field_type(&expr),
            optional: def.optional || suffix,
            docs: comment(docs),
        }
    }

    fn fields(&self, fields: &Map<FieldDef>) -> Vec<TsField> {
        fields
            .iter()
            .map(|(name, def)| self.field(&name.value, def))
            .collect()
    }

    fn ty(&self, ident: &str, def: &TypeDef, kind: TypeKind) -> TsType {
        let mut ty = TsType {
            ident: ident.to_owned(),
            docs: comment(doc_lines(def.docs.as_ref())),
            kind,
            fields: Vec::new(),
            values: Vec::new(),
            variants: Vec::new(),
        };
        if let Some(fields) = &def.fields {
            ty.fields = self.fields(fields);
        }
        if let Some(values) = &def.values {
            ty.values = values.iter().map(|v| literal(&v.value)).collect();
        }
        if let Some(union) = &def.union {
            let tag = union.tag.as_ref().map_or("type", |t| t.value.as_str());
            ty.variants = union
                .variants
                .iter()
                .map(|(value, variant)| {
                    let tag = format!("{}: {}", prop(tag), literal(&value.value));
                    match variant {
                        VariantDef::Type(name) => TsVariant {
                            docs: Vec::new(),
                            tag,
                            carries: if self.empty.contains(&name.value.as_str()) {
                                String::new()
                            } else {
                                self.ident(&name.value)
                            },
                            fields: Vec::new(),
                        },
                        VariantDef::Inline(inline) => TsVariant {
                            docs: comment(doc_lines(inline.docs.as_ref())),
                            tag,
                            carries: String::new(),
                            fields: self.fields(&inline.fields),
                        },
                    }
                })
                .collect();
        }
        ty
    }

    /// How one direction of an endpoint travels; `None` for "nothing".
    fn message(&self, ty: Option<&str>) -> TsMessage {
        let text = ty.map_or("string", str::trim);
        let (ty, encode, decode) = match Primitive::from_name(text) {
            Some(Primitive::String) => ("string".to_owned(), "message", "decoders.text".to_owned()),
            Some(Primitive::Bytes) => (
                "Uint8Array".to_owned(),
                "message",
                "decoders.bytes".to_owned(),
            ),
            Some(Primitive::Frame) => ("Frame".to_owned(), "message", "decoders.frame".to_owned()),
            Some(Primitive::Bool) => (
                "boolean".to_owned(),
                "String(message)",
                "decoders.bool".to_owned(),
            ),
            Some(Primitive::Json) => (
                "Json".to_owned(),
                "JSON.stringify(message)",
                "(frame: Frame) => decoders.json(frame) as Json".to_owned(),
            ),
            Some(Primitive::Float | Primitive::F32 | Primitive::F64) => (
                "number".to_owned(),
                "String(message)",
                "decoders.float".to_owned(),
            ),
            Some(_) => (
                "number".to_owned(),
                "String(message)",
                "decoders.number".to_owned(),
            ),
            None => {
                let ident = self.ident(text);
                // An enum or union the client does not know all of (a newer server) is a
                // `DecodeError`, as in the Rust client, not a value outside its declared type.
                let decode = match self.variants.iter().find(|(name, _, _)| *name == text) {
                    Some((_, tag, known)) => format!(
                        "(frame: Frame) => decoders.variant(frame, {}, [{}]) as {ident}",
                        tag.as_deref().unwrap_or("null"),
                        known.join(", ")
                    ),
                    None => format!("(frame: Frame) => decoders.json(frame) as {ident}"),
                };
                (ident, "JSON.stringify(message)", decode)
            }
        };
        TsMessage {
            ty,
            encode: encode.to_owned(),
            decode,
        }
    }
}

fn input_type(def: &FieldDef) -> &'static str {
    match parse_field(&def.ty.value).0.primitive() {
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

fn inputs(ir: Option<&InputsIr>, defs: &Map<FieldDef>, what: &str) -> Option<TsInputs> {
    let ir = ir?;
    Some(TsInputs {
        ident: ir.ident.clone(),
        what: what.to_owned(),
        fields: defs
            .iter()
            .map(|(name, def)| TsField {
                prop: prop(&name.value),
                ty: input_type(def).to_owned(),
                optional: def.is_optional(),
                docs: comment(doc_lines(def.docs.as_ref())),
            })
            .collect(),
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
fn path_expr(path: &str) -> String {
    if !path.contains('{') {
        return literal(path);
    }
    let mut out = String::from("`");
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => out.push_str(&format!(
                "${{Connection.segment({})}}",
                access("params", name)
            )),
            None => {
                for c in segment.chars() {
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

fn endpoint(
    spec: &Spec,
    ir: &Ir,
    e: &EndpointIr,
    def: &crate::spec::EndpointDef,
    lowering: &Lowering<'_>,
) -> TsEndpoint {
    let receives = e
        .client_receives
        .then(|| lowering.message(def.send.as_ref().map(|s| s.value.as_str())));
    let sends = e
        .client_sends
        .then(|| lowering.message(def.receive.as_ref().map(|r| r.value.as_str())));
    let error_ty = match (e.error_replies, e.client_receives) {
        (true, _) => "RejectedError | DecodeError",
        (false, true) => "DecodeError",
        (false, false) => "never",
    };
    TsEndpoint {
        qualified: e.qualified.clone(),
        docs: {
            let mut lines = doc_lines(def.docs.as_ref());
            if !lines.is_empty() {
                lines.push(String::new());
            }
            let flow = match e.mode.as_str() {
                "send_only" => "the server sends, this client listens",
                "receive_only" => "this client sends, the server answers nothing",
                _ => "both sides send",
            };
            lines.push(format!(
                "A typed client for `{}` at `{}`: {flow}.",
                e.qualified, e.path
            ));
            let headers = browser_cannot_send(spec, ir, e);
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
        path: e.path.clone(),
        path_lit: literal(&e.path),
        path_expr: path_expr(&e.path),
        mode: e.mode.clone(),
        close_type: e.close_enum.clone(),
        connection_ty: connection_ty(e),
        params: inputs(e.params.as_ref(), &def.params, "Path parameters"),
        query: inputs(e.query.as_ref(), &def.query, "Query parameters"),
        query_entries: def
            .query
            .iter()
            .map(|(name, def)| {
                let value = access("query", &name.value);
                TsQueryEntry {
                    name_lit: literal(&name.value),
                    value: if def.is_optional() {
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
        envelope_lit: if e.envelope { "true" } else { "false" },
        error_replies_lit: if e.error_replies { "true" } else { "false" },
        error_replies: e.error_replies,
        handshake: def
            .handshake
            .as_ref()
            .map(|h| (literal(&h.expect.value), literal(&h.reply.value))),
        close: e
            .close
            .iter()
            .zip(def.close.iter())
            .map(|(c, (_, d))| TsClose {
                condition_lit: literal(&c.variant),
                code: c.code,
                reason_lit: literal(&c.reason),
                docs: comment(doc_lines(d.docs.as_ref())),
            })
            .collect(),
        client: e.client.clone(),
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
fn browser_cannot_send<'a>(spec: &'a Spec, ir: &Ir, e: &EndpointIr) -> Vec<(&'a str, &'a str)> {
    e.middleware
        .iter()
        .filter_map(|method| ir.middleware.iter().find(|m| &m.method == method))
        .filter_map(|m| {
            spec.middleware
                .iter()
                .find(|(name, _)| name.value == m.name)
        })
        .flat_map(|(name, def)| def.headers.iter().map(move |h| (name.value.as_str(), h)))
        .filter(|(_, h)| !BROWSER_HEADERS.contains(&h.value.to_ascii_lowercase().as_str()))
        .map(|(name, h)| (name, h.value.as_str()))
        .collect()
}

/// What `wsgen check --target typescript` warns about: every endpoint whose middleware reads a
/// header that a browser cannot send with a WebSocket.
pub fn browser_warnings(spec: &Spec, ir: &Ir) -> Vec<String> {
    ir.endpoints
        .iter()
        .flat_map(|e| {
            browser_cannot_send(spec, ir, e).into_iter().map(|(middleware, header)| {
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

/// The module-private alias for an endpoint's connection type (`type_param` is the endpoint's
/// own name).
fn connection_ty(e: &EndpointIr) -> String {
    format!("{}Connection", e.type_param)
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

/// The model of the module; a spec name that would shadow one of the module's own names is an
/// error at that name.
pub fn model(spec: &Spec, ir: &Ir, source: &Source) -> Result<TsModule, Diagnostics> {
    let defs = spec.type_defs();
    let lowering = Lowering {
        idents: defs
            .iter()
            .zip(&ir.types)
            .map(|((name, _), t)| (*name, t.ident.as_str()))
            .collect(),
        empty: defs
            .iter()
            .zip(&ir.types)
            .filter(|((_, def), t)| {
                t.kind == TypeKind::Struct
                    && def
                        .fields
                        .as_ref()
                        .is_none_or(|f| f.iter().next().is_none())
            })
            .map(|((name, _), _)| *name)
            .collect(),
        variants: defs
            .iter()
            .filter_map(|(name, def)| {
                if let Some(values) = &def.values {
                    let known = values.iter().map(|v| literal(&v.value)).collect();
                    return Some((*name, None, known));
                }
                let union = def.union.as_ref()?;
                let tag = union.tag.as_ref().map_or("type", |t| t.value.as_str());
                let known = union
                    .variants
                    .iter()
                    .map(|(k, _)| literal(&k.value))
                    .collect();
                Some((*name, Some(literal(tag)), known))
            })
            .collect(),
    };
    let mut errors = Vec::new();
    let mut error = |at: &crate::spec::Spanned<String>, message: String, hint: &str| {
        let mut d = Diagnostic::at(source, at.referenced, message);
        d.hint = Some(hint.to_owned());
        errors.push(d);
    };
    let shadows = |what: &str, name: &str, ident: &str| {
        format!(
            "{what} `{name}` becomes the TypeScript name `{ident}`, which the TypeScript client needs for its own `{ident}`"
        )
    };
    for ((name, _), t) in spec.types.iter().zip(&ir.types) {
        if is_reserved(&t.ident) {
            error(name, shadows("type", &name.value, &t.ident), "rename it");
        }
    }
    let endpoint_names = spec
        .controllers
        .iter()
        .flat_map(|(_, c)| c.endpoints.iter().map(|(name, _)| name));
    for (name, e) in endpoint_names.zip(&ir.endpoints) {
        let mut names = vec![e.client.as_str(), e.close_enum.as_str()];
        names.extend(e.params.as_ref().map(|p| p.ident.as_str()));
        names.extend(e.query.as_ref().map(|q| q.ident.as_str()));
        for ident in names.into_iter().filter(|i| is_reserved(i)) {
            error(name, shadows("endpoint", &name.value, ident), "rename it");
        }
        // The one name only the TypeScript client generates must not be a spec type's.
        let alias = connection_ty(e);
        if ir.types.iter().any(|t| t.ident == alias) {
            let message = format!(
                "endpoint `{}` needs the TypeScript name `{alias}`, which is also a type's",
                name.value
            );
            error(name, message, "rename the endpoint or the type");
        }
    }
    if !errors.is_empty() {
        return Err(Diagnostics(errors));
    }
    let types = defs
        .iter()
        .zip(&ir.types)
        .map(|((_, def), t)| lowering.ty(&t.ident, def, t.kind))
        .collect();
    let endpoints: Vec<TsEndpoint> = ir
        .endpoints
        .iter()
        .zip(spec.endpoint_defs())
        .map(|(e, def)| endpoint(spec, ir, e, def, &lowering))
        .collect();
    let (imports, exports) = core_names(&endpoints);
    Ok(TsModule {
        spec_file: ir.spec_file.clone(),
        name: ir.name.clone(),
        docs: comment(doc_lines(spec.docs.as_ref())),
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
        assert_eq!(path_expr("/a/b"), "\"/a/b\"");
        assert_eq!(
            path_expr("/rooms/{room-id}/x`$"),
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
