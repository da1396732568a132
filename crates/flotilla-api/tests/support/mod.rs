//! Helpers shared by the integration tests: where the manifests are, YAML loading, and a
//! small JSON-schema validator for the subset of OpenAPI v3 that Kubernetes uses.

#![allow(dead_code)] // each test binary uses a different part of this module

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `manifests/<dir>` in the repository.
pub fn manifests(dir: &str) -> PathBuf {
    repo_root().join("manifests").join(dir)
}

/// Top-level `*.yaml` files of a directory, sorted.
pub fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    files
}

/// A YAML file as JSON.
pub fn yaml_value(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The openAPIV3Schema of a CRD, as JSON.
pub fn crd_schema(crd: &impl serde::Serialize) -> Value {
    let crd = serde_json::to_value(crd).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Validates values against schemas in the Kubernetes OpenAPI v3 subset: `type`
/// (including `nullable` and type lists with "null"), `properties` (objects with
/// properties are closed unless `x-kubernetes-preserve-unknown-fields`),
/// `additionalProperties`, `required`, `items`, `enum`, `pattern`, length, item-count and
/// numeric bounds, `x-kubernetes-int-or-string`, and `$ref` into `#/$defs/`.
pub struct Validator<'a> {
    defs: Option<&'a serde_json::Map<String, Value>>,
    /// `$ref` targets that stand for "a schema or something else" (JSONSchemaPropsOrBool
    /// and friends have no schema of their own): objects are checked against the mapped
    /// definition, arrays item by item.
    aliases: HashMap<String, String>,
}

impl<'a> Validator<'a> {
    /// A validator for self-contained schemas.
    pub fn new() -> Self {
        Self {
            defs: None,
            aliases: HashMap::new(),
        }
    }

    /// A validator resolving `$ref`s in `definitions` (a `{"$defs": {...}}` document).
    pub fn with_definitions(definitions: &'a Value) -> Self {
        Self {
            defs: definitions["$defs"].as_object(),
            aliases: HashMap::new(),
        }
    }

    /// See [`Validator::aliases`].
    pub fn alias(mut self, from: &str, to: &str) -> Self {
        self.aliases.insert(from.to_owned(), to.to_owned());
        self
    }

    /// Every violation, as `path: message`.
    pub fn validate(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "", &mut errors);
        errors
    }

    fn definition(&self, reference: &str) -> Option<&'a Value> {
        let name = reference.strip_prefix("#/$defs/")?;
        self.defs?.get(name)
    }

    fn check(&self, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let name = reference.trim_start_matches("#/$defs/");
            if let Some(target) = self.aliases.get(name) {
                let target = self.definition(&format!("#/$defs/{target}"));
                match (value, target) {
                    (Value::Object(_), Some(target)) => self.check(target, value, path, errors),
                    (Value::Array(items), Some(target)) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check(target, item, &format!("{path}[{i}]"), errors);
                        }
                    }
                    _ => {}
                }
                return;
            }
            match self.definition(reference) {
                Some(target) => self.check(target, value, path, errors),
                None => errors.push(format!("{path}: unresolved $ref {reference}")),
            }
            return;
        }
        if value.is_null() && schema.get("nullable") == Some(&Value::Bool(true)) {
            return;
        }
        if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
            if !(value.is_string() || value.is_i64() || value.is_u64()) {
                errors.push(format!("{path}: expected an integer or a string"));
            }
            return;
        }
        if let Some(types) = types(schema)
            && !types.iter().any(|t| has_type(value, t))
        {
            errors.push(format!(
                "{path}: expected {}, found {value}",
                types.join(" or ")
            ));
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && !allowed.contains(value)
        {
            errors.push(format!(
                "{path}: {value} is not one of {}",
                Value::from(allowed.clone())
            ));
        }
        match value {
            Value::Object(object) => self.check_object(schema, object, path, errors),
            Value::Array(items) => {
                bound(
                    schema,
                    "minItems",
                    "maxItems",
                    items.len(),
                    path,
                    "items",
                    errors,
                );
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        self.check(item_schema, item, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            Value::String(text) => {
                let chars = text.chars().count();
                bound(
                    schema,
                    "minLength",
                    "maxLength",
                    chars,
                    path,
                    "characters",
                    errors,
                );
                if let Some(pattern) = schema.get("pattern").and_then(Value::as_str) {
                    match regex::Regex::new(pattern) {
                        Ok(re) if re.is_match(text) => {}
                        Ok(_) => errors.push(format!("{path}: {text:?} does not match {pattern}")),
                        Err(e) => errors.push(format!("{path}: bad pattern {pattern}: {e}")),
                    }
                }
            }
            Value::Number(number) => {
                let n = number.as_f64().unwrap_or(f64::NAN);
                if let Some(min) = schema.get("minimum").and_then(Value::as_f64)
                    && n < min
                {
                    errors.push(format!("{path}: {n} is below the minimum {min}"));
                }
                if let Some(max) = schema.get("maximum").and_then(Value::as_f64)
                    && n > max
                {
                    errors.push(format!("{path}: {n} is above the maximum {max}"));
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn check_object(
        &self,
        schema: &Value,
        object: &serde_json::Map<String, Value>,
        path: &str,
        errors: &mut Vec<String>,
    ) {
        for field in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(field) = field.as_str()
                && !object.contains_key(field)
            {
                errors.push(format!("{path}: missing required field {field:?}"));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties");
        let open = schema.get("x-kubernetes-preserve-unknown-fields") == Some(&Value::Bool(true));
        for (key, field_value) in object {
            let field_path = format!("{path}.{key}");
            match (properties.and_then(|p| p.get(key)), additional) {
                (Some(field_schema), _) => {
                    self.check(field_schema, field_value, &field_path, errors)
                }
                (None, Some(Value::Object(_))) => self.check(
                    &additional.cloned().unwrap_or_default(),
                    field_value,
                    &field_path,
                    errors,
                ),
                (None, Some(Value::Bool(true))) => {}
                (None, _) if open || properties.is_none() => {}
                (None, _) => errors.push(format!("{field_path}: unknown field")),
            }
        }
    }
}

fn types(schema: &Value) -> Option<Vec<String>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(list) => Some(
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
        ),
        _ => None,
    }
}

fn has_type(value: &Value, type_name: &str) -> bool {
    match type_name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn bound(
    schema: &Value,
    min_key: &str,
    max_key: &str,
    found: usize,
    path: &str,
    unit: &str,
    errors: &mut Vec<String>,
) {
    let found = found as u64;
    if let Some(min) = schema.get(min_key).and_then(Value::as_u64)
        && found < min
    {
        errors.push(format!("{path}: {found} {unit}, fewer than {min}"));
    }
    if let Some(max) = schema.get(max_key).and_then(Value::as_u64)
        && found > max
    {
        errors.push(format!("{path}: {found} {unit}, more than {max}"));
    }
}
