//! The API server's field manager: what happens to `metadata.managedFields` on every write.
//!
//! On top of [`Updater`] this layer does what kube-apiserver's `fieldmanager` chain does:
//! - decodes and encodes `metadata.managedFields` (entries sorted by operation, time,
//!   manager, apiVersion, subresource; `fieldsV1` in the exact server encoding);
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
use super::fieldsv1;
use super::last_applied;
use super::path::Path;
use super::schema::{Schema, TypeRef};
use super::set::FieldSet;
use super::updater::{Conflict, Conflicts, ManagedFields, Updater, VersionedSet};
use super::value;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// Name of the Update entry that receives the fields of an untracked object on its first
/// apply.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// The two kinds of write managedFields distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

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

/// A manager's identity, encoded as the API server does: the JSON of the entry without
/// fields and time (and without apiVersion for appliers), in the entry's field order. The
/// exact text matters because the server sorts by it.
fn identity(manager: &str, op: Operation, api_version: &str, subresource: &str) -> String {
    let mut out = String::from("{\"manager\":");
    value::write_go_string(manager, &mut out);
    out.push_str(",\"operation\":");
    value::write_go_string(op.as_str(), &mut out);
    if op == Operation::Update && !api_version.is_empty() {
        out.push_str(",\"apiVersion\":");
        value::write_go_string(api_version, &mut out);
    }
    if !subresource.is_empty() {
        out.push_str(",\"subresource\":");
        value::write_go_string(subresource, &mut out);
    }
    out.push('}');
    out
}

struct Identity {
    manager: String,
    operation: Operation,
    api_version: String,
    subresource: String,
}

fn parse_identity(id: &str) -> Identity {
    let v: Value = serde_json::from_str(id).unwrap_or(Value::Null);
    let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    Identity {
        manager: s("manager"),
        operation: if s("operation") == "Apply" {
            Operation::Apply
        } else {
            Operation::Update
        },
        api_version: s("apiVersion"),
        subresource: s("subresource"),
    }
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

/// Decoded `metadata.managedFields`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Managed {
    /// Field sets by manager identity.
    pub fields: ManagedFields,
    /// Last change time by manager identity.
    pub times: BTreeMap<String, String>,
}

/// Decodes a `metadata.managedFields` array.
pub fn decode(entries: &Value) -> Result<Managed, SsaError> {
    let bad = |m: String| SsaError::ManagedFields(m);
    let mut out = Managed::default();
    let items = match entries {
        Value::Null => return Ok(out),
        Value::Array(items) => items,
        _ => return Err(bad("managedFields must be a list".into())),
    };
    for entry in items {
        let s = |k: &str| entry.get(k).and_then(Value::as_str).unwrap_or("");
        if s("fieldsType") != "FieldsV1" {
            return Err(bad(format!(
                "can only decode FieldsV1 ManagedFieldsEntry, got {:?}",
                s("fieldsType")
            )));
        }
        if s("apiVersion").is_empty() {
            return Err(bad("apiVersion must not be empty".into()));
        }
        let operation = match s("operation") {
            "Apply" => Operation::Apply,
            "Update" => Operation::Update,
            other => return Err(bad(format!("unknown operation {other:?}"))),
        };
        let set = match entry.get("fieldsV1") {
            None | Some(Value::Null) => FieldSet::new(),
            Some(v) => fieldsv1::from_json(v).map_err(|e| bad(e.to_string()))?,
        };
        let id = identity(s("manager"), operation, s("apiVersion"), s("subresource"));
        if !s("time").is_empty() {
            out.times.insert(id.clone(), s("time").to_string());
        }
        out.fields.insert(
            id,
            VersionedSet {
                set,
                api_version: s("apiVersion").to_string(),
                applied: operation == Operation::Apply,
            },
        );
    }
    Ok(out)
}

/// Encodes managed fields as the API server orders them.
pub fn encode(managed: &Managed) -> Value {
    let mut entries: Vec<(Identity, Option<&String>, &VersionedSet)> = managed
        .fields
        .iter()
        .map(|(id, vs)| (parse_identity(id), managed.times.get(id), vs))
        .collect();
    entries.sort_by(|a, b| {
        a.0.operation
            .cmp(&b.0.operation)
            .then_with(|| a.1.map_or("", |t| t).cmp(b.1.map_or("", |t| t)))
            .then_with(|| a.0.manager.cmp(&b.0.manager))
            .then_with(|| a.2.api_version.cmp(&b.2.api_version))
            .then_with(|| a.0.subresource.cmp(&b.0.subresource))
    });
    let encoded = entries
        .into_iter()
        .map(|(who, time, vs)| {
            let mut m = Map::new();
            m.insert("manager".into(), json!(who.manager));
            m.insert("operation".into(), json!(who.operation.as_str()));
            m.insert("apiVersion".into(), json!(vs.api_version));
            if let Some(t) = time {
                m.insert("time".into(), json!(t));
            }
            m.insert("fieldsType".into(), json!("FieldsV1"));
            m.insert("fieldsV1".into(), fieldsv1::to_json(&vs.set));
            if !who.subresource.is_empty() {
                m.insert("subresource".into(), json!(who.subresource));
            }
            Value::Object(m)
        })
        .collect();
    Value::Array(encoded)
}

/// Most Update entries an object keeps; older ones are folded into [`ANCIENT_CHANGES`].
pub const MAX_UPDATE_MANAGERS: usize = 10;
/// Name of the Update entry (one per apiVersion) holding the fields of folded entries.
pub const ANCIENT_CHANGES: &str = "ancient-changes";

/// Folds the oldest Update entries into per-version `ancient-changes` entries until at most
/// [`MAX_UPDATE_MANAGERS`] remain, as the API server does after every update. The oldest
/// entry of a version becomes the bucket once a second one of that version is folded.
fn cap_update_managers(managed: &mut Managed) {
    let mut updaters: Vec<String> = managed
        .fields
        .iter()
        .filter(|(_, vs)| !vs.applied)
        .map(|(id, _)| id.clone())
        .collect();
    if updaters.len() <= MAX_UPDATE_MANAGERS {
        return;
    }
    let seconds = |m: &Managed, id: &str| m.times.get(id).cloned().unwrap_or_default();
    updaters.sort_by(|a, b| {
        seconds(managed, a)
            .cmp(&seconds(managed, b))
            .then_with(|| a.cmp(b))
    });
    let mut first_of_version: BTreeMap<String, String> = BTreeMap::new();
    let mut remaining = updaters.len();
    for id in updaters {
        if remaining <= MAX_UPDATE_MANAGERS {
            break;
        }
        let Some(vs) = managed.fields.get(&id).cloned() else {
            continue;
        };
        let Some(first) = first_of_version.get(&vs.api_version).cloned() else {
            first_of_version.insert(vs.api_version.clone(), id);
            continue;
        };
        let bucket = identity(ANCIENT_CHANGES, Operation::Update, &vs.api_version, "");
        if !managed.fields.contains_key(&bucket)
            && let Some(moved) = managed.fields.remove(&first)
        {
            managed.fields.insert(bucket.clone(), moved);
        }
        let merged = match managed.fields.get(&bucket) {
            Some(b) => vs.set.union(&b.set),
            None => vs.set.clone(),
        };
        managed.fields.insert(
            bucket.clone(),
            VersionedSet {
                set: merged,
                api_version: vs.api_version.clone(),
                applied: false,
            },
        );
        managed.fields.remove(&id);
        remaining -= 1;
        match managed.times.get(&id).cloned() {
            Some(t) => managed.times.insert(bucket, t),
            None => managed.times.remove(&bucket),
        };
    }
    managed.times.retain(|k, _| managed.fields.contains_key(k));
}

/// The fields no manager is recorded as owning.
fn server_owned() -> FieldSet {
    let meta = |f: &str| Path::fields(&["metadata", f]);
    FieldSet::from_paths([
        Path::fields(&["apiVersion"]),
        Path::fields(&["kind"]),
        Path::fields(&["metadata"]),
        meta("name"),
        meta("namespace"),
        meta("creationTimestamp"),
        meta("selfLink"),
        meta("uid"),
        meta("clusterName"),
        meta("generation"),
        meta("managedFields"),
        meta("resourceVersion"),
    ])
}

fn strip_server_owned(fields: &mut ManagedFields) {
    let strip = server_owned();
    for vs in fields.values_mut() {
        vs.set = vs.set.difference(&strip);
    }
    fields.retain(|_, vs| !vs.set.is_empty());
}

fn managed_fields_of(obj: &Value) -> &Value {
    obj.get("metadata")
        .and_then(|m| m.get("managedFields"))
        .unwrap_or(&Value::Null)
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    if let Some(Value::Object(meta)) = out.get_mut("metadata") {
        meta.remove("managedFields");
    }
    out
}

fn with_managed_fields(obj: Value, managed: &Managed) -> Value {
    let mut out = without_managed_fields(&obj);
    if managed.fields.is_empty() {
        return out;
    }
    if let Value::Object(root) = &mut out {
        let meta = root
            .entry("metadata")
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(meta) = meta {
            meta.insert("managedFields".into(), encode(managed));
        }
    }
    out
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
        let empty = self.empty.cloned().unwrap_or_else(|| json!({}));
        let live_obj = live
            .map(without_managed_fields)
            .unwrap_or_else(|| json!({}));
        if managed.fields.is_empty() && live.is_some() {
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

/// The API server's 409 for an apply conflict: a `Status` with one
/// `FieldManagerConflict` cause per field.
pub fn conflict_status(conflicts: &Conflicts) -> Value {
    let causes: Vec<Value> = conflicts
        .0
        .iter()
        .map(|c| {
            json!({
                "type": "FieldManagerConflict",
                "message": format!("conflict with {}", describe_manager(&c.manager)),
                "field": c.path.to_string(),
            })
        })
        .collect();
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": conflict_message(conflicts),
        "reason": "Conflict",
        "details": {"causes": causes},
        "code": 409,
    })
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
