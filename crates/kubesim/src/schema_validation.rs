//! Value validation of custom resources against their CRD version's `openAPIV3Schema`.
//!
//! The apiextensions server validates every custom resource it writes (create, update,
//! patch, apply, and the status subresource) after decoding, pruning and defaulting, and
//! answers 422 Invalid with one cause per failure. This module reproduces that check for
//! the keywords a structural schema may carry: `type` (an integer passes as a number,
//! `x-kubernetes-int-or-string` takes either), `nullable`, `required`, `enum`, `pattern`,
//! `format` (the cheaply checkable ones), `minimum`/`maximum` (and `exclusive*`),
//! `multipleOf`, `minLength`/`maxLength`, `minItems`/`maxItems`,
//! `minProperties`/`maxProperties`, through `properties`, `additionalProperties` and
//! `items`. `x-kubernetes-preserve-unknown-fields` subtrees are checked only where they
//! declare properties. CEL rules (`x-kubernetes-validations`), `allOf`/`anyOf`/`oneOf`/
//! `not` and `uniqueItems` (which a structural schema may not set to true) are not checked.
//!
//! Errors are worded as the real server's field errors: the kube-openapi validator's
//! sentence (`spec.url in body should match '^https://'`) wrapped in apimachinery's field
//! error (`spec.url: Invalid value: "x": …`), with the same cause reasons.
//!
//! Like the server's validation ratcheting (on by default since Kubernetes 1.30), an update
//! does not fail on a value it leaves unchanged: a subtree equal to the old object's
//! subtree at the same path is not validated again.

use regex::Regex;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::HashMap;

/// What kind of field error, as apimachinery's `field.ErrorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Required,
    Invalid,
    TypeInvalid,
    NotSupported,
    TooLong,
    TooMany,
    Forbidden,
}

impl ErrorKind {
    /// The `StatusCause.reason`.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorKind::Required => "FieldValueRequired",
            ErrorKind::Invalid => "FieldValueInvalid",
            ErrorKind::TypeInvalid => "FieldValueTypeInvalid",
            ErrorKind::NotSupported => "FieldValueNotSupported",
            ErrorKind::TooLong => "FieldValueTooLong",
            ErrorKind::TooMany => "FieldValueTooMany",
            ErrorKind::Forbidden => "FieldValueForbidden",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorKind::Required => "Required value",
            ErrorKind::Invalid | ErrorKind::TypeInvalid => "Invalid value",
            ErrorKind::NotSupported => "Unsupported value",
            ErrorKind::TooLong => "Too long",
            ErrorKind::TooMany => "Too many",
            ErrorKind::Forbidden => "Forbidden",
        }
    }
}

/// One failed check at one field.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    pub kind: ErrorKind,
    /// `spec.items[0].name`.
    pub field: String,
    /// The offending value as Go prints it (`"x"`, `3`, `true`), if the error shows one.
    pub value: Option<String>,
    pub detail: String,
}

impl FieldError {
    /// The cause message: `Invalid value: "x": spec.url in body should match '…'`.
    pub fn body(&self) -> String {
        let mut s = self.kind.label().to_string();
        if let Some(v) = &self.value {
            s.push_str(": ");
            s.push_str(v);
        }
        if !self.detail.is_empty() {
            s.push_str(": ");
            s.push_str(&self.detail);
        }
        s
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

/// The aggregate the server puts after `is invalid: `: one error alone, several in
/// brackets, duplicates once.
pub fn aggregate(errors: &[FieldError]) -> String {
    let mut seen = Vec::new();
    for e in errors {
        let s = e.to_string();
        if !seen.contains(&s) {
            seen.push(s);
        }
    }
    match seen.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}

/// Validates a whole custom resource (its top-level `apiVersion`, `kind` and `metadata` are the
/// server's and are skipped). `old` is the stored object on an update.
pub fn validate_object(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut v = Validator { errors: Vec::new() };
    v.node(schema, object, old, "", true);
    v.errors
}

/// Validates only `status` (the status subresource's check), under `status.`.
pub fn validate_status(schema: &Value, object: &Value, old: Option<&Value>) -> Vec<FieldError> {
    let mut v = Validator { errors: Vec::new() };
    if let (Some(s), Some(status)) = (schema.pointer("/properties/status"), object.get("status")) {
        v.node(
            s,
            status,
            old.and_then(|o| o.get("status")),
            "status",
            false,
        );
    }
    v.errors
}

/// Go's `%q` of a string. serde_json escapes printable text the same way; only control
/// characters other than `\n`, `\r`, `\t` come out differently (`\u0001`, not `\x01`).
fn quote(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// How Go's `%v` prints a decoded JSON value the server reports as a bad value (integers
/// decode as int64, other numbers as float64).
fn show(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Null => quote("null"),
        Value::Number(n) if !n.is_f64() => n.to_string(),
        Value::Number(n) => number(n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    }
}

/// Go's `%v` of a float64 (schema bounds, fractional values): the shortest digits, in
/// exponent form (`1e+06`, `1.5e-05`) when the exponent is below -4 or at least 6.
fn number(n: f64) -> String {
    let sci = format!("{n:e}");
    let Some((mantissa, exp)) = sci.split_once('e') else {
        return sci;
    };
    match exp.parse::<i32>() {
        Ok(e) if !(-4..6).contains(&e) => {
            let sign = if e < 0 { '-' } else { '+' };
            format!("{mantissa}e{sign}{:02}", e.abs())
        }
        _ => format!("{n}"),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(n) if n.as_f64().is_some_and(|f| f.fract() == 0.0) => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, actual: &str) -> bool {
    expected == actual || (expected == "number" && actual == "integer")
}

/// The `format`s kube-openapi checks that need no more than a few lines here; others pass.
fn format_ok(format: &str, s: &str) -> bool {
    use base64::Engine;
    match format {
        "date-time" => date_time_ok(s),
        "date" => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
        "uuid" => uuid::Uuid::try_parse(s).is_ok() && s.len() == 36,
        "byte" => base64::engine::general_purpose::STANDARD.decode(s).is_ok(),
        "ipv4" => s.parse::<std::net::Ipv4Addr>().is_ok(),
        "ipv6" => s.parse::<std::net::Ipv6Addr>().is_ok(),
        _ => true,
    }
}

thread_local! {
    /// Compiled patterns, per thread so that clusters share no lock. CRDs hold few
    /// distinct patterns; the bound only guards against a stream of changing CRDs.
    static PATTERNS: RefCell<HashMap<String, Option<Regex>>> = RefCell::new(HashMap::new());
}

/// Whether `s` matches `pattern`; `None` for a pattern the regex crate cannot compile,
/// which is then not enforced rather than refusing every object (the real server refuses
/// such a CRD up front).
fn matches(pattern: &str, s: &str) -> Option<bool> {
    PATTERNS.with(|cache| {
        let mut cache = cache.borrow_mut();
        if !cache.contains_key(pattern) {
            if cache.len() >= 512 {
                cache.clear();
            }
            cache.insert(pattern.to_string(), Regex::new(pattern).ok());
        }
        cache.get(pattern)?.as_ref().map(|re| re.is_match(s))
    })
}

/// kube-openapi's `date-time` takes RFC 3339 and a few ISO 8601 relatives: no colon in the
/// offset, no offset at all, minutes precision, a space for the `T`. Refusing one of those
/// would refuse what the real server stores.
fn date_time_ok(s: &str) -> bool {
    const WITH_OFFSET: [&str; 2] = ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"];
    const LOCAL: [&str; 3] = [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ];
    chrono::DateTime::parse_from_rfc3339(s).is_ok()
        || WITH_OFFSET
            .iter()
            .any(|f| chrono::DateTime::parse_from_str(&s.replace('Z', "+0000"), f).is_ok())
        || LOCAL
            .iter()
            .any(|f| chrono::NaiveDateTime::parse_from_str(s, f).is_ok())
}

fn bound(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

fn count(schema: &Value, key: &str) -> Option<u64> {
    schema.get(key).and_then(Value::as_u64)
}

fn flag(schema: &Value, key: &str) -> bool {
    schema.get(key) == Some(&Value::Bool(true))
}

fn child_path(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    fn push(&mut self, kind: ErrorKind, field: &str, value: Option<String>, detail: String) {
        self.errors.push(FieldError {
            kind,
            field: field.to_string(),
            value,
            detail,
        });
    }

    /// An `Invalid value` with kube-openapi's `<path> in body <what>` sentence.
    fn invalid(&mut self, path: &str, value: String, what: String) {
        self.push(
            ErrorKind::Invalid,
            path,
            Some(value),
            format!("{path} in body {what}"),
        );
    }

    fn node(&mut self, schema: &Value, value: &Value, old: Option<&Value>, path: &str, top: bool) {
        // Ratcheting: what the update did not change is not judged again.
        if old == Some(value) {
            return;
        }
        if self.check_type(schema, value, path) {
            match value {
                Value::Object(map) => self.object(schema, map, old, path, top),
                Value::Array(items) => self.array(schema, items, path),
                Value::String(s) => self.string(schema, s, path),
                Value::Number(n) => self.number(schema, value, n.as_f64().unwrap_or(0.0), path),
                _ => {}
            }
        }
        // kube-openapi checks `enum` whatever the type, null included: a null never
        // matches, even where the schema is `nullable`.
        if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
            && (value.is_null() || !allowed.contains(value))
        {
            let supported: Vec<String> = allowed
                .iter()
                .map(|a| match a {
                    Value::String(s) => quote(s),
                    other => quote(&other.to_string()),
                })
                .collect();
            self.push(
                ErrorKind::NotSupported,
                path,
                Some(show(value)),
                format!("supported values: {}", supported.join(", ")),
            );
        }
    }

    /// False (with the error recorded) when `value` is not of the schema's type.
    fn check_type(&mut self, schema: &Value, value: &Value, path: &str) -> bool {
        let actual = type_name(value);
        let expected = if flag(schema, "x-kubernetes-int-or-string") {
            Some("integer,string")
        } else {
            schema.get("type").and_then(Value::as_str)
        };
        let ok = match (expected, value) {
            (_, Value::Null) => flag(schema, "nullable") || expected.is_none(),
            (None, _) => true,
            (Some("integer,string"), _) => matches!(actual, "integer" | "string"),
            (Some(t), _) => type_matches(t, actual),
        };
        if !ok {
            let t = expected.unwrap_or("object");
            self.push(
                ErrorKind::TypeInvalid,
                path,
                Some(quote(actual)),
                format!("{path} in body must be of type {t}: {}", quote(actual)),
            );
        }
        ok
    }

    fn object(
        &mut self,
        schema: &Value,
        map: &Map<String, Value>,
        old: Option<&Value>,
        path: &str,
        top: bool,
    ) {
        self.size(
            schema,
            path,
            map.len(),
            ["maxProperties", "minProperties"],
            "properties",
        );
        for required in schema
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if !map.contains_key(required) {
                self.push(
                    ErrorKind::Required,
                    &child_path(path, required),
                    None,
                    String::new(),
                );
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        let additional = schema.get("additionalProperties").filter(|a| a.is_object());
        for (key, child) in map {
            // Object metadata is the server's to validate, not the CRD's.
            if top && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
                continue;
            }
            // Undeclared fields are pruned or preserved; either way, nothing to check.
            let Some(child_schema) = properties.and_then(|p| p.get(key)).or(additional) else {
                continue;
            };
            let old_child = old.and_then(|o| o.get(key));
            self.node(
                child_schema,
                child,
                old_child,
                &child_path(path, key),
                false,
            );
        }
    }

    /// The `[max, min]` size bounds of an object's properties or an array's items, with the
    /// real server's wording (its TooMany message says "items" for both).
    fn size(
        &mut self,
        schema: &Value,
        path: &str,
        len: usize,
        [max_key, min_key]: [&str; 2],
        noun: &str,
    ) {
        let n = len as u64;
        if let Some(max) = count(schema, max_key)
            && n > max
        {
            self.push(
                ErrorKind::TooMany,
                path,
                Some(n.to_string()),
                format!("must have at most {max} items"),
            );
        }
        if let Some(min) = count(schema, min_key)
            && n < min
        {
            self.invalid(
                path,
                n.to_string(),
                format!("should have at least {min} {noun}"),
            );
        }
    }

    fn array(&mut self, schema: &Value, items: &[Value], path: &str) {
        self.size(schema, path, items.len(), ["maxItems", "minItems"], "items");
        if let Some(item_schema) = schema.get("items") {
            // Items are not correlated with the old list's: each is validated.
            for (i, item) in items.iter().enumerate() {
                self.node(item_schema, item, None, &format!("{path}[{i}]"), false);
            }
        }
    }

    fn string(&mut self, schema: &Value, s: &str, path: &str) {
        let chars = s.chars().count() as u64;
        if let Some(max) = count(schema, "maxLength")
            && chars > max
        {
            let unit = if max == 1 { "byte" } else { "bytes" };
            self.push(
                ErrorKind::TooLong,
                path,
                None,
                format!("may not be more than {max} {unit}"),
            );
        }
        if let Some(min) = count(schema, "minLength")
            && chars < min
        {
            self.invalid(
                path,
                quote(s),
                format!("should be at least {min} chars long"),
            );
        }
        if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
            && matches(pattern, s) == Some(false)
        {
            self.invalid(path, quote(s), format!("should match '{pattern}'"));
        }
        if let Some(format) = schema.get("format").and_then(Value::as_str)
            && !format_ok(format, s)
        {
            self.push(
                ErrorKind::TypeInvalid,
                path,
                Some(quote(s)),
                format!("{path} in body must be of type {format}: {}", quote(s)),
            );
        }
    }

    fn number(&mut self, schema: &Value, value: &Value, n: f64, path: &str) {
        let shown = show(value);
        if let Some(min) = bound(schema, "minimum") {
            if flag(schema, "exclusiveMinimum") && n <= min {
                let what = format!("should be greater than {}", number(min));
                self.invalid(path, shown.clone(), what);
            } else if n < min {
                let what = format!("should be greater than or equal to {}", number(min));
                self.invalid(path, shown.clone(), what);
            }
        }
        if let Some(max) = bound(schema, "maximum") {
            if flag(schema, "exclusiveMaximum") && n >= max {
                let what = format!("should be less than {}", number(max));
                self.invalid(path, shown.clone(), what);
            } else if n > max {
                let what = format!("should be less than or equal to {}", number(max));
                self.invalid(path, shown.clone(), what);
            }
        }
        if let Some(m) = bound(schema, "multipleOf")
            && m > 0.0
            && (n / m).fract() != 0.0
        {
            self.invalid(
                path,
                shown,
                format!("should be a multiple of {}", number(m)),
            );
        }
    }
}
