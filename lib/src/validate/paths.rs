//! Endpoint paths: their parameters, their shapes, and paths two endpoints would both match.

use crate::names::is_identifier;
use crate::spec::Spanned;

use super::Lowerer;

/// The parameter name of a path segment such as `{room_id}`.
pub(super) fn segment_param(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// A path with parameter names erased: two paths with the same shape match the same requests.
pub(super) fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|segment| {
            if segment_param(segment).is_some() {
                "{}"
            } else {
                segment
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Whether two different route shapes can match the same request path while having the same
/// number of literal segments (the router could not prefer either).
pub(super) fn ambiguous(a: &str, b: &str) -> bool {
    if path_shape(a) == path_shape(b) {
        return false; // reported as a duplicate
    }
    let a: Vec<&str> = a.split('/').filter(|s| !s.is_empty()).collect();
    let b: Vec<&str> = b.split('/').filter(|s| !s.is_empty()).collect();
    let literals = |p: &[&str]| p.iter().filter(|s| segment_param(s).is_none()).count();
    a.len() == b.len()
        && literals(&a) == literals(&b)
        && a.iter()
            .zip(&b)
            .all(|(x, y)| segment_param(x).is_some() || segment_param(y).is_some() || x == y)
}

/// `path` with parameters written as other frameworks write them (`:room_id`, `<room_id>`,
/// `<int:room_id>`) in the spec's braces, if it has any.
pub(super) fn braced_parameters(path: &str) -> Option<String> {
    let mut changed = false;
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| {
            let name = segment.strip_prefix(':').or_else(|| {
                segment
                    .strip_prefix('<')
                    .and_then(|s| s.strip_suffix('>'))
                    .map(|s| s.rsplit(':').next().unwrap_or(s))
            });
            match name.filter(|n| is_identifier(n)) {
                Some(name) => {
                    changed = true;
                    format!("{{{name}}}")
                }
                None => segment.to_owned(),
            }
        })
        .collect();
    changed.then(|| segments.join("/"))
}

impl Lowerer<'_> {
    /// Normalises a path segment list: a leading `/`, no trailing `/`, allowed characters only.
    pub(super) fn path(&mut self, path: &Spanned<String>) -> String {
        let raw = path.value.trim();
        if let Some(bad) = raw
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "/-._~{}".contains(*c)))
        {
            let hint = match braced_parameters(raw) {
                Some(fixed) => format!("a parameter is written in braces: `{fixed}`"),
                None => "use ASCII letters, digits, `/`, `-`, `.`, `_`, `~`, and `{name}` for a parameter".to_owned(),
            };
            self.error_hint(
                path.referenced,
                format!("the path `{raw}` contains `{bad}`, which a path here may not"),
                hint,
            );
        } else if let Some(bad) = raw.split('/').find(|segment| {
            (segment.contains('{') || segment.contains('}'))
                && segment_param(segment).is_none_or(|name| !is_identifier(name))
        }) {
            self.error_hint(
                path.referenced,
                format!("the path segment `{bad}` is neither literal text nor a parameter"),
                "a parameter is a whole segment such as `{room_id}`",
            );
        }
        let trimmed = raw.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }
}
