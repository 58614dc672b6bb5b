//! Faults against a generated server (the echo spec) on 127.0.0.1: a panicking handler, every
//! way a connection can end (each must run `on_disconnect` exactly once), clients that vanish
//! mid-message, half-open peers, slowloris handshakes, a client that never reads while the server
//! pushes, and 1,000 connect/disconnect cycles that must leave no session and no task behind.

mod common;

#[allow(dead_code)]
#[path = "../examples/echo/server.rs"]
mod echo_server;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::wire::{TEXT, Wire};
use common::within;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use wsgen_generated::echo::*;
use wsgen_runtime::{Disconnect, Limits, SessionId};

/// Every connect and every `on_disconnect`, by session.
#[derive(Default)]
struct Record {
    connected: Mutex<Vec<SessionId>>,
    ended: Mutex<Vec<(SessionId, Disconnect)>>,
}

impl Record {
    fn connect(&self, session: SessionId) {
        self.connected.lock().unwrap().push(session);
    }

    fn end(&self, session: SessionId, why: Disconnect) {
        self.ended.lock().unwrap().push((session, why));
    }

    fn ended(&self) -> Vec<(SessionId, Disconnect)> {
        self.ended.lock().unwrap().clone()
    }

    /// Waits for the `n`th `on_disconnect`, then a little longer to catch a second call for the
    /// same connection; returns the `n`th.
    async fn nth_end(&self, n: usize) -> Disconnect {
        common::eventually(|| self.ended.lock().unwrap().len() >= n).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let ended = self.ended();
        assert_eq!(
            ended.len(),
            n,
            "one on_disconnect per connection: {ended:?}"
        );
        ended[n - 1].1.clone()
    }

    /// Every connection that started ended exactly once.
    fn assert_each_ended_once(&self) {
        let connected: Vec<SessionId> = self.connected.lock().unwrap().clone();
        let ended: Vec<SessionId> = self.ended().into_iter().map(|(s, _)| s).collect();
        let unique: BTreeSet<SessionId> = ended.iter().copied().collect();
        assert_eq!(
            unique.len(),
            ended.len(),
            "a session ended twice: {ended:?}"
        );
        assert_eq!(
            connected.iter().copied().collect::<BTreeSet<_>>(),
            unique,
            "every connected session ended, and only those"
        );
    }
}

/// Handlers that record their connections; a note with the text `panic` panics.
#[derive(Clone)]
struct Tracked(Arc<Record>);

impl EchoJsonHandler for Tracked {
    async fn on_connect(&self, conn: &EchoJsonConn) -> Result<(), EchoJsonClose> {
        self.0.connect(conn.session_id());
        echo_server::JsonEcho.on_connect(conn).await
    }

    async fn on_message(
        &self,
        conn: &EchoJsonConn,
        command: Command,
    ) -> Result<Event, EchoJsonClose> {
        match command {
            Command::Note(note) if note.text == "panic" => panic!("the handler panics on purpose"),
            // Everything else as the echo example answers it.
            other => echo_server::JsonEcho.on_message(conn, other).await,
        }
    }

    async fn on_disconnect(&self, conn: &EchoJsonConn, why: Disconnect) {
        self.0.end(conn.session_id(), why);
    }
}

impl EchoQuietHandler for Tracked {
    async fn on_connect(&self, conn: &EchoQuietConn) -> Result<(), EchoQuietClose> {
        self.0.connect(conn.session_id());
        Ok(())
    }

    async fn on_message(&self, _conn: &EchoQuietConn, _text: String) -> Result<(), EchoQuietClose> {
        Ok(())
    }

    async fn on_disconnect(&self, conn: &EchoQuietConn, why: Disconnect) {
        self.0.end(conn.session_id(), why);
    }
}

impl EchoHeartbeatHandler for Tracked {
    async fn on_connect(&self, conn: &EchoHeartbeatConn) -> Result<(), EchoHeartbeatClose> {
        self.0.connect(conn.session_id());
        Ok(())
    }

    async fn on_message(
        &self,
        _conn: &EchoHeartbeatConn,
        text: String,
    ) -> Result<String, EchoHeartbeatClose> {
        Ok(text)
    }

    async fn on_disconnect(&self, conn: &EchoHeartbeatConn, why: Disconnect) {
        self.0.end(conn.session_id(), why);
    }
}

/// A running server with tracked handlers.
struct Fixture {
    addr: String,
    url: String,
    record: Arc<Record>,
    hubs: Hubs,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<Result<(), wsgen_runtime::RouterError>>,
}

async fn start(limits: Limits) -> Fixture {
    let record = Arc::new(Record::default());
    let tracked = Tracked(Arc::clone(&record));
    let handlers = Handlers {
        echo_json: tracked.clone(),
        echo_raw: echo_server::RawEcho,
        echo_text: echo_server::TextEcho,
        echo_quiet: tracked.clone(),
        echo_heartbeat: tracked,
        echo_protocol: echo_server::Protocol,
        echo_enveloped: echo_server::Enveloped,
        echo_feed: echo_server::Feed,
    };
    let hubs = Hubs::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = handlers
        .into_server_with_hubs(hubs.clone())
        .limits(limits)
        .serve_with_shutdown(listener, async {
            let _ = stopped.await;
        });
    let server = tokio::spawn(server);
    Fixture {
        url: format!("ws://{addr}"),
        addr,
        record,
        hubs,
        stop: Some(stop),
        server,
    }
}

fn note(id: u32, text: &str) -> Command {
    Command::Note(Note {
        id,
        text: text.to_owned(),
    })
}

async fn json_client(url: &str) -> (EchoJsonClient, u64) {
    let mut client = within(EchoJsonClient::connect(url)).await.unwrap();
    match within(client.recv()).await.unwrap() {
        Event::Welcome { session } => (client, session),
        other => panic!("expected a welcome, got {other:?}"),
    }
}

fn is_server_close(why: &Disconnect, expected: u16) -> bool {
    matches!(why, Disconnect::ServerClosed { code, .. } if *code == expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_closes_only_its_own_connection_with_1011() {
    let fixture = start(LIMITS).await;
    let (mut doomed, _) = json_client(&fixture.url).await;
    let (mut bystander, _) = json_client(&fixture.url).await;

    doomed.send(note(1, "panic")).await.unwrap();
    match within(doomed.closed()).await {
        EchoJsonError::ClosedOther { code, .. } => assert_eq!(code, Some(1011)),
        other => panic!("expected 1011, got {other:?}"),
    }
    // The other connection, and new ones, are served as before.
    bystander.send(note(2, "still here")).await.unwrap();
    assert_eq!(
        within(bystander.recv()).await.unwrap(),
        Event::Note(Note {
            id: 2,
            text: "still here".into()
        })
    );
    let (mut newcomer, _) = json_client(&fixture.url).await;
    newcomer.send(note(3, "hello")).await.unwrap();
    assert!(matches!(
        within(newcomer.recv()).await.unwrap(),
        Event::Note(_)
    ));
    assert!(is_server_close(&fixture.record.nth_end(1).await, 1011));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_disconnect_runs_exactly_once_on_every_path() {
    let mut fixture = start(LIMITS.with_write_timeout(Duration::from_millis(500))).await;
    let record = Arc::clone(&fixture.record);
    let mut n = 0;

    // A clean close by the client.
    let (client, _) = json_client(&fixture.url).await;
    within(client.close()).await.unwrap();
    n += 1;
    let why = record.nth_end(n).await;
    assert!(
        matches!(
            why,
            Disconnect::ClientClosed {
                code: Some(1000),
                ..
            }
        ),
        "clean close: {why:?}"
    );

    // A TCP reset: linger 0 makes the kernel send RST instead of FIN.
    let stream = std::net::TcpStream::connect(&fixture.addr).unwrap();
    {
        use std::io::Write;
        (&stream)
            .write_all(&Wire::request("/echo/json", ""))
            .unwrap();
    }
    common::eventually(|| record.connected.lock().unwrap().len() == n + 1).await;
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
    n += 1;
    let why = record.nth_end(n).await;
    assert!(matches!(why, Disconnect::Lost { .. }), "reset: {why:?}");

    // A client that vanishes in the middle of a message.
    let mut wire = Wire::connect(&fixture.addr, "/echo/json").await.unwrap();
    let mut partial = vec![0x80 | TEXT, 0x80 | 126];
    partial.extend_from_slice(&1000u16.to_be_bytes());
    partial.extend_from_slice(&[0, 0, 0, 0]);
    partial.extend_from_slice(b"{\"type\":\"no");
    wire.raw(&partial).await;
    drop(wire);
    n += 1;
    let why = record.nth_end(n).await;
    assert!(
        matches!(why, Disconnect::Lost { .. }),
        "vanished mid-message: {why:?}"
    );

    // The idle timeout of `echo.quiet` (1s): the server closes with 1001.
    let started = Instant::now();
    let mut wire = Wire::connect(&fixture.addr, "/echo/quiet").await.unwrap();
    let frames = wire.until_close().await;
    assert_eq!(
        frames.last(),
        Some(&common::wire::Seen::Close(
            Some(1001),
            "idle timeout".into()
        ))
    );
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "not before the timeout"
    );
    n += 1;
    let why = record.nth_end(n).await;
    assert!(is_server_close(&why, 1001), "idle: {why:?}");

    // A failed keepalive: a half-open peer that never answers the pings of `echo.heartbeat`.
    let started = Instant::now();
    let mute = Wire::connect(&fixture.addr, "/echo/heartbeat")
        .await
        .unwrap();
    n += 1;
    let why = record.nth_end(n).await;
    assert!(
        matches!(&why, Disconnect::Lost { detail } if detail.contains("no answer to a ping")),
        "keepalive: {why:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "found within two ping periods and a bit"
    );
    drop(mute);

    // A handler error: `bye` returns the close condition `goodbye`.
    let (mut client, _) = json_client(&fixture.url).await;
    client.send(Command::Bye).await.unwrap();
    assert!(matches!(
        within(client.closed()).await,
        EchoJsonError::Closed(EchoJsonClose::Goodbye)
    ));
    n += 1;
    assert!(is_server_close(&record.nth_end(n).await, 4000));

    // A handler panic.
    let (mut client, _) = json_client(&fixture.url).await;
    client.send(note(9, "panic")).await.unwrap();
    let _ = within(client.closed()).await;
    n += 1;
    assert!(is_server_close(&record.nth_end(n).await, 1011));

    // A graceful shutdown, with two clients still connected.
    let (mut first, _) = json_client(&fixture.url).await;
    let (mut second, _) = json_client(&fixture.url).await;
    fixture.stop.take().unwrap().send(()).unwrap();
    for client in [&mut first, &mut second] {
        match within(client.closed()).await {
            EchoJsonError::ClosedOther { code, .. } => assert_eq!(code, Some(1001)),
            other => panic!("expected 1001 on shutdown, got {other:?}"),
        }
    }
    n += 2;
    record.nth_end(n).await;
    let ended = record.ended();
    assert!(
        ended[n - 2..]
            .iter()
            .all(|(_, why)| is_server_close(why, 1001)),
        "{ended:?}"
    );
    within(fixture.server).await.unwrap().unwrap();

    record.assert_each_ended_once();
    assert!(fixture.hubs.echo_json.is_empty());
    assert!(fixture.hubs.echo_quiet.is_empty());
    assert!(fixture.hubs.echo_heartbeat.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slowloris_handshakes_are_dropped_and_do_not_block_others() {
    let fixture = start(LIMITS.with_handshake_timeout(Duration::from_millis(300))).await;
    let started = Instant::now();
    let mut slow = Vec::new();
    for _ in 0..50 {
        // Half a request head, and then nothing.
        slow.push(
            Wire::open(
                &fixture.addr,
                b"GET /echo/json HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgr",
            )
            .await,
        );
    }
    // A real client is served while they hang.
    let (mut client, _) = json_client(&fixture.url).await;
    client.send(note(1, "served")).await.unwrap();
    assert!(matches!(
        within(client.recv()).await.unwrap(),
        Event::Note(_)
    ));
    for wire in &mut slow {
        // The server hangs up without an answer: the head never completed.
        assert_eq!(wire.response().await, 0);
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "dropped after the handshake timeout"
    );
    // One byte at a time does not reset the clock either.
    let mut dribble = Wire::open(&fixture.addr, b"G").await;
    let started = Instant::now();
    for byte in b"ET /echo/json HTTP/1.1\r\n" {
        tokio::time::sleep(Duration::from_millis(50)).await;
        dribble.raw(&[*byte]).await;
        if started.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    assert_eq!(dribble.response().await, 0);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_while_the_server_pushes_is_cut_off() {
    let fixture = start(LIMITS.with_write_timeout(Duration::from_millis(500))).await;
    let mut wire = Wire::connect(&fixture.addr, "/echo/json").await.unwrap();
    let command = br#"{"type":"push","count":100}"#;
    let started = Instant::now();
    // Ask for up to 500,000 pushes without reading one; stop once the server stops taking
    // commands (its writes are stuck, so it no longer reads either).
    for _ in 0..5_000 {
        let frame = wire.encode(0x80, TEXT, command, true);
        let sent = tokio::time::timeout(Duration::from_secs(2), wire.raw(&frame)).await;
        if sent.is_err() || !fixture.record.ended().is_empty() {
            break;
        }
    }
    let why = tokio::time::timeout(Duration::from_secs(30), fixture.record.nth_end(1))
        .await
        .expect("the server gave up on the client");
    assert!(
        is_server_close(&why, 1013) || matches!(&why, Disconnect::Lost { .. }),
        "slow consumer: {why:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(40));
    // Everyone else is still served.
    let (mut client, _) = json_client(&fixture.url).await;
    client.send(note(1, "fine")).await.unwrap();
    assert!(matches!(
        within(client.recv()).await.unwrap(),
        Event::Note(_)
    ));
    assert_eq!(fixture.hubs.echo_json.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connect_disconnect_cycles_leave_no_session_and_no_task() {
    let fixture = start(LIMITS).await;
    let tasks = || {
        tokio::runtime::Handle::current()
            .metrics()
            .num_alive_tasks()
    };
    let baseline = tasks();
    for i in 0..1_000u32 {
        let (mut client, session) = json_client(&fixture.url).await;
        if i % 2 == 0 {
            // Half say goodbye properly…
            client.send(note(i, "cycle")).await.unwrap();
            assert!(matches!(
                within(client.recv()).await.unwrap(),
                Event::Note(_)
            ));
            within(client.close()).await.unwrap();
        } else {
            // …half just drop the connection.
            drop(client);
        }
        assert!(session > 0);
    }
    common::eventually(|| fixture.record.ended().len() == 1_000).await;
    common::eventually(|| fixture.hubs.echo_json.is_empty()).await;
    common::eventually(|| tasks() == baseline).await;
    fixture.record.assert_each_ended_once();
    assert_eq!(tasks(), baseline, "no connection task is left");
}
