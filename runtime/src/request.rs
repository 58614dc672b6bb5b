//! The upgrade request as middleware and parameter decoding see it, and the HTTP refusal they
//! may answer with instead of upgrading.

use std::str::FromStr;

use tokio_tungstenite::tungstenite::http::{self, HeaderMap};

/// Why an upgrade was refused: an HTTP status and a reason, sent as the response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    status: u16,
    reason: String,
}

impl Refusal {
    /// A refusal with any status (it should be 4xx or 5xx).
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Refusal {
            status,
            reason: reason.into(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Refusal::new(400, reason)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Refusal::new(401, reason)
    }

    /// 403 Forbidden.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Refusal::new(403, reason)
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The reason, sent as the response body.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// The upgrade request: path, query, headers, and the path parameters the route captured.
#[derive(Debug, Clone)]
pub struct Request {
    pub(crate) path: String,
    pub(crate) query: String,
    pub(crate) headers: HeaderMap,
    pub(crate) params: Vec<(String, String)>,
    pub(crate) extensions: http::Extensions,
}

impl Request {
    /// The request path, without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The raw query string (empty if none).
    pub fn query_string(&self) -> &str {
        &self.query
    }

    /// The request headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// What the host application's layers put into the request (under axum or tower: an
    /// authenticated user, a request id); empty on the standalone server.
    pub fn extensions(&self) -> &http::Extensions {
        &self.extensions
    }

    /// One header, if present and valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A path parameter as captured (already percent-decoded).
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of a query parameter, percent-decoded.
    pub fn query_str(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.into_owned())
    }

    /// A typed path parameter; a missing or malformed one is a 400 refusal.
    pub fn param<T: FromStr>(&self, name: &str) -> Result<T, Refusal>
    where
        T::Err: std::fmt::Display,
    {
        let raw = self
            .param_str(name)
            .ok_or_else(|| Refusal::bad_request(format!("missing path parameter `{name}`")))?;
        parse_input::<T>("path parameter", name, raw)
    }

    /// A required typed query parameter; a missing or malformed one is a 400 refusal.
    pub fn query<T: FromStr>(&self, name: &str) -> Result<T, Refusal>
    where
        T::Err: std::fmt::Display,
    {
        match self.query_opt(name)? {
            Some(value) => Ok(value),
            None => Err(Refusal::bad_request(format!(
                "missing query parameter `{name}`"
            ))),
        }
    }

    /// An optional typed query parameter; a malformed one is a 400 refusal.
    pub fn query_opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, Refusal>
    where
        T::Err: std::fmt::Display,
    {
        self.query_str(name)
            .map(|raw| parse_input::<T>("query parameter", name, &raw))
            .transpose()
    }
}

fn parse_input<T: FromStr>(what: &str, name: &str, raw: &str) -> Result<T, Refusal>
where
    T::Err: std::fmt::Display,
{
    raw.parse().map_err(|e: T::Err| {
        let ty = std::any::type_name::<T>()
            .rsplit("::")
            .next()
            .unwrap_or("value");
        Refusal::bad_request(format!("{what} `{name}` must be a {ty}: {e}"))
    })
}

/// Typed inputs decoded from the upgrade request before it is accepted (path parameters, query).
pub trait FromRequest: Sized + Send + Sync + 'static {
    /// Decodes the inputs, or refuses the upgrade.
    fn from_request(request: &Request) -> Result<Self, Refusal>;
}

impl FromRequest for () {
    fn from_request(_request: &Request) -> Result<Self, Refusal> {
        Ok(())
    }
}

/// A path parameter's value, percent-encoded for use as one path segment (client side).
pub fn path_segment(value: &impl std::fmt::Display) -> String {
    const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(&value.to_string(), SEGMENT).to_string()
}

/// A query string under construction (client side).
#[derive(Debug, Default)]
pub struct QueryString {
    pairs: Vec<(&'static str, String)>,
}

impl QueryString {
    /// Adds a parameter.
    pub fn push(&mut self, name: &'static str, value: &impl std::fmt::Display) {
        self.pairs.push((name, value.to_string()));
    }

    /// Adds a parameter if it has a value.
    pub fn push_opt(&mut self, name: &'static str, value: Option<&impl std::fmt::Display>) {
        if let Some(value) = value {
            self.push(name, value);
        }
    }

    /// `path` with the query appended (unchanged if there are no parameters).
    pub fn append_to(&self, path: String) -> String {
        if self.pairs.is_empty() {
            return path;
        }
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            query.append_pair(name, value);
        }
        format!("{path}?{}", query.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(query: &str) -> Request {
        Request {
            path: "/rooms/7".to_owned(),
            query: query.to_owned(),
            headers: HeaderMap::new(),
            params: vec![("room_id".to_owned(), "7".to_owned())],
            extensions: http::Extensions::new(),
        }
    }

    #[test]
    fn typed_inputs_decode_or_refuse_with_400() {
        let r = request("token=a%20b&since=-5&flag=maybe");
        assert_eq!(r.param::<u64>("room_id"), Ok(7));
        assert_eq!(r.query::<String>("token"), Ok("a b".to_owned()));
        assert_eq!(r.query_opt::<i64>("since"), Ok(Some(-5)));
        assert_eq!(r.query_opt::<i64>("absent"), Ok(None));
        let bad = r.query::<bool>("flag").unwrap_err();
        assert_eq!(bad.status(), 400);
        assert!(
            bad.reason()
                .contains("query parameter `flag` must be a bool"),
            "{bad}"
        );
        let missing = r.query::<String>("nope").unwrap_err();
        assert_eq!(missing.reason(), "missing query parameter `nope`");
        assert_eq!(r.param::<u8>("absent").unwrap_err().status(), 400);
    }

    #[test]
    fn client_urls_encode_segments_and_queries() {
        assert_eq!(path_segment(&"a b/c"), "a%20b%2Fc");
        let mut query = QueryString::default();
        query.push("token", &"x&y");
        query.push_opt("since", None::<&i64>);
        query.push_opt("n", Some(&3));
        assert_eq!(query.append_to("/r".to_owned()), "/r?token=x%26y&n=3");
        assert_eq!(QueryString::default().append_to("/r".to_owned()), "/r");
    }
}
