//! Message types: declared types lowered to Rust, recursion boxed, nested validation found, and type expressions resolved.

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::diagnostic::did_you_mean;
use crate::ir::{CheckIr, FieldIr, TypeIr, TypeKind, VariantIr};
use crate::names::{is_identifier, pascal, snake};
use crate::spec::{FieldDef, Map, Spanned, Spec, TypeDef, VariantDef};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};

use super::docs::doc_lines;
use super::endpoints::first_holder;
use super::text::literal;
use super::{Lowerer, Nestable, Pending};

/// The name a type expression holds, and how deep: the `Validator` method that reaches it
/// (`nested` for `T`, `nested_each` for `list<T>`, `nested_deep` for anything deeper or in a
/// map), if it names anything but primitives.
pub(super) fn named_inside(text: &str) -> Option<(&str, &'static str)> {
    fn leaf<'a>(expr: &TypeExpr<'a>) -> Option<&'a str> {
        match expr {
            TypeExpr::Named(name) => Some(name),
            TypeExpr::List(inner) | TypeExpr::Map(inner) => leaf(inner),
            TypeExpr::Primitive(_) => None,
        }
    }
    let expr = parse_field(text).0;
    let name = leaf(&expr)?;
    let method = match &expr {
        TypeExpr::Named(_) => "nested",
        TypeExpr::List(inner) if matches!(**inner, TypeExpr::Named(_)) => "nested_each",
        _ => "nested_deep",
    };
    Some((name, method))
}

/// The exact range of an integer type of the spec (for checking rule bounds).
pub(super) fn int_range(ty: &str) -> (i128, i128) {
    match Primitive::from_name(ty) {
        Some(Primitive::I8) => (i8::MIN.into(), i8::MAX.into()),
        Some(Primitive::I16) => (i16::MIN.into(), i16::MAX.into()),
        Some(Primitive::I32) => (i32::MIN.into(), i32::MAX.into()),
        Some(Primitive::U8) => (0, u8::MAX.into()),
        Some(Primitive::U16) => (0, u16::MAX.into()),
        Some(Primitive::U32) => (0, u32::MAX.into()),
        Some(Primitive::U64) => (0, u64::MAX.into()),
        _ => (i64::MIN.into(), i64::MAX.into()),
    }
}

impl Lowerer<'_> {
    pub(super) fn type_def(&mut self, type_name: &Spanned<String>, def: &TypeDef) -> TypeIr {
        let ident = self
            .types
            .get(&type_name.value)
            .cloned()
            .unwrap_or_default();
        let mut ir = TypeIr {
            name: type_name.value.clone(),
            ident,
            docs: doc_lines(def.docs.as_ref()),
            kind: TypeKind::Struct,
            fields: Vec::new(),
            variants: Vec::new(),
            tag_lit: String::new(),
            deserializer_param: String::new(),
            validates: false,
            every_variant_validates: false,
            single_validating_variant: None,
            nested_impl: false,
        };
        let forms = [
            def.fields.is_some(),
            def.values.is_some(),
            def.union.is_some(),
        ];
        if forms.iter().filter(|f| **f).count() > 1 {
            self.error_hint(
                type_name.referenced,
                format!(
                    "type `{}` has more than one of `fields`, `enum` and `union`",
                    type_name.value
                ),
                "a type is a struct (`fields`), a string enum (`enum`) or a tagged union (`union`)",
            );
        }
        if let Some(values) = &def.values {
            ir.kind = TypeKind::Enum;
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            if values.is_empty() {
                self.error_hint(
                    type_name.referenced,
                    format!("enum `{}` has no values", type_name.value),
                    "list its values: `enum: [red, green]`",
                );
            }
            for value in values {
                let variant = self.ident(value, pascal, "enum value");
                let named = is_identifier(&variant).then(|| variant.clone());
                if let Some(first) =
                    named.and_then(|v| first_holder(&mut seen, v, value.value.clone()))
                {
                    self.error_hint(
                        value.referenced,
                        format!(
                            "enum value `{}` becomes the variant `{variant}`, as `{first}` does",
                            value.value
                        ),
                        "rename one of them",
                    );
                }
                ir.variants.push(VariantIr {
                    ident: variant,
                    wire_lit: literal(&value.value),
                    docs: Vec::new(),
                    newtype: String::new(),
                    fields: Vec::new(),
                    fields_struct: String::new(),
                    validates: false,
                });
            }
        } else if let Some(union) = &def.union {
            ir.kind = TypeKind::Union;
            let tag = union.tag.as_ref().map_or("type", |t| t.value.as_str());
            ir.tag_lit = literal(tag);
            ir.deserializer_param = self.unused_type_name("D");
            let mut seen: BTreeMap<String, String> = BTreeMap::new();
            if union.variants.0.is_empty() {
                self.error_hint(
                    type_name.referenced,
                    format!("union `{}` has no variants", type_name.value),
                    "add `variants:`",
                );
            }
            for (variant_name, variant) in union.variants.iter() {
                let variant_ident = self.ident(variant_name, pascal, "variant");
                if let Some(first) = is_identifier(&variant_ident).then_some(()).and_then(|()| {
                    first_holder(&mut seen, variant_ident.clone(), variant_name.value.clone())
                }) {
                    self.error_hint(
                        variant_name.referenced,
                        format!(
                            "variant `{}` becomes `{variant_ident}`, as `{first}` does",
                            variant_name.value
                        ),
                        "rename one of them",
                    );
                }
                let index = ir.variants.len();
                let mut out = VariantIr {
                    ident: variant_ident,
                    wire_lit: literal(&variant_name.value),
                    docs: Vec::new(),
                    newtype: String::new(),
                    fields: Vec::new(),
                    fields_struct: String::new(),
                    validates: false,
                };
                match variant {
                    VariantDef::Type(target) => match self.types_by_kind.get(&target.value) {
                        Some(TypeKind::Struct) => {
                            if self.struct_fields.get(&target.value).is_some_and(|f| f.iter().any(|f| f == tag)) {
                                self.error_hint(
                                    target.referenced,
                                    format!(
                                        "variant `{}` carries `{}`, which has a field `{tag}`, the union's tag: the message would hold `{tag}` twice",
                                        variant_name.value, target.value
                                    ),
                                    "rename the field, or choose another `tag` for the union",
                                );
                            }
                            out.newtype = self.types.get(&target.value).cloned().unwrap_or_default();
                            self.pending.push(Pending {
                                owner: type_name.value.clone(),
                                variant: Some(index),
                                field: None,
                                target: target.value.clone(),
                                base: out.newtype.clone(),
                                optional: false,
                            });
                        }
                        Some(_) => self.error_hint(
                            target.referenced,
                            format!("union variant `{}` carries `{}`, which is not a struct", variant_name.value, target.value),
                            "a variant carries a struct type (its fields sit beside the tag), or inline `fields`",
                        ),
                        None => {
                            let hint = match did_you_mean(&target.value, self.types.keys().map(String::as_str)) {
                                Some(best) => format!("did you mean `{best}`?"),
                                None => "name a struct declared under `types:`, or give inline `fields`".to_owned(),
                            };
                            self.error_hint(target.referenced, format!("unknown type `{}`", target.value), hint);
                        }
                    },
                    VariantDef::Inline(inline) => {
                        out.docs = doc_lines(inline.docs.as_ref());
                        out.fields = self.fields(&type_name.value, Some(index), &inline.fields);
                        if !out.fields.is_empty() {
                            out.fields_struct = self.fields_struct(&out.ident);
                        }
                    }
                }
                if let Some(clash) = out.fields.iter().find(|f| f.wire_name == tag) {
                    let clash = clash.ident.clone();
                    self.error_hint(
                        variant_name.referenced,
                        format!(
                            "variant `{}` has a field `{clash}` named like the union's tag `{tag}`",
                            variant_name.value
                        ),
                        "rename the field, or choose another `tag`",
                    );
                }
                ir.variants.push(out);
            }
        } else if let Some(fields) = &def.fields {
            ir.fields = self.fields(&type_name.value, None, fields);
        }
        ir
    }

    /// The name of the private struct that a union's one-pass reader reads the inline fields
    /// of `variant` into: `{variant}Fields`, numbered on when a spec type has that name (the
    /// struct's field types may name that type).
    fn fields_struct(&self, variant: &str) -> String {
        // `Self_` (a variant named `self`) gives `SelfFields`, not `Self_Fields`, which is not
        // camel case.
        let variant = variant.trim_start_matches("r#").trim_end_matches('_');
        self.unused_type_name(&format!("{variant}Fields"))
    }

    /// `name`, or `name` numbered on (`name2`, `name3`, ..) when a spec type has that name.
    fn unused_type_name(&self, name: &str) -> String {
        let taken = |candidate: &str| self.types.values().any(|ident| ident == candidate);
        let mut candidate = name.to_owned();
        let mut n = 1;
        while taken(&candidate) {
            n += 1;
            candidate = format!("{name}{n}");
        }
        candidate
    }

    /// Lowers the fields of a struct or of an inline union variant.
    pub(super) fn fields(
        &mut self,
        owner: &str,
        variant: Option<usize>,
        fields: &Map<FieldDef>,
    ) -> Vec<FieldIr> {
        let mut seen: BTreeMap<String, Location> = BTreeMap::new();
        let mut out = Vec::new();
        for (field_name, field) in fields.iter() {
            let field_ident = self.ident(field_name, snake, "field");
            if let Some(first) = is_identifier(&field_ident)
                .then_some(())
                .and_then(|()| first_holder(&mut seen, field_ident.clone(), field_name.referenced))
            {
                let line = first.line();
                self.error_hint(
                    field_name.referenced,
                    format!("field `{}` becomes `{field_ident}` in Rust, as the field on line {line} does", field_name.value),
                    "rename one of them",
                );
            }
            let (ty, optional_suffix, direct) = self.field_type(&field.ty);
            let optional = field.optional || optional_suffix;
            let bare = field_ident.strip_prefix("r#").unwrap_or(&field_ident);
            let mut serde = Vec::new();
            if bare != field_name.value {
                serde.push(format!("rename = {}", literal(&field_name.value)));
            }
            if optional {
                serde.push("default".to_owned());
                serde.push("skip_serializing_if = \"Option::is_none\"".to_owned());
            }
            let checks = self.checks(&field.ty, &field.rules, variant.is_some());
            if let Some((target, method)) = named_inside(&field.ty.value).filter(|(t, _)| {
                matches!(
                    self.types_by_kind.get(*t),
                    Some(TypeKind::Struct | TypeKind::Union)
                )
            }) {
                self.nestable.push(Nestable {
                    owner: owner.to_owned(),
                    field: out.len(),
                    target: target.to_owned(),
                    method,
                    in_variant: variant.is_some(),
                    at: field_name.referenced,
                    name: field_name.value.clone(),
                });
            }
            if let Some(target) = direct {
                self.pending.push(Pending {
                    owner: owner.to_owned(),
                    variant,
                    field: Some(out.len()),
                    target,
                    base: ty.clone(),
                    optional,
                });
            }
            out.push(FieldIr {
                ident: field_ident,
                wire_lit: literal(&field_name.value),
                checks,
                wire_name: field_name.value.clone(),
                ty: if optional {
                    format!("Option<{ty}>")
                } else {
                    ty
                },
                optional,
                serde,
                docs: doc_lines(field.docs.as_ref()),
            });
        }
        out
    }

    /// Marks every type whose fields have rules, directly or through nested structs, and adds
    /// the calls that validate nested structs.
    pub(super) fn nest_validation(&mut self, types: &mut [TypeIr], names: &[String]) {
        let mut validating: std::collections::BTreeSet<String> = names
            .iter()
            .zip(types.iter())
            .filter(|(_, t)| t.fields.iter().any(|f| !f.checks.is_empty()))
            .map(|(n, _)| n.clone())
            .collect();
        loop {
            let before = validating.len();
            for n in &self.nestable {
                if !n.in_variant && validating.contains(&n.target) {
                    validating.insert(n.owner.clone());
                }
            }
            // A union validates through the struct types its variants carry.
            for p in self.pending.iter().filter(|p| p.field.is_none()) {
                if validating.contains(&p.target) {
                    validating.insert(p.owner.clone());
                }
            }
            if validating.len() == before {
                break;
            }
        }
        let mut refused = Vec::new();
        for n in &self.nestable {
            if !validating.contains(&n.target) {
                continue;
            }
            if n.in_variant {
                // The union's `validate` reaches only the types its variants carry whole.
                refused.push((n.at, n.name.clone(), n.target.clone()));
                continue;
            }
            let Some(index) = names.iter().position(|name| *name == n.owner) else {
                continue;
            };
            types[index].fields[n.field].checks.push(CheckIr {
                method: n.method.to_owned(),
                arg: String::new(),
                before: String::new(),
            });
            if n.method == "nested_deep" {
                if let Some(target) = names.iter().position(|name| *name == n.target) {
                    types[target].nested_impl = true;
                }
            }
        }
        for (at, name, target) in refused {
            self.error_hint(
                at,
                format!("field `{name}` of a union variant holds `{target}`, which has validation rules, and rules inside a union variant are not supported"),
                "put the variant's fields in a struct type and name it as the variant",
            );
        }
        for p in self.pending.iter().filter(|p| p.field.is_none()) {
            if let (Some(index), Some(variant)) =
                (names.iter().position(|name| *name == p.owner), p.variant)
            {
                types[index].variants[variant].validates = validating.contains(&p.target);
            }
        }
        for (name, ty) in names.iter().zip(types.iter_mut()) {
            ty.validates = ty.kind != TypeKind::Enum && validating.contains(name);
            ty.every_variant_validates = ty.variants.iter().all(|v| v.validates);
            let validating: Vec<&VariantIr> = ty.variants.iter().filter(|v| v.validates).collect();
            if let ([only], false) = (validating.as_slice(), ty.every_variant_validates) {
                ty.single_validating_variant = Some(only.ident.clone());
            }
        }
    }

    /// Refuses every type no value can have: a struct that requires (directly, not through an
    /// option, list or map) a type that in turn requires it, with no way out, such as
    /// `Forever { me: Forever }`; a union has a value when one of its variants does.
    pub(super) fn uninhabitable(&mut self, spec: &Spec, types: &[TypeIr]) {
        let mut possible: std::collections::BTreeSet<&str> = std::collections::BTreeSet::new();
        loop {
            let before = possible.len();
            for ((name, _), ty) in spec.types.iter().zip(types) {
                let name = name.value.as_str();
                let needs = |variant: Option<usize>| {
                    self.pending
                        .iter()
                        .filter(|p| p.owner == name && p.variant == variant && !p.optional)
                        .all(|p| possible.contains(p.target.as_str()))
                };
                let has_value = match ty.kind {
                    TypeKind::Enum => true,
                    TypeKind::Struct => needs(None),
                    TypeKind::Union => (0..ty.variants.len()).any(|v| needs(Some(v))),
                };
                if has_value {
                    possible.insert(name);
                }
            }
            if possible.len() == before {
                break;
            }
        }
        let refused: Vec<(Location, String)> = spec
            .types
            .iter()
            .filter(|(name, _)| {
                !possible.contains(name.value.as_str())
                    && Primitive::from_name(&name.value).is_none()
            })
            .map(|(name, _)| (name.referenced, name.value.clone()))
            .collect();
        for (at, name) in refused {
            let through: Vec<String> = self
                .pending
                .iter()
                .filter(|p| {
                    p.owner == name
                        && !p.optional
                        && !possible.contains(p.target.as_str())
                        && Primitive::from_name(&p.target).is_none()
                })
                .map(|p| format!("`{}`", p.target))
                .collect();
            if through.is_empty() {
                continue; // a union without variants, reported as such
            }
            self.error_hint(
                at,
                format!(
                    "no value of type `{name}` can exist: it requires {}, which cannot exist without it (a cycle of required fields with no way out)",
                    through.join(", ")
                ),
                "make a field on the cycle optional (`T?`), a list or a map",
            );
        }
    }

    /// Boxes every direct reference that leads back to its owner, so recursive types have a
    /// size: `next: Node?` becomes `Option<Box<Node>>`; `list<Node>` needs nothing.
    pub(super) fn box_recursion(&mut self, types: &mut [TypeIr], names: &[String]) {
        let mut edges: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for p in &self.pending {
            edges
                .entry(p.owner.as_str())
                .or_default()
                .push(p.target.as_str());
        }
        let reaches = |from: &str, to: &str| {
            let mut stack = vec![from];
            let mut seen = std::collections::BTreeSet::new();
            while let Some(at) = stack.pop() {
                if at == to {
                    return true;
                }
                if seen.insert(at) {
                    stack.extend(edges.get(at).into_iter().flatten().copied());
                }
            }
            false
        };
        for p in &self.pending {
            if !reaches(&p.target, &p.owner) {
                continue;
            }
            let Some(index) = names.iter().position(|n| *n == p.owner) else {
                continue;
            };
            let boxed = format!("Box<{}>", p.base);
            let ty = if p.optional {
                format!("Option<{boxed}>")
            } else {
                boxed.clone()
            };
            let owner = &mut types[index];
            match (p.variant, p.field) {
                (None, Some(field)) => owner.fields[field].ty = ty,
                (Some(variant), Some(field)) => owner.variants[variant].fields[field].ty = ty,
                (Some(variant), None) => owner.variants[variant].newtype = boxed,
                (None, None) => {}
            }
        }
    }

    /// Resolves a field's type expression: the Rust type, whether it ended in `?`, and the
    /// declared type it names directly (not inside a list or map), if any.
    pub(super) fn field_type(&mut self, ty: &Spanned<String>) -> (String, bool, Option<String>) {
        let text = ty.value.trim();
        let (text, optional) = match text.strip_suffix('?') {
            Some(inner) => (inner.trim_end(), true),
            None => (text, false),
        };
        let direct = self.types.contains_key(text).then(|| text.to_owned());
        match self.type_expr(text) {
            Ok(rust) => (rust, optional, direct),
            Err(message) => {
                let hint = self.type_hint(text);
                self.error_hint(ty.referenced, message, hint);
                (String::new(), optional, None)
            }
        }
    }

    /// The Rust type of a field's type expression, or the error naming the part that is
    /// unknown.
    pub(super) fn type_expr(&self, text: &str) -> Result<String, String> {
        self.rust_type(&TypeExpr::parse(text))
    }

    pub(super) fn rust_type(&self, expr: &TypeExpr<'_>) -> Result<String, String> {
        match expr {
            TypeExpr::List(inner) => Ok(format!("Vec<{}>", self.rust_type(inner)?)),
            TypeExpr::Map(inner) => Ok(format!(
                "std::collections::BTreeMap<String, {}>",
                self.rust_type(inner)?
            )),
            TypeExpr::Primitive(p) if p.in_fields() => Ok(p.rust().to_owned()),
            TypeExpr::Primitive(p) => Err(format!("unknown type `{}`", p.name())),
            TypeExpr::Named(name) => self
                .types
                .get(*name)
                .cloned()
                .ok_or_else(|| format!("unknown type `{name}`")),
        }
    }

    pub(super) fn type_hint(&self, text: &str) -> String {
        let bare = text
            .trim_start_matches("list<")
            .trim_start_matches("map<")
            .trim_end_matches('>');
        if let Some(ours) = Primitive::foreign_spelling(text) {
            return format!("the spec spells this type `{ours}`");
        }
        let candidates = Primitive::ALL
            .into_iter()
            .filter(|p| p.in_fields())
            .map(|p| -> &str { p.name() })
            .chain(self.types.keys().map(String::as_str));
        match did_you_mean(bare, candidates) {
            Some(best) => format!("did you mean `{best}`?"),
            None => {
                "a type is a primitive (string, bytes, bool, int, float, json, i8..i64, u8..u64, f32, f64), a declared type, `list<T>` or `map<T>`, with `?` for optional".to_owned()
            }
        }
    }

    /// Resolves a message type (`receive` or `send`), or `string` when absent.
    pub(super) fn message_type(&mut self, ty: Option<&Spanned<String>>) -> String {
        let Some(ty) = ty else {
            return "String".to_owned();
        };
        let text = ty.value.trim();
        if let Some(p) = Primitive::from_name(text).filter(|p| p.in_messages()) {
            return p.rust().to_owned();
        }
        if let Some(ident) = self.types.get(text) {
            return ident.clone();
        }
        let candidates = Primitive::ALL
            .into_iter()
            .filter(|p| p.in_messages())
            .map(|p| -> &str { p.name() })
            .chain(self.types.keys().map(String::as_str));
        let hint = if let Some(ours) = Primitive::foreign_spelling(text)
            .filter(|ours| !ours.starts_with("list<") && !ours.starts_with("map<"))
        {
            format!("the spec spells this type `{ours}`")
        } else if text.starts_with("list<") || text.starts_with("map<") {
            "a message is one value: declare a struct type with this as a field, and send that"
                .to_owned()
        } else {
            match did_you_mean(text, candidates) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "a message is string, bytes, int, float, bool, json, frame (text or binary as it comes), or a type declared under `types:`".to_owned(),
            }
        };
        self.error_hint(
            ty.referenced,
            format!("unknown message type `{text}`"),
            hint,
        );
        String::new()
    }
}
