//! Validation and lowering: checks a parsed [`Spec`] and turns it into the render-ready [`Ir`].
//!
//! Every problem is collected, each with a position, a message and (where there is one) a
//! hint; the caller gets all of them in source order, or the IR when there are none.

mod limits;

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::diagnostic::{Diagnostic, Diagnostics, Source, did_you_mean};
use crate::ir::{
    CheckIr, CloseIr, EndpointIr, FieldIr, HandshakeIr, InputFieldIr, InputsIr, Ir, KeepaliveIr,
    MessageKind, MiddlewareIr, StyleIr, TypeIr, TypeKind, VariantIr,
};
use crate::names::{is_identifier, pascal, snake, snake_plain};
use crate::spec::{
    CloseDef, EndpointDef, FieldDef, InvalidPolicy, Map, Mode, Number, Rules, Spanned, Spec, Style,
    TypeDef, VariantDef,
};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};

/// The spec format versions this generator understands.
pub const SUPPORTED_VERSIONS: &[i64] = &[1];

/// Names the generated code uses unqualified, from Rust's prelude; a spec name may not shadow
/// them.
const RESERVED: &[&str] = &[
    "String", "Option", "Vec", "Box", "Result", "Send", "Sync", "From", "Some", "None", "Ok", "Err",
];

const NOTHING: &str = "std::convert::Infallible";

/// The longest close reason: a control frame carries 125 bytes, two of which are the code.
pub const MAX_CLOSE_REASON_BYTES: usize = 123;

/// Checks `spec` and lowers it into the IR, or returns every problem found.
pub fn lower(spec: &Spec, source: &Source) -> Result<Ir, Diagnostics> {
    let mut lowerer = Lowerer {
        source,
        errors: Vec::new(),
        idents: BTreeMap::new(),
        types: BTreeMap::new(),
        types_by_kind: BTreeMap::new(),
        pending: Vec::new(),
        nestable: Vec::new(),
        struct_fields: BTreeMap::new(),
    };
    let ir = lowerer.spec(spec);
    let mut errors = lowerer.errors;
    errors.extend(bidi_controls(source));
    if errors.is_empty() {
        return Ok(ir);
    }
    errors.sort_by_key(|d| (d.line, d.column));
    errors.dedup();
    Err(Diagnostics(errors))
}

struct Lowerer<'a> {
    source: &'a Source,
    errors: Vec<Diagnostic>,
    /// Every generated top-level Rust name, with where it came from, to catch collisions.
    idents: BTreeMap<String, (Location, String)>,
    /// Declared type names (as written) to their Rust names.
    types: BTreeMap<String, String>,
    /// Declared type names to what they are.
    types_by_kind: BTreeMap<String, TypeKind>,
    /// Direct type references in fields and variants, for boxing recursion.
    pending: Vec<Pending>,
    /// Struct-typed fields (or lists of them) whose rules may need validating.
    nestable: Vec<Nestable>,
    /// Each declared struct's field names on the wire, for union tags.
    struct_fields: BTreeMap<String, Vec<String>>,
}

/// A field holding a struct or union (directly, in a list, or deeper in lists and maps), which
/// may need nested validation.
struct Nestable {
    owner: String,
    field: usize,
    target: String,
    /// The `Validator` method that validates it: `nested`, `nested_each` or `nested_deep`.
    method: &'static str,
    in_variant: bool,
    /// The field's name, for the error when it is in a union variant.
    at: Location,
    name: String,
}

/// A field or newtype variant that names a declared type directly.
struct Pending {
    /// The type it belongs to (spec name).
    owner: String,
    /// The union variant it is in, if any.
    variant: Option<usize>,
    /// The field; `None` for a newtype variant.
    field: Option<usize>,
    /// The type it names (spec name).
    target: String,
    /// The Rust type before boxing.
    base: String,
    /// Whether it is optional.
    optional: bool,
}

/// Documentation lines for `///` comments, made safe to print there and to run as doctests of
/// the generated crate:
///
/// - a bare `\r` ends a line as `\n` does (rustc refuses a bare carriage return in a doc
///   comment), and any other control character but a tab, or a bidirectional control, is
///   written as its `\u{..}` escape;
/// - every fenced block (` ``` ` or `~~~`, any info string: none, `rust`, `no_run`, a language)
///   opens as `text`, and an indented code block is fenced as `text`, so that spec docs never
///   become doctests.
fn doc_lines(docs: Option<&String>) -> Vec<String> {
    let Some(docs) = docs else {
        return Vec::new();
    };
    let visible: String = docs
        .replace("\r\n", "\n")
        .chars()
        .map(|c| match c {
            '\r' => "\n".to_owned(),
            '\n' => c.to_string(),
            // clippy's `tabs_in_doc_comments`.
            '\t' => "    ".to_owned(),
            c if c.is_control() || is_bidi_control(c) => format!("\\u{{{:04x}}}", u32::from(c)),
            c => c.to_string(),
        })
        .collect();
    let mut out: Vec<String> = Vec::new();
    // The opening fence's character and length while inside a fenced block.
    let mut fence: Option<(char, usize)> = None;
    let mut indented = false;
    let mut previous_blank = true;
    // What a lazy continuation line of the current list item or quote is prefixed with.
    let mut lazy: Option<String> = None;
    for line in visible.trim_end().lines() {
        let line = line.trim_end();
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let width: usize = indent.chars().map(|c| if c == '\t' { 4 } else { 1 }).sum();
        if indented {
            if trimmed.is_empty() || width >= 4 {
                out.push(strip_indent(line));
                continue;
            }
            while out.last().is_some_and(String::is_empty) {
                out.pop();
            }
            out.push("```".to_owned());
            out.push(String::new());
            indented = false;
        }
        let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~');
        let run = marker.map_or(0, |m| trimmed.chars().take_while(|c| *c == m).count());
        match (fence, marker) {
            (None, Some(m)) if run >= 3 && width < 4 => {
                fence = Some((m, run));
                out.push(format!("{indent}{}text", m.to_string().repeat(run)));
            }
            (Some((m, n)), Some(c)) if c == m && run >= n && trimmed.chars().all(|c| c == m) => {
                fence = None;
                out.push(line.to_owned());
            }
            (None, _) if width >= 4 && previous_blank && !trimmed.is_empty() => {
                indented = true;
                out.push("```text".to_owned());
                out.push(strip_indent(line));
            }
            (Some(_), _) => out.push(line.to_owned()),
            (None, _) => {
                // A line that continues a list item or a quote lazily is indented or marked,
                // as clippy's `doc_lazy_continuation` asks.
                if trimmed.is_empty() {
                    lazy = None;
                    out.push(String::new());
                } else if let Some(marker) = list_marker(trimmed).filter(|_| width < 4) {
                    lazy = Some(" ".repeat(width + marker));
                    out.push(line.to_owned());
                } else if trimmed.starts_with('>') && width < 4 {
                    lazy = Some("> ".to_owned());
                    out.push(line.to_owned());
                } else {
                    match &lazy {
                        Some(prefix) if prefix == "> " => out.push(format!("> {line}")),
                        Some(prefix) if width < prefix.len() => {
                            out.push(format!("{prefix}{trimmed}"));
                        }
                        _ => out.push(line.to_owned()),
                    }
                }
            }
        }
        previous_blank = trimmed.is_empty();
    }
    if indented {
        while out.last().is_some_and(String::is_empty) {
            out.pop();
        }
        out.push("```".to_owned());
    } else if let Some((m, n)) = fence {
        out.push(m.to_string().repeat(n));
    }
    out
}

/// The width of the list marker a line starts with (`- `, `* `, `+ `, `1. `, `2) `), if any.
fn list_marker(line: &str) -> Option<usize> {
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = &line[digits..];
    let marker = match digits {
        0 => rest.starts_with(['-', '*', '+']),
        1..=9 => rest.starts_with(['.', ')']),
        _ => false,
    };
    let after = rest.get(1..)?;
    (marker && (after.is_empty() || after.starts_with(' '))).then_some(digits + 2)
}

/// A line of an indented code block without its first four columns of indentation.
fn strip_indent(line: &str) -> String {
    let mut width = 0;
    let mut rest = line;
    while width < 4 {
        match rest.chars().next() {
            Some(' ') => width += 1,
            Some('\t') => width += 4,
            _ => break,
        }
        rest = &rest[1..];
    }
    rest.to_owned()
}

/// The bidirectional controls that can make text read differently from how it compiles
/// ("Trojan Source"); rustc refuses them in literals and comments.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// The first character of a name that cannot be printed in the generated code's comments:
/// a control character or a bidirectional control.
fn unprintable(name: &str) -> Option<char> {
    name.chars().find(|c| c.is_control() || is_bidi_control(*c))
}

fn literal(s: &str) -> String {
    format!("{s:?}")
}

/// Close codes an endpoint may send, per RFC 6455 section 7.4.
fn close_code_allowed(code: i64) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// The name a type expression holds, and how deep: the `Validator` method that reaches it
/// (`nested` for `T`, `nested_each` for `list<T>`, `nested_deep` for anything deeper or in a
/// map), if it names anything but primitives.
fn named_inside(text: &str) -> Option<(&str, &'static str)> {
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
fn int_range(ty: &str) -> (i128, i128) {
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

/// Every bidirectional control written as such in the file: refused wherever it is, since it
/// makes the text read differently from what it is ("Trojan Source"), and rustc refuses it in
/// the generated code.
fn bidi_controls(source: &Source) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (index, line) in source.text.lines().enumerate() {
        for (column, c) in line
            .chars()
            .enumerate()
            .filter(|(_, c)| is_bidi_control(*c))
        {
            found.push(Diagnostic {
                file: source.name.clone(),
                line: index + 1,
                column: column + 1,
                width: 1,
                message: format!(
                    "the spec holds U+{:04X}, a bidirectional control character, which can make text read differently from what it is",
                    u32::from(c)
                ),
                hint: Some("remove it; if a string must hold it, write it as an escape in a double-quoted string, such as \"\\u202E\"".to_owned()),
                source_line: line
                    .chars()
                    .map(|c| if is_bidi_control(c) { '\u{fffd}' } else { c })
                    .collect(),
            });
        }
    }
    found
}

/// A PascalCase part of a longer name, without the escape a keyword needs on its own.
fn unescaped(ident: &str) -> &str {
    if ident == "Self_" { "Self" } else { ident }
}

/// A raw string literal for a regular expression (no escaping needed inside), or an escaped
/// one when the text holds a character a raw literal cannot show (a bare `\r`, a control).
fn literal_raw(text: &str) -> String {
    if unprintable(text).is_some() {
        return literal(text);
    }
    let hashes = "#".repeat(
        (0..)
            .find(|n| !text.contains(&format!("\"{}", "#".repeat(*n))))
            .unwrap_or(1),
    );
    format!("r{hashes}\"{text}\"{hashes}")
}

/// The parameter name of a path segment such as `{room_id}`.
fn segment_param(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// A path with parameter names erased: two paths with the same shape match the same requests.
fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment_param(segment).is_some() {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether two different route shapes can match the same request path while having the same
/// number of literal segments (the router could not prefer either).
fn ambiguous(a: &str, b: &str) -> bool {
    if path_shape(a) == path_shape(b) {
        return false; // reported as a duplicate
    }
    let a: Vec<&str> = a.split('/').filter(|s| !s.is_empty()).collect();
    let b: Vec<&str> = b.split('/').filter(|s| !s.is_empty()).collect();
    let literals = |p: &[&str]| p.iter().filter(|s| segment_param(s).is_none()).count();
    a.len() == b.len()
        && literals(&a) == literals(&b)
        && a.iter()
            .zip(&b)
            .all(|(x, y)| segment_param(x).is_some() || segment_param(y).is_some() || x == y)
}

/// Parses a duration such as `30s`, `500ms` or `2m` into milliseconds.
fn parse_duration_ms(text: &str) -> Option<u64> {
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
fn first_holder<K: Ord, V: Clone>(seen: &mut BTreeMap<K, V>, key: K, holder: V) -> Option<V> {
    match seen.entry(key) {
        std::collections::btree_map::Entry::Occupied(first) => Some(first.get().clone()),
        std::collections::btree_map::Entry::Vacant(slot) => {
            slot.insert(holder);
            None
        }
    }
}

/// `path` with parameters written as other frameworks write them (`:room_id`, `<room_id>`,
/// `<int:room_id>`) in the spec's braces, if it has any.
fn braced_parameters(path: &str) -> Option<String> {
    let mut changed = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let name = segment.strip_prefix(':').or_else(|| {
                segment
                    .strip_prefix('<')
                    .and_then(|s| s.strip_suffix('>'))
                    .map(|s| s.rsplit(':').next().unwrap_or(s))
            });
            match name.filter(|n| is_identifier(n)) {
                Some(name) => {
                    changed = true;
                    format!("{{{name}}}")
                }
                None => segment.to_owned(),
            }
        })
        .collect();
    changed.then(|| segments.join("/"))
}

impl Lowerer<'_> {
    fn error_hint(
        &mut self,
        location: Location,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) {
        let mut diagnostic = Diagnostic::at(self.source, location, message);
        diagnostic.hint = Some(hint.into());
        self.errors.push(diagnostic);
    }

    /// Registers a generated top-level name; a second claim on it is an error at `location`,
    /// and so is a name the generated code needs for Rust's own types and traits.
    fn claim(&mut self, ident: &str, location: Location, what: String) {
        if RESERVED.contains(&ident) {
            self.error_hint(
                location,
                format!("{what} generates the Rust name `{ident}`, which the generated code needs for Rust's own `{ident}`"),
                "rename it",
            );
            return;
        }
        let claimed = (location, what.clone());
        if let Some((first, first_what)) = first_holder(&mut self.idents, ident.to_owned(), claimed)
        {
            let (line, column) = (first.line(), first.column());
            self.error_hint(
                location,
                format!("{what} generates the Rust name `{ident}`, which {first_what} (line {line}, column {column}) already generates"),
                "rename one of them",
            );
        }
    }

    /// Converts a spec name with `convert` and checks that the result is a Rust identifier.
    fn ident(&mut self, name: &Spanned<String>, convert: fn(&str) -> String, what: &str) -> String {
        let ident = convert(&name.value);
        if let Some(bad) = unprintable(&name.value) {
            self.error_hint(
                name.referenced,
                format!(
                    "the {what} name {:?} contains U+{:04X}, a control or bidirectional-control character",
                    name.value,
                    u32::from(bad)
                ),
                "use ASCII letters, digits, `_` or `-`, starting with a letter",
            );
        } else if ident
            .strip_prefix("r#")
            .unwrap_or(&ident)
            .trim_matches('_')
            .is_empty()
        {
            self.error_hint(
                name.referenced,
                format!(
                    "the {what} name `{}` has no ASCII letter or digit to make a Rust name from",
                    name.value
                ),
                "use ASCII letters, digits, `_` or `-`, starting with a letter",
            );
        } else if !is_identifier(&ident) {
            self.error_hint(
                name.referenced,
                format!(
                    "the {what} name `{}` does not make a Rust identifier",
                    name.value
                ),
                "use ASCII letters, digits, `_` or `-`, starting with a letter",
            );
        }
        ident
    }

    fn spec(&mut self, spec: &Spec) -> Ir {
        if !SUPPORTED_VERSIONS.contains(&spec.wsgen.value) {
            self.error_hint(
                spec.wsgen.referenced,
                format!("unsupported spec version {}", spec.wsgen.value),
                "this wsgen understands `wsgen: 1`",
            );
        }
        let name = &spec.name;
        let module = snake_plain(&name.value);
        if let Some(bad) = unprintable(&name.value) {
            self.error_hint(
                name.referenced,
                format!(
                    "the API name {:?} contains U+{:04X}, a control or bidirectional-control character",
                    name.value,
                    u32::from(bad)
                ),
                "use ASCII letters, digits, `_` or `-`, starting with a letter",
            );
        } else if !is_identifier(&module) {
            self.error_hint(
                name.referenced,
                format!(
                    "the API name `{}` does not make a Rust module name",
                    name.value
                ),
                "use ASCII letters, digits, `_` or `-`, starting with a letter",
            );
        }

        // Declare every type first so that references can point forwards.
        for (type_name, def) in spec.types.iter() {
            if let Some(p) = Primitive::from_name(&type_name.value) {
                self.error_hint(
                    type_name.referenced,
                    format!(
                        "type `{}` has the name of the primitive type `{}`, which every reference to it would mean",
                        type_name.value,
                        p.name()
                    ),
                    "rename the type",
                );
            }
            if let Some(fields) = &def.fields {
                let names = fields.iter().map(|(n, _)| n.value.clone()).collect();
                self.struct_fields.insert(type_name.value.clone(), names);
            }
            let ident = self.ident(type_name, pascal, "type");
            self.claim(
                &ident,
                type_name.referenced,
                format!("type `{}`", type_name.value),
            );
            self.types.insert(type_name.value.clone(), ident);
            let kind = if def.values.is_some() {
                TypeKind::Enum
            } else if def.union.is_some() {
                TypeKind::Union
            } else {
                TypeKind::Struct
            };
            self.types_by_kind.insert(type_name.value.clone(), kind);
        }
        self.claim(
            "Handlers",
            spec.name.referenced,
            "the API's handler set".to_owned(),
        );

        self.claim("Hubs", spec.name.referenced, "the API's hub set".to_owned());
        self.claim(
            "LIMITS",
            spec.name.referenced,
            "the API's limits".to_owned(),
        );
        let mut middleware = Vec::new();
        let mut middleware_methods: BTreeMap<String, String> = BTreeMap::new();
        let mut methods_seen: BTreeMap<String, String> = BTreeMap::new();
        for (mw_name, def) in spec.middleware.iter() {
            let method = self.ident(mw_name, snake, "middleware");
            if let Some(first) =
                first_holder(&mut methods_seen, method.clone(), mw_name.value.clone())
            {
                self.error_hint(
                    mw_name.referenced,
                    format!(
                        "middleware `{}` becomes the method `{method}`, as `{first}` does",
                        mw_name.value
                    ),
                    "rename one of them",
                );
            }
            middleware_methods.insert(mw_name.value.clone(), method.clone());
            let mut allow = Vec::new();
            let bare = method.strip_prefix("r#").unwrap_or(&method);
            if bare == "new" || bare.starts_with("from_") || bare.starts_with("into_") {
                allow.push("clippy::wrong_self_convention".to_owned());
            }
            if bare == "new" {
                allow.push("clippy::new_ret_no_self".to_owned());
            }
            middleware.push(MiddlewareIr {
                allow,
                method,
                name: mw_name.value.clone(),
                docs: doc_lines(def.docs.as_ref()),
            });
        }
        if let Some((first, _)) = spec.middleware.iter().next() {
            self.claim(
                "Middleware",
                first.referenced,
                "the middleware trait".to_owned(),
            );
            self.claim(
                "Mw",
                first.referenced,
                "the middleware type parameter".to_owned(),
            );
        }

        let mut types: Vec<TypeIr> = spec
            .types
            .iter()
            .map(|(type_name, def)| self.type_def(type_name, def))
            .collect();
        let names: Vec<String> = spec.types.iter().map(|(n, _)| n.value.clone()).collect();
        self.box_recursion(&mut types, &names);
        self.uninhabitable(spec, &types);
        self.nest_validation(&mut types, &names);

        let mut endpoints = Vec::new();
        let mut handler_fields: BTreeMap<String, (Location, String)> = BTreeMap::new();
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        let mut routes: Vec<(String, String)> = Vec::new();
        for (controller_name, controller) in spec.controllers.iter() {
            let controller_ident = self.ident(controller_name, pascal, "controller");
            let prefix = match &controller.path {
                Some(path) => self.path(path),
                None => String::new(),
            };
            let mut controller_middleware = Vec::new();
            let mut listed: BTreeMap<String, Location> = BTreeMap::new();
            for used in &controller.middleware {
                if let Some(first) = first_holder(&mut listed, used.value.clone(), used.referenced)
                {
                    self.error_hint(
                        used.referenced,
                        format!(
                            "middleware `{}` is listed twice for controller `{}` (first at line {}, column {}), so it would run twice",
                            used.value,
                            controller_name.value,
                            first.line(),
                            first.column()
                        ),
                        "list each middleware once",
                    );
                    continue;
                }
                match middleware_methods.get(&used.value) {
                    Some(method) => controller_middleware.push(method.clone()),
                    None => {
                        let hint = match did_you_mean(
                            &used.value,
                            middleware_methods.keys().map(String::as_str),
                        ) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => "declare it under the top-level `middleware:`".to_owned(),
                        };
                        self.error_hint(
                            used.referenced,
                            format!("unknown middleware `{}`", used.value),
                            hint,
                        );
                    }
                }
            }
            if controller.endpoints.0.is_empty() {
                self.error_hint(
                    controller_name.referenced,
                    format!("controller `{}` has no endpoints", controller_name.value),
                    "add an `endpoints:` map, or remove the controller",
                );
            }
            for (endpoint_name, endpoint) in controller.endpoints.iter() {
                let qualified = format!("{}.{}", controller_name.value, endpoint_name.value);
                let full_path = format!("{prefix}{}", self.path(&endpoint.path));
                let full_path = if full_path.is_empty() {
                    "/".to_owned()
                } else {
                    full_path
                };
                for (earlier, earlier_endpoint) in &routes {
                    if ambiguous(earlier, &full_path) {
                        let message = format!(
                            "endpoint `{qualified}` at `{full_path}` and `{earlier_endpoint}` at `{earlier}` match some of the same paths, and neither has more literal segments"
                        );
                        self.error_hint(
                            endpoint.path.referenced,
                            message,
                            "make one of them more specific with a literal segment",
                        );
                    }
                }
                routes.push((full_path.clone(), qualified.clone()));
                if let Some(other) =
                    first_holder(&mut paths, path_shape(&full_path), qualified.clone())
                {
                    self.error_hint(
                        endpoint.path.referenced,
                        format!("endpoint `{qualified}` is served at `{full_path}`, which matches the same requests as `{other}`"),
                        "give one of them a different path (parameter names do not tell paths apart)",
                    );
                }
                // `Self_` (for `self`) is escaped only when it stands alone: `SelfAsync`, not
                // `Self_Async`.
                let endpoint_ident = self.ident(endpoint_name, pascal, "endpoint");
                let ident = format!(
                    "{}{}",
                    unescaped(&controller_ident),
                    unescaped(&endpoint_ident)
                );
                // Distinct type names can still make the same field of `Handlers` and `Hubs`
                // (`h-t-t-p.server` and `http.server`: `HTTPServer`, `HttpServer`).
                let field = snake(&ident);
                if let Some((first, first_what)) = first_holder(
                    &mut handler_fields,
                    field.clone(),
                    (endpoint_name.referenced, qualified.clone()),
                ) {
                    self.error_hint(
                        endpoint_name.referenced,
                        format!(
                            "endpoint `{qualified}` generates the field `{field}` of `Handlers` and `Hubs`, which endpoint `{first_what}` (line {}, column {}) already generates",
                            first.line(),
                            first.column()
                        ),
                        "rename one of the controllers or endpoints",
                    );
                }
                endpoints.push(self.endpoint(
                    endpoint_name,
                    endpoint,
                    &ident,
                    qualified,
                    full_path,
                    controller_middleware.clone(),
                ));
            }
        }
        for (mw_name, _) in spec.middleware.iter() {
            let used = spec
                .controllers
                .iter()
                .any(|(_, c)| c.middleware.iter().any(|m| m.value == mw_name.value));
            if !used {
                self.error_hint(
                    mw_name.referenced,
                    format!(
                        "middleware `{}` is declared but no controller uses it",
                        mw_name.value
                    ),
                    format!(
                        "add `middleware: [{}]` to a controller, or remove it",
                        mw_name.value
                    ),
                );
            }
        }
        for e in &mut endpoints {
            e.hub_name_lit = literal(&format!("{}.{}", name.value, e.qualified));
        }
        if endpoints.is_empty() {
            self.error_hint(
                spec.name.referenced,
                "the spec declares no endpoints",
                "add `controllers:` with at least one endpoint",
            );
        }

        Ir {
            spec_file: self
                .source
                .name
                .rsplit(['/', '\\'])
                .next()
                .unwrap_or(&self.source.name)
                .to_owned(),
            name: name.value.clone(),
            module,
            docs: doc_lines(spec.docs.as_ref()),
            limits: self.limits(spec.limits.as_ref(), limits::Scope::Server),
            types,
            endpoints,
            middleware,
        }
    }

    /// Normalises a path segment list: a leading `/`, no trailing `/`, allowed characters only.
    fn path(&mut self, path: &Spanned<String>) -> String {
        let raw = path.value.trim();
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/-._~{}".contains(*c)))
        {
            let hint = match braced_parameters(raw) {
                Some(fixed) => format!("a parameter is written in braces: `{fixed}`"),
                None => "use ASCII letters, digits, `/`, `-`, `.`, `_`, `~`, and `{name}` for a parameter".to_owned(),
            };
            self.error_hint(
                path.referenced,
                format!("the path `{raw}` contains `{bad}`, which a path here may not"),
                hint,
            );
        } else if let Some(bad) = raw.split('/').find(|segment| {
            (segment.contains('{') || segment.contains('}'))
                && segment_param(segment).is_none_or(|name| !is_identifier(name))
        }) {
            self.error_hint(
                path.referenced,
                format!("the path segment `{bad}` is neither literal text nor a parameter"),
                "a parameter is a whole segment such as `{room_id}`",
            );
        }
        let trimmed = raw.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }

    fn type_def(&mut self, type_name: &Spanned<String>, def: &TypeDef) -> TypeIr {
        let ident = self
            .types
            .get(&type_name.value)
            .cloned()
            .unwrap_or_default();
        let mut ir = TypeIr {
            ident,
            docs: doc_lines(def.docs.as_ref()),
            kind: TypeKind::Struct,
            fields: Vec::new(),
            variants: Vec::new(),
            tag_lit: String::new(),
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
                    validates: false,
                });
            }
        } else if let Some(union) = &def.union {
            ir.kind = TypeKind::Union;
            let tag = union.tag.as_ref().map_or("type", |t| t.value.as_str());
            ir.tag_lit = literal(tag);
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

    /// Lowers the fields of a struct or of an inline union variant.
    fn fields(
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

    /// The validation calls for a field's rules, checking that each rule fits the field's type.
    fn checks(&mut self, ty: &Spanned<String>, rules: &Rules, in_variant: bool) -> Vec<CheckIr> {
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
                    "static PATTERN: wsgen_runtime::Pattern = wsgen_runtime::Pattern::new({});",
                    literal_raw(&p.value)
                );
            }
        }
        checks
    }

    /// The Rust literal for a `min` or `max` bound, checked against the field's type. Whole
    /// numbers are exact (no rounding through `f64`); an `f32` bound is printed as the `f32` it
    /// becomes.
    fn bound_literal(
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

    /// Marks every type whose fields have rules, directly or through nested structs, and adds
    /// the calls that validate nested structs.
    fn nest_validation(&mut self, types: &mut [TypeIr], names: &[String]) {
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
    fn uninhabitable(&mut self, spec: &Spec, types: &[TypeIr]) {
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
    fn box_recursion(&mut self, types: &mut [TypeIr], names: &[String]) {
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
    fn field_type(&mut self, ty: &Spanned<String>) -> (String, bool, Option<String>) {
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
    fn type_expr(&self, text: &str) -> Result<String, String> {
        self.rust_type(&TypeExpr::parse(text))
    }

    fn rust_type(&self, expr: &TypeExpr<'_>) -> Result<String, String> {
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

    fn type_hint(&self, text: &str) -> String {
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
    fn message_type(&mut self, ty: Option<&Spanned<String>>) -> String {
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

    #[allow(clippy::too_many_arguments)]
    fn endpoint(
        &mut self,
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
        let in_path: Vec<&str> = path.split('/').filter_map(segment_param).collect();
        // A malformed segment (`{a}{b}`) is reported by `path`; matching it against `params`
        // would only add confusing errors.
        let path_ok = path.split('/').all(|segment| {
            !(segment.contains('{') || segment.contains('}'))
                || segment_param(segment).is_some_and(is_identifier)
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
        for (param, _) in def.params.iter().filter(|_| path_ok) {
            if !in_path.contains(&param.value.as_str()) {
                self.error_hint(
                    param.referenced,
                    format!(
                        "path parameter `{}` is not in the path `{path}`",
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
            if !def.params.iter().any(|(p, _)| p.value == *used) {
                self.error_hint(
                    def.path.referenced,
                    format!("the path `{path}` uses `{{{used}}}`, which is not declared"),
                    format!("declare it: `params: {{ {used}: string }}`"),
                );
            }
        }
        let params = self.inputs(
            &def.params,
            format!("{ident}Params"),
            "path parameter",
            false,
        );
        let query = self.inputs(&def.query, format!("{ident}Query"), "query parameter", true);
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
        let path_format = path
            .split('/')
            .map(|segment| {
                if segment_param(segment).is_some() {
                    "{}"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");

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
            HandshakeIr {
                expect_lit: literal(&h.expect.value),
                reply_lit: literal(&h.reply.value),
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
            params,
            query,
            params_ty,
            query_ty,
            handshake,
            keepalive,
            limits: self.limits(def.limits.as_ref(), limits::Scope::Endpoint),
            on_invalid: match def.on_invalid.as_ref().map(|p| p.value) {
                Some(InvalidPolicy::Drop) => Some("wsgen_runtime::OnInvalid::Drop".to_owned()),
                Some(InvalidPolicy::ReplyError) => {
                    Some("wsgen_runtime::OnInvalid::Reply".to_owned())
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
    fn inputs(
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
        })
    }

    fn close_conditions(
        &mut self,
        conditions: &crate::spec::Map<CloseDef>,
        qualified: &str,
    ) -> Vec<CloseIr> {
        let mut codes: BTreeMap<i64, String> = BTreeMap::new();
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
            let code = match def.code.value {
                Number::Int(n) => i64::try_from(n).unwrap_or(-1),
                Number::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => f as i64,
                Number::Float(_) => -1,
            };
            if matches!(def.code.value, Number::Float(f) if f.fract() != 0.0) {
                self.error_hint(
                    def.code.referenced,
                    format!("close code {} is not a whole number", def.code.value),
                    "use 1000-1003 or 1007-1014 for protocol meanings, 4000-4999 for your own, 3000-3999 for registered ones",
                );
            } else if !close_code_allowed(code) {
                let why = match code {
                    1004..=1006 | 1015 => format!(
                        "close code {code} is reserved by RFC 6455 and must never be sent in a close frame"
                    ),
                    1016..=2999 => format!(
                        "close code {code} is reserved for future versions of the WebSocket protocol"
                    ),
                    _ if matches!(def.code.value, Number::Float(_)) => {
                        "this close code is out of range of every whole number".to_owned()
                    }
                    _ => format!("close code {} is out of range", def.code.value),
                };
                self.error_hint(
                    def.code.referenced,
                    why,
                    "use 1000-1003 or 1007-1014 for protocol meanings, 4000-4999 for your own, 3000-3999 for registered ones",
                );
            } else if let Some(first) = first_holder(&mut codes, code, name.value.clone()) {
                self.error_hint(
                    def.code.referenced,
                    format!("close code {code} is already used by `{first}` on endpoint `{qualified}`"),
                    "give each close condition its own code, so that the client can tell them apart",
                );
            }
            let reason = def
                .reason
                .as_ref()
                .map(|r| r.value.clone())
                .unwrap_or_default();
            if let Some(r) = def
                .reason
                .as_ref()
                .filter(|r| r.value.len() > MAX_CLOSE_REASON_BYTES)
            {
                self.error_hint(
                    r.referenced,
                    format!("close reason is {} bytes of UTF-8; a close frame carries at most {MAX_CLOSE_REASON_BYTES}", r.value.len()),
                    "shorten the reason (the 125-byte control frame payload includes the 2-byte code)",
                );
            }
            out.push(CloseIr {
                variant,
                code: u16::try_from(code).unwrap_or(0),
                reason_lit: literal(&reason),
                reason,
                docs: doc_lines(def.docs.as_ref()),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docs(text: &str) -> Vec<String> {
        doc_lines(Some(&text.to_owned()))
    }

    #[test]
    fn doc_lines_never_hold_a_doctest_or_a_character_rustc_refuses() {
        assert_eq!(docs("a\rb\r\nc"), ["a", "b", "c"]);
        assert_eq!(docs("x \u{202e} \u{7}\ty"), ["x \\u{202e} \\u{0007}    y"]);
        for fence in [
            "```",
            "```rust",
            "```no_run",
            "```python",
            "~~~",
            "````ignore",
        ] {
            let lines = docs(&format!(
                "{fence}\nlet x = ;\n{}",
                &fence[..fence
                    .find(|c: char| c.is_alphabetic())
                    .unwrap_or(fence.len())]
            ));
            assert!(lines[0].ends_with("text"), "{fence}: {lines:?}");
        }
        // A ``` inside a ~~~ block does not close it.
        assert_eq!(docs("~~~\n```\n~~~"), ["~~~text", "```", "~~~"]);
        // An indented block after a blank line is fenced; an unclosed fence is closed.
        assert_eq!(
            docs("a\n\n    let x = ;\n\nb"),
            ["a", "", "```text", "let x = ;", "```", "", "b"]
        );
        assert_eq!(docs("```\nopen"), ["```text", "open", "```"]);
        // Lazy continuations are indented or marked.
        assert_eq!(docs("- a\nb\n> c\nd"), ["- a", "  b", "> c", "> d"]);
    }

    #[test]
    fn names_collide_only_as_escaped_parts() {
        assert_eq!(unescaped("Self_"), "Self");
        assert_eq!(unescaped("Async"), "Async");
        assert!(is_bidi_control('\u{2066}') && !is_bidi_control('a'));
        assert_eq!(literal_raw("a\rb"), "\"a\\rb\"");
        assert_eq!(literal_raw("^a\"#$"), "r##\"^a\"#$\"##");
    }
}
