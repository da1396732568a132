//! Benchmark (not a test): memory per idle cluster, and request throughput on one cluster.
//!
//! `cargo run --release -p kubesim --example fleet_memory -- 1000`
//!
//! Starts N clusters, reports the process's resident memory before and after (from
//! /proc/self/status), then times creates, gets and lists of ConfigMaps against one cluster
//! over HTTPS with kube-rs.

use anyhow::Context;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kubesim::{Fleet, FleetConfig};
use std::time::Instant;

fn rss_kib() -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .context("no VmRSS")?;
    Ok(line
        .split_whitespace()
        .nth(1)
        .context("VmRSS value")?
        .parse()?)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);
    // Load the shared definitions first so they do not count as per-cluster cost.
    let warm = Fleet::start(FleetConfig::with_clusters(1)).await?;
    let before = rss_kib()?;
    let started = Instant::now();
    let fleet = Fleet::start(FleetConfig::with_clusters(n)).await?;
    let start_time = started.elapsed();
    let after = rss_kib()?;
    println!(
        "{n} clusters started in {:.2?}; RSS {} MiB -> {} MiB; {:.1} KiB per idle cluster \
         (the fleet's own copy of the definitions included)",
        start_time,
        before / 1024,
        after / 1024,
        (after.saturating_sub(before)) as f64 / n as f64
    );

    let cluster = &warm.clusters()[0];
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let api: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(config)?, "default");
    let count = 1000;
    let t = Instant::now();
    for i in 0..count {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("cm-{i}")}, "data": {"k": "v"}
        }))?;
        api.create(&PostParams::default(), &cm).await?;
    }
    let create = t.elapsed();
    let t = Instant::now();
    for i in 0..count {
        api.get(&format!("cm-{i}")).await?;
    }
    let get = t.elapsed();
    let t = Instant::now();
    for _ in 0..20 {
        api.list(&ListParams::default()).await?;
    }
    let list = t.elapsed();
    println!(
        "one cluster, sequential over HTTPS: {:.0} creates/s, {:.0} gets/s, {:.1} lists/s of {count} objects",
        count as f64 / create.as_secs_f64(),
        count as f64 / get.as_secs_f64(),
        20.0 / list.as_secs_f64()
    );
    fleet.shutdown().await;
    warm.shutdown().await;
    Ok(())
}
