//! The `metadata.managedFields` wire format and bookkeeping the API server applies to it
//! outside the merge itself: manager identities, entry order, the cap on Update entries,
//! and the fields nobody may own.

use super::SsaError;
use super::fieldsv1;
use super::path::Path;
use super::set::FieldSet;
use super::updater::{ManagedFields, VersionedSet};
use super::value;
use serde_json::{Map, Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::LazyLock;

/// The two kinds of write managedFields distinguish.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    /// Server-side apply.
    Apply,
    /// Any other write.
    Update,
}

impl Operation {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// A manager's identity, encoded as the API server does: the JSON of the entry without
/// fields and time (and without apiVersion for appliers), in the entry's field order. The
/// exact text matters because the server sorts by it.
pub(crate) fn identity(
    manager: &str,
    op: Operation,
    api_version: &str,
    subresource: &str,
) -> String {
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

pub(crate) struct Identity<'a> {
    pub(crate) manager: Cow<'a, str>,
    pub(crate) operation: Operation,
    pub(crate) api_version: Cow<'a, str>,
    pub(crate) subresource: Cow<'a, str>,
}

/// The JSON [`identity`] writes, read without building a `Value` (strings are borrowed
/// unless escaped).
#[derive(Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct IdentityText<'a> {
    #[serde(borrow)]
    manager: Cow<'a, str>,
    #[serde(borrow)]
    operation: Cow<'a, str>,
    #[serde(borrow)]
    api_version: Cow<'a, str>,
    #[serde(borrow)]
    subresource: Cow<'a, str>,
}

pub(crate) fn parse_identity(id: &str) -> Identity<'_> {
    let text: IdentityText<'_> = serde_json::from_str(id).unwrap_or_default();
    Identity {
        manager: text.manager,
        operation: if text.operation == "Apply" {
            Operation::Apply
        } else {
            Operation::Update
        },
        api_version: text.api_version,
        subresource: text.subresource,
    }
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
pub(crate) fn cap_update_managers(managed: &mut Managed) {
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
static SERVER_OWNED: LazyLock<FieldSet> = LazyLock::new(|| {
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
});

pub(crate) fn strip_server_owned(fields: &mut ManagedFields) {
    for vs in fields.values_mut() {
        vs.set.subtract(&SERVER_OWNED);
    }
    fields.retain(|_, vs| !vs.set.is_empty());
}

pub(crate) fn managed_fields_of(obj: &Value) -> &Value {
    obj.get("metadata")
        .and_then(|m| m.get("managedFields"))
        .unwrap_or(&Value::Null)
}

pub(crate) fn without_managed_fields(obj: &Value) -> Value {
    let mut out = obj.clone();
    remove_managed_fields(&mut out);
    out
}

fn remove_managed_fields(obj: &mut Value) {
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        meta.remove("managedFields");
    }
}

pub(crate) fn with_managed_fields(mut out: Value, managed: &Managed) -> Value {
    remove_managed_fields(&mut out);
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
