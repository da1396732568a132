//! `manifests/examples/`: one realistic object of every kind. Each must parse into the
//! Rust types and satisfy the generated schema, and the schema must require what the
//! documentation says is required.

// Test helpers outside #[test] functions panic on bad fixtures too.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use flotilla_api::cluster_sync::DeploymentState;
use flotilla_api::fleet::{ClusterTarget, Deployer};
use flotilla_api::references::{ChartSourceKind, KustomizationSourceKind};
use flotilla_api::{
    Bucket, ClusterSync, DeployerKind, DriftMode, GitRepository, HelmRelease, HelmRepository,
    Kustomization, OCIRepository, Revision, crds,
};
use serde::de::DeserializeOwned;
use serde_json::Value;
use support::{Validator, crd_schema, manifests, yaml_files, yaml_value};

fn example<T: DeserializeOwned>(file: &str) -> T {
    let path = manifests("examples").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Flotilla objects among the examples (the app manifests under `apps/` are not).
fn flotilla_examples() -> Vec<(String, Value)> {
    yaml_files(&manifests("examples"))
        .iter()
        .map(|path| (file_name(path), yaml_value(path)))
        .filter(|(_, value)| value["apiVersion"] == "flotilla.dev/v1alpha1")
        .collect()
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_kind_has_an_example() {
    let kinds: BTreeSet<String> = flotilla_examples()
        .iter()
        .map(|(_, value)| value["kind"].as_str().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = crds::all()
        .into_iter()
        .map(|crd| crd.spec.names.kind)
        .collect();
    assert_eq!(kinds, expected);
}

#[test]
fn examples_satisfy_the_generated_schemas() {
    let schemas: BTreeMap<String, Value> = crds::all()
        .iter()
        .map(|crd| (crd.spec.names.kind.clone(), crd_schema(crd)))
        .collect();
    for (file, value) in flotilla_examples() {
        let kind = value["kind"].as_str().unwrap();
        let mut body = value.clone();
        // The API server checks these itself; CRD schemas do not describe them.
        for implicit in ["apiVersion", "kind", "metadata"] {
            body.as_object_mut().unwrap().remove(implicit);
        }
        let errors = Validator::new().validate(&schemas[kind], &body);
        assert!(errors.is_empty(), "{file}:\n{}", errors.join("\n"));
    }
}

#[test]
fn schema_validation_catches_a_broken_example() {
    let schema = crd_schema(&crds::all().remove(4));
    let mut value: Value = yaml_value(&manifests("examples").join("kustomization.yaml"));
    value.as_object_mut().unwrap().remove("metadata");
    value["spec"].as_object_mut().unwrap().remove("prune");
    value["spec"]["interval"] = Value::from("10 minutes");
    value["spec"]["dependsOn"][0]["kind"] = Value::from("Deployment");
    value["spec"]["sourceRef"]["nmae"] = Value::from("typo");
    let text = Validator::new().validate(&schema, &value).join("\n");
    assert!(
        text.contains(".spec: missing required field \"prune\""),
        "{text}"
    );
    assert!(
        text.contains(".spec.interval: \"10 minutes\" does not match"),
        "{text}"
    );
    assert!(
        text.contains(".spec.dependsOn[0].kind: \"Deployment\" is not one of"),
        "{text}"
    );
    assert!(
        text.contains(".spec.sourceRef.nmae: unknown field"),
        "{text}"
    );
}

/// The fields the API documentation marks as required, object by object.
#[test]
fn schemas_require_what_the_docs_say() {
    let required: &[(&str, &str, &[&str])] = &[
        ("GitRepository", "spec", &["interval", "url"]),
        ("HelmRepository", "spec", &["url"]),
        ("OCIRepository", "spec", &["interval", "url"]),
        ("Bucket", "spec", &["bucketName", "endpoint", "interval"]),
        ("Kustomization", "spec", &["interval", "prune", "sourceRef"]),
        ("Kustomization", "spec.sourceRef", &["kind", "name"]),
        ("Kustomization", "spec.dependsOn[]", &["kind", "name"]),
        (
            "Kustomization",
            "spec.postBuild.substituteFrom[]",
            &["kind", "name"],
        ),
        ("Kustomization", "spec.driftDetection.ignore[]", &["paths"]),
        ("HelmRelease", "spec", &["interval"]),
        ("HelmRelease", "spec.chart", &["spec"]),
        ("HelmRelease", "spec.chart.spec", &["chart", "sourceRef"]),
        ("HelmRelease", "spec.chartRef", &["kind", "name"]),
        ("HelmRelease", "spec.dependsOn[]", &["kind", "name"]),
        ("HelmRelease", "spec.valuesFrom[]", &["kind", "name"]),
        ("ClusterSync", "spec", &["clusterRef"]),
        (
            "ClusterSync",
            "status.deployers[]",
            &["kind", "name", "namespace", "state"],
        ),
    ];
    let crds = crds::all();
    for (kind, path, fields) in required {
        let crd = crds.iter().find(|c| c.spec.names.kind == *kind).unwrap();
        let mut node = crd_schema(crd);
        assert!(
            node["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from("spec")),
            "{kind}"
        );
        for step in path.split('.') {
            node = match step.strip_suffix("[]") {
                Some(field) => node["properties"][field]["items"].clone(),
                None => node["properties"][step].clone(),
            };
        }
        let mut found: Vec<&str> = node["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        found.sort_unstable();
        assert_eq!(found, *fields, "{kind} {path}");
    }
}

#[test]
fn helm_release_requires_exactly_one_chart_source() {
    let crd = crds::all().remove(5);
    let rules = &crd_schema(&crd)["properties"]["spec"]["x-kubernetes-validations"];
    assert_eq!(rules[0]["rule"], "has(self.chart) != has(self.chartRef)");
}

#[test]
fn sources_parse() {
    let git: GitRepository = example("gitrepository.yaml");
    assert_eq!(git.spec.reference.unwrap().branch.as_deref(), Some("main"));
    assert_eq!(std::time::Duration::from(git.spec.interval).as_secs(), 60);

    let helm: HelmRepository = example("helmrepository.yaml");
    assert!(helm.spec.url.starts_with("https://"));

    let oci: OCIRepository = example("ocirepository.yaml");
    assert_eq!(
        oci.spec.reference.unwrap().semver.as_deref(),
        Some(">=6.5.0 <7.0.0")
    );

    let bucket: Bucket = example("bucket.yaml");
    assert_eq!(bucket.spec.bucket_name, "acme-fleet-config");
    assert_eq!(
        std::time::Duration::from(bucket.spec.timeout.unwrap()).as_secs(),
        90
    );
}

#[test]
fn fleet_kustomization_parses() {
    let ks: Kustomization = example("kustomization.yaml");
    assert_eq!(
        ks.spec.source_ref.kind,
        KustomizationSourceKind::GitRepository
    );
    assert!(ks.spec.prune);
    assert_eq!(ks.spec.depends_on[0].kind, DeployerKind::HelmRelease);
    assert_eq!(ks.spec.depends_on[0].namespace_or("fleet"), "fleet");
    let post_build = ks.spec.post_build.as_ref().unwrap();
    assert!(post_build.substitute["web_host"].contains("${cluster_name}"));
    assert_eq!(ks.spec.drift_detection.mode, DriftMode::Correct);

    let target = ks.spec.cluster_target().unwrap();
    assert!(target.selects(
        "prod-eu-1",
        &labels(&[("env", "production"), ("region", "eu-west")])
    ));
    assert!(!target.selects(
        "prod-ap-1",
        &labels(&[("env", "production"), ("region", "ap-south")])
    ));
    assert!(!target.selects(
        "dev-eu-1",
        &labels(&[("env", "dev"), ("region", "eu-west")])
    ));
    assert!(target.selects("staging-canary", &labels(&[])));
}

#[test]
fn helm_release_parses() {
    let hr: HelmRelease = example("helmrelease.yaml");
    let chart = hr.spec.chart.as_ref().unwrap();
    assert_eq!(chart.spec.source_ref.kind, ChartSourceKind::HelmRepository);
    assert!(hr.spec.chart_ref.is_none());
    let install = hr
        .spec
        .install
        .as_ref()
        .unwrap()
        .remediation
        .as_ref()
        .unwrap();
    assert_eq!(install.retries, Some(3));
    let upgrade = hr
        .spec
        .upgrade
        .as_ref()
        .unwrap()
        .remediation
        .as_ref()
        .unwrap();
    assert_eq!(upgrade.remediate_last_failure, Some(true));
    let values = hr.spec.values.as_ref().unwrap();
    assert_eq!(values["controller"]["replicaCount"], 2);
    assert_eq!(hr.spec.drift_detection.mode, DriftMode::Detect);
    assert!(matches!(
        hr.spec.cluster_target().unwrap(),
        ClusterTarget::Workload { .. }
    ));
}

#[test]
fn cluster_sync_parses() {
    let sync: ClusterSync = example("clustersync.yaml");
    assert_eq!(
        sync.metadata.name.as_deref(),
        Some(sync.spec.cluster_ref.name.as_str())
    );
    let status = sync.status.unwrap();
    assert_eq!(
        status.summary,
        flotilla_api::cluster_sync::ClusterSyncSummary::of(&status.deployers)
    );
    let web = status.deployers.iter().find(|d| d.name == "web").unwrap();
    assert_eq!(web.state, DeploymentState::Progressing);
    let revision: Revision = web.revision.as_deref().unwrap().parse().unwrap();
    assert_eq!(revision.name(), Some("main"));
}

#[test]
fn missing_required_field_fails_to_parse() {
    let text = std::fs::read_to_string(manifests("examples").join("kustomization.yaml")).unwrap();
    let without_prune = text.replace("  prune: true\n", "");
    assert_ne!(text, without_prune);
    let error = serde_saphyr::from_str::<Kustomization>(&without_prune).unwrap_err();
    assert!(error.to_string().contains("prune"), "{error}");
}
