//! Interplay with client-side `kubectl apply`, which records what it applied in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation. The API server eases
//! the move to server-side apply for the `kubectl` field manager only:
//! - an apply conflict on a field the annotation holds with the live value is not a
//!   conflict (client-side apply owned it on the user's behalf), so the apply is forced;
//! - after a server-side apply, an existing annotation is rewritten to the applied
//!   configuration, so a later client-side apply computes the right three-way diff.

use super::merge::compare;
use super::schema::{Schema, TypeRef};
use super::set::FieldSet;
use super::typed::to_field_set;
use super::value;
use serde_json::Value;

/// The annotation client-side apply maintains.
pub const ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";
/// The field manager the server upgrades from client-side apply.
pub const KUBECTL: &str = "kubectl";
/// Most bytes all annotations of an object may hold together.
const MAX_ANNOTATIONS_SIZE: usize = 256 * 1024;

fn annotation(obj: &Value) -> Option<&str> {
    obj.pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
}

/// Fields a `kubectl` apply may take over without conflict: those the last client-side
/// apply set to the value they still have. `None` when there is no usable annotation.
pub fn allowed_conflicts(schema: &Schema, root: &TypeRef, live: &Value) -> Option<FieldSet> {
    let last: Value = serde_json::from_str(annotation(live)?).ok()?;
    let fields = to_field_set(schema, &last, root).ok()?;
    let changed = compare(schema, &last, live, root).ok()?;
    Some(fields.difference(&changed.modified))
}

/// After a `kubectl` server-side apply, points an existing annotation at `config` (JSON as
/// the server writes it, without the annotation itself). Returns whether `object` changed.
pub fn sync(object: &mut Value, config: &Value) -> bool {
    if annotation(object).is_none() {
        return false;
    }
    let mut recorded = config.clone();
    if let Some(Value::Object(a)) = recorded.pointer_mut("/metadata/annotations") {
        a.remove(ANNOTATION);
    }
    let text = format!("{}\n", value::to_go_json(&recorded));
    let Some(Value::Object(annotations)) = object.pointer_mut("/metadata/annotations") else {
        return false;
    };
    let before = annotations.get(ANNOTATION).cloned();
    annotations.insert(ANNOTATION.to_string(), Value::String(text));
    let size: usize = annotations
        .iter()
        .map(|(k, v)| k.len() + v.as_str().map_or(0, str::len))
        .sum();
    // Like the server: rather no annotation than an object it would reject.
    if size > MAX_ANNOTATIONS_SIZE {
        annotations.remove(ANNOTATION);
    }
    annotations.get(ANNOTATION) != before.as_ref()
}
