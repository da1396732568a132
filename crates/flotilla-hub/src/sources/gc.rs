//! Garbage collection of artifacts no source points at any more.
//!
//! Like Flux's source-controller, each source carries a finalizer, and the hub collects
//! when a source is deleted (before the finalizer is removed), and also when a source moves
//! to a new artifact (its previous one may now be unused). Artifacts are shared by content,
//! so "unused" means: no source's last artifact has that digest. That set is the union of
//!
//! - the [`Registry`]: each source's artifact as this hub last fetched it, and
//! - every source object's `status.artifact.digest` in the management cluster, except
//!   objects being deleted, so a hub restarted over an existing store keeps the artifacts
//!   of sources it has not reconciled yet.
//!
//! A fetch publishes its artifact before the reconciler records it, so a collection could
//! otherwise remove an artifact between the two. The [`Registry`]'s lock closes that gap
//! without making collection wait for fetches: a reconciler records its artifact under the
//! lock only after checking that the directory still exists (fetching again when a
//! collection got there first), and a collection holds the lock while it decides and
//! removes.

use std::collections::{HashMap, HashSet};

use flotilla_api::revision::{Digest, DigestAlgorithm};
use flotilla_source::{GcReport, SourceSpec, Sources};
use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use tokio::sync::Mutex;

/// Identifies one source object: kind, namespace, name.
pub type ObjectKey = (String, String, String);

/// What the hub last fetched for each source.
#[derive(Debug, Default)]
pub struct Registry {
    entries: Mutex<HashMap<ObjectKey, Entry>>,
}

/// One source's last artifact and the spec it was fetched with.
#[derive(Debug, Clone)]
pub struct Entry {
    digest: Digest,
    spec: SourceSpec,
}

/// Guard over the registry, held while an artifact is recorded or a collection runs.
pub type RegistryGuard<'a> = tokio::sync::MutexGuard<'a, HashMap<ObjectKey, Entry>>;

impl Registry {
    /// Locks the registry.
    pub async fn lock(&self) -> RegistryGuard<'_> {
        self.entries.lock().await
    }
}

/// Records `key`'s artifact; returns the digest it had before, if different.
pub fn record(
    guard: &mut RegistryGuard<'_>,
    key: ObjectKey,
    digest: Digest,
    spec: SourceSpec,
) -> Option<Digest> {
    let previous = guard.insert(
        key,
        Entry {
            digest: digest.clone(),
            spec,
        },
    );
    previous.map(|e| e.digest).filter(|d| *d != digest)
}

/// Forgets `key`; returns the digest it had.
pub fn forget(guard: &mut RegistryGuard<'_>, key: &ObjectKey) -> Option<Digest> {
    guard.remove(key).map(|e| e.digest)
}

/// Why a collection did not run.
#[derive(Debug, thiserror::Error)]
pub enum GcError {
    /// Listing source objects failed, so it is unknown which artifacts are in use.
    #[error("cannot list {kind} objects to find artifacts in use: {message}")]
    List {
        /// The kind being listed.
        kind: String,
        /// What went wrong.
        message: String,
    },
    /// The store could not remove an artifact.
    #[error("artifact store: {0}")]
    Store(#[from] flotilla_source::SourceError),
}

/// Removes every artifact not in use (see the module docs), under `guard`, and drops the
/// fetch caches of sources no longer in the registry.
pub async fn collect(
    guard: &RegistryGuard<'_>,
    client: &kube::Client,
    kinds: &[ApiResource],
    sources: &Sources,
) -> Result<GcReport, GcError> {
    let mut live: HashSet<Digest> = guard.values().map(|e| e.digest.clone()).collect();
    for kind in kinds {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), kind);
        let list = match api.list(&ListParams::default()).await {
            Ok(list) => list,
            // The kind's CRD is not installed: there are no such objects.
            Err(kube::Error::Api(status)) if status.code == 404 => continue,
            Err(e) => {
                return Err(GcError::List {
                    kind: kind.kind.clone(),
                    message: e.to_string(),
                });
            }
        };
        for object in list.items {
            if object.metadata.deletion_timestamp.is_some() {
                continue;
            }
            let digest = object
                .data
                .pointer("/status/artifact/digest")
                .and_then(|d| d.as_str())
                .and_then(|d| d.strip_prefix("sha256:"))
                .and_then(|hex| Digest::new(DigestAlgorithm::Sha256, hex).ok());
            live.extend(digest);
        }
    }
    let report = sources.store().gc(&live)?;
    let specs: Vec<SourceSpec> = guard.values().map(|e| e.spec.clone()).collect();
    sources.prune(&specs)?;
    Ok(report)
}
