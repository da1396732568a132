//! Immutable-field changes (kubesim refuses them as kube-apiserver does): a failure naming
//! the object and field without force, a recreation with it.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use flotilla_apply::{Action, Applier, ApplyError, ApplyOptions};
use serde_json::{Value, json};

/// `deployment("default", "web")` selecting pods labelled `app: <selector>`.
fn web(selector: &str) -> Value {
    let mut web = deployment("default", "web");
    web["spec"]["selector"] = json!({"matchLabels": {"app": selector}});
    web["spec"]["template"]["metadata"]["labels"] = json!({"app": selector});
    web
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_immutable_change_fails_without_force_and_recreates_with_it() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    applier
        .apply(&set(vec![
            web("web"),
            config_map("default", "settings", json!({"a": "1"})),
        ]))
        .await
        .unwrap();
    let deployments = api(&client, "apps", "v1", "Deployment", Some("default"));
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    let before = deployments.get("web").await.unwrap();

    let changed = set(vec![
        web("web2"),
        config_map("default", "settings", json!({"a": "2"})),
    ]);
    let err = applier.apply(&changed).await.unwrap_err();
    let ApplyError::Invalid { failures } = &err else {
        panic!("expected a validation error, got {err}");
    };
    assert_eq!(failures.0.len(), 1, "{err}");
    assert_eq!(failures.0[0].id.to_string(), "Deployment.apps/default/web");
    assert!(
        failures.0[0]
            .reason
            .starts_with("immutable field(s) spec.selector changed"),
        "{err}"
    );
    // Nothing of the set was written.
    let unchanged = deployments.get("web").await.unwrap();
    assert_eq!(unchanged.metadata.uid, before.metadata.uid);
    assert_eq!(
        unchanged.data["spec"]["selector"]["matchLabels"]["app"],
        "web"
    );
    assert_eq!(
        config_maps.get("settings").await.unwrap().data["data"]["a"],
        "1"
    );

    let forced = applier.clone().with_options(ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    });
    let report = forced.apply(&changed).await.unwrap();
    let actions: Vec<(String, Action)> = report
        .objects
        .iter()
        .map(|o| (o.id.to_string(), o.action))
        .collect();
    assert_eq!(
        actions,
        [
            ("Deployment.apps/default/web".to_owned(), Action::Recreated),
            ("ConfigMap/default/settings".to_owned(), Action::Configured),
        ]
    );
    let after = deployments.get("web").await.unwrap();
    assert_ne!(after.metadata.uid, before.metadata.uid);
    assert_eq!(after.data["spec"]["selector"]["matchLabels"]["app"], "web2");
    assert_eq!(after.metadata.labels.unwrap()["flotilla.dev/name"], "apps");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_force_annotation_recreates_one_object() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let frozen = |value: &str| {
        let mut cm = config_map("default", "frozen", json!({"a": value}));
        cm["immutable"] = json!(true);
        cm["metadata"]["annotations"] = json!({"flotilla.dev/force": "enabled"});
        cm
    };
    applier.apply(&set(vec![frozen("1")])).await.unwrap();
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    let before = config_maps.get("frozen").await.unwrap().metadata.uid;

    let report = applier.apply(&set(vec![frozen("2")])).await.unwrap();
    assert_eq!(report.objects[0].action, Action::Recreated);
    let after = config_maps.get("frozen").await.unwrap();
    assert_ne!(after.metadata.uid, before);
    assert_eq!(after.data["data"]["a"], "2");

    // As in Flux, the annotation counts on the live object too: removing it from the
    // manifest in the same change still recreates.
    let mut unannotated = frozen("3");
    unannotated["metadata"]["annotations"] = json!({});
    let report = applier.apply(&set(vec![unannotated])).await.unwrap();
    assert_eq!(report.objects[0].action, Action::Recreated);

    // An object never annotated: the same change fails, naming the field.
    let mut plain = config_map("default", "plain", json!({"a": "1"}));
    plain["immutable"] = json!(true);
    applier.apply(&set(vec![plain.clone()])).await.unwrap();
    plain["data"]["a"] = json!("2");
    let err = applier.apply(&set(vec![plain])).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("ConfigMap/default/plain: immutable field(s) data changed"),
        "{err}"
    );
    assert_eq!(
        config_maps.get("plain").await.unwrap().data["data"]["a"],
        "1"
    );
    fleet.shutdown().await;
}
