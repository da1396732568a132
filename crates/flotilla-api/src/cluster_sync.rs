//! `ClusterSync`: the hub's record of one workload cluster.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::LocalObjectReference;
pub use crate::fleet::DeploymentState;
use crate::references::DeployerKind;

/// One per managed Cluster API `Cluster`, with the same name and namespace, created and
/// owned by the hub: what is deployed on the cluster, at which revision, how healthy and
/// how drifted. `kubectl get clustersyncs -A` is the fleet at a glance. Users do not
/// write ClusterSyncs; the hub overwrites any change.
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "ClusterSync",
    namespaced,
    status = "ClusterSyncStatus",
    shortname = "csync",
    category = "flotilla",
    derive = "PartialEq",
    doc = "ClusterSync reports what Flotilla deployed on one Cluster API cluster and how it is doing.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Reachable", type_ = "boolean", json_path = ".status.reachable"),
    printcolumn(
        name = "Deployers",
        type_ = "integer",
        json_path = ".status.summary.deployers"
    ),
    printcolumn(
        name = "Ready-Deployers",
        type_ = "integer",
        json_path = ".status.summary.ready"
    ),
    printcolumn(
        name = "Drifted-Objects",
        type_ = "integer",
        json_path = ".status.summary.driftedObjects"
    ),
    printcolumn(name = "Last-Sync", type_ = "date", json_path = ".status.lastSyncTime"),
    printcolumn(
        name = "Kubernetes",
        type_ = "string",
        json_path = ".status.kubernetesVersion",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[kube(validation = "self.metadata.name == self.spec.clusterRef.name")]
#[serde(rename_all = "camelCase")]
pub struct ClusterSyncSpec {
    /// The Cluster API Cluster this reports on; same name and namespace as the ClusterSync.
    pub cluster_ref: LocalObjectReference,
}

impl ClusterSync {
    /// The ClusterSync for the Cluster API Cluster `name` in `namespace`.
    pub fn for_cluster(namespace: &str, name: &str) -> Self {
        let mut sync = Self::new(
            name,
            ClusterSyncSpec {
                cluster_ref: LocalObjectReference::new(name),
            },
        );
        sync.metadata.namespace = Some(namespace.to_owned());
        sync
    }
}

/// What the hub last observed on the cluster, written by the hub only.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSyncStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` is True when the cluster is reachable and every deployer on it is Ready.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Whether the hub reached the cluster's API server on its last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reachable: Option<bool>,
    /// When the hub last reached the cluster's API server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reachable_time: Option<Time>,
    /// When the hub last finished reconciling every deployer on the cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_sync_time: Option<Time>,
    /// The cluster's Kubernetes version, as its API server reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes_version: Option<String>,
    /// Counts over `deployers`.
    #[serde(default)]
    pub summary: ClusterSyncSummary,
    /// Every deployer that targets the cluster.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend(
        "x-kubernetes-list-type" = "map",
        "x-kubernetes-list-map-keys" = ["kind", "namespace", "name"]
    ))]
    pub deployers: Vec<DeployedEntry>,
}

/// Counts over a ClusterSync's deployers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSyncSummary {
    /// Deployers targeting the cluster.
    #[schemars(range(min = 0))]
    pub deployers: i32,
    /// Deployers Ready on the cluster.
    #[schemars(range(min = 0))]
    pub ready: i32,
    /// Deployers whose last attempt failed on the cluster.
    #[schemars(range(min = 0))]
    pub failed: i32,
    /// Deployers in progress or waiting on dependencies on the cluster.
    #[schemars(range(min = 0))]
    pub progressing: i32,
    /// Objects on the cluster that differ from the desired state.
    #[schemars(range(min = 0))]
    pub drifted_objects: i32,
}

impl ClusterSyncSummary {
    /// Counts the given entries.
    pub fn of(entries: &[DeployedEntry]) -> Self {
        let mut summary = Self::default();
        for entry in entries {
            summary.deployers += 1;
            match entry.state {
                DeploymentState::Ready => summary.ready += 1,
                DeploymentState::Failed => summary.failed += 1,
                DeploymentState::Progressing | DeploymentState::Waiting => summary.progressing += 1,
                DeploymentState::Suspended => {}
            }
            summary.drifted_objects += entry.drifted_objects;
        }
        summary
    }
}

/// One deployer on one cluster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeployedEntry {
    /// Kind of the deployer.
    pub kind: DeployerKind,
    /// Namespace of the deployer on the management cluster.
    pub namespace: String,
    /// Name of the deployer.
    pub name: String,
    /// Where the deployer stands on this cluster.
    pub state: DeploymentState,
    /// The revision applied on this cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The revision last attempted, when it differs from `revision`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempted_revision: Option<String>,
    /// Machine-readable reason for the state, e.g. `DependencyNotReady`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Details of the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Objects the deployer applied on this cluster.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub objects: i32,
    /// Of those, objects that differ from the desired state.
    #[serde(default)]
    #[schemars(range(min = 0))]
    pub drifted_objects: i32,
    /// When `revision` was last applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_time: Option<Time>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(state: DeploymentState, drifted_objects: i32) -> DeployedEntry {
        DeployedEntry {
            kind: DeployerKind::Kustomization,
            namespace: "fleet".into(),
            name: "apps".into(),
            state,
            revision: None,
            attempted_revision: None,
            reason: None,
            message: None,
            objects: 10,
            drifted_objects,
            last_applied_time: None,
        }
    }

    #[test]
    fn summary_counts_each_state() {
        let summary = ClusterSyncSummary::of(&[
            entry(DeploymentState::Ready, 0),
            entry(DeploymentState::Ready, 2),
            entry(DeploymentState::Failed, 1),
            entry(DeploymentState::Waiting, 0),
            entry(DeploymentState::Progressing, 0),
            entry(DeploymentState::Suspended, 0),
        ]);
        assert_eq!(
            summary,
            ClusterSyncSummary {
                deployers: 6,
                ready: 2,
                failed: 1,
                progressing: 2,
                drifted_objects: 3,
            }
        );
    }

    #[test]
    fn for_cluster_names_the_cluster() {
        let sync = ClusterSync::for_cluster("fleet", "eu-1");
        assert_eq!(sync.metadata.name.as_deref(), Some("eu-1"));
        assert_eq!(sync.metadata.namespace.as_deref(), Some("fleet"));
        assert_eq!(sync.spec.cluster_ref.name, "eu-1");
    }
}
