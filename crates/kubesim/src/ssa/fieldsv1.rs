//! The `fieldsV1` encoding of a [`FieldSet`], byte for byte as the API server writes it.
//!
//! A set is a JSON object. Each key names a path element — `f:<field>`, `k:<json object of
//! key fields>`, `v:<json value>`, `i:<index>` — and maps to the subtree below it; `{}`
//! means the element is a member with nothing below. `".": {}` inside a subtree marks the
//! element itself as a member too (an associative-list item and its fields). Keys appear in
//! path-element order (fields, keys, values, indices; see [`super::path`]), with `.` first;
//! JSON inside `k:`/`v:` is written as Go writes it (sorted keys, `<>&` escaped).

use super::path::PathElement;
use super::set::FieldSet;
use super::value;
use serde_json::{Map, Value};

/// An error in a `fieldsV1` document.
#[derive(Debug, thiserror::Error)]
pub enum FieldsV1Error {
    /// The document or a subtree is not a JSON object.
    #[error("expected a JSON object for the field set at {0:?}")]
    NotAnObject(String),
    /// A key is not one of the four element forms.
    #[error("invalid path element {0:?}: {1}")]
    BadElement(String, String),
}

/// Parses a path element key (`f:name`, `k:{…}`, `v:…`, `i:3`).
pub fn parse_element(s: &str) -> Result<PathElement, FieldsV1Error> {
    let bad = |why: &str| FieldsV1Error::BadElement(s.to_string(), why.to_string());
    let (kind, rest) = s.split_at_checked(2).ok_or_else(|| bad("too short"))?;
    match kind {
        "f:" => Ok(PathElement::Field(rest.to_string())),
        "v:" => serde_json::from_str::<Value>(rest)
            .map(PathElement::Value)
            .map_err(|e| bad(&e.to_string())),
        "k:" => match serde_json::from_str::<Value>(rest) {
            Ok(Value::Object(m)) => Ok(PathElement::key(m.into_iter().collect())),
            Ok(_) => Err(bad("key must be a JSON object")),
            Err(e) => Err(bad(&e.to_string())),
        },
        "i:" => rest
            .parse::<usize>()
            .map(PathElement::Index)
            .map_err(|e| bad(&e.to_string())),
        _ => Err(bad("unknown path element type")),
    }
}

/// Serializes a path element as a `fieldsV1` key.
pub fn element_key(pe: &PathElement) -> String {
    match pe {
        PathElement::Field(name) => format!("f:{name}"),
        PathElement::Key(fields) => {
            // Key fields are already sorted by name, which is also the order Go writes.
            let mut out = String::from("k:{");
            for (i, (k, v)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                value::write_go_string(k, &mut out);
                out.push(':');
                out.push_str(&value::to_go_json(v));
            }
            out.push('}');
            out
        }
        PathElement::Value(v) => format!("v:{}", value::to_go_json(v)),
        PathElement::Index(i) => format!("i:{i}"),
    }
}

/// Parses a `fieldsV1` document.
pub fn from_json(v: &Value) -> Result<FieldSet, FieldsV1Error> {
    let Value::Object(map) = v else {
        return Err(FieldsV1Error::NotAnObject(String::new()));
    };
    parse_node(map)
}

/// Parses a `fieldsV1` document given as text.
pub fn from_str(s: &str) -> Result<FieldSet, FieldsV1Error> {
    let v: Value =
        serde_json::from_str(s).map_err(|e| FieldsV1Error::NotAnObject(e.to_string()))?;
    from_json(&v)
}

fn parse_node(map: &Map<String, Value>) -> Result<FieldSet, FieldsV1Error> {
    let mut set = FieldSet::new();
    for (k, sub) in map {
        if k == "." {
            continue;
        }
        let pe = parse_element(k)?;
        let Value::Object(sub) = sub else {
            return Err(FieldsV1Error::NotAnObject(k.clone()));
        };
        if sub.is_empty() {
            set.members.insert(pe);
            continue;
        }
        if sub.contains_key(".") {
            set.members.insert(pe.clone());
        }
        let child = parse_node(sub)?;
        if !child.is_empty() {
            set.children.insert(pe, child);
        }
    }
    Ok(set)
}

/// Serializes a set as the API server does (the exact bytes, not just equivalent JSON).
pub fn to_string(set: &FieldSet) -> String {
    let mut out = String::new();
    write_node(set, false, &mut out);
    out
}

/// Serializes a set as a JSON value (key order inside `serde_json::Value` is not kept; use
/// [`to_string`] where bytes matter).
pub fn to_json(set: &FieldSet) -> Value {
    node_value(set, false)
}

/// The value [`to_string`]'s text parses to, built directly, keys in the same order.
fn node_value(set: &FieldSet, dot: bool) -> Value {
    let mut out = Map::new();
    if dot {
        out.insert(".".to_string(), Value::Object(Map::new()));
    }
    for pe in set.elements() {
        let sub = match set.children.get(pe) {
            Some(child) => node_value(child, set.members.contains(pe)),
            None => Value::Object(Map::new()),
        };
        out.insert(element_key(pe), sub);
    }
    Value::Object(out)
}

fn write_node(set: &FieldSet, dot: bool, out: &mut String) {
    out.push('{');
    let mut first = true;
    let mut sep = |out: &mut String| {
        if !first {
            out.push(',');
        }
        first = false;
    };
    if dot {
        sep(out);
        out.push_str("\".\":{}");
    }
    for pe in set.elements() {
        sep(out);
        let mut key = String::new();
        value::write_go_string(&element_key(pe), &mut key);
        out.push_str(&key);
        out.push(':');
        match set.children.get(pe) {
            Some(child) => write_node(child, set.members.contains(pe), out),
            None => out.push_str("{}"),
        }
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssa::path::Path;
    use serde_json::json;

    #[test]
    fn element_keys_round_trip() {
        for key in [
            "f:metadata",
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}",
            "v:\"example.com/finalizer\"",
            "v:5",
            "i:2",
        ] {
            let pe = parse_element(key).expect("parses");
            assert_eq!(element_key(&pe), key);
        }
        assert!(parse_element("x:1").is_err());
        assert!(parse_element("k:[1]").is_err());
    }

    #[test]
    fn key_fields_are_sorted_whatever_order_they_arrive_in() {
        let pe = parse_element("k:{\"protocol\":\"TCP\",\"containerPort\":80}").expect("parses");
        assert_eq!(
            element_key(&pe),
            "k:{\"containerPort\":80,\"protocol\":\"TCP\"}"
        );
    }

    #[test]
    fn json_value_is_the_parsed_text() {
        let item = PathElement::key(vec![("name".into(), json!("a<b&c>"))]);
        let list = Path::fields(&["spec", "containers"]);
        let set = FieldSet::from_paths([
            list.child(item.clone()),
            list.child(item).child(PathElement::Field("image".into())),
            Path::fields(&["metadata", "labels", "x\"y"]),
            Path::fields(&["metadata", "finalizers"]).child(PathElement::Value(json!("f"))),
            Path::fields(&["data"]).child(PathElement::Index(2)),
        ]);
        let parsed: Value = serde_json::from_str(&to_string(&set)).expect("valid JSON");
        assert_eq!(to_json(&set), parsed);
        assert_eq!(
            serde_json::to_string(&to_json(&set)).expect("serializes"),
            serde_json::to_string(&parsed).expect("serializes")
        );
        assert_eq!(to_json(&FieldSet::new()), json!({}));
    }

    #[test]
    fn dot_comes_first_and_members_without_children_are_empty_objects() {
        let item = PathElement::key(vec![("name".into(), json!("web"))]);
        let list = Path::fields(&["spec", "containers"]);
        let set = FieldSet::from_paths([
            list.child(item.clone()),
            list.child(item.clone())
                .child(PathElement::Field("image".into())),
            list.child(item).child(PathElement::Field("name".into())),
            Path::fields(&["spec", "replicas"]),
        ]);
        assert_eq!(
            to_string(&set),
            r#"{"f:spec":{"f:containers":{"k:{\"name\":\"web\"}":{".":{},"f:image":{},"f:name":{}}},"f:replicas":{}}}"#
        );
    }
}
