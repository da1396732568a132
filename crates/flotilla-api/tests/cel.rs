//! The CEL rules (`x-kubernetes-validations`) in the generated CRDs, evaluated client-side
//! with kube-cel: every rule compiles, accepts the examples, and rejects what it is for.

// Test helpers outside #[test] functions panic on bad fixtures too.
#![allow(clippy::unwrap_used)]

mod support;

use flotilla_api::crds;
use serde_json::{Value, json};
use support::{crd_schema, manifests, yaml_value};

fn schema_of(kind: &str) -> Value {
    let crd = crds::all()
        .into_iter()
        .find(|c| c.spec.names.kind == kind)
        .unwrap();
    crd_schema(&crd)
}

fn example(file: &str) -> Value {
    yaml_value(&manifests("examples").join(file))
}

/// The messages of the rules `object` breaks; empty when it passes.
fn violations(kind: &str, object: &Value) -> Vec<String> {
    match kube_cel::Validator::new().validate(&schema_of(kind), object, None) {
        Ok(()) => Vec::new(),
        Err(errors) => errors.iter().map(|e| e.message.clone()).collect(),
    }
}

/// Every `x-kubernetes-validations` rule in a schema.
fn rules(schema: &Value, found: &mut Vec<String>) {
    match schema {
        Value::Object(object) => {
            for rule in object
                .get("x-kubernetes-validations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                found.push(rule["rule"].as_str().unwrap().to_owned());
            }
            object.values().for_each(|v| rules(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| rules(v, found)),
        _ => {}
    }
}

#[test]
fn every_rule_compiles_and_uses_only_crd_variables() {
    let mut all = Vec::new();
    for crd in crds::all() {
        let schema = crd_schema(&crd);
        let compiled = kube_cel::compile_schema(&schema);
        let errors: Vec<String> = compiled
            .compilation_errors()
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "{}: {}",
            crd.spec.names.kind,
            errors.join("; ")
        );
        rules(&schema, &mut all);
    }
    for rule in &all {
        let warnings = kube_cel::check_rule_scope(rule, kube_cel::ScopeContext::CrdValidation);
        assert!(warnings.is_empty(), "{rule}: {warnings:?}");
    }
    // HelmRelease 1, HelmRepository 1, OCIRepository 2, ClusterSync 1.
    assert_eq!(all.len(), 5, "{all:#?}");
}

#[test]
fn examples_pass_every_rule() {
    for (kind, file) in [
        ("GitRepository", "gitrepository.yaml"),
        ("HelmRepository", "helmrepository.yaml"),
        ("OCIRepository", "ocirepository.yaml"),
        ("Bucket", "bucket.yaml"),
        ("Kustomization", "kustomization.yaml"),
        ("HelmRelease", "helmrelease.yaml"),
        ("ClusterSync", "clustersync.yaml"),
    ] {
        assert_eq!(
            violations(kind, &example(file)),
            Vec::<String>::new(),
            "{file}"
        );
    }
}

#[test]
fn helm_release_needs_exactly_one_of_chart_and_chart_ref() {
    let mut both = example("helmrelease.yaml");
    both["spec"]["chartRef"] = json!({"kind": "OCIRepository", "name": "ingress-nginx-chart"});
    let message = "exactly one of spec.chart and spec.chartRef must be set";
    assert_eq!(violations("HelmRelease", &both), [message]);

    let mut neither = example("helmrelease.yaml");
    neither["spec"].as_object_mut().unwrap().remove("chart");
    assert_eq!(violations("HelmRelease", &neither), [message]);

    let mut chart_ref_only = both.clone();
    chart_ref_only["spec"]
        .as_object_mut()
        .unwrap()
        .remove("chart");
    assert!(violations("HelmRelease", &chart_ref_only).is_empty());
}

#[test]
fn helm_repository_type_matches_url_scheme() {
    let repository = |type_: Option<&str>, url: &str| {
        let mut object = example("helmrepository.yaml");
        object["spec"]["url"] = Value::from(url);
        match type_ {
            Some(t) => object["spec"]["type"] = Value::from(t),
            None => {
                object["spec"].as_object_mut().unwrap().remove("type");
            }
        }
        violations("HelmRepository", &object).is_empty()
    };
    assert!(repository(None, "https://charts.example.com"));
    assert!(repository(Some("oci"), "oci://ghcr.io/acme/charts"));
    assert!(!repository(Some("oci"), "https://charts.example.com"));
    assert!(!repository(None, "oci://ghcr.io/acme/charts"));
    assert!(!repository(Some("default"), "oci://ghcr.io/acme/charts"));
}

#[test]
fn oci_ref_must_select_something() {
    let mut empty = example("ocirepository.yaml");
    empty["spec"]["ref"] = json!({});
    assert_eq!(
        violations("OCIRepository", &empty),
        ["ref must set tag, semver or digest"]
    );

    let mut filter_only = example("ocirepository.yaml");
    filter_only["spec"]["ref"] = json!({"tag": "latest", "semverFilter": ".*-rc.*"});
    assert_eq!(
        violations("OCIRepository", &filter_only),
        ["ref.semverFilter requires ref.semver"]
    );
}

#[test]
fn cluster_sync_is_named_after_its_cluster() {
    let mut object = example("clustersync.yaml");
    object["spec"]["clusterRef"]["name"] = Value::from("another-cluster");
    assert_eq!(violations("ClusterSync", &object).len(), 1);
}
