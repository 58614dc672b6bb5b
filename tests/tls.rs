//! `wss://` on the standalone server (the runtime's `tls` feature, rustls with `ring`): a test CA
//! and a server certificate for 127.0.0.1 are made here with rcgen, the generated echo server
//! serves them with `Server::serve_tls`, and these connect to it: the typed Rust client trusting
//! the CA through `ConnectOptions::tls`, a plain `ws://` client (fails at once), a client that
//! does not trust the CA (`ClientError::Tls`), clients that stall in or fail the TLS handshake
//! (the accept loop keeps serving), Python `websockets` and headless Chromium (trusting the
//! server's key with `--ignore-certificate-errors-spki-list`).

#[path = "common/browser.rs"]
mod browser;
mod common;
#[path = "../examples/echo/server.rs"]
mod echo_server;
#[path = "common/exchange.rs"]
mod exchange;

use std::sync::Arc;
use std::time::Duration;

use browser::{chromium_report_with, dependencies, interop_page, page_server, root};
use common::within;
use exchange::{check_exchange, run_client};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PublicKeyData,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use wsgen_generated::echo::{Command, EchoJsonClient, EchoJsonError, Event, Note};
use wsgen_runtime::{ClientError, ConnectOptions, Limits};

/// A CA, and a certificate for `127.0.0.1` and `localhost` it signed.
struct Pki {
    ca: CertificateDer<'static>,
    ca_pem: String,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
    /// The SHA-256 of the server key's SubjectPublicKeyInfo, in base64 (Chromium's pin).
    spki_sha256: String,
}

fn make_pki(name: &str) -> Pki {
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, format!("wsgen test CA {name}"));
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.signed_by(&server_key, &issuer).unwrap();
    let spki = ring::digest::digest(&ring::digest::SHA256, &server_key.subject_public_key_info());
    Pki {
        ca: ca.der().clone(),
        ca_pem: ca.pem(),
        cert: cert.der().clone(),
        key: PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
        spki_sha256: base64(spki.as_ref()),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl Pki {
    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())
            .unwrap();
        Arc::new(config)
    }

    /// A client configuration trusting this CA only.
    fn client_config(&self) -> Arc<rustls::ClientConfig> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(self.ca.clone()).unwrap();
        Arc::new(
            rustls::ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth(),
        )
    }
}

/// Serves the echo handlers over TLS on 127.0.0.1; returns the address (`127.0.0.1:port`).
async fn tls_echo(pki: &Pki, limits: Option<Limits>, origins: Option<Vec<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut server = echo_server::handlers().into_server();
    if let Some(limits) = limits {
        server = server.limits(limits);
    }
    if let Some(origins) = origins {
        server = server.allow_origins(origins);
    }
    tokio::spawn(server.serve_tls(listener, pki.server_config()));
    addr
}

/// The typed client's exchange with the echo endpoint over `wss://`.
async fn typed_exchange(addr: &str, pki: &Pki) {
    let options = ConnectOptions::default().tls(pki.client_config());
    let mut client = within(EchoJsonClient::connect_with(
        &format!("wss://{addr}"),
        options,
    ))
    .await
    .unwrap();
    assert!(matches!(
        within(client.recv()).await.unwrap(),
        Event::Welcome { session } if session > 0
    ));
    let note = Note {
        id: 7,
        text: "over TLS".to_owned(),
    };
    within(client.send(Command::Note(note.clone())))
        .await
        .unwrap();
    match within(client.recv()).await.unwrap() {
        Event::Note(echoed) => assert_eq!(echoed, note),
        other => panic!("expected the note back, got {other:?}"),
    }
    within(client.send(Command::Bye)).await.unwrap();
    assert!(
        matches!(
            within(client.closed()).await,
            ClientError::Closed(wsgen_generated::echo::EchoJsonClose::Goodbye)
        ),
        "the typed close arrives over TLS"
    );
}

#[tokio::test]
async fn the_typed_client_talks_to_the_standalone_server_over_wss() {
    let pki = make_pki("trusted");
    let addr = tls_echo(&pki, None, None).await;
    typed_exchange(&addr, &pki).await;
    // A second connection works as the first did.
    typed_exchange(&addr, &pki).await;
}

#[tokio::test]
async fn a_plain_ws_client_against_the_tls_port_fails_at_once_and_the_server_keeps_serving() {
    let pki = make_pki("plain");
    let addr = tls_echo(&pki, None, None).await;
    let started = std::time::Instant::now();
    let error = within(EchoJsonClient::connect(&format!("ws://{addr}")))
        .await
        .expect_err("a plain upgrade request is no TLS handshake");
    assert!(
        matches!(
            error,
            ClientError::WebSocket(_) | ClientError::Lost | ClientError::Refused { .. }
        ),
        "{error:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "failed at once, not after a timeout: {:?}",
        started.elapsed()
    );
    typed_exchange(&addr, &pki).await;
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_ca_gets_a_typed_tls_error() {
    let pki = make_pki("server");
    let addr = tls_echo(&pki, None, None).await;
    let unknown_issuer = |error: EchoJsonError| match error {
        ClientError::Tls(source) => {
            let rustls = source.downcast_ref::<rustls::Error>();
            assert!(
                matches!(
                    rustls,
                    Some(rustls::Error::InvalidCertificate(
                        rustls::CertificateError::UnknownIssuer
                    ))
                ),
                "{source:?}"
            );
        }
        other => panic!("expected ClientError::Tls, got {other:?}"),
    };
    // Mozilla's roots (the default) do not include the test CA.
    let error = within(EchoJsonClient::connect(&format!("wss://{addr}")))
        .await
        .unwrap_err();
    unknown_issuer(error);
    // Nor does a root store of another CA.
    let other = make_pki("other");
    let options = ConnectOptions::default().tls(other.client_config());
    let error = within(EchoJsonClient::connect_with(
        &format!("wss://{addr}"),
        options,
    ))
    .await
    .unwrap_err();
    unknown_issuer(error);
    // The server is unharmed.
    typed_exchange(&addr, &pki).await;
}

#[tokio::test]
async fn clients_that_stall_in_or_fail_the_tls_handshake_hold_up_no_one() {
    let pki = make_pki("stall");
    let timeout = Duration::from_millis(500);
    let limits = Limits::default().with_handshake_timeout(timeout);
    let addr = tls_echo(&pki, Some(limits), None).await;
    // Connected, and silent: no ClientHello.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // A ClientHello cut off in the middle.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00])
        .await
        .unwrap();
    // Garbage that is no TLS record.
    let mut garbage = TcpStream::connect(&addr).await.unwrap();
    garbage
        .write_all(b"\x00\x01 not TLS\r\n\r\n")
        .await
        .unwrap();
    // Meanwhile, a real client is served.
    let started = std::time::Instant::now();
    typed_exchange(&addr, &pki).await;
    assert!(started.elapsed() < timeout, "served while others stall");
    // The server ends the stalled handshakes after its handshake timeout, and the garbage one
    // at once.
    for (name, stream) in [
        ("garbage", &mut garbage),
        ("silent", &mut silent),
        ("stalled", &mut stalled),
    ] {
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest));
        assert!(
            read.await.is_ok(),
            "the server closed the {name} connection"
        );
    }
    assert!(
        started.elapsed() >= timeout,
        "the silent ones were given their timeout"
    );
    typed_exchange(&addr, &pki).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_websockets_completes_the_exchange_over_wss() {
    dependencies();
    let pki = make_pki("python");
    let addr = tls_echo(&pki, None, None).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, &pki.ca_pem).unwrap();
    let python = root().join("target/interop/venv/bin/python");
    let script = root().join("tests/interop/python_client.py");
    let url = format!("wss://{addr}");
    let report = run_client(
        python.clone(),
        &[script.to_str().unwrap(), &url, ca.to_str().unwrap()],
    )
    .await;
    assert!(
        report["client"]
            .as_str()
            .unwrap()
            .starts_with("python websockets")
    );
    check_exchange(&report);
    // Without the CA, Python refuses the certificate.
    let output = tokio::process::Command::new(&python)
        .args([script.to_str().unwrap(), &url])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("CERTIFICATE_VERIFY_FAILED"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headless_chromium_completes_the_exchange_over_wss() {
    dependencies();
    let pki = make_pki("chromium");
    let (report_tx, mut report_rx) = tokio::sync::mpsc::channel(1);
    let origin = page_server(report_tx, interop_page()).await;
    let allowed = tls_echo(&pki, None, Some(vec![origin.clone()])).await;
    let refusing = tls_echo(
        &pki,
        None,
        Some(vec!["https://elsewhere.example".to_owned()]),
    )
    .await;
    let page = format!("{origin}/?ws=wss://{allowed}&refused=wss://{refusing}");
    // Chromium trusts the server's key by its pin, for this profile only.
    let flags = [format!(
        "--ignore-certificate-errors-spki-list={}",
        pki.spki_sha256
    )];
    let report = chromium_report_with(&page, &flags, &mut report_rx).await;
    assert!(report.get("failure").is_none(), "{report}");
    assert!(
        report["client"].as_str().unwrap().contains("Chrome"),
        "{report}"
    );
    check_exchange(&report);
    assert_eq!(report["origin"], Value::String(origin));
    assert_eq!(
        report["refused"],
        json!({"opened": false, "code": 1006}),
        "{report}"
    );
}

#[test]
fn the_base64_of_the_pin_is_standard_base64() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(base64(b"foobar"), "Zm9vYmFy");
}

/// A `Write` that keeps what the test subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// docs/observability.md: every typed client connection's `ws_client` span has `local`, the
/// client's address (the server span's `peer`), so that both sides can be matched; over
/// `wss://` too.
#[tokio::test]
async fn the_client_span_over_wss_records_the_local_address() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // Other tests of this binary run without a subscriber: interest cached for them must not
    // hide the span from this one.
    tracing::callsite::rebuild_interest_cache();
    let pki = make_pki("span");
    let addr = tls_echo(&pki, None, None).await;
    let options = ConnectOptions::default().tls(pki.client_config());
    let client = within(EchoJsonClient::connect_with(
        &format!("wss://{addr}"),
        options,
    ))
    .await
    .unwrap();
    let _ = within(client.close()).await;
    let out = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    let connected = out
        .lines()
        .find(|l| l.contains("ws_client{") && l.contains("connected"))
        .unwrap_or_else(|| panic!("no connected event in:\n{out}"))
        .to_owned();
    assert!(
        connected.contains("local=127.0.0.1:"),
        "the wss:// client's span has no local address: {connected}"
    );
}

/// `close()` is the normal end of a connection: over `wss://` as over `ws://`, the server's
/// answer to the close ends it with `Ok`.
#[tokio::test]
async fn closing_a_wss_client_normally_is_ok() {
    let pki = make_pki("close");
    let addr = tls_echo(&pki, None, None).await;
    let options = ConnectOptions::default().tls(pki.client_config());
    let mut client = within(EchoJsonClient::connect_with(
        &format!("wss://{addr}"),
        options,
    ))
    .await
    .unwrap();
    let _welcome = within(client.recv()).await.unwrap();
    let closed = within(client.close()).await;
    assert!(closed.is_ok(), "close over wss:// ended with {closed:?}");
}

/// RFC 8446 (6.1): each party sends close_notify before closing its write side. After the
/// WebSocket close handshake the server's TLS connection ends with it, so a client reads a clean
/// end of the stream, not an unexpected end of file (truncation).
#[tokio::test]
async fn the_server_ends_a_tls_connection_with_close_notify() {
    use futures_util::StreamExt;
    use tokio_tungstenite::tungstenite::Error;
    let pki = make_pki("notify");
    let addr = tls_echo(&pki, None, None).await;
    let connector = tokio_tungstenite::Connector::Rustls(pki.client_config());
    let (mut ws, _) = within(tokio_tungstenite::connect_async_tls_with_config(
        format!("wss://{addr}/echo/text"),
        None,
        false,
        Some(connector),
    ))
    .await
    .unwrap();
    within(ws.close(None)).await.unwrap();
    let end = loop {
        match within(ws.next()).await {
            Some(Ok(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(end, None | Some(Err(Error::ConnectionClosed))),
        "the server's TLS stream ended without close_notify: {end:?}"
    );
}
