//! Helpers shared by the runtime's integration tests: a server on 127.0.0.1 that can be
//! stopped, raw clients, and a record of `on_disconnect` calls.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
// Not every test file names it.
#[allow(unused_imports)]
pub use wsgen_runtime::NoClose;
use wsgen_runtime::{Disconnect, Limits, Router, RouterError, Server};

/// Bounds every wait so that a broken runtime fails the test instead of hanging it.
pub async fn within<T>(future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("timed out")
}

/// A server on 127.0.0.1 that the test can stop gracefully.
pub struct Running {
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    pub server: JoinHandle<Result<(), RouterError>>,
}

impl Running {
    /// Starts a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Serves `router` with `limits`; the base URL is `ws://127.0.0.1:<port>`.
pub async fn start(router: Router, limits: Limits) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(Server::new(router).limits(limits).serve_with_shutdown(
        listener,
        async {
            let _ = stopped.await;
        },
    ));
    Running {
        url,
        stop: Some(stop),
        server,
    }
}

/// A raw tokio-tungstenite client.
pub type Raw =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Connects a raw client to `url` + `path`.
pub async fn raw(url: &str, path: &str) -> Raw {
    within(tokio_tungstenite::connect_async(format!("{url}{path}")))
        .await
        .unwrap()
        .0
}

/// A raw TCP client with a 4 KiB receive buffer, connected to `url` + `path`: the server's
/// writes have to wait as soon as a little is left unread.
pub async fn small_buffer_client(url: &str, path: &str) -> Raw {
    let addr = url.strip_prefix("ws://").unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = within(socket.connect(addr.parse().unwrap())).await.unwrap();
    within(tokio_tungstenite::client_async(
        format!("{url}{path}"),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    ))
    .await
    .unwrap()
    .0
}

/// Queues `count` pushes of 32 KiB, `push {n} zzz…`: a few are more than the socket buffers
/// hold, so the server's writes have to wait for a client that does not read.
pub fn push_padded(sender: &wsgen_runtime::Sender<String>, count: usize) {
    let padding = "z".repeat(32 * 1024);
    for n in 0..count {
        sender.send(format!("push {n} {padding}")).unwrap();
    }
}

/// A client's frame as bytes: `opcode`, `fin`, `payload`, masked.
pub fn masked_frame(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    let len = payload.len();
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    let mask = [0x11u8, 0x22, 0x33, 0x44];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// The raw TCP stream under a client, to write hand-made frames.
pub fn tcp(ws: &mut Raw) -> &mut tokio::net::TcpStream {
    match ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(stream) => stream,
        _ => unreachable!("plain ws://"),
    }
}

/// The close code the server sends next, data messages skipped; `None` if the connection
/// ended without a close frame.
pub async fn close_code(ws: &mut Raw) -> Option<u16> {
    use futures_util::StreamExt;
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Close(Some(frame)))) => return Some(u16::from(frame.code)),
            Some(Ok(Message::Close(None))) => return Some(1005),
            Some(Ok(_)) => continue,
            _ => return None,
        }
    }
}

/// The next text message the server sends, pings and pongs skipped; fails on anything else.
pub async fn next_text(ws: &mut Raw) -> String {
    use futures_util::StreamExt;
    loop {
        match within(ws.next()).await {
            Some(Ok(Message::Text(text))) => return text.as_str().to_owned(),
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("expected a text message, got {other:?}"),
        }
    }
}

/// Every `on_disconnect` call.
#[derive(Clone, Default)]
pub struct Ends(Arc<Mutex<Vec<Disconnect>>>);

impl Ends {
    pub fn push(&self, why: Disconnect) {
        self.0.lock().unwrap().push(why);
    }

    pub fn all(&self) -> Vec<Disconnect> {
        self.0.lock().unwrap().clone()
    }

    /// The first `on_disconnect`, if one comes within `limit`.
    pub async fn first_within(&self, limit: Duration) -> Option<Disconnect> {
        let started = std::time::Instant::now();
        loop {
            if let Some(why) = self.all().first() {
                return Some(why.clone());
            }
            if started.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits (bounded) for the first `on_disconnect`, then a little longer to catch a second;
    /// returns the one call, failing on none or more.
    pub async fn once(&self) -> Disconnect {
        for _ in 0..1_000 {
            if !self.all().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        let all = self.all();
        assert_eq!(all.len(), 1, "on_disconnect runs exactly once: {all:?}");
        all[0].clone()
    }
}

/// CPU time against wall time since it started, on this thread. A `#[tokio::test]` runtime
/// has one thread, which runs both the server and the client: a connection task that spins
/// instead of waiting shows as about as much CPU time as wall time.
pub struct CpuWatch {
    cpu: Duration,
    wall: std::time::Instant,
}

impl CpuWatch {
    pub fn start() -> Self {
        CpuWatch {
            cpu: thread_cpu(),
            wall: std::time::Instant::now(),
        }
    }

    /// Fails when this thread used half the wall time since the start or more in CPU time (a
    /// spinning task uses nearly all of it; waiting uses next to none).
    pub fn assert_waited(&self, what: &str) {
        let used = thread_cpu().saturating_sub(self.cpu);
        let wall = self.wall.elapsed();
        assert!(
            used < wall / 2,
            "{what}: {used:?} of CPU time in {wall:?}: the connection task spins instead of waiting"
        );
    }
}

/// CPU time this thread has used, in the kernel's ticks of 10 ms.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").expect("/proc/thread-self/stat");
    // The fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat[stat.rfind(')').expect("stat") + 2..]
        .split(' ')
        .collect();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    Duration::from_millis(ticks * 10)
}

/// Waits (bounded) until `check` holds.
pub async fn eventually(mut check: impl FnMut() -> bool) {
    within(async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

/// Implements `Endpoint` for a test endpoint that receives and sends `String`s and has no close
/// conditions, inputs or state: only its `run` differs from test to test.
/// `string_endpoint!(Echo, |this, socket| { .. })` gives the body the endpoint as `this` and the
/// socket as `socket`, and does nothing when a connection ends. With `records` the endpoint's
/// `ends: Ends` field records every `on_disconnect`, and `records, keepalive = ..` also sets
/// its `KEEPALIVE`; `on_invalid = ..` sets its `ON_INVALID`.
#[allow(unused_macros)]
macro_rules! string_endpoint {
    ($endpoint:ty, |$this:ident, $socket:ident| $body:block) => {
        $crate::common::string_endpoint!(
            @impl $endpoint,
            None,
            wsgen_runtime::codegen::OnInvalid::Close,
            |_this, _why| {},
            |$this, $socket| $body
        );
    };
    ($endpoint:ty, on_invalid = $on_invalid:expr, |$this:ident, $socket:ident| $body:block) => {
        $crate::common::string_endpoint!(
            @impl $endpoint,
            None,
            $on_invalid,
            |_this, _why| {},
            |$this, $socket| $body
        );
    };
    ($endpoint:ty, records, |$this:ident, $socket:ident| $body:block) => {
        $crate::common::string_endpoint!(
            @impl $endpoint,
            None,
            wsgen_runtime::codegen::OnInvalid::Close,
            |this, why| { this.ends.push(why) },
            |$this, $socket| $body
        );
    };
    (
        $endpoint:ty, records, keepalive = $keepalive:expr, |$this:ident, $socket:ident| $body:block
    ) => {
        $crate::common::string_endpoint!(
            @impl $endpoint,
            Some($keepalive),
            wsgen_runtime::codegen::OnInvalid::Close,
            |this, why| { this.ends.push(why) },
            |$this, $socket| $body
        );
    };
    (@impl $endpoint:ty, $keepalive:expr, $on_invalid:expr, |$ended:ident, $why:ident| $disconnect:block,
        |$this:ident, $socket:ident| $body:block) => {
        impl wsgen_runtime::codegen::Endpoint for $endpoint {
            type Receive = String;
            type Send = String;
            type Close = wsgen_runtime::NoClose;
            type Params = ();
            type Query = ();
            type State = ();
            const KEEPALIVE: Option<wsgen_runtime::Keepalive> = $keepalive;
            const ON_INVALID: wsgen_runtime::codegen::OnInvalid = $on_invalid;
            async fn run(
                &self,
                $socket: &mut wsgen_runtime::codegen::SocketOf<Self>,
                _state: &mut Option<()>,
            ) -> Result<(), wsgen_runtime::Stop<wsgen_runtime::NoClose>> {
                let $this = self;
                $body
            }
            async fn on_disconnect(
                &self,
                _conn: &wsgen_runtime::codegen::ConnOf<Self>,
                _state: Option<()>,
                $why: wsgen_runtime::Disconnect,
            ) {
                let $ended = self;
                $disconnect
            }
        }
    };
}
#[allow(unused_imports)]
pub(crate) use string_endpoint;
