//! `shutdown_signal` installs its handlers when it is called, not when it is first polled: a
//! server announces its address after the call, and a SIGTERM sent right after that must stop
//! it gracefully rather than kill it (the default action). Its own test binary, since it
//! signals its own process.
#![cfg(unix)]

use std::time::Duration;

/// Whether this process catches `signal` (the `SigCgt` mask of `/proc/self/status`).
#[cfg(target_os = "linux")]
fn catches(signal: u32) -> bool {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let mask = status
        .lines()
        .find_map(|line| line.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("a SigCgt line");
    mask & (1 << (signal - 1)) != 0
}

#[tokio::test]
async fn a_sigterm_before_the_first_poll_completes_the_future() {
    #[cfg(target_os = "linux")]
    assert!(!catches(15), "nothing caught SIGTERM before the call");
    let shutdown = wsgen_runtime::shutdown_signal();
    // Not polled yet, and the handlers are in place.
    #[cfg(target_os = "linux")]
    assert!(
        catches(15) && catches(2),
        "SIGTERM and SIGINT are caught once it is called"
    );
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    tokio::time::sleep(Duration::from_millis(50)).await;
    tokio::time::timeout(Duration::from_secs(5), shutdown)
        .await
        .expect("the SIGTERM completes the future");
}
