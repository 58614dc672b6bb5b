//! Text the generated code holds: string literals, and the characters no name or doc may carry.

use crate::diagnostic::{Diagnostic, Source, excerpt};

/// The bidirectional controls that can make text read differently from how it compiles
/// ("Trojan Source"); rustc refuses them in literals and comments.
pub(crate) fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// The first character of a name that cannot be printed in the generated code's comments:
/// a control character or a bidirectional control.
pub(super) fn unprintable(name: &str) -> Option<char> {
    name.chars().find(|c| c.is_control() || is_bidi_control(*c))
}

pub(super) fn literal(s: &str) -> String {
    format!("{s:?}")
}

/// Every bidirectional control written as such in the file: refused wherever it is, since it
/// makes the text read differently from what it is ("Trojan Source"), and rustc refuses it in
/// the generated code.
pub(super) fn bidi_controls(source: &Source) -> Vec<Diagnostic> {
    let mut found = Vec::new();
    for (index, line) in source.text.lines().enumerate() {
        if !line.chars().any(is_bidi_control) {
            continue;
        }
        // The line as shown, made once: each diagnostic keeps an excerpt of it.
        let shown: String = line
            .chars()
            .map(|c| if is_bidi_control(c) { '\u{fffd}' } else { c })
            .collect();
        for (column, c) in line
            .chars()
            .enumerate()
            .filter(|(_, c)| is_bidi_control(*c))
        {
            let (source_line, excerpt_from) = excerpt(&shown, column + 1);
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
                source_line,
                excerpt_from,
            });
        }
    }
    found
}

/// A PascalCase part of a longer name, without the escape a keyword needs on its own.
pub(super) fn unescaped(ident: &str) -> &str {
    if ident == "Self_" { "Self" } else { ident }
}

/// A raw string literal for a regular expression (no escaping needed inside), or an escaped
/// one when the text holds a character a raw literal cannot show (a bare `\r`, a control).
pub(super) fn literal_raw(text: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_collide_only_as_escaped_parts() {
        assert_eq!(unescaped("Self_"), "Self");
        assert_eq!(unescaped("Async"), "Async");
        assert!(is_bidi_control('\u{2066}') && !is_bidi_control('a'));
        assert_eq!(literal_raw("a\rb"), "\"a\\rb\"");
        assert_eq!(literal_raw("^a\"#$"), "r##\"^a\"#$\"##");
    }

    #[test]
    fn bidi_controls_on_a_long_line_keep_an_excerpt_not_the_whole_line() {
        // A one-line spec with many bidi controls: each diagnostic must keep an excerpt (as every
        // other diagnostic does since the excerpt change), not a copy of the whole line, which
        // makes `check` quadratic in time and memory on such a file.
        let line = format!("{}\u{202E}{}", "a".repeat(1_000), "b".repeat(1_000));
        let source = Source {
            name: "t.yaml".to_owned(),
            text: format!("first: 1\n{line}\n"),
        };
        let found = bidi_controls(&source);
        assert_eq!(found.len(), 1);
        let d = &found[0];
        assert_eq!((d.line, d.column), (2, 1_001));
        // At most 240 characters, and the mark where the line goes on.
        assert!(
            d.source_line.chars().count() <= 241,
            "{}",
            d.source_line.len()
        );
        // The caret still sits under the (replaced) control character.
        let text = d.render(false);
        let lines: Vec<&str> = text.lines().collect();
        let shown = lines
            .iter()
            .find(|l| l.contains('\u{fffd}'))
            .expect("the excerpt");
        let caret = lines.iter().find(|l| l.contains('^')).expect("the caret");
        let column = |l: &str, c: char| l.find(c).map(|at| l[..at].chars().count());
        assert_eq!(column(shown, '\u{fffd}'), column(caret, '^'), "{text}");
    }
}
