//! Every built-in printer's columns and the cells of objects shaped like a real API
//! server's, as `kubectl get` (and `-o wide`) shows them.

use super::*;

/// 2026-11-26T08:00:00Z.
fn now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-26T08:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// `seconds` before [`now`], as the API server writes timestamps.
fn ago(seconds: i64) -> String {
    (now() - chrono::TimeDelta::seconds(seconds))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// `(name, type, priority)` of every column of `kind`.
fn header(group: &str, kind: &str) -> Vec<(&'static str, &'static str, u8)> {
    columns(group, kind)
        .iter()
        .map(|c| (c.name, c.kind, c.priority))
        .collect()
}

fn row(group: &str, kind: &str, object: Value) -> Vec<Value> {
    columns(group, kind)
        .iter()
        .map(|c| c.cell(&object, now()))
        .collect()
}

fn template(spec: Value) -> Value {
    let mut spec = spec;
    spec["template"] = json!({"spec": {"containers": [
        {"name": "app", "image": "nginx:1.27"},
        {"name": "sidecar", "image": "envoy:1.30"}
    ]}});
    spec["selector"] = json!({
        "matchLabels": {"app": "web"},
        "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "canary", "operator": "NotIn", "values": ["yes"]},
            {"key": "zone", "operator": "Exists"},
            {"key": "legacy", "operator": "DoesNotExist"}
        ]
    });
    spec
}

const SELECTOR: &str = "app=web,tier in (a,b),canary notin (yes),zone,!legacy";

#[test]
fn durations_read_like_kubectl() {
    let s = chrono::TimeDelta::seconds;
    assert_eq!(human_duration(s(5)), "5s");
    assert_eq!(human_duration(s(119)), "119s");
    assert_eq!(human_duration(s(150)), "2m30s");
    assert_eq!(human_duration(s(3600)), "60m");
    assert_eq!(human_duration(s(4 * 3600 + 60)), "4h1m");
    assert_eq!(human_duration(s(3 * 86400 + 3600)), "3d1h");
    assert_eq!(human_duration(s(-2)), "<invalid>");
    assert_eq!(human_duration(s(-1)), "0s");
    assert_eq!(human_duration(s(0)), "0s");
    assert_eq!(human_duration(s(120)), "2m");
    assert_eq!(human_duration(s(600)), "10m");
    assert_eq!(human_duration(s(3 * 3600)), "3h");
    assert_eq!(human_duration(s(8 * 3600 + 59 * 60)), "8h");
    assert_eq!(human_duration(s(47 * 3600)), "47h");
    assert_eq!(human_duration(s(48 * 3600)), "2d");
    assert_eq!(human_duration(s(8 * 86400 + 3600)), "8d");
    assert_eq!(human_duration(s(729 * 86400)), "729d");
    assert_eq!(human_duration(s(730 * 86400)), "2y");
    assert_eq!(human_duration(s((3 * 365 + 5) * 86400)), "3y5d");
    assert_eq!(human_duration(s(8 * 365 * 86400 + 86400)), "8y");
}

#[test]
fn pods_show_readiness_status_restarts_and_placement() {
    assert_eq!(
        header("", "Pod"),
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            ("Status", "string", 0),
            ("Restarts", "string", 0),
            ("Age", "string", 0),
            ("IP", "string", 1),
            ("Node", "string", 1),
            ("Nominated Node", "string", 1),
            ("Readiness Gates", "string", 1),
        ]
    );
    let pod = json!({
        "metadata": {"name": "web-1", "creationTimestamp": ago(150)},
        "spec": {"nodeName": "node-a", "containers": [{"name": "app"}, {"name": "sidecar"}]},
        "status": {"phase": "Running", "podIP": "10.0.0.7", "containerStatuses": [
            {"name": "app", "ready": true, "restartCount": 2, "state": {"running": {}}},
            {"name": "sidecar", "ready": false, "restartCount": 3,
             "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}
    });
    assert_eq!(
        row("", "Pod", pod),
        [
            json!("web-1"),
            json!("1/2"),
            json!("CrashLoopBackOff"),
            json!("5"),
            json!("2m30s"),
            json!("10.0.0.7"),
            json!("node-a"),
            json!("<none>"),
            json!("<none>"),
        ]
    );
    let status = |pod: Value| row("", "Pod", pod)[2].clone();
    assert_eq!(status(json!({"metadata": {"name": "p"}})), json!("Pending"));
    assert_eq!(
        status(json!({"metadata": {"name": "p"}, "status": {"phase": "Succeeded"}})),
        json!("Succeeded")
    );
    assert_eq!(
        status(
            json!({"metadata": {"name": "p"}, "status": {"phase": "Failed", "reason": "Evicted"}})
        ),
        json!("Evicted")
    );
    assert_eq!(
        status(
            json!({"metadata": {"name": "p"}, "status": {"containerStatuses": [
            {"state": {"terminated": {"reason": "Completed"}}}]}})
        ),
        json!("Completed")
    );
    assert_eq!(
        status(
            json!({"metadata": {"name": "p", "deletionTimestamp": ago(1)},
                      "status": {"phase": "Running"}})
        ),
        json!("Terminating")
    );
}

#[test]
fn workloads_show_replicas_containers_images_and_selector() {
    let wide = [
        ("Containers", "string", 1),
        ("Images", "string", 1),
        ("Selector", "string", 1),
    ];
    let age = ("Age", "string", 0);
    assert_eq!(
        header("apps", "Deployment"),
        [
            &[
                ("Name", "string", 0),
                ("Ready", "string", 0),
                ("Up-to-date", "integer", 0),
                ("Available", "integer", 0),
                age
            ][..],
            &wide
        ]
        .concat()
    );
    let containers = [json!("app,sidecar"), json!("nginx:1.27,envoy:1.30")];
    let deployment = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(3 * 3600)},
        "spec": template(json!({"replicas": 3})),
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 1}
    });
    assert_eq!(
        row("apps", "Deployment", deployment),
        [
            &[json!("web"), json!("2/3"), json!(3), json!(1), json!("3h")][..],
            &containers,
            &[json!(SELECTOR)]
        ]
        .concat()
    );

    assert_eq!(
        header("apps", "ReplicaSet"),
        [
            &[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                age
            ][..],
            &wide
        ]
        .concat()
    );
    let replica_set = json!({
        "metadata": {"name": "web-5d8f", "creationTimestamp": ago(45)},
        "spec": template(json!({"replicas": 4})),
        "status": {"replicas": 3, "readyReplicas": 1}
    });
    assert_eq!(
        row("apps", "ReplicaSet", replica_set),
        [
            &[
                json!("web-5d8f"),
                json!(4),
                json!(3),
                json!(1),
                json!("45s")
            ][..],
            &containers,
            &[json!(SELECTOR)]
        ]
        .concat()
    );

    assert_eq!(
        header("apps", "StatefulSet"),
        [
            ("Name", "string", 0),
            ("Ready", "string", 0),
            age,
            wide[0],
            wide[1]
        ]
    );
    let stateful_set = json!({
        "metadata": {"name": "db"},
        "spec": template(json!({"replicas": 2})),
        "status": {"readyReplicas": 1}
    });
    assert_eq!(
        row("apps", "StatefulSet", stateful_set),
        [
            &[json!("db"), json!("1/2"), json!("<unknown>")][..],
            &containers
        ]
        .concat()
    );

    assert_eq!(
        header("apps", "DaemonSet"),
        [
            &[
                ("Name", "string", 0),
                ("Desired", "integer", 0),
                ("Current", "integer", 0),
                ("Ready", "integer", 0),
                ("Up-to-date", "integer", 0),
                ("Available", "integer", 0),
                ("Node Selector", "string", 0),
                age
            ][..],
            &wide
        ]
        .concat()
    );
    let mut spec = template(json!({}));
    spec["template"]["spec"]["nodeSelector"] = json!({"kubernetes.io/os": "linux"});
    let daemon_set = json!({
        "metadata": {"name": "agent", "creationTimestamp": ago(10 * 86400)},
        "spec": spec,
        "status": {"desiredNumberScheduled": 5, "currentNumberScheduled": 4,
                   "numberReady": 3, "updatedNumberScheduled": 2, "numberAvailable": 1}
    });
    assert_eq!(
        row("apps", "DaemonSet", daemon_set),
        [
            &[
                json!("agent"),
                json!(5),
                json!(4),
                json!(3),
                json!(2),
                json!(1),
                json!("kubernetes.io/os=linux"),
                json!("10d")
            ][..],
            &containers,
            &[json!(SELECTOR)]
        ]
        .concat()
    );
    // No node selector, no selector: `<none>`; no status: zeros.
    let bare = row("apps", "DaemonSet", json!({"metadata": {"name": "x"}}));
    assert_eq!(
        bare[1..7],
        [
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!(0),
            json!("<none>")
        ]
    );
    assert_eq!(bare[8..], [json!(""), json!(""), json!("<none>")]);
}

#[test]
fn jobs_show_status_completions_and_duration() {
    assert_eq!(
        header("batch", "Job"),
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Completions", "string", 0),
            ("Duration", "string", 0),
            ("Age", "string", 0),
            ("Containers", "string", 1),
            ("Images", "string", 1),
            ("Selector", "string", 1),
        ]
    );
    let job = |spec: Value, status: Value| {
        let spec = template(spec);
        row(
            "batch",
            "Job",
            json!({"metadata": {"name": "migrate", "creationTimestamp": ago(200)},
                                   "spec": spec, "status": status}),
        )
    };
    assert_eq!(
        job(
            json!({"completions": 3, "parallelism": 1}),
            json!({"succeeded": 1, "startTime": ago(90)})
        ),
        [
            json!("migrate"),
            json!("Running"),
            json!("1/3"),
            json!("90s"),
            json!("3m20s"),
            json!("app,sidecar"),
            json!("nginx:1.27,envoy:1.30"),
            json!(SELECTOR),
        ]
    );
    let done = job(
        json!({"parallelism": 2}),
        json!({"succeeded": 1, "startTime": ago(100), "completionTime": ago(70),
               "conditions": [{"type": "Complete", "status": "True"}]}),
    );
    assert_eq!(
        done[1..4],
        [json!("Complete"), json!("1/1 of 2"), json!("30s")]
    );
    let failed = job(
        json!({"completions": 1}),
        json!({"conditions": [{"type": "Complete", "status": "False"},
                              {"type": "Failed", "status": "True"}]}),
    );
    assert_eq!(failed[1..4], [json!("Failed"), json!("0/1"), json!("")]);
    let suspended = job(json!({"completions": 2, "suspend": true}), json!({}));
    assert_eq!(
        suspended[1..4],
        [json!("Suspended"), json!("0/2"), json!("")]
    );
}

#[test]
fn services_show_type_addresses_and_ports() {
    assert_eq!(
        header("", "Service"),
        [
            ("Name", "string", 0),
            ("Type", "string", 0),
            ("Cluster-IP", "string", 0),
            ("External-IP", "string", 0),
            ("Port(s)", "string", 0),
            ("Age", "string", 0),
            ("Selector", "string", 1),
        ]
    );
    let lb = json!({
        "metadata": {"name": "web", "creationTimestamp": ago(30)},
        "spec": {"type": "LoadBalancer", "clusterIP": "10.96.0.10", "selector": {"app": "web"},
                 "ports": [{"port": 80, "nodePort": 30080}, {"port": 53, "protocol": "UDP"}]}
    });
    assert_eq!(
        row("", "Service", lb),
        [
            json!("web"),
            json!("LoadBalancer"),
            json!("10.96.0.10"),
            json!("<pending>"),
            json!("80:30080/TCP,53/UDP"),
            json!("30s"),
            json!("app=web"),
        ]
    );
    let external = json!({
        "metadata": {"name": "db"},
        "spec": {"type": "ExternalName", "externalName": "db.example.com"}
    });
    assert_eq!(
        row("", "Service", external)[1..5],
        [
            json!("ExternalName"),
            json!("<none>"),
            json!("db.example.com"),
            json!("<none>")
        ]
    );
}

#[test]
fn config_secrets_namespaces_and_accounts_show_counts_and_phase() {
    let age = ("Age", "string", 0);
    let name = ("Name", "string", 0);
    assert_eq!(header("", "ConfigMap"), [name, ("Data", "integer", 0), age]);
    let cm = json!({"metadata": {"name": "conf", "creationTimestamp": ago(5)},
                    "data": {"a": "1", "b": "2"}, "binaryData": {"c": "Aw=="}});
    assert_eq!(
        row("", "ConfigMap", cm),
        [json!("conf"), json!(3), json!("5s")]
    );

    assert_eq!(
        header("", "Secret"),
        [name, ("Type", "string", 0), ("Data", "integer", 0), age]
    );
    let secret = json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
                        "data": {"tls.crt": "", "tls.key": ""}});
    assert_eq!(
        row("", "Secret", secret),
        [
            json!("tls"),
            json!("kubernetes.io/tls"),
            json!(2),
            json!("<unknown>")
        ]
    );

    assert_eq!(
        header("", "Namespace"),
        [name, ("Status", "string", 0), age]
    );
    let ns = json!({"metadata": {"name": "apps"}, "status": {"phase": "Terminating"}});
    assert_eq!(
        row("", "Namespace", ns),
        [json!("apps"), json!("Terminating"), json!("<unknown>")]
    );

    assert_eq!(
        header("", "ServiceAccount"),
        [name, ("Secrets", "integer", 0), age]
    );
    let sa = json!({"metadata": {"name": "ci"}, "secrets": [{"name": "ci-token"}]});
    assert_eq!(
        row("", "ServiceAccount", sa),
        [json!("ci"), json!(1), json!("<unknown>")]
    );
}

#[test]
fn claims_show_capacity_and_modes_once_bound() {
    assert_eq!(
        header("", "PersistentVolumeClaim"),
        [
            ("Name", "string", 0),
            ("Status", "string", 0),
            ("Volume", "string", 0),
            ("Capacity", "string", 0),
            ("Access Modes", "string", 0),
            ("StorageClass", "string", 0),
            ("VolumeAttributesClass", "string", 0),
            ("Age", "string", 0),
            ("VolumeMode", "string", 1),
        ]
    );
    let claim = |phase: &str| {
        json!({
            "metadata": {"name": "data", "creationTimestamp": ago(600)},
            "spec": {"volumeName": "pv-1", "storageClassName": "standard",
                     "volumeMode": "Filesystem",
                     "accessModes": ["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany",
                                     "ReadWriteOncePod", "Other"]},
            "status": {"phase": phase, "capacity": {"storage": "1Gi"}}
        })
    };
    assert_eq!(
        row("", "PersistentVolumeClaim", claim("Bound")),
        [
            json!("data"),
            json!("Bound"),
            json!("pv-1"),
            json!("1Gi"),
            json!("RWO,ROX,RWX,RWOP,Other"),
            json!("standard"),
            json!("<none>"),
            json!("10m"),
            json!("Filesystem"),
        ]
    );
    assert_eq!(
        row("", "PersistentVolumeClaim", claim("Pending"))[1..5],
        [json!("Pending"), json!("pv-1"), json!(""), json!("")]
    );
}

#[test]
fn other_kinds_show_name_and_creation_time() {
    assert_eq!(
        header("rbac.authorization.k8s.io", "Role"),
        [("Name", "string", 0), ("Created At", "date", 0)]
    );
    // A kind of another group is not a core kind's printer.
    assert_eq!(header("example.com", "Pod"), header("", "Role"));
    let created = ago(60);
    assert_eq!(
        row(
            "",
            "Endpoints",
            json!({"metadata": {"name": "e", "creationTimestamp": created}})
        ),
        [json!("e"), json!(created)]
    );
    assert_eq!(row("", "Endpoints", json!({})), [json!(""), Value::Null]);
}

#[test]
fn definitions_describe_the_name_column() {
    let defs: Vec<Value> = columns("", "ConfigMap")
        .iter()
        .map(Column::definition)
        .collect();
    assert_eq!(defs[0]["format"], "name");
    assert!(
        defs[0]["description"]
            .as_str()
            .unwrap()
            .starts_with("Name must be unique within a namespace.")
    );
    assert_eq!(
        defs[1],
        json!({"name": "Data", "type": "integer", "format": "", "description": "", "priority": 0})
    );
}
