//! Sources: where deployers' content comes from. The hub fetches each source once per
//! `interval` into a content-addressed [`Artifact`] that every cluster shares; a worker
//! never fetches from Git, a registry or a bucket itself.

mod bucket;
mod git_repository;
mod helm_repository;
mod oci_repository;

pub use bucket::{Bucket, BucketProvider, BucketSpec};
pub use git_repository::{
    GitProvider, GitRepository, GitRepositoryInclude, GitRepositoryRef, GitRepositorySpec,
    GitRepositoryVerification, GitVerificationMode,
};
pub use helm_repository::{HelmRepository, HelmRepositorySpec, HelmRepositoryType};
pub use oci_repository::{
    LayerOperation, LayerSelector, OCIRepository, OCIRepositoryRef, OCIRepositorySpec,
};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::Artifact;

/// The outcome of the source's last fetch: the artifact and kstatus conditions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceStatus {
    /// The generation of the spec the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready` is True when the artifact for the current spec is in the store.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// The artifact of the last successful fetch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<Artifact>,
    /// The value of the `reconcile.flotilla.dev/requestedAt` annotation last handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::*;

    #[test]
    fn every_source_shows_revision_and_readiness() {
        for crd in [
            GitRepository::crd(),
            HelmRepository::crd(),
            OCIRepository::crd(),
            Bucket::crd(),
        ] {
            let columns = crd.spec.versions[0]
                .additional_printer_columns
                .clone()
                .unwrap_or_default();
            let paths: Vec<_> = columns.iter().map(|c| c.json_path.as_str()).collect();
            assert!(
                paths.contains(&".status.artifact.revision"),
                "{}",
                crd.spec.names.kind
            );
            assert!(
                paths.contains(&".status.conditions[?(@.type==\"Ready\")].status"),
                "{}",
                crd.spec.names.kind
            );
        }
    }
}
