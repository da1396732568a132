//! `GitRepository`: a Git repository fetched at a branch, tag, semver range or commit.

use kube::CustomResource;
use kube::core::Duration;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::LocalObjectReference;
use crate::schema::DURATION_PATTERN;
use crate::source::SourceStatus;

/// Fetches a Git repository and publishes the checkout as an artifact with revision
/// `<branch or tag>@sha1:<commit>` (or `sha1:<commit>` for a pinned commit).
// The printer columns repeat `type_ = ...`, which clippy mistakes for duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "flotilla.dev",
    version = "v1alpha1",
    kind = "GitRepository",
    namespaced,
    status = "SourceStatus",
    shortname = "gitrepo",
    category = "flotilla",
    derive = "PartialEq",
    doc = "GitRepository fetches a Git repository once for the whole fleet and publishes it as an artifact.",
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
pub struct GitRepositorySpec {
    /// Repository URL: `http://`, `https://` or `ssh://`.
    #[schemars(regex(pattern = r"^(http|https|ssh)://.*$"), length(max = 2048))]
    pub url: String,
    /// Secret with credentials: `username`/`password` or `bearerToken` for HTTPS,
    /// `identity`/`known_hosts` for SSH, optionally `ca.crt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectReference>,
    /// Who issues credentials; `generic` uses `secretRef`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<GitProvider>,
    /// How often to check for new commits.
    #[schemars(regex(pattern = DURATION_PATTERN))]
    pub interval: Duration,
    /// Timeout of Git operations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = DURATION_PATTERN), extend("default" = "60s"))]
    pub timeout: Option<Duration>,
    /// What to check out; the `master` branch when unset, as in Flux.
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "ref")]
    pub reference: Option<GitRepositoryRef>,
    /// Verify the OpenPGP signature of the commit or tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<GitRepositoryVerification>,
    /// Secret with `address`, `username`, `password` of an HTTP(S) proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proxy_secret_ref: Option<LocalObjectReference>,
    /// Paths to leave out of the artifact, in `.gitignore` format. `.git/` and common CI
    /// files are always left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ignore: Option<String>,
    /// Stop fetching; the last artifact stays available.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub suspend: bool,
    /// Check out Git submodules too.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub recurse_submodules: bool,
    /// Other GitRepositories' artifacts to copy into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<GitRepositoryInclude>,
    /// Only these directories are checked out (cone mode).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sparse_checkout: Vec<String>,
}

/// Who issues Git credentials: `generic` (from `secretRef`), `azure` or `github`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GitProvider {
    /// Credentials from `secretRef`.
    Generic,
    /// Azure DevOps with workload identity.
    Azure,
    /// A GitHub App, with its credentials in `secretRef`.
    Github,
}

/// What to check out. When several are set the most specific wins, as in Flux:
/// `commit`, then `name`, then `semver`, then `tag`, then `branch`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct GitRepositoryRef {
    /// Branch to follow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// Tag to check out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// SemVer range; the highest matching tag is checked out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A full reference name, e.g. `refs/pull/420/head`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// A commit SHA; together with `branch`, the commit must be on that branch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// OpenPGP verification of what is checked out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryVerification {
    /// What to verify.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<GitVerificationMode>,
    /// Secret whose values are the trusted public keys.
    pub secret_ref: LocalObjectReference,
}

/// What to verify: `HEAD` (the commit), `Tag` (the tag object) or `TagAndHEAD` (both).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum GitVerificationMode {
    /// The commit at HEAD of the checked-out ref.
    #[serde(rename = "HEAD")]
    Head,
    /// The tag object, for tag refs.
    Tag,
    /// Both the tag and the commit it points at.
    TagAndHEAD,
}

/// Another GitRepository's artifact copied into this one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitRepositoryInclude {
    /// The GitRepository to include.
    pub repository: LocalObjectReference,
    /// Directory of the included artifact to copy; its root when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_path: Option<String>,
    /// Where to copy it; the included repository's name when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_path: Option<String>,
}
