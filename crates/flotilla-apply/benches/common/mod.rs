//! What the apply benchmarks share: the object set (a mix of what a Kustomization
//! deploys), a one-cluster kubesim fleet with a client of it, and fresh namespaces.

use anyhow::{Context, Result};
use flotilla_render::{Object, ObjectSet};
use kube::Client;
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubesim::{Fleet, FleetConfig, FleetHandle};
use serde_json::{Value, json};

/// The benchmark's own arguments (cargo adds `--bench`), each parsed as a `T`.
pub fn args<T: std::str::FromStr>() -> Result<Vec<T>>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .map(|a| a.parse::<T>().with_context(|| format!("argument {a:?}")))
        .collect()
}

/// One kubesim cluster whose simulated controllers are off (their status writes would
/// move resourceVersions), and a client of it through its kubeconfig.
pub async fn cluster() -> Result<(FleetHandle, Client)> {
    let fleet =
        Fleet::start(FleetConfig::with_clusters(1).each(|c| c.workloads.enabled = false)).await?;
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::from_yaml(&fleet.clusters()[0].kubeconfig())?,
        &KubeConfigOptions::default(),
    )
    .await?;
    let client = Client::try_from(config)?;
    Ok((fleet, client))
}

/// The `i`-th object of the set in `namespace`: a mix of what a Kustomization deploys.
pub fn object(i: usize, namespace: &str) -> Value {
    let name = format!("app-{i:03}");
    let labels = json!({"app": name, "tier": "bench"});
    match i % 10 {
        0..=3 => json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "data": {"config.yaml": format!("replicas: {i}\nfeature: on\n"), "index": i.to_string()}}),
        4 | 5 => json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "app", "image": "nginx:1.27",
                        "ports": [{"containerPort": 8080}],
                        "env": [{"name": "INDEX", "value": i.to_string()}],
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}}}}),
        6 | 7 => json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}),
        8 => json!({"apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "type": "Opaque", "data": {"token": "c2VjcmV0"}}),
        _ => json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": namespace, "labels": labels}}),
    }
}

/// The first `n` objects in `namespace`.
pub fn object_set(n: usize, namespace: &str) -> Result<ObjectSet> {
    let objects = (0..n)
        .map(|i| Object::new(object(i, namespace), &format!("object {i}")))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ObjectSet::new(objects)?)
}

/// Creates the Namespace `name`.
pub async fn create_namespace(client: &Client, name: &str) -> Result<()> {
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}}))?,
        )
        .await?;
    Ok(())
}
