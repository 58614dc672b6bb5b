//! Builds the [`Model`] from a validated spec and the names validation decided (the IR).
//!
//! This is the one place that reads the spec types and the IR side by side. It pairs them by
//! name (types by their spec name, endpoints by `controller.endpoint`, close conditions by their
//! name), never by position.

use std::collections::HashMap;

use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::ir::{EndpointIr, Ir};
use crate::spec::{self, Spanned, Spec};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};
use crate::validate::{parse_duration_ms, parse_size};

use super::{
    Carries, Close, Duration, Endpoint, EndpointNames, Envelope, Field, Handshake, InvalidPolicy,
    Limits, Location, MessageRate, Middleware, Mode, Model, PathTemplate, Ping, Rules, Size,
    SlowConsumer, TypeBody, TypeDecl, TypeId, TypeRef, Variant,
};

/// The model of `spec`, which validation has accepted as `ir`.
pub(crate) fn build(spec: &Spec, ir: &Ir, source: &Source) -> Result<Model, Diagnostics> {
    let mut builder = Builder {
        source,
        ids: HashMap::new(),
        errors: Vec::new(),
    };
    for (i, (name, _)) in spec.types.iter().enumerate() {
        builder.ids.entry(name.value.clone()).or_insert(TypeId(i));
    }
    let types = spec
        .types
        .iter()
        .map(|(name, def)| builder.type_decl(name, def, ir))
        .collect();
    let middleware: Vec<Middleware> = spec
        .middleware
        .iter()
        .map(|(name, def)| Middleware {
            name: name.value.clone(),
            at: name.referenced,
            method: ir
                .middleware
                .iter()
                .find(|m| m.name == name.value)
                .map_or_else(String::new, |m| m.method.clone()),
            headers: def.headers.iter().map(|h| h.value.clone()).collect(),
        })
        .collect();
    let mut endpoints = Vec::new();
    for (controller_name, controller) in spec.controllers.iter() {
        for (name, def) in controller.endpoints.iter() {
            let qualified = format!("{}.{}", controller_name.value, name.value);
            match ir.endpoints.iter().find(|e| e.qualified == qualified) {
                Some(e) => endpoints.push(builder.endpoint(spec, name, def, e, &middleware)),
                None => builder.missing(name.referenced, &qualified),
            }
        }
    }
    if !builder.errors.is_empty() {
        return Err(Diagnostics(builder.errors));
    }
    Ok(Model {
        spec_file: ir.spec_file.clone(),
        name: spec.name.value.clone(),
        module: ir.module.clone(),
        docs: spec.docs.clone(),
        types,
        middleware,
        endpoints,
        limits: limits(spec.limits.as_ref()),
    })
}

struct Builder<'a> {
    source: &'a Source,
    /// Declared type names to their ids.
    ids: HashMap<String, TypeId>,
    errors: Vec<Diagnostic>,
}

impl Builder<'_> {
    /// Validation accepted something the model cannot represent: a bug, reported at the spec.
    fn missing(&mut self, at: Location, what: &str) {
        self.errors.push(Diagnostic::at(
            self.source,
            at,
            format!(
                "internal error: `{what}` passed validation but has no model; please report this"
            ),
        ));
    }

    fn id(&mut self, name: &str, at: Location) -> Option<TypeId> {
        let id = self.ids.get(name).copied();
        if id.is_none() {
            self.missing(at, name);
        }
        id
    }

    fn type_ref(&mut self, expr: &TypeExpr<'_>, at: Location) -> TypeRef {
        match expr {
            TypeExpr::Primitive(p) => TypeRef::Primitive(*p),
            TypeExpr::List(inner) => TypeRef::List(Box::new(self.type_ref(inner, at))),
            TypeExpr::Map(inner) => TypeRef::Map(Box::new(self.type_ref(inner, at))),
            TypeExpr::Named(name) => match self.id(name, at) {
                Some(id) => TypeRef::Named(id),
                None => TypeRef::Primitive(Primitive::Json),
            },
        }
    }

    /// A message type (`receive` or `send`): `string` when absent.
    fn message(&mut self, ty: Option<&Spanned<String>>) -> TypeRef {
        let Some(ty) = ty else {
            return TypeRef::Primitive(Primitive::String);
        };
        let text = ty.value.trim();
        match Primitive::from_name(text) {
            Some(p) => TypeRef::Primitive(p),
            None => self.type_ref(&TypeExpr::Named(text), ty.referenced),
        }
    }

    fn field(&mut self, name: &Spanned<String>, def: &spec::FieldDef) -> Field {
        let (expr, suffix) = parse_field(&def.ty.value);
        let ty = self.type_ref(&expr, def.ty.referenced);
        let r = &def.rules;
        Field {
            name: name.value.clone(),
            at: name.referenced,
            ty: if def.optional || suffix {
                TypeRef::Optional(Box::new(ty))
            } else {
                ty
            },
            written: def.ty.value.clone(),
            docs: def.docs.clone(),
            rules: Rules {
                min_length: r.min_length.as_ref().map(|v| v.value),
                max_length: r.max_length.as_ref().map(|v| v.value),
                min: r.min.as_ref().map(|v| v.value),
                max: r.max.as_ref().map(|v| v.value),
                pattern: r.pattern.as_ref().map(|v| v.value.clone()),
                min_items: r.min_items.as_ref().map(|v| v.value),
                max_items: r.max_items.as_ref().map(|v| v.value),
                one_of: r.one_of.as_ref().map(|v| v.value.clone()),
            },
        }
    }

    fn fields(&mut self, fields: &spec::Map<spec::FieldDef>) -> Vec<Field> {
        fields
            .iter()
            .map(|(name, def)| self.field(name, def))
            .collect()
    }

    fn type_decl(&mut self, name: &Spanned<String>, def: &spec::TypeDef, ir: &Ir) -> TypeDecl {
        let ident = match ir.types.iter().find(|t| t.name == name.value) {
            Some(t) => t.ident.clone(),
            None => {
                self.missing(name.referenced, &name.value);
                String::new()
            }
        };
        let body = if let Some(values) = &def.values {
            TypeBody::Enum(values.iter().map(|v| v.value.clone()).collect())
        } else if let Some(union) = &def.union {
            let variants = union
                .variants
                .iter()
                .map(|(value, variant)| Variant {
                    tag_value: value.value.clone(),
                    carries: match variant {
                        spec::VariantDef::Type(target) => {
                            match self.id(&target.value, target.referenced) {
                                Some(id) => Carries::Type(id),
                                None => Carries::Inline {
                                    docs: None,
                                    fields: Vec::new(),
                                },
                            }
                        }
                        spec::VariantDef::Inline(inline) => Carries::Inline {
                            docs: inline.docs.clone(),
                            fields: self.fields(&inline.fields),
                        },
                    },
                })
                .collect();
            TypeBody::Union {
                tag: union
                    .tag
                    .as_ref()
                    .map_or_else(|| "type".to_owned(), |t| t.value.clone()),
                variants,
            }
        } else {
            TypeBody::Struct(
                def.fields
                    .as_ref()
                    .map(|f| self.fields(f))
                    .unwrap_or_default(),
            )
        };
        TypeDecl {
            name: name.value.clone(),
            at: name.referenced,
            ident,
            docs: def.docs.clone(),
            body,
        }
    }

    fn endpoint(
        &mut self,
        spec: &Spec,
        name: &Spanned<String>,
        def: &spec::EndpointDef,
        e: &EndpointIr,
        middleware: &[Middleware],
    ) -> Endpoint {
        let mode = match def.mode.as_ref().map(|m| m.value) {
            None | Some(spec::Mode::TwoWay) => Mode::TwoWay,
            Some(spec::Mode::ReceiveOnly) => Mode::ReceiveOnly,
            Some(spec::Mode::SendOnly) => Mode::SendOnly,
        };
        let on_invalid = match def.on_invalid.as_ref().map(|p| p.value) {
            None | Some(spec::InvalidPolicy::Close) => InvalidPolicy::Close,
            Some(spec::InvalidPolicy::Drop) => InvalidPolicy::Drop,
            Some(spec::InvalidPolicy::ReplyError) => InvalidPolicy::ReplyError,
        };
        let envelope = def.envelope.as_ref().map(|e| match e.value {
            spec::Envelope::Status => Envelope::Status,
        });
        let mut close = Vec::new();
        for (close_name, close_def) in def.close.iter() {
            match e.close.iter().find(|c| c.name == close_name.value) {
                Some(c) => close.push(Close {
                    name: close_name.value.clone(),
                    variant: c.variant.clone(),
                    code: c.code,
                    reason: c.reason.clone(),
                    runtime_reason: c.runtime_reason,
                    docs: close_def.docs.clone(),
                }),
                None => self.missing(close_name.referenced, &close_name.value),
            }
        }
        Endpoint {
            name: name.value.clone(),
            at: name.referenced,
            qualified: e.qualified.clone(),
            docs: def.docs.clone(),
            path: PathTemplate::parse(&e.path),
            mode,
            receives: (mode != Mode::SendOnly).then(|| self.message(def.receive.as_ref())),
            sends: (mode != Mode::ReceiveOnly).then(|| self.message(def.send.as_ref())),
            reply: def.reply.as_ref().is_some_and(|r| r.value),
            params: self.fields(spec.params_of(def)),
            query: self.fields(spec.query_of(def)),
            close,
            handshake: def.handshake.as_ref().map(|h| {
                let (close_code, close_reason) = h.failure_close();
                Handshake {
                    expect: h.expect.value.clone(),
                    reply: h.reply.value.clone(),
                    close_code,
                    close_reason: close_reason.to_owned(),
                }
            }),
            ping: def.ping.as_ref().map(|p| Ping {
                every: duration(&p.every),
                timeout: duration(&p.timeout),
            }),
            envelope,
            on_invalid,
            error_replies: envelope.is_some() || on_invalid == InvalidPolicy::ReplyError,
            middleware: e
                .middleware
                .iter()
                .filter_map(|method| middleware.iter().position(|m| &m.method == method))
                .collect(),
            limits: limits(def.limits.as_ref()),
            names: EndpointNames {
                ident: e.type_param.clone(),
                client: e.client.clone(),
                close_enum: e.close_enum.clone(),
                params: e.params.as_ref().map(|p| p.ident.clone()),
                query: e.query.as_ref().map(|q| q.ident.clone()),
            },
        }
    }
}

fn duration(text: &Spanned<String>) -> Duration {
    Duration {
        ms: parse_duration_ms(&text.value),
        written: text.value.clone(),
    }
}

fn size(amount: &Spanned<spec::Amount>) -> Size {
    match &amount.value {
        spec::Amount::Bytes(n) => Size {
            bytes: u64::try_from(*n).unwrap_or_default(),
            written: None,
        },
        spec::Amount::Text(text) => Size {
            bytes: parse_size(text).unwrap_or_default(),
            written: Some(text.clone()),
        },
    }
}

fn limits(def: Option<&spec::LimitsDef>) -> Limits {
    let Some(def) = def else {
        return Limits::default();
    };
    Limits {
        max_message_size: def.max_message_size.as_ref().map(size),
        max_frame_size: def.max_frame_size.as_ref().map(size),
        read_buffer: def.read_buffer.as_ref().map(size),
        send_queue: def.send_queue.as_ref().map(|c| c.value),
        slow_consumer: def.slow_consumer.as_ref().map(|s| match s.value {
            spec::SlowConsumerDef::TryAgainLater => SlowConsumer::TryAgainLater,
            spec::SlowConsumerDef::PolicyViolation => SlowConsumer::PolicyViolation,
            spec::SlowConsumerDef::Reject => SlowConsumer::Reject,
        }),
        idle_timeout: def.idle_timeout.as_ref().map(duration),
        write_timeout: def.write_timeout.as_ref().map(duration),
        close_timeout: def.close_timeout.as_ref().map(duration),
        max_header_size: def.max_header_size.as_ref().map(size),
        max_connections: def.max_connections.as_ref().map(|c| c.value),
        handshake_timeout: def.handshake_timeout.as_ref().map(duration),
        shutdown_timeout: def.shutdown_timeout.as_ref().map(duration),
        message_rate: def
            .max_messages_per_second
            .as_ref()
            .map(|rate| MessageRate {
                per_second: rate.value,
                burst: def.burst.as_ref().map_or(rate.value, |b| b.value),
                drop: matches!(
                    def.rate_exceeded.as_ref().map(|r| r.value),
                    Some(spec::RateExceededDef::Drop)
                ),
            }),
    }
}

#[cfg(test)]
mod tests {
    use crate::diagnostic::Source;
    use crate::model::{Carries, Mode, Primitive, Segment, TypeBody, TypeRef};

    #[test]
    fn resolves_types_paths_and_values() {
        let source = Source {
            name: "t.yaml".to_owned(),
            text: "wsgen: 1\nname: t\ntypes:\n  Note:\n    fields:\n      text: { type: string, max_length: 5 }\n      tags: list<Note>?\n  Event:\n    union:\n      variants:\n        note: Note\ncontrollers:\n  rooms:\n    path: /rooms\n    endpoints:\n      live:\n        path: /{id}\n        mode: send_only\n        send: Event\n        params: { id: u32 }\n        ping: { every: 30s, timeout: 5s }\n".to_owned(),
        };
        let (_, model) = crate::lower_model(&source).unwrap_or_else(|e| panic!("{e}"));
        let TypeBody::Struct(fields) = &model.types[0].body else {
            panic!("Note is a struct");
        };
        assert_eq!(fields[0].rules.max_length, Some(5));
        let TypeRef::Optional(inner) = &fields[1].ty else {
            panic!("tags is optional");
        };
        let TypeRef::List(item) = inner.as_ref() else {
            panic!("tags is a list");
        };
        let TypeRef::Named(note) = item.as_ref() else {
            panic!("of a declared type");
        };
        assert_eq!(model.ty(*note).name, "Note");
        let TypeBody::Union { tag, variants } = &model.types[1].body else {
            panic!("Event is a union");
        };
        assert_eq!(tag, "type");
        assert!(matches!(variants[0].carries, Carries::Type(id) if id == *note));
        let e = &model.endpoints[0];
        assert_eq!(e.mode, Mode::SendOnly);
        assert_eq!(e.receives, None);
        assert!(matches!(e.sends, Some(TypeRef::Named(_))));
        assert_eq!(e.path.to_string(), "/rooms/{id}");
        assert_eq!(e.path.segments()[2], Segment::Param("id".to_owned()));
        assert_eq!(e.params[0].ty, TypeRef::Primitive(Primitive::U32));
        let ping = e.ping.as_ref().map(|p| (p.every.ms, p.timeout.ms));
        assert_eq!(ping, Some((Some(30_000), Some(5_000))));
        assert_eq!(e.names.client, "RoomsLiveClient");
    }
}
