//! `wsgen diff`: which changes between two versions of a spec break deployed peers.
//!
//! A pure function of two loaded specs ([`diff`]): every change is a [`Change`] with a stable
//! code (`field-added-required`), a subject (`Join.email`), its position in both files, and what
//! it breaks on the wire, per direction:
//!
//! - **old clients**: clients built from OLD talking to a server built from NEW (the new server
//!   deploys first: the default check);
//! - **old servers**: servers built from OLD receiving clients built from NEW (rolling deploys,
//!   `--rolling`);
//! - **Rust API**: code written against the Rust generated from OLD no longer compiles against
//!   NEW (checked only with `--rust-api`).
//!
//! The reasoning is producer/consumer: on what the server *receives* the client produces and the
//! server consumes (and validates); on what the server *sends* the server produces and the
//! client consumes (without validating). A change either makes the new consumer reject what an
//! old producer makes, or makes the new producer make what an old consumer rejects, or both.
//! Generated types ignore unknown JSON fields; an unknown enum value or union variant is a
//! decode error on a Rust consumer (the Rust client's `recv` returns `ClientError::Decode` for
//! that message and stays connected; the server applies `on_invalid`). The TypeScript client
//! throws `DecodeError` for an unknown variant of a message that is itself an enum or a union,
//! and hands a nested one on unchecked; either way the old client cannot act on it, so it is a
//! break for old clients.
//!
//! The generator's internals are read only through the imports below, in this one place.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_saphyr::Location;

use crate::diagnostic::{Diagnostic, Source};
use crate::error::Error;
use crate::ir::{EndpointIr, Ir, LimitIr};
use crate::names::{pascal, snake};
use crate::spec::{
    EndpointDef, FieldDef, HandshakeDef, InvalidPolicy, LimitsDef, Map, Number, Rules, Spanned,
    Spec, TypeDef, VariantDef,
};
use crate::typeexpr::{Primitive, TypeExpr, parse_field};

/// A spec loaded and validated, ready to be compared.
#[derive(Debug)]
pub struct Loaded {
    source: Source,
    spec: Spec,
    ir: Ir,
}

impl Loaded {
    /// Parses and validates `source`; a bad spec is [`Error::Spec`].
    pub fn new(source: Source) -> Result<Self, Error> {
        let (spec, ir) = crate::lower_with_spec(&source)?;
        Ok(Loaded { source, spec, ir })
    }

    /// The spec file's name, as given.
    pub fn name(&self) -> &str {
        &self.source.name
    }
}

/// What a change breaks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Breaks {
    /// Clients built from OLD fail against a server built from NEW.
    pub old_clients: bool,
    /// Servers built from OLD fail with clients built from NEW.
    pub old_servers: bool,
    /// Code written against OLD's generated Rust no longer compiles against NEW's.
    pub rust_api: bool,
}

impl Breaks {
    fn or(self, other: Breaks) -> Breaks {
        Breaks {
            old_clients: self.old_clients || other.old_clients,
            old_servers: self.old_servers || other.old_servers,
            rust_api: self.rust_api || other.rust_api,
        }
    }

    /// Whether the wire is unaffected and the Rust API too.
    pub fn is_safe(self) -> bool {
        !self.old_clients && !self.old_servers && !self.rust_api
    }
}

/// Where a change is in one of the two files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Position {
    /// The spec file as named.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// How many characters to underline.
    #[serde(skip)]
    pub width: usize,
    /// The source line (or an excerpt of a long one), for the caret display.
    #[serde(skip)]
    pub source_line: String,
    /// How many characters of the line come before `source_line`.
    #[serde(skip)]
    pub excerpt_from: usize,
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One change between OLD and NEW.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// The kind of change, stable: `field-added-required`.
    pub code: &'static str,
    /// What changed, stable: `Join.email`, `chat.connect.query.name`.
    pub subject: String,
    /// What changed and what it does, for people.
    pub message: String,
    /// What it breaks.
    pub breaks: Breaks,
    /// Where it is in OLD (for an addition: the nearest enclosing item).
    pub old: Position,
    /// Where it is in NEW (for a removal: the nearest enclosing item).
    pub new: Position,
}

impl Change {
    /// `code:subject`, what `--allow` matches (as does the bare code, for every such change).
    pub fn id(&self) -> String {
        format!("{}:{}", self.code, self.subject)
    }

    /// Whether the change fails the given check (before `--allow`).
    pub fn breaks_checked(&self, check: &Check) -> bool {
        self.breaks.old_clients
            || (check.rolling && self.breaks.old_servers)
            || (check.rust_api && self.breaks.rust_api)
    }

    /// Whether `--allow` accepts it: by its code or by its id.
    pub fn allowed(&self, check: &Check) -> bool {
        check
            .allow
            .iter()
            .any(|a| a == self.code || *a == self.id())
    }

    /// Whether the change fails the check.
    pub fn fails(&self, check: &Check) -> bool {
        self.breaks_checked(check) && !self.allowed(check)
    }
}

/// What to check: old clients against the new server always; the rest on request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Check {
    /// Also old servers meeting new clients.
    pub rolling: bool,
    /// Also the generated Rust API.
    pub rust_api: bool,
    /// Accepted changes: codes (`field-added-required`) or ids (`field-added-required:Join.email`).
    pub allow: Vec<String>,
}

/// Loads two spec texts and compares them; a bad spec is an error (exit 2 on the command line).
pub fn diff_sources(old: Source, new: Source) -> Result<Vec<Change>, Error> {
    Ok(diff(&Loaded::new(old)?, &Loaded::new(new)?))
}

/// The spec at `new`'s path in git revision `rev` (`git show REV:PATH`, the path taken
/// relative to the root of the repository that holds `new`), named `REV:PATH` in messages.
pub fn git_source(new: &Path, rev: &str) -> Result<Source, Error> {
    let fail = |detail: String| Error::Io {
        path: new.to_path_buf(),
        source: std::io::Error::other(detail),
    };
    let absolute = std::fs::canonicalize(new).map_err(|source| Error::Io {
        path: new.to_path_buf(),
        source,
    })?;
    let dir = absolute.parent().unwrap_or(Path::new("/"));
    let git = |args: &[&str]| -> Result<Vec<u8>, Error> {
        let output = std::process::Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .output()
            .map_err(|e| fail(format!("could not run git: {e}")))?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(fail(format!(
                "git {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            )))
        }
    };
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let top = PathBuf::from(String::from_utf8_lossy(&top).trim());
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let relative = absolute
        .strip_prefix(&top)
        .map_err(|_| fail(format!("not inside the repository at {}", top.display())))?;
    let spec = format!("{rev}:{}", relative.display());
    let bytes = git(&["show", &spec])?;
    crate::load::from_bytes(&spec, bytes)
}

/// Every change from `old` to `new`, in the order of NEW (removals where they were).
pub fn diff(old: &Loaded, new: &Loaded) -> Vec<Change> {
    let mut d = Differ {
        old,
        new,
        changes: Vec::new(),
        index: BTreeMap::new(),
        visited: BTreeSet::new(),
        renamed: BTreeSet::new(),
    };
    d.endpoints();
    d.server_limits();
    d.unreferenced_types();
    d.changes
}

/// The rendering of every change and a summary line; `color` adds ANSI colours.
pub fn render(changes: &[Change], check: &Check, color: bool) -> String {
    let mut out: Vec<String> = changes
        .iter()
        .map(|c| render_one(c, check, color))
        .collect();
    out.push(summary(changes, check));
    out.join("\n\n")
}

/// One JSON object per change (with `fails` and `allowed`), then a summary object.
pub fn render_json(changes: &[Change], check: &Check) -> String {
    let mut out = String::new();
    for change in changes {
        let line = serde_json::json!({
            "id": change.id(),
            "code": change.code,
            "subject": change.subject,
            "message": change.message,
            "breaks": change.breaks,
            "old": change.old,
            "new": change.new,
            "fails": change.fails(check),
            "allowed": change.breaks_checked(check) && change.allowed(check),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    let failing = changes.iter().filter(|c| c.fails(check)).count();
    let summary = serde_json::json!({
        "summary": {
            "changes": changes.len(),
            "failing": failing,
            "old_clients": changes.iter().filter(|c| c.breaks.old_clients).count(),
            "old_servers": changes.iter().filter(|c| c.breaks.old_servers).count(),
            "rust_api": changes.iter().filter(|c| c.breaks.rust_api).count(),
            "rolling": check.rolling,
            "checks_rust_api": check.rust_api,
        }
    });
    out.push_str(&summary.to_string());
    out.push('\n');
    out
}

/// Whether any change fails the check: the command's exit code is 1 then, 0 otherwise.
pub fn fails(changes: &[Change], check: &Check) -> bool {
    changes.iter().any(|c| c.fails(check))
}

fn breaks_text(breaks: Breaks) -> String {
    let mut parts = Vec::new();
    if breaks.old_clients {
        parts.push("old clients meeting the new server");
    }
    if breaks.old_servers {
        parts.push("old servers meeting new clients (rolling deploys)");
    }
    if breaks.rust_api {
        parts.push("the generated Rust API");
    }
    if parts.is_empty() {
        "nothing: safe in both directions".to_owned()
    } else {
        parts.join("; ")
    }
}

fn render_one(change: &Change, check: &Check, color: bool) -> String {
    let level = if change.fails(check) {
        "error"
    } else if change.breaks_checked(check) {
        "allowed"
    } else if change.breaks.is_safe() {
        "note"
    } else {
        "warning"
    };
    let primary = Diagnostic {
        file: change.new.file.clone(),
        line: change.new.line,
        column: change.new.column,
        width: change.new.width,
        message: format!("{} ({})", change.message, change.id()),
        hint: None,
        source_line: change.new.source_line.clone(),
        excerpt_from: change.new.excerpt_from,
    };
    let mut text = primary.render_as(level, Some(change.code), color);
    text.push_str(&format!(
        "\n{} = was: {}: {}",
        " ".repeat(change.new.line.to_string().len()),
        change.old,
        change.old.source_line.trim()
    ));
    text.push_str(&format!(
        "\n{} = breaks: {}",
        " ".repeat(change.new.line.to_string().len()),
        breaks_text(change.breaks)
    ));
    text
}

fn summary(changes: &[Change], check: &Check) -> String {
    let count = |f: &dyn Fn(&Change) -> bool| changes.iter().filter(|c| f(c)).count();
    let failing = count(&|c| c.fails(check));
    let mut parts = vec![
        format!("{} break old clients", count(&|c| c.breaks.old_clients)),
        format!(
            "{} break old servers{}",
            count(&|c| c.breaks.old_servers),
            if check.rolling {
                ""
            } else {
                " (not checked; --rolling checks them)"
            }
        ),
        format!(
            "{} break the Rust API{}",
            count(&|c| c.breaks.rust_api),
            if check.rust_api {
                ""
            } else {
                " (not checked; --rust-api checks it)"
            }
        ),
    ];
    let allowed = count(&|c| c.breaks_checked(check) && c.allowed(check));
    if allowed > 0 {
        parts.push(format!("{allowed} allowed"));
    }
    format!(
        "{}: {} change{}: {}; {}",
        if failing > 0 { "error" } else { "ok" },
        changes.len(),
        if changes.len() == 1 { "" } else { "s" },
        parts.join(", "),
        if failing > 0 {
            format!("{failing} fail the check")
        } else {
            "nothing checked breaks".to_owned()
        }
    )
}

/// Which way a message flows, seen from the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Flow {
    /// The client produces, the server consumes and validates.
    Receives,
    /// The server produces, the client consumes.
    Sends,
}

/// Who rejects whom after a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Effect {
    /// The new consumer rejects what an old producer makes.
    NewRejectsOld,
    /// An old consumer rejects what the new producer makes.
    OldRejectsNew,
    /// Both.
    Both,
    /// Neither.
    Neither,
}

impl Effect {
    fn on(self, flow: Flow) -> Breaks {
        let (new_rejects_old, old_rejects_new) = match self {
            Effect::NewRejectsOld => (true, false),
            Effect::OldRejectsNew => (false, true),
            Effect::Both => (true, true),
            Effect::Neither => (false, false),
        };
        match flow {
            // New server rejects old clients / old server rejects new clients.
            Flow::Receives => Breaks {
                old_clients: new_rejects_old,
                old_servers: old_rejects_new,
                rust_api: false,
            },
            // New clients reject old servers / old clients reject the new server.
            Flow::Sends => Breaks {
                old_clients: old_rejects_new,
                old_servers: new_rejects_old,
                rust_api: false,
            },
        }
    }

    fn of_widening(old_in_new: bool, new_in_old: bool) -> Effect {
        match (old_in_new, new_in_old) {
            (true, true) => Effect::Neither,
            (true, false) => Effect::OldRejectsNew,
            (false, true) => Effect::NewRejectsOld,
            (false, false) => Effect::Both,
        }
    }
}

const RUST: Breaks = Breaks {
    old_clients: false,
    old_servers: false,
    rust_api: true,
};
const NONE: Breaks = Breaks {
    old_clients: false,
    old_servers: false,
    rust_api: false,
};
const WIRE: Breaks = Breaks {
    old_clients: true,
    old_servers: true,
    rust_api: false,
};

fn with_rust(breaks: Breaks) -> Breaks {
    breaks.or(RUST)
}

/// The value range of an integer primitive, and whether it is a float.
fn numeric(p: Primitive) -> Option<(i128, i128, bool)> {
    let int = |lo: i128, hi: i128| Some((lo, hi, false));
    match p {
        Primitive::Int | Primitive::I64 => int(i64::MIN.into(), i64::MAX.into()),
        Primitive::I8 => int(i8::MIN.into(), i8::MAX.into()),
        Primitive::I16 => int(i16::MIN.into(), i16::MAX.into()),
        Primitive::I32 => int(i32::MIN.into(), i32::MAX.into()),
        Primitive::U8 => int(0, u8::MAX.into()),
        Primitive::U16 => int(0, u16::MAX.into()),
        Primitive::U32 => int(0, u32::MAX.into()),
        Primitive::U64 => int(0, u64::MAX.into()),
        Primitive::Float | Primitive::F64 => Some((i128::MIN, i128::MAX, true)),
        Primitive::F32 => Some((i128::MIN, i128::MAX, true)),
        _ => None,
    }
}

/// Whether every value of primitive `a` is a value of `b`.
fn within(a: Primitive, b: Primitive) -> bool {
    if a == b || b == Primitive::Json {
        return true;
    }
    match (numeric(a), numeric(b)) {
        (Some((_, _, true)), Some((_, _, false))) => false,
        (Some(_), Some((_, _, true))) => !(a == Primitive::F64 || a == Primitive::Float),
        (Some((alo, ahi, false)), Some((blo, bhi, false))) => blo <= alo && ahi <= bhi,
        _ => false,
    }
}

struct Differ<'a> {
    old: &'a Loaded,
    new: &'a Loaded,
    changes: Vec<Change>,
    /// `code:subject` to its index in `changes`, to merge a change seen from several flows.
    index: BTreeMap<String, usize>,
    /// Type pairs already compared, per flow.
    visited: BTreeSet<(String, String, Flow)>,
    /// New type names that are renames of an old one.
    renamed: BTreeSet<String>,
}

/// A field list: a struct's fields or an inline variant's.
type Fields<'s> = &'s Map<FieldDef>;

impl<'a> Differ<'a> {
    fn pos(loaded: &Loaded, at: Location) -> Position {
        let d = Diagnostic::at(&loaded.source, at, "");
        Position {
            file: d.file,
            line: d.line,
            column: d.column,
            width: d.width,
            source_line: d.source_line,
            excerpt_from: d.excerpt_from,
        }
    }

    fn add(
        &mut self,
        code: &'static str,
        subject: String,
        message: String,
        breaks: Breaks,
        old: Location,
        new: Location,
    ) {
        let key = format!("{code}:{subject}");
        if let Some(&i) = self.index.get(&key) {
            self.changes[i].breaks = self.changes[i].breaks.or(breaks);
            return;
        }
        self.index.insert(key, self.changes.len());
        self.changes.push(Change {
            code,
            subject,
            message,
            breaks,
            old: Self::pos(self.old, old),
            new: Self::pos(self.new, new),
        });
    }

    fn type_def<'s>(spec: &'s Spec, name: &str) -> Option<(&'s Spanned<String>, &'s TypeDef)> {
        spec.types.iter().find(|(k, _)| k.value == name)
    }

    // ---- endpoints ----------------------------------------------------------------------

    /// Every endpoint with its key, controller key and IR, in spec order.
    fn endpoint_list(loaded: &Loaded) -> Vec<Endpoint<'_>> {
        let mut out = Vec::new();
        let mut irs = loaded.ir.endpoints.iter();
        for (controller, c) in loaded.spec.controllers.iter() {
            for (key, def) in c.endpoints.iter() {
                if let Some(ir) = irs.next() {
                    out.push(Endpoint {
                        name: format!("{}.{}", controller.value, key.value),
                        key,
                        def,
                        ir,
                    });
                }
            }
        }
        out
    }

    fn endpoints(&mut self) {
        let old = Self::endpoint_list(self.old);
        let new = Self::endpoint_list(self.new);
        let old_names: BTreeSet<&str> = old.iter().map(|e| e.name.as_str()).collect();
        let new_start = self.new_top();
        let old_start = self.old_top();
        let mut matched_new: BTreeSet<String> = BTreeSet::new();
        for o in &old {
            if let Some(n) = new.iter().find(|n| n.name == o.name) {
                matched_new.insert(n.name.clone());
                self.endpoint(o, n);
                continue;
            }
            // Renamed: same path shape, a name NEW has and OLD has not.
            let renamed = new.iter().find(|n| {
                !old_names.contains(n.name.as_str())
                    && !matched_new.contains(&n.name)
                    && path_shape(&n.ir.path) == path_shape(&o.ir.path)
            });
            if let Some(n) = renamed {
                matched_new.insert(n.name.clone());
                self.add(
                    "endpoint-renamed",
                    o.name.clone(),
                    format!(
                        "endpoint `{}` is renamed `{}` at the same path `{}`: the wire is unchanged, its handler trait and client are renamed",
                        o.name, n.name, n.ir.path
                    ),
                    RUST,
                    o.key.referenced,
                    n.key.referenced,
                );
                self.endpoint(o, n);
            } else {
                self.add(
                    "endpoint-removed",
                    o.name.clone(),
                    format!(
                        "endpoint `{}` (`{}`) is removed: old clients connecting to it get 404",
                        o.name, o.ir.path
                    ),
                    with_rust(Breaks {
                        old_clients: true,
                        ..NONE
                    }),
                    o.key.referenced,
                    new_start,
                );
            }
        }
        for n in &new {
            if !matched_new.contains(&n.name) && !old_names.contains(n.name.as_str()) {
                self.add(
                    "endpoint-added",
                    n.name.clone(),
                    format!(
                        "endpoint `{}` (`{}`) is added: old servers answer new clients there with 404; the `Handlers` struct gets a field",
                        n.name, n.ir.path
                    ),
                    with_rust(Breaks {
                        old_servers: true,
                        ..NONE
                    }),
                    old_start,
                    n.key.referenced,
                );
            }
        }
    }

    fn old_top(&self) -> Location {
        self.old.spec.name.referenced
    }

    fn new_top(&self) -> Location {
        self.new.spec.name.referenced
    }

    fn endpoint(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        let name = &n.name;
        if path_shape(&o.ir.path) != path_shape(&n.ir.path) {
            self.add(
                "path-changed",
                name.clone(),
                format!(
                    "the path of `{name}` changes from `{}` to `{}`: old clients get 404, new clients get 404 from old servers",
                    o.ir.path, n.ir.path
                ),
                WIRE,
                o.def.path.referenced,
                n.def.path.referenced,
            );
        }
        self.params(o, n);
        self.query(o, n);
        self.mode(o, n);
        self.messages(o, n);
        self.simple_endpoint_changes(o, n);
        self.close(o, n);
        self.endpoint_limits(o, n);
    }

    fn params(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        let old: Vec<_> = self.old.spec.params_of(o.def).iter().collect();
        let new: Vec<_> = self.new.spec.params_of(n.def).iter().collect();
        for ((ok, of), (nk, nf)) in old.iter().zip(new.iter()) {
            let subject = format!("{}.params.{}", n.name, nk.value);
            if ok.value != nk.value {
                self.add(
                    "param-renamed",
                    subject.clone(),
                    format!(
                        "path parameter `{}` of `{}` is renamed `{}`: the URL is the same, the Rust field is renamed",
                        ok.value, n.name, nk.value
                    ),
                    RUST,
                    ok.referenced,
                    nk.referenced,
                );
            }
            self.input_type(
                "param-type-changed",
                subject,
                "path parameter",
                of,
                (nk, nf),
            );
        }
    }

    /// A path or query parameter's type: the client produces, the server parses.
    fn input_type(
        &mut self,
        code: &'static str,
        subject: String,
        what: &str,
        of: &FieldDef,
        (nk, nf): (&Spanned<String>, &FieldDef),
    ) {
        let (ot, _) = parse_field(&of.ty.value);
        let (nt, _) = parse_field(&nf.ty.value);
        if ot == nt {
            return;
        }
        let (Some(op), Some(np)) = (ot.primitive(), nt.primitive()) else {
            return;
        };
        let string_accepts = |p: Primitive| p == Primitive::String;
        let old_in_new = within(op, np) || string_accepts(np);
        let new_in_old = within(np, op) || string_accepts(op);
        let breaks = with_rust(Effect::of_widening(old_in_new, new_in_old).on(Flow::Receives));
        self.add(
            code,
            subject,
            format!(
                "{what} `{}` changes type from `{}` to `{}`{}",
                nk.value,
                of.ty.value,
                nf.ty.value,
                match (old_in_new, new_in_old) {
                    (true, false) => ": wider, so the new server accepts old clients, old servers may refuse new clients",
                    (false, true) => ": narrower, so the new server refuses some values old clients send",
                    _ => ": the server refuses values of the other type",
                }
            ),
            breaks,
            of.ty.referenced,
            nf.ty.referenced,
        );
    }

    fn query(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        let endpoint_old = o.key.referenced;
        let endpoint_new = n.key.referenced;
        for (ok, of) in self.old.spec.query_of(o.def).iter() {
            let subject = format!("{}.query.{}", n.name, ok.value);
            match self
                .new
                .spec
                .query_of(n.def)
                .iter()
                .find(|(k, _)| k.value == ok.value)
            {
                None => {
                    let required = !of.is_optional();
                    self.add(
                        "query-removed",
                        subject,
                        format!(
                            "query parameter `{}` of `{}` is removed{}",
                            ok.value,
                            n.name,
                            if required {
                                ": it was required, so old servers refuse new clients that leave it out"
                            } else {
                                ": new servers ignore it when old clients send it"
                            }
                        ),
                        with_rust(Breaks {
                            old_servers: required,
                            ..NONE
                        }),
                        ok.referenced,
                        endpoint_new,
                    );
                }
                Some((nk, nf)) => {
                    match (of.is_optional(), nf.is_optional()) {
                        (true, false) => self.add(
                            "query-made-required",
                            subject.clone(),
                            format!(
                                "query parameter `{}` of `{}` becomes required: the new server refuses old clients that leave it out (400)",
                                nk.value, n.name
                            ),
                            with_rust(Breaks {
                                old_clients: true,
                                ..NONE
                            }),
                            ok.referenced,
                            nk.referenced,
                        ),
                        (false, true) => self.add(
                            "query-made-optional",
                            subject.clone(),
                            format!(
                                "query parameter `{}` of `{}` becomes optional: old servers refuse new clients that leave it out",
                                nk.value, n.name
                            ),
                            with_rust(Breaks {
                                old_servers: true,
                                ..NONE
                            }),
                            ok.referenced,
                            nk.referenced,
                        ),
                        _ => {}
                    }
                    self.input_type(
                        "query-type-changed",
                        subject,
                        "query parameter",
                        of,
                        (nk, nf),
                    );
                }
            }
        }
        for (nk, nf) in self.new.spec.query_of(n.def).iter() {
            if self
                .old
                .spec
                .query_of(o.def)
                .iter()
                .any(|(k, _)| k.value == nk.value)
            {
                continue;
            }
            let subject = format!("{}.query.{}", n.name, nk.value);
            if nf.is_optional() {
                self.add(
                    "query-added-optional",
                    subject,
                    format!(
                        "optional query parameter `{}` is added to `{}`: old clients leave it out, old servers ignore it",
                        nk.value, n.name
                    ),
                    RUST,
                    endpoint_old,
                    nk.referenced,
                );
            } else {
                self.add(
                    "query-added-required",
                    subject,
                    format!(
                        "required query parameter `{}` is added to `{}`: the new server refuses old clients, which do not send it (400)",
                        nk.value, n.name
                    ),
                    with_rust(Breaks {
                        old_clients: true,
                        ..NONE
                    }),
                    endpoint_old,
                    nk.referenced,
                );
            }
        }
    }

    fn mode_at(e: &Endpoint<'_>) -> Location {
        e.def
            .mode
            .as_ref()
            .map_or(e.key.referenced, |m| m.referenced)
    }

    fn mode(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        let (ors, oss) = (o.ir.client_sends, o.ir.client_receives);
        let (nrs, nss) = (n.ir.client_sends, n.ir.client_receives);
        if (ors, oss) == (nrs, nss) {
            return;
        }
        let mut breaks = RUST;
        let mut what = Vec::new();
        if ors && !nrs {
            breaks.old_clients = true;
            what.push("the server no longer receives: old clients' messages are refused (close 1003 or on_invalid)");
        }
        if !ors && nrs {
            breaks.old_servers = true;
            what.push("the server now receives: old servers refuse new clients' messages");
        }
        if oss && !nss {
            breaks.old_clients = true;
            what.push("the server no longer sends: old clients wait for messages that never come");
        }
        if !oss && nss {
            breaks.old_servers = true;
            what.push("the server now sends: new clients wait for messages old servers never send");
        }
        let narrowed = (ors && !nrs) || (oss && !nss);
        let widened = (!ors && nrs) || (!oss && nss);
        let code = match (narrowed, widened) {
            (true, false) => "mode-narrowed",
            (false, true) => "mode-widened",
            _ => "mode-changed",
        };
        self.add(
            code,
            n.name.clone(),
            format!(
                "the mode of `{}` changes from `{}` to `{}`: {}",
                n.name,
                o.ir.mode,
                n.ir.mode,
                what.join("; ")
            ),
            breaks,
            Self::mode_at(o),
            Self::mode_at(n),
        );
    }

    fn messages(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        if let (Some(ot), Some(nt)) = (&o.def.receive, &n.def.receive) {
            if o.ir.client_sends && n.ir.client_sends {
                let subject = format!("{}.receive", n.name);
                self.type_ref(&ot.value, &nt.value, Flow::Receives, &subject, ot, nt);
            }
        }
        if let (Some(ot), Some(nt)) = (&o.def.send, &n.def.send) {
            if o.ir.client_receives && n.ir.client_receives {
                let subject = format!("{}.send", n.name);
                self.type_ref(&ot.value, &nt.value, Flow::Sends, &subject, ot, nt);
            }
        }
    }

    fn simple_endpoint_changes(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        let name = &n.name;
        let (oe, ne) = (o.def.envelope.as_ref(), n.def.envelope.as_ref());
        if oe.map(|e| e.value) != ne.map(|e| e.value) {
            self.add(
                "envelope-changed",
                name.clone(),
                format!(
                    "the envelope of `{name}` changes from {} to {}: each side decodes the other's messages in the wrong shape",
                    if oe.is_some() { "`status`" } else { "none" },
                    if ne.is_some() { "`status`" } else { "none" },
                ),
                WIRE,
                oe.map_or(o.key.referenced, |e| e.referenced),
                ne.map_or(n.key.referenced, |e| e.referenced),
            );
        }
        let (oh, nh) = (o.def.handshake.as_ref(), n.def.handshake.as_ref());
        let text =
            |h: Option<&HandshakeDef>| h.map(|h| (h.expect.value.clone(), h.reply.value.clone()));
        if text(oh) != text(nh) {
            let show = |h: Option<(String, String)>| {
                h.map_or("none".to_owned(), |(e, r)| format!("`{e}` -> `{r}`"))
            };
            self.add(
                "handshake-changed",
                name.clone(),
                format!(
                    "the handshake of `{name}` changes from {} to {}: the server closes peers that open the old way",
                    show(text(oh)),
                    show(text(nh))
                ),
                WIRE,
                oh.map_or(o.key.referenced, |h| h.expect.referenced),
                nh.map_or(n.key.referenced, |h| h.expect.referenced),
            );
        }
        // The same handshake, closed differently when it fails: a peer that fails it sees
        // another code (the typed client reads it as an unknown close, not a condition).
        if let (Some(oh), Some(nh)) = (oh, nh) {
            let (oc, nc) = (oh.failure_close().0, nh.failure_close().0);
            if text(Some(oh)) == text(Some(nh)) && oc != nc {
                self.add(
                    "handshake-close-changed",
                    name.clone(),
                    format!(
                        "a failed handshake of `{name}` closes with {nc} instead of {oc}: a client that tells a protocol mismatch by its code no longer recognises it"
                    ),
                    Breaks {
                        old_clients: true,
                        ..NONE
                    },
                    oh.close.as_ref().map_or(oh.expect.referenced, |c| c.code.referenced),
                    nh.close.as_ref().map_or(nh.expect.referenced, |c| c.code.referenced),
                );
            }
        }
        let policy = |e: &Endpoint<'_>| {
            e.def
                .on_invalid
                .as_ref()
                .map_or(InvalidPolicy::Close, |p| p.value)
        };
        let (op, np) = (policy(o), policy(n));
        if op != np {
            let replies = op == InvalidPolicy::ReplyError || np == InvalidPolicy::ReplyError;
            self.add(
                "on-invalid-changed",
                name.clone(),
                format!(
                    "`on_invalid` of `{name}` changes from `{op:?}` to `{np:?}`: {}",
                    if replies {
                        "a client expecting error replies waits for one that never comes, or one that does not expect them fails to decode the 400 reply"
                    } else {
                        "an old client whose message is invalid sees a different outcome (close or silence)"
                    }
                ),
                Breaks {
                    old_clients: true,
                    old_servers: replies,
                    // Error replies add `ClientError::Rejected` to what the client returns.
                    rust_api: replies,
                },
                o.def
                    .on_invalid
                    .as_ref()
                    .map_or(o.key.referenced, |p| p.referenced),
                n.def
                    .on_invalid
                    .as_ref()
                    .map_or(n.key.referenced, |p| p.referenced),
            );
        }
        let reply = |e: &Endpoint<'_>| e.def.reply.as_ref().is_some_and(|r| r.value);
        if reply(o) && !reply(n) {
            self.add(
                "reply-removed",
                name.clone(),
                format!("`{name}` no longer replies to each message: old clients waiting for a reply wait forever"),
                with_rust(Breaks { old_clients: true, ..NONE }),
                o.def.reply.as_ref().map_or(o.key.referenced, |r| r.referenced),
                n.def.reply.as_ref().map_or(n.key.referenced, |r| r.referenced),
            );
        } else if !reply(o) && reply(n) {
            self.add(
                "reply-added",
                name.clone(),
                format!("`{name}` now replies to each message: old clients receive the replies as ordinary messages of the send type"),
                RUST,
                o.def.reply.as_ref().map_or(o.key.referenced, |r| r.referenced),
                n.def.reply.as_ref().map_or(n.key.referenced, |r| r.referenced),
            );
        }
    }

    fn close(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        for (ok, oc) in o.def.close.iter() {
            let subject = format!("{}.close.{}", n.name, ok.value);
            match n.def.close.iter().find(|(k, _)| k.value == ok.value) {
                Some((_, nc)) => {
                    if oc.code.value != nc.code.value {
                        self.add(
                            "close-code-changed",
                            subject,
                            format!(
                                "close condition `{}` of `{}` changes code from {} to {}: old clients do not recognise the new code, new clients not the old one",
                                ok.value, n.name, oc.code.value, nc.code.value
                            ),
                            WIRE,
                            oc.code.referenced,
                            nc.code.referenced,
                        );
                    } else if oc.has_runtime_reason() != nc.has_runtime_reason() {
                        let (from, to, variant) = if nc.has_runtime_reason() {
                            (
                                "a fixed reason",
                                "a reason given at run time",
                                "gains a `String`",
                            )
                        } else {
                            (
                                "a reason given at run time",
                                "a fixed reason",
                                "loses its `String`",
                            )
                        };
                        self.add(
                            "close-runtime-reason-changed",
                            subject,
                            format!(
                                "close condition `{}` of `{}` changes from {from} to {to}: the wire is unchanged (clients recognise the code), the Rust variant {variant}",
                                ok.value, n.name
                            ),
                            RUST,
                            oc.runtime_reason.as_ref().map_or(ok.referenced, |r| r.referenced),
                            nc.runtime_reason.as_ref().map_or(ok.referenced, |r| r.referenced),
                        );
                    } else if oc.reason.as_ref().map(|r| &r.value)
                        != nc.reason.as_ref().map(|r| &r.value)
                    {
                        self.add(
                            "close-reason-changed",
                            subject,
                            format!(
                                "close condition `{}` of `{}` changes its reason: clients recognise conditions by code, so nothing breaks",
                                ok.value, n.name
                            ),
                            NONE,
                            oc.reason.as_ref().map_or(ok.referenced, |r| r.referenced),
                            nc.reason.as_ref().map_or(ok.referenced, |r| r.referenced),
                        );
                    }
                }
                None => {
                    if let Some((nk, _)) = n.def.close.iter().find(|(k, c)| {
                        c.code.value == oc.code.value
                            && !o.def.close.iter().any(|(ok2, _)| ok2.value == k.value)
                    }) {
                        self.add(
                            "close-renamed",
                            subject,
                            format!(
                                "close condition `{}` of `{}` is renamed `{}` with the same code {}: the wire is unchanged, the Rust variant is renamed",
                                ok.value, n.name, nk.value, oc.code.value
                            ),
                            RUST,
                            ok.referenced,
                            nk.referenced,
                        );
                    } else {
                        self.add(
                            "close-removed",
                            subject,
                            format!(
                                "close condition `{}` (code {}) of `{}` is removed: old servers still close with it, and new clients do not recognise the code",
                                ok.value, oc.code.value, n.name
                            ),
                            with_rust(Breaks {
                                old_servers: true,
                                ..NONE
                            }),
                            oc.code.referenced,
                            n.key.referenced,
                        );
                    }
                }
            }
        }
        for (nk, nc) in n.def.close.iter() {
            let known = o.def.close.iter().any(|(k, c)| {
                k.value == nk.value
                    || (c.code.value == nc.code.value
                        && !n.def.close.iter().any(|(k2, _)| k2.value == k.value))
            });
            if !known {
                self.add(
                    "close-added",
                    format!("{}.close.{}", n.name, nk.value),
                    format!(
                        "close condition `{}` (code {}) is added to `{}`: old clients do not recognise the code (they see an unknown close)",
                        nk.value, nc.code.value, n.name
                    ),
                    with_rust(Breaks {
                        old_clients: true,
                        ..NONE
                    }),
                    o.key.referenced,
                    nc.code.referenced,
                );
            }
        }
    }

    // ---- limits -------------------------------------------------------------------------

    fn endpoint_limits(&mut self, o: &Endpoint<'_>, n: &Endpoint<'_>) {
        for (method, key, default, lower_breaks) in [
            (
                "with_max_message_size",
                "max_message_size",
                Some(65536),
                true,
            ),
            ("with_max_frame_size", "max_frame_size", Some(65536), true),
            ("with_idle_timeout", "idle_timeout", None, true),
            ("with_message_rate", "max_messages_per_second", None, true),
        ] {
            let ov = limit(&o.ir.limits, method)
                .or_else(|| limit(&self.old.ir.limits, method))
                .or(default);
            let nv = limit(&n.ir.limits, method)
                .or_else(|| limit(&self.new.ir.limits, method))
                .or(default);
            let ol = limit_at(&o.def.limits, key)
                .or_else(|| limit_at(&self.old.spec.limits, key))
                .unwrap_or(o.key.referenced);
            let nl = limit_at(&n.def.limits, key)
                .or_else(|| limit_at(&self.new.spec.limits, key))
                .unwrap_or(n.key.referenced);
            let subject = format!("{}.limits.{key}", n.name);
            self.limit_change(key, subject, ov, nv, lower_breaks, ol, nl);
        }
    }

    fn server_limits(&mut self) {
        let method = "with_max_header_size";
        let key = "max_header_size";
        let ov = limit(&self.old.ir.limits, method).or(Some(16384));
        let nv = limit(&self.new.ir.limits, method).or(Some(16384));
        let ol = limit_at(&self.old.spec.limits, key).unwrap_or(self.old_top());
        let nl = limit_at(&self.new.spec.limits, key).unwrap_or(self.new_top());
        self.limit_change(key, format!("limits.{key}"), ov, nv, true, ol, nl);
    }

    #[allow(clippy::too_many_arguments)]
    fn limit_change(
        &mut self,
        key: &str,
        subject: String,
        ov: Option<u64>,
        nv: Option<u64>,
        lower_breaks: bool,
        ol: Location,
        nl: Location,
    ) {
        // `None` is no limit: the largest.
        let rank = |v: Option<u64>| v.unwrap_or(u64::MAX);
        let show = |v: Option<u64>| v.map_or("none".to_owned(), |v| v.to_string());
        if rank(nv) < rank(ov) {
            self.add(
                "limit-lowered",
                subject,
                format!(
                    "`{key}` is lowered from {} to {}: the new server closes old clients that relied on the old limit",
                    show(ov),
                    show(nv)
                ),
                Breaks {
                    old_clients: lower_breaks,
                    ..NONE
                },
                ol,
                nl,
            );
        } else if rank(nv) > rank(ov) {
            self.add(
                "limit-raised",
                subject,
                format!(
                    "`{key}` is raised from {} to {}: old servers close new clients that rely on the new limit",
                    show(ov),
                    show(nv)
                ),
                Breaks {
                    old_servers: lower_breaks,
                    ..NONE
                },
                ol,
                nl,
            );
        }
    }

    // ---- types --------------------------------------------------------------------------

    /// Compares two type expressions in one flow; `ol`/`nl` are where they are written.
    fn type_ref(
        &mut self,
        old: &str,
        new: &str,
        flow: Flow,
        subject: &str,
        ol: &Spanned<String>,
        nl: &Spanned<String>,
    ) {
        let (ot, _) = parse_field(old);
        let (nt, _) = parse_field(new);
        self.expr(&ot, &nt, flow, subject, ol, nl);
    }

    fn expr(
        &mut self,
        ot: &TypeExpr<'_>,
        nt: &TypeExpr<'_>,
        flow: Flow,
        subject: &str,
        ol: &Spanned<String>,
        nl: &Spanned<String>,
    ) {
        match (ot, nt) {
            (TypeExpr::List(a), TypeExpr::List(b)) | (TypeExpr::Map(a), TypeExpr::Map(b)) => {
                self.expr(a, b, flow, subject, ol, nl)
            }
            (TypeExpr::Named(a), TypeExpr::Named(b)) => self.named(a, b, flow),
            (TypeExpr::Primitive(a), TypeExpr::Primitive(b)) if a == b => {}
            (TypeExpr::Primitive(a), TypeExpr::Primitive(b)) => {
                let effect = Effect::of_widening(within(*a, *b), within(*b, *a));
                self.add(
                    "type-changed",
                    subject.to_owned(),
                    format!(
                        "`{subject}` changes type from `{}` to `{}`",
                        ol.value.trim(),
                        nl.value.trim()
                    ),
                    with_rust(effect.on(flow)),
                    ol.referenced,
                    nl.referenced,
                );
            }
            _ => self.add(
                "type-changed",
                subject.to_owned(),
                format!(
                    "`{subject}` changes type from `{}` to `{}`: neither side decodes the other's",
                    ol.value.trim(),
                    nl.value.trim()
                ),
                with_rust(WIRE),
                ol.referenced,
                nl.referenced,
            ),
        }
    }

    fn named(&mut self, old: &str, new: &str, flow: Flow) {
        if !self.visited.insert((old.to_owned(), new.to_owned(), flow)) {
            return;
        }
        let (Some((ok, od)), Some((nk, nd))) = (
            Self::type_def(&self.old.spec, old),
            Self::type_def(&self.new.spec, new),
        ) else {
            return;
        };
        if old != new {
            self.renamed.insert(new.to_owned());
            self.add(
                "type-renamed",
                old.to_owned(),
                format!(
                    "type `{old}` is renamed `{new}`: type names are not on the wire, the Rust type is renamed"
                ),
                RUST,
                ok.referenced,
                nk.referenced,
            );
        }
        let kind = |d: &TypeDef| {
            if d.fields.is_some() {
                "struct"
            } else if d.values.is_some() {
                "enum"
            } else {
                "union"
            }
        };
        if kind(od) != kind(nd) {
            self.add(
                "type-kind-changed",
                new.to_owned(),
                format!(
                    "type `{new}` changes from a {} to a {}: neither side decodes the other's",
                    kind(od),
                    kind(nd)
                ),
                with_rust(WIRE),
                ok.referenced,
                nk.referenced,
            );
            return;
        }
        if let (Some(of), Some(nf)) = (&od.fields, &nd.fields) {
            self.fields(of, nf, flow, new, ok.referenced, nk.referenced);
        }
        if let (Some(ov), Some(nv)) = (&od.values, &nd.values) {
            self.enum_values(ov, nv, flow, new, ok.referenced, nk.referenced);
        }
        if let (Some(ou), Some(nu)) = (&od.union, &nd.union) {
            let otag = ou.tag.as_ref().map_or("type", |t| t.value.as_str());
            let ntag = nu.tag.as_ref().map_or("type", |t| t.value.as_str());
            if otag != ntag {
                self.add(
                    "union-tag-changed",
                    new.to_owned(),
                    format!(
                        "the tag of union `{new}` changes from `{otag}` to `{ntag}`: neither side decodes the other's messages"
                    ),
                    WIRE,
                    ou.tag.as_ref().map_or(ok.referenced, |t| t.referenced),
                    nu.tag.as_ref().map_or(nk.referenced, |t| t.referenced),
                );
            }
            self.variants(
                &ou.variants,
                &nu.variants,
                flow,
                new,
                ok.referenced,
                nk.referenced,
            );
        }
    }

    fn enum_values(
        &mut self,
        ov: &[Spanned<String>],
        nv: &[Spanned<String>],
        flow: Flow,
        ty: &str,
        ol: Location,
        nl: Location,
    ) {
        for o in ov {
            if nv.iter().any(|n| n.value == o.value) {
                continue;
            }
            if let Some(n) = nv.iter().find(|n| {
                pascal(&n.value) == pascal(&o.value) && !ov.iter().any(|x| x.value == n.value)
            }) {
                self.add(
                    "variant-wire-renamed",
                    format!("{ty}.{}", o.value),
                    format!(
                        "enum `{ty}` value `{}` is written `{}` on the wire; the Rust variant `{}` stays: neither side decodes the other's spelling",
                        o.value,
                        n.value,
                        pascal(&n.value)
                    ),
                    WIRE,
                    o.referenced,
                    n.referenced,
                );
                continue;
            }
            self.variant_removed(ty, &o.value, flow, o.referenced, nl, "value");
        }
        for n in nv {
            if ov
                .iter()
                .any(|o| o.value == n.value || pascal(&o.value) == pascal(&n.value))
            {
                continue;
            }
            self.variant_added(ty, &n.value, flow, ol, n.referenced, "value");
        }
    }

    fn variant_removed(
        &mut self,
        ty: &str,
        name: &str,
        flow: Flow,
        ol: Location,
        nl: Location,
        what: &str,
    ) {
        let breaks = with_rust(Effect::NewRejectsOld.on(flow));
        let who = match flow {
            Flow::Receives => "the new server refuses old clients that send it",
            Flow::Sends => "old servers may send it, and new clients fail to decode it",
        };
        self.add(
            "variant-removed",
            format!("{ty}.{name}"),
            format!("{what} `{name}` of `{ty}` is removed: {who}"),
            breaks,
            ol,
            nl,
        );
    }

    fn variant_added(
        &mut self,
        ty: &str,
        name: &str,
        flow: Flow,
        ol: Location,
        nl: Location,
        what: &str,
    ) {
        let breaks = with_rust(Effect::OldRejectsNew.on(flow));
        let who = match flow {
            Flow::Receives => "old servers refuse new clients that send it",
            Flow::Sends => {
                "the new server may send it, and old clients cannot decode it (the Rust and TypeScript clients report a decode error for that message and stay connected)"
            }
        };
        self.add(
            "variant-added",
            format!("{ty}.{name}"),
            format!("{what} `{name}` is added to `{ty}`: {who}"),
            breaks,
            ol,
            nl,
        );
    }

    fn variants(
        &mut self,
        ov: &Map<VariantDef>,
        nv: &Map<VariantDef>,
        flow: Flow,
        ty: &str,
        ol: Location,
        nl: Location,
    ) {
        for (ok, o) in ov.iter() {
            match nv.iter().find(|(k, _)| k.value == ok.value) {
                Some((nk, n)) => {
                    let subject = format!("{ty}.{}", ok.value);
                    match (o, n) {
                        (VariantDef::Type(a), VariantDef::Type(b)) => {
                            self.named(&a.value, &b.value, flow)
                        }
                        _ => {
                            let (Some(of), Some(nf)) =
                                (self.variant_fields(o, true), self.variant_fields(n, false))
                            else {
                                continue;
                            };
                            if matches!(o, VariantDef::Type(_)) != matches!(n, VariantDef::Type(_))
                            {
                                self.add(
                                    "variant-form-changed",
                                    subject.clone(),
                                    format!(
                                        "variant `{}` of `{ty}` changes between a named type and inline fields: the Rust variant's shape changes",
                                        ok.value
                                    ),
                                    RUST,
                                    ok.referenced,
                                    nk.referenced,
                                );
                            }
                            self.fields(of, nf, flow, &subject, ok.referenced, nk.referenced);
                        }
                    }
                }
                None => {
                    if let Some((nk, _)) = nv.iter().find(|(k, _)| {
                        pascal(&k.value) == pascal(&ok.value)
                            && !ov.iter().any(|(x, _)| x.value == k.value)
                    }) {
                        self.add(
                            "variant-wire-renamed",
                            format!("{ty}.{}", ok.value),
                            format!(
                                "variant `{}` of union `{ty}` is tagged `{}` on the wire; the Rust variant stays: neither side decodes the other's tag",
                                ok.value, nk.value
                            ),
                            WIRE,
                            ok.referenced,
                            nk.referenced,
                        );
                    } else {
                        self.variant_removed(ty, &ok.value, flow, ok.referenced, nl, "variant");
                    }
                }
            }
        }
        for (nk, _) in nv.iter() {
            if ov
                .iter()
                .any(|(k, _)| k.value == nk.value || pascal(&k.value) == pascal(&nk.value))
            {
                continue;
            }
            self.variant_added(ty, &nk.value, flow, ol, nk.referenced, "variant");
        }
    }

    fn variant_fields(&self, v: &'a VariantDef, old: bool) -> Option<Fields<'a>> {
        match v {
            VariantDef::Inline(inline) => Some(&inline.fields),
            VariantDef::Type(name) => {
                let spec = if old { &self.old.spec } else { &self.new.spec };
                Self::type_def(spec, &name.value).and_then(|(_, d)| d.fields.as_ref())
            }
        }
    }

    fn fields(
        &mut self,
        of: Fields<'_>,
        nf: Fields<'_>,
        flow: Flow,
        ty: &str,
        ol: Location,
        nl: Location,
    ) {
        for (ok, o) in of.iter() {
            let subject = format!("{ty}.{}", ok.value);
            match nf.iter().find(|(k, _)| k.value == ok.value) {
                Some((nk, n)) => self.field(ok, o, nk, n, flow, &subject),
                None => {
                    if let Some((nk, _)) = nf.iter().find(|(k, _)| {
                        snake(&k.value) == snake(&ok.value)
                            && !of.iter().any(|(x, _)| x.value == k.value)
                    }) {
                        self.add(
                            "field-wire-renamed",
                            subject,
                            format!(
                                "field `{}` of `{ty}` is written `{}` on the wire; the Rust field `{}` stays: each side misses the other's field",
                                ok.value,
                                nk.value,
                                snake(&nk.value)
                            ),
                            WIRE,
                            ok.referenced,
                            nk.referenced,
                        );
                        if let Some((nk, n)) = nf.iter().find(|(k, _)| k.value == nk.value) {
                            self.field(ok, o, nk, n, flow, &format!("{ty}.{}", nk.value));
                        }
                    } else if o.is_optional() {
                        self.add(
                            "field-removed-optional",
                            subject,
                            format!(
                                "optional field `{}` is removed from `{ty}`: consumers that do not get it use none; the Rust field goes",
                                ok.value
                            ),
                            RUST,
                            ok.referenced,
                            nl,
                        );
                    } else {
                        let who = match flow {
                            Flow::Sends => {
                                "the new server leaves it out, and old clients that require it fail to decode"
                            }
                            Flow::Receives => {
                                "new clients leave it out, and old servers that require it refuse them"
                            }
                        };
                        self.add(
                            "field-removed-required",
                            subject,
                            format!(
                                "required field `{}` is removed from `{ty}`: {who}",
                                ok.value
                            ),
                            with_rust(Effect::OldRejectsNew.on(flow)),
                            ok.referenced,
                            nl,
                        );
                    }
                }
            }
        }
        for (nk, n) in nf.iter() {
            if of
                .iter()
                .any(|(k, _)| k.value == nk.value || snake(&k.value) == snake(&nk.value))
            {
                continue;
            }
            let subject = format!("{ty}.{}", nk.value);
            if n.is_optional() {
                self.add(
                    "field-added-optional",
                    subject,
                    format!(
                        "optional field `{}` is added to `{ty}`: old producers leave it out, old consumers ignore it; Rust struct literals need the new field",
                        nk.value
                    ),
                    RUST,
                    ol,
                    nk.referenced,
                );
            } else {
                let who = match flow {
                    Flow::Receives => "the new server refuses old clients' messages, which lack it",
                    Flow::Sends => "old servers leave it out, and new clients fail to decode",
                };
                self.add(
                    "field-added-required",
                    subject,
                    format!("required field `{}` is added to `{ty}`: {who}", nk.value),
                    with_rust(Effect::NewRejectsOld.on(flow)),
                    ol,
                    nk.referenced,
                );
            }
        }
    }

    fn field(
        &mut self,
        ok: &Spanned<String>,
        o: &FieldDef,
        nk: &Spanned<String>,
        n: &FieldDef,
        flow: Flow,
        subject: &str,
    ) {
        match (o.is_optional(), n.is_optional()) {
            (true, false) => self.add(
                "field-made-required",
                subject.to_owned(),
                format!("field `{subject}` becomes required: consumers built from NEW refuse messages that lack it"),
                with_rust(Effect::NewRejectsOld.on(flow)),
                ok.referenced,
                nk.referenced,
            ),
            (false, true) => self.add(
                "field-made-optional",
                subject.to_owned(),
                format!("field `{subject}` becomes optional: producers built from NEW may leave it out, which consumers built from OLD refuse"),
                with_rust(Effect::OldRejectsNew.on(flow)),
                ok.referenced,
                nk.referenced,
            ),
            _ => {}
        }
        let (ot, _) = parse_field(&o.ty.value);
        let (nt, _) = parse_field(&n.ty.value);
        // Compare without the `?`, which is handled above.
        let strip = |s: &Spanned<String>| {
            Spanned::new(
                s.value.trim().trim_end_matches('?').to_owned(),
                s.referenced,
                s.defined,
            )
        };
        self.expr(&ot, &nt, flow, subject, &strip(&o.ty), &strip(&n.ty));
        self.rules(
            &o.rules,
            &n.rules,
            flow,
            subject,
            ok.referenced,
            nk.referenced,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn rules(
        &mut self,
        o: &Rules,
        n: &Rules,
        flow: Flow,
        subject: &str,
        ol: Location,
        nl: Location,
    ) {
        // Each rule: old and new value, position, and how to compare (`Some(true)`: tighter).
        let mut found: Vec<(&str, Option<bool>, Location, Location)> = Vec::new();
        let mut bound = |name: &'static str,
                         a: Option<(Number, Location)>,
                         b: Option<(Number, Location)>,
                         lower: bool| {
            let tighter = match (a, b) {
                (None, None) => return,
                (None, Some(_)) => true,
                (Some(_), None) => false,
                (Some((x, _)), Some((y, _))) => match exact_order(x, y) {
                    std::cmp::Ordering::Equal => return,
                    // A raised lower bound or a lowered upper one accepts less.
                    order => (order == std::cmp::Ordering::Less) == lower,
                },
            };
            found.push((
                name,
                Some(tighter),
                a.map_or(ol, |(_, l)| l),
                b.map_or(nl, |(_, l)| l),
            ));
        };
        let u = |s: &Option<Spanned<u64>>| {
            s.as_ref()
                .map(|s| (Number::Int(i128::from(s.value)), s.referenced))
        };
        let f = |s: &Option<Spanned<Number>>| s.as_ref().map(|s| (s.value, s.referenced));
        bound("min_length", u(&o.min_length), u(&n.min_length), true);
        bound("max_length", u(&o.max_length), u(&n.max_length), false);
        bound("min", f(&o.min), f(&n.min), true);
        bound("max", f(&o.max), f(&n.max), false);
        bound("min_items", u(&o.min_items), u(&n.min_items), true);
        bound("max_items", u(&o.max_items), u(&n.max_items), false);
        let (op, np) = (&o.pattern, &n.pattern);
        match (op, np) {
            (None, None) => {}
            (Some(a), Some(b)) if a.value == b.value => {}
            (None, Some(b)) => found.push(("pattern", Some(true), ol, b.referenced)),
            (Some(a), None) => found.push(("pattern", Some(false), a.referenced, nl)),
            (Some(a), Some(b)) => found.push(("pattern", None, a.referenced, b.referenced)),
        }
        match (&o.one_of, &n.one_of) {
            (None, None) => {}
            (None, Some(b)) => found.push(("one_of", Some(true), ol, b.referenced)),
            (Some(a), None) => found.push(("one_of", Some(false), a.referenced, nl)),
            (Some(a), Some(b)) => {
                let sub = |x: &[String], y: &[String]| x.iter().all(|v| y.contains(v));
                let (a_in_b, b_in_a) = (sub(&a.value, &b.value), sub(&b.value, &a.value));
                let verdict = match (a_in_b, b_in_a) {
                    (true, true) => None::<Option<bool>>,
                    (true, false) => Some(Some(false)),
                    (false, true) => Some(Some(true)),
                    (false, false) => Some(None),
                };
                if let Some(v) = verdict {
                    found.push(("one_of", v, a.referenced, b.referenced));
                }
            }
        }
        for (name, tighter, at_old, at_new) in found {
            let (code, effect, how) = match tighter {
                Some(true) => ("rule-tightened", Effect::NewRejectsOld, "tightened"),
                Some(false) => ("rule-loosened", Effect::OldRejectsNew, "loosened"),
                None => ("rule-changed", Effect::Both, "changed"),
            };
            // Only the server validates: on what it sends, rules are documentation.
            let (breaks, note) = match flow {
                Flow::Receives => (
                    effect.on(flow),
                    match tighter {
                        Some(true) => "the new server refuses values old clients may send",
                        Some(false) => "old servers refuse values new clients may send",
                        None => "each server refuses values the other side's clients may send",
                    },
                ),
                Flow::Sends => (NONE, "clients do not validate what they receive"),
            };
            self.add(
                code,
                format!("{subject}.{name}"),
                format!("validation `{name}` of `{subject}` is {how}: {note}"),
                breaks,
                at_old,
                at_new,
            );
        }
    }

    /// Types that are removed and reached by no endpoint (a rename was reported already).
    fn unreferenced_types(&mut self) {
        let removed: Vec<(String, Location)> = self
            .old
            .spec
            .types
            .iter()
            .filter(|(k, _)| Self::type_def(&self.new.spec, &k.value).is_none())
            .filter(|(k, _)| {
                !self
                    .changes
                    .iter()
                    .any(|c| c.code == "type-renamed" && c.subject == k.value)
            })
            .map(|(k, _)| (k.value.clone(), k.referenced))
            .collect();
        for (name, at) in removed {
            let top = self.new_top();
            self.add(
                "type-removed",
                name.clone(),
                format!("type `{name}` is removed: Rust code that names it no longer compiles"),
                RUST,
                at,
                top,
            );
        }
        let added: Vec<(String, Location)> = self
            .new
            .spec
            .types
            .iter()
            .filter(|(k, _)| Self::type_def(&self.old.spec, &k.value).is_none())
            .filter(|(k, _)| !self.renamed.contains(&k.value))
            .map(|(k, _)| (k.value.clone(), k.referenced))
            .collect();
        for (name, at) in added {
            let top = self.old_top();
            self.add(
                "type-added",
                name.clone(),
                format!("type `{name}` is added"),
                NONE,
                top,
                at,
            );
        }
    }
}

/// One endpoint of one spec.
struct Endpoint<'s> {
    name: String,
    key: &'s Spanned<String>,
    def: &'s EndpointDef,
    ir: &'s EndpointIr,
}

/// The path with every parameter name blanked: `/rooms/{}`.
fn path_shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// A limit's value from the IR's builder calls: the number in `65536`, `from_millis(500)` or
/// `MessageRate::new(20, 5)` (its rate).
fn limit(limits: &[LimitIr], method: &str) -> Option<u64> {
    let l = limits.iter().find(|l| l.method == method)?;
    let digits: String = l
        .value
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Where a limit is written.
fn limit_at(def: &Option<LimitsDef>, key: &str) -> Option<Location> {
    let def = def.as_ref()?;
    match key {
        "max_message_size" => def.max_message_size.as_ref().map(|s| s.referenced),
        "max_frame_size" => def.max_frame_size.as_ref().map(|s| s.referenced),
        "max_header_size" => def.max_header_size.as_ref().map(|s| s.referenced),
        "idle_timeout" => def.idle_timeout.as_ref().map(|s| s.referenced),
        "max_messages_per_second" => def.max_messages_per_second.as_ref().map(|s| s.referenced),
        _ => None,
    }
}

/// How two rule bounds compare: whole numbers exactly (bounds beyond 2^53 differ by one), the
/// rest as floats.
fn exact_order(a: Number, b: Number) -> std::cmp::Ordering {
    match (a, b) {
        (Number::Int(x), Number::Int(y)) => x.cmp(&y),
        (x, y) => x
            .as_f64()
            .partial_cmp(&y.as_f64())
            .unwrap_or(std::cmp::Ordering::Equal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_of_primitives() {
        assert!(within(Primitive::U8, Primitive::U32));
        assert!(within(Primitive::I32, Primitive::Int));
        assert!(!within(Primitive::Int, Primitive::U32));
        assert!(within(Primitive::Int, Primitive::Float));
        assert!(!within(Primitive::Float, Primitive::Int));
        assert!(within(Primitive::String, Primitive::Json));
    }

    #[test]
    fn path_shapes_ignore_parameter_names() {
        assert_eq!(path_shape("/a/{id}/b"), path_shape("/a/{room}/b"));
        assert_ne!(path_shape("/a/{id}"), path_shape("/b/{id}"));
    }
}
