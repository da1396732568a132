//! Ownership bookkeeping for apply and update, modelled on structured-merge-diff's
//! `merge.Updater` (the layer below the API server's managedFields encoding).
//!
//! The rules (Kubernetes "Server-Side Apply" documentation, and SMD):
//! - **Update** (create, PUT, non-apply PATCH): the manager takes ownership of every field
//!   whose value it added or changed; other managers lose those fields. Never conflicts.
//! - **Apply**: the config is merged over the live object and the applier's set becomes
//!   exactly the config's fields. Fields it applied last time but not now are removed from
//!   the object unless another manager still owns them. A field another manager owns
//!   conflicts if the apply would change its value; with `force` the applier takes it over.
//!   Applying the value a field already has makes ownership shared.
//! - Removing a field from the object removes it from every manager's set; managers left
//!   with nothing are dropped.
//!
//! Managers are identified by opaque strings; the API layer ([`super::manager`]) encodes
//! manager name, operation, apiVersion and subresource into them. All managers are assumed
//! to share one schema (kubesim serves one version per resource), so no conversion happens.

use super::SsaError;
use super::merge::{self, Comparison};
use super::path::Path;
use super::schema::{Schema, TypeRef};
use super::set::FieldSet;
use super::typed::{reconcile_with_schema, remove_items, to_field_set};
use super::value;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt;

/// The fields one manager owns, at the API version it last wrote with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionedSet {
    /// Owned fields.
    pub set: FieldSet,
    /// API version of the manager's last write.
    pub api_version: String,
    /// Whether the fields were applied (as opposed to updated).
    pub applied: bool,
}

/// Every manager's fields, by manager identity.
pub type ManagedFields = BTreeMap<String, VersionedSet>;

/// One field an apply would change although another manager owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    /// Identity of the owning manager.
    pub manager: String,
    /// The contested field.
    pub path: Path,
}

/// All conflicts of one apply, grouped by manager (sorted) and by path (set order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflicts(pub Vec<Conflict>);

impl fmt::Display for Conflicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|c| format!("conflict with {:?}: {}", c.manager, c.path))
            .collect();
        write!(f, "{}", parts.join("\n"))
    }
}

/// The result of an apply.
#[derive(Clone, Debug)]
pub struct Applied {
    /// The new object, or `None` when the apply changes nothing in the object (managed
    /// fields may still have changed, e.g. when ownership became shared).
    pub object: Option<Value>,
    /// Ownership after the apply.
    pub managers: ManagedFields,
}

/// Runs apply and update against one root type of a schema.
#[derive(Clone, Copy, Debug)]
pub struct Updater<'a> {
    /// Types of the objects.
    pub schema: &'a Schema,
    /// Type of the object root.
    pub root: &'a TypeRef,
    /// Fields nobody may own through this endpoint (e.g. `status` on the main resource):
    /// the API server's "reset fields".
    pub ignored: Option<&'a FieldSet>,
}

impl Updater<'_> {
    fn exclude_ignored(&self, set: FieldSet) -> FieldSet {
        match self.ignored {
            Some(ignored) if !ignored.is_empty() => set.recursive_difference(ignored),
            _ => set,
        }
    }

    /// Brings recorded ownership in line with the current schema (see
    /// [`super::typed::reconcile_with_schema`]).
    fn reconcile(&self, managers: &mut ManagedFields) {
        for vs in managers.values_mut() {
            if let Some(set) = reconcile_with_schema(self.schema, &vs.set, self.root) {
                vs.set = set;
            }
        }
    }

    /// Transfers ownership of what changed between `old` and `new` away from every manager
    /// but `workflow`, or reports conflicts when not forced.
    fn update_managers(
        &self,
        old: &Value,
        new: &Value,
        managers: &mut ManagedFields,
        workflow: &str,
        force: bool,
    ) -> Result<Comparison, SsaError> {
        let compare = merge::compare(self.schema, old, new, self.root)?;
        let changed = self.exclude_ignored(compare.modified.union(&compare.added));
        let removed = self.exclude_ignored(compare.removed.clone());
        let mut conflicts = Vec::new();
        let mut taken = BTreeMap::new();
        for (manager, owned) in managers.iter() {
            if manager == workflow {
                continue;
            }
            let contested = owned.set.intersection(&changed);
            if !contested.is_empty() {
                conflicts.extend(contested.paths().into_iter().map(|path| Conflict {
                    manager: manager.clone(),
                    path,
                }));
                taken.insert(manager.clone(), contested);
            }
        }
        if !force && !conflicts.is_empty() {
            return Err(SsaError::Conflicts(Conflicts(conflicts)));
        }
        for (manager, owned) in managers.iter_mut() {
            if manager == workflow {
                continue;
            }
            if let Some(contested) = taken.get(manager) {
                owned.set = owned.set.difference(contested);
            }
            if !removed.is_empty() {
                owned.set = owned.set.difference(&removed);
            }
        }
        managers.retain(|_, v| !v.set.is_empty());
        Ok(compare)
    }

    /// Records a non-apply write of `new` over `live` by `manager`.
    pub fn update(
        &self,
        live: &Value,
        new: &Value,
        api_version: &str,
        managers: &mut ManagedFields,
        manager: &str,
    ) -> Result<(), SsaError> {
        self.reconcile(managers);
        let compare = self.update_managers(live, new, managers, manager, true)?;
        let previous = managers.remove(manager).map(|v| v.set).unwrap_or_default();
        let set = previous
            .union(&compare.modified)
            .union(&compare.added)
            .difference(&compare.removed);
        let set = self.exclude_ignored(set);
        if !set.is_empty() {
            managers.insert(
                manager.to_string(),
                VersionedSet {
                    set,
                    api_version: api_version.to_string(),
                    applied: false,
                },
            );
        }
        Ok(())
    }

    /// Applies `config` over `live` for `manager`.
    pub fn apply(
        &self,
        live: &Value,
        config: &Value,
        api_version: &str,
        mut managers: ManagedFields,
        manager: &str,
        force: bool,
    ) -> Result<Applied, SsaError> {
        self.reconcile(&mut managers);
        let merged = merge::merge(self.schema, live, config, self.root)?;
        let last = managers.get(manager).map(|v| v.set.clone());
        let set = self.exclude_ignored(to_field_set(self.schema, config, self.root)?);
        managers.insert(
            manager.to_string(),
            VersionedSet {
                set,
                api_version: api_version.to_string(),
                applied: true,
            },
        );
        let pruned = match last {
            Some(last) if !last.is_empty() => self.prune(&merged, &managers, &last)?,
            _ => merged,
        };
        self.update_managers(live, &pruned, &mut managers, manager, force)?;
        // Compared as values, not field by field: a reordered list is a change too.
        let object = (!value::equal(live, &pruned)).then_some(pruned);
        Ok(Applied { object, managers })
    }

    fn ensure(&self, set: &FieldSet) -> FieldSet {
        set.ensure_named_fields_are_members(self.schema, self.root)
    }

    fn fields_of(&self, v: &Value) -> Result<FieldSet, SsaError> {
        Ok(self.ensure(&to_field_set(self.schema, v, self.root)?))
    }

    /// Removes what the applier stopped applying, keeping what any manager (the applier's
    /// new set included) still owns and anything that was never in the applier's last set.
    fn prune(
        &self,
        merged: &Value,
        managers: &ManagedFields,
        last: &FieldSet,
    ) -> Result<Value, SsaError> {
        let last = self.ensure(last);
        let without_last = remove_items(self.schema, merged, &last, self.root);

        // Add back what some manager owns.
        let owned = managers
            .values()
            .fold(FieldSet::new(), |acc, v| acc.union(&v.set));
        let merged_set = self.fields_of(merged)?;
        let keep = self.fields_of(&without_last)?.union(&self.ensure(&owned));
        let owned_back = remove_items(
            self.schema,
            merged,
            &merged_set.difference(&keep),
            self.root,
        );

        // Add back what was removed only as a side effect: a field below a removed
        // parent that was never in the last applied set.
        let dropped = merged_set.difference(&self.fields_of(&owned_back)?);
        Ok(remove_items(
            self.schema,
            merged,
            &dropped.intersection(&last),
            self.root,
        ))
    }
}
