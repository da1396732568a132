//! The admin endpoint of `kubesim serve --admin-port`: plain HTTP on loopback that injects
//! faults into clusters at run time, for tests driving a fleet in another process.
//!
//! | request | effect |
//! |---|---|
//! | `GET /clusters` | name, URL, running, partitioned, resourceVersion of each cluster |
//! | `POST /clusters/<name>/faults` + JSON [`FaultSpec`] | adds a rule ([`crate::faults`]) |
//! | `DELETE /clusters/<name>/faults` | removes every rule |
//! | `POST /clusters/<name>/drop-watches` | cuts every open watch |
//! | `POST /clusters/<name>/compact` | forced compaction: resuming watches get 410 |
//! | `POST /clusters/<name>/partition`, `…/heal` | connections cut and refused / served again |
//! | `POST /clusters/<name>/stop`, `…/restart[?wipe=true]` | stop; restart with state kept or wiped |
//!
//! Answers are JSON; an unknown cluster is 404, a bad fault 400.

use crate::faults::{Fault, FaultAction};
use crate::fleet::ClusterHandle;
use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// A fault rule as the admin endpoint takes it: exactly one of `latencyMs` and `status`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultSpec {
    /// `GET`, `PATCH` …; all methods when absent.
    pub method: Option<String>,
    /// A substring of the request path; all paths when absent.
    pub path_contains: Option<String>,
    /// Delay matching requests this long.
    pub latency_ms: Option<u64>,
    /// Answer matching requests with this status (429, 500, 503, 504 …).
    pub status: Option<u16>,
    /// `Retry-After` (and `details.retryAfterSeconds`) with `status`.
    pub retry_after_seconds: Option<u32>,
    /// Probability (0–1) of hitting a matching request.
    pub rate: Option<f64>,
    /// How many requests to hit before the rule expires.
    pub times: Option<usize>,
}

impl FaultSpec {
    /// The rule, or why the spec is not one.
    pub fn to_fault(&self) -> Result<Fault, String> {
        let mut fault = match (self.latency_ms, self.status) {
            (Some(ms), None) => Fault::latency(Duration::from_millis(ms)),
            (None, Some(code)) if (400..600).contains(&code) => Fault {
                action: FaultAction::Status {
                    code,
                    retry_after_seconds: self.retry_after_seconds,
                },
                ..Fault::status(code)
            },
            (None, Some(code)) => return Err(format!("status {code} is not an error status")),
            _ => return Err("a fault needs exactly one of latencyMs and status".to_string()),
        };
        if let Some(m) = &self.method {
            fault = fault.method(m);
        }
        if let Some(p) = &self.path_contains {
            fault = fault.path_contains(p);
        }
        if let Some(r) = self.rate {
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("rate {r} is not between 0 and 1"));
            }
            fault = fault.rate(r);
        }
        if let Some(n) = self.times {
            fault = fault.times(n);
        }
        Ok(fault)
    }
}

type Clusters = Arc<Vec<ClusterHandle>>;
type Reply = (StatusCode, Json<Value>);

fn reply(code: StatusCode, body: Value) -> Reply {
    (code, Json(body))
}

fn find(clusters: &Clusters, name: &str) -> Result<ClusterHandle, Reply> {
    clusters
        .iter()
        .find(|c| c.name() == name)
        .cloned()
        .ok_or_else(|| {
            reply(
                StatusCode::NOT_FOUND,
                json!({"error": format!("no cluster named {name:?}")}),
            )
        })
}

async fn list(State(clusters): State<Clusters>) -> Reply {
    let mut out = Vec::new();
    for c in clusters.iter() {
        out.push(json!({
            "name": c.name(),
            "url": c.server_url(),
            "running": c.is_running().await,
            "partitioned": c.is_partitioned(),
            "resourceVersion": c.resource_version(),
        }));
    }
    reply(StatusCode::OK, Value::Array(out))
}

async fn add_fault(
    State(clusters): State<Clusters>,
    Path(name): Path<String>,
    Json(spec): Json<FaultSpec>,
) -> Reply {
    let c = match find(&clusters, &name) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match spec.to_fault() {
        Ok(f) => {
            c.inject(f);
            reply(StatusCode::OK, json!({"cluster": name, "added": true}))
        }
        Err(e) => reply(StatusCode::BAD_REQUEST, json!({"error": e})),
    }
}

#[derive(Debug, Deserialize)]
struct RestartQuery {
    #[serde(default)]
    wipe: bool,
}

/// One of the no-body actions on a cluster.
async fn action(
    State(clusters): State<Clusters>,
    Path((name, action)): Path<(String, String)>,
    Query(q): Query<RestartQuery>,
) -> Reply {
    let c = match find(&clusters, &name) {
        Ok(c) => c,
        Err(r) => return r,
    };
    let result = match action.as_str() {
        "drop-watches" => {
            c.drop_watches();
            Ok(())
        }
        "compact" => {
            c.compact();
            Ok(())
        }
        "partition" | "heal" => {
            c.partition(action == "partition");
            Ok(())
        }
        "stop" => {
            c.stop().await;
            Ok(())
        }
        "restart" if q.wipe => c.restart_wiped().await,
        "restart" => c.restart().await,
        other => {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"error": format!("no action {other:?}")}),
            );
        }
    };
    match result {
        Ok(()) => reply(StatusCode::OK, json!({"cluster": name, "done": action})),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            json!({"error": e.to_string()}),
        ),
    }
}

async fn clear(State(clusters): State<Clusters>, Path(name): Path<String>) -> Reply {
    match find(&clusters, &name) {
        Ok(c) => {
            c.clear_faults();
            reply(StatusCode::OK, json!({"cluster": name, "cleared": true}))
        }
        Err(r) => r,
    }
}

/// The admin router over `clusters`.
pub fn router(clusters: Vec<ClusterHandle>) -> axum::Router {
    axum::Router::new()
        .route("/clusters", get(list))
        .route("/clusters/{name}/faults", post(add_fault))
        .route("/clusters/{name}/faults", delete(clear))
        .route("/clusters/{name}/{action}", post(action))
        .with_state(Arc::new(clusters))
}

/// Serves the admin endpoint on `listener` until the task is dropped.
pub fn spawn(
    listener: tokio::net::TcpListener,
    clusters: Vec<ClusterHandle>,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move { axum::serve(listener, router(clusters)).await })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_become_rules_or_clear_errors() {
        let spec: FaultSpec = serde_json::from_value(
            json!({"status": 429, "retryAfterSeconds": 2, "method": "patch", "rate": 0.5, "times": 3}),
        )
        .unwrap();
        let f = spec.to_fault().unwrap();
        assert_eq!(
            f.action,
            FaultAction::Status {
                code: 429,
                retry_after_seconds: Some(2)
            }
        );
        assert_eq!(
            (f.method.as_deref(), f.rate, f.times),
            (Some("PATCH"), Some(0.5), Some(3))
        );
        let both: FaultSpec =
            serde_json::from_value(json!({"status": 500, "latencyMs": 5})).unwrap();
        assert!(both.to_fault().unwrap_err().contains("exactly one"));
        let bad: FaultSpec = serde_json::from_value(json!({"status": 200})).unwrap();
        assert!(bad.to_fault().is_err());
        assert!(serde_json::from_value::<FaultSpec>(json!({"statuss": 500})).is_err());
    }
}
