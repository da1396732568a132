//! Structural-schema processing of custom resources: pruning and defaulting.
//!
//! Like the apiextensions server, every custom resource written is
//! - pruned: fields its CRD's schema does not declare are dropped, except under
//!   `x-kubernetes-preserve-unknown-fields: true` (and `apiVersion`, `kind`, `metadata`,
//!   which every object has);
//! - defaulted: a property missing from an object whose schema gives it a `default` gets
//!   that value (and is then defaulted itself), at every depth the object reaches; a
//!   `null` where the schema does not say `nullable: true` is defaulted the same way, or
//!   dropped when there is no default.

use serde_json::{Map, Value};

/// Resolves `$ref`s among `defs` (built-in ObjectMeta and friends).
fn resolve<'a>(defs: &'a Map<String, Value>, schema: &'a Value) -> Option<&'a Value> {
    crate::validation::resolve_ref(schema, |name| defs.get(name))
}

/// Prunes and defaults `value` in place under `schema`.
pub fn normalize(defs: &Map<String, Value>, schema: &Value, value: &mut Value, top: bool) {
    let Some(schema) = resolve(defs, schema) else {
        return;
    };
    let preserve = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties").filter(|a| a.is_object());
            if let Some(props) = properties {
                for (name, prop) in props {
                    let prop = resolve(defs, prop).unwrap_or(prop);
                    let nullable = prop.get("nullable") == Some(&Value::Bool(true));
                    match (map.get(name), prop.get("default")) {
                        // A null where null is not allowed counts as absent: defaulted, or
                        // dropped (so that `required` reports it, as the real server does).
                        (Some(Value::Null), None) if !nullable => {
                            map.remove(name);
                        }
                        (Some(Value::Null), Some(d)) if !nullable => {
                            map.insert(name.clone(), d.clone());
                        }
                        (None, Some(d)) => {
                            map.insert(name.clone(), d.clone());
                        }
                        _ => {}
                    }
                }
            }
            if let Some(a) = additional.and_then(|a| resolve(defs, a))
                && a.get("nullable") != Some(&Value::Bool(true))
                && a.get("default").is_none()
            {
                map.retain(|k, v| !v.is_null() || properties.is_some_and(|p| p.contains_key(k)));
            }
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                // Object metadata is the server's, not the CRD's, to shape.
                if top && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                    continue;
                }
                let child_schema = properties.and_then(|p| p.get(&key)).or(additional);
                match child_schema {
                    Some(s) => {
                        if let Some(child) = map.get_mut(&key) {
                            normalize(defs, s, child, false);
                        }
                    }
                    // Undeclared: pruned. (An object schema with neither properties nor
                    // additionalProperties declares no fields at all.)
                    None if !preserve
                        && (properties.is_some()
                            || schema.get("type").and_then(Value::as_str) == Some("object")) =>
                    {
                        map.remove(&key);
                    }
                    None => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    normalize(defs, item_schema, item, false);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn prunes_unknown_and_fills_defaults() {
        let defs = Map::new();
        let schema = json!({"type": "object", "properties": {
            "metadata": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            "spec": {"type": "object", "properties": {
                "size": {"type": "integer", "default": 1},
                "mode": {"type": "string", "default": "fast"},
                "items": {"type": "array", "items": {"type": "object", "properties": {
                    "name": {"type": "string"}, "weight": {"type": "integer", "default": 5}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
            }},
        }});
        let mut obj = json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
            "spec": {"mode": "slow", "junk": 1, "items": [{"name": "i", "extra": true}],
                     "free": {"anything": 1}},
            "status": {"x": 1}});
        normalize(&defs, &schema, &mut obj, true);
        assert_eq!(
            obj,
            json!({"apiVersion": "x/v1", "kind": "W", "metadata": {"name": "a"},
                "spec": {"mode": "slow", "size": 1, "items": [{"name": "i", "weight": 5}],
                         "free": {"anything": 1}}})
        );
    }
}
