//! The simulated controllers, seen through kube-rs over HTTPS: Deployments roll out through
//! ReplicaSets to Ready pods, Jobs complete or fail, pods run to completion, and the
//! behaviour annotations and per-cluster defaults change what happens.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;
mod sim_common;

use sim_common::{client, condition, fleet, until};

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kubesim::{Behavior, FleetHandle};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn deployment(name: &str, image: &str, replicas: i32, annotations: Value) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "main", "image": image}]},
            },
        },
    }))
    .unwrap()
}

fn rollout_complete(d: &Deployment) -> bool {
    let s = d.status.clone().unwrap_or_default();
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    s.observed_generation == d.metadata.generation
        && s.updated_replicas == Some(want)
        && s.replicas == Some(want)
        && s.available_replicas == Some(want)
        && condition(s.conditions.as_ref(), "Progressing")
            .is_some_and(|c| c["reason"] == "NewReplicaSetAvailable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployment_rolls_out_through_replica_sets_to_ready_pods() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let sets: Api<ReplicaSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    deploys
        .create(
            &PostParams::default(),
            &deployment("web", "nginx:1.27", 3, json!({})),
        )
        .await
        .unwrap();
    let d = until(&deploys, "web", "rolled out", rollout_complete).await;
    let status = d.status.unwrap();
    assert_eq!(status.ready_replicas, Some(3));
    let available = condition(status.conditions.as_ref(), "Available").unwrap();
    assert_eq!(available["status"], "True");
    assert_eq!(available["reason"], "MinimumReplicasAvailable");
    let annotations = d.metadata.annotations.unwrap();
    assert_eq!(annotations["deployment.kubernetes.io/revision"], "1");

    let rs_list = sets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rs_list.len(), 1);
    let rs = &rs_list[0];
    let hash = rs.labels()["pod-template-hash"].clone();
    assert_eq!(rs.name_any(), format!("web-{hash}"));
    let owner = &rs.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("Deployment", "web")
    );
    assert_eq!(Some(&owner.uid), d.metadata.uid.as_ref());
    assert_eq!(owner.controller, Some(true));

    let pod_list = pods
        .list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items;
    assert_eq!(pod_list.len(), 3);
    for p in &pod_list {
        assert!(
            p.name_any().starts_with(&format!("web-{hash}-")),
            "{}",
            p.name_any()
        );
        assert_eq!(p.labels()["pod-template-hash"], hash);
        assert_eq!(p.owner_references()[0].uid, rs.uid().unwrap());
        let s = p.status.clone().unwrap();
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert!(s.pod_ip.is_some() && s.host_ip.is_some() && s.start_time.is_some());
        for kind in ["PodScheduled", "Initialized", "ContainersReady", "Ready"] {
            assert_eq!(
                condition(s.conditions.as_ref(), kind).unwrap()["status"],
                "True",
                "{kind}"
            );
        }
        let c = &s.container_statuses.unwrap()[0];
        assert!(
            c.ready && c.state.as_ref().unwrap().running.is_some(),
            "{c:?}"
        );
        assert_eq!(c.image, "nginx:1.27");
    }
    let ips: std::collections::HashSet<_> = pod_list
        .iter()
        .map(|p| p.status.as_ref().unwrap().pod_ip.clone())
        .collect();
    assert_eq!(ips.len(), 3, "each pod has its own IP");

    // A new template rolls out a second ReplicaSet and scales the first to zero.
    deploys
        .patch(
            "web",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "nginx:1.28"}]}}}})),
        )
        .await
        .unwrap();
    let d = until(&deploys, "web", "rolled out again", |d| {
        rollout_complete(d)
            && d.annotations()
                .get("deployment.kubernetes.io/revision")
                .map(String::as_str)
                == Some("2")
    })
    .await;
    assert_eq!(d.metadata.generation, Some(2));
    let rs_list = sets.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(rs_list.len(), 2);
    let old = rs_list
        .iter()
        .find(|r| r.labels()["pod-template-hash"] == hash)
        .unwrap();
    assert_eq!(old.spec.as_ref().unwrap().replicas, Some(0));
    let new = rs_list
        .iter()
        .find(|r| r.labels()["pod-template-hash"] != hash)
        .unwrap();
    assert_eq!(new.annotations()["deployment.kubernetes.io/revision"], "2");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let images: Vec<String> = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .iter()
            .map(|p| {
                p.spec.as_ref().unwrap().containers[0]
                    .image
                    .clone()
                    .unwrap()
            })
            .collect();
        if images.len() == 3 && images.iter().all(|i| i == "nginx:1.28") {
            break;
        }
        assert!(Instant::now() < deadline, "old pods remain: {images:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stuck_deployment_never_becomes_available_and_misses_its_deadline() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut d = deployment(
        "slow",
        "nginx",
        1,
        json!({"kubesim.flotilla.dev/behavior": "stuck"}),
    );
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(1);
    deploys.create(&PostParams::default(), &d).await.unwrap();
    // A healthy twin created after it becomes available while the stuck one does not.
    deploys
        .create(
            &PostParams::default(),
            &deployment("fine", "nginx", 1, json!({})),
        )
        .await
        .unwrap();
    until(&deploys, "fine", "rolled out", rollout_complete).await;
    let d = until(&deploys, "slow", "past its deadline", |d| {
        condition(
            d.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "Progressing",
        )
        .is_some_and(|c| c["reason"] == "ProgressDeadlineExceeded")
    })
    .await;
    let s = d.status.unwrap();
    assert_eq!(s.available_replicas, None);
    assert_eq!(s.unavailable_replicas, Some(1));
    let progressing = condition(s.conditions.as_ref(), "Progressing").unwrap();
    assert_eq!(progressing["status"], "False");
    let available = condition(s.conditions.as_ref(), "Available").unwrap();
    assert_eq!(available["status"], "False");
    let p = &pods
        .list(&ListParams::default().labels("app=slow"))
        .await
        .unwrap()
        .items[0];
    let ps = p.status.clone().unwrap();
    assert_eq!(ps.phase.as_deref(), Some("Pending"));
    let waiting = ps.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ContainerCreating"));
}

fn job(name: &str, annotations: Value, backoff_limit: i32) -> Job {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "backoffLimit": backoff_limit,
            "template": {
                "metadata": {"annotations": annotations},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "run", "image": "busybox"}],
                },
            },
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_complete_or_fail_after_their_backoff_limit() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    jobs.create(&PostParams::default(), &job("ok", json!({}), 6))
        .await
        .unwrap();
    jobs.create(
        &PostParams::default(),
        &job("bad", json!({"kubesim.flotilla.dev/behavior": "fail"}), 1),
    )
    .await
    .unwrap();
    let done = until(&jobs, "ok", "complete", |j| {
        condition(
            j.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "Complete",
        )
        .is_some()
    })
    .await;
    let s = done.status.unwrap();
    assert_eq!(s.succeeded, Some(1));
    assert_eq!(s.failed, None);
    assert!(s.completion_time.is_some() && s.start_time.is_some());
    assert_eq!(
        condition(s.conditions.as_ref(), "Complete").unwrap()["status"],
        "True"
    );
    let ok_pods = pods
        .list(&ListParams::default().labels("job-name=ok"))
        .await
        .unwrap()
        .items;
    assert_eq!(ok_pods.len(), 1);
    let term = ok_pods[0]
        .status
        .clone()
        .unwrap()
        .container_statuses
        .unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(
        (term.exit_code, term.reason.as_deref()),
        (0, Some("Completed"))
    );
    assert_eq!(
        ok_pods[0].status.as_ref().unwrap().phase.as_deref(),
        Some("Succeeded")
    );

    let failed = until(&jobs, "bad", "failed", |j| {
        condition(
            j.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "Failed",
        )
        .is_some()
    })
    .await;
    let s = failed.status.unwrap();
    assert_eq!(s.failed, Some(2), "backoffLimit 1 allows one retry");
    assert_eq!(s.succeeded, None);
    let c = condition(s.conditions.as_ref(), "Failed").unwrap();
    assert_eq!(c["reason"], "BackoffLimitExceeded");
    assert!(condition(s.conditions.as_ref(), "Complete").is_none());
    let bad_pods = pods
        .list(&ListParams::default().labels("job-name=bad"))
        .await
        .unwrap()
        .items;
    assert_eq!(bad_pods.len(), 2);
    assert!(
        bad_pods
            .iter()
            .all(|p| p.status.as_ref().unwrap().phase.as_deref() == Some("Failed"))
    );
}

fn pod(name: &str, restart: &str, annotations: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "c", "image": "busybox"}],
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_run_to_completion_or_crash_loop() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let create = |p: Pod| {
        let pods = pods.clone();
        async move { pods.create(&PostParams::default(), &p).await.unwrap() }
    };
    create(pod(
        "later",
        "Always",
        json!({"kubesim.flotilla.dev/delay": "1h"}),
    ))
    .await;
    create(pod("once", "Never", json!({}))).await;
    create(pod(
        "boom",
        "Never",
        json!({"kubesim.flotilla.dev/behavior": "crash"}),
    ))
    .await;
    create(pod(
        "loop",
        "Always",
        json!({"kubesim.flotilla.dev/behavior": "crash"}),
    ))
    .await;
    create(pod(
        "pull",
        "Always",
        json!({"kubesim.flotilla.dev/behavior": "fail"}),
    ))
    .await;
    let phase = |p: &Pod| {
        p.status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default()
    };
    let once = until(&pods, "once", "Succeeded", |p| phase(p) == "Succeeded").await;
    // Two stages of the default delay have passed; a pod annotated with an hour has not
    // left its first.
    let later = pods.get("later").await.unwrap().status.unwrap();
    assert_eq!(later.phase.as_deref(), Some("Pending"));
    assert_eq!(
        condition(later.conditions.as_ref(), "PodScheduled").unwrap()["status"],
        "True"
    );
    let ready = condition(once.status.as_ref().unwrap().conditions.as_ref(), "Ready").unwrap();
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("False"), Some("PodCompleted"))
    );
    let boom = until(&pods, "boom", "Failed", |p| phase(p) == "Failed").await;
    let term = boom.status.unwrap().container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .terminated
        .unwrap();
    assert_eq!(term.exit_code, 1);
    let looping = until(&pods, "loop", "restarted twice", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| c[0].restart_count >= 2)
    })
    .await;
    let s = looping.status.unwrap();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert_eq!(
        condition(s.conditions.as_ref(), "Ready").unwrap()["status"],
        "False"
    );
    let waiting = s.container_statuses.unwrap()[0]
        .state
        .clone()
        .unwrap()
        .waiting
        .unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("CrashLoopBackOff"));
    let pull = until(&pods, "pull", "in image pull back-off", |p| {
        p.status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
            .is_some_and(|c| {
                c[0].state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.as_deref())
                    == Some("ImagePullBackOff")
            })
    })
    .await;
    assert_eq!(phase(&pull), "Pending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_default_behavior_applies_unless_annotated() {
    let fleet = fleet(|c| c.workloads.behavior = Behavior::Stuck).await;
    let client = client(&fleet.clusters()[0]).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(&PostParams::default(), &pod("held", "Always", json!({})))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod(
            "free",
            "Always",
            json!({"kubesim.flotilla.dev/behavior": "healthy"}),
        ),
    )
    .await
    .unwrap();
    until(&pods, "free", "Ready", |p| {
        condition(
            p.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "Ready",
        )
        .is_some_and(|c| c["status"] == "True")
    })
    .await;
    let held = pods.get("held").await.unwrap();
    assert_eq!(held.status.unwrap().phase.as_deref(), Some("Pending"));

    // Without the controllers, nothing touches a pod's status.
    let off = fleet_off().await;
    let client = client_of(&off).await;
    let pods: Api<Pod> = Api::default_namespaced(client);
    pods.create(&PostParams::default(), &pod("alone", "Always", json!({})))
        .await
        .unwrap();
    assert!(
        pods.get("alone")
            .await
            .unwrap()
            .status
            .is_none_or(|s| s.phase.is_none())
    );
}

async fn fleet_off() -> FleetHandle {
    fleet(|c| c.workloads.enabled = false).await
}

async fn client_of(f: &FleetHandle) -> kube::Client {
    client(&f.clusters()[0]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_deadline_and_ttl_after_finished() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let jobs: Api<Job> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let mut late = job("late", json!({"kubesim.flotilla.dev/behavior": "stuck"}), 6);
    late.spec.as_mut().unwrap().active_deadline_seconds = Some(1);
    jobs.create(&PostParams::default(), &late).await.unwrap();
    let mut brief = job("brief", json!({}), 6);
    brief.spec.as_mut().unwrap().ttl_seconds_after_finished = Some(0);
    jobs.create(&PostParams::default(), &brief).await.unwrap();

    let failed = until(&jobs, "late", "failed", |j| {
        condition(
            j.status.as_ref().and_then(|s| s.conditions.as_ref()),
            "Failed",
        )
        .is_some()
    })
    .await;
    let c = condition(
        failed.status.as_ref().unwrap().conditions.as_ref(),
        "Failed",
    )
    .unwrap();
    assert_eq!(c["reason"], "DeadlineExceeded");
    assert_eq!(failed.status.unwrap().active, None);
    let left = pods
        .list(&ListParams::default().labels("job-name=late"))
        .await
        .unwrap();
    assert!(left.items.is_empty(), "the running pod was stopped");

    // Finished with a zero TTL: deleted, its pod before it (foreground).
    let deadline = Instant::now() + Duration::from_secs(20);
    while jobs.get_opt("brief").await.unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the finished Job was never deleted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let left = pods
        .list(&ListParams::default().labels("job-name=brief"))
        .await
        .unwrap();
    assert!(left.items.is_empty());
}
