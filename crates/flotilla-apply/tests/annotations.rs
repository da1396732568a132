//! Per-object annotations (`flotilla.dev/reconcile`, `flotilla.dev/ssa`) against a
//! kubesim cluster over HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use flotilla_apply::{Action, Applier, ApplyError};
use serde_json::{Value, json};

fn annotated(mut object: Value, key: &str, value: &str) -> Value {
    object["metadata"]["annotations"] = json!({ key: value });
    object
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_disabled_on_the_live_object_stops_writes() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let config_maps = settings_edited_by(
        &client,
        &applier,
        "operator",
        json!({"metadata": {"annotations": {"flotilla.dev/reconcile": "disabled"}}}),
    )
    .await;
    let version = config_maps
        .get("settings")
        .await
        .unwrap()
        .metadata
        .resource_version;

    let report = applier.apply(&settings(json!({"a": "2"}))).await.unwrap();
    assert_eq!(report.objects[0].action, Action::Skipped);
    let live = config_maps.get("settings").await.unwrap();
    assert_eq!(live.data["data"], json!({"a": "1"}));
    assert_eq!(live.metadata.resource_version, version);
    // Skipped objects stay in the inventory: they are still the deployer's.
    assert_eq!(report.inventory().len(), 1);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssa_if_not_present_creates_once_and_ignore_never_writes() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let seed = |data: Value| {
        annotated(
            config_map("default", "seed", data),
            "flotilla.dev/ssa",
            "IfNotPresent",
        )
    };
    let ignored = annotated(
        config_map("default", "ignored", json!({"a": "1"})),
        "flotilla.dev/ssa",
        "Ignore",
    );
    let disabled = annotated(
        config_map("default", "disabled", json!({"a": "1"})),
        "flotilla.dev/reconcile",
        "disabled",
    );
    let first = applier
        .apply(&set(vec![
            seed(json!({"a": "1"})),
            ignored.clone(),
            disabled.clone(),
        ]))
        .await
        .unwrap();
    let actions: Vec<Action> = first.objects.iter().map(|o| o.action).collect();
    assert_eq!(actions, [Action::Created, Action::Skipped, Action::Skipped]);
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    assert!(config_maps.get_opt("ignored").await.unwrap().is_none());
    assert!(config_maps.get_opt("disabled").await.unwrap().is_none());

    let second = applier
        .apply(&set(vec![seed(json!({"a": "2"})), ignored, disabled]))
        .await
        .unwrap();
    assert_eq!(second.count(Action::Skipped), 3, "{second:?}");
    assert_eq!(
        config_maps.get("seed").await.unwrap().data["data"],
        json!({"a": "1"})
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_annotation_value_fails_the_run_naming_the_object() {
    let (fleet, client) = start().await;
    let err = Applier::new(client.clone(), owner())
        .apply(&set(vec![
            config_map("default", "fine", json!({"a": "1"})),
            annotated(
                config_map("default", "odd", json!({"a": "1"})),
                "flotilla.dev/ssa",
                "Merge",
            ),
        ]))
        .await
        .unwrap_err();
    assert!(matches!(err, ApplyError::Invalid { .. }), "{err}");
    assert!(
        err.to_string().contains(
            "ConfigMap/default/odd: annotation flotilla.dev/ssa: unknown value \"Merge\""
        ),
        "{err}"
    );
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    assert!(config_maps.get_opt("fine").await.unwrap().is_none());
    fleet.shutdown().await;
}
