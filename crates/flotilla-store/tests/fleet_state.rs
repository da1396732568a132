//! Clusters, deployers, per-cluster state, reconcile runs and inventories round-trip.

use std::collections::BTreeMap;

use chrono::{Duration, Utc};
use flotilla_store::{
    ClusterUpsert, DeployerKind, DeployerStateUpdate, DeployerStatus, InventoryEntry, ObjectRef,
    RunFinish, RunHistoryQuery, RunOutcome, Store, StoreError,
};
use flotilla_testkit::postgres::TestDb;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

async fn cluster(store: &Store, name: &str, env: &str) -> anyhow::Result<i64> {
    let row = store
        .upsert_cluster(&ClusterUpsert {
            namespace: "fleet".into(),
            name: name.into(),
            labels: labels(&[("env", env)]),
        })
        .await?;
    Ok(row.id)
}

fn state(cluster_id: i64, deployer_id: i64, status: DeployerStatus) -> DeployerStateUpdate {
    DeployerStateUpdate {
        cluster_id,
        deployer_id,
        status,
        message: String::new(),
        attempted_revision: None,
        applied_revision: None,
    }
}

#[tokio::test]
async fn clusters_upsert_select_and_track_reachability() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let store = &db.store;
    let first = store
        .upsert_cluster(&ClusterUpsert {
            namespace: "fleet".into(),
            name: "eu-1".into(),
            labels: labels(&[("env", "prod"), ("region", "eu")]),
        })
        .await?;
    assert!(!first.reachable);
    assert_eq!(first.last_seen_at, None);

    // Re-discovery with new labels updates in place, keeping the id.
    let again = store
        .upsert_cluster(&ClusterUpsert {
            namespace: "fleet".into(),
            name: "eu-1".into(),
            labels: labels(&[("env", "staging")]),
        })
        .await?;
    assert_eq!(again.id, first.id);
    assert_eq!(again.labels, labels(&[("env", "staging")]));
    cluster(store, "us-1", "prod").await?;
    cluster(store, "us-2", "prod").await?;

    let seen = Utc::now();
    store
        .set_cluster_reachability(first.id, true, "", seen)
        .await?;
    store
        .set_cluster_reachability(
            first.id,
            false,
            "connection refused",
            seen + Duration::minutes(5),
        )
        .await?;
    let stored = store.get_cluster("fleet", "eu-1").await?;
    let stored = stored.ok_or_else(|| anyhow::anyhow!("eu-1 missing"))?;
    assert!(!stored.reachable);
    assert_eq!(stored.message, "connection refused");
    // Microsecond precision in the database.
    let last_seen = stored.last_seen_at.map(|t| t.timestamp_micros());
    assert_eq!(last_seen, Some(seen.timestamp_micros()));

    let prod = store
        .clusters_matching_labels("fleet", &labels(&[("env", "prod")]))
        .await?;
    let names: Vec<_> = prod.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["us-1", "us-2"]);
    let all = store
        .clusters_matching_labels("fleet", &BTreeMap::new())
        .await?;
    assert_eq!(all.len(), 3);
    assert!(
        store
            .clusters_matching_labels("other", &BTreeMap::new())
            .await?
            .is_empty()
    );

    assert!(store.delete_cluster(first.id).await?);
    assert!(!store.delete_cluster(first.id).await?);
    assert_eq!(store.list_clusters().await?.len(), 2);
    assert!(matches!(
        store
            .set_cluster_reachability(first.id, true, "", seen)
            .await,
        Err(StoreError::NotFound(_))
    ));
    Ok(())
}

#[tokio::test]
async fn deployer_state_keeps_last_good_revision_and_answers_where_revisions_run()
-> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let store = &db.store;
    let apps = store
        .upsert_deployer(DeployerKind::Kustomization, "fleet", "apps")
        .await?;
    let same = store
        .upsert_deployer(DeployerKind::Kustomization, "fleet", "apps")
        .await?;
    assert_eq!(same.id, apps.id);
    let redis = store
        .upsert_deployer(DeployerKind::HelmRelease, "fleet", "redis")
        .await?;
    assert_ne!(redis.id, apps.id);
    assert_eq!(store.list_deployers().await?.len(), 2);

    let mut clusters = Vec::new();
    for name in ["c1", "c2", "c3"] {
        clusters.push(cluster(store, name, "prod").await?);
    }
    let v1 = "main@sha1:1111111111111111111111111111111111111111";
    let v2 = "main@sha1:2222222222222222222222222222222222222222";
    for &cluster_id in &clusters {
        let mut update = state(cluster_id, apps.id, DeployerStatus::Ready);
        update.attempted_revision = Some(v1.into());
        update.applied_revision = Some(v1.into());
        let stored = store.record_deployer_state(&update).await?;
        assert_eq!(stored.applied_revision.as_deref(), Some(v1));
        assert!(stored.last_applied_at.is_some());
    }
    // c1 moves to v2; c2's upgrade to v2 fails and keeps running v1.
    let mut upgraded = state(clusters[0], apps.id, DeployerStatus::Ready);
    upgraded.attempted_revision = Some(v2.into());
    upgraded.applied_revision = Some(v2.into());
    store.record_deployer_state(&upgraded).await?;
    let mut failed = state(clusters[1], apps.id, DeployerStatus::Failed);
    failed.attempted_revision = Some(v2.into());
    failed.message = "Deployment/web: ImagePullBackOff".into();
    let failed = store.record_deployer_state(&failed).await?;
    assert_eq!(failed.applied_revision.as_deref(), Some(v1));
    assert_eq!(failed.attempted_revision.as_deref(), Some(v2));
    assert_eq!(failed.status, DeployerStatus::Failed);
    assert_eq!(failed.cluster_name, "c2");
    assert_eq!(failed.deployer_kind, DeployerKind::Kustomization);
    store
        .record_deployer_state(&state(clusters[0], redis.id, DeployerStatus::Pending))
        .await?;

    let revisions = store.deployer_revisions(apps.id).await?;
    let summary: Vec<_> = revisions
        .iter()
        .map(|r| (r.revision.as_deref(), r.clusters, r.ready))
        .collect();
    assert_eq!(summary, [(Some(v1), 2, 1), (Some(v2), 1, 1)]);

    let on_c1 = store.cluster_deployer_states(clusters[0]).await?;
    let on_c1: Vec<_> = on_c1
        .iter()
        .map(|s| {
            (
                s.deployer_name.as_str(),
                s.applied_revision.as_deref(),
                s.status,
            )
        })
        .collect();
    assert_eq!(
        on_c1,
        [
            ("redis", None, DeployerStatus::Pending),
            ("apps", Some(v2), DeployerStatus::Ready)
        ]
    );
    let where_apps = store.deployer_cluster_states(apps.id).await?;
    let where_apps: Vec<_> = where_apps
        .iter()
        .map(|s| (s.cluster_name.as_str(), s.applied_revision.as_deref()))
        .collect();
    assert_eq!(
        where_apps,
        [("c1", Some(v2)), ("c2", Some(v1)), ("c3", Some(v1))]
    );

    assert!(
        store
            .forget_deployer_on_cluster(clusters[2], apps.id)
            .await?
    );
    assert_eq!(store.deployer_state(clusters[2], apps.id).await?, None);
    assert!(store.delete_deployer(redis.id).await?);
    assert_eq!(store.cluster_deployer_states(clusters[0]).await?.len(), 1);
    Ok(())
}

#[tokio::test]
async fn reconcile_runs_open_close_and_list_newest_first() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let store = &db.store;
    let c1 = cluster(store, "c1", "prod").await?;
    let c2 = cluster(store, "c2", "prod").await?;
    let apps = store
        .upsert_deployer(DeployerKind::Kustomization, "fleet", "apps")
        .await?;
    let redis = store
        .upsert_deployer(DeployerKind::HelmRelease, "fleet", "redis")
        .await?;

    let run = store.start_run(c1, apps.id, None).await?;
    assert_eq!(run.outcome, RunOutcome::Running);
    assert_eq!(run.finished_at, None);
    assert_eq!(
        (run.cluster_name.as_str(), run.deployer_name.as_str()),
        ("c1", "apps")
    );
    let finish = RunFinish {
        outcome: RunOutcome::Succeeded,
        message: "applied 3 objects".into(),
        revision: Some("main@sha1:abc".into()),
        applied_count: 3,
        pruned_count: 1,
        drifted_count: 0,
    };
    let done = store.finish_run(run.id, &finish).await?;
    assert_eq!(done.outcome, RunOutcome::Succeeded);
    assert_eq!(done.revision.as_deref(), Some("main@sha1:abc"));
    assert_eq!((done.applied_count, done.pruned_count), (3, 1));
    assert!(done.finished_at.is_some_and(|f| f >= done.started_at));
    // A run is closed once.
    assert!(matches!(
        store.finish_run(run.id, &finish).await,
        Err(StoreError::NotFound(_))
    ));
    let still_running = RunFinish {
        outcome: RunOutcome::Running,
        ..finish.clone()
    };
    let open = store.start_run(c1, apps.id, Some("main@sha1:def")).await?;
    assert!(store.finish_run(open.id, &still_running).await.is_err());

    store.start_run(c1, redis.id, Some("1.2.3")).await?;
    store.start_run(c2, apps.id, Some("main@sha1:def")).await?;
    assert_eq!(store.cancel_unfinished_runs("hub restarted").await?, 3);

    let history = |cluster_id, deployer_id| RunHistoryQuery {
        cluster_id,
        deployer_id,
        before: None,
        limit: 50,
    };
    let pair = store
        .reconcile_history(&history(Some(c1), Some(apps.id)))
        .await?;
    let ids: Vec<_> = pair.iter().map(|r| r.id).collect();
    assert_eq!(ids, [open.id, run.id]);
    assert_eq!(pair[0].outcome, RunOutcome::Cancelled);
    assert_eq!(pair[0].message, "hub restarted");
    assert_eq!(
        store
            .reconcile_history(&history(Some(c1), None))
            .await?
            .len(),
        3
    );
    assert_eq!(
        store
            .reconcile_history(&history(None, Some(apps.id)))
            .await?
            .len(),
        3
    );
    assert_eq!(
        store.reconcile_history(&history(None, None)).await?.len(),
        4
    );
    let limited = RunHistoryQuery {
        limit: 1,
        ..history(None, None)
    };
    assert_eq!(store.reconcile_history(&limited).await?.len(), 1);
    let older = RunHistoryQuery {
        before: Some(pair[0].started_at),
        ..history(Some(c1), Some(apps.id))
    };
    let older: Vec<_> = store
        .reconcile_history(&older)
        .await?
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(older, [run.id]);
    Ok(())
}

#[tokio::test]
async fn inventory_replacement_removes_old_entries() -> anyhow::Result<()> {
    let db = TestDb::new().await?;
    let store = &db.store;
    let c1 = cluster(store, "c1", "prod").await?;
    let apps = store
        .upsert_deployer(DeployerKind::Kustomization, "fleet", "apps")
        .await?;
    let infra = store
        .upsert_deployer(DeployerKind::Kustomization, "fleet", "infra")
        .await?;
    let namespace = InventoryEntry::new(ObjectRef::new("", "Namespace", "", "web"), "v1");
    let deployment = InventoryEntry::new(ObjectRef::new("apps", "Deployment", "web", "web"), "v1");
    let service = InventoryEntry::new(ObjectRef::new("", "Service", "web", "web"), "v1");
    let config = InventoryEntry::new(ObjectRef::new("", "ConfigMap", "web", "settings"), "v1");

    store
        .replace_inventory(
            c1,
            apps.id,
            &[deployment.clone(), namespace.clone(), service.clone()],
        )
        .await?;
    store
        .replace_inventory(c1, infra.id, std::slice::from_ref(&namespace))
        .await?;
    let first = store.inventory(c1, apps.id).await?;
    assert_eq!(
        first,
        [namespace.clone(), service.clone(), deployment.clone()]
    );

    // The next apply dropped the Service and added a ConfigMap (listed twice).
    store
        .replace_inventory(
            c1,
            apps.id,
            &[deployment.clone(), config.clone(), config.clone()],
        )
        .await?;
    let second = store.inventory(c1, apps.id).await?;
    assert_eq!(second, [config.clone(), deployment.clone()]);
    // Other deployers' inventories are untouched.
    assert_eq!(
        store.inventory(c1, infra.id).await?,
        std::slice::from_ref(&namespace)
    );
    assert_eq!(
        store.object_owners(c1, &namespace.object).await?,
        [infra.id]
    );
    assert_eq!(
        store.object_owners(c1, &deployment.object).await?,
        [apps.id]
    );
    assert!(store.object_owners(c1, &service.object).await?.is_empty());

    store.replace_inventory(c1, apps.id, &[]).await?;
    assert!(store.inventory(c1, apps.id).await?.is_empty());
    let json = serde_json::to_value(&deployment)?;
    assert_eq!(json["group"], "apps");
    assert_eq!(json["version"], "v1");
    Ok(())
}
