//! The API-server layer over the merge: managedFields bookkeeping that is not part of
//! structured-merge-diff itself (entry caps, subresources, timestamps, client-supplied
//! managedFields).

mod ssa_common;

use kubesim::ssa::manager::describe_manager;
use kubesim::ssa::{FieldManager, SsaError, TypeRef, Writer};
use serde_json::{Value, json};

fn config_map_root() -> TypeRef {
    ssa_common::root("", "v1", "ConfigMap")
}

fn fm(root: &TypeRef) -> FieldManager<'_> {
    FieldManager {
        schema: &ssa_common::definitions().schema,
        root,
        ignored: None,
        empty: None,
    }
}

fn writer<'a>(manager: &'a str, now: &'a str) -> Writer<'a> {
    Writer {
        manager,
        api_version: "v1",
        subresource: "",
        now,
    }
}

fn cm(data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
}

fn entries(obj: &Value) -> Vec<Value> {
    obj["metadata"]["managedFields"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn more_than_ten_updaters_fold_the_oldest_into_ancient_changes() {
    let root = config_map_root();
    let fm = fm(&root);
    let mut live = fm
        .update(
            None,
            &cm(json!({})),
            &writer("creator", "2026-01-01T00:00:00Z"),
        )
        .expect("create")
        .object;
    for i in 0..12 {
        let mut next = live.clone();
        next["data"][format!("k{i:02}")] = json!("v");
        let now = format!("2026-01-01T00:{i:02}:01Z");
        live = fm
            .update(Some(&live), &next, &writer(&format!("u{i:02}"), &now))
            .expect("update")
            .object;
    }
    let managers: Vec<String> = entries(&live)
        .iter()
        .map(|e| e["manager"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(managers.len(), 10, "{managers:?}");
    assert_eq!(managers[0], "ancient-changes");
    assert_eq!(managers[1], "u03");
    assert_eq!(managers[9], "u11");
    let bucket = &entries(&live)[0];
    assert_eq!(bucket["operation"], "Update");
    assert_eq!(bucket["apiVersion"], "v1");
    assert_eq!(bucket["time"], "2026-01-01T00:02:01Z");
    // The creator (which owns the `data: {}` it created) and u00 to u02 are folded together.
    assert_eq!(
        bucket["fieldsV1"],
        json!({"f:data": {".": {}, "f:k00": {}, "f:k01": {}, "f:k02": {}}})
    );
}

#[test]
fn subresource_writers_are_separate_managers_and_named_so_in_conflicts() {
    let root = ssa_common::root("apps", "v1", "Deployment");
    let fm = fm(&root);
    let apps = |manager: &'static str, subresource: &'static str| Writer {
        manager,
        api_version: "apps/v1",
        subresource,
        now: ssa_common::NOW,
    };
    let obj = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                     "spec": {"replicas": 1}});
    let live = fm
        .apply(None, &obj, &apps("kubectl", ""), false)
        .expect("create")
        .object;
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(4);
    let live = fm
        .update(Some(&live), &scaled, &apps("autoscaler", "scale"))
        .expect("scale")
        .object;
    let scale_entry = entries(&live)
        .into_iter()
        .find(|e| e["manager"] == "autoscaler")
        .expect("entry");
    assert_eq!(scale_entry["subresource"], "scale");
    let Err(SsaError::Conflicts(c)) = fm.apply(Some(&live), &obj, &apps("kubectl", ""), false)
    else {
        panic!("expected a conflict");
    };
    assert_eq!(
        describe_manager(&c.0[0].manager),
        "\"autoscaler\" with subresource \"scale\" using apps/v1"
    );
}

#[test]
fn taking_shared_ownership_changes_managed_fields_but_not_the_object() {
    let root = config_map_root();
    let fm = fm(&root);
    let live = fm
        .apply(
            None,
            &cm(json!({"k": "v"})),
            &writer("a", "2026-01-01T00:00:00Z"),
            false,
        )
        .expect("create")
        .object;
    let w = fm
        .apply(
            Some(&live),
            &cm(json!({"k": "v"})),
            &writer("b", "2026-01-01T01:00:00Z"),
            false,
        )
        .expect("same value");
    assert!(!w.object_changed);
    assert!(w.managed_fields_changed);
    let b = entries(&w.object)
        .into_iter()
        .find(|e| e["manager"] == "b")
        .expect("b has an entry");
    assert!(
        b.get("time").is_none(),
        "the server stamps time only on writes that change the object"
    );
    let again = fm
        .apply(
            Some(&w.object),
            &cm(json!({"k": "v"})),
            &writer("b", "2026-01-01T02:00:00Z"),
            false,
        )
        .expect("no-op");
    assert!(!again.object_changed && !again.managed_fields_changed);
    assert_eq!(again.object, w.object);
}

#[test]
fn managed_fields_are_client_settable_on_update_but_not_in_an_apply() {
    let root = config_map_root();
    let fm = fm(&root);
    let live = fm
        .apply(
            None,
            &cm(json!({"k": "v"})),
            &writer("a", ssa_common::NOW),
            false,
        )
        .expect("create")
        .object;
    let mut rewritten = live.clone();
    rewritten["metadata"]["managedFields"] = json!([{
        "manager": "someone", "operation": "Update", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:k": {}}}
    }]);
    let w = fm
        .update(Some(&live), &rewritten, &writer("editor", ssa_common::NOW))
        .expect("update");
    let managers: Vec<Value> = entries(&w.object)
        .iter()
        .map(|e| e["manager"].clone())
        .collect();
    assert_eq!(managers, [json!("someone")]);
    assert!(w.managed_fields_changed && !w.object_changed);

    let mut with_fields = cm(json!({"k": "v"}));
    with_fields["metadata"]["managedFields"] = json!([]);
    let err = fm
        .apply(
            Some(&live),
            &with_fields,
            &writer("a", ssa_common::NOW),
            false,
        )
        .expect_err("rejected");
    assert!(
        err.to_string()
            .contains("metadata.managedFields must be nil"),
        "{err}"
    );

    let mut broken = live.clone();
    broken["metadata"]["managedFields"] =
        json!([{"manager": "x", "operation": "Update", "fieldsType": "FieldsV2"}]);
    let err = fm
        .apply(
            Some(&broken),
            &cm(json!({"k": "v"})),
            &writer("a", ssa_common::NOW),
            false,
        )
        .expect_err("undecodable managedFields");
    assert!(matches!(err, SsaError::ManagedFields(_)), "{err}");
}

#[test]
fn a_single_empty_entry_strips_managed_fields_and_an_empty_list_does_not() {
    let root = config_map_root();
    let fm = fm(&root);
    let live = fm
        .apply(
            None,
            &cm(json!({"k": "v"})),
            &writer("a", ssa_common::NOW),
            false,
        )
        .expect("create")
        .object;
    let mut emptied = live.clone();
    emptied["metadata"]["managedFields"] = json!([]);
    let kept = fm
        .update(Some(&live), &emptied, &writer("editor", ssa_common::NOW))
        .expect("update");
    assert_eq!(kept.object, live, "an empty list keeps the live entries");
    assert!(!kept.object_changed && !kept.managed_fields_changed);

    let mut reset = live.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let stripped = fm
        .update(Some(&live), &reset, &writer("editor", ssa_common::NOW))
        .expect("update");
    assert!(stripped.object["metadata"].get("managedFields").is_none());
    assert!(stripped.managed_fields_changed);
    // Untracked now: the next apply gives existing fields to before-first-apply.
    let w = fm
        .apply(
            Some(&stripped.object),
            &cm(json!({"k": "v"})),
            &writer("a", ssa_common::NOW),
            false,
        )
        .expect("apply");
    let managers: Vec<Value> = entries(&w.object)
        .iter()
        .map(|e| e["manager"].clone())
        .collect();
    assert_eq!(managers, [json!("a"), json!("before-first-apply")]);
}

#[test]
fn zero_values_shape_a_creates_update_entry_but_never_leak_into_applied_objects() {
    let root = ssa_common::root("apps", "v1", "Deployment");
    let zero = kubesim::ssa::zero::zero_object("apps", "Deployment");
    let fm = FieldManager {
        schema: &ssa_common::definitions().schema,
        root: &root,
        ignored: None,
        empty: Some(&zero),
    };
    let config = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                        "spec": {"replicas": 2}});
    let applied = fm
        .apply(None, &config, &writer("kubectl", ssa_common::NOW), false)
        .expect("create on apply");
    let mut object = applied.object.clone();
    object["metadata"]
        .as_object_mut()
        .expect("metadata")
        .remove("managedFields");
    assert_eq!(object, config, "nothing of the zero value is merged in");

    let created = fm
        .update(None, &config, &writer("kubectl-create", ssa_common::NOW))
        .expect("create");
    // spec exists in the zero value, so the Update entry owns replicas but not spec itself.
    assert_eq!(
        entries(&created.object)[0]["fieldsV1"],
        json!({"f:spec": {"f:replicas": {}}})
    );
}

#[test]
fn kubectl_takes_over_fields_from_its_client_side_apply_without_conflict() {
    let root = config_map_root();
    let fm = fm(&root);
    let annotation = "kubectl.kubernetes.io/last-applied-configuration";
    // `kubectl apply` (client side) creates the object and records what it applied.
    let mut csa = cm(json!({"k": "v", "other": "x"}));
    csa["metadata"]["annotations"] = json!({
        annotation: "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"v\",\"other\":\"x\"},\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}\n"
    });
    let live = fm
        .update(
            None,
            &csa,
            &writer("kubectl-client-side-apply", ssa_common::NOW),
        )
        .expect("create")
        .object;

    let ssa = cm(json!({"k": "v2", "other": "x"}));
    let err = fm
        .apply(Some(&live), &ssa, &writer("helm", ssa_common::NOW), false)
        .expect_err("another manager still conflicts");
    assert!(
        err.to_string().contains("kubectl-client-side-apply"),
        "{err}"
    );

    let w = fm
        .apply(
            Some(&live),
            &ssa,
            &writer("kubectl", ssa_common::NOW),
            false,
        )
        .expect("kubectl may take over what it applied client-side");
    assert_eq!(w.object["data"]["k"], "v2");
    assert_eq!(
        w.object["metadata"]["annotations"][annotation],
        "{\"apiVersion\":\"v1\",\"data\":{\"k\":\"v2\",\"other\":\"x\"},\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"c\"}}\n",
        "the annotation follows the server-side apply"
    );

    // A field someone else changed after the client-side apply still conflicts.
    let mut edited = live.clone();
    edited["data"]["other"] = json!("edited");
    let edited = fm
        .update(
            Some(&live),
            &edited,
            &writer("kubectl-edit", ssa_common::NOW),
        )
        .expect("edit")
        .object;
    let Err(SsaError::Conflicts(c)) = fm.apply(
        Some(&edited),
        &cm(json!({"k": "v2", "other": "mine"})),
        &writer("kubectl", ssa_common::NOW),
        false,
    ) else {
        panic!("expected a conflict");
    };
    let fields: Vec<String> = c.0.iter().map(|c| c.path.to_string()).collect();
    assert_eq!(fields, [".data.other"]);
}

#[test]
fn an_update_touching_only_server_fields_keeps_the_entry_time() {
    let root = config_map_root();
    let fm = fm(&root);
    let live = fm
        .update(
            None,
            &cm(json!({"k": "v"})),
            &writer("editor", "2026-01-01T00:00:00Z"),
        )
        .expect("create")
        .object;
    let mut bumped = live.clone();
    bumped["metadata"]["generation"] = json!(2);
    let w = fm
        .update(
            Some(&live),
            &bumped,
            &writer("editor", "2026-01-01T05:00:00Z"),
        )
        .expect("update");
    assert!(w.object_changed);
    assert!(!w.managed_fields_changed);
    assert_eq!(entries(&w.object)[0]["time"], "2026-01-01T00:00:00Z");
    let mut edited = w.object.clone();
    edited["data"]["k"] = json!("v2");
    let w = fm
        .update(
            Some(&w.object),
            &edited,
            &writer("editor", "2026-01-01T06:00:00Z"),
        )
        .expect("update");
    assert_eq!(entries(&w.object)[0]["time"], "2026-01-01T06:00:00Z");
}
