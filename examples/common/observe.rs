//! What the example servers report: logs through `tracing-subscriber` when `RUST_LOG` is set
//! (`RUST_LOG=info` for connections, `debug` for every invalid message), and, when
//! `WSGEN_METRICS_ADDR` names a loopback address, the runtime's metrics in Prometheus text
//! format at `http://ADDR/metrics`.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Installs a log subscriber filtered by `RUST_LOG`, if it is set. Without it no subscriber is
/// installed and the server's tracing costs next to nothing.
pub fn logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
}

/// Serves the metrics on the loopback address in `WSGEN_METRICS_ADDR` (port 0 picks one);
/// returns the address bound, or `None` when the variable is not set.
pub async fn metrics() -> Result<Option<SocketAddr>, Box<dyn std::error::Error>> {
    let Ok(addr) = std::env::var("WSGEN_METRICS_ADDR") else {
        return Ok(None);
    };
    let addr: SocketAddr = addr.parse()?;
    if !addr.ip().is_loopback() {
        return Err(format!("WSGEN_METRICS_ADDR must be a loopback address, not {addr}").into());
    }
    let handle = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let handle = handle.clone();
            tokio::spawn(async move {
                // The request is not looked at beyond its head: every path answers the metrics.
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let body = handle.render();
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    Ok(Some(bound))
}
