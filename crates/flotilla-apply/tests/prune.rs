//! Inventory, prune and deletion policies against a kubesim cluster over HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::time::Duration;

use common::*;
use flotilla_api::kustomization::DeletionPolicy;
use flotilla_apply::{
    Applier, Inventory, InventoryEntry, KeepReason, PruneError, PruneOptions, Pruner,
};
use kube::api::{Patch, PatchParams};
use serde_json::json;

fn entry(kind: &str, ns: Option<&str>, name: &str) -> InventoryEntry {
    let (group, kind) = kind.split_once('.').map_or(("", kind), |(k, g)| (g, k));
    InventoryEntry {
        group: group.into(),
        kind: kind.into(),
        namespace: ns.map(Into::into),
        name: name.into(),
        version: "v1".into(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_objects_prunes_exactly_them() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let pruner = Pruner::new(client.clone(), owner());
    let first = applier
        .apply(&set(vec![
            namespace("team"),
            config_map("team", "settings", json!({"a": "1"})),
            config_map("default", "keep", json!({"a": "1"})),
            config_map("default", "drop", json!({"a": "1"})),
            deployment("default", "web"),
        ]))
        .await
        .unwrap();
    // The inventory is stored between runs: it goes through JSON.
    let stored = serde_json::to_string(&first.inventory()).unwrap();
    let previous: Inventory = serde_json::from_str(&stored).unwrap();
    assert_eq!(
        previous.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            "ConfigMap/default/drop",
            "ConfigMap/default/keep",
            "ConfigMap/team/settings",
            "Namespace/team",
            "Deployment.apps/default/web",
        ]
    );

    let second = applier
        .apply(&set(vec![config_map("default", "keep", json!({"a": "1"}))]))
        .await
        .unwrap();
    let current = second.inventory();
    let report = pruner.prune(&previous, &current).await.unwrap();
    let deleted: Vec<String> = report.deleted.iter().map(ToString::to_string).collect();
    // Workloads first, the Namespace last.
    assert_eq!(
        deleted,
        [
            "ConfigMap/default/drop",
            "ConfigMap/team/settings",
            "Deployment.apps/default/web",
            "Namespace/team",
        ]
    );
    assert!(report.kept.is_empty(), "{report:?}");
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    assert!(config_maps.get_opt("drop").await.unwrap().is_none());
    assert!(config_maps.get_opt("keep").await.unwrap().is_some());
    let deployments = api(&client, "apps", "v1", "Deployment", Some("default"));
    assert!(deployments.get_opt("web").await.unwrap().is_none());
    // The Namespace is gone or terminating.
    let team = api(&client, "", "v1", "Namespace", None)
        .get_opt("team")
        .await
        .unwrap();
    assert!(team.is_none_or(|ns| ns.metadata.deletion_timestamp.is_some()));

    let again = pruner.prune(&current, &current).await.unwrap();
    assert_eq!(again, Default::default());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_what_is_not_ours_or_opted_out() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let previous = applier
        .apply(&set(vec![
            config_map("default", "relabelled", json!({"a": "1"})),
            config_map("default", "pinned", json!({"a": "1"})),
            config_map("default", "replaced", json!({"a": "1"})),
            config_map("default", "mine", json!({"a": "1"})),
        ]))
        .await
        .unwrap()
        .inventory();
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    let edit = PatchParams::apply("operator").force();
    // Another deployer took it over.
    apply_as(
        &config_maps,
        &edit,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "relabelled", "labels": {"flotilla.dev/name": "other"}}}),
    )
    .await;
    // An operator opted it out of pruning.
    apply_as(
        &config_maps,
        &edit,
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "pinned", "annotations": {"flotilla.dev/prune": "disabled"}}}),
    )
    .await;
    // Deleted and created again by someone else, without our labels.
    config_maps
        .delete("replaced", &Default::default())
        .await
        .unwrap();
    config_maps
        .create(
            &Default::default(),
            &serde_json::from_value(config_map("default", "replaced", json!({"b": "2"}))).unwrap(),
        )
        .await
        .unwrap();
    let mut with_missing: Vec<InventoryEntry> = previous.iter().cloned().collect();
    with_missing.push(entry("ConfigMap", Some("default"), "never-existed"));
    let previous = Inventory::new(with_missing);

    let report = Pruner::new(client.clone(), owner())
        .prune(&previous, &Inventory::default())
        .await
        .unwrap();
    assert_eq!(
        report.deleted,
        [entry("ConfigMap", Some("default"), "mine")]
    );
    let kept: Vec<(String, KeepReason)> = report
        .kept
        .iter()
        .map(|(e, r)| (e.name.clone(), *r))
        .collect();
    assert_eq!(
        kept,
        [
            ("never-existed".to_owned(), KeepReason::Gone),
            ("pinned".to_owned(), KeepReason::Disabled),
            ("relabelled".to_owned(), KeepReason::NotOwned),
            ("replaced".to_owned(), KeepReason::NotOwned),
        ]
    );
    for name in ["relabelled", "pinned", "replaced"] {
        assert!(config_maps.get_opt(name).await.unwrap().is_some(), "{name}");
    }
    assert!(config_maps.get_opt("mine").await.unwrap().is_none());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_policies() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let mut held = config_map("default", "held", json!({"a": "1"}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let inventory = applier
        .apply(&set(vec![
            held,
            config_map("default", "plain", json!({"a": "1"})),
        ]))
        .await
        .unwrap()
        .inventory();
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    let pruner = Pruner::new(client.clone(), owner());

    for (policy, prune) in [
        (DeletionPolicy::Orphan, true),
        (DeletionPolicy::MirrorPrune, false),
    ] {
        let report = pruner.delete_all(&inventory, policy, prune).await.unwrap();
        assert!(report.deleted.is_empty());
        assert!(report.kept.iter().all(|(_, r)| *r == KeepReason::Orphaned));
        assert_eq!(report.kept.len(), 2);
    }
    assert!(config_maps.get_opt("plain").await.unwrap().is_some());

    // WaitForTermination gives up while a finalizer holds an object, naming it.
    let impatient = pruner.clone().with_options(PruneOptions {
        timeout: Duration::from_millis(500),
        ..PruneOptions::default()
    });
    let err = impatient
        .delete_all(&inventory, DeletionPolicy::WaitForTermination, false)
        .await
        .unwrap_err();
    let PruneError::NotTerminated { remaining, .. } = &err else {
        panic!("expected NotTerminated, got {err}");
    };
    assert_eq!(remaining, &[entry("ConfigMap", Some("default"), "held")]);
    assert!(err.to_string().contains("ConfigMap/default/held"), "{err}");
    assert!(config_maps.get_opt("plain").await.unwrap().is_none());

    // Once the finalizer goes, it returns, and only then: the finalizer is removed only
    // after the deletion started.
    let mut held = config_map("default", "held-too", json!({"a": "1"}));
    held["metadata"]["finalizers"] = json!(["example.com/hold"]);
    let inventory = applier.apply(&set(vec![held])).await.unwrap().inventory();
    let releaser = {
        let config_maps = config_maps.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
            loop {
                let live = config_maps.get("held-too").await.unwrap();
                if live.metadata.deletion_timestamp.is_some() {
                    break;
                }
                assert!(tokio::time::Instant::now() < deadline, "never deleted");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            config_maps
                .patch(
                    "held-too",
                    &PatchParams::default(),
                    &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                )
                .await
                .unwrap();
        })
    };
    let report = pruner
        .delete_all(&inventory, DeletionPolicy::WaitForTermination, false)
        .await
        .unwrap();
    assert_eq!(
        report.deleted,
        [entry("ConfigMap", Some("default"), "held-too")]
    );
    assert!(config_maps.get_opt("held-too").await.unwrap().is_none());
    releaser.await.unwrap();
    fleet.shutdown().await;
}
