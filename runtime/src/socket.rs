//! The connection driver, and the handle a stream-style handler owns.
//!
//! Every connection runs through a [`Socket`]: callback-style endpoints are a loop over
//! [`Socket::recv`] in generated glue, stream-style handlers call it themselves (view.py's
//! `receive`/`send`/`pair`/`expect`, Spry's receive loop). While a handler waits for the client,
//! the socket writes queued pushes, answers pings and keeps the connection alive.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::close::{CloseCondition, Disconnect};
use crate::conn::Conn;
use crate::message::{WireMessage, envelope_errors};
use crate::outbox::Outbox;

/// Ping keepalive: a ping every `every`; no frame from the peer within `timeout` after a ping
/// ends the connection as lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// Time between pings.
    pub every: Duration,
    /// How long to wait for any frame (normally the pong) after a ping.
    pub timeout: Duration,
}

/// What happens to a message that does not decode as the endpoint's message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnInvalid {
    /// Close the connection: 1003 for a frame of the wrong kind, 1007 for a bad payload.
    #[default]
    Close,
    /// Ignore the message and keep reading.
    Drop,
    /// Answer with Cafeto's error envelope, `{"statusCode": 400, "body": {"errorList": [..]}}`,
    /// and keep reading; the handler never sees the message.
    Reply,
}

/// Why a socket call did not produce a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SocketError {
    /// The connection has ended: the client closed it or went away, or the server closed it.
    /// A handler that sees this should return; nothing more can be sent or received.
    #[error("the connection has ended: {0:?}")]
    Gone(Disconnect),
    /// [`Socket::expect`] or the spec's handshake received something else.
    #[error("expected {expected:?}, received {received:?}")]
    Unexpected {
        /// What the protocol required.
        expected: String,
        /// What arrived (truncated).
        received: String,
    },
}

/// How a handler's run ended early: with one of the endpoint's close conditions, or because the
/// socket failed. `?` converts both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop<C> {
    /// Close the connection with this condition's code and reason.
    Close(C),
    /// A socket call failed.
    Socket(SocketError),
}

impl<C> From<SocketError> for Stop<C> {
    fn from(error: SocketError) -> Self {
        Stop::Socket(error)
    }
}

/// Per-endpoint behaviour of the driver, from the spec and the server's limits.
#[derive(Debug, Clone, Default)]
pub(crate) struct Settings {
    pub keepalive: Option<Keepalive>,
    pub on_invalid: OnInvalid,
    pub close_timeout: Duration,
    pub write_timeout: Duration,
    pub idle_timeout: Option<Duration>,
    /// The code to close with when a push finds the queue full (if the policy closes).
    pub slow_consumer_code: u16,
}

/// How many frames that are already waiting are handled before replies are flushed anyway.
const MAX_STREAK: u32 = 32;

/// Runs a write, failing it when the peer has not taken the bytes within `limit` (a client that
/// stopped reading must not hold its connection task forever).
async fn bounded<T>(
    limit: Duration,
    write: impl std::future::Future<Output = Result<T, tungstenite::Error>>,
) -> Result<T, tungstenite::Error> {
    // Most writes complete at once (the kernel has room); only one that has to wait needs a
    // timer, so the clock is not read for the others.
    let mut write = std::pin::pin!(write);
    if let Some(done) = write.as_mut().now_or_never() {
        return done;
    }
    match tokio::time::timeout(limit, write).await {
        Ok(result) => result,
        Err(_) => Err(tungstenite::Error::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("the peer took no data for {limit:?}"),
        ))),
    }
}

/// One connection: receive `R`, send `S`, with typed path parameters `P` and query `Q`.
pub struct Socket<R, S, P = (), Q = ()> {
    ws: WebSocketStream<TcpStream>,
    outbox: Arc<Outbox>,
    conn: Conn<S, P, Q>,
    settings: Settings,
    unflushed: bool,
    /// During the protocol handshake pushes wait in the outbox: the handshake's answer must be
    /// the first message the client gets, even if a broadcast reached the session before it.
    holding: bool,
    /// Frames taken in a row without waiting (and so without flushing).
    streak: u32,
    ended: Option<Disconnect>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// When the connection counts as idle unless a frame arrives first.
    idle_deadline: Option<Instant>,
    shutdown: watch::Receiver<bool>,
    _receive: PhantomData<fn() -> R>,
}

impl<R, S, P, Q> std::fmt::Debug for Socket<R, S, P, Q> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("conn", &self.conn)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

enum Event {
    Frame(Option<Result<Message, tungstenite::Error>>),
    /// Something was pushed: the loop writes it before it next waits.
    Push,
    Tick,
    Shutdown,
    Overflow,
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Cuts a close reason to the 123 bytes a close frame carries, at a character boundary.
fn truncate_reason(reason: &str) -> String {
    truncate(reason, 123)
}

impl<R: WireMessage, S: WireMessage, P, Q> Socket<R, S, P, Q> {
    pub(crate) fn new(
        ws: WebSocketStream<TcpStream>,
        outbox: Arc<Outbox>,
        conn: Conn<S, P, Q>,
        settings: Settings,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let next_ping = settings.keepalive.map(|k| Instant::now() + k.every);
        let idle_deadline = settings.idle_timeout.map(|idle| Instant::now() + idle);
        Socket {
            ws,
            outbox,
            conn,
            settings,
            unflushed: false,
            holding: false,
            streak: 0,
            ended: None,
            next_ping,
            pong_deadline: None,
            idle_deadline,
            shutdown,
            _receive: PhantomData,
        }
    }

    /// The connection: session id, headers, typed params and query, hub, sender.
    pub fn conn(&self) -> &Conn<S, P, Q> {
        &self.conn
    }

    fn gone(&self) -> Result<(), SocketError> {
        match &self.ended {
            Some(why) => Err(SocketError::Gone(why.clone())),
            None => Ok(()),
        }
    }

    fn end(&mut self, why: Disconnect) -> SocketError {
        // Pushes from now on fail with `Closed`; nothing is left to write them.
        self.outbox.close();
        self.ended = Some(why.clone());
        SocketError::Gone(why)
    }

    fn lost(&mut self, detail: impl std::fmt::Display) -> SocketError {
        self.end(Disconnect::Lost {
            detail: detail.to_string(),
        })
    }

    /// Receives the next message. Queued pushes are written and pings answered meanwhile.
    /// When the connection ends this returns [`SocketError::Gone`], distinct from any message.
    pub async fn recv(&mut self) -> Result<R, SocketError> {
        loop {
            let message = self.recv_frame().await?;
            match R::decode(message) {
                Ok(value) => return Ok(value),
                Err(e) => match self.settings.on_invalid {
                    OnInvalid::Drop => continue,
                    OnInvalid::Reply => self.feed(envelope_errors(&e.field_errors())).await?,
                    OnInvalid::Close => {
                        return Err(self.close(e.close_code(), &e.to_string()).await);
                    }
                },
            }
        }
    }

    /// Like [`Socket::recv`], but `None` when the connection has ended, for
    /// `while let Some(message) = socket.next().await` loops.
    pub async fn next(&mut self) -> Option<R> {
        self.recv().await.ok()
    }

    /// The next data frame (text or binary), undecoded.
    async fn recv_frame(&mut self) -> Result<Message, SocketError> {
        self.gone()?;
        loop {
            // A frame that has already arrived is taken before anything is flushed, so that the
            // replies to a burst leave in one write; at most `MAX_STREAK` in a row, so that a
            // client that never pauses still gets its replies and pushes promptly.
            let ready = if self.streak < MAX_STREAK {
                self.ws.next().now_or_never()
            } else {
                None
            };
            let event = match ready {
                Some(frame) => {
                    self.streak += 1;
                    Event::Frame(frame)
                }
                None => {
                    self.streak = 0;
                    if !self.holding && (self.unflushed || !self.outbox.is_empty()) {
                        if let Err(e) = self.write_queued().await {
                            return Err(self.lost(e));
                        }
                    }
                    self.wait().await
                }
            };
            match event {
                Event::Push => {}
                Event::Tick => self.tick().await?,
                Event::Overflow => {
                    let code = self.settings.slow_consumer_code;
                    return Err(self
                        .close(code, "the client does not read fast enough")
                        .await);
                }
                Event::Shutdown => {
                    return Err(self.close(1001, "the server is shutting down").await);
                }
                Event::Frame(None) => {
                    return Err(self.lost("the connection closed without a close frame"));
                }
                Event::Frame(Some(Err(e))) => return Err(self.read_failed(e).await),
                Event::Frame(Some(Ok(message))) => {
                    // Any frame shows the peer is alive.
                    if let Some(keepalive) = self.settings.keepalive {
                        self.pong_deadline = None;
                        self.next_ping = Some(Instant::now() + keepalive.every);
                    }
                    if let Some(idle) = self.settings.idle_timeout {
                        self.idle_deadline = Some(Instant::now() + idle);
                    }
                    match message {
                        Message::Text(_) | Message::Binary(_) => return Ok(message),
                        Message::Close(frame) => {
                            // tungstenite has queued the echo of the close frame; send it.
                            let _ = bounded(self.settings.write_timeout, self.ws.flush()).await;
                            return Err(self.end(Disconnect::ClientClosed {
                                code: frame.as_ref().map(|f| u16::from(f.code)),
                                reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                            }));
                        }
                        // tungstenite answers pings itself; pongs only prove liveness.
                        _ => continue,
                    }
                }
            }
        }
    }

    /// Waits for whatever happens next: a frame, a timer, a shutdown, a full queue, a push.
    async fn wait(&mut self) -> Event {
        let wake_at = [self.pong_deadline.or(self.next_ping), self.idle_deadline]
            .into_iter()
            .flatten()
            .min();
        // No timer is built when none is due (no keepalive, no idle timeout).
        let timer = async {
            match wake_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        // Shutdown and the outbox first: a client that never pauses must not starve them.
        tokio::select! {
            biased;
            _ = self.shutdown.changed() => Event::Shutdown,
            () = self.outbox.ready(), if !self.holding => {
                if self.outbox.overflowed() { Event::Overflow } else { Event::Push }
            }
            frame = self.ws.next() => Event::Frame(frame),
            () = timer => Event::Tick,
        }
    }

    /// A timer fired: the idle timeout, a ping to send, or a pong that did not come.
    async fn tick(&mut self) -> Result<(), SocketError> {
        if self.idle_deadline.is_some_and(|at| at <= Instant::now()) {
            return Err(self.close(1001, "idle timeout").await);
        }
        let Some(keepalive) = self.settings.keepalive else {
            return Ok(());
        };
        let ping_at = self.pong_deadline.or(self.next_ping);
        if ping_at.is_none_or(|at| at > Instant::now()) {
            return Ok(());
        }
        if self.pong_deadline.is_some() {
            return Err(self.lost(format!(
                "no answer to a ping within {:?}",
                keepalive.timeout
            )));
        }
        if let Err(e) = bounded(
            self.settings.write_timeout,
            self.ws.send(Message::Ping(Default::default())),
        )
        .await
        {
            return Err(self.lost(e));
        }
        self.pong_deadline = Some(Instant::now() + keepalive.timeout);
        self.next_ping = None;
        Ok(())
    }

    /// Feeds `frame` into the write buffer after every push queued before it, so that the
    /// client sees messages in the order the server produced them.
    async fn feed(&mut self, frame: Message) -> Result<(), SocketError> {
        while let Some(pushed) = self.outbox.pop() {
            if let Err(e) = bounded(self.settings.write_timeout, self.ws.feed(pushed)).await {
                return Err(self.lost(e));
            }
        }
        if let Err(e) = bounded(self.settings.write_timeout, self.ws.feed(frame)).await {
            return Err(self.lost(e));
        }
        self.unflushed = true;
        Ok(())
    }

    /// Sends one message now.
    pub async fn send(&mut self, message: S) -> Result<(), SocketError> {
        self.gone()?;
        let frame = self.conn.sender_ref().frame(message);
        self.feed(frame).await?;
        if let Err(e) = self.write_queued().await {
            return Err(self.lost(e));
        }
        Ok(())
    }

    /// Queues a reply to go out with the next batch: it is written before the socket next
    /// waits for the client, together with any pushes, in one flush.
    pub async fn reply(&mut self, message: S) -> Result<(), SocketError> {
        self.gone()?;
        let frame = self.conn.sender_ref().frame(message);
        self.feed(frame).await
    }

    /// Sends `message`, then receives the answer (view.py's `pair`).
    pub async fn pair(&mut self, message: S) -> Result<R, SocketError> {
        self.send(message).await?;
        self.recv().await
    }

    /// Receives first, then sends `message`, and returns what was received (view.py's
    /// `pair(..., recv_first=True)`).
    pub async fn pair_recv_first(&mut self, message: S) -> Result<R, SocketError> {
        let received = self.recv().await?;
        self.send(message).await?;
        Ok(received)
    }

    /// Sends every item of `stream`, in order, flushing once per batch that is ready.
    pub async fn forward(
        &mut self,
        stream: impl Stream<Item = S> + Send,
    ) -> Result<usize, SocketError> {
        self.gone()?;
        let mut stream = std::pin::pin!(stream);
        let mut sent = 0;
        while let Some(item) = stream.next().await {
            let frame = self.conn.sender_ref().frame(item);
            self.feed(frame).await?;
            sent += 1;
        }
        if let Err(e) = self.write_queued().await {
            return Err(self.lost(e));
        }
        Ok(sent)
    }

    /// Receives the next message and checks that it equals `expected` (view.py's `expect`);
    /// anything else is [`SocketError::Unexpected`], which closes the connection with 1008 if the
    /// handler returns it.
    pub async fn expect(&mut self, expected: &R) -> Result<(), SocketError>
    where
        R: PartialEq + std::fmt::Debug,
    {
        let received = self.recv().await?;
        if &received == expected {
            Ok(())
        } else {
            Err(SocketError::Unexpected {
                expected: format!("{expected:?}"),
                received: truncate(&format!("{received:?}"), 64),
            })
        }
    }

    /// The spec's protocol handshake: the first message must be the text `expected`, which is
    /// answered with the text `reply`, whatever the endpoint's message types are.
    pub async fn handshake(&mut self, expected: &str, reply: &str) -> Result<(), SocketError> {
        self.holding = true;
        let message = self.recv_frame().await;
        self.holding = false;
        let message = message?;
        match &message {
            Message::Text(text) if text.as_str() == expected => {}
            other => {
                let received = match other {
                    Message::Text(text) => truncate(text.as_str(), 64),
                    _ => "a binary message".to_owned(),
                };
                return Err(SocketError::Unexpected {
                    expected: expected.to_owned(),
                    received,
                });
            }
        }
        if let Err(e) = bounded(
            self.settings.write_timeout,
            self.ws.send(Message::text(reply)),
        )
        .await
        {
            return Err(self.lost(e));
        }
        Ok(())
    }

    /// Feeds every queued push, then flushes once.
    async fn write_queued(&mut self) -> Result<(), tungstenite::Error> {
        while let Some(message) = self.outbox.pop() {
            bounded(self.settings.write_timeout, self.ws.feed(message)).await?;
        }
        self.unflushed = false;
        bounded(self.settings.write_timeout, self.ws.flush()).await
    }

    async fn read_failed(&mut self, error: tungstenite::Error) -> SocketError {
        use tungstenite::error::{CapacityError, Error, ProtocolError};
        match error {
            // The peer went away without a close frame: there is nobody left to tell.
            Error::Protocol(ProtocolError::ResetWithoutClosingHandshake) => self.lost(error),
            Error::Capacity(CapacityError::MessageTooLong { .. }) => {
                self.close(1009, "message too big").await
            }
            Error::Utf8(_) => self.close(1007, "invalid UTF-8").await,
            Error::Protocol(e) => self.close(1002, &e.to_string()).await,
            other => self.lost(other),
        }
    }

    /// Writes what is queued, sends a close frame, waits a bounded time for the peer's answer,
    /// and ends the socket. Every close goes through here, so here the reason is cut to what a
    /// close frame carries and a code no endpoint may send becomes 1011.
    async fn close(&mut self, code: u16, reason: &str) -> SocketError {
        // What was accepted goes out first; a peer that takes nothing more within the write
        // timeout is gone, and waiting for it again to send the close would only hold the task.
        if let Err(e) = self.write_queued().await {
            return self.lost(e);
        }
        let code = if CloseCode::from(code).is_allowed() {
            code
        } else {
            1011
        };
        let reason = truncate_reason(reason);
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.clone().into(),
        };
        if bounded(self.settings.write_timeout, self.ws.close(Some(frame)))
            .await
            .is_ok()
        {
            let drain = async { while let Some(Ok(_)) = self.ws.next().await {} };
            let _ = tokio::time::timeout(self.settings.close_timeout, drain).await;
        }
        self.end(Disconnect::ServerClosed { code, reason })
    }

    /// Ends the connection after the handler's run: `None` means it panicked.
    pub(crate) async fn finish<C: CloseCondition>(
        &mut self,
        outcome: Option<Result<(), Stop<C>>>,
    ) -> Disconnect {
        if let Some(why) = &self.ended {
            return why.clone();
        }
        match outcome {
            Some(Ok(())) => {
                self.close(1000, "").await;
            }
            Some(Err(Stop::Close(condition))) => {
                self.close(condition.code(), condition.reason()).await;
            }
            Some(Err(Stop::Socket(SocketError::Unexpected { .. }))) => {
                self.close(1008, "unexpected message").await;
            }
            Some(Err(Stop::Socket(SocketError::Gone(why)))) => {
                self.ended = Some(why);
            }
            None => {
                self.close(1011, "internal error").await;
            }
        }
        self.ended.clone().unwrap_or(Disconnect::Lost {
            detail: "ended".to_owned(),
        })
    }
}

impl<R, S, P, Q> Drop for Socket<R, S, P, Q> {
    fn drop(&mut self) {
        // However the connection task ends (even aborted), its senders learn it.
        self.outbox.close();
    }
}

#[cfg(test)]
mod tests {
    use super::truncate_reason;

    #[test]
    fn reasons_are_cut_to_123_bytes_on_a_char_boundary() {
        assert_eq!(truncate_reason("short"), "short");
        let long = "é".repeat(100); // 200 bytes
        let cut = truncate_reason(&long);
        assert_eq!(cut.len(), 122);
        assert!(cut.chars().all(|c| c == 'é'));
    }
}
