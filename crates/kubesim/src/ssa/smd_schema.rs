//! Export of a [`Schema`] in structured-merge-diff's own schema document format
//! (`types: [{name, scalar | list | map}]`), so the same types can be handed to the Go
//! library as a differential-testing oracle (see `crates/kubesim/oracle`).

use super::schema::{Atom, ListKind, Scalar, Schema, TypeRef};
use serde_json::{Map, Value, json};
use std::collections::{BTreeSet, VecDeque};

impl Schema {
    /// The types reachable from `roots`, as an SMD schema document (JSON, which the Go
    /// library reads as YAML).
    pub fn to_smd_document(&self, roots: &[&str]) -> Value {
        let mut seen: BTreeSet<String> = roots.iter().map(|r| r.to_string()).collect();
        let mut queue: VecDeque<String> = seen.iter().cloned().collect();
        let mut types = Vec::new();
        while let Some(name) = queue.pop_front() {
            let Some(atom) = self.get(&name) else {
                continue;
            };
            let mut refs = Vec::new();
            let mut def = match self.atom_json(atom, &mut refs) {
                Value::Object(m) => m,
                _ => Map::new(),
            };
            def.insert("name".into(), json!(name));
            types.push(Value::Object(def));
            for r in refs {
                if seen.insert(r.clone()) {
                    queue.push_back(r);
                }
            }
        }
        json!({ "types": types })
    }

    fn atom_json(&self, atom: &Atom, refs: &mut Vec<String>) -> Value {
        let mut out = Map::new();
        if let Some(s) = atom.scalar {
            let name = match s {
                Scalar::String => "string",
                Scalar::Numeric => "numeric",
                Scalar::Boolean => "boolean",
                Scalar::Untyped => "untyped",
            };
            out.insert("scalar".into(), json!(name));
        }
        if let Some(l) = atom.list_type() {
            let relationship = match l.kind {
                ListKind::Atomic => "atomic",
                ListKind::Associative => "associative",
                ListKind::Positional => "separable",
            };
            let mut list = Map::new();
            list.insert("elementType".into(), self.ref_json(&l.element, refs));
            list.insert("elementRelationship".into(), json!(relationship));
            if !l.keys.is_empty() {
                list.insert("keys".into(), json!(l.keys));
            }
            out.insert("list".into(), Value::Object(list));
        }
        if let Some(m) = atom.map_type() {
            let fields: Vec<Value> = m
                .fields
                .iter()
                .map(|f| {
                    let mut field = Map::new();
                    field.insert("name".into(), json!(f.name));
                    field.insert("type".into(), self.ref_json(&f.ty, refs));
                    if let Some(d) = &f.default {
                        field.insert("default".into(), d.clone());
                    }
                    Value::Object(field)
                })
                .collect();
            let mut map = Map::new();
            if !fields.is_empty() {
                map.insert("fields".into(), Value::Array(fields));
            }
            if let Some(e) = &m.element {
                map.insert("elementType".into(), self.ref_json(e, refs));
            }
            map.insert(
                "elementRelationship".into(),
                json!(if m.atomic { "atomic" } else { "separable" }),
            );
            out.insert("map".into(), Value::Object(map));
        }
        Value::Object(out)
    }

    /// A reference; one forced atomic is inlined as an atomic copy, since SMD v4.1 has no
    /// per-reference override.
    fn ref_json(&self, tr: &TypeRef, refs: &mut Vec<String>) -> Value {
        if let (Some(name), false) = (tr.name(), tr.force_atomic) {
            refs.push(name.to_string());
            return json!({ "namedType": name });
        }
        match self.resolve(tr) {
            Some(resolved) => self.atom_json(resolved.atom(), refs),
            None => json!({}),
        }
    }
}
