//! Our own conformance suite, organised like Autobahn's categories where they concern this
//! layer: framing, ping/pong, fragmentation, UTF-8, close codes, limits, and the typed layer on
//! top. Each case opens a connection to a generated server (the echo spec) on 127.0.0.1 with a
//! raw frame-level client, sends exactly the bytes the case is about, and compares every frame
//! the server sends back with what RFC 6455 and the spec require, once against the standalone
//! server and once against the same endpoints mounted in an axum app. The report is a table
//! (case, expected, result), printed and written to `target/conformance-{standalone,axum}.md`;
//! any mismatch fails the test with the whole table.

mod common;

#[path = "../examples/echo/server.rs"]
mod echo_server;

use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use common::wire::{BINARY, CLOSE, CONTINUATION, PING, PONG, Seen, TEXT, Wire, show};
use tokio::net::TcpListener;
use wsgen_generated::echo::LIMITS;

type Run = Box<dyn Fn(String) -> Pin<Box<dyn Future<Output = Vec<Seen>> + Send>> + Send + Sync>;

struct Case {
    id: &'static str,
    what: &'static str,
    expected: Vec<Seen>,
    run: Run,
}

fn case<F, Fut>(id: &'static str, what: &'static str, expected: Vec<Seen>, run: F) -> Case
where
    F: Fn(String) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Vec<Seen>> + Send + 'static,
{
    Case {
        id,
        what,
        expected,
        run: Box::new(move |addr| Box::pin(run(addr))),
    }
}

fn close(code: u16) -> Seen {
    Seen::Close(Some(code), String::new())
}

/// Matches a close by code whatever its reason (reasons are for people; the codes are the
/// contract), except where a case spells the reason out.
fn same(expected: &[Seen], got: &[Seen]) -> bool {
    expected.len() == got.len()
        && expected.iter().zip(got).all(|(e, g)| match (e, g) {
            (Seen::Close(ec, er), Seen::Close(gc, _)) if er.is_empty() => ec == gc,
            _ => e == g,
        })
}

async fn connect(addr: &str, path: &str) -> Wire {
    match Wire::connect(addr, path).await {
        Ok(wire) => wire,
        Err(status) => panic!("upgrade to {path} refused with {status}"),
    }
}

/// Sends `frames` (fin, opcode, payload) on `path`, then a clean close, and collects the replies.
fn exchange(
    path: &'static str,
    frames: Vec<(bool, u8, Vec<u8>)>,
    then_close: bool,
) -> impl Fn(String) -> Pin<Box<dyn Future<Output = Vec<Seen>> + Send>> + Send + Sync {
    move |addr| {
        let frames = frames.clone();
        Box::pin(async move {
            let mut wire = connect(&addr, path).await;
            for (fin, opcode, payload) in &frames {
                wire.frame(*fin, *opcode, payload).await;
            }
            if then_close {
                wire.close(1000, b"").await;
            }
            wire.until_close().await
        })
    }
}

fn text(payload: &str) -> (bool, u8, Vec<u8>) {
    (true, TEXT, payload.as_bytes().to_vec())
}

fn cases() -> Vec<Case> {
    let big = "x".repeat(65_536);
    let over = "x".repeat(65_537);
    let mut cases = vec![
        // 1 Framing
        case("1.1.1", "empty text message echoed", vec![Seen::Text(String::new()), close(1000)], exchange("/echo/raw", vec![text("")], true)),
        case("1.1.2", "text of 125 bytes (7-bit length)", vec![Seen::Text("a".repeat(125)), close(1000)], exchange("/echo/raw", vec![text(&"a".repeat(125))], true)),
        case("1.1.3", "text of 126 bytes (16-bit length)", vec![Seen::Text("b".repeat(126)), close(1000)], exchange("/echo/raw", vec![text(&"b".repeat(126))], true)),
        case("1.1.4", "text of 65535 bytes", vec![Seen::Text("c".repeat(65_535)), close(1000)], exchange("/echo/raw", vec![text(&"c".repeat(65_535))], true)),
        case("1.1.5", "text of exactly the 64 KiB limit (64-bit length)", vec![Seen::Text(big.clone()), close(1000)], exchange("/echo/raw", vec![text(&big)], true)),
        case("1.2.1", "empty binary message echoed", vec![Seen::Binary(vec![]), close(1000)], exchange("/echo/raw", vec![(true, BINARY, vec![])], true)),
        case("1.2.2", "binary of 126 bytes, all byte values", vec![Seen::Binary((0..126).collect()), close(1000)], exchange("/echo/raw", vec![(true, BINARY, (0..126).collect())], true)),
        case("1.3.1", "RSV1 set without an extension: 1002", vec![close(1002)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            let frame = wire.encode(0x80 | 0x40, TEXT, b"rsv", true);
            wire.raw(&frame).await;
            wire.until_close().await
        }),
        case("1.3.2", "RSV2 and RSV3 set: 1002", vec![close(1002)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            let frame = wire.encode(0x80 | 0x30, BINARY, b"rsv", true);
            wire.raw(&frame).await;
            wire.until_close().await
        }),
        case("1.4.1", "reserved data opcode 0x3: 1002", vec![close(1002)], exchange("/echo/raw", vec![(true, 0x3, b"x".to_vec())], false)),
        case("1.4.2", "reserved control opcode 0xB: 1002", vec![close(1002)], exchange("/echo/raw", vec![(true, 0xB, vec![])], false)),
        case("1.5.1", "unmasked client frame: 1002", vec![close(1002)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            let frame = wire.encode(0x80, TEXT, b"plain", false);
            wire.raw(&frame).await;
            wire.until_close().await
        }),
        // 2 Pings and pongs
        case("2.1", "empty ping answered by an empty pong", vec![Seen::Pong(vec![]), close(1000)], exchange("/echo/raw", vec![(true, PING, vec![])], true)),
        case("2.2", "ping of 125 bytes answered with the same payload", vec![Seen::Pong(vec![0xFE; 125]), close(1000)], exchange("/echo/raw", vec![(true, PING, vec![0xFE; 125])], true)),
        case("2.3", "ping of 126 bytes (too big for a control frame): 1002", vec![close(1002)], exchange("/echo/raw", vec![(true, PING, vec![1; 126])], false)),
        case("2.4", "fragmented ping: 1002", vec![close(1002)], exchange("/echo/raw", vec![(false, PING, b"frag".to_vec())], false)),
        case("2.5", "unsolicited pong is ignored", vec![Seen::Text("after pong".into()), close(1000)], exchange("/echo/raw", vec![(true, PONG, b"hi".to_vec()), text("after pong")], true)),
        case("2.6", "ten pings answered in order", {
            let mut seen: Vec<Seen> = (0u8..10).map(|i| Seen::Pong(vec![i])).collect();
            seen.push(close(1000));
            seen
        }, exchange("/echo/raw", (0u8..10).map(|i| (true, PING, vec![i])).collect(), true)),
        // 3 Fragmentation
        case("3.1", "text in two fragments echoed as one message", vec![Seen::Text("Hello, world".into()), close(1000)], exchange("/echo/raw", vec![(false, TEXT, b"Hello, ".to_vec()), (true, CONTINUATION, b"world".to_vec())], true)),
        case("3.2", "text in 100 one-byte fragments", vec![Seen::Text("z".repeat(100)), close(1000)], exchange("/echo/raw", {
            let mut frames = vec![(false, TEXT, b"z".to_vec())];
            frames.extend((0..98).map(|_| (false, CONTINUATION, b"z".to_vec())));
            frames.push((true, CONTINUATION, b"z".to_vec()));
            frames
        }, true)),
        case("3.3", "ping between fragments answered first", vec![Seen::Pong(b"mid".to_vec()), Seen::Text("frag ment".into()), close(1000)], exchange("/echo/raw", vec![(false, TEXT, b"frag ".to_vec()), (true, PING, b"mid".to_vec()), (true, CONTINUATION, b"ment".to_vec())], true)),
        case("3.4", "continuation with nothing to continue: 1002", vec![close(1002)], exchange("/echo/raw", vec![(true, CONTINUATION, b"orphan".to_vec())], false)),
        case("3.5", "new message inside a fragmented one: 1002", vec![close(1002)], exchange("/echo/raw", vec![(false, TEXT, b"one".to_vec()), (true, TEXT, b"two".to_vec())], false)),
        case("3.6", "binary in three fragments", vec![Seen::Binary(vec![1, 2, 3, 4, 5, 6]), close(1000)], exchange("/echo/raw", vec![(false, BINARY, vec![1, 2]), (false, CONTINUATION, vec![3, 4]), (true, CONTINUATION, vec![5, 6])], true)),
        case("3.7", "fragmented JSON reassembled into one typed message", vec![Seen::Text(r#"{"type":"welcome","session":0}"#.into()), Seen::Text(r#"{"type":"note","id":7,"text":"split"}"#.into()), close(1000)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/json").await;
            let welcome = wire.next().await;
            wire.frame(false, TEXT, br#"{"type":"note","#).await;
            wire.frame(false, CONTINUATION, br#""id":7,"#).await;
            wire.frame(true, CONTINUATION, br#""text":"split"}"#).await;
            wire.close(1000, b"").await;
            let mut seen = vec![match welcome {
                // The session id varies; the case is about the shape.
                Seen::Text(t) if t.starts_with(r#"{"type":"welcome","session":"#) => Seen::Text(r#"{"type":"welcome","session":0}"#.into()),
                other => other,
            }];
            seen.extend(wire.until_close().await);
            seen
        }),
        // 4 UTF-8
        case("4.1", "valid two-byte UTF-8 echoed", vec![Seen::Text("κόσμε".into()), close(1000)], exchange("/echo/text", vec![text("κόσμε")], true)),
        case("4.2", "valid four-byte UTF-8 echoed", vec![Seen::Text("🦀 ok".into()), close(1000)], exchange("/echo/text", vec![text("🦀 ok")], true)),
        case("4.3", "a code point split across fragments", vec![Seen::Text("€".into()), close(1000)], exchange("/echo/text", vec![(false, TEXT, vec![0xE2]), (false, CONTINUATION, vec![0x82]), (true, CONTINUATION, vec![0xAC])], true)),
        case("4.4", "invalid byte 0xFF: 1007", vec![close(1007)], exchange("/echo/text", vec![(true, TEXT, vec![b'a', 0xFF])], false)),
        case("4.5", "overlong encoding of '/': 1007", vec![close(1007)], exchange("/echo/text", vec![(true, TEXT, vec![0xC0, 0xAF])], false)),
        case("4.6", "UTF-16 surrogate: 1007", vec![close(1007)], exchange("/echo/text", vec![(true, TEXT, vec![0xED, 0xA0, 0x80])], false)),
        case("4.7", "invalid first fragment of a longer message: 1007", vec![close(1007)], exchange("/echo/text", vec![(false, TEXT, vec![0xFF, b'a']), (true, CONTINUATION, b"bc".to_vec())], false)),
        case("4.8", "message ends inside a code point: 1007", vec![close(1007)], exchange("/echo/text", vec![(true, TEXT, vec![b'a', 0xE2, 0x82])], false)),
        case("4.9", "invalid UTF-8 on the raw endpoint too: 1007", vec![close(1007)], exchange("/echo/raw", vec![(true, TEXT, vec![0xF8, 0x88, 0x80, 0x80, 0x80])], false)),
        // 5 Close
        case("5.1", "close 1000 answered with 1000", vec![close(1000)], exchange("/echo/raw", vec![], true)),
        case("5.2", "close without a code answered without one", vec![Seen::Close(None, String::new())], exchange("/echo/raw", vec![(true, CLOSE, vec![])], false)),
        case("5.3", "close 1000 with a reason", vec![close(1000)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            wire.close(1000, b"done here").await;
            wire.until_close().await
        }),
        case("5.4", "application code 4999 echoed", vec![close(4999)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            wire.close(4999, b"").await;
            wire.until_close().await
        }),
        case("5.5", "close payload of one byte: 1002", vec![close(1002)], exchange("/echo/raw", vec![(true, CLOSE, vec![0x03])], false)),
        case("5.6", "close reason that is not UTF-8: 1007", vec![close(1007)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            wire.close(1000, &[0xFF, 0xFE]).await;
            wire.until_close().await
        }),
        case("5.7", "data after the client's close is ignored", vec![close(1000)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            wire.close(1000, b"").await;
            wire.frame(true, TEXT, b"too late").await;
            wire.until_close().await
        }),
        // 6 Limits
        case("6.1", "one frame over the 64 KiB message limit: 1009", vec![close(1009)], exchange("/echo/raw", vec![text(&over)], false)),
        case("6.2", "fragments adding up to over 64 KiB: 1009", vec![close(1009)], exchange("/echo/raw", {
            let chunk = vec![b'y'; 16 * 1024];
            let mut frames = vec![(false, TEXT, chunk.clone())];
            frames.extend((0..3).map(|_| (false, CONTINUATION, chunk.clone())));
            frames.push((true, CONTINUATION, b"!".to_vec()));
            frames
        }, false)),
        case("6.3", "a header claiming 2^62 bytes, no payload: 1009", vec![close(1009)], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/raw").await;
            let mut header = vec![0x80 | TEXT, 0x80 | 127];
            header.extend_from_slice(&(1u64 << 62).to_be_bytes());
            header.extend_from_slice(&[1, 2, 3, 4]);
            wire.raw(&header).await;
            wire.until_close().await
        }),
        case("6.4", "the endpoint's own 1 KiB limit: 1009", vec![close(1009)], exchange("/echo/quiet", vec![text(&"q".repeat(1025))], false)),
        case("6.5", "an upgrade request head over 8 KiB: HTTP 431", vec![Seen::Http(431)], |addr: String| async move {
            let padding = format!("X-Padding: {}\r\n", "p".repeat(9 * 1024));
            let mut wire = Wire::open(&addr, &Wire::request("/echo/raw", &padding)).await;
            vec![Seen::Http(wire.response().await)]
        }),
        case("6.6", "an upgrade to an unknown path: HTTP 404", vec![Seen::Http(404)], |addr: String| async move {
            vec![Seen::Http(Wire::connect(&addr, "/nowhere").await.err().unwrap_or(101))]
        }),
        case("6.7", "a query that does not decode: HTTP 400", vec![Seen::Http(400)], |addr: String| async move {
            vec![Seen::Http(Wire::connect(&addr, "/echo/feed?count=many").await.err().unwrap_or(101))]
        }),
        // 7 The typed layer
        case("7.1", "binary message on a text endpoint: 1003", vec![close(1003)], exchange("/echo/text", vec![(true, BINARY, vec![1, 2, 3])], false)),
        case("7.2", "invalid DTO answered with the error envelope, connection kept", vec![
            Seen::Text(r#"{"statusCode":400,"body":{"errorList":[{"loc":["text"],"type":"string_too_short","msg":"String should have at least 1 characters"}]}}"#.into()),
            Seen::Text(r#"{"type":"note","id":1,"text":"fine"}"#.into()),
            close(1000),
        ], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/json").await;
            let _welcome = wire.next().await;
            wire.frame(true, TEXT, br#"{"type":"note","id":1,"text":""}"#).await;
            wire.frame(true, TEXT, br#"{"type":"note","id":1,"text":"fine"}"#).await;
            wire.close(1000, b"").await;
            wire.until_close().await
        }),
        case("7.3", "a typed close condition: 4000 \"goodbye\"", vec![Seen::Close(Some(4000), "goodbye".into())], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/json").await;
            let _welcome = wire.next().await;
            wire.frame(true, TEXT, br#"{"type":"bye"}"#).await;
            wire.until_close().await
        }),
        case("7.5", "pushes made before a reply arrive before it", vec![
            Seen::Text(r#"{"type":"tick","n":1}"#.into()),
            Seen::Text(r#"{"type":"tick","n":2}"#.into()),
            Seen::Text(r#"{"type":"tick","n":3}"#.into()),
            Seen::Text(r#"{"type":"pushed","count":3}"#.into()),
            close(1000),
        ], |addr: String| async move {
            let mut wire = connect(&addr, "/echo/json").await;
            let _welcome = wire.next().await;
            wire.frame(true, TEXT, br#"{"type":"push","count":3}"#).await;
            wire.close(1000, b"").await;
            wire.until_close().await
        }),
        case("7.4", "pushes beyond a slow client's queue: 16 delivered, then 1013", {
            let mut seen: Vec<Seen> = (1..=16).map(|n| Seen::Text(format!(r#"{{"type":"tick","n":{n}}}"#))).collect();
            seen.push(close(1013));
            seen
        }, |addr: String| async move {
            let mut wire = connect(&addr, "/echo/feed?count=100").await;
            wire.until_close().await
        }),
    ];
    // 5.8: every code a peer may not send is answered with 1002.
    for (id, code) in [
        ("5.8.1", 0u16),
        ("5.8.2", 999),
        ("5.8.3", 1004),
        ("5.8.4", 1005),
        ("5.8.5", 1006),
        ("5.8.6", 1015),
        ("5.8.7", 1016),
        ("5.8.8", 2999),
        ("5.8.9", 5000),
    ] {
        cases.push(case(
            id,
            "a close code no peer may send: 1002",
            vec![close(1002)],
            move |addr: String| async move {
                let mut wire = connect(&addr, "/echo/raw").await;
                wire.close(code, b"").await;
                let mut seen = wire.until_close().await;
                // Which code was sent, for the report.
                if let Some(Seen::Close(_, reason)) = seen.last_mut() {
                    *reason = format!("sent {code}");
                }
                seen
            },
        ));
    }
    cases
}

#[tokio::test]
async fn the_generated_server_conforms() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(
        echo_server::handlers()
            .into_server()
            .limits(limits())
            .serve(listener),
    );
    run_suite(addr, "standalone").await;
}

/// The same cases against the endpoints mounted in an axum app (hyper does the HTTP, the
/// runtime the rest).
#[tokio::test]
async fn the_axum_mounted_server_conforms() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = echo_server::handlers()
        .into_server()
        .limits(limits())
        .into_axum()
        .unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    run_suite(addr, "axum").await;
}

/// The spec's limits, with a short close wait so that cases which never answer a close do not
/// hold the suite.
fn limits() -> wsgen_runtime::Limits {
    LIMITS.with_close_timeout(Duration::from_millis(500))
}

async fn run_suite(addr: String, mount: &str) {
    let mut report = String::from("| case | what | expected | result | |\n|---|---|---|---|---|\n");
    let mut failed = 0;
    let all = cases();
    for case in &all {
        let got = tokio::time::timeout(Duration::from_secs(20), (case.run)(addr.clone()))
            .await
            .unwrap_or_else(|_| vec![Seen::Timeout]);
        let ok = same(&case.expected, &got);
        if !ok {
            failed += 1;
        }
        let _ = writeln!(
            report,
            "| {} | {} | {} | {} | {} |",
            case.id,
            case.what,
            show(&case.expected),
            show(&got),
            if ok { "pass" } else { "FAIL" }
        );
    }
    let _ = writeln!(
        report,
        "\n{} cases, {} passed, {failed} failed",
        all.len(),
        all.len() - failed
    );
    println!("{report}");
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let _ = std::fs::create_dir_all(&target);
    let _ = std::fs::write(target.join(format!("conformance-{mount}.md")), &report);
    assert_eq!(failed, 0, "conformance failures ({mount}):\n{report}");
}
