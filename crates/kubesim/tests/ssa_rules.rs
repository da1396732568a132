//! Server-side apply behaviour, case by case, from the rules of the Kubernetes
//! "Server-Side Apply" documentation, run against the real 1.35 built-in schemas.

mod ssa_common;

use kubesim::ssa::SsaError;
use kubesim::ssa::manager::describe_manager;
use serde_json::{Value, json};
use ssa_common::Object;

fn deployment(replicas: Option<i64>, containers: Value) -> Value {
    let mut spec = json!({
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": containers}
        }
    });
    if let Some(r) = replicas {
        spec["replicas"] = json!(r);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "default"}, "spec": spec})
}

fn nginx(image: &str) -> Value {
    json!([{"name": "nginx", "image": image}])
}

fn deploy() -> Object {
    Object::builtin("apps", "v1", "Deployment")
}

#[test]
fn create_on_apply_records_one_apply_entry_without_server_owned_fields() {
    let mut d = deploy();
    assert!(
        d.apply("kubectl", deployment(Some(1), nginx("nginx:1")), false)
            .expect("applies")
    );
    assert_eq!(d.managers(), [("kubectl".to_string(), "Apply".to_string())]);
    let entry = &d.entries()[0];
    assert_eq!(entry["apiVersion"], "apps/v1");
    assert_eq!(entry["fieldsType"], "FieldsV1");
    assert_eq!(entry["time"], ssa_common::NOW);
    assert!(entry.get("subresource").is_none());
    assert_eq!(
        d.fields_of("kubectl", "Apply").expect("entry"),
        concat!(
            r#"{"f:spec":{"f:replicas":{},"f:selector":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"#,
            r#""f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#
        )
    );
}

#[test]
fn identical_reapply_is_a_no_op() {
    let mut d = deploy();
    d.apply("kubectl", deployment(Some(1), nginx("nginx:1")), false)
        .expect("applies");
    let before = d.live.clone();
    assert!(
        !d.apply("kubectl", deployment(Some(1), nginx("nginx:1")), false)
            .expect("applies")
    );
    assert_eq!(d.live, before);
}

#[test]
fn apply_conflicts_with_an_updater_and_force_takes_ownership() {
    let mut d = deploy();
    d.apply("kubectl", deployment(Some(1), nginx("nginx:1")), false)
        .expect("applies");
    // `kubectl patch --type=merge -p '{"spec":{"replicas":3}}' --field-manager=hpa`
    let mut scaled = d.object();
    scaled["spec"]["replicas"] = json!(3);
    assert!(d.update("hpa", scaled));
    assert!(d.owns("hpa", "Update", ".spec.replicas"));
    assert!(!d.owns("kubectl", "Apply", ".spec.replicas"));

    let err = d
        .apply("kubectl", deployment(Some(1), nginx("nginx:1")), false)
        .expect_err("conflicts");
    let SsaError::Conflicts(conflicts) = &err else {
        panic!("expected conflicts, got {err}");
    };
    assert_eq!(
        err.to_string(),
        "Apply failed with 1 conflict: conflict with \"hpa\" using apps/v1: .spec.replicas"
    );
    let [conflict] = conflicts.0.as_slice() else {
        panic!("expected one conflict, got {conflicts:?}");
    };
    assert_eq!(conflict.path.to_string(), ".spec.replicas");
    assert_eq!(describe_manager(&conflict.manager), "\"hpa\" using apps/v1");
    assert_eq!(
        d.object()["spec"]["replicas"],
        3,
        "a failed apply changes nothing"
    );

    d.apply("kubectl", deployment(Some(1), nginx("nginx:1")), true)
        .expect("forced apply");
    assert_eq!(d.object()["spec"]["replicas"], 1);
    assert!(d.owns("kubectl", "Apply", ".spec.replicas"));
    assert!(!d.owns("hpa", "Update", ".spec.replicas"));
    assert!(
        !d.managers().iter().any(|(m, _)| m == "hpa"),
        "an entry left with no fields is dropped"
    );
}

#[test]
fn appliers_setting_the_same_value_share_ownership_and_then_conflict_together() {
    let mut d = deploy();
    d.apply("a", deployment(Some(2), nginx("nginx:1")), false)
        .expect("applies");
    d.apply(
        "b",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web"}, "spec": {"replicas": 2}}),
        false,
    )
    .expect("same value: no conflict");
    assert!(d.owns("a", "Apply", ".spec.replicas"));
    assert!(d.owns("b", "Apply", ".spec.replicas"));
    let err = d
        .apply(
            "c",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                          "metadata": {"name": "web"}, "spec": {"replicas": 5}}),
            false,
        )
        .expect_err("both owners conflict");
    let SsaError::Conflicts(c) = &err else {
        panic!("expected conflicts, got {err}");
    };
    assert_eq!(c.0.len(), 2);
    assert_eq!(
        err.to_string(),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.replicas\nconflicts with \"b\":\n- .spec.replicas"
    );
}

#[test]
fn a_dropped_field_stays_while_another_manager_owns_it() {
    let mut d = deploy();
    d.apply("a", deployment(Some(2), nginx("nginx:1")), false)
        .expect("applies");
    d.apply(
        "b",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web"}, "spec": {"replicas": 2}}),
        false,
    )
    .expect("applies");
    d.apply("a", deployment(None, nginx("nginx:1")), false)
        .expect("applies");
    assert_eq!(d.object()["spec"]["replicas"], 2, "b still owns replicas");
    assert!(!d.owns("a", "Apply", ".spec.replicas"));
    d.apply(
        "b",
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
                        "metadata": {"name": "web"}}),
        false,
    )
    .expect("applies");
    assert!(
        d.object()["spec"].get("replicas").is_none(),
        "nobody owns replicas any more"
    );
}

#[test]
fn labels_an_applier_drops_disappear_but_labels_set_by_others_survive() {
    let mut d = Object::builtin("", "v1", "ConfigMap");
    let cm = |labels: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "labels": labels}, "data": {"k": "v"}})
    };
    d.apply("kubectl", cm(json!({"a": "1", "b": "2"})), false)
        .expect("applies");
    // `kubectl label cm c extra=yes`
    let mut labelled = d.object();
    labelled["metadata"]["labels"]["extra"] = json!("yes");
    d.update("kubectl-label", labelled);
    d.apply("kubectl", cm(json!({"a": "1"})), false)
        .expect("applies");
    assert_eq!(
        d.object()["metadata"]["labels"],
        json!({"a": "1", "extra": "yes"})
    );
    assert_eq!(d.object()["data"], json!({"k": "v"}));
}

#[test]
fn two_appliers_own_different_containers() {
    let mut d = deploy();
    d.apply("a", deployment(Some(1), nginx("nginx:1")), false)
        .expect("applies");
    let sidecar = json!([{"name": "sidecar", "image": "envoy:1"}]);
    d.apply("b", deployment(None, sidecar.clone()), false)
        .expect("b adds its own container");
    let names = |d: &Object| -> Vec<String> {
        d.object()["spec"]["template"]["spec"]["containers"]
            .as_array()
            .expect("containers")
            .iter()
            .map(|c| c["name"].as_str().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(names(&d), ["nginx", "sidecar"]);
    d.apply("a", deployment(Some(1), nginx("nginx:2")), false)
        .expect("a changes only its container");
    assert_eq!(names(&d), ["nginx", "sidecar"]);
    assert_eq!(
        d.object()["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:2"
    );
    let err = d
        .apply(
            "b",
            deployment(None, json!([{"name": "nginx", "image": "evil:1"}])),
            false,
        )
        .expect_err("b may not change a's image");
    assert!(
        err.to_string()
            .contains("conflict with \"a\": .spec.template.spec.containers[name=\"nginx\"].image"),
        "{err}"
    );
    // b drops its container: it goes, a's stays.
    d.apply(
        "b",
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}),
        false,
    )
    .expect("applies");
    assert_eq!(names(&d), ["nginx"]);
}

#[test]
fn container_ports_are_keyed_by_port_and_defaulted_protocol() {
    let mut d = deploy();
    let with_ports = |ports: Value| {
        deployment(
            Some(1),
            json!([{"name": "nginx", "image": "nginx:1", "ports": ports}]),
        )
    };
    d.apply("kubectl", with_ports(json!([{"containerPort": 80}])), false)
        .expect("applies");
    assert!(d.owns(
        "kubectl",
        "Apply",
        ".spec.template.spec.containers[name=\"nginx\"].ports[containerPort=80,protocol=\"TCP\"].containerPort"
    ));
    // The server's defaulting writes protocol: the item keeps its identity.
    let mut defaulted = d.object();
    defaulted["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = json!("TCP");
    d.update("defaulter", defaulted);
    d.apply(
        "kubectl",
        with_ports(json!([{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}])),
        false,
    )
    .expect("same item, plus a UDP one");
    let ports = d.object()["spec"]["template"]["spec"]["containers"][0]["ports"].clone();
    assert_eq!(
        ports,
        json!([{"containerPort": 80, "protocol": "TCP"}, {"containerPort": 53, "protocol": "UDP"}])
    );
    let fields = d.fields_of("kubectl", "Apply").expect("entry");
    assert!(fields.contains(r#""k:{\"containerPort\":53,\"protocol\":\"UDP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}"#), "{fields}");
}

#[test]
fn service_ports_are_keyed_by_port_and_protocol() {
    let mut s = Object::builtin("", "v1", "Service");
    let svc = |ports: Value| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
               "spec": {"ports": ports}})
    };
    s.apply("a", svc(json!([{"port": 80, "targetPort": 8080}])), false)
        .expect("applies");
    s.apply("b", svc(json!([{"port": 80, "protocol": "UDP"}])), false)
        .expect("a different item: no conflict");
    assert_eq!(
        s.object()["spec"]["ports"],
        json!([{"port": 80, "targetPort": 8080}, {"port": 80, "protocol": "UDP"}])
    );
    assert!(s.owns(
        "a",
        "Apply",
        ".spec.ports[port=80,protocol=\"TCP\"].targetPort"
    ));
}

#[test]
fn atomic_lists_are_replaced_and_owned_whole() {
    let mut d = deploy();
    let with_args = |args: Value| {
        deployment(
            Some(1),
            json!([{"name": "nginx", "image": "nginx:1", "args": args}]),
        )
    };
    d.apply("a", with_args(json!(["--x", "--y"])), false)
        .expect("applies");
    let path = ".spec.template.spec.containers[name=\"nginx\"].args";
    assert!(d.owns("a", "Apply", path));
    let err = d
        .apply("b", with_args(json!(["--x"])), false)
        .expect_err("a shorter list changes a's atomic list");
    assert!(
        err.to_string()
            .ends_with(&format!("conflict with \"a\": {path}")),
        "{err}"
    );
    d.apply("b", with_args(json!(["--z"])), true)
        .expect("forced");
    assert_eq!(
        d.object()["spec"]["template"]["spec"]["containers"][0]["args"],
        json!(["--z"]),
        "replaced, not merged"
    );
    assert!(!d.owns("a", "Apply", path));
}

#[test]
fn finalizers_are_a_set() {
    let mut c = Object::builtin("", "v1", "ConfigMap");
    let cm = |finalizers: Value| {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "c", "finalizers": finalizers}})
    };
    c.apply("a", cm(json!(["example.com/a"])), false)
        .expect("applies");
    c.apply("b", cm(json!(["example.com/b"])), false)
        .expect("a different value: no conflict");
    assert_eq!(
        c.object()["metadata"]["finalizers"],
        json!(["example.com/a", "example.com/b"])
    );
    assert_eq!(
        c.fields_of("b", "Apply").expect("entry"),
        r#"{"f:metadata":{"f:finalizers":{"v:\"example.com/b\"":{}}}}"#
    );
    c.apply("a", cm(json!([])), false).expect("applies");
    assert_eq!(
        c.object()["metadata"]["finalizers"],
        json!(["example.com/b"])
    );
}

#[test]
fn owner_references_are_keyed_by_uid() {
    let mut c = Object::builtin("", "v1", "ConfigMap");
    let owner = |uid: &str, name: &str| {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "uid": uid}]}})
    };
    c.apply("a", owner("u1", "x"), false).expect("applies");
    c.apply("b", owner("u2", "y"), false).expect("applies");
    assert_eq!(
        c.object()["metadata"]["ownerReferences"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // OwnerReference is an atomic struct: the item is owned whole, not field by field.
    assert_eq!(
        c.fields_of("b", "Apply").expect("entry"),
        r#"{"f:metadata":{"f:ownerReferences":{"k:{\"uid\":\"u2\"}":{}}}}"#
    );
    let err = c
        .apply("b", owner("u1", "renamed"), false)
        .expect_err("a's item is a's");
    assert!(
        err.to_string()
            .ends_with("conflict with \"a\": .metadata.ownerReferences[uid=\"u1\"]"),
        "{err}"
    );
}

#[test]
fn update_takes_changed_fields_from_appliers_without_conflict() {
    let mut d = deploy();
    d.apply("kubectl", deployment(Some(1), nginx("nginx:1")), false)
        .expect("applies");
    let mut edited = d.object();
    edited["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:2");
    d.update("kubectl-edit", edited);
    let image = ".spec.template.spec.containers[name=\"nginx\"].image";
    assert!(d.owns("kubectl-edit", "Update", image));
    assert!(!d.owns("kubectl", "Apply", image));
    assert!(d.owns("kubectl", "Apply", ".spec.replicas"));
    assert_eq!(
        d.managers(),
        [
            ("kubectl".to_string(), "Apply".to_string()),
            ("kubectl-edit".to_string(), "Update".to_string())
        ],
        "Apply entries sort before Update entries"
    );
}

#[test]
fn first_apply_to_an_untracked_object_keeps_existing_fields() {
    let mut d = deploy();
    // An object created before managedFields were tracked.
    d.live = Some(deployment(Some(3), nginx("nginx:1")));
    let bare = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}});
    d.apply("kubectl", bare, false).expect("applies");
    assert!(d.owns("before-first-apply", "Update", ".spec.replicas"));
    let first = d
        .entries()
        .into_iter()
        .find(|e| e["manager"] == "before-first-apply")
        .expect("entry");
    assert_eq!(first["time"], ssa_common::NOW);
    assert_eq!(first["apiVersion"], "apps/v1");
    assert_eq!(d.object()["spec"]["replicas"], 3);
    let err = d
        .apply(
            "kubectl",
            json!({"apiVersion": "apps/v1", "kind": "Deployment",
                                "metadata": {"name": "web"}, "spec": {"replicas": 1}}),
            false,
        )
        .expect_err("existing fields are owned");
    assert!(
        err.to_string()
            .contains("conflict with \"before-first-apply\" using apps/v1"),
        "{err}"
    );
}

#[test]
fn non_apply_writes_to_an_untracked_object_do_not_start_tracking() {
    let mut c = Object::builtin("", "v1", "ConfigMap");
    c.live = Some(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}));
    let mut edited = c.object();
    edited["data"] = json!({"k": "v"});
    assert!(c.update("kubectl", edited));
    assert!(c.entries().is_empty());
    // A create is tracked.
    let mut fresh = Object::builtin("", "v1", "ConfigMap");
    fresh.update(
        "kubectl",
        json!({"apiVersion": "v1", "kind": "ConfigMap",
                                  "metadata": {"name": "c"}, "data": {"k": "v"}}),
    );
    assert_eq!(
        fresh.fields_of("kubectl", "Update").expect("entry"),
        r#"{"f:data":{".":{},"f:k":{}}}"#
    );
}

#[test]
fn ignored_fields_are_never_owned() {
    let mut d = deploy();
    d.ignored = Some(kubesim::ssa::FieldSet::from_paths([
        kubesim::ssa::Path::fields(&["status"]),
    ]));
    let mut obj = deployment(Some(1), nginx("nginx:1"));
    obj["status"] = json!({"replicas": 1});
    d.apply("kubectl", obj, false).expect("applies");
    assert!(!d.owns("kubectl", "Apply", ".status.replicas"));
    assert!(d.owns("kubectl", "Apply", ".spec.replicas"));
}

#[test]
fn reordering_items_in_an_apply_is_a_change() {
    let mut d = deploy();
    let two = |first: &str, second: &str| {
        deployment(
            Some(1),
            json!([{"name": first, "image": "i:1"}, {"name": second, "image": "i:1"}]),
        )
    };
    d.apply("kubectl", two("a", "b"), false).expect("applies");
    assert!(d.apply("kubectl", two("b", "a"), false).expect("applies"));
    let names: Vec<Value> = d.object()["spec"]["template"]["spec"]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|c| c["name"].clone())
        .collect();
    assert_eq!(names, [json!("b"), json!("a")]);
}
