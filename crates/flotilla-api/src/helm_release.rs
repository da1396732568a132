//! `HelmRelease`: installs and upgrades a Helm chart on clusters with the `helm` binary.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{LocalObjectReference, ValuesKind};
use crate::fleet::{Deployer, DeployerStatus, DriftDetection};
use crate::references::{
    ChartRefKind, ChartSourceKind, DependencyReference, DeployerKind, SourceReference,
};
use crate::schema::{DURATION_PATTERN, free_form_object};

/// A Helm release on every targeted cluster, managed with the real `helm` binary so that
/// `helm list` on a cluster shows it. The chart comes from `chart.spec` (a chart in a
/// HelmRepository, GitRepository or Bucket) or `chartRef` (an OCIRepository holding a
/// chart). Values are merged from `valuesFrom` in order, then `values`, and go through the
/// same per-cluster `${var}` substitution as a Kustomization's manifests.
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "HelmRelease",
    namespaced,
    status = "DeployerStatus",
    shortname = "hr",
    category = "flotilla",
    derive = "PartialEq",
    doc = "HelmRelease installs and upgrades a Helm chart on a fleet of clusters.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Clusters",
        type_ = "integer",
        json_path = ".status.clusters.targeted"
    ),
    printcolumn(
        name = "Ready-Clusters",
        type_ = "integer",
        json_path = ".status.clusters.ready"
    ),
    printcolumn(
        name = "Drifted",
        type_ = "integer",
        json_path = ".status.clusters.drifted",
        priority = 1
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.lastAppliedRevision"
    ),
    printcolumn(
        name = "Status",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].message"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{
    "rule": "has(self.chart) != has(self.chartRef)",
    "message": "exactly one of spec.chart and spec.chartRef must be set",
}]))]
pub struct HelmReleaseSpec {
    /// The chart, by name and version from a source. Exactly one of `chart` and `chartRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<HelmChartTemplate>,
    /// An OCIRepository whose artifact is the chart. Exactly one of `chart` and `chartRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart_ref: Option<SourceReference<ChartRefKind>>,
    /// Release name; `[<targetNamespace>-]<name>` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 53))]
    pub release_name: Option<String>,
    /// Namespace the release installs into; the HelmRelease's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// Namespace for Helm's release storage; `targetNamespace` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub storage_namespace: Option<String>,
    /// How often to reconcile even when nothing changed.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Duration,
    /// Timeout of each Helm action; `install.timeout` and friends override it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "5m"))]
    pub timeout: Option<Duration>,
    /// Release revisions Helm keeps; 0 means unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0), extend("default" = 5))]
    pub max_history: Option<i32>,
    /// Deployers that must be Ready on a cluster before this release is installed there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    /// Helm install settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub install: Option<Install>,
    /// Helm upgrade settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrade: Option<Upgrade>,
    /// Helm test settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<Test>,
    /// Helm rollback settings, for upgrade remediation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback: Option<Rollback>,
    /// Helm uninstall settings, for deletion and remediation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uninstall: Option<Uninstall>,
    /// ConfigMaps and Secrets to take values from, merged in order before `values`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesReference>,
    /// Values for the chart, merged over `valuesFrom`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
    /// Stop reconciling; the release stays as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Cluster API Clusters in this namespace to install on; `{}` selects all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    /// Clusters to install on by name, in addition to `clusterSelector`. With neither
    /// set, the release goes to the management cluster itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub cluster_refs: Vec<LocalObjectReference>,
    /// How drift of the release's objects on the clusters is handled.
    #[serde(default, skip_serializing_if = "DriftDetection::is_default")]
    pub drift_detection: DriftDetection,
}

/// Which chart to use, from which source (Flux's `HelmChartTemplate`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct HelmChartTemplate {
    /// The chart.
    pub spec: HelmChartSpec,
}

/// A chart and the source it comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmChartSpec {
    /// Chart name in a HelmRepository, or chart directory in a GitRepository or Bucket.
    #[schemars(length(min = 1, max = 2048))]
    pub chart: String,
    /// SemVer range of chart versions; ignored for charts from Git or a bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "*"))]
    pub version: Option<String>,
    /// The source of the chart.
    pub source_ref: SourceReference<ChartSourceKind>,
    /// How often to check the source for a new chart version; the release's `interval`
    /// when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Option<Duration>,
    /// What makes a new chart: a new `version` in Chart.yaml, or any new source revision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "ChartVersion"))]
    pub reconcile_strategy: Option<ReconcileStrategy>,
    /// Values files in the chart to merge, in order, over its `values.yaml`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Skip `valuesFiles` that the chart does not have instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_missing_values_files: bool,
}

/// What makes a new chart: a new `version` in Chart.yaml (`ChartVersion`), or any new
/// revision of the source (`Revision`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum ReconcileStrategy {
    /// A new chart version in Chart.yaml.
    #[default]
    ChartVersion,
    /// Any new revision of the source.
    Revision,
}

/// Values taken from a ConfigMap or Secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// Name of the object, in the HelmRelease's namespace.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Data key holding the values; `values.yaml` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[\-._a-zA-Z0-9]+$"), length(max = 253))]
    pub values_key: Option<String>,
    /// Put the key's value at this path (Helm `--set` syntax) instead of merging a
    /// values document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 250))]
    pub target_path: Option<String>,
    /// Tolerate a missing object or key instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// `helm install` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// Timeout of the install; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<Duration>,
    /// What to do when the install fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<InstallRemediation>,
    /// Do not wait for resources to become ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Do not run hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Do not validate rendered manifests against the cluster's OpenAPI schema.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_open_api_validation: bool,
    /// Reuse the name of a deleted release that is still in the history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub replace: bool,
    /// How to handle the chart's CRDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Create"))]
    pub crds: Option<CrdsPolicy>,
    /// Create `targetNamespace` when it does not exist.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub create_namespace: bool,
}

/// `helm upgrade` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upgrade {
    /// Timeout of the upgrade; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<Duration>,
    /// What to do when the upgrade fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediation: Option<UpgradeRemediation>,
    /// Do not wait for resources to become ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Do not run hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Do not validate rendered manifests against the cluster's OpenAPI schema.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_open_api_validation: bool,
    /// Replace resources through delete and recreate when needed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Reuse the last release's values, merged under the new ones.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub preserve_values: bool,
    /// Delete resources created by a failed upgrade.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
    /// How to handle the chart's CRDs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "Skip"))]
    pub crds: Option<CrdsPolicy>,
}

/// How Helm handles the chart's CRDs: `Skip` them, `Create` missing ones, or
/// `CreateReplace` (create and update).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum CrdsPolicy {
    /// Leave CRDs alone.
    Skip,
    /// Create missing CRDs, never update them.
    Create,
    /// Create and update CRDs.
    CreateReplace,
}

/// Remediation of a failed install.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InstallRemediation {
    /// Attempts after the first failure, each preceded by an uninstall; negative means
    /// unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    /// Do not treat failed Helm tests as an install failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// Uninstall after the last retry failed too; true when `retries` > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
}

/// Remediation of a failed upgrade.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeRemediation {
    /// Attempts after the first failure, each preceded by the `strategy`; negative means
    /// unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i32>,
    /// Do not treat failed Helm tests as an upgrade failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore_test_failures: Option<bool>,
    /// Remediate after the last retry failed too; true when `retries` > 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remediate_last_failure: Option<bool>,
    /// `rollback` to the last successful release, or `uninstall`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "rollback"))]
    pub strategy: Option<RemediationStrategy>,
}

/// What remediates a failed upgrade: `rollback` to the last successful release, or
/// `uninstall`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RemediationStrategy {
    /// Roll back to the last successful release.
    #[default]
    Rollback,
    /// Uninstall the release.
    Uninstall,
}

/// `helm test` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Test {
    /// Run the chart's tests after every install and upgrade.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable: bool,
    /// Timeout of the tests; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<Duration>,
    /// Report failed tests without failing the release.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ignore_failures: bool,
}

/// `helm rollback` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Rollback {
    /// Timeout of the rollback; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<Duration>,
    /// Do not wait for resources to become ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// Do not wait for Jobs to complete.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait_for_jobs: bool,
    /// Do not run hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Restart pods of the rolled-back resources.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recreate: bool,
    /// Replace resources through delete and recreate when needed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force: bool,
    /// Delete resources created by a failed rollback.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_on_fail: bool,
}

/// `helm uninstall` settings.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Uninstall {
    /// Timeout of the uninstall; `spec.timeout` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<Duration>,
    /// Do not run hooks.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_hooks: bool,
    /// Keep the release history.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub keep_history: bool,
    /// Do not wait for resources to be deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disable_wait: bool,
    /// How dependents of deleted resources are deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "background"))]
    pub deletion_propagation: Option<DeletionPropagation>,
}

/// How dependents of deleted resources are deleted: `background`, `foreground` or
/// `orphan`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeletionPropagation {
    /// Delete dependents in the background.
    Background,
    /// Delete dependents first.
    Foreground,
    /// Leave dependents.
    Orphan,
}

impl Deployer for HelmReleaseSpec {
    const KIND: DeployerKind = DeployerKind::HelmRelease;

    fn cluster_selector(&self) -> Option<&LabelSelector> {
        self.cluster_selector.as_ref()
    }

    fn cluster_refs(&self) -> &[LocalObjectReference] {
        &self.cluster_refs
    }

    fn depends_on(&self) -> &[DependencyReference] {
        &self.depends_on
    }

    fn drift_detection(&self) -> &DriftDetection {
        &self.drift_detection
    }

    fn suspended(&self) -> bool {
        self.suspend
    }

    fn interval(&self) -> std::time::Duration {
        self.interval.into()
    }
}
