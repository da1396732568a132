//! Sets of field paths, stored as a sorted trie like structured-merge-diff's `fieldpath.Set`.
//!
//! Each node has *members* (paths that end here and are in the set) and *children* (subtrees
//! for paths that continue). A path can be both a member and a prefix of other members: an
//! associative list item is owned itself (`.`) and so are its fields. Empty children are
//! never stored, so structural equality is set equality.

use super::path::{Path, PathElement};
use super::schema::{Schema, TypeRef};
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// A set of [`Path`]s.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldSet {
    pub(crate) members: BTreeSet<PathElement>,
    pub(crate) children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    /// The empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// A set holding the given paths.
    pub fn from_paths<I: IntoIterator<Item = Path>>(paths: I) -> Self {
        let mut s = Self::new();
        for p in paths {
            s.insert(&p);
        }
        s
    }

    /// True when no path is in the set.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.values().all(FieldSet::is_empty)
    }

    /// Adds a path; the empty path is ignored (the root is never a member).
    pub fn insert(&mut self, path: &Path) {
        let Some((last, prefix)) = path.0.split_last() else {
            return;
        };
        let mut node = self;
        for pe in prefix {
            // Elements are cloned only for nodes that do not exist yet.
            if !node.children.contains_key(pe) {
                node.children.insert(pe.clone(), FieldSet::new());
            }
            match node.children.get_mut(pe) {
                Some(child) => node = child,
                None => return, // just inserted
            }
        }
        if !node.members.contains(last) {
            node.members.insert(last.clone());
        }
    }

    /// Adds the child `pe`: as a member when `member`, and with the paths `below` it
    /// (relative to it). Merges with what is already there.
    pub(crate) fn add(&mut self, pe: PathElement, member: bool, below: FieldSet) {
        let has_below = !below.is_empty();
        match (member, has_below) {
            (false, false) => {}
            (true, false) => {
                self.members.insert(pe);
            }
            (member, true) => {
                if member {
                    self.members.insert(pe.clone());
                }
                match self.children.get_mut(&pe) {
                    Some(mine) => mine.extend(&below),
                    None => {
                        self.children.insert(pe, below);
                    }
                }
            }
        }
    }

    /// Whether the exact path is a member.
    pub fn has(&self, path: &Path) -> bool {
        let Some((last, prefix)) = path.0.split_last() else {
            return false;
        };
        let mut node = self;
        for pe in prefix {
            match node.children.get(pe) {
                Some(n) => node = n,
                None => return false,
            }
        }
        node.members.contains(last)
    }

    /// Whether every path of `self` is in `other`.
    pub fn is_subset(&self, other: &FieldSet) -> bool {
        self.members.is_subset(&other.members)
            && self
                .children
                .iter()
                .all(|(pe, mine)| match other.children.get(pe) {
                    Some(theirs) => mine.is_subset(theirs),
                    None => mine.is_empty(),
                })
    }

    /// The paths below `pe`, relative to it.
    pub fn with_prefix(&self, pe: &PathElement) -> Option<&FieldSet> {
        self.children.get(pe)
    }

    /// A node's elements, members and prefixes alike, in path-element order: the two sorted
    /// collections merged.
    pub(crate) fn elements(&self) -> impl Iterator<Item = &PathElement> {
        let mut members = self.members.iter().peekable();
        let mut prefixes = self.children.keys().peekable();
        std::iter::from_fn(move || match (members.peek(), prefixes.peek()) {
            (Some(m), Some(p)) => match m.cmp(p) {
                Ordering::Less => members.next(),
                Ordering::Greater => prefixes.next(),
                Ordering::Equal => {
                    prefixes.next();
                    members.next()
                }
            },
            (Some(_), None) => members.next(),
            (None, _) => prefixes.next(),
        })
    }

    /// Paths in either set.
    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.extend(other);
        out
    }

    /// Adds the paths of `other`: [`FieldSet::union`] in place.
    pub fn extend(&mut self, other: &FieldSet) {
        for m in &other.members {
            if !self.members.contains(m) {
                self.members.insert(m.clone());
            }
        }
        for (pe, theirs) in &other.children {
            match self.children.get_mut(pe) {
                Some(mine) => mine.extend(theirs),
                None => {
                    self.children.insert(pe.clone(), theirs.clone());
                }
            }
        }
    }

    /// Paths in both sets.
    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.intersection(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            if let Some(theirs) = other.children.get(pe) {
                let both = child.intersection(theirs);
                if !both.is_empty() {
                    out.children.insert(pe.clone(), both);
                }
            }
        }
        out
    }

    /// Paths in `self` but not in `other` (members compared exactly; a member of `other`
    /// does not remove paths below it — see [`FieldSet::recursive_difference`]).
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            let rest = match other.children.get(pe) {
                Some(theirs) => child.difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// Removes the paths of `other` from `self`: [`FieldSet::difference`] in place.
    pub fn subtract(&mut self, other: &FieldSet) {
        if !other.members.is_empty() {
            self.members.retain(|m| !other.members.contains(m));
        }
        for (pe, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(pe) {
                mine.subtract(theirs);
                if mine.is_empty() {
                    self.children.remove(pe);
                }
            }
        }
    }

    /// Removes the paths of `other`, and every path below a member of `other`, from
    /// `self`: [`FieldSet::recursive_difference`] in place.
    pub fn subtract_recursive(&mut self, other: &FieldSet) {
        if !other.members.is_empty() {
            self.members.retain(|m| !other.members.contains(m));
            self.children.retain(|pe, _| !other.members.contains(pe));
        }
        for (pe, theirs) in &other.children {
            if let Some(mine) = self.children.get_mut(pe) {
                mine.subtract_recursive(theirs);
                if mine.is_empty() {
                    self.children.remove(pe);
                }
            }
        }
    }

    /// Paths in `self` that are neither in `other` nor below a member of `other`. Used for
    /// ignored ("reset") fields such as `status` on the main resource.
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.difference(&other.members).cloned().collect();
        for (pe, child) in &self.children {
            if other.members.contains(pe) {
                continue;
            }
            let rest = match other.children.get(pe) {
                Some(theirs) => child.recursive_difference(theirs),
                None => child.clone(),
            };
            if !rest.is_empty() {
                out.children.insert(pe.clone(), rest);
            }
        }
        out
    }

    /// Every member path, in SMD's iteration order: a node's members, then its children.
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for m in &self.members {
            let mut p = prefix.clone();
            p.push(m.clone());
            out.push(Path(p));
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect(prefix, out);
            prefix.pop();
        }
    }

    /// Adds, as members, every struct field that appears only as a prefix. Owning
    /// `.spec.replicas` implies owning `.spec` for pruning purposes, but not owning a map
    /// entry's parent map (`.metadata.labels` is a struct field; `.data` entries are not).
    pub fn ensure_named_fields_are_members(&self, schema: &Schema, tr: &TypeRef) -> FieldSet {
        let mut out = FieldSet::new();
        out.members = self.members.clone();
        let atom = schema.resolve(tr);
        for (pe, child) in &self.children {
            let child_type = match (pe, atom.as_ref()) {
                (PathElement::Field(name), Some(a)) => match a.map() {
                    Some(m) => match m.field(name) {
                        Some(f) => {
                            out.members.insert(pe.clone());
                            Some(f.ty.clone())
                        }
                        None => m.element.clone(),
                    },
                    None => None,
                },
                (_, Some(a)) => a.list().map(|l| l.element.clone()),
                _ => None,
            };
            let sub = match child_type {
                Some(t) => child.ensure_named_fields_are_members(schema, &t),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), sub);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(names: &[&str]) -> Path {
        Path::fields(names)
    }

    #[test]
    fn set_algebra() {
        let a = FieldSet::from_paths([p(&["a", "b"]), p(&["a", "c"]), p(&["d"])]);
        let b = FieldSet::from_paths([p(&["a", "c"]), p(&["e"])]);
        assert_eq!(
            a.union(&b),
            FieldSet::from_paths([p(&["a", "b"]), p(&["a", "c"]), p(&["d"]), p(&["e"])])
        );
        assert_eq!(a.intersection(&b), FieldSet::from_paths([p(&["a", "c"])]));
        assert_eq!(
            a.difference(&b),
            FieldSet::from_paths([p(&["a", "b"]), p(&["d"])])
        );
        assert!(a.has(&p(&["a", "b"])));
        assert!(!a.has(&p(&["a"])));
        assert!(a.difference(&a).is_empty());
        assert!(FieldSet::from_paths([p(&["a", "c"])]).is_subset(&a));
        assert!(!b.is_subset(&a));
        assert!(!FieldSet::from_paths([p(&["a"])]).is_subset(&a));
        assert!(FieldSet::new().is_subset(&a));
        let mut c = a.clone();
        c.extend(&b);
        assert_eq!(c, a.union(&b));
        c.subtract(&b);
        assert_eq!(c, a.union(&b).difference(&b));
        let mut d = a.union(&b);
        d.subtract_recursive(&FieldSet::from_paths([p(&["a"]), p(&["e"])]));
        assert_eq!(d, FieldSet::from_paths([p(&["d"])]));
    }

    #[test]
    fn recursive_difference_drops_subtrees_of_members() {
        let a = FieldSet::from_paths([p(&["status", "replicas"]), p(&["spec", "replicas"])]);
        let ignored = FieldSet::from_paths([p(&["status"])]);
        assert_eq!(
            a.recursive_difference(&ignored),
            FieldSet::from_paths([p(&["spec", "replicas"])])
        );
        // Plain difference keeps them: `status` itself was never a member.
        assert_eq!(a.difference(&ignored), a);
    }

    #[test]
    fn paths_iterate_members_before_children_in_element_order() {
        let item = PathElement::key(vec![("name".into(), json!("x"))]);
        let s = FieldSet::from_paths([
            p(&["spec", "z"]),
            Path::fields(&["spec", "list"]).child(item.clone()),
            Path::fields(&["spec", "list"])
                .child(item)
                .child(PathElement::Field("image".into())),
            p(&["spec", "a", "b"]),
        ]);
        let rendered: Vec<String> = s.paths().iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                ".spec.z",
                ".spec.a.b",
                ".spec.list[name=\"x\"]",
                ".spec.list[name=\"x\"].image"
            ]
        );
    }
}
