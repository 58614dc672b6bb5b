//! Documentation lines: spec docs made safe for `///` comments and doctests.

use super::text::is_bidi_control;

/// Documentation lines for `///` comments, made safe to print there and to run as doctests of
/// the generated crate:
///
/// - a bare `\r` ends a line as `\n` does (rustc refuses a bare carriage return in a doc
///   comment), and any other control character but a tab, or a bidirectional control, is
///   written as its `\u{..}` escape;
/// - every fenced block (` ``` ` or `~~~`, any info string: none, `rust`, `no_run`, a language)
///   opens as `text`, and an indented code block is fenced as `text`, so that spec docs never
///   become doctests.
pub(super) fn doc_lines(docs: Option<&String>) -> Vec<String> {
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
pub(super) fn list_marker(line: &str) -> Option<usize> {
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
pub(super) fn strip_indent(line: &str) -> String {
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
}
