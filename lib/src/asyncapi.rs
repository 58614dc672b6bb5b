//! `wsgen asyncapi`: the spec as an AsyncAPI 3.0 document, for the tools API teams already use
//! (docs, catalogues, linting). Channels are endpoints with their addresses and parameters;
//! operations say what the server receives and sends (with `reply` where it answers every
//! message); messages carry JSON Schema payloads with the validation rules; the WebSocket
//! binding carries the query. What AsyncAPI cannot say (close conditions, typed path parameters,
//! keepalive, handshake, the invalid-message policy, limits) goes in `x-wsgen-*` extensions.
//! Keys are sorted, so the same spec always gives the same bytes.

use std::path::Path;

use serde_json::{Map, Value, json};

use crate::error::Error;
use crate::model::{
    Carries, Endpoint, Field, Model, Primitive, Rules, TypeBody, TypeDecl, TypeRef,
};

/// The AsyncAPI document for the spec at `path`, as pretty JSON.
pub fn asyncapi(path: &Path) -> Result<String, Error> {
    let (_, model) = crate::lower_model(&crate::load::load(path)?)?;
    let document = document(&model);
    let mut text = serde_json::to_string_pretty(&document).map_err(|e| Error::Io {
        path: path.to_owned(),
        source: std::io::Error::other(e),
    })?;
    text.push('\n');
    Ok(text)
}

fn primitive(p: Primitive) -> Value {
    match p {
        Primitive::String => json!({ "type": "string" }),
        Primitive::Bool => json!({ "type": "boolean" }),
        Primitive::Int | Primitive::I64 => json!({ "type": "integer", "format": "int64" }),
        Primitive::I8 | Primitive::I16 | Primitive::I32 => {
            json!({ "type": "integer", "format": "int32" })
        }
        Primitive::U8 | Primitive::U16 | Primitive::U32 | Primitive::U64 => {
            json!({ "type": "integer", "minimum": 0 })
        }
        Primitive::Float | Primitive::F64 => json!({ "type": "number", "format": "double" }),
        Primitive::F32 => json!({ "type": "number", "format": "float" }),
        Primitive::Json => json!({}),
        Primitive::Bytes => {
            json!({ "type": "array", "items": { "type": "integer", "minimum": 0, "maximum": 255 } })
        }
        Primitive::Frame => {
            json!({ "type": "string", "description": "a text or binary frame, as it comes" })
        }
    }
}

/// The JSON Schema of a type (whether it may be absent is the caller's).
fn schema_of(m: &Model, ty: &TypeRef) -> Value {
    match ty {
        TypeRef::List(inner) => json!({ "type": "array", "items": schema_of(m, inner) }),
        TypeRef::Map(inner) => {
            json!({ "type": "object", "additionalProperties": schema_of(m, inner) })
        }
        TypeRef::Optional(inner) => schema_of(m, inner),
        TypeRef::Primitive(p) => primitive(*p),
        TypeRef::Named(id) => {
            json!({ "$ref": format!("#/components/schemas/{}", m.ty(*id).name) })
        }
    }
}

fn with_rules(mut schema: Value, rules: &Rules) -> Value {
    let Some(object) = schema.as_object_mut() else {
        return schema;
    };
    let mut set = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    if let Some(r) = rules.min_length {
        set("minLength", json!(r));
    }
    if let Some(r) = rules.max_length {
        set("maxLength", json!(r));
    }
    if let Some(r) = &rules.pattern {
        set("pattern", json!(r));
    }
    if let Some(r) = &rules.one_of {
        set("enum", json!(r));
    }
    if let Some(r) = &rules.min {
        set("minimum", json!(r));
    }
    if let Some(r) = &rules.max {
        set("maximum", json!(r));
    }
    if let Some(r) = rules.min_items {
        set("minItems", json!(r));
    }
    if let Some(r) = rules.max_items {
        set("maxItems", json!(r));
    }
    schema
}

fn described(mut schema: Value, docs: Option<&String>) -> Value {
    if let (Some(docs), Some(object)) = (docs, schema.as_object_mut()) {
        // A `$ref` object may not carry siblings in older JSON Schema; wrap it.
        if object.contains_key("$ref") {
            return json!({ "allOf": [schema], "description": docs.trim() });
        }
        object.insert("description".to_owned(), json!(docs.trim()));
    }
    schema
}

/// An object schema for `fields`, with `extra` properties first (a union's tag).
fn object(m: &Model, fields: &[Field], extra: Vec<(String, Value)>) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<String> = extra.iter().map(|(k, _)| k.clone()).collect();
    for (key, value) in extra {
        properties.insert(key, value);
    }
    for field in fields {
        let schema = with_rules(schema_of(m, &field.ty), &field.rules);
        properties.insert(field.name.clone(), described(schema, field.docs.as_ref()));
        if !field.is_optional() {
            required.push(field.name.clone());
        }
    }
    json!({ "type": "object", "properties": properties, "required": required })
}

fn type_schema(m: &Model, t: &TypeDecl) -> Value {
    let schema = match &t.body {
        TypeBody::Enum(values) => json!({ "type": "string", "enum": values }),
        TypeBody::Union { tag, variants } => {
            let variants: Vec<Value> = variants
                .iter()
                .map(|variant| {
                    let tag_schema = json!({ "const": variant.tag_value });
                    match &variant.carries {
                        Carries::Type(id) => match &m.ty(*id).body {
                            TypeBody::Struct(fields) => {
                                object(m, fields, vec![(tag.clone(), tag_schema)])
                            }
                            _ => json!({}),
                        },
                        Carries::Inline { docs, fields } => described(
                            object(m, fields, vec![(tag.clone(), tag_schema)]),
                            docs.as_ref(),
                        ),
                    }
                })
                .collect();
            json!({ "oneOf": variants, "discriminator": tag })
        }
        TypeBody::Struct(fields) => object(m, fields, Vec::new()),
    };
    described(schema, t.docs.as_ref())
}

/// The message for a `receive`/`send` type: its name in components, and its definition.
fn message(m: &Model, ty: &TypeRef) -> (String, Value) {
    let (name, payload, content) = match ty {
        TypeRef::Named(id) => {
            let name = m.ty(*id).name.clone();
            let payload = json!({ "$ref": format!("#/components/schemas/{name}") });
            (name, payload, "application/json")
        }
        TypeRef::Primitive(Primitive::String) => (
            "Text".to_owned(),
            primitive(Primitive::String),
            "text/plain",
        ),
        TypeRef::Primitive(Primitive::Bytes) => (
            "Binary".to_owned(),
            json!({ "type": "string", "format": "binary" }),
            "application/octet-stream",
        ),
        TypeRef::Primitive(Primitive::Frame) => (
            "Frame".to_owned(),
            primitive(Primitive::Frame),
            "application/octet-stream",
        ),
        TypeRef::Primitive(Primitive::Json) => ("Json".to_owned(), json!({}), "application/json"),
        // A primitive sent as JSON text, such as `int` or `bool`.
        TypeRef::Primitive(p) => {
            let mut letters = p.name().chars();
            let name: String = match letters.next() {
                Some(first) => first.to_uppercase().chain(letters).collect(),
                None => "Message".to_owned(),
            };
            (name, primitive(*p), "application/json")
        }
        // Validation allows only primitives and declared types as messages.
        other => (
            "Message".to_owned(),
            schema_of(m, other),
            "application/json",
        ),
    };
    (
        name.clone(),
        json!({ "name": name, "contentType": content, "payload": payload }),
    )
}

fn key(qualified: &str) -> String {
    qualified.replace('.', "_")
}

/// The document's maps that every endpoint adds to.
#[derive(Default)]
struct Sections {
    channels: Map<String, Value>,
    operations: Map<String, Value>,
    messages: Map<String, Value>,
}

fn endpoint(m: &Model, e: &Endpoint, out: &mut Sections) {
    let channel = key(&e.qualified);
    let channel_ref = json!({ "$ref": format!("#/channels/{channel}") });
    let mut channel_messages = Map::new();
    let mut add = |ty: &TypeRef, role: &str, channel_messages: &mut Map<String, Value>| {
        let (name, message) = message(m, ty);
        out.messages.insert(name.clone(), message);
        channel_messages.insert(
            format!("{role}{name}"),
            json!({ "$ref": format!("#/components/messages/{name}") }),
        );
        format!("#/channels/{channel}/messages/{role}{name}")
    };
    let received = e
        .receives
        .as_ref()
        .map(|ty| add(ty, "received", &mut channel_messages));
    let sent = e
        .sends
        .as_ref()
        .map(|ty| add(ty, "sent", &mut channel_messages));
    let mut parameters = Map::new();
    let mut typed_params = Map::new();
    for field in &e.params {
        let mut parameter = Map::new();
        if let Some(docs) = &field.docs {
            parameter.insert("description".to_owned(), json!(docs.trim()));
        }
        parameters.insert(field.name.clone(), Value::Object(parameter));
        typed_params.insert(field.name.clone(), schema_of(m, &field.ty));
    }
    let mut body = Map::new();
    body.insert("address".to_owned(), json!(e.path.to_string()));
    body.insert("messages".to_owned(), Value::Object(channel_messages));
    if let Some(docs) = &e.docs {
        body.insert("description".to_owned(), json!(docs.trim()));
    }
    if !parameters.is_empty() {
        body.insert("parameters".to_owned(), Value::Object(parameters));
        body.insert("x-wsgen-params".to_owned(), Value::Object(typed_params));
    }
    if !e.query.is_empty() {
        let query = object(m, &e.query, Vec::new());
        body.insert(
            "bindings".to_owned(),
            json!({ "ws": { "method": "GET", "query": query, "bindingVersion": "0.1.0" } }),
        );
    }
    let close: Vec<Value> = e
        .close
        .iter()
        .map(|c| {
            if c.runtime_reason {
                json!({ "name": c.name, "code": c.code, "reason": null, "runtime_reason": true })
            } else {
                json!({ "name": c.name, "code": c.code, "reason": c.reason })
            }
        })
        .collect();
    if !close.is_empty() {
        body.insert("x-wsgen-close".to_owned(), json!(close));
    }
    if let Some(p) = &e.ping {
        body.insert(
            "x-wsgen-ping".to_owned(),
            json!({ "every": p.every.written, "timeout": p.timeout.written }),
        );
    }
    if let Some(h) = &e.handshake {
        body.insert(
            "x-wsgen-handshake".to_owned(),
            json!({
                "expect": h.expect,
                "reply": h.reply,
                "close": { "code": h.close_code, "reason": h.close_reason },
            }),
        );
    }
    if e.receives.is_some() {
        body.insert(
            "x-wsgen-on-invalid".to_owned(),
            json!(e.on_invalid.as_str()),
        );
    }
    if e.envelope.is_some() {
        body.insert("x-wsgen-envelope".to_owned(), json!("status"));
    }
    body.insert("x-wsgen-mode".to_owned(), json!(e.mode.as_str()));
    out.channels.insert(channel.clone(), Value::Object(body));

    if let Some(received) = received {
        let mut operation = json!({
            "action": "receive",
            "channel": channel_ref,
            "messages": [{ "$ref": received }],
        });
        if let (true, Some(sent)) = (e.reply, &sent) {
            operation["reply"] = json!({ "channel": channel_ref, "messages": [{ "$ref": sent }] });
        }
        out.operations
            .insert(format!("{channel}_receive"), operation);
    }
    if let Some(sent) = sent {
        if !e.reply {
            out.operations.insert(
                format!("{channel}_send"),
                json!({ "action": "send", "channel": channel_ref, "messages": [{ "$ref": sent }] }),
            );
        }
    }
}

/// The AsyncAPI document.
fn document(m: &Model) -> Value {
    let mut sections = Sections::default();
    for e in &m.endpoints {
        endpoint(m, e, &mut sections);
    }
    let schemas: Map<String, Value> = m
        .types
        .iter()
        .map(|t| (t.name.clone(), type_schema(m, t)))
        .collect();
    let mut info = json!({ "title": m.name, "version": "1.0.0" });
    if let Some(docs) = &m.docs {
        info["description"] = json!(docs.trim());
    }
    json!({
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": "application/json",
        "channels": sections.channels,
        "operations": sections.operations,
        "components": { "schemas": schemas, "messages": sections.messages },
    })
}
