//! Field validation (`fieldValidation=Strict|Warn|Ignore`): finding fields the schema does
//! not declare.
//!
//! The walk follows the definitions' JSON schemas (`$ref`s into the built-in definitions or
//! a CRD's schema, `properties`, `additionalProperties`, `items`). A field is unknown when
//! its object's schema lists `properties` and neither `additionalProperties` nor
//! `x-kubernetes-preserve-unknown-fields` admits it. Paths are written as the API server
//! writes them: `spec.foo`, `spec.template.spec.containers[0].foo`.

use serde_json::{Map, Value};
use std::fmt::Write as _;

/// Follows `$ref`s (`#/$defs/<name>`, looked up by `lookup`) to the schema they name;
/// `None` for a dangling reference or a chain too long to be anything but a cycle.
pub fn resolve_ref<'a>(
    mut schema: &'a Value,
    lookup: impl Fn(&str) -> Option<&'a Value>,
) -> Option<&'a Value> {
    // References chain at most a few levels; the bound guards against cycles.
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(r) => schema = lookup(r.trim_start_matches("#/$defs/"))?,
            None => return Some(schema),
        }
    }
    None
}

/// What to do with unknown fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldValidation {
    Strict,
    Warn,
    Ignore,
}

impl FieldValidation {
    /// From the query parameter; the server's default is Warn.
    pub fn parse(v: Option<&str>) -> Self {
        match v {
            Some("Strict") => FieldValidation::Strict,
            Some("Ignore") => FieldValidation::Ignore,
            _ => FieldValidation::Warn,
        }
    }
}

/// Looks up schemas by definition name.
#[derive(Debug)]
pub struct Schemas<'a> {
    pub builtin: &'a Map<String, Value>,
    pub custom: &'a Map<String, Value>,
}

impl Schemas<'_> {
    fn get(&self, name: &str) -> Option<&Value> {
        self.builtin.get(name).or_else(|| self.custom.get(name))
    }

    fn resolve<'s>(&'s self, schema: &'s Value) -> Option<&'s Value> {
        resolve_ref(schema, |name| self.get(name))
    }

    /// Paths of every undeclared field of `object` under the definition `name`.
    pub fn unknown_fields(&self, name: &str, object: &Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(schema) = self.get(name) {
            self.walk(schema, object, &mut Vec::new(), &mut out);
        }
        out
    }

    /// Walks `value` at `path` (rendered only for an unknown field: most have none).
    fn walk<'v>(
        &self,
        schema: &Value,
        value: &'v Value,
        path: &mut Vec<Step<'v>>,
        out: &mut Vec<String>,
    ) {
        let Some(schema) = self.resolve(schema) else {
            return;
        };
        if schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true)) {
            return;
        }
        match value {
            Value::Object(map) => {
                let properties = schema.get("properties").and_then(Value::as_object);
                let additional = schema.get("additionalProperties").filter(|a| a.is_object());
                for (key, child) in map {
                    // Every object has these, whatever a CRD's schema declares.
                    if path.is_empty() && matches!(key.as_str(), "apiVersion" | "kind") {
                        continue;
                    }
                    path.push(Step::Key(key));
                    match (properties.and_then(|p| p.get(key)), additional) {
                        (Some(s), _) | (None, Some(s)) => self.walk(s, child, path, out),
                        (None, None) if properties.is_some() => out.push(render(path)),
                        (None, None) => {}
                    }
                    path.pop();
                }
            }
            Value::Array(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(Step::Index(i));
                        self.walk(item_schema, item, path, out);
                        path.pop();
                    }
                }
            }
            _ => {}
        }
    }
}

/// One step of a path into an object.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// A path as the API server writes it: `spec.template.spec.containers[0].foo`.
fn render(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// `strict decoding error: unknown field "a", unknown field "b"`.
pub fn strict_message(unknown: &[String]) -> String {
    let fields: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    format!("strict decoding error: {}", fields.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_undeclared_fields_through_refs_and_lists() {
        let builtin = json!({
            "D": {"properties": {"spec": {"$ref": "#/$defs/S"}, "metadata": {"type": "object"}}},
            "S": {"properties": {
                "items": {"type": "array", "items": {"properties": {"name": {"type": "string"}}}},
                "labels": {"additionalProperties": {"type": "string"}},
                "free": {"x-kubernetes-preserve-unknown-fields": true},
            }},
        });
        let custom = Map::new();
        let s = Schemas {
            builtin: builtin.as_object().unwrap(),
            custom: &custom,
        };
        let obj = json!({"spec": {"foo": 1, "items": [{"name": "a", "bar": 2}],
            "labels": {"x": "y"}, "free": {"anything": 1}}, "metadata": {"x": 1}});
        assert_eq!(
            s.unknown_fields("D", &obj),
            ["spec.foo", "spec.items[0].bar"]
        );
        assert_eq!(
            strict_message(&["spec.foo".into()]),
            "strict decoding error: unknown field \"spec.foo\""
        );
    }
}
