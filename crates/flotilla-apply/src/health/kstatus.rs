//! A port of kstatus' `status.Compute` (sigs.k8s.io/cli-utils/pkg/kstatus/status), the
//! rules Flux's health checks use, over an object as JSON.
//!
//! 1. Generic properties first: a `deletionTimestamp` means Terminating; a
//!    `status.observedGeneration` other than `metadata.generation` means InProgress; a
//!    `Reconciling=True` condition means InProgress and `Stalled=True` Failed.
//! 2. Then the rules of the built-in kinds (Deployment, StatefulSet, DaemonSet, ReplicaSet,
//!    Job, Pod, PersistentVolumeClaim, Service, PodDisruptionBudget, CRD).
//! 3. Otherwise a `Ready` condition decides (True → Current, else InProgress), and an
//!    object with none of these is Current.
//!
//! Messages are kstatus' own, so they read the same as `flux` and `kstatus` print them.

use serde_json::Value;

use super::{HealthStatus, Status};

/// How long a Pod may stay unschedulable before it counts as Failed (kstatus' window).
const SCHEDULE_WINDOW_SECONDS: i64 = 15;
/// Go's `math.MaxInt32`, the Deployment controller's "no progress deadline".
const MAX_INT32: i64 = 2_147_483_647;

/// The status of `object` (a whole object: `metadata`, `spec`, `status`), judged at
/// `now_unix` (seconds since the epoch; only the unschedulable-Pod rule looks at time).
pub fn compute(object: &Value, now_unix: i64) -> HealthStatus {
    if let Some(generic) = generic(object) {
        return generic;
    }
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.rsplit_once('/').map(|(g, _)| g))
        .unwrap_or("");
    let kind = str_at(object, "/kind").unwrap_or("");
    let specific = match (group, kind) {
        ("apps", "Deployment") => Some(deployment(object)),
        ("apps", "StatefulSet") => Some(stateful_set(object)),
        ("apps", "DaemonSet") => Some(daemon_set(object)),
        ("apps", "ReplicaSet") => Some(replica_set(object)),
        ("batch", "Job") => Some(job(object)),
        ("", "Pod") => Some(pod(object, now_unix)),
        ("", "PersistentVolumeClaim") => Some(pvc(object)),
        ("", "Service") => Some(service(object)),
        ("policy", "PodDisruptionBudget") => Some(pdb(object)),
        ("apiextensions.k8s.io", "CustomResourceDefinition") => Some(crd(object)),
        _ => None,
    };
    specific
        .or_else(|| ready_condition(object))
        .unwrap_or_else(|| current("Resource is current"))
}

/// Deletion, observedGeneration, and the standard `Reconciling`/`Stalled` conditions.
fn generic(object: &Value) -> Option<HealthStatus> {
    if object
        .pointer("/metadata/deletionTimestamp")
        .is_some_and(|t| !t.is_null())
    {
        return Some(HealthStatus::new(
            Status::Terminating,
            "Resource scheduled for deletion",
        ));
    }
    if let (Some(generation), Some(observed)) = (
        int_at(object, "/metadata/generation"),
        int_at(object, "/status/observedGeneration"),
    ) && generation != observed
    {
        let kind = str_at(object, "/kind").unwrap_or("Resource");
        return Some(in_progress(format!(
            "{kind} generation is {generation}, but latest observed generation is {observed}"
        )));
    }
    for condition in conditions(object) {
        match (condition.kind, condition.status) {
            ("Reconciling", "True") => return Some(in_progress(condition.message)),
            ("Stalled", "True") => return Some(failed(condition.message)),
            _ => {}
        }
    }
    None
}

fn deployment(object: &Value) -> HealthStatus {
    // Without a progress deadline (unset, or MaxInt32, which the controller treats as
    // none) the controller never sets `Progressing`.
    let mut progressing = int_or(object, "/spec/progressDeadlineSeconds", MAX_INT32) == MAX_INT32;
    let mut available = false;
    for c in conditions(object) {
        match c.kind {
            "Progressing" if c.reason == "ProgressDeadlineExceeded" => {
                return failed("Progress deadline exceeded");
            }
            "Progressing" if c.status == "True" && c.reason == "NewReplicaSetAvailable" => {
                progressing = true;
            }
            "Available" if c.status == "True" => available = true,
            _ => {}
        }
    }
    let spec = int_or(object, "/spec/replicas", 1);
    let replicas = int_or(object, "/status/replicas", 0);
    let updated = int_or(object, "/status/updatedReplicas", 0);
    let ready = int_or(object, "/status/readyReplicas", 0);
    let available_replicas = int_or(object, "/status/availableReplicas", 0);
    if spec > replicas {
        return in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > updated {
        return in_progress(format!("Updated: {updated}/{spec}"));
    }
    if replicas > spec {
        return in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if updated > available_replicas {
        return in_progress(format!("Available: {available_replicas}/{updated}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if !progressing {
        return in_progress("ReplicaSet not Available");
    }
    if !available {
        return in_progress("Deployment not Available");
    }
    current(format!("Deployment is available. Replicas: {replicas}"))
}

fn stateful_set(object: &Value) -> HealthStatus {
    if str_at(object, "/spec/updateStrategy/type") == Some("OnDelete") {
        return current("StatefulSet is using the ondelete update strategy");
    }
    let spec = int_or(object, "/spec/replicas", 1);
    let ready = int_or(object, "/status/readyReplicas", 0);
    let current_replicas = int_or(object, "/status/currentReplicas", 0);
    let updated = int_or(object, "/status/updatedReplicas", 0);
    let replicas = int_or(object, "/status/replicas", 0);
    if spec > replicas {
        return in_progress(format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return in_progress(format!("Pending termination: {}", replicas - spec));
    }
    if let Some(partition) = int_at(object, "/spec/updateStrategy/rollingUpdate/partition") {
        if updated < spec - partition {
            return in_progress(format!("updated: {updated}/{}", spec - partition));
        }
        return current(format!("Partitioned roll out complete. updated: {updated}"));
    }
    if spec > current_replicas {
        return in_progress(format!("current: {current_replicas}/{spec}"));
    }
    let current_revision = str_at(object, "/status/currentRevision").unwrap_or("");
    let update_revision = str_at(object, "/status/updateRevision").unwrap_or("");
    if current_revision != update_revision {
        return in_progress(format!(
            "Waiting for updated revision {update_revision} to match current {current_revision}"
        ));
    }
    current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}

fn daemon_set(object: &Value) -> HealthStatus {
    let Some(desired) = int_at(object, "/status/desiredNumberScheduled") else {
        return in_progress("Missing .status.desiredNumberScheduled");
    };
    let scheduled = int_or(object, "/status/currentNumberScheduled", 0);
    let updated = int_or(object, "/status/updatedNumberScheduled", 0);
    let available = int_or(object, "/status/numberAvailable", 0);
    let ready = int_or(object, "/status/numberReady", 0);
    if desired > scheduled {
        return in_progress(format!("Current: {scheduled}/{desired}"));
    }
    if desired > updated {
        return in_progress(format!("Updated: {updated}/{desired}"));
    }
    if desired > available {
        return in_progress(format!("Available: {available}/{desired}"));
    }
    if desired > ready {
        return in_progress(format!("Ready: {ready}/{desired}"));
    }
    current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    ))
}

fn replica_set(object: &Value) -> HealthStatus {
    if conditions(object).any(|c| c.kind == "ReplicaFailure" && c.status == "True") {
        return in_progress("Replica Failure condition. Check Pods");
    }
    let spec = int_or(object, "/spec/replicas", 1);
    let replicas = int_or(object, "/status/replicas", 0);
    let ready = int_or(object, "/status/readyReplicas", 0);
    let available = int_or(object, "/status/availableReplicas", 0);
    let labelled = int_or(object, "/status/fullyLabeledReplicas", 0);
    if spec > labelled {
        return in_progress(format!("Labelled: {labelled}/{spec}"));
    }
    if spec > available {
        return in_progress(format!("Available: {available}/{spec}"));
    }
    if spec > ready {
        return in_progress(format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        return in_progress(format!("Pending termination: {}", replicas - spec));
    }
    current(format!("ReplicaSet is available. Replicas: {replicas}"))
}

fn job(object: &Value) -> HealthStatus {
    let parallelism = int_or(object, "/spec/parallelism", 1);
    let completions = int_or(object, "/spec/completions", parallelism);
    let succeeded = int_or(object, "/status/succeeded", 0);
    let failed_pods = int_or(object, "/status/failed", 0);
    for c in conditions(object) {
        match (c.kind, c.status) {
            ("Complete", "True") => {
                return current(format!(
                    "Job Completed. succeeded: {succeeded}/{completions}"
                ));
            }
            ("Failed", "True") => {
                return failed(format!("Job Failed. failed: {failed_pods}/{completions}"));
            }
            _ => {}
        }
    }
    if object.pointer("/status/startTime").is_none() {
        return in_progress("Job not started");
    }
    let active = int_or(object, "/status/active", 0);
    in_progress(format!(
        "Job in progress. success:{succeeded}, active: {active}, failed: {failed_pods}"
    ))
}

fn pod(object: &Value, now_unix: i64) -> HealthStatus {
    match str_at(object, "/status/phase").unwrap_or("") {
        "Succeeded" => current("Pod has completed successfully"),
        "Failed" => failed("Pod has completed, but not successfully"),
        "Running" => {
            if conditions(object).any(|c| c.kind == "Ready" && c.status == "True") {
                return current("Pod is Ready");
            }
            let crashing: Vec<&str> = object
                .pointer("/status/containerStatuses")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|s| str_at(s, "/state/waiting/reason") == Some("CrashLoopBackOff"))
                .filter_map(|s| str_at(s, "/name"))
                .collect();
            if !crashing.is_empty() {
                return failed(format!(
                    "Containers in CrashLoop state: {}",
                    crashing.join(",")
                ));
            }
            in_progress("Pod is running but is not Ready")
        }
        "Pending" => {
            let unschedulable = conditions(object).any(|c| {
                c.kind == "PodScheduled" && c.status == "False" && c.reason == "Unschedulable"
            });
            if !unschedulable {
                return in_progress("Pod is in the Pending phase");
            }
            let created = str_at(object, "/metadata/creationTimestamp").and_then(unix_seconds);
            if created.is_some_and(|t| now_unix > t + SCHEDULE_WINDOW_SECONDS) {
                return failed("Pod could not be scheduled");
            }
            in_progress("Pod has not been scheduled")
        }
        "" => in_progress("Pod phase not available"),
        other => HealthStatus::new(Status::Unknown, format!("unknown phase {other}")),
    }
}

fn pvc(object: &Value) -> HealthStatus {
    match str_at(object, "/status/phase").unwrap_or("") {
        "Bound" => current("PVC is Bound"),
        phase => in_progress(format!("PVC is not Bound. phase: {phase}")),
    }
}

fn service(object: &Value) -> HealthStatus {
    let kind = str_at(object, "/spec/type").unwrap_or("ClusterIP");
    let cluster_ip = str_at(object, "/spec/clusterIP").unwrap_or("");
    if kind == "LoadBalancer" && cluster_ip.is_empty() {
        return in_progress("ClusterIP not set. Service type: LoadBalancer");
    }
    current("Service is ready")
}

fn pdb(object: &Value) -> HealthStatus {
    let healthy = int_or(object, "/status/currentHealthy", 0);
    let desired = int_or(object, "/status/desiredHealthy", 0);
    if desired > healthy {
        return in_progress(format!(
            "Budget not met. healthy replicas: {healthy}/{desired}"
        ));
    }
    current(format!(
        "Budget is met. healthy replicas: {healthy}/{desired}"
    ))
}

fn crd(object: &Value) -> HealthStatus {
    for c in conditions(object) {
        match (c.kind, c.status) {
            ("NamesAccepted", "False") => return failed(c.message),
            ("Established", "False") if c.reason != "Installing" => return failed(c.message),
            ("Established", "True") => return current("CRD is established"),
            _ => {}
        }
    }
    in_progress("Install in progress")
}

/// The `Ready` condition of any kind, if it has one.
fn ready_condition(object: &Value) -> Option<HealthStatus> {
    let ready = conditions(object).find(|c| c.kind == "Ready")?;
    Some(if ready.status == "True" {
        current("Resource is Ready")
    } else {
        in_progress(if ready.message.is_empty() {
            ready.reason
        } else {
            ready.message
        })
    })
}

/// One entry of `status.conditions`.
struct Condition<'a> {
    kind: &'a str,
    status: &'a str,
    reason: &'a str,
    message: &'a str,
}

fn conditions(object: &Value) -> impl Iterator<Item = Condition<'_>> {
    object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|c| Condition {
            kind: str_at(c, "/type").unwrap_or(""),
            status: str_at(c, "/status").unwrap_or(""),
            reason: str_at(c, "/reason").unwrap_or(""),
            message: str_at(c, "/message").unwrap_or(""),
        })
}

fn str_at<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

fn int_at(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

fn int_or(value: &Value, pointer: &str, default: i64) -> i64 {
    int_at(value, pointer).unwrap_or(default)
}

fn current(message: impl Into<String>) -> HealthStatus {
    HealthStatus::new(Status::Current, message)
}

fn in_progress(message: impl Into<String>) -> HealthStatus {
    HealthStatus::new(Status::InProgress, message)
}

fn failed(message: impl Into<String>) -> HealthStatus {
    HealthStatus::new(Status::Failed, message)
}

/// Seconds since the epoch of an RFC 3339 UTC timestamp as the API server writes them
/// (`2026-11-26T06:50:49Z`), `None` for anything else.
fn unix_seconds(timestamp: &str) -> Option<i64> {
    let (date, time) = timestamp.strip_suffix('Z')?.split_once('T')?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (year, month, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (hour, minute) = (
        t.next()?.parse::<i64>().ok()?,
        t.next()?.parse::<i64>().ok()?,
    );
    let second = t.next()?.split('.').next()?.parse::<i64>().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

#[cfg(test)]
#[path = "kstatus_tests.rs"]
mod tests;
