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
use super::typed::{applied_field_set, reconcile_with_schema, remove_items, to_field_set};
use super::value;
use serde_json::{Map, Value};
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

/// Records `set` as `manager`'s, unless it is empty: a manager that owns nothing has no
/// managedFields entry.
fn record(
    managers: &mut ManagedFields,
    manager: &str,
    set: FieldSet,
    api_version: &str,
    applied: bool,
) {
    if !set.is_empty() {
        managers.insert(
            manager.to_string(),
            VersionedSet {
                set,
                api_version: api_version.to_string(),
                applied,
            },
        );
    }
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
    fn exclude_ignored(&self, mut set: FieldSet) -> FieldSet {
        if let Some(ignored) = self.ignored {
            set.subtract_recursive(ignored);
        }
        set
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
                owned.set.subtract(contested);
            }
            owned.set.subtract(&removed);
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
        let mut set = managers.remove(manager).map(|v| v.set).unwrap_or_default();
        set.extend(&compare.modified);
        set.extend(&compare.added);
        let set = set.difference(&compare.removed);
        record(
            managers,
            manager,
            self.exclude_ignored(set),
            api_version,
            false,
        );
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
        if managers.is_empty() && live.as_object().is_some_and(Map::is_empty) {
            return self.apply_to_empty(config, api_version, managers, manager);
        }
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
        // Pruning removes only fields of the last applied set that are no longer applied:
        // when the applier still applies all of them (a re-apply), there is nothing to do.
        let still_applied = |last: &FieldSet| {
            managers
                .get(manager)
                .is_some_and(|now| last.is_subset(&now.set))
        };
        let pruned = match last {
            Some(last) if !last.is_empty() && !still_applied(&last) => {
                self.prune(&merged, &managers, &last)?
            }
            _ => merged,
        };
        if managers.keys().any(|m| m != manager) {
            self.update_managers(live, &pruned, &mut managers, manager, force)?;
        } else {
            // Nobody else to take fields from or conflict with: what changed does not
            // matter (and the merge has already checked both objects against the schema).
            managers.retain(|_, v| !v.set.is_empty());
        }
        // Compared as values, not field by field: a reordered list is a change too.
        let object = (!value::equal(live, &pruned)).then_some(pruned);
        Ok(Applied { object, managers })
    }

    /// An apply to `{}` with no managers, i.e. a create: merging over nothing gives the
    /// configuration itself, there is nothing to prune and nobody to conflict with. Only
    /// the checks the merge would make remain (the configuration fits the schema and
    /// repeats no list key), and the applier owns the configuration's fields.
    fn apply_to_empty(
        &self,
        config: &Value,
        api_version: &str,
        mut managers: ManagedFields,
        manager: &str,
    ) -> Result<Applied, SsaError> {
        let set = self.exclude_ignored(applied_field_set(self.schema, config, self.root)?);
        record(&mut managers, manager, set, api_version, true);
        let empty = config.as_object().is_some_and(Map::is_empty);
        Ok(Applied {
            object: (!empty).then(|| config.clone()),
            managers,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::openapi;
    use crate::ssa::path::Path;
    use serde_json::json;

    /// A create (an apply to `{}` with nobody owning anything) skips the merge; it must
    /// give what the merge gives, errors included. A manager that owns nothing makes the
    /// same apply take the merge path.
    #[test]
    fn a_create_gives_what_merging_over_nothing_gives() {
        let (schema, root) = openapi::from_crd(&json!({
            "type": "object",
            "properties": {"spec": {"type": "object", "properties": {
                "targets": {"type": "array", "x-kubernetes-list-type": "map",
                            "x-kubernetes-list-map-keys": ["name"],
                            "items": {"type": "object", "properties": {
                                "name": {"type": "string"}, "weight": {"type": "integer"}}}},
                "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "hosts": {"type": "array", "items": {"type": "string"}},
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}}
            }}, "status": {"type": "object", "properties": {"ready": {"type": "boolean"}}}}
        }))
        .expect("converts");
        let ignored = FieldSet::from_paths([Path::fields(&["status"])]);
        let updater = Updater {
            schema: &schema,
            root: &root,
            ignored: Some(&ignored),
        };
        let configs = [
            json!({}),
            json!({"spec": {}}),
            json!({"spec": null, "status": {"ready": true}}),
            json!({"spec": {"targets": [{"name": "a", "weight": 1}, {"name": "b"}],
                            "tags": ["x", "y"], "hosts": ["h"], "labels": {"k": "v"},
                            "extra": {"any": {"deep": [1, 2]}}}}),
            json!({"spec": {"targets": [], "tags": [], "labels": {}, "extra": null}}),
            json!({"spec": {"targets": [{"name": "a"}, {"name": "a"}, {"weight": 2}]}}),
            json!({"spec": {"targets": [{"name": "a"}, {"weight": 2}, {"name": "a"}]}}),
            json!({"spec": {"tags": ["x", "x"]}}),
            json!({"spec": {"tags": [{"no": "maps"}]}}),
            json!({"spec": {"targets": {"not": "a list"}}}),
            json!({"spec": {"unknown": 1}}),
            json!({"status": {"ready": true}}),
        ];
        let placeholder = || {
            let mut m = ManagedFields::new();
            m.insert(
                "placeholder".to_string(),
                VersionedSet {
                    set: FieldSet::new(),
                    api_version: "v1".to_string(),
                    applied: false,
                },
            );
            m
        };
        for config in configs {
            let created =
                updater.apply(&json!({}), &config, "v1", ManagedFields::new(), "m", false);
            let merged = updater.apply(&json!({}), &config, "v1", placeholder(), "m", false);
            match (created, merged) {
                (Ok(c), Ok(m)) => {
                    assert_eq!(c.object, m.object, "{config}");
                    assert_eq!(c.managers, m.managers, "{config}");
                }
                (Err(c), Err(m)) => assert_eq!(c.to_string(), m.to_string(), "{config}"),
                (c, m) => panic!("{config}: create gave {c:?}, merge gave {m:?}"),
            }
        }
    }
}
