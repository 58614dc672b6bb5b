//! Formatting: rendered text through syn and prettyplease, plus the `@generated` header.
//!
//! A parse failure here is a bug in a template, reported with the offending lines.

use crate::error::Error;

/// Parses `code` (a file's items) as a Rust file and prints it in rustfmt style, under the
/// header, with its items in the module of [`MODULE_OPEN`] re-exported by [`MODULE_CLOSE`].
pub fn format(code: &str, template: &str, spec_file: &str) -> Result<String, Error> {
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8);
    let parallel = (threads > 1 && code.len() >= PARALLEL_FROM)
        .then(|| in_parallel(code, threads))
        .flatten();
    let pretty = match parallel {
        Some(pretty) => pretty,
        None => whole(&wrapped(code), template)?,
    };
    Ok(format!("{}\n\n{}", header(spec_file), space_items(&pretty)))
}

/// What a generated Rust file opens with, as prettyplease prints it: one private module for
/// every item, where the lints for unused and undocumented items are allowed (as tonic does for
/// its generated modules), so that a crate that uses only part of the API (only the server,
/// only the client) builds without warnings, even under `#![warn(missing_docs)]`. The file is
/// included with `include!` as well as loaded with `mod`, so these cannot be inner attributes.
pub const MODULE_OPEN: &str = "/// Everything generated from the spec, re-exported below: a crate that uses only part of\n\
/// it (only the server, only the client) gets no warnings for the rest.\n\
#[allow(dead_code, missing_docs)]\n\
mod generated {\n";

/// What a generated Rust file closes with: the module's end and its items' re-export.
pub const MODULE_CLOSE: &str = "}\npub use generated::*;\n";

/// `items` inside the module of [`MODULE_OPEN`].
fn wrapped(items: &str) -> String {
    format!("{MODULE_OPEN}{items}\n{MODULE_CLOSE}")
}

/// Below this size a file is formatted on one thread.
const PARALLEL_FROM: usize = 256 * 1024;

/// Formats a large file as a few runs of whole items on separate threads: parsing is most of the
/// generator's time, and items format independently, so the joined output is the same as the
/// whole file's. Each run is printed inside the module (for its indentation) and the module's
/// lines are put around the joined runs once. Runs are cut only after a top-level `}` line;
/// `None` (format the whole file instead) when any run does not parse.
fn in_parallel(code: &str, threads: usize) -> Option<String> {
    let mut runs = Vec::with_capacity(threads);
    let mut start = 0;
    for n in 1..threads {
        let target = code.len() * n / threads;
        if target <= start {
            continue;
        }
        // Searched as bytes: `target` may fall inside a multi-byte character, and the cut,
        // after an ASCII `}` line, is always on a character boundary.
        let cut = code.as_bytes()[target..]
            .windows(3)
            .position(|w| w == b"\n}\n")
            .map(|i| target + i + 3)?;
        runs.push(&code[start..cut]);
        start = cut;
    }
    runs.push(&code[start..]);
    let printed: Vec<Option<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = runs
            .iter()
            .map(|run| {
                scope.spawn(move || {
                    let file = syn::parse_file(&format!("mod generated {{\n{run}\n}}")).ok()?;
                    let printed = prettyplease::unparse(&file);
                    printed
                        .strip_prefix("mod generated {\n")?
                        .strip_suffix("}\n")
                        .map(str::to_owned)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().ok().flatten())
            .collect()
    });
    let parts = printed.into_iter().collect::<Option<Vec<String>>>()?;
    Some(format!("{MODULE_OPEN}{}{MODULE_CLOSE}", parts.concat()))
}

/// Formats the whole file at once; a parse failure becomes a template error with the lines
/// around it.
fn whole(code: &str, template: &str) -> Result<String, Error> {
    let file = syn::parse_file(code).map_err(|e| {
        let line = e.span().start().line;
        let excerpt = code
            .lines()
            .enumerate()
            .skip(line.saturating_sub(4))
            .take(7)
            .map(|(i, l)| format!("{:>5} | {l}", i + 1))
            .collect::<Vec<_>>()
            .join("\n");
        Error::Format {
            template: template.to_owned(),
            detail: e.to_string(),
            excerpt,
        }
    })?;
    Ok(prettyplease::unparse(&file))
}

/// Puts a blank line between consecutive items and between methods, as a person would;
/// prettyplease leaves none.
fn space_items(code: &str) -> String {
    const STARTS: &[&str] = &[
        "///",
        "#[",
        "pub ",
        "fn ",
        "async fn ",
        "impl",
        "struct ",
        "enum ",
        "type ",
        "trait ",
        "const ",
        "mod ",
        "use ",
    ];
    let mut out = String::with_capacity(code.len() + code.len() / 16);
    let mut previous: Option<&str> = None;
    for line in code.lines() {
        if let Some(prev) = previous {
            let indent = |l: &str| l.len() - l.trim_start().len();
            let trimmed = line.trim_start();
            let prev_trimmed = prev.trim();
            let prev_ends_item = prev_trimmed.ends_with('}') || prev_trimmed.ends_with(';');
            let starts_item = STARTS.iter().any(|s| trimmed.starts_with(s));
            // Runs of associated types, consts and imports stay together.
            let same_run = ["type ", "const ", "use "]
                .iter()
                .any(|k| trimmed.starts_with(k) && prev.trim_start().starts_with(k));
            // A doc comment line ending in `;` or `}` is not the end of an item.
            let prev_is_comment = prev_trimmed.starts_with("//");
            if prev_ends_item
                && starts_item
                && !same_run
                && !prev_is_comment
                && indent(prev) == indent(line)
            {
                out.push('\n');
            }
        }
        out.push_str(line);
        out.push('\n');
        previous = Some(line);
    }
    out
}

/// The first lines of every generated file.
pub fn header(spec_file: &str) -> String {
    format!(
        "// @generated by wsgen from {spec_file}. Do not edit by hand: change the spec and regenerate."
    )
}

#[cfg(test)]
mod tests {
    use super::{in_parallel, whole, wrapped};

    #[test]
    fn formatting_in_runs_prints_what_formatting_the_whole_file_prints() {
        let mut code = String::new();
        for i in 0..400 {
            code.push_str(&format!(
                "/// Item {i}.\npub struct S{i} {{ pub a: u32, pub b: Option<String> }}\n\
                 impl S{i} {{\n    pub fn get(&self) -> u32 {{ if self.a > {i} {{ self.a }} else {{ {i} }} }}\n}}\n"
            ));
        }
        let expected = whole(&wrapped(&code), "test").unwrap();
        for threads in [2, 3, 7] {
            assert_eq!(
                in_parallel(&code, threads).as_deref(),
                Some(expected.as_str())
            );
        }
    }

    #[test]
    fn runs_are_cut_on_character_boundaries_whatever_the_text() {
        // Multi-byte doc text everywhere, so that most target offsets fall inside a character.
        let mut code = String::new();
        for i in 0..300 {
            code.push_str(&format!(
                "/// Предмет {i} — ключ.\npub struct S{i} {{\n    pub a: u32,\n}}\n"
            ));
        }
        let expected = whole(&wrapped(&code), "test").unwrap();
        for threads in 2..=8 {
            assert_eq!(
                in_parallel(&code, threads).as_deref(),
                Some(expected.as_str())
            );
        }
    }

    #[test]
    fn a_run_that_does_not_parse_falls_back_to_the_whole_file() {
        // The only top-level `}` lines are inside a string, so any cut splits an item.
        let code = "const S: &str = \"a\n}\nb\n}\nc\";\nfn f() {}\n".repeat(3);
        assert_eq!(in_parallel(&code, 2), None);
        assert!(whole(&code, "test").is_ok());
    }
}
