//! Namespace deletion, as the namespace controller does it.
//!
//! Deleting a namespace marks it Terminating (`deletionTimestamp`, `status.phase`), after
//! which creates in it are refused with 403. A background task then deletes everything in
//! it — objects with finalizers get their `deletionTimestamp` and stay until those are
//! removed — and removes the namespace once it is empty.

use crate::api::meta;
use crate::api::objects::delete_locked;
use crate::cluster::ClusterState;
use crate::store::{ObjectKey, StoreState};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

/// How often a terminating namespace is checked for remaining content.
const CLEANUP_INTERVAL: Duration = Duration::from_millis(100);

pub fn is_namespace(key: &ObjectKey) -> bool {
    key.group.is_empty() && key.resource == "namespaces"
}

/// Marks the namespace Terminating; returns the object to report.
pub fn begin_termination(store: &mut StoreState, key: &ObjectKey, dry_run: bool) -> Option<Value> {
    let current = store.get(key)?.clone();
    if meta::is_deleting(&current) {
        return Some((*current).clone());
    }
    let mut object = (*current).clone();
    meta::metadata_mut(&mut object).insert("deletionTimestamp".into(), Value::String(meta::now()));
    object["status"] = json!({"phase": "Terminating"});
    if dry_run {
        return Some(object);
    }
    Some((*store.put(key.clone(), object)).clone())
}

/// One cleanup pass; true when the namespace is gone (or no longer terminating).
fn sweep(store: &mut StoreState, name: &str) -> bool {
    let key = ObjectKey::new("", "namespaces", "", name);
    match store.get(&key) {
        Some(ns) if meta::is_deleting(ns) => {}
        _ => return true,
    }
    for k in store.namespace_keys(name) {
        delete_locked(store, &k, false);
    }
    if store.namespace_keys(name).is_empty() {
        store.remove(&key);
        return true;
    }
    false
}

/// Empties and then removes a terminating namespace, in the background.
pub fn spawn_cleanup(state: Arc<ClusterState>, name: String) {
    tokio::spawn(async move {
        loop {
            if sweep(&mut state.store.lock(), &name) {
                return;
            }
            tokio::time::sleep(CLEANUP_INTERVAL).await;
        }
    });
}
