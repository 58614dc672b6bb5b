//! What the browser and Node tests share: the outside clients (installed once per test process
//! through `deps.rs`), a small HTTP server for a test page and its scripts that hands over the
//! report the page posts, and headless Chromium opening that page.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::process::Command;

#[path = "deps.rs"]
mod deps;

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Installs the outside clients (Python `websockets`, Node `ws`, TypeScript, Chromium) once per
/// test process; a failed install fails the test with the installer's output.
pub fn dependencies() {
    deps::ensure("interop");
}

/// Writes the TypeScript module of `spec` into `dir`, with the client core beside it; returns
/// the module's path.
pub fn write_typescript(spec: &Path, dir: &Path) -> PathBuf {
    let files = wsgen::generate_target(spec, wsgen::Target::TypeScript)
        .unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    for file in &files {
        std::fs::write(dir.join(&file.path), &file.contents).unwrap();
    }
    dir.join(&files[0].path)
}

/// Every example spec and valid test spec, in name order.
pub fn every_valid_spec() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = ["examples/specs", "tests/specs/valid"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(root().join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    specs.sort();
    specs
}

/// One file the page server serves: its URL path (the query is ignored) and where it is.
pub struct Route {
    pub path: &'static str,
    pub file: PathBuf,
    pub content_type: &'static str,
}

/// The routes of the outside-client exchange page (`tests/interop/page.html` and its script).
pub fn interop_page() -> Vec<Route> {
    vec![
        Route {
            path: "/",
            file: root().join("tests/interop/page.html"),
            content_type: "text/html; charset=utf-8",
        },
        Route {
            path: "/exchange.js",
            file: root().join("tests/interop/exchange.js"),
            content_type: "text/javascript",
        },
    ]
}

/// Serves `routes`, and hands over the body of every POST to `/report`; returns the origin.
pub async fn page_server(report: tokio::sync::mpsc::Sender<String>, routes: Vec<Route>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let routes = std::sync::Arc::new(routes);
    tokio::spawn(async move {
        // Bounded: a page makes a handful of requests (and a browser may ask for a favicon).
        for _ in 0..32 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let report = report.clone();
            let routes = routes.clone();
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut chunk = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let (head, body_start) = loop {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&chunk[..n]);
                    if let Some(end) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        break (
                            String::from_utf8_lossy(&request[..end]).into_owned(),
                            end + 4,
                        );
                    }
                };
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while request.len() < body_start + length {
                    let Ok(n) = stream.read(&mut chunk).await else {
                        return;
                    };
                    if n == 0 {
                        break;
                    }
                    request.extend_from_slice(&chunk[..n]);
                }
                let target = head.split_whitespace().nth(1).unwrap_or("/");
                let path = target.split('?').next().unwrap_or("/");
                let (status, kind, body) = if path == "/report" {
                    let body = String::from_utf8_lossy(&request[body_start..]).into_owned();
                    let _ = report.send(body).await;
                    ("200 OK", "text/plain", Vec::new())
                } else if let Some(route) = routes.iter().find(|r| r.path == path) {
                    let body = std::fs::read(&route.file).unwrap_or_default();
                    ("200 OK", route.content_type, body)
                } else {
                    ("404 Not Found", "text/plain", Vec::new())
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(head.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            });
        }
    });
    origin
}

/// Opens `page` in headless Chromium and returns the JSON report the page posts (within 90 s).
pub async fn chromium_report(
    page: &str,
    report: &mut tokio::sync::mpsc::Receiver<String>,
) -> Value {
    chromium_report_with(page, &[], report).await
}

/// [`chromium_report`], with more command-line flags for Chromium.
pub async fn chromium_report_with(
    page: &str,
    flags: &[String],
    report: &mut tokio::sync::mpsc::Receiver<String>,
) -> Value {
    let profile = tempfile::tempdir().unwrap();
    let mut browser = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--no-first-run",
            "--disable-dev-shm-usage",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(flags)
        .arg(page)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let received = tokio::time::timeout(Duration::from_secs(90), report.recv()).await;
    let _ = browser.kill().await;
    let body = match received {
        Ok(Some(body)) => body,
        _ => {
            let mut stderr = String::new();
            if let Some(mut pipe) = browser.stderr.take() {
                let _ =
                    tokio::time::timeout(Duration::from_secs(5), pipe.read_to_string(&mut stderr))
                        .await;
            }
            panic!("the page posted no report within 90s; chromium said:\n{stderr}");
        }
    };
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
}
