//! Git sources, fetched with gix.
//!
//! [`GitFetcher::fetch`] resolves a [`GitSource`]'s ref, brings the commit into a bare
//! cache repository (one per URL and credentials, under the fetcher's cache directory, so
//! later intervals fetch incrementally; see [`remote`]), and exports its tree into the
//! [`ArtifactStore`]. The gix work is blocking (gix's HTTP transport is), so it runs on
//! `spawn_blocking`, bounded by the source's timeout; fetches into one cache repository
//! are serialised.
//!
//! HTTP(S) requests carry the timeout themselves, so a stalled server frees the blocking
//! thread too; ssh gets `ConnectTimeout`/`ServerAliveInterval`; a stalled `git://` daemon
//! is abandoned at the timeout but its thread ends only when the connection does.
//!
//! Not yet supported: `provider` (azure, github), `recurseSubmodules`, `include`,
//! `sparseCheckout`, `verify` and `proxySecretRef`.

mod auth;
mod export;
pub mod reference;
mod remote;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use flotilla_api::revision::{Digest, DigestAlgorithm, Revision};
use flotilla_api::source::GitRepositorySpec;
use gix::ObjectId;

pub use auth::{GitAuth, ca_cert_from_secret_data};
pub use reference::GitTarget;
pub use remote::Transfer;

use crate::credentials::fingerprint_of;
use crate::error::{Operation, SourceError};
use crate::ignore::IgnoreRules;
use crate::store::{Artifact, ArtifactStore, LastBySource};

/// Flux's default timeout of Git operations.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Everything needed to fetch one Git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// `http(s)://`, `ssh://` or `git://` URL.
    pub url: String,
    /// What to check out.
    pub target: GitTarget,
    /// Credentials from the source's Secret.
    pub auth: GitAuth,
    /// Extra `.gitignore`-style exclusions (`spec.ignore`).
    pub ignore: Option<String>,
    /// PEM certificates (a Secret's `ca.crt`) trusted for HTTPS besides the system's.
    pub ca_cert: Option<String>,
    /// Bound on the whole fetch.
    pub timeout: Duration,
}

impl GitSource {
    /// The source a `GitRepository` spec describes, with the credentials and CA the caller
    /// read from its `secretRef` ([`GitAuth::from_secret_data`], [`ca_cert_from_secret_data`]).
    pub fn from_spec(
        spec: &GitRepositorySpec,
        auth: GitAuth,
        ca_cert: Option<String>,
    ) -> Result<Self, SourceError> {
        Ok(Self {
            url: spec.url.clone(),
            target: GitTarget::from_ref(spec.reference.as_ref())?,
            auth,
            ignore: spec.ignore.clone(),
            ca_cert,
            timeout: spec.timeout.map_or(DEFAULT_TIMEOUT, Duration::from),
        })
    }

    /// A key identifying what this source fetches: sources with equal keys get the same
    /// artifact, so one fetch serves them all. Credentials take part only as a digest.
    pub fn dedupe_key(&self) -> String {
        format!(
            "git\0{}\0{:?}\0{}\0{}\0{}",
            self.url,
            self.target,
            self.ignore.as_deref().unwrap_or(""),
            self.auth.fingerprint(),
            self.ca_cert.as_deref().unwrap_or("")
        )
    }
}

/// The result of one Git fetch.
#[derive(Debug, Clone)]
pub struct GitFetch {
    /// The stored artifact.
    pub artifact: Artifact,
    /// What went over the network.
    pub transfer: Transfer,
    /// Whether the tree was exported; `false` when the ref still pointed at the commit of
    /// this source's previous artifact, which was returned as it was.
    pub exported: bool,
}

/// Fetches Git sources into an [`ArtifactStore`], keeping bare cache repositories.
#[derive(Debug)]
pub struct GitFetcher {
    store: ArtifactStore,
    cache_root: PathBuf,
    locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// Each source's last artifact, by [`GitSource::dedupe_key`]: an interval that finds
    /// the same commit reuses it instead of exporting and digesting the tree again.
    published: LastBySource<Artifact>,
    remote_fetches: AtomicU64,
}

impl GitFetcher {
    /// A fetcher keeping its cache repositories under `cache_root`.
    pub fn new(store: ArtifactStore, cache_root: impl Into<PathBuf>) -> Self {
        Self {
            store,
            cache_root: cache_root.into(),
            locks: Mutex::new(HashMap::new()),
            published: LastBySource::default(),
            remote_fetches: AtomicU64::new(0),
        }
    }

    /// How many fetches contacted a remote so far.
    pub fn remote_fetches(&self) -> u64 {
        self.remote_fetches.load(Ordering::Relaxed)
    }

    /// The cache repository for `source`'s URL and credentials.
    pub fn cache_dir(&self, source: &GitSource) -> PathBuf {
        self.cache_root
            .join(fingerprint_of(&[&source.url, &source.auth.fingerprint()]))
    }

    /// Forgets sources that no longer exist: removes the cache repositories and remembered
    /// artifacts of every source not in `live` (a cache in use by a running fetch is left
    /// for next time). Returns how many cache repositories were removed. Artifacts
    /// themselves go through [`ArtifactStore::gc`].
    pub fn prune(&self, live: &[&GitSource]) -> Result<usize, SourceError> {
        let keys: HashSet<String> = live.iter().map(|s| s.dedupe_key()).collect();
        self.published.retain(&keys);
        let dirs: HashSet<PathBuf> = live.iter().map(|s| self.cache_dir(s)).collect();
        let entries = match std::fs::read_dir(&self.cache_root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(SourceError::io(&self.cache_root, &e)),
        };
        let mut removed = 0;
        for entry in entries {
            let path = entry
                .map_err(|e| SourceError::io(&self.cache_root, &e))?
                .path();
            if dirs.contains(&path) {
                continue;
            }
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            if locks
                .get(&path)
                .is_some_and(|lock| lock.try_lock().is_err())
            {
                continue;
            }
            locks.remove(&path);
            drop(locks);
            std::fs::remove_dir_all(&path).map_err(|e| SourceError::io(&path, &e))?;
            removed += 1;
        }
        Ok(removed)
    }

    /// Fetches `source` and stores its tree, within `source.timeout`.
    pub async fn fetch(&self, source: &GitSource) -> Result<GitFetch, SourceError> {
        let shown_url = redact_url(&source.url);
        if !["http://", "https://", "ssh://", "git://"]
            .iter()
            .any(|scheme| source.url.starts_with(scheme))
        {
            return Err(SourceError::InvalidSpec(format!(
                "unsupported Git URL {shown_url}: expected http(s)://, ssh:// or git://"
            )));
        }
        let cache = self.cache_dir(source);
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            locks.entry(cache.clone()).or_default().clone()
        };
        let key = source.dedupe_key();
        let previous = self.published.get(&key);
        let interrupt = Arc::new(AtomicBool::new(false));
        let work = {
            let source = source.clone();
            let store = self.store.clone();
            let interrupt = interrupt.clone();
            let shown_url = shown_url.clone();
            async move {
                // The guard moves into the blocking task: the cache stays locked until the
                // gix work really ends, even if our caller has given up waiting.
                let guard = lock.lock_owned().await;
                let url = shown_url.clone();
                tokio::task::spawn_blocking(move || {
                    let _guard = guard;
                    let places = Places {
                        cache: &cache,
                        store: &store,
                        previous: previous.as_ref(),
                    };
                    fetch_blocking(&source, &url, places, &interrupt)
                })
                .await
                .map_err(|e| SourceError::Git {
                    url: shown_url.clone(),
                    message: format!("fetch task failed: {e}"),
                })?
            }
        };
        let outcome = tokio::time::timeout(source.timeout, work).await;
        let result = match outcome {
            Ok(result) => result,
            Err(_) => {
                interrupt.store(true, Ordering::Relaxed);
                Err(SourceError::Timeout {
                    operation: Operation::Git,
                    url: shown_url,
                    seconds: source.timeout.as_secs(),
                })
            }
        };
        if let Ok(fetch) = &result {
            if fetch.transfer.contacted_remote {
                self.remote_fetches.fetch_add(1, Ordering::Relaxed);
            }
            self.published.insert(key, fetch.artifact.clone());
        }
        result
    }
}

/// Where a fetch reads and writes.
struct Places<'a> {
    /// The bare cache repository.
    cache: &'a std::path::Path,
    store: &'a ArtifactStore,
    /// The source's previous artifact, if any.
    previous: Option<&'a Artifact>,
}

fn fetch_blocking(
    source: &GitSource,
    shown_url: &str,
    places: Places<'_>,
    interrupt: &AtomicBool,
) -> Result<GitFetch, SourceError> {
    let remote = remote::Remote {
        url: &source.url,
        shown_url,
        auth: &source.auth,
        ca_cert: source.ca_cert.as_deref(),
        timeout: source.timeout,
        interrupt,
    };
    let (repo, resolved) = remote.fetch(places.cache, &source.target)?;
    let digest = Digest::new(DigestAlgorithm::Sha1, resolved.commit.to_string()).map_err(|e| {
        SourceError::Git {
            url: shown_url.to_owned(),
            message: format!("unexpected object id: {e}"),
        }
    })?;
    let revision = match resolved.name {
        Some(name) => {
            Revision::named(name, digest).map_err(|e| SourceError::InvalidSpec(e.to_string()))?
        }
        None => Revision::digest_only(digest),
    };
    if let Some(previous) = places.previous
        && previous.reusable_for(&revision)
    {
        return Ok(GitFetch {
            artifact: previous.clone(),
            transfer: resolved.transfer,
            exported: false,
        });
    }
    let mut rules = IgnoreRules::new(source.ignore.as_deref());
    let mut writer = places.store.writer()?;
    let previous = places.previous.and_then(|artifact| {
        Some(export::Previous {
            commit: ObjectId::from_hex(artifact.revision.digest().hex().as_bytes()).ok()?,
            dir: &artifact.path,
        })
    });
    export::export_commit(&repo, resolved.commit, previous, &mut rules, &mut writer)?;
    let artifact = writer.finish(revision)?;
    tracing::debug!(url = shown_url, revision = %artifact.revision, digest = %artifact.digest,
        objects = resolved.transfer.objects, bytes = resolved.transfer.bytes, "fetched git source");
    Ok(GitFetch {
        artifact,
        transfer: resolved.transfer,
        exported: true,
    })
}

/// The URL without user info, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_from_a_gitrepository_spec() {
        let spec: GitRepositorySpec = serde_json::from_value(serde_json::json!({
            "url": "https://example.com/fleet.git",
            "interval": "1m",
            "timeout": "20s",
            "ref": {"branch": "main", "tag": "v1.0.0"},
            "ignore": "docs/",
        }))
        .unwrap();
        let source = GitSource::from_spec(&spec, GitAuth::Anonymous, None).unwrap();
        assert_eq!(source.target, GitTarget::Tag("v1.0.0".into()));
        assert_eq!(source.timeout, Duration::from_secs(20));
        assert_eq!(source.ignore.as_deref(), Some("docs/"));
        let mut other = source.clone();
        other.auth = GitAuth::Bearer("s3cr3t-token".into());
        assert_ne!(source.dedupe_key(), other.dedupe_key());
        assert!(!other.dedupe_key().contains("s3cr3t"));
    }

    #[test]
    fn redacts_user_info() {
        assert_eq!(
            redact_url("https://user:secret@example.com/repo.git"),
            "https://example.com/repo.git"
        );
        assert_eq!(
            redact_url("https://example.com/a@b"),
            "https://example.com/a@b"
        );
    }
}
