//! What an applier remembers of its own writes, so that re-applying an unchanged set to
//! objects nobody touched costs no request per object.
//!
//! After each object it applies (or finds already equal), the applier records the digest
//! of the manifest it applied and the object's resourceVersion afterwards. A
//! resourceVersion changes on every write to an object, by anyone, and a recreated object
//! gets a new one: when the live object (from the per-resource list the plan reads anyway)
//! still has the recorded version and the manifest still has the recorded digest, the
//! object is exactly as that apply left it, and applying the same manifest again — or
//! diffing against it — would find nothing. Such an object skips the dry-run. Any other
//! case (a new applier, an edit by someone, a status update by a controller, a new
//! manifest) takes the full dry-run path, which also refreshes the record.
//!
//! The memory lives as long as the applier (clones share it): a hub worker keeps one
//! applier per cluster and deployer between reconciliations.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use flotilla_render::ObjectId;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

/// SHA-256 of an applied manifest (as sent, owner labels included) and the apply mode.
pub(crate) type Digest = [u8; 32];

/// The digest of `manifest` applied with conflicts forced or not.
pub(crate) fn digest(manifest: &Value, force_conflicts: bool) -> Digest {
    let mut hasher = Sha256::new();
    hasher.update([u8::from(force_conflicts)]);
    // Serializing a Value cannot fail (string keys only); an empty body still hashes.
    hasher.update(serde_json::to_vec(manifest).unwrap_or_default());
    hasher.finalize().into()
}

/// Digest and resourceVersion of each object as this applier last left it, by identity
/// (effective namespace).
#[derive(Clone, Debug, Default)]
pub(crate) struct Memory {
    records: Arc<Mutex<HashMap<ObjectId, (Digest, String)>>>,
}

impl Memory {
    /// Whether `id`, now at `resource_version`, is as the applier left it after applying a
    /// manifest of `digest`.
    pub fn untouched(
        &self,
        id: &ObjectId,
        digest: &Digest,
        resource_version: Option<&str>,
    ) -> bool {
        let Some(resource_version) = resource_version else {
            return false;
        };
        self.lock()
            .get(id)
            .is_some_and(|(d, v)| d == digest && v == resource_version)
    }

    /// Records that applying `digest` left `id` at `resource_version`.
    pub fn remember(&self, id: ObjectId, digest: Digest, resource_version: Option<String>) {
        let mut records = self.lock();
        match resource_version {
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
    pub fn retain(&self, kept: &std::collections::HashSet<ObjectId>) {
        self.lock().retain(|id, _| kept.contains(id));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectId, (Digest, String)>> {
        // A panic while holding the lock cannot leave a half-written map entry (inserts
        // and removes are single calls), so a poisoned lock is still consistent.
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn untouched_only_with_the_same_manifest_and_version() {
        let memory = Memory::default();
        let id = ObjectId {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("a".into()),
            name: "x".into(),
        };
        let manifest = json!({"data": {"a": "1"}});
        let d = digest(&manifest, true);
        assert!(!memory.untouched(&id, &d, Some("5")));
        memory.remember(id.clone(), d, Some("5".into()));
        assert!(memory.untouched(&id, &d, Some("5")));
        assert!(!memory.untouched(&id, &d, Some("6")));
        assert!(!memory.untouched(&id, &d, None));
        assert!(!memory.untouched(&id, &digest(&json!({"data": {"a": "2"}}), true), Some("5")));
        assert!(!memory.untouched(&id, &digest(&manifest, false), Some("5")));
        memory.remember(id.clone(), d, None);
        assert!(!memory.untouched(&id, &d, Some("5")));
        memory.remember(id.clone(), d, Some("7".into()));
        memory.retain(&std::collections::HashSet::new());
        assert!(!memory.untouched(&id, &d, Some("7")));
    }
}
