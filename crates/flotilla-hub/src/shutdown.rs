//! Resolves when the process is asked to stop (SIGTERM from Kubernetes, SIGINT from a terminal).

use tokio::signal::unix::{SignalKind, signal};

pub async fn requested() {
    let mut term = match signal(SignalKind::terminate()) {
        Ok(term) => term,
        Err(err) => {
            // Without a SIGTERM handler Ctrl-C still works; Kubernetes would fall back to SIGKILL.
            tracing::error!(error = %err, "cannot install SIGTERM handler");
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received, shutting down"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT received, shutting down"),
    }
}
