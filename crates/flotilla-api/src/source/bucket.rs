//! `Bucket`: objects in an S3-compatible, GCS or Azure Blob bucket.

use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::LocalObjectReference;
use crate::schema::DURATION_PATTERN;
use crate::source::SourceStatus;

/// Downloads the objects under `prefix` of a bucket and publishes them as an artifact with
/// revision `sha256:<digest of the object list and their ETags>`.
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "Bucket",
    namespaced,
    status = "SourceStatus",
    category = "flotilla",
    derive = "PartialEq",
    doc = "Bucket downloads objects from S3-compatible, GCS or Azure storage once for the whole fleet.",
    printcolumn(name = "Endpoint", type_ = "string", json_path = ".spec.endpoint"),
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
pub struct BucketSpec {
    /// The storage API: `generic` for any S3-compatible server (MinIO), or a cloud's own.
    #[serde(default)]
    pub provider: BucketProvider,
    /// Name of the bucket.
    #[schemars(length(min = 1))]
    pub bucket_name: String,
    /// Host (and port) of the storage endpoint, e.g. `s3.amazonaws.com`.
    #[schemars(length(min = 1))]
    pub endpoint: String,
    /// Use plain HTTP.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// Region of the bucket, for providers that need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Only objects whose keys start with this prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Secret with `accesskey`/`secretkey` (generic, aws) or the provider's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Secret with `tls.crt`, `tls.key` and `ca.crt` for the endpoint's TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_secret_ref: Option<LocalObjectReference>,
    /// How often to check for changed objects.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Duration,
    /// Timeout of storage operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "60s"))]
    pub timeout: Option<Duration>,
    /// Object keys to leave out, in `.gitignore` format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop downloading; the last artifact stays available.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
}

/// The storage API: `generic` for any S3-compatible server, or `aws`, `gcp`, `azure`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BucketProvider {
    /// Any S3-compatible API with access keys.
    #[default]
    Generic,
    /// Amazon S3, with workload identity when `secretRef` is unset.
    Aws,
    /// Google Cloud Storage.
    Gcp,
    /// Azure Blob Storage.
    Azure,
}
