//! Which namespaces hold objects carrying a label, per resource: what lets a list with a
//! label selector read only the namespaces that can match instead of every object of the
//! resource. Flotilla's applier lists each resource across all namespaces by its owner
//! labels; without this, each such list read every object of the resource in the cluster,
//! under the store lock.
//!
//! The index answers "where", not "which": a list still reads every object in those
//! namespaces and applies the whole selector, so the answer, its order (key order:
//! namespace, then name) and paging are exactly a full scan's. Kept by the store on every
//! insert and remove (see [`crate::store::StoreState::put`]), so no write path can forget it,
//! and cleared with a wiped store. Counting namespaces instead of listing objects keeps it
//! small: a label shared by many objects of a namespace costs one entry.

use crate::store::ObjectKey;
use foldhash::HashMap;
use serde_json::Value;

/// A label's namespaces, sorted, each with how many objects there carry it.
type Namespaces = Vec<(String, u32)>;
/// Label value → namespaces.
type Values = HashMap<String, Namespaces>;
/// Label key → values.
type Keys = HashMap<String, Values>;

/// Group → resource → label key → label value → namespaces. Nested so lookups need no
/// allocation.
#[derive(Debug, Default)]
pub struct LabelIndex {
    groups: HashMap<String, HashMap<String, Keys>>,
}

impl LabelIndex {
    /// The namespaces (sorted) holding objects of a resource labelled `key=value`; empty
    /// when there are none.
    pub fn namespaces(
        &self,
        group: &str,
        resource: &str,
        key: &str,
        value: &str,
    ) -> &[(String, u32)] {
        self.groups
            .get(group)
            .and_then(|r| r.get(resource))
            .and_then(|k| k.get(key))
            .and_then(|v| v.get(value))
            .map_or(&[], Vec::as_slice)
    }

    /// Accounts for the object at `key` changing from `old` to `new` (`None`: absent).
    pub(crate) fn replace(&mut self, key: &ObjectKey, old: Option<&Value>, new: Option<&Value>) {
        let (old, new) = (old.and_then(labels), new.and_then(labels));
        if old == new {
            return;
        }
        for (k, v) in old.into_iter().flatten() {
            if let Some(v) = v.as_str() {
                self.remove(key, k, v);
            }
        }
        for (k, v) in new.into_iter().flatten() {
            if let Some(v) = v.as_str() {
                self.add(key, k, v);
            }
        }
    }

    fn add(&mut self, at: &ObjectKey, key: &str, value: &str) {
        let resources = slot(&mut self.groups, &at.group);
        let keys = slot(resources, &at.resource);
        let namespaces = slot(slot(keys, key), value);
        match namespaces.binary_search_by(|(ns, _)| ns.as_str().cmp(&at.namespace)) {
            Ok(i) => namespaces[i].1 += 1,
            Err(i) => namespaces.insert(i, (at.namespace.clone(), 1)),
        }
    }

    /// One object fewer; entries left empty are dropped, so the index never outgrows what
    /// is stored.
    fn remove(&mut self, at: &ObjectKey, key: &str, value: &str) {
        let Some(resources) = self.groups.get_mut(&at.group) else {
            return;
        };
        let Some(keys) = resources.get_mut(&at.resource) else {
            return;
        };
        let Some(values) = keys.get_mut(key) else {
            return;
        };
        let Some(namespaces) = values.get_mut(value) else {
            return;
        };
        if let Ok(i) = namespaces.binary_search_by(|(ns, _)| ns.as_str().cmp(&at.namespace)) {
            namespaces[i].1 -= 1;
            if namespaces[i].1 == 0 {
                namespaces.remove(i);
            }
        }
        if namespaces.is_empty() {
            values.remove(value);
            if values.is_empty() {
                keys.remove(key);
                if keys.is_empty() {
                    resources.remove(&at.resource);
                    if resources.is_empty() {
                        self.groups.remove(&at.group);
                    }
                }
            }
        }
    }

    pub(crate) fn clear(&mut self) {
        self.groups.clear();
    }
}

/// `map[key]`, inserted empty if missing; the key is copied only then (most writes add
/// labels the index already has).
fn slot<'m, V: Default>(map: &'m mut HashMap<String, V>, key: &str) -> &'m mut V {
    if map.contains_key(key) {
        // Invariant: just checked to be there.
        #[allow(clippy::expect_used)]
        return map.get_mut(key).expect("present");
    }
    map.entry(key.to_string()).or_default()
}

fn labels(object: &Value) -> Option<&serde_json::Map<String, Value>> {
    object.get("metadata")?.get("labels")?.as_object()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn labelled(labels: Value) -> Value {
        json!({"metadata": {"labels": labels}})
    }

    fn names<'a>(index: &'a LabelIndex, key: &str, value: &str) -> Vec<(&'a str, u32)> {
        index
            .namespaces("", "configmaps", key, value)
            .iter()
            .map(|(ns, n)| (ns.as_str(), *n))
            .collect()
    }

    #[test]
    fn counts_namespaces_per_label_and_forgets_emptied_ones() {
        let mut index = LabelIndex::default();
        let a1 = ObjectKey::new("", "configmaps", "b", "one");
        let a2 = ObjectKey::new("", "configmaps", "b", "two");
        let c = ObjectKey::new("", "configmaps", "a", "one");
        let web = labelled(json!({"app": "web", "tier": "front"}));
        index.replace(&a1, None, Some(&web));
        index.replace(&a2, None, Some(&web));
        index.replace(&c, None, Some(&web));
        assert_eq!(names(&index, "app", "web"), [("a", 1), ("b", 2)], "sorted");
        index.replace(&a1, Some(&web), None);
        assert_eq!(names(&index, "app", "web"), [("a", 1), ("b", 1)]);
        let db = labelled(json!({"app": "db", "n": 5}));
        index.replace(&a2, Some(&web), Some(&db));
        assert_eq!(names(&index, "app", "web"), [("a", 1)]);
        assert_eq!(names(&index, "app", "db"), [("b", 1)]);
        assert!(names(&index, "n", "5").is_empty(), "not a string label");
        assert!(
            index.namespaces("", "secrets", "app", "db").is_empty(),
            "per resource"
        );
        index.replace(&a2, Some(&db), None);
        index.replace(&c, Some(&web), None);
        assert!(index.groups.is_empty(), "nothing left behind");
        index.replace(&c, None, Some(&web));
        index.clear();
        assert!(names(&index, "app", "web").is_empty());
    }
}
