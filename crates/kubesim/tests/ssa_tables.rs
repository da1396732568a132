//! Table-driven checks of the merge building blocks: list merge order, null/empty
//! handling, the schema conversion, and `fieldsV1` as the API server writes it.

mod ssa_common;

use kubesim::ssa::merge::{compare, merge};
use kubesim::ssa::openapi;
use kubesim::ssa::schema::{
    Atom, ListKind, ListType, MapType, Scalar, Schema, StructField, TypeRef,
};
use kubesim::ssa::typed::to_field_set;
use kubesim::ssa::{FieldManager, Writer, fieldsv1};
use serde_json::{Value, json};

/// `{setStr: set of strings, list: map keyed by key+id, atomicList: atomic, inner: granular map}`.
fn toy_schema() -> (Schema, TypeRef) {
    let string = || TypeRef::inline(Atom::scalar(Scalar::String));
    let f = |name: &str, ty: TypeRef| StructField {
        name: name.into(),
        ty,
        default: None,
    };
    let element = Atom::map(MapType::new(
        vec![
            f("key", string()),
            f("id", TypeRef::inline(Atom::scalar(Scalar::Numeric))),
            f("value", string()),
        ],
        None,
        false,
    ));
    let mut schema = Schema::new();
    schema.insert(
        "root",
        Atom::map(MapType::new(
            vec![
                f(
                    "setStr",
                    TypeRef::inline(Atom::list(ListType {
                        element: string(),
                        kind: ListKind::Associative,
                        keys: vec![],
                    })),
                ),
                f(
                    "list",
                    TypeRef::inline(Atom::list(ListType {
                        element: TypeRef::inline(element),
                        kind: ListKind::Associative,
                        keys: vec!["key".into(), "id".into()],
                    })),
                ),
                f(
                    "atomicList",
                    TypeRef::inline(Atom::list(ListType {
                        element: string(),
                        kind: ListKind::Atomic,
                        keys: vec![],
                    })),
                ),
                f(
                    "inner",
                    TypeRef::inline(Atom::map(MapType::new(vec![], Some(string()), false))),
                ),
            ],
            None,
            false,
        )),
    );
    (schema, TypeRef::named("root"))
}

#[test]
fn merged_set_lists_follow_the_applied_order_and_keep_live_only_items_in_place() {
    let (schema, root) = toy_schema();
    // (live, applied, merged) — the ordering cases structured-merge-diff documents.
    let cases: &[(&[&str], &[&str], &[&str])] = &[
        (&["a", "b", "c"], &["a", "b"], &["a", "b", "c"]),
        (&["a", "b"], &["a", "b", "c"], &["a", "b", "c"]),
        (&["a", "b", "c"], &[], &["a", "b", "c"]),
        (&["a", "b"], &["b", "a"], &["b", "a"]),
        (
            &["a", "b", "c", "g", "f"],
            &["c", "d", "e", "f"],
            &["a", "b", "c", "g", "d", "e", "f"],
        ),
        (
            &["c", "d", "e", "f"],
            &["a", "c", "e"],
            &["a", "c", "d", "e", "f"],
        ),
        (
            &["c", "a", "g", "f"],
            &["c", "f", "a", "g"],
            &["c", "f", "a", "g"],
        ),
        (
            &["a", "b", "c", "d"],
            &["d", "e", "f", "a"],
            &["b", "c", "d", "e", "f", "a"],
        ),
        (
            &["c", "d", "e", "f", "g", "h", "i", "j"],
            &["2", "h", "3", "e", "4", "k", "l"],
            &[
                "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l",
            ],
        ),
        (
            &["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"],
            &["1", "b", "2", "h", "3", "e", "4", "k", "l"],
            &[
                "a", "1", "b", "c", "d", "f", "g", "2", "h", "i", "j", "3", "e", "4", "k", "l",
            ],
        ),
    ];
    for (live, applied, want) in cases {
        let got = merge(
            &schema,
            &json!({"setStr": live}),
            &json!({"setStr": applied}),
            &root,
        )
        .expect("merges");
        assert_eq!(
            got,
            json!({"setStr": want}),
            "live {live:?} + applied {applied:?}"
        );
    }
}

#[test]
fn merged_map_lists_match_items_by_all_keys() {
    let (schema, root) = toy_schema();
    let cases = [
        (
            json!([{"key": "a", "id": 1, "value": "x"}]),
            json!([{"key": "a", "id": 2, "value": "x"}]),
            json!([{"key": "a", "id": 1, "value": "x"}, {"key": "a", "id": 2, "value": "x"}]),
        ),
        (
            json!([{"key": "a", "id": 1, "value": "x"}]),
            json!([{"key": "a", "id": 1, "value": "y"}]),
            json!([{"key": "a", "id": 1, "value": "y"}]),
        ),
        (
            json!([{"key": "a", "id": 1}, {"key": "b", "id": 2}, {"key": "c", "id": 3}]),
            json!([{"key": "c", "id": 3}, {"key": "a", "id": 1}]),
            json!([{"key": "b", "id": 2}, {"key": "c", "id": 3}, {"key": "a", "id": 1}]),
        ),
    ];
    for (live, applied, want) in cases {
        let got = merge(
            &schema,
            &json!({"list": live}),
            &json!({"list": applied}),
            &root,
        )
        .expect("merges");
        assert_eq!(got, json!({"list": want}));
    }
    let dup = merge(
        &schema,
        &json!({}),
        &json!({"list": [{"key": "a", "id": 1}, {"key": "a", "id": 1}]}),
        &root,
    )
    .expect_err("duplicate keys in a config are rejected");
    assert!(
        dup.to_string()
            .contains("duplicate entries for key [id=1,key=\"a\"]"),
        "{dup}"
    );
}

#[test]
fn atomic_lists_and_empty_or_null_values_are_replaced() {
    let (schema, root) = toy_schema();
    let cases = [
        (
            json!({"atomicList": ["a", "b", "c"]}),
            json!({"atomicList": ["a"]}),
            json!({"atomicList": ["a"]}),
        ),
        (
            json!({"atomicList": ["a", "b"]}),
            json!({"atomicList": []}),
            json!({"atomicList": []}),
        ),
        (
            json!({"atomicList": ["a"]}),
            json!({"atomicList": null}),
            json!({"atomicList": null}),
        ),
        (json!({}), json!({"inner": {}}), json!({"inner": {}})),
        (
            json!({"inner": null}),
            json!({"inner": {}}),
            json!({"inner": {}}),
        ),
        (
            json!({"inner": {}}),
            json!({"inner": null}),
            json!({"inner": null}),
        ),
        (
            json!({"inner": {"a": "1"}}),
            json!({"inner": {"b": "2"}}),
            json!({"inner": {"a": "1", "b": "2"}}),
        ),
    ];
    for (live, applied, want) in cases {
        assert_eq!(
            merge(&schema, &live, &applied, &root).expect("merges"),
            want,
            "{live} + {applied}"
        );
    }
}

#[test]
fn compare_reports_added_modified_and_removed_leaves_and_items() {
    let (schema, root) = toy_schema();
    let c = compare(
        &schema,
        &json!({"setStr": ["a", "b"], "inner": {"x": "1", "y": "2"}}),
        &json!({"setStr": ["b", "c"], "inner": {"x": "9"}, "atomicList": ["z"]}),
        &root,
    )
    .expect("compares");
    let paths = |s: &kubesim::ssa::FieldSet| -> Vec<String> {
        s.paths().iter().map(ToString::to_string).collect()
    };
    assert_eq!(paths(&c.added), [".atomicList", ".setStr[=\"c\"]"]);
    assert_eq!(paths(&c.modified), [".inner.x"]);
    assert_eq!(paths(&c.removed), [".inner.y", ".setStr[=\"a\"]"]);
    assert!(!c.is_same());
}

#[test]
fn builtin_schemas_carry_the_servers_list_and_map_types() {
    let defs = ssa_common::definitions();
    let field_set = |group: &str, kind: &str, obj: Value| -> Vec<String> {
        let root = defs.root(group, "v1", kind).expect("kind");
        to_field_set(&defs.schema, &obj, &root)
            .expect("fits the schema")
            .paths()
            .iter()
            .map(ToString::to_string)
            .collect()
    };
    // Selector is an atomic struct; intOrString is a scalar; env is keyed by name.
    let got = field_set(
        "apps",
        "Deployment",
        json!({"spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%"}},
            "template": {"spec": {"containers": [{"name": "c", "env": [{"name": "E", "value": "1"}]}]}}
        }}),
    );
    assert_eq!(
        got,
        [
            ".spec.selector",
            ".spec.strategy.rollingUpdate.maxSurge",
            ".spec.template.spec.containers[name=\"c\"]",
            ".spec.template.spec.containers[name=\"c\"].name",
            ".spec.template.spec.containers[name=\"c\"].env[name=\"E\"]",
            ".spec.template.spec.containers[name=\"c\"].env[name=\"E\"].name",
            ".spec.template.spec.containers[name=\"c\"].env[name=\"E\"].value",
        ]
    );
    // ConfigMap data entries are map entries (members), not struct fields.
    assert_eq!(
        field_set(
            "",
            "ConfigMap",
            json!({"data": {"k": "v"}, "metadata": {"labels": {"l": "x"}}})
        ),
        [".data.k", ".metadata.labels.l"]
    );
    // A shape that does not fit the schema is an error, not a silent merge.
    let root = defs.root("apps", "v1", "Deployment").expect("kind");
    assert!(
        to_field_set(
            &defs.schema,
            &json!({"spec": {"replicas": {"x": 1}}}),
            &root
        )
        .is_err()
    );
}

#[test]
fn kubectl_create_records_the_same_fields_v1_as_the_api_server() {
    // `kubectl create deployment web --image=nginx --port=80`, after defaulting, as
    // kubectl sends it and the API server records it (manager kubectl-create, Update).
    let defs = ssa_common::definitions();
    let root = defs.root("apps", "v1", "Deployment").expect("kind");
    let obj = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "progressDeadlineSeconds": 600, "replicas": 1, "revisionHistoryLimit": 10,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}, "type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [{
                        "image": "nginx", "imagePullPolicy": "Always", "name": "nginx",
                        "ports": [{"containerPort": 80, "protocol": "TCP"}],
                        "resources": {}, "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"
                    }],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always", "schedulerName": "default-scheduler",
                    "securityContext": {}, "terminationGracePeriodSeconds": 30
                }
            }
        }
    });
    let empty = kubesim::ssa::zero::zero_object("apps", "Deployment");
    let fm = FieldManager {
        schema: &defs.schema,
        root: &root,
        ignored: None,
        empty: Some(&empty),
    };
    let w = fm
        .update(
            None,
            &obj,
            &Writer {
                manager: "kubectl-create",
                api_version: "apps/v1",
                subresource: "",
                now: ssa_common::NOW,
            },
        )
        .expect("create");
    let entry = &w.object["metadata"]["managedFields"][0];
    assert_eq!(entry["operation"], "Update");
    let got = fieldsv1::to_string(&fieldsv1::from_json(&entry["fieldsV1"]).expect("parses"));
    let want = concat!(
        r#"{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:progressDeadlineSeconds":{},"#,
        r#""f:replicas":{},"f:revisionHistoryLimit":{},"f:selector":{},"f:strategy":{"f:rollingUpdate":{".":{},"#,
        r#""f:maxSurge":{},"f:maxUnavailable":{}},"f:type":{}},"f:template":{"f:metadata":{"f:labels":{".":{},"#,
        r#""f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"#,
        r#""f:imagePullPolicy":{},"f:name":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{"#,
        r#"".":{},"f:containerPort":{},"f:protocol":{}}},"f:resources":{},"f:terminationMessagePath":{},"#,
        r#""f:terminationMessagePolicy":{}}},"f:dnsPolicy":{},"f:restartPolicy":{},"f:schedulerName":{},"#,
        r#""f:securityContext":{},"f:terminationGracePeriodSeconds":{}}}}}"#
    );
    assert_eq!(got, want);
}

#[test]
fn real_fields_v1_documents_round_trip_byte_for_byte() {
    let samples = [
        // A Deployment's status as the deployment controller records it (subresource status).
        r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}}},"f:status":{"f:availableReplicas":{},"f:conditions":{".":{},"k:{\"type\":\"Available\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}},"k:{\"type\":\"Progressing\"}":{".":{},"f:lastTransitionTime":{},"f:lastUpdateTime":{},"f:message":{},"f:reason":{},"f:status":{},"f:type":{}}},"f:observedGeneration":{},"f:readyReplicas":{},"f:replicas":{},"f:updatedReplicas":{}}}"#,
        // An owner reference and a finalizer, as a controller writes them.
        r#"{"f:metadata":{"f:finalizers":{".":{},"v:\"foregroundDeletion\"":{}},"f:ownerReferences":{".":{},"k:{\"uid\":\"3f6a1f4e-0000-4000-8000-000000000000\"}":{}}}}"#,
        // HTML-sensitive characters escaped as Go writes them.
        r#"{"f:data":{"f:a\u003cb":{}},"f:metadata":{"f:labels":{"f:x":{}}}}"#,
    ];
    for s in samples {
        let set = fieldsv1::from_str(s).expect("parses");
        assert_eq!(fieldsv1::to_string(&set), s);
    }
    assert!(fieldsv1::from_str(r#"{"z:bad":{}}"#).is_err());
}

#[test]
fn crd_schemas_convert_list_types_and_unknown_fields() {
    let (schema, root) = openapi::from_crd(&json!({
        "type": "object",
        "properties": {
            "spec": {
                "type": "object",
                "properties": {
                    "targets": {"type": "array", "x-kubernetes-list-type": "map",
                                "x-kubernetes-list-map-keys": ["name"],
                                "items": {"type": "object", "properties": {
                                    "name": {"type": "string"}, "weight": {"type": "integer"}}}},
                    "tags": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                    "hosts": {"type": "array", "items": {"type": "string"}},
                    "port": {"x-kubernetes-int-or-string": true},
                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
                }
            }
        }
    }))
    .expect("converts");
    let set = to_field_set(
        &schema,
        &json!({"metadata": {"name": "x", "labels": {"a": "b"}},
                "spec": {"targets": [{"name": "t", "weight": 1}], "tags": ["x"], "hosts": ["h"],
                         "port": "http", "extra": {"deep": {"list": [1, 2]}}}}),
        &root,
    )
    .expect("fits");
    let paths: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
    assert_eq!(
        paths,
        [
            ".metadata.name",
            ".metadata.labels.a",
            ".spec.hosts",
            ".spec.port",
            ".spec.extra.deep",
            ".spec.extra.deep.list",
            ".spec.tags[=\"x\"]",
            ".spec.targets[name=\"t\"]",
            ".spec.targets[name=\"t\"].name",
            ".spec.targets[name=\"t\"].weight",
        ]
    );
}

#[test]
fn ownership_collapses_when_a_crd_makes_a_list_atomic() {
    let crd = |list_type: &str| {
        openapi::from_crd(
            &json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
                "items": {"type": "array", "x-kubernetes-list-type": list_type,
                          "x-kubernetes-list-map-keys": ["name"],
                          "items": {"type": "object", "properties": {
                              "name": {"type": "string"}, "size": {"type": "integer"}}}},
                "owner": {"type": "string"}
            }}}}),
        )
        .expect("converts")
    };
    let (granular, root) = crd("map");
    let before = kubesim::ssa::Updater {
        schema: &granular,
        root: &root,
        ignored: None,
    };
    let obj = json!({"spec": {"items": [{"name": "a", "size": 1}]}});
    let applied = before
        .apply(&json!({}), &obj, "v1", Default::default(), "a", false)
        .expect("applies");
    let live = applied.object.expect("created");
    let paths = |m: &kubesim::ssa::ManagedFields| -> Vec<String> {
        m["a"].set.paths().iter().map(ToString::to_string).collect()
    };
    assert_eq!(
        paths(&applied.managers),
        [
            ".spec.items[name=\"a\"]",
            ".spec.items[name=\"a\"].name",
            ".spec.items[name=\"a\"].size"
        ]
    );

    // The CRD now declares the list atomic: the applier owns it whole.
    let (atomic, root) = crd("atomic");
    let after = kubesim::ssa::Updater {
        schema: &atomic,
        root: &root,
        ignored: None,
    };
    let mut managers = applied.managers;
    let mut updated = live.clone();
    updated["spec"]["owner"] = json!("x");
    after
        .update(&live, &updated, "v1", &mut managers, "b")
        .expect("updates");
    assert_eq!(paths(&managers), [".spec.items"]);
}

#[test]
fn patch_merge_keys_without_a_list_type_make_associative_lists() {
    let (schema, root) = openapi::from_crd(&json!({"type": "object", "properties": {
        "byKey": {"type": "array", "x-kubernetes-patch-strategy": "merge",
                  "x-kubernetes-patch-merge-key": "name",
                  "items": {"type": "object", "properties": {"name": {"type": "string"}, "v": {"type": "string"}}}},
        "retained": {"type": "array", "x-kubernetes-patch-strategy": "retainKeys,merge",
                     "x-kubernetes-patch-merge-key": "name",
                     "items": {"type": "object", "properties": {"name": {"type": "string"}}}},
        "bySet": {"type": "array", "x-kubernetes-patch-strategy": "merge", "items": {"type": "string"}},
        "replaced": {"type": "array", "x-kubernetes-patch-strategy": "replace", "items": {"type": "string"}},
        "plain": {"type": "array", "items": {"type": "string"}}
    }}))
    .expect("converts");
    let set = to_field_set(
        &schema,
        &json!({"byKey": [{"name": "a", "v": "1"}], "retained": [{"name": "r"}],
                "bySet": ["x"], "replaced": ["y"], "plain": ["z"]}),
        &root,
    )
    .expect("fits");
    let paths: Vec<String> = set.paths().iter().map(ToString::to_string).collect();
    assert_eq!(
        paths,
        [
            ".plain",
            ".replaced",
            ".byKey[name=\"a\"]",
            ".byKey[name=\"a\"].name",
            ".byKey[name=\"a\"].v",
            ".bySet[=\"x\"]",
            ".retained[name=\"r\"]",
            ".retained[name=\"r\"].name",
        ]
    );
}
