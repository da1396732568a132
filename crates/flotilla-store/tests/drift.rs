//! Drift events: open, widen, resolve, report, summarise, history.

use chrono::{DateTime, Duration, Utc};
use flotilla_store::{
    ClusterUpsert, DeployerKind, DeployerStateUpdate, DeployerStatus, DriftKind, DriftObservation,
    DriftResolution, DriftSummaryGrouping, ObjectDriftQuery, ObjectRef, Store,
};
use flotilla_testkit::postgres::TestDb;

struct Fleet {
    clusters: Vec<i64>,
    apps: i64,
    redis: i64,
}

async fn fleet(store: &Store) -> anyhow::Result<Fleet> {
    let mut clusters = Vec::new();
    for name in ["c1", "c2", "c3"] {
        let cluster = store
            .upsert_cluster(&ClusterUpsert {
                namespace: "fleet".into(),
                name: name.into(),
                labels: Default::default(),
            })
            .await?;
        clusters.push(cluster.id);
    }
    let apps = store
        .upsert_deployer(DeployerKind::Kustomization, "fleet", "apps")
        .await?
        .id;
    let redis = store
        .upsert_deployer(DeployerKind::HelmRelease, "fleet", "redis")
        .await?
        .id;
    Ok(Fleet {
        clusters,
        apps,
        redis,
    })
}

fn deployment(name: &str) -> ObjectRef {
    ObjectRef::new("apps", "Deployment", "web", name)
}

fn observed(
    cluster_id: i64,
    deployer_id: i64,
    object: ObjectRef,
    paths: &[&str],
    manager: &str,
    at: DateTime<Utc>,
) -> DriftObservation {
    DriftObservation {
        cluster_id,
        deployer_id,
        object,
        kind: DriftKind::Modified,
        changed_paths: paths.iter().map(|p| (*p).to_owned()).collect(),
        field_managers: vec![manager.to_owned()],
        observed_hash: Some(format!("sha256:{:064x}", at.timestamp_micros())),
        detected_at: at,
    }
}

#[tokio::test]
async fn drift_opens_widens_resolves_and_stays_in_history() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let store = &db.store;
    let f = fleet(store).await?;
    let c1 = f.clusters[0];
    store
        .record_deployer_state(&DeployerStateUpdate {
            cluster_id: c1,
            deployer_id: f.apps,
            status: DeployerStatus::Ready,
            message: String::new(),
            attempted_revision: None,
            applied_revision: Some("main@sha1:1".into()),
        })
        .await?;
    let t0 = Utc::now() - Duration::minutes(10);

    let first = store
        .record_drift(&[
            observed(
                c1,
                f.apps,
                deployment("web"),
                &["/spec/replicas"],
                "kubectl-edit",
                t0,
            ),
            // The same object twice in one batch merges into one event.
            observed(
                c1,
                f.apps,
                deployment("web"),
                &["/spec/template/spec/containers/0/image"],
                "kubectl-set",
                t0 + Duration::seconds(1),
            ),
            observed(
                c1,
                f.apps,
                ObjectRef::new("", "Secret", "web", "db"),
                &["/data/password"],
                "kubectl-edit",
                t0,
            ),
        ])
        .await?;
    assert_eq!(first.len(), 2);
    let state = store.deployer_state(c1, f.apps).await?;
    assert_eq!(state.map(|s| s.drifted_count), Some(2));

    // Seen again later with another path: the open event widens rather than duplicates.
    let again = store
        .record_drift(&[observed(
            c1,
            f.apps,
            deployment("web"),
            &["/metadata/labels/team"],
            "helm",
            t0 + Duration::minutes(1),
        )])
        .await?;
    assert!(first.contains(&again[0]));

    let report = store.cluster_drift_report(c1).await?;
    assert_eq!(report.len(), 2);
    let web = report
        .iter()
        .find(|e| e.object == deployment("web"))
        .ok_or_else(|| anyhow::anyhow!("web drift missing"))?;
    assert_eq!(
        web.changed_paths,
        [
            "/metadata/labels/team",
            "/spec/replicas",
            "/spec/template/spec/containers/0/image"
        ]
    );
    assert_eq!(web.field_managers, ["helm", "kubectl-edit", "kubectl-set"]);
    assert_eq!(web.detected_at.timestamp_micros(), t0.timestamp_micros());
    assert_eq!(
        web.last_detected_at.timestamp_micros(),
        (t0 + Duration::minutes(1)).timestamp_micros()
    );
    assert_eq!(
        (web.cluster_name.as_str(), web.deployer_name.as_str()),
        ("c1", "apps")
    );
    assert_eq!(web.resolution, None);
    // Only a hash of the Secret's drifted data is kept.
    let secret = report
        .iter()
        .find(|e| e.object.kind == "Secret")
        .ok_or_else(|| anyhow::anyhow!("secret drift missing"))?;
    assert!(
        secret
            .observed_hash
            .as_deref()
            .is_some_and(|h| h.starts_with("sha256:"))
    );

    // Corrected: gone from the open report, still in the object's history.
    let resolved_at = t0 + Duration::minutes(2);
    let closed = store
        .resolve_drift(
            c1,
            f.apps,
            &[deployment("web"), deployment("absent")],
            DriftResolution::Corrected,
            resolved_at,
        )
        .await?;
    assert_eq!(closed, 1);
    let report = store.cluster_drift_report(c1).await?;
    assert_eq!(report.len(), 1);
    assert_eq!(report[0].object.kind, "Secret");
    let state = store.deployer_state(c1, f.apps).await?;
    assert_eq!(state.map(|s| s.drifted_count), Some(1));

    // A replayed (buffered) observation older than the resolution does not reopen it...
    let replay = store
        .record_drift(&[observed(
            c1,
            f.apps,
            deployment("web"),
            &["/spec/replicas"],
            "kubectl-edit",
            t0,
        )])
        .await?;
    assert!(replay.is_empty());
    // ...but new drift after it opens a new event.
    let reopened = store
        .record_drift(&[observed(
            c1,
            f.apps,
            deployment("web"),
            &["/spec/replicas"],
            "kubectl-scale",
            t0 + Duration::minutes(3),
        )])
        .await?;
    assert_eq!(reopened.len(), 1);
    assert!(!first.contains(&reopened[0]));

    let history = store
        .object_drift_history(&ObjectDriftQuery {
            cluster_id: c1,
            object: deployment("web"),
            limit: 10,
        })
        .await?;
    let lifecycle: Vec<_> = history.iter().map(|e| (e.id, e.resolution)).collect();
    assert_eq!(
        lifecycle,
        [
            (reopened[0], None),
            (again[0], Some(DriftResolution::Corrected))
        ]
    );
    assert_eq!(
        history[1].resolved_at.map(|t| t.timestamp_micros()),
        Some(resolved_at.timestamp_micros())
    );

    // Accepting by id closes it too; unknown or closed ids are ignored.
    let accepted = store
        .resolve_drift_events(
            &[reopened[0], again[0], 999_999],
            DriftResolution::Accepted,
            Utc::now(),
        )
        .await?;
    assert_eq!(accepted, 1);
    assert_eq!(store.cluster_drift_report(c1).await?.len(), 1);
    let state = store.deployer_state(c1, f.apps).await?;
    assert_eq!(state.map(|s| s.drifted_count), Some(1));
    Ok(())
}

#[tokio::test]
async fn fleet_summary_counts_open_drift_per_deployer_cluster_and_kind() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let store = &db.store;
    let f = fleet(store).await?;
    let [c1, c2, c3] = [f.clusters[0], f.clusters[1], f.clusters[2]];
    let t = Utc::now();
    let config = |name: &str| ObjectRef::new("", "ConfigMap", "web", name);
    let replicas: &[&str] = &["/spec/replicas"];
    let data: &[&str] = &["/data/k"];
    let batch = [
        // apps: 2 Deployments + 1 ConfigMap on c1, 1 Deployment on c2.
        observed(c1, f.apps, deployment("a"), replicas, "m", t),
        observed(c1, f.apps, deployment("b"), replicas, "m", t),
        observed(c1, f.apps, config("x"), data, "m", t),
        observed(c2, f.apps, deployment("a"), replicas, "m", t),
        // redis: 1 ConfigMap on c3, the oldest drift.
        observed(c3, f.redis, config("y"), data, "m", t - Duration::hours(1)),
        // Resolved below, so it does not count.
        observed(c3, f.apps, deployment("z"), replicas, "m", t),
    ];
    assert_eq!(store.record_drift(&batch).await?.len(), 6);
    store
        .resolve_drift(
            c3,
            f.apps,
            &[deployment("z")],
            DriftResolution::Reverted,
            t + Duration::seconds(1),
        )
        .await?;

    // A state first reported after its drift starts out with the right count.
    let state = store
        .record_deployer_state(&DeployerStateUpdate {
            cluster_id: c1,
            deployer_id: f.apps,
            status: DeployerStatus::Progressing,
            message: String::new(),
            attempted_revision: Some("main@sha1:2".into()),
            applied_revision: None,
        })
        .await?;
    assert_eq!(state.drifted_count, 3);

    let by_deployer = store
        .fleet_open_drift(DriftSummaryGrouping::Deployer)
        .await?;
    let by_deployer: Vec<_> = by_deployer
        .iter()
        .map(|s| {
            (
                s.deployer_name.as_deref(),
                s.deployer_kind,
                s.open_count,
                s.cluster_count,
            )
        })
        .collect();
    assert_eq!(
        by_deployer,
        [
            (Some("apps"), Some(DeployerKind::Kustomization), 4, 2),
            (Some("redis"), Some(DeployerKind::HelmRelease), 1, 1)
        ]
    );

    let by_cluster = store
        .fleet_open_drift(DriftSummaryGrouping::Cluster)
        .await?;
    let by_cluster: Vec<_> = by_cluster
        .iter()
        .map(|s| {
            (
                s.cluster_name.as_deref(),
                s.open_count,
                s.deployer_name.is_none(),
            )
        })
        .collect();
    assert_eq!(
        by_cluster,
        [
            (Some("c1"), 3, true),
            (Some("c2"), 1, true),
            (Some("c3"), 1, true)
        ]
    );

    let by_kind = store.fleet_open_drift(DriftSummaryGrouping::Kind).await?;
    let by_kind: Vec<_> = by_kind
        .iter()
        .map(|s| {
            (
                s.object_group.as_deref(),
                s.object_kind.as_deref(),
                s.open_count,
                s.cluster_count,
            )
        })
        .collect();
    assert_eq!(
        by_kind,
        [
            (Some("apps"), Some("Deployment"), 3, 2),
            (Some(""), Some("ConfigMap"), 2, 2)
        ]
    );

    let fine = store
        .fleet_open_drift(DriftSummaryGrouping::DeployerClusterKind)
        .await?;
    assert_eq!(fine.len(), 4);
    assert_eq!(fine.iter().map(|s| s.open_count).sum::<i64>(), 5);
    let oldest = fine
        .iter()
        .find(|s| s.deployer_name.as_deref() == Some("redis"))
        .map(|s| s.oldest_detected_at.timestamp_micros());
    assert_eq!(oldest, Some((t - Duration::hours(1)).timestamp_micros()));

    let apps_open = store.deployer_open_drift(f.apps, 100).await?;
    assert_eq!(apps_open.len(), 4);
    assert!(
        apps_open
            .iter()
            .all(|e| e.deployer_id == f.apps && e.resolved_at.is_none())
    );

    // Deleting a cluster takes its drift with it.
    store.delete_cluster(c1).await?;
    let by_deployer = store
        .fleet_open_drift(DriftSummaryGrouping::Deployer)
        .await?;
    let counts: Vec<_> = by_deployer
        .iter()
        .map(|s| (s.deployer_name.as_deref(), s.open_count))
        .collect();
    // Equal counts tie-break by deployer kind, then name.
    assert_eq!(counts, [(Some("redis"), 1), (Some("apps"), 1)]);
    let json = serde_json::to_value(&by_deployer[1])?;
    assert_eq!(json["deployer_kind"], "Kustomization");
    assert!(json["cluster_name"].is_null());
    Ok(())
}

#[tokio::test]
async fn empty_batches_are_no_ops() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    assert!(db.store.record_drift(&[]).await?.is_empty());
    assert_eq!(
        db.store
            .resolve_drift_events(&[], DriftResolution::Accepted, Utc::now())
            .await?,
        0
    );
    assert!(
        db.store
            .fleet_open_drift(DriftSummaryGrouping::Kind)
            .await?
            .is_empty()
    );
    Ok(())
}
