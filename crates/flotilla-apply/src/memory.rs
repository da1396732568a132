//! What an applier remembers of its own writes, so that re-applying an unchanged set to
//! objects nobody touched costs no request per object.
//!
//! After each object it applies (or finds already equal), the applier records the digest
//! of the manifest it applied and the object's uid and resourceVersion afterwards. A
//! resourceVersion changes on every write to an object, by anyone; a recreated object, or
//! an object of the same name on another cluster, has another uid. When the live object
//! (from the per-resource list the plan reads anyway) still has the recorded uid and
//! version and the manifest still has the recorded digest, the object is exactly as that
//! apply left it, and applying the same manifest again — or diffing against it — would
//! find nothing. Such an object skips the dry-run. Any other case (no record, an edit by
//! someone, a status update by a controller, a new manifest) takes the full dry-run path,
//! which also refreshes the record.
//!
//! The memory lives as long as the applier (clones share it): a hub worker keeps one
//! applier per cluster and deployer between reconciliations. To outlive the process it is
//! saved as a [`MemorySnapshot`] (serde; store it next to the inventory) and handed to the
//! next applier. A snapshot names its deployer, and an applier of another deployer refuses
//! it ([`ForeignMemory`]); the manifests' digests include the owner labels anyway. A
//! snapshot of another cluster (or of a cluster rebuilt since) matches nothing, as no
//! object there has the uids it records: it costs the dry-runs a new applier makes, never
//! a missed change.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use flotilla_render::ObjectId;
use kube::core::ObjectMeta;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::owner::Owner;

/// SHA-256 of an applied manifest (as sent, owner labels included) and the apply mode.
pub(crate) type Digest = [u8; 32];

/// The digest of a manifest serialized as `body` (compact JSON, as sent) applied with
/// conflicts forced or not.
pub(crate) fn digest(body: &[u8], force_conflicts: bool) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([u8::from(force_conflicts)]);
    hasher.update(body);
    hasher.finalize().into()
}

/// Which object (uid) in which state (resourceVersion) an apply left behind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Version {
    pub uid: String,
    pub resource_version: String,
}

impl Version {
    /// The version in `metadata`; `None` when it lacks a uid or a resourceVersion (an
    /// object that does not exist).
    pub fn of(metadata: &ObjectMeta) -> Option<Self> {
        Self::new(metadata.uid.clone(), metadata.resource_version.clone())
    }

    /// The version of `uid` and `resource_version`; `None` unless both are given.
    pub fn new(uid: Option<String>, resource_version: Option<String>) -> Option<Self> {
        Some(Self {
            uid: uid.filter(|s| !s.is_empty())?,
            resource_version: resource_version.filter(|s| !s.is_empty())?,
        })
    }
}

/// Digest, uid and resourceVersion of each object as this applier last left it, by
/// identity (effective namespace).
#[derive(Clone, Debug, Default)]
pub(crate) struct Memory {
    records: Arc<Mutex<HashMap<ObjectId, (Digest, Version)>>>,
}

impl Memory {
    /// Whether `id`, now as `live` describes it, is as the applier left it after applying
    /// a manifest of `digest`.
    pub fn untouched(&self, id: &ObjectId, digest: &Digest, live: &ObjectMeta) -> bool {
        self.lock().get(id).is_some_and(|(d, v)| {
            d == digest
                && live.uid.as_deref() == Some(v.uid.as_str())
                && live.resource_version.as_deref() == Some(v.resource_version.as_str())
        })
    }

    /// Records that applying `digest` left `id` at `version` (forgets it without one).
    pub fn remember(&self, id: ObjectId, digest: Digest, version: Option<Version>) {
        let mut records = self.lock();
        match version {
            Some(version) => {
                records.insert(id, (digest, version));
            }
            None => {
                records.remove(&id);
            }
        }
    }

    /// Forgets every object but `kept` (those of the set just applied), so objects that
    /// left the set do not accumulate.
    pub fn retain(&self, kept: &HashSet<ObjectId>) {
        self.lock().retain(|id, _| kept.contains(id));
    }

    /// A copy of the records, for `owner`'s applier, sorted by identity.
    pub fn snapshot(&self, owner: &Owner) -> MemorySnapshot {
        let mut objects: Vec<SnapshotEntry> = self
            .lock()
            .iter()
            .map(|(id, (digest, version))| SnapshotEntry {
                group: id.group.clone(),
                kind: id.kind.clone(),
                namespace: id.namespace.clone(),
                name: id.name.clone(),
                digest: *digest,
                uid: version.uid.clone(),
                resource_version: version.resource_version.clone(),
            })
            .collect();
        objects.sort_by_key(SnapshotEntry::id);
        MemorySnapshot {
            owner: owner.clone(),
            objects,
        }
    }

    /// A memory holding `snapshot`'s records, if it is `owner`'s.
    pub fn restore(owner: &Owner, snapshot: MemorySnapshot) -> Result<Self, ForeignMemory> {
        if snapshot.owner != *owner {
            return Err(ForeignMemory {
                snapshot: snapshot.owner.to_string(),
                applier: owner.to_string(),
            });
        }
        let records = snapshot
            .objects
            .into_iter()
            .map(|entry| {
                let version = Version {
                    uid: entry.uid.clone(),
                    resource_version: entry.resource_version.clone(),
                };
                (entry.id(), (entry.digest, version))
            })
            .collect();
        Ok(Self {
            records: Arc::new(Mutex::new(records)),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectId, (Digest, Version)>> {
        // A panic while holding the lock cannot leave a half-written map entry (inserts
        // and removes are single calls), so a poisoned lock is still consistent.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// What an applier remembers of its writes ([`Applier::memory_snapshot`]), kept across
/// restarts: store it with the deployer's inventory for that cluster and hand it to the
/// next applier ([`Applier::with_memory`]). Serializable (JSON: the deployer, then per
/// object its identity, the manifest digest, uid and resourceVersion); it holds no
/// manifest content.
///
/// [`Applier::memory_snapshot`]: crate::Applier::memory_snapshot
/// [`Applier::with_memory`]: crate::Applier::with_memory
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemorySnapshot {
    owner: Owner,
    objects: Vec<SnapshotEntry>,
}

impl MemorySnapshot {
    /// The deployer whose applier took it.
    pub fn owner(&self) -> &Owner {
        &self.owner
    }

    /// How many objects it remembers.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    /// Whether it remembers no object.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }
}

/// One remembered object.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SnapshotEntry {
    group: String,
    kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    name: String,
    #[serde(serialize_with = "to_hex", deserialize_with = "from_hex")]
    digest: Digest,
    uid: String,
    resource_version: String,
}

impl SnapshotEntry {
    fn id(&self) -> ObjectId {
        ObjectId {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

fn to_hex<S: Serializer>(digest: &Digest, serializer: S) -> Result<S::Ok, S::Error> {
    let mut hex = String::with_capacity(64);
    for byte in digest {
        // Writing to a String cannot fail.
        let _ = write!(hex, "{byte:02x}");
    }
    serializer.serialize_str(&hex)
}

fn from_hex<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
    let hex = String::deserialize(deserializer)?;
    let invalid = || serde::de::Error::custom(format!("digest {hex:?} is not 64 hex digits"));
    if hex.len() != 64 {
        return Err(invalid());
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = hex
            .get(2 * i..2 * i + 2)
            .and_then(|pair| u8::from_str_radix(pair, 16).ok())
            .ok_or_else(invalid)?;
    }
    Ok(digest)
}

/// A [`MemorySnapshot`] handed to the applier of another deployer: its records describe
/// that deployer's writes, not this one's.
#[derive(Debug, thiserror::Error)]
#[error("memory snapshot of {snapshot} handed to the applier of {applier}")]
pub struct ForeignMemory {
    /// The deployer the snapshot was taken for (`Kind namespace/name`).
    pub snapshot: String,
    /// The deployer of the applier it was handed to (`Kind namespace/name`).
    pub applier: String,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(uid: &str, version: &str) -> ObjectMeta {
        ObjectMeta {
            uid: Some(uid.into()),
            resource_version: Some(version.into()),
            ..ObjectMeta::default()
        }
    }

    fn version(uid: &str, version: &str) -> Option<Version> {
        Version::of(&meta(uid, version))
    }

    fn owner(name: &str) -> Owner {
        Owner {
            kind: "Kustomization".into(),
            namespace: "fleet".into(),
            name: name.into(),
        }
    }

    fn id(name: &str) -> ObjectId {
        ObjectId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: name.into(),
        }
    }

    #[test]
    fn untouched_only_with_the_same_manifest_uid_and_version() {
        let memory = Memory::default();
        let id = id("x");
        let manifest = json!({"data": {"a": "1"}});
        let d = digest(manifest.to_string().as_bytes(), true);
        assert!(!memory.untouched(&id, &d, &meta("u", "5")));
        memory.remember(id.clone(), d, version("u", "5"));
        assert!(memory.untouched(&id, &d, &meta("u", "5")));
        assert!(!memory.untouched(&id, &d, &meta("u", "6")));
        assert!(!memory.untouched(&id, &d, &meta("other", "5")));
        assert!(!memory.untouched(&id, &d, &ObjectMeta::default()));
        assert!(!memory.untouched(
            &id,
            &digest(json!({"data": {"a": "2"}}).to_string().as_bytes(), true),
            &meta("u", "5")
        ));
        assert!(!memory.untouched(
            &id,
            &digest(manifest.to_string().as_bytes(), false),
            &meta("u", "5")
        ));
        memory.remember(id.clone(), d, None);
        assert!(!memory.untouched(&id, &d, &meta("u", "5")));
        memory.remember(id.clone(), d, version("u", "7"));
        memory.retain(&HashSet::new());
        assert!(!memory.untouched(&id, &d, &meta("u", "7")));
        assert_eq!(version("", "7"), None);
    }

    #[test]
    fn snapshots_round_trip_and_name_their_deployer() {
        let memory = Memory::default();
        let d = digest(json!({"data": {"a": "1"}}).to_string().as_bytes(), true);
        memory.remember(id("y"), d, version("u2", "9"));
        memory.remember(
            ObjectId {
                namespace: None,
                kind: "Namespace".into(),
                ..id("team")
            },
            d,
            version("u1", "3"),
        );
        let snapshot = memory.snapshot(&owner("apps"));
        assert_eq!(snapshot.len(), 2);
        let json = serde_json::to_value(&snapshot).unwrap();
        assert_eq!(json["owner"]["name"], "apps");
        assert_eq!(json["objects"][0]["kind"], "ConfigMap");
        assert_eq!(json["objects"][1]["resourceVersion"], "3");
        assert_eq!(json["objects"][0]["digest"].as_str().unwrap().len(), 64);
        let back: MemorySnapshot = serde_json::from_str(&json.to_string()).unwrap();
        assert_eq!(back, snapshot);

        let restored = Memory::restore(&owner("apps"), back).unwrap();
        assert!(restored.untouched(&id("y"), &d, &meta("u2", "9")));
        let err = Memory::restore(&owner("other"), snapshot).unwrap_err();
        assert_eq!(
            err.to_string(),
            "memory snapshot of Kustomization fleet/apps handed to the applier of Kustomization fleet/other"
        );

        let mut bad = json;
        bad["objects"][0]["digest"] = json!("zz");
        let err = serde_json::from_value::<MemorySnapshot>(bad).unwrap_err();
        assert!(err.to_string().contains("64 hex digits"), "{err}");
    }
}
