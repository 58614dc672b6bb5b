//! Validation and lowering: checks a parsed [`Spec`] and turns it into the render-ready [`Ir`].
//!
//! Every problem is collected, each with a position, a message and (where there is one) a
//! hint; the caller gets all of them in source order, or the IR when there are none.

mod docs;
mod endpoints;
mod limits;
mod paths;
mod rules;
mod text;
mod types;

use std::collections::BTreeMap;

use serde_saphyr::Location;

use crate::diagnostic::{Diagnostic, Diagnostics, Source, did_you_mean};
use crate::ir::{InputsIr, Ir, MiddlewareIr, TypeIr, TypeKind};
use crate::names::{is_identifier, pascal, snake, snake_plain};
use crate::spec::{Spanned, Spec};
use crate::typeexpr::Primitive;

use docs::doc_lines;
use endpoints::first_holder;
pub(crate) use endpoints::parse_duration_ms;
pub(crate) use limits::parse_size;
use paths::{ambiguous, path_shape};
use text::{bidi_controls, literal, unescaped, unprintable};

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
        shared: BTreeMap::new(),
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
    /// The spec's shared `inputs` by name, lowered once: their params and query structs.
    shared: BTreeMap<String, (Option<InputsIr>, Option<InputsIr>)>,
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

        let mut shared_inputs = Vec::new();
        for (inputs_name, def) in spec.inputs.iter() {
            let ident = self.ident(inputs_name, pascal, "inputs");
            let mark = |inputs: Option<InputsIr>| {
                inputs.map(|mut i| {
                    i.shared = Some(inputs_name.value.clone());
                    i.docs = doc_lines(def.docs.as_ref());
                    i
                })
            };
            let params = mark(self.inputs(
                &def.params,
                format!("{ident}Params"),
                "path parameter",
                false,
            ));
            let query =
                mark(self.inputs(&def.query, format!("{ident}Query"), "query parameter", true));
            if params.is_none() && query.is_none() {
                self.error_hint(
                    inputs_name.referenced,
                    format!("the inputs `{}` declare no parameters", inputs_name.value),
                    "add `params:` or `query:` to them, or remove them",
                );
            }
            shared_inputs.extend(params.iter().chain(query.iter()).cloned());
            self.shared
                .insert(inputs_name.value.clone(), (params, query));
        }

        let mut endpoints = Vec::new();
        let mut handler_fields: BTreeMap<String, (Location, String)> = BTreeMap::new();
        let mut paths: BTreeMap<String, String> = BTreeMap::new();
        let mut routes: Vec<(String, String, paths::Route)> = Vec::new();
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
                let route = paths::Route::new(&full_path);
                for (earlier, earlier_endpoint, earlier_route) in &routes {
                    if ambiguous(earlier_route, &route) {
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
                routes.push((full_path.clone(), qualified.clone(), route));
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
                    spec,
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
            shared_inputs,
            middleware,
        }
    }
}
