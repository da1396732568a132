//! Cluster IPs and node ports a client asks for, refused as kube-apiserver 1.35 refuses
//! them — held by another Service or outside the range: 422 Invalid naming the field, in the
//! server's words — and granted once the holder is gone, through kube-rs (POST, PUT, merge
//! patch, server-side apply, dry-runs) and the real kubectl.
#![allow(clippy::unwrap_used, clippy::expect_used)] // Tests fail loudly by design.

mod api_common;
mod common;

use api_common::{api_status, client};
use common::Kubectl;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::discovery::ApiResource;
use kubesim::{Fleet, FleetConfig, FleetHandle};
use serde_json::{Value, json};

const TAKEN: &str = "provided IP is already allocated";
const NO_RANGE: &str = "the provided network does not match the current range";

/// One cluster whose Services take addresses from 10.100.0.0/24, with a second namespace.
async fn start() -> (FleetHandle, kube::Client) {
    common::require_definitions();
    let config = FleetConfig::with_clusters(1).each(|c| c.service_cidr = "10.100.0.0/24".into());
    let fleet = Fleet::start(config).await.unwrap();
    let c = client(&fleet.clusters()[0]).await;
    let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Namespace>(&());
    let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}});
    Api::<DynamicObject>::all_with(c.clone(), &ar)
        .create(&PostParams::default(), &serde_json::from_value(ns).unwrap())
        .await
        .unwrap();
    (fleet, c)
}

fn services(c: &kube::Client, namespace: &str) -> Api<DynamicObject> {
    let ar = ApiResource::erase::<k8s_openapi::api::core::v1::Service>(&());
    Api::namespaced_with(c.clone(), namespace, &ar)
}

/// A Service manifest: `extra` is merged into its spec.
fn svc(name: &str, extra: Value) -> Value {
    let mut spec = json!({"selector": {"app": name}, "ports": [{"port": 80}]});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec})
}

fn node_port(name: &str, port: i64) -> Value {
    svc(
        name,
        json!({"type": "NodePort", "ports": [{"port": 80, "nodePort": port}]}),
    )
}

async fn create(api: &Api<DynamicObject>, body: Value) -> Result<DynamicObject, kube::Error> {
    api.create(
        &PostParams::default(),
        &serde_json::from_value(body).unwrap(),
    )
    .await
}

async fn dry_create(api: &Api<DynamicObject>, body: Value) -> Result<DynamicObject, kube::Error> {
    let dry = PostParams {
        dry_run: true,
        ..Default::default()
    };
    api.create(&dry, &serde_json::from_value(body).unwrap())
        .await
}

/// Server-side apply as `flotilla`, forced: field ownership is not what is tested here.
async fn apply(api: &Api<DynamicObject>, body: Value) -> Result<DynamicObject, kube::Error> {
    let name = body["metadata"]["name"].as_str().unwrap().to_string();
    let params = PatchParams::apply("flotilla").force();
    api.patch(&name, &params, &Patch::Apply(body)).await
}

/// Asserts the 422 Invalid of Service `name` on `field`; returns the cause's message.
fn refused(err: kube::Error, name: &str, field: &str) -> String {
    let s = api_status(err);
    assert_eq!(
        (s.code, s.reason.as_str()),
        (422, "Invalid"),
        "{}",
        s.message
    );
    let details = s.details.unwrap();
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        (name, "Service")
    );
    let cause = &details.causes[0];
    assert_eq!(
        (cause.reason.as_str(), cause.field.as_str()),
        ("FieldValueInvalid", field)
    );
    assert_eq!(
        s.message,
        format!("Service \"{name}\" is invalid: {field}: {}", cause.message)
    );
    cause.message.clone()
}

fn ip_refusal(ip: &str, why: &str) -> String {
    format!("Invalid value: [\"{ip}\"]: failed to allocate IP {ip}: {why}")
}

fn ip(o: &DynamicObject) -> &str {
    o.data["spec"]["clusterIP"].as_str().unwrap()
}

fn port(o: &DynamicObject) -> i64 {
    o.data["spec"]["ports"][0]["nodePort"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_ips_held_or_out_of_range_are_refused() {
    let (fleet, c) = start().await;
    let (default, other) = (services(&c, "default"), services(&c, "other"));
    let a = create(&default, svc("a", json!({"clusterIP": "10.100.0.10"})))
        .await
        .unwrap();
    assert_eq!(ip(&a), "10.100.0.10");
    // Another Service, in any namespace, by POST or server-side apply, by `clusterIP` or
    // `clusterIPs`.
    let held = ip_refusal("10.100.0.10", TAKEN);
    let e = create(&other, svc("b", json!({"clusterIP": "10.100.0.10"}))).await;
    assert_eq!(refused(e.unwrap_err(), "b", "spec.clusterIPs"), held);
    let e = apply(&other, svc("b", json!({"clusterIPs": ["10.100.0.10"]}))).await;
    assert_eq!(refused(e.unwrap_err(), "b", "spec.clusterIPs"), held);
    // The first host is the `kubernetes` Service's.
    let e = create(&default, svc("k", json!({"clusterIP": "10.100.0.1"}))).await;
    assert_eq!(
        refused(e.unwrap_err(), "k", "spec.clusterIPs"),
        ip_refusal("10.100.0.1", TAKEN)
    );
    // Outside the range, or its broadcast address.
    for (name, addr) in [("far", "10.200.0.7"), ("bcast", "10.100.0.255")] {
        let e = create(&default, svc(name, json!({"clusterIP": addr}))).await;
        assert_eq!(
            refused(e.unwrap_err(), name, "spec.clusterIPs"),
            ip_refusal(addr, NO_RANGE)
        );
    }
    for name in ["b", "k", "far", "bcast"] {
        assert!(default.get_opt(name).await.unwrap().is_none());
        assert!(other.get_opt(name).await.unwrap().is_none());
    }
    // The holder keeps its address across updates naming it (PUT, patch, apply).
    let mut a = default.get("a").await.unwrap();
    a.data["spec"]["selector"] = json!({"app": "a2"});
    default
        .replace("a", &PostParams::default(), &a)
        .await
        .unwrap();
    let patch =
        json!({"metadata": {"labels": {"tier": "web"}}, "spec": {"clusterIP": "10.100.0.10"}});
    default
        .patch("a", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let a = apply(&default, svc("a", json!({"clusterIP": "10.100.0.10"})))
        .await
        .unwrap();
    assert_eq!(a.data["spec"]["clusterIPs"], json!(["10.100.0.10"]));
    // Headless and unset addresses are as before.
    let h = create(&other, svc("h", json!({"clusterIP": "None"})))
        .await
        .unwrap();
    assert_eq!(ip(&h), "None");
    let auto = create(&other, svc("auto", json!({"clusterIP": ""})))
        .await
        .unwrap();
    assert!(ip(&auto).starts_with("10.100.0."), "{}", ip(&auto));
    // An ExternalName Service that takes an address claims it like a create.
    let ext = json!({"type": "ExternalName", "externalName": "db.example", "ports": []});
    create(&other, svc("ext", ext)).await.unwrap();
    let to_ip = |addr: &str| json!({"spec": {"type": "ClusterIP", "externalName": null, "clusterIP": addr}});
    let e = other
        .patch(
            "ext",
            &PatchParams::default(),
            &Patch::Merge(&to_ip("10.100.0.10")),
        )
        .await;
    assert_eq!(refused(e.unwrap_err(), "ext", "spec.clusterIPs"), held);
    let ext = other
        .patch(
            "ext",
            &PatchParams::default(),
            &Patch::Merge(&to_ip("10.100.0.11")),
        )
        .await
        .unwrap();
    assert_eq!(ext.data["spec"]["clusterIPs"], json!(["10.100.0.11"]));
    let e = create(&default, svc("c", json!({"clusterIP": "10.100.0.11"}))).await;
    assert_eq!(
        refused(e.unwrap_err(), "c", "spec.clusterIPs"),
        ip_refusal("10.100.0.11", TAKEN)
    );
    // Once the holder is gone the address is free.
    default.delete("a", &Default::default()).await.unwrap();
    let b = create(&other, svc("b", json!({"clusterIP": "10.100.0.10"})))
        .await
        .unwrap();
    assert_eq!(ip(&b), "10.100.0.10");
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_ports_held_or_out_of_range_are_refused() {
    let (fleet, c) = start().await;
    let (default, other) = (services(&c, "default"), services(&c, "other"));
    let one = create(&default, node_port("one", 30080)).await.unwrap();
    assert_eq!(port(&one), 30080);
    let held = "Invalid value: 30080: provided port is already allocated";
    let e = create(&other, node_port("two", 30080)).await;
    assert_eq!(
        refused(e.unwrap_err(), "two", "spec.ports[0].nodePort"),
        held
    );
    let e = apply(&other, node_port("two", 30080)).await;
    assert_eq!(
        refused(e.unwrap_err(), "two", "spec.ports[0].nodePort"),
        held
    );
    // The index names the port that asks.
    let two_ports = svc(
        "two",
        json!({"type": "NodePort", "ports": [{"name": "a", "port": 80},
            {"name": "b", "port": 443, "nodePort": 30080}]}),
    );
    let e = create(&other, two_ports).await;
    assert_eq!(
        refused(e.unwrap_err(), "two", "spec.ports[1].nodePort"),
        held
    );
    let e = create(&default, node_port("low", 8080)).await;
    assert_eq!(
        refused(e.unwrap_err(), "low", "spec.ports[0].nodePort"),
        "Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"
    );
    // An update that changes a port to a held one, or makes a Service a NodePort one on
    // a held port, is refused; on a free one, or none, it gets it.
    let three = create(&other, node_port("three", 30081)).await.unwrap();
    assert_eq!(port(&three), 30081);
    let to = |n: i64| json!({"spec": {"ports": [{"port": 80, "nodePort": n}]}});
    let e = other
        .patch("three", &PatchParams::default(), &Patch::Merge(&to(30080)))
        .await;
    assert_eq!(
        refused(e.unwrap_err(), "three", "spec.ports[0].nodePort"),
        held
    );
    assert_eq!(port(&other.get("three").await.unwrap()), 30081);
    let e = apply(&other, node_port("three", 30080)).await;
    assert_eq!(
        refused(e.unwrap_err(), "three", "spec.ports[0].nodePort"),
        held
    );
    create(&other, svc("plain", json!({}))).await.unwrap();
    let e = apply(&other, node_port("plain", 30080)).await;
    assert_eq!(
        refused(e.unwrap_err(), "plain", "spec.ports[0].nodePort"),
        held
    );
    let plain = apply(&other, svc("plain", json!({"type": "NodePort"})))
        .await
        .unwrap();
    assert!((30000..=32767).contains(&port(&plain)), "{}", port(&plain));
    assert!(![30080, 30081].contains(&port(&plain)));
    // Its own port is kept across updates; a freed port can be taken again.
    let three = apply(&other, node_port("three", 30081)).await.unwrap();
    assert_eq!(port(&three), 30081);
    let three = other
        .patch("three", &PatchParams::default(), &Patch::Merge(&to(30082)))
        .await
        .unwrap();
    assert_eq!(port(&three), 30082);
    let four = create(&default, node_port("four", 30081)).await.unwrap();
    assert_eq!(port(&four), 30081);
    default.delete("one", &Default::default()).await.unwrap();
    let two = create(&other, node_port("two", 30080)).await.unwrap();
    assert_eq!(port(&two), 30080);
    fleet.shutdown().await;
}

/// A dry-run asks the dry-run allocators: they hold nothing, a node port's holder is
/// checked, an address only against the range (as the real ones do).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_runs_check_as_the_real_allocators_and_hold_nothing() {
    let (fleet, c) = start().await;
    let default = services(&c, "default");
    let o = dry_create(&default, svc("a", json!({"clusterIP": "10.100.0.20"})))
        .await
        .unwrap();
    assert_eq!(ip(&o), "10.100.0.20");
    let o = dry_create(&default, node_port("np", 30090)).await.unwrap();
    assert_eq!(port(&o), 30090);
    assert!(default.get_opt("a").await.unwrap().is_none());
    let a = create(&default, svc("a", json!({"clusterIP": "10.100.0.20"})))
        .await
        .unwrap();
    assert_eq!(ip(&a), "10.100.0.20");
    create(&default, node_port("np", 30090)).await.unwrap();
    let e = dry_create(&default, node_port("np2", 30090)).await;
    assert_eq!(
        refused(e.unwrap_err(), "np2", "spec.ports[0].nodePort"),
        "Invalid value: 30090: provided port is already allocated"
    );
    let e = dry_create(&default, svc("far", json!({"clusterIP": "10.200.0.7"}))).await;
    assert_eq!(
        refused(e.unwrap_err(), "far", "spec.clusterIPs"),
        ip_refusal(
            "10.200.0.7",
            "the provided IP (10.200.0.7) is not in the valid range. The range of valid IPs is 10.100.0.0/24"
        )
    );
    dry_create(&default, svc("b", json!({"clusterIP": "10.100.0.20"})))
        .await
        .unwrap();
    // A dry-run update to a held port is refused too, and changes nothing.
    create(&default, node_port("np3", 30091)).await.unwrap();
    let dry = PatchParams {
        dry_run: true,
        ..Default::default()
    };
    let to = json!({"spec": {"ports": [{"port": 80, "nodePort": 30090}]}});
    let e = default.patch("np3", &dry, &Patch::Merge(&to)).await;
    refused(e.unwrap_err(), "np3", "spec.ports[0].nodePort");
    let to = json!({"spec": {"ports": [{"port": 80, "nodePort": 30092}]}});
    let o = default
        .patch("np3", &dry, &Patch::Merge(&to))
        .await
        .unwrap();
    assert_eq!(port(&o), 30092);
    assert_eq!(port(&default.get("np3").await.unwrap()), 30091);
    create(&default, node_port("np4", 30092)).await.unwrap();
    fleet.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_prints_the_servers_refusal() {
    let (fleet, c) = start().await;
    create(
        &services(&c, "default"),
        svc("a", json!({"clusterIP": "10.100.0.10"})),
    )
    .await
    .unwrap();
    let k = Kubectl::new(common::kubectl_135(), &fleet.clusters()[0], true);
    let b = serde_json::to_string(&svc("b", json!({"clusterIP": "10.100.0.10"}))).unwrap();
    k.file("b.json", &b);
    let expected = format!(
        "The Service \"b\" is invalid: spec.clusterIPs: {}",
        ip_refusal("10.100.0.10", TAKEN)
    );
    for args in [
        &["apply", "-f", "b.json"][..],
        &["apply", "--server-side", "-f", "b.json"],
    ] {
        let err = k.fails(args);
        assert!(err.contains(&expected), "{args:?}: {err}");
    }
    let np = serde_json::to_string(&node_port("np", 8080)).unwrap();
    k.file("np.json", &np);
    let err = k.fails(&["create", "-f", "np.json"]);
    assert!(
        err.contains("The Service \"np\" is invalid: spec.ports[0].nodePort: Invalid value: 8080: provided port is not in the valid range. The range of valid ports is 30000-32767"),
        "{err}"
    );
    fleet.shutdown().await;
}

/// An apply that changes a Service's type, leaving the fields the server set alone, drops
/// what the new type has no use for, as the registry does: node ports when it becomes a
/// ClusterIP Service, the cluster IP when it becomes ExternalName. Both are free again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_type_change_frees_what_the_old_type_held() {
    let (fleet, c) = start().await;
    let default = services(&c, "default");
    let one_port = json!([{"name": "http", "port": 80}]);
    let np = apply(
        &default,
        svc("np", json!({"type": "NodePort", "ports": one_port})),
    )
    .await
    .unwrap();
    let held_port = port(&np);
    // A port added in the same apply: no node port is new, so they all go.
    let two_ports = json!([{"name": "http", "port": 80}, {"name": "metrics", "port": 9090}]);
    let cluster_ip = apply(
        &default,
        svc("np", json!({"type": "ClusterIP", "ports": two_ports})),
    )
    .await
    .unwrap();
    let spec = &cluster_ip.data["spec"];
    assert_eq!(
        (
            spec["ports"][0].get("nodePort"),
            spec["ports"][1].get("nodePort"),
            spec.get("externalTrafficPolicy")
        ),
        (None, None, None),
        "{spec}"
    );
    let taker = create(&default, node_port("taker", held_port))
        .await
        .unwrap();
    assert_eq!(port(&taker), held_port);

    let held_ip = ip(&cluster_ip).to_string();
    let external = apply(
        &default,
        svc(
            "np",
            json!({"type": "ExternalName", "externalName": "db.example.com"}),
        ),
    )
    .await
    .unwrap();
    let spec = &external.data["spec"];
    for field in [
        "clusterIP",
        "clusterIPs",
        "ipFamilies",
        "ipFamilyPolicy",
        "internalTrafficPolicy",
    ] {
        assert_eq!(spec.get(field), None, "{field} in {spec}");
    }
    let taker = create(&default, svc("ip-taker", json!({"clusterIP": held_ip})))
        .await
        .unwrap();
    assert_eq!(ip(&taker), held_ip);
    fleet.shutdown().await;
}
