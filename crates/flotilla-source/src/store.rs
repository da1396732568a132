//! The artifact store: one directory per distinct content, named by its digest
//! (`<root>/<sha256 hex>/…`), shared by every source and cluster that uses that content.
//!
//! An artifact is built by an [`ArtifactWriter`] in a temporary directory inside the root
//! (`<root>/.tmp-…`), digested, made read-only and renamed into place, so a renderer never
//! sees a half-written tree and a crash leaves only a temporary directory, removed the next
//! time the store is opened. Identical content fetched twice (two refs at the same commit,
//! a force-push back to old content) lands in the directory that already exists.
//!
//! Nothing is removed until [`ArtifactStore::gc`] is told which digests are still live.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use flotilla_api::revision::{Digest, DigestAlgorithm, Revision};

use crate::error::SourceError;
use crate::writer::ArtifactWriter;

/// Prefix of in-progress artifact directories.
pub(crate) const TMP_PREFIX: &str = ".tmp-";

/// Caps on one artifact, enforced while it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total bytes of file contents.
    pub max_bytes: u64,
    /// Number of files plus symlinks.
    pub max_files: u64,
}

impl Default for Limits {
    /// Generous for manifests and charts, small enough that one bad repository cannot
    /// fill the hub's disk.
    fn default() -> Self {
        Self {
            max_bytes: 512 * 1024 * 1024,
            max_files: 100_000,
        }
    }
}

/// What a fetcher remembers of each source between fetches (its last artifact, or what it
/// needs to skip work next time), by the source's dedupe key. A panic while the lock was
/// held cannot leave a half-updated entry (every operation is one map call), so a poisoned
/// lock is taken over.
#[derive(Debug)]
pub(crate) struct LastBySource<V>(Mutex<HashMap<String, V>>);

impl<V> Default for LastBySource<V> {
    fn default() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
}

impl<V: Clone> LastBySource<V> {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, V>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What was remembered for `key`.
    pub(crate) fn get(&self, key: &str) -> Option<V> {
        self.map().get(key).cloned()
    }

    /// Remembers `value` for `key`, replacing what was there.
    pub(crate) fn insert(&self, key: String, value: V) {
        self.map().insert(key, value);
    }

    /// Forgets every source whose key is not in `live`.
    pub(crate) fn retain(&self, live: &HashSet<String>) {
        self.map().retain(|key, _| live.contains(key));
    }
}

/// A stored artifact: a read-only directory tree and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where the content came from, e.g. `main@sha1:<commit>`.
    pub revision: Revision,
    /// `sha256:<hex>` of the tree (see [`crate::tree_digest`]).
    pub digest: Digest,
    /// Total bytes of file contents.
    pub size: u64,
    /// Number of files plus symlinks.
    pub files: u64,
    /// The read-only directory holding the content.
    pub path: PathBuf,
    /// When this content first entered the store.
    pub last_update_time: SystemTime,
}

impl Artifact {
    /// Whether this artifact, a source's previous one, can be handed back for `revision`
    /// instead of building it again: same revision, and its directory not yet collected.
    pub(crate) fn reusable_for(&self, revision: &Revision) -> bool {
        self.revision == *revision && self.path.is_dir()
    }

    /// The artifact as a source's `status.artifact`; `path` becomes relative to the
    /// store root (the digest directory's name).
    pub fn to_status(&self) -> flotilla_api::Artifact {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
        use k8s_openapi::jiff::Timestamp;
        let time = Timestamp::try_from(self.last_update_time).unwrap_or(Timestamp::UNIX_EPOCH);
        flotilla_api::Artifact {
            path: self.digest.hex().to_owned(),
            url: None,
            revision: self.revision.to_string(),
            digest: self.digest.to_string(),
            last_update_time: Time(time),
            size: i64::try_from(self.size).ok(),
            metadata: Default::default(),
        }
    }
}

/// What a garbage collection removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Digests of the removed artifacts.
    pub removed: Vec<Digest>,
}

/// A content-addressed directory of artifacts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: PathBuf,
    limits: Limits,
    next_tmp: AtomicU64,
}

impl ArtifactStore {
    /// Opens (creating if needed) a store at `root`, removing temporary directories left
    /// by a previous process.
    pub fn open(root: impl Into<PathBuf>, limits: Limits) -> Result<Self, SourceError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|e| SourceError::io(&root, &e))?;
        for entry in fs::read_dir(&root).map_err(|e| SourceError::io(&root, &e))? {
            let entry = entry.map_err(|e| SourceError::io(&root, &e))?;
            if entry.file_name().to_string_lossy().starts_with(TMP_PREFIX) {
                remove_tree(&entry.path())?;
            }
        }
        Ok(Self {
            inner: Arc::new(Inner {
                root,
                limits,
                next_tmp: AtomicU64::new(0),
            }),
        })
    }

    /// The store's root directory.
    pub fn root(&self) -> &Path {
        &self.inner.root
    }

    /// The limits every artifact is held to.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// Starts a new artifact in a fresh temporary directory.
    pub fn writer(&self) -> Result<ArtifactWriter, SourceError> {
        let n = self.inner.next_tmp.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .inner
            .root
            .join(format!("{TMP_PREFIX}{}-{n}", std::process::id()));
        ArtifactWriter::create(self.clone(), tmp, self.inner.limits)
    }

    /// The directory of the artifact with `digest`, if it is stored.
    pub fn path_of(&self, digest: &Digest) -> Option<PathBuf> {
        let path = self.inner.root.join(digest.hex());
        (digest.algorithm() == DigestAlgorithm::Sha256 && path.is_dir()).then_some(path)
    }

    /// Makes a finished temporary tree read-only and moves it into place under its digest
    /// (or, when that content is already stored, just removes it), and returns the final
    /// directory and when the content first entered the store.
    pub(crate) fn publish(
        &self,
        tmp: &Path,
        digest: &Digest,
    ) -> Result<(PathBuf, SystemTime), SourceError> {
        let target = self.inner.root.join(digest.hex());
        if !target.is_dir() {
            make_dirs_read_only(tmp).map_err(|e| SourceError::io(tmp, &e))?;
            match fs::rename(tmp, &target) {
                Ok(()) => {}
                // Another writer published the same content first: keep theirs.
                Err(_) if target.is_dir() => {}
                Err(e) => return Err(SourceError::io(&target, &e)),
            }
        }
        if tmp.exists() {
            remove_tree(tmp)?;
        }
        let created = fs::metadata(&target)
            .and_then(|m| m.modified())
            .map_err(|e| SourceError::io(&target, &e))?;
        Ok((target, created))
    }

    /// Removes every artifact whose digest is not in `live`. Temporary directories of
    /// writers still at work are left alone. The caller runs it between fetches (not
    /// during one): a fetch finishing now may be about to hand out an artifact that was
    /// not yet in `live`.
    pub fn gc(&self, live: &HashSet<Digest>) -> Result<GcReport, SourceError> {
        let live: HashSet<&str> = live.iter().map(Digest::hex).collect();
        let root = &self.inner.root;
        let mut report = GcReport::default();
        for entry in fs::read_dir(root).map_err(|e| SourceError::io(root, &e))? {
            let entry = entry.map_err(|e| SourceError::io(root, &e))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(digest) = Digest::new(DigestAlgorithm::Sha256, name.as_str()) else {
                continue;
            };
            if !live.contains(name.as_str()) {
                remove_tree(&entry.path())?;
                report.removed.push(digest);
            }
        }
        Ok(report)
    }
}

/// Directories become 0555 once everything is in them (files are created read-only).
fn make_dirs_read_only(dir: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            make_dirs_read_only(&entry.path())?;
        }
    }
    fs::set_permissions(dir, fs::Permissions::from_mode(0o555))
}

/// Removes a tree that may have been made read-only: directories get their write bit back
/// first so their entries can be unlinked.
pub(crate) fn remove_tree(path: &Path) -> Result<(), SourceError> {
    fn make_writable(dir: &Path) -> std::io::Result<()> {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755))?;
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                make_writable(&entry.path())?;
            }
        }
        Ok(())
    }
    make_writable(path).map_err(|e| SourceError::io(path, &e))?;
    fs::remove_dir_all(path).map_err(|e| SourceError::io(path, &e))
}
