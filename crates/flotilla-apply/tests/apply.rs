//! The applier against a kubesim cluster over HTTPS: CRDs with their custom resources in
//! one set, idempotence, all-or-nothing validation and field ownership.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use flotilla_apply::{Action, Applier, ApplyError};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_and_custom_resources_in_one_go_then_a_no_op() {
    let (fleet, client) = start().await;
    // Custom resources first and in a namespace the set creates: the stages reorder them.
    let objects = set(vec![
        custom("Widget", "team", "w1", json!(1)),
        config_map("team", "settings", json!({"a": "1"})),
        crd("widgets", "Widget"),
        namespace("team"),
        custom("Widget", "team", "w2", json!(2)),
    ]);
    let applier = Applier::new(client.clone(), owner());

    let first = applier.apply(&objects).await.unwrap();
    assert_eq!(first.count(Action::Created), 5, "{first:?}");
    let order: Vec<String> = first.objects.iter().map(|o| o.id.to_string()).collect();
    assert_eq!(
        order,
        [
            "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com",
            "Namespace/team",
            "Widget.example.com/team/w1",
            "ConfigMap/team/settings",
            "Widget.example.com/team/w2",
        ]
    );
    let w1 = api(&client, "example.com", "v1", "Widget", Some("team"))
        .get("w1")
        .await
        .unwrap();
    let labels = w1.metadata.labels.unwrap();
    assert_eq!(labels["flotilla.dev/name"], "apps");
    assert_eq!(labels["flotilla.dev/namespace"], "fleet");
    assert_eq!(labels["flotilla.dev/kind"], "Kustomization");
    let managers: Vec<String> = w1
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["flotilla"]);

    // The server marks the CRD Established after the first apply, a write of its own;
    // from then on nothing changes: no object's resourceVersion, nor the cluster's.
    let cluster_version = fleet.clusters()[0].resource_version();
    fleet.clusters()[0].clear_request_log();
    let second = applier.apply(&objects).await.unwrap();
    // Unchanged objects are not even sent: the dry-runs found nothing to change.
    let writes: Vec<String> = fleet.clusters()[0]
        .request_log()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.query.contains("dryRun"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    assert_eq!(second.count(Action::Unchanged), 5, "{second:?}");
    // The applier remembers leaving these objects as they are: not even a dry-run.
    fleet.clusters()[0].clear_request_log();
    let third = applier.apply(&objects).await.unwrap();
    assert_eq!(third, second);
    let patches = fleet.clusters()[0]
        .request_log()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert_eq!(patches, 0);
    // A new applier (a restarted hub) has no memory: it dry-runs every object, finds
    // each equal to the live one, and writes nothing either.
    fleet.clusters()[0].clear_request_log();
    let fresh = Applier::new(client.clone(), owner())
        .apply(&objects)
        .await
        .unwrap();
    assert_eq!(fresh, second);
    let log = fleet.clusters()[0].request_log();
    let dry_runs = log
        .iter()
        .filter(|r| r.method == "PATCH" && r.query.contains("dryRun"))
        .count();
    assert_eq!(dry_runs, 5);
    assert!(
        log.iter()
            .all(|r| r.method == "GET" || r.query.contains("dryRun")),
        "{log:?}"
    );
    assert_eq!(fleet.clusters()[0].resource_version(), cluster_version);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_field_fails_the_run_and_nothing_is_written() {
    let (fleet, client) = start().await;
    let mut bad = deployment("default", "web");
    bad["spec"]["foo"] = json!(1);
    let objects = set(vec![
        namespace("fresh"),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
               "metadata": {"name": "reader"}, "rules": []}),
        config_map("default", "settings", json!({"a": "1"})),
        bad,
        deployment("default", "api"),
    ]);
    let err = Applier::new(client.clone(), owner())
        .apply(&objects)
        .await
        .unwrap_err();
    let ApplyError::Invalid { failures } = &err else {
        panic!("expected a validation error, got {err}");
    };
    assert_eq!(failures.0.len(), 1, "{err}");
    assert_eq!(failures.0[0].id.to_string(), "Deployment.apps/default/web");
    assert!(failures.0[0].reason.contains("foo"), "{err}");
    assert!(
        err.to_string().contains("Deployment.apps/default/web: "),
        "{err}"
    );

    let absent = [
        api(&client, "", "v1", "Namespace", None)
            .get_opt("fresh")
            .await,
        api(
            &client,
            "rbac.authorization.k8s.io",
            "v1",
            "ClusterRole",
            None,
        )
        .get_opt("reader")
        .await,
        api(&client, "", "v1", "ConfigMap", Some("default"))
            .get_opt("settings")
            .await,
        api(&client, "apps", "v1", "Deployment", Some("default"))
            .get_opt("api")
            .await,
    ];
    for live in absent {
        assert!(live.unwrap().is_none());
    }
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_resource_failing_its_schema_fails_the_run() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    applier
        .apply(&set(vec![
            crd("widgets", "Widget"),
            custom("Widget", "default", "w1", json!(1)),
        ]))
        .await
        .unwrap();

    // The CRD exists: the whole set is validated before any write, and the CRD's own
    // apply after the definitions stage is a no-op.
    let crds = crds(&client);
    let crd_version = crds
        .get("widgets.example.com")
        .await
        .unwrap()
        .metadata
        .resource_version;
    let err = applier
        .apply(&set(vec![
            crd("widgets", "Widget"),
            custom("Widget", "default", "w1", json!("big")),
            config_map("default", "settings", json!({"a": "1"})),
        ]))
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains("Widget.example.com/default/w1: "),
        "{err}"
    );
    let widgets = api(&client, "example.com", "v1", "Widget", Some("default"));
    assert_eq!(widgets.get("w1").await.unwrap().data["spec"]["size"], 1);
    assert_eq!(
        crds.get("widgets.example.com")
            .await
            .unwrap()
            .metadata
            .resource_version,
        crd_version
    );
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());

    // A CRD new in the set: its resources are validated once it is established, before
    // anything after the definitions stage is written.
    let err = applier
        .apply(&set(vec![
            crd("gadgets", "Gadget"),
            custom("Gadget", "default", "g1", json!("big")),
            config_map("default", "settings", json!({"a": "1"})),
        ]))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("Gadget.example.com/default/g1: "),
        "{err}"
    );
    let gadgets = api(&client, "example.com", "v1", "Gadget", Some("default"));
    assert!(gadgets.get_opt("g1").await.unwrap().is_none());
    assert!(config_maps.get_opt("settings").await.unwrap().is_none());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_field_of_another_manager_survives() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let config_maps = settings_edited_by(
        &client,
        &applier,
        "kubectl-edit",
        json!({"metadata": {"labels": {"team": "blue"}}, "data": {"b": "2"}}),
    )
    .await;

    let report = applier.apply(&settings(json!({"a": "2"}))).await.unwrap();
    assert_eq!(report.count(Action::Configured), 1, "{report:?}");
    let live = config_maps.get("settings").await.unwrap();
    assert_eq!(live.data["data"], json!({"a": "2", "b": "2"}));
    let labels = live.metadata.labels.unwrap();
    assert_eq!(labels["team"], "blue");
    assert_eq!(labels["flotilla.dev/name"], "apps");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_upgrade_and_a_resource_using_its_new_field_in_one_set() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    applier
        .apply(&set(vec![
            crd("widgets", "Widget"),
            custom("Widget", "default", "w1", json!(1)),
        ]))
        .await
        .unwrap();

    let mut colored = custom("Widget", "default", "w1", json!(1));
    colored["spec"]["color"] = json!("red");
    let report = applier
        .apply(&set(vec![
            crd_with(
                "widgets",
                "Widget",
                json!({"size": {"type": "integer"}, "color": {"type": "string"}}),
            ),
            colored,
        ]))
        .await
        .unwrap();
    assert_eq!(report.count(Action::Configured), 2, "{report:?}");
    let widgets = api(&client, "example.com", "v1", "Widget", Some("default"));
    assert_eq!(
        widgets.get("w1").await.unwrap().data["spec"]["color"],
        "red"
    );
    fleet.shutdown().await;
}

/// A tenant's identity may list only in its namespaces: the cluster-wide list of the live
/// objects is refused (403, injected here), and the applier lists in each namespace of
/// the set instead, so a new applier still finds the objects and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_in_each_namespace_when_listing_across_namespaces_is_forbidden() {
    let (fleet, client) = start().await;
    let cluster = &fleet.clusters()[0];
    let objects = set(vec![
        namespace("team-a"),
        namespace("team-b"),
        config_map("team-a", "settings", json!({"k": "a"})),
        config_map("team-b", "settings", json!({"k": "b"})),
    ]);
    Applier::new(client.clone(), owner())
        .apply(&objects)
        .await
        .unwrap();
    let forbidden = |path: &str| {
        kubesim::Fault::status(403)
            .method("GET")
            .path_contains(path)
    };
    cluster.inject(forbidden("/api/v1/configmaps"));
    // The ConfigMap lists since the log was cleared, in path order (the namespaces are
    // listed concurrently).
    let config_map_lists = || {
        let mut lists: Vec<(String, u16)> = cluster
            .request_log()
            .iter()
            .filter(|r| r.method == "GET" && r.path.ends_with("/configmaps"))
            .map(|r| (r.path.clone(), r.status))
            .collect();
        lists.sort();
        lists
    };
    let per_namespace = [
        ("/api/v1/namespaces/team-a/configmaps".to_owned(), 200),
        ("/api/v1/namespaces/team-b/configmaps".to_owned(), 200),
    ];
    cluster.clear_request_log();

    let applier = Applier::new(client.clone(), owner());
    let report = applier.apply(&objects).await.unwrap();
    assert_eq!(report.count(Action::Unchanged), 4, "{report:?}");
    let mut refused_then_per_namespace = vec![("/api/v1/configmaps".to_owned(), 403)];
    refused_then_per_namespace.extend(per_namespace.clone());
    assert_eq!(config_map_lists(), refused_then_per_namespace);
    let writes: Vec<String> = cluster
        .request_log()
        .iter()
        .filter(|r| r.method == "PATCH" && !r.query.contains("dryRun"))
        .map(|r| r.path.clone())
        .collect();
    assert!(writes.is_empty(), "{writes:?}");
    // The applier remembers the refusal: its next plan lists per namespace at once.
    cluster.clear_request_log();
    applier.apply(&objects).await.unwrap();
    assert_eq!(config_map_lists(), per_namespace);

    // Refused in a namespace too: the run fails, naming the list.
    cluster.inject(forbidden("/namespaces/team-b/configmaps"));
    let error = Applier::new(client.clone(), owner())
        .apply(&objects)
        .await
        .unwrap_err();
    assert!(
        matches!(&error, ApplyError::Cluster { what, .. }
            if what == "listing v1 configmaps in namespace team-b"),
        "{error:?}"
    );
    fleet.shutdown().await;
}
