//! An applier's memory kept across a restart ([`MemorySnapshot`]), against kubesim
//! clusters over HTTPS: a restored applier sends no request per untouched object, still
//! finds and corrects what changed since, and trusts no snapshot of another deployer or
//! cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use flotilla_apply::diff::{CompareOptions, Drift};
use flotilla_apply::{Action, Applier, MemorySnapshot, Owner};
use kube::Client;
use kube::api::{Patch, PatchParams};
use kubesim::{ClusterHandle, Fleet, FleetConfig, FleetHandle};
use serde_json::{Value, json};

fn objects(b: &str) -> Vec<Value> {
    vec![
        namespace("team"),
        config_map("team", "a", json!({"k": "1"})),
        config_map("team", "b", json!({"k": b})),
        deployment("team", "web"),
    ]
}

/// `METHOD path` of each apply request (PATCH) since the log was cleared, dry-runs marked.
fn patches(cluster: &ClusterHandle) -> Vec<String> {
    let mut patches: Vec<String> = cluster
        .request_log()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| {
            let dry = if r.query.contains("dryRun") {
                " dry-run"
            } else {
                ""
            };
            format!("{}{dry}", r.path)
        })
        .collect();
    patches.sort();
    patches
}

/// `clusters` kubesim clusters whose simulated controllers are off (a Deployment's status
/// updates would move its resourceVersion), and a client of each.
async fn fleet(clusters: usize) -> (FleetHandle, Vec<Client>) {
    let fleet =
        Fleet::start(FleetConfig::with_clusters(clusters).each(|c| c.workloads.enabled = false))
            .await
            .unwrap();
    let mut clients = Vec::new();
    for cluster in fleet.clusters() {
        clients.push(client_of(cluster).await);
    }
    (fleet, clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restored_applier_skips_untouched_objects_and_corrects_changed_ones() {
    let (fleet, clients) = fleet(1).await;
    let client = clients[0].clone();
    let cluster = &fleet.clusters()[0];
    let first = Applier::new(client.clone(), owner());
    first.apply(&set(objects("1"))).await.unwrap();
    // What a hub stores next to the inventory, then reads back after a restart.
    let stored = serde_json::to_string(&first.memory_snapshot()).unwrap();
    drop(first);
    let snapshot: MemorySnapshot = serde_json::from_str(&stored).unwrap();
    assert_eq!(snapshot.len(), 4);
    assert_eq!(snapshot.owner(), &owner());

    // Meanwhile another client changes a field of `a` the set sets.
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("team"));
    config_maps
        .patch(
            "a",
            &PatchParams::apply("intruder").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                                 "metadata": {"name": "a"}, "data": {"k": "edited"}})),
        )
        .await
        .unwrap();

    let restored = Applier::new(client.clone(), owner())
        .with_memory(snapshot)
        .unwrap();
    // The diff dry-runs `a` only, and finds the edit.
    cluster.clear_request_log();
    let diff = restored
        .diff(&set(objects("1")), &CompareOptions::default())
        .await
        .unwrap();
    assert_eq!(
        patches(cluster),
        ["/api/v1/namespaces/team/configmaps/a dry-run"]
    );
    assert_eq!(diff.objects.len(), 1, "{diff:?}");
    assert_eq!(diff.objects[0].object.name, "a");
    assert!(
        matches!(&diff.objects[0].drift, Drift::Changed(c) if c.len() == 1),
        "{diff:?}"
    );

    // The apply, with `b`'s manifest changed too: `a` and `b` are dry-run and written,
    // the namespace and the Deployment, untouched since the snapshot, are not sent.
    cluster.clear_request_log();
    let report = restored.apply(&set(objects("2"))).await.unwrap();
    assert_eq!(
        patches(cluster),
        [
            "/api/v1/namespaces/team/configmaps/a",
            "/api/v1/namespaces/team/configmaps/a dry-run",
            "/api/v1/namespaces/team/configmaps/b",
            "/api/v1/namespaces/team/configmaps/b dry-run",
        ]
    );
    assert_eq!(report.count(Action::Configured), 2, "{report:?}");
    assert_eq!(report.count(Action::Unchanged), 2, "{report:?}");
    let a = config_maps.get("a").await.unwrap();
    assert_eq!(a.data["data"]["k"], "1");
    assert_eq!(config_maps.get("b").await.unwrap().data["data"]["k"], "2");

    // Its memory, snapshotted again and restored once more, covers the corrections.
    let again = Applier::new(client.clone(), owner())
        .with_memory(restored.memory_snapshot())
        .unwrap();
    cluster.clear_request_log();
    let report = again.apply(&set(objects("2"))).await.unwrap();
    assert_eq!(report.count(Action::Unchanged), 4, "{report:?}");
    assert_eq!(patches(cluster), Vec::<String>::new());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_of_another_deployer_or_cluster_is_not_trusted() {
    let (fleet, clients) = fleet(2).await;
    let two = &fleet.clusters()[1];
    let (client_one, client_two) = (clients[0].clone(), clients[1].clone());
    // The same set on both clusters, each applied by its own applier.
    let on_one = Applier::new(client_one, owner());
    on_one.apply(&set(objects("1"))).await.unwrap();
    Applier::new(client_two.clone(), owner())
        .apply(&set(objects("1")))
        .await
        .unwrap();
    let snapshot = on_one.memory_snapshot();

    let other = Owner {
        name: "other".into(),
        ..owner()
    };
    let err = Applier::new(client_two.clone(), other)
        .with_memory(snapshot.clone())
        .unwrap_err();
    assert_eq!(err.snapshot, owner().to_string());
    assert!(
        err.to_string().contains("Kustomization fleet/apps"),
        "{err}"
    );

    // Cluster one's memory on cluster two: same names, same manifests, other objects
    // (uids). Every object takes the dry-run path; none is written.
    let wrong_cluster = Applier::new(client_two, owner())
        .with_memory(snapshot)
        .unwrap();
    two.clear_request_log();
    let report = wrong_cluster.apply(&set(objects("1"))).await.unwrap();
    assert_eq!(report.count(Action::Unchanged), 4, "{report:?}");
    let sent = patches(two);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent.iter().all(|p| p.ends_with(" dry-run")), "{sent:?}");
    fleet.shutdown().await;
}
