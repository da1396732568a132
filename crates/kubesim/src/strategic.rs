//! Strategic merge patch (`application/strategic-merge-patch+json`) of built-in kinds.
//!
//! The model is the API server's own (apimachinery's `strategicpatch`), driven here by the
//! markers of the built-in definitions instead of Go struct tags. A property's schema in
//! `_definitions.json` may carry `x-kubernetes-patch-strategy` (`merge`, `retainKeys`,
//! `merge,retainKeys`, `replace`) and `x-kubernetes-patch-merge-key`; the markers sit on the
//! property, next to its `$ref`, which is resolved as the SSA schema loader does
//! ([`crate::ssa::openapi`]).
//!
//! Applying a patch to the live object:
//! - maps merge recursively; `null` deletes a key; a field with strategy `replace` takes
//!   the patch's map whole;
//! - a list whose strategy includes `merge` merges: lists of maps item by item on the merge
//!   key (new items appended), lists of scalars as a union; any other list is replaced;
//! - the merged list is ordered with the patch's items in patch order and the live-only
//!   items interleaved in their live order;
//! - directives: `$patch: replace` (a map, or an element of a merging list: the list) takes
//!   the patch as is; `$patch: delete` deletes a map, or the list item with its merge key;
//!   `$retainKeys: [..]` drops the keys of the live map it does not name (every other patch
//!   key must be named); `$deleteFromPrimitiveList/<f>: [..]` removes values from the scalar
//!   list `f`; `$setElementOrder/<f>: [..]` (merge keys as `{key: v}`, or values) gives the
//!   order of the merged list `f`, live-only items interleaved as above.
//!
//! A patch value where the live object has nothing to merge with (absent, or of another
//! type) is merged into an empty value, so that its `null`s and directives are not stored.
//! `$patch: merge` is refused in lists as the real server refuses it ("merging lists cannot
//! yet be specified in the patch"). Errors map to the real server's codes: malformed
//! directives 400, lists of lists 422, the rest (a missing merge key, an unknown `$patch`)
//! 500.

use crate::ssa::openapi::{ref_name, ref_target};
use serde_json::{Map, Value};

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_PRIMITIVES: &str = "$deleteFromPrimitiveList/";

/// Why a strategic merge patch could not be applied, with the real server's status code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatchError {
    /// 400: a malformed patch or directive.
    #[error("{0}")]
    BadRequest(String),
    /// 422: a patch the merge cannot express (lists of lists).
    #[error("{0}")]
    Unprocessable(String),
    /// 500: what the real server reports as an internal error (missing merge key, unknown
    /// `$patch` value, list without a merge key).
    #[error("{0}")]
    Internal(String),
}

fn bad(message: &str) -> PatchError {
    PatchError::BadRequest(message.to_string())
}

/// A place in the built-in definitions: the (resolved) schema of the value being merged,
/// or none where the definitions say nothing (undeclared fields merge as plain maps, their
/// lists are replaced).
#[derive(Clone, Copy)]
pub struct Types<'a> {
    defs: &'a Map<String, Value>,
    node: Option<&'a Value>,
}

impl std::fmt::Debug for Types<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Types")
            .field("node", &self.node)
            .finish_non_exhaustive()
    }
}

/// What a property's markers say about merging it.
#[derive(Default)]
struct Strategy<'a> {
    merge: bool,
    replace: bool,
    key: Option<&'a str>,
}

impl<'a> Types<'a> {
    /// The type named `name` in `defs` (the `$defs` of `_definitions.json`).
    pub fn root(defs: &'a Map<String, Value>, name: &str) -> Self {
        Types {
            defs,
            node: defs.get(name),
        }
    }

    /// Follows `$ref`s to the schema that describes a value.
    fn resolve(&self, mut node: &'a Value) -> Option<&'a Value> {
        // A bound instead of cycle detection: definitions chain refs one level deep.
        for _ in 0..16 {
            match ref_target(node) {
                Some(target) => node = self.defs.get(ref_name(target))?,
                None => return Some(node),
            }
        }
        None
    }

    /// The property schema of field `name` (where the markers are).
    fn property(&self, name: &str) -> Option<&'a Value> {
        let node = self.node?;
        node.get("properties")
            .and_then(|p| p.get(name))
            .or_else(|| node.get("additionalProperties").filter(|a| a.is_object()))
    }

    fn at(&self, property: Option<&'a Value>) -> Types<'a> {
        Types {
            defs: self.defs,
            node: property.and_then(|p| self.resolve(p)),
        }
    }

    /// The type of a list's items.
    fn items(&self) -> Types<'a> {
        self.at(self.node.and_then(|n| n.get("items")))
    }
}

fn strategy(property: Option<&Value>) -> Strategy<'_> {
    let Some(p) = property else {
        return Strategy::default();
    };
    let parts = p
        .get("x-kubernetes-patch-strategy")
        .and_then(Value::as_str)
        .unwrap_or("");
    Strategy {
        merge: parts.split(',').any(|s| s == "merge"),
        replace: parts.split(',').any(|s| s == "replace"),
        key: p
            .get("x-kubernetes-patch-merge-key")
            .and_then(Value::as_str),
    }
}

/// Applies `patch` to `live` under `types` and returns the patched object.
pub fn apply(live: &Value, patch: &Value, types: Types<'_>) -> Result<Value, PatchError> {
    let Value::Object(patch) = patch else {
        return Err(bad("invalid JSON document"));
    };
    let live = live.as_object().cloned().unwrap_or_default();
    merge_map(live, patch.clone(), types).map(Value::Object)
}

/// Go's `%v` of a patch fragment, close enough for error messages.
fn show(v: &Map<String, Value>) -> String {
    let parts: Vec<String> = v.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", parts.join(" "))
}

fn merge_map(
    mut live: Map<String, Value>,
    mut patch: Map<String, Value>,
    types: Types<'_>,
) -> Result<Map<String, Value>, PatchError> {
    if let Some(directive) = patch.remove(DIRECTIVE) {
        return match directive.as_str() {
            Some("replace") => merge_map(Map::new(), patch, types),
            Some("delete") => Ok(Map::new()),
            _ => Err(PatchError::Internal(format!(
                "unknown patch type: {} in map: {}",
                directive
                    .as_str()
                    .map_or(directive.to_string(), str::to_string),
                show(&patch)
            ))),
        };
    }
    if let Some(retain) = patch.remove(RETAIN_KEYS) {
        let Value::Array(retain) = retain else {
            return Err(bad("invalid patch format of retainKeys"));
        };
        let named = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
        let unlisted = patch.iter().any(|(k, v)| {
            !v.is_null()
                && !k.starts_with(DELETE_PRIMITIVES)
                && !k.starts_with(SET_ORDER)
                && !named(k)
        });
        if unlisted {
            return Err(bad("invalid patch format of retainKeys"));
        }
        live.retain(|k, _| named(k));
    }
    let ordered: Vec<String> = patch
        .keys()
        .filter_map(|k| k.strip_prefix(SET_ORDER).map(str::to_string))
        .collect();
    for field in ordered {
        let order = patch.remove(&format!("{SET_ORDER}{field}"));
        let Some(Value::Array(order)) = order else {
            return Err(bad("invalid patch format of setElementOrder list"));
        };
        set_element_order(&mut live, &mut patch, &field, &order, types)?;
    }
    // Deletions from scalar lists after the other keys: Go visits them in map order, and
    // clients never name a value in both.
    let (deletions, rest): (Vec<_>, Vec<_>) = patch
        .into_iter()
        .partition(|(k, _)| k.starts_with(DELETE_PRIMITIVES));
    for (key, value) in rest {
        if key.starts_with('$') {
            continue;
        }
        if value.is_null() {
            live.remove(&key);
            continue;
        }
        let property = types.property(&key);
        let how = strategy(property);
        let sub = types.at(property);
        let merged = match (live.remove(&key), value) {
            (Some(Value::Object(l)), Value::Object(p)) if !how.replace => {
                Value::Object(merge_map(l, p, sub)?)
            }
            (Some(Value::Array(l)), Value::Array(p)) => merge_list(l, p, &how, sub)?,
            (_, value) => fresh(value, &how, sub)?,
        };
        live.insert(key, merged);
    }
    for (key, values) in deletions {
        let Value::Array(values) = values else {
            return Err(bad("invalid patch format of primitive list"));
        };
        let field = &key[DELETE_PRIMITIVES.len()..];
        if let Some(Value::Array(list)) = live.get_mut(field) {
            list.retain(|v| !values.contains(v));
        }
    }
    Ok(live)
}

/// A patch value with nothing live to merge into: merged into an empty value of its kind,
/// which drops its `null`s and directives.
fn fresh(value: Value, how: &Strategy<'_>, types: Types<'_>) -> Result<Value, PatchError> {
    match value {
        Value::Object(p) => Ok(Value::Object(merge_map(Map::new(), p, types)?)),
        Value::Array(p) => merge_list(Vec::new(), p, how, types),
        other => Ok(other),
    }
}

/// The identity of a list item: its merge key's value for maps, itself for scalars.
fn identity<'v>(item: &'v Value, key: Option<&str>) -> Option<&'v Value> {
    match key {
        Some(k) if item.is_object() => item.get(k),
        _ => Some(item),
    }
}

fn position(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    let id = identity(item, key)?;
    list.iter().position(|v| identity(v, key) == Some(id))
}

/// Merges a live list and a patch list of the field `how` describes.
fn merge_list(
    live: Vec<Value>,
    patch: Vec<Value>,
    how: &Strategy<'_>,
    types: Types<'_>,
) -> Result<Value, PatchError> {
    if !how.merge {
        return Ok(Value::Array(patch));
    }
    let (merged, live, patch, key) = merge_items(live, patch, how, types)?;
    let Some(merged) = merged else {
        return Ok(Value::Array(live));
    };
    Ok(Value::Array(order(merged, &patch, &live, key)))
}

/// The merged items of a merging list, without ordering: `(merged, live after deletions,
/// patch items without directives, key)`. `merged` is `None` when there was nothing to
/// merge (both lists empty).
#[allow(clippy::type_complexity)] // One internal caller shape; a struct would only rename.
fn merge_items<'s>(
    mut live: Vec<Value>,
    patch: Vec<Value>,
    how: &Strategy<'s>,
    types: Types<'_>,
) -> Result<(Option<Vec<Value>>, Vec<Value>, Vec<Value>, Option<&'s str>), PatchError> {
    if live.is_empty() && patch.is_empty() {
        return Ok((None, live, patch, None));
    }
    let mut maps = false;
    let mut scalars = false;
    for item in live.iter().chain(&patch) {
        match item {
            Value::Array(_) => {
                return Err(PatchError::Unprocessable(
                    "lists of lists are not supported".to_string(),
                ));
            }
            Value::Object(_) => maps = true,
            _ => scalars = true,
        }
    }
    if maps && scalars {
        return Err(bad("invalid patch format of primitive list"));
    }
    if scalars {
        let mut merged: Vec<Value> = Vec::with_capacity(live.len() + patch.len());
        for v in live.iter().chain(&patch) {
            if !merged.contains(v) {
                merged.push(v.clone());
            }
        }
        return Ok((Some(merged), live, patch, None));
    }
    let Some(key) = how.key else {
        return Err(PatchError::Internal(
            "cannot merge lists without merge key".to_string(),
        ));
    };
    let items = types.items();
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Value::Object(map) = item else {
            continue; // Checked above: every item is a map.
        };
        match map.get(DIRECTIVE).map(|d| d.as_str()) {
            None => plain.push(map),
            Some(Some("delete")) => {
                let id = map.get(key).ok_or_else(|| no_merge_key(&map, key))?.clone();
                live.retain(|v| v.get(key) != Some(&id));
            }
            Some(Some("replace")) => replace = true,
            Some(Some("merge")) => {
                return Err(PatchError::Internal(
                    "merging lists cannot yet be specified in the patch".to_string(),
                ));
            }
            Some(_) => {
                let d = map.get(DIRECTIVE).map(Value::to_string).unwrap_or_default();
                return Err(PatchError::Internal(format!(
                    "unknown patch type: {d} in map: {}",
                    show(&map)
                )));
            }
        }
    }
    if replace {
        let fresh = plain
            .into_iter()
            .map(|m| merge_map(Map::new(), m, items).map(Value::Object))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((Some(fresh.clone()), fresh, Vec::new(), Some(key)));
    }
    let mut merged = live.clone();
    let mut patch_items = Vec::with_capacity(plain.len());
    for item in plain {
        let id = item
            .get(key)
            .ok_or_else(|| no_merge_key(&item, key))?
            .clone();
        let found = merged.iter().position(|v| v.get(key) == Some(&id));
        match found {
            Some(i) => {
                let current = match merged[i].take() {
                    Value::Object(m) => m,
                    _ => Map::new(), // Unreachable: every live item is a map (checked above).
                };
                merged[i] = Value::Object(merge_map(current, item.clone(), items)?);
            }
            None => merged.push(Value::Object(merge_map(Map::new(), item.clone(), items)?)),
        }
        patch_items.push(Value::Object(item));
    }
    Ok((Some(merged), live, patch_items, Some(key)))
}

fn no_merge_key(item: &Map<String, Value>, key: &str) -> PatchError {
    PatchError::Internal(format!(
        "map: {} does not contain declared merge key: {key}",
        show(item)
    ))
}

/// Orders a merged list: the items `wanted` names in its order, the others in their `live`
/// order, interleaved so that each live-only item comes before the first wanted item that
/// follows it in the live list.
fn order(merged: Vec<Value>, wanted: &[Value], live: &[Value], key: Option<&str>) -> Vec<Value> {
    let (mut named, mut others): (Vec<Value>, Vec<Value>) = merged
        .into_iter()
        .partition(|v| position(wanted, v, key).is_some());
    named.sort_by_key(|v| position(wanted, v, key));
    others.sort_by_key(|v| position(live, v, key).unwrap_or(usize::MAX));
    let mut out = Vec::with_capacity(named.len() + others.len());
    let mut named = named.into_iter().peekable();
    let mut others = others.into_iter().peekable();
    loop {
        let take_other = match (others.peek(), named.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(o), Some(n)) => {
                matches!((position(live, o, key), position(live, n, key)), (Some(a), Some(b)) if a < b)
            }
        };
        let next = if take_other {
            others.next()
        } else {
            named.next()
        };
        out.extend(next);
    }
    out
}

/// Applies `$setElementOrder/<field>` together with the field's patch list and
/// `$deleteFromPrimitiveList/<field>`, removing them from `patch`.
fn set_element_order(
    live: &mut Map<String, Value>,
    patch: &mut Map<String, Value>,
    field: &str,
    wanted: &[Value],
    types: Types<'_>,
) -> Result<(), PatchError> {
    let patch_list = patch.remove(field);
    let deletions = patch.remove(&format!("{DELETE_PRIMITIVES}{field}"));
    let property = types.property(field);
    let how = strategy(property);
    let sub = types.at(property);
    if !how.merge || matches!(patch_list, Some(ref v) if !v.is_array()) {
        // Not a merging list, or a patch value that is not a list: an ordinary key.
        if let Some(v) = patch_list {
            patch.insert(field.to_string(), v);
        }
        if let Some(d) = deletions {
            patch.insert(format!("{DELETE_PRIMITIVES}{field}"), d);
        }
        return Ok(());
    }
    let mut current = match live.remove(field) {
        Some(Value::Array(l)) => l,
        Some(other) if patch_list.is_none() => {
            live.insert(field.to_string(), other);
            return Ok(());
        }
        _ => Vec::new(),
    };
    if let Some(d) = deletions {
        let Value::Array(d) = d else {
            return Err(bad("invalid patch format of primitive list"));
        };
        current.retain(|v| !d.contains(v));
    }
    let patch_items = match patch_list {
        Some(Value::Array(p)) => p,
        _ => Vec::new(),
    };
    let (merged, current, _, key) = merge_items(current, patch_items, &how, sub)?;
    let Some(merged) = merged else {
        if live.contains_key(field) || !current.is_empty() {
            live.insert(field.to_string(), Value::Array(current));
        }
        return Ok(());
    };
    let merged = order(merged, wanted, &current, key);
    live.insert(field.to_string(), Value::Array(merged));
    Ok(())
}

#[cfg(test)]
mod tests;
