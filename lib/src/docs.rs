//! `wsgen docs`: a Markdown reference of an API — endpoints, modes, messages with JSON
//! examples, close codes, limits — from a validated spec. The model below is all the template
//! sees; every sentence fragment is decided here. Deterministic: spec order throughout.

use std::path::Path;

use serde::Serialize;

use crate::error::Error;
use crate::ir::Ir;
use crate::spec::{Amount, EndpointDef, FieldDef, LimitsDef, Rules, Spec, TypeDef, VariantDef};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};

/// The template the reference is rendered from.
pub const TEMPLATE: &str = "docs.md.j2";

/// Everything the docs template sees.
#[derive(Debug, Serialize)]
pub struct Docs {
    pub name: String,
    pub docs: String,
    pub limits: Vec<Row>,
    pub endpoints: Vec<DocEndpoint>,
    pub types: Vec<DocType>,
}

/// A name and a value, for key/value tables.
#[derive(Debug, Serialize)]
pub struct Row {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct DocEndpoint {
    pub qualified: String,
    pub anchor: String,
    pub path: String,
    pub docs: String,
    pub mode: String,
    /// Facts about the endpoint, as table rows.
    pub facts: Vec<Row>,
    pub params: Vec<DocField>,
    pub query: Vec<DocField>,
    pub close: Vec<DocClose>,
}

#[derive(Debug, Serialize)]
pub struct DocClose {
    pub name: String,
    pub code: u16,
    pub reason: String,
    pub docs: String,
}

#[derive(Debug, Serialize)]
pub struct DocField {
    pub name: String,
    pub ty: String,
    pub required: bool,
    pub rules: String,
    pub docs: String,
}

#[derive(Debug, Serialize)]
pub struct DocType {
    pub name: String,
    pub anchor: String,
    pub kind: String,
    pub docs: String,
    pub fields: Vec<DocField>,
    pub values: Vec<String>,
    pub tag: String,
    pub variants: Vec<DocVariant>,
    /// One JSON example (structs and enums; unions have one per variant).
    pub example: String,
}

#[derive(Debug, Serialize)]
pub struct DocVariant {
    pub tag_value: String,
    pub carries: String,
    pub docs: String,
    pub example: String,
}

/// The Markdown reference for the spec at `path`.
pub fn docs(path: &Path) -> Result<String, Error> {
    let (spec, ir) = crate::load_with_spec(path)?;
    let model = model(&spec, &ir);
    let mut text = crate::render::render_with(TEMPLATE, &model)?;
    while text.ends_with("\n\n") {
        text.pop();
    }
    Ok(text)
}

/// Text for a table cell: one line, with `|` escaped so that it cannot end the cell.
fn cell(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace('|', "\\|")
}

fn text(docs: Option<&String>) -> String {
    docs.map(|d| d.trim().to_owned()).unwrap_or_default()
}

/// A GitHub-style heading anchor.
fn anchor(heading: &str) -> String {
    heading
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            'a'..='z' | '0'..='9' | '-' | '_' => Some(c),
            ' ' => Some('-'),
            _ => None,
        })
        .collect()
}

/// The model of the whole reference.
pub fn model(spec: &Spec, ir: &Ir) -> Docs {
    let defs = spec.type_defs();
    let endpoints = ir
        .endpoints
        .iter()
        .zip(spec.endpoint_defs())
        .map(|(e, def)| endpoint(e, def, &defs))
        .collect();
    let types = defs
        .iter()
        .map(|(name, def)| doc_type(name, def, &defs))
        .collect();
    Docs {
        name: spec.name.value.clone(),
        docs: text(spec.docs.as_ref()),
        limits: spec.limits.as_ref().map(limit_rows).unwrap_or_default(),
        endpoints,
        types,
    }
}

fn message(ty: Option<&str>, defs: &[(&str, &TypeDef)]) -> String {
    match ty.unwrap_or("string") {
        "string" => "text frame (`string`)".to_owned(),
        "bytes" => "binary frame (`bytes`)".to_owned(),
        "frame" => "text or binary frame, as it comes (`frame`)".to_owned(),
        "json" => "any JSON, in a text frame (`json`)".to_owned(),
        name if defs.iter().any(|(n, _)| *n == name) => {
            format!("[`{name}`](#{}) as JSON, in a text frame", anchor(name))
        }
        other => format!("`{other}`"),
    }
}

fn endpoint(
    e: &crate::ir::EndpointIr,
    def: &EndpointDef,
    defs: &[(&str, &TypeDef)],
) -> DocEndpoint {
    let mut facts = Vec::new();
    let mut row = |key: &str, value: String| {
        facts.push(Row {
            key: key.to_owned(),
            value: cell(&value),
        })
    };
    let mode = match e.mode.as_str() {
        "receive_only" => "receive only: clients send, the server does not",
        "send_only" => "send only: the server sends, clients do not",
        _ => "two way: both sides send",
    };
    if e.client_sends {
        row(
            "client sends",
            message(def.receive.as_ref().map(|r| r.value.as_str()), defs),
        );
    }
    if e.client_receives {
        row(
            "server sends",
            message(def.send.as_ref().map(|s| s.value.as_str()), defs),
        );
    }
    if def.reply.as_ref().is_some_and(|r| r.value) {
        row(
            "replies",
            "every message is answered with one message".to_owned(),
        );
    }
    if let Some(h) = &def.handshake {
        let (code, reason) = h.failure_close();
        row(
            "handshake",
            format!(
                "the first message must be the text `{}`, answered with `{}`; anything else closes the connection with {code} `{reason}`",
                h.expect.value, h.reply.value
            ),
        );
    }
    if let Some(p) = &def.ping {
        row(
            "keepalive",
            format!(
                "a ping every {}; no answer within {} closes the connection",
                p.every.value, p.timeout.value
            ),
        );
    }
    let invalid = match def.on_invalid.as_ref().map(|p| p.value) {
        Some(crate::spec::InvalidPolicy::Drop) => "dropped; the connection stays open",
        Some(crate::spec::InvalidPolicy::ReplyError) => {
            "answered with `{\"statusCode\": 400, \"body\": {\"errorList\": [{\"loc\", \"type\", \"msg\"}]}}`; the connection stays open"
        }
        _ => "closes the connection (1003 for the wrong frame kind, 1007 for a bad payload)",
    };
    if e.client_sends {
        row("invalid message", invalid.to_owned());
    }
    if def.envelope.is_some() {
        row(
            "envelope",
            "sent messages travel as `{\"statusCode\": 200, \"body\": <message>}`".to_owned(),
        );
    }
    if !e.middleware.is_empty() {
        row(
            "before the upgrade",
            format!(
                "middleware {}, which may refuse with an HTTP status",
                e.middleware
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
    }
    for limit in def.limits.as_ref().map(limit_rows).unwrap_or_default() {
        row(&format!("limit: {}", limit.key), limit.value);
    }
    let close = e
        .close
        .iter()
        .zip(def.close.iter())
        .map(|(c, (n, d))| DocClose {
            name: n.value.clone(),
            code: c.code,
            reason: if c.runtime_reason {
                "given by the handler".to_owned()
            } else {
                cell(&c.reason)
            },
            docs: cell(&text(d.docs.as_ref())),
        })
        .collect();
    let fields = |map: &crate::spec::Map<FieldDef>| {
        map.iter()
            .map(|(n, f)| field(&n.value, f))
            .collect::<Vec<_>>()
    };
    DocEndpoint {
        anchor: anchor(&e.qualified),
        qualified: e.qualified.clone(),
        path: e.path.clone(),
        docs: text(def.docs.as_ref()),
        mode: mode.to_owned(),
        facts,
        params: fields(&def.params),
        query: fields(&def.query),
        close,
    }
}

fn limit_rows(limits: &LimitsDef) -> Vec<Row> {
    let size = |a: &Amount| match a {
        Amount::Bytes(n) => format!("{n} bytes"),
        Amount::Text(t) => t.clone(),
    };
    let mut rows = Vec::new();
    let mut push = |key: &str, value: Option<String>| {
        if let Some(value) = value {
            rows.push(Row {
                key: key.to_owned(),
                value,
            });
        }
    };
    push(
        "max_message_size",
        limits.max_message_size.as_ref().map(|s| size(&s.value)),
    );
    push(
        "max_frame_size",
        limits.max_frame_size.as_ref().map(|s| size(&s.value)),
    );
    push(
        "read_buffer",
        limits.read_buffer.as_ref().map(|s| size(&s.value)),
    );
    push(
        "send_queue",
        limits.send_queue.as_ref().map(|s| s.value.to_string()),
    );
    push(
        "slow_consumer",
        limits.slow_consumer.as_ref().map(|s| {
            match s.value {
                crate::spec::SlowConsumerDef::TryAgainLater => "close with 1013",
                crate::spec::SlowConsumerDef::PolicyViolation => "close with 1008",
                crate::spec::SlowConsumerDef::Reject => "refuse the push, keep the connection",
            }
            .to_owned()
        }),
    );
    push(
        "max_messages_per_second",
        limits.max_messages_per_second.as_ref().map(|s| {
            let burst = limits.burst.as_ref().map_or(s.value, |b| b.value);
            let over = match limits.rate_exceeded.as_ref().map(|r| r.value) {
                Some(crate::spec::RateExceededDef::Drop) => "dropped",
                Some(crate::spec::RateExceededDef::Close) | None => "closes with 1008",
            };
            format!(
                "{} (bursts of {burst}); a message over the rate {over}",
                s.value
            )
        }),
    );
    push(
        "idle_timeout",
        limits.idle_timeout.as_ref().map(|s| s.value.clone()),
    );
    push(
        "write_timeout",
        limits.write_timeout.as_ref().map(|s| s.value.clone()),
    );
    push(
        "close_timeout",
        limits.close_timeout.as_ref().map(|s| s.value.clone()),
    );
    push(
        "max_header_size",
        limits.max_header_size.as_ref().map(|s| size(&s.value)),
    );
    push(
        "max_connections",
        limits.max_connections.as_ref().map(|s| s.value.to_string()),
    );
    push(
        "handshake_timeout",
        limits.handshake_timeout.as_ref().map(|s| s.value.clone()),
    );
    push(
        "shutdown_timeout",
        limits.shutdown_timeout.as_ref().map(|s| s.value.clone()),
    );
    rows
}

/// The validation rules of a field, in words (`1 to 20 characters; matches `^[a-z]+$``).
pub(crate) fn rules(r: &Rules) -> String {
    let mut out = Vec::new();
    match (&r.min_length, &r.max_length) {
        (Some(a), Some(b)) => out.push(format!("{} to {} characters", a.value, b.value)),
        (Some(a), None) => out.push(format!("at least {} characters", a.value)),
        (None, Some(b)) => out.push(format!("at most {} characters", b.value)),
        (None, None) => {}
    }
    if let Some(p) = &r.pattern {
        out.push(format!("matches `{}`", p.value));
    }
    if let Some(v) = &r.one_of {
        out.push(format!(
            "one of {}",
            v.value
                .iter()
                .map(|x| format!("`{x}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if let Some(m) = &r.min {
        out.push(format!(">= {}", m.value));
    }
    if let Some(m) = &r.max {
        out.push(format!("<= {}", m.value));
    }
    if let Some(m) = &r.min_items {
        out.push(format!("at least {} items", m.value));
    }
    if let Some(m) = &r.max_items {
        out.push(format!("at most {} items", m.value));
    }
    out.join("; ")
}

fn field(name: &str, f: &FieldDef) -> DocField {
    let ty = f.ty.value.trim();
    DocField {
        name: name.to_owned(),
        ty: cell(ty.trim_end_matches('?').trim()),
        required: !f.is_optional(),
        rules: cell(&rules(&f.rules)),
        docs: cell(&text(f.docs.as_ref())),
    }
}

/// A JSON example value, kept in field order.
enum Example {
    Text(String),
    Raw(String),
    List(Vec<Example>),
    Object(Vec<(String, Example)>),
}

impl Example {
    fn write(&self, out: &mut String) {
        match self {
            Example::Text(t) => out.push_str(&serde_json::to_string(t).unwrap_or_default()),
            Example::Raw(r) => out.push_str(r),
            Example::List(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Example::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&serde_json::to_string(k).unwrap_or_default());
                    out.push_str(": ");
                    v.write(out);
                }
                out.push('}');
            }
        }
    }

    fn json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }
}

/// How deep examples of nested types go: deeper optional fields, list items and map entries
/// are left out, and a declared type that deep (reached through a required field that leads
/// back to its own type) is shown as `{}`.
const DEPTH: usize = 3;

/// The longest example string (a `min_length` beyond it is not spelled out).
const LONGEST_TEXT: usize = 64;

fn example_of(ty: &str, rules: Option<&Rules>, defs: &[(&str, &TypeDef)], depth: usize) -> Example {
    example_of_expr(&parse_field(ty).0, rules, defs, depth)
}

fn example_of_expr(
    expr: &TypeExpr<'_>,
    rules: Option<&Rules>,
    defs: &[(&str, &TypeDef)],
    depth: usize,
) -> Example {
    let number = |default: f64| {
        let min = rules.and_then(|r| r.min.as_ref()).map(|m| m.value.as_f64());
        let max = rules.and_then(|r| r.max.as_ref()).map(|m| m.value.as_f64());
        let mut v = min.unwrap_or(default);
        if let Some(max) = max {
            v = v.min(max);
        }
        v
    };
    match expr {
        TypeExpr::List(inner) => {
            let none = rules
                .and_then(|r| r.max_items.as_ref())
                .is_some_and(|m| m.value == 0);
            if none || depth >= DEPTH {
                Example::List(Vec::new())
            } else {
                Example::List(vec![example_of_expr(inner, None, defs, depth + 1)])
            }
        }
        TypeExpr::Map(_) if depth >= DEPTH => Example::Object(Vec::new()),
        TypeExpr::Map(inner) => Example::Object(vec![(
            "key".to_owned(),
            example_of_expr(inner, None, defs, depth + 1),
        )]),
        TypeExpr::Primitive(Primitive::String | Primitive::Frame) => {
            if let Some(first) = rules
                .and_then(|r| r.one_of.as_ref())
                .and_then(|o| o.value.first())
            {
                return Example::Text(first.clone());
            }
            let min = rules
                .and_then(|r| r.min_length.as_ref())
                .map_or(0, |m| m.value as usize);
            let max = rules
                .and_then(|r| r.max_length.as_ref())
                .map_or(usize::MAX, |m| m.value as usize);
            let word = if (min..=max).contains(&4) {
                "text".to_owned()
            } else {
                "x".repeat(min.max(1).min(max).min(LONGEST_TEXT))
            };
            Example::Text(word)
        }
        TypeExpr::Primitive(Primitive::Bytes) => {
            Example::List(vec![Example::Raw("1".into()), Example::Raw("2".into())])
        }
        TypeExpr::Primitive(Primitive::Bool) => Example::Raw("true".into()),
        TypeExpr::Primitive(Primitive::Json) => Example::Object(Vec::new()),
        TypeExpr::Primitive(p) if p.is_float() => Example::Raw(format!("{}", number(1.5))),
        TypeExpr::Primitive(_) => Example::Raw(format!("{}", number(1.0).round() as i64)),
        TypeExpr::Named(name) => match defs.iter().find(|(n, _)| n == name) {
            Some(_) if depth >= DEPTH => Example::Object(Vec::new()),
            Some((_, def)) => example_of_type(def, defs, depth),
            None => Example::Raw("null".into()),
        },
    }
}

fn object_fields(
    fields: &crate::spec::Map<FieldDef>,
    defs: &[(&str, &TypeDef)],
    depth: usize,
) -> Vec<(String, Example)> {
    fields
        .iter()
        .filter(|(_, f)| !(f.is_optional() && depth >= 1))
        .map(|(n, f)| {
            (
                n.value.clone(),
                example_of(&f.ty.value, Some(&f.rules), defs, depth + 1),
            )
        })
        .collect()
}

fn example_of_type(def: &TypeDef, defs: &[(&str, &TypeDef)], depth: usize) -> Example {
    if let Some(values) = &def.values {
        return Example::Text(values.first().map(|v| v.value.clone()).unwrap_or_default());
    }
    if let Some(union) = &def.union {
        return match union.variants.iter().next() {
            Some((tag, variant)) => {
                variant_example(union_tag(def), &tag.value, variant, defs, depth)
            }
            None => Example::Object(Vec::new()),
        };
    }
    match &def.fields {
        Some(fields) => Example::Object(object_fields(fields, defs, depth)),
        None => Example::Object(Vec::new()),
    }
}

fn union_tag(def: &TypeDef) -> String {
    def.union
        .as_ref()
        .and_then(|u| u.tag.as_ref())
        .map_or_else(|| "type".to_owned(), |t| t.value.clone())
}

fn variant_example(
    tag: String,
    value: &str,
    variant: &VariantDef,
    defs: &[(&str, &TypeDef)],
    depth: usize,
) -> Example {
    let mut fields = vec![(tag, Example::Text(value.to_owned()))];
    match variant {
        VariantDef::Type(name) => {
            if let Some((_, def)) = defs.iter().find(|(n, _)| *n == name.value) {
                if let Some(f) = &def.fields {
                    fields.extend(object_fields(f, defs, depth));
                }
            }
        }
        VariantDef::Inline(inline) => fields.extend(object_fields(&inline.fields, defs, depth)),
    }
    Example::Object(fields)
}

fn doc_type(name: &str, def: &TypeDef, defs: &[(&str, &TypeDef)]) -> DocType {
    let mut doc = DocType {
        name: name.to_owned(),
        anchor: anchor(name),
        kind: "struct".to_owned(),
        docs: text(def.docs.as_ref()),
        fields: Vec::new(),
        values: Vec::new(),
        tag: String::new(),
        variants: Vec::new(),
        example: String::new(),
    };
    if let Some(values) = &def.values {
        doc.kind = "enum".to_owned();
        doc.values = values.iter().map(|v| v.value.clone()).collect();
        doc.example = example_of_type(def, defs, 0).json();
    } else if let Some(union) = &def.union {
        doc.kind = "union".to_owned();
        doc.tag = union_tag(def);
        doc.variants = union
            .variants
            .iter()
            .map(|(tag, variant)| {
                let (carries, docs) = match variant {
                    VariantDef::Type(t) => (
                        format!("the fields of [`{}`](#{})", t.value, anchor(&t.value)),
                        String::new(),
                    ),
                    VariantDef::Inline(inline) if inline.fields.0.is_empty() => {
                        ("nothing".to_owned(), text(inline.docs.as_ref()))
                    }
                    VariantDef::Inline(inline) => (
                        inline
                            .fields
                            .iter()
                            .map(|(n, f)| format!("`{}`: `{}`", n.value, f.ty.value.trim()))
                            .collect::<Vec<_>>()
                            .join(", "),
                        text(inline.docs.as_ref()),
                    ),
                };
                DocVariant {
                    tag_value: tag.value.clone(),
                    carries: cell(&carries),
                    docs: cell(&docs),
                    example: variant_example(doc.tag.clone(), &tag.value, variant, defs, 0).json(),
                }
            })
            .collect();
    } else if let Some(fields) = &def.fields {
        doc.fields = fields.iter().map(|(n, f)| field(&n.value, f)).collect();
        doc.example = example_of_type(def, defs, 0).json();
    }
    doc
}
