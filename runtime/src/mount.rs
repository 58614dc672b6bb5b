//! The endpoints inside another HTTP server: a `tower::Service` over `http::Request` (for hyper
//! and any tower stack) and an `axum::Router`. The same router, upgrade check, middleware and
//! connection machinery serve as on the standalone [`Server`]; only the `101` is hyper's.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use tokio::sync::{Semaphore, oneshot};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{self, HeaderValue, Method, StatusCode, header};

use crate::handshake;
use crate::request::{Refusal, Request};
use crate::server::{Context, Handshake, Router, RouterError, Server};
use crate::stopping::Trigger;

/// The endpoints of a [`Server`] as a `tower::Service<http::Request<B>>`, for a hyper server
/// (with upgrades enabled, as `hyper_util`'s auto builder and `axum::serve` have them) or any
/// tower stack. Unknown paths are answered 404; under axum use [`Server::into_axum`], which
/// leaves them to the app.
#[derive(Clone)]
pub struct WsService {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WsService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsService")
            .field("router", &self.shared.router)
            .finish_non_exhaustive()
    }
}

struct Shared {
    router: Arc<Router>,
    context: Context,
    slots: Arc<Semaphore>,
    /// Kept so that connections see no shutdown: the host server's own shutdown ends them.
    _stop: Trigger,
}

type ResponseFuture =
    Pin<Box<dyn Future<Output = Result<http::Response<String>, Infallible>> + Send>>;

/// How an accepted request is answered: HTTP/1.1's `101` needs the client's key.
enum Opening {
    /// `101 Switching Protocols`, with the accept value derived from this key.
    Upgrade { key: String },
    /// `200`: an HTTP/2 extended CONNECT's stream becomes the connection (RFC 8441 §5).
    #[cfg(feature = "http2")]
    Connect,
}

/// The upgrade check for a request to a served path: how to answer it, or why it is refused.
fn opening(parts: &http::request::Parts) -> Result<Opening, Refusal> {
    #[cfg(feature = "http2")]
    if parts.version == http::Version::HTTP_2 {
        let protocol = parts.extensions.get::<hyper::ext::Protocol>();
        return match handshake::extended_connect_problem(
            parts.method == Method::CONNECT,
            protocol.map(hyper::ext::Protocol::as_str),
            &parts.headers,
        ) {
            Some(refusal) => Err(refusal),
            None => Ok(Opening::Connect),
        };
    }
    match handshake::websocket_key(parts.method == Method::GET, parts.version, &parts.headers) {
        (_, Some(refusal)) => Err(refusal),
        (key, None) => Ok(Opening::Upgrade { key }),
    }
}

/// The refusal as an HTTP answer; a `426` over HTTP/1.1 names the protocol to upgrade to
/// (HTTP/2 has no `Upgrade` or `Connection` headers).
fn refuse(refusal: &Refusal, version: http::Version) -> http::Response<String> {
    let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut response = http::Response::new(refusal.reason().to_owned());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    if status == StatusCode::UPGRADE_REQUIRED && version < http::Version::HTTP_2 {
        // RFC 9110 §15.5.22: a 426 names the protocol to upgrade to.
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        );
    }
    response
}

fn accept(opening: &Opening) -> http::Response<String> {
    let key = match opening {
        Opening::Upgrade { key } => key,
        #[cfg(feature = "http2")]
        Opening::Connect => return http::Response::new(String::new()),
    };
    let mut response = http::Response::new(String::new());
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    response
}

impl WsService {
    fn new(server: Server) -> Result<Self, RouterError> {
        let (router, context, stop) = server.into_parts()?;
        let slots = Arc::new(Semaphore::new(context.limits.max_connections));
        Ok(WsService {
            shared: Arc::new(Shared {
                router,
                context,
                slots,
                _stop: stop,
            }),
        })
    }

    /// The paths served, in registration order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.shared.router.paths()
    }

    fn respond<B>(&self, mut request: http::Request<B>) -> ResponseFuture {
        let upgrade = hyper::upgrade::on(&mut request);
        let (parts, _body) = request.into_parts();
        let version = parts.version;
        let shared = &self.shared;
        let path = parts.uri.path();
        let path = if path.is_empty() { "/" } else { path };
        let Some((service, params)) = shared.router.find(path) else {
            let refusal = Refusal::new(404, "no WebSocket endpoint at this path");
            return Box::pin(std::future::ready(Ok(refuse(&refusal, version))));
        };
        let context = shared.context.clone();
        let opening = opening(&parts);
        // The standalone server's limit on the head, which the host's own may exceed.
        let head_size = parts.method.as_str().len()
            + parts.uri.to_string().len()
            + 12
            + parts
                .headers
                .iter()
                .map(|(name, value)| name.as_str().len() + value.len() + 4)
                .sum::<usize>();
        let problem = if head_size > context.limits.max_header_size {
            Some(Refusal::new(431, "request header fields too large"))
        } else {
            context.origin_refusal(&parts.headers)
        };
        let slot = Arc::clone(&shared.slots).try_acquire_owned();
        let accepted = match (problem, opening, slot) {
            (Some(refusal), _, _) | (None, Err(refusal), _) => Err(refusal),
            (None, Ok(_), Err(_)) => {
                Err(Refusal::new(503, "the server is at its connection limit"))
            }
            (None, Ok(opening), Ok(slot)) => Ok((opening, slot)),
        };
        let (opening, slot) = match accepted {
            Ok(accepted) => accepted,
            Err(refusal) => return Box::pin(std::future::ready(Ok(refuse(&refusal, version)))),
        };
        let request = Request {
            path: path.to_owned(),
            query: parts.uri.query().unwrap_or_default().to_owned(),
            headers: parts.headers,
            params,
            extensions: parts.extensions,
        };
        let (decided, decision) = oneshot::channel();
        let handshake = Handshake::Hyper { decided, upgrade };
        // The task holds the opening (freed once it is over) and then the connection; nothing
        // that only the upgrade needs stays with it.
        let upgrading = service.serve(request, handshake, context);
        tokio::spawn(async move {
            if let Some(connection) = upgrading.await {
                connection.await;
            }
            drop(slot);
        });
        Box::pin(async move {
            Ok(match decision.await {
                Ok(Ok(())) => accept(&opening),
                Ok(Err(refusal)) => refuse(&refusal, version),
                Err(_) => refuse(&Refusal::new(500, "internal error"), version),
            })
        })
    }
}

impl<B> tower_service::Service<http::Request<B>> for WsService {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        self.respond(request)
    }
}

impl Server {
    /// The endpoints as a `tower::Service` over `http::Request`, with this server's limits and
    /// allowed origins; fails if two endpoints share a path. Its connections end when the host
    /// server ends them (or the process does): graceful shutdown is the host's.
    pub fn into_service(self) -> Result<WsService, RouterError> {
        WsService::new(self)
    }

    /// The endpoints as an `axum::Router` to `merge` into an app or `nest` under a prefix: each
    /// endpoint answers at its spec path (under the prefix), and every other path is left to
    /// the app. The app's layers run before the upgrade, and what they put into the request's
    /// extensions is readable from the connection ([`Conn::extensions`](crate::Conn::extensions)).
    /// Fails if two endpoints share a path: merge several specs with [`Router::try_merge`]
    /// before, rather than merging their axum routers (axum panics on a shared path).
    #[cfg(feature = "axum")]
    pub fn into_axum(self) -> Result<axum::Router, RouterError> {
        let service = WsService::new(self)?;
        let mut app = axum::Router::new();
        for path in service.paths().map(str::to_owned).collect::<Vec<_>>() {
            app = app.route_service(&path, service.clone());
        }
        Ok(app)
    }
}

#[cfg(all(test, feature = "axum"))]
mod enrolment_tests {
    use super::*;
    use crate::close::{Disconnect, NoClose};
    use crate::server::{ConnOf, Endpoint, SocketOf};
    use crate::socket::Stop;
    use futures_util::{SinkExt, StreamExt};
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message;

    struct Echo;
    impl Endpoint for Echo {
        type Receive = String;
        type Send = String;
        type Close = NoClose;
        type Params = ();
        type Query = ();
        type State = ();
        async fn run(
            &self,
            socket: &mut SocketOf<Self>,
            _: &mut Option<()>,
        ) -> Result<(), Stop<NoClose>> {
            loop {
                let m = socket.recv().await?;
                match m.as_str() {
                    "panic" => panic!("asked to"),
                    "bye" => return Ok(()),
                    "flood" => {
                        for i in 0..10_000 {
                            if socket.conn().send(format!("{i}")).is_err() {
                                break;
                            }
                        }
                    }
                    _ => {}
                }
                socket.send(m).await?;
            }
        }
        async fn on_disconnect(&self, _: &ConnOf<Self>, _: Option<()>, _: Disconnect) {}
    }

    async fn close_code<
        S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
    >(
        ws: &mut S,
    ) -> Option<u16> {
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("timed out")
            {
                Some(Ok(Message::Close(f))) => {
                    return Some(f.map(|f| u16::from(f.code)).unwrap_or(1005));
                }
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn mounted_connections_leave_the_shutdown_enrolment_and_close_with_1001_when_the_service_goes()
     {
        let server = Server::new(crate::server::Router::new().route("/echo", Echo));
        let service = server.into_service().unwrap();
        let shutdown = service.shared.context.shutdown.clone();
        let app = axum::Router::new().route_service("/echo", service.clone());
        drop(service);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("ws://{}/echo", listener.local_addr().unwrap());
        let serving = tokio::spawn(async move { axum::serve(listener, app).await });
        for round in 0..3 {
            let mut clients = Vec::new();
            for _ in 0..20 {
                let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
                ws.send(Message::text("x")).await.unwrap();
                assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("x"));
                clients.push(ws);
            }
            assert_eq!(shutdown.enrolled_count(), 20, "round {round}");
            for mut ws in clients {
                ws.close(None).await.unwrap();
                while let Some(Ok(_)) = ws.next().await {}
            }
            for _ in 0..200 {
                if shutdown.enrolled_count() == 0 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(
                shutdown.enrolled_count(),
                0,
                "round {round}: ended connections leave"
            );
        }
        // Other ends: the handler returns, panics, the client vanishes, a slow consumer.
        for word in ["bye", "panic", "vanish", "flood"] {
            let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            if word == "vanish" {
                drop(ws);
            } else {
                ws.send(Message::text(word)).await.unwrap();
                if word == "flood" {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                while let Ok(Some(Ok(_))) =
                    tokio::time::timeout(Duration::from_secs(3), ws.next()).await
                {}
            }
        }
        for _ in 0..300 {
            if shutdown.enrolled_count() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(shutdown.enrolled_count(), 0, "every end leaves");
        let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        ws.send(Message::text("x")).await.unwrap();
        assert_eq!(ws.next().await.unwrap().unwrap(), Message::text("x"));
        serving.abort();
        let _ = serving.await;
        assert_eq!(
            close_code(&mut ws).await,
            Some(1001),
            "the service dropped: 1001 as before"
        );
    }
}
