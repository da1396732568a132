//! Garbage collection by ownerReferences, through kube-rs: Background, Foreground (owner
//! held until blocking dependents are gone) and Orphan propagation, the Job default, and
//! dependents with several owners.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;
mod sim_common;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::json;
use sim_common::{client, fleet, until};
use std::time::{Duration, Instant};

fn deployment(name: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
        },
    }))
    .unwrap()
}

async fn rolled_out(deploys: &Api<Deployment>, name: &str) {
    until(deploys, name, "available", |d| {
        d.status
            .as_ref()
            .is_some_and(|s| s.available_replicas == Some(2))
    })
    .await;
}

/// Polls `count` until it returns `want` (20 s at most).
async fn until_count<F: std::future::Future<Output = usize>>(
    what: &str,
    want: usize,
    count: impl Fn() -> F,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = count().await;
        if n == want {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {n}, want {want}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

struct Apis {
    deploys: Api<Deployment>,
    sets: Api<ReplicaSet>,
    pods: Api<Pod>,
}

impl Apis {
    async fn sets_of(&self, app: &str) -> Vec<ReplicaSet> {
        self.sets
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap()
            .items
    }
    async fn pods_of(&self, app: &str) -> Vec<Pod> {
        self.pods
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap()
            .items
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_foreground_and_orphan_deletion_of_a_deployment() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let a = Apis {
        deploys: Api::default_namespaced(client.clone()),
        sets: Api::default_namespaced(client.clone()),
        pods: Api::default_namespaced(client.clone()),
    };
    for name in ["bg", "fg", "orph"] {
        a.deploys
            .create(&PostParams::default(), &deployment(name))
            .await
            .unwrap();
    }
    for name in ["bg", "fg", "orph"] {
        rolled_out(&a.deploys, name).await;
    }

    // Background (the default): the Deployment goes at once, its ReplicaSet and pods after.
    let gone = a
        .deploys
        .delete("bg", &DeleteParams::default())
        .await
        .unwrap();
    assert!(gone.is_right(), "a finished deletion answers with a Status");
    until_count("bg replica sets", 0, || async {
        a.sets_of("bg").await.len()
    })
    .await;
    until_count("bg pods", 0, || async { a.pods_of("bg").await.len() }).await;

    // Foreground: a pod held by a finalizer holds its ReplicaSet, which holds the Deployment.
    let held = a.pods_of("fg").await[0].name_any();
    a.pods
        .patch(
            &held,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": ["example.com/hold"]}})),
        )
        .await
        .unwrap();
    let marked = a
        .deploys
        .delete("fg", &DeleteParams::foreground())
        .await
        .unwrap();
    let marked = marked
        .left()
        .expect("a pending deletion answers with the object");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert_eq!(marked.finalizers(), ["foregroundDeletion"]);
    until(&a.pods, &held, "terminating", |p| {
        p.metadata.deletion_timestamp.is_some()
    })
    .await;
    let d = a.deploys.get("fg").await.unwrap();
    assert!(
        d.metadata.deletion_timestamp.is_some(),
        "the Deployment waits for its dependents"
    );
    let sets = a.sets_of("fg").await;
    assert_eq!(sets.len(), 1, "the ReplicaSet waits for the held pod");
    assert!(sets[0].metadata.deletion_timestamp.is_some());
    assert_eq!(a.pods_of("fg").await.len(), 1, "only the held pod is left");
    a.pods
        .patch(
            &held,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .unwrap();
    until_count("fg deployments", 0, || async {
        usize::from(a.deploys.get_opt("fg").await.unwrap().is_some())
    })
    .await;
    assert!(a.sets_of("fg").await.is_empty());

    // Orphan: the Deployment goes, its ReplicaSet stays without an owner, pods untouched.
    let rs = a.sets_of("orph").await.remove(0);
    a.deploys
        .delete(
            "orph",
            &DeleteParams {
                propagation_policy: Some(PropagationPolicy::Orphan),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    until_count("orph deployments", 0, || async {
        usize::from(a.deploys.get_opt("orph").await.unwrap().is_some())
    })
    .await;
    let left = a.sets.get(&rs.name_any()).await.unwrap();
    assert!(
        left.owner_references().is_empty(),
        "{:?}",
        left.metadata.owner_references
    );
    let pods = a.pods_of("orph").await;
    assert_eq!(pods.len(), 2);
    assert!(
        pods.iter()
            .all(|p| p.owner_references()[0].uid == rs.uid().unwrap())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_orphan_pods_by_default_and_shared_dependents_outlive_one_owner() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let job = |name: &str| -> Job {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"template": {"spec": {"restartPolicy": "Never",
                "containers": [{"name": "c", "image": "busybox"}]}}},
        }))
        .unwrap()
    };
    for name in ["keep", "drop"] {
        jobs.create(&PostParams::default(), &job(name))
            .await
            .unwrap();
        until(&jobs, name, "complete", |j| {
            j.status.as_ref().is_some_and(|s| s.succeeded == Some(1))
        })
        .await;
    }
    let job_pods = |name: &str| {
        let pods = pods.clone();
        let selector = format!("job-name={name}");
        async move {
            pods.list(&ListParams::default().labels(&selector))
                .await
                .unwrap()
                .items
        }
    };
    jobs.delete("keep", &DeleteParams::default()).await.unwrap();
    until_count("pods owned by keep", 0, || async {
        job_pods("keep")
            .await
            .iter()
            .filter(|p| !p.owner_references().is_empty())
            .count()
    })
    .await;
    assert_eq!(
        job_pods("keep").await.len(),
        1,
        "the batch/v1 default orphans the pod"
    );
    jobs.delete("drop", &DeleteParams::background())
        .await
        .unwrap();
    until_count("pods of drop", 0, || async { job_pods("drop").await.len() }).await;

    // A ConfigMap owned by two others survives the first owner and goes with the second.
    let cms: Api<ConfigMap> = Api::default_namespaced(client.clone());
    let mut owners = Vec::new();
    for name in ["o1", "o2"] {
        let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        owners.push(cms.create(&PostParams::default(), &cm).await.unwrap());
    }
    let refs: Vec<_> = owners
        .iter()
        .map(|o| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": o.name_any(), "uid": o.uid().unwrap()}))
        .collect();
    let dependent: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "dep", "ownerReferences": refs}}))
            .unwrap();
    cms.create(&PostParams::default(), &dependent)
        .await
        .unwrap();
    cms.delete("o1", &DeleteParams::default()).await.unwrap();
    let dep = until(&cms, "dep", "left with one owner", |c| {
        c.owner_references().len() == 1
    })
    .await;
    assert_eq!(dep.owner_references()[0].name, "o2");
    cms.delete("o2", &DeleteParams::default()).await.unwrap();
    until_count("dep", 0, || async {
        usize::from(cms.get_opt("dep").await.unwrap().is_some())
    })
    .await;

    // A dependent whose owner never existed is collected too.
    let stray: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "stray", "ownerReferences": [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"}
    ]}}))
    .unwrap();
    cms.create(&PostParams::default(), &stray).await.unwrap();
    until_count("stray", 0, || async {
        usize::from(cms.get_opt("stray").await.unwrap().is_some())
    })
    .await;
}
