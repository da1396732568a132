//! What makes a deployer a fleet deployer: which clusters it targets, how it treats drift,
//! and the status it aggregates over its clusters.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::core::{ParseExpressionError, Selector, SelectorExt};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::common::{LocalObjectReference, Selector as ObjectSelector};
use crate::references::{DependencyReference, DeployerKind};

/// How many failing clusters a deployer's status lists; the rest are only counted.
pub const MAX_FAILING_CLUSTERS: usize = 10;

/// A deployer's `clusterSelector` cannot be turned into a selector.
#[derive(Debug, Error)]
#[error("invalid clusterSelector: {0}")]
pub struct TargetError(#[from] ParseExpressionError);

/// The clusters a deployer applies to, from `clusterSelector` and `clusterRefs`.
#[derive(Debug)]
pub enum ClusterTarget<'a> {
    /// Neither field is set: the management cluster itself, as a Flux Kustomization without
    /// `kubeConfig`. This is how a fleet's own sources and deployers are bootstrapped.
    Management,
    /// Cluster API Clusters in the deployer's namespace that match the selector or are named
    /// in `clusterRefs` (either suffices).
    Workload {
        /// Matches cluster labels; an empty selector (`{}`) matches every cluster.
        selector: Option<Selector>,
        /// Clusters named explicitly.
        names: Vec<&'a str>,
    },
}

impl<'a> ClusterTarget<'a> {
    /// Interprets a deployer's fleet fields.
    pub fn new(
        cluster_selector: Option<&LabelSelector>,
        cluster_refs: &'a [LocalObjectReference],
    ) -> Result<Self, TargetError> {
        if cluster_selector.is_none() && cluster_refs.is_empty() {
            return Ok(Self::Management);
        }
        let selector = cluster_selector
            .cloned()
            .map(Selector::try_from)
            .transpose()?;
        let names = cluster_refs.iter().map(|r| r.name.as_str()).collect();
        Ok(Self::Workload { selector, names })
    }

    /// Whether the workload cluster `name` with `labels` is targeted. Always false for
    /// [`ClusterTarget::Management`], which targets no workload cluster.
    pub fn selects(&self, name: &str, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Self::Management => false,
            Self::Workload { selector, names } => {
                names.contains(&name) || selector.as_ref().is_some_and(|s| s.matches(labels))
            }
        }
    }
}

/// Fields the hub reads the same way from both deployer kinds.
pub trait Deployer {
    /// The kind, as `dependsOn` names it.
    const KIND: DeployerKind;

    /// `spec.clusterSelector`.
    fn cluster_selector(&self) -> Option<&LabelSelector>;
    /// `spec.clusterRefs`.
    fn cluster_refs(&self) -> &[LocalObjectReference];
    /// `spec.dependsOn`.
    fn depends_on(&self) -> &[DependencyReference];
    /// `spec.driftDetection`.
    fn drift_detection(&self) -> &DriftDetection;
    /// `spec.suspend`.
    fn suspended(&self) -> bool;
    /// `spec.interval`.
    fn interval(&self) -> std::time::Duration;

    /// The clusters this deployer targets.
    fn cluster_target(&self) -> Result<ClusterTarget<'_>, TargetError> {
        ClusterTarget::new(self.cluster_selector(), self.cluster_refs())
    }
}

/// What the hub does when objects on a cluster no longer match what it applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DriftDetection {
    /// `correct` re-applies the desired state, `detect` records and reports drift but leaves
    /// it, `disabled` does neither.
    #[serde(default)]
    pub mode: DriftMode,
    /// Differences to ignore, as JSON pointers into matching objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<DriftIgnoreRule>,
}

impl DriftDetection {
    /// Whether this is the default (correct drift, ignore nothing).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// What the hub does about drift: `correct` (record and re-apply), `detect` (record and
/// report only) or `disabled`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Record drift and re-apply the desired state.
    #[default]
    Correct,
    /// Record and report drift, change nothing.
    Detect,
    /// Do not watch for drift.
    Disabled,
}

/// Fields that may differ from the desired state without counting as drift.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DriftIgnoreRule {
    /// JSON pointers (RFC 6901) to ignore, e.g. `/spec/replicas`.
    #[schemars(length(min = 1), inner(regex(pattern = r"^(/.*)?$")))]
    pub paths: Vec<String>,
    /// Objects the rule applies to; every object when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<ObjectSelector>,
}

/// Status shared by Kustomization and HelmRelease: kstatus conditions aggregated over every
/// targeted cluster, plus counts and the first failures.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeployerStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` is True when the deployer is ready on every targeted cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The revision applied on every targeted cluster; unset while clusters differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The revision most recently attempted on any cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The value of the `reconcile.flotilla.dev/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// Per-cluster outcome counts.
    #[serde(default)]
    pub clusters: ClusterCounts,
    /// The first failing clusters (at most ten), with their messages.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = MAX_FAILING_CLUSTERS))]
    pub failing_clusters: Vec<FailingCluster>,
}

/// How a deployer fares across its clusters. `ready + failed + progressing` never exceeds
/// `targeted`; `drifted` counts clusters with open drift, whatever their readiness.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClusterCounts {
    /// Clusters the deployer targets.
    #[schemars(range(min = 0))]
    pub targeted: i32,
    /// Clusters where the deployer is Ready.
    #[schemars(range(min = 0))]
    pub ready: i32,
    /// Clusters where the last attempt failed.
    #[schemars(range(min = 0))]
    pub failed: i32,
    /// Clusters where an attempt is in progress or waiting on dependencies.
    #[schemars(range(min = 0))]
    pub progressing: i32,
    /// Clusters with drifted objects.
    #[schemars(range(min = 0))]
    pub drifted: i32,
}

/// A cluster where a deployer failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct FailingCluster {
    /// Name of the Cluster API Cluster.
    pub name: String,
    /// Machine-readable reason, e.g. `HealthCheckFailed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What went wrong.
    pub message: String,
    /// When the failure was observed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Time>,
}

/// Where a deployer stands on one cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum DeploymentState {
    /// Applied and healthy.
    Ready,
    /// Being applied, or waiting for health.
    Progressing,
    /// Waiting for a `dependsOn` dependency to become Ready on this cluster.
    Waiting,
    /// The last attempt failed; it will be retried.
    Failed,
    /// The deployer is suspended.
    Suspended,
}

/// One deployer's outcome on one cluster, as the hub aggregates it into [`DeployerStatus`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOutcome {
    /// Name of the Cluster API Cluster.
    pub cluster: String,
    /// Where the deployer stands there.
    pub state: DeploymentState,
    /// The revision applied there, if any.
    pub applied_revision: Option<String>,
    /// Whether objects there differ from the desired state.
    pub drifted: bool,
    /// Machine-readable reason for the state.
    pub reason: Option<String>,
    /// Details of the state.
    pub message: Option<String>,
    /// When the cluster entered its state.
    pub since: Option<Time>,
}

impl DeployerStatus {
    /// Sets `clusters`, `lastAppliedRevision` (only when every targeted cluster runs the
    /// same revision) and `failingClusters` (the first [`MAX_FAILING_CLUSTERS`] failed
    /// clusters by name) from the outcomes on every targeted cluster.
    pub fn record_cluster_outcomes(&mut self, outcomes: &[ClusterOutcome]) {
        let count = |keep: fn(&ClusterOutcome) -> bool| {
            i32::try_from(outcomes.iter().filter(|o| keep(o)).count()).unwrap_or(i32::MAX)
        };
        self.clusters = ClusterCounts {
            targeted: count(|_| true),
            ready: count(|o| o.state == DeploymentState::Ready),
            failed: count(|o| o.state == DeploymentState::Failed),
            progressing: count(|o| {
                matches!(
                    o.state,
                    DeploymentState::Progressing | DeploymentState::Waiting
                )
            }),
            drifted: count(|o| o.drifted),
        };
        let first = outcomes.first().and_then(|o| o.applied_revision.as_ref());
        self.last_applied_revision = first
            .filter(|revision| {
                outcomes
                    .iter()
                    .all(|o| o.applied_revision.as_ref() == Some(*revision))
            })
            .cloned();
        let mut failed: Vec<&ClusterOutcome> = outcomes
            .iter()
            .filter(|o| o.state == DeploymentState::Failed)
            .collect();
        failed.sort_by(|a, b| a.cluster.cmp(&b.cluster));
        self.failing_clusters = failed
            .into_iter()
            .take(MAX_FAILING_CLUSTERS)
            .map(|o| FailingCluster {
                name: o.cluster.clone(),
                reason: o.reason.clone(),
                message: o.message.clone().unwrap_or_default(),
                since: o.since.clone(),
            })
            .collect();
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn neither_field_means_management_cluster() {
        let target = ClusterTarget::new(None, &[]).unwrap();
        assert!(matches!(target, ClusterTarget::Management));
        assert!(!target.selects("a", &labels(&[])));
    }

    #[test]
    fn empty_selector_selects_every_cluster() {
        let selector = LabelSelector::default();
        let target = ClusterTarget::new(Some(&selector), &[]).unwrap();
        assert!(target.selects("a", &labels(&[])));
        assert!(target.selects("b", &labels(&[("env", "prod")])));
    }

    #[test]
    fn selector_and_refs_are_a_union() {
        let selector = LabelSelector {
            match_labels: Some(labels(&[("env", "prod")])),
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "region".into(),
                operator: "In".into(),
                values: Some(vec!["eu".into(), "us".into()]),
            }]),
        };
        let refs = [LocalObjectReference::new("canary")];
        let target = ClusterTarget::new(Some(&selector), &refs).unwrap();
        assert!(target.selects("x", &labels(&[("env", "prod"), ("region", "eu")])));
        assert!(!target.selects("x", &labels(&[("env", "prod"), ("region", "ap")])));
        assert!(!target.selects("x", &labels(&[("env", "dev"), ("region", "eu")])));
        assert!(target.selects("canary", &labels(&[])));
    }

    #[test]
    fn refs_alone_select_only_named_clusters() {
        let refs = [LocalObjectReference::new("a")];
        let target = ClusterTarget::new(None, &refs).unwrap();
        assert!(target.selects("a", &labels(&[])));
        assert!(!target.selects("b", &labels(&[("env", "prod")])));
    }

    #[test]
    fn invalid_operator_is_an_error() {
        let selector = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "env".into(),
                operator: "Like".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert!(ClusterTarget::new(Some(&selector), &[]).is_err());
    }

    fn outcome(cluster: &str, state: DeploymentState, revision: Option<&str>) -> ClusterOutcome {
        ClusterOutcome {
            cluster: cluster.into(),
            state,
            applied_revision: revision.map(Into::into),
            drifted: false,
            reason: None,
            message: Some(format!("{cluster} message")),
            since: None,
        }
    }

    #[test]
    fn outcomes_aggregate_into_counts_revision_and_failures() {
        let mut outcomes = vec![
            outcome("c", DeploymentState::Ready, Some("main@sha1:1")),
            outcome("b", DeploymentState::Failed, Some("main@sha1:1")),
            outcome("a", DeploymentState::Failed, Some("main@sha1:1")),
            outcome("d", DeploymentState::Waiting, Some("main@sha1:1")),
            outcome("e", DeploymentState::Suspended, Some("main@sha1:1")),
        ];
        outcomes[0].drifted = true;
        let mut status = DeployerStatus::default();
        status.record_cluster_outcomes(&outcomes);
        assert_eq!(
            status.clusters,
            ClusterCounts {
                targeted: 5,
                ready: 1,
                failed: 2,
                progressing: 1,
                drifted: 1
            }
        );
        assert_eq!(status.last_applied_revision.as_deref(), Some("main@sha1:1"));
        let names: Vec<_> = status
            .failing_clusters
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(status.failing_clusters[0].message, "a message");

        outcomes[3].applied_revision = Some("main@sha1:2".into());
        status.record_cluster_outcomes(&outcomes);
        assert_eq!(status.last_applied_revision, None, "revisions differ");

        outcomes[3].applied_revision = None;
        status.record_cluster_outcomes(&outcomes);
        assert_eq!(
            status.last_applied_revision, None,
            "one cluster has nothing applied"
        );
    }

    #[test]
    fn failing_clusters_are_capped() {
        let outcomes: Vec<_> = (0..25)
            .map(|i| outcome(&format!("c{i:02}"), DeploymentState::Failed, None))
            .collect();
        let mut status = DeployerStatus::default();
        status.record_cluster_outcomes(&outcomes);
        assert_eq!(status.clusters.failed, 25);
        assert_eq!(status.failing_clusters.len(), MAX_FAILING_CLUSTERS);
        assert_eq!(status.failing_clusters[0].name, "c00");
    }
}
