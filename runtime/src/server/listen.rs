//! The standalone [`Server`]: the accept loop (plain TCP or TLS), connection limits, graceful
//! shutdown, and the HTTP/1.1 upgrade in front of the router.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::http;

use super::*;
use crate::handshake;
use crate::io::Io;
use crate::request::{Refusal, Request};
use crate::stopping::{Stopping, Trigger};

/// A WebSocket server over a [`Router`].
#[derive(Debug)]
pub struct Server {
    router: Router,
    limits: Limits,
    origins: Option<Vec<String>>,
}

impl Server {
    /// A server with default [`Limits`].
    pub fn new(router: Router) -> Self {
        Server {
            router,
            limits: Limits::default(),
            origins: None,
        }
    }

    /// Accepts browsers only from these origins (such as `https://app.example`): an upgrade
    /// whose `Origin` header names another is refused with 403 before the `101`, against
    /// cross-site WebSocket hijacking. Clients that send no `Origin` (not browsers) are let in.
    pub fn allow_origins<S: Into<String>>(mut self, origins: impl IntoIterator<Item = S>) -> Self {
        self.origins = Some(origins.into_iter().map(Into::into).collect());
        self
    }

    /// Replaces the per-connection limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The router, what its connections share, and the sender of the shutdown signal.
    pub(crate) fn into_parts(mut self) -> Result<(Arc<Router>, Context, Trigger), RouterError> {
        self.router.check()?;
        let (stop, stopping) = Trigger::new();
        let origins = self.origins.map(Vec::into_boxed_slice);
        let context = Context::new(self.limits, origins, stopping);
        Ok((Arc::new(self.router), context, stop))
    }

    /// Accepts connections on `listener` until the process ends.
    pub async fn serve(self, listener: TcpListener) -> Result<(), RouterError> {
        self.serve_with_shutdown(listener, std::future::pending())
            .await
    }

    /// Accepts connections on `listener` until `shutdown` completes, then shuts down
    /// gracefully: no new connections (an upgrade still under way is refused with 503), every
    /// client is closed with 1001 within [`Limits::shutdown_timeout`], whatever its connection
    /// was doing, and each connection's `on_disconnect` runs once. A task still running after
    /// the timeout (an `on_disconnect` that does not return) is stopped.
    pub async fn serve_with_shutdown(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        self.run(listener, Tls::None, shutdown).await
    }

    /// Serves `wss://` on `listener` until the process ends: every connection starts with a
    /// TLS handshake under `config` (feature `tls`). See [`Server::serve_tls_with_shutdown`].
    #[cfg(feature = "tls")]
    pub async fn serve_tls(
        self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
    ) -> Result<(), RouterError> {
        self.serve_tls_with_shutdown(listener, config, std::future::pending())
            .await
    }

    /// Serves `wss://` on `listener` until `shutdown` completes, then shuts down as
    /// [`Server::serve_with_shutdown`] does (feature `tls`).
    ///
    /// Each connection's TLS handshake runs on the connection's own task, so a client that
    /// stalls in it or fails it holds up no other: the handshake and the upgrade request that
    /// follows must both complete within [`Limits::handshake_timeout`], and a failed or
    /// timed-out handshake is logged (an `info` event, "TLS handshake failed") and the socket
    /// closed. A connection beyond [`Limits::max_connections`] is closed before its TLS
    /// handshake (a 503 could only be sent after one).
    ///
    /// The server speaks HTTP/1.1 only: leave `config.alpn_protocols` empty or `http/1.1`.
    #[cfg(feature = "tls")]
    pub async fn serve_tls_with_shutdown(
        self,
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        self.run(listener, Tls::Rustls(acceptor), shutdown).await
    }

    /// The accept loop of every standalone server, plain or TLS.
    async fn run(
        self,
        listener: TcpListener,
        tls: Tls,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), RouterError> {
        let (router, context, stop) = self.into_parts()?;
        let limits = context.limits;
        let slots = Arc::new(Semaphore::new(limits.max_connections));
        let mut connections = JoinSet::new();
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => accepted,
            };
            // Forget connections that have finished, so the set stays as large as what is open.
            while connections.try_join_next().is_some() {}
            match accepted {
                Ok((mut stream, _peer)) => match Arc::clone(&slots).try_acquire_owned() {
                    Ok(slot) => {
                        let router = Arc::clone(&router);
                        let opening = open(stream, tls.clone(), router, context.clone());
                        connections.spawn(accept(opening, slot));
                    }
                    Err(_) if tls.is_some() => {
                        // A TLS client would read a plain 503 as garbage; dropping the socket
                        // costs the server no handshake while it is full.
                        crate::observe::refused(503, "the server is at its connection limit");
                        drop(stream);
                    }
                    Err(_) => {
                        connections.spawn(async move {
                            let refusal =
                                Refusal::new(503, "the server is at its connection limit");
                            handshake::refuse(&mut stream, &refusal).await;
                        });
                    }
                },
                // Out of file descriptors and similar: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
        drop(listener);
        let now = tokio::time::Instant::now();
        let timeout = limits.shutdown_timeout;
        stop.begin(Stopping {
            grace_until: now + timeout / 2,
            close_by: now + timeout.mul_f64(0.9),
        });
        let drained = async { while connections.join_next().await.is_some() {} };
        if tokio::time::timeout(limits.shutdown_timeout, drained)
            .await
            .is_err()
        {
            connections.shutdown().await;
        }
        Ok(())
    }
}

/// Whether the standalone server's connections start with a TLS handshake.
#[derive(Clone)]
enum Tls {
    /// Plain TCP (`ws://`).
    None,
    /// TLS with rustls (`wss://`).
    #[cfg(feature = "tls")]
    Rustls(tokio_rustls::TlsAcceptor),
}

impl Tls {
    fn is_some(&self) -> bool {
        !matches!(self, Tls::None)
    }
}

/// A connection's task: its opening (boxed, and freed once the connection is upgraded or
/// refused), then the connection; in its span throughout. It holds little else, as it lives as
/// long as the connection.
fn accept(
    opening: Opening,
    slot: OwnedSemaphorePermit,
) -> impl Future<Output = ()> + Send + 'static {
    let Opening { span, future } = opening;
    let task = async move {
        let connection = future.await;
        if let Some(connection) = connection {
            connection.await;
        }
        drop(slot);
    };
    tracing::Instrument::instrument(task, span)
}

/// A connection before its upgrade: the TLS handshake, the request head, routing and the
/// upgrade decision.
struct Opening {
    span: tracing::Span,
    future: BoxFuture<Option<BoxFuture>>,
}

fn open(stream: TcpStream, tls: Tls, router: Arc<Router>, context: Context) -> Opening {
    let span = crate::observe::connection_span(stream.peer_addr().ok());
    Opening {
        span,
        future: Box::pin(accept_in_span(stream, tls, router, context)),
    }
}

async fn accept_in_span(
    stream: TcpStream,
    tls: Tls,
    router: Arc<Router>,
    context: Context,
) -> Option<BoxFuture> {
    let limits = context.limits;
    // Small messages must not wait for Nagle's algorithm; a failure here only costs latency.
    let _ = stream.set_nodelay(true);
    if let Some(idle) = limits.tcp_keepalive {
        let probes = socket2::TcpKeepalive::new()
            .with_time(idle)
            .with_interval(Duration::from_secs(10));
        // Best effort: without keepalive the connection still works.
        let _ = socket2::SockRef::from(&stream).set_tcp_keepalive(&probes);
    }
    // The TLS handshake (if any) and the request head share one deadline: a client that
    // stalls in either holds its slot no longer than the handshake timeout.
    let deadline = tokio::time::Instant::now() + limits.handshake_timeout;
    let mut stream = match tls {
        Tls::None => Io::tcp(stream),
        #[cfg(feature = "tls")]
        Tls::Rustls(acceptor) => {
            match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
                Ok(Ok(stream)) => Io::tls(Box::new(stream)),
                Ok(Err(error)) => {
                    crate::observe::tls_failed(&error);
                    return None;
                }
                Err(_) => {
                    let error = format!("timed out after {:?}", limits.handshake_timeout);
                    crate::observe::tls_failed(&error);
                    return None;
                }
            }
        }
    };
    let read = handshake::read_head(&mut stream, limits.max_header_size);
    let mut head = match tokio::time::timeout_at(deadline, read).await {
        Ok(Ok(head)) => head,
        Ok(Err(Some(refusal))) => {
            handshake::refuse(&mut stream, &refusal).await;
            return None;
        }
        Ok(Err(None)) | Err(_) => return None,
    };
    crate::observe::request(&head.path);
    if let Some(refusal) = context.origin_refusal(&head.headers) {
        handshake::refuse(&mut stream, &refusal).await;
        return None;
    }
    // An unknown path is 404 whatever the request; a served one that is no valid upgrade gets
    // the reason (426 for a plain GET).
    match (router.find(&head.path), head.not_an_upgrade.take()) {
        (None, _) => {
            let refusal = Refusal::new(404, "no WebSocket endpoint at this path");
            handshake::refuse(&mut stream, &refusal).await;
            None
        }
        (Some(_), Some(refusal)) => {
            handshake::refuse(&mut stream, &refusal).await;
            None
        }
        (Some((service, params)), None) => {
            let request = Request {
                path: head.path,
                query: head.query,
                headers: head.headers,
                params,
                extensions: http::Extensions::new(),
            };
            let handshake = Handshake::Raw {
                stream,
                key: head.key,
                leftover: head.leftover,
            };
            service.serve(request, handshake, context).await
        }
    }
}
