//! Endpoints: mode, messages, inputs, handshake, keepalive, middleware and close conditions.

use std::collections::BTreeMap;

use crate::diagnostic::did_you_mean;
use crate::ir::{
    CloseIr, EndpointIr, HandshakeIr, InputFieldIr, InputsIr, KeepaliveIr, MessageKind, StyleIr,
};
use crate::model::{PathTemplate, Segment};
use crate::names::{is_identifier, pascal, snake};
use crate::spec::{
    CloseDef, EndpointDef, FieldDef, HandshakeDef, InvalidPolicy, Map, Mode, Number, Spanned, Spec,
    Style,
};
use crate::typeexpr::Primitive;

use super::docs::doc_lines;
use super::text::literal;
use super::{Lowerer, MAX_CLOSE_REASON_BYTES, NOTHING, limits};

/// Close codes an endpoint may send, per RFC 6455 section 7.4.
pub(super) fn close_code_allowed(code: i64) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// Parses a duration such as `30s`, `500ms` or `2m` into milliseconds.
pub(crate) fn parse_duration_ms(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit())?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        _ => return None,
    };
    number.checked_mul(scale).filter(|ms| *ms > 0)
}

/// Records `holder` as the first to use `key` and returns `None`, or, when `key` is taken,
/// returns who took it first. Every "must be unique" check goes through here.
pub(super) fn first_holder<K: Ord, V: Clone>(
    seen: &mut BTreeMap<K, V>,
    key: K,
    holder: V,
) -> Option<V> {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(first) => Some(first.get().clone()),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(holder);
            None
        }
    }
}

impl Lowerer<'_> {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn endpoint(
        &mut self,
        spec: &Spec,
        name: &Spanned<String>,
        def: &EndpointDef,
        ident: &str,
        qualified: String,
        path: String,
        middleware: Vec<String>,
    ) -> EndpointIr {
        let mode = def.mode.as_ref().map_or(Mode::TwoWay, |m| m.value);
        let mode_name = match mode {
            Mode::TwoWay => "two_way",
            Mode::ReceiveOnly => "receive_only",
            Mode::SendOnly => "send_only",
        };
        let receives = mode != Mode::SendOnly;
        let sends = mode != Mode::ReceiveOnly;
        if let (false, Some(receive)) = (receives, &def.receive) {
            self.error_hint(
                receive.referenced,
                format!("endpoint `{qualified}` is send_only, so it receives nothing"),
                "remove `receive`, or make the endpoint `mode: two_way`",
            );
        }
        if let (false, Some(send)) = (sends, &def.send) {
            self.error_hint(
                send.referenced,
                format!("endpoint `{qualified}` is receive_only, so it sends nothing"),
                "remove `send`, or make the endpoint `mode: two_way`",
            );
        }
        let style = match def.style.as_ref().map(|s| s.value) {
            Some(Style::Stream) => StyleIr::Stream,
            Some(Style::Callbacks) | None => StyleIr::Callbacks,
        };
        let state = def.state.as_ref().is_some_and(|s| s.value);
        if let Some(s) = def
            .state
            .as_ref()
            .filter(|s| s.value && style == StyleIr::Stream)
        {
            self.error_hint(
                s.referenced,
                format!(
                    "endpoint `{qualified}` is stream-style: its handler keeps per-connection state in `run` itself"
                ),
                "remove `state`, or use `style: callbacks`",
            );
        }
        let reply = def.reply.as_ref().is_some_and(|r| r.value);
        if let Some(r) = def.reply.as_ref().filter(|r| r.value) {
            if mode != Mode::TwoWay {
                self.error_hint(
                    r.referenced,
                    format!("endpoint `{qualified}` is {mode_name}, so it cannot reply"),
                    "replies need `mode: two_way`",
                );
            } else if style == StyleIr::Stream {
                self.error_hint(
                    r.referenced,
                    format!(
                        "endpoint `{qualified}` is stream-style: its handler sends replies itself"
                    ),
                    "remove `reply`, or use `style: callbacks`",
                );
            }
        }
        if let (false, Some(policy)) = (receives, &def.on_invalid) {
            self.error_hint(
                policy.referenced,
                format!("endpoint `{qualified}` receives nothing, so no message can be invalid"),
                "remove `on_invalid`",
            );
        }
        let receive_ty = if receives {
            self.message_type(def.receive.as_ref())
        } else {
            NOTHING.to_owned()
        };
        let send_ty = if sends {
            self.message_type(def.send.as_ref())
        } else {
            NOTHING.to_owned()
        };

        // Path parameters: every `{name}` in the path is declared under `params`, and back.
        let template = PathTemplate::parse(&path);
        let in_path: Vec<&str> = template.params().collect();
        // A malformed segment (`{a}{b}`) is reported by `path`; matching it against `params`
        // would only add confusing errors.
        let path_ok = template.segments().iter().all(|segment| match segment {
            Segment::Literal(text) => !(text.contains('{') || text.contains('}')),
            Segment::Param(name) => is_identifier(name),
        });
        let mut seen_in_path: BTreeMap<&str, ()> = BTreeMap::new();
        for used in &in_path {
            if path_ok && first_holder(&mut seen_in_path, *used, ()).is_some() {
                self.error_hint(
                    def.path.referenced,
                    format!("the path `{path}` has the parameter `{{{used}}}` twice"),
                    "give each parameter its own name; one name stands for one segment",
                );
            }
        }
        if let Some(named) = &def.inputs {
            if spec.shared_inputs(def).is_none() {
                let names = spec.inputs.iter().map(|(n, _)| n.value.as_str());
                let hint = match did_you_mean(&named.value, names) {
                    Some(best) => format!("did you mean `{best}`?"),
                    None => "declare them under the spec's top-level `inputs:`".to_owned(),
                };
                self.error_hint(
                    named.referenced,
                    format!("no inputs named `{}`", named.value),
                    hint,
                );
            } else if !def.params.0.is_empty() || !def.query.0.is_empty() {
                self.error_hint(
                    named.referenced,
                    format!(
                        "endpoint `{qualified}` names the inputs `{}` and declares its own parameters too",
                        named.value
                    ),
                    "declare every parameter in the shared inputs, or drop `inputs:`",
                );
            }
        }
        let own_params = spec.params_of(def);
        let shared_name = spec.shared_inputs(def).map(|(n, _)| n);
        for (param, _) in own_params.iter().filter(|_| path_ok) {
            if !in_path.contains(&param.value.as_str()) {
                // A shared parameter is reported where this endpoint names the inputs.
                let (at, whose) = match (shared_name, &def.inputs) {
                    (Some(shared), Some(named)) => (
                        named.referenced,
                        format!(" (of the inputs `{}`)", shared.value),
                    ),
                    _ => (param.referenced, String::new()),
                };
                self.error_hint(
                    at,
                    format!(
                        "path parameter `{}`{whose} is not in the path `{path}`",
                        param.value
                    ),
                    format!(
                        "add `{{{}}}` to the path, or remove the parameter",
                        param.value
                    ),
                );
            }
        }
        for used in in_path.iter().filter(|_| path_ok) {
            if !own_params.iter().any(|(p, _)| p.value == *used) {
                self.error_hint(
                    def.path.referenced,
                    format!("the path `{path}` uses `{{{used}}}`, which is not declared"),
                    format!("declare it: `params: {{ {used}: string }}`"),
                );
            }
        }
        let shared = def
            .inputs
            .as_ref()
            .and_then(|named| self.shared.get(&named.value).cloned());
        let (params, query) = match shared {
            Some(shared) => shared,
            None => (
                self.inputs(
                    &def.params,
                    format!("{ident}Params"),
                    "path parameter",
                    false,
                ),
                self.inputs(&def.query, format!("{ident}Query"), "query parameter", true),
            ),
        };
        let path_args = in_path
            .iter()
            .filter_map(|used| {
                params.as_ref().and_then(|p| {
                    p.fields
                        .iter()
                        .find(|f| f.name_lit == literal(used))
                        .map(|f| f.ident.clone())
                })
            })
            .collect();
        // The path as a `format!` string: its parameters are the `{}`s of its shape.
        let path_format = template.shape();

        let handshake = def.handshake.as_ref().map(|h| {
            if !receives {
                self.error_hint(
                    h.expect.referenced,
                    format!(
                        "endpoint `{qualified}` is send_only, so the client cannot send a handshake"
                    ),
                    "remove `handshake`, or make the endpoint `mode: two_way`",
                );
            }
            let (close_code, close_reason) = match &h.close {
                Some(close) => (
                    self.close_code(&close.code).unwrap_or(1008),
                    self.close_reason(close.reason.as_ref()),
                ),
                None => (
                    HandshakeDef::DEFAULT_CLOSE.0,
                    HandshakeDef::DEFAULT_CLOSE.1.to_owned(),
                ),
            };
            HandshakeIr {
                expect_lit: literal(&h.expect.value),
                reply_lit: literal(&h.reply.value),
                close_code,
                close_reason_lit: literal(&close_reason),
            }
        });
        let keepalive = def.ping.as_ref().map(|ping| KeepaliveIr {
            every_ms: self.duration_ms(&ping.every, false).unwrap_or(0),
            timeout_ms: self.duration_ms(&ping.timeout, false).unwrap_or(0),
        });

        let envelope = def.envelope.is_some();
        if let Some(env) = &def.envelope {
            let json_send = sends
                && (send_ty == "wsgen_runtime::serde_json::Value"
                    || self.types.values().any(|t| *t == send_ty));
            if !json_send {
                self.error_hint(
                    env.referenced,
                    format!("endpoint `{qualified}` sends no JSON, so its messages cannot be wrapped in an envelope"),
                    "an envelope needs `send:` to be `json` or a declared type",
                );
            }
        }

        let close_enum = format!("{ident}Close");
        let close = self.close_conditions(&def.close, &qualified);
        if let (Some(h), Some(ir)) = (&def.handshake, &handshake) {
            let condition = close
                .iter()
                .zip(def.close.iter())
                .find(|(c, _)| c.code == ir.close_code);
            if let Some((_, (name, _))) = condition {
                let at = h
                    .close
                    .as_ref()
                    .map_or(h.expect.referenced, |c| c.code.referenced);
                self.error_hint(
                    at,
                    format!(
                        "a failed handshake of `{qualified}` closes with {}, the code of its close condition `{}`: the client would read the failure as that condition",
                        ir.close_code, name.value
                    ),
                    "give `handshake.close` a code of its own (the default is 1008)",
                );
            }
        }
        let message_kind = match (receives, reply) {
            (false, _) => MessageKind::None,
            (true, true) => MessageKind::Reply,
            (true, false) => MessageKind::NoReply,
        };
        let on_message_output = match message_kind {
            MessageKind::Reply => format!("Result<{send_ty}, {close_enum}>"),
            MessageKind::NoReply => format!("Result<(), {close_enum}>"),
            MessageKind::None => String::new(),
        };
        let params_ty = params.as_ref().map_or("()".to_owned(), |p| p.ident.clone());
        let query_ty = query.as_ref().map_or("()".to_owned(), |q| q.ident.clone());
        let inputs = if params.is_some() || query.is_some() {
            format!(", {params_ty}, {query_ty}")
        } else {
            String::new()
        };

        let handler_trait = format!("{ident}Handler");
        let conn_alias = format!("{ident}Conn");
        let socket_alias = format!("{ident}Socket");
        let hub_alias = format!("{ident}Hub");
        let glue = format!("{ident}Endpoint");
        let client = format!("{ident}Client");
        let client_error = format!("{ident}Error");
        let what = format!("endpoint `{qualified}`");
        let mut generated = vec![
            ident,
            &handler_trait,
            &conn_alias,
            &hub_alias,
            &close_enum,
            &glue,
            &client,
            &client_error,
        ];
        if style == StyleIr::Stream {
            generated.push(&socket_alias);
        }
        for generated in generated {
            self.claim(generated, name.referenced, what.clone());
        }

        EndpointIr {
            docs: doc_lines(def.docs.as_ref()),
            path_lit: literal(&path),
            path_format_lit: literal(&path_format),
            path_args,
            path,
            mode: mode_name.to_owned(),
            field: snake(ident),
            hub_field: snake(ident),
            // Set once the API's name is at hand (see `spec`).
            hub_name_lit: String::new(),
            type_param: ident.to_owned(),
            handler_trait,
            conn_alias,
            socket_alias,
            hub_alias,
            close_copy: close.iter().all(|c| !c.runtime_reason),
            close_enum,
            glue,
            client,
            client_error,
            conn_args: format!("{send_ty}{inputs}"),
            socket_args: format!("{receive_ty}, {send_ty}{inputs}"),
            receive_ty,
            send_ty,
            message_kind,
            on_message_output,
            client_sends: receives,
            client_receives: sends,
            close,
            style,
            state,
            params,
            query,
            params_ty,
            query_ty,
            handshake,
            keepalive,
            limits: self.limits(def.limits.as_ref(), limits::Scope::Endpoint),
            on_invalid: match def.on_invalid.as_ref().map(|p| p.value) {
                Some(InvalidPolicy::Drop) => {
                    Some("wsgen_runtime::codegen::OnInvalid::Drop".to_owned())
                }
                Some(InvalidPolicy::ReplyError) => {
                    Some("wsgen_runtime::codegen::OnInvalid::Reply".to_owned())
                }
                Some(InvalidPolicy::Close) | None => None,
            },
            envelope,
            error_replies: envelope
                || def.on_invalid.as_ref().map(|p| p.value) == Some(InvalidPolicy::ReplyError),
            middleware,
            qualified,
        }
    }

    /// Lowers path or query parameters into a struct; `None` when there are none.
    pub(super) fn inputs(
        &mut self,
        fields: &Map<FieldDef>,
        ident: String,
        what: &str,
        may_be_optional: bool,
    ) -> Option<InputsIr> {
        let (first, _) = fields.iter().next()?;
        self.claim(&ident, first.referenced, format!("the {what}s"));
        let mut out = Vec::new();
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for (field_name, field) in fields.iter() {
            let field_ident = self.ident(field_name, snake, what);
            if let Some(first) = is_identifier(&field_ident).then_some(()).and_then(|()| {
                first_holder(&mut seen, field_ident.clone(), field_name.value.clone())
            }) {
                self.error_hint(
                    field_name.referenced,
                    format!(
                        "{what} `{}` becomes `{field_ident}` in Rust, as `{first}` does",
                        field_name.value
                    ),
                    "rename one of them",
                );
            }
            let text = field.ty.value.trim();
            let (text, suffix) = match text.strip_suffix('?') {
                Some(inner) => (inner.trim_end(), true),
                None => (text, false),
            };
            let optional = field.optional || suffix;
            if optional && !may_be_optional {
                self.error_hint(
                    field.ty.referenced,
                    format!(
                        "{what} `{}` cannot be optional: the path always has it",
                        field_name.value
                    ),
                    "remove `?` / `optional`, or make it a query parameter",
                );
            }
            let ty = match Primitive::from_name(text).filter(|p| p.in_inputs()) {
                Some(p) => p.rust().to_owned(),
                None => {
                    let inputs = Primitive::ALL.into_iter().filter(|p| p.in_inputs());
                    let hint = match did_you_mean(text, inputs.map(Primitive::name)) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "a URL input is string, bool, int, float, or a sized integer or float (i8..u64, f32, f64)".to_owned(),
                    };
                    self.error_hint(
                        field.ty.referenced,
                        format!("a {what} cannot be `{text}`"),
                        hint,
                    );
                    String::new()
                }
            };
            let getter = match (may_be_optional, optional) {
                (false, _) => "param",
                (true, false) => "query",
                (true, true) => "query_opt",
            };
            out.push(InputFieldIr {
                getter: getter.to_owned(),
                ident: field_ident,
                name_lit: literal(&field_name.value),
                ty: if optional {
                    format!("Option<{ty}>")
                } else {
                    ty
                },
                optional,
                docs: doc_lines(field.docs.as_ref()),
            });
        }
        Some(InputsIr {
            ident,
            what: format!("{what}s"),
            fields: out,
            shared: None,
            docs: Vec::new(),
        })
    }

    pub(super) fn close_conditions(
        &mut self,
        conditions: &crate::spec::Map<CloseDef>,
        qualified: &str,
    ) -> Vec<CloseIr> {
        let mut codes: BTreeMap<u16, String> = BTreeMap::new();
        let mut variants: BTreeMap<String, String> = BTreeMap::new();
        let mut out = Vec::new();
        for (name, def) in conditions.iter() {
            let variant = self.ident(name, pascal, "close condition");
            if let Some(first) = is_identifier(&variant)
                .then_some(())
                .and_then(|()| first_holder(&mut variants, variant.clone(), name.value.clone()))
            {
                self.error_hint(
                    name.referenced,
                    format!(
                        "close condition `{}` becomes the variant `{variant}`, as `{first}` does",
                        name.value
                    ),
                    "rename one of them",
                );
            }
            let code = self.close_code(&def.code);
            let first = code.and_then(|code| first_holder(&mut codes, code, name.value.clone()));
            if let (Some(code), Some(first)) = (code, first) {
                self.error_hint(
                    def.code.referenced,
                    format!("close code {code} is already used by `{first}` on endpoint `{qualified}`"),
                    "give each close condition its own code, so that the client can tell them apart",
                );
            }
            let reason = self.close_reason(def.reason.as_ref());
            let runtime_reason = def.has_runtime_reason();
            if let (true, Some(fixed)) = (runtime_reason, &def.reason) {
                self.error_hint(
                    fixed.referenced,
                    format!(
                        "close condition `{}` has `runtime_reason: true`, so its handler gives the reason; a fixed `reason` would never be sent",
                        name.value
                    ),
                    "remove `reason`, or `runtime_reason`",
                );
            }
            out.push(CloseIr {
                name: name.value.clone(),
                variant,
                code: code.unwrap_or(0),
                reason_lit: literal(&reason),
                reason,
                runtime_reason,
                docs: doc_lines(def.docs.as_ref()),
            });
        }
        out
    }

    /// A close code the spec gives (a close condition's, a failed handshake's): a whole number
    /// that a close frame may carry, or an error at it.
    fn close_code(&mut self, code: &Spanned<Number>) -> Option<u16> {
        let hint = "use 1000-1003 or 1007-1014 for protocol meanings, 4000-4999 for your own, 3000-3999 for registered ones";
        let whole = match code.value {
            Number::Int(n) => i64::try_from(n).unwrap_or(-1),
            Number::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i64,
            Number::Float(_) => -1,
        };
        if matches!(code.value, Number::Float(f) if f.fract() != 0.0) {
            let message = format!("close code {} is not a whole number", code.value);
            self.error_hint(code.referenced, message, hint);
            return None;
        }
        if !close_code_allowed(whole) {
            let why = match whole {
                1004..=1006 | 1015 => format!(
                    "close code {whole} is reserved by RFC 6455 and must never be sent in a close frame"
                ),
                1016..=2999 => format!(
                    "close code {whole} is reserved for future versions of the WebSocket protocol"
                ),
                _ if matches!(code.value, Number::Float(_)) => {
                    "this close code is out of range of every whole number".to_owned()
                }
                _ => format!("close code {} is out of range", code.value),
            };
            self.error_hint(code.referenced, why, hint);
            return None;
        }
        u16::try_from(whole).ok()
    }

    /// A close reason the spec gives (empty when it gives none); longer than a close frame
    /// carries is an error at it.
    fn close_reason(&mut self, reason: Option<&Spanned<String>>) -> String {
        let Some(reason) = reason else {
            return String::new();
        };
        if reason.value.len() > MAX_CLOSE_REASON_BYTES {
            self.error_hint(
                reason.referenced,
                format!(
                    "close reason is {} bytes of UTF-8; a close frame carries at most {MAX_CLOSE_REASON_BYTES}",
                    reason.value.len()
                ),
                "shorten the reason (the 125-byte control frame payload includes the 2-byte code)",
            );
        }
        reason.value.clone()
    }
}
