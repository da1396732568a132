//! Server-side apply of the repository's own manifests: Flotilla's CRDs (as Helm and
//! `kubectl apply --server-side` send them) and the example custom resources under the
//! schemas those CRDs declare.

// A test binary: its helpers panic on broken fixtures by design.
#![allow(clippy::expect_used, clippy::unwrap_used)]

mod ssa_common;

use kubesim::ssa::{FieldManager, TypeRef, Writer, openapi};
use serde_json::Value;
use std::path::PathBuf;

fn manifests(dir: &str) -> Vec<(String, Value)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../manifests")
        .join(dir);
    let mut out: Vec<(String, Value)> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("readable");
            let v: Value =
                serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p.display().to_string(), v)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!out.is_empty(), "no manifests in {}", root.display());
    out
}

fn writer(manager: &str) -> Writer<'_> {
    Writer {
        manager,
        api_version: "v1",
        subresource: "",
        now: ssa_common::NOW,
    }
}

/// Applies `obj` twice as `manager`: the first creates it, the second must be a no-op.
fn apply_twice(fm: &FieldManager<'_>, name: &str, obj: &Value, manager: &str) -> Value {
    let created = fm
        .apply(None, obj, &writer(manager), false)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(created.object_changed, "{name}");
    let again = fm
        .apply(Some(&created.object), obj, &writer(manager), false)
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert!(
        !again.object_changed && !again.managed_fields_changed,
        "{name}: re-applying the same manifest must change nothing"
    );
    created.object
}

#[test]
fn flotilla_crds_apply_cleanly_under_the_builtin_crd_schema() {
    let defs = ssa_common::definitions();
    let root = defs
        .root("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
        .expect("CRD kind");
    let fm = FieldManager {
        schema: &defs.schema,
        root: &root,
        ignored: None,
        empty: None,
    };
    for (name, crd) in manifests("crds") {
        let live = apply_twice(&fm, &name, &crd, "helm");
        let fields = &live["metadata"]["managedFields"][0]["fieldsV1"];
        // spec.versions is an atomic list in the real schema: owned whole.
        assert_eq!(
            fields["f:spec"]["f:versions"],
            serde_json::json!({}),
            "{name}: {fields}"
        );
        assert!(fields["f:spec"]["f:names"]["f:kind"].is_object(), "{name}");
    }
}

/// The example's CRD schema, for the version the example uses.
fn schema_for(crds: &[(String, Value)], example: &Value) -> Value {
    let (group, version) = example["apiVersion"]
        .as_str()
        .and_then(|v| v.split_once('/'))
        .expect("group/version");
    let kind = &example["kind"];
    let crd = crds
        .iter()
        .map(|(_, c)| c)
        .find(|c| c["spec"]["group"] == group && c["spec"]["names"]["kind"] == *kind)
        .unwrap_or_else(|| panic!("no CRD for {group} {kind}"));
    crd["spec"]["versions"]
        .as_array()
        .and_then(|vs| vs.iter().find(|v| v["name"] == version))
        .map(|v| v["schema"]["openAPIV3Schema"].clone())
        .unwrap_or_else(|| panic!("no {version} in the {kind} CRD"))
}

#[test]
fn flotilla_examples_apply_under_their_crd_schemas_and_drop_removed_fields() {
    let crds = manifests("crds");
    for (name, example) in manifests("examples") {
        let (schema, root): (_, TypeRef) =
            openapi::from_crd(&schema_for(&crds, &example)).expect("CRD schema converts");
        let fm = FieldManager {
            schema: &schema,
            root: &root,
            ignored: None,
            empty: None,
        };
        let live = apply_twice(&fm, &name, &example, "kubectl");
        // Dropping a spec field from the manifest removes it from the object.
        let spec = example["spec"].as_object().expect("spec");
        let dropped = spec.keys().next().expect("a spec field").clone();
        let mut smaller = example.clone();
        smaller["spec"]
            .as_object_mut()
            .expect("spec")
            .remove(&dropped);
        let w = fm
            .apply(Some(&live), &smaller, &writer("kubectl"), false)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(w.object_changed, "{name}");
        assert!(
            w.object["spec"].get(&dropped).is_none(),
            "{name}: spec.{dropped} should be gone"
        );
    }
}
