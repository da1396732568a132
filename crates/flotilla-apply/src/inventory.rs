//! The inventory: which objects one deployer applied to one cluster, as Flux's
//! `status.inventory` records them. Each apply returns the inventory of its set; the caller
//! stores it (PostgreSQL, per cluster and deployer) and hands it back to [`prune`] on the
//! next apply, which deletes exactly what left it.
//!
//! An entry is the object's identity with its *effective* namespace (the namespace the
//! apply wrote it to, the client's default for a namespaced manifest without one) and the
//! API version it was applied as. Two entries name the same object when everything but
//! the version matches: moving a manifest from `v1beta1` to `v1` is not a removal.
//!
//! [`prune`]: crate::Inventory::removed_in

use std::collections::BTreeSet;
use std::fmt;

use flotilla_render::ObjectId;
use serde::{Deserialize, Serialize};

/// One applied object: `(group, kind, namespace, name, version)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct InventoryEntry {
    /// API group; empty for the core group.
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Namespace the object lives in; `None` when cluster-scoped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name.
    pub name: String,
    /// API version it was applied as (`v1`, not `apps/v1`).
    pub version: String,
}

impl InventoryEntry {
    /// The object's identity (without the version).
    pub fn id(&self) -> ObjectId {
        ObjectId {
            group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// `apiVersion`: `group/version`, or `version` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether both entries name the same object, whatever version each was applied as.
    pub fn same_object(&self, other: &InventoryEntry) -> bool {
        self.identity() == other.identity()
    }

    fn identity(&self) -> (&str, &str, Option<&str>, &str) {
        (
            &self.group,
            &self.kind,
            self.namespace.as_deref(),
            &self.name,
        )
    }
}

impl fmt::Display for InventoryEntry {
    /// As [`ObjectId`] prints: `Deployment.apps/team/web`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.id().fmt(f)
    }
}

/// The objects of one apply, in a stable order (group, kind, namespace, name), each once.
/// Serializes as a plain list of entries.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<InventoryEntry>", into = "Vec<InventoryEntry>")]
pub struct Inventory {
    entries: Vec<InventoryEntry>,
}

impl Inventory {
    /// An inventory of `entries`, sorted; of two entries for the same object (different
    /// versions) the later one in `entries` wins.
    pub fn new(entries: impl IntoIterator<Item = InventoryEntry>) -> Self {
        let mut by_object = std::collections::BTreeMap::new();
        for entry in entries {
            let key = (
                entry.group.clone(),
                entry.kind.clone(),
                entry.namespace.clone(),
                entry.name.clone(),
            );
            by_object.insert(key, entry);
        }
        Self {
            entries: by_object.into_values().collect(),
        }
    }

    /// The entries, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, InventoryEntry> {
        self.entries.iter()
    }

    /// How many objects.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether the inventory holds `entry`'s object (in any version).
    pub fn contains(&self, entry: &InventoryEntry) -> bool {
        self.entries.iter().any(|e| e.same_object(entry))
    }

    /// Entries of `self` whose objects `current` lacks: what left the inventory.
    pub fn removed_in(&self, current: &Inventory) -> Vec<InventoryEntry> {
        let kept: BTreeSet<_> = current
            .entries
            .iter()
            .map(InventoryEntry::identity)
            .collect();
        self.entries
            .iter()
            .filter(|e| !kept.contains(&e.identity()))
            .cloned()
            .collect()
    }
}

impl From<Vec<InventoryEntry>> for Inventory {
    fn from(entries: Vec<InventoryEntry>) -> Self {
        Self::new(entries)
    }
}

impl From<Inventory> for Vec<InventoryEntry> {
    fn from(inventory: Inventory) -> Self {
        inventory.entries
    }
}

impl<'a> IntoIterator for &'a Inventory {
    type Item = &'a InventoryEntry;
    type IntoIter = std::slice::Iter<'a, InventoryEntry>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entry(
        group: &str,
        kind: &str,
        ns: Option<&str>,
        name: &str,
        version: &str,
    ) -> InventoryEntry {
        InventoryEntry {
            group: group.into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
            version: version.into(),
        }
    }

    #[test]
    fn sorted_unique_and_serializable() {
        let inventory = Inventory::new([
            entry("apps", "Deployment", Some("b"), "web", "v1"),
            entry("", "Namespace", None, "b", "v1"),
            entry("example.com", "Widget", Some("b"), "w", "v1beta1"),
            entry("apps", "Deployment", Some("a"), "web", "v1"),
            entry("example.com", "Widget", Some("b"), "w", "v1"),
        ]);
        let printed: Vec<String> = inventory.iter().map(ToString::to_string).collect();
        assert_eq!(
            printed,
            [
                "Namespace/b",
                "Deployment.apps/a/web",
                "Deployment.apps/b/web",
                "Widget.example.com/b/w"
            ]
        );
        assert_eq!(inventory.iter().last().unwrap().version, "v1");
        assert_eq!(
            inventory.iter().last().unwrap().api_version(),
            "example.com/v1"
        );

        let json = serde_json::to_value(&inventory).unwrap();
        assert_eq!(
            json[0],
            json!({"group": "", "kind": "Namespace", "name": "b", "version": "v1"})
        );
        let back: Inventory = serde_json::from_value(json).unwrap();
        assert_eq!(back, inventory);
    }

    #[test]
    fn removed_ignores_versions() {
        let previous = Inventory::new([
            entry("", "ConfigMap", Some("a"), "x", "v1"),
            entry("example.com", "Widget", Some("a"), "w", "v1beta1"),
            entry("", "ConfigMap", Some("a"), "gone", "v1"),
        ]);
        let current = Inventory::new([
            entry("", "ConfigMap", Some("a"), "x", "v1"),
            entry("example.com", "Widget", Some("a"), "w", "v1"),
        ]);
        assert_eq!(
            previous.removed_in(&current),
            [entry("", "ConfigMap", Some("a"), "gone", "v1")]
        );
        assert!(current.contains(&entry("example.com", "Widget", Some("a"), "w", "v2")));
    }
}
