//! Garbage collection by `ownerReferences`, as kube-controller-manager's collector does it.
//!
//! A delete chooses a propagation policy (`propagationPolicy` in the query or the
//! DeleteOptions body, else the kind's default: Orphan for batch/v1 Jobs and
//! ReplicationControllers, Background for everything else):
//! - Background: the owner goes at once; the collector then deletes every dependent whose
//!   owners are all gone (a dependent with a surviving owner only loses the dead reference).
//! - Foreground: the owner gets a `deletionTimestamp` and the `foregroundDeletion` finalizer;
//!   the collector deletes its dependents (in the foreground too, when they have dependents
//!   of their own) and removes the finalizer once no dependent with `blockOwnerDeletion`
//!   remains, so the owner goes last.
//! - Orphan: the owner gets the `orphan` finalizer; the collector strips the reference to it
//!   from its dependents, then removes the finalizer.
//!
//! The collector runs in the cluster's controller task ([`crate::controllers`]), fed by the
//! store's change feed. Dependents are found through an index from owner uid to dependent
//! keys, kept up to date from the feed, never by scanning the store.

use crate::api::meta::{self, metadata_mut};
use crate::api::objects::delete_locked;
use crate::discovery::Catalog;
use crate::status::ApiError;
use crate::store::{EventType, ObjectKey, StoreState, StoredEvent};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

pub const FOREGROUND: &str = "foregroundDeletion";
pub const ORPHAN: &str = "orphan";

/// What happens to an object's dependents when it is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Background,
    Foreground,
    Orphan,
}

impl Propagation {
    /// A `propagationPolicy` value; anything else is the real server's 422.
    pub fn parse(s: &str) -> Result<Self, ApiError> {
        match s {
            "Background" => Ok(Propagation::Background),
            "Foreground" => Ok(Propagation::Foreground),
            "Orphan" => Ok(Propagation::Orphan),
            other => Err(ApiError::invalid(
                "meta.k8s.io",
                "DeleteOptions",
                "",
                "propagationPolicy",
                &format!(
                    "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\""
                ),
            )),
        }
    }

    /// The registry's default for a kind: batch/v1 Jobs and ReplicationControllers keep
    /// their pods unless told otherwise.
    pub fn default_for(group: &str, resource: &str) -> Self {
        match (group, resource) {
            ("batch", "jobs") | ("", "replicationcontrollers") => Propagation::Orphan,
            _ => Propagation::Background,
        }
    }
}

/// The warning the Job registry adds to a delete that orphans pods by default.
pub const JOB_ORPHAN_WARNING: &str = "child pods are preserved by default when jobs are deleted; set propagationPolicy=Background to remove them or set propagationPolicy=Orphan to suppress this warning";

fn finalizers(object: &Value) -> Vec<String> {
    object
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|f| {
            f.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn has_finalizer(object: &Value, name: &str) -> bool {
    finalizers(object).iter().any(|f| f == name)
}

/// Deletes `key` with `policy`; returns the object to report. Background deletion is the
/// plain one; Foreground and Orphan mark the object and leave the rest to the collector.
pub fn delete(
    store: &mut StoreState,
    key: &ObjectKey,
    dry_run: bool,
    policy: Propagation,
) -> Option<Value> {
    let finalizer = match policy {
        _ if crate::namespaces::is_namespace(key) => None,
        Propagation::Background => None,
        Propagation::Foreground => Some(FOREGROUND),
        Propagation::Orphan => Some(ORPHAN),
    };
    let Some(finalizer) = finalizer else {
        return delete_locked(store, key, dry_run);
    };
    let current = store.get(key)?.clone();
    let mut object = (*current).clone();
    if meta::is_deleting(&object) && has_finalizer(&object, finalizer) {
        return Some(object);
    }
    let mut list = finalizers(&object);
    list.retain(|f| f != FOREGROUND && f != ORPHAN);
    list.push(finalizer.to_string());
    let m = metadata_mut(&mut object);
    m.insert("finalizers".into(), json!(list));
    if !m.contains_key("deletionTimestamp") {
        m.insert("deletionTimestamp".into(), json!(meta::now()));
        m.insert("deletionGracePeriodSeconds".into(), json!(0));
    }
    if dry_run {
        return Some(object);
    }
    Some((*store.put(key.clone(), object)).clone())
}

fn owner_refs(object: &Value) -> &[Value] {
    object
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn ref_uid(r: &Value) -> Option<&str> {
    r.get("uid").and_then(Value::as_str)
}

/// The collector's state: the owner index and what to look at next.
#[derive(Debug, Default)]
pub struct Collector {
    /// Owner uid → the objects naming it in their ownerReferences.
    dependents: HashMap<String, BTreeSet<ObjectKey>>,
    /// Objects whose owners may be gone or in foreground deletion.
    check: BTreeSet<ObjectKey>,
    /// Owners being deleted in the foreground or orphaning.
    owners: BTreeSet<ObjectKey>,
    /// Owner references of deleted dependents, whose owners may be waiting for them.
    waiting: Vec<(String, Value)>,
}

impl Collector {
    /// Updates the index and queues work for one change.
    pub fn observe(&mut self, event: &StoredEvent) {
        let key = &event.key;
        let object = &event.object;
        let before = event.previous.as_deref().map(owner_refs).unwrap_or(&[]);
        let after = if event.kind == EventType::Deleted {
            &[][..]
        } else {
            owner_refs(object)
        };
        if before != after {
            for uid in before.iter().filter_map(ref_uid) {
                if let Some(set) = self.dependents.get_mut(uid) {
                    set.remove(key);
                    if set.is_empty() {
                        self.dependents.remove(uid);
                    }
                }
            }
            for uid in after.iter().filter_map(ref_uid) {
                self.dependents
                    .entry(uid.to_string())
                    .or_default()
                    .insert(key.clone());
            }
            if !after.is_empty() {
                self.check.insert(key.clone());
            }
        }
        match event.kind {
            EventType::Deleted => {
                if let Some(uid) = meta::meta_str(object, "uid")
                    && let Some(deps) = self.dependents.get(uid)
                {
                    self.check.extend(deps.iter().cloned());
                }
                for r in owner_refs(object) {
                    self.waiting.push((key.namespace.clone(), r.clone()));
                }
                self.owners.remove(key);
            }
            _ if meta::is_deleting(object)
                && (has_finalizer(object, FOREGROUND) || has_finalizer(object, ORPHAN)) =>
            {
                self.owners.insert(key.clone());
            }
            _ => {}
        }
    }

    /// Rebuilds the index from the store (after missing part of the feed).
    pub fn resync(&mut self, store: &StoreState) {
        *self = Collector::default();
        for (key, object) in store.all() {
            for uid in owner_refs(object).iter().filter_map(ref_uid) {
                self.dependents
                    .entry(uid.to_string())
                    .or_default()
                    .insert(key.clone());
            }
            if !owner_refs(object).is_empty() {
                self.check.insert(key.clone());
            }
            if meta::is_deleting(object)
                && (has_finalizer(object, FOREGROUND) || has_finalizer(object, ORPHAN))
            {
                self.owners.insert(key.clone());
            }
        }
    }

    pub fn idle(&self) -> bool {
        self.check.is_empty() && self.owners.is_empty() && self.waiting.is_empty()
    }

    /// Does the queued work; its writes come back through the feed.
    pub fn process(&mut self, store: &mut StoreState, catalog: &Catalog) {
        for (namespace, r) in std::mem::take(&mut self.waiting) {
            if let Some(Some((k, _))) = resolve(store, catalog, &namespace, &r) {
                self.owners.insert(k);
            }
        }
        for key in std::mem::take(&mut self.check) {
            self.check_dependent(store, catalog, &key);
        }
        let owners = std::mem::take(&mut self.owners);
        for key in owners {
            if !self.process_owner(store, &key) {
                // Still waiting for blocking dependents: looked at again when one goes.
                self.owners.insert(key);
            }
        }
        if self.idle() {
            self.dependents.shrink_to_fit();
        }
    }

    fn has_dependents(&self, object: &Value) -> bool {
        meta::meta_str(object, "uid").is_some_and(|u| self.dependents.contains_key(u))
    }

    fn delete_dependent(
        &self,
        store: &mut StoreState,
        key: &ObjectKey,
        object: &Value,
        foreground: bool,
    ) {
        if meta::is_deleting(object) {
            return;
        }
        let policy = if foreground && self.has_dependents(object) {
            Propagation::Foreground
        } else {
            Propagation::Background
        };
        delete(store, key, false, policy);
    }

    fn check_dependent(&mut self, store: &mut StoreState, catalog: &Catalog, key: &ObjectKey) {
        let Some(object) = store.get(key).cloned() else {
            return;
        };
        let refs = owner_refs(&object);
        let mut alive = false;
        let mut foreground = false;
        let mut dead = Vec::new();
        for r in refs {
            match resolve(store, catalog, &key.namespace, r) {
                // A kind this cluster does not serve: leave the reference alone.
                None => alive = true,
                Some(Some((_, owner))) if meta::meta_str(&owner, "uid") == ref_uid(r) => {
                    alive = true;
                    foreground |= meta::is_deleting(&owner) && has_finalizer(&owner, FOREGROUND);
                }
                Some(_) => dead.extend(ref_uid(r).map(str::to_string)),
            }
        }
        if refs.is_empty() {
            return;
        }
        if !alive {
            self.delete_dependent(store, key, &object, false);
        } else if foreground {
            self.delete_dependent(store, key, &object, true);
        } else if !dead.is_empty() {
            strip_refs(store, key, &object, |uid| dead.iter().any(|d| d == uid));
        }
    }

    /// Works on an owner being deleted in the foreground or orphaning its dependents;
    /// true when it is done with it.
    fn process_owner(&mut self, store: &mut StoreState, key: &ObjectKey) -> bool {
        let Some(owner) = store.get(key).cloned() else {
            return true;
        };
        if !meta::is_deleting(&owner) {
            return true;
        }
        let uid = meta::meta_str(&owner, "uid").unwrap_or("").to_string();
        let deps: Vec<(ObjectKey, Arc<Value>)> = self
            .dependents
            .get(&uid)
            .into_iter()
            .flatten()
            .filter_map(|k| Some((k.clone(), store.get(k)?.clone())))
            .collect();
        let mut list = finalizers(&owner);
        if has_finalizer(&owner, ORPHAN) {
            for (k, d) in &deps {
                strip_refs(store, k, d, |u| u == uid);
            }
            list.retain(|f| f != ORPHAN);
        }
        if has_finalizer(&owner, FOREGROUND) {
            for (k, d) in &deps {
                self.delete_dependent(store, k, d, true);
            }
            let blocking = deps.iter().any(|(k, _)| {
                store.get(k).is_some_and(|d| {
                    owner_refs(d).iter().any(|r| {
                        ref_uid(r) == Some(uid.as_str())
                            && r.get("blockOwnerDeletion").and_then(Value::as_bool) == Some(true)
                    })
                })
            });
            if blocking {
                return false;
            }
            list.retain(|f| f != FOREGROUND);
        }
        if list.is_empty() {
            store.remove(key);
        } else {
            let mut new = (*owner).clone();
            metadata_mut(&mut new).insert("finalizers".into(), json!(list));
            crate::controllers::common::write(store, key, &owner, new);
        }
        true
    }
}

/// Removes the owner references whose uid `gone` picks from `object`.
fn strip_refs(
    store: &mut StoreState,
    key: &ObjectKey,
    object: &Value,
    gone: impl Fn(&str) -> bool,
) {
    let kept: Vec<Value> = owner_refs(object)
        .iter()
        .filter(|r| !ref_uid(r).is_some_and(&gone))
        .cloned()
        .collect();
    let mut new = object.clone();
    let m = metadata_mut(&mut new);
    if kept.is_empty() {
        m.remove("ownerReferences");
    } else {
        m.insert("ownerReferences".into(), json!(kept));
    }
    crate::controllers::common::write(store, key, object, new);
}

/// The object an owner reference names: `None` when the cluster does not serve its kind,
/// `Some(None)` when no such object exists.
fn resolve(
    store: &StoreState,
    catalog: &Catalog,
    namespace: &str,
    r: &Value,
) -> Option<Option<(ObjectKey, Arc<Value>)>> {
    let api_version = r.get("apiVersion")?.as_str()?;
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    let info = catalog.by_kind(group, r.get("kind")?.as_str()?)?;
    let ns = if info.namespaced { namespace } else { "" };
    let key = ObjectKey::new(group, &info.plural, ns, r.get("name")?.as_str()?);
    Some(store.get(&key).cloned().map(|o| (key, o)))
}
