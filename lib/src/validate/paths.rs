//! Endpoint paths: their parameters, their shapes, and paths two endpoints would both match,
//! checked on the one parsed path type, [`PathTemplate`].

use crate::model::{PathTemplate, Segment};
use crate::names::is_identifier;
use crate::spec::Spanned;

use super::Lowerer;

pub(super) use crate::model::segment_param;

/// A path with parameter names erased: two paths with the same shape match the same requests
/// (the shape of the one parsed [`PathTemplate`] the targets read).
pub(super) fn path_shape(path: &str) -> String {
    PathTemplate::parse(path).shape()
}

/// A route as the ambiguity check compares it, prepared once per endpoint (the check compares
/// every pair, so nothing is parsed per pair).
pub(super) struct Route {
    /// The shape: two routes with the same one are duplicates, reported elsewhere.
    shape: String,
    /// The segments, empty literals (from `//` or a trailing `/`) left out.
    segments: Vec<Segment>,
    /// How many of them are literal.
    literals: usize,
}

impl Route {
    pub(super) fn new(path: &str) -> Self {
        let template = PathTemplate::parse(path);
        let shape = template.shape();
        let segments: Vec<Segment> = template
            .segments()
            .iter()
            .filter(|s| !matches!(s, Segment::Literal(text) if text.is_empty()))
            .cloned()
            .collect();
        let literals = segments
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count();
        Route {
            shape,
            segments,
            literals,
        }
    }
}

/// Whether two different route shapes can match the same request path while having the same
/// number of literal segments (the router could not prefer either).
pub(super) fn ambiguous(a: &Route, b: &Route) -> bool {
    a.segments.len() == b.segments.len()
        && a.literals == b.literals
        && a.shape != b.shape
        && a.segments
            .iter()
            .zip(&b.segments)
            .all(|(x, y)| match (x, y) {
                (Segment::Literal(x), Segment::Literal(y)) => x == y,
                _ => true,
            })
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
