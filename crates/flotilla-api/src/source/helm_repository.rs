//! `HelmRepository`: a Helm chart repository, HTTP(S) index or OCI registry.

use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CloudProvider, LocalObjectReference};
use crate::schema::DURATION_PATTERN;
use crate::source::SourceStatus;

/// A Helm chart repository that HelmReleases take charts from. For `type: default` the hub
/// fetches `index.yaml` (artifact revision `sha256:<index digest>`); for `type: oci` charts
/// are pulled from the registry on demand and there is no index artifact.
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "HelmRepository",
    namespaced,
    status = "SourceStatus",
    shortname = "helmrepo",
    category = "flotilla",
    derive = "PartialEq",
    doc = "HelmRepository is a Helm chart repository (HTTP index or OCI registry) shared by the fleet.",
    printcolumn(name = "URL", type_ = "string", json_path = ".spec.url"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(
        name = "Revision",
        type_ = "string",
        json_path = ".status.artifact.revision"
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
    "rule": "(has(self.type) && self.type == 'oci') == self.url.startsWith('oci://')",
    "message": "spec.url must start with oci:// exactly when spec.type is oci",
}]))]
pub struct HelmRepositorySpec {
    /// Repository URL: `http(s)://` for an index, `oci://` for a registry.
    #[schemars(regex(pattern = r"^(http|https|oci)://.*$"), length(max = 2048))]
    pub url: String,
    /// `default` for an HTTP(S) index, `oci` for an OCI registry.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "type")]
    pub repository_type: Option<HelmRepositoryType>,
    /// Secret with `username`/`password` (and for TLS `certFile`/`keyFile`/`caFile`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with `tls.crt`, `tls.key` and `ca.crt` for TLS client authentication.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Send credentials to chart URLs on other hosts than the index's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pass_credentials: bool,
    /// Allow plain HTTP to an OCI registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Who issues OCI registry credentials; `generic` uses `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "generic"))]
    pub provider: Option<CloudProvider>,
    /// How often to fetch the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "10m"))]
    pub interval: Option<Duration>,
    /// Timeout of index and chart downloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "60s"))]
    pub timeout: Option<Duration>,
    /// Stop fetching; the last artifact stays available.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Kind of repository: `default` for an HTTP(S) index, `oci` for an OCI registry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum HelmRepositoryType {
    /// An HTTP(S) repository with an `index.yaml`.
    #[default]
    Default,
    /// An OCI registry.
    Oci,
}
