//! The HTTP side of the upgrade, done here rather than inside tungstenite so that routing,
//! typed inputs and async middleware can run before the `101` and refuse with a real status.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{HeaderMap, HeaderName, HeaderValue, Version};

use crate::request::Refusal;

/// A parsed upgrade request, plus any bytes the client sent after it.
pub(crate) struct Head {
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub key: String,
    pub leftover: Vec<u8>,
    /// Why this request is not a WebSocket upgrade the server can accept (wrong method, no
    /// `Upgrade`, HTTP/1.0, a bad key), to answer once the path is known to be served: an
    /// unknown path is 404 whatever the request.
    pub not_an_upgrade: Option<Refusal>,
}

const MAX_HEADERS: usize = 64;

/// Reads and parses the request head. `Err(None)` means the peer went away or sent nothing
/// worth answering; `Err(Some(refusal))` is to be sent back. Whether the request is a valid
/// upgrade is in [`Head::not_an_upgrade`], answered after routing.
pub(crate) async fn read_head(
    stream: &mut (impl AsyncRead + Unpin),
    max_bytes: usize,
) -> Result<Head, Option<Refusal>> {
    // Read straight into the buffer: a stack array here would stay in every connection's task
    // for as long as the connection lives.
    let mut buf = Vec::with_capacity(1024);
    loop {
        if buf.len() == buf.capacity() {
            buf.reserve(1024);
        }
        let n = stream.read_buf(&mut buf).await.map_err(|_| None)?;
        if n == 0 {
            return Err(None);
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let head = check(&request)?;
                return Ok(Head {
                    leftover: buf[len..].to_vec(),
                    ..head
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < max_bytes => continue,
            Ok(httparse::Status::Partial) => {
                return Err(Some(Refusal::new(431, "request header fields too large")));
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Some(Refusal::new(431, "too many request header fields")));
            }
            Err(e) => {
                return Err(Some(Refusal::bad_request(format!(
                    "malformed request: {e}"
                ))));
            }
        }
    }
}

fn has_token(headers: &HeaderMap, name: &str, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

fn check(request: &httparse::Request<'_, '_>) -> Result<Head, Option<Refusal>> {
    let refuse = |reason: &str| Some(Refusal::bad_request(reason));
    let mut headers = HeaderMap::with_capacity(request.headers.len());
    for header in request.headers.iter() {
        let name = HeaderName::from_bytes(header.name.as_bytes())
            .map_err(|_| refuse("invalid header name"))?;
        let value =
            HeaderValue::from_bytes(header.value).map_err(|_| refuse("invalid header value"))?;
        headers.append(name, value);
    }
    // RFC 9112 §3.2: an HTTP/1.1 request without a Host, or with two, is answered with 400.
    if request.version == Some(1) && headers.get_all("host").iter().count() != 1 {
        return Err(refuse("an HTTP/1.1 request needs exactly one Host header"));
    }
    let version = match request.version {
        Some(1) => Version::HTTP_11,
        _ => Version::HTTP_10,
    };
    let (key, not_an_upgrade) = websocket_key(request.method == Some("GET"), version, &headers);
    let target = request.path.unwrap_or("/");
    // The absolute form (`GET http://host:port/path`) names the same resource (RFC 9112 §3.2.2).
    let target = match target.split_once("://") {
        Some((scheme, rest)) if !scheme.contains('/') => {
            rest.find(['/', '?']).map_or("/", |at| &rest[at..])
        }
        _ if target.starts_with('/') => target,
        // Neither a path nor the absolute form (`*`, `chat`): no resource of this server.
        _ => return Err(refuse("the request target must be a path such as /chat")),
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let path = if path.is_empty() { "/" } else { path };
    Ok(Head {
        path: path.to_owned(),
        query: query.to_owned(),
        headers,
        key,
        leftover: Vec::new(),
        not_an_upgrade,
    })
}

/// The one upgrade check, for the standalone server's parser and for `http::Request`s alike:
/// the request's `Sec-WebSocket-Key`, and what keeps the request from being a WebSocket
/// opening handshake (RFC 6455 §4.2.1), if anything.
pub(crate) fn websocket_key(
    is_get: bool,
    version: Version,
    headers: &HeaderMap,
) -> (String, Option<Refusal>) {
    let key = headers
        .get("sec-websocket-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let problem = upgrade_problem(is_get, version, headers, &key);
    (key, problem)
}

fn upgrade_problem(
    is_get: bool,
    version: Version,
    headers: &HeaderMap,
    key: &str,
) -> Option<Refusal> {
    if !is_get {
        return Some(Refusal::new(
            405,
            "a WebSocket upgrade must be a GET request",
        ));
    }
    if !has_token(headers, "upgrade", "websocket") || !has_token(headers, "connection", "upgrade") {
        return Some(Refusal::new(
            426,
            "this endpoint speaks WebSocket: send Upgrade: websocket",
        ));
    }
    if version != Version::HTTP_11 {
        return Some(Refusal::bad_request("a WebSocket upgrade needs HTTP/1.1"));
    }
    if headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Some(Refusal::new(426, "only WebSocket version 13 is supported"));
    }
    // RFC 6455 §11.3.1: the key MUST NOT appear more than once.
    if headers.get_all("sec-websocket-key").iter().count() > 1 || !is_websocket_key(key) {
        return Some(Refusal::bad_request(
            "Sec-WebSocket-Key must appear once, 16 bytes in base64",
        ));
    }
    None
}

/// The upgrade check for WebSockets over HTTP/2 (RFC 8441): an extended `CONNECT` whose
/// `:protocol` is `websocket` (`protocol`, as hyper reads it), with `Sec-WebSocket-Version: 13`.
/// There is no key: the stream is the connection, and the answer is a `200`.
#[cfg(feature = "http2")]
pub(crate) fn extended_connect_problem(
    is_connect: bool,
    protocol: Option<&str>,
    headers: &HeaderMap,
) -> Option<Refusal> {
    if !is_connect {
        return Some(Refusal::new(
            405,
            "a WebSocket over HTTP/2 must be an extended CONNECT (RFC 8441)",
        ));
    }
    if protocol != Some("websocket") {
        return Some(Refusal::bad_request(
            "an extended CONNECT to this endpoint must name the protocol websocket",
        ));
    }
    if headers
        .get("sec-websocket-version")
        .and_then(|v| v.to_str().ok())
        != Some("13")
    {
        return Some(Refusal::bad_request(
            "only WebSocket version 13 is supported",
        ));
    }
    None
}

/// Whether `key` is the base64 of 16 bytes: 22 digits, the last with its low 4 bits zero, `==`.
fn is_websocket_key(key: &str) -> bool {
    const DIGITS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let key = key.as_bytes();
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22].iter().all(|b| DIGITS.contains(b))
        && b"AQgw".contains(&key[21])
}

/// Answers the upgrade with `101 Switching Protocols`.
pub(crate) async fn accept(
    stream: &mut (impl AsyncWrite + Unpin),
    key: &str,
) -> std::io::Result<()> {
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {}\r\n\r\n",
        derive_accept_key(key.as_bytes())
    );
    stream.write_all(response.as_bytes()).await
}

/// Answers with an HTTP error whose body is the refusal's reason, then closes.
pub(crate) async fn refuse(stream: &mut (impl AsyncWrite + Unpin), refusal: &Refusal) {
    crate::observe::refused(refusal.status(), refusal.reason());
    let status = tokio_tungstenite::tungstenite::http::StatusCode::from_u16(refusal.status())
        .unwrap_or(tokio_tungstenite::tungstenite::http::StatusCode::BAD_REQUEST);
    let extra = if status.as_u16() == 426 {
        // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
    } else {
        ""
    };
    let response = format!(
        "HTTP/1.1 {} {}\r\n{extra}Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        refusal.reason().len(),
        refusal.reason()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}
