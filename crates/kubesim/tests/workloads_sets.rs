//! StatefulSets, DaemonSets, PersistentVolumeClaims and pod logs from the simulated
//! controllers, through kube-rs over HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;
mod sim_common;

use k8s_openapi::api::apps::v1::{DaemonSet, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::ResourceExt;
use kube::api::{Api, ListParams, LogParams, Patch, PatchParams, PostParams};
use serde_json::{Value, json};
use sim_common::{client, fleet, until};

fn stateful_set(image: &str) -> StatefulSet {
    serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": image}]},
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "data"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
            }],
        },
    }))
    .unwrap()
}

fn set_ready(s: &StatefulSet) -> bool {
    let st = s.status.clone().unwrap_or_default();
    st.observed_generation == s.metadata.generation
        && st.ready_replicas == Some(2)
        && st.updated_replicas == Some(2)
        && st.current_revision.is_some()
        && st.current_revision == st.update_revision
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stateful_set_orders_pods_binds_claims_and_rolls_updates() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let sets: Api<StatefulSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    sets.create(&PostParams::default(), &stateful_set("pg:16"))
        .await
        .unwrap();
    let s = until(&sets, "db", "ready", set_ready).await;
    let first_revision = s.status.unwrap().update_revision.unwrap();
    assert!(first_revision.starts_with("db-"), "{first_revision}");
    for i in 0..2 {
        let p = pods.get(&format!("db-{i}")).await.unwrap();
        assert_eq!(p.labels()["controller-revision-hash"], first_revision);
        assert_eq!(
            p.labels()["statefulset.kubernetes.io/pod-name"],
            format!("db-{i}")
        );
        let spec = p.spec.unwrap();
        assert_eq!(spec.hostname.as_deref(), Some(format!("db-{i}").as_str()));
        assert_eq!(spec.subdomain.as_deref(), Some("db"));
        let claim = spec.volumes.unwrap()[0]
            .persistent_volume_claim
            .clone()
            .unwrap()
            .claim_name;
        assert_eq!(claim, format!("data-db-{i}"));
        let pvc = until(&claims, &claim, "Bound", |c| {
            c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
        })
        .await;
        let cap = pvc.status.clone().unwrap().capacity.unwrap();
        assert_eq!(cap["storage"].0, "1Gi");
        assert_eq!(pvc.labels()["app"], "db");
    }
    // Ordered: db-1 was created only once db-0 was Ready.
    let created = |p: &Pod| p.status.as_ref().unwrap().start_time.clone().unwrap().0;
    let (p0, p1) = (
        pods.get("db-0").await.unwrap(),
        pods.get("db-1").await.unwrap(),
    );
    let ready0 = p0
        .status
        .as_ref()
        .unwrap()
        .conditions
        .as_ref()
        .unwrap()
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap()
        .last_transition_time
        .clone()
        .unwrap()
        .0;
    assert!(created(&p1) >= ready0, "db-1 started before db-0 was ready");

    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "db", "image": "pg:17"}]}}}})),
    )
    .await
    .unwrap();
    let s = until(&sets, "db", "updated", |s| {
        set_ready(s)
            && s.status.as_ref().unwrap().update_revision.as_deref()
                != Some(first_revision.as_str())
    })
    .await;
    let revision = s.status.unwrap().update_revision.unwrap();
    for i in 0..2 {
        let p = pods.get(&format!("db-{i}")).await.unwrap();
        assert_eq!(p.labels()["controller-revision-hash"], revision);
        assert_eq!(
            p.spec.unwrap().containers[0].image.as_deref(),
            Some("pg:17")
        );
    }

    // Scaling down removes the highest ordinal; the claims stay (Retain).
    sets.patch(
        "db",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    until(&sets, "db", "scaled down", |s| {
        s.status
            .as_ref()
            .is_some_and(|st| st.replicas == 1 && st.ready_replicas == Some(1))
    })
    .await;
    assert!(pods.get_opt("db-1").await.unwrap().is_none());
    assert!(claims.get_opt("data-db-1").await.unwrap().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_set_runs_one_pod_on_the_node_and_claims_bind_unless_stuck() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let sets: Api<DaemonSet> = Api::default_namespaced(client.clone());
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "a", "image": "agent:1"}]}},
        },
    }))
    .unwrap();
    sets.create(&PostParams::default(), &ds).await.unwrap();
    let ds = until(&sets, "agent", "available", |d| {
        d.status
            .as_ref()
            .is_some_and(|s| s.number_available == Some(1) && s.updated_number_scheduled == Some(1))
    })
    .await;
    let s = ds.status.unwrap();
    assert_eq!(
        (
            s.desired_number_scheduled,
            s.current_number_scheduled,
            s.number_ready
        ),
        (1, 1, 1)
    );
    assert_eq!(s.observed_generation, Some(1));
    let list = pods
        .list(&ListParams::default().labels("app=agent"))
        .await
        .unwrap()
        .items;
    assert_eq!(list.len(), 1);
    assert_eq!(
        list[0].spec.as_ref().unwrap().node_name.as_deref(),
        Some("kubesim-node")
    );

    let claims: Api<PersistentVolumeClaim> = Api::default_namespaced(client.clone());
    let claim = |name: &str, annotations: Value| -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": name, "annotations": annotations},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
        }))
        .unwrap()
    };
    claims
        .create(
            &PostParams::default(),
            &claim("held", json!({"kubesim.flotilla.dev/behavior": "stuck"})),
        )
        .await
        .unwrap();
    claims
        .create(&PostParams::default(), &claim("data", json!({})))
        .await
        .unwrap();
    let bound = until(&claims, "data", "Bound", |c| {
        c.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
    })
    .await;
    assert!(bound.spec.unwrap().volume_name.unwrap().starts_with("pvc-"));
    let held = claims.get("held").await.unwrap();
    assert_eq!(held.status.unwrap().phase.as_deref(), Some("Pending"));
}

fn two_containers(name: &str, annotations: Value) -> Pod {
    serde_json::from_value(json!({
        "metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "app:1"}, {"name": "proxy", "image": "envoy:1"}]},
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pod_logs_by_container_with_tail_and_errors() {
    let fleet = fleet(|_| {}).await;
    let client = client(&fleet.clusters()[0]).await;
    let pods: Api<Pod> = Api::default_namespaced(client.clone());
    pods.create(
        &PostParams::default(),
        &two_containers(
            "web",
            json!({"kubesim.flotilla.dev/log": "one\ntwo\nthree\n", "kubesim.flotilla.dev/log.proxy": "proxy up\n"}),
        ),
    )
    .await
    .unwrap();
    pods.create(
        &PostParams::default(),
        &two_containers("held", json!({"kubesim.flotilla.dev/behavior": "stuck"})),
    )
    .await
    .unwrap();
    until(&pods, "web", "Running", |p| {
        p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
    })
    .await;
    let logs = |container: &str, tail: Option<i64>, previous: bool| {
        let pods = pods.clone();
        let lp = LogParams {
            container: Some(container.to_string()),
            tail_lines: tail,
            previous,
            ..Default::default()
        };
        async move { pods.logs("web", &lp).await }
    };
    assert_eq!(logs("app", None, false).await.unwrap(), "one\ntwo\nthree\n");
    assert_eq!(logs("app", Some(2), false).await.unwrap(), "two\nthree\n");
    assert_eq!(logs("proxy", None, false).await.unwrap(), "proxy up\n");
    let err = |e: kube::Error| match e {
        kube::Error::Api(s) => (s.code, s.message),
        other => panic!("{other:?}"),
    };
    let (code, message) = err(pods.logs("web", &LogParams::default()).await.unwrap_err());
    assert_eq!(code, 400);
    assert_eq!(
        message,
        "a container name must be specified for pod web, choose one of: [app proxy]"
    );
    let (_, message) = err(logs("nope", None, false).await.unwrap_err());
    assert_eq!(message, "container nope is not valid for pod web");
    let (_, message) = err(logs("app", None, true).await.unwrap_err());
    assert_eq!(
        message,
        "previous terminated container \"app\" in pod \"web\" not found"
    );
    let lp = LogParams {
        container: Some("app".into()),
        ..Default::default()
    };
    let (_, message) = err(pods.logs("held", &lp).await.unwrap_err());
    assert_eq!(
        message,
        "container \"app\" in pod \"held\" is waiting to start: ContainerCreating"
    );
    let timestamped = pods
        .logs(
            "web",
            &LogParams {
                container: Some("proxy".into()),
                timestamps: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let (stamp, line) = timestamped.trim_end().split_once(' ').unwrap();
    assert_eq!(line, "proxy up");
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );
}
