//! Why fetching a source or storing its artifact failed, and the Flux reason each failure
//! maps to in the source's `Ready` condition.
//!
//! Errors are `Clone` because one fetch may be awaited by several sources at once (see
//! [`crate::inflight`]); underlying library errors are therefore kept as their rendered
//! message. No variant ever carries a credential: URLs are redacted before they get here.

use flotilla_api::conditions::reason;
use thiserror::Error;

/// What kind of network operation failed; it picks the Flux reason of the failure (every
/// kind shares `AuthenticationFailed`, `InvalidSpec` and `ArtifactFailed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// Fetching a Git repository: `GitOperationFailed`.
    Git,
    /// Downloading or parsing a Helm repository's `index.yaml`: `IndexationFailed`.
    HelmIndex,
    /// Resolving, downloading or verifying a Helm chart (HTTP or OCI): `ChartPullFailed`.
    HelmChart,
    /// Resolving or pulling an OCI artifact: `OCIArtifactPullFailed`.
    Oci,
}

impl Operation {
    /// The Flux reason of a failed operation of this kind.
    pub fn failed_reason(self) -> &'static str {
        match self {
            Self::Git => reason::GIT_OPERATION_FAILED,
            Self::HelmIndex => reason::INDEXATION_FAILED,
            Self::HelmChart => reason::CHART_PULL_FAILED,
            Self::Oci => reason::OCI_PULL_FAILED,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Self::Git => "git operation",
            Self::HelmIndex => "fetching the Helm repository index",
            Self::HelmChart => "pulling the Helm chart",
            Self::Oci => "pulling the OCI artifact",
        }
    }
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.describe())
    }
}

/// A failed fetch or artifact write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SourceError {
    /// The server rejected the credentials (HTTP 401/403) or demanded some that were not given.
    #[error("authentication to {url} failed: {message}")]
    Authentication {
        /// The repository URL, without any user info.
        url: String,
        /// What the transport reported.
        message: String,
    },
    /// The requested branch, tag, ref, commit, chart version or artifact tag does not exist
    /// on the remote.
    #[error("{reference} not found in {url}")]
    RefNotFound {
        /// What was being fetched.
        operation: Operation,
        /// The repository URL, without any user info.
        url: String,
        /// The ref as the user wrote it, e.g. `branch 'main'`.
        reference: String,
    },
    /// A network or protocol failure talking to the remote.
    #[error("git operation on {url} failed: {message}")]
    Git {
        /// The repository URL, without any user info.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// Listing or downloading a bucket's objects failed (timeouts included); `bucket`
    /// names the bucket, its prefix and endpoint.
    #[error("{bucket}: {message}")]
    Bucket {
        /// The bucket, as [`crate::bucket::BucketSource::display`] shows it.
        bucket: String,
        /// What went wrong.
        message: String,
    },
    /// A network, protocol or verification failure of a Helm or OCI fetch (Git has its
    /// own variant).
    #[error("{operation} from {url} failed: {message}")]
    Fetch {
        /// What was being fetched.
        operation: Operation,
        /// The URL, without any user info.
        url: String,
        /// What went wrong.
        message: String,
    },
    /// The fetch did not finish within the source's timeout.
    #[error("fetching {url} timed out after {seconds}s")]
    Timeout {
        /// What was being fetched.
        operation: Operation,
        /// The repository URL, without any user info.
        url: String,
        /// The timeout that expired.
        seconds: u64,
    },
    /// The spec cannot be acted on (bad semver range, unsupported URL scheme, …).
    #[error("invalid source spec: {0}")]
    InvalidSpec(String),
    /// The content would escape the artifact directory or break the store's limits.
    #[error("artifact rejected: {0}")]
    Rejected(String),
    /// The artifact store's disk failed us.
    #[error("artifact store I/O error at {path}: {message}")]
    Io {
        /// The path being written or read.
        path: String,
        /// The I/O error.
        message: String,
    },
}

impl SourceError {
    /// The reason for the source's `Ready=False` condition, as Flux's source-controller
    /// would set it.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Authentication { .. } => reason::AUTHENTICATION_FAILED,
            Self::Git { .. } => reason::GIT_OPERATION_FAILED,
            Self::Bucket { .. } => reason::BUCKET_OPERATION_FAILED,
            Self::RefNotFound { operation, .. }
            | Self::Fetch { operation, .. }
            | Self::Timeout { operation, .. } => operation.failed_reason(),
            Self::InvalidSpec(_) => reason::INVALID_SPEC,
            Self::Rejected(_) | Self::Io { .. } => reason::ARTIFACT_FAILED,
        }
    }

    /// An I/O error at `path`.
    pub(crate) fn io(path: &std::path::Path, error: &std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            message: error.to_string(),
        }
    }
}

/// `work`'s result if it ends within `timeout`; past it, `work` is dropped and the fetch
/// fails with a [`SourceError::Timeout`] of `operation` on `url()`.
pub(crate) async fn bounded<T>(
    timeout: std::time::Duration,
    operation: Operation,
    url: impl FnOnce() -> String,
    work: impl Future<Output = Result<T, SourceError>>,
) -> Result<T, SourceError> {
    match tokio::time::timeout(timeout, work).await {
        Ok(result) => result,
        Err(_) => Err(SourceError::Timeout {
            operation,
            url: url(),
            seconds: timeout.as_secs(),
        }),
    }
}
