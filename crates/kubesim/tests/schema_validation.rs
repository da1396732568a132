//! Value validation of custom resources against their CRD schema, keyword by keyword:
//! each row is a schema for `spec.x`, a value, and the field errors the real API server
//! gives (as `field: body`), or none.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use kubesim::schema_validation::{ErrorKind, aggregate, validate_object, validate_status};
use serde_json::{Value, json};

/// A CR schema whose `spec.x` is `x`.
fn schema(x: Value) -> Value {
    json!({"type": "object", "properties": {
        "spec": {"type": "object", "properties": {"x": x}},
        "status": {"type": "object", "properties": {"phase": {"type": "string", "enum": ["Ready", "Failed"]}}},
    }})
}

fn errors(x: Value, value: Value) -> Vec<String> {
    let obj = json!({"apiVersion": "e.com/v1", "kind": "W", "metadata": {"name": "w"},
        "spec": {"x": value}});
    validate_object(&schema(x), &obj, None)
        .iter()
        .map(ToString::to_string)
        .collect()
}

#[test]
fn keyword_table() {
    let table: Vec<(Value, Value, &[&str])> = vec![
        // type
        (json!({"type": "string"}), json!("a"), &[]),
        (
            json!({"type": "integer"}),
            json!("3"),
            &[
                r#"spec.x: Invalid value: "string": spec.x in body must be of type integer: "string""#,
            ],
        ),
        (json!({"type": "integer"}), json!(3), &[]),
        (json!({"type": "integer"}), json!(3.0), &[]),
        (
            json!({"type": "integer"}),
            json!(3.5),
            &[
                r#"spec.x: Invalid value: "number": spec.x in body must be of type integer: "number""#,
            ],
        ),
        (json!({"type": "number"}), json!(3), &[]),
        (
            json!({"type": "boolean"}),
            json!("true"),
            &[
                r#"spec.x: Invalid value: "string": spec.x in body must be of type boolean: "string""#,
            ],
        ),
        (
            json!({"type": "object"}),
            json!([]),
            &[r#"spec.x: Invalid value: "array": spec.x in body must be of type object: "array""#],
        ),
        (
            json!({"type": "array"}),
            json!({}),
            &[r#"spec.x: Invalid value: "object": spec.x in body must be of type array: "object""#],
        ),
        // int-or-string
        (json!({"x-kubernetes-int-or-string": true}), json!(80), &[]),
        (
            json!({"x-kubernetes-int-or-string": true}),
            json!("http"),
            &[],
        ),
        (
            json!({"x-kubernetes-int-or-string": true}),
            json!(true),
            &[
                r#"spec.x: Invalid value: "boolean": spec.x in body must be of type integer,string: "boolean""#,
            ],
        ),
        // nullable
        (
            json!({"type": "string", "nullable": true}),
            json!(null),
            &[],
        ),
        (
            json!({"type": "array", "items": {"type": "string"}}),
            json!([null]),
            &[
                r#"spec.x[0]: Invalid value: "null": spec.x[0] in body must be of type string: "null""#,
            ],
        ),
        // enum
        (
            json!({"type": "string", "enum": ["a", "b"]}),
            json!("a"),
            &[],
        ),
        (
            json!({"type": "string", "enum": ["a", "b"]}),
            json!("c"),
            &[r#"spec.x: Unsupported value: "c": supported values: "a", "b""#],
        ),
        (
            json!({"type": "integer", "enum": [1, 2]}),
            json!(3),
            &[r#"spec.x: Unsupported value: 3: supported values: "1", "2""#],
        ),
        (
            json!({"type": "string", "nullable": true, "enum": ["a"]}),
            json!(null),
            &[r#"spec.x: Unsupported value: "null": supported values: "a""#],
        ),
        (
            json!({"type": "string", "enum": ["a"]}),
            json!(1),
            &[
                r#"spec.x: Invalid value: "integer": spec.x in body must be of type string: "integer""#,
                r#"spec.x: Unsupported value: 1: supported values: "a""#,
            ],
        ),
        // pattern
        (
            json!({"type": "string", "pattern": "^[0-9]+s$"}),
            json!("5s"),
            &[],
        ),
        (
            json!({"type": "string", "pattern": "^[0-9]+s$"}),
            json!("5x"),
            &[r#"spec.x: Invalid value: "5x": spec.x in body should match '^[0-9]+s$'"#],
        ),
        // lengths
        (
            json!({"type": "string", "maxLength": 3}),
            json!("abcd"),
            &["spec.x: Too long: may not be more than 3 bytes"],
        ),
        (
            json!({"type": "string", "minLength": 2}),
            json!("a"),
            &[r#"spec.x: Invalid value: "a": spec.x in body should be at least 2 chars long"#],
        ),
        (
            json!({"type": "string", "minLength": 2, "maxLength": 3}),
            json!("ab"),
            &[],
        ),
        // items
        (
            json!({"type": "array", "maxItems": 1, "items": {"type": "string"}}),
            json!(["a", "b"]),
            &["spec.x: Too many: 2: must have at most 1 items"],
        ),
        (
            json!({"type": "array", "minItems": 1, "items": {"type": "string"}}),
            json!([]),
            &["spec.x: Invalid value: 0: spec.x in body should have at least 1 items"],
        ),
        // properties
        (
            json!({"type": "object", "maxProperties": 1, "additionalProperties": {"type": "string"}}),
            json!({"a": "1", "b": "2"}),
            &["spec.x: Too many: 2: must have at most 1 items"],
        ),
        (
            json!({"type": "object", "minProperties": 1, "additionalProperties": {"type": "string"}}),
            json!({}),
            &["spec.x: Invalid value: 0: spec.x in body should have at least 1 properties"],
        ),
        (
            json!({"type": "object", "additionalProperties": {"type": "integer"}}),
            json!({"a": "1"}),
            &[
                r#"spec.x.a: Invalid value: "string": spec.x.a in body must be of type integer: "string""#,
            ],
        ),
        // numbers
        (
            json!({"type": "integer", "minimum": 1}),
            json!(0),
            &["spec.x: Invalid value: 0: spec.x in body should be greater than or equal to 1"],
        ),
        (
            json!({"type": "integer", "minimum": 1, "exclusiveMinimum": true}),
            json!(1),
            &["spec.x: Invalid value: 1: spec.x in body should be greater than 1"],
        ),
        (
            json!({"type": "number", "maximum": 1.5}),
            json!(2),
            &["spec.x: Invalid value: 2: spec.x in body should be less than or equal to 1.5"],
        ),
        (
            json!({"type": "integer", "maximum": 10, "exclusiveMaximum": true}),
            json!(10),
            &["spec.x: Invalid value: 10: spec.x in body should be less than 10"],
        ),
        (
            json!({"type": "integer", "multipleOf": 5}),
            json!(7),
            &["spec.x: Invalid value: 7: spec.x in body should be a multiple of 5"],
        ),
        (
            json!({"type": "integer", "minimum": 0, "maximum": 10}),
            json!(10),
            &[],
        ),
        (
            json!({"type": "number", "maximum": 1_000_000}),
            json!(2_500_000.5),
            &[
                "spec.x: Invalid value: 2.5000005e+06: spec.x in body should be less than or equal to 1e+06",
            ],
        ),
        (
            json!({"type": "number", "minimum": 0.0001}),
            json!(0.00001),
            &[
                "spec.x: Invalid value: 1e-05: spec.x in body should be greater than or equal to 0.0001",
            ],
        ),
        // format
        (
            json!({"type": "string", "format": "date-time"}),
            json!("2024-01-02T03:04:05Z"),
            &[],
        ),
        (
            json!({"type": "string", "format": "date-time"}),
            json!("2024-01-02T03:04:05.5+0200"),
            &[],
        ),
        (
            json!({"type": "string", "format": "date-time"}),
            json!("2024-01-02T03:04:05"),
            &[],
        ),
        (
            json!({"type": "string", "format": "date-time"}),
            json!("2024-01-02T03:04Z"),
            &[],
        ),
        (
            json!({"type": "string", "format": "date"}),
            json!("2024-01-02"),
            &[],
        ),
        (
            json!({"type": "string", "format": "date"}),
            json!("2024-13-02"),
            &[
                r#"spec.x: Invalid value: "2024-13-02": spec.x in body must be of type date: "2024-13-02""#,
            ],
        ),
        (
            json!({"type": "string", "format": "byte"}),
            json!("aGVsbG8="),
            &[],
        ),
        (
            json!({"type": "string", "format": "ipv4"}),
            json!("10.0.0.1"),
            &[],
        ),
        (
            json!({"type": "string", "format": "ipv6"}),
            json!("10.0.0.1"),
            &[
                r#"spec.x: Invalid value: "10.0.0.1": spec.x in body must be of type ipv6: "10.0.0.1""#,
            ],
        ),
        (
            json!({"type": "integer", "format": "int32"}),
            json!(1_i64 << 40),
            &[],
        ),
        (
            json!({"type": "string", "format": "date-time"}),
            json!("yesterday"),
            &[
                r#"spec.x: Invalid value: "yesterday": spec.x in body must be of type date-time: "yesterday""#,
            ],
        ),
        (
            json!({"type": "string", "format": "uuid"}),
            json!("nope"),
            &[r#"spec.x: Invalid value: "nope": spec.x in body must be of type uuid: "nope""#],
        ),
        (
            json!({"type": "string", "format": "hostname"}),
            json!("anything at all"),
            &[],
        ),
        // required, nested
        (
            json!({"type": "object", "required": ["a", "b"], "properties": {"a": {"type": "string"}, "b": {"type": "string"}}}),
            json!({"a": "1"}),
            &["spec.x.b: Required value"],
        ),
        // preserve-unknown-fields: only declared properties are checked
        (
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                   "properties": {"a": {"type": "integer"}}}),
            json!({"free": {"anything": [1, "two"]}, "a": 1}),
            &[],
        ),
        (
            json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true,
                   "properties": {"a": {"type": "integer"}}}),
            json!({"a": "one"}),
            &[
                r#"spec.x.a: Invalid value: "string": spec.x.a in body must be of type integer: "string""#,
            ],
        ),
        // CEL rules are not evaluated
        (
            json!({"type": "string", "x-kubernetes-validations": [{"rule": "self == 'never'"}]}),
            json!("a"),
            &[],
        ),
    ];
    for (x, value, want) in table {
        let got = errors(x.clone(), value.clone());
        assert_eq!(got, want, "schema {x} value {value}");
    }
}

#[test]
fn required_at_the_top_and_causes() {
    let s = json!({"type": "object", "required": ["spec"], "properties": {
        "spec": {"type": "object", "required": ["url", "interval"], "properties": {
            "url": {"type": "string"},
            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"}}}}});
    let obj = json!({"apiVersion": "e.com/v1", "kind": "W", "metadata": {"name": "w"}});
    let e = validate_object(&s, &obj, None);
    assert_eq!(aggregate(&e), "spec: Required value");
    assert_eq!(e[0].kind.reason(), "FieldValueRequired");
    assert_eq!(e[0].body(), "Required value");

    let obj = json!({"metadata": {"name": "w"}, "spec": {"interval": "5x"}});
    let e = validate_object(&s, &obj, None);
    assert_eq!(
        aggregate(&e),
        r#"[spec.url: Required value, spec.interval: Invalid value: "5x": spec.interval in body should match '^[0-9]+(ms|s|m|h)$']"#
    );
    assert_eq!(e[1].kind, ErrorKind::Invalid);
    assert_eq!(e[1].field, "spec.interval");
    assert_eq!(
        e[1].body(),
        r#"Invalid value: "5x": spec.interval in body should match '^[0-9]+(ms|s|m|h)$'"#
    );
}

#[test]
fn status_alone_on_the_status_subresource() {
    let obj = json!({"metadata": {"name": "w"}, "spec": {"x": "ignored here"},
        "status": {"phase": "Lost"}});
    let s = schema(json!({"type": "integer"}));
    let e = validate_status(&s, &obj, None);
    assert_eq!(
        aggregate(&e),
        r#"status.phase: Unsupported value: "Lost": supported values: "Ready", "Failed""#
    );
    assert_eq!(e[0].kind.reason(), "FieldValueNotSupported");
    assert_eq!(validate_object(&s, &obj, None).len(), 2);
}

#[test]
fn unchanged_values_ratchet_on_update() {
    let s = schema(json!({"type": "string", "maxLength": 2}));
    let old = json!({"metadata": {"name": "w"}, "spec": {"x": "long"}, "status": {"phase": "Old"}});
    let mut new = old.clone();
    new["metadata"]["labels"] = json!({"a": "b"});
    assert!(validate_object(&s, &new, Some(&old)).is_empty());
    new["spec"]["x"] = json!("longer");
    assert_eq!(validate_object(&s, &new, Some(&old)).len(), 1);
}

#[test]
fn null_where_not_nullable_is_defaulted_or_dropped_before_validation() {
    let s = json!({"type": "object", "properties": {"spec": {"type": "object",
        "required": ["a"], "properties": {
            "a": {"type": "string"},
            "b": {"type": "string", "default": "d"},
            "c": {"type": "string", "nullable": true}}}}});
    let mut obj = json!({"metadata": {"name": "w"}, "spec": {"a": null, "b": null, "c": null}});
    kubesim::structural::normalize(&serde_json::Map::new(), &s, &mut obj, true);
    assert_eq!(obj["spec"], json!({"b": "d", "c": null}));
    assert_eq!(
        aggregate(&validate_object(&s, &obj, None)),
        "spec.a: Required value"
    );
}
