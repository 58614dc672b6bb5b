//! Graceful shutdown against a real server on 127.0.0.1, with a 500 ms `shutdown_timeout`:
//! whatever a connection is doing when the server stops (a handler busy in a callback,
//! `forward`, a close waiting for a silent peer, writes to a peer that does not read), it ends
//! within the timeout, leaves its hub, and runs `on_disconnect` exactly once; a connection
//! waiting on its socket or busy in a callback is closed with 1001; an upgrade that finishes
//! after the shutdown began is refused with 503.

mod common;

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::{Ends, NoClose, Running, close_code, eventually, raw, start, string_endpoint, within};
use futures_util::SinkExt;
use tokio_tungstenite::tungstenite::Message;
use wsgen_runtime::codegen::{ConnOf, Endpoint, SocketOf};
use wsgen_runtime::{Disconnect, Hub, Limits, Refusal, Request, Router, Stop};

fn limits() -> Limits {
    Limits::DEFAULT.with_shutdown_timeout(Duration::from_millis(500))
}

/// Stops the server and checks that it returned within a generous bound of its timeout.
async fn stop(running: &mut Running) {
    running.stop();
    let server = &mut running.server;
    let finished = tokio::time::timeout(Duration::from_secs(5), server).await;
    assert!(matches!(finished, Ok(Ok(Ok(())))), "{finished:?}");
}

/// Takes one message and keeps it as the connection's state, then is busy for a minute;
/// records the state `on_disconnect` is given.
struct Busy {
    ends: Ends,
    busy: Arc<AtomicBool>,
    kept: Arc<std::sync::Mutex<Option<Option<String>>>>,
}

impl Endpoint for Busy {
    type Receive = String;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = String;
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        state: &mut Option<String>,
    ) -> Result<(), Stop<NoClose>> {
        *state = Some(socket.recv().await?);
        self.busy.store(true, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, state: Option<String>, why: Disconnect) {
        *self.kept.lock().unwrap() = Some(state);
        self.ends.push(why);
    }
}

#[tokio::test]
async fn shutdown_closes_a_connection_whose_handler_is_busy_with_1001_and_cleans_up() {
    let (ends, busy, hub) = (
        Ends::default(),
        Arc::new(AtomicBool::new(false)),
        Hub::new(),
    );
    let kept = Arc::default();
    let endpoint = Busy {
        ends: ends.clone(),
        busy: Arc::clone(&busy),
        kept: Arc::clone(&kept),
    };
    let router = Router::new().route_with_hub("/busy", endpoint, hub.clone());
    let mut running = start(router, limits()).await;
    let mut ws = raw(&running.url, "/busy").await;
    ws.send(Message::text("work")).await.unwrap();
    eventually(|| busy.load(Ordering::SeqCst)).await;
    stop(&mut running).await;
    assert_eq!(close_code(&mut ws).await, Some(1001));
    assert!(matches!(
        ends.once().await,
        Disconnect::ServerClosed { code: 1001, .. }
    ));
    assert!(hub.is_empty(), "the session left its hub");
    // The run was stopped mid-callback; the state it had made still reached on_disconnect.
    assert_eq!(*kept.lock().unwrap(), Some(Some("work".to_owned())));
}

/// Forwards a slow stream.
struct Slow {
    ends: Ends,
}

impl Endpoint for Slow {
    type Receive = Infallible;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let items = futures_util::stream::unfold(0, |n| async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Bounded: far longer than the test.
            (n < 600).then(|| (format!("item {n}"), n + 1))
        });
        socket.forward(items).await?;
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, why: Disconnect) {
        self.ends.push(why);
    }
}

#[tokio::test]
async fn shutdown_reaches_a_connection_in_forward() {
    let (ends, hub) = (Ends::default(), Hub::new());
    let router = Router::new().route_with_hub("/slow", Slow { ends: ends.clone() }, hub.clone());
    let mut running = start(router, limits()).await;
    let mut ws = raw(&running.url, "/slow").await;
    eventually(|| hub.len() == 1).await;
    stop(&mut running).await;
    assert_eq!(close_code(&mut ws).await, Some(1001));
    assert!(matches!(
        ends.once().await,
        Disconnect::ServerClosed { code: 1001, .. }
    ));
    assert!(hub.is_empty());
}

/// Takes one message and returns: the server closes with 1000 and waits for the peer's answer.
struct OneShot {
    ends: Ends,
}

string_endpoint!(OneShot, records, |_this, socket| {
    let _ = socket.recv().await?;
    Ok(())
});

#[tokio::test]
async fn shutdown_cuts_off_a_close_waiting_for_a_silent_peer() {
    let (ends, hub) = (Ends::default(), Hub::new());
    let router = Router::new().route_with_hub("/once", OneShot { ends: ends.clone() }, hub.clone());
    let limits = limits().with_close_timeout(Duration::from_secs(60));
    let mut running = start(router, limits).await;
    // Sends one message, then never reads (and so never answers the close).
    let mut ws = raw(&running.url, "/once").await;
    ws.send(Message::text("bye")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(hub.len(), 1, "the server waits for the peer's close");
    stop(&mut running).await;
    assert!(matches!(
        ends.once().await,
        Disconnect::ServerClosed { code: 1000, .. }
    ));
    assert!(hub.is_empty());
}

/// Sends big messages until the peer stops taking them.
struct Firehose {
    ends: Ends,
}

impl Endpoint for Firehose {
    type Receive = Infallible;
    type Send = Vec<u8>;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        let block = vec![7u8; 60 * 1024];
        // Bounded: 2,000 blocks is far more than any socket buffer holds.
        for _ in 0..2_000 {
            socket.send(block.clone()).await?;
        }
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, why: Disconnect) {
        self.ends.push(why);
    }
}

#[tokio::test]
async fn shutdown_reaches_a_connection_writing_to_a_peer_that_does_not_read() {
    let (ends, hub) = (Ends::default(), Hub::new());
    let router =
        Router::new().route_with_hub("/fire", Firehose { ends: ends.clone() }, hub.clone());
    // The default write timeout (10 s) is far longer than the shutdown timeout.
    let mut running = start(router, limits()).await;
    let _never_read = raw(&running.url, "/fire").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(&mut running).await;
    match ends.once().await {
        Disconnect::Lost { detail } => assert!(detail.contains("took no data"), "{detail}"),
        other => panic!("expected a lost peer, got {other:?}"),
    }
    assert!(hub.is_empty());
}

/// Middleware that takes its time; records whether a connection ever started.
struct SlowMiddleware {
    started: Arc<AtomicBool>,
}

impl Endpoint for SlowMiddleware {
    type Receive = String;
    type Send = String;
    type Close = NoClose;
    type Params = ();
    type Query = ();
    type State = ();
    async fn before_upgrade(&self, _request: &Request) -> Result<(), Refusal> {
        tokio::time::sleep(Duration::from_millis(400)).await;
        Ok(())
    }
    async fn run(
        &self,
        socket: &mut SocketOf<Self>,
        _state: &mut Option<()>,
    ) -> Result<(), Stop<NoClose>> {
        self.started.store(true, Ordering::SeqCst);
        let _ = socket.recv().await?;
        Ok(())
    }
    async fn on_disconnect(&self, _conn: &ConnOf<Self>, _state: Option<()>, _why: Disconnect) {}
}

#[tokio::test]
async fn an_upgrade_finished_after_shutdown_began_is_refused_with_503() {
    let started = Arc::new(AtomicBool::new(false));
    let endpoint = SlowMiddleware {
        started: Arc::clone(&started),
    };
    let router = Router::new().route("/slow", endpoint);
    let limits = Limits::DEFAULT.with_shutdown_timeout(Duration::from_secs(3));
    let mut running = start(router, limits).await;
    let url = format!("{}/slow", running.url);
    let connecting = tokio::spawn(async move { tokio_tungstenite::connect_async(url).await });
    // The middleware is running.
    tokio::time::sleep(Duration::from_millis(150)).await;
    running.stop();
    match within(connecting).await.unwrap() {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status().as_u16(), 503)
        }
        Ok(_) => panic!("the upgrade was accepted after shutdown began"),
        Err(other) => panic!("expected a 503, got {other:?}"),
    }
    assert!(!started.load(Ordering::SeqCst), "no connection started");
}

/// Waits on its socket until the connection ends.
struct Waits {
    ends: Ends,
}

string_endpoint!(Waits, records, |_this, socket| {
    loop {
        let _ = socket.recv().await?;
    }
});

#[tokio::test]
async fn an_aborted_connection_task_still_leaves_its_hub_and_runs_on_disconnect() {
    let (ends, hub) = (Ends::default(), Hub::new());
    let router = Router::new().route_with_hub("/waits", Waits { ends: ends.clone() }, hub.clone());
    let running = start(router, limits()).await;
    let _ws = raw(&running.url, "/waits").await;
    eventually(|| hub.len() == 1).await;
    // Dropping the server (its task aborted, as a `select!` around `serve` in `main` does)
    // aborts every connection task.
    running.server.abort();
    assert!(matches!(ends.once().await, Disconnect::Lost { .. }));
    assert!(hub.is_empty(), "the session left its hub");
}

/// A handler that, before it ever touches its socket, drains a tokio channel that is already
/// full (as one loading its initial state from an actor would), then is busy for a minute.
/// Draining spends the task's cooperative budget in the handler's very first poll, the poll
/// in which the connection task also first polls the grace period's wait.
struct LoadsThenBusy {
    busy: Arc<AtomicBool>,
}

string_endpoint!(LoadsThenBusy, |this, _socket| {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<u32>(512);
    for i in 0..300 {
        tx.try_send(i).expect("the channel has room");
    }
    drop(tx);
    let mut sum = 0u64;
    while let Some(i) = rx.recv().await {
        sum += u64::from(i);
    }
    assert_eq!(sum, 299 * 300 / 2);
    this.busy.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(())
});

#[tokio::test]
async fn shutdown_closes_a_busy_handler_whose_first_poll_used_up_the_cooperative_budget() {
    let busy = Arc::new(AtomicBool::new(false));
    let endpoint = LoadsThenBusy {
        busy: Arc::clone(&busy),
    };
    let mut running = start(Router::new().route("/busy", endpoint), limits()).await;
    let mut ws = raw(&running.url, "/busy").await;
    eventually(|| busy.load(Ordering::SeqCst)).await;
    stop(&mut running).await;
    // The grace period runs out while the handler sleeps: the connection is closed with 1001,
    // not aborted at the shutdown timeout without a close frame.
    assert_eq!(close_code(&mut ws).await, Some(1001));
}
