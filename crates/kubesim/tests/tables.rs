//! Table responses for `kubectl get` (built-in printer columns, CRD
//! `additionalPrinterColumns`) and paged lists read from one snapshot, through kubectl and
//! kube-rs.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod api_common;
mod common;

use api_common::{api_status, client, get_json};
use common::{Kubectl, each_client};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::{Value, json};

const TABLE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

fn header(out: &str) -> Vec<String> {
    // Column names are single words except "NOMINATED NODE" etc.; split on 2+ spaces.
    out.lines()
        .next()
        .unwrap_or("")
        .split("  ")
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn row<'a>(out: &'a str, name: &str) -> Vec<&'a str> {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in\n{out}"))
        .split_whitespace()
        .collect()
}

const WIDGETS: &str = "apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    additionalPrinterColumns:
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Ready, type: string, jsonPath: '.status.conditions[?(@.type==\"Ready\")].status'}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: gadgets, singular: gadget, kind: Gadget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
";

const OBJECTS: &str = "apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: nginx:1.27}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: conf}
data: {a: '1', b: '2'}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1}
spec: {size: 3}
status:
  conditions: [{type: Ready, status: 'True'}]
---
apiVersion: example.com/v1
kind: Gadget
metadata: {name: g1}
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_the_servers_columns() {
    each_client(async |k: &Kubectl, c| {
        k.file("crds.yaml", WIDGETS);
        k.ok(&["apply", "-f", "crds.yaml"]);
        k.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "crd/gadgets.example.com",
        ]);
        k.file("objects.yaml", OBJECTS);
        k.ok(&["apply", "-f", "objects.yaml"]);

        // Once the simulated rollout is done, the columns show its status.
        k.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
        let out = k.ok(&["get", "deploy"]);
        assert_eq!(
            header(&out),
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"],
            "{out}"
        );
        assert_eq!(row(&out, "web")[1..4], ["2/2", "2", "2"]);
        let out = k.ok(&["get", "pods", "-l", "app=web"]);
        assert_eq!(
            header(&out),
            ["NAME", "READY", "STATUS", "RESTARTS", "AGE"],
            "{out}"
        );
        let pod = out
            .lines()
            .nth(1)
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>();
        assert_eq!(pod[1..4], ["1/1", "Running", "0"], "{out}");
        let out = k.ok(&["get", "deploy", "-o", "wide"]);
        assert_eq!(
            row(&out, "web")[5..8],
            ["web", "nginx:1.27", "app=web"],
            "{out}"
        );

        let out = k.ok(&["get", "svc", "web"]);
        assert_eq!(
            header(&out),
            [
                "NAME",
                "TYPE",
                "CLUSTER-IP",
                "EXTERNAL-IP",
                "PORT(S)",
                "AGE"
            ]
        );
        let svc: Value = serde_json::from_str(&k.ok(&["get", "svc", "web", "-o", "json"])).unwrap();
        let ip = svc["spec"]["clusterIP"].as_str().unwrap();
        assert_eq!(
            row(&out, "web")[1..5],
            ["ClusterIP", ip, "<none>", "80/TCP"]
        );

        let out = k.ok(&["get", "cm", "conf"]);
        assert_eq!(header(&out), ["NAME", "DATA", "AGE"]);
        assert_eq!(row(&out, "conf")[1], "2");

        let out = k.ok(&["get", "widgets"]);
        assert_eq!(header(&out), ["NAME", "SIZE", "READY", "AGE"], "{out}");
        assert_eq!(row(&out, "w1")[1..3], ["3", "True"]);
        // Date columns are ages, as the server renders them for custom resources.
        let age = row(&out, "w1")[3];
        assert!(age.ends_with('s') || age.ends_with('m'), "{out}");
        let out = k.ok(&["get", "gadgets"]);
        assert_eq!(header(&out), ["NAME", "AGE"], "{out}");

        // The server was asked for tables, not objects.
        let log = c.request_log();
        assert!(
            log.iter()
                .any(|r| r.path.ends_with("/widgets") && r.status == 200)
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_rows_carry_metadata_or_the_object() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let c = client(cluster).await;
    let api: Api<ConfigMap> = Api::namespaced(c.clone(), "default");
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "conf"}, "data": {"a": "1"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap();

    let path = "/api/v1/namespaces/default/configmaps";
    let (code, t) = get_json(&c, path, TABLE).await;
    assert_eq!(code, 200);
    assert_eq!(
        (t["kind"].as_str(), t["apiVersion"].as_str()),
        (Some("Table"), Some("meta.k8s.io/v1"))
    );
    let names: Vec<&str> = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Name", "Data", "Age"]);
    assert_eq!(
        t["rows"][0]["cells"].as_array().unwrap()[0..2],
        [json!("conf"), json!(1)]
    );
    assert_eq!(t["rows"][0]["object"]["kind"], "PartialObjectMetadata");
    assert!(t["rows"][0]["object"].get("data").is_none());

    let (_, t) = get_json(&c, &format!("{path}/conf?includeObject=Object"), TABLE).await;
    assert_eq!(t["rows"].as_array().unwrap().len(), 1);
    assert_eq!(t["rows"][0]["object"]["data"]["a"], "1");
    assert_eq!(t["rows"][0]["object"]["kind"], "ConfigMap");
    let (_, t) = get_json(&c, &format!("{path}?includeObject=None"), TABLE).await;
    assert!(t["rows"][0].get("object").is_none());
    // Without the Table media type the answer is the list itself.
    let (_, l) = get_json(&c, path, "application/json").await;
    assert_eq!(l["kind"], "ConfigMapList");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_come_from_the_first_pages_snapshot() {
    let fleet = common::start_one(true).await;
    let cluster = &fleet.clusters()[0];
    let api: Api<ConfigMap> = Api::namespaced(client(cluster).await, "default");
    let cm = |n: &str| -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": n}})).unwrap()
    };
    for n in ["a", "b", "c", "d", "e"] {
        api.create(&PostParams::default(), &cm(n)).await.unwrap();
    }
    let first = api.list(&ListParams::default().limit(2)).await.unwrap();
    let names = |l: &kube::core::ObjectList<ConfigMap>| -> Vec<String> {
        l.items
            .iter()
            .map(|o| o.metadata.name.clone().unwrap())
            .collect()
    };
    assert_eq!(names(&first), ["a", "b"]);
    assert_eq!(first.metadata.remaining_item_count, Some(3));
    let rv = first.metadata.resource_version.clone();
    // Changes between pages do not show in later pages.
    api.delete("c", &DeleteParams::default()).await.unwrap();
    api.create(&PostParams::default(), &cm("bb")).await.unwrap();
    let token = first.metadata.continue_.clone().unwrap();
    let second = api
        .list(&ListParams::default().limit(2).continue_token(&token))
        .await
        .unwrap();
    assert_eq!(names(&second), ["c", "d"]);
    assert_eq!(second.metadata.resource_version, rv);
    assert_eq!(second.metadata.remaining_item_count, Some(1));
    let third = api
        .list(
            &ListParams::default()
                .limit(2)
                .continue_token(second.metadata.continue_.as_deref().unwrap()),
        )
        .await
        .unwrap();
    assert_eq!(names(&third), ["e"]);
    assert!(third.metadata.continue_.as_deref().unwrap_or("").is_empty());
    // kube-rs pages through everything itself with the same snapshot rule.
    let now = api.list(&ListParams::default()).await.unwrap();
    assert_eq!(names(&now), ["a", "b", "bb", "d", "e"]);

    // A compacted snapshot: the real server's 410.
    cluster.compact();
    let s = api_status(
        api.list(&ListParams::default().limit(2).continue_token(&token))
            .await
            .unwrap_err(),
    );
    assert_eq!((s.code, s.reason.as_str()), (410, "Expired"));
    assert!(
        s.message
            .starts_with("The provided continue parameter is too old"),
        "{}",
        s.message
    );
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_pages_with_chunk_size() {
    each_client(async |k: &Kubectl, c| {
        for i in 0..7 {
            k.ok(&["create", "configmap", &format!("cm-{i}")]);
        }
        let out = k.ok(&["get", "cm", "--chunk-size=3", "-o", "name"]);
        let names: Vec<&str> = out.lines().filter(|l| l.contains("cm-")).collect();
        assert_eq!(names.len(), 7, "{out}");
        let pages = c
            .request_log()
            .iter()
            .filter(|r| {
                r.method == "GET" && r.path.ends_with("/configmaps") && r.query.contains("limit=3")
            })
            .count();
        assert!(pages >= 3, "{pages} pages");
    })
    .await;
}
