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
    check_for_repair(source, root).errors
}

/// Checks `root` against a given JSON Schema (such as the file in `schemas/`).
pub fn check_against(source: &Source, root: &Spanned<Node>, schema: &Json) -> Vec<Diagnostic> {
    checked(source, root, schema).errors
}

/// The spec's shape problems, and how to set them aside so that the rest can be checked in the
/// same run: the entries to leave out (`repairs`, each a key's location) and the parts they
/// are in (`tainted`, such as `types.Order` or `controllers.shop.endpoints.place`), whose own
/// semantic checks wait for the next run. `repairable` is false when a problem is outside any
/// type or endpoint: then every semantic check waits.
pub(crate) struct Checked {
    pub errors: Vec<Diagnostic>,
    pub repairs: Vec<Location>,
    pub tainted: Vec<(String, Location)>,
    pub repairable: bool,
}

/// Checks `root` against the spec schema, with what [`Checked`] says about setting problems
/// aside.
pub(crate) fn check_for_repair(source: &Source, root: &Spanned<Node>) -> Checked {
    static SCHEMA: std::sync::LazyLock<Json> = std::sync::LazyLock::new(|| {
        serde_json::to_value(schemars::schema_for!(crate::spec::Spec)).unwrap_or_default()
    });
    checked(source, root, &SCHEMA)
}

fn checked(source: &Source, root: &Spanned<Node>, schema: &Json) -> Checked {
    let mut checker = Checker {
        source,
        root: schema,
        errors: Vec::new(),
        path: Vec::new(),
        attributed: 0,
        repairs: Vec::new(),
        tainted: Vec::new(),
        outside: false,
    };
    checker.node(root, schema);
    let repairable = !checker.outside && checker.attributed == checker.errors.len();
    Checked {
        errors: checker.errors,
        repairs: checker.repairs,
        tainted: checker.tainted,
        repairable,
    }
}

/// How many keys deep a part is: `types.<name>`, `controllers.<c>.endpoints.<e>`.
fn part_depth(path: &[(String, Location)]) -> Option<usize> {
    match path.first().map(|(k, _)| k.as_str()) {
        Some("types") => Some(2),
        Some("controllers") if path.get(2).is_some_and(|(k, _)| k == "endpoints") => Some(4),
        _ => None,
    }
}

/// Reads a spec's text as a tree of positioned nodes.
pub fn tree(source: &Source) -> Result<Spanned<Node>, crate::Diagnostics> {
    crate::yaml::tree(source)
}

struct Checker<'a> {
    source: &'a Source,
    root: &'a Json,
    errors: Vec<Diagnostic>,
    /// The keys leading to the entry being checked, with where each is.
    path: Vec<(String, Location)>,
    /// How many errors lie in an entry set aside by `repairs`.
    attributed: usize,
    repairs: Vec<Location>,
    tainted: Vec<(String, Location)>,
    /// A problem that no repair inside a type or endpoint can set aside.
    outside: bool,
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
            let (errors, attributed) = (self.errors.len(), self.attributed);
            self.path.push((key.value.clone(), key.referenced));
            self.entry(key, value, properties, additional);
            let found = self.errors.len() - errors;
            if found > self.attributed - attributed {
                // Problems in this entry that no entry inside it sets aside: leave this one out,
                // if it lies inside a type or an endpoint; a problem of the part itself (a
                // missing key) sets the whole part aside.
                match part_depth(&self.path) {
                    Some(depth) if self.path.len() >= depth => {
                        if self.path.len() > depth {
                            self.repairs.push(key.referenced);
                        }
                        let part = &self.path[..depth];
                        let name = part.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>();
                        let taint = (name.join("."), part[depth - 1].1);
                        if !self.tainted.contains(&taint) {
                            self.tainted.push(taint);
                        }
                        self.attributed = attributed + found;
                    }
                    _ => self.outside = true,
                }
            }
            self.path.pop();
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

    /// Checks one entry of a map: a known key against its schema, an unknown one reported.
    fn entry(
        &mut self,
        key: &Spanned<String>,
        value: &Spanned<Node>,
        properties: Option<&'a serde_json::Map<String, Json>>,
        additional: Option<&'a Json>,
    ) {
        {
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
    }
}

fn types_of(schema: &Json) -> Vec<&str> {
    match schema.get("type") {
        Some(Json::String(t)) => vec![t.as_str()],
        Some(Json::Array(ts)) => ts.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The lines (1-based, inclusive) an entry whose key is at `at` spans: in block style, until a
/// line indented no deeper than the key; in flow style (`{ a: 1, key: v }`), to its `,`, `}` or
/// `]`.
fn extent(lines: &[Vec<char>], at: Location) -> ((usize, usize), (usize, usize)) {
    let line = usize::try_from(at.line()).unwrap_or(1).max(1) - 1;
    let column = usize::try_from(at.column()).unwrap_or(1).max(1) - 1;
    let Some(text) = lines.get(line) else {
        return ((line, column), (line, column));
    };
    let before = text.iter().take(column).rev().find(|c| !c.is_whitespace());
    if matches!(before, Some('{' | ',')) {
        // Flow style: to the comma that ends the entry (included) or the bracket that closes
        // the collection (excluded), outside quotes, comments and nested brackets. A quote
        // opens a quoted scalar only where a scalar may begin (a plain `don't` is no quote),
        // and `\"` does not end a double-quoted one.
        let (mut depth, mut quote) = (0usize, None::<char>);
        let (mut l, mut c) = (line, column);
        while let Some(row) = lines.get(l) {
            // Where a token may begin: after a line break, blanks or `{ [ , :`.
            let mut token_start = true;
            while let Some(&ch) = row.get(c) {
                match (quote, ch) {
                    (Some('"'), '\\') => c += 1,
                    (Some(q), ch) if ch == q => quote = None,
                    (Some(_), _) => {}
                    (None, '#') if token_start => break,
                    (None, '"' | '\'') if token_start => quote = Some(ch),
                    (None, '{' | '[') => depth += 1,
                    (None, '}' | ']') if depth == 0 => {
                        return ((line, column), (l, c.saturating_sub(1)));
                    }
                    (None, '}' | ']') => depth -= 1,
                    (None, ',') if depth == 0 => return ((line, column), (l, c)),
                    _ => {}
                }
                token_start = quote.is_none() && (ch.is_whitespace() || "{[,:".contains(ch));
                c += 1;
            }
            l += 1;
            c = 0;
        }
        return ((line, column), (lines.len().saturating_sub(1), usize::MAX));
    }
    // Block style: the key's line from the key on, and every deeper (or blank) line after it.
    let mut end = line;
    for (i, row) in lines.iter().enumerate().skip(line + 1) {
        let indent = row.iter().take_while(|c| **c == ' ').count();
        let blank = row.iter().all(|c| c.is_whitespace()) || row.get(indent) == Some(&'#');
        if !blank && indent <= column {
            break;
        }
        if !blank {
            end = i;
        }
    }
    ((line, column), (end, usize::MAX))
}

/// `text` with the entries whose keys are at `repairs` blanked out (every character but line
/// breaks made a space), so that every other line and column stays where it was.
pub(crate) fn without_entries(text: &str, repairs: &[Location]) -> String {
    let mut lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    for at in repairs {
        let ((l0, c0), (l1, c1)) = extent(&lines, *at);
        for (l, row) in lines.iter_mut().enumerate().take(l1 + 1).skip(l0) {
            let from = if l == l0 { c0 } else { 0 };
            let to = if l == l1 {
                c1.min(row.len().saturating_sub(1))
            } else {
                row.len().saturating_sub(1)
            };
            for c in row.iter_mut().take(to + 1).skip(from) {
                if *c != '\r' {
                    *c = ' ';
                }
            }
        }
    }
    lines
        .iter()
        .map(|l| l.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text` with the value of each part at `parts` (a type or an endpoint, by its key's location)
/// replaced by a stand-in that reads as a well-formed part of its kind, every other line and
/// column unchanged. This is the second way to set problems aside, for when leaving out the
/// problem entries leaves a part that no longer reads (a type whose only field was the problem).
/// `None` when a stand-in does not fit (a part written in flow style with too short a value).
pub(crate) fn with_parts_set_aside(text: &str, parts: &[(String, Location)]) -> Option<String> {
    let mut lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    for (n, (name, at)) in parts.iter().enumerate() {
        let stand_in: Vec<char> = if name.starts_with("types.") {
            " {fields: {}}".chars().collect()
        } else {
            format!(" {{path: {SET_ASIDE_PATH}{n}}}").chars().collect()
        };
        let ((l0, c0), (l1, c1)) = extent(&lines, *at);
        let row = lines.get(l0)?;
        // The key's colon: past a quoted key, the first `:`.
        let mut c = c0;
        if let Some(&q @ ('"' | '\'')) = row.get(c) {
            c += 1;
            while row.get(c).is_some_and(|ch| *ch != q) {
                c += if q == '"' && row.get(c) == Some(&'\\') {
                    2
                } else {
                    1
                };
            }
        }
        let colon = c + row.iter().skip(c).position(|ch| *ch == ':')?;
        // Blank the value; a flow entry keeps the comma that ends it.
        for (l, row) in lines.iter_mut().enumerate().take(l1 + 1).skip(l0) {
            let from = if l == l0 { colon + 1 } else { 0 };
            let mut to = if l == l1 { c1 } else { usize::MAX };
            to = to.min(row.len().saturating_sub(1));
            if l == l1 && c1 != usize::MAX && row.get(to) == Some(&',') {
                to = to.saturating_sub(1);
            }
            for ch in row.iter_mut().take(to + 1).skip(from) {
                if *ch != '\r' {
                    *ch = ' ';
                }
            }
        }
        let row = lines.get_mut(l0)?;
        let room = if c1 == usize::MAX || l1 > l0 {
            usize::MAX
        } else {
            c1.saturating_sub(colon)
        };
        if stand_in.len() > room {
            return None;
        }
        for (i, ch) in stand_in.into_iter().enumerate() {
            match row.get_mut(colon + 1 + i) {
                Some(slot) if *slot != '\r' => *slot = ch,
                Some(_) => row.insert(colon + 1 + i, ch),
                None => row.push(ch),
            }
        }
    }
    Some(
        lines
            .iter()
            .map(|l| l.iter().collect::<String>())
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The path a set-aside endpoint stands in with (numbered), so that what validation says about
/// it can be told apart.
pub(crate) const SET_ASIDE_PATH: &str = "/~wsgen";

/// The lines (1-based, inclusive) of each entry whose key is at one of `keys` (the text split
/// once for all of them).
pub(crate) fn entry_lines(text: &str, keys: &[Location]) -> Vec<(usize, usize)> {
    let lines: Vec<Vec<char>> = text.split('\n').map(|l| l.chars().collect()).collect();
    keys.iter()
        .map(|at| {
            let ((l0, _), (l1, _)) = extent(&lines, *at);
            (l0 + 1, l1 + 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The location of the first `key:` in `text`, as the YAML reader reports it.
    fn key_at(text: &str, key: &str) -> Location {
        let source = Source {
            name: "t.yaml".to_owned(),
            text: text.to_owned(),
        };
        fn find(node: &Spanned<Node>, key: &str) -> Option<Location> {
            match &node.value {
                Node::Map(entries) => entries.iter().find_map(|(k, v)| {
                    if k.value == key {
                        Some(k.referenced)
                    } else {
                        find(v, key)
                    }
                }),
                Node::Seq(items) => items.iter().find_map(|i| find(i, key)),
                _ => None,
            }
        }
        let tree = tree(&source).unwrap_or_else(|e| panic!("{e}"));
        find(&tree, key).unwrap_or_else(|| panic!("no key {key}"))
    }

    /// `text` with the entry at `key` blanked; every line keeps its length.
    fn blank(text: &str, key: &str) -> String {
        let out = without_entries(text, &[key_at(text, key)]);
        let lengths = |t: &str| t.split('\n').map(|l| l.chars().count()).collect::<Vec<_>>();
        assert_eq!(lengths(&out), lengths(text), "positions move: {out:?}");
        out
    }

    /// Each line's words, for comparing what is left.
    fn squeezed(text: &str) -> String {
        text.split('\n')
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_part_set_aside_reads_as_an_empty_one_and_nothing_else_moves() {
        let text = "types:\n  A:\n    fields:\n      x: { typ: u8 }\n  B: { fields: {} }\ncontrollers:\n  c:\n    endpoints: { e: { pth: /e, send: B }, f: { path: /f } }\n";
        let parts = [
            ("types.A".to_owned(), key_at(text, "A")),
            ("controllers.c.endpoints.e".to_owned(), key_at(text, "e")),
        ];
        let out = with_parts_set_aside(text, &parts).unwrap_or_else(|| panic!("no stand-in"));
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(lines.len(), text.split('\n').count());
        assert_eq!(lines[1], "  A: {fields: {}}");
        assert!(lines[2].trim().is_empty() && lines[3].trim().is_empty());
        assert_eq!(lines[4], "  B: { fields: {} }");
        // The flow entry keeps its comma and its neighbour keeps its columns.
        let f = text.split('\n').nth(7).and_then(|l| l.find("f:"));
        assert_eq!(lines[7].find("f:"), f);
        assert!(lines[7].contains("e: {path: /~wsgen1} "), "{}", lines[7]);
        assert!(lines[7].ends_with(" , f: { path: /f } }"), "{}", lines[7]);
        let source = Source {
            name: "t.yaml".to_owned(),
            text: out,
        };
        assert!(tree(&source).is_ok(), "the text with stand-ins still reads");
    }

    #[test]
    fn a_flow_part_too_short_for_its_stand_in_is_not_set_aside() {
        let text = "types: {A: {}, B: {fields: {}}}\n";
        let parts = [("types.A".to_owned(), key_at(text, "A"))];
        assert_eq!(with_parts_set_aside(text, &parts), None);
    }

    #[test]
    fn a_block_entry_goes_with_its_deeper_lines_and_nothing_else_moves() {
        let text = "a:\n  bad:\n    x: 1\n\n    y: [1, 2]\n  good: 2\nb: 3\n";
        let out = blank(text, "bad");
        assert_eq!(squeezed(&out), "a:\n\n\n\n\ngood: 2\nb: 3\n");
    }

    #[test]
    fn a_flow_entry_goes_with_its_comma_and_quoted_commas_stay_inside() {
        let text = "e: { bad: \"a, b\", good: 1 }\n";
        assert_eq!(squeezed(&blank(text, "bad")), "e: { good: 1 }\n");
        let text = "e: { good: 1, bad: { x: [1, 2] } }\n";
        assert_eq!(squeezed(&blank(text, "bad")), "e: { good: 1, }\n");
    }

    #[test]
    fn a_flow_entry_ends_at_its_comma_whatever_apostrophes_escapes_and_comments_hold() {
        // A plain scalar's apostrophe opens no quote (before, it blanked to the end of file).
        let text = "e: { bad: don't, good: 1 }\nf: { g: 2 }\n";
        assert_eq!(
            squeezed(&blank(text, "bad")),
            "e: { good: 1 }\nf: { g: 2 }\n"
        );
        // An escaped quote does not end a double-quoted scalar.
        let text = "e: { bad: \"a\\\", b\", good: 1 }\n";
        assert_eq!(squeezed(&blank(text, "bad")), "e: { good: 1 }\n");
        // A comment's brackets and quotes are no part of the entry.
        let text = "e: { bad: 1 # it's {\n , good: 1 }\n";
        assert_eq!(squeezed(&blank(text, "bad")), "e: {\ngood: 1 }\n");
    }

    #[test]
    fn the_first_key_of_a_list_item_leaves_the_dash_and_crlf_line_ends_stay() {
        let text = "l:\r\n  - bad: 1\r\n    good: 2\r\n";
        let out = blank(text, "bad");
        assert_eq!(squeezed(&out), "l:\n-\ngood: 2\n");
        assert_eq!(out.matches("\r\n").count(), 3, "line ends kept");
        let source = Source {
            name: "t.yaml".to_owned(),
            text: out,
        };
        assert!(tree(&source).is_ok(), "the repaired text still reads");
    }

    #[test]
    fn entry_lines_cover_a_block_entry_and_a_flow_one() {
        let text = "t:\n  A:\n    f: 1\n    g: 2\n  B: { h: 1 }\n";
        assert_eq!(
            entry_lines(text, &[key_at(text, "A"), key_at(text, "h")]),
            [(2, 4), (5, 5)]
        );
    }
}
