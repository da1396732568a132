//! Table tests of the strategic merge patch, one group per directive, on a small schema
//! shaped like the built-in definitions.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

use super::*;
use serde_json::json;

/// A small schema with the shapes the built-in definitions use.
fn defs() -> Map<String, Value> {
    let d = json!({
        "Pod": {"properties": {
            "metadata": {"$ref": "#/$defs/Meta"},
            "spec": {"$ref": "#/$defs/Spec"},
        }},
        "Meta": {"properties": {
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "finalizers": {"type": "array", "items": {"type": "string"},
                "x-kubernetes-patch-strategy": "merge"},
        }},
        "Spec": {"properties": {
            "containers": {"type": "array", "items": {"$ref": "#/$defs/Container"},
                "x-kubernetes-patch-strategy": "merge", "x-kubernetes-patch-merge-key": "name"},
            "volumes": {"type": "array", "items": {"$ref": "#/$defs/Volume"},
                "x-kubernetes-patch-strategy": "merge,retainKeys",
                "x-kubernetes-patch-merge-key": "name"},
            "strategy": {"$ref": "#/$defs/Strategy", "x-kubernetes-patch-strategy": "retainKeys"},
            "selector": {"$ref": "#/$defs/Selector", "x-kubernetes-patch-strategy": "replace"},
            "args": {"type": "array", "items": {"type": "string"}},
        }},
        "Container": {"properties": {
            "name": {"type": "string"}, "image": {"type": "string"},
            "args": {"type": "array", "items": {"type": "string"}},
            "ports": {"type": "array", "items": {"$ref": "#/$defs/Port"},
                "x-kubernetes-patch-strategy": "merge",
                "x-kubernetes-patch-merge-key": "containerPort"},
        }},
        "Port": {"properties": {"containerPort": {"type": "integer"}, "name": {"type": "string"}}},
        "Volume": {"properties": {"name": {"type": "string"},
            "emptyDir": {"type": "object"}, "secret": {"type": "object"}}},
        "Strategy": {"properties": {"type": {"type": "string"},
            "rollingUpdate": {"type": "object"}}},
        "Selector": {"properties": {"matchLabels": {"type": "object",
            "additionalProperties": {"type": "string"}}}},
    });
    match d {
        Value::Object(m) => m,
        _ => unreachable!(),
    }
}

fn run(live: Value, patch: Value) -> Result<Value, PatchError> {
    let defs = defs();
    apply(&live, &patch, Types::root(&defs, "Pod"))
}

/// One case: what it shows, the live object, the patch, the expected object.
type Case = (&'static str, Value, Value, Value);

fn check(cases: Vec<Case>) {
    for (what, live, patch, want) in cases {
        match run(live, patch) {
            Ok(got) => assert_eq!(got, want, "{what}"),
            Err(e) => panic!("{what}: {e:?}"),
        }
    }
}

fn containers(items: Value) -> Value {
    json!({"spec": {"containers": items}})
}

fn finalizers(items: Value) -> Value {
    json!({"metadata": {"finalizers": items}})
}

fn two() -> Value {
    containers(json!([
        {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
        {"name": "b", "image": "b:1"},
    ]))
}

#[test]
fn maps_and_nulls() {
    check(vec![
        (
            "maps merge, null deletes",
            json!({"metadata": {"labels": {"a": "1", "b": "2"}}}),
            json!({"metadata": {"labels": {"a": null, "c": "3"}}}),
            json!({"metadata": {"labels": {"b": "2", "c": "3"}}}),
        ),
        (
            "strategy replace takes the map whole",
            json!({"spec": {"selector": {"matchLabels": {"a": "1"}}}}),
            json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
            json!({"spec": {"selector": {"matchLabels": {"b": "2"}}}}),
        ),
        (
            "new values lose their nulls and directives",
            json!({}),
            containers(json!([{"name": "a", "image": null}, {"name": "b", "$patch": "delete"}])),
            containers(json!([{"name": "a"}])),
        ),
        (
            "a null for a missing key is ignored",
            json!({"metadata": {}}),
            json!({"metadata": {"labels": null}}),
            json!({"metadata": {}}),
        ),
    ]);
}

#[test]
fn lists() {
    check(vec![
        (
            "merge key: items merge by name, new ones are placed by the live order",
            two(),
            containers(
                json!([{"name": "b", "image": "b:2"}, {"name": "c", "image": "c:1", "args": null}]),
            ),
            containers(json!([
                {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
                {"name": "b", "image": "b:2"},
                {"name": "c", "image": "c:1"},
            ])),
        ),
        (
            "nested merge lists merge; an unplaceable new item goes first, as in Go",
            two(),
            containers(json!([{"name": "a", "ports": [{"containerPort": 443}]}])),
            containers(json!([
                {"name": "a", "image": "a:1", "ports": [{"containerPort": 443}, {"containerPort": 80}]},
                {"name": "b", "image": "b:1"},
            ])),
        ),
        (
            "scalar merge lists are unions",
            finalizers(json!(["a", "b"])),
            finalizers(json!(["c", "a"])),
            finalizers(json!(["c", "a", "b"])),
        ),
        (
            "lists without a strategy are replaced",
            containers(json!([{"name": "a", "args": ["1", "2"]}])),
            containers(json!([{"name": "a", "args": ["3"]}])),
            containers(json!([{"name": "a", "args": ["3"]}])),
        ),
    ]);
}

#[test]
fn patch_directive() {
    check(vec![
        (
            "$patch: delete removes the item with the merge key",
            two(),
            containers(json!([{"name": "b", "$patch": "delete"}])),
            containers(json!([{"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]}])),
        ),
        (
            "$patch: replace in a list replaces the list",
            two(),
            containers(json!([{"$patch": "replace"}, {"name": "z", "image": "z"}])),
            containers(json!([{"name": "z", "image": "z"}])),
        ),
        (
            "$patch: replace in a map replaces the map",
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!({"metadata": {"labels": {"$patch": "replace", "b": "2"}}}),
            json!({"metadata": {"labels": {"b": "2"}}}),
        ),
        (
            "$patch: delete in a map empties it",
            json!({"metadata": {"labels": {"a": "1"}}}),
            json!({"metadata": {"labels": {"$patch": "delete"}}}),
            json!({"metadata": {"labels": {}}}),
        ),
    ]);
}

#[test]
fn delete_from_primitive_list() {
    check(vec![
        (
            "values are removed, unknown ones ignored",
            finalizers(json!(["a", "b", "c"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["b", "x"]}}),
            finalizers(json!(["a", "c"])),
        ),
        (
            "with additions in the same patch",
            finalizers(json!(["a", "b"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"], "finalizers": ["c"]}}),
            finalizers(json!(["c", "b"])),
        ),
    ]);
}

#[test]
fn set_element_order() {
    let abc = containers(json!([{"name": "a"}, {"name": "b"}, {"name": "c"}]));
    check(vec![
        (
            "the patch's order; a live-only item stays before its live successor",
            abc.clone(),
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "a"}],
                "containers": [{"name": "a", "image": "x"}]}}),
            containers(json!([{"name": "b"}, {"name": "c"}, {"name": "a", "image": "x"}])),
        ),
        (
            "without a patch list the live items are reordered",
            abc,
            json!({"spec": {"$setElementOrder/containers": [{"name": "c"}, {"name": "b"}, {"name": "a"}]}}),
            containers(json!([{"name": "c"}, {"name": "b"}, {"name": "a"}])),
        ),
        (
            "scalars, with additions and deletions",
            finalizers(json!(["a", "b", "c"])),
            json!({"metadata": {"$setElementOrder/finalizers": ["c", "d", "a"],
                "finalizers": ["d"], "$deleteFromPrimitiveList/finalizers": ["b"]}}),
            finalizers(json!(["c", "d", "a"])),
        ),
        (
            "kubectl apply's patch keeps another client's item",
            containers(json!([{"name": "b", "image": "b"}, {"name": "web", "image": "n:1"}])),
            json!({"spec": {"$setElementOrder/containers": [{"name": "web"}],
                "containers": [{"name": "web", "image": "n:2"}]}}),
            containers(json!([{"name": "b", "image": "b"}, {"name": "web", "image": "n:2"}])),
        ),
    ]);
}

#[test]
fn retain_keys() {
    let rolling =
        json!({"spec": {"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}});
    check(vec![
        (
            "unlisted live keys are dropped",
            rolling,
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "type": "Recreate"}}}),
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
        ),
        (
            "in merge-list items (volumes are merge,retainKeys)",
            json!({"spec": {"volumes": [{"name": "v", "emptyDir": {}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "$retainKeys": ["name", "secret"],
                "secret": {"secretName": "s"}}]}}),
            json!({"spec": {"volumes": [{"name": "v", "secret": {"secretName": "s"}}]}}),
        ),
    ]);
}

/// One refused patch: what it shows, the live object, the patch, the expected error.
type ErrorCase = (&'static str, Value, Value, Box<dyn Fn(&PatchError) -> bool>);

#[test]
fn errors() {
    let internal = |m: &'static str| move |e: &PatchError| matches!(e, PatchError::Internal(x) if x.contains(m));
    let cases: Vec<ErrorCase> = vec![
        (
            "$patch: delete without the merge key",
            two(),
            containers(json!([{"$patch": "delete"}])),
            Box::new(internal("does not contain declared merge key: name")),
        ),
        (
            "$patch: merge in a list",
            two(),
            containers(json!([{"$patch": "merge"}])),
            Box::new(internal(
                "merging lists cannot yet be specified in the patch",
            )),
        ),
        (
            "an unknown $patch",
            two(),
            json!({"spec": {"$patch": "sideways"}}),
            Box::new(internal("unknown patch type: sideways")),
        ),
        (
            "a patch key $retainKeys does not list",
            json!({"spec": {"strategy": {"type": "Recreate"}}}),
            json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": {}}}}),
            Box::new(|e: &PatchError| *e == bad("invalid patch format of retainKeys")),
        ),
        (
            "a $setElementOrder that is not a list",
            two(),
            json!({"spec": {"$setElementOrder/containers": "a"}}),
            Box::new(|e: &PatchError| *e == bad("invalid patch format of setElementOrder list")),
        ),
        (
            "a $deleteFromPrimitiveList that is not a list",
            finalizers(json!(["a"])),
            json!({"metadata": {"$deleteFromPrimitiveList/finalizers": "a"}}),
            Box::new(|e: &PatchError| *e == bad("invalid patch format of primitive list")),
        ),
        (
            "lists of lists",
            finalizers(json!([["a"]])),
            finalizers(json!([["b"]])),
            Box::new(|e: &PatchError| matches!(e, PatchError::Unprocessable(_))),
        ),
        (
            "a patch that is not an object",
            two(),
            json!([]),
            Box::new(|e: &PatchError| *e == bad("invalid JSON document")),
        ),
    ];
    for (what, live, patch, expected) in cases {
        match run(live, patch) {
            Err(e) => assert!(expected(&e), "{what}: {e:?}"),
            Ok(v) => panic!("{what}: unexpectedly applied: {v}"),
        }
    }
}
