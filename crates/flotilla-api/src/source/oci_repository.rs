//! `OCIRepository`: an OCI artifact (manifests bundle or Helm chart) in a registry.

use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{CloudProvider, LocalObjectReference};
use crate::schema::DURATION_PATTERN;
use crate::source::SourceStatus;

/// Pulls an OCI artifact and publishes one of its layers as an artifact with revision
/// `<tag>@sha256:<manifest digest>` (or `sha256:<digest>` when pinned by digest).
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "OCIRepository",
    plural = "ocirepositories",
    namespaced,
    status = "SourceStatus",
    shortname = "ocirepo",
    category = "flotilla",
    derive = "PartialEq",
    doc = "OCIRepository pulls an OCI artifact once for the whole fleet and publishes it as an artifact.",
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
pub struct OCIRepositorySpec {
    /// Artifact URL without tag or digest, e.g. `oci://ghcr.io/org/manifests`.
    #[schemars(regex(pattern = r"^oci://.*$"), length(max = 2048))]
    pub url: String,
    /// Which version to pull; the `latest` tag when unset, as in Flux.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    pub reference: Option<OCIRepositoryRef>,
    /// Which layer becomes the artifact; the first layer, extracted, when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layer_selector: Option<LayerSelector>,
    /// Who issues registry credentials; `generic` uses `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("default" = "generic"))]
    pub provider: Option<CloudProvider>,
    /// A `kubernetes.io/dockerconfigjson` Secret with registry credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with `tls.crt`, `tls.key` and `ca.crt` for the registry's TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// Secret with `address`, `username`, `password` of an HTTP(S) proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// Allow plain HTTP to the registry.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// How often to check for a new version.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Duration,
    /// Timeout of registry operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "60s"))]
    pub timeout: Option<Duration>,
    /// Paths to leave out of the artifact, in `.gitignore` format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop pulling; the last artifact stays available.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// Which version to pull. `digest` wins over `semver`, which wins over `tag`, as in Flux.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.tag) || has(self.semver) || has(self.digest)",
        "message": "ref must set tag, semver or digest",
    },
    {
        "rule": "!has(self.semverFilter) || has(self.semver)",
        "message": "ref.semverFilter requires ref.semver",
    },
]))]
pub struct OCIRepositoryRef {
    /// Image digest, e.g. `sha256:<hex>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^sha(256|384|512):[a-f0-9]+$"))]
    pub digest: Option<String>,
    /// SemVer range; the highest matching tag is pulled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// Regular expression that tags must match to be considered for `semver`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver_filter: Option<String>,
    /// Tag to pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// Chooses the layer that becomes the artifact.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LayerSelector {
    /// Media type of the layer; the first layer when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// `extract` unpacks the layer (a tarball), `copy` stores it as is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<LayerOperation>,
}

/// What to do with the selected layer: `extract` its tarball, or `copy` it as is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LayerOperation {
    /// Unpack the layer's tarball.
    #[default]
    Extract,
    /// Keep the layer as a file.
    Copy,
}
