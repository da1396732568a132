//! Flotilla's Kubernetes API: the `flotilla.dev/v1alpha1` custom resources, their
//! conditions and revision strings, and the generation of their CRDs.
//!
//! The resources are shaped like Flux's so that Flux users feel at home: the same field
//! names and meanings wherever the concept is the same. What Flux lacks is the fleet:
//!
//! - **Sources** ([`GitRepository`], [`HelmRepository`], [`OCIRepository`], [`Bucket`]) are
//!   fetched once by the hub; their status carries the resulting [`Artifact`], which every
//!   cluster shares.
//! - **Deployers** ([`Kustomization`], [`HelmRelease`]) render an artifact and apply it to
//!   every cluster chosen by `clusterSelector`/`clusterRefs` (see [`fleet`]), or to the
//!   management cluster itself when neither is set. `dependsOn` names a kind, so either
//!   deployer may wait on the other, cluster by cluster.
//! - **[`ClusterSync`]** is written by the hub, one per Cluster API `Cluster`: what runs
//!   there, at which revision, how healthy and how drifted.
//!
//! Status follows kstatus ([`conditions`]): `Ready`, `Reconciling`, `Stalled` and
//! `observedGeneration`, so `kubectl wait --for=condition=Ready` works. Revisions use
//! Flux's format ([`revision`]). [`crds`] renders the CustomResourceDefinitions that are
//! checked in under `manifests/crds/`.

pub mod cluster_sync;
pub mod common;
pub mod conditions;
pub mod crds;
pub mod fleet;
pub mod helm_release;
pub mod kustomization;
pub mod references;
pub mod revision;
mod schema;
pub mod source;
pub mod well_known;

pub use cluster_sync::{ClusterSync, ClusterSyncSpec, ClusterSyncStatus};
pub use common::Artifact;
pub use fleet::{
    ClusterOutcome, ClusterTarget, Deployer, DeployerStatus, DeploymentState, DriftDetection,
    DriftMode,
};
pub use helm_release::{HelmRelease, HelmReleaseSpec};
pub use kustomization::{Kustomization, KustomizationSpec};
pub use references::{DependencyReference, DeployerKind};
pub use revision::{Digest, DigestAlgorithm, Revision, RevisionError};
pub use source::{
    Bucket, BucketSpec, GitRepository, GitRepositorySpec, HelmRepository, HelmRepositorySpec,
    OCIRepository, OCIRepositorySpec, SourceStatus,
};

/// The API group of every Flotilla resource.
pub const GROUP: &str = "flotilla.dev";
/// The one API version served so far.
pub const VERSION: &str = "v1alpha1";
/// `kubectl get flotilla -A` lists every Flotilla resource.
pub const CATEGORY: &str = "flotilla";
