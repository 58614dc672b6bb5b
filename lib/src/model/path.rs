//! Endpoint path templates (`/rooms/{room_id}/live`), parsed once: what validation's route
//! checks, the TypeScript client's URL builder, the docs and the AsyncAPI address all read.

use std::fmt;

/// The parameter name of a path segment such as `{room_id}`.
pub(crate) fn segment_param(segment: &str) -> Option<&str> {
    segment.strip_prefix('{')?.strip_suffix('}')
}

/// One segment of a path, between two `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Literal text (empty before the leading `/`).
    Literal(String),
    /// A parameter, `{name}`.
    Param(String),
}

/// A path split at `/`. The first segment is the (empty) text before the leading `/`, so that
/// the template prints back exactly as it was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    segments: Vec<Segment>,
}

impl PathTemplate {
    /// Parses a path; never fails (validation has already refused malformed segments, and any
    /// other text is a literal).
    pub fn parse(path: &str) -> PathTemplate {
        let segments = path
            .split('/')
            .map(|segment| match segment_param(segment) {
                Some(name) => Segment::Param(name.to_owned()),
                None => Segment::Literal(segment.to_owned()),
            })
            .collect();
        PathTemplate { segments }
    }

    /// The segments, in order (see [`PathTemplate`] for the first one).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The parameters' names, in path order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Whether the path has parameters.
    pub fn has_params(&self) -> bool {
        self.segments.iter().any(|s| matches!(s, Segment::Param(_)))
    }

    /// The path with parameter names erased: two paths with the same shape match the same
    /// requests.
    pub fn shape(&self) -> String {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Literal(text) => text.as_str(),
                Segment::Param(_) => "{}",
            })
            .collect::<Vec<_>>()
            .join("/")
    }
}

impl fmt::Display for PathTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.segments.iter().enumerate() {
            if i > 0 {
                f.write_str("/")?;
            }
            match segment {
                Segment::Literal(text) => f.write_str(text)?,
                Segment::Param(name) => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_back_as_parsed() {
        for path in ["/", "/a/b", "/rooms/{room_id}/live", "", "/{a}/{b}"] {
            assert_eq!(PathTemplate::parse(path).to_string(), path);
        }
        let path = PathTemplate::parse("/r/{id}/x/{n}");
        assert_eq!(path.shape(), "/r/{}/x/{}");
        assert_eq!(path.params().collect::<Vec<_>>(), ["id", "n"]);
    }
}
