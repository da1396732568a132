//! kstatus conditions: `Ready`, `Reconciling` and `Stalled`.
//!
//! Every Flotilla status carries a list of `metav1.Condition`s. The helpers here keep that
//! list consistent with what kstatus, `kubectl wait` and Flux users expect:
//!
//! - `Ready=True` means the last reconciliation of the current generation succeeded (for a
//!   deployer: on every targeted cluster). It is the only condition of a healthy object.
//! - `Reconciling=True` means work is in progress; `Ready` is then `Unknown`.
//! - `Stalled=True` means the object cannot make progress without a change (bad spec,
//!   dependency cycle); `Ready` is then `False`.
//!
//! `lastTransitionTime` moves only when a condition's status changes, so it says how long
//! the object has been in its current state; reason, message and `observedGeneration`
//! follow every update.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;

/// The object is fully reconciled.
pub const READY: &str = "Ready";
/// The object is being reconciled.
pub const RECONCILING: &str = "Reconciling";
/// The object cannot make progress until its spec or environment changes.
pub const STALLED: &str = "Stalled";
/// A source's artifact for its current spec is in the hub's store (Flux's
/// `ArtifactInStorage` condition); it stays True while a later fetch fails, because the
/// last artifact is still served.
pub const ARTIFACT_IN_STORAGE: &str = "ArtifactInStorage";

/// Reasons, as Flux spells them, so dashboards and alerts written for Flux keep working.
pub mod reason {
    /// The reconciliation succeeded.
    pub const SUCCEEDED: &str = "Succeeded";
    /// The reconciliation failed; it will be retried.
    pub const FAILED: &str = "Failed";
    /// The reconciliation is in progress.
    pub const PROGRESSING: &str = "Progressing";
    /// The previous attempt failed and a retry is in progress.
    pub const PROGRESSING_WITH_RETRY: &str = "ProgressingWithRetry";
    /// The object is suspended (`spec.suspend`).
    pub const SUSPENDED: &str = "Suspended";
    /// A `dependsOn` dependency is not Ready yet.
    pub const DEPENDENCY_NOT_READY: &str = "DependencyNotReady";
    /// The `dependsOn` graph has a cycle; the message names it.
    pub const DEPENDENCY_CYCLE: &str = "DependencyCycle";
    /// The source's artifact is missing or cannot be fetched.
    pub const ARTIFACT_FAILED: &str = "ArtifactFailed";
    /// Building manifests (kustomize, helm template, substitution) failed.
    pub const BUILD_FAILED: &str = "BuildFailed";
    /// Applying or dry-running manifests failed.
    pub const RECONCILIATION_FAILED: &str = "ReconciliationFailed";
    /// Applied objects did not become healthy within the timeout.
    pub const HEALTH_CHECK_FAILED: &str = "HealthCheckFailed";
    /// The spec is invalid in a way the schema cannot catch.
    pub const INVALID_SPEC: &str = "InvalidSpec";
    /// A git fetch failed.
    pub const GIT_OPERATION_FAILED: &str = "GitOperationFailed";
    /// Listing or downloading a bucket's objects failed.
    pub const BUCKET_OPERATION_FAILED: &str = "BucketOperationFailed";
    /// The hub's artifact store could not write, read or collect an artifact.
    pub const STORAGE_OPERATION_FAILED: &str = "StorageOperationFailed";
    /// Downloading or parsing a Helm repository's index failed.
    pub const INDEXATION_FAILED: &str = "IndexationFailed";
    /// Resolving, downloading or verifying a Helm chart failed.
    pub const CHART_PULL_FAILED: &str = "ChartPullFailed";
    /// Pulling an OCI artifact failed.
    pub const OCI_PULL_FAILED: &str = "OCIArtifactPullFailed";
    /// Authentication against a source failed.
    pub const AUTHENTICATION_FAILED: &str = "AuthenticationFailed";
    /// Helm install failed.
    pub const INSTALL_FAILED: &str = "InstallFailed";
    /// Helm upgrade failed.
    pub const UPGRADE_FAILED: &str = "UpgradeFailed";
    /// Helm tests failed.
    pub const TEST_FAILED: &str = "TestFailed";
    /// A workload cluster cannot be reached.
    pub const CLUSTER_UNREACHABLE: &str = "ClusterUnreachable";
    /// Objects on a cluster differ from the desired state.
    pub const DRIFT_DETECTED: &str = "DriftDetected";
}

/// The value of a condition's `status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The status as written in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::True => "True",
            Self::False => "False",
            Self::Unknown => "Unknown",
        }
    }
}

/// The condition of type `type_`, if present.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is present with status `status`.
pub fn has_status(conditions: &[Condition], type_: &str, status: Status) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == status.as_str())
}

/// Whether `Ready=True` holds for the given generation: a Ready condition observed for an
/// older generation says nothing about the current spec.
pub fn is_ready(conditions: &[Condition], generation: Option<i64>) -> bool {
    find(conditions, READY).is_some_and(|c| {
        c.status == Status::True.as_str()
            && (generation.is_none() || c.observed_generation == generation)
    })
}

/// Sets a condition, replacing any of the same type. Returns whether anything changed.
///
/// `lastTransitionTime` is kept when the status is unchanged, set to `now` otherwise.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: Status,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let wanted = |last_transition_time: Time| Condition {
        type_: type_.to_owned(),
        status: status.as_str().to_owned(),
        reason: reason.to_owned(),
        message: message.to_owned(),
        observed_generation,
        last_transition_time,
    };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let time = if existing.status == status.as_str() {
                existing.last_transition_time.clone()
            } else {
                Time(now)
            };
            let updated = wanted(time);
            if *existing == updated {
                return false;
            }
            *existing = updated;
            true
        }
        None => {
            conditions.push(wanted(Time(now)));
            true
        }
    }
}

/// Removes the condition of type `type_`. Returns whether it was present.
pub fn remove(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

/// Reconciliation started: `Reconciling=True`, `Ready=Unknown`, no `Stalled`.
pub fn mark_reconciling(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let mut changed = set(
        conditions,
        RECONCILING,
        Status::True,
        reason,
        message,
        observed_generation,
        now,
    );
    changed |= set(
        conditions,
        READY,
        Status::Unknown,
        reason,
        message,
        observed_generation,
        now,
    );
    changed | remove(conditions, STALLED)
}

/// Reconciliation succeeded: `Ready=True`, and neither `Reconciling` nor `Stalled`.
pub fn mark_ready(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    settle(
        conditions,
        Status::True,
        reason,
        message,
        observed_generation,
        now,
    )
}

/// Reconciliation failed and will be retried: `Ready=False`, no `Reconciling`. A previous
/// `Stalled` is cleared because retrying means progress is possible again.
pub fn mark_failed(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    settle(
        conditions,
        Status::False,
        reason,
        message,
        observed_generation,
        now,
    )
}

/// The end of an attempt: `Ready` takes `ready`, and the attempt's `Reconciling` and any
/// earlier `Stalled` go.
fn settle(
    conditions: &mut Vec<Condition>,
    ready: Status,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let mut changed = set(
        conditions,
        READY,
        ready,
        reason,
        message,
        observed_generation,
        now,
    );
    changed |= remove(conditions, RECONCILING);
    changed | remove(conditions, STALLED)
}

/// Reconciliation cannot progress until something changes: `Stalled=True`, `Ready=False`,
/// no `Reconciling`.
pub fn mark_stalled(
    conditions: &mut Vec<Condition>,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let mut changed = set(
        conditions,
        STALLED,
        Status::True,
        reason,
        message,
        observed_generation,
        now,
    );
    changed |= set(
        conditions,
        READY,
        Status::False,
        reason,
        message,
        observed_generation,
        now,
    );
    changed | remove(conditions, RECONCILING)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(seconds).unwrap()
    }

    #[test]
    fn transition_time_moves_only_when_status_changes() {
        let mut conditions = Vec::new();
        assert!(set(
            &mut conditions,
            READY,
            Status::False,
            reason::FAILED,
            "a",
            Some(1),
            at(10)
        ));
        assert!(set(
            &mut conditions,
            READY,
            Status::False,
            reason::BUILD_FAILED,
            "b",
            Some(2),
            at(20)
        ));
        let ready = find(&conditions, READY).unwrap();
        assert_eq!(ready.last_transition_time, Time(at(10)));
        assert_eq!(ready.reason, reason::BUILD_FAILED);
        assert_eq!(ready.message, "b");
        assert_eq!(ready.observed_generation, Some(2));

        assert!(set(
            &mut conditions,
            READY,
            Status::True,
            reason::SUCCEEDED,
            "ok",
            Some(2),
            at(30)
        ));
        assert_eq!(
            find(&conditions, READY).unwrap().last_transition_time,
            Time(at(30))
        );
        assert_eq!(conditions.len(), 1);
    }

    #[test]
    fn identical_update_reports_no_change() {
        let mut conditions = Vec::new();
        set(
            &mut conditions,
            READY,
            Status::True,
            reason::SUCCEEDED,
            "ok",
            Some(1),
            at(10),
        );
        let before = conditions.clone();
        assert!(!set(
            &mut conditions,
            READY,
            Status::True,
            reason::SUCCEEDED,
            "ok",
            Some(1),
            at(99)
        ));
        assert_eq!(conditions, before);
    }

    #[test]
    fn lifecycle_keeps_kstatus_invariants() {
        let mut conditions = Vec::new();
        mark_reconciling(
            &mut conditions,
            reason::PROGRESSING,
            "building",
            Some(3),
            at(1),
        );
        assert!(has_status(&conditions, RECONCILING, Status::True));
        assert!(has_status(&conditions, READY, Status::Unknown));
        assert!(!is_ready(&conditions, Some(3)));

        mark_stalled(
            &mut conditions,
            reason::DEPENDENCY_CYCLE,
            "a -> b -> a",
            Some(3),
            at(2),
        );
        assert!(has_status(&conditions, STALLED, Status::True));
        assert!(has_status(&conditions, READY, Status::False));
        assert!(find(&conditions, RECONCILING).is_none());

        mark_reconciling(
            &mut conditions,
            reason::PROGRESSING,
            "retry",
            Some(4),
            at(3),
        );
        assert!(find(&conditions, STALLED).is_none());

        mark_ready(
            &mut conditions,
            reason::SUCCEEDED,
            "applied",
            Some(4),
            at(4),
        );
        assert_eq!(conditions.len(), 1);
        assert!(is_ready(&conditions, Some(4)));
        assert!(
            !is_ready(&conditions, Some(5)),
            "Ready for generation 4 is stale at 5"
        );

        mark_failed(
            &mut conditions,
            reason::HEALTH_CHECK_FAILED,
            "timeout",
            Some(4),
            at(5),
        );
        assert!(has_status(&conditions, READY, Status::False));
        assert_eq!(
            find(&conditions, READY).unwrap().last_transition_time,
            Time(at(5))
        );
    }

    #[test]
    fn remove_reports_presence() {
        let mut conditions = Vec::new();
        assert!(!remove(&mut conditions, STALLED));
        mark_stalled(&mut conditions, reason::INVALID_SPEC, "bad", None, at(1));
        assert!(remove(&mut conditions, STALLED));
        assert!(find(&conditions, STALLED).is_none());
        assert!(find(&conditions, READY).is_some());
    }
}
