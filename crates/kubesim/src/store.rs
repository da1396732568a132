//! One cluster's object storage: an in-memory, etcd-like store.
//!
//! - Objects live in one ordered map keyed by `(group, resource, namespace, name)`, so a
//!   list comes out in the order etcd's key space gives (`/registry/<resource>/<ns>/<name>`).
//!   A hash map of the same entries answers reads of one object: every request reads one
//!   or more (the object, its namespace), and a search of the ordered map compares four
//!   strings per step, which on a cluster of thousands of objects cost more than the rest
//!   of a small request's store work.
//! - Every change takes the next value of the cluster's resourceVersion counter, which is
//!   written into the object's `metadata.resourceVersion`.
//! - Every change is appended to a bounded history, from which watches starting at an old
//!   resourceVersion replay. Replaying from before the oldest retained event is impossible:
//!   that is etcd's compaction, and watches get 410 Expired. [`Store::compact`] forces it.
//! - Changes are also broadcast to running watches. A watch subscribes while holding the
//!   store lock and reads its starting snapshot under the same lock, so it can neither miss
//!   nor duplicate an event.
//!
//! - The store also keeps what stored Services hold of the cluster IP and node port ranges
//!   ([`Allocations`]) and which namespaces hold each label ([`LabelIndex`]), updated by the
//!   same insert or remove, so allocating needs no scan and a list by label selector reads
//!   only the namespaces that can match.
//!
//! A plain mutex is enough: the lock is never held across an await, and each cluster has
//! its own store, so clusters never contend with each other.

use crate::allocations::Allocations;
use crate::label_index::LabelIndex;
use crate::selectors::LabelSelector;
use foldhash::{HashMap, HashMapExt};
use serde_json::Value;
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::broadcast;

/// Where an object lives. The namespace is empty for cluster-scoped objects.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(group: &str, resource: &str, namespace: &str, name: &str) -> Self {
        ObjectKey {
            group: group.to_string(),
            resource: resource.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as history and watches see it.
#[derive(Debug)]
pub struct StoredEvent {
    pub resource_version: u64,
    pub kind: EventType,
    pub key: ObjectKey,
    /// The object after the change (for a deletion, the object as it was deleted).
    pub object: Arc<Value>,
    /// The object before the change, so a watch with a selector can tell an object that
    /// stopped matching (sent as DELETED) from one that started (ADDED).
    pub previous: Option<Arc<Value>>,
}

/// The mutable part of the store, behind the lock.
#[derive(Debug)]
pub struct StoreState {
    resource_version: u64,
    objects: BTreeMap<ObjectKey, Arc<Value>>,
    /// The same entries as `objects`, for point reads.
    by_key: HashMap<ObjectKey, Arc<Value>>,
    history: VecDeque<Arc<StoredEvent>>,
    history_limit: usize,
    /// Replay from a resourceVersion below this is impossible (compacted away).
    compacted: u64,
    events: broadcast::Sender<Arc<StoredEvent>>,
    allocations: Allocations,
    labels: LabelIndex,
}

/// Sets `metadata.resourceVersion`.
fn stamp(object: &mut Value, rv: u64) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(rv.to_string()));
    }
}

impl StoreState {
    pub fn resource_version(&self) -> u64 {
        self.resource_version
    }

    pub fn compacted(&self) -> u64 {
        self.compacted
    }

    pub fn get(&self, key: &ObjectKey) -> Option<&Arc<Value>> {
        self.by_key.get(key)
    }

    /// The cluster IPs and node ports the stored Services hold.
    pub fn allocations(&self) -> &Allocations {
        &self.allocations
    }

    /// Objects of one resource, in one namespace or all.
    pub fn list<'a>(
        &'a self,
        group: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a {
        let start = ObjectKey::new(group, resource, namespace.unwrap_or(""), "");
        self.objects.range(start..).take_while(move |(k, _)| {
            k.group == group
                && k.resource == resource
                && namespace.is_none_or(|ns| k.namespace == ns)
        })
    }

    /// The objects of one resource, in one namespace or all, that may match `selector`, in
    /// key order: with an equality requirement (`key=value`, `key in (value)`), only the
    /// namespaces holding objects so labelled are read. The caller applies the selector.
    pub fn candidates<'a>(
        &'a self,
        group: &'a str,
        resource: &'a str,
        namespace: Option<&'a str>,
        selector: &LabelSelector,
    ) -> Box<dyn Iterator<Item = (&'a ObjectKey, &'a Arc<Value>)> + 'a> {
        let Some(namespaces) = selector
            .required()
            .map(|(k, v)| self.labels.namespaces(group, resource, k, v))
            .min_by_key(|n| n.len())
        else {
            return Box::new(self.list(group, resource, namespace));
        };
        match namespace {
            Some(ns) if namespaces.iter().any(|(n, _)| n == ns) => {
                Box::new(self.list(group, resource, Some(ns)))
            }
            Some(_) => Box::new(std::iter::empty()),
            None => Box::new(
                namespaces
                    .iter()
                    .flat_map(move |(ns, _)| self.list(group, resource, Some(ns))),
            ),
        }
    }

    /// Every object, in key order.
    pub fn all(&self) -> impl Iterator<Item = (&ObjectKey, &Arc<Value>)> {
        self.objects.iter()
    }

    /// The keys of every object in `namespace`, in key order. Reads one range per stored
    /// resource, skipping from each resource to the next, not every object: a terminating
    /// namespace's cleanup calls this under the lock until the namespace is empty.
    pub fn namespace_keys(&self, namespace: &str) -> Vec<ObjectKey> {
        let mut keys = Vec::new();
        let mut next = self.objects.keys().next();
        while let Some(k) = next {
            keys.extend(
                self.list(&k.group, &k.resource, Some(namespace))
                    .map(|(k, _)| k.clone()),
            );
            // "\0" sorts before any character, so `(group, resource + "\0", "", "")` sorts
            // after every key of this resource and before every key of the next one.
            let past = ObjectKey::new(&k.group, &format!("{}\0", k.resource), "", "");
            next = self.objects.range(past..).next().map(|(k, _)| k);
        }
        keys
    }

    /// Events with a resourceVersion above `after`, oldest first, or `None` if some of them
    /// were compacted away.
    pub fn events_after(&self, after: u64) -> Option<Vec<Arc<StoredEvent>>> {
        if after < self.compacted {
            return None;
        }
        Some(
            self.history
                .iter()
                .filter(|e| e.resource_version > after)
                .cloned()
                .collect(),
        )
    }

    fn record(&mut self, event: StoredEvent) {
        let event = Arc::new(event);
        self.history.push_back(event.clone());
        while self.history.len() > self.history_limit {
            if let Some(old) = self.history.pop_front() {
                self.compacted = old.resource_version;
            }
        }
        // No receivers is normal (nobody watching).
        let _ = self.events.send(event);
        // Last step of every put and remove, so a failure leaves no half-done change.
        debug_assert_eq!(
            self.objects.len(),
            self.by_key.len(),
            "the store's two maps disagree"
        );
    }

    /// Stores `object` under `key` with the next resourceVersion and records the event.
    pub fn put(&mut self, key: ObjectKey, mut object: Value) -> Arc<Value> {
        self.resource_version += 1;
        let rv = self.resource_version;
        stamp(&mut object, rv);
        let object = Arc::new(object);
        // An update replaces in place: no copy of the key.
        let previous = match self.by_key.get_mut(&key) {
            Some(slot) => {
                if let Some(ordered) = self.objects.get_mut(&key) {
                    *ordered = object.clone();
                }
                Some(std::mem::replace(slot, object.clone()))
            }
            None => {
                self.by_key.insert(key.clone(), object.clone());
                self.objects.insert(key.clone(), object.clone());
                None
            }
        };
        self.allocations
            .replace(&key, previous.as_deref(), Some(&object));
        self.labels
            .replace(&key, previous.as_deref(), Some(&object));
        let kind = if previous.is_some() {
            EventType::Modified
        } else {
            EventType::Added
        };
        self.record(StoredEvent {
            resource_version: rv,
            kind,
            key,
            object: object.clone(),
            previous,
        });
        object
    }

    /// Removes the object at `key`; the DELETED event carries it with a new resourceVersion.
    pub fn remove(&mut self, key: &ObjectKey) -> Option<Arc<Value>> {
        let previous = self.objects.remove(key)?;
        self.by_key.remove(key);
        self.allocations.replace(key, Some(&previous), None);
        self.labels.replace(key, Some(&previous), None);
        self.resource_version += 1;
        let rv = self.resource_version;
        let mut last = (*previous).clone();
        stamp(&mut last, rv);
        let last = Arc::new(last);
        self.record(StoredEvent {
            resource_version: rv,
            kind: EventType::Deleted,
            key: key.clone(),
            object: last.clone(),
            previous: Some(previous),
        });
        Some(last)
    }

    fn compact_all(&mut self) {
        self.history.clear();
        self.resource_version += 1;
        self.compacted = self.resource_version;
    }

    /// Starts receiving live events (call before reading the starting point).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.events.subscribe()
    }
}

/// A cluster's store.
#[derive(Debug)]
pub struct Store {
    state: Mutex<StoreState>,
}

/// Buffered live events per watch before it is cut off as too slow (it then resumes from
/// its last resourceVersion, like after any dropped watch).
const BROADCAST_CAPACITY: usize = 256;

impl Store {
    pub fn new(history_limit: usize) -> Self {
        let (events, _) = broadcast::channel(BROADCAST_CAPACITY);
        Store {
            state: Mutex::new(StoreState {
                resource_version: 0,
                objects: BTreeMap::new(),
                by_key: HashMap::new(),
                history: VecDeque::new(),
                history_limit: history_limit.max(1),
                compacted: 0,
                events,
                allocations: Allocations::default(),
                labels: LabelIndex::default(),
            }),
        }
    }

    /// Locks the store. A poisoned lock (a panic while holding it) is taken over: a
    /// mutation cannot panic between its steps (only an allocation failure, which aborts),
    /// so the state is still consistent.
    pub fn lock(&self) -> MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Forgets every object and all history, as a server restarted on an empty etcd would;
    /// the resourceVersion keeps counting up so no client confuses old and new objects.
    pub fn wipe(&self) {
        let mut s = self.lock();
        s.objects.clear();
        s.by_key.clear();
        s.allocations.clear();
        s.labels.clear();
        s.compact_all();
    }

    /// Drops all history and moves the resourceVersion on: every watch resuming from a
    /// version a client has seen gets 410 Expired, so its client relists.
    pub fn compact(&self) {
        self.lock().compact_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Reading only the indexed namespaces finds exactly what a scan of every object does,
    /// in the same order, and a point read finds what the ordered map holds, through
    /// relabels, deletes and a wipe.
    #[test]
    fn label_candidates_agree_with_a_full_scan() {
        let store = Store::new(10);
        let selectors: Vec<LabelSelector> = [
            "app=a1",
            "app==a2,tier=t0",
            "app in (a0)",
            "tier=t1,app!=a1",
            "app in (a0,a1)",
            "tier",
            "app=none",
            "",
        ]
        .iter()
        .map(|s| LabelSelector::parse(s).unwrap())
        .collect();
        let check = |s: &StoreState| {
            assert_eq!(s.all().count(), s.by_key.len());
            for (key, object) in s.all() {
                assert!(
                    s.get(key).is_some_and(|got| Arc::ptr_eq(got, object)),
                    "{key:?}"
                );
            }
            for sel in &selectors {
                for ns in [None, Some("n0"), Some("n3"), Some("gone")] {
                    let matching = |o: &&Arc<Value>| {
                        sel.matches(o["metadata"].get("labels").and_then(Value::as_object))
                    };
                    let scan: Vec<_> = s
                        .list("", "configmaps", ns)
                        .filter(|(_, o)| matching(o))
                        .map(|(k, _)| k.clone())
                        .collect();
                    let indexed: Vec<_> = s
                        .candidates("", "configmaps", ns, sel)
                        .filter(|(_, o)| matching(o))
                        .map(|(k, _)| k.clone())
                        .collect();
                    assert_eq!(indexed, scan, "{sel:?} in {ns:?}");
                }
            }
        };
        let mut s = store.lock();
        for i in 0..60 {
            let key = ObjectKey::new("", "configmaps", &format!("n{}", i % 5), &format!("c{i}"));
            let labels = json!({"app": format!("a{}", i % 3), "tier": format!("t{}", i % 2)});
            s.put(
                key,
                json!({"metadata": {"name": format!("c{i}"), "labels": labels}}),
            );
            s.put(
                ObjectKey::new("", "secrets", "n0", &format!("s{i}")),
                json!({"metadata": {"labels": {"app": "a1"}}}),
            );
        }
        check(&s);
        for i in (0..60).step_by(4) {
            let key = ObjectKey::new("", "configmaps", &format!("n{}", i % 5), &format!("c{i}"));
            s.put(key, json!({"metadata": {"labels": {"app": "a0"}}}));
        }
        for i in (1..60).step_by(3) {
            s.remove(&ObjectKey::new(
                "",
                "configmaps",
                &format!("n{}", i % 5),
                &format!("c{i}"),
            ));
        }
        check(&s);
        // Only the namespaces holding the label are read.
        let solo = ObjectKey::new("", "configmaps", "n2", "solo");
        s.put(solo, json!({"metadata": {"labels": {"solo": "yes"}}}));
        let read: Vec<_> = s
            .candidates(
                "",
                "configmaps",
                None,
                &LabelSelector::parse("solo=yes").unwrap(),
            )
            .map(|(k, _)| k.namespace.as_str())
            .collect();
        assert!(
            !read.is_empty() && read.iter().all(|ns| *ns == "n2"),
            "{read:?}"
        );
        drop(s);
        store.wipe();
        let s = store.lock();
        check(&s);
        assert_eq!(
            s.candidates("", "configmaps", None, &selectors[0]).count(),
            0
        );
        assert!(
            s.get(&ObjectKey::new("", "configmaps", "n2", "solo"))
                .is_none()
        );
    }

    #[test]
    fn namespace_keys_skip_from_resource_to_resource() {
        let store = Store::new(10);
        let mut s = store.lock();
        let keys = [
            ("", "configmaps", "a", "x"),
            ("", "configmaps", "b", "x"),
            ("", "configmaps", "b", "y"),
            ("", "configmaps", "c", "x"),
            ("", "configmapsx", "b", "z"),
            ("", "namespaces", "", "b"),
            ("", "pods", "bb", "p"),
            ("apps", "deployments", "b", "d"),
            ("apps", "deployments", "c", "d"),
            ("x.io", "things", "b", "t"),
        ];
        for (g, r, ns, n) in keys {
            s.put(ObjectKey::new(g, r, ns, n), json!({"metadata": {}}));
        }
        let scan = |ns: &str| -> Vec<ObjectKey> {
            s.all()
                .map(|(k, _)| k)
                .filter(|k| k.namespace == ns)
                .cloned()
                .collect()
        };
        for ns in ["a", "b", "bb", "c", "", "none"] {
            assert_eq!(s.namespace_keys(ns), scan(ns), "{ns}");
        }
        assert_eq!(s.namespace_keys("b").len(), 5);
    }

    #[test]
    fn put_stamps_increasing_versions_and_history_bounds_replay() {
        let store = Store::new(2);
        let mut s = store.lock();
        let k = ObjectKey::new("", "configmaps", "default", "a");
        let o = s.put(k.clone(), json!({"metadata": {"name": "a"}}));
        assert_eq!(o["metadata"]["resourceVersion"], "1");
        s.put(k.clone(), json!({"metadata": {"name": "a"}}));
        let gone = s.remove(&k).unwrap();
        assert_eq!(gone["metadata"]["resourceVersion"], "3");
        assert!(s.events_after(0).is_none(), "event 1 was trimmed");
        let replay = s.events_after(1).unwrap();
        assert_eq!(replay.len(), 2);
        assert_eq!(replay[1].kind, EventType::Deleted);
        drop(s);
        store.compact();
        assert!(
            store.lock().events_after(3).is_none(),
            "a seen version is compacted"
        );
        assert!(store.lock().events_after(4).unwrap().is_empty());
    }
}
