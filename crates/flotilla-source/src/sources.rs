//! The entry point for the hub's source reconcilers: one [`Sources`] per hub fetches every
//! kind of source into one [`ArtifactStore`], sharing concurrent fetches of the same
//! source.

use std::path::PathBuf;

use futures::FutureExt;
use std::sync::Arc;

use crate::bucket::{BucketFetcher, BucketSource};
use crate::error::SourceError;
use crate::git::{GitFetcher, GitSource};
use crate::inflight::InFlight;
use crate::store::{Artifact, ArtifactStore};

/// A source of any kind, ready to fetch. Helm repositories and OCI artifacts will be
/// further variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceSpec {
    /// A Git repository at a ref.
    Git(GitSource),
    /// The objects under a prefix of an S3-compatible bucket.
    Bucket(BucketSource),
}

impl SourceSpec {
    /// A key identifying what this spec fetches: equal keys share one fetch and one
    /// artifact. Credentials take part only as a digest.
    pub fn dedupe_key(&self) -> String {
        match self {
            Self::Git(git) => git.dedupe_key(),
            Self::Bucket(bucket) => bucket.dedupe_key(),
        }
    }
}

/// Fetches sources into the artifact store; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Sources {
    store: ArtifactStore,
    git: Arc<GitFetcher>,
    bucket: Arc<BucketFetcher>,
    inflight: InFlight<String, Result<Artifact, SourceError>>,
}

impl Sources {
    /// Sources stored in `store`, with fetch caches (Git repositories) under `cache_root`.
    pub fn new(store: ArtifactStore, cache_root: impl Into<PathBuf>) -> Self {
        let cache_root = cache_root.into();
        Self {
            git: Arc::new(GitFetcher::new(store.clone(), cache_root.join("git"))),
            bucket: Arc::new(BucketFetcher::new(store.clone())),
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

    /// Drops fetch caches of every source not in `live` (see [`GitFetcher::prune`] and
    /// [`BucketFetcher::prune`]); returns how many Git cache repositories were removed.
    pub fn prune(&self, live: &[SourceSpec]) -> Result<usize, SourceError> {
        let mut git = Vec::new();
        let mut bucket = Vec::new();
        for spec in live {
            match spec {
                SourceSpec::Git(source) => git.push(source),
                SourceSpec::Bucket(source) => bucket.push(source),
            }
        }
        self.bucket.prune(&bucket);
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
        };
        self.inflight.run(key, start).await
    }
}
