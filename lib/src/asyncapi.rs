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
use crate::ir::Ir;
use crate::spec::{EndpointDef, FieldDef, Rules, Spec, TypeDef, VariantDef};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};

/// The AsyncAPI document for the spec at `path`, as pretty JSON.
pub fn asyncapi(path: &Path) -> Result<String, Error> {
    let (spec, ir) = crate::load_with_spec(path)?;
    let document = document(&spec, &ir);
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

/// The JSON Schema of a type expression (`?` is handled by the caller).
fn schema_of(ty: &str) -> Value {
    schema_of_expr(&parse_field(ty).0)
}

fn schema_of_expr(expr: &TypeExpr<'_>) -> Value {
    match expr {
        TypeExpr::List(inner) => json!({ "type": "array", "items": schema_of_expr(inner) }),
        TypeExpr::Map(inner) => {
            json!({ "type": "object", "additionalProperties": schema_of_expr(inner) })
        }
        TypeExpr::Primitive(p) => primitive(*p),
        TypeExpr::Named(name) => json!({ "$ref": format!("#/components/schemas/{name}") }),
    }
}

fn with_rules(mut schema: Value, rules: &Rules) -> Value {
    let Some(object) = schema.as_object_mut() else {
        return schema;
    };
    let mut set = |key: &str, value: Value| {
        object.insert(key.to_owned(), value);
    };
    if let Some(r) = &rules.min_length {
        set("minLength", json!(r.value));
    }
    if let Some(r) = &rules.max_length {
        set("maxLength", json!(r.value));
    }
    if let Some(r) = &rules.pattern {
        set("pattern", json!(r.value));
    }
    if let Some(r) = &rules.one_of {
        set("enum", json!(r.value));
    }
    if let Some(r) = &rules.min {
        set("minimum", json!(r.value));
    }
    if let Some(r) = &rules.max {
        set("maximum", json!(r.value));
    }
    if let Some(r) = &rules.min_items {
        set("minItems", json!(r.value));
    }
    if let Some(r) = &rules.max_items {
        set("maxItems", json!(r.value));
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
fn object(fields: &crate::spec::Map<FieldDef>, extra: Vec<(String, Value)>) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<String> = extra.iter().map(|(k, _)| k.clone()).collect();
    for (key, value) in extra {
        properties.insert(key, value);
    }
    for (name, field) in fields.iter() {
        let optional = field.is_optional();
        let schema = with_rules(schema_of(&field.ty.value), &field.rules);
        properties.insert(name.value.clone(), described(schema, field.docs.as_ref()));
        if !optional {
            required.push(name.value.clone());
        }
    }
    json!({ "type": "object", "properties": properties, "required": required })
}

fn type_schema(def: &TypeDef, defs: &[(&str, &TypeDef)]) -> Value {
    let schema = if let Some(values) = &def.values {
        json!({ "type": "string", "enum": values.iter().map(|v| v.value.clone()).collect::<Vec<_>>() })
    } else if let Some(union) = &def.union {
        let tag = union
            .tag
            .as_ref()
            .map_or("type", |t| t.value.as_str())
            .to_owned();
        let variants: Vec<Value> = union
            .variants
            .iter()
            .map(|(value, variant)| {
                let tag_schema = json!({ "const": value.value });
                match variant {
                    VariantDef::Type(name) => {
                        let fields = defs
                            .iter()
                            .find(|(n, _)| *n == name.value)
                            .and_then(|(_, d)| d.fields.as_ref());
                        match fields {
                            Some(fields) => object(fields, vec![(tag.clone(), tag_schema)]),
                            None => json!({}),
                        }
                    }
                    VariantDef::Inline(inline) => described(
                        object(&inline.fields, vec![(tag.clone(), tag_schema)]),
                        inline.docs.as_ref(),
                    ),
                }
            })
            .collect();
        json!({ "oneOf": variants, "discriminator": tag })
    } else {
        let empty = crate::spec::Map::default();
        object(def.fields.as_ref().unwrap_or(&empty), Vec::new())
    };
    described(schema, def.docs.as_ref())
}

/// The message for a `receive`/`send` type: its name in components, and its definition.
fn message(ty: &str, defs: &[(&str, &TypeDef)]) -> (String, Value) {
    let declared = defs.iter().any(|(n, _)| *n == ty);
    let (name, payload, content) = match Primitive::from_name(ty) {
        _ if declared => (
            ty.to_owned(),
            json!({ "$ref": format!("#/components/schemas/{ty}") }),
            "application/json",
        ),
        Some(Primitive::String) => (
            "Text".to_owned(),
            primitive(Primitive::String),
            "text/plain",
        ),
        Some(Primitive::Bytes) => (
            "Binary".to_owned(),
            json!({ "type": "string", "format": "binary" }),
            "application/octet-stream",
        ),
        Some(Primitive::Frame) => (
            "Frame".to_owned(),
            primitive(Primitive::Frame),
            "application/octet-stream",
        ),
        Some(Primitive::Json) => ("Json".to_owned(), json!({}), "application/json"),
        // A primitive sent as JSON text, such as `int` or `bool`.
        other => {
            let mut letters = ty.chars();
            let name: String = match letters.next() {
                Some(first) => first.to_uppercase().chain(letters).collect(),
                None => "Message".to_owned(),
            };
            (
                name,
                other.map_or_else(|| json!({}), primitive),
                "application/json",
            )
        }
    };
    (
        name.clone(),
        json!({ "name": name, "contentType": content, "payload": payload }),
    )
}

fn key(qualified: &str) -> String {
    qualified.replace('.', "_")
}

fn endpoint(
    e: &crate::ir::EndpointIr,
    def: &EndpointDef,
    defs: &[(&str, &TypeDef)],
    channels: &mut Map<String, Value>,
    operations: &mut Map<String, Value>,
    messages: &mut Map<String, Value>,
) {
    let channel = key(&e.qualified);
    let channel_ref = json!({ "$ref": format!("#/channels/{channel}") });
    let receive = def.receive.as_ref().map_or("string", |r| r.value.as_str());
    let send = def.send.as_ref().map_or("string", |s| s.value.as_str());
    let mut channel_messages = Map::new();
    let mut add = |ty: &str, role: &str, channel_messages: &mut Map<String, Value>| {
        let (name, message) = message(ty, defs);
        messages.insert(name.clone(), message);
        channel_messages.insert(
            format!("{role}{name}"),
            json!({ "$ref": format!("#/components/messages/{name}") }),
        );
        format!("#/channels/{channel}/messages/{role}{name}")
    };
    let received = e
        .client_sends
        .then(|| add(receive, "received", &mut channel_messages));
    let sent = e
        .client_receives
        .then(|| add(send, "sent", &mut channel_messages));
    let mut parameters = Map::new();
    let mut typed_params = Map::new();
    for (name, field) in def.params.iter() {
        let mut parameter = Map::new();
        if let Some(docs) = &field.docs {
            parameter.insert("description".to_owned(), json!(docs.trim()));
        }
        parameters.insert(name.value.clone(), Value::Object(parameter));
        typed_params.insert(name.value.clone(), schema_of(&field.ty.value));
    }
    let mut body = Map::new();
    body.insert("address".to_owned(), json!(e.path));
    body.insert("messages".to_owned(), Value::Object(channel_messages));
    if let Some(docs) = &def.docs {
        body.insert("description".to_owned(), json!(docs.trim()));
    }
    if !parameters.is_empty() {
        body.insert("parameters".to_owned(), Value::Object(parameters));
        body.insert("x-wsgen-params".to_owned(), Value::Object(typed_params));
    }
    if !def.query.0.is_empty() {
        let query = object(&def.query, Vec::new());
        body.insert(
            "bindings".to_owned(),
            json!({ "ws": { "method": "GET", "query": query, "bindingVersion": "0.1.0" } }),
        );
    }
    let close: Vec<Value> = e
        .close
        .iter()
        .zip(def.close.iter())
        .map(|(c, (n, _))| {
            if c.runtime_reason {
                json!({ "name": n.value, "code": c.code, "reason": null, "runtime_reason": true })
            } else {
                json!({ "name": n.value, "code": c.code, "reason": c.reason })
            }
        })
        .collect();
    if !close.is_empty() {
        body.insert("x-wsgen-close".to_owned(), json!(close));
    }
    if let Some(p) = &def.ping {
        body.insert(
            "x-wsgen-ping".to_owned(),
            json!({ "every": p.every.value, "timeout": p.timeout.value }),
        );
    }
    if let Some(h) = &def.handshake {
        let (code, reason) = h.failure_close();
        body.insert(
            "x-wsgen-handshake".to_owned(),
            json!({
                "expect": h.expect.value,
                "reply": h.reply.value,
                "close": { "code": code, "reason": reason },
            }),
        );
    }
    if e.client_sends {
        let policy = match def.on_invalid.as_ref().map(|p| p.value) {
            Some(crate::spec::InvalidPolicy::Drop) => "drop",
            Some(crate::spec::InvalidPolicy::ReplyError) => "reply_error",
            _ => "close",
        };
        body.insert("x-wsgen-on-invalid".to_owned(), json!(policy));
    }
    if def.envelope.is_some() {
        body.insert("x-wsgen-envelope".to_owned(), json!("status"));
    }
    body.insert("x-wsgen-mode".to_owned(), json!(e.mode));
    channels.insert(channel.clone(), Value::Object(body));

    let replies = def.reply.as_ref().is_some_and(|r| r.value);
    if let Some(received) = received {
        let mut operation = json!({
            "action": "receive",
            "channel": channel_ref,
            "messages": [{ "$ref": received }],
        });
        if let (true, Some(sent)) = (replies, &sent) {
            operation["reply"] = json!({ "channel": channel_ref, "messages": [{ "$ref": sent }] });
        }
        operations.insert(format!("{channel}_receive"), operation);
    }
    if let Some(sent) = sent {
        if !replies {
            operations.insert(
                format!("{channel}_send"),
                json!({ "action": "send", "channel": channel_ref, "messages": [{ "$ref": sent }] }),
            );
        }
    }
}

/// The AsyncAPI document.
pub fn document(spec: &Spec, ir: &Ir) -> Value {
    let defs = spec.type_defs();
    let mut channels = Map::new();
    let mut operations = Map::new();
    let mut messages = Map::new();
    for (e, def) in ir.endpoints.iter().zip(spec.endpoint_defs()) {
        endpoint(e, def, &defs, &mut channels, &mut operations, &mut messages);
    }
    let schemas: Map<String, Value> = defs
        .iter()
        .map(|(name, def)| ((*name).to_owned(), type_schema(def, &defs)))
        .collect();
    let mut info = json!({ "title": spec.name.value, "version": "1.0.0" });
    if let Some(docs) = &spec.docs {
        info["description"] = json!(docs.trim());
    }
    json!({
        "asyncapi": "3.0.0",
        "info": info,
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": { "schemas": schemas, "messages": messages },
    })
}
