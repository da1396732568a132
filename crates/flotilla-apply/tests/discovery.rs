//! One [`ApiDiscovery`] shared by a cluster's appliers, pruners and health checkers,
//! against a kubesim cluster over HTTPS: the cluster is asked once, again when a kind is
//! missing from the answer (a CRD installed by someone else), and again once the answer
//! is older than its max age.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::time::Duration;

use common::*;
use flotilla_api::kustomization::DeletionPolicy;
use flotilla_apply::diff::CompareOptions;
use flotilla_apply::health::{HealthChecker, HealthOptions};
use flotilla_apply::{Action, ApiDiscovery, Applier, ApplyError, Inventory, Pruner};
use kube::api::PostParams;
use kubesim::ClusterHandle;
use serde_json::json;

/// How many discovery documents (`/api`, `/apis` and below) were read since the log was
/// cleared.
fn discovery_reads(cluster: &ClusterHandle) -> usize {
    cluster
        .request_log()
        .iter()
        .filter(|r| {
            let path = r.path.as_str();
            r.method == "GET"
                && (path == "/api"
                    || path == "/apis"
                    || path == "/api/v1"
                    || path.starts_with("/apis/") && path.matches('/').count() <= 3)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_discovery_is_asked_once_for_a_clusters_steps() {
    let (fleet, client) = start().await;
    let cluster = &fleet.clusters()[0];
    let discovery = ApiDiscovery::new(client.clone());
    let objects = set(vec![
        namespace("team"),
        config_map("team", "settings", json!({"k": "v"})),
    ]);
    cluster.clear_request_log();
    let applied = Applier::new(client.clone(), owner())
        .with_discovery(discovery.clone())
        .apply(&objects)
        .await
        .unwrap();
    assert!(discovery_reads(cluster) > 0, "the first apply discovers");

    cluster.clear_request_log();
    let again = Applier::new(client.clone(), owner())
        .with_discovery(discovery.clone())
        .apply(&objects)
        .await
        .unwrap();
    assert_eq!(again.count(Action::Unchanged), 2, "{again:?}");
    let health = HealthChecker::new(client.clone())
        .with_discovery(discovery.clone())
        .with_options(HealthOptions {
            timeout: Duration::from_secs(10),
            ..HealthOptions::default()
        })
        .wait(&applied.inventory().iter().cloned().collect::<Vec<_>>())
        .await
        .unwrap();
    assert_eq!(health.len(), 2);
    let pruned = Pruner::new(client.clone(), owner())
        .with_discovery(discovery.clone())
        .prune(&applied.inventory(), &Inventory::default())
        .await
        .unwrap();
    assert_eq!(pruned.deleted.len(), 2, "{pruned:?}");
    assert_eq!(discovery_reads(cluster), 0, "{:?}", cluster.request_log());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kind_missing_from_the_cached_answer_is_looked_for_again() {
    let (fleet, client) = start().await;
    let cluster = &fleet.clusters()[0];
    let discovery = ApiDiscovery::new(client.clone());
    let applier = Applier::new(client.clone(), owner()).with_discovery(discovery.clone());
    applier.apply(&set(vec![namespace("team")])).await.unwrap();

    // Someone else installs a CRD after the answer was cached.
    let crds = crds(&client);
    crds.create(
        &PostParams::default(),
        &serde_json::from_value(crd("widgets", "Widget")).unwrap(),
    )
    .await
    .unwrap();
    wait_served(&client, "v1", true).await;

    cluster.clear_request_log();
    let report = applier
        .apply(&set(vec![custom("Widget", "team", "w", json!(3))]))
        .await
        .unwrap();
    assert_eq!(report.count(Action::Created), 1, "{report:?}");
    assert!(discovery_reads(cluster) > 0, "the applier discovered again");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_older_than_its_max_age_is_not_used() {
    let (fleet, client) = start().await;
    let cluster = &fleet.clusters()[0];
    let discovery = ApiDiscovery::new(client.clone()).with_max_age(Duration::ZERO);
    let applier = Applier::new(client.clone(), owner()).with_discovery(discovery);
    let objects = set(vec![namespace("team")]);
    applier.apply(&objects).await.unwrap();
    cluster.clear_request_log();
    applier.apply(&objects).await.unwrap();
    assert!(discovery_reads(cluster) > 0, "discovered again");
    fleet.shutdown().await;
}

/// A diff through a discovery cached before a CRD was installed (by another deployer,
/// here) looks for the CRD's kinds again: its custom resources exist and are no drift.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_diff_does_not_call_existing_custom_resources_missing() {
    let (fleet, client) = start().await;
    let discovery = ApiDiscovery::new(client.clone());
    let applier = Applier::new(client.clone(), owner()).with_discovery(discovery);
    applier.apply(&set(vec![namespace("team")])).await.unwrap();
    let objects = set(vec![
        namespace("team"),
        crd("widgets", "Widget"),
        custom("Widget", "team", "w", json!(3)),
    ]);
    Applier::new(client.clone(), owner())
        .apply(&objects)
        .await
        .unwrap();

    let diff = applier
        .diff(&objects, &CompareOptions::default())
        .await
        .unwrap();
    assert!(diff.is_empty(), "{:?}", diff.objects);
    fleet.shutdown().await;
}

/// After the pruner deleted a CRD, an apply of its custom resources through the same
/// discovery finds the kind not served: a refusal naming the object, not a failed list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_of_a_pruned_crd_are_not_served_any_more() {
    let (fleet, client) = start().await;
    let discovery = ApiDiscovery::new(client.clone());
    let applier = Applier::new(client.clone(), owner()).with_discovery(discovery.clone());
    let widget = custom("Widget", "team", "w", json!(3));
    let report = applier
        .apply(&set(vec![
            namespace("team"),
            crd("widgets", "Widget"),
            widget.clone(),
        ]))
        .await
        .unwrap();
    let crd_only = Inventory::new(
        report
            .inventory()
            .iter()
            .filter(|e| e.kind != "Namespace")
            .cloned(),
    );
    Pruner::new(client.clone(), owner())
        .with_discovery(discovery)
        .delete_all(&crd_only, DeletionPolicy::WaitForTermination, true)
        .await
        .unwrap();

    let error = applier.apply(&set(vec![widget])).await.unwrap_err();
    assert_not_served(&error, "no resource serves kind Widget in example.com/v1");
    fleet.shutdown().await;
}

/// An apply of CRDs alone (no custom resources waiting for them) drops the cached
/// answer: a version it stopped serving is then not served to the next apply, which
/// names the object instead of failing on a list of a resource that is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_of_crds_alone_drops_the_cached_answer() {
    let (fleet, client) = start().await;
    let discovery = ApiDiscovery::new(client.clone());
    let applier = Applier::new(client.clone(), owner()).with_discovery(discovery);
    let widgets = |v2_served: bool| {
        let mut crd = crd("widgets", "Widget");
        let v1 = crd["spec"]["versions"][0].clone();
        let mut v2 = v1.clone();
        v2["name"] = json!("v2");
        v2["storage"] = json!(false);
        v2["served"] = json!(v2_served);
        crd["spec"]["versions"] = json!([v1, v2]);
        crd
    };
    let mut widget = custom("Widget", "team", "w", json!(3));
    widget["apiVersion"] = json!("example.com/v2");
    applier
        .apply(&set(vec![namespace("team"), widgets(true)]))
        .await
        .unwrap();
    applier.apply(&set(vec![widget.clone()])).await.unwrap();

    applier.apply(&set(vec![widgets(false)])).await.unwrap();
    wait_served(&client, "v2", false).await;
    let error = applier.apply(&set(vec![widget])).await.unwrap_err();
    assert_not_served(&error, "no resource serves kind Widget in example.com/v2");
    fleet.shutdown().await;
}

/// Asserts that `error` refuses the set's one object as `reason` says.
fn assert_not_served(error: &ApplyError, reason: &str) {
    let ApplyError::Invalid { failures } = error else {
        panic!("{error:?}");
    };
    assert_eq!(failures.0.len(), 1, "{error}");
    assert_eq!(failures.0[0].reason, reason, "{error}");
}

/// Waits until the cluster serves `example.com/<version>` (its CRD Established), or, with
/// `served` false, no longer does.
async fn wait_served(client: &kube::Client, version: &str, served: bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let now = kube::discovery::oneshot::group(client, "example.com")
            .await
            .is_ok_and(|group| group.versions().any(|v| v == version));
        if now == served {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "example.com/{version} never {}",
            if served { "served" } else { "unserved" }
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
