//! `Kustomization`: builds a kustomize overlay from a source and applies it to clusters.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CommonMetadata, LocalObjectReference, Selector, ValuesKind};
use crate::fleet::{Deployer, DeployerStatus, DriftDetection};
use crate::references::{
    DependencyReference, DeployerKind, KustomizationSourceKind, ObjectKindReference,
    SourceReference,
};
use crate::schema::DURATION_PATTERN;

/// Builds `path` of a source's artifact with kustomize, substitutes `${var}`s per cluster,
/// and server-side applies the result to every targeted cluster, pruning what a previous
/// revision applied and this one no longer has (when `prune` is true).
///
/// Besides `postBuild.substitute` and `substituteFrom`, each cluster contributes
/// `cluster_name`, `cluster_namespace`, `cluster_label_<key>` and
/// `cluster_annotation_<key>` (keys lower-cased, other characters as `_`).
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "Kustomization",
    namespaced,
    status = "DeployerStatus",
    shortname = "ks",
    category = "flotilla",
    derive = "PartialEq",
    doc = "Kustomization builds a kustomize overlay from a source and applies it to a fleet of clusters.",
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
pub struct KustomizationSpec {
    /// The source whose artifact holds the manifests.
    pub source_ref: SourceReference<KustomizationSourceKind>,
    /// Directory in the artifact holding a `kustomization.yaml` (one is generated when
    /// absent); the artifact's root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// How often to reconcile even when nothing changed, which also corrects drift missed
    /// by the watch.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Duration,
    /// How soon to retry after a failure; `interval` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub retry_interval: Option<Duration>,
    /// Timeout of build, apply and health checks on one cluster; `interval` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub timeout: Option<Duration>,
    /// Delete objects that an earlier revision applied and this one no longer has.
    pub prune: bool,
    /// Wait for every applied object to become healthy (kstatus), instead of only
    /// `healthChecks`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
    /// Objects that must become healthy before the Kustomization is Ready on a cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub health_checks: Vec<ObjectKindReference>,
    /// Deployers that must be Ready on a cluster before this one is applied there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<DependencyReference>,
    /// Namespace set on every namespaced object (kustomize's `namespace`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub target_namespace: Option<String>,
    /// Prefix added to every object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_prefix: Option<String>,
    /// Suffix added to every object's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 200))]
    pub name_suffix: Option<String>,
    /// Strategic-merge or JSON6902 patches applied after the build.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Image overrides (kustomize's `images`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<Image>,
    /// Kustomize components, relative to `path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<String>,
    /// Variable substitution after the build.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_build: Option<PostBuild>,
    /// Labels and annotations for every applied object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_metadata: Option<CommonMetadata>,
    /// Recreate objects whose immutable fields changed instead of failing.
    #[serde(default)]
    pub force: bool,
    /// Stop reconciling; what is applied stays as it is.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// What happens to applied objects when the Kustomization is deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// Cluster API Clusters in this namespace to apply to; `{}` selects all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
    /// Clusters to apply to by name, in addition to `clusterSelector`. With neither set,
    /// the Kustomization applies to the management cluster itself.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"]))]
    pub cluster_refs: Vec<LocalObjectReference>,
    /// How drift on the clusters is handled.
    #[serde(default, skip_serializing_if = "DriftDetection::is_default")]
    pub drift_detection: DriftDetection,
}

/// A patch and the objects it applies to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Patch {
    /// A strategic-merge patch or a JSON6902 patch, as YAML or JSON.
    #[schemars(length(min = 1))]
    pub patch: String,
    /// Objects to patch; for a strategic-merge patch, the patch's own identity when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<Selector>,
}

/// An image override.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Image {
    /// Image name as it appears in the manifests.
    pub name: String,
    /// Replacement name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_name: Option<String>,
    /// Replacement tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_tag: Option<String>,
    /// Replacement digest; wins over `newTag`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `${var}` substitution after the build. Per-cluster variables are always available;
/// these add to them (and win over them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PostBuild {
    /// Variables and their values. Names match `^[_a-zA-Z][_a-zA-Z0-9]*$`. A value may use
    /// the per-cluster variables (`web.${cluster_name}.example.com`); they are expanded per
    /// cluster first.
    // Names are checked by the hub (`invalid_variable_names`), not by a CEL rule: a rule
    // over every key of an unbounded map exceeds the API server's CEL cost budget.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub substitute: BTreeMap<String, String>,
    /// ConfigMaps and Secrets (in the Kustomization's namespace, on the management cluster)
    /// whose keys become variables; later entries win, `substitute` wins over all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub substitute_from: Vec<SubstituteReference>,
}

impl PostBuild {
    /// Names in `substitute` that cannot be variables, which makes the spec invalid.
    pub fn invalid_variable_names(&self) -> Vec<&str> {
        self.substitute
            .keys()
            .map(String::as_str)
            .filter(|name| !is_variable_name(name))
            .collect()
    }
}

/// Whether `name` can be a substitution variable: `^[_a-zA-Z][_a-zA-Z0-9]*$`, as Flux's
/// substitution accepts.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// A ConfigMap or Secret whose data become substitution variables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SubstituteReference {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// Name of the object.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Tolerate a missing object instead of failing.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

/// What happens to applied objects when the Kustomization is deleted: `MirrorPrune`
/// (delete them when `prune` is true), `Delete`, `WaitForTermination` (delete and wait)
/// or `Orphan` (keep them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum DeletionPolicy {
    /// Delete applied objects when `prune` is true, keep them otherwise.
    #[default]
    MirrorPrune,
    /// Delete applied objects.
    Delete,
    /// Delete applied objects and wait until they are gone.
    WaitForTermination,
    /// Keep applied objects.
    Orphan,
}

impl Deployer for KustomizationSpec {
    const KIND: DeployerKind = DeployerKind::Kustomization;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitute_names_must_be_variable_names() {
        let post_build = PostBuild {
            substitute: ["web_host", "_x1", "web-host", "1st", "", "ünï"]
                .into_iter()
                .map(|k| (k.to_owned(), String::new()))
                .collect(),
            substitute_from: Vec::new(),
        };
        let mut invalid = post_build.invalid_variable_names();
        invalid.sort_unstable();
        assert_eq!(invalid, ["", "1st", "web-host", "ünï"]);
    }
}
