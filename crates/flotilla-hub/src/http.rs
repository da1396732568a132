//! The hub's HTTP surface: probes and metrics (the `/api/v1` routes join with the workers).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use flotilla_store::Store;

use crate::metrics::Metrics;

/// How long `/readyz` waits for PostgreSQL before calling the hub not ready.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub metrics: Arc<Metrics>,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

/// Liveness: the process serves requests. Deliberately independent of PostgreSQL, so a
/// database outage makes the hub unready (and degraded) rather than restarted in a loop.
async fn healthz() -> &'static str {
    "ok"
}

async fn readyz(State(state): State<AppState>) -> Response {
    let problem = match tokio::time::timeout(READINESS_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(format!("database unavailable: {err}")),
        Err(_) => Some(format!(
            "database did not answer within {READINESS_TIMEOUT:?}"
        )),
    };
    state.metrics.database_up.set(i64::from(problem.is_none()));
    match problem {
        None => (StatusCode::OK, "ok").into_response(),
        Some(body) => (StatusCode::SERVICE_UNAVAILABLE, body).into_response(),
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    match state.metrics.render() {
        Ok(body) => (
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        )
            .into_response(),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}
