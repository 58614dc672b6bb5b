//! Validation rules: a field's rules checked against its type and lowered to checks.

use serde_saphyr::Location;

use crate::ir::CheckIr;
use crate::spec::{Number, Rules, Spanned};
use crate::typeexpr::{Primitive, TypeExpr};

use super::Lowerer;
use super::text::{literal, literal_raw};
use super::types::int_range;

impl Lowerer<'_> {
    /// The validation calls for a field's rules, checking that each rule fits the field's type.
    pub(super) fn checks(
        &mut self,
        ty: &Spanned<String>,
        rules: &Rules,
        in_variant: bool,
    ) -> Vec<CheckIr> {
        let base = ty.value.trim().trim_end_matches('?').trim_end();
        if self.type_expr(base).is_err() {
            // The unknown type is reported once, where it is named; its rules are not judged.
            return Vec::new();
        }
        let expr = TypeExpr::parse(base);
        let primitive = expr.primitive();
        let is_string = primitive == Some(Primitive::String);
        let is_int = primitive.is_some_and(Primitive::is_integer);
        let is_float = primitive.is_some_and(Primitive::is_float);
        let is_list = matches!(expr, TypeExpr::List(_));
        let mut checks = Vec::new();
        // The rule's name is also the `Validator` method that checks it.
        let mut check =
            |this: &mut Self, ok: bool, at: Location, rule: &str, needs: &str, arg: String| {
                if in_variant {
                    this.error_hint(
                        at,
                        format!("`{rule}` inside a union variant is not supported"),
                        "put the fields in a struct type and name it as the variant",
                    );
                } else if ok {
                    checks.push(CheckIr {
                        method: rule.to_owned(),
                        arg,
                        before: String::new(),
                    });
                } else {
                    this.error_hint(
                        at,
                        format!("`{rule}` applies to {needs}, and this field is `{base}`"),
                        format!("remove `{rule}`, or change the field's type"),
                    );
                }
            };
        let counts = [
            ("min_length", &rules.min_length, is_string, "strings"),
            ("max_length", &rules.max_length, is_string, "strings"),
            ("min_items", &rules.min_items, is_list, "lists"),
            ("max_items", &rules.max_items, is_list, "lists"),
        ];
        for (rule, count, ok, needs) in counts {
            if let Some(n) = count {
                check(
                    self,
                    ok,
                    n.referenced,
                    rule,
                    needs,
                    format!(", {}", n.value),
                );
            }
        }
        // Float bounds go in a named const, where a literal near a constant of `std` (`3.14`)
        // may be allowed: clippy's `approx_constant` denies it in an expression.
        let float_ty = primitive.filter(|_| is_float).map(Primitive::rust);
        let mut float_bounds = Vec::new();
        for (rule, bound) in [("min", &rules.min), ("max", &rules.max)] {
            if let Some(n) = bound {
                let literal = self.bound_literal(n, rule, base, is_int);
                let arg = match float_ty {
                    Some(ty) => {
                        let name = rule.to_uppercase();
                        float_bounds.push((
                            rule,
                            format!(
                                "#[allow(clippy::approx_constant)] const {name}: {ty} = {literal};"
                            ),
                        ));
                        format!(", {name}")
                    }
                    None => format!(", {literal}"),
                };
                check(self, is_int || is_float, n.referenced, rule, "numbers", arg);
            }
        }
        let spans = [
            (
                "min_length",
                "max_length",
                rules
                    .min_length
                    .as_ref()
                    .map(|n| (n.referenced, Number::Int(n.value.into()))),
                rules
                    .max_length
                    .as_ref()
                    .map(|n| Number::Int(n.value.into())),
            ),
            (
                "min_items",
                "max_items",
                rules
                    .min_items
                    .as_ref()
                    .map(|n| (n.referenced, Number::Int(n.value.into()))),
                rules
                    .max_items
                    .as_ref()
                    .map(|n| Number::Int(n.value.into())),
            ),
            (
                "min",
                "max",
                rules.min.as_ref().map(|n| (n.referenced, n.value)),
                rules.max.as_ref().map(|n| n.value),
            ),
        ];
        for (lo_rule, hi_rule, lo, hi) in spans {
            if let (Some((at, lo)), Some(hi)) = (lo, hi) {
                let above = match (lo, hi) {
                    (Number::Int(lo), Number::Int(hi)) => lo > hi,
                    (lo, hi) => lo.as_f64() > hi.as_f64(),
                };
                if above {
                    self.error_hint(
                        at,
                        format!("{lo_rule} {lo} is above {hi_rule} {hi}"),
                        "swap them",
                    );
                }
            }
        }
        if let Some(p) = &rules.pattern {
            if let Err(e) = regex::Regex::new(&p.value) {
                let text = e.to_string();
                let last = text.lines().last().unwrap_or("").trim();
                let first = last.strip_prefix("error: ").unwrap_or(last).to_owned();
                self.error_hint(
                    p.referenced,
                    format!("invalid pattern: {first}"),
                    "write a regular expression in the syntax of the `regex` crate",
                );
            }
            check(
                self,
                is_string,
                p.referenced,
                "pattern",
                "strings",
                ", &PATTERN".to_owned(),
            );
        }
        if let Some(values) = &rules.one_of {
            if values.value.is_empty() {
                self.error_hint(
                    values.referenced,
                    "`one_of: []` allows no value, so no message with this field is ever valid"
                        .to_owned(),
                    "list the allowed values, or remove the rule",
                );
            }
            let list: Vec<String> = values.value.iter().map(|v| literal(v)).collect();
            check(
                self,
                is_string,
                values.referenced,
                "one_of",
                "strings",
                format!(", &[{}]", list.join(", ")),
            );
        }
        for (rule, before) in float_bounds {
            if let Some(check) = checks.iter_mut().find(|c| c.method == rule) {
                check.before = before;
            }
        }
        // One compiled expression per rule, in a static beside the check (a field has at most
        // one `pattern`).
        if let Some(p) = &rules.pattern {
            if let Some(check) = checks.iter_mut().find(|c| c.method == "pattern") {
                check.before = format!(
                    "static PATTERN: wsgen_runtime::codegen::Pattern = wsgen_runtime::codegen::Pattern::new({});",
                    literal_raw(&p.value)
                );
            }
        }
        checks
    }

    /// The Rust literal for a `min` or `max` bound, checked against the field's type. Whole
    /// numbers are exact (no rounding through `f64`); an `f32` bound is printed as the `f32` it
    /// becomes.
    pub(super) fn bound_literal(
        &mut self,
        n: &Spanned<Number>,
        rule: &str,
        base: &str,
        is_int: bool,
    ) -> String {
        if let Number::Float(value) = n.value {
            if !value.is_finite() {
                self.error_hint(
                    n.referenced,
                    format!("`{rule}` must be a finite number"),
                    "write a number such as `0` or `1.5`",
                );
                return "0".to_owned();
            }
        }
        if is_int {
            let (lo, hi) = int_range(base);
            let whole = match n.value {
                Number::Int(whole) => Some(whole),
                // `2.0` is a whole number; anything beyond 2^53 is not exact as a float.
                Number::Float(value)
                    if value.fract() == 0.0 && value.abs() <= 9_007_199_254_740_992.0 =>
                {
                    Some(value as i128)
                }
                Number::Float(_) => None,
            };
            match whole {
                Some(whole) if (lo..=hi).contains(&whole) => return format!("{whole}"),
                Some(_) => self.error_hint(
                    n.referenced,
                    format!("`{rule}: {}` is out of range for the field's type `{base}` ({lo} to {hi})", n.value),
                    "use a whole number in the type's range",
                ),
                // A whole number beyond what the type holds (`18446744073709551616` for a
                // `u64` is read as a float; `hi + 1` is exact as a float, `hi` may not be): out of
                // range, not "not whole".
                None if matches!(n.value, Number::Float(v) if v.fract() == 0.0 && (v < lo as f64 || v >= (hi + 1) as f64)) => {
                    self.error_hint(
                        n.referenced,
                        format!("`{rule}: {}` is out of range for the field's type `{base}` ({lo} to {hi})", n.value),
                        "use a whole number in the type's range",
                    )
                }
                None => self.error_hint(
                    n.referenced,
                    format!("`{rule}: {}` is not a whole number, and the field's type `{base}` is an integer", n.value),
                    "use a whole number in the type's range",
                ),
            }
            return "0".to_owned();
        }
        let value = n.value.as_f64();
        if base == "f32" {
            // The nearest f32; only what rounds beyond `f32::MAX` does not fit.
            let narrow = value as f32;
            if narrow.is_infinite() {
                self.error_hint(
                    n.referenced,
                    format!("`{rule}: {}` does not fit an f32", n.value),
                    "use a smaller number, or make the field `f64`",
                );
                return "0.0".to_owned();
            }
            return format!("{narrow:?}");
        }
        format!("{value:?}")
    }
}
