//! Drift queries at fleet scale (DESIGN.md §10: a per-cluster drift report from 10^6 drift
//! rows in under 100 ms).
//!
//! Fills 1,000 clusters × 2 deployers × 50 objects: 900,000 resolved events of history
//! (bulk-generated) plus 100,000 open events written through `record_drift` in batches,
//! then times the read paths. Uses `DATABASE_URL` when set, else an embedded server.
//!
//! `cargo run --release -p flotilla-store --example drift_bench`

use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use flotilla_store::embedded::EmbeddedPostgres;
use flotilla_store::{
    ClusterUpsert, DeployerKind, DriftKind, DriftObservation, DriftSummaryGrouping,
    ObjectDriftQuery, ObjectRef, Store,
};

const CLUSTERS: usize = 1_000;
const OBJECTS: usize = 50;
const HISTORY_PER_OBJECT: i32 = 9;
const BATCH: usize = 2_000;
const SAMPLES: usize = 200;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (store, server) = match std::env::var("DATABASE_URL") {
        Ok(url) => (Store::connect(&url).await?, None),
        Err(_) => {
            let server = EmbeddedPostgres::start().await?;
            (Store::connect(server.url()).await?, Some(server))
        }
    };
    store.migrate().await?;
    let result = run(&store).await;
    store.close().await;
    if let Some(server) = server {
        server.stop().await?;
    }
    result
}

async fn run(store: &Store) -> anyhow::Result<()> {
    let mut clusters = Vec::with_capacity(CLUSTERS);
    for i in 0..CLUSTERS {
        let cluster = store
            .upsert_cluster(&ClusterUpsert {
                namespace: "bench".into(),
                name: format!("cluster-{i:04}"),
                labels: Default::default(),
            })
            .await?;
        clusters.push(cluster.id);
    }
    let deployers = [
        store
            .upsert_deployer(DeployerKind::Kustomization, "bench", "apps")
            .await?
            .id,
        store
            .upsert_deployer(DeployerKind::HelmRelease, "bench", "redis")
            .await?
            .id,
    ];

    let started = Instant::now();
    let history = sqlx::query(
        "INSERT INTO drift_events
             (cluster_id, deployer_id, object_group, kind, namespace, name, drift_kind,
              changed_paths, field_managers, observed_hash, detected_at, last_detected_at,
              resolved_at, resolution)
         SELECT c.id, d.id, 'apps', 'Deployment', 'web', 'object-' || o, 'modified',
                ARRAY['/spec/replicas'], ARRAY['kubectl-edit'], 'sha256:' || md5(random()::text),
                now() - make_interval(hours => h + 1), now() - make_interval(hours => h + 1),
                now() - make_interval(hours => h), 'corrected'
           FROM clusters c CROSS JOIN deployers d
                CROSS JOIN generate_series(0, $1 - 1) AS o
                CROSS JOIN generate_series(1, $2) AS h",
    )
    .bind(OBJECTS as i32)
    .bind(HISTORY_PER_OBJECT)
    .execute(store.pool())
    .await
    .context("generating history")?;
    println!(
        "history: {} resolved events in {:.1?}",
        history.rows_affected(),
        started.elapsed()
    );

    let now = Utc::now();
    let observations: Vec<DriftObservation> = clusters
        .iter()
        .flat_map(|&cluster_id| {
            deployers.iter().flat_map(move |&deployer_id| {
                (0..OBJECTS).map(move |o| DriftObservation {
                    cluster_id,
                    deployer_id,
                    object: ObjectRef::new("apps", "Deployment", "web", format!("object-{o}")),
                    kind: DriftKind::Modified,
                    changed_paths: vec!["/spec/replicas".into(), "/metadata/labels/x".into()],
                    field_managers: vec!["kubectl-edit".into()],
                    observed_hash: Some("sha256:00".into()),
                    detected_at: now,
                })
            })
        })
        .collect();
    let started = Instant::now();
    for batch in observations.chunks(BATCH) {
        store.record_drift(batch).await?;
    }
    let elapsed = started.elapsed();
    println!(
        "open: {} events via record_drift in batches of {BATCH}: {elapsed:.1?} ({:.0} events/s)",
        observations.len(),
        observations.len() as f64 / elapsed.as_secs_f64()
    );
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM drift_events")
        .fetch_one(store.pool())
        .await?;
    // What autovacuum would have done by now on a live system.
    sqlx::query("VACUUM ANALYZE drift_events")
        .execute(store.pool())
        .await?;
    println!("drift_events rows: {total}");

    let step = CLUSTERS / SAMPLES;
    let mut report = Vec::with_capacity(SAMPLES);
    for &cluster_id in clusters.iter().step_by(step) {
        let started = Instant::now();
        let rows = store.cluster_drift_report(cluster_id).await?;
        report.push(started.elapsed());
        anyhow::ensure!(rows.len() == 2 * OBJECTS, "report has {} rows", rows.len());
    }
    print_timings("cluster_drift_report (100 open events)", &mut report);

    let mut history = Vec::with_capacity(SAMPLES);
    for &cluster_id in clusters.iter().step_by(step) {
        let query = ObjectDriftQuery {
            cluster_id,
            object: ObjectRef::new("apps", "Deployment", "web", "object-7"),
            limit: 50,
        };
        let started = Instant::now();
        let rows = store.object_drift_history(&query).await?;
        history.push(started.elapsed());
        anyhow::ensure!(rows.len() == 2 * (HISTORY_PER_OBJECT as usize + 1));
    }
    print_timings("object_drift_history (20 events)", &mut history);

    for grouping in [
        DriftSummaryGrouping::Deployer,
        DriftSummaryGrouping::DeployerClusterKind,
    ] {
        let mut summary = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            store.fleet_open_drift(grouping).await?;
            summary.push(started.elapsed());
        }
        print_timings(&format!("fleet_open_drift({grouping:?})"), &mut summary);
    }
    Ok(())
}

fn print_timings(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    println!(
        "{what}: n={} p50={:.2?} p99={:.2?} max={:.2?}",
        samples.len(),
        at(0.5),
        at(0.99),
        at(1.0)
    );
}
