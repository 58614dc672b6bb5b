//! Several server nodes, one Redis: the chat spec's hub across processes.
//!
//! Each test starts its own `redis-server` on a free loopback port and chat nodes as separate
//! processes (this test binary run again as `cluster_node`, the code of
//! `cargo run --example chat-node`), sharing it through `RedisBackplane`. Clients on different
//! nodes then check: a whisper by session id crosses nodes, in order; a room line reaches every
//! node; presence lists every node's sessions and rooms; a killed node's sessions leave presence
//! once its entries expire; Redis stopped and started again mid-test loses what was published
//! meanwhile (pub/sub is at most once) while local delivery goes on, and delivery resumes. A
//! second test puts nginx in front of two nodes as docs/deployment.md shows.
//!
//! `scripts/deps.sh cluster` installs Debian's `redis-server` and `nginx` (once per test process);
//! when it cannot, the tests fail with its output instead of skipping.

#[path = "common/deps.rs"]
mod deps;
#[path = "../examples/chat/node.rs"]
mod node;
#[path = "../examples/chat/server.rs"]
mod server;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wsgen_generated::chat::{
    ChatConnectClient, ChatConnectQuery, ClientEvent, Join, Say, ServerEvent,
};
use wsgen_runtime::{ConnectOptions, Hub, Presence, RedisBackplane, RedisOptions, SessionId};

const PRESENCE_EVERY: Duration = Duration::from_millis(300);
const PRESENCE_TTL: Duration = Duration::from_millis(1500);
/// The hub's cluster-wide name in the generated code (`api.controller.endpoint`).
const HUB: &str = "chat.chat.connect";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dependencies() {
    deps::ensure("cluster");
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Polls `check` every 50 ms until it holds, for at most `limit`.
async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !check().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A `redis-server` on a loopback port, with nothing persisted.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    async fn start() -> Redis {
        let mut redis = Redis {
            port: free_port(),
            child: None,
        };
        redis.restart().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        eventually(Duration::from_secs(10), "redis-server accepts", || {
            let addr = addr.clone();
            async move { tokio::net::TcpStream::connect(addr).await.is_ok() }
        })
        .await;
    }

    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }
}

/// A chat node: this test binary run again as `cluster_node`.
struct Node {
    url: String,
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Node {
    async fn start(redis: &str, prefix: &str) -> Node {
        Node::start_on("127.0.0.1:0", redis, prefix).await
    }

    async fn start_on(listen: &str, redis: &str, prefix: &str) -> Node {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["cluster_node", "--exact", "--ignored", "--nocapture"])
            .env("WSGEN_NODE_LISTEN", listen)
            .env("WSGEN_NODE_REDIS", redis)
            .env("WSGEN_NODE_PREFIX", prefix)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the node starts");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                let mut log = sink.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("listening on ") {
                    return url.to_owned();
                }
            }
            panic!("the node ended before listening");
        })
        .await
        .expect("the node listens within 30s");
        // Keep reading stdout so the node never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node { url, child, log }
    }

    /// Kills the node without a chance to clean up, as a crash would.
    async fn crash(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The node process. Ignored in a normal run; the tests start it as a separate process.
#[test]
#[ignore = "a node process started by the other tests"]
fn cluster_node() {
    let env = |name: &str| std::env::var(name).unwrap_or_default();
    let config = node::NodeConfig {
        listen: env("WSGEN_NODE_LISTEN"),
        redis: env("WSGEN_NODE_REDIS"),
        prefix: env("WSGEN_NODE_PREFIX"),
        presence: (PRESENCE_EVERY, PRESENCE_TTL),
        send_queue: None,
    };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(async { node::run(config, wsgen_runtime::shutdown_signal()).await })
        .unwrap();
}

/// A chat client, with the session id its welcome told it.
struct Client {
    inner: ChatConnectClient,
    session: u64,
}

impl Client {
    async fn connect(url: &str, name: &str) -> Client {
        let query = ChatConnectQuery {
            name: name.to_owned(),
        };
        let options = ConnectOptions::default().header("authorization", "Bearer secret");
        let connect = ChatConnectClient::connect_with(url, &query, options);
        let mut inner = tokio::time::timeout(Duration::from_secs(10), connect)
            .await
            .expect("connects within 10s")
            .expect("connects");
        let session = match inner.recv().await.unwrap() {
            ServerEvent::Welcome { session, .. } => session,
            other => panic!("expected the welcome, got {other:?}"),
        };
        Client { inner, session }
    }

    async fn send(&mut self, event: ClientEvent) {
        self.inner.send(event).await.unwrap();
    }

    async fn join(&mut self, room: &str) {
        let room = room.to_owned();
        self.send(ClientEvent::Join(Join { room })).await;
    }

    async fn say(&mut self, room: &str, text: &str) {
        let say = Say {
            room: room.to_owned(),
            text: text.to_owned(),
            mood: None,
            quote: None,
        };
        self.send(ClientEvent::Say(say)).await;
    }

    async fn whisper(&mut self, to: u64, text: &str) {
        let text = text.to_owned();
        self.send(ClientEvent::Whisper { to, text }).await;
    }

    /// The next event `pick` takes, skipping others, within `limit`; `None` when none came.
    async fn next<T>(
        &mut self,
        limit: Duration,
        mut pick: impl FnMut(ServerEvent) -> Option<T>,
    ) -> Option<T> {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let event = tokio::time::timeout_at(deadline, self.inner.recv())
                .await
                .ok()?;
            if let Some(found) = pick(event.expect("the connection stays open")) {
                return Some(found);
            }
        }
    }

    /// The text of the next line said in `room`.
    async fn line(&mut self, room: &str, limit: Duration) -> Option<String> {
        self.next(limit, |event| match event {
            ServerEvent::Line(line) if line.room == room => Some(line.text),
            _ => None,
        })
        .await
    }

    /// The next whisper: who sent it, and its text.
    async fn whispered(&mut self, limit: Duration) -> Option<(u64, String)> {
        self.next(limit, |event| match event {
            ServerEvent::Whispered { from, text, .. } => Some((from, text)),
            _ => None,
        })
        .await
    }
}

/// The hub's presence across the cluster, as any node sees it: asked through a backplane of
/// this test's own on the same Redis.
struct Observer {
    hub: Hub<ServerEvent>,
    backplane: RedisBackplane,
}

impl Observer {
    fn new(redis: &str, prefix: &str) -> Observer {
        let options = RedisOptions::new()
            .prefix(prefix)
            .presence(PRESENCE_EVERY, PRESENCE_TTL);
        let backplane = RedisBackplane::with_options(redis, options).unwrap();
        let hub = Hub::with_backplane(HUB, &backplane.shared());
        Observer { hub, backplane }
    }

    async fn presence(&self) -> Presence {
        self.hub.presence().await.unwrap_or_default()
    }

    /// How many operations of other nodes this observer's backplane has received.
    fn received(&self) -> u64 {
        self.backplane.stats().received
    }
}

fn ids(ids: &[u64]) -> BTreeSet<SessionId> {
    ids.iter().copied().map(SessionId::from).collect()
}

fn prefix() -> String {
    format!("wsgen-test-{}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_share_whispers_rooms_and_presence_through_redis_and_survive_its_restart() {
    dependencies();
    let mut redis = Redis::start().await;
    let prefix = prefix();
    let nodes = [
        Node::start(&redis.url(), &prefix).await,
        Node::start(&redis.url(), &prefix).await,
        Node::start(&redis.url(), &prefix).await,
    ];
    let mut ana = Client::connect(&nodes[0].url, "ana").await;
    let mut bo = Client::connect(&nodes[1].url, "bo").await;
    let mut cy = Client::connect(&nodes[2].url, "cy").await;
    let tags: BTreeSet<u32> = [ana.session, bo.session, cy.session]
        .iter()
        .map(|s| SessionId::from(*s).node())
        .collect();
    assert_eq!(tags.len(), 3, "each client is on its own node");

    // Presence: every node's session, as soon as the nodes have written it.
    let observer = Observer::new(&redis.url(), &prefix);
    let everyone = ids(&[ana.session, bo.session, cy.session]);
    eventually(
        Duration::from_secs(10),
        "presence lists all three",
        || async { observer.presence().await.sessions == everyone },
    )
    .await;

    // The observer receives: a room broadcast from the third node reaches it.
    cy.join("probe").await;
    eventually(
        Duration::from_secs(10),
        "the observer receives broadcasts",
        || async { observer.received() > 0 },
    )
    .await;

    // A whisper by session id crosses nodes; 200 of them arrive in the order sent.
    let seen_before = observer.received();
    for n in 0..200 {
        ana.whisper(bo.session, &format!("w{n}")).await;
    }
    for n in 0..200 {
        let got = bo.whispered(Duration::from_secs(10)).await;
        assert_eq!(got, Some((ana.session, format!("w{n}"))), "whisper {n}");
    }

    // They went to Bo's node only: the observer, a fourth node subscribed to the hub, got
    // none of them. Ana's join next is a room broadcast on the hub's channel, published by
    // node 1 after the whispers: once the observer has it, it would have had them.
    ana.join("lobby").await;
    eventually(
        Duration::from_secs(10),
        "the observer gets the room broadcast",
        || async { observer.received() > seen_before },
    )
    .await;
    assert_eq!(
        observer.received(),
        seen_before + 1,
        "only the room broadcast reached a node that owns neither session"
    );

    // A send by id from yet another process reaches the session on its node.
    let from_elsewhere = ServerEvent::Whispered {
        from: 1,
        user: "observer".to_owned(),
        text: "routed".to_owned(),
    };
    let bo_id = SessionId::from(bo.session);
    assert_eq!(observer.hub.send(bo_id, from_elsewhere), Ok(()));
    let got = bo.whispered(Duration::from_secs(10)).await;
    assert_eq!(got, Some((1, "routed".to_owned())));

    // A room spans nodes: every member hears a line, on every node. Ana (above) and Bo join;
    // Ana adds Cy, whose session is on the third node, from the first.
    bo.join("lobby").await;
    let (to, room) = (cy.session, "lobby".to_owned());
    ana.send(ClientEvent::Invite { to, room }).await;
    eventually(
        Duration::from_secs(10),
        "presence lists the room",
        || async { observer.presence().await.rooms.get("lobby") == Some(&everyone) },
    )
    .await;
    bo.say("lobby", "hello from node 2").await;
    for client in [&mut ana, &mut bo, &mut cy] {
        let line = client.line("lobby", Duration::from_secs(10)).await;
        assert_eq!(line.as_deref(), Some("hello from node 2"));
    }
    // Exactly once: a node does not deliver again what it published itself.
    for client in [&mut ana, &mut bo, &mut cy] {
        let again = client.line("lobby", Duration::from_millis(300)).await;
        assert_eq!(again, None, "a line was delivered twice");
    }

    // A node that crashes leaves presence once its entries expire.
    let [n1, n2, n3] = nodes;
    let crashed = cy.session;
    n3.crash().await;
    let started = Instant::now();
    eventually(
        Duration::from_secs(10),
        "the crashed node's session expires",
        || async {
            !observer
                .presence()
                .await
                .sessions
                .contains(&SessionId::from(crashed))
        },
    )
    .await;
    let gone_after = started.elapsed();
    // A send to a session whose node is gone is handed over, as documented, and lost.
    let sent = observer.hub.send(
        SessionId::from(crashed),
        ServerEvent::Notice {
            text: "nobody".to_owned(),
        },
    );
    assert_eq!(sent, Ok(()));
    let presence = observer.presence().await;
    assert_eq!(presence.sessions, ids(&[ana.session, bo.session]));
    assert_eq!(
        presence.rooms.get("lobby"),
        Some(&ids(&[ana.session, bo.session]))
    );

    // Redis stops: local delivery goes on, what is published meanwhile is lost, and the nodes
    // say so in their logs.
    redis.stop().await;
    ana.say("lobby", "during the outage").await;
    let own = ana.line("lobby", Duration::from_secs(5)).await;
    assert_eq!(own.as_deref(), Some("during the outage"), "local delivery");
    let missed = bo.line("lobby", Duration::from_secs(1)).await;
    assert_eq!(
        missed, None,
        "pub/sub is at most once: lost while Redis is down"
    );
    eventually(
        Duration::from_secs(10),
        "the node logs the outage",
        || async { n1.log.lock().unwrap().contains("redis backplane: ") },
    )
    .await;

    // Redis is back: the nodes reconnect with backoff, and delivery resumes.
    redis.restart().await;
    let mut resumed = None;
    for attempt in 0..100 {
        ana.say("lobby", &format!("after {attempt}")).await;
        if let Some(line) = bo.line("lobby", Duration::from_millis(200)).await {
            resumed = Some(line);
            break;
        }
    }
    let resumed = resumed.expect("delivery resumed within 20s of Redis restarting");
    assert!(resumed.starts_with("after "), "{resumed}");
    // Presence is written again too (the restarted Redis started empty).
    let both = ids(&[ana.session, bo.session]);
    eventually(Duration::from_secs(10), "presence is rebuilt", || async {
        observer.presence().await.sessions == both
    })
    .await;
    let log = n1.log.lock().unwrap().clone();
    assert!(log.contains("again"), "the reconnection is logged:\n{log}");
    println!(
        "crashed node gone from presence after {gone_after:?} (ttl {PRESENCE_TTL:?}); node 1 said:\n{log}"
    );
    drop(n2);
}

/// The documented nginx configuration (deploy/nginx.conf) with this test's ports and paths.
fn nginx_conf(dir: &Path, listen: u16, nodes: &[&str]) -> PathBuf {
    let template = std::fs::read_to_string(root().join("deploy/nginx.conf")).unwrap();
    let servers: String = nodes
        .iter()
        .map(|url| format!("        server {};\n", url.trim_start_matches("ws://")))
        .collect();
    let start = template
        .find("    upstream chat {")
        .expect("an upstream block");
    let end = start + template[start..].find("    }\n").expect("its end") + 6;
    let upstream = format!("    upstream chat {{\n{servers}    }}\n");
    let conf = format!("{}{}{}", &template[..start], upstream, &template[end..])
        .replace("listen 8080;", &format!("listen 127.0.0.1:{listen};"))
        .replace("/tmp/wsgen-nginx", dir.to_str().unwrap());
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_balances_clients_across_two_nodes_that_still_reach_each_other() {
    dependencies();
    let redis = Redis::start().await;
    let prefix = prefix() + "-nginx";
    let n1 = Node::start(&redis.url(), &prefix).await;
    let n2 = Node::start(&redis.url(), &prefix).await;
    let dir = tempfile::tempdir().unwrap();
    // nginx's workers may run as another user (when the tests run as root).
    {
        use std::os::unix::fs::PermissionsExt;
        let open = std::fs::Permissions::from_mode(0o755);
        std::fs::set_permissions(dir.path(), open).unwrap();
    }
    let port = free_port();
    let conf = nginx_conf(dir.path(), port, &[&n1.url, &n2.url]);
    let nginx_bin = ["/usr/sbin/nginx", "nginx"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("-v").output().is_ok())
        .expect("nginx is installed");
    let mut nginx = Command::new(nginx_bin)
        .args(["-p", dir.path().to_str().unwrap(), "-c"])
        .arg(&conf)
        .args(["-e", "stderr"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    let front = format!("ws://127.0.0.1:{port}");
    eventually(Duration::from_secs(10), "nginx accepts", || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
    })
    .await;

    // Round robin: consecutive connections through nginx land on different nodes.
    let mut ana = Client::connect(&front, "ana").await;
    let mut bo = Client::connect(&front, "bo").await;
    let (a, b) = (SessionId::from(ana.session), SessionId::from(bo.session));
    assert_ne!(
        a.node(),
        b.node(),
        "nginx spread the two clients over both nodes"
    );

    let observer = Observer::new(&redis.url(), &prefix);
    let both = ids(&[ana.session, bo.session]);
    eventually(Duration::from_secs(10), "presence lists both", || async {
        observer.presence().await.sessions == both
    })
    .await;
    ana.whisper(bo.session, "through nginx").await;
    assert_eq!(
        bo.whispered(Duration::from_secs(10)).await,
        Some((ana.session, "through nginx".to_owned()))
    );
    ana.join("ops").await;
    bo.join("ops").await;
    eventually(
        Duration::from_secs(10),
        "presence lists the room",
        || async { observer.presence().await.rooms.get("ops") == Some(&both) },
    )
    .await;
    bo.say("ops", "across the balancer").await;
    assert_eq!(
        ana.line("ops", Duration::from_secs(10)).await.as_deref(),
        Some("across the balancer")
    );
    let _ = nginx.kill().await;
}
