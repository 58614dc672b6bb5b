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
/// If a signal handler cannot be installed (rare: the OS refused it), that signal is not
/// waited for; with neither available the future never completes, as a server without a
/// stop signal would run.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
