//! References from one object to another: sources, dependencies, health checks.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::schema::NAME_PATTERN;

/// A reference to a source, optionally in another namespace (as Flux's
/// `CrossNamespaceSourceReference`). `K` restricts which kinds the referrer accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceReference<K> {
    /// API version of the referent; `flotilla.dev/v1alpha1` when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the referent.
    pub kind: K,
    /// Name of the referent.
    #[schemars(length(min = 1, max = 253), regex(pattern = NAME_PATTERN))]
    pub name: String,
    /// Namespace of the referent; the referrer's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

impl<K> SourceReference<K> {
    /// The referent's namespace, defaulting to the referrer's.
    pub fn namespace_or<'a>(&'a self, referrer_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(referrer_namespace)
    }
}

/// Sources a Kustomization can build from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum KustomizationSourceKind {
    /// A [`crate::GitRepository`].
    GitRepository,
    /// An [`crate::OCIRepository`].
    #[serde(rename = "OCIRepository")]
    OciRepository,
    /// A [`crate::Bucket`].
    Bucket,
}

/// Sources a HelmRelease's `chart.spec` can take a chart from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ChartSourceKind {
    /// A chart repository, by chart name and version.
    HelmRepository,
    /// A chart directory in Git, by path.
    GitRepository,
    /// A chart directory in a bucket, by path.
    Bucket,
}

/// Sources a HelmRelease's `chartRef` can name: artifacts that already are a packaged chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ChartRefKind {
    /// An [`crate::OCIRepository`] whose artifact is a Helm chart.
    #[serde(rename = "OCIRepository")]
    OciRepository,
}

/// The two kinds that deploy to clusters.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
pub enum DeployerKind {
    /// A [`crate::Kustomization`].
    Kustomization,
    /// A [`crate::HelmRelease`].
    HelmRelease,
}

impl DeployerKind {
    /// The kind as written in manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Kustomization => "Kustomization",
            Self::HelmRelease => "HelmRelease",
        }
    }
}

impl fmt::Display for DeployerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A deployer this one waits for. Dependencies are evaluated per cluster: on each cluster
/// the dependent waits until the dependency is Ready on that same cluster.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct DependencyReference {
    /// Kind of the dependency; a Kustomization may depend on a HelmRelease and back.
    pub kind: DeployerKind,
    /// Name of the dependency.
    #[schemars(length(min = 1, max = 253), regex(pattern = NAME_PATTERN))]
    pub name: String,
    /// Namespace of the dependency; the dependent's namespace when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
}

impl DependencyReference {
    /// The dependency's namespace, defaulting to the dependent's.
    pub fn namespace_or<'a>(&'a self, dependent_namespace: &'a str) -> &'a str {
        self.namespace.as_deref().unwrap_or(dependent_namespace)
    }
}

/// An object on the target cluster whose health gates readiness (Flux's
/// `NamespacedObjectKindReference`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ObjectKindReference {
    /// API version of the object, e.g. `apps/v1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Kind of the object.
    #[schemars(length(min = 1))]
    pub kind: String,
    /// Name of the object.
    #[schemars(length(min = 1))]
    pub name: String,
    /// Namespace of the object, for namespaced kinds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}
