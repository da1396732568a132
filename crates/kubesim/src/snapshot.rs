//! A resource's objects as they were at an earlier resourceVersion, rebuilt from the
//! store's history: what paging (`limit`/`continue`) and exact-version lists read, so every
//! page of a list comes from the same moment however the store changed in between.
//!
//! The current objects are taken and the history newer than the snapshot's version is
//! undone, newest first. Once that history is compacted away the snapshot is gone.

use crate::store::{EventType, ObjectKey, StoreState};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The objects of `group`/`resource` (in `namespace`, or all) at `rv`, in key order;
/// `None` if the history needed was compacted.
pub fn at(
    store: &StoreState,
    rv: u64,
    group: &str,
    resource: &str,
    namespace: Option<&str>,
) -> Option<Vec<(ObjectKey, Arc<Value>)>> {
    let newer = store.events_after(rv)?;
    let mut objects: BTreeMap<ObjectKey, Arc<Value>> = store
        .list(group, resource, namespace)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let relevant = |k: &ObjectKey| {
        k.group == group && k.resource == resource && namespace.is_none_or(|ns| k.namespace == ns)
    };
    for e in newer.iter().rev().filter(|e| relevant(&e.key)) {
        match (e.kind, &e.previous) {
            (EventType::Added, _) => {
                objects.remove(&e.key);
            }
            (_, Some(previous)) => {
                objects.insert(e.key.clone(), previous.clone());
            }
            (_, None) => {}
        }
    }
    Some(objects.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use serde_json::json;

    #[test]
    fn undoes_later_creates_updates_and_deletes() {
        let store = Store::new(100);
        let mut s = store.lock();
        let k = |n: &str| ObjectKey::new("", "configmaps", "d", n);
        s.put(k("a"), json!({"metadata": {"name": "a"}, "v": 1}));
        s.put(k("b"), json!({"metadata": {"name": "b"}}));
        let rv = s.resource_version();
        s.put(k("a"), json!({"metadata": {"name": "a"}, "v": 2}));
        s.remove(&k("b"));
        s.put(k("c"), json!({"metadata": {"name": "c"}}));
        let snap = at(&s, rv, "", "configmaps", Some("d")).unwrap();
        let names: Vec<_> = snap.iter().map(|(k, _)| k.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(snap[0].1["v"], 1);
        drop(s);
        store.compact();
        assert!(at(&store.lock(), rv, "", "configmaps", None).is_none());
    }
}
