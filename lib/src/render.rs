//! Rendering: the IR (or the docs model) through the minijinja templates embedded in the binary.
//!
//! Undefined values are errors (strict mode), so a template that names a field the IR lacks
//! fails loudly instead of printing nothing.

use minijinja::syntax::SyntaxConfig;
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};

use crate::error::Error;
use crate::ir::Ir;

/// The templates, by name; `file.rs.j2` is the entry point and includes the rest.
const TEMPLATES: &[(&str, &str)] = &[
    ("macros.j2", include_str!("../templates/macros.j2")),
    ("file.rs.j2", include_str!("../templates/file.rs.j2")),
    ("types.rs.j2", include_str!("../templates/types.rs.j2")),
    ("inputs.rs.j2", include_str!("../templates/inputs.rs.j2")),
    ("close.rs.j2", include_str!("../templates/close.rs.j2")),
    ("server.rs.j2", include_str!("../templates/server.rs.j2")),
    ("client.rs.j2", include_str!("../templates/client.rs.j2")),
    ("docs.md.j2", include_str!("../templates/docs.md.j2")),
    ("client.ts.j2", include_str!("../templates/client.ts.j2")),
];

/// The template a whole output file is rendered from.
pub const ENTRY: &str = "file.rs.j2";

fn environment() -> Result<Environment<'static>, Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    let syntax = SyntaxConfig::builder()
        .trim_blocks(true)
        .lstrip_blocks(true)
        .build()
        .map_err(|e| render_error("syntax", &e))?;
    env.set_syntax(syntax);
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .map_err(|e| render_error(name, &e))?;
    }
    Ok(env)
}

fn render_error(template: &str, e: &minijinja::Error) -> Error {
    // minijinja reports an error inside an included template as the cause of the include's
    // error; show the whole chain, innermost last.
    let mut detail = format!("{e:#}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        match cause.downcast_ref::<minijinja::Error>() {
            Some(inner) => detail.push_str(&format!("\ncaused by: {inner:#}")),
            None => detail.push_str(&format!("\ncaused by: {cause}")),
        }
        source = cause.source();
    }
    Error::Render {
        template: template.to_owned(),
        detail,
    }
}

/// Renders the file for `ir` (unformatted Rust).
pub fn render(ir: &Ir) -> Result<String, Error> {
    render_with(ENTRY, ir)
}

/// Renders `template` with `model` as `ir`.
pub fn render_with<T: serde::Serialize>(template: &str, model: &T) -> Result<String, Error> {
    let env = environment()?;
    let entry = env
        .get_template(template)
        .map_err(|e| render_error(template, &e))?;
    entry
        .render(context! { ir => Value::from(Serde(model)) })
        .map_err(|e| render_error(template, &e))
}
