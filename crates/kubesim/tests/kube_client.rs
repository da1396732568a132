//! kube-rs 5 against kubesim: CRUD, optimistic concurrency, watchers (list-then-watch and
//! streaming lists, relisting after a compaction), and stopping, restarting and
//! partitioning a cluster.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod common;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Client, Config};
use kubesim::{ClusterHandle, KubeconfigUser};
use std::collections::BTreeMap;
use std::time::Duration;

async fn config(cluster: &ClusterHandle, user: KubeconfigUser) -> Config {
    let kc = Kubeconfig::from_yaml(&cluster.kubeconfig_for(user)).unwrap();
    Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap()
}

async fn client(cluster: &ClusterHandle) -> Client {
    Client::try_from(config(cluster, KubeconfigUser::Token).await).unwrap()
}

fn cm(name: &str, value: &str) -> ConfigMap {
    ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some(name.to_string()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("k".to_string(), value.to_string())])),
        ..Default::default()
    }
}

fn api_status(err: kube::Error) -> kube::core::Status {
    match err {
        kube::Error::Api(s) => *s,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crud_and_optimistic_concurrency() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");

    let created = api
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let rv1: u64 = created
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());
    let status = api_status(
        api.create(&PostParams::default(), &cm("a", "1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(
        (status.code, status.reason.as_str()),
        (409, "AlreadyExists")
    );

    let got = api.get("a").await.unwrap();
    assert_eq!(got.data.as_ref().unwrap()["k"], "1");
    let list = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());

    let mut changed = got.clone();
    changed.data = Some(BTreeMap::from([("k".to_string(), "2".to_string())]));
    let replaced = api
        .replace("a", &PostParams::default(), &changed)
        .await
        .unwrap();
    let rv2: u64 = replaced
        .metadata
        .resource_version
        .clone()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv2 > rv1);

    // Replacing with the stale copy is a conflict.
    let status = api_status(
        api.replace("a", &PostParams::default(), &changed)
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 409);
    assert_eq!(status.reason, "Conflict");
    assert!(
        status.message.contains("the object has been modified"),
        "{}",
        status.message
    );

    // An unchanged replace keeps the resourceVersion.
    let same = api
        .replace("a", &PostParams::default(), &replaced)
        .await
        .unwrap();
    assert_eq!(
        same.metadata.resource_version,
        replaced.metadata.resource_version
    );

    // A missing namespace is a 404 naming the namespace.
    let missing: Api<ConfigMap> = Api::namespaced(client(cluster).await, "zzz");
    let status = api_status(
        missing
            .create(&PostParams::default(), &cm("a", "1"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 404);
    assert_eq!(status.message, "namespaces \"zzz\" not found");

    // A finished deletion of a built-in answers with a Success Status.
    let deleted = api.delete("a", &DeleteParams::default()).await.unwrap();
    let status = deleted.right().expect("a Status");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let status = api_status(api.get("a").await.unwrap_err());
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));

    // The request log saw it all, with the field managers kube-rs sent.
    let log = cluster.request_log();
    assert!(log.iter().any(|r| r.method == "PUT" && r.status == 409));
    assert!(log.iter().any(|r| r.method == "DELETE" && r.status == 200));
}

async fn next_event(
    stream: &mut (
             impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin
         ),
) -> Result<watcher::Event<ConfigMap>, watcher::Error> {
    tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .expect("a watcher event within 20 s")
        .expect("the watcher stream does not end")
}

fn name(cm: &ConfigMap) -> &str {
    cm.metadata.name.as_deref().unwrap_or("")
}

/// Reads the initial list (Init, InitApply…, InitDone) and returns the names listed.
async fn initial_names(
    stream: &mut (
             impl futures::Stream<Item = Result<watcher::Event<ConfigMap>, watcher::Error>> + Unpin
         ),
) -> Vec<String> {
    let mut names = Vec::new();
    loop {
        match next_event(stream).await.unwrap() {
            watcher::Event::Init => names.clear(),
            watcher::Event::InitApply(o) => names.push(name(&o).to_string()),
            watcher::Event::InitDone => return names,
            other => panic!("unexpected {other:?} during the initial list"),
        }
    }
}

async fn watcher_sees_events(streaming: bool) {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("before", "1"))
        .await
        .unwrap();
    let mut wc = watcher::Config::default();
    if streaming {
        wc = wc.streaming_lists();
    }
    let mut stream = watcher(api.clone(), wc).boxed();
    assert_eq!(initial_names(&mut stream).await, ["before"]);

    api.create(&PostParams::default(), &cm("live", "1"))
        .await
        .unwrap();
    match next_event(&mut stream).await.unwrap() {
        watcher::Event::Apply(o) => assert_eq!(name(&o), "live"),
        other => panic!("expected Apply, got {other:?}"),
    }
    api.delete("live", &DeleteParams::default()).await.unwrap();
    match next_event(&mut stream).await.unwrap() {
        watcher::Event::Delete(o) => assert_eq!(name(&o), "live"),
        other => panic!("expected Delete, got {other:?}"),
    }
    let log = cluster.request_log();
    let initial = log
        .iter()
        .any(|r| r.is_watch() && r.query.contains("sendInitialEvents=true"));
    assert_eq!(initial, streaming, "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_list_then_watch() {
    watcher_sees_events(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_streaming_list_gets_the_initial_events_end_bookmark() {
    watcher_sees_events(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_list_refused_like_a_server_without_watch_list() {
    let fleet = common::start_one(false).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    let mut stream = watcher(api, watcher::Config::default().streaming_lists()).boxed();
    match next_event(&mut stream).await {
        Err(watcher::Error::WatchStartFailed(kube::Error::Api(s))) => {
            assert_eq!(s.code, 422);
            assert!(
                s.message.contains(
                    "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"
                ),
                "{}",
                s.message
            );
        }
        other => panic!("expected the 422, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watcher_relists_after_a_forced_compaction() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("first", "1"))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await, ["first"]);
    // The watcher has listed but not yet opened its watch: a change and a compaction now
    // leave its resourceVersion behind the history, so the watch gets 410 in the stream.
    api.create(&PostParams::default(), &cm("second", "1"))
        .await
        .unwrap();
    cluster.compact();
    match next_event(&mut stream).await {
        Err(watcher::Error::WatchError(s)) => {
            assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected the in-stream 410, got {other:?}"),
    }
    assert_eq!(initial_names(&mut stream).await, ["first", "second"]);
    let log = cluster.request_log();
    let expired_watch = log.iter().find(|r| r.is_watch()).expect("a watch request");
    assert_eq!(
        expired_watch.status, 200,
        "the 410 travels inside a 200 stream"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_certificate_user_and_wrong_token() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let cert = Client::try_from(config(cluster, KubeconfigUser::ClientCertificate).await).unwrap();
    Api::<Namespace>::all(cert).get("default").await.unwrap();

    let mut bad = config(cluster, KubeconfigUser::Token).await;
    bad.auth_info.token = Some("wrong".to_string().into());
    let bad = Client::try_from(bad).unwrap();
    let status = api_status(Api::<Namespace>::all(bad).get("default").await.unwrap_err());
    assert_eq!((status.code, status.reason.as_str()), (401, "Unauthorized"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_restart_and_partition_one_cluster() {
    let fleet = kubesim::Fleet::start(kubesim::FleetConfig::with_clusters(2))
        .await
        .unwrap();
    let [a, b] = fleet.clusters() else {
        panic!("two clusters")
    };
    assert_ne!(a.ca_pem(), b.ca_pem(), "each cluster has its own CA");
    let api_a: Api<ConfigMap> = Api::namespaced(client(a).await, "default");
    let api_b: Api<ConfigMap> = Api::namespaced(client(b).await, "default");
    api_a
        .create(&PostParams::default(), &cm("x", "1"))
        .await
        .unwrap();
    assert!(
        api_b.get_opt("x").await.unwrap().is_none(),
        "clusters are isolated"
    );

    a.stop().await;
    assert!(api_a.get("x").await.is_err());
    api_b.list(&ListParams::default()).await.unwrap();
    a.restart().await.unwrap();
    assert_eq!(api_a.get("x").await.unwrap().data.unwrap()["k"], "1");

    let mut short = config(a, KubeconfigUser::Token).await;
    short.connect_timeout = Some(Duration::from_millis(500));
    short.read_timeout = Some(Duration::from_millis(500));
    let short: Api<ConfigMap> = Api::namespaced(Client::try_from(short).unwrap(), "default");
    a.partition(true);
    assert!(short.get("x").await.is_err());
    a.partition(false);
    short.get("x").await.unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_selectors_and_paging() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    for i in 0..5 {
        let mut o = cm(&format!("c{i}"), "v");
        o.metadata.labels = Some(BTreeMap::from([("i".to_string(), i.to_string())]));
        api.create(&PostParams::default(), &o).await.unwrap();
    }
    let names = |l: kube::core::ObjectList<ConfigMap>| {
        l.items
            .iter()
            .map(|o| name(o).to_string())
            .collect::<Vec<_>>()
    };
    let l = api
        .list(&ListParams::default().labels("i in (1,3)"))
        .await
        .unwrap();
    assert_eq!(names(l), ["c1", "c3"]);
    let l = api
        .list(&ListParams::default().fields("metadata.name=c4"))
        .await
        .unwrap();
    assert_eq!(names(l), ["c4"]);
    let status = api_status(
        api.list(&ListParams::default().fields("data.k=v"))
            .await
            .unwrap_err(),
    );
    assert_eq!(status.code, 400);
    let page = api.list(&ListParams::default().limit(2)).await.unwrap();
    let token = page.metadata.continue_.clone().unwrap();
    assert_eq!(names(page), ["c0", "c1"]);
    let rest = api
        .list(&ListParams::default().limit(10).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(rest), ["c2", "c3", "c4"]);
    let all: Vec<_> = watcher(api, watcher::Config::default().labels("i>2"))
        .take(4)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(all.len(), 4, "Init, two InitApply, InitDone: {all:?}");

    // Across namespaces, a list by equality selector reads only the namespaces holding the
    // label (kubesim's label index) and still pages, and follows relabels and deletes.
    let c = client(cluster).await;
    let namespaces: Api<Namespace> = Api::all(c.clone());
    for ns in ["p1", "p2", "p3"] {
        let o = Namespace {
            metadata: kube::api::ObjectMeta {
                name: Some(ns.to_string()),
                ..Default::default()
            },
            ..Default::default()
        };
        namespaces.create(&PostParams::default(), &o).await.unwrap();
        let api: Api<ConfigMap> = Api::namespaced(c.clone(), ns);
        for i in 0..3 {
            let mut o = cm(&format!("d{i}"), "v");
            let owner = if ns == "p2" { "other" } else { "me" };
            o.metadata.labels = Some(BTreeMap::from([("owner".to_string(), owner.to_string())]));
            api.create(&PostParams::default(), &o).await.unwrap();
        }
    }
    let all: Api<ConfigMap> = Api::all(c.clone());
    let keys = |l: &kube::core::ObjectList<ConfigMap>| {
        l.items
            .iter()
            .map(|o| format!("{}/{}", o.metadata.namespace.as_deref().unwrap(), name(o)))
            .collect::<Vec<_>>()
    };
    let mine = ListParams::default().labels("owner=me");
    let page = all.list(&mine.clone().limit(4)).await.unwrap();
    assert_eq!(keys(&page), ["p1/d0", "p1/d1", "p1/d2", "p3/d0"]);
    let token = page.metadata.continue_.clone().unwrap();
    let rest = all
        .list(&mine.clone().continue_token(&token))
        .await
        .unwrap();
    assert_eq!(keys(&rest), ["p3/d1", "p3/d2"]);
    let p2: Api<ConfigMap> = Api::namespaced(c.clone(), "p2");
    let mut moved = p2.get("d1").await.unwrap();
    moved.metadata.labels = Some(BTreeMap::from([("owner".to_string(), "me".to_string())]));
    p2.replace("d1", &PostParams::default(), &moved)
        .await
        .unwrap();
    Api::<ConfigMap>::namespaced(c.clone(), "p1")
        .delete("d0", &DeleteParams::default())
        .await
        .unwrap();
    let l = all.list(&mine).await.unwrap();
    assert_eq!(
        keys(&l),
        ["p1/d1", "p1/d2", "p2/d1", "p3/d0", "p3/d1", "p3/d2"]
    );
    let l = p2
        .list(&ListParams::default().labels("owner in (me)"))
        .await
        .unwrap();
    assert_eq!(keys(&l), ["p2/d1"]);
    let l = all
        .list(&ListParams::default().labels("owner=nobody"))
        .await
        .unwrap();
    assert!(l.items.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injected_faults_and_dropped_watches() {
    use kubesim::Fault;
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();

    // kube-rs honours Retry-After on a 429 and retries.
    cluster.inject(
        Fault::throttle(1)
            .method("GET")
            .path_contains("/configmaps/a")
            .times(1),
    );
    let started = std::time::Instant::now();
    api.get("a").await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    let throttled = cluster
        .request_log()
        .into_iter()
        .filter(|r| r.status == 429)
        .count();
    assert_eq!(throttled, 1);

    cluster.inject(Fault::status(500).times(1));
    let status = api_status(api.get("a").await.unwrap_err());
    assert_eq!(
        (status.code, status.reason.as_str()),
        (500, "InternalError")
    );

    cluster.inject(Fault::latency(Duration::from_millis(300)).times(1));
    let started = std::time::Instant::now();
    api.get("a").await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    cluster.clear_faults();

    // A dropped watch is resumed from the last resourceVersion, without a relist.
    let mut stream = watcher(api.clone(), watcher::Config::default()).boxed();
    assert_eq!(initial_names(&mut stream).await, ["a"]);
    api.create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();
    assert!(matches!(
        next_event(&mut stream).await.unwrap(),
        watcher::Event::Apply(_)
    ));
    cluster.drop_watches();
    api.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    match next_event(&mut stream).await.unwrap() {
        watcher::Event::Apply(o) => assert_eq!(name(&o), "c"),
        other => panic!("expected Apply(c), got {other:?}"),
    }
    let log = cluster.request_log();
    let watches = log.iter().filter(|r| r.is_watch()).count();
    assert!(watches >= 2, "the watch was reopened: {log:#?}");
    let lists = log
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/configmaps") && !r.is_watch())
        .count();
    assert_eq!(lists, 1, "no relist after a dropped watch");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metadata_only_get_list_and_watch() {
    use kube::core::PartialObjectMeta;
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let meta = api.get_metadata("a").await.unwrap();
    assert_eq!(meta.metadata.name.as_deref(), Some("a"));
    let list = api.list_metadata(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    assert!(list.metadata.resource_version.is_some());
    let meta_api: Api<PartialObjectMeta<ConfigMap>> =
        Api::namespaced(client(cluster).await, "default");
    let mut stream = watcher(meta_api, watcher::Config::default()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(20), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            watcher::Event::Init => {}
            watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap()),
            watcher::Event::InitDone => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(initial, ["a"]);
    api.create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(20), stream.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
    {
        watcher::Event::Apply(o) => assert_eq!(o.metadata.name.as_deref(), Some("b")),
        other => panic!("{other:?}"),
    }
    assert!(
        cluster.request_log().iter().all(|r| r.status < 400),
        "every metadata request succeeded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_recorder_creates_then_patches_a_series() {
    use k8s_openapi::api::events::v1::Event as K8sEvent;
    use kube::Resource;
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let target = api
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let recorder = Recorder::new(c.clone(), Reporter::from("flotilla-test"));
    let event = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("all good".into()),
        action: "Sync".into(),
        secondary: None,
    };
    let reference = target.object_ref(&());
    recorder.publish(&event, &reference).await.unwrap();
    recorder.publish(&event, &reference).await.unwrap();
    let events: Api<K8sEvent> = Api::namespaced(c, "default");
    let list = events.list(&ListParams::default()).await.unwrap();
    assert_eq!(list.items.len(), 1);
    let e = &list.items[0];
    assert_eq!(e.reason.as_deref(), Some("Synced"));
    assert_eq!(e.series.as_ref().map(|s| s.count), Some(2));
}
