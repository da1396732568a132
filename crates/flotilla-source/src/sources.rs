//! The entry point for the hub's source reconcilers: one [`Sources`] per hub fetches every
//! kind of source into one [`ArtifactStore`], sharing concurrent fetches of the same
//! source.

use std::collections::HashSet;
use std::path::PathBuf;

use futures::FutureExt;
use std::sync::Arc;

use crate::bucket::{BucketFetcher, BucketSource};
use crate::error::SourceError;
use crate::git::{GitFetcher, GitSource};
use crate::helm::{HelmChartSource, HelmFetcher, HelmRepositorySource};
use crate::inflight::InFlight;
use crate::oci::{OciFetcher, OciSource};
use crate::store::{Artifact, ArtifactStore};

/// A source of any kind, ready to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A Git repository at a ref.
    Git(GitSource),
    /// The objects under a prefix of an S3-compatible bucket.
    Bucket(BucketSource),
    /// A Helm HTTP repository's `index.yaml` (a HelmRepository's own artifact).
    HelmIndex(HelmRepositorySource),
    /// A chart from a Helm repository (HTTP or OCI), by name and version constraint.
    HelmChart(HelmChartSource),
    /// An OCI artifact (an OCIRepository).
    Oci(OciSource),
}

impl SourceSpec {
    /// A key identifying what this spec fetches: equal keys share one fetch and one
    /// artifact. Credentials take part only as a digest.
    pub fn dedupe_key(&self) -> String {
        match self {
            Self::Git(git) => git.dedupe_key(),
            Self::Bucket(bucket) => bucket.dedupe_key(),
            Self::HelmIndex(repository) => format!("{}\0index", repository.dedupe_key()),
            Self::HelmChart(chart) => chart.dedupe_key(),
            Self::Oci(oci) => oci.dedupe_key(),
        }
    }
}

/// Fetches sources into the artifact store; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Sources {
    store: ArtifactStore,
    git: Arc<GitFetcher>,
    bucket: Arc<BucketFetcher>,
    helm: Arc<HelmFetcher>,
    oci: Arc<OciFetcher>,
    inflight: InFlight<String, Result<Artifact, SourceError>>,
}

impl Sources {
    /// Sources stored in `store`, with fetch caches (Git repositories) under `cache_root`.
    pub fn new(store: ArtifactStore, cache_root: impl Into<PathBuf>) -> Self {
        let cache_root = cache_root.into();
        Self {
            git: Arc::new(GitFetcher::new(store.clone(), cache_root.join("git"))),
            bucket: Arc::new(BucketFetcher::new(store.clone())),
            helm: Arc::new(HelmFetcher::new(store.clone())),
            oci: Arc::new(OciFetcher::new(store.clone())),
            store,
            inflight: InFlight::new(),
        }
    }

    /// The artifact store.
    pub fn store(&self) -> &ArtifactStore {
        &self.store
    }

    /// The Git fetcher (for its statistics).
    pub fn git(&self) -> &GitFetcher {
        &self.git
    }

    /// The bucket fetcher (for its statistics).
    pub fn bucket(&self) -> &BucketFetcher {
        &self.bucket
    }

    /// The Helm fetcher.
    pub fn helm(&self) -> &HelmFetcher {
        &self.helm
    }

    /// The OCI fetcher (for its statistics).
    pub fn oci(&self) -> &OciFetcher {
        &self.oci
    }

    /// Drops fetch caches of every source not in `live` (see [`GitFetcher::prune`] and
    /// [`BucketFetcher::prune`]); returns how many Git cache repositories were removed.
    pub fn prune(&self, live: &[SourceSpec]) -> Result<usize, SourceError> {
        let mut git = Vec::new();
        let mut bucket = Vec::new();
        let mut keys = HashSet::new();
        for spec in live {
            match spec {
                SourceSpec::Git(source) => git.push(source),
                SourceSpec::Bucket(source) => bucket.push(source),
                SourceSpec::HelmIndex(repository) => {
                    keys.insert(repository.dedupe_key());
                }
                SourceSpec::HelmChart(chart) => {
                    keys.insert(chart.repository.dedupe_key());
                    keys.insert(chart.dedupe_key());
                }
                SourceSpec::Oci(oci) => {
                    keys.insert(oci.dedupe_key());
                }
            }
        }
        self.bucket.prune(&bucket);
        self.helm.retain(&keys);
        self.oci.retain(&keys);
        self.git.prune(&git)
    }

    /// Fetches `spec`; a fetch of an equal spec already running is awaited instead of
    /// starting another.
    pub async fn fetch(&self, spec: &SourceSpec) -> Result<Artifact, SourceError> {
        let key = spec.dedupe_key();
        let start = || match spec.clone() {
            SourceSpec::Git(git) => {
                let fetcher = self.git.clone();
                async move { fetcher.fetch(&git).await.map(|f| f.artifact) }.boxed()
            }
            SourceSpec::Bucket(bucket) => {
                let fetcher = self.bucket.clone();
                async move { fetcher.fetch(&bucket).await.map(|f| f.artifact) }.boxed()
            }
            SourceSpec::HelmIndex(repository) => {
                let fetcher = self.helm.clone();
                async move { fetcher.fetch_index(&repository).await }.boxed()
            }
            SourceSpec::HelmChart(chart) => {
                let fetcher = self.helm.clone();
                async move { fetcher.fetch_chart(&chart).await }.boxed()
            }
            SourceSpec::Oci(oci) => {
                let fetcher = self.oci.clone();
                async move { fetcher.fetch(&oci).await }.boxed()
            }
        };
        self.inflight.run(key, start).await
    }
}
