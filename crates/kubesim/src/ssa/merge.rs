//! Merging two objects, and comparing them field by field — one walk, as in
//! structured-merge-diff, where both are the same `mergingWalker` with different hooks.
//!
//! **Merge** (`live` ⊕ `config`): leaves (scalars, atomic lists/maps, and lists/maps that
//! are empty on both sides) take the config's value when it has one; granular maps merge
//! key by key; associative lists merge item by item, matched by key or value.
//!
//! **Order of merged list items** follows the SMD used by current API servers: items of the
//! config come out in the config's order; items only in the live list keep their position
//! relative to the items around them. E.g. live `[a,b,c,d]` ⊕ config `[d,e,f,a]` gives
//! `[b,c,d,e,f,a]`.
//!
//! **Compare** (`old` vs `new`) records, per path, whether a leaf was added, removed or
//! modified, and whether a granular map, list or list item appeared or disappeared.
//!
//! **Repeated keys**: a live list, or the new list of an update, may repeat an item's key
//! (the API server accepts that outside apply). The items sharing a key are compared as
//! one leaf, and an applied item with that key replaces all of them. An applied
//! configuration may not repeat a key.

use super::SsaError;
use super::path::{Path, PathElement};
use super::schema::{ListKind, ListType, MapType, Resolved, Schema, TypeRef};
use super::set::FieldSet;
use super::typed::{Shape, check_shape, effective_shape, item_element, resolve, to_field_set};
use super::value;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};

/// The fields that differ between two versions of an object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Comparison {
    /// Present only in the new object.
    pub added: FieldSet,
    /// Present in both, with different values.
    pub modified: FieldSet,
    /// Present only in the old object.
    pub removed: FieldSet,
}

impl Comparison {
    /// True when the objects are the same.
    pub fn is_same(&self) -> bool {
        self.added.is_empty() && self.modified.is_empty() && self.removed.is_empty()
    }
}

/// `lhs` with `rhs` merged over it.
pub fn merge(schema: &Schema, lhs: &Value, rhs: &Value, tr: &TypeRef) -> Result<Value, SsaError> {
    let mut w = Walker { schema, cmp: None };
    Ok(w.walk(Some(lhs), Some(rhs), tr, &mut Vec::new())?
        .unwrap_or(Value::Null))
}

/// How `new` differs from `old`.
pub fn compare(
    schema: &Schema,
    old: &Value,
    new: &Value,
    tr: &TypeRef,
) -> Result<Comparison, SsaError> {
    let mut w = Walker {
        schema,
        cmp: Some(Comparison::default()),
    };
    w.walk(Some(old), Some(new), tr, &mut Vec::new())?;
    Ok(w.cmp.unwrap_or_default())
}

/// The positions of the items each path element names.
type ItemIndex = BTreeMap<PathElement, Vec<usize>>;

struct Walker<'a> {
    schema: &'a Schema,
    cmp: Option<Comparison>,
}

fn as_items(v: Option<&Value>) -> &[Value] {
    match v {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

fn as_entries(v: Option<&Value>) -> Option<&Map<String, Value>> {
    match v {
        Some(Value::Object(m)) => Some(m),
        _ => None,
    }
}

impl Walker<'_> {
    fn walk(
        &mut self,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        tr: &TypeRef,
        path: &mut Vec<PathElement>,
    ) -> Result<Option<Value>, SsaError> {
        let atom = resolve(self.schema, tr, path)?;
        let ls = lhs.map(|v| effective_shape(&atom, v));
        let rs = rhs.map(|v| effective_shape(&atom, v));
        if let (Some(v), Some(s)) = (lhs, ls) {
            check_shape(v, s, path)?;
        }
        if let (Some(v), Some(s)) = (rhs, rs) {
            check_shape(v, s, path)?;
        }
        let chosen = match (ls, rs) {
            (Some(l), Some(r)) if l != r => {
                // An untyped value that changed shape: like SMD, walk the old value as its
                // own shape too, so its parts are reported removed; only the walk as the
                // new shape produces output.
                self.handle(&atom, l, lhs, rhs, path)?;
                r
            }
            (Some(s), _) | (None, Some(s)) => s,
            (None, None) => return Ok(None),
        };
        let (out, leaf) = self.handle(&atom, chosen, lhs, rhs, path)?;
        if !leaf && let Some(cmp) = self.cmp.as_mut() {
            if lhs.is_none() {
                cmp.added.insert(&Path(path.clone()));
            } else if rhs.is_none() {
                cmp.removed.insert(&Path(path.clone()));
            }
        }
        Ok(out)
    }

    /// Walks `lhs`/`rhs` as the given alternative of the atom; a side of another shape
    /// counts as empty. Returns the merged value and whether the node was a leaf.
    fn handle(
        &mut self,
        atom: &Resolved<'_>,
        shape: Shape,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
    ) -> Result<(Option<Value>, bool), SsaError> {
        match shape {
            // A list or map empty (or null) on both sides is a leaf, which keeps the
            // difference between `[]`, `{}` and `null`.
            Shape::List => {
                let both_empty = as_items(lhs).is_empty() && as_items(rhs).is_empty();
                match atom.list() {
                    Some(list) if list.kind != ListKind::Atomic && !both_empty => Ok((
                        self.visit_list(list, as_items(lhs), as_items(rhs), path)?,
                        false,
                    )),
                    _ => Ok((self.leaf(lhs, rhs, path), true)),
                }
            }
            Shape::Map => {
                let both_empty = as_entries(lhs).is_none_or(Map::is_empty)
                    && as_entries(rhs).is_none_or(Map::is_empty);
                match atom.map() {
                    Some(map) if !map.atomic && !both_empty => Ok((
                        self.visit_map(map, as_entries(lhs), as_entries(rhs), path)?,
                        false,
                    )),
                    _ => Ok((self.leaf(lhs, rhs, path), true)),
                }
            }
            Shape::Scalar | Shape::Null => Ok((self.leaf(lhs, rhs, path), true)),
        }
    }

    fn leaf(
        &mut self,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &[PathElement],
    ) -> Option<Value> {
        if let Some(cmp) = self.cmp.as_mut() {
            let p = Path(path.to_vec());
            match (lhs, rhs) {
                (None, _) => cmp.added.insert(&p),
                (_, None) => cmp.removed.insert(&p),
                (Some(l), Some(r)) if !value::equal(l, r) => cmp.modified.insert(&p),
                _ => {}
            }
        }
        rhs.or(lhs).cloned()
    }

    fn visit_map(
        &mut self,
        map: &MapType,
        lhs: Option<&Map<String, Value>>,
        rhs: Option<&Map<String, Value>>,
        path: &mut Vec<PathElement>,
    ) -> Result<Option<Value>, SsaError> {
        let mut out = Map::new();
        let keys = lhs
            .into_iter()
            .flat_map(|m| m.keys())
            .chain(rhs.into_iter().flat_map(|m| m.keys()));
        let mut seen = BTreeSet::new();
        for key in keys {
            if !seen.insert(key) {
                continue;
            }
            let Some(child_type) = map.type_of(key) else {
                return Err(SsaError::invalid(
                    path,
                    format!("field not declared in schema: {key}"),
                ));
            };
            path.push(PathElement::Field(key.clone()));
            let merged = self.walk(
                lhs.and_then(|m| m.get(key)),
                rhs.and_then(|m| m.get(key)),
                child_type,
                path,
            )?;
            path.pop();
            if let Some(v) = merged {
                out.insert(key.clone(), v);
            }
        }
        Ok((!out.is_empty()).then_some(Value::Object(out)))
    }

    /// Each item's path element, and the items (indices) of every element. Duplicates are
    /// allowed only where the API server allows them: in live objects and in the new object
    /// of an update, never in an applied configuration.
    fn elements(
        &self,
        list: &ListType,
        items: &[Value],
        allow_duplicates: bool,
        path: &[PathElement],
    ) -> Result<(Vec<PathElement>, ItemIndex), SsaError> {
        let mut order = Vec::with_capacity(items.len());
        let mut by_pe = ItemIndex::new();
        for (i, item) in items.iter().enumerate() {
            let pe = item_element(self.schema, list, i, item, path)?;
            let indices = by_pe.entry(pe.clone()).or_default();
            if !indices.is_empty() && !allow_duplicates {
                return Err(SsaError::invalid(
                    path,
                    format!("duplicate entries for key {pe}"),
                ));
            }
            indices.push(i);
            order.push(pe);
        }
        Ok((order, by_pe))
    }

    fn visit_list(
        &mut self,
        list: &ListType,
        lhs: &[Value],
        rhs: &[Value],
        path: &mut Vec<PathElement>,
    ) -> Result<Option<Value>, SsaError> {
        let comparing = self.cmp.is_some();
        let (r_all, r_items) = self.elements(list, rhs, comparing, path)?;
        let (l_order, l_items) = self.elements(list, lhs, true, path)?;
        let group = |items: &[Value], idx: Option<&Vec<usize>>| -> Vec<Value> {
            idx.into_iter()
                .flatten()
                .map(|&i| items[i].clone())
                .collect()
        };
        let duplicated: BTreeSet<&PathElement> = l_items
            .iter()
            .chain(r_items.iter())
            .filter(|(_, idx)| idx.len() > 1)
            .map(|(pe, _)| pe)
            .collect();
        for pe in &duplicated {
            self.compare_duplicates(
                list,
                pe,
                &group(lhs, l_items.get(*pe)),
                &group(rhs, r_items.get(*pe)),
                path,
            )?;
        }
        let mut seen = BTreeSet::new();
        let r_order: Vec<&PathElement> = r_all.iter().filter(|pe| seen.insert(*pe)).collect();
        // Items in both lists, in the config's order: the live list is only walked up to the
        // next of these, so live-only items stay next to the neighbours they had.
        let mut shared = r_order.iter().filter(|pe| l_items.contains_key(**pe));
        let mut next_shared = shared.next().copied();
        let mut emitted: BTreeSet<&PathElement> = BTreeSet::new();
        let mut out = Vec::with_capacity(lhs.len().max(rhs.len()));
        let (mut li, mut ri) = (0, 0);
        // Emits the merge of the item(s) `pe` names on both sides, or on the right only.
        let emit_pair =
            |w: &mut Self, pe: &PathElement, path: &mut Vec<PathElement>, out: &mut Vec<Value>| {
                let left = l_items.get(pe).filter(|v| v.len() == 1).map(|v| &lhs[v[0]]);
                let right = r_items.get(pe).map(|v| &rhs[v[0]]);
                if duplicated.contains(pe) {
                    // A duplicated item is replaced by what is applied, not merged with it.
                    out.extend(group(rhs, r_items.get(pe)));
                    return Ok(());
                }
                w.emit(list, pe, left, right, path, out)
            };
        while li < l_order.len() || ri < r_order.len() {
            if li < l_order.len() && ri < r_order.len() {
                let pe = &l_order[li];
                if pe == r_order[ri] {
                    if emitted.insert(pe) {
                        emit_pair(self, pe, path, &mut out)?;
                    }
                    li += 1;
                    ri += 1;
                    next_shared = shared.next().copied();
                    continue;
                }
                if r_items.contains_key(pe) && next_shared.is_some_and(|n| n != pe) {
                    li += 1;
                    continue;
                }
            }
            if li < l_order.len() {
                let pe = &l_order[li];
                if !r_items.contains_key(pe) {
                    if duplicated.contains(pe) {
                        out.push(lhs[li].clone());
                    } else {
                        self.emit(list, pe, Some(&lhs[li]), None, path, &mut out)?;
                    }
                    li += 1;
                    continue;
                }
                if emitted.contains(pe) {
                    li += 1;
                    continue;
                }
            }
            if ri < r_order.len() {
                let pe = r_order[ri];
                if emitted.insert(pe) {
                    emit_pair(self, pe, path, &mut out)?;
                }
                ri += 1;
                if next_shared == Some(pe) {
                    next_shared = shared.next().copied();
                }
            }
        }
        Ok((!out.is_empty()).then_some(Value::Array(out)))
    }

    /// Compares an item that appears more than once on either side, as the API server
    /// does: the group of items with that key is one leaf, owned as a whole. A single item
    /// on the other side contributes its fields as removed (or added), since they can no
    /// longer be owned one by one.
    fn compare_duplicates(
        &mut self,
        list: &ListType,
        pe: &PathElement,
        left: &[Value],
        right: &[Value],
        path: &[PathElement],
    ) -> Result<(), SsaError> {
        let Some(cmp) = self.cmp.as_mut() else {
            return Ok(());
        };
        let item = Path(path.to_vec()).child(pe.clone());
        let same =
            left.len() == right.len() && left.iter().zip(right).all(|(l, r)| value::equal(l, r));
        if left.is_empty() {
            cmp.added.insert(&item);
        } else if right.is_empty() {
            cmp.removed.insert(&item);
        } else if !same {
            cmp.modified.insert(&item);
        }
        let children = |v: &Value| -> Result<Vec<Path>, SsaError> {
            Ok(to_field_set(self.schema, v, &list.element)?
                .paths()
                .into_iter()
                .map(|p| Path(item.0.iter().chain(&p.0).cloned().collect()))
                .collect())
        };
        if let [single] = left {
            for p in children(single)? {
                if let Some(cmp) = self.cmp.as_mut() {
                    cmp.removed.insert(&p);
                }
            }
        }
        if let [single] = right {
            for p in children(single)? {
                if let Some(cmp) = self.cmp.as_mut() {
                    cmp.added.insert(&p);
                }
            }
        }
        Ok(())
    }

    fn emit(
        &mut self,
        list: &ListType,
        pe: &PathElement,
        lhs: Option<&Value>,
        rhs: Option<&Value>,
        path: &mut Vec<PathElement>,
        out: &mut Vec<Value>,
    ) -> Result<(), SsaError> {
        path.push(pe.clone());
        let merged = self.walk(lhs, rhs, &list.element, path)?;
        path.pop();
        out.extend(merged);
        Ok(())
    }
}
