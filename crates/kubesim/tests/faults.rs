//! Fault injection at run time, and how real clients take it: a kube-rs reflector and
//! plain kube-rs calls with retries, and kubectl 1.35 — recovering, or failing with the
//! expected error — under latency, error rates, 429 with Retry-After, dropped watches,
//! forced compaction, partitions, and restarts with state kept or wiped. The faults are
//! driven through the library and through `kubesim serve`'s admin endpoint.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod api_common;
mod common;

use api_common::{api_status, client, config};
use common::Kubectl;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kubesim::{ClusterHandle, Fault};
use serde_json::json;
use std::time::{Duration, Instant};

fn cm(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).unwrap()
}

/// Polls `f` until it holds, for at most 30 s.
async fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Creates `name` right after a restart. The client's pooled connection may be the one the
/// restart cut, and a request already sent on it fails with a transport error (as
/// against a real API server); a controller retries, and so does this, for at most 30 s.
/// A refusal by the API is not retried.
async fn create_after_restart(api: &Api<ConfigMap>, name: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match api.create(&PostParams::default(), &cm(name)).await {
            Ok(_) => return,
            Err(kube::Error::Api(status)) => panic!("creating {name}: {status:?}"),
            Err(err) => {
                assert!(Instant::now() < deadline, "creating {name}: {err}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

/// A reflector over the default namespace's ConfigMaps, running in the background.
fn reflect(api: Api<ConfigMap>) -> reflector::Store<ConfigMap> {
    let (reader, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .applied_objects();
    tokio::spawn(stream.for_each(|_| async {}));
    reader
}

fn names(store: &reflector::Store<ConfigMap>) -> Vec<String> {
    let mut n: Vec<String> = store
        .state()
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .collect();
    n.sort();
    n
}

/// Statuses of the requests to paths ending in `suffix`, in order.
fn statuses(cluster: &ClusterHandle, suffix: &str) -> Vec<u16> {
    cluster
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with(suffix))
        .map(|r| r.status)
        .collect()
}

fn lists(cluster: &ClusterHandle) -> usize {
    cluster
        .request_log()
        .iter()
        .filter(|r| {
            r.path.ends_with("/configmaps") && r.method == "GET" && !r.query.contains("watch=true")
        })
        .count()
}

fn watches(cluster: &ClusterHandle) -> usize {
    cluster
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with("/configmaps") && r.query.contains("watch=true"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reflector_survives_dropped_watches_compaction_and_restarts() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();
    let store = reflect(api.clone());
    eventually("the initial list", || names(&store) == ["a"]).await;

    // Dropped watch: the reflector resumes and sees what happened since.
    let before = watches(cluster);
    cluster.drop_watches();
    api.create(&PostParams::default(), &cm("b")).await.unwrap();
    eventually("b after a dropped watch", || names(&store) == ["a", "b"]).await;
    assert!(watches(cluster) > before, "the watch was reopened");

    // Forced compaction, then a cut: resuming gets 410 in the stream and the reflector
    // relists, picking up a change it never saw as an event.
    let listed = lists(cluster);
    cluster.compact();
    cluster.drop_watches();
    api.create(&PostParams::default(), &cm("c")).await.unwrap();
    eventually("c after compaction", || names(&store) == ["a", "b", "c"]).await;
    eventually("a relist", || lists(cluster) > listed).await;

    // Restart with state kept: same objects, clients reconnect on their own.
    cluster.stop().await;
    cluster.restart().await.unwrap();
    create_after_restart(&api, "d").await;
    eventually("d after a restart", || {
        names(&store) == ["a", "b", "c", "d"]
    })
    .await;

    // Restart with state wiped: the reflector's relist empties its cache.
    cluster.restart_wiped().await.unwrap();
    eventually("an empty cache after a wipe", || names(&store).is_empty()).await;
    create_after_restart(&api, "e").await;
    eventually("e after a wipe", || names(&store) == ["e"]).await;
    let ns = Api::<k8s_openapi::api::core::v1::Namespace>::all(client(cluster).await);
    assert!(
        ns.get("kube-system").await.is_ok(),
        "a wiped cluster is seeded again"
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_calls_see_errors_throttling_and_partitions() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();

    // kube-rs retries 503 (and 429, 504) itself: two 503s cost one call nothing.
    cluster.clear_request_log();
    cluster.inject(Fault::status(503).method("GET").times(2));
    assert!(api.get("a").await.is_ok());
    assert_eq!(statuses(cluster, "/configmaps/a"), [503, 503, 200]);
    // A 500 it does not retry: the caller's own retry loop gets through.
    cluster.inject(Fault::status(500).method("GET").times(2));
    let mut failures = Vec::new();
    let got = loop {
        match api.get("a").await {
            Ok(o) => break o,
            Err(e) => failures.push(api_status(e)),
        }
        assert!(failures.len() < 10, "no recovery: {failures:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert_eq!(got.metadata.name.as_deref(), Some("a"));
    let reasons: Vec<_> = failures
        .iter()
        .map(|s| (s.code, s.reason.as_str()))
        .collect();
    assert_eq!(reasons, [(500, "InternalError"); 2]);

    // An error rate: some calls fail, some pass.
    cluster.inject(Fault::status(500).method("GET").rate(0.5));
    let mut outcomes = (0, 0);
    for _ in 0..40 {
        match api.get("a").await {
            Ok(_) => outcomes.0 += 1,
            Err(e) => {
                assert_eq!(api_status(e).code, 500);
                outcomes.1 += 1;
            }
        }
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
    cluster.clear_faults();

    // 429 with Retry-After: kube-rs waits and retries; past its retries the Status shows.
    cluster.clear_request_log();
    cluster.inject(Fault::throttle(1).method("GET").times(1));
    assert!(api.get("a").await.is_ok());
    assert_eq!(statuses(cluster, "/configmaps/a"), [429, 200]);
    // Without kube-rs' retry layer the caller sees the Status and its Retry-After.
    let mut cfg = config(cluster).await;
    cfg.default_retry = false;
    let raw: Api<ConfigMap> = Api::namespaced(kube::Client::try_from(cfg).unwrap(), "default");
    cluster.inject(Fault::throttle(7).method("GET").times(1));
    let s = api_status(raw.get("a").await.unwrap_err());
    assert_eq!((s.code, s.reason.as_str()), (429, "TooManyRequests"));
    assert_eq!(s.details.unwrap().retry_after_seconds, 7);

    // A partition: calls time out; healed, they work again.
    let mut cfg = config(cluster).await;
    cfg.read_timeout = Some(Duration::from_millis(500));
    cfg.connect_timeout = Some(Duration::from_millis(500));
    let impatient: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(cfg).unwrap(), "default");
    cluster.partition(true);
    let err = impatient.get("a").await.unwrap_err();
    assert!(!matches!(err, kube::Error::Api(_)), "{err:?}");
    cluster.partition(false);
    assert!(impatient.get("a").await.is_ok());

    // Stopped: connections refused.
    cluster.stop().await;
    let err = format!("{:?}", impatient.get("a").await.unwrap_err());
    assert!(err.to_lowercase().contains("refused"), "{err}");
    cluster.restart().await.unwrap();
    assert!(impatient.get("a").await.is_ok());
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_retries_throttling_and_reports_outages() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let k = Kubectl::new(common::kubectl_135(), cluster, true);
    k.ok(&["create", "configmap", "a"]);

    // client-go waits out Retry-After and retries a 429.
    cluster.clear_request_log();
    cluster.inject(
        Fault::throttle(1)
            .method("GET")
            .path_contains("/configmaps/a")
            .times(2),
    );
    assert!(
        k.ok(&["get", "cm", "a", "-o", "name"])
            .contains("configmap/a")
    );
    let statuses: Vec<u16> = cluster
        .request_log()
        .iter()
        .filter(|r| r.path.ends_with("/configmaps/a"))
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [429, 429, 200]);

    // A 500 is reported with the server's message.
    cluster.inject(
        Fault::status(500)
            .method("GET")
            .path_contains("/configmaps/a")
            .times(1),
    );
    let err = k.fails(&["get", "cm", "a"]);
    assert!(err.contains("injected by kubesim"), "{err}");

    // Latency beyond the client's timeout.
    cluster.inject(
        Fault::latency(Duration::from_secs(3))
            .method("GET")
            .path_contains("/configmaps/a")
            .times(1),
    );
    let err = k.fails(&["get", "cm", "a", "--request-timeout=300ms"]);
    assert!(err.contains("Timeout") || err.contains("deadline"), "{err}");

    // Stopped and partitioned clusters.
    cluster.stop().await;
    let err = k.fails(&["get", "cm", "a"]);
    assert!(err.contains("was refused"), "{err}");
    cluster.restart().await.unwrap();
    cluster.partition(true);
    let err = k.fails(&["get", "cm", "a", "--request-timeout=1s"]);
    assert!(!err.is_empty());
    cluster.partition(false);
    assert!(
        k.ok(&["get", "cm", "a", "-o", "name"])
            .contains("configmap/a")
    );
    fleet.shutdown().await;
}

/// Sends one HTTP/1.1 request to the admin endpoint; returns the status and body.
async fn admin(addr: std::net::SocketAddr, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    let code = out.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoint_drives_faults() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _admin = kubesim::admin::spawn(listener, fleet.clusters().to_vec());
    let name = cluster.name().to_string();
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    api.create(&PostParams::default(), &cm("a")).await.unwrap();

    let (code, body) = admin(addr, "GET", "/clusters", "").await;
    assert_eq!(code, 200);
    let list: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(list[0]["name"], name.as_str());
    assert_eq!(list[0]["running"], true);

    let (code, _) = admin(
        addr,
        "POST",
        &format!("/clusters/{name}/faults"),
        r#"{"status": 500, "method": "GET", "times": 1}"#,
    )
    .await;
    assert_eq!(code, 200);
    assert_eq!(api_status(api.get("a").await.unwrap_err()).code, 500);
    assert!(api.get("a").await.is_ok(), "the rule fired once");
    let (code, body) = admin(
        addr,
        "POST",
        &format!("/clusters/{name}/faults"),
        r#"{"status": 200}"#,
    )
    .await;
    assert_eq!(code, 400, "{body}");
    let (code, _) = admin(addr, "POST", "/clusters/nope/compact", "").await;
    assert_eq!(code, 404);

    // Wipe through the endpoint: the ConfigMap is gone.
    let (code, body) = admin(
        addr,
        "POST",
        &format!("/clusters/{name}/restart?wipe=true"),
        "",
    )
    .await;
    assert_eq!(code, 200, "{body}");
    let s = api_status(api.get("a").await.unwrap_err());
    assert_eq!(s.code, 404);
    let (code, _) = admin(addr, "POST", &format!("/clusters/{name}/stop"), "").await;
    assert_eq!(code, 200);
    let (_, body) = admin(addr, "GET", "/clusters", "").await;
    assert!(body.contains("\"running\":false"), "{body}");
    fleet.shutdown().await;
}
