//! Spec errors that point at the line: position, message, hint, and rendering in the style of
//! rustc (`error: ...`, `--> file:line:col`, the source line with a caret under the culprit).

use std::fmt;

use serde_saphyr::Location;

/// One problem in a spec, with where it is and, where there is one, how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    /// The spec file as the user named it.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// How many characters the caret underlines (at least 1).
    pub width: usize,
    /// What is wrong.
    pub message: String,
    /// How to fix it, if there is something to say.
    pub hint: Option<String>,
    /// The source line the error is on, for the caret display; for a line longer than 240
    /// characters, an excerpt of it around the column.
    pub source_line: String,
    /// How many characters of the line come before `source_line` (0 unless it is an excerpt).
    pub excerpt_from: usize,
}

/// Lines longer than this many characters are kept as an excerpt around the column: a spec of
/// one long line with many errors must not copy the whole line into each of them.
const EXCERPT: usize = 240;
/// How many characters before the column an excerpt keeps.
const EXCERPT_BEFORE: usize = 80;

/// `line` whole, or an excerpt of it around the 1-based `column`, with how many characters
/// come before the excerpt.
pub(crate) fn excerpt(line: &str, column: usize) -> (String, usize) {
    if line.chars().nth(EXCERPT).is_none() {
        return (line.to_owned(), 0);
    }
    let from = (column - 1).saturating_sub(EXCERPT_BEFORE);
    let mut kept: String = line.chars().skip(from).take(EXCERPT).collect();
    // A line that goes on after the excerpt is marked where it was cut; the start's mark is
    // added when rendering (`excerpt_from > 0`), so that columns within stay as they are.
    if line.chars().nth(from + EXCERPT).is_some() {
        kept.push('…');
    }
    (kept, from)
}

impl Diagnostic {
    pub(crate) fn at(source: &Source, location: Location, message: impl Into<String>) -> Self {
        let line = usize::try_from(location.line()).unwrap_or(0).max(1);
        let column = usize::try_from(location.column()).unwrap_or(0).max(1);
        let width = usize::try_from(location.span().len()).unwrap_or(1).max(1);
        let (source_line, excerpt_from) =
            excerpt(source.text.lines().nth(line - 1).unwrap_or(""), column);
        // A span that runs past the end of its line (a multi-line value) is underlined to the end.
        let remaining = source_line
            .chars()
            .count()
            .saturating_sub(column - 1 - excerpt_from.min(column - 1))
            .max(1);
        Diagnostic {
            file: source.name.clone(),
            line,
            column,
            width: width.min(remaining),
            message: message.into(),
            hint: None,
            source_line,
            excerpt_from,
        }
    }
}

/// ANSI styles for a terminal, or none.
struct Paint(bool);

impl Paint {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

impl Diagnostic {
    /// The rustc-style rendering, with ANSI colours if `color`.
    pub fn render(&self, color: bool) -> String {
        self.render_as("error", None, color)
    }

    /// The rustc-style rendering with another level (`warning`, `note`) and an optional code
    /// (`error[field-added-required]`), for `wsgen diff`.
    pub fn render_as(&self, level: &str, code: Option<&str>, color: bool) -> String {
        let p = Paint(color);
        let level_color = match level {
            "error" => "1;31",
            "warning" => "1;33",
            _ => "1;36",
        };
        let head = match code {
            Some(code) => format!("{level}[{code}]"),
            None => level.to_owned(),
        };
        let gutter = " ".repeat(self.line.to_string().len());
        let bar = p.paint("1;34", "|");
        // An excerpt of a long line is marked with `…` on each side it was cut.
        let cut = self.excerpt_from > 0;
        let mut pad: String = if cut { " ".to_owned() } else { String::new() };
        pad.extend(
            self.source_line
                .chars()
                .take((self.column - 1).saturating_sub(self.excerpt_from))
                .map(|c| if c == '\t' { '\t' } else { ' ' }),
        );
        let shown = if cut {
            format!("…{}", self.source_line)
        } else {
            self.source_line.clone()
        };
        let mut out = format!(
            "{}{}\n{gutter}{} {}:{}:{}\n{gutter} {bar}\n{} {bar} {}\n{gutter} {bar} {pad}{}",
            p.paint(level_color, &head),
            p.paint("1", &format!(": {}", self.message)),
            p.paint("1;34", "-->"),
            self.file,
            self.line,
            self.column,
            p.paint("1;34", &self.line.to_string()),
            shown,
            p.paint(level_color, &"^".repeat(self.width)),
        );
        if let Some(hint) = &self.hint {
            out.push_str(&format!("\n{gutter} {} {hint}", p.paint("1;36", "= help:")));
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// Every problem found in one spec, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Every diagnostic and a count, with ANSI colours if `color`.
    pub fn render(&self, color: bool) -> String {
        let mut out: Vec<String> = self.0.iter().map(|d| d.render(color)).collect();
        let n = self.0.len();
        out.push(format!(
            "{}: the spec has {n} error{}",
            Paint(color).paint("1;31", "error"),
            if n == 1 { "" } else { "s" }
        ));
        out.join("\n\n")
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(false))
    }
}

/// A loaded spec file: its name for messages and its text.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file as the user named it.
    pub name: String,
    /// The whole file.
    pub text: String,
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a likely typo.
pub(crate) fn did_you_mean<'c>(
    name: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_shown_as_an_excerpt_with_the_caret_under_the_culprit() {
        let line = format!("{}culprit{}", "é".repeat(1_000), "b".repeat(1_000));
        let (source_line, excerpt_from) = excerpt(&line, 1_001);
        assert_eq!(excerpt_from, 1_000 - EXCERPT_BEFORE);
        // The excerpt, and its mark where the line goes on.
        assert_eq!(source_line.chars().count(), EXCERPT + 1);
        assert!(source_line.ends_with('…'));
        let d = Diagnostic {
            file: "t.yaml".to_owned(),
            line: 2,
            column: 1_001,
            width: 7,
            message: "here".to_owned(),
            hint: None,
            source_line,
            excerpt_from,
        };
        let text = d.render(false);
        assert!(text.contains("t.yaml:2:1001"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let shown = lines
            .iter()
            .find(|l| l.contains("culprit"))
            .expect("the excerpt");
        let caret = lines.iter().find(|l| l.contains('^')).expect("the caret");
        assert!(shown.contains('…'), "{text}");
        // The caret starts under the culprit's first character, counted in characters.
        let column = |l: &str, pat: &str| l.find(pat).map(|at| l[..at].chars().count());
        assert_eq!(column(shown, "culprit"), column(caret, "^^^^^^^"), "{text}");
        // A short line is kept whole.
        assert_eq!(excerpt("first: 1", 1), ("first: 1".to_owned(), 0));
    }

    fn shown_line(line: &str, column: usize) -> String {
        let (source_line, excerpt_from) = excerpt(line, column);
        let d = Diagnostic {
            file: "t.yaml".to_owned(),
            line: 1,
            column,
            width: 1,
            message: "here".to_owned(),
            hint: None,
            source_line,
            excerpt_from,
        };
        let text = d.render(false);
        text.lines()
            .find(|l| l.starts_with("1 |"))
            .expect("the source line")
            .to_owned()
    }

    #[test]
    fn an_excerpt_is_marked_on_each_side_it_was_cut_and_only_there() {
        let line = format!("{}X{}", "a".repeat(500), "b".repeat(500));
        // Column near the start: only the end is cut.
        let start = shown_line(&line, 3);
        assert!(!start.contains("|…"), "{start}");
        assert!(start.ends_with('…'), "the cut end is not marked: {start}");
        // Column near the end: the excerpt runs to the end of the line, only the start is cut.
        let end = shown_line(&line, 1_000);
        assert!(end.contains("| …"), "{end}");
        assert!(
            !end.ends_with('…'),
            "the end of the line is marked as cut: {end}"
        );
    }
}
