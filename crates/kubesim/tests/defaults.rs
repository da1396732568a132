//! Defaulting of built-in kinds as kube-apiserver 1.35 does it: the values, who owns them
//! in managedFields (an `Update` writer does, an applier does not), and that re-applying
//! or diffing the same manifests finds nothing to change — through kube-rs and kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod api_common;
mod common;

use api_common::client;
use common::{Kubectl, each_client};
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use kubesim::{Fleet, FleetConfig};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn api(client: &kube::Client, group: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let api_version = if group.is_empty() {
        "v1".to_string()
    } else {
        format!("{group}/v1")
    };
    let ar = ApiResource {
        group: group.into(),
        version: "v1".into(),
        api_version,
        kind: kind.into(),
        plural: plural.into(),
    };
    Api::namespaced_with(client.clone(), "default", &ar)
}

/// Applies `body` as `flotilla`; returns the stored object as JSON.
async fn apply(api: &Api<DynamicObject>, body: &Value) -> Value {
    let name = body["metadata"]["name"].as_str().unwrap();
    let o = api
        .patch(name, &PatchParams::apply("flotilla"), &Patch::Apply(body))
        .await
        .unwrap();
    serde_json::to_value(o).unwrap()
}

/// The fieldsV1 of `manager`'s entry, as text.
fn owned(object: &Value, manager: &str) -> String {
    object["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["manager"] == manager)
        .map(|e| e["fieldsV1"].to_string())
        .unwrap_or_default()
}

const DEPLOYMENT: &str = r#"{
  "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
  "spec": {
    "selector": {"matchLabels": {"app": "web"}},
    "template": {"metadata": {"labels": {"app": "web"}}, "spec": {
      "containers": [
        {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
         "readinessProbe": {"httpGet": {"port": 80}}},
        {"name": "tools", "image": "busybox"}],
      "volumes": [{"name": "conf", "configMap": {"name": "web"}}]}}
  }
}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applied_workloads_read_back_defaulted_and_reapply_is_a_noop() {
    // No simulated controllers: their status writes would move the resourceVersions this
    // test compares to prove a re-apply wrote nothing.
    common::require_definitions();
    let fleet = Fleet::start(FleetConfig::with_clusters(1).each(|c| c.workloads.enabled = false))
        .await
        .unwrap();
    let c = client(&fleet.clusters()[0]).await;
    let deploys = api(&c, "apps", "Deployment", "deployments");
    let body: Value = serde_json::from_str(DEPLOYMENT).unwrap();
    let d = apply(&deploys, &body).await;
    let spec = &d["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    );
    assert_eq!(
        (
            spec["revisionHistoryLimit"].clone(),
            spec["progressDeadlineSeconds"].clone()
        ),
        (json!(10), json!(600))
    );
    let pod = &spec["template"]["spec"];
    assert_eq!(pod["restartPolicy"], "Always");
    assert_eq!(pod["dnsPolicy"], "ClusterFirst");
    assert_eq!(pod["schedulerName"], "default-scheduler");
    assert_eq!(pod["terminationGracePeriodSeconds"], 30);
    assert_eq!(pod["securityContext"], json!({}));
    assert_eq!(pod["volumes"][0]["configMap"]["defaultMode"], 420);
    let web = &pod["containers"][0];
    assert_eq!(web["imagePullPolicy"], "IfNotPresent");
    assert_eq!(web["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(web["terminationMessagePolicy"], "File");
    assert_eq!(web["ports"][0]["protocol"], "TCP");
    assert_eq!(web["resources"], json!({}));
    assert_eq!(
        web["readinessProbe"],
        json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}, "timeoutSeconds": 1,
            "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3})
    );
    assert_eq!(
        pod["containers"][1]["imagePullPolicy"], "Always",
        "no tag means latest"
    );
    // The applier owns what it sent, not the defaults.
    let fields = owned(&d, "flotilla");
    assert!(
        fields.contains("f:selector") && fields.contains("f:image"),
        "{fields}"
    );
    for default in [
        "f:replicas",
        "f:strategy",
        "f:progressDeadlineSeconds",
        "f:imagePullPolicy",
        "f:dnsPolicy",
    ] {
        assert!(!fields.contains(default), "{default} owned: {fields}");
    }
    let again = apply(&deploys, &body).await;
    assert_eq!(
        again["metadata"]["resourceVersion"],
        d["metadata"]["resourceVersion"]
    );
    // A field the applier gives up falls back to its default.
    let mut three = body.clone();
    three["spec"]["replicas"] = json!(3);
    assert_eq!(apply(&deploys, &three).await["spec"]["replicas"], 3);
    assert_eq!(apply(&deploys, &body).await["spec"]["replicas"], 1);

    // StatefulSet, DaemonSet, Job.
    let sts = apply(
        &api(&c, "apps", "StatefulSet", "statefulsets"),
        &json!({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db"},
            "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "pg:17"}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
    )
    .await;
    assert_eq!(sts["spec"]["podManagementPolicy"], "OrderedReady");
    assert_eq!(
        sts["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0, "maxUnavailable": 1}})
    );
    assert_eq!(
        sts["spec"]["persistentVolumeClaimRetentionPolicy"],
        json!({"whenDeleted": "Retain", "whenScaled": "Retain"})
    );
    assert_eq!(
        sts["spec"]["volumeClaimTemplates"][0]["spec"]["volumeMode"],
        "Filesystem"
    );
    let ds = apply(
        &api(&c, "apps", "DaemonSet", "daemonsets"),
        &json!({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent"},
            "spec": {"selector": {"matchLabels": {"app": "agent"}},
                "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "a", "image": "agent:2"}]}}}}),
    )
    .await;
    assert_eq!(
        ds["spec"]["updateStrategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    );
    let jobs = api(&c, "batch", "Job", "jobs");
    let job_body = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "m", "image": "m:1"}]}}}});
    let job = apply(&jobs, &job_body).await;
    let uid = job["metadata"]["uid"].as_str().unwrap();
    let s = &job["spec"];
    assert_eq!(
        (
            s["backoffLimit"].clone(),
            s["completions"].clone(),
            s["parallelism"].clone()
        ),
        (json!(6), json!(1), json!(1))
    );
    assert_eq!(
        (s["completionMode"].clone(), s["suspend"].clone()),
        (json!("NonIndexed"), json!(false))
    );
    assert_eq!(s["podReplacementPolicy"], "TerminatingOrFailed");
    assert_eq!(
        s["selector"],
        json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
    );
    let labels = &s["template"]["metadata"]["labels"];
    assert_eq!(labels["controller-uid"], uid);
    assert_eq!(labels["batch.kubernetes.io/job-name"], "migrate");
    assert!(!owned(&job, "flotilla").contains("f:selector"));
    let again = apply(&jobs, &job_body).await;
    assert_eq!(
        again["metadata"]["resourceVersion"],
        job["metadata"]["resourceVersion"]
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_get_cluster_ips_from_the_clusters_range() {
    common::require_definitions();
    let fleet = Fleet::start(
        FleetConfig::with_clusters(1).each(|c| c.service_cidr = "10.100.0.0/24".into()),
    )
    .await
    .unwrap();
    let c = client(&fleet.clusters()[0]).await;
    let services = api(&c, "", "Service", "services");
    let svc = |name: &str| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 80}]}})
    };
    let a = apply(&services, &svc("a")).await;
    let b = apply(&services, &svc("b")).await;
    let ip = a["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10.100.0."), "{ip}");
    assert_ne!(ip, b["spec"]["clusterIP"].as_str().unwrap());
    let s = &a["spec"];
    assert_eq!(s["clusterIPs"], json!([ip]));
    assert_eq!(
        (s["ipFamilies"].clone(), s["ipFamilyPolicy"].clone()),
        (json!(["IPv4"]), json!("SingleStack"))
    );
    assert_eq!(
        (s["type"].clone(), s["sessionAffinity"].clone()),
        (json!("ClusterIP"), json!("None"))
    );
    assert_eq!(s["internalTrafficPolicy"], "Cluster");
    assert_eq!(
        s["ports"][0],
        json!({"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80})
    );
    assert!(!owned(&a, "flotilla").contains("f:clusterIP"));
    let again = apply(&services, &svc("a")).await;
    assert_eq!(
        again["metadata"]["resourceVersion"],
        a["metadata"]["resourceVersion"]
    );
    assert_eq!(again["spec"]["clusterIP"], ip.as_str());
    // NodePort Services get node ports in range, kept across applies that omit them.
    let mut np = svc("np");
    np["spec"]["type"] = json!("NodePort");
    let n = apply(&services, &np).await;
    let port = n["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&port), "{port}");
    assert_eq!(n["spec"]["externalTrafficPolicy"], "Cluster");
    assert_eq!(
        apply(&services, &np).await["spec"]["ports"][0]["nodePort"],
        port
    );
    fleet.shutdown().await;
}

/// The cluster IPs a full /29 (five addresses) hands out as Services come and go: every
/// address once, none to a dry-run for good, a freed one to the next Service, and the real
/// server's 500 when none is left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ips_are_unique_freed_on_delete_and_not_kept_by_dry_runs() {
    common::require_definitions();
    let bad = FleetConfig::with_clusters(1).each(|c| c.service_cidr = "10.1.0.0".into());
    let Err(bad) = Fleet::start(bad).await else {
        panic!("a range without a prefix length is refused");
    };
    assert_eq!(
        bad.to_string(),
        r#"cluster cluster-0: invalid Service cluster-IP range "10.1.0.0": use an IPv4 CIDR from /8 to /30"#
    );
    let fleet = Fleet::start(
        FleetConfig::with_clusters(1).each(|c| c.service_cidr = "10.100.0.0/29".into()),
    )
    .await
    .unwrap();
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let namespaces_api = |c: &kube::Client| -> Api<DynamicObject> {
        let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
        Api::all_with(c.clone(), &ar)
    };
    let namespaces = namespaces_api(&c);
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}});
    namespaces
        .create(&PostParams::default(), &serde_json::from_value(ns).unwrap())
        .await
        .unwrap();
    let services = api(&c, "", "Service", "services");
    let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&());
    let other = Api::<DynamicObject>::namespaced_with(c.clone(), "other", &ar);
    let svc = |name: &str| -> DynamicObject {
        serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}))
        .unwrap()
    };
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let ip = |o: &DynamicObject| o.data["spec"]["clusterIP"].as_str().unwrap().to_string();
    let range: BTreeSet<String> = (2..=6).map(|i| format!("10.100.0.{i}")).collect();
    for i in 0..5 {
        let o = services
            .create(&dry_run, &svc(&format!("dry-{i}")))
            .await
            .unwrap();
        assert!(range.contains(&ip(&o)), "{}", ip(&o));
    }
    let mut held = BTreeMap::new();
    for name in ["s0", "s1", "s2", "s3"] {
        let o = services
            .create(&PostParams::default(), &svc(name))
            .await
            .unwrap();
        held.insert(name, ip(&o));
    }
    let o = other
        .create(&PostParams::default(), &svc("t0"))
        .await
        .unwrap();
    held.insert("t0", ip(&o));
    assert_eq!(
        held.values().cloned().collect::<BTreeSet<_>>(),
        range,
        "five Services, five different addresses; the dry-runs kept none"
    );
    let full = |e: kube::Error| {
        let s = api_common::api_status(e);
        assert_eq!(
            (s.code, s.message.as_str()),
            (
                500,
                "Internal error occurred: failed to allocate a serviceIP: range is full"
            )
        );
    };
    full(services.create(&dry_run, &svc("s4")).await.unwrap_err());
    full(
        services
            .create(&PostParams::default(), &svc("s4"))
            .await
            .unwrap_err(),
    );
    assert!(services.get_opt("s4").await.unwrap().is_none());
    // A restart keeps the objects and so what they hold (a new client: the old one's
    // pooled connection was cut).
    cluster.restart().await.unwrap();
    let c = client(cluster).await;
    let services = api(&c, "", "Service", "services");
    let namespaces = namespaces_api(&c);
    full(
        services
            .create(&PostParams::default(), &svc("s4"))
            .await
            .unwrap_err(),
    );
    // A deleted Service's address goes to the next one.
    services.delete("s1", &Default::default()).await.unwrap();
    let o = services
        .create(&PostParams::default(), &svc("s4"))
        .await
        .unwrap();
    assert_eq!(ip(&o), held["s1"]);
    // So does the address of one that became an ExternalName.
    let external = json!({"spec": {"type": "ExternalName", "externalName": "db.example",
        "clusterIP": null, "clusterIPs": null, "ipFamilies": null, "ipFamilyPolicy": null,
        "internalTrafficPolicy": null}});
    let o = services
        .patch("s0", &PatchParams::default(), &Patch::Merge(&external))
        .await
        .unwrap();
    assert!(
        o.data["spec"].get("clusterIPs").is_none(),
        "{}",
        o.data["spec"]
    );
    let o = services
        .create(&PostParams::default(), &svc("s5"))
        .await
        .unwrap();
    assert_eq!(ip(&o), held["s0"]);
    // And those of a deleted namespace's Services, once it is gone.
    namespaces
        .delete("other", &Default::default())
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while namespaces.get_opt("other").await.unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "namespace other not gone"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let o = services
        .create(&PostParams::default(), &svc("s6"))
        .await
        .unwrap();
    assert_eq!(ip(&o), held["t0"]);
    // A wiped cluster holds nothing.
    cluster.restart_wiped().await.unwrap();
    let services = api(&client(cluster).await, "", "Service", "services");
    let mut again = BTreeSet::new();
    for i in 0..5 {
        let o = services
            .create(&PostParams::default(), &svc(&format!("w{i}")))
            .await
            .unwrap();
        again.insert(ip(&o));
    }
    assert_eq!(again, range);
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_sees_no_drift_after_create_or_apply() {
    each_client(async |k: &Kubectl, _c| {
        k.file("d.json", DEPLOYMENT);
        k.file(
            "svc.yaml",
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  selector:\n    app: web\n  ports:\n  - port: 80\n",
        );
        // A create owns the defaults it was decoded with (an Update), as on a real server.
        k.ok(&["create", "-f", "d.json"]);
        let got: Value = serde_json::from_str(&k.ok(&["get", "deploy", "web", "-o", "json", "--show-managed-fields"])).unwrap();
        let fields = owned(&got, "kubectl-create");
        assert!(fields.contains("f:progressDeadlineSeconds"), "{fields}");
        assert!(fields.contains("f:imagePullPolicy"), "{fields}");
        // Client-side apply of unchanged manifests changes nothing and diff agrees.
        k.ok(&["apply", "-f", "svc.yaml"]);
        let out = k.ok(&["apply", "-f", "svc.yaml"]);
        assert!(out.contains("service/web unchanged"), "{out}");
        let diff = k.run(&["diff", "-f", "svc.yaml"]);
        assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));
        // Server-side: apply, then diff and apply again see nothing to do.
        k.ok(&["apply", "--server-side", "-f", "d.json"]);
        let rv = k.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.resourceVersion}"]);
        let diff = k.run(&["diff", "--server-side", "-f", "d.json"]);
        assert_eq!(diff.status.code(), Some(0), "{}", String::from_utf8_lossy(&diff.stdout));
        k.ok(&["apply", "--server-side", "-f", "d.json"]);
        let rv2 = k.ok(&["get", "deploy", "web", "-o", "jsonpath={.metadata.resourceVersion}"]);
        assert_eq!(rv, rv2);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secret_string_data_is_stored_as_data() {
    let fleet = Fleet::start(FleetConfig::with_clusters(1)).await.unwrap();
    let client = client(&fleet.clusters()[0]).await;
    let secrets = api(&client, "", "Secret", "secrets");
    let body = json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds"},
        "data": {"user": "YWRtaW4=", "token": "b2xk"},
        "stringData": {"token": "new"}
    });
    let stored = apply(&secrets, &body).await;
    assert_eq!(stored["data"], json!({"user": "YWRtaW4=", "token": "bmV3"}));
    assert!(stored.get("stringData").is_none(), "{stored}");
    let rv = stored["metadata"]["resourceVersion"].clone();
    assert_eq!(
        apply(&secrets, &body).await["metadata"]["resourceVersion"],
        rv
    );
    fleet.shutdown().await;
}
