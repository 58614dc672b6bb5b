//! The stop signal servers listen for: Ctrl-C, and SIGTERM where there is one (what `kill`,
//! systemd, Kubernetes and Docker send), for `Server::serve_with_shutdown`.

/// Completes when the process is asked to stop: Ctrl-C (SIGINT) or, on Unix, SIGTERM.
///
/// ```no_run
/// # async fn run(server: wsgen_runtime::Server, listener: tokio::net::TcpListener) {
/// server
///     .serve_with_shutdown(listener, wsgen_runtime::shutdown_signal())
///     .await
///     .expect("serving");
/// # }
/// ```
///
/// The handlers are installed when this is called inside a Tokio runtime, not when the future
/// is first polled: call it before announcing that the server is up (printing its address,
/// reporting ready), so that a SIGTERM sent right after that stops the server gracefully
/// instead of killing it with the default action. Called outside a runtime, it installs them
/// when first polled.
///
/// As with `tokio::signal`, an installed handler stays for the life of the process: once this
/// has been called (in a runtime), SIGINT and SIGTERM no longer stop the process by default,
/// even if the future is dropped without completing. Call it where the server will await it.
/// The runtime needs its I/O driver (`#[tokio::main]` has it; a builder needs `enable_io` or
/// `enable_all`), as `tokio::signal` does: without one this panics.
///
/// If a signal handler cannot be installed (rare: the OS refused it), that signal is not
/// waited for; with neither available the future never completes, as a server without a
/// stop signal would run.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let install = || {
            (
                signal(SignalKind::interrupt()).ok(),
                signal(SignalKind::terminate()).ok(),
            )
        };
        let installed = tokio::runtime::Handle::try_current()
            .ok()
            .map(|_| install());
        async move {
            let (interrupt, terminate) = installed.unwrap_or_else(install);
            let wait = |signal: Option<tokio::signal::unix::Signal>| async move {
                match signal {
                    Some(mut signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = wait(interrupt) => {}
                () = wait(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
