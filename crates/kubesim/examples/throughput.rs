//! Benchmark (not a test): request throughput against one cluster, with kube-rs over HTTPS.
//!
//! `cargo run --release -p kubesim --example throughput -- 1000`
//!
//! Starts one cluster on loopback and, with one kube-rs client making sequential requests,
//! times: creates (POST), server-side applies (`Patch::Apply`, field manager `bench`) of
//! ConfigMaps and Deployments, first (the create path) and again unchanged (the no-op path),
//! gets, and lists of the N ConfigMaps (decoded by kube-rs, and as raw bytes). Then watches:
//! one task writes N more ConfigMaps while another receives them on a kube-rs watch stream,
//! once back to back and once paced at one write per millisecond; reports events/s and the
//! time from sending a write to receiving its ADDED event (median, p99). Each kind of
//! request goes to its own namespace so lists see exactly N objects. Prints one table.

use anyhow::{Context, ensure};
use futures::TryStreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Resource};
use kubesim::{Fleet, FleetConfig};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// mimalloc, as in `kubesim serve`, whose costs this example stands for.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const LISTS: usize = 20;

fn config_map(name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"bench": "kubesim"}},
        "data": {"key": "value", "mode": "bench"}
    })
}

fn deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{
                    "name": "app", "image": "nginx:1.27",
                    "ports": [{"containerPort": 80}],
                    "env": [{"name": "MODE", "value": "bench"}]
                }]}
            }
        }
    })
}

fn rv<K: Resource>(object: &K) -> anyhow::Result<String> {
    object
        .meta()
        .resource_version
        .clone()
        .context("no resourceVersion")
}

struct Row {
    what: String,
    count: usize,
    elapsed: Duration,
}

fn row(what: impl Into<String>, count: usize, elapsed: Duration) -> Row {
    Row {
        what: what.into(),
        count,
        elapsed,
    }
}

/// Applies `body(name)` for names `{prefix}-0 … {prefix}-{n-1}`; returns the resourceVersions.
async fn apply_all<K>(
    api: &Api<K>,
    prefix: &str,
    n: usize,
    body: fn(&str) -> Value,
) -> anyhow::Result<(Duration, Vec<String>)>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = PatchParams::apply("bench");
    let mut versions = Vec::with_capacity(n);
    let t = Instant::now();
    for i in 0..n {
        let name = format!("{prefix}-{i}");
        let applied = api
            .patch(&name, &params, &Patch::Apply(body(&name)))
            .await?;
        versions.push(rv(&applied)?);
    }
    Ok((t.elapsed(), versions))
}

/// Watches `api` from its current resourceVersion while another task creates `{prefix}-0 …`
/// (one every `pace`, or back to back); returns the time from the first write to the last
/// ADDED event, and each object's time from sending its write to receiving its event, sorted.
async fn watch_run(
    api: &Api<ConfigMap>,
    prefix: &str,
    n: usize,
    pace: Option<Duration>,
) -> anyhow::Result<(Duration, Vec<Duration>)> {
    let from = api
        .list(&ListParams::default().limit(1))
        .await?
        .metadata
        .resource_version;
    let from = from.context("list without resourceVersion")?;
    let mut stream = Box::pin(
        api.watch(&WatchParams::default().timeout(120), &from)
            .await?,
    );
    let writer = {
        let (api, prefix) = (api.clone(), prefix.to_string());
        tokio::spawn(async move {
            let mut tick = pace.map(tokio::time::interval);
            let mut sent = Vec::with_capacity(n);
            for i in 0..n {
                if let Some(tick) = &mut tick {
                    tick.tick().await;
                }
                let cm = serde_json::from_value(config_map(&format!("{prefix}-{i}")))?;
                sent.push(Instant::now());
                api.create(&PostParams::default(), &cm).await?;
            }
            anyhow::Ok(sent)
        })
    };
    let mut received: Vec<Option<Instant>> = vec![None; n];
    let mut seen = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while seen < n {
        let next = tokio::time::timeout_at(deadline, stream.try_next()).await;
        let event = next
            .context("watch: timed out")??
            .context("watch: stream ended")?;
        if let WatchEvent::Added(cm) = event {
            let name = cm.metadata.name.context("event without name")?;
            let i: usize = name.trim_start_matches(&format!("{prefix}-")).parse()?;
            if received[i].replace(Instant::now()).is_none() {
                seen += 1;
            }
        }
    }
    let sent = writer.await??;
    let last = received.iter().flatten().max().context("no events")?;
    let mut latency: Vec<Duration> = sent
        .iter()
        .zip(&received)
        .filter_map(|(s, r)| r.map(|r| r.saturating_duration_since(*s)))
        .collect();
    latency.sort();
    Ok((last.saturating_duration_since(sent[0]), latency))
}

fn ms(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(1000);
    ensure!(n > 0, "N must be positive");
    // The API machinery alone: simulated controllers would write Deployment status and
    // move the resourceVersions the unchanged-apply check compares.
    let fleet =
        Fleet::start(FleetConfig::with_clusters(1).each(|c| c.workloads.enabled = false)).await?;
    let kc = Kubeconfig::from_yaml(&fleet.clusters()[0].kubeconfig())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in ["bench-create", "bench-apply", "bench-watch"] {
        let body = serde_json::from_value(json!({"metadata": {"name": ns}}))?;
        namespaces.create(&PostParams::default(), &body).await?;
    }
    let mut rows = Vec::new();

    let created: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-create");
    let t = Instant::now();
    for i in 0..n {
        let cm = serde_json::from_value(config_map(&format!("cm-{i}")))?;
        created.create(&PostParams::default(), &cm).await?;
    }
    rows.push(row("create ConfigMap (POST)", n, t.elapsed()));

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-apply");
    let deps: Api<Deployment> = Api::namespaced(client.clone(), "bench-apply");
    let (first, v1) = apply_all(&cms, "cm", n, config_map).await?;
    let (again, v2) = apply_all(&cms, "cm", n, config_map).await?;
    ensure!(
        v1 == v2,
        "an unchanged ConfigMap apply changed a resourceVersion"
    );
    rows.push(row("apply ConfigMap, new", n, first));
    rows.push(row("apply ConfigMap, unchanged", n, again));
    let (first, v1) = apply_all(&deps, "deploy", n, deployment).await?;
    let (again, v2) = apply_all(&deps, "deploy", n, deployment).await?;
    ensure!(
        v1 == v2,
        "an unchanged Deployment apply changed a resourceVersion"
    );
    rows.push(row("apply Deployment, new", n, first));
    rows.push(row("apply Deployment, unchanged", n, again));

    let t = Instant::now();
    for i in 0..n {
        created.get(&format!("cm-{i}")).await?;
    }
    let get_time = t.elapsed();
    rows.push(row("get ConfigMap", n, get_time));
    let t = Instant::now();
    for _ in 0..LISTS {
        let list = created.list(&ListParams::default()).await?;
        ensure!(
            list.items.len() == n,
            "list returned {} items",
            list.items.len()
        );
    }
    rows.push(row(format!("list {n} ConfigMaps"), LISTS, t.elapsed()));
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..LISTS {
        let request = http::Request::get("/api/v1/namespaces/bench-create/configmaps");
        bytes = client.request_text(request.body(Vec::new())?).await?.len();
    }
    rows.push(row(format!("list {n}, raw bytes"), LISTS, t.elapsed()));

    let watched: Api<ConfigMap> = Api::namespaced(client.clone(), "bench-watch");
    let (busy, busy_latency) = watch_run(&watched, "w", n, None).await?;
    rows.push(row("watch, writes back to back", n, busy));
    let pace = Duration::from_millis(1);
    let (paced, paced_latency) = watch_run(&watched, "p", n, Some(pace)).await?;
    rows.push(row("watch, a write per ms", n, paced));

    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    println!(
        "kubesim, one cluster, one kube-rs client, sequential requests over HTTPS \
         (loopback), {build} build, N = {n}"
    );
    println!(
        "{:<30} {:>6} {:>9} {:>10} {:>9} {:>8}",
        "operation", "count", "seconds", "per second", "ms each", "x a get"
    );
    let get_each = get_time.as_secs_f64() / n as f64;
    for r in &rows {
        let secs = r.elapsed.as_secs_f64();
        let each = secs / r.count as f64;
        println!(
            "{:<30} {:>6} {:>9.3} {:>10.1} {:>9.3} {:>8.2}",
            r.what,
            r.count,
            secs,
            r.count as f64 / secs,
            each * 1000.0,
            each / get_each
        );
    }
    println!(
        "(a list of {n} is {} KiB of JSON; watch rows count events received)",
        bytes / 1024
    );
    for (what, l) in [
        ("back to back", &busy_latency),
        ("a write per ms", &paced_latency),
    ] {
        println!(
            "watch, {what}: write sent -> ADDED received: median {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(l, 0.5),
            ms(l, 0.99),
            ms(l, 1.0)
        );
    }
    fleet.shutdown().await;
    Ok(())
}
