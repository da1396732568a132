//! The hub process: start-up, serving, shutdown.
//!
//! Start-up order is chosen so mistakes fail fast and cheaply: the listen address is bound
//! before PostgreSQL is touched, and every failure is returned as one error for the binary
//! to print. A missing management cluster is not a failure: the hub serves without its
//! controllers and says so.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use flotilla_source::{ArtifactStore, Limits, Sources};

use crate::config::Config;
use crate::database::Database;
use crate::http::{self, AppState};
use crate::management::ManagementCluster;
use crate::metrics::Metrics;
use crate::shutdown;
use crate::sources::SourceControllers;

/// Runs the hub until SIGTERM or SIGINT.
pub async fn run(config: Config) -> anyhow::Result<()> {
    // Another crate may have installed the same provider first; either way aws-lc-rs is the
    // one provider in the graph, so the error carries nothing to act on.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {} (choose another address with --listen or FLOTILLA_LISTEN)",
                config.listen
            )
        })?;
    let address = listener
        .local_addr()
        .context("cannot read the bound address")?;

    let database = Database::open(config.database_url.as_deref()).await?;
    let metrics = Arc::new(Metrics::new());
    metrics.database_up.set(1);
    let state = AppState {
        store: database.store.clone(),
        metrics: metrics.clone(),
    };

    println!("flotilla-hub listening on http://{address} (/healthz, /readyz, /metrics)");
    println!("fleet state: {}", database.describe());
    tracing::info!(%address, "hub started");

    // Kept until exit: a temporary artifacts directory is removed when this drops.
    let (artifacts_dir, _temporary) = artifacts_dir(config.artifacts_dir.clone())?;
    let controllers = match ManagementCluster::connect(config.kubeconfig.as_deref()).await {
        Ok(cluster) => {
            let store = ArtifactStore::open(artifacts_dir.join("store"), Limits::default())
                .with_context(|| {
                    format!(
                        "cannot open the artifact store in {}",
                        artifacts_dir.display()
                    )
                })?;
            let sources = Arc::new(Sources::new(store, artifacts_dir.join("cache")));
            say(&format!(
                "management cluster: {} (source controllers on, artifacts in {})",
                cluster.url,
                artifacts_dir.display()
            ));
            Some(SourceControllers::start(
                cluster.client,
                sources,
                metrics,
                config.source_concurrency,
            ))
        }
        Err(err) => {
            say(&format!(
                "management cluster: none ({err}); source controllers are off"
            ));
            tracing::warn!(error = %err, "no management cluster; running without controllers");
            None
        }
    };

    let served = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown::requested())
        .await
        .context("HTTP server failed");
    if let Some(controllers) = controllers {
        controllers.stop().await;
    }
    let closed = database.close().await;
    tracing::info!("hub stopped");
    served.and(closed)
}

/// A line for the operator on stdout after start-up. Unlike the banner, it may find stdout
/// closed (a supervisor that read only the banner); that must not stop the hub.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{line}");
}

/// The artifacts directory: the configured one, or a temporary one (returned too, so the
/// caller keeps it alive).
fn artifacts_dir(
    configured: Option<PathBuf>,
) -> anyhow::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match configured {
        Some(dir) => Ok((dir, None)),
        None => {
            let dir = tempfile::Builder::new()
                .prefix("flotilla-artifacts-")
                .tempdir()
                .context("cannot create a temporary artifacts directory (set --artifacts-dir)")?;
            Ok((dir.path().to_owned(), Some(dir)))
        }
    }
}
