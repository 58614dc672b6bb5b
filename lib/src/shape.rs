//! Shape checking: the YAML, read as a tree of positioned nodes, walked against the spec
//! format's JSON Schema (the same one `schemas/` holds, derived from the spec types), so that
//! every unknown key, wrong type, missing key and unknown value is reported in one run, each at
//! its line, with a did-you-mean where one fits. Only a spec with the right shape goes on to the
//! typed parse.

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value as Json;
use serde_saphyr::{Location, Spanned};

use crate::diagnostic::{Diagnostic, Source};

/// A YAML node with its position.
#[derive(Debug)]
pub enum Node {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool,
    /// A whole number.
    Integer,
    /// A number with a fraction or an exponent; `true` for a whole number too large for any
    /// integer type (`99999999999999999999`), which passes as an integer here so that
    /// validation can say it is out of range.
    Float(bool),
    /// Any other scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Spanned<Node>>),
    /// A mapping, keys in order.
    Map(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NodeVisitor;
        impl<'de> Visitor<'de> for NodeVisitor {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E: de::Error>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Bool)
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Integer)
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Integer)
            }
            fn visit_i128<E: de::Error>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Integer)
            }
            fn visit_u128<E: de::Error>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Integer)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v.fract() == 0.0 && v.abs() >= 9.2e18))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_owned()))
            }
            fn visit_bytes<E: de::Error>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Str(String::new()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    entries.push((key, map.next_value::<Spanned<Node>>()?));
                }
                Ok(Node::Map(entries))
            }
        }
        deserializer.deserialize_any(NodeVisitor)
    }
}

/// Where the tree holds a whole number too large for any integer type.
pub fn huge_numbers(node: &Spanned<Node>) -> Vec<Location> {
    match &node.value {
        Node::Float(true) => vec![node.referenced],
        Node::Seq(items) => items.iter().flat_map(huge_numbers).collect(),
        Node::Map(entries) => entries.iter().flat_map(|(_, v)| huge_numbers(v)).collect(),
        _ => Vec::new(),
    }
}

impl Node {
    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "nothing",
            Node::Bool => "a boolean",
            Node::Integer => "a whole number",
            Node::Float(_) => "a number",
            Node::Str(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a map",
        }
    }

    /// Whether the node can be read as the JSON Schema type `ty`. YAML scalars are strings too.
    fn fits(&self, ty: &str) -> bool {
        matches!(
            (ty, self),
            ("null", Node::Null)
                | ("boolean", Node::Bool)
                | ("integer", Node::Integer | Node::Float(true))
                | ("number", Node::Integer | Node::Float(_))
                | (
                    "string",
                    Node::Str(_) | Node::Integer | Node::Float(_) | Node::Bool
                )
                | ("array", Node::Seq(_))
                | ("object", Node::Map(_))
        )
    }
}

fn describe(ty: &str) -> &'static str {
    match ty {
        "null" => "nothing",
        "boolean" => "true or false",
        "integer" => "a whole number",
        "number" => "a number",
        "string" => "a string",
        "array" => "a list",
        "object" => "a map",
        _ => "a value",
    }
}

/// Checks `root` against the spec schema; returns every problem found.
pub fn check(source: &Source, root: &Spanned<Node>) -> Vec<Diagnostic> {
    static SCHEMA: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| {
        serde_json::to_value(schemars::schema_for!(crate::spec::Spec)).unwrap_or_default()
    });
    check_against(source, root, &SCHEMA)
}

/// Checks `root` against a given JSON Schema (such as the file in `schemas/`).
pub fn check_against(source: &Source, root: &Spanned<Node>, schema: &Json) -> Vec<Diagnostic> {
    let mut checker = Checker {
        source,
        root: schema,
        errors: Vec::new(),
    };
    checker.node(root, schema);
    checker.errors
}

/// Reads a spec's text as a tree of positioned nodes.
pub fn tree(source: &Source) -> Result<Spanned<Node>, crate::Diagnostics> {
    crate::yaml::tree(source)
}

struct Checker<'a> {
    source: &'a Source,
    root: &'a Json,
    errors: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, at: Location, message: String, hint: Option<String>) {
        let mut d = Diagnostic::at(self.source, at, message);
        d.hint = hint;
        self.errors.push(d);
    }

    /// Follows `$ref`.
    fn resolve(&self, schema: &'a Json) -> &'a Json {
        let mut schema = schema;
        for _ in 0..32 {
            match schema.get("$ref").and_then(Json::as_str) {
                Some(reference) => {
                    let name = reference.rsplit('/').next().unwrap_or_default();
                    match self.root.get("$defs").and_then(|d| d.get(name)) {
                        Some(target) => schema = target,
                        None => return schema,
                    }
                }
                None => return schema,
            }
        }
        schema
    }

    /// The allowed string values, if the schema is an enum of constants.
    fn constants(&self, schema: &'a Json) -> Option<Vec<&'a str>> {
        let schema = self.resolve(schema);
        if let Some(values) = schema.get("enum").and_then(Json::as_array) {
            return Some(values.iter().filter_map(Json::as_str).collect());
        }
        let branches = schema.get("oneOf").and_then(Json::as_array)?;
        branches
            .iter()
            .map(|b| b.get("const").and_then(Json::as_str))
            .collect()
    }

    fn node(&mut self, node: &Spanned<Node>, schema: &'a Json) {
        let schema = self.resolve(schema);
        let at = node.referenced;
        if let Some(allowed) = self.constants(schema) {
            match &node.value {
                Node::Str(value) if allowed.contains(&value.as_str()) => {}
                Node::Str(value) => {
                    let hint = match crate::diagnostic::did_you_mean(value, allowed.iter().copied())
                    {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => format!("use one of: {}", allowed.join(", ")),
                    };
                    self.error(at, format!("`{value}` is not allowed here"), Some(hint));
                }
                other => self.error(
                    at,
                    format!(
                        "expected one of {}, found {}",
                        allowed.join(", "),
                        other.kind()
                    ),
                    None,
                ),
            }
            return;
        }
        if let Some(branches) = schema.get("anyOf").and_then(Json::as_array) {
            // An optional value (`null` allowed) or a choice between shapes: check against the
            // branch whose type fits the node, else report what was expected.
            let mut expected = Vec::new();
            for branch in branches {
                let branch = self.resolve(branch);
                if self.constants(branch).is_some() && matches!(node.value, Node::Str(_)) {
                    return self.node(node, branch);
                }
                let types = types_of(branch);
                if types.iter().any(|t| node.value.fits(t)) {
                    return self.node(node, branch);
                }
                expected.extend(types.iter().map(|t| describe(t)));
            }
            if matches!(node.value, Node::Null) {
                return;
            }
            expected.dedup();
            self.error(
                at,
                format!(
                    "expected {}, found {}",
                    expected.join(" or "),
                    node.value.kind()
                ),
                None,
            );
            return;
        }
        let types = types_of(schema);
        if !types.is_empty() && !types.iter().any(|t| node.value.fits(t)) {
            let expected: Vec<&str> = types
                .iter()
                .filter(|t| **t != "null")
                .map(|t| describe(t))
                .collect();
            self.error(
                at,
                format!(
                    "expected {}, found {}",
                    expected.join(" or "),
                    node.value.kind()
                ),
                None,
            );
            return;
        }
        match &node.value {
            Node::Map(entries) => self.map(at, entries, schema),
            Node::Seq(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for item in items {
                        self.node(item, item_schema);
                    }
                }
            }
            _ => {}
        }
    }

    fn map(
        &mut self,
        at: Location,
        entries: &[(Spanned<String>, Spanned<Node>)],
        schema: &'a Json,
    ) {
        let properties = schema.get("properties").and_then(Json::as_object);
        let additional = schema.get("additionalProperties");
        for (key, value) in entries {
            match properties.and_then(|p| p.get(&key.value)) {
                Some(property) => self.node(value, property),
                None => match additional {
                    Some(Json::Bool(false)) | None if properties.is_some() => {
                        let names: Vec<&str> = properties
                            .map(|p| p.keys().map(String::as_str).collect())
                            .unwrap_or_default();
                        let hint = match crate::diagnostic::did_you_mean(
                            &key.value,
                            names.iter().copied(),
                        ) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => format!("the keys here are: {}", names.join(", ")),
                        };
                        self.error(
                            key.referenced,
                            format!("unknown key `{}`", key.value),
                            Some(hint),
                        );
                    }
                    Some(additional) if additional.is_object() => self.node(value, additional),
                    _ => {}
                },
            }
        }
        if let Some(required) = schema.get("required").and_then(Json::as_array) {
            for name in required.iter().filter_map(Json::as_str) {
                if !entries.iter().any(|(k, _)| k.value == name) {
                    self.error(
                        at,
                        format!("missing key `{name}`"),
                        Some(format!("add `{name}:`")),
                    );
                }
            }
        }
    }
}

fn types_of(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}
