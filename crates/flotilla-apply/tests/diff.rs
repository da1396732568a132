//! Diff (dry-run against live) on a kubesim cluster over HTTPS, with edits made by the
//! real kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use common::*;
use flotilla_apply::Applier;
use flotilla_apply::diff::{CompareOptions, Drift, FieldChange, FieldValue};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unchanged_is_empty_and_kubectl_edits_show_exactly_their_paths() {
    let (fleet, client) = start().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = fleet.clusters()[0].write_kubeconfig(dir.path()).unwrap();
    let mut web = deployment("default", "web");
    web["spec"]["replicas"] = json!(2);
    let objects = set(vec![
        web,
        config_map("default", "settings", json!({"a": "1", "b": "2"})),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": "default"},
               "data": {"password": "aHVudGVyMg==", "user": "YWRtaW4="}}),
    ]);
    let applier = Applier::new(client.clone(), owner());
    applier.apply(&objects).await.unwrap();
    let options = CompareOptions::default();
    let report = applier.diff(&objects, &options).await.unwrap();
    assert!(report.is_empty(), "{report:?}");

    kubectl(&kubeconfig, &["scale", "deployment/web", "--replicas=5"]);
    kubectl(
        &kubeconfig,
        &[
            "patch",
            "configmap",
            "settings",
            "--type=merge",
            "-p",
            r#"{"data":{"a":"edited"}}"#,
        ],
    );
    kubectl(
        &kubeconfig,
        &[
            "patch",
            "secret",
            "creds",
            "-p",
            r#"{"data":{"password":"c3dvcmRmaXNo"}}"#,
        ],
    );
    // A field the set does not mention is no difference.
    kubectl(
        &kubeconfig,
        &["label", "configmap", "settings", "team=blue"],
    );

    let report = applier.diff(&objects, &options).await.unwrap();
    assert!(report.failures.is_empty(), "{report:?}");
    let found: Vec<(String, Vec<FieldChange>)> = report
        .objects
        .iter()
        .map(|o| {
            let Drift::Changed(changes) = &o.drift else {
                panic!("{} should exist", o.object);
            };
            (o.object.to_string(), changes.clone())
        })
        .collect();
    let change = |path: &str, desired: FieldValue, live: FieldValue| FieldChange {
        path: path.into(),
        desired,
        live,
    };
    assert_eq!(
        found,
        [
            (
                "Deployment.apps/default/web".to_owned(),
                vec![change(
                    "/spec/replicas",
                    FieldValue::Value(json!(2)),
                    FieldValue::Value(json!(5))
                )]
            ),
            (
                "ConfigMap/default/settings".to_owned(),
                vec![change(
                    "/data/a",
                    FieldValue::Value(json!("1")),
                    FieldValue::Value(json!("edited"))
                )]
            ),
            (
                "Secret/default/creds".to_owned(),
                vec![change(
                    "/data/password",
                    FieldValue::Hidden,
                    FieldValue::Hidden
                )]
            ),
        ]
    );
    let printed = format!(
        "{report:?}{}",
        serde_json::to_string(&report.objects).unwrap()
    );
    for secret in ["aHVudGVyMg", "c3dvcmRmaXNo", "YWRtaW4"] {
        assert!(!printed.contains(secret), "{printed}");
    }

    // The diff wrote nothing: applying corrects exactly the drift, and then it is empty.
    applier.apply(&objects).await.unwrap();
    let report = applier.diff(&objects, &options).await.unwrap();
    assert!(report.is_empty(), "{report:?}");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_objects_and_refusals() {
    let (fleet, client) = start().await;
    let applier = Applier::new(client.clone(), owner());
    let mut bad = config_map("default", "bad", json!({"a": "1"}));
    bad["spec"] = json!({"oops": true});
    let report = applier
        .diff(
            &set(vec![
                config_map("default", "new", json!({"a": "1"})),
                crd("widgets", "Widget"),
                custom("Widget", "default", "w", json!(1)),
                bad,
            ]),
            &CompareOptions::default(),
        )
        .await
        .unwrap();
    let missing: Vec<String> = report
        .objects
        .iter()
        .filter(|o| o.drift == Drift::Missing)
        .map(|o| o.object.to_string())
        .collect();
    assert_eq!(
        missing,
        [
            "ConfigMap/default/new",
            "CustomResourceDefinition.apiextensions.k8s.io/widgets.example.com",
            "Widget.example.com/default/w",
        ]
    );
    assert_eq!(report.failures.len(), 1, "{report:?}");
    assert_eq!(report.failures[0].id.to_string(), "ConfigMap/default/bad");
    assert!(report.failures[0].reason.contains("spec"), "{report:?}");
    let config_maps = api(&client, "", "v1", "ConfigMap", Some("default"));
    assert!(config_maps.get_opt("new").await.unwrap().is_none());
    fleet.shutdown().await;
}
