//! The connection driver, and the handle a stream-style handler owns.
//!
//! Every connection runs through a [`Socket`]: callback-style endpoints are a loop over
//! [`Socket::recv`] in generated glue, stream-style handlers call it themselves (view.py's
//! `receive`/`send`/`pair`/`expect`, Spry's receive loop). While a handler waits for the client,
//! the socket writes queued pushes, answers pings and keeps the connection alive.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use crate::websocket::WebSocket;
use futures_util::{FutureExt, SinkExt, Stream, StreamExt};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::close::{CloseCondition, Disconnect, NoClose};
use crate::conn::Conn;
use crate::message::{DecodeError, WireMessage, envelope_errors};
use crate::outbox::Outbox;
use crate::rate::RateExceeded;
use crate::sender::encode_for;
use crate::stopping::{Enrolment, Shutdown};

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
    /// The endpoint's name, for logs and metrics.
    pub endpoint: &'static str,
    /// How fast the client may send messages.
    pub message_rate: Option<crate::rate::MessageRate>,
}

/// How many frames that are already waiting are handled before replies are flushed anyway.
const MAX_STREAK: u32 = 32;

fn io_error(detail: String) -> tungstenite::Error {
    tungstenite::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, detail))
}

/// Runs a write, failing it when the peer has taken no data for `limit` (a client that stopped
/// reading must not hold its connection task forever), or when a graceful shutdown runs out of
/// time.
///
/// `until` is the connection's deadline for a write that waits, with how many bytes the socket
/// had written (`written`) when it was set. It outlives a cancelled call: a handler that cancels
/// its receives more often than `limit` must not start the limit again each time. A deadline
/// set before the socket last wrote anything is over, so a peer that reads, however slowly,
/// gets the whole `limit` for each wait.
async fn bounded<T>(
    until: &mut Option<(Instant, u64)>,
    written: u64,
    limit: Duration,
    shutdown: &Shutdown,
    write: impl std::future::Future<Output = Result<T, tungstenite::Error>>,
) -> Result<T, tungstenite::Error> {
    // Most writes complete at once (the kernel has room); only one that has to wait needs a
    // timer, so the clock is not read for the others. The wait is boxed: its timers must not
    // size every connection's future for a case that is rare.
    let mut write = std::pin::pin!(write);
    if let Some(done) = write.as_mut().now_or_never() {
        return done;
    }
    let at = match *until {
        Some((at, mark)) if mark == written => at,
        _ => {
            let at = Instant::now() + limit;
            *until = Some((at, written));
            at
        }
    };
    Box::pin(wait_for_write(at, limit, shutdown.clone(), write)).await
}

/// The slow path of [`bounded`]: the write has to wait for the peer, at most until `at`.
async fn wait_for_write<T>(
    at: Instant,
    limit: Duration,
    shutdown: Shutdown,
    write: Pin<&mut impl std::future::Future<Output = Result<T, tungstenite::Error>>>,
) -> Result<T, tungstenite::Error> {
    tokio::select! {
        result = tokio::time::timeout_at(at, write) => match result {
            Ok(result) => result,
            Err(_) => {
                crate::observe::write_timeout(limit);
                Err(io_error(format!("the peer took no data for {limit:?}")))
            }
        },
        () = shutdown.when(|s| s.close_by) => Err(io_error(
            "the peer took no data before the server shut down".to_owned(),
        )),
    }
}

/// One connection: receive `R`, send `S`, with typed path parameters `P` and query `Q`.
///
/// # Cancel safety
///
/// Each method says whether it is cancel safe, that is whether dropping its future before it
/// completes (a `tokio::time::timeout` or `tokio::select!` around it) can lose anything. No
/// cancellation ever loses a push that [`Conn::send`](crate::Conn::send), a
/// [`Sender`](crate::Sender) or the hub acknowledged with `Ok`: a push leaves the outbound queue
/// only in the same step that hands it to the connection's write buffer.
pub struct Socket<R, S, P = (), Q = ()> {
    ws: WebSocket,
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
    /// A close begun and not finished (its call was cancelled): the code and reason to finish.
    closing: Option<(u16, String)>,
    /// A data message that arrived while [`Socket::forward`] ran, for the next receive.
    pending: Option<Message>,
    next_ping: Option<Instant>,
    pong_deadline: Option<Instant>,
    /// When the connection counts as idle unless a frame arrives first.
    idle_deadline: Option<Instant>,
    /// The one timer of the keepalive and the idle timeout, made the first time a deadline
    /// is set (see [`Socket::poll_timer`]).
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// When a write that is waiting for the peer times out, and the socket's count of bytes
    /// written when that wait began (see [`bounded`]).
    write_until: Option<(Instant, u64)>,
    /// When the close handshake stops waiting for the peer's close frame: kept, like
    /// `write_until`, when a call that was closing is cancelled.
    close_until: Option<Instant>,
    /// The graceful-shutdown signal, with this connection's outbox enrolled to be woken by it.
    shutdown: Enrolment,
    /// Messages and bytes each way, for the close event and the metrics.
    traffic: crate::observe::Traffic,
    /// The client's message rate, if the endpoint limits it.
    bucket: Option<crate::rate::Bucket>,
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

enum Event<T> {
    Frame(Option<Result<Message, tungstenite::Error>>),
    /// Something was pushed: the loop writes it before it next waits.
    Push,
    Tick,
    Shutdown,
    Overflow,
    /// What the caller waited for besides the socket (the next item of a forwarded stream).
    Extra(T),
}

/// Where the general path of [`Socket::recv`] starts, from what its fast path met.
enum Detour {
    /// From the beginning: the socket has to settle.
    Start,
    /// A write has to wait for the peer: it goes first, under the write timeout, before
    /// anything more is read.
    Flush,
    /// An event the fast path does not handle.
    Event(Event<()>),
    /// A data message that does not decode: the endpoint's policy applies.
    Invalid(DecodeError),
    /// The connection is to be closed with this code and reason.
    Close(u16, &'static str),
    /// The connection has ended.
    Failed(SocketError),
}

/// What [`Socket::ready_frame`] found.
enum Arrived {
    /// A frame that had arrived, or the end of the stream (`None`).
    Frame(Option<Result<Message, tungstenite::Error>>),
    /// Nothing had: the socket was polled with the task's context, and wakes it when a frame
    /// comes.
    Nothing,
    /// The socket was not polled.
    Unpolled,
}

/// Runs `poll` once with the task's own context and returns what it said, without waiting.
/// Unlike `now_or_never` (a no-op waker), a poll that was not ready leaves the task's waker
/// where it was registered, so the wait that follows finds it there instead of cloning it back
/// in (at most a spurious wake-up comes of it).
async fn poll_once<T>(mut poll: impl FnMut(&mut Context<'_>) -> T) -> T {
    std::future::poll_fn(|cx| Poll::Ready(poll(cx))).await
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
        ws: WebSocket,
        outbox: Arc<Outbox>,
        conn: Conn<S, P, Q>,
        settings: Settings,
        shutdown: Shutdown,
    ) -> Self {
        let next_ping = settings.keepalive.map(|k| Instant::now() + k.every);
        let idle_deadline = settings.idle_timeout.map(|idle| Instant::now() + idle);
        let bucket = settings.message_rate.map(crate::rate::Bucket::new);
        let shutdown = shutdown.enrol(&outbox);
        Socket {
            ws,
            outbox,
            conn,
            settings,
            unflushed: false,
            holding: false,
            streak: 0,
            ended: None,
            closing: None,
            pending: None,
            next_ping,
            pong_deadline: None,
            idle_deadline,
            timer: None,
            write_until: None,
            close_until: None,
            shutdown,
            traffic: crate::observe::Traffic::default(),
            bucket,
            _receive: PhantomData,
        }
    }

    /// The connection: session id, headers, typed params and query, hub, sender.
    pub fn conn(&self) -> &Conn<S, P, Q> {
        &self.conn
    }

    /// The signal of a graceful shutdown, as this connection sees it.
    pub(crate) fn shutdown_signal(&self) -> Shutdown {
        Shutdown::clone(&self.shutdown)
    }

    /// How the connection ended, if it has.
    pub(crate) fn ended(&self) -> Option<Disconnect> {
        self.ended.clone()
    }

    /// Nothing for [`Socket::settle`] to do: the connection neither ended nor is closing. The
    /// per-message paths check this first, so they build no future for the common case.
    fn settled(&self) -> bool {
        self.ended.is_none() && self.closing.is_none()
    }

    /// Fails when the connection has ended; finishes a close that a cancelled call began.
    async fn settle(&mut self) -> Result<(), SocketError> {
        if let Some(why) = &self.ended {
            return Err(SocketError::Gone(why.clone()));
        }
        if self.closing.is_some() {
            return Err(Box::pin(self.finish_close()).await);
        }
        Ok(())
    }

    fn end(&mut self, why: Disconnect) -> SocketError {
        // Pushes from now on fail with `Closed`; nothing is left to write them.
        self.outbox.close();
        self.closing = None;
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
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: if it is cancelled (used as a branch of `tokio::select!`, or under a
    /// timeout), no message from the client is lost and no acknowledged push is dropped; the
    /// next call goes on where this one stopped.
    pub async fn recv(&mut self) -> Result<R, SocketError> {
        let detour = match std::future::poll_fn(|cx| self.poll_recv(cx)).await {
            Ok(value) => return Ok(value),
            Err(Detour::Failed(error)) => return Err(error),
            Err(detour) => detour,
        };
        // Boxed: the general path's state (closes, timers, waiting writes) must not size the
        // future of every receive, which the fast path serves nearly always.
        Box::pin(self.recv_general(detour)).await
    }

    /// The fast path of [`Socket::recv`], with no future of its own: takes a data message
    /// that has arrived (or arrives while this polls), writes what is queued if the socket
    /// takes it at once, and waits; pings and pongs are taken on the way. Whatever needs more
    /// (a write that has to wait, a close, a timer, a full queue, a shutdown, an invalid
    /// message) is returned as the [`Detour`] that [`Socket::recv_general`] starts from.
    ///
    /// Every return leaves the socket as a cancelled receive would: a `Pending` holds nothing,
    /// and what a detour carries has already left the socket for good (an event to handle).
    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Result<R, Detour>> {
        if !self.settled() {
            return Poll::Ready(Err(Detour::Start));
        }
        // Set on every call: a cancelled handshake must not hold pushes back afterwards.
        self.holding = false;
        loop {
            let message = match self.pending.take() {
                // Counted (and rate limited) when `forward` took it.
                Some(message) => message,
                None => {
                    let message = ready!(self.poll_data(cx))?;
                    self.traffic.inbound(self.settings.endpoint, message.len());
                    match self.over_rate() {
                        None => message,
                        Some(RateExceeded::Drop) => continue,
                        Some(RateExceeded::Close) => {
                            return Poll::Ready(Err(Detour::Close(1008, "message rate exceeded")));
                        }
                    }
                }
            };
            return Poll::Ready(R::decode(message).map_err(Detour::Invalid));
        }
    }

    /// The next data message for [`Socket::poll_recv`]: a frame that has already arrived, or
    /// (after what is queued has been written) whatever happens first, as
    /// [`Socket::next_event`] does.
    fn poll_data(&mut self, cx: &mut Context<'_>) -> Poll<Result<Message, Detour>> {
        loop {
            if self.outbox.overflowed() {
                return Poll::Ready(Err(Detour::Event(Event::Overflow)));
            }
            let frame = match self.ready_frame(cx) {
                Arrived::Frame(frame) => frame,
                arrived => {
                    self.write_ready(cx)?;
                    // A socket that was just polled with this context has registered it for
                    // the next frame, and writing changed nothing on the reading side (a write
                    // that had to wait is a detour): polling it again would only repeat a read
                    // that would block.
                    let read = matches!(arrived, Arrived::Unpolled);
                    let mut nothing = std::future::pending::<()>();
                    match ready!(self.poll_wait(cx, Pin::new(&mut nothing), read)) {
                        Event::Frame(frame) => frame,
                        event => return Poll::Ready(Err(Detour::Event(event))),
                    }
                }
            };
            match frame {
                Some(Ok(message @ (Message::Text(_) | Message::Binary(_)))) => {
                    self.alive();
                    return Poll::Ready(Ok(message));
                }
                Some(Ok(control @ (Message::Ping(_) | Message::Pong(_) | Message::Frame(_)))) => {
                    self.control(&control)
                }
                frame => return Poll::Ready(Err(Detour::Event(Event::Frame(frame)))),
            }
        }
    }

    /// Writes what is queued as far as the socket takes it without waiting, as
    /// [`Socket::write_queued`] would; a write that has to wait is [`Detour::Flush`], which the
    /// general path finishes (under the write timeout) before it reads again.
    fn write_ready(&mut self, cx: &mut Context<'_>) -> Result<(), Detour> {
        while !self.outbox.is_empty() {
            match self.ws.poll_ready_unpin(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(Detour::Failed(self.lost(e))),
                Poll::Pending => return Err(Detour::Flush),
            }
            let Some(pushed) = self.outbox.pop() else {
                break;
            };
            if let Err(e) = self.put(pushed) {
                return Err(Detour::Failed(self.lost(e)));
            }
        }
        if self.unflushed {
            match self.ws.poll_flush_unpin(cx) {
                Poll::Ready(Ok(())) => self.unflushed = false,
                Poll::Ready(Err(e)) => return Err(Detour::Failed(self.lost(e))),
                Poll::Pending => return Err(Detour::Flush),
            }
        }
        Ok(())
    }

    /// The general path of [`Socket::recv`], from where its fast path stopped.
    async fn recv_general(&mut self, detour: Detour) -> Result<R, SocketError> {
        let mut first = match detour {
            Detour::Start => None,
            // As `recv_frame` does once no frame is waiting: what is queued goes out before
            // anything more is read, so a client that sends without pause and never reads
            // is still held to the write timeout.
            Detour::Flush => Some(self.flush_and_wait(std::future::pending::<()>()).await?),
            Detour::Event(event) => Some(event),
            Detour::Invalid(error) => {
                self.invalid(&error).await?;
                None
            }
            Detour::Close(code, reason) => return Err(self.close(code, reason).await),
            Detour::Failed(error) => return Err(error),
        };
        loop {
            let message = self.recv_frame(false, first.take()).await?;
            match R::decode(message) {
                Ok(value) => return Ok(value),
                Err(error) => self.invalid(&error).await?,
            }
        }
    }

    /// Applies the endpoint's policy to a message that does not decode: `Ok` to read on.
    async fn invalid(&mut self, error: &DecodeError) -> Result<(), SocketError> {
        match self.observe_invalid(error) {
            OnInvalid::Drop => Ok(()),
            OnInvalid::Reply => self.feed(envelope_errors(&error.field_errors())).await,
            OnInvalid::Close => Err(self.close(error.close_code(), &error.to_string()).await),
        }
    }

    /// Like [`Socket::recv`], but `None` when the connection has ended, for
    /// `while let Some(message) = socket.next().await` loops.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Socket::recv`].
    pub async fn next(&mut self) -> Option<R> {
        self.recv().await.ok()
    }

    /// The next data frame (text or binary), undecoded; `hold` keeps pushes in the queue.
    /// `first` is an event taken already (by [`Socket::poll_recv`]), handled before anything
    /// else.
    async fn recv_frame(
        &mut self,
        hold: bool,
        mut first: Option<Event<()>>,
    ) -> Result<Message, SocketError> {
        if !self.settled() {
            self.settle().await?;
        }
        // Set on every call: a cancelled handshake must not hold pushes back afterwards.
        self.holding = hold;
        if first.is_none() {
            if let Some(message) = self.pending.take() {
                return Ok(message);
            }
        }
        loop {
            // A data frame that has already arrived is taken without building the futures
            // of the general path (the common case while a client sends in bursts): this is
            // `next_event` written out, so that it adds no layer to every receive.
            let event = if let Some(event) = first.take() {
                event
            } else if !self.holding && self.outbox.overflowed() {
                // A full queue first.
                Event::Overflow
            } else if let Arrived::Frame(frame) = poll_once(|cx| self.ready_frame(cx)).await {
                Event::Frame(frame)
            } else {
                self.flush_and_wait(std::future::pending::<()>()).await?
            };
            let message = match event {
                Event::Frame(Some(Ok(message @ (Message::Text(_) | Message::Binary(_))))) => {
                    self.alive();
                    Some(message)
                }
                event => self.handle(event).await?,
            };
            if let Some(message) = message {
                self.traffic.inbound(self.settings.endpoint, message.len());
                if self.within_rate().await? {
                    return Ok(message);
                }
            }
        }
    }

    /// The next thing to handle: a frame that has already arrived, or, after what is queued
    /// has been written, whatever happens first. Cancel safe.
    async fn next_event<T>(
        &mut self,
        extra: impl std::future::Future<Output = T>,
    ) -> Result<Event<T>, SocketError> {
        if !self.holding && self.outbox.overflowed() {
            return Ok(Event::Overflow);
        }
        if let Arrived::Frame(frame) = poll_once(|cx| self.ready_frame(cx)).await {
            return Ok(Event::Frame(frame));
        }
        self.flush_and_wait(extra).await
    }

    /// [`Socket::next_event`] once no frame is waiting: writes what is queued, then waits for
    /// whatever happens first. Cancel safe.
    async fn flush_and_wait<T>(
        &mut self,
        extra: impl std::future::Future<Output = T>,
    ) -> Result<Event<T>, SocketError> {
        // While a data message waits for the handler, no more frames are read.
        let read = self.pending.is_none();
        let written = if self.holding {
            // Pushes wait for the handshake's answer; the socket's own writes (pongs) do not.
            if self.unflushed {
                self.flush().await
            } else {
                Ok(())
            }
        } else if self.unflushed || !self.outbox.is_empty() {
            self.write_queued().await
        } else {
            Ok(())
        };
        if let Err(e) = written {
            return Err(self.lost(e));
        }
        Ok(self.wait(extra, read).await)
    }

    /// A frame that has already arrived, taken before anything is flushed so that the replies
    /// to a burst leave in one write; at most `MAX_STREAK` in a row, so that a client that never
    /// pauses still gets its replies and pushes promptly. [`Arrived::Frame`] holds `None` when
    /// the stream has ended; otherwise (and the streak starts again) the socket was polled and
    /// had nothing, or was not polled: a streak ended, or a data message waits for the handler
    /// (no more frames are read then).
    fn ready_frame(&mut self, cx: &mut Context<'_>) -> Arrived {
        if self.pending.is_some() || self.streak >= MAX_STREAK {
            self.streak = 0;
            return Arrived::Unpolled;
        }
        match self.ws.poll_next_unpin(cx) {
            Poll::Ready(frame) => {
                self.streak += 1;
                Arrived::Frame(frame)
            }
            Poll::Pending => {
                self.streak = 0;
                Arrived::Nothing
            }
        }
    }

    /// Handles an event; a data frame is returned, and an event that ends the connection is
    /// the error. `Extra` is the caller's and ignored here.
    async fn handle<T>(&mut self, event: Event<T>) -> Result<Option<Message>, SocketError> {
        match event {
            Event::Push | Event::Extra(_) => Ok(None),
            // Boxed: timers fire seldom, and a ping's write must not size every receive.
            Event::Tick => Box::pin(self.tick()).await.map(|()| None),
            Event::Overflow => {
                let code = self.settings.slow_consumer_code;
                crate::observe::slow_consumer(self.settings.endpoint, code);
                Err(self
                    .close(code, "the client does not read fast enough")
                    .await)
            }
            Event::Shutdown => Err(self.close(1001, "the server is shutting down").await),
            Event::Frame(None) => Err(self.lost("the connection closed without a close frame")),
            Event::Frame(Some(Err(e))) => Err(self.read_failed(e).await),
            Event::Frame(Some(Ok(message))) => {
                match message {
                    Message::Text(_) | Message::Binary(_) => {
                        self.alive();
                        Ok(Some(message))
                    }
                    Message::Close(frame) => {
                        let gone = self.end(Disconnect::ClientClosed {
                            code: frame.as_ref().map(|f| u16::from(f.code)),
                            reason: frame.map(|f| f.reason.to_string()).unwrap_or_default(),
                        });
                        // tungstenite has queued the echo of the close frame; send it.
                        let _ = self.flush().await;
                        Err(gone)
                    }
                    control => {
                        self.control(&control);
                        Ok(None)
                    }
                }
            }
        }
    }

    /// A ping, a pong or a raw frame arrived. It shows the peer is alive. tungstenite answers
    /// a ping itself, queueing the pong in the write buffer: that write is flushed with the
    /// next batch, under the write timeout like any other, so that a client that sends pings
    /// and reads nothing is dropped instead of filling the buffer with pongs.
    fn control(&mut self, frame: &Message) {
        self.alive();
        if let Message::Ping(_) = frame {
            self.unflushed = true;
        }
    }

    /// A frame arrived: the keepalive and idle timers start again.
    fn alive(&mut self) {
        if let Some(keepalive) = self.settings.keepalive {
            self.pong_deadline = None;
            self.next_ping = Some(Instant::now() + keepalive.every);
        }
        if let Some(idle) = self.settings.idle_timeout {
            self.idle_deadline = Some(Instant::now() + idle);
        }
    }

    /// Waits for whatever happens next: a shutdown, a full queue, a push, a timer, `extra`, or
    /// a frame (if `read`); see [`Socket::poll_wait`].
    async fn wait<T>(
        &mut self,
        extra: impl std::future::Future<Output = T>,
        read: bool,
    ) -> Event<T> {
        let mut extra = std::pin::pin!(extra);
        std::future::poll_fn(|cx| self.poll_wait(cx, extra.as_mut(), read)).await
    }

    /// Whatever has happened: a shutdown, a full queue, a push, a timer, `extra`, or a frame
    /// (if `read`); asked in that order at every wake-up, so that a client that never pauses
    /// starves none of them (frames that have already arrived are also taken before this
    /// wait, up to `MAX_STREAK` in a row). The timer goes before `extra`: a forwarded stream
    /// that is always ready must not starve the keepalive and the idle timeout. One poll
    /// function rather than `tokio::select!`: this runs at every wake-up of every connection,
    /// and the branches need no bookkeeping (each is polled again until one is ready).
    fn poll_wait<T>(
        &mut self,
        cx: &mut Context<'_>,
        extra: Pin<&mut impl std::future::Future<Output = T>>,
        read: bool,
    ) -> Poll<Event<T>> {
        if let Poll::Ready(event) = self.woken(cx) {
            return Poll::Ready(event);
        }
        if self.poll_timer(cx).is_ready() {
            return Poll::Ready(Event::Tick);
        }
        if let Poll::Ready(value) = extra.poll(cx) {
            return Poll::Ready(Event::Extra(value));
        }
        if read {
            if let Poll::Ready(frame) = self.ws.poll_next_unpin(cx) {
                return Poll::Ready(Event::Frame(frame));
            }
        }
        Poll::Pending
    }

    /// Ready when a graceful shutdown has begun, or (unless pushes are held) something is
    /// queued or the queue overflowed. The waker goes to the outbox, which a push and the
    /// shutdown both wake: one registration, and no lock, per wait. It is registered before
    /// the checks, so nothing that happens between them is missed.
    fn woken<T>(&self, cx: &mut Context<'_>) -> Poll<Event<T>> {
        self.outbox.register(cx.waker());
        if self.shutdown.begun() {
            Poll::Ready(Event::Shutdown)
        } else if self.holding {
            Poll::Pending
        } else if self.outbox.overflowed() {
            Poll::Ready(Event::Overflow)
        } else if !self.outbox.is_empty() {
            Poll::Ready(Event::Push)
        } else {
            Poll::Pending
        }
    }

    /// Ready when the earliest deadline of the keepalive and the idle timeout may have passed
    /// ([`Socket::tick`] checks which, if any, has). One timer per connection, set again only
    /// when it has fired or a deadline came before it: deadlines only move later while frames
    /// arrive, so a receive neither registers nor moves a timer (one that fires early finds
    /// nothing due, and is set to the next deadline).
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let due = [self.pong_deadline.or(self.next_ping), self.idle_deadline]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = due else {
            return Poll::Pending;
        };
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if timer.is_elapsed() || timer.deadline() > at {
            timer.as_mut().reset(at);
        }
        timer.as_mut().poll(cx)
    }

    /// A timer fired: the idle timeout, a ping to send, or a pong that did not come.
    async fn tick(&mut self) -> Result<(), SocketError> {
        if self.pending.is_some() {
            // A data message arrived and waits for the handler (no more frames are read until
            // it is taken): the peer is alive, however long the handler takes, and its pong is
            // not read before that message is taken.
            self.alive();
            return Ok(());
        }
        if self.idle_deadline.is_some_and(|at| at <= Instant::now()) {
            crate::observe::idle_timeout();
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
            crate::observe::keepalive_timeout(keepalive.timeout);
            return Err(self.lost(format!(
                "no answer to a ping within {:?}",
                keepalive.timeout
            )));
        }
        if let Err(e) = bounded(
            &mut self.write_until,
            self.ws.written(),
            self.settings.write_timeout,
            &self.shutdown,
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

    /// Waits (a bounded time) until the write buffer takes another frame. Cancel safe: nothing
    /// is taken from anywhere while it waits.
    async fn room(&mut self) -> Result<(), tungstenite::Error> {
        let written = self.ws.written();
        let ws = &mut self.ws;
        let ready = std::future::poll_fn(|cx| ws.poll_ready_unpin(cx));
        bounded(
            &mut self.write_until,
            written,
            self.settings.write_timeout,
            &self.shutdown,
            ready,
        )
        .await
    }

    /// Moves every queued push into the write buffer. A push leaves the queue only in the same
    /// step that hands it to the buffer (after waiting for room), so a cancelled call loses none.
    async fn feed_queued(&mut self) -> Result<(), tungstenite::Error> {
        while !self.outbox.is_empty() {
            self.room().await?;
            let Some(pushed) = self.outbox.pop() else {
                break;
            };
            self.put(pushed)?;
        }
        Ok(())
    }

    /// Hands `frame` to the write buffer once it has room, counting it.
    fn put(&mut self, frame: Message) -> Result<(), tungstenite::Error> {
        self.traffic.outbound(self.settings.endpoint, frame.len());
        self.ws.start_send_unpin(frame)?;
        self.unflushed = true;
        Ok(())
    }

    /// Feeds `frame` at once if nothing is queued before it and the write buffer has room (the
    /// common case), building no future and arming no timer; otherwise hands it back for
    /// [`Socket::feed`].
    fn feed_now(&mut self, frame: Message) -> Result<Option<Message>, SocketError> {
        if !self.outbox.is_empty() {
            return Ok(Some(frame));
        }
        let mut cx = Context::from_waker(std::task::Waker::noop());
        if let Poll::Ready(Ok(())) = self.ws.poll_ready_unpin(&mut cx) {
            return match self.put(frame) {
                Ok(()) => Ok(None),
                Err(e) => Err(self.lost(e)),
            };
        }
        Ok(Some(frame))
    }

    /// Feeds `frame` into the write buffer after every push queued before it, so that the
    /// client sees messages in the order the server produced them.
    async fn feed(&mut self, frame: Message) -> Result<(), SocketError> {
        let Some(frame) = self.feed_now(frame)? else {
            return Ok(());
        };
        if let Err(e) = self.feed_queued().await {
            return Err(self.lost(e));
        }
        if let Err(e) = self.room().await {
            return Err(self.lost(e));
        }
        self.put(frame).map_err(|e| self.lost(e))
    }

    /// Sends one message now.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if it is cancelled, `message` may have been sent or not (if it was
    /// handed to the write buffer it goes out with the next write). Pushes are never lost.
    pub async fn send(&mut self, message: S) -> Result<(), SocketError> {
        if !self.settled() {
            self.settle().await?;
        }
        let frame = self.conn.sender_ref().frame(message);
        self.feed(frame).await?;
        if let Err(e) = self.write_queued().await {
            return Err(self.lost(e));
        }
        Ok(())
    }

    /// Queues a reply to go out with the next batch: it is written before the socket next
    /// waits for the client, together with any pushes, in one flush.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: if it is cancelled, the reply may have been queued or not. Pushes are
    /// never lost.
    pub async fn reply(&mut self, message: S) -> Result<(), SocketError> {
        if !self.settled() {
            self.settle().await?;
        }
        let frame = self.conn.sender_ref().frame(message);
        match self.feed_now(frame)? {
            None => Ok(()),
            Some(frame) => self.feed(frame).await,
        }
    }

    /// Sends `message`, then receives the answer (view.py's `pair`).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: cancelled while sending, as [`Socket::send`]; while receiving, the
    /// answer is not lost (the next [`Socket::recv`] returns it).
    pub async fn pair(&mut self, message: S) -> Result<R, SocketError> {
        self.send(message).await?;
        self.recv().await
    }

    /// Receives first, then sends `message`, and returns what was received (view.py's
    /// `pair(..., recv_first=True)`).
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: a message received before the send was cancelled is lost.
    pub async fn pair_recv_first(&mut self, message: S) -> Result<R, SocketError> {
        let received = self.recv().await?;
        self.send(message).await?;
        Ok(received)
    }

    /// Sends every item of `stream`, in order, each as soon as the stream yields it (items that
    /// are ready together leave in one write). Meanwhile the socket is read: a close from the
    /// client, pings, the keepalive, a full queue and a graceful shutdown are handled as in
    /// [`Socket::recv`], and end the forwarding with [`SocketError::Gone`]. A data message the
    /// client sends meanwhile is kept for the next [`Socket::recv`] (and no more frames are
    /// read until then). Returns how many items were sent.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: an item taken from the stream may be lost. Pushes and messages from
    /// the client are never lost.
    pub async fn forward(
        &mut self,
        stream: impl Stream<Item = S> + Send,
    ) -> Result<usize, SocketError> {
        if !self.settled() {
            self.settle().await?;
        }
        self.holding = false;
        let envelope = self.conn.sender_ref().envelope();
        let mut stream = std::pin::pin!(stream);
        let mut sent = 0;
        loop {
            let event = self.next_event(stream.next()).await?;
            let mut item = match event {
                Event::Extra(item) => item,
                other => {
                    // A data message is counted (and rate limited) as it arrives, as in
                    // `recv_frame`; one within the rate waits for the next receive.
                    if let Some(message) = self.handle(other).await? {
                        self.traffic.inbound(self.settings.endpoint, message.len());
                        if self.within_rate().await? {
                            self.pending = Some(message);
                        }
                    }
                    continue;
                }
            };
            // Items that are ready together are fed together and flushed once (by the next
            // wait); a stream that is always ready still yields to the socket now and then.
            let mut fed = 0;
            loop {
                let Some(value) = item else {
                    if let Err(e) = self.write_queued().await {
                        return Err(self.lost(e));
                    }
                    return Ok(sent);
                };
                self.feed(encode_for(value, envelope)).await?;
                sent += 1;
                fed += 1;
                if fed >= MAX_STREAK {
                    break;
                }
                match stream.next().now_or_never() {
                    Some(next) => item = next,
                    None => break,
                }
            }
        }
    }

    /// Receives the next message and checks that it equals `expected` (view.py's `expect`);
    /// anything else is [`SocketError::Unexpected`], which closes the connection with 1008 if the
    /// handler returns it.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe, as [`Socket::recv`].
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
    /// answered with the text `reply`, whatever the endpoint's message types are. Pushes wait
    /// until the reply has gone out.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: cancelled before the client's message arrived, nothing was read and the
    /// pushes held meanwhile go out with the next call (or the handshake can be called again);
    /// once the message is taken the reply is in the write buffer without waiting.
    pub async fn handshake(&mut self, expected: &str, reply: &str) -> Result<(), SocketError> {
        self.handshake_or_close(expected, reply, 1008, "unexpected message")
            .await
    }

    /// As [`Socket::handshake`], but a first message other than `expected` closes the
    /// connection with `code` and `reason` (the spec's `handshake.close`) before the error is
    /// returned, instead of with 1008 when the handler returns it.
    ///
    /// # Cancel safety
    ///
    /// As [`Socket::handshake`]. A close started here and then cancelled is kept: the next
    /// call on the socket, or the end of the connection, finishes it with this code and reason.
    pub async fn handshake_or_close(
        &mut self,
        expected: &str,
        reply: &str,
        code: u16,
        reason: &str,
    ) -> Result<(), SocketError> {
        let message = self.recv_frame(true, None).await;
        self.holding = false;
        let message = message?;
        match &message {
            Message::Text(text) if text.as_str() == expected => {}
            other => {
                let received = match other {
                    Message::Text(text) => truncate(text.as_str(), 64),
                    _ => "a binary message".to_owned(),
                };
                self.close(code, reason).await;
                return Err(SocketError::Unexpected {
                    expected: expected.to_owned(),
                    received,
                });
            }
        }
        // Nothing has been written on this connection yet, so the buffer takes the reply at
        // once, ahead of every push.
        if let Err(e) = self.ws.start_send_unpin(Message::text(reply)) {
            return Err(self.lost(e));
        }
        self.unflushed = true;
        if let Err(e) = self.write_queued().await {
            return Err(self.lost(e));
        }
        Ok(())
    }

    /// Feeds every queued push, then flushes once.
    async fn write_queued(&mut self) -> Result<(), tungstenite::Error> {
        self.feed_queued().await?;
        self.flush().await
    }

    /// Writes what is in the write buffer, under the write timeout.
    async fn flush(&mut self) -> Result<(), tungstenite::Error> {
        bounded(
            &mut self.write_until,
            self.ws.written(),
            self.settings.write_timeout,
            &self.shutdown,
            self.ws.flush(),
        )
        .await?;
        self.unflushed = false;
        Ok(())
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
    /// close frame carries and a code no endpoint may send becomes 1011. From the start of the
    /// close, pushes are refused with `Closed` (what was accepted before is still written).
    async fn close(&mut self, code: u16, reason: &str) -> SocketError {
        if self.ended.is_none() && self.closing.is_none() {
            let code = if CloseCode::from(code).is_allowed() {
                code
            } else {
                1011
            };
            self.closing = Some((code, truncate_reason(reason)));
            self.outbox.seal();
        }
        // Boxed: a connection closes once, and the close handshake's state (writes, timers)
        // must not size the future of every call that may close.
        Box::pin(self.finish_close()).await
    }

    /// Finishes the close begun by [`Socket::close`] (again, if a call was cancelled).
    async fn finish_close(&mut self) -> SocketError {
        if let Some(why) = &self.ended {
            return SocketError::Gone(why.clone());
        }
        let Some((code, reason)) = self.closing.clone() else {
            return self.lost("closed");
        };
        // What was accepted goes out first; a peer that takes nothing more within the write
        // timeout is gone, and waiting for it again to send the close would only hold the task.
        if let Err(e) = self.write_queued().await {
            return self.lost(e);
        }
        let frame = CloseFrame {
            code: CloseCode::from(code),
            reason: reason.clone().into(),
        };
        let shutdown = &self.shutdown;
        if bounded(
            &mut self.write_until,
            self.ws.written(),
            self.settings.write_timeout,
            shutdown,
            self.ws.close(Some(frame)),
        )
        .await
        .is_ok()
        {
            let until = *self
                .close_until
                .get_or_insert_with(|| Instant::now() + self.settings.close_timeout);
            let ws = &mut self.ws;
            let drain = async { while let Some(Ok(_)) = ws.next().await {} };
            tokio::select! {
                _ = tokio::time::timeout_at(until, drain) => {}
                () = shutdown.when(|s| s.close_by) => {}
            }
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
                if self.closing.is_some() {
                    self.finish_close().await;
                } else {
                    self.ended = Some(why);
                }
            }
            None => {
                self.close(1011, "internal error").await;
            }
        }
        self.ended.clone().unwrap_or(Disconnect::Lost {
            detail: "ended".to_owned(),
        })
    }

    /// Whether a data message that just arrived is within the client's message rate; one over
    /// it is dropped (`Ok(false)`) or closes the connection with 1008, as the rate says.
    async fn within_rate(&mut self) -> Result<bool, SocketError> {
        match self.over_rate() {
            None => Ok(true),
            Some(RateExceeded::Drop) => Ok(false),
            Some(RateExceeded::Close) => Err(self.close(1008, "message rate exceeded").await),
        }
    }

    /// `None` when a data message that just arrived is within the client's message rate (or
    /// the endpoint has none); otherwise what the rate says to do with it, reported here.
    fn over_rate(&mut self) -> Option<RateExceeded> {
        let bucket = self.bucket.as_mut()?;
        if bucket.take(Instant::now()) {
            return None;
        }
        let exceeded = bucket.exceeded();
        crate::observe::over_rate(self.settings.endpoint, exceeded);
        Some(exceeded)
    }

    /// Reports an invalid message; returns the policy.
    fn observe_invalid(&self, error: &DecodeError) -> OnInvalid {
        let policy = match self.settings.on_invalid {
            OnInvalid::Drop => "drop",
            OnInvalid::Reply => "reply",
            OnInvalid::Close => "close",
        };
        crate::observe::invalid(self.settings.endpoint, policy, error);
        self.settings.on_invalid
    }

    /// After a close handshake, ends the transport's write side the way it ends: a TLS
    /// close_notify (RFC 8446 6.1; without it a client reads a truncated stream), a TCP FIN.
    /// Bounded by the write timeout; a lost connection has nothing to end.
    pub(crate) async fn end_transport(&mut self) {
        use tokio::io::AsyncWriteExt;
        if let Some(Disconnect::ClientClosed { .. } | Disconnect::ServerClosed { .. }) = &self.ended
        {
            let limit = self.settings.write_timeout;
            let _ = tokio::time::timeout(limit, self.ws.get_mut().shutdown()).await;
        }
    }

    /// Reports the end of the connection (once it has ended).
    pub(crate) fn observe_close(&mut self, why: &Disconnect, since: std::time::Instant) {
        crate::observe::closed(self.settings.endpoint, why, since, &mut self.traffic);
    }

    /// Ends the connection of a handler whose run was stopped by a graceful shutdown.
    pub(crate) async fn shut_down(&mut self) -> Disconnect {
        if self.ended.is_none() {
            self.close(1001, "the server is shutting down").await;
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

/// An endpoint without close conditions never stops with one.
impl From<NoClose> for Stop<NoClose> {
    fn from(condition: NoClose) -> Self {
        match condition {}
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
