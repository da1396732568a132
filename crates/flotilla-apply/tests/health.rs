//! Health checks (kstatus) against a kubesim cluster over HTTPS: conditions written by a
//! "controller" task, and kubesim's simulated workloads.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use std::time::Duration;

use common::*;
use flotilla_api::references::ObjectKindReference;
use flotilla_apply::InventoryEntry;
use flotilla_apply::health::{HealthChecker, HealthError, HealthOptions, Status};
use kube::api::{Patch, PatchParams};
use serde_json::{Value, json};

/// A CRD whose resources have a status subresource.
fn gadget_crd() -> Value {
    let mut crd = crd("gadgets", "Gadget");
    crd["spec"]["versions"][0]["subresources"] = json!({"status": {}});
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] =
        json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true});
    crd
}

fn checker(client: &kube::Client, timeout: Duration) -> HealthChecker {
    HealthChecker::new(client.clone()).with_options(HealthOptions {
        timeout,
        interval: Duration::from_millis(50),
        ..HealthOptions::default()
    })
}

/// Sets a Gadget's status conditions through the status subresource, as its controller.
async fn set_condition(client: &kube::Client, name: &str, kind: &str, status: &str, message: &str) {
    api(client, "example.com", "v1", "Gadget", Some("default"))
        .patch_status(
            name,
            &PatchParams::apply("gadget-controller").force(),
            &Patch::Apply(json!({"apiVersion": "example.com/v1", "kind": "Gadget",
                "metadata": {"name": name},
                "status": {"conditions": [{"type": kind, "status": status, "reason": "Test", "message": message}]}})),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waits_for_ready_and_fails_fast_on_stalled() {
    let (fleet, client) = start().await;
    let inventory = applied(
        &client,
        vec![
            gadget_crd(),
            config_map("default", "settings", json!({"a": "1"})),
            custom("Gadget", "default", "ready-later", json!(1)),
            custom("Gadget", "default", "breaks", json!(1)),
        ],
    )
    .await;
    let find = |name: &str| -> InventoryEntry {
        inventory.iter().find(|e| e.name == name).unwrap().clone()
    };
    set_condition(&client, "ready-later", "Ready", "False", "warming up").await;
    set_condition(&client, "breaks", "Ready", "False", "warming up").await;

    // Not ready within the timeout: every pending object named with its status.
    let err = checker(&client, Duration::from_millis(300))
        .wait(&[find("settings"), find("ready-later")])
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "HealthCheckFailed");
    let HealthError::TimedOut { pending, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].health.status, Status::InProgress);
    assert!(
        err.to_string()
            .contains("Gadget.example.com/default/ready-later status: 'InProgress': warming up"),
        "{err}"
    );

    // Becomes Ready while waited for.
    let controller = {
        let client = client.clone();
        tokio::spawn(async move {
            set_condition(&client, "ready-later", "Ready", "True", "up").await;
        })
    };
    let healthy = checker(&client, Duration::from_secs(30))
        .wait(&[
            find("settings"),
            find("ready-later"),
            find("gadgets.example.com"),
        ])
        .await
        .unwrap();
    controller.await.unwrap();
    assert_eq!(healthy.len(), 3);
    assert!(healthy.iter().all(|h| h.health.status == Status::Current));

    // Stalled fails at once: a Failed error, not the timeout's (which would take ten
    // minutes to come).
    set_condition(&client, "breaks", "Stalled", "True", "out of gears").await;
    let err = checker(&client, Duration::from_secs(600))
        .wait(&[find("ready-later"), find("breaks")])
        .await
        .unwrap_err();
    let HealthError::Failed(failed) = &err else {
        panic!("expected a failure, got {err}");
    };
    assert_eq!(failed.object.name, "breaks");
    assert_eq!(
        err.to_string(),
        "HealthCheckFailed: Gadget.example.com/default/breaks status: 'Failed': out of gears"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_checks_resolve_references() {
    let (fleet, client) = start().await;
    applied(
        &client,
        vec![
            config_map("team", "settings", json!({"a": "1"})),
            namespace("team"),
        ],
    )
    .await;
    let checker = checker(&client, Duration::from_millis(300));
    let reference = |api_version: Option<&str>, kind: &str, name: &str| ObjectKindReference {
        api_version: api_version.map(Into::into),
        kind: kind.into(),
        name: name.into(),
        namespace: None,
    };
    let resolved = checker
        .resolve(
            &[
                reference(Some("v1"), "ConfigMap", "settings"),
                reference(None, "Namespace", "team"),
                reference(None, "Deployment", "absent"),
            ],
            Some("team"),
        )
        .await
        .unwrap();
    let printed: Vec<String> = resolved.iter().map(ToString::to_string).collect();
    assert_eq!(
        printed,
        [
            "ConfigMap/team/settings",
            "Namespace/team",
            "Deployment.apps/team/absent"
        ]
    );
    let err = checker.wait(&resolved).await.unwrap_err();
    let HealthError::TimedOut { pending, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].health.status, Status::NotFound);
    assert!(
        err.to_string()
            .contains("Deployment.apps/team/absent status: 'NotFound'"),
        "{err}"
    );

    let err = checker
        .resolve(&[reference(Some("example.com/v1"), "Gizmo", "g")], None)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "HealthCheckFailed: no resource serves kind Gizmo in example.com/v1"
    );
    fleet.shutdown().await;
}

/// `value` with the kubesim behaviour annotations on the object and its pod template.
fn simulated(mut value: Value, annotations: Value) -> Value {
    value["metadata"]["annotations"] = annotations.clone();
    value["spec"]["template"]["metadata"]["annotations"] = annotations;
    value
}

fn job(name: &str, annotations: Value) -> Value {
    simulated(
        json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
               "spec": {"backoffLimit": 0, "template": {"metadata": {},
                   "spec": {"restartPolicy": "Never", "containers": [{"name": "run", "image": "busybox:1.36"}]}}}}),
        annotations,
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_simulated_deployment_is_ready_after_its_delay() {
    let (fleet, client) = start().await;
    let web = simulated(
        deployment("default", "web"),
        json!({"kubesim.flotilla.dev/delay": "4s"}),
    );
    let inventory = applied(&client, vec![web]).await;
    // Right after the apply its pods are still starting: one look says InProgress.
    let err = checker(&client, Duration::ZERO)
        .wait(&inventory)
        .await
        .unwrap_err();
    let HealthError::TimedOut { pending, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(pending[0].health.status, Status::InProgress, "{err}");

    let healthy = checker(&client, Duration::from_secs(60))
        .wait(&inventory)
        .await
        .unwrap();
    assert_eq!(healthy[0].health.status, Status::Current);
    assert_eq!(
        healthy[0].health.message,
        "Deployment is available. Replicas: 1"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_deployment_fails_the_check_at_the_timeout() {
    let (fleet, client) = start().await;
    let stuck = simulated(
        deployment("default", "stuck"),
        json!({"kubesim.flotilla.dev/behavior": "stuck"}),
    );
    let inventory = applied(
        &client,
        vec![stuck, config_map("default", "settings", json!({"a": "1"}))],
    )
    .await;
    let err = checker(&client, Duration::from_millis(1500))
        .wait(&inventory)
        .await
        .unwrap_err();
    assert_eq!(err.reason(), "HealthCheckFailed");
    let HealthError::TimedOut { pending, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    assert_eq!(pending.len(), 1, "{err}");
    assert!(
        err.to_string()
            .contains("Deployment.apps/default/stuck status: 'InProgress'"),
        "{err}"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_job_fails_the_check_at_once() {
    let (fleet, client) = start().await;
    let inventory = applied(
        &client,
        vec![
            job("migrate", json!({"kubesim.flotilla.dev/behavior": "fail"})),
            job("seed", json!({})),
        ],
    )
    .await;
    // A ten-minute timeout: only failing fast can end this test in time, and the error
    // says which (Failed, not TimedOut).
    let err = checker(&client, Duration::from_secs(600))
        .wait(&inventory)
        .await
        .unwrap_err();
    let HealthError::Failed(failed) = &err else {
        panic!("expected a failure, got {err}");
    };
    assert_eq!(failed.object.to_string(), "Job.batch/default/migrate");
    assert_eq!(
        err.to_string(),
        "HealthCheckFailed: Job.batch/default/migrate status: 'Failed': Job Failed. failed: 1/1"
    );
    fleet.shutdown().await;
}
