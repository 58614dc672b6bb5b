//! What a running server reports: `tracing` spans and events, handler panics as events, and
//! (with the `metrics` feature) counters and gauges through the `metrics` facade.
//!
//! Every connection runs inside one `ws_connection` span (`endpoint`, `path`, `session`,
//! `peer`). `info` events are what an operator keeps in production (upgrades, refusals, closes,
//! slow consumers, timeouts); `debug` events are per message (invalid messages); handler panics
//! are `error` events. With no subscriber installed a disabled span and event cost a load and a
//! branch each, and nothing here runs per message except plain counter additions.
//!
//! Metric names follow Prometheus conventions; labels are bounded (endpoint names, close codes,
//! statuses, policies), never session ids or paths. docs/observability.md lists them.
//!
//! Panics: a handler panic is caught by the runtime (the connection is closed with 1011). So
//! that it is reported as an event inside the connection's span instead of on stderr, a panic
//! hook is installed once, the first time the runtime runs a handler: while a handler future of
//! the runtime is being polled on the current thread (a thread-local flag), the hook emits the
//! `error` event with the panic message and location and prints nothing; any other panic goes
//! to the hook that was installed before. A hook set later with `std::panic::set_hook` replaces
//! this one.

#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Once;
use std::task::Poll;
use std::time::Instant;

use futures_util::FutureExt;
use tracing::Span;
use tracing::field::Empty;

use crate::close::Disconnect;

/// Name of the span every server connection runs in.
pub const CONNECTION_SPAN: &str = "ws_connection";

#[cfg(feature = "metrics")]
macro_rules! metric {
    ($($tt:tt)*) => { $($tt)* };
}
#[cfg(not(feature = "metrics"))]
macro_rules! metric {
    ($($tt:tt)*) => {};
}

/// The span of one accepted TCP connection; `endpoint`, `path` and `session` are recorded as
/// they become known.
pub(crate) fn connection_span(peer: Option<SocketAddr>) -> Span {
    let span = tracing::info_span!(
        "ws_connection",
        endpoint = Empty,
        path = Empty,
        session = Empty,
        peer = Empty
    );
    if let Some(peer) = peer {
        span.record("peer", tracing::field::display(peer));
    }
    span
}

/// The request head has been read.
pub(crate) fn request(path: &str) {
    Span::current().record("path", path);
}

/// The upgrade was refused with `status`.
pub(crate) fn refused(status: u16, reason: &str) {
    tracing::info!(status, reason, "upgrade refused");
    metric!(
        metrics::counter!("wsgen_upgrades_refused_total", "status" => status.to_string())
            .increment(1)
    );
}

/// A `wss://` connection's TLS handshake failed or timed out; the socket is closed.
#[cfg(feature = "tls")]
pub(crate) fn tls_failed(error: &dyn std::fmt::Display) {
    tracing::info!(error = %error, "TLS handshake failed");
}

/// Per-connection counts, kept by the socket as plain additions.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Traffic {
    pub messages_in: u64,
    pub bytes_in: u64,
    pub messages_out: u64,
    pub bytes_out: u64,
    /// What has been added to the metrics so far.
    #[cfg(feature = "metrics")]
    flushed: (u64, u64, u64, u64),
}

/// Messages between two metric updates of a connection's traffic counters.
#[cfg(feature = "metrics")]
const FLUSH_EVERY: u64 = 64;

impl Traffic {
    /// Counts a message received. Inlined into the socket's per-message path: two additions
    /// and a comparison; the metrics update every `FLUSH_EVERY` messages is a call of its own.
    #[inline]
    pub(crate) fn inbound(&mut self, endpoint: &'static str, bytes: usize) {
        self.messages_in += 1;
        self.bytes_in += bytes as u64;
        #[cfg(feature = "metrics")]
        if self.messages_in - self.flushed.0 >= FLUSH_EVERY {
            self.flush(endpoint);
        }
        let _ = endpoint;
    }

    /// Counts a message sent; as [`Traffic::inbound`].
    #[inline]
    pub(crate) fn outbound(&mut self, endpoint: &'static str, bytes: usize) {
        self.messages_out += 1;
        self.bytes_out += bytes as u64;
        #[cfg(feature = "metrics")]
        if self.messages_out - self.flushed.2 >= FLUSH_EVERY {
            self.flush(endpoint);
        }
        let _ = endpoint;
    }

    /// Adds what was counted since the last flush to the metrics.
    #[inline(never)]
    #[cold]
    pub(crate) fn flush(&mut self, endpoint: &'static str) {
        #[cfg(feature = "metrics")]
        {
            let (mi, bi, mo, bo) = self.flushed;
            let add = |name: &'static str, n: u64| {
                if n > 0 {
                    metrics::counter!(name, "endpoint" => endpoint).increment(n);
                }
            };
            add("wsgen_messages_received_total", self.messages_in - mi);
            add("wsgen_bytes_received_total", self.bytes_in - bi);
            add("wsgen_messages_sent_total", self.messages_out - mo);
            add("wsgen_bytes_sent_total", self.bytes_out - bo);
            self.flushed = (
                self.messages_in,
                self.bytes_in,
                self.messages_out,
                self.bytes_out,
            );
        }
        let _ = endpoint;
    }
}

/// The connection was upgraded; returns when, for the duration at close.
pub(crate) fn upgraded(endpoint: &'static str, session: impl std::fmt::Display) -> Instant {
    let span = Span::current();
    span.record("endpoint", endpoint);
    span.record("session", tracing::field::display(session));
    tracing::info!("upgraded");
    metric!({
        metrics::counter!("wsgen_upgrades_accepted_total", "endpoint" => endpoint).increment(1);
        metrics::gauge!("wsgen_connections_open", "endpoint" => endpoint).increment(1.0);
    });
    Instant::now()
}

/// The close code RFC 6455 reports for a close frame that carried none ("no status received").
const NO_STATUS: u16 = 1005;

/// The connection has ended.
pub(crate) fn closed(
    endpoint: &'static str,
    why: &Disconnect,
    since: Instant,
    traffic: &mut Traffic,
) {
    traffic.flush(endpoint);
    let duration_ms = since.elapsed().as_millis() as u64;
    let (by, code, reason): (&str, Option<u16>, &str) = match why {
        // A close frame without a status code: RFC 6455 (7.1.5) calls its close code 1005, so
        // that it is told apart from a lost connection (which has no code at all).
        Disconnect::ClientClosed { code, reason } => {
            ("client", Some(code.unwrap_or(NO_STATUS)), reason)
        }
        Disconnect::ServerClosed { code, reason } => ("server", Some(*code), reason),
        Disconnect::Lost { detail } => ("lost", None, detail),
    };
    tracing::info!(
        closed_by = by,
        code,
        reason,
        duration_ms,
        messages_in = traffic.messages_in,
        bytes_in = traffic.bytes_in,
        messages_out = traffic.messages_out,
        bytes_out = traffic.bytes_out,
        "closed"
    );
    metric!({
        let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
        metrics::counter!("wsgen_closes_total", "endpoint" => endpoint, "code" => code, "by" => by)
            .increment(1);
        metrics::gauge!("wsgen_connections_open", "endpoint" => endpoint).decrement(1.0);
    });
}

/// A message did not decode or validate; `policy` is what the endpoint does about it.
pub(crate) fn invalid(endpoint: &'static str, policy: &'static str, error: &dyn std::fmt::Display) {
    tracing::debug!(policy, error = %error, "invalid message");
    metric!(metrics::counter!("wsgen_invalid_messages_total", "endpoint" => endpoint, "policy" => policy)
        .increment(1));
}

/// A message arrived over the client's message rate; `exceeded` is what happens to it.
pub(crate) fn over_rate(endpoint: &'static str, exceeded: crate::rate::RateExceeded) {
    let policy = match exceeded {
        crate::rate::RateExceeded::Close => "close",
        crate::rate::RateExceeded::Drop => "drop",
    };
    tracing::debug!(policy, "message over the rate");
    metric!(
        metrics::counter!("wsgen_messages_over_rate_total", "endpoint" => endpoint, "policy" => policy)
            .increment(1)
    );
}

/// The client did not read fast enough: its queue overflowed.
pub(crate) fn slow_consumer(endpoint: &'static str, code: u16) {
    tracing::warn!(code, "slow consumer: the outbound queue is full, closing");
    metric!(
        metrics::counter!("wsgen_slow_consumer_closes_total", "endpoint" => endpoint).increment(1)
    );
}

/// No frame from the client within the idle timeout.
pub(crate) fn idle_timeout() {
    tracing::info!("idle timeout, closing");
}

/// No answer to a keepalive ping.
pub(crate) fn keepalive_timeout(timeout: std::time::Duration) {
    tracing::info!(
        timeout_ms = timeout.as_millis() as u64,
        "keepalive: no pong, dropping"
    );
}

/// A write did not complete within the write timeout.
pub(crate) fn write_timeout(limit: std::time::Duration) {
    tracing::warn!(limit_ms = limit.as_millis() as u64, "write timed out");
}

/// A handler ended its run with an error that was not a close condition.
pub(crate) fn handler_error(error: &dyn std::fmt::Display) {
    tracing::warn!(error = %error, "handler error");
}

/// A handler panicked (counted; the event itself comes from the panic hook).
pub(crate) fn handler_panicked(endpoint: &'static str) {
    let _ = endpoint;
    metric!(metrics::counter!("wsgen_handler_panics_total", "endpoint" => endpoint).increment(1));
}

/// A hub publish through the backplane, or a push dropped by it.
pub(crate) fn backplane(hub: &str, published: bool) {
    metric!({
        let name = if published {
            "wsgen_backplane_publishes_total"
        } else {
            "wsgen_backplane_drops_total"
        };
        metrics::counter!(name, "hub" => hub.to_owned()).increment(1);
    });
}

thread_local! {
    /// Handler futures of the runtime being polled on this thread right now.
    static IN_HANDLER: Cell<u32> = const { Cell::new(0) };
}

static HOOK: Once = Once::new();

/// Installs the panic hook described in the module docs (once per process).
pub fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_HANDLER.with(Cell::get) == 0 {
                return previous(info);
            }
            let message = info
                .payload()
                .downcast_ref::<&str>()
                .copied()
                .or_else(|| info.payload().downcast_ref::<String>().map(String::as_str))
                .unwrap_or("(a panic payload that is not a string)");
            let location = info
                .location()
                .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
                .unwrap_or_default();
            tracing::error!(panic.message = message, panic.location = %location, "handler panicked");
        }));
    });
}

/// Whether a handler of the runtime is being polled on this thread.
pub fn in_handler() -> bool {
    IN_HANDLER.with(Cell::get) > 0
}

/// Runs a handler `future`, turning a panic into `None`; while it is polled, a panic is reported
/// by the hook as an event instead of on stderr.
///
/// The handler's future is boxed (once per connection and handler call: `before_upgrade`,
/// `run`, `on_disconnect`): an `async fn` taking it by value would hold it twice, once as its
/// argument and once pinned, for as long as it runs.
pub(crate) fn guarded<T>(
    future: impl Future<Output = T> + Send,
) -> impl Future<Output = Option<T>> + Send {
    install_panic_hook();
    let mut future = Box::pin(AssertUnwindSafe(future).catch_unwind());
    std::future::poll_fn(move |cx| {
        IN_HANDLER.with(|n| n.set(n.get() + 1));
        let polled = future.as_mut().poll(cx);
        IN_HANDLER.with(|n| n.set(n.get().saturating_sub(1)));
        match polled {
            Poll::Ready(result) => Poll::Ready(result.ok()),
            Poll::Pending => Poll::Pending,
        }
    })
}
