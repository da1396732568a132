//! A kube-runtime `Controller` with the finalizer helper, the shape of Flotilla's own
//! controllers, runs against kubesim: it sees objects, adds its finalizer (JSON patch with
//! `test`), reconciles, and cleans up on deletion — with streaming lists on and off.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event, finalizer};
use kube::runtime::watcher;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FINALIZER: &str = "example.com/cleanup";

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Failed(String);

async fn reconcile(cm: Arc<ConfigMap>, api: Arc<Api<ConfigMap>>) -> Result<Action, Failed> {
    finalizer(&api, FINALIZER, cm, |event| async {
        match event {
            Event::Apply(cm) => {
                let name = cm.metadata.name.clone().unwrap_or_default();
                api.patch(
                    &name,
                    &PatchParams::apply("reconciler"),
                    &Patch::Apply(json!({
                        "apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": name},
                        "data": {"reconciled": "yes"},
                    })),
                )
                .await
                .map_err(|e| Failed(e.to_string()))?;
                Ok::<_, Failed>(Action::await_change())
            }
            Event::Cleanup(_) => Ok(Action::await_change()),
        }
    })
    .await
    .map_err(|e| Failed(e.to_string()))
}

async fn controller_round_trip(streaming: bool) {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let api: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut wc = watcher::Config::default().labels("managed=yes");
    if streaming {
        wc = wc.streaming_lists();
    }
    let controller = Controller::new(api.clone(), wc)
        .run(
            reconcile,
            |_, _, _| Action::requeue(Duration::from_millis(200)),
            Arc::new(api.clone()),
        )
        .for_each(|_| async {});
    let task = tokio::spawn(controller);

    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "c", "labels": {"managed": "yes"}},
    }))
    .unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = api.get("c").await.unwrap();
        let reconciled = got
            .data
            .as_ref()
            .and_then(|d| d.get("reconciled"))
            .is_some();
        let finalized = got
            .metadata
            .finalizers
            .as_ref()
            .is_some_and(|f| f.iter().any(|x| x == FINALIZER));
        if reconciled && finalized {
            break;
        }
        assert!(Instant::now() < deadline, "not reconciled: {got:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    api.delete("c", &DeleteParams::default()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while api.get_opt("c").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "the finalizer was never removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_finalizer_list_watch() {
    controller_round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_finalizer_streaming_lists() {
    controller_round_trip(true).await;
}
