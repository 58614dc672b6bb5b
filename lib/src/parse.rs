//! Parsing: YAML text into the [`Spec`] types, with budgets against hostile input.

use crate::diagnostic::{Diagnostic, Diagnostics, Source};
use crate::shape;
use crate::spec::Spec;
use crate::yaml::{options, tree, yaml_error};

/// Parses a spec. A YAML syntax error is one diagnostic; a spec of the wrong shape gets every
/// shape problem at once (see [`crate::shape`]).
pub fn parse(source: &Source) -> Result<Spec, Diagnostics> {
    let tree = tree(source)?;
    let mut problems = shape::check(source, &tree);
    if !problems.is_empty() {
        problems.sort_by_key(|d| (d.line, d.column));
        problems.dedup();
        return Err(Diagnostics(problems));
    }
    serde_saphyr::from_str_with_options::<Spec>(&source.text, options()).map_err(|e| {
        // A number beyond any integer type passes the shape check (validation says it is out
        // of range where it reads numbers exactly); anywhere else it is what fails here.
        let huge = shape::huge_numbers(&tree);
        if huge.is_empty() {
            return yaml_error(source, &e);
        }
        Diagnostics(
            huge.into_iter()
                .map(|at| {
                    let mut d = Diagnostic::at(source, at, "this number is out of range: it is larger than any whole number a spec may hold");
                    d.hint = Some("use a smaller number".to_owned());
                    d
                })
                .collect(),
        )
    })
}
