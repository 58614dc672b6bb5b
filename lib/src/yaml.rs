//! Reading YAML: the parser options with budgets against hostile input, the positioned node
//! tree that shape checking walks, and YAML syntax errors as diagnostics. Both [`crate::parse`]
//! and [`crate::shape`] use it; neither imports the other's reader.

use serde_saphyr::{Location, Options, Spanned};

use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::shape::Node;

/// The deepest nesting a spec may have; real specs need about ten levels. Kept low so that
/// parsing stays well inside a small thread stack (a build script's, a test's).
const MAX_DEPTH: usize = 32;

pub(crate) fn options() -> Options {
    let mut options = Options::default();
    options.with_snippet = false;
    let mut budget = options.budget.take().unwrap_or_default();
    budget.max_depth = MAX_DEPTH;
    budget.flow_nesting_limit = MAX_DEPTH;
    options.budget = Some(budget);
    options
}

/// The YAML as a tree of positioned nodes, for shape checking.
pub(crate) fn tree(source: &Source) -> Result<Spanned<Node>, Diagnostics> {
    serde_saphyr::from_str_with_options::<Spanned<Node>>(&source.text, options())
        .map_err(|e| yaml_error(source, &e))
}

pub(crate) fn yaml_error(source: &Source, e: &serde_saphyr::Error) -> Diagnostics {
    {
        let location = e.location().unwrap_or(Location::UNKNOWN);
        let message = message_of(e);
        let hint = hint_for(&message);
        let mut d = Diagnostic::at(source, location, message);
        d.hint = hint;
        Diagnostics(vec![d])
    }
}

/// The error's text without the position the diagnostic already shows.
fn message_of(error: &serde_saphyr::Error) -> String {
    let text = error.without_snippet().to_string();
    let text = match text.find(" at line ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let text = text.trim().trim_start_matches("error: ");
    // The YAML library's own advice names its options; say it in the spec's terms.
    match text.strip_prefix("duplicate mapping key: ") {
        Some(rest) => {
            let key = rest
                .split(", set DuplicateKeyPolicy")
                .next()
                .unwrap_or(rest);
            format!("duplicate key `{key}`")
        }
        None => text.to_owned(),
    }
}

fn hint_for(message: &str) -> Option<String> {
    if message.contains("unknown field") {
        Some(
            "remove the key, or check its spelling against the spec reference in docs/spec.md"
                .to_owned(),
        )
    } else if message.starts_with("duplicate key") {
        Some("each name may appear once in a map; rename or merge the two".to_owned())
    } else if message.contains("missing field") {
        Some("add the key".to_owned())
    } else if message.starts_with("invalid i64") || message.starts_with("invalid u") {
        Some("a whole number is expected here".to_owned())
    } else {
        None
    }
}
