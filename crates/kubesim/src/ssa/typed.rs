//! Walks over an object guided by its schema: the set of fields an object sets, removal of
//! a set of fields, and the identity of list items.
//!
//! These follow structured-merge-diff's `typed` package rule for rule, because the API
//! server's managedFields are exactly what these walks produce:
//! - a scalar, an atomic list or an atomic map is one leaf;
//! - an associative list item is a member itself (`.`) as well as a prefix of its fields;
//! - a map entry that is not a named struct field (a label, a ConfigMap key) is a member,
//!   as is any entry whose value is `null` or `{}`; a struct field holding a non-empty
//!   struct is only a prefix.

use super::SsaError;
use super::path::{Path, PathElement};
use super::schema::{ListKind, ListType, Resolved, Schema, TypeRef, UNTYPED_DEDUCED};
use super::set::FieldSet;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The shape of a JSON value, as far as the schema cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    Scalar,
    List,
    Map,
    Null,
}

pub(crate) fn shape(v: &Value) -> Shape {
    match v {
        Value::Null => Shape::Null,
        Value::Array(_) => Shape::List,
        Value::Object(_) => Shape::Map,
        _ => Shape::Scalar,
    }
}

/// Which of the atom's alternatives describes `v`: its own shape when allowed, otherwise
/// the first alternative in SMD's `handleAtom` order — map, scalar, list. So a `null`
/// under an untyped (deduced) type is handled as a map.
pub(crate) fn effective_shape(atom: &Resolved<'_>, v: &Value) -> Shape {
    match shape(v) {
        Shape::Scalar if atom.scalar().is_some() => Shape::Scalar,
        Shape::List if atom.list().is_some() => Shape::List,
        Shape::Map if atom.map().is_some() => Shape::Map,
        _ if atom.map().is_some() => Shape::Map,
        _ if atom.scalar().is_some() => Shape::Scalar,
        _ if atom.list().is_some() => Shape::List,
        _ => Shape::Null,
    }
}

pub(crate) fn resolve<'a>(
    schema: &'a Schema,
    tr: &'a TypeRef,
    path: &[PathElement],
) -> Result<Resolved<'a>, SsaError> {
    schema
        .resolve(tr)
        .ok_or_else(|| SsaError::invalid(path, format!("no type found matching {tr:?}")))
}

/// Checks that a value fits the alternative chosen for it.
pub(crate) fn check_shape(v: &Value, chosen: Shape, path: &[PathElement]) -> Result<(), SsaError> {
    let actual = shape(v);
    if actual == Shape::Null || actual == chosen {
        return Ok(());
    }
    let name = |s: Shape| match s {
        Shape::Scalar => "scalar",
        Shape::List => "list",
        Shape::Map => "map",
        Shape::Null => "null",
    };
    Err(SsaError::invalid(
        path,
        format!("expected {}, got {}", name(chosen), name(actual)),
    ))
}

/// The path element identifying item `index` of a list.
pub(crate) fn item_element(
    schema: &Schema,
    list: &ListType,
    index: usize,
    item: &Value,
    path: &[PathElement],
) -> Result<PathElement, SsaError> {
    if list.kind != ListKind::Associative {
        return Ok(PathElement::Index(index));
    }
    if list.keys.is_empty() {
        return match item {
            Value::Array(_) | Value::Object(_) => Err(SsaError::invalid(
                path,
                format!(
                    "element {index}: associative list without keys has an element that's a map or list type"
                ),
            )),
            v => Ok(PathElement::Value(v.clone())),
        };
    }
    let Value::Object(fields) = item else {
        return Err(SsaError::invalid(
            path,
            format!("element {index}: associative list with keys may not have non-map elements"),
        ));
    };
    let element = schema.resolve(&list.element);
    let mut key = Vec::with_capacity(list.keys.len());
    for name in &list.keys {
        let value = match fields.get(name) {
            Some(v) => v.clone(),
            None => match element
                .as_ref()
                .and_then(|a| a.map())
                .and_then(|m| m.field(name))
                .and_then(|f| f.default.clone())
            {
                Some(d) => d,
                None => {
                    return Err(SsaError::invalid(
                        path,
                        format!(
                            "element {index}: associative list with keys has an element that omits key field \"{name}\" (and doesn't have default value)"
                        ),
                    ));
                }
            },
        };
        key.push((name.clone(), value));
    }
    Ok(PathElement::key(key))
}

/// The set of fields `v` sets (what an applier of `v` owns).
pub fn to_field_set(schema: &Schema, v: &Value, tr: &TypeRef) -> Result<FieldSet, SsaError> {
    let mut out = FieldSet::new();
    collect(schema, v, tr, false, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// The set of fields an applied configuration sets, failing where merging it would: on a
/// list key it repeats (`duplicate entries for key …`), besides the schema errors of
/// [`to_field_set`].
pub fn applied_field_set(schema: &Schema, v: &Value, tr: &TypeRef) -> Result<FieldSet, SsaError> {
    let mut out = FieldSet::new();
    collect(schema, v, tr, true, &mut Vec::new(), &mut out)?;
    Ok(out)
}

/// Adds the fields `v` sets below `path` to `node` (the set of paths below `path`, built
/// in place rather than path by path) and tells whether `path` itself is a member.
fn collect(
    schema: &Schema,
    v: &Value,
    tr: &TypeRef,
    applied: bool,
    path: &mut Vec<PathElement>,
    node: &mut FieldSet,
) -> Result<bool, SsaError> {
    let atom = resolve(schema, tr, path)?;
    let chosen = effective_shape(&atom, v);
    check_shape(v, chosen, path)?;
    match (chosen, v) {
        (Shape::List, _) => {
            let Some(list) = atom.list() else {
                return Ok(false);
            };
            if list.kind == ListKind::Atomic {
                return Ok(true);
            }
            if let Value::Array(items) = v {
                // An applied list may not repeat a key; that is reported before any error
                // of a later item, as the merge does.
                let reject_repeats = |elements: &[PathElement]| match first_repeat(elements) {
                    Some(pe) => Err(SsaError::invalid(
                        path,
                        format!("duplicate entries for key {pe}"),
                    )),
                    None => Ok(()),
                };
                let mut elements = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    match item_element(schema, list, i, item, path) {
                        Ok(pe) => elements.push(pe),
                        Err(e) => {
                            if applied {
                                reject_repeats(&elements)?;
                            }
                            return Err(e);
                        }
                    }
                }
                // An applied list that passed has no repeats; only a live one looks for them.
                let duplicated = if applied {
                    reject_repeats(&elements)?;
                    vec![false; elements.len()]
                } else {
                    repeated(&elements)
                };
                for ((pe, item), duplicated) in elements.into_iter().zip(items).zip(duplicated) {
                    // An item is a member itself; one whose key repeats (possible in live
                    // objects) is owned whole.
                    let mut below = FieldSet::new();
                    path.push(pe);
                    if !duplicated {
                        collect(schema, item, &list.element, applied, path, &mut below)?;
                    }
                    let Some(pe) = path.pop() else {
                        continue; // pushed above
                    };
                    node.add(pe, true, below);
                }
            }
            Ok(false)
        }
        (Shape::Map, _) => {
            let Some(map) = atom.map() else {
                return Ok(false);
            };
            if map.atomic {
                return Ok(true);
            }
            if let Value::Object(entries) = v {
                for (k, child) in entries {
                    let Some(child_type) = map.type_of(k) else {
                        return Err(SsaError::invalid(
                            path,
                            format!("field not declared in schema: {k}"),
                        ));
                    };
                    let mut below = FieldSet::new();
                    path.push(PathElement::Field(k.clone()));
                    let member = collect(schema, child, child_type, applied, path, &mut below)?;
                    let Some(pe) = path.pop() else {
                        continue; // pushed above
                    };
                    let empty = matches!(child, Value::Null)
                        || matches!(child, Value::Object(m) if m.is_empty());
                    node.add(pe, member || empty || map.field(k).is_none(), below);
                }
            }
            Ok(false)
        }
        _ => Ok(true),
    }
}

/// For each element, whether an equal element occurs anywhere else in the list.
fn repeated(elements: &[PathElement]) -> Vec<bool> {
    if elements.len() < 2 {
        return vec![false; elements.len()];
    }
    let mut counts: BTreeMap<&PathElement, usize> = BTreeMap::new();
    for pe in elements {
        *counts.entry(pe).or_default() += 1;
    }
    elements
        .iter()
        .map(|pe| counts.get(pe).is_some_and(|&n| n > 1))
        .collect()
}

/// The first element equal to an earlier one.
fn first_repeat(elements: &[PathElement]) -> Option<&PathElement> {
    if elements.len() < 2 {
        return None;
    }
    let mut seen = BTreeSet::new();
    elements.iter().find(|pe| !seen.insert(*pe))
}

/// `v` without the fields in `set`. A list or map left with nothing becomes `null`, as in
/// SMD (typed objects later drop such nulls; custom resources keep them).
pub fn remove_items(schema: &Schema, v: &Value, set: &FieldSet, tr: &TypeRef) -> Value {
    let Some(atom) = schema.resolve(tr) else {
        return v.clone();
    };
    match (effective_shape(&atom, v), v) {
        (Shape::List, Value::Array(items)) => {
            let Some(list) = atom.list() else {
                return v.clone();
            };
            if items.is_empty() || list.kind == ListKind::Atomic {
                return Value::Null;
            }
            let mut kept = Vec::new();
            for (i, item) in items.iter().enumerate() {
                // An item whose identity cannot be computed cannot be named by the set.
                let Ok(pe) = item_element(schema, list, i, item, &[]) else {
                    kept.push(item.clone());
                    continue;
                };
                if set.members.contains(&pe) {
                    continue;
                }
                match set.with_prefix(&pe) {
                    Some(sub) => kept.push(remove_items(schema, item, sub, &list.element)),
                    None => kept.push(item.clone()),
                }
            }
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Array(kept)
            }
        }
        (Shape::Map, Value::Object(entries)) => {
            let Some(map) = atom.map() else {
                return v.clone();
            };
            if entries.is_empty() || map.atomic {
                return Value::Null;
            }
            let mut kept = Map::new();
            for (k, child) in entries {
                let pe = PathElement::Field(k.clone());
                if set.members.contains(&pe) {
                    continue;
                }
                match (set.with_prefix(&pe), map.type_of(k)) {
                    (Some(sub), Some(t)) => {
                        kept.insert(k.clone(), remove_items(schema, child, sub, t));
                    }
                    _ => {
                        kept.insert(k.clone(), child.clone());
                    }
                }
            }
            if kept.is_empty() {
                Value::Null
            } else {
                Value::Object(kept)
            }
        }
        _ => v.clone(),
    }
}

/// Adapts a manager's field set to a schema that made a granular list or map atomic (a CRD
/// update can): fields recorded inside it collapse into ownership of the whole, as the API
/// server reconciles managedFields before every write. Returns `None` when nothing changes.
pub fn reconcile_with_schema(schema: &Schema, set: &FieldSet, tr: &TypeRef) -> Option<FieldSet> {
    let mut collapse = Vec::new();
    find_atomic_prefixes(schema, Some(set), false, tr, &mut Vec::new(), &mut collapse);
    if collapse.is_empty() {
        return None;
    }
    let nodes = FieldSet::from_paths(collapse);
    Some(set.recursive_difference(&nodes).union(&nodes))
}

fn find_atomic_prefixes(
    schema: &Schema,
    set: Option<&FieldSet>,
    owned_whole: bool,
    tr: &TypeRef,
    path: &mut Vec<PathElement>,
    out: &mut Vec<Path>,
) {
    let Some(atom) = schema.resolve(tr) else {
        return;
    };
    // Untyped maps hold whatever was written; their shape is not the schema's to change.
    if let Some(m) = atom.map()
        && m.fields.is_empty()
        && m.element.as_ref().and_then(TypeRef::name) == Some(UNTYPED_DEDUCED)
    {
        return;
    }
    let atomic = match (atom.map(), atom.list()) {
        (Some(m), _) => m.atomic && set.is_some_and(|s| !s.is_empty()),
        (None, Some(l)) => l.kind == ListKind::Atomic,
        (None, None) => false,
    };
    if atomic && !owned_whole {
        out.push(Path(path.clone()));
        return;
    }
    let Some(set) = set else {
        return;
    };
    let child_type = |pe: &PathElement| -> Option<TypeRef> {
        match pe {
            PathElement::Field(name) => atom.map().and_then(|m| m.type_of(name)).cloned(),
            _ => atom.list().map(|l| l.element.clone()),
        }
    };
    for pe in set.elements() {
        let Some(t) = child_type(pe) else {
            continue;
        };
        let children = set.children.get(pe);
        let whole = set.members.contains(pe) && children.is_none();
        path.push(pe.clone());
        find_atomic_prefixes(schema, children, whole, &t, path, out);
        path.pop();
    }
}
