//! Benchmark (not a test): what one request costs as a cluster fills up.
//!
//! `cargo run --release -p kubesim --example growth -- 8`
//!
//! One cluster (simulated controllers off), one kube-rs client over HTTPS. Before each step
//! it times: a list of ConfigMaps across all namespaces by an owner-label selector matching
//! nothing (what Flotilla's applier sends per resource), 100 server-side applies of new
//! ConfigMaps and of new Services (cluster IPs allocated) into a fresh namespace, and 100
//! gets. Each step then adds 8 namespaces of 500 objects (ConfigMaps and Services labelled
//! like a Flotilla deployer's). With no per-request work that grows with the cluster, every
//! column stays flat.

use futures::StreamExt;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Service};
use kube::Client;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubesim::{Fleet, FleetConfig};
use serde_json::{Value, json};
use std::time::Instant;

/// mimalloc, as in `kubesim serve`, whose costs this example stands for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PER_NAMESPACE: usize = 500;
const NAMESPACES_PER_STEP: usize = 8;
const SAMPLES: usize = 100;

fn object(kind: &str, name: &str, labels: Value) -> Value {
    match kind {
        "Service" => json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "labels": labels}, "spec": {"ports": [{"port": 80}]}}),
        _ => json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "labels": labels}, "data": {"k": "v"}}),
    }
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let ns = serde_json::from_value(json!({"metadata": {"name": name}}))?;
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(())
}

/// Milliseconds per call of `n` sequential calls of `f`.
async fn per_call<F: AsyncFnMut(usize) -> anyhow::Result<()>>(
    n: usize,
    mut f: F,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    for i in 0..n {
        f(i).await?;
    }
    Ok(started.elapsed().as_secs_f64() * 1000.0 / n as f64)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let steps: usize = std::env::args().nth(1).map_or(Ok(8), |s| s.parse())?;
    let fleet =
        Fleet::start(FleetConfig::with_clusters(1).each(|c| c.workloads.enabled = false)).await?;
    let kubeconfig = Kubeconfig::from_yaml(&fleet.clusters()[0].kubeconfig())?;
    let config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    let apply = PatchParams::apply("growth");
    println!(
        "objects | list all namespaces by label, ms | apply ConfigMap, ms | apply Service, ms | get, ms"
    );
    for step in 0..=steps {
        let all: Api<ConfigMap> = Api::all(client.clone());
        let selector =
            ListParams::default().labels("flotilla.dev/name=none,flotilla.dev/kind=Kustomization");
        let list = per_call(20, async |_| Ok(all.list(&selector).await.map(drop)?)).await?;
        let probe = format!("probe-{step}");
        create_namespace(&client, &probe).await?;
        let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &probe);
        let svcs: Api<Service> = Api::namespaced(client.clone(), &probe);
        let cm = per_call(SAMPLES, async |i| {
            let name = format!("c{i}");
            let body = object("ConfigMap", &name, json!({}));
            Ok(cms
                .patch(&name, &apply, &Patch::Apply(body))
                .await
                .map(drop)?)
        })
        .await?;
        let svc = per_call(SAMPLES, async |i| {
            let name = format!("s{i}");
            let body = object("Service", &name, json!({}));
            Ok(svcs
                .patch(&name, &apply, &Patch::Apply(body))
                .await
                .map(drop)?)
        })
        .await?;
        let get = per_call(SAMPLES, async |i| {
            Ok(cms.get(&format!("c{i}")).await.map(drop)?)
        })
        .await?;
        let objects = step * NAMESPACES_PER_STEP * PER_NAMESPACE;
        println!("{objects:7} | {list:8.2} | {cm:6.3} | {svc:6.3} | {get:6.3}");
        for k in 0..NAMESPACES_PER_STEP {
            let ns = format!("fill-{step}-{k}");
            create_namespace(&client, &ns).await?;
            let api = |kind| {
                let resource = match kind {
                    "Service" => kube::discovery::ApiResource::erase::<Service>(&()),
                    _ => kube::discovery::ApiResource::erase::<ConfigMap>(&()),
                };
                Api::<kube::api::DynamicObject>::namespaced_with(client.clone(), &ns, &resource)
            };
            let (cms, svcs) = (api("ConfigMap"), api("Service"));
            let writes = futures::stream::iter(0..PER_NAMESPACE)
                .map(|i| {
                    let (kind, api) = if i % 5 == 0 {
                        ("Service", &svcs)
                    } else {
                        ("ConfigMap", &cms)
                    };
                    let name = format!("o{i}");
                    let labels = json!({"flotilla.dev/name": ns, "flotilla.dev/namespace": "fleet",
                        "flotilla.dev/kind": "Kustomization", "app": name});
                    let body = object(kind, &name, labels);
                    let apply = &apply;
                    async move { api.patch(&name, apply, &Patch::Apply(body)).await.map(drop) }
                })
                .buffer_unordered(8)
                .collect::<Vec<_>>()
                .await;
            writes.into_iter().collect::<Result<Vec<()>, _>>()?;
        }
    }
    fleet.shutdown().await;
    Ok(())
}
