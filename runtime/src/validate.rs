//! DTO validation declared in the spec (string length, numeric range, pattern, list length,
//! allowed values), and the error list Cafeto answers with:
//! `{"loc": ["message"], "type": "string_too_short", "msg": "..."}`.

use std::fmt::Display;
use std::sync::OnceLock;

use regex::Regex;
use serde::Deserializer;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One problem with one field of an incoming message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct FieldError {
    /// Where the problem is: field names (and list indexes) from the message's root.
    pub loc: Vec<String>,
    /// What kind of problem it is (`missing`, `string_too_short`, `less_than_equal`, ...).
    #[serde(rename = "type")]
    pub kind: String,
    /// A sentence for people.
    pub msg: String,
}

/// Collects the field errors of one message; generated `validate` methods call it per rule.
#[derive(Debug, Default)]
pub struct Validator {
    prefix: Vec<String>,
    errors: Vec<FieldError>,
}

/// A `pattern` rule of the spec: its regular expression, compiled on first use and then shared
/// by every message without a lock. Generated code keeps one in a `static` per rule.
#[derive(Debug)]
pub struct Pattern {
    source: &'static str,
    regex: OnceLock<Option<Regex>>,
}

impl Pattern {
    /// The rule for `source` (checked when the spec was validated).
    pub const fn new(source: &'static str) -> Self {
        Pattern {
            source,
            regex: OnceLock::new(),
        }
    }

    /// Whether `value` matches (never, should the expression not compile).
    pub fn is_match(&self, value: &str) -> bool {
        self.regex
            .get_or_init(|| Regex::new(self.source).ok())
            .as_ref()
            .is_some_and(|r| r.is_match(value))
    }
}

impl Validator {
    /// An empty validator.
    pub fn new() -> Self {
        Validator::default()
    }

    fn fail(&mut self, field: &str, kind: &str, msg: String) {
        let mut loc = self.prefix.clone();
        loc.push(field.to_owned());
        self.errors.push(FieldError {
            loc,
            kind: kind.to_owned(),
            msg,
        });
    }

    /// At least `min` characters. A character is one to four bytes, so the length in bytes
    /// settles most strings without counting their characters.
    pub fn min_length(&mut self, field: &str, value: &str, min: usize) {
        if value.len() / 4 < min && value.chars().count() < min {
            let msg = format!("String should have at least {min} characters");
            self.fail(field, "string_too_short", msg);
        }
    }

    /// At most `max` characters (as [`Validator::min_length`], counted only when the length
    /// in bytes does not settle it).
    pub fn max_length(&mut self, field: &str, value: &str, max: usize) {
        if value.len() > max && value.chars().count() > max {
            let msg = format!("String should have at most {max} characters");
            self.fail(field, "string_too_long", msg);
        }
    }

    /// At least `min`.
    pub fn min<T: PartialOrd + Display + Copy>(&mut self, field: &str, value: &T, min: T) {
        if *value < min {
            let msg = format!("Input should be greater than or equal to {min}");
            self.fail(field, "greater_than_equal", msg);
        }
    }

    /// At most `max`.
    pub fn max<T: PartialOrd + Display + Copy>(&mut self, field: &str, value: &T, max: T) {
        if *value > max {
            let msg = format!("Input should be less than or equal to {max}");
            self.fail(field, "less_than_equal", msg);
        }
    }

    /// Matches the regular expression of `pattern`.
    pub fn pattern(&mut self, field: &str, value: &str, pattern: &Pattern) {
        if !pattern.is_match(value) {
            let msg = format!("String should match pattern '{}'", pattern.source);
            self.fail(field, "string_pattern_mismatch", msg);
        }
    }

    /// At least `min` items.
    pub fn min_items<T>(&mut self, field: &str, value: &[T], min: usize) {
        if value.len() < min {
            let msg = format!("List should have at least {min} items");
            self.fail(field, "too_short", msg);
        }
    }

    /// At most `max` items.
    pub fn max_items<T>(&mut self, field: &str, value: &[T], max: usize) {
        if value.len() > max {
            let msg = format!("List should have at most {max} items");
            self.fail(field, "too_long", msg);
        }
    }

    /// One of `allowed`.
    pub fn one_of(&mut self, field: &str, value: &str, allowed: &[&str]) {
        if !allowed.contains(&value) {
            let quoted: Vec<String> = allowed.iter().map(|a| format!("'{a}'")).collect();
            let msg = match quoted.split_last() {
                Some((last, rest)) if !rest.is_empty() => {
                    format!("Input should be {} or {last}", rest.join(", "))
                }
                _ => format!("Input should be {}", quoted.join("")),
            };
            self.fail(field, "enum", msg);
        }
    }

    /// Validates a nested message under `field`.
    pub fn nested<T: JsonMessage>(&mut self, field: &str, value: &T) {
        self.prefix.push(field.to_owned());
        value.validate(self);
        self.prefix.pop();
    }

    /// Validates each message of a list under `field`, with its index in `loc`.
    pub fn nested_each<T: JsonMessage>(&mut self, field: &str, values: &[T]) {
        self.prefix.push(field.to_owned());
        for (i, value) in values.iter().enumerate() {
            self.nested(&i.to_string(), value);
        }
        self.prefix.pop();
    }

    /// Validates every message inside `value` (a message type, or lists, maps, options and
    /// boxes of them, nested to any depth) under `field`, with list indexes and map keys in
    /// `loc`.
    pub fn nested_deep<T: Nested + ?Sized>(&mut self, field: &str, value: &T) {
        value.validate_at(field, self);
    }

    /// The errors found, if any.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(self.errors)
        }
    }
}

/// Marks a serde type as travelling as JSON; generated spec types implement it, with the
/// spec's validation rules in `validate`.
pub trait JsonMessage: Serialize + DeserializeOwned + Send + 'static {
    /// Checks the spec's rules, reporting each broken one to `validator`.
    fn validate(&self, validator: &mut Validator) {
        let _ = validator;
    }

    /// Reads a message in one pass where `Deserialize` would buffer it: generated unions read
    /// an object whose tag comes first this way (the `tag_first` helper). `Ok(None)`, or an
    /// error, sends the message to `Deserialize`, which decides; types without a faster way
    /// keep this default and go there directly.
    fn deserialize_tag_first<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Self>, D::Error> {
        let _ = deserializer;
        Ok(None)
    }
}

/// A value that may hold messages with rules, at any depth: generated message types implement
/// it by validating themselves; lists, string-keyed maps, options and boxes by validating what
/// they hold, each item under its index or key.
pub trait Nested {
    /// Validates the messages in `self` under `field`.
    fn validate_at(&self, field: &str, v: &mut Validator);
}

impl<T: Nested> Nested for [T] {
    fn validate_at(&self, field: &str, v: &mut Validator) {
        v.prefix.push(field.to_owned());
        for (i, value) in self.iter().enumerate() {
            value.validate_at(&i.to_string(), v);
        }
        v.prefix.pop();
    }
}

impl<T: Nested> Nested for Vec<T> {
    fn validate_at(&self, field: &str, v: &mut Validator) {
        self.as_slice().validate_at(field, v);
    }
}

impl<T: Nested> Nested for std::collections::BTreeMap<String, T> {
    fn validate_at(&self, field: &str, v: &mut Validator) {
        v.prefix.push(field.to_owned());
        for (key, value) in self {
            value.validate_at(key, v);
        }
        v.prefix.pop();
    }
}

impl<T: Nested> Nested for Option<T> {
    fn validate_at(&self, field: &str, v: &mut Validator) {
        if let Some(value) = self {
            value.validate_at(field, v);
        }
    }
}

impl<T: Nested + ?Sized> Nested for Box<T> {
    fn validate_at(&self, field: &str, v: &mut Validator) {
        (**self).validate_at(field, v);
    }
}

/// Turns a JSON decoding failure into field errors: a missing field is `missing` at its
/// location, anything else `json_invalid` or `invalid_type` where it happened.
pub(crate) fn decode_errors(
    error: serde_path_to_error::Error<serde_json::Error>,
) -> Vec<FieldError> {
    let mut loc: Vec<String> = error
        .path()
        .iter()
        .map(|segment| segment.to_string())
        .filter(|s| s != "?")
        .collect();
    let inner = error.into_inner();
    let text = inner.to_string();
    if let Some(rest) = text.strip_prefix("missing field `") {
        if let Some(field) = rest.split('`').next() {
            loc.push(field.to_owned());
        }
        return vec![FieldError {
            loc,
            kind: "missing".to_owned(),
            msg: "Field required".to_owned(),
        }];
    }
    let kind = if inner.is_data() {
        "invalid_type"
    } else {
        "json_invalid"
    };
    let msg = match text.find(" at line ") {
        Some(end) => text[..end].to_owned(),
        None => text,
    };
    vec![FieldError {
        loc,
        kind: kind.to_owned(),
        msg,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_report_cafeto_style_errors() {
        let mut v = Validator::new();
        v.min_length("message", "", 1);
        v.max_length("message", "abcd", 3);
        v.min("age", &17, 18);
        v.max("age", &121.5, 120.0);
        static LOWER: Pattern = Pattern::new("^[a-z]+$");
        v.pattern("user", "Bob!", &LOWER);
        v.min_items("tags", &[1], 2);
        v.max_items("tags", &[1, 2, 3], 2);
        v.one_of("room", "attic", &["lobby", "garden", "cellar"]);
        v.min_length("ok", "fine", 1);
        let errors = v.finish().unwrap_err();
        let kinds: Vec<&str> = errors.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "string_too_short",
                "string_too_long",
                "greater_than_equal",
                "less_than_equal",
                "string_pattern_mismatch",
                "too_short",
                "too_long",
                "enum"
            ]
        );
        assert_eq!(
            errors[7].msg,
            "Input should be 'lobby', 'garden' or 'cellar'"
        );
        assert_eq!(errors[0].loc, ["message"]);
        assert!(Validator::new().finish().is_ok());
    }

    #[test]
    fn decoding_failures_become_field_errors() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Inner {
            name: String,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            inner: Inner,
        }
        let mut de = serde_json::Deserializer::from_str(r#"{"inner": {}}"#);
        let error = serde_path_to_error::deserialize::<_, Outer>(&mut de).unwrap_err();
        let errors = decode_errors(error);
        assert_eq!(errors[0].loc, ["inner", "name"]);
        assert_eq!(errors[0].kind, "missing");
        let mut de = serde_json::Deserializer::from_str(r#"{"inner": {"name": 5}}"#);
        let error = serde_path_to_error::deserialize::<_, Outer>(&mut de).unwrap_err();
        let errors = decode_errors(error);
        assert_eq!(errors[0].loc, ["inner", "name"]);
        assert_eq!(errors[0].kind, "invalid_type");
    }

    #[test]
    fn lengths_count_characters_not_bytes_at_every_boundary() {
        // One-, two-, three- and four-byte characters: the length in bytes settles some
        // strings, the others are counted; every answer must be the character count's.
        for unit in ["a", "é", "€", "😀"] {
            for chars in 0..=6 {
                let value = unit.repeat(chars);
                for limit in 0..=7 {
                    let mut v = Validator::new();
                    v.min_length("f", &value, limit);
                    assert_eq!(
                        v.finish().is_err(),
                        chars < limit,
                        "min_length {limit} of {chars} x {unit:?}"
                    );
                    let mut v = Validator::new();
                    v.max_length("f", &value, limit);
                    assert_eq!(
                        v.finish().is_err(),
                        chars > limit,
                        "max_length {limit} of {chars} x {unit:?}"
                    );
                }
            }
        }
    }
}
