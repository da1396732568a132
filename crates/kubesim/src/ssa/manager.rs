//! The API server's field manager: what happens to `metadata.managedFields` on every write.
//!
//! On top of [`Updater`] this layer does what kube-apiserver's `fieldmanager` chain does:
//! - decodes and encodes `metadata.managedFields` ([`super::managed_fields`]: entries
//!   sorted by operation, time, manager, apiVersion, subresource; `fieldsV1` in the exact
//!   server encoding);
//! - identifies managers by name + operation + subresource, and for `Update` also by
//!   apiVersion (so an applier keeps one entry across versions, an updater gets one per
//!   version);
//! - never records ownership of `apiVersion`, `kind` or the server-set metadata (`name`,
//!   `namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`, …);
//! - sets an entry's `time` when its write changed the object;
//! - on the first apply to an object that has no managedFields (created before tracking),
//!   gives every existing field to a `before-first-apply` Update entry so nothing is lost;
//! - does not start tracking on a non-apply write to an untracked existing object;
//! - keeps at most ten Update entries, folding the oldest into `ancient-changes`;
//! - for the `kubectl` manager, eases the move from client-side apply
//!   ([`super::last_applied`]);
//! - renders conflicts as the 409 Status the API server returns.

use super::SsaError;
use super::last_applied;
pub use super::managed_fields::{Managed, Operation, decode, encode};
use super::managed_fields::{
    cap_update_managers, identity, managed_fields_of, parse_identity, strip_server_owned,
    with_managed_fields, without_managed_fields,
};
use super::schema::{Schema, TypeRef};
use super::set::FieldSet;
use super::updater::{Conflict, Conflicts, Updater, VersionedSet};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Name of the Update entry that receives the fields of an untracked object on its first
/// apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Who is writing, and when.
#[derive(Clone, Copy, Debug)]
pub struct Writer<'a> {
    /// Field manager name (`fieldManager` parameter, or derived from the User-Agent).
    pub manager: &'a str,
    /// API version of the request, e.g. `apps/v1`.
    pub api_version: &'a str,
    /// `""` for the main resource, else e.g. `status` or `scale`.
    pub subresource: &'a str,
    /// Current time, RFC 3339 in UTC with seconds precision (`2026-01-02T03:04:05Z`).
    pub now: &'a str,
}

/// How a conflicting manager is named in messages: `"hpa" using apps/v1` for an updater,
/// `"kubectl"` for an applier, with `with subresource "status"` when relevant.
pub fn describe_manager(id: &str) -> String {
    let who = parse_identity(id);
    let mut s = format!("{:?}", who.manager);
    if !who.subresource.is_empty() {
        s.push_str(&format!(" with subresource {:?}", who.subresource));
    }
    if who.operation == Operation::Update {
        s.push_str(&format!(" using {}", who.api_version));
    }
    s
}

/// The outcome of a write through the field manager.
#[derive(Clone, Debug)]
pub struct Written {
    /// The object to store, with `metadata.managedFields` set.
    pub object: Value,
    /// Whether anything other than managedFields changed. When neither this nor
    /// `managed_fields_changed` is set the write is a no-op: keep the resourceVersion and
    /// emit no watch event.
    pub object_changed: bool,
    /// Whether managedFields changed.
    pub managed_fields_changed: bool,
}

/// The field manager for one kind of object.
#[derive(Clone, Copy, Debug)]
pub struct FieldManager<'a> {
    /// Types of the objects.
    pub schema: &'a Schema,
    /// Type of the object root.
    pub root: &'a TypeRef,
    /// Fields this endpoint resets (e.g. `status` for the main resource, everything but
    /// `status` for the status subresource); nobody gains ownership of them here.
    pub ignored: Option<&'a FieldSet>,
    /// The kind's zero value as the API server sees it before a create or a first apply
    /// to an untracked object: Go's zero struct converted to JSON (see
    /// [`super::zero::zero_object`]). An Update entry owns the nodes that were absent
    /// here (`.` markers), so this decides e.g. whether `f:strategy` carries a `.`.
    /// `None` means `{}`. Apply-on-create does not use it: an applier owns exactly its
    /// config either way, and the object stays free of the zero value's nulls.
    pub empty: Option<&'a Value>,
}

impl FieldManager<'_> {
    fn updater(&self) -> Updater<'_> {
        Updater {
            schema: self.schema,
            root: self.root,
            ignored: self.ignored,
        }
    }

    /// Records a create (`live == None`), update or non-apply patch producing `new`.
    ///
    /// A client may rewrite managedFields by sending a valid non-empty list in `new`, or
    /// strip them with `[{}]` (not on a subresource); otherwise the live object's entries
    /// are used.
    pub fn update(
        &self,
        live: Option<&Value>,
        new: &Value,
        writer: &Writer<'_>,
    ) -> Result<Written, SsaError> {
        let live_managed = live
            .map(|l| decode(managed_fields_of(l)).unwrap_or_default())
            .unwrap_or_default();
        let sent = managed_fields_of(new);
        let mut managed = if !writer.subresource.is_empty() {
            live_managed.clone()
        } else if *sent == json!([{}]) {
            // The documented way to strip managedFields: a single empty entry. (An empty
            // list does not reset, so clients unaware of the field cannot drop it.)
            Managed::default()
        } else {
            match decode(sent) {
                Ok(m) if !m.fields.is_empty() => m,
                _ => live_managed.clone(),
            }
        };
        let live_obj = live.map(without_managed_fields);
        let new_obj = without_managed_fields(new);
        let object_changed = live_obj.as_ref() != Some(&new_obj);
        if managed.fields.is_empty() && live.is_some() {
            return Ok(Written {
                object: new_obj,
                object_changed,
                managed_fields_changed: !live_managed.fields.is_empty(),
            });
        }
        let empty = self.empty.cloned().unwrap_or_else(|| json!({}));
        let id = identity(
            writer.manager,
            Operation::Update,
            writer.api_version,
            writer.subresource,
        );
        // Record this write under a scratch name first: only the fields it changed count,
        // and only a write that changed something a manager can own refreshes the entry's
        // time.
        const CURRENT: &str = "\u{0}current-operation";
        self.updater().update(
            live_obj.as_ref().unwrap_or(&empty),
            &new_obj,
            writer.api_version,
            &mut managed.fields,
            CURRENT,
        )?;
        strip_server_owned(&mut managed.fields);
        if let Some(current) = managed.fields.remove(CURRENT) {
            let set = match managed.fields.get(&id) {
                Some(prev) => current.set.union(&prev.set),
                None => current.set,
            };
            managed.fields.insert(
                id.clone(),
                VersionedSet {
                    set,
                    api_version: writer.api_version.to_string(),
                    applied: false,
                },
            );
            managed.times.insert(id, writer.now.to_string());
        }
        managed.times.retain(|k, _| managed.fields.contains_key(k));
        cap_update_managers(&mut managed);
        let managed_fields_changed = managed != live_managed;
        Ok(Written {
            object: with_managed_fields(new_obj, &managed),
            object_changed,
            managed_fields_changed,
        })
    }

    /// Server-side apply of `config` (create-on-apply when `live` is `None`).
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        writer: &Writer<'_>,
        force: bool,
    ) -> Result<Written, SsaError> {
        if !managed_fields_of(config).is_null() {
            return Err(SsaError::invalid(
                &[],
                "metadata.managedFields must be nil".to_string(),
            ));
        }
        let live_managed = match live {
            Some(l) => decode(managed_fields_of(l))?,
            None => Managed::default(),
        };
        let mut managed = live_managed.clone();
        let live_obj = live
            .map(without_managed_fields)
            .unwrap_or_else(|| json!({}));
        if managed.fields.is_empty() && live.is_some() {
            let empty = self.empty.cloned().unwrap_or_else(|| json!({}));
            let first = identity(
                BEFORE_FIRST_APPLY,
                Operation::Update,
                writer.api_version,
                writer.subresource,
            );
            self.updater().update(
                &empty,
                &live_obj,
                writer.api_version,
                &mut managed.fields,
                &first,
            )?;
            if managed.fields.contains_key(&first) {
                managed.times.insert(first, writer.now.to_string());
            }
        }
        let id = identity(
            writer.manager,
            Operation::Apply,
            writer.api_version,
            writer.subresource,
        );
        let apply = |force: bool| {
            self.updater().apply(
                &live_obj,
                config,
                writer.api_version,
                managed.fields.clone(),
                &id,
                force,
            )
        };
        let applied = match apply(force) {
            Err(SsaError::Conflicts(c)) if writer.manager == last_applied::KUBECTL => {
                let allowed = last_applied::allowed_conflicts(self.schema, self.root, &live_obj)
                    .unwrap_or_default();
                let remaining: Vec<Conflict> =
                    c.0.into_iter().filter(|c| !allowed.has(&c.path)).collect();
                if !remaining.is_empty() {
                    return Err(SsaError::Conflicts(Conflicts(remaining)));
                }
                apply(true)?
            }
            other => other?,
        };
        managed.fields = applied.managers;
        strip_server_owned(&mut managed.fields);
        if applied.object.is_some() {
            managed.times.insert(id, writer.now.to_string());
        }
        managed.times.retain(|k, _| managed.fields.contains_key(k));
        let mut object_changed = applied.object.is_some();
        let mut object = applied.object.unwrap_or(live_obj);
        if writer.manager == last_applied::KUBECTL {
            object_changed |= last_applied::sync(&mut object, config);
        }
        let managed_fields_changed = managed != live_managed;
        Ok(Written {
            object: with_managed_fields(object, &managed),
            object_changed,
            managed_fields_changed,
        })
    }
}

/// "Apply failed with N conflict(s): …", worded as the API server does.
pub fn conflict_message(conflicts: &Conflicts) -> String {
    if let [only] = conflicts.0.as_slice() {
        return format!(
            "Apply failed with 1 conflict: conflict with {}: {}",
            describe_manager(&only.manager),
            only.path
        );
    }
    // Grouped by manager, sorted by the managers' encoded identities as the server does.
    let mut by_manager: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for c in &conflicts.0 {
        by_manager
            .entry(&c.manager)
            .or_default()
            .push(c.path.to_string());
    }
    let mut lines = Vec::new();
    for (manager, paths) in by_manager {
        lines.push(format!("conflicts with {}:", describe_manager(manager)));
        lines.extend(paths.into_iter().map(|p| format!("- {p}")));
    }
    format!(
        "Apply failed with {} conflicts: {}",
        conflicts.0.len(),
        lines.join("\n")
    )
}
