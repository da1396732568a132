//! What an apply did to each object. Created, configured and unchanged are judged by the
//! object's resourceVersion as the dry-run saw it and as the write returned it: none
//! before means created, a new one means the server changed something, the same one
//! means the apply was a no-op. Objects whose dry-run matched the live object are not
//! written and are reported unchanged; objects the annotations exclude are skipped.

use flotilla_render::ObjectId;

use crate::inventory::{Inventory, InventoryEntry};

/// What the apply did to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// It did not exist.
    Created,
    /// It existed and the apply changed it (its resourceVersion changed).
    Configured,
    /// It existed and already matched (its resourceVersion did not change).
    Unchanged,
    /// An immutable field changed: it was deleted and created anew (`force`).
    Recreated,
    /// Its annotations (`reconcile: disabled`, `ssa: Ignore`, `ssa: IfNotPresent` on an
    /// existing object) kept it from being written.
    Skipped,
}

/// One object of the set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedObject {
    /// The object, as the manifest names it.
    pub id: ObjectId,
    /// Its inventory entry: the namespace it went to and the version it was applied as.
    pub entry: InventoryEntry,
    /// What the apply did.
    pub action: Action,
    /// Its resourceVersion after the apply; `None` for a skipped object that does not exist.
    pub resource_version: Option<String>,
}

/// Every object of a successful apply, in apply order (stage by stage, the set's order
/// within a stage).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// The objects.
    pub objects: Vec<AppliedObject>,
}

impl ApplyReport {
    /// How many objects the apply did `action` to.
    pub fn count(&self, action: Action) -> usize {
        self.objects.iter().filter(|o| o.action == action).count()
    }

    /// The inventory of the applied set: every object, skipped ones included (as Flux
    /// keeps them), so the next apply prunes exactly what leaves the set.
    pub fn inventory(&self) -> Inventory {
        Inventory::new(self.objects.iter().map(|o| o.entry.clone()))
    }
}
