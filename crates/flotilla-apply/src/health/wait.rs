//! Waiting for objects to become Current: one read of every pending object per interval
//! (reads run concurrently), until all are Current, one is Failed, or the timeout passes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flotilla_api::references::ObjectKindReference;
use kube::Client;

use crate::concurrent::in_order;

use super::{HealthError, HealthStatus, ObjectHealth, Status, compute};
use crate::discovery::ApiDiscovery;
use crate::inventory::InventoryEntry;
use crate::target::Target;

/// How a [`HealthChecker`] waits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthOptions {
    /// How long objects may take to become Current (the deployer's `timeout`).
    pub timeout: Duration,
    /// How often pending objects are read again.
    pub interval: Duration,
    /// Reads in flight at once (at least one).
    pub concurrency: usize,
}

impl Default for HealthOptions {
    /// Five minutes, reading every half second, eight reads at a time.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(300),
            interval: Duration::from_millis(500),
            concurrency: 8,
        }
    }
}

/// Judges and waits for the health of objects on one cluster.
#[derive(Clone)]
pub struct HealthChecker {
    options: HealthOptions,
    discovery: ApiDiscovery,
}

impl std::fmt::Debug for HealthChecker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthChecker")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl HealthChecker {
    /// A checker reading through `client`, with default options.
    pub fn new(client: Client) -> Self {
        Self {
            options: HealthOptions::default(),
            discovery: ApiDiscovery::new(client),
        }
    }

    /// The same checker, resolving kinds through `discovery` (of the same cluster), shared
    /// with the cluster's appliers and pruners.
    pub fn with_discovery(mut self, discovery: ApiDiscovery) -> Self {
        self.discovery = discovery;
        self
    }

    /// The same checker with `options`.
    pub fn with_options(mut self, options: HealthOptions) -> Self {
        self.options = options;
        self
    }

    /// The objects a deployer's `healthChecks` name. A check without `apiVersion` is
    /// resolved by kind through discovery (the group's preferred version); a namespaced
    /// object without a namespace is looked for in `default_namespace` (the deployer's
    /// `targetNamespace`), else the client's default namespace.
    pub async fn resolve(
        &self,
        checks: &[ObjectKindReference],
        default_namespace: Option<&str>,
    ) -> Result<Vec<InventoryEntry>, HealthError> {
        let targets = self
            .discovery
            .current(|targets| {
                checks
                    .iter()
                    .all(|check| targets.serves_kind(check.api_version.as_deref(), &check.kind))
            })
            .await
            .map_err(|e| HealthError::Discovery(Box::new(e)))?;
        checks
            .iter()
            .map(|check| {
                let namespace = check.namespace.as_deref().or(default_namespace);
                let target = targets
                    .resolve_kind(check.api_version.as_deref(), &check.kind, namespace)
                    .ok_or_else(|| HealthError::NotServed {
                        kind: check.kind.clone(),
                        api_version: check.api_version.clone().unwrap_or_else(|| "*".into()),
                    })?;
                Ok(InventoryEntry {
                    group: target.resource.group.clone(),
                    kind: target.resource.kind.clone(),
                    namespace: target.namespace.clone(),
                    name: check.name.clone(),
                    version: target.resource.version.clone(),
                })
            })
            .collect()
    }

    /// Waits until every object is Current; see the module docs. Returns the status of
    /// every object as it was when it became Current. Every object is read at least once,
    /// so a zero timeout is a single look.
    pub async fn wait(&self, objects: &[InventoryEntry]) -> Result<Vec<ObjectHealth>, HealthError> {
        let targets = self
            .discovery
            .current(|targets| objects.iter().all(|o| targets.serves_entry(o)))
            .await
            .map_err(|e| HealthError::Discovery(Box::new(e)))?;
        let mut pending: Vec<(InventoryEntry, Option<Target>)> = objects
            .iter()
            .map(|o| (o.clone(), targets.resolve_entry(o)))
            .collect();
        let mut done = Vec::with_capacity(objects.len());
        let deadline = tokio::time::Instant::now() + self.options.timeout;
        loop {
            let observed: Vec<ObjectHealth> = in_order(
                pending.iter().map(|(entry, target)| async move {
                    ObjectHealth {
                        object: entry.clone(),
                        health: observe(target.as_ref(), entry).await,
                    }
                }),
                self.options.concurrency,
            )
            .await;
            if let Some(failed) = observed.iter().find(|o| o.health.status == Status::Failed) {
                return Err(HealthError::Failed(Box::new(failed.clone())));
            }
            let mut still = Vec::new();
            for (health, entry) in observed.into_iter().zip(pending) {
                if health.health.status == Status::Current {
                    done.push(health);
                } else {
                    still.push((health, entry));
                }
            }
            if still.is_empty() {
                return Ok(done);
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(HealthError::TimedOut {
                    timeout: self.options.timeout,
                    pending: still.into_iter().map(|(h, _)| h).collect(),
                });
            }
            tracing::debug!(pending = still.len(), "waiting for health");
            pending = still.into_iter().map(|(_, e)| e).collect();
            tokio::time::sleep(self.options.interval.min(deadline - now)).await;
        }
    }
}

/// The status of one object now. A failed read is Unknown (the wait reads it again).
async fn observe(target: Option<&Target>, entry: &InventoryEntry) -> HealthStatus {
    let Some(target) = target else {
        return HealthStatus::new(
            Status::NotFound,
            format!(
                "no resource serves kind {} in {}",
                entry.kind,
                entry.api_version()
            ),
        );
    };
    match target.api.get_opt(&entry.name).await {
        Ok(Some(object)) => match serde_json::to_value(&object) {
            Ok(mut value) => {
                // Reads answer without apiVersion/kind for some servers' typed paths;
                // the rules select on them.
                value["apiVersion"] = entry.api_version().into();
                value["kind"] = entry.kind.clone().into();
                compute(&value, unix_now())
            }
            Err(e) => HealthStatus::new(Status::Unknown, e.to_string()),
        },
        Ok(None) => HealthStatus::new(Status::NotFound, "Resource not found"),
        Err(e) => HealthStatus::new(Status::Unknown, format!("reading it failed: {e}")),
    }
}

/// Seconds since the epoch.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
