//! Helm repositories and charts, as Flux's source-controller models them.
//!
//! A [`HelmRepositorySource`] is an HTTP(S) repository (an `index.yaml` listing charts) or an
//! `oci://` registry holding charts as OCI artifacts. Two things are fetched from it:
//!
//! - the **index** ([`HelmFetcher::fetch_index`], HTTP repositories only), stored as an
//!   artifact holding `index.yaml` with revision `sha256:<digest of index.yaml>`: what a
//!   HelmRepository's status shows. The parsed index is cached by that digest, so a chart
//!   fetch or a later interval that downloads the same bytes does not parse them again.
//! - a **chart** ([`HelmFetcher::fetch_chart`], a [`HelmChartSource`]: repository, chart
//!   name, version constraint): the newest version satisfying the constraint is resolved
//!   (from the index, or from the registry's tags for OCI), its package downloaded and, for
//!   HTTP, checked against the digest in the index. The package is unpacked into the
//!   artifact (`<chart name>/Chart.yaml`, … as in the `.tgz`), with revision
//!   `<version>@sha256:<digest of the .tgz>`, the same for a package served over HTTP or
//!   OCI. A chart whose resolved package has not changed is not unpacked again.
//!
//! Package URLs in the index may be absolute or relative to the repository URL (Helm's
//! rule). Credentials go only to the repository's host unless `passCredentials` is set.

mod chart;
mod download;
pub mod index;

use std::sync::Arc;
use std::time::Duration;

use flotilla_api::revision::{Digest, DigestAlgorithm, Revision};
use flotilla_api::source::{HelmRepositorySpec, HelmRepositoryType};
use sha2::{Digest as _, Sha256};

use crate::credentials::Credentials;
use crate::error::{Operation, SourceError, bounded};
use crate::oci::registry::Repository;
use crate::store::{Artifact, ArtifactStore, LastBySource};
use download::{Downloader, Get};
pub use index::{ChartVersion, IndexFile};

/// Flux's default timeout of index and chart downloads.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// The largest `index.yaml` accepted (Flux's default `--helm-index-max-size`).
pub const MAX_INDEX_BYTES: u64 = 50 * 1024 * 1024;
/// The largest chart package accepted (Flux's default `--helm-chart-max-size`).
pub const MAX_CHART_BYTES: u64 = 10 * 1024 * 1024;
/// Media type of a Helm chart's package layer in an OCI registry.
pub const CHART_LAYER_MEDIA_TYPE: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// A Helm repository: where it is and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HelmRepositorySource {
    /// `http(s)://` (an index) or `oci://` (a registry).
    pub url: String,
    /// Credentials from the repository's Secret.
    pub credentials: Credentials,
    /// PEM certificates trusted besides the system's.
    pub ca_cert: Option<String>,
    /// Send credentials to chart URLs on other hosts than the repository's.
    pub pass_credentials: bool,
    /// Plain HTTP to an OCI registry.
    pub insecure: bool,
    /// Bound on the whole fetch and on each request.
    pub timeout: Duration,
}

impl HelmRepositorySource {
    /// The repository a `HelmRepository` spec describes, with the credentials and CA the
    /// caller read from its Secrets ([`Credentials::from_secret_data`]).
    pub fn from_spec(
        spec: &HelmRepositorySpec,
        credentials: Credentials,
        ca_cert: Option<String>,
    ) -> Result<Self, SourceError> {
        let oci = spec.repository_type == Some(HelmRepositoryType::Oci);
        if oci != spec.url.starts_with("oci://") {
            return Err(SourceError::InvalidSpec(format!(
                "url {:?} must start with oci:// exactly when type is oci",
                spec.url
            )));
        }
        crate::oci::refuse_unsupported(spec.provider, false)?;
        let source = Self {
            url: spec.url.clone(),
            credentials,
            ca_cert,
            pass_credentials: spec.pass_credentials,
            insecure: spec.insecure,
            timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, Duration::from),
        };
        source.check_url()?;
        Ok(source)
    }

    /// Whether this is an OCI registry rather than an HTTP index.
    pub fn is_oci(&self) -> bool {
        self.url.starts_with("oci://")
    }

    fn check_url(&self) -> Result<(), SourceError> {
        if self.is_oci() {
            Repository::parse(&self.url).map(drop)
        } else {
            let url = reqwest::Url::parse(&self.url).map_err(|e| {
                SourceError::InvalidSpec(format!("url {:?} is invalid: {e}", self.shown_url()))
            })?;
            if !matches!(url.scheme(), "http" | "https") || !url.username().is_empty() {
                return Err(SourceError::InvalidSpec(format!(
                    "url {:?} must be http(s):// or oci://, without user info",
                    self.shown_url()
                )));
            }
            Ok(())
        }
    }

    /// The URL as it may appear in messages.
    fn shown_url(&self) -> String {
        crate::git::redact_url(&self.url)
    }

    /// A key identifying the repository and the credentials used on it.
    pub fn dedupe_key(&self) -> String {
        format!(
            "helm\0{}\0{}\0{}\0{}\0{}",
            self.url,
            self.credentials.fingerprint(),
            self.ca_cert.as_deref().unwrap_or(""),
            self.pass_credentials,
            self.insecure
        )
    }

    /// `index.yaml`'s URL (Helm: the repository URL with `/index.yaml` appended).
    fn index_url(&self) -> String {
        format!("{}/index.yaml", self.url.trim_end_matches('/'))
    }
}

/// A chart to pull from a Helm repository (a HelmRelease's `chart.spec`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HelmChartSource {
    /// The repository.
    pub repository: HelmRepositorySource,
    /// The chart's name.
    pub chart: String,
    /// A version or constraint (Flux/Masterminds syntax); empty means the newest release.
    pub version: String,
}

impl HelmChartSource {
    /// A key identifying what this source fetches: equal keys get the same artifact.
    pub fn dedupe_key(&self) -> String {
        format!(
            "{}\0chart\0{}\0{}",
            self.repository.dedupe_key(),
            self.chart,
            self.version
        )
    }

    fn describe(&self) -> String {
        let version = if self.version.is_empty() {
            "*"
        } else {
            &self.version
        };
        format!("chart {:?} version {version:?}", self.chart)
    }
}

/// A parsed index and the digest of the bytes it was parsed from.
#[derive(Debug, Clone)]
struct CachedIndex {
    digest: Digest,
    index: Arc<IndexFile>,
}

/// Fetches Helm indexes and charts into an [`ArtifactStore`].
#[derive(Debug)]
pub struct HelmFetcher {
    store: ArtifactStore,
    /// The last parsed index of each repository, by [`HelmRepositorySource::dedupe_key`].
    indexes: LastBySource<CachedIndex>,
    /// Each chart source's last artifact, by [`HelmChartSource::dedupe_key`].
    charts: LastBySource<Artifact>,
}

impl HelmFetcher {
    /// A fetcher writing into `store`.
    pub fn new(store: ArtifactStore) -> Self {
        Self {
            store,
            indexes: LastBySource::default(),
            charts: LastBySource::default(),
        }
    }

    /// Forgets cached indexes and chart artifacts of sources whose keys are not in `live`.
    pub(crate) fn retain(&self, live: &std::collections::HashSet<String>) {
        self.indexes.retain(live);
        self.charts.retain(live);
    }

    /// Downloads `repository`'s index and stores it as an artifact holding `index.yaml`,
    /// revision `sha256:<digest of index.yaml>`.
    pub async fn fetch_index(
        &self,
        repository: &HelmRepositorySource,
    ) -> Result<Artifact, SourceError> {
        if repository.is_oci() {
            return Err(SourceError::InvalidSpec(format!(
                "{} is an OCI registry, which has no index",
                repository.url
            )));
        }
        repository.check_url()?;
        let work = async {
            let (bytes, cached) = self
                .download_index(repository, Operation::HelmIndex)
                .await?;
            let store = self.store.clone();
            tokio::task::spawn_blocking(move || {
                let mut writer = store.writer()?;
                writer.add_file(b"index.yaml", false, &bytes)?;
                writer.finish(Revision::digest_only(cached.digest))
            })
            .await
            .map_err(|e| SourceError::Rejected(format!("storing the index failed: {e}")))?
        };
        let url = || repository.shown_url();
        bounded(repository.timeout, Operation::HelmIndex, url, work).await
    }

    /// Downloads `index.yaml`; parses it unless its digest is that of the cached one.
    /// Download failures count as `operation` (a chart fetch fails as a chart pull).
    async fn download_index(
        &self,
        repository: &HelmRepositorySource,
        operation: Operation,
    ) -> Result<(Vec<u8>, CachedIndex), SourceError> {
        let downloader = Downloader::new(repository.ca_cert.as_deref(), repository.timeout)?;
        let url = repository.index_url();
        let shown = crate::git::redact_url(&url);
        let bytes = downloader
            .get(&Get {
                url: &url,
                shown_url: &shown,
                credentials: &repository.credentials,
                operation,
                what: "index.yaml",
                max_bytes: MAX_INDEX_BYTES,
            })
            .await?;
        let digest = sha256(&bytes);
        let key = repository.dedupe_key();
        let cached = self.indexes.get(&key).filter(|c| c.digest == digest);
        let cached = match cached {
            Some(cached) => cached,
            None => {
                let index = IndexFile::parse(&bytes, &shown)?;
                let cached = CachedIndex {
                    digest,
                    index: Arc::new(index),
                };
                self.indexes.insert(key, cached.clone());
                cached
            }
        };
        Ok((bytes, cached))
    }
}

fn sha256(bytes: &[u8]) -> Digest {
    let hex: String = Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // A SHA-256 is always 64 lowercase hex characters: the digest is valid by construction.
    Digest::new(DigestAlgorithm::Sha256, hex).unwrap_or_else(|_| unreachable!())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_from_a_helmrepository_spec() {
        let spec = |value: serde_json::Value| -> HelmRepositorySpec {
            serde_json::from_value(value).unwrap()
        };
        let http = HelmRepositorySource::from_spec(
            &spec(serde_json::json!({"url": "https://charts.example/stable", "timeout": "15s"})),
            Credentials::basic("u", "p"),
            None,
        )
        .unwrap();
        assert!(!http.is_oci());
        assert_eq!(http.timeout, Duration::from_secs(15));
        assert_eq!(http.index_url(), "https://charts.example/stable/index.yaml");
        let oci = HelmRepositorySource::from_spec(
            &spec(serde_json::json!({"url": "oci://ghcr.io/org/charts", "type": "oci"})),
            Credentials::Anonymous,
            None,
        )
        .unwrap();
        assert!(oci.is_oci());
        assert_eq!(oci.timeout, DEFAULT_TIMEOUT);
        for refused in [
            serde_json::json!({"url": "oci://ghcr.io/org/charts"}),
            serde_json::json!({"url": "https://charts.example", "type": "oci"}),
            serde_json::json!({"url": "https://u:p@charts.example"}),
            serde_json::json!({"url": "https://charts.example", "provider": "azure"}),
        ] {
            let err = HelmRepositorySource::from_spec(
                &spec(refused.clone()),
                Credentials::Anonymous,
                None,
            );
            assert!(
                matches!(err, Err(SourceError::InvalidSpec(_))),
                "{refused}: {err:?}"
            );
        }
    }
}
