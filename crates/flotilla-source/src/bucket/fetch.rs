//! Listing, change detection and download of one bucket source (see the module docs of
//! [`crate::bucket`]).
//!
//! Objects are downloaded a few at a time and handed, in key order, over a small channel
//! to a blocking task that writes them through the [`ArtifactWriter`], so the disk work
//! never runs on the async threads and at most a few objects are in memory at once.
//!
//! An object whose key and ETag are those of the source's previous artifact is not
//! downloaded again: its file there is read (for the digest) and hard-linked into the new
//! artifact. So a changed object costs one download, not the whole bucket.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use flotilla_api::revision::{Digest, DigestAlgorithm, Revision};
use futures::{StreamExt, TryStreamExt};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::{ClientOptions, ObjectMeta, ObjectStore, ObjectStoreExt, RetryConfig};

use super::{BucketSource, revision_of};
use crate::error::SourceError;
use crate::ignore::IgnoreRules;
use crate::store::{Artifact, ArtifactStore, LastBySource};

/// How many objects are downloaded at once.
const PARALLEL_DOWNLOADS: usize = 4;

/// The result of one bucket fetch.
#[derive(Debug, Clone)]
pub struct BucketFetch {
    /// The stored artifact.
    pub artifact: Artifact,
    /// Whether a new artifact was built; `false` when the listing gave the revision of
    /// this source's previous artifact, which was returned as it was.
    pub downloaded: bool,
    /// Objects taken from the previous artifact instead of downloaded (same key and ETag).
    pub reused: u64,
}

/// A source's last artifact and the ETags of the objects in it.
#[derive(Debug, Clone)]
struct Published {
    artifact: Artifact,
    etags: HashMap<String, String>,
}

/// Fetches bucket sources into an [`ArtifactStore`].
#[derive(Debug)]
pub struct BucketFetcher {
    store: ArtifactStore,
    /// Each source's last artifact, by [`BucketSource::dedupe_key`].
    published: LastBySource<Published>,
    downloads: AtomicU64,
}

impl BucketFetcher {
    /// A fetcher writing into `store`.
    pub fn new(store: ArtifactStore) -> Self {
        Self {
            store,
            published: LastBySource::default(),
            downloads: AtomicU64::new(0),
        }
    }

    /// How many objects were downloaded so far.
    pub fn downloaded_objects(&self) -> u64 {
        self.downloads.load(Ordering::Relaxed)
    }

    /// Forgets the previous artifacts of every source whose dedupe key is not in `live`.
    pub fn prune(&self, live: &[&BucketSource]) {
        let keys: std::collections::HashSet<String> = live.iter().map(|s| s.dedupe_key()).collect();
        self.published.retain(&keys);
    }

    /// Fetches `source` and stores its objects, within `source.timeout`.
    pub async fn fetch(&self, source: &BucketSource) -> Result<BucketFetch, SourceError> {
        let key = source.dedupe_key();
        let previous = self.published.get(&key);
        let result = match tokio::time::timeout(source.timeout, self.run(source, previous)).await {
            Ok(result) => result,
            Err(_) => Err(SourceError::Bucket {
                bucket: source.display(),
                message: format!("timed out after {}s", source.timeout.as_secs()),
            }),
        };
        let (fetch, etags) = result?;
        self.published.insert(
            key,
            Published {
                artifact: fetch.artifact.clone(),
                etags,
            },
        );
        Ok(fetch)
    }

    /// The fetch, and the ETags by key of the objects in its artifact.
    async fn run(
        &self,
        source: &BucketSource,
        previous: Option<Published>,
    ) -> Result<(BucketFetch, HashMap<String, String>), SourceError> {
        let client = client(source)?;
        let objects = list(&client, source).await?;
        let mut rules = IgnoreRules::new(source.ignore.as_deref());
        if let Some(meta) = objects
            .iter()
            .find(|m| m.location.as_ref() == ".sourceignore")
        {
            let patterns = get(&client, source, meta).await?;
            rules.add_sourceignore(b"", &patterns);
        }
        let objects: Vec<ObjectMeta> = objects
            .into_iter()
            .filter(|m| !is_ignored(&rules, m.location.as_ref()))
            .collect();
        let etags: Vec<(String, String)> = objects
            .iter()
            .map(|m| {
                let etag = m.e_tag.clone().ok_or_else(|| SourceError::Bucket {
                    bucket: source.display(),
                    message: format!("object '{}' has no ETag", m.location),
                })?;
                Ok((m.location.to_string(), etag))
            })
            .collect::<Result<_, SourceError>>()?;
        let hex = revision_of(etags.iter().map(|(k, e)| (k.as_str(), e.as_str())));
        let digest = Digest::new(DigestAlgorithm::Sha256, hex)
            .map_err(|e| SourceError::Rejected(format!("internal digest error: {e}")))?;
        let revision = Revision::digest_only(digest);
        let etags: HashMap<String, String> = etags.into_iter().collect();
        if let Some(previous) = &previous
            && previous.artifact.reusable_for(&revision)
        {
            let fetch = BucketFetch {
                artifact: previous.artifact.clone(),
                downloaded: false,
                reused: 0,
            };
            return Ok((fetch, etags));
        }

        check_limits(&self.store, &objects)?;
        // Objects unchanged since the previous artifact are taken from it.
        let (reuse, download): (Vec<ObjectMeta>, Vec<ObjectMeta>) =
            objects.iter().cloned().partition(|m| {
                previous.as_ref().is_some_and(|p| {
                    p.etags.get(m.location.as_ref()) == m.e_tag.as_ref()
                        && p.artifact.path.join(m.location.as_ref()).is_file()
                })
            });
        let reuse: Vec<(String, PathBuf)> = match &previous {
            Some(p) => reuse
                .iter()
                .map(|m| {
                    (
                        m.location.to_string(),
                        p.artifact.path.join(m.location.as_ref()),
                    )
                })
                .collect(),
            None => Vec::new(),
        };
        let reused = reuse.len() as u64;
        let mut writer = self.store.writer()?;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(String, bytes::Bytes)>(PARALLEL_DOWNLOADS);
        let write = tokio::task::spawn_blocking(move || {
            for (key, path) in &reuse {
                let contents = std::fs::read(path).map_err(|e| SourceError::io(path, &e))?;
                writer.add_file_reusing(key.as_bytes(), false, &contents, Some(path))?;
            }
            while let Some((key, contents)) = rx.blocking_recv() {
                writer.add_file(key.as_bytes(), false, &contents)?;
            }
            writer.finish(revision)
        });
        let client = &client;
        let downloads = futures::stream::iter(download)
            .map(|meta: ObjectMeta| async move {
                get(client, source, &meta)
                    .await
                    .map(|b| (meta.location.to_string(), b))
            })
            .buffered(PARALLEL_DOWNLOADS);
        let sent: Result<(), SourceError> = async {
            futures::pin_mut!(downloads);
            while let Some(object) = downloads.try_next().await? {
                self.downloads.fetch_add(1, Ordering::Relaxed);
                if tx.send(object).await.is_err() {
                    // The writer stopped early; its own error says why.
                    break;
                }
            }
            Ok(())
        }
        .await;
        drop(tx);
        let written = write.await.map_err(|e| SourceError::Bucket {
            bucket: source.display(),
            message: format!("artifact writer failed: {e}"),
        })?;
        sent?;
        let artifact = written?;
        tracing::debug!(bucket = %source.bucket, endpoint = %source.endpoint,
            revision = %artifact.revision, digest = %artifact.digest, objects = objects.len(),
            "fetched bucket source");
        let fetch = BucketFetch {
            artifact,
            downloaded: true,
            reused,
        };
        Ok((fetch, etags))
    }
}

/// The S3 client for `source`: path-style requests, the source's timeout on every request,
/// a couple of retries within it, and nothing taken from the environment.
fn client(source: &BucketSource) -> Result<AmazonS3, SourceError> {
    let options = ClientOptions::new()
        .with_timeout(source.timeout)
        .with_connect_timeout(source.timeout)
        .with_allow_http(source.endpoint.starts_with("http://"));
    let retry = RetryConfig {
        max_retries: 2,
        retry_timeout: source.timeout,
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
    };
    let mut builder = AmazonS3Builder::new()
        .with_endpoint(&source.endpoint)
        .with_bucket_name(&source.bucket)
        .with_region(&source.region)
        .with_virtual_hosted_style_request(false)
        .with_allow_http(source.endpoint.starts_with("http://"))
        .with_client_options(options)
        .with_retry(retry);
    builder = match &source.credentials {
        Some(credentials) => builder
            .with_access_key_id(&credentials.access_key_id)
            .with_secret_access_key(&credentials.secret_access_key),
        None => builder.with_skip_signature(true),
    };
    builder
        .build()
        .map_err(|e| SourceError::InvalidSpec(format!("{}: {e}", source.display())))
}

/// Every object under the prefix, directory markers (keys ending in `/`) left out.
///
/// Flux's prefix is a plain string prefix (`apps` matches `apps-old/x`), while
/// object_store lists by whole path segments, so the bucket is listed and filtered here.
async fn list(client: &AmazonS3, source: &BucketSource) -> Result<Vec<ObjectMeta>, SourceError> {
    let prefix = source.prefix.as_deref().unwrap_or("");
    let objects: Vec<ObjectMeta> = client
        .list(None)
        .try_collect()
        .await
        .map_err(|e| classify(source, e, None))?;
    Ok(objects
        .into_iter()
        .filter(|m| m.location.as_ref().starts_with(prefix) && !m.location.as_ref().ends_with('/'))
        .collect())
}

async fn get(
    client: &AmazonS3,
    source: &BucketSource,
    meta: &ObjectMeta,
) -> Result<bytes::Bytes, SourceError> {
    let key = meta.location.as_ref();
    let fetched = async { client.get(&meta.location).await?.bytes().await }
        .await
        .map_err(|e| classify(source, e, Some(key)))?;
    if fetched.len() as u64 != meta.size {
        return Err(SourceError::Bucket {
            bucket: source.display(),
            message: format!(
                "object '{key}' changed while it was downloaded ({} bytes listed, {} received)",
                meta.size,
                fetched.len()
            ),
        });
    }
    Ok(fetched)
}

/// Whether `key` or any directory above it is excluded.
fn is_ignored(rules: &IgnoreRules, key: &str) -> bool {
    let bytes = key.as_bytes();
    bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'/')
        .any(|(i, _)| rules.is_ignored(&bytes[..i], true))
        || rules.is_ignored(bytes, false)
}

/// Maps an object_store error to ours by the S3 error code in its text (object_store
/// reports most HTTP failures as `Generic`): rejected credentials are authentication
/// failures, a missing bucket says so, everything else is a bucket operation failure.
/// Messages name the bucket and, for downloads, the key; object_store never puts
/// credentials in them.
fn classify(source: &BucketSource, error: object_store::Error, key: Option<&str>) -> SourceError {
    const AUTH_CODES: [&str; 5] = [
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AccessDenied",
        "403 Forbidden",
        "401 Unauthorized",
    ];
    let at = key.map(|k| format!(" (object '{k}')")).unwrap_or_default();
    let text = error.to_string();
    let auth = matches!(
        error,
        object_store::Error::Unauthenticated { .. } | object_store::Error::PermissionDenied { .. }
    ) || AUTH_CODES.iter().any(|code| text.contains(code));
    if auth {
        let code = AUTH_CODES
            .iter()
            .find(|code| text.contains(*code))
            .copied()
            .unwrap_or("access denied");
        return SourceError::Authentication {
            url: source.display(),
            message: format!("the endpoint refused the credentials{at}: {code}"),
        };
    }
    if text.contains("NoSuchBucket") {
        return SourceError::Bucket {
            bucket: source.display(),
            message: format!("bucket '{}' does not exist", source.bucket),
        };
    }
    SourceError::Bucket {
        bucket: source.display(),
        message: format!("request failed{at}: {}", summary(&text)),
    }
}

/// Refuses, before anything is downloaded, a listing that would break the store's limits.
fn check_limits(store: &ArtifactStore, objects: &[ObjectMeta]) -> Result<(), SourceError> {
    let limits = store.limits();
    let bytes: u64 = objects.iter().map(|m| m.size).sum();
    if objects.len() as u64 > limits.max_files {
        return Err(SourceError::Rejected(format!(
            "more than {} files ({} objects listed)",
            limits.max_files,
            objects.len()
        )));
    }
    if bytes > limits.max_bytes {
        return Err(SourceError::Rejected(format!(
            "more than {} bytes ({bytes} bytes listed)",
            limits.max_bytes
        )));
    }
    Ok(())
}

/// The error text, shortened: S3 error bodies can be long XML documents.
fn summary(text: &str) -> String {
    const MAX: usize = 400;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
