//! Watch details (replay from a resourceVersion, selector transitions, bookmarks,
//! timeouts) and write semantics (dryRun, the status subresource, finalizers) through
//! kube-rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use kubesim::{ClusterHandle, Fleet, FleetConfig};
use serde_json::json;
use std::time::{Duration, Instant};

async fn client(cluster: &ClusterHandle) -> Client {
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig()).unwrap();
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    Client::try_from(config).unwrap()
}

fn cm(v: serde_json::Value) -> ConfigMap {
    serde_json::from_value(v).unwrap()
}

/// Deleting `name` with `preconditions` is refused: a 409 whose message ends with `why`.
async fn delete_conflicts(
    api: &Api<ConfigMap>,
    name: &str,
    preconditions: kube::api::Preconditions,
    why: &str,
) {
    let params = DeleteParams {
        preconditions: Some(preconditions),
        ..Default::default()
    };
    match api.delete(name, &params).await {
        Err(kube::Error::Api(s)) => {
            assert_eq!(s.code, 409);
            assert!(s.message.ends_with(why), "{}", s.message);
        }
        other => panic!("expected 409, got {other:?}"),
    }
}

fn describe(e: &WatchEvent<ConfigMap>) -> String {
    match e {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.as_deref().unwrap_or("")),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.as_deref().unwrap_or("")),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.as_deref().unwrap_or("")),
        WatchEvent::Bookmark(_) => "BOOKMARK".to_string(),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_selectors_bookmarks_and_timeouts() {
    let fleet = Fleet::start(FleetConfig::with_clusters(1).each(|c| {
        c.bookmark_interval = Duration::from_millis(300);
    }))
    .await
    .unwrap();
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    let pp = PostParams::default();
    let a = api
        .create(&pp, &cm(json!({"metadata": {"name": "a"}})))
        .await
        .unwrap();
    let rv_a = a.metadata.resource_version.clone().unwrap();
    api.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"x": "1"}})),
    )
    .await
    .unwrap();
    api.create(&pp, &cm(json!({"metadata": {"name": "b"}})))
        .await
        .unwrap();

    // Replay from a's creation: the later changes, in order, then the stream times out.
    let wp = WatchParams::default().timeout(1).disable_bookmarks();
    let started = Instant::now();
    let events: Vec<String> = api
        .watch(&wp, &rv_a)
        .await
        .unwrap()
        .map_ok(|e| describe(&e))
        .try_collect()
        .await
        .unwrap();
    assert_eq!(events, ["MODIFIED a", "ADDED b"]);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "timeoutSeconds ends the watch"
    );

    // Selector transitions: labelled → ADDED, unlabelled → DELETED, for a selector watch.
    let wp = WatchParams::default()
        .timeout(3)
        .labels("app=x")
        .disable_bookmarks();
    let mut stream = api.watch(&wp, "0").await.unwrap().boxed();
    let label = |v: Option<&str>| json!({"metadata": {"labels": {"app": v}}});
    api.patch(
        "b",
        &PatchParams::default(),
        &Patch::Merge(label(Some("x"))),
    )
    .await
    .unwrap();
    api.patch("b", &PatchParams::default(), &Patch::Merge(label(None)))
        .await
        .unwrap();
    let first = describe(&stream.next().await.unwrap().unwrap());
    let second = describe(&stream.next().await.unwrap().unwrap());
    assert_eq!([first, second], ["ADDED b", "DELETED b"]);
    drop(stream);

    // Bookmarks: periodic ones, and one before a timeout closes the stream.
    let wp = WatchParams::default().timeout(1);
    let events: Vec<String> = api
        .watch(&wp, &cluster.resource_version().to_string())
        .await
        .unwrap()
        .map_ok(|e| describe(&e))
        .try_collect()
        .await
        .unwrap();
    assert!(events.len() >= 2, "{events:?}");
    assert!(events.iter().all(|e| e == "BOOKMARK"), "{events:?}");

    // A resourceVersion that is not a number is a 400.
    match api.watch(&WatchParams::default(), "abc").await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 400),
        Ok(s) => {
            let r: Result<Vec<_>, _> = s.try_collect().await;
            panic!("expected 400, got {r:?}");
        }
        Err(e) => panic!("expected 400, got {e:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_status_subresource_and_finalizers() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(c.clone(), "default");

    // dryRun=All: the response looks real, nothing is stored, no resourceVersion moves.
    let before = cluster.resource_version();
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let created = cms
        .create(&dry, &cm(json!({"metadata": {"name": "dry"}})))
        .await
        .unwrap();
    assert_eq!(created.metadata.name.as_deref(), Some("dry"));
    assert!(cms.get_opt("dry").await.unwrap().is_none());
    assert_eq!(cluster.resource_version(), before);

    // The main resource ignores status; the status subresource ignores everything else and
    // does not bump generation.
    let deploys: Api<Deployment> = Api::namespaced(c.clone(), "default");
    let d = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d"},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "d"}},
                 "template": {"metadata": {"labels": {"app": "d"}},
                              "spec": {"containers": [{"name": "c", "image": "i:1"}]}}},
        "status": {"replicas": 9},
    });
    let created = deploys
        .create(&PostParams::default(), &serde_json::from_value(d).unwrap())
        .await
        .unwrap();
    assert!(
        created.status.is_none_or(|s| s.replicas.is_none()),
        "status is reset on create"
    );
    let patched = deploys
        .patch_status(
            "d",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 7}, "status": {"readyReplicas": 1}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.status.unwrap().ready_replicas, Some(1));
    assert_eq!(
        patched.spec.unwrap().replicas,
        Some(1),
        "status writes leave spec alone"
    );
    assert_eq!(patched.metadata.generation, Some(1));

    // A finalizer holds deletion until it is removed.
    cms.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    cms.delete("held", &DeleteParams::default()).await.unwrap();
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert!(cms.get_opt("held").await.unwrap().is_none());

    // A deletion precondition on a stale resourceVersion is a conflict.
    let x = cms
        .create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "x"}})),
        )
        .await
        .unwrap();
    cms.patch(
        "x",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"a": "b"}})),
    )
    .await
    .unwrap();
    let live = cms.get("x").await.unwrap();
    let (rv, uid) = (
        live.metadata.resource_version.unwrap(),
        live.metadata.uid.unwrap(),
    );
    let stale = x.metadata.resource_version.unwrap();
    delete_conflicts(
        &cms,
        "x",
        kube::api::Preconditions {
            resource_version: Some(stale.clone()),
            uid: None,
        },
        &format!(
            "Precondition failed: ResourceVersion in precondition: {stale}, ResourceVersion in object meta: {rv}"
        ),
    )
    .await;
    delete_conflicts(
        &cms,
        "x",
        kube::api::Preconditions {
            resource_version: None,
            uid: Some("not-the-uid".into()),
        },
        &format!(
            "Precondition failed: UID in precondition: not-the-uid, UID in object meta: {uid}"
        ),
    )
    .await;
    assert!(cms.get_opt("x").await.unwrap().is_some());

    // Deleting a namespace makes it Terminating (creates refused with 403) until its
    // content, finalizers included, is gone; then the namespace goes too.
    let ns: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(c.clone());
    ns.create(
        &PostParams::default(),
        &serde_json::from_value(json!({"metadata": {"name": "t"}})).unwrap(),
    )
    .await
    .unwrap();
    let in_t: Api<ConfigMap> = Api::namespaced(c.clone(), "t");
    in_t.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "inside"}})),
    )
    .await
    .unwrap();
    in_t.create(
        &PostParams::default(),
        &cm(json!({"metadata": {"name": "stuck", "finalizers": ["example.com/hold"]}})),
    )
    .await
    .unwrap();
    ns.delete("t", &DeleteParams::default()).await.unwrap();
    let terminating = ns.get("t").await.unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    match in_t
        .create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "late"}})),
        )
        .await
    {
        Err(kube::Error::Api(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (403, "Forbidden"));
            assert!(
                s.message.contains("because it is being terminated"),
                "{}",
                s.message
            );
        }
        other => panic!("expected 403, got {other:?}"),
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(in_t.get_opt("inside").await.unwrap().is_none());
    assert!(
        ns.get_opt("t").await.unwrap().is_some(),
        "held by the finalizer"
    );
    in_t.patch(
        "stuck",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while ns.get_opt("t").await.unwrap().is_some() {
        assert!(Instant::now() < deadline, "namespace t was not removed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_of_one_object_by_url() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    for name in ["a", "b"] {
        api.create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": name}})),
        )
        .await
        .unwrap();
    }
    let req =
        http::Request::get("/api/v1/namespaces/default/configmaps/a?watch=true&timeoutSeconds=1")
            .body(Vec::new())
            .unwrap();
    let text = c.request_text(req).await.unwrap();
    let events: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{text}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "a");
}

/// Many writers racing on one object: every increment lands exactly once thanks to
/// optimistic concurrency, and a watcher sees every resourceVersion in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_and_a_watcher() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let created = api
        .create(
            &PostParams::default(),
            &cm(json!({"metadata": {"name": "n"}, "data": {"v": "0"}})),
        )
        .await
        .unwrap();
    let start_rv = created.metadata.resource_version.clone().unwrap();
    let events = api
        .watch(
            &WatchParams::default().timeout(10).disable_bookmarks(),
            &start_rv,
        )
        .await
        .unwrap();
    let (writers, per_writer) = (8, 10);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0;
            for _ in 0..per_writer {
                loop {
                    let mut cur = api.get("n").await.unwrap();
                    let data = cur.data.get_or_insert_with(Default::default);
                    let v: u32 = data["v"].parse().unwrap();
                    data.insert("v".into(), (v + 1).to_string());
                    match api.replace("n", &PostParams::default(), &cur).await {
                        Ok(_) => break,
                        Err(kube::Error::Api(s)) if s.code == 409 => conflicts += 1,
                        Err(e) => panic!("{e:?}"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.unwrap();
    }
    let total = writers * per_writer;
    let last = api.get("n").await.unwrap();
    assert_eq!(last.data.unwrap()["v"], total.to_string());
    eprintln!("{conflicts} conflicts retried");
    let modified: Vec<u64> = events
        .take(total as usize)
        .map(|e| match e.unwrap() {
            WatchEvent::Modified(o) => o.metadata.resource_version.unwrap().parse::<u64>().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect::<Vec<u64>>()
        .await;
    assert_eq!(modified.len(), total as usize);
    assert!(
        modified.windows(2).all(|w| w[0] < w[1]),
        "in resourceVersion order"
    );
}

/// Server-side applies merge outside the store lock; one whose object changed meanwhile
/// must start over, so concurrent applies by different managers to one object lose no
/// field and no managedFields entry, and each write takes its own resourceVersion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_applies_to_one_object_lose_nothing() {
    // Simulated controllers off: nothing but these applies writes.
    let fleet = Fleet::start(FleetConfig::with_clusters(1).each(|c| c.workloads.enabled = false))
        .await
        .unwrap();
    let cluster = &fleet.clusters()[0];
    let client = client(cluster).await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let writers = 16;
    let before = cluster.resource_version();
    let applies = (0..writers).map(|i| {
        let cms = cms.clone();
        async move {
            let manager = format!("writer-{i}");
            let body = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "shared"}, "data": {format!("key-{i}"): i.to_string()}});
            cms.patch(
                "shared",
                &PatchParams::apply(&manager),
                &Patch::Apply(&body),
            )
            .await
            .unwrap()
        }
    });
    futures::future::join_all(applies).await;

    let shared = cms.get("shared").await.unwrap();
    let data = shared.data.unwrap_or_default();
    let managers: Vec<String> = shared
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| entry.manager)
        .collect();
    for i in 0..writers {
        assert_eq!(
            data.get(&format!("key-{i}")),
            Some(&i.to_string()),
            "{data:?}"
        );
        assert!(managers.contains(&format!("writer-{i}")), "{managers:?}");
    }
    assert_eq!(data.len(), writers);
    assert_eq!(cluster.resource_version(), before + writers as u64);
    fleet.shutdown().await;
}
