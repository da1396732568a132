//! Helpers shared by the integration tests: a kubesim cluster over HTTPS and manifests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)] // Tests fail loudly by design.

use flotilla_apply::{Applier, InventoryEntry, Owner};
use flotilla_render::{Object, ObjectSet};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::{Client, Config};
use kubesim::{ClusterHandle, Fleet, FleetConfig, FleetHandle};
use serde_json::{Value, json};

pub async fn start() -> (FleetHandle, Client) {
    let fleet = Fleet::start(FleetConfig::with_clusters(1))
        .await
        .expect("fleet starts");
    let client = client_of(&fleet.clusters()[0]).await;
    (fleet, client)
}

/// A client of `cluster` through its kubeconfig.
pub async fn client_of(cluster: &ClusterHandle) -> Client {
    let kubeconfig = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

pub fn owner() -> Owner {
    Owner {
        kind: "Kustomization".into(),
        namespace: "fleet".into(),
        name: "apps".into(),
    }
}

pub fn set(values: Vec<Value>) -> ObjectSet {
    let objects = values
        .into_iter()
        .enumerate()
        .map(|(i, v)| Object::new(v, &format!("document {i}")).unwrap())
        .collect();
    ObjectSet::new(objects).unwrap()
}

/// What a fresh [`Applier`] of [`owner`] holds in its inventory after applying `objects`.
pub async fn applied(client: &Client, objects: Vec<Value>) -> Vec<InventoryEntry> {
    Applier::new(client.clone(), owner())
        .apply(&set(objects))
        .await
        .unwrap()
        .inventory()
        .into()
}

/// Another actor than Flotilla (kubectl, an operator) server-side applies `patch` to the
/// object of `api` it names, as the field manager of `params`.
pub async fn apply_as(api: &Api<DynamicObject>, params: &PatchParams, patch: Value) {
    let name = patch["metadata"]["name"].as_str().unwrap().to_owned();
    api.patch(&name, params, &Patch::Apply(patch))
        .await
        .unwrap();
}

/// A set of ConfigMap `default/settings` with `data`.
pub fn settings(data: Value) -> ObjectSet {
    set(vec![config_map("default", "settings", data)])
}

/// `applier` applies ConfigMap `default/settings` (`a: 1`), then field manager `manager`
/// server-side applies `edit` (metadata and data of that ConfigMap) to it, as another actor
/// would. The ConfigMaps of `default`.
pub async fn settings_edited_by(
    client: &Client,
    applier: &Applier,
    manager: &str,
    mut edit: Value,
) -> Api<DynamicObject> {
    applier.apply(&settings(json!({"a": "1"}))).await.unwrap();
    let config_maps = api(client, "", "v1", "ConfigMap", Some("default"));
    edit["apiVersion"] = json!("v1");
    edit["kind"] = json!("ConfigMap");
    edit["metadata"]["name"] = json!("settings");
    apply_as(&config_maps, &PatchParams::apply(manager), edit).await;
    config_maps
}

/// A dynamic API for `group/version/kind` (plural: lowercase kind + "s").
pub fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &resource),
        None => Api::all_with(client.clone(), &resource),
    }
}

/// The CustomResourceDefinitions of the cluster `client` talks to.
pub fn crds(client: &Client) -> Api<DynamicObject> {
    api(
        client,
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        None,
    )
}

pub fn crd(plural: &str, kind: &str) -> Value {
    crd_with(plural, kind, json!({"size": {"type": "integer"}}))
}

/// A namespaced CRD in `example.com` whose `spec` has `properties`.
pub fn crd_with(plural: &str, kind: &str, properties: Value) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.example.com")},
        "spec": {
            "group": "example.com",
            "scope": "Namespaced",
            "names": {"plural": plural, "singular": kind.to_lowercase(), "kind": kind, "listKind": format!("{kind}List")},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "properties": {"spec": {"type": "object", "properties": properties}}
                }}
            }]
        }
    })
}

pub fn custom(kind: &str, ns: &str, name: &str, size: Value) -> Value {
    json!({"apiVersion": "example.com/v1", "kind": kind,
           "metadata": {"name": name, "namespace": ns}, "spec": {"size": size}})
}

pub fn config_map(ns: &str, name: &str, data: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data})
}

pub fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
}

pub fn deployment(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]}
            }
        }
    })
}

/// Runs the real kubectl against `kubeconfig`, failing the test on a non-zero exit.
pub fn kubectl(kubeconfig: &std::path::Path, args: &[&str]) -> String {
    let output = std::process::Command::new(flotilla_testkit::tools::kubectl().unwrap())
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
