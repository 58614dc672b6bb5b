//! Routing: path templates, the [`Router`] of endpoints, and the type-erased service one route
//! serves an upgrade with.

use std::sync::Arc;

use super::*;
use crate::hub::Hub;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// Two endpoints were registered at the same path (parameter names aside).
    #[error("two endpoints are registered at the path {path}: {first} and {second}")]
    DuplicatePath {
        /// The path registered second.
        path: String,
        /// The endpoint registered first.
        first: String,
        /// The endpoint registered second, which was refused.
        second: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A route path such as `/rooms/{room_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Template(Vec<Segment>);

impl Template {
    fn parse(path: &str) -> Self {
        Template(
            path.split('/')
                .filter(|s| !s.is_empty())
                .map(
                    |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                        Some(name) => Segment::Param(name.to_owned()),
                        None => Segment::Literal(s.to_owned()),
                    },
                )
                .collect(),
        )
    }

    /// The template with parameter names erased: two routes with the same shape collide.
    fn shape(&self) -> String {
        let mut shape = String::new();
        for segment in &self.0 {
            shape.push('/');
            match segment {
                Segment::Literal(text) => shape.push_str(text),
                Segment::Param(_) => shape.push_str("{}"),
            }
        }
        if shape.is_empty() {
            "/".to_owned()
        } else {
            shape
        }
    }

    fn literals(&self) -> usize {
        self.0
            .iter()
            .filter(|s| matches!(s, Segment::Literal(_)))
            .count()
    }

    /// The captured parameters if `path` matches, and whether it matched exactly (not only
    /// by ignoring a trailing `/`). An empty segment is a parameter's empty value, as the
    /// clients format it (`/rooms//join` for `/rooms/{room}/join`), never nothing.
    fn matches(&self, path: &str) -> Option<(bool, Vec<(String, String)>)> {
        let rest = path.strip_prefix('/').unwrap_or(path);
        let mut parts: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let mut exact = true;
        // `/chat/` is `/chat`, where the route has no segment for what follows the `/`.
        if parts.len() == self.0.len() + 1 && parts.last() == Some(&"") {
            parts.pop();
            exact = false;
        }
        if parts.len() != self.0.len() {
            return None;
        }
        let mut params = Vec::new();
        for (segment, part) in self.0.iter().zip(parts) {
            match segment {
                Segment::Literal(text) if text == part => {}
                Segment::Literal(_) => return None,
                Segment::Param(name) => {
                    let value = percent_encoding::percent_decode_str(part).decode_utf8_lossy();
                    params.push((name.clone(), value.into_owned()));
                }
            }
        }
        Some((exact, params))
    }
}

/// A route that matched, with the parameters it captured.
pub(crate) type Matched = (Arc<dyn Service>, Vec<(String, String)>);

/// Path-to-endpoint routing, built once when the server starts. Paths may have parameters
/// (`/rooms/{room_id}`); where two routes match, the one with more literal segments wins.
#[derive(Default)]
pub struct Router {
    routes: Vec<(Template, String, Arc<dyn Service>)>,
    duplicates: Vec<RouterError>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("paths", &self.paths().collect::<Vec<_>>())
            .finish()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Self {
        Router::default()
    }

    /// Serves `endpoint` at `path` with a hub of its own.
    pub fn route<E: Endpoint>(self, path: &str, endpoint: E) -> Self {
        self.route_with_hub(path, endpoint, Hub::new())
    }

    /// Serves `endpoint` at `path`, registering its sessions in `hub`. Registering the same
    /// path twice makes [`Server::serve`] fail.
    pub fn route_with_hub<E: Endpoint>(
        mut self,
        path: &str,
        endpoint: E,
        hub: Hub<E::Send>,
    ) -> Self {
        self.add(path, Arc::new(EndpointService { endpoint, hub }));
        self
    }

    fn add(&mut self, path: &str, service: Arc<dyn Service>) {
        let template = Template::parse(path);
        match self
            .routes
            .iter()
            .find(|(t, _, _)| t.shape() == template.shape())
        {
            Some((_, _, first)) => self.duplicates.push(RouterError::DuplicatePath {
                path: path.to_owned(),
                first: first.name().to_owned(),
                second: service.name().to_owned(),
            }),
            None => self.routes.push((template, path.to_owned(), service)),
        }
    }

    /// Serves `other`'s endpoints too (another spec's, with its own hubs). Two endpoints at one
    /// path make [`Server::serve`] (and the axum and tower adapters) fail, naming both; see
    /// [`Router::try_merge`] to find out here.
    pub fn merge(mut self, other: Router) -> Self {
        self.duplicates.extend(other.duplicates);
        for (_, path, service) in other.routes {
            self.add(&path, service);
        }
        self
    }

    /// [`Router::merge`], refusing two endpoints at one path at once.
    pub fn try_merge(self, other: Router) -> Result<Self, RouterError> {
        let mut merged = self.merge(other);
        match merged.duplicates.is_empty() {
            true => Ok(merged),
            false => Err(merged.duplicates.swap_remove(0)),
        }
    }

    /// The first conflict recorded while the router was built.
    pub(crate) fn check(&mut self) -> Result<(), RouterError> {
        match self.duplicates.is_empty() {
            true => Ok(()),
            false => Err(self.duplicates.swap_remove(0)),
        }
    }

    /// The registered paths, in registration order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.routes.iter().map(|(_, p, _)| p.as_str())
    }

    pub(crate) fn find(&self, path: &str) -> Option<Matched> {
        self.routes
            .iter()
            .filter_map(|(template, _, service)| {
                template
                    .matches(path)
                    .map(|(exact, params)| ((exact, template.literals()), service, params))
            })
            // An exact match wins over one with a trailing `/` ignored, then the most literal
            // segments; among equals, the first registered.
            .rev()
            .max_by_key(|(rank, _, _)| *rank)
            .map(|(_, service, params)| (Arc::clone(service), params))
    }
}
