//! wsgen: generate typed Rust WebSocket servers and clients from a YAML spec.
//!
//! One direction of data flow, one module per stage:
//!
//! ```text
//! load -> parse -> validate (lower) -> IR -> render -> format -> write
//! ```
//!
//! The CLI (`wsgen generate`), the build-script [`Builder`] and `cargo xtask regen` are thin
//! shells over [`generate`] and [`write_files`]. Every stage is a private module; this file is
//! the facade: what the CLI, build scripts, `xtask`, the benches and the tests call.

mod asyncapi;
mod builder;
mod diagnostic;
pub mod diff;
mod docs;
mod error;
mod format;
mod init;
mod ir;
mod load;
mod model;
mod names;
mod parse;
mod render;
mod shape;
mod spec;
mod typeexpr;
mod typescript;
mod validate;
mod write;
mod yaml;

use std::path::{Path, PathBuf};

pub use asyncapi::asyncapi;
pub use builder::Builder;
pub use diagnostic::{Diagnostic, Diagnostics, Source};
pub use docs::docs;
pub use error::Error;
pub use init::{Started, init, starter_spec};
pub use ir::Ir;
pub use load::{MAX_SPEC_BYTES, from_bytes as load_bytes, load};
pub use spec::json_schema_text;
pub use typescript::CORE_FILE as TYPESCRIPT_CORE_FILE;
pub use write::{WriteMode, WriteReport, write_files};

/// Test-only hooks into the shape check (`tests/schema.rs` walks specs against a schema).
#[doc(hidden)]
pub use shape::{check_against as shape_check_against, tree as shape_tree};

/// One generated file, with its path relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    /// Where the file goes, relative to the output directory.
    pub path: PathBuf,
    /// The formatted file.
    pub contents: String,
}

/// Loads, parses and validates the spec at `path` for every target, returning its IR (see
/// [`check_source`]).
pub fn check(path: &Path) -> Result<Ir, Error> {
    check_source(&load::load(path)?)
}

/// Validates an already loaded spec for every target: what [`lower`] checks, and the names the
/// TypeScript client needs for itself, so that a spec this accepts generates for every
/// target (`wsgen check`). Rust generation alone needs only [`lower`].
pub fn check_source(source: &Source) -> Result<Ir, Error> {
    let (ir, model) = lower_model(source)?;
    typescript::check(&model, source).map_err(Error::Spec)?;
    Ok(ir)
}

/// What `wsgen check --target typescript` warns about for the spec at `path`: every endpoint
/// whose middleware reads a header that a browser cannot send with a WebSocket.
pub fn browser_warnings(path: &Path) -> Result<Vec<String>, Error> {
    let (_, model) = lower_model(&load::load(path)?)?;
    Ok(typescript::browser_warnings(&model))
}

/// Parses and validates an already loaded spec.
pub(crate) fn lower(source: &Source) -> Result<Ir, Error> {
    lower_with_spec(source).map(|(_, ir)| ir)
}

/// Parses and validates an already loaded spec, and builds the typed model the non-Rust
/// targets read.
pub(crate) fn lower_model(source: &Source) -> Result<(Ir, model::Model), Error> {
    let (spec, ir) = lower_with_spec(source)?;
    let model = model::build(&spec, &ir, source).map_err(Error::Spec)?;
    Ok((ir, model))
}

pub(crate) fn lower_with_spec(source: &Source) -> Result<(spec::Spec, Ir), Error> {
    let spec = parse::parse(source).map_err(|errors| Error::Spec(with_semantic(source, errors)))?;
    let ir = validate::lower(&spec, source).map_err(Error::Spec)?;
    Ok((spec, ir))
}

/// A spec's shape problems and, in the same run, the semantic problems of every type and
/// endpoint whose shape is right: the entries with shape problems are blanked out (positions
/// elsewhere unchanged), the rest is parsed and validated, and what validation says about a
/// type or endpoint that had a shape problem is left for the next run. When leaving entries out
/// leaves a part that no longer reads, each part with a problem is replaced by a stand-in of its
/// kind instead (an empty type, an endpoint at a path of its own), which also covers a missing
/// key of a type or endpoint itself. When a problem cannot be set aside (outside every type and
/// endpoint, a YAML syntax error, a stand-in that does not fit), only the shape problems are
/// reported.
fn with_semantic(source: &Source, mut errors: Diagnostics) -> Diagnostics {
    let Ok(tree) = shape::tree(source) else {
        return errors;
    };
    let checked = shape::check_for_repair(source, &tree);
    if checked.errors.is_empty() || !checked.repairable {
        return errors;
    }
    // Leave out the entries with problems; if a part then no longer reads (its only field was
    // the problem), stand in for the parts with problems instead.
    let parsed = |text: Option<String>| {
        let repaired = Source {
            name: source.name.clone(),
            text: text?,
        };
        let spec = parse::parse(&repaired).ok()?;
        Some((spec, repaired))
    };
    let Some((spec, repaired)) =
        parsed(Some(shape::without_entries(&source.text, &checked.repairs)))
            .or_else(|| parsed(shape::with_parts_set_aside(&source.text, &checked.tainted)))
    else {
        return errors;
    };
    let Err(semantic) = validate::lower(&spec, &repaired) else {
        return errors;
    };
    let keys: Vec<_> = checked.tainted.iter().map(|(_, at)| *at).collect();
    let waiting = shape::entry_lines(&source.text, &keys);
    // What validation says elsewhere about a part set aside may be an artefact of leaving its
    // entries out (a field left out as `optional: maybe` is required, and the type that refers
    // to it was reported as a cycle of required fields): it waits too. Messages name a type as
    // `Name` and an endpoint as `controller.endpoint`, in backticks.
    let named: Vec<String> = checked
        .tainted
        .iter()
        .map(|(part, _)| {
            let name = match part.strip_prefix("types.") {
                Some(ty) => ty.to_owned(),
                None => part.strip_prefix("controllers.").unwrap_or(part).replacen(
                    ".endpoints.",
                    ".",
                    1,
                ),
            };
            format!("`{name}`")
        })
        .collect();
    errors.0.extend(
        semantic
            .0
            .into_iter()
            .filter(|d| !waiting.iter().any(|(a, b)| (*a..=*b).contains(&d.line)))
            .filter(|d| !d.message.contains(shape::SET_ASIDE_PATH))
            .filter(|d| !named.iter().any(|name| d.message.contains(name.as_str()))),
    );
    errors.0.sort_by_key(|d| (d.line, d.column));
    errors.0.dedup();
    errors
}

/// Runs the whole pipeline for the spec at `path`, returning the files to write.
pub fn generate(path: &Path) -> Result<Vec<OutputFile>, Error> {
    generate_source(&load::load(path)?)
}

/// What `wsgen generate` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Target {
    /// The Rust server, client and types (`<name>.rs`).
    #[default]
    Rust,
    /// The TypeScript client and types (`<name>.ts`).
    TypeScript,
}

/// Runs the pipeline for `target` on the spec at `path`, returning the files to write.
pub fn generate_target(path: &Path, target: Target) -> Result<Vec<OutputFile>, Error> {
    generate_target_source(&load::load(path)?, target)
}

/// Runs the pipeline for `target` from an already loaded spec.
pub fn generate_target_source(source: &Source, target: Target) -> Result<Vec<OutputFile>, Error> {
    match target {
        Target::Rust => generate_source(source),
        Target::TypeScript => typescript::generate_source(source),
    }
}

/// Runs the pipeline from an already loaded spec.
pub fn generate_source(source: &Source) -> Result<Vec<OutputFile>, Error> {
    let ir = lower(source)?;
    let code = render::render(&ir)?;
    let contents = format::format(&code, render::ENTRY, &ir.spec_file)?;
    Ok(vec![OutputFile {
        path: PathBuf::from(format!("{}.rs", ir.module)),
        contents,
    }])
}

#[cfg(test)]
mod tests {
    /// The non-Rust targets read only the model: they import neither the spec types, the IR,
    /// validation, nor one another.
    #[test]
    fn targets_read_only_the_model() {
        let targets = [
            ("typescript", include_str!("typescript.rs")),
            ("docs", include_str!("docs.rs")),
            ("asyncapi", include_str!("asyncapi.rs")),
        ];
        let forbidden = [
            "crate::spec",
            "crate::ir",
            "crate::validate",
            "crate::typeexpr",
            "crate::typescript",
            "crate::docs",
            "crate::asyncapi",
            ".zip(",
        ];
        for (name, text) in targets {
            for bad in forbidden {
                let own = format!("crate::{name}");
                assert!(
                    bad == own || !text.contains(bad),
                    "lib/src/{name}.rs uses `{bad}`"
                );
            }
        }
    }
}
