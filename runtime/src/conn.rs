//! The server side of one connection as a handler sees it: its session id, the upgrade
//! request's path and headers (kept for the whole connection), and a typed way to push messages.
//!
//! The headers are kept compact: every connection holds them, and few handlers read them. One
//! buffer of `name:value` lines stands in for the `HeaderMap` (a table, a bucket per header and
//! an allocation per value); [`Conn::header`] reads it directly, and [`Conn::headers`] builds
//! the map from it the first time it is called.

use std::sync::OnceLock;

use tokio_tungstenite::tungstenite::http::{Extensions, HeaderMap, HeaderName, HeaderValue};

use crate::hub::Hub;
use crate::message::WireMessage;
use crate::sender::Sender;
use crate::session::{SendError, SessionId};

/// One connection, as passed to every handler call: its session, the upgrade request's path
/// and headers, the typed path parameters `P` and query `Q`, and the endpoint's hub.
///
/// `S` is the type the server sends on this endpoint; for an endpoint that sends nothing it is
/// [`std::convert::Infallible`], so nothing can be pushed.
pub struct Conn<S, P = (), Q = ()> {
    path: String,
    headers: Headers,
    extensions: Extensions,
    params: P,
    query: Q,
    sender: Sender<S>,
    hub: Hub<S>,
}

impl<S, P, Q> std::fmt::Debug for Conn<S, P, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("session_id", &self.sender.session_id())
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl<S, P, Q> Conn<S, P, Q> {
    pub(crate) fn new(
        path: String,
        headers: HeaderMap,
        extensions: Extensions,
        params: P,
        query: Q,
        sender: Sender<S>,
        hub: Hub<S>,
    ) -> Self {
        Conn {
            path,
            headers: Headers::new(&headers),
            extensions,
            params,
            query,
            sender,
            hub,
        }
    }

    /// This connection's session id.
    pub fn session_id(&self) -> SessionId {
        self.sender.session_id()
    }

    /// The path the client connected to.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The headers of the upgrade request; they stay the same for the whole connection.
    ///
    /// The first call builds the map; [`Conn::header`] reads a header without it.
    pub fn headers(&self) -> &HeaderMap {
        self.headers.map()
    }

    /// What the host application's layers put into the upgrade request (under axum or tower:
    /// an authenticated user, a request id), typed: `conn.extensions().get::<User>()`. Empty on
    /// the standalone server.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// One header of the upgrade request, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// The typed path parameters.
    pub fn params(&self) -> &P {
        &self.params
    }

    /// The typed query parameters.
    pub fn query(&self) -> &Q {
        &self.query
    }

    /// The endpoint's hub: every live session of this endpoint, and its rooms.
    pub fn hub(&self) -> &Hub<S> {
        &self.hub
    }

    /// A cloneable handle for pushing to this connection from other tasks.
    pub fn sender(&self) -> Sender<S> {
        self.sender.clone()
    }

    pub(crate) fn sender_ref(&self) -> &Sender<S> {
        &self.sender
    }
}

/// The upgrade request's headers: `name:value\n` for each, in order, in one buffer (a header
/// name holds no `:` and a value no `\n`), and the map built from it on demand.
struct Headers {
    lines: Box<[u8]>,
    map: OnceLock<Box<HeaderMap>>,
}

/// Whether `HeaderValue::to_str` takes these bytes: visible ASCII and tabs.
fn is_visible_ascii(value: &[u8]) -> bool {
    value.iter().all(|&b| b == b'\t' || (32..127).contains(&b))
}

impl Headers {
    fn new(map: &HeaderMap) -> Self {
        let size = map
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 2)
            .sum();
        let mut lines = Vec::with_capacity(size);
        for (name, value) in map {
            lines.extend_from_slice(name.as_str().as_bytes());
            lines.push(b':');
            lines.extend_from_slice(value.as_bytes());
            lines.push(b'\n');
        }
        Headers {
            lines: lines.into_boxed_slice(),
            map: OnceLock::new(),
        }
    }

    /// Each header's name and value, in order.
    fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.lines.split(|&b| b == b'\n').filter_map(|line| {
            let colon = line.iter().position(|&b| b == b':')?;
            Some((&line[..colon], &line[colon + 1..]))
        })
    }

    /// The first value of `name` (any case), as `HeaderMap::get` and `HeaderValue::to_str`
    /// give it.
    fn get(&self, name: &str) -> Option<&str> {
        let (_, value) = self
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))?;
        if !is_visible_ascii(value) {
            return None;
        }
        std::str::from_utf8(value).ok()
    }

    fn map(&self) -> &HeaderMap {
        self.map.get_or_init(|| {
            let mut map = HeaderMap::new();
            for (name, value) in self.iter() {
                // Both were a valid name and value when they were written.
                if let (Ok(name), Ok(value)) =
                    (HeaderName::from_bytes(name), HeaderValue::from_bytes(value))
                {
                    map.append(name, value);
                }
            }
            Box::new(map)
        })
    }
}

impl<S: WireMessage, P, Q> Conn<S, P, Q> {
    /// Queues a message for this connection (see [`Sender::send`]).
    pub fn send(&self, message: S) -> Result<(), SendError> {
        self.sender.send(message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_headers_read_as_the_map_does() {
        let mut map = HeaderMap::new();
        map.append("host", HeaderValue::from_static("example.com"));
        map.append("x-token", HeaderValue::from_static("a:b c"));
        map.append("x-token", HeaderValue::from_static("second"));
        map.append("x-empty", HeaderValue::from_static(""));
        map.append(
            "x-latin",
            HeaderValue::from_bytes(b"caf\xe9").expect("obs-text"),
        );
        let headers = Headers::new(&map);
        assert_eq!(headers.get("Host"), Some("example.com"));
        assert_eq!(headers.get("x-token"), Some("a:b c"), "the first of two");
        assert_eq!(headers.get("x-empty"), Some(""));
        assert_eq!(headers.get("x-latin"), None, "not visible ASCII");
        assert_eq!(headers.get("x-missing"), None);
        assert_eq!(headers.get("host:example.com"), None);
        for name in ["host", "x-token", "x-empty", "x-latin", "x-missing"] {
            assert_eq!(
                headers.get(name),
                map.get(name).and_then(|v| v.to_str().ok()),
                "{name}"
            );
        }
        assert_eq!(headers.map(), &map);
        assert_eq!(
            headers.map().get_all("x-token").iter().count(),
            2,
            "repeated headers are kept"
        );
    }
}
