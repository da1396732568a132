//! Fleet-scale rendering: an overlay of 500 objects rendered for 1,000 clusters.
//!
//! kustomize runs once per (revision, deployer) and substitution once per cluster; this
//! prints both costs and compares them with running kustomize for every cluster, which is
//! what a per-cluster `kustomize build | envsubst` pipeline would do.
//!
//! `make tools && cargo bench -p flotilla-render` (`-- --clusters N --objects N` to vary).

#![allow(clippy::unwrap_used, clippy::expect_used)] // A bench fails loudly by design.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use flotilla_api::KustomizationSpec;
use flotilla_render::{ClusterInfo, Kustomize, PostBuildVariables, Strictness};

/// Kinds in the base, in turn; each templated with per-cluster variables.
fn write_base(dir: &Path, objects: usize) {
    let mut resources = Vec::new();
    for i in 0..objects {
        let name = format!("o{i:04}.yaml");
        let manifest = if i % 2 == 0 {
            format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{i}\n  labels:\n    region: ${{cluster_label_region}}\nspec:\n  replicas: ${{replicas:=2}}\n  selector:\n    matchLabels: {{app: app-{i}}}\n  template:\n    metadata:\n      labels: {{app: app-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example.com/app-{i}:${{version}}\n        env:\n        - {{name: CLUSTER, value: \"${{cluster_name}}\"}}\n        - {{name: HOST, value: \"${{host}}\"}}\n        resources:\n          requests: {{cpu: 10m, memory: 32Mi}}\n"
            )
        } else {
            format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config-{i}\ndata:\n  cluster: ${{cluster_name}}\n  static: unchanged-value-{i}\n  script: |\n    echo $HOME\n"
            )
        };
        fs::write(dir.join(&name), manifest).unwrap();
        resources.push(name);
    }
    fs::write(
        dir.join("kustomization.yaml"),
        serde_json::json!({"resources": resources}).to_string(),
    )
    .unwrap();
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().expect("a number"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let clusters = arg("--clusters", 1000);
    let objects = arg("--objects", 500);
    let kubectl = flotilla_testkit::tools::kubectl().expect("kubectl (run `make tools`)");
    let kustomize = Kustomize::new(kubectl);

    let artifact = tempfile::tempdir().unwrap();
    fs::create_dir_all(artifact.path().join("base")).unwrap();
    write_base(&artifact.path().join("base"), objects);
    let spec: KustomizationSpec = serde_json::from_value(serde_json::json!({
        "sourceRef": {"kind": "GitRepository", "name": "bench"},
        "interval": "5m",
        "prune": true,
        "path": "base",
        "targetNamespace": "apps",
        "namePrefix": "fleet-",
        "patches": [{"patch": "- op: add\n  path: /metadata/annotations\n  value: {patched: \"true\"}\n", "target": {"kind": "Deployment"}}],
        "commonMetadata": {"labels": {"team": "platform"}},
    }))
    .unwrap();

    // kustomize: a few builds, to know what running it per cluster would cost.
    let builds = 5;
    let mut build_times = Vec::new();
    let mut built = None;
    for _ in 0..builds {
        let started = Instant::now();
        built = Some(kustomize.build(artifact.path(), &spec).await.unwrap());
        build_times.push(started.elapsed());
    }
    let built = built.unwrap();
    build_times.sort();
    let build = build_times[builds / 2];
    assert_eq!(built.len(), objects);

    let substitute: BTreeMap<String, String> = [
        ("version", "1.4.2"),
        ("host", "web.${cluster_name}.example.com"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    let post = PostBuildVariables::new(&substitute, &[]).unwrap();
    let fleet: Vec<ClusterInfo> = (0..clusters)
        .map(|i| ClusterInfo {
            name: format!("cluster-{i:04}"),
            namespace: "fleet".into(),
            labels: [("region".to_owned(), format!("r{}", i % 7))].into(),
            annotations: BTreeMap::new(),
        })
        .collect();

    let started = Instant::now();
    let mut rendered = 0;
    for cluster in &fleet {
        let vars = post.for_cluster(cluster).unwrap();
        let set = built.for_cluster(&vars, Strictness::Strict).unwrap();
        rendered += set.len();
    }
    let substitution = started.elapsed();
    assert_eq!(rendered, objects * clusters);

    let once = build + substitution;
    let per_cluster_kustomize = build * u32::try_from(clusters).unwrap() + substitution;
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!("fleet render: {objects} objects x {clusters} clusters");
    println!(
        "  kustomize build (median of {builds}):  {:>10.1} ms",
        ms(build)
    );
    println!(
        "  substitution, all clusters:        {:>10.1} ms  ({:.3} ms per cluster, {:.2} us per object)",
        ms(substitution),
        ms(substitution) / clusters as f64,
        ms(substitution) * 1000.0 / rendered as f64
    );
    println!(
        "  build once + substitute per cluster: {:>9.1} ms",
        ms(once)
    );
    println!(
        "  kustomize per cluster (estimated):  {:>10.1} ms  -> build-once is {:.0}x faster",
        ms(per_cluster_kustomize),
        per_cluster_kustomize.as_secs_f64() / once.as_secs_f64()
    );
}
