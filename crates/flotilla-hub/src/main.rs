//! `flotilla-hub`: the controller binary.
//!
//! Start-up order is chosen so mistakes fail fast and cheaply: the listen address is bound
//! before PostgreSQL is touched, and every failure ends in one `error:` line and a non-zero
//! exit status instead of a panic.

mod config;
mod database;
mod http;
mod metrics;
mod shutdown;
mod telemetry;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use crate::config::Config;
use crate::database::Database;
use crate::http::AppState;
use crate::metrics::Metrics;

#[tokio::main]
async fn main() -> ExitCode {
    let config = Config::parse();
    telemetry::init(config.log_format);
    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
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
        metrics,
    };

    println!("flotilla-hub listening on http://{address} (/healthz, /readyz, /metrics)");
    println!("fleet state: {}", database.describe());
    tracing::info!(%address, "hub started");

    let served = axum::serve(listener, http::router(state))
        .with_graceful_shutdown(shutdown::requested())
        .await
        .context("HTTP server failed");
    let closed = database.close().await;
    tracing::info!("hub stopped");
    served.and(closed)
}
