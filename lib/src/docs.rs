//! `wsgen docs`: a Markdown reference of an API — endpoints, modes, messages with JSON
//! examples, close codes, limits — from the typed [`Model`] of a validated spec. The `Docs`
//! structs below are all the template sees; every sentence fragment is decided here.
//! Deterministic: spec order throughout.

use std::path::Path;

use serde::Serialize;

use crate::error::Error;
use crate::model::{
    Carries, Endpoint, Field, InvalidPolicy, Limits, Mode, Model, Primitive, Rules, Size,
    SlowConsumer, TypeBody, TypeDecl, TypeRef,
};

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
    let (_, model) = crate::lower_model(&crate::load::load(path)?)?;
    let docs = reference(&model);
    let mut text = crate::render::render_with(TEMPLATE, &docs)?;
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
fn reference(m: &Model) -> Docs {
    Docs {
        name: m.name.clone(),
        docs: text(m.docs.as_ref()),
        limits: limit_rows(&m.limits),
        endpoints: m.endpoints.iter().map(|e| endpoint(m, e)).collect(),
        types: m.types.iter().map(|t| doc_type(m, t)).collect(),
    }
}

/// A type as the spec writes it.
fn spelled(m: &Model, ty: &TypeRef) -> String {
    match ty {
        TypeRef::Primitive(p) => p.name().to_owned(),
        TypeRef::List(inner) => format!("list<{}>", spelled(m, inner)),
        TypeRef::Map(inner) => format!("map<{}>", spelled(m, inner)),
        TypeRef::Optional(inner) => format!("{}?", spelled(m, inner)),
        TypeRef::Named(id) => m.ty(*id).name.clone(),
    }
}

fn message(m: &Model, ty: &TypeRef) -> String {
    match ty {
        TypeRef::Primitive(Primitive::String) => "text frame (`string`)".to_owned(),
        TypeRef::Primitive(Primitive::Bytes) => "binary frame (`bytes`)".to_owned(),
        TypeRef::Primitive(Primitive::Frame) => {
            "text or binary frame, as it comes (`frame`)".to_owned()
        }
        TypeRef::Primitive(Primitive::Json) => "any JSON, in a text frame (`json`)".to_owned(),
        TypeRef::Named(id) => {
            let name = &m.ty(*id).name;
            format!("[`{name}`](#{}) as JSON, in a text frame", anchor(name))
        }
        other => format!("`{}`", spelled(m, other)),
    }
}

fn endpoint(m: &Model, e: &Endpoint) -> DocEndpoint {
    let mut facts = Vec::new();
    let mut row = |key: &str, value: String| {
        facts.push(Row {
            key: key.to_owned(),
            value: cell(&value),
        })
    };
    let mode = match e.mode {
        Mode::ReceiveOnly => "receive only: clients send, the server does not",
        Mode::SendOnly => "send only: the server sends, clients do not",
        Mode::TwoWay => "two way: both sides send",
    };
    if let Some(receives) = &e.receives {
        row("client sends", message(m, receives));
    }
    if let Some(sends) = &e.sends {
        row("server sends", message(m, sends));
    }
    if e.reply {
        row(
            "replies",
            "every message is answered with one message".to_owned(),
        );
    }
    if let Some(h) = &e.handshake {
        row(
            "handshake",
            format!(
                "the first message must be the text `{}`, answered with `{}`; anything else closes the connection with {} `{}`",
                h.expect, h.reply, h.close_code, h.close_reason
            ),
        );
    }
    if let Some(p) = &e.ping {
        row(
            "keepalive",
            format!(
                "a ping every {}; no answer within {} closes the connection",
                p.every.written, p.timeout.written
            ),
        );
    }
    let invalid = match e.on_invalid {
        InvalidPolicy::Drop => "dropped; the connection stays open",
        InvalidPolicy::ReplyError => {
            "answered with `{\"statusCode\": 400, \"body\": {\"errorList\": [{\"loc\", \"type\", \"msg\"}]}}`; the connection stays open"
        }
        InvalidPolicy::Close => {
            "closes the connection (1003 for the wrong frame kind, 1007 for a bad payload)"
        }
    };
    if e.receives.is_some() {
        row("invalid message", invalid.to_owned());
    }
    if e.envelope.is_some() {
        row(
            "envelope",
            "sent messages travel as `{\"statusCode\": 200, \"body\": <message>}`".to_owned(),
        );
    }
    let middleware: Vec<String> = m
        .middleware_of(e)
        .map(|mw| format!("`{}`", mw.method))
        .collect();
    if !middleware.is_empty() {
        row(
            "before the upgrade",
            format!(
                "middleware {}, which may refuse with an HTTP status",
                middleware.join(", ")
            ),
        );
    }
    for limit in limit_rows(&e.limits) {
        row(&format!("limit: {}", limit.key), limit.value);
    }
    let close = e
        .close
        .iter()
        .map(|c| DocClose {
            name: c.name.clone(),
            code: c.code,
            reason: if c.runtime_reason {
                "given by the handler".to_owned()
            } else {
                cell(&c.reason)
            },
            docs: cell(&text(c.docs.as_ref())),
        })
        .collect();
    DocEndpoint {
        anchor: anchor(&e.qualified),
        qualified: e.qualified.clone(),
        path: e.path.to_string(),
        docs: text(e.docs.as_ref()),
        mode: mode.to_owned(),
        facts,
        params: e.params.iter().map(field).collect(),
        query: e.query.iter().map(field).collect(),
        close,
    }
}

fn limit_rows(limits: &Limits) -> Vec<Row> {
    let size = |s: &Size| match &s.written {
        Some(text) => text.clone(),
        None => format!("{} bytes", s.bytes),
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
        limits.max_message_size.as_ref().map(size),
    );
    push("max_frame_size", limits.max_frame_size.as_ref().map(size));
    push("read_buffer", limits.read_buffer.as_ref().map(size));
    push("send_queue", limits.send_queue.map(|n| n.to_string()));
    push(
        "slow_consumer",
        limits.slow_consumer.map(|s| {
            match s {
                SlowConsumer::TryAgainLater => "close with 1013",
                SlowConsumer::PolicyViolation => "close with 1008",
                SlowConsumer::Reject => "refuse the push, keep the connection",
            }
            .to_owned()
        }),
    );
    push(
        "max_messages_per_second",
        limits.message_rate.map(|rate| {
            let over = if rate.drop {
                "is dropped"
            } else {
                "closes with 1008"
            };
            format!(
                "{} (bursts of {}); a message over the rate {over}",
                rate.per_second, rate.burst
            )
        }),
    );
    let written = |d: &crate::model::Duration| d.written.clone();
    push("idle_timeout", limits.idle_timeout.as_ref().map(written));
    push("write_timeout", limits.write_timeout.as_ref().map(written));
    push("close_timeout", limits.close_timeout.as_ref().map(written));
    push("max_header_size", limits.max_header_size.as_ref().map(size));
    push(
        "max_connections",
        limits.max_connections.map(|n| n.to_string()),
    );
    push(
        "handshake_timeout",
        limits.handshake_timeout.as_ref().map(written),
    );
    push(
        "shutdown_timeout",
        limits.shutdown_timeout.as_ref().map(written),
    );
    rows
}

fn field(f: &Field) -> DocField {
    DocField {
        name: f.name.clone(),
        ty: cell(f.written.trim().trim_end_matches('?').trim()),
        required: !f.is_optional(),
        rules: cell(&f.rules.describe()),
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

fn example_of(m: &Model, ty: &TypeRef, rules: Option<&Rules>, depth: usize) -> Example {
    let number = |default: f64| {
        let min = rules.and_then(|r| r.min).map(|n| n.as_f64());
        let max = rules.and_then(|r| r.max).map(|n| n.as_f64());
        let mut v = min.unwrap_or(default);
        if let Some(max) = max {
            v = v.min(max);
        }
        v
    };
    match ty {
        TypeRef::Optional(inner) => example_of(m, inner, rules, depth),
        TypeRef::List(inner) => {
            let none = rules.is_some_and(|r| r.max_items == Some(0));
            if none || depth >= DEPTH {
                Example::List(Vec::new())
            } else {
                Example::List(vec![example_of(m, inner, None, depth + 1)])
            }
        }
        TypeRef::Map(_) if depth >= DEPTH => Example::Object(Vec::new()),
        TypeRef::Map(inner) => Example::Object(vec![(
            "key".to_owned(),
            example_of(m, inner, None, depth + 1),
        )]),
        TypeRef::Primitive(Primitive::String | Primitive::Frame) => {
            if let Some(first) = rules
                .and_then(|r| r.one_of.as_ref())
                .and_then(|o| o.first())
            {
                return Example::Text(first.clone());
            }
            let min = rules.and_then(|r| r.min_length).map_or(0, |n| n as usize);
            let max = rules
                .and_then(|r| r.max_length)
                .map_or(usize::MAX, |n| n as usize);
            let word = if (min..=max).contains(&4) {
                "text".to_owned()
            } else {
                "x".repeat(min.max(1).min(max).min(LONGEST_TEXT))
            };
            Example::Text(word)
        }
        TypeRef::Primitive(Primitive::Bytes) => {
            Example::List(vec![Example::Raw("1".into()), Example::Raw("2".into())])
        }
        TypeRef::Primitive(Primitive::Bool) => Example::Raw("true".into()),
        TypeRef::Primitive(Primitive::Json) => Example::Object(Vec::new()),
        TypeRef::Primitive(p) if p.is_float() => Example::Raw(format!("{}", number(1.5))),
        TypeRef::Primitive(_) => Example::Raw(format!("{}", number(1.0).round() as i64)),
        TypeRef::Named(_) if depth >= DEPTH => Example::Object(Vec::new()),
        TypeRef::Named(id) => example_of_type(m, m.ty(*id), depth),
    }
}

fn object_fields(m: &Model, fields: &[Field], depth: usize) -> Vec<(String, Example)> {
    fields
        .iter()
        .filter(|f| !(f.is_optional() && depth >= 1))
        .map(|f| {
            (
                f.name.clone(),
                example_of(m, &f.ty, Some(&f.rules), depth + 1),
            )
        })
        .collect()
}

fn example_of_type(m: &Model, t: &TypeDecl, depth: usize) -> Example {
    match &t.body {
        TypeBody::Enum(values) => Example::Text(values.first().cloned().unwrap_or_default()),
        TypeBody::Union { tag, variants } => match variants.first() {
            Some(v) => variant_example(m, tag, &v.tag_value, &v.carries, depth),
            None => Example::Object(Vec::new()),
        },
        TypeBody::Struct(fields) => Example::Object(object_fields(m, fields, depth)),
    }
}

fn variant_example(m: &Model, tag: &str, value: &str, carries: &Carries, depth: usize) -> Example {
    let mut fields = vec![(tag.to_owned(), Example::Text(value.to_owned()))];
    match carries {
        Carries::Type(id) => {
            if let TypeBody::Struct(f) = &m.ty(*id).body {
                fields.extend(object_fields(m, f, depth));
            }
        }
        Carries::Inline { fields: f, .. } => fields.extend(object_fields(m, f, depth)),
    }
    Example::Object(fields)
}

fn doc_type(m: &Model, t: &TypeDecl) -> DocType {
    let mut doc = DocType {
        name: t.name.clone(),
        anchor: anchor(&t.name),
        kind: "struct".to_owned(),
        docs: text(t.docs.as_ref()),
        fields: Vec::new(),
        values: Vec::new(),
        tag: String::new(),
        variants: Vec::new(),
        example: example_of_type(m, t, 0).json(),
    };
    match &t.body {
        TypeBody::Enum(values) => {
            doc.kind = "enum".to_owned();
            doc.values = values.clone();
        }
        TypeBody::Union { tag, variants } => {
            doc.kind = "union".to_owned();
            doc.tag = tag.clone();
            doc.example = String::new();
            doc.variants = variants
                .iter()
                .map(|v| {
                    let (carries, docs) = match &v.carries {
                        Carries::Type(id) => {
                            let name = &m.ty(*id).name;
                            (
                                format!("the fields of [`{name}`](#{})", anchor(name)),
                                String::new(),
                            )
                        }
                        Carries::Inline { docs, fields } if fields.is_empty() => {
                            ("nothing".to_owned(), text(docs.as_ref()))
                        }
                        Carries::Inline { docs, fields } => (
                            fields
                                .iter()
                                .map(|f| format!("`{}`: `{}`", f.name, f.written.trim()))
                                .collect::<Vec<_>>()
                                .join(", "),
                            text(docs.as_ref()),
                        ),
                    };
                    DocVariant {
                        tag_value: v.tag_value.clone(),
                        carries: cell(&carries),
                        docs: cell(&docs),
                        example: variant_example(m, tag, &v.tag_value, &v.carries, 0).json(),
                    }
                })
                .collect();
        }
        TypeBody::Struct(fields) => doc.fields = fields.iter().map(field).collect(),
    }
    doc
}
