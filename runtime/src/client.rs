//! The typed client core that generated clients wrap: connect with headers, typed send and
//! receive, and the server's close surfaced as the endpoint's typed close condition. Every
//! wait is bounded: connecting, the protocol handshake and writes have timeouts, and a ping
//! keepalive finds a server that stopped answering (see [`ConnectOptions`]).
//!
//! Each connection reports through `tracing` in a span of its own, `ws_client` (`endpoint`,
//! `url` without the query, `local`: the client's address, which is the server span's `peer`):
//! `info` when it connects and when it ends (who closed, code, reason, duration, messages and
//! bytes each way), `warn` for a refused or failed connect and for errors, `debug` for a
//! message the client could not take (a decoding error or an error reply).

use std::marker::PhantomData;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use tracing::Span;
use tracing::field::Empty;

use crate::close::CloseCondition;
use crate::message::{DecodeError, ENVELOPE_OK, WireMessage};
use crate::socket::Keepalive;
use crate::validate::FieldError;

/// What went wrong on a client connection, or how the server ended it.
#[derive(Debug, thiserror::Error)]
pub enum ClientError<C: CloseCondition> {
    /// The server closed the connection with one of the endpoint's close conditions.
    #[error("the server closed the connection: {0:?} (code {code}, reason {reason:?})", code = .0.code(), reason = .0.reason())]
    Closed(C),
    /// The server closed the connection with a code that is not one of the endpoint's close
    /// conditions (for example 1001 at shutdown, or 1011 after a handler failed).
    #[error("the server closed the connection with code {code:?}: {reason}")]
    ClosedOther {
        /// The close code, if the server sent one.
        code: Option<u16>,
        /// The close reason (empty if none).
        reason: String,
    },
    /// The server answered a message with an error reply (`statusCode` 400): the message was
    /// invalid and did not reach the handler; the connection stays open.
    #[error("the server rejected a message: {errors:?}")]
    Rejected {
        /// The reply's status code.
        status: u16,
        /// What was wrong, field by field.
        errors: Vec<FieldError>,
    },
    /// The connection ended without a close frame: the server went away (its socket was
    /// closed or reset), did not answer a keepalive ping in time, or an earlier write timed out.
    #[error("the connection was lost")]
    Lost,
    /// Connecting, the protocol handshake or a write took longer than its timeout in
    /// [`ConnectOptions`]. After a write timed out the connection is unusable: later calls
    /// return [`ClientError::Lost`].
    #[error("the {what} timed out after {after:?}")]
    TimedOut {
        /// What timed out: `"connect"`, `"handshake"` or `"write"`.
        what: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// A message from the server did not decode as the endpoint's message type.
    #[error("could not decode a message from the server: {0}")]
    Decode(#[from] DecodeError),
    /// The server refused the upgrade with an HTTP status (404 unknown path, 400 bad inputs,
    /// 401/403 from middleware, ...).
    #[error("the server refused the connection: {status} {reason}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// The response body: the server's reason.
        reason: String,
    },
    /// The TLS handshake with a `wss://` server failed: its certificate is not trusted by the
    /// client's root store (see [`ConnectOptions::tls`]), has expired or names another host,
    /// or the server speaks no TLS. The source is the `rustls::Error` when rustls reported one
    /// (`error.downcast_ref::<rustls::Error>()`).
    #[error("the TLS handshake failed: {0}")]
    Tls(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A header given in [`ConnectOptions`] is not a valid HTTP header.
    #[error("invalid header {0:?}")]
    InvalidHeader(String),
    /// The WebSocket layer failed (connect, handshake, I/O, protocol).
    #[error(transparent)]
    WebSocket(#[from] tungstenite::Error),
}

impl<C: CloseCondition> ClientError<C> {
    /// Whether the connection is over after this error (a rejected or undecodable message
    /// leaves it open).
    pub(crate) fn ends_connection(&self) -> bool {
        !matches!(self, ClientError::Rejected { .. } | ClientError::Decode(_))
    }
}

/// Options for [`Client::connect`]: headers, timeouts and keepalive. The defaults: 10 s to
/// connect (TCP and the HTTP upgrade), 10 s for the protocol handshake, 10 s for a write, and a
/// ping after 30 s without a frame from the server, which must be answered within 10 s.
/// `wss://` URLs need the `tls` feature; they trust Mozilla's root certificates (webpki-roots)
/// unless [`ConnectOptions::tls`] gives a configuration of your own.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    headers: Vec<(String, String)>,
    #[cfg(feature = "tls")]
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    write_timeout: Duration,
    keepalive: Option<Keepalive>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            headers: Vec::new(),
            #[cfg(feature = "tls")]
            tls: None,
            connect_timeout: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(10),
            keepalive: Some(Keepalive {
                every: Duration::from_secs(30),
                timeout: Duration::from_secs(10),
            }),
        }
    }
}

impl ConnectOptions {
    /// How long connecting may take: the TCP connection and the HTTP upgrade.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long the spec's protocol handshake (sending the greeting, receiving the answer) may
    /// take.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// How long a write may wait for a server that does not read.
    pub fn write_timeout(mut self, timeout: Duration) -> Self {
        self.write_timeout = timeout;
        self
    }

    /// Ping keepalive while receiving: a ping after `every` without a frame from the server;
    /// no frame within `timeout` after it ends the connection as [`ClientError::Lost`]. `None`
    /// sends no pings (a silent server is then waited for as long as it stays connected).
    pub fn keepalive(mut self, keepalive: Option<Keepalive>) -> Self {
        self.keepalive = keepalive;
        self
    }

    /// The TLS configuration for `wss://` URLs (feature `tls`): a root store of your own (a
    /// private CA), client certificates, ALPN. Without it the client trusts Mozilla's roots.
    /// Ignored for `ws://` URLs.
    #[cfg(feature = "tls")]
    pub fn tls(mut self, config: std::sync::Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(config);
        self
    }

    /// Adds a header to the upgrade request; the server sees it for the whole connection.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// A connected client: sends `Tx`, receives `Rx`, and is closed with a `C`.
///
/// Generated clients wrap this and expose only the directions their endpoint allows.
///
/// # Cancel safety
///
/// [`Client::recv`] and [`Client::closed`] are cancel safe (a `tokio::time::timeout` or
/// `tokio::select!` around them loses no message); [`Client::send`] is not (a cancelled send
/// may or may not reach the server, but never twice); see each method.
pub struct Client<Tx, Rx, C> {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    envelope: bool,
    error_replies: bool,
    handshake_timeout: Duration,
    write_timeout: Duration,
    keepalive: Option<Keepalive>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// The connection broke (the server vanished, or a write timed out): every call is `Lost`.
    lost: bool,
    /// The server's close frame (code, reason), kept from its arrival until the close is
    /// answered and reported, so a receive cancelled meanwhile loses neither.
    close_received: Option<(Option<u16>, String)>,
    /// The connection's `ws_client` span; every event of the client is emitted in it.
    span: Span,
    /// When the connection was established, for the duration at close.
    since: std::time::Instant,
    /// Messages and bytes each way, for the close event.
    traffic: Traffic,
    /// The close event has been emitted.
    ended: bool,
    _types: PhantomData<fn(Tx) -> (Rx, C)>,
}

/// What a client connection has sent and received (data messages and their payload bytes).
#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    messages_in: u64,
    bytes_in: u64,
    messages_out: u64,
    bytes_out: u64,
}

/// Name of the span every client connection runs in.
pub const CLIENT_SPAN: &str = "ws_client";

/// An envelope read without building a `serde_json::Value`: its keys, each with its value as
/// written. A map, not a struct: of duplicate keys the last counts (as in `Value` and
/// JSON.parse), and `"body": null` is a body like any other.
type Envelope<'a> = std::collections::HashMap<String, &'a serde_json::value::RawValue>;

/// The URL for logs: without its query, which may carry credentials.
fn loggable(url: &str) -> &str {
    url.split_once('?').map_or(url, |(before, _)| before)
}

/// Whether a WebSocket error means the server is gone (closed or reset the connection without
/// a close frame).
fn vanished(error: &tungstenite::Error) -> bool {
    use std::io::ErrorKind;
    use tungstenite::error::ProtocolError;
    match error {
        tungstenite::Error::ConnectionClosed
        | tungstenite::Error::AlreadyClosed
        | tungstenite::Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => true,
        tungstenite::Error::Io(e) => matches!(
            e.kind(),
            ErrorKind::ConnectionReset
                | ErrorKind::ConnectionAborted
                | ErrorKind::BrokenPipe
                | ErrorKind::UnexpectedEof
                | ErrorKind::NotConnected
        ),
        _ => false,
    }
}

/// A connect error, with a failed TLS handshake as [`ClientError::Tls`].
fn connect_error<C: CloseCondition>(error: tungstenite::Error) -> ClientError<C> {
    match error {
        tungstenite::Error::Tls(tls) => ClientError::Tls(Box::new(tls)),
        // tokio-rustls reports what rustls refused as an I/O error around a `rustls::Error`.
        #[cfg(feature = "tls")]
        tungstenite::Error::Io(io) if io.get_ref().is_some_and(|e| e.is::<rustls::Error>()) => {
            io.into_inner().map_or(ClientError::Lost, ClientError::Tls)
        }
        other => other.into(),
    }
}

impl<Tx, Rx, C> std::fmt::Debug for Client<Tx, Rx, C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").finish_non_exhaustive()
    }
}

impl<Tx: WireMessage, Rx: WireMessage, C: CloseCondition> Client<Tx, Rx, C> {
    /// Connects to `path` on the server at `base_url` (such as `ws://127.0.0.1:8080`), within
    /// the options' connect timeout.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled connect leaves nothing behind.
    pub async fn connect(
        base_url: &str,
        path: &str,
        options: ConnectOptions,
    ) -> Result<Self, ClientError<C>> {
        Self::connect_endpoint("", base_url, path, options).await
    }

    /// Like [`Client::connect`], naming the endpoint (`api.controller.endpoint`, as the server's
    /// `Endpoint::NAME`) in the connection's `ws_client` span. Generated clients call this.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a cancelled connect leaves nothing behind.
    pub async fn connect_endpoint(
        endpoint: &'static str,
        base_url: &str,
        path: &str,
        options: ConnectOptions,
    ) -> Result<Self, ClientError<C>> {
        let url = format!("{}{}", base_url.trim_end_matches('/'), path);
        let span = tracing::info_span!(
            "ws_client",
            endpoint = Empty,
            url = loggable(&url),
            local = Empty
        );
        if !endpoint.is_empty() {
            span.record("endpoint", endpoint);
        }
        let started = std::time::Instant::now();
        match Self::open_connection(url, options, span.clone()).await {
            Ok(client) => {
                if let Ok(local) = client.local_addr() {
                    span.record("local", tracing::field::display(local));
                }
                tracing::info!(
                    parent: &span,
                    duration_ms = started.elapsed().as_millis() as u64,
                    "connected"
                );
                Ok(client)
            }
            Err(ClientError::Refused { status, reason }) => {
                tracing::warn!(parent: &span, status, reason, "connect refused");
                Err(ClientError::Refused { status, reason })
            }
            Err(error) => {
                tracing::warn!(parent: &span, error = %error, "connect failed");
                Err(error)
            }
        }
    }

    /// The client's own address on the connection (the server's span has it as `peer`).
    fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        match self.ws.get_ref() {
            MaybeTlsStream::Plain(tcp) => tcp.local_addr(),
            #[cfg(feature = "tls")]
            MaybeTlsStream::Rustls(tls) => tls.get_ref().0.local_addr(),
            #[allow(unreachable_patterns)]
            _ => Err(std::io::Error::other("not a plain TCP stream")),
        }
    }

    async fn open_connection(
        url: String,
        options: ConnectOptions,
        span: Span,
    ) -> Result<Self, ClientError<C>> {
        let mut request = url.into_client_request()?;
        for (name, value) in options.headers {
            let header = HeaderName::try_from(name.as_str())
                .map_err(|_| ClientError::InvalidHeader(name.clone()))?;
            let value =
                HeaderValue::try_from(value).map_err(|_| ClientError::InvalidHeader(name))?;
            request.headers_mut().append(header, value);
        }
        #[cfg(feature = "tls")]
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            request,
            None,
            true,
            options.tls.map(tokio_tungstenite::Connector::Rustls),
        );
        #[cfg(not(feature = "tls"))]
        let connecting = tokio_tungstenite::connect_async_with_config(request, None, true);
        let after = options.connect_timeout;
        let connected =
            tokio::time::timeout(after, connecting)
                .await
                .map_err(|_| ClientError::TimedOut {
                    what: "connect",
                    after,
                })?;
        let (ws, _response) = connected.map_err(|e| match e {
            tungstenite::Error::Http(response) => ClientError::Refused {
                status: response.status().as_u16(),
                reason: response
                    .body()
                    .as_ref()
                    .map(|b| String::from_utf8_lossy(b).into_owned())
                    .unwrap_or_default(),
            },
            other => connect_error(other),
        })?;
        let next_ping = options.keepalive.map(|k| Instant::now() + k.every);
        Ok(Client {
            ws,
            envelope: false,
            error_replies: false,
            handshake_timeout: options.handshake_timeout,
            write_timeout: options.write_timeout,
            keepalive: options.keepalive,
            next_ping,
            pong_deadline: None,
            lost: false,
            close_received: None,
            span,
            since: std::time::Instant::now(),
            traffic: Traffic::default(),
            ended: false,
            _types: PhantomData,
        })
    }

    /// Reports the end of the connection, once: who closed it, the code and reason, how long
    /// it lasted and what went each way.
    fn report_close(&mut self, by: &'static str, code: Option<u16>, reason: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        let t = self.traffic;
        tracing::info!(
            parent: &self.span,
            closed_by = by,
            code,
            reason,
            duration_ms = self.since.elapsed().as_millis() as u64,
            messages_in = t.messages_in,
            bytes_in = t.bytes_in,
            messages_out = t.messages_out,
            bytes_out = t.bytes_out,
            "closed"
        );
    }

    /// The connection is lost (no close frame): reported once, then every call is `Lost`.
    fn lose(&mut self, detail: &str) -> ClientError<C> {
        self.lost = true;
        self.report_close("lost", None, detail);
        ClientError::Lost
    }

    /// Expects the server's messages in Cafeto's envelope, `{"statusCode": 200, "body": ..}`.
    pub fn with_envelope(mut self) -> Self {
        self.envelope = true;
        self.error_replies = true;
        self
    }

    /// Expects error replies, `{"statusCode": 400, "body": {"errorList": [..]}}`, for messages
    /// the server rejects.
    pub fn with_error_replies(mut self) -> Self {
        self.error_replies = true;
        self
    }

    /// Reads a message the way the TypeScript client does, so that both agree on every frame:
    /// a text frame that is a JSON object with a numeric `statusCode` (in any key order, with
    /// any JSON whitespace) is read as a reply; it is a rejection when its status is not 200
    /// and its body has an `errorList` list (a decoding error when an entry has no `loc`
    /// list). Any other frame is a message (and, with an envelope, an error).
    fn open(&self, message: Message) -> Result<Rx, ClientError<C>> {
        let opened = self.open_inner(message);
        match &opened {
            Ok(_) => {}
            Err(ClientError::Rejected { status, errors }) => tracing::debug!(
                parent: &self.span,
                status,
                errors = errors.len(),
                "message rejected by the server"
            ),
            Err(error) => tracing::debug!(parent: &self.span, error = %error, "invalid message"),
        }
        opened
    }

    fn open_inner(&self, message: Message) -> Result<Rx, ClientError<C>> {
        let envelope_error = || {
            ClientError::Decode(DecodeError::Invalid {
                ty: "envelope",
                detail: "expected {\"statusCode\": 200, \"body\": ..}".to_owned(),
            })
        };
        if !self.error_replies {
            return Ok(Rx::decode(message)?);
        }
        // The frames a wsgen server sends, read with one parse; what these do not settle is
        // read the general way below, with the same outcome.
        if let Message::Text(text) = &message {
            let text = text.as_str();
            if self.envelope {
                // `{"statusCode":200,"body":X}` as the server writes it: if X decodes as a JSON
                // type, it is one JSON document, the frame an envelope of status 200 around it.
                let body = text
                    .strip_prefix(ENVELOPE_OK)
                    .and_then(|rest| rest.strip_suffix('}'));
                if let (true, Some(body)) = (Rx::JSON, body) {
                    if let Ok(value) = Rx::decode(Message::text(body)) {
                        return Ok(value);
                    }
                }
            } else if !text.contains("statusCode") && !text.contains("\\u") {
                // No key can be `statusCode` (not even escaped): not a reply.
                return Ok(Rx::decode(message)?);
            }
        }
        let reply = match &message {
            // Only text that may be an object is parsed (JSON.parse takes the same whitespace).
            Message::Text(text)
                if text
                    .trim_start_matches([' ', '\t', '\n', '\r'])
                    .starts_with('{') =>
            {
                serde_json::from_str::<serde_json::Value>(text)
                    .ok()
                    .filter(|v| {
                        v.get("statusCode")
                            .is_some_and(serde_json::Value::is_number)
                    })
            }
            _ => None,
        };
        let Some(reply) = reply else {
            if !self.envelope {
                return Ok(Rx::decode(message)?);
            }
            // Not a document `serde_json::Value` takes (a lone surrogate escape such as
            // `"\ud800"` in a key the body's type ignores): read the envelope as the one-parse
            // path above does, skipping what the body's type does not read, so that spacing
            // never changes the outcome.
            return match &message {
                Message::Text(text) => {
                    let envelope = serde_json::from_str::<Envelope<'_>>(text).ok();
                    let field = |key| envelope.as_ref().and_then(|e| e.get(key));
                    let status = field("statusCode")
                        .and_then(|s| serde_json::from_str::<serde_json::Number>(s.get()).ok());
                    match (status.and_then(|s| s.as_f64()), field("body")) {
                        (Some(200.0), Some(body)) => Ok(Rx::decode(Message::text(body.get()))?),
                        _ => Err(envelope_error()),
                    }
                }
                _ => Err(envelope_error()),
            };
        };
        let status = reply.get("statusCode").and_then(serde_json::Value::as_f64);
        let list = reply
            .get("body")
            .and_then(|body| body.get("errorList"))
            .and_then(serde_json::Value::as_array);
        if let (Some(status), Some(list)) = (status, list) {
            if status != 200.0 {
                // As the TypeScript client reads them: each error has a `loc` list, the rest
                // is taken as it comes.
                let mut errors = Vec::with_capacity(list.len());
                for e in list {
                    let Some(loc) = e.get("loc").and_then(serde_json::Value::as_array) else {
                        return Err(ClientError::Decode(DecodeError::Invalid {
                            ty: "error reply",
                            detail: format!("an error without a `loc` list: {e}"),
                        }));
                    };
                    let text = |v: &serde_json::Value| {
                        v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                    };
                    errors.push(FieldError {
                        loc: loc.iter().map(text).collect(),
                        kind: e.get("type").map(text).unwrap_or_default(),
                        msg: e.get("msg").map(text).unwrap_or_default(),
                    });
                }
                return Err(ClientError::Rejected {
                    // A status beyond u16 is not one the server sends; it still rejects.
                    status: u16::try_from(status as u64).unwrap_or(0),
                    errors,
                });
            }
        }
        if !self.envelope {
            return Ok(Rx::decode(message)?);
        }
        match (status, reply.get("body")) {
            (Some(200.0), Some(body)) => Ok(Rx::decode(Message::text(body.to_string()))?),
            _ => Err(envelope_error()),
        }
    }

    /// The error for a failed read or write: [`ClientError::Lost`] if the server is gone.
    fn failed(&mut self, error: tungstenite::Error) -> ClientError<C> {
        if vanished(&error) {
            self.lose(&error.to_string())
        } else {
            tracing::warn!(parent: &self.span, error = %error, "connection error");
            error.into()
        }
    }

    /// Sends `message` and flushes it, within the write timeout.
    pub(crate) async fn write(&mut self, message: Message) -> Result<(), ClientError<C>> {
        if self.lost {
            return Err(ClientError::Lost);
        }
        let after = self.write_timeout;
        let data = matches!(message, Message::Text(_) | Message::Binary(_));
        let bytes = message.len() as u64;
        match tokio::time::timeout(after, self.ws.send(message)).await {
            Ok(Ok(())) => {
                if data {
                    self.traffic.messages_out += 1;
                    self.traffic.bytes_out += bytes;
                }
                Ok(())
            }
            Ok(Err(e)) => Err(self.failed(e)),
            Err(_) => {
                // Part of a frame may have been written: nothing more can be sent after it.
                tracing::warn!(
                    parent: &self.span,
                    limit_ms = after.as_millis() as u64,
                    "write timed out"
                );
                self.lose("a write timed out");
                Err(ClientError::TimedOut {
                    what: "write",
                    after,
                })
            }
        }
    }

    /// Sends one message, within the write timeout.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if it is cancelled, the message may or may not reach the server (if it
    /// was already in the write buffer it goes out with the next write); it is never sent twice.
    /// `Ok` means the message was written to the connection.
    pub async fn send(&mut self, message: Tx) -> Result<(), ClientError<C>> {
        self.write(message.encode()).await
    }

    /// Receives the next message; when the server closes the connection this returns how
    /// ([`ClientError::Lost`] if it went away without a close frame). Pings are sent meanwhile
    /// as the keepalive asks.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a message that arrives while it is being cancelled is returned by the next
    /// call.
    pub async fn recv(&mut self) -> Result<Rx, ClientError<C>> {
        loop {
            match self.next_frame().await? {
                message @ (Message::Text(_) | Message::Binary(_)) => return self.open(message),
                _ => continue,
            }
        }
    }

    /// Waits until the server ends the connection and returns how it did; data messages that
    /// arrive meanwhile are discarded.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn closed(&mut self) -> ClientError<C> {
        loop {
            if let Err(e) = self.next_frame().await {
                return e;
            }
        }
    }

    /// The spec's protocol handshake from the client's side: sends the text `expect` and
    /// checks that the server answers with the text `reply`, within the handshake timeout.
    /// Generated clients call it in `connect` when the spec declares a handshake.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: cancelled (or timed out), the protocol is in an unknown state and the
    /// client should be dropped.
    pub async fn handshake(&mut self, expect: &str, reply: &str) -> Result<(), ClientError<C>> {
        let after = self.handshake_timeout;
        let exchange = async {
            self.write(Message::text(expect)).await?;
            // Pings and pongs (a keepalive's) may come first: only a data frame answers.
            loop {
                match self.next_frame().await? {
                    Message::Text(text) if text.as_str() == reply => return Ok(()),
                    Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
                    other => {
                        return Err(ClientError::Decode(DecodeError::Invalid {
                            ty: "handshake",
                            detail: format!("expected {reply:?}, got {other:?}"),
                        }));
                    }
                }
            }
        };
        match tokio::time::timeout(after, exchange).await {
            Ok(result) => result,
            Err(_) => {
                tracing::warn!(
                    parent: &self.span,
                    limit_ms = after.as_millis() as u64,
                    "handshake timed out"
                );
                Err(ClientError::TimedOut {
                    what: "handshake",
                    after,
                })
            }
        }
    }

    /// Closes the connection normally (code 1000) and waits a bounded time for the server's
    /// answer.
    ///
    /// # Cancel safety
    ///
    /// It takes the client: cancelled, the connection is dropped without the close handshake.
    pub async fn close(mut self) -> Result<(), ClientError<C>> {
        match tokio::time::timeout(Duration::from_secs(10), self.close_inner()).await {
            Ok(result) => result,
            Err(_) => Err(self.lose("no answer to the close within 10s")),
        }
    }

    async fn close_inner(&mut self) -> Result<(), ClientError<C>> {
        if self.lost {
            return Err(ClientError::Lost);
        }
        self.report_close("client", Some(1000), "");
        let normal = CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        };
        if let Err(e) = self.ws.close(Some(normal)).await {
            return Err(self.failed(e));
        }
        // The server closes the TCP connection first (RFC 6455 7.1.1); once its close frame
        // has answered ours, how the transport ends does not matter: a TLS server that drops
        // the connection without close_notify reads as an unexpected end of file.
        let mut answered = false;
        while let Some(frame) = self.ws.next().await {
            match frame {
                Ok(Message::Close(_)) => answered = true,
                Ok(_) => {}
                Err(tungstenite::Error::ConnectionClosed) => return Ok(()),
                Err(_) if answered => return Ok(()),
                Err(other) => return Err(self.failed(other)),
            }
        }
        Ok(())
    }

    /// A keepalive timer fired: sends a ping, or gives up on a server that did not answer one.
    async fn tick(&mut self) -> Result<(), ClientError<C>> {
        let Some(keepalive) = self.keepalive else {
            return Ok(());
        };
        let now = Instant::now();
        if let Some(deadline) = self.pong_deadline {
            if deadline <= now {
                tracing::info!(
                    parent: &self.span,
                    timeout_ms = keepalive.timeout.as_millis() as u64,
                    "keepalive: no pong, dropping"
                );
                return Err(self.lose("no answer to a ping"));
            }
            return Ok(());
        }
        if self.next_ping.is_some_and(|at| at <= now) {
            self.write(Message::Ping(Default::default())).await?;
            self.pong_deadline = Some(now + keepalive.timeout);
            self.next_ping = None;
        }
        Ok(())
    }

    /// The next frame; a close frame or the end of the stream becomes the matching error.
    /// Cancel safe.
    async fn next_frame(&mut self) -> Result<Message, ClientError<C>> {
        if let Some((code, reason)) = self.close_received.clone() {
            return Err(self.answer_close(code, reason).await);
        }
        if self.lost {
            return Err(ClientError::Lost);
        }
        let frame = loop {
            let wake_at = self.pong_deadline.or(self.next_ping);
            let timer = async {
                match wake_at {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = self.ws.next() => break frame,
                () = timer => self.tick().await?,
            }
        };
        // Any frame shows the server is alive.
        if let Some(keepalive) = self.keepalive {
            self.pong_deadline = None;
            self.next_ping = Some(Instant::now() + keepalive.every);
        }
        match frame {
            Some(Ok(Message::Close(frame))) => {
                let code = frame.as_ref().map(|f| u16::from(f.code));
                let reason = frame
                    .as_ref()
                    .map(|f| f.reason.to_string())
                    .unwrap_or_default();
                self.close_received = Some((code, reason.clone()));
                Err(self.answer_close(code, reason).await)
            }
            Some(Ok(message)) => {
                if let Message::Text(_) | Message::Binary(_) = &message {
                    self.traffic.messages_in += 1;
                    self.traffic.bytes_in += message.len() as u64;
                }
                Ok(message)
            }
            Some(Err(e)) => Err(self.failed(e)),
            None => Err(self.lose("the connection closed without a close frame")),
        }
    }

    /// Answers the server's close frame (the connection is over either way), reports it and
    /// turns it into the matching error. Cancel safe: `close_received` is cleared only once
    /// the answer is flushed, so the next receive finishes it.
    async fn answer_close(&mut self, code: Option<u16>, reason: String) -> ClientError<C> {
        let _ = tokio::time::timeout(self.write_timeout, self.ws.flush()).await;
        self.close_received = None;
        // As the server reports it: a close frame without a code is 1005.
        self.report_close("server", Some(code.unwrap_or(1005)), &reason);
        match code.and_then(|code| C::from_close(code, &reason)) {
            Some(condition) => ClientError::Closed(condition),
            None => ClientError::ClosedOther { code, reason },
        }
    }
}

impl<Tx, Rx, C> Drop for Client<Tx, Rx, C> {
    fn drop(&mut self) {
        if !self.ended {
            // Dropped without `close`: the server sees the connection lost.
            self.ended = true;
            tracing::info!(
                parent: &self.span,
                closed_by = "client",
                reason = "dropped without a close handshake",
                duration_ms = self.since.elapsed().as_millis() as u64,
                messages_in = self.traffic.messages_in,
                bytes_in = self.traffic.bytes_in,
                messages_out = self.traffic.messages_out,
                bytes_out = self.traffic.bytes_out,
                "closed"
            );
        }
    }
}
